//! Validation of the texts people type (names, teams, skills, descriptions, notes), folding
//! for matching them, and making stored text safe to print.
//!
//! Two kinds of field:
//! - **single-line** (names, roles, teams, titles, tags; at most [`MAX_LINE`] characters):
//!   no control characters at all, and no invisible formatting characters (bidi embeddings,
//!   overrides and isolates, zero-width characters), which could disguise a name
//!   (`"Bob\u{202e}gnp.exe"` shows as "Bobexe.png");
//! - **multi-line** (descriptions, notes, answers, contact; longer limits): newlines and
//!   tabs are allowed, other control characters (ESC, BEL, ...) and bidi controls are not,
//!   so nothing typed can retitle a terminal, clear a screen or reorder what others read.
//!
//! Every accepted text is normalised to Unicode NFC, so "Siobhán" typed on two keyboards
//! compares equal. A change that arrives from a peer was validated (or not) by *its* daemon
//! and cannot be refused without forking the document, so readers also escape whatever they
//! print ([`printable`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::ModelError;

/// Longest single-line field (names, roles, teams, skills) in characters.
pub const MAX_LINE: usize = 200;
/// Longest free-text field (purpose, descriptions, contact) in characters.
pub const MAX_TEXT: usize = 10_000;

/// Trims `value` and checks it is non-empty and valid (see [`optional`]).
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String, ModelError> {
    let value = optional(field, value, max)?;
    if value.is_empty() {
        return Err(ModelError::Empty { field });
    }
    Ok(value)
}

/// Like [`required`] but an empty value is allowed (it clears the field). Fields limited to
/// [`MAX_LINE`] are single-line; longer limits mean multi-line text.
pub fn optional(field: &'static str, value: &str, max: usize) -> Result<String, ModelError> {
    let multi_line = max > MAX_LINE;
    let value: String = if multi_line {
        value.trim().replace("\r\n", "\n").nfc().collect()
    } else {
        value.trim().nfc().collect()
    };
    let len = value.chars().count();
    if len > max {
        return Err(ModelError::TooLong { field, len, max });
    }
    if let Some(bad) = value.chars().find(|&c| !allowed(c, multi_line)) {
        let reason = if multi_line {
            format!(
                "contains {}; only printable text, newlines and tabs are allowed",
                describe(bad)
            )
        } else {
            format!(
                "must be a single line of printable text; it contains {}",
                describe(bad)
            )
        };
        return Err(ModelError::Invalid { field, reason });
    }
    Ok(value)
}

/// Characters that are invisible yet change how the text around them shows: bidi marks,
/// embeddings, overrides and isolates, zero-width spaces and joiners, the byte-order mark.
pub fn is_invisible_formatting(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}'
        )
}

/// Bidi marks, embeddings, overrides and isolates: they reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

fn allowed(c: char, multi_line: bool) -> bool {
    if multi_line {
        // Zero-width joiners stay allowed in long text: emoji sequences and some scripts
        // (Persian, Indic) need them; bidi controls never.
        (!c.is_control() || c == '\n' || c == '\t') && !is_bidi_control(c)
    } else {
        !c.is_control() && !is_invisible_formatting(c)
    }
}

/// How an offending character is named in an error: `U+001B (a control character)`.
fn describe(c: char) -> String {
    let what = if c.is_control() {
        if c == '\n' || c == '\r' {
            "a line break"
        } else {
            "a control character"
        }
    } else {
        "an invisible formatting character"
    };
    format!("U+{:04X} ({what})", u32::from(c))
}

/// The key two texts are matched by when people search: case, accents and repeated
/// whitespace ignored ("siobhan" finds "Siobhán", "ZOE" finds "Zoë").
pub fn fold(value: &str) -> String {
    let stripped: String = value
        .nfd()
        .filter(|&c| !is_combining_mark(c) && !is_invisible_formatting(c))
        .collect();
    stripped
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Stored text made safe to show in a terminal or a CSV cell: every control character
/// (but newlines and tabs when `multi_line`) and every invisible formatting character is
/// replaced by a visible escape such as `\u{1b}`. Text from peers passes through here,
/// since another member's daemon may not have validated it.
pub fn printable(value: &str, multi_line: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(multi_line && (c == '\n' || c == '\t'))) || is_invisible_formatting(c)
    };
    if !value.chars().any(unsafe_char) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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

    // Issue 16 (terminal escape injection): ESC, BEL and other control characters were
    // accepted in long text fields and printed raw on other members' terminals.
    #[test]
    fn control_characters_are_refused_in_every_field_but_newline_and_tab() {
        for bad in [
            "\u{1b}]0;pwned\u{7}",
            "clear\u{1b}[2J",
            "bell\u{7}",
            "nul\u{0}",
        ] {
            let err = optional("contact", bad, MAX_TEXT).unwrap_err().to_string();
            assert!(err.contains("control character"), "{err}");
            assert!(optional("team", bad, MAX_LINE).is_err());
        }
        assert_eq!(
            optional("notes", "line one\r\n\tline two", MAX_TEXT).unwrap(),
            "line one\n\tline two"
        );
        assert!(optional("name", "tab\there", MAX_LINE).is_err());
    }

    // Issue 16 (names that disguise themselves): right-to-left overrides, bidi isolates and
    // zero-width characters were accepted in names, roles and teams.
    #[test]
    fn invisible_formatting_is_refused_in_single_line_fields() {
        for bad in [
            "Bob\u{202e}gnp.exe",
            "Ad\u{200b}a",
            "\u{2066}Eve\u{2069}",
            "Zero\u{feff}width",
            "Ann\u{200d}e",
        ] {
            let err = required("name", bad, MAX_LINE).unwrap_err().to_string();
            assert!(err.contains("invisible formatting"), "{bad:?}: {err}");
        }
        // Bidi overrides are refused in long text too; joiners (emoji) are not.
        assert!(optional("notes", "a\u{202e}b", MAX_TEXT).is_err());
        assert!(optional("notes", "family \u{1f468}\u{200d}\u{1f469}", MAX_TEXT).is_ok());
        // Right-to-left scripts themselves are fine.
        assert_eq!(required("name", "עדה", MAX_LINE).unwrap(), "עדה");
    }

    #[test]
    fn names_are_normalised_to_nfc() {
        let decomposed = "Siobha\u{301}n";
        let composed = "Siobh\u{e1}n";
        assert_ne!(decomposed, composed);
        assert_eq!(required("name", decomposed, MAX_LINE).unwrap(), composed);
    }

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        assert_eq!(fold("Siobhán"), "siobhan");
        assert_eq!(fold("Siobha\u{301}n"), "siobhan");
        assert_eq!(fold("  ZOË   Müller "), "zoe muller");
        assert_eq!(fold("José"), fold("jose"));
    }

    #[test]
    fn printable_escapes_what_a_terminal_would_obey() {
        assert_eq!(printable("plain", false), "plain");
        assert_eq!(
            printable("\u{1b}]0;pwned\u{7}", false),
            "\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(printable("a\nb", false), "a\\u{a}b");
        assert_eq!(printable("a\nb\tc", true), "a\nb\tc");
        assert_eq!(printable("Bob\u{202e}gnp.exe", true), "Bob\\u{202e}gnp.exe");
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(date("joined", "2026-02-28").unwrap(), "2026-02-28");
        assert!(date("joined", "2026-02-30").is_err());
        assert!(date("joined", "yesterday").is_err());
    }
}
