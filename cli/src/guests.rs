//! `guild guests ...`: people from outside the community (guest speakers, suppliers,
//! other departments), recorded as speakers, attendees and answerers without becoming
//! members. They never vote or propose, and the directory and health count members only.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::GuestView;
use crdt_model::community::{GuestChange, NewGuest};

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum GuestsCmd {
    /// Record a guest (a speaker, a supplier, someone from another department).
    Add {
        /// Their name.
        name: String,
        /// Where they come from.
        #[arg(long, default_value = "")]
        organisation: String,
        /// Anything worth remembering: what they spoke on, how to reach them.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Every guest, by name, with the sessions they spoke at and came to.
    List,
    /// One guest.
    Show {
        /// The guest: id, id prefix or name (prefix).
        guest: String,
    },
    /// Fix a guest's record (who recorded them, or a steward); only what is given changes.
    Update {
        /// The guest: id, id prefix or name (prefix).
        guest: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New organisation ("" clears it).
        #[arg(long)]
        organisation: Option<String>,
        /// New note ("" clears it).
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove a guest (who recorded them, or a steward); sessions keep naming them.
    Remove {
        /// The guest: id, id prefix or name (prefix).
        guest: String,
    },
}

pub fn run(client: &Client, cmd: GuestsCmd, json: bool) -> Result<()> {
    match cmd {
        GuestsCmd::Add {
            name,
            organisation,
            note,
        } => {
            let new = NewGuest {
                name,
                organisation,
                note,
            };
            let g: GuestView = client.post("/api/guests", &new)?;
            if json {
                return output::json(&g);
            }
            say!("Recorded the guest {} ({})", g.name, g.id);
            Ok(())
        }
        GuestsCmd::List => {
            let guests: Vec<GuestView> = client.get("/api/guests")?;
            if json {
                return output::json(&guests);
            }
            let rows = guests.iter().map(|g| {
                [
                    g.name.clone(),
                    g.organisation.clone(),
                    g.spoke_at.to_string(),
                    g.came_to.to_string(),
                    g.id.clone(),
                ]
            });
            output::print_table(
                output::table(&["name", "organisation", "spoke", "came", "id"], rows),
                "No guests yet: record one with guild guests add NAME",
            );
            Ok(())
        }
        GuestsCmd::Show { guest } => {
            let g: GuestView = client.get(&path(&guest))?;
            if json {
                return output::json(&g);
            }
            say!("{} (guest)", g.name);
            if !g.organisation.is_empty() {
                say!("from      {}", g.organisation);
            }
            say!("spoke at  {}", g.spoke_at);
            say!("came to   {}", g.came_to);
            say!(
                "recorded  by {} on {}",
                g.added_by.name,
                g.added.get(..10).unwrap_or(&g.added)
            );
            if !g.note.is_empty() {
                say!("\n{}", g.note);
            }
            say!("\nid {}", g.id);
            Ok(())
        }
        GuestsCmd::Update {
            guest,
            name,
            organisation,
            note,
        } => {
            let change = GuestChange {
                name,
                organisation,
                note,
            };
            let g: GuestView = client.patch(&path(&guest), &change)?;
            if json {
                return output::json(&g);
            }
            say!("Updated the guest {} ({})", g.name, g.id);
            Ok(())
        }
        GuestsCmd::Remove { guest } => {
            let g: GuestView = client.get(&path(&guest))?;
            client.delete(&path(&g.id))?;
            say!("Removed the guest {} ({})", g.name, g.id);
            Ok(())
        }
    }
}

fn path(guest: &str) -> String {
    format!("/api/guests/{}", urlencode(guest))
}
