//! `guild log`: the community's change log (removals, cancellations, role changes).

use anyhow::Result;
use crdt_model::api::LogView;

use crate::client::Client;
use crate::output::{self, say};
use crate::plural::count;

pub fn log(client: &Client, json: bool) -> Result<()> {
    let entries: Vec<LogView> = client.get("/api/log")?;
    if json {
        return output::json(&entries);
    }
    let rows = entries
        .iter()
        .map(|e| [when(&e.at), e.by.name.clone(), e.summary.clone()]);
    output::print_table(
        output::table(&["when", "who", "what"], rows),
        "No removals, cancellations or role changes yet.",
    );
    if !entries.is_empty() {
        say!(
            "{}, newest first",
            count(entries.len(), "change", "changes")
        );
    }
    Ok(())
}

/// "2026-11-25T10:04:31Z" -> "2026-11-25 10:04 UTC".
pub(crate) fn when(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(day), Some(time)) if at.ends_with('Z') => format!("{day} {time} UTC"),
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => at.to_owned(),
    }
}
