//! `guild relationships ...`: your own map of stakeholders and influencers. Private: it
//! syncs only between your own devices.

use anyhow::Result;
use clap::{Args, Subcommand};
use crdt_model::api::{LedgerRequest, LogRequest, PersonDetail};
use crdt_model::relationships::{PersonFields, Standing};

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Subcommand)]
pub enum RelationshipsCmd {
    /// Add someone you want to keep a relationship with (they need not be a member).
    Add {
        /// Their name.
        name: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Everyone, with balance and when you last fed the relationship.
    List,
    /// One person: what they want, their goals, your interactions and ledger.
    Show {
        /// Id, id prefix, name or name prefix (case and accents ignored).
        person: String,
    },
    /// Change what you know about someone.
    Update {
        /// Id, id prefix, name or name prefix.
        person: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// Log time together. Informal contact builds the strongest relationships: coffee,
    /// lunch, breakfast, dinner, drinks, walk, social; or meeting, event, call, message, other.
    Log {
        /// Id, id prefix, name or name prefix.
        person: String,
        /// What you did together (see above).
        #[arg(long, default_value = "coffee")]
        kind: String,
        /// When, YYYY-MM-DD [default: today].
        #[arg(long)]
        date: Option<String>,
        /// What you talked about, what you learned.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Record help you gave: a deposit in the social-capital ledger. Feeds the relationship.
    Deposit {
        /// Id, id prefix, name or name prefix.
        person: String,
        /// How much it was worth to them, 1-100.
        #[arg(long, default_value_t = 1)]
        amount: i64,
        /// What you did for them.
        #[arg(long, default_value = "")]
        note: String,
        /// When, YYYY-MM-DD [default: today].
        #[arg(long)]
        date: Option<String>,
    },
    /// Record a favour you asked: a withdrawal. It draws on the relationship and does not
    /// count as feeding it.
    Withdraw {
        /// Id, id prefix, name or name prefix.
        person: String,
        /// How big a favour, 1-100.
        #[arg(long, default_value_t = 1)]
        amount: i64,
        /// What you asked for.
        #[arg(long, default_value = "")]
        note: String,
        /// When, YYYY-MM-DD [default: today].
        #[arg(long)]
        date: Option<String>,
    },
    /// Relationships not fed for longer than their cadence.
    Due {
        /// Order: neglect (longest neglected first) or influence (high influence first).
        #[arg(long, default_value = "neglect")]
        by: String,
    },
}

#[derive(Args)]
pub struct Fields {
    /// Their team.
    #[arg(long)]
    team: Option<String>,
    /// Their organisation or department.
    #[arg(long)]
    organisation: Option<String>,
    /// How much their voice weighs in decisions: low, medium or high.
    #[arg(long)]
    influence: Option<String>,
    /// What you have in common (a hobby, a past team, a shared customer).
    #[arg(long)]
    common_ground: Option<String>,
    /// An interest of theirs; repeatable (replaces the list on update).
    #[arg(long = "interest")]
    interests: Vec<String>,
    /// What they want, from you and from the work (stated or not).
    #[arg(long)]
    wants: Option<String>,
    /// Their goals and their team's (a target, a launch, a promotion).
    #[arg(long)]
    goals: Option<String>,
    /// Anything else worth remembering.
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
            wants: self.wants,
            goals: self.goals,
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
            let person = &detail.standing.person;
            for (label, value) in [
                ("Wants", &person.wants),
                ("Goals", &person.goals),
                ("Common ground", &person.common_ground),
                ("Notes", &person.notes),
            ] {
                if !value.is_empty() {
                    say!("{label}: {value}");
                }
            }
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
        RelationshipsCmd::Due { by } => {
            let due: Vec<Standing> = client.get_query("/api/relationships/due", &[("by", &by)])?;
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
                format!("{} overdue", count(s.overdue_days as usize, "day", "days"))
            } else {
                format!(
                    "every {}",
                    count(s.reconnect_every_days as usize, "day", "days")
                )
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
