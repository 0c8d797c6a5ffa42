//! `guild members ...`

use anyhow::Result;
use clap::{Args, Subcommand};
use crdt_model::api::{MemberRef, MemberSaved, NewStarter};
use crdt_model::member::{Member, Profile};

use crate::client::Client;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Subcommand)]
pub enum MembersCmd {
    /// List the directory.
    List {
        /// Only members of this team (case and accents ignored).
        #[arg(long)]
        team: Option<String>,
        /// Only members with this interest (case and accents ignored).
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
    /// Show one member.
    Show {
        /// Member id, id prefix, name or name prefix (case and accents ignored).
        member: String,
    },
    /// Change a member's profile; only the fields given change. You may change your own,
    /// those you added who do not run Guild yet, and (as a steward) anyone's.
    Update {
        /// Member id, id prefix, name or name prefix.
        member: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: ProfileArgs,
    },
    /// Remove a member from the directory (stewards only; kept in the change log).
    Remove {
        /// Member id, id prefix, name or name prefix.
        member: String,
    },
}

#[derive(Args)]
pub struct ProfileArgs {
    /// Their role, any role: product manager, service designer, "curious engineer".
    #[arg(long)]
    role: Option<String>,
    /// Their team.
    #[arg(long)]
    team: Option<String>,
    /// Their organisation or department.
    #[arg(long)]
    organisation: Option<String>,
    /// An interest; repeat for several. Replaces the list on update.
    #[arg(long = "interest")]
    interests: Vec<String>,
    /// How to reach them (email, chat handle, ...).
    #[arg(long)]
    contact: Option<String>,
    /// Date they joined, YYYY-MM-DD [default: today].
    #[arg(long)]
    joined: Option<String>,
    /// Their onboarding buddy (member id, id prefix or name); "" clears it.
    #[arg(long)]
    buddy: Option<String>,
    /// Would they take a turn on the council: willing, not-now or not-asked.
    #[arg(long, value_name = "WILLINGNESS")]
    council: Option<String>,
    /// The old form of --council: true is willing, false is not-now.
    #[arg(long, hide = true, conflicts_with = "council")]
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
            council: self.council,
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
            if table.row_count() > 0 {
                say!("{table}");
                say!("{}", count(members.len(), "member", "members"));
            } else {
                say!("No members match.");
            }
            Ok(())
        }
        MembersCmd::Add { name, fields } => {
            let saved: MemberSaved =
                client.post("/api/members", &fields.into_profile(Some(name)))?;
            warn(&saved.warnings);
            if json {
                return output::json(&saved);
            }
            say!("Added {} ({})", saved.member.name, saved.member.id);
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
            let saved: MemberSaved =
                client.patch(&member_path(&member), &fields.into_profile(name))?;
            warn(&saved.warnings);
            if json {
                return output::json(&saved);
            }
            say!("Updated {} ({})", saved.member.name, saved.member.id);
            Ok(())
        }
        MembersCmd::Remove { member } => {
            let found: Member = client.get(&member_path(&member))?;
            client.delete(&member_path(&found.id))?;
            if json {
                let removed = MemberRef {
                    id: found.id,
                    name: found.name,
                };
                return output::json(&serde_json::json!({ "removed": removed }));
            }
            say!("Removed {} ({})", found.name, found.id);
            Ok(())
        }
    }
}

/// Warnings go to standard error, so `--json` output stays clean for scripts.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("guild: warning: {}", crdt_model::text::printable(w, false));
    }
}

pub fn member_path(key: &str) -> String {
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

/// A member's name for an id, or the id if they cannot be found.
fn name_of(client: &Client, id: &str) -> String {
    client
        .get::<Member>(&member_path(id))
        .map_or_else(|_| id.to_owned(), |m| m.name)
}

fn show(client: &Client, m: &Member) -> Result<()> {
    let buddy = match &m.buddy {
        Some(id) => format!("{} ({id})", name_of(client, id)),
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
    field("Council", m.council.label());
    if !m.added_by.is_empty() {
        field("Added by", &name_of(client, &m.added_by));
    }
    if m.skills.is_empty() {
        field("Skills", "");
    } else {
        say!("Skills");
        let mut raters = std::collections::BTreeMap::new();
        let rows = m.skills.values().map(|r| {
            let rated_by = if r.by.is_empty() || r.by == m.id {
                String::new()
            } else {
                raters
                    .entry(r.by.clone())
                    .or_insert_with(|| name_of(client, &r.by))
                    .clone()
            };
            [
                r.name.clone(),
                r.level().map_or("?".into(), |l| l.to_string()),
                if r.grow { "yes".into() } else { String::new() },
                r.updated.get(..10).unwrap_or(&r.updated).to_owned(),
                rated_by,
            ]
        });
        let rows: Vec<_> = rows.collect();
        say!(
            "{}",
            output::table(
                &[
                    "skill",
                    "level",
                    "wants to grow",
                    "rated",
                    "rated for them by"
                ],
                rows
            )
        );
        print_history(m);
    }
    Ok(())
}

/// How each re-rated skill moved: "Discovery: 2026-01-10 aware -> 2026-06-02 practising".
fn print_history(m: &Member) {
    let mut by_skill: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for event in m.rating_history.values() {
        let level = u8::try_from(event.level)
            .ok()
            .and_then(|l| crdt_model::skills::SkillLevel::try_from(l).ok())
            .map_or("?", |l| l.label());
        by_skill
            .entry(event.skill.clone())
            .or_default()
            .push(format!(
                "{} {level}",
                event.at.get(..10).unwrap_or(&event.at)
            ));
    }
    let moved: Vec<_> = by_skill.into_iter().filter(|(_, h)| h.len() > 1).collect();
    if !moved.is_empty() {
        say!("Skill history");
        for (skill, history) in moved {
            say!("  {skill}: {}", history.join(" -> "));
        }
    }
}
