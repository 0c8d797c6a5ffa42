//! `guild members ...`

use anyhow::Result;
use clap::{Args, Subcommand};
use crdt_model::api::NewStarter;
use crdt_model::member::{Member, Profile};

use crate::client::Client;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum MembersCmd {
    /// List the directory.
    List {
        /// Only members of this team (case-insensitive).
        #[arg(long)]
        team: Option<String>,
        /// Only members with this interest (case-insensitive).
        #[arg(long)]
        interest: Option<String>,
        /// New starters (joined in the last 90 days): buddy and sessions attended.
        #[arg(long, conflicts_with_all = ["team", "interest"])]
        new: bool,
    },
    /// Add someone (they need not run Guild yet). Any role is welcome.
    Add {
        /// Their name.
        name: String,
        #[command(flatten)]
        fields: ProfileArgs,
    },
    /// Show one member: by id, id prefix or name.
    Show { member: String },
    /// Change a member's profile; only the fields given change.
    Update {
        member: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: ProfileArgs,
    },
    /// Remove a member from the directory.
    Remove { member: String },
}

#[derive(Args)]
pub struct ProfileArgs {
    #[arg(long)]
    role: Option<String>,
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    organisation: Option<String>,
    /// An interest; repeat for several. Replaces the list on update.
    #[arg(long = "interest")]
    interests: Vec<String>,
    #[arg(long)]
    contact: Option<String>,
    /// Date they joined, YYYY-MM-DD [default: today].
    #[arg(long)]
    joined: Option<String>,
    /// Their onboarding buddy (member id, id prefix or name); "" clears it.
    #[arg(long)]
    buddy: Option<String>,
    /// Willing (true) or not (false) to take a turn on the council.
    #[arg(long)]
    council_opt_in: Option<bool>,
}

impl ProfileArgs {
    fn into_profile(self, name: Option<String>) -> Profile {
        Profile {
            name,
            role: self.role,
            team: self.team,
            organisation: self.organisation,
            interests: (!self.interests.is_empty()).then_some(self.interests),
            contact: self.contact,
            joined: self.joined,
            buddy: self.buddy,
            council_opt_in: self.council_opt_in,
        }
    }
}

pub fn run(client: &Client, cmd: MembersCmd, json: bool) -> Result<()> {
    match cmd {
        MembersCmd::List { new: true, .. } => {
            let starters: Vec<NewStarter> = client.get("/api/members/new")?;
            if json {
                return output::json(&starters);
            }
            let rows = starters.iter().map(|s| {
                [
                    s.name.clone(),
                    s.joined.clone(),
                    s.buddy
                        .as_ref()
                        .map_or("none yet".into(), |b| b.name.clone()),
                    s.sessions_attended.to_string(),
                    s.member_id.clone(),
                ]
            });
            let table = output::table(&["name", "joined", "buddy", "sessions", "id"], rows);
            output::print_table(table, "Nobody joined in the last 90 days.");
            Ok(())
        }
        MembersCmd::List { team, interest, .. } => {
            let mut query = Vec::new();
            if let Some(team) = &team {
                query.push(("team", team.as_str()));
            }
            if let Some(interest) = &interest {
                query.push(("interest", interest.as_str()));
            }
            let members: Vec<Member> = client.get_query("/api/members", &query)?;
            if json {
                return output::json(&members);
            }
            let rows = members.iter().map(|m| {
                [
                    m.id.clone(),
                    m.name.clone(),
                    m.role.clone(),
                    m.team.clone(),
                    m.interests.join(", "),
                    m.joined.clone(),
                ]
            });
            let table = output::table(&["id", "name", "role", "team", "interests", "joined"], rows);
            output::print_table(table, "No members match.");
            Ok(())
        }
        MembersCmd::Add { name, fields } => {
            let member: Member = client.post("/api/members", &fields.into_profile(Some(name)))?;
            if json {
                return output::json(&member);
            }
            say!("Added {} ({})", member.name, member.id);
            Ok(())
        }
        MembersCmd::Show { member } => {
            let member: Member = client.get(&member_path(&member))?;
            if json {
                return output::json(&member);
            }
            show(client, &member)
        }
        MembersCmd::Update {
            member,
            name,
            fields,
        } => {
            let updated: Member =
                client.patch(&member_path(&member), &fields.into_profile(name))?;
            if json {
                return output::json(&updated);
            }
            say!("Updated {} ({})", updated.name, updated.id);
            Ok(())
        }
        MembersCmd::Remove { member } => {
            let found: Member = client.get(&member_path(&member))?;
            client.delete(&member_path(&found.id))?;
            say!("Removed {} ({})", found.name, found.id);
            Ok(())
        }
    }
}

fn member_path(key: &str) -> String {
    format!("/api/members/{}", urlencode(key))
}

/// Percent-encodes a path segment (names may hold spaces and slashes).
pub fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn show(client: &Client, m: &Member) -> Result<()> {
    let buddy = match &m.buddy {
        Some(id) => client
            .get::<Member>(&member_path(id))
            .map(|b| format!("{} ({id})", b.name))
            .unwrap_or_else(|_| id.clone()),
        None => "-".into(),
    };
    let field = |label: &str, value: &str| {
        say!("{label:<13} {}", if value.is_empty() { "-" } else { value });
    };
    field("Name", &m.name);
    field("Id", &m.id);
    field("Role", &m.role);
    field("Team", &m.team);
    field("Organisation", &m.organisation);
    field("Interests", &m.interests.join(", "));
    field("Contact", &m.contact);
    field("Joined", &m.joined);
    field("Buddy", &buddy);
    if m.skills.is_empty() {
        field("Skills", "");
    } else {
        say!("Skills");
        let rows = m.skills.values().map(|r| {
            [
                r.name.clone(),
                r.level().map_or("?".into(), |l| l.to_string()),
                if r.grow { "yes".into() } else { String::new() },
            ]
        });
        say!(
            "{}",
            output::table(&["skill", "level", "wants to grow"], rows)
        );
    }
    Ok(())
}
