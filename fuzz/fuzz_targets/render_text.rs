//! Text fields as they are validated and shown (issue 16: terminal escape injection and
//! disguised names). Input: any bytes, read as text. Whatever a peer stored, once through
//! `text::printable` (the CLI's tables and CSV, the dashboard) nothing can reach a terminal
//! that moves the cursor, rings a bell, retitles the window or reorders what follows; once
//! through maud (the dashboard) nothing can open a tag or close an attribute. What the API
//! accepts (`text::optional`) is in NFC and holds no control character (but newlines and
//! tabs in multi-line text); a single-line value needs no escaping at all.
#![no_main]

use crdt_model::text::{self, MAX_LINE, MAX_TEXT};
use libfuzzer_sys::fuzz_target;
use unicode_normalization::is_nfc;

/// Nothing a terminal would act on, and nothing that disguises what follows.
fn inert(shown: &str, multi_line: bool) -> bool {
    shown.chars().all(|c| {
        let control = c.is_control() && !(multi_line && (c == '\n' || c == '\t'));
        !control && !text::is_invisible_formatting(c)
    })
}

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    for multi_line in [false, true] {
        let shown = text::printable(&value, multi_line);
        assert!(inert(&shown, multi_line), "{shown:?}");
        // Escaping is idempotent: shown text is shown as it is.
        assert_eq!(text::printable(&shown, multi_line), shown);

        let shown: &str = &shown;
        let body = maud::html! { (shown) }.into_string();
        assert!(!body.contains(['<', '>']), "{body}");
        let element = maud::html! { p title=(shown) {} }.into_string();
        let attribute = element
            .strip_prefix("<p title=\"")
            .and_then(|rest| rest.strip_suffix("\"></p>"))
            .unwrap_or_else(|| panic!("{element}"));
        assert!(!attribute.contains(['"', '<', '>']), "{element}");

        let max = if multi_line { MAX_TEXT } else { MAX_LINE };
        if let Ok(accepted) = text::optional("field", &value, max) {
            assert!(is_nfc(&accepted), "{accepted:?}");
            let control = |c: char| c.is_control() && !(multi_line && (c == '\n' || c == '\t'));
            assert!(!accepted.chars().any(control), "{accepted:?}");
            if !multi_line {
                assert!(inert(&accepted, false), "{accepted:?}");
                assert_eq!(text::printable(&accepted, false), accepted);
            }
        }
    }
});
