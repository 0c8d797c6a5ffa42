use thiserror::Error;

/// Everything that can go wrong when reading or changing a Guild document.
///
/// `Invalid*` variants are the caller's fault (bad input) and map to HTTP 400;
/// `Corrupt` means a document does not have the shape this model expects.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long ({len} characters; the limit is {max})")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("unknown skill {0:?}; add it to the community's taxonomy first (guild skills add)")]
    UnknownSkill(String),
    #[error("skill {0:?} is already in the taxonomy")]
    DuplicateSkill(String),
    #[error("document is not a Guild {expected} document: {reason}")]
    Corrupt {
        expected: &'static str,
        reason: String,
    },
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl ModelError {
    /// True when the error is the caller's fault (bad input) rather than a broken document.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Empty { .. }
                | Self::TooLong { .. }
                | Self::Invalid { .. }
                | Self::UnknownSkill(_)
                | Self::DuplicateSkill(_)
        )
    }
}
