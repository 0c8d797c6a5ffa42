//! Times people type: RFC 3339 with an offset, e.g. `2026-12-01T18:00:00+01:00`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ModelError;

/// Parses an RFC 3339 time with its offset (the session's time zone).
pub fn parse(field: &'static str, value: &str) -> Result<OffsetDateTime, ModelError> {
    OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|e| ModelError::Invalid {
        field,
        reason: format!(
            "{value:?} is not a time like 2026-12-01T18:00:00+01:00 or 2026-12-01T17:00:00Z ({e})"
        ),
    })
}

pub fn format(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Calendar date of a stored time or date string (`YYYY-MM-DD` prefix), for grouping.
pub fn date_of(stored: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(stored.get(..10)?, format).ok()
}
