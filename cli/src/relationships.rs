//! `guild relationships ...`: your own map of stakeholders and influencers. Private: it
//! syncs only between your own devices.

use anyhow::Result;
use clap::{Args, Subcommand};
use crdt_model::api::{LedgerRequest, LogRequest, PersonDetail};
use crdt_model::relationships::{PersonFields, Standing};

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum RelationshipsCmd {
    /// Add someone you want to keep a relationship with (they need not be a member).
    Add {
        name: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Everyone, with balance and when you last fed the relationship.
    List,
    /// One person with their interactions and ledger.
    Show { person: String },
    /// Change what you know about someone.
    Update {
        person: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// Log an interaction: coffee, lunch, meeting, event, call, message or other.
    Log {
        person: String,
        #[arg(long, default_value = "coffee")]
        kind: String,
        /// YYYY-MM-DD [default: today]
        #[arg(long)]
        date: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Record help you gave (a deposit in the social-capital ledger).
    Deposit {
        person: String,
        #[arg(long, default_value_t = 1)]
        amount: i64,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        date: Option<String>,
    },
    /// Record a favour you asked (a withdrawal).
    Withdraw {
        person: String,
        #[arg(long, default_value_t = 1)]
        amount: i64,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        date: Option<String>,
    },
    /// Relationships not fed for longer than their cadence, oldest first.
    Due,
}

#[derive(Args)]
pub struct Fields {
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    organisation: Option<String>,
    /// low, medium or high
    #[arg(long)]
    influence: Option<String>,
    #[arg(long)]
    common_ground: Option<String>,
    /// An interest; repeatable (replaces the list on update).
    #[arg(long = "interest")]
    interests: Vec<String>,
    #[arg(long)]
    notes: Option<String>,
    /// Keep in touch every N days [default: 30].
    #[arg(long)]
    cadence: Option<u64>,
}

impl Fields {
    fn into_fields(self, name: Option<String>) -> PersonFields {
        PersonFields {
            name,
            team: self.team,
            organisation: self.organisation,
            influence: self.influence,
            common_ground: self.common_ground,
            interests: (!self.interests.is_empty()).then_some(self.interests),
            notes: self.notes,
            cadence_days: self.cadence,
        }
    }
}

fn path(person: &str, rest: &str) -> String {
    format!("/api/relationships/{}{rest}", urlencode(person))
}

pub fn run(client: &Client, cmd: RelationshipsCmd, json: bool) -> Result<()> {
    let single: Standing = match cmd {
        RelationshipsCmd::Add { name, fields } => {
            client.post("/api/relationships", &fields.into_fields(Some(name)))?
        }
        RelationshipsCmd::Update {
            person,
            name,
            fields,
        } => client.patch(&path(&person, ""), &fields.into_fields(name))?,
        RelationshipsCmd::Log {
            person,
            kind,
            date,
            note,
        } => client.post(&path(&person, "/log"), &LogRequest { kind, date, note })?,
        RelationshipsCmd::Deposit {
            person,
            amount,
            note,
            date,
        } => client.post(
            &path(&person, "/deposit"),
            &LedgerRequest { amount, date, note },
        )?,
        RelationshipsCmd::Withdraw {
            person,
            amount,
            note,
            date,
        } => client.post(
            &path(&person, "/withdraw"),
            &LedgerRequest { amount, date, note },
        )?,
        RelationshipsCmd::Show { person } => {
            let detail: PersonDetail = client.get(&path(&person, ""))?;
            if json {
                return output::json(&detail);
            }
            print_table(std::slice::from_ref(&detail.standing), "");
            for i in &detail.interactions {
                say!("  {} {:<8} {}", i.date, i.interaction_kind, i.note);
            }
            for l in &detail.ledger {
                let what = if l.amount > 0 { "gave" } else { "asked" };
                say!("  {} {what} {:>3} {}", l.date, l.amount.abs(), l.note);
            }
            return Ok(());
        }
        RelationshipsCmd::List => {
            let all: Vec<Standing> = client.get("/api/relationships")?;
            if json {
                return output::json(&all);
            }
            print_table(
                &all,
                "Nobody yet: add someone with guild relationships add NAME",
            );
            return Ok(());
        }
        RelationshipsCmd::Due => {
            let due: Vec<Standing> = client.get("/api/relationships/due")?;
            if json {
                return output::json(&due);
            }
            print_table(&due, "Nobody is due a reconnect.");
            return Ok(());
        }
    };
    if json {
        return output::json(&single);
    }
    print_table(std::slice::from_ref(&single), "");
    Ok(())
}

fn print_table(people: &[Standing], empty: &str) {
    let rows = people.iter().map(|s| {
        [
            s.person.name.clone(),
            s.person.team.clone(),
            s.person.influence.clone(),
            s.balance.to_string(),
            s.last_fed.clone(),
            if s.overdue_days > 0 {
                format!("{} days overdue", s.overdue_days)
            } else {
                format!("every {} days", s.reconnect_every_days)
            },
        ]
    });
    let table = output::table(
        &[
            "name",
            "team",
            "influence",
            "balance",
            "last fed",
            "reconnect",
        ],
        rows,
    );
    output::print_table(table, empty);
}
