use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A stable document id: base58 of 16 random bytes (22 characters or fewer).
///
/// The model takes the random bytes from the caller so it stays free of randomness.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocId(String);

impl DocId {
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(bs58::encode(bytes).into_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DocId {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ModelError::Invalid {
            field: "document id",
            reason: format!("{s:?} {reason}"),
        };
        if s.is_empty() || s.len() > 22 {
            return Err(bad("must be 1 to 22 base58 characters"));
        }
        if bs58::decode(s).into_vec().is_err() {
            return Err(bad("is not base58"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for DocId {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DocId> for String {
    fn from(id: DocId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_round_trip() {
        let id = DocId::from_random([7; 16]);
        assert_eq!(id.as_str().parse::<DocId>().unwrap(), id);
    }

    #[test]
    fn rejects_non_base58() {
        assert!("0OIl".parse::<DocId>().is_err());
        assert!("".parse::<DocId>().is_err());
        assert!("a".repeat(23).parse::<DocId>().is_err());
    }
}
