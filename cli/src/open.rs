//! `guild open`: the dashboard in the default browser, through a one-time login link (the
//! API token never goes into a URL that would stay in the browser's history).

use anyhow::Result;
use crdt_model::api::DashboardLink;

use crate::client::Client;
use crate::output::{self, say};

pub fn run(client: &Client, print: bool, json: bool) -> Result<()> {
    let link: DashboardLink = client.post("/api/dashboard/login", &serde_json::json!({}))?;
    if json {
        return output::json(&link);
    }
    if print {
        say!("{}", link.url);
        return Ok(());
    }
    match open::that_detached(&link.url) {
        Ok(()) => say!(
            "Opened the dashboard in your browser. (The link works once, within {} s: run `guild open` again for another.)",
            link.expires_in_secs
        ),
        Err(e) => say!(
            "Could not start a browser ({e}). Open this link within {} s; it works once:\n{}",
            link.expires_in_secs,
            link.url
        ),
    }
    Ok(())
}
