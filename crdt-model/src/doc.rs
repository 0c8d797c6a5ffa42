//! Reading and writing typed views of Automerge documents.

use std::fmt;

use automerge::{AutoCommit, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Every Guild document says what it is in its root `kind` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Community,
    Member,
    Session,
    Knowledge,
    /// A member's private relationships; never in the community index.
    Relationships,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Community => "community",
            Self::Member => "member",
            Self::Session => "session",
            Self::Knowledge => "knowledge",
            Self::Relationships => "relationships",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "community" => Some(Self::Community),
            "member" => Some(Self::Member),
            "session" => Some(Self::Session),
            "knowledge" => Some(Self::Knowledge),
            "relationships" => Some(Self::Relationships),
            _ => None,
        }
    }

    /// Refuses a document whose root does not say it is of this kind.
    pub fn check(self, doc: &AutoCommit) -> Result<(), ModelError> {
        if Self::of(doc) == Some(self) {
            return Ok(());
        }
        Err(ModelError::Corrupt {
            expected: self.as_str(),
            reason: "its kind field is missing or different".into(),
        })
    }

    /// The `kind` written in a document's root, if it is one of ours.
    pub fn of(doc: &AutoCommit) -> Option<Self> {
        match doc.get(automerge::ROOT, "kind").ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(kind) => Self::parse(kind),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something read out of a document: a whole typed document, or the part of one a caller
/// needs (see [`crate::roster::MemberAccess`]).
pub trait View: Sized {
    fn read_view(doc: &AutoCommit) -> Result<Self, ModelError>;
}

impl<T: GuildDoc> View for T {
    fn read_view(doc: &AutoCommit) -> Result<Self, ModelError> {
        T::read(doc)
    }
}

/// A typed view of a whole document: hydrated to read, reconciled to write.
///
/// Reconcile writes only the fields that differ from the document, which is what makes
/// concurrent edits of different fields merge cleanly.
pub trait GuildDoc: Hydrate + Reconcile + Sized {
    const KIND: DocKind;

    fn read(doc: &AutoCommit) -> Result<Self, ModelError> {
        Self::KIND.check(doc)?;
        autosurgeon::hydrate(doc).map_err(|e| ModelError::Corrupt {
            expected: Self::KIND.as_str(),
            reason: e.to_string(),
        })
    }

    /// Writes `self` into `doc` and commits the change (if anything changed).
    fn write(&self, doc: &mut AutoCommit) -> Result<(), ModelError> {
        autosurgeon::reconcile(doc, self).map_err(|e| ModelError::Corrupt {
            expected: Self::KIND.as_str(),
            reason: e.to_string(),
        })?;
        doc.commit();
        Ok(())
    }

    /// Reads, lets `edit` change the view, writes back. `edit` validates and may refuse.
    fn update<R>(
        doc: &mut AutoCommit,
        edit: impl FnOnce(&mut Self) -> Result<R, ModelError>,
    ) -> Result<R, ModelError> {
        let mut view = Self::read(doc)?;
        let result = edit(&mut view)?;
        view.write(doc)?;
        Ok(result)
    }
}
