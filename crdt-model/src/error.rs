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
    #[error("unknown skill {name:?}; {}", unknown_skill_hint(suggestions))]
    UnknownSkill {
        name: String,
        /// Skills in the taxonomy spelled like it, best first.
        suggestions: Vec<String>,
    },
    /// A skill name (prefix) that matches several skills.
    #[error("{name:?} matches {} skills ({}); type more of the name", candidates.len(), candidates.join(", "))]
    AmbiguousSkill {
        name: String,
        candidates: Vec<String>,
    },
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
                | Self::UnknownSkill { .. }
                | Self::AmbiguousSkill { .. }
                | Self::DuplicateSkill(_)
        )
    }
}

fn unknown_skill_hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "add it to the community's taxonomy first (guild skills add)".into()
    } else {
        format!(
            "did you mean {}? (guild skills list shows them all)",
            crate::lookup::join_names(suggestions, "or")
        )
    }
}
