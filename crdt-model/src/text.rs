//! Validation of the short texts people type: names, teams, skills.

use crate::ModelError;

/// Longest single-line field (names, roles, teams, skills) in characters.
pub const MAX_LINE: usize = 200;
/// Longest free-text field (purpose, descriptions, contact) in characters.
pub const MAX_TEXT: usize = 10_000;

/// Trims `value` and checks it is non-empty, single-line and at most `max` characters.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String, ModelError> {
    let value = optional(field, value, max)?;
    if value.is_empty() {
        return Err(ModelError::Empty { field });
    }
    Ok(value)
}

/// Like [`required`] but an empty value is allowed (it clears the field).
pub fn optional(field: &'static str, value: &str, max: usize) -> Result<String, ModelError> {
    let value = value.trim();
    let len = value.chars().count();
    if len > max {
        return Err(ModelError::TooLong { field, len, max });
    }
    if max == MAX_LINE && value.chars().any(char::is_control) {
        return Err(ModelError::Invalid {
            field,
            reason: "must be a single line without control characters".into(),
        });
    }
    Ok(value.to_owned())
}

/// A calendar date `YYYY-MM-DD`, validated.
pub fn date(field: &'static str, value: &str) -> Result<String, ModelError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value.trim(), format)
        .map(|_| value.trim().to_owned())
        .map_err(|e| ModelError::Invalid {
            field,
            reason: format!("{value:?} is not a date like 2026-11-25 ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_rejects_empty() {
        assert_eq!(required("name", "  Ada ", MAX_LINE).unwrap(), "Ada");
        assert!(matches!(
            required("name", "   ", MAX_LINE),
            Err(ModelError::Empty { field: "name" })
        ));
    }

    #[test]
    fn rejects_too_long_and_multiline() {
        assert!(matches!(
            required("name", &"x".repeat(MAX_LINE + 1), MAX_LINE),
            Err(ModelError::TooLong { .. })
        ));
        assert!(required("name", "a\nb", MAX_LINE).is_err());
        assert!(optional("purpose", "a\nb", MAX_TEXT).is_ok());
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(date("joined", "2026-02-28").unwrap(), "2026-02-28");
        assert!(date("joined", "2026-02-30").is_err());
        assert!(date("joined", "yesterday").is_err());
    }
}
