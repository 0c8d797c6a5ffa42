//! How answers are shown: tables and lines for people, JSON for scripts.
//!
//! Everything printed goes through here, for two reasons:
//! - stored text may come from another member's daemon, which may not have validated it:
//!   control characters and invisible formatting are escaped before they reach a terminal
//!   (a synced field must not retitle the terminal, clear the screen or fake an error);
//! - `guild ... | head -1` closes the pipe early: the CLI then ends quietly (exit 0) instead
//!   of panicking in `println!`.

use std::io::{self, Write};

use anyhow::Result;
use comfy_table::{Table, presets};
use crdt_model::text::printable;
use serde::Serialize;

/// `println!` for human output: formats, escapes what a terminal would obey, prints.
macro_rules! say {
    () => {
        $crate::output::line("")
    };
    ($($arg:tt)*) => {
        $crate::output::line(&format!($($arg)*))
    };
}
pub(crate) use say;

/// Prints one line of human output (newlines and tabs kept, other controls escaped).
pub fn line(text: &str) {
    write_stdout(&printable(text, true), "\n");
}

/// Prints text made of CRLF lines (an iCalendar file) as it is, controls escaped per line.
pub fn crlf_text(text: &str) {
    let safe: Vec<_> = text.split("\r\n").map(|l| printable(l, true)).collect();
    write_stdout(&safe.join("\r\n"), "");
}

pub fn json<T: Serialize>(value: &T) -> Result<()> {
    // serde_json escapes control characters inside strings itself.
    write_stdout(&serde_json::to_string_pretty(value)?, "\n");
    Ok(())
}

/// One cell of a table or CSV: a single line, every control character escaped.
pub fn cell(text: &str) -> String {
    printable(text, false).into_owned()
}

/// A borderless table with a header row; every cell is escaped.
pub fn table<R, C>(header: &[&str], rows: R) -> Table
where
    R: IntoIterator<Item = C>,
    C: IntoIterator<Item = String>,
{
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row.into_iter().map(|c| cell(&c)));
    }
    table
}

/// Prints a table, or `empty` when there are no rows.
pub fn print_table(table: Table, empty: &str) {
    if table.row_count() == 0 {
        line(empty);
    } else {
        line(&table.to_string());
    }
}

/// Writes rows as CSV to standard output, every cell escaped.
pub fn csv(rows: impl IntoIterator<Item = Vec<String>>) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row.iter().map(|c| cell(c)))?;
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_stdout(&String::from_utf8_lossy(&bytes), "");
    Ok(())
}

/// Writes to standard output; a closed pipe ends the program quietly, as `cat` does.
fn write_stdout(text: &str, end: &str) {
    let mut out = io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(end.as_bytes()))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("guild: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

/// An error for scripts, one line on stderr: `{"error": {"code", "message", "status"?,
/// "details"?}}`. `status` is the daemon's HTTP status when the daemon refused.
pub fn json_error(
    code: &str,
    message: &str,
    status: Option<u16>,
    details: Option<&serde_json::Value>,
) {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(status) = status {
        error["status"] = status.into();
    }
    if let Some(details) = details {
        error["details"] = details.clone();
    }
    eprintln!("{}", serde_json::json!({ "error": error }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_are_escaped() {
        let t = table(&["name"], [vec!["Eve\u{1b}[2J".to_string()]]).to_string();
        assert!(t.contains("Eve\\u{1b}[2J"), "{t}");
        assert!(!t.contains('\u{1b}'));
    }
}
