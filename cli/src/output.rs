//! How answers are shown: tables for people, JSON for scripts.

use anyhow::Result;
use comfy_table::{Table, presets};
use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A borderless table with a header row.
pub fn table<R, C>(header: &[&str], rows: R) -> Table
where
    R: IntoIterator<Item = C>,
    C: IntoIterator<Item = String>,
{
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    table
}

/// Prints a table, or `empty` when there are no rows.
pub fn print_table(table: Table, empty: &str) {
    if table.row_count() == 0 {
        println!("{empty}");
    } else {
        println!("{table}");
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
