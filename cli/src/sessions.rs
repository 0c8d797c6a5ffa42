//! `guild sessions ...`

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use crdt_model::api::{
    AgendaItem, AttendRequest, NotesRequest, ProposeRequest, RsvpRequest, ScheduleRequest,
    SessionView, VoteRequest,
};
use crdt_model::session::NewSession;

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum SessionsCmd {
    /// Plan a session. Times are RFC 3339 with the time zone, e.g. 2026-12-01T18:00:00+01:00.
    Add {
        title: String,
        /// meetup, community-session, away-day, show-and-tell, guest-talk or unconference
        #[arg(long)]
        kind: String,
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        #[arg(long, default_value = "")]
        place: String,
        /// Link for joining online.
        #[arg(long, default_value = "")]
        online: String,
        /// A host (member id, prefix or name); repeat for several [default: you].
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// A guest speaker, who may be from outside the community; repeatable.
        #[arg(long = "guest")]
        guests: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List sessions, oldest first.
    List {
        #[arg(long, conflicts_with = "past")]
        upcoming: bool,
        #[arg(long)]
        past: bool,
    },
    /// One session (id, id prefix or title).
    Show { session: String },
    /// Say whether you are coming: going, maybe or not-going.
    Rsvp {
        session: String,
        status: String,
        #[arg(long)]
        member: Option<String>,
    },
    /// Record who came [default: you].
    Attend {
        session: String,
        members: Vec<String>,
    },
    /// Show the write-up, or add to it.
    Notes {
        session: String,
        /// Add this text at the end.
        #[arg(long, conflicts_with = "set")]
        append: Option<String>,
        /// Replace the write-up with this text.
        #[arg(long)]
        set: Option<String>,
    },
    /// Unconference proposals ranked by votes.
    Agenda { session: String },
    /// Propose a talk, a discussion or an ask for help at an unconference.
    Propose {
        session: String,
        title: String,
        /// talk, discussion or help
        #[arg(long, default_value = "talk")]
        kind: String,
        #[arg(long)]
        member: Option<String>,
    },
    /// Vote for a proposal (id, id prefix or title prefix); one vote per member.
    Vote {
        session: String,
        proposal: String,
        /// Withdraw your vote instead.
        #[arg(long)]
        withdraw: bool,
        #[arg(long)]
        member: Option<String>,
    },
    /// Hosts: turn the best-voted proposals into consecutive timed slots.
    Schedule {
        session: String,
        #[arg(long)]
        top: usize,
        /// Start of the first slot (RFC 3339).
        #[arg(long)]
        from: String,
        #[arg(long, default_value_t = 30)]
        minutes: u32,
    },
    /// Export every session as an iCalendar file calendar apps import.
    Export {
        /// Write iCalendar (the only format for now).
        #[arg(long, required = true)]
        ics: bool,
        /// File to write [default: standard output].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub fn run(client: &Client, cmd: SessionsCmd, json: bool) -> Result<()> {
    match cmd {
        SessionsCmd::Add {
            title,
            kind,
            start,
            end,
            place,
            online,
            hosts,
            guests,
            description,
        } => {
            let new = NewSession {
                title,
                kind,
                start,
                end,
                place,
                online,
                hosts,
                guests,
                description,
            };
            let session: SessionView = client.post("/api/sessions", &new)?;
            if json {
                return output::json(&session);
            }
            say!(
                "Added {} ({}) on {}",
                session.title,
                session.id,
                session.start
            );
            Ok(())
        }
        SessionsCmd::List { upcoming, past } => {
            let when = if upcoming {
                "upcoming"
            } else if past {
                "past"
            } else {
                "all"
            };
            let sessions: Vec<SessionView> =
                client.get_query("/api/sessions", &[("when", when)])?;
            if json {
                return output::json(&sessions);
            }
            let rows = sessions.iter().map(|s| {
                [
                    s.id.clone(),
                    s.start.clone(),
                    s.kind.clone(),
                    s.title.clone(),
                    s.rsvps
                        .values()
                        .filter(|r| *r == "going")
                        .count()
                        .to_string(),
                    s.attendance.len().to_string(),
                ]
            });
            let table = output::table(&["id", "start", "kind", "title", "going", "came"], rows);
            output::print_table(table, "No sessions.");
            Ok(())
        }
        SessionsCmd::Show { session } => {
            let s: SessionView = client.get(&path(&session, ""))?;
            if json {
                return output::json(&s);
            }
            print_session(&s);
            Ok(())
        }
        SessionsCmd::Rsvp {
            session,
            status,
            member,
        } => {
            let s: SessionView =
                client.put(&path(&session, "/rsvp"), &RsvpRequest { status, member })?;
            if json {
                return output::json(&s);
            }
            say!("RSVP recorded for {}", s.title);
            Ok(())
        }
        SessionsCmd::Attend { session, members } => {
            let s: SessionView =
                client.post(&path(&session, "/attendance"), &AttendRequest { members })?;
            if json {
                return output::json(&s);
            }
            say!("{} came to {}", s.attendance.len(), s.title);
            Ok(())
        }
        SessionsCmd::Notes {
            session,
            append,
            set,
        } => {
            let s: SessionView = if append.is_none() && set.is_none() {
                client.get(&path(&session, ""))?
            } else {
                client.post(&path(&session, "/notes"), &NotesRequest { append, set })?
            };
            if json {
                return output::json(&s);
            }
            say!("{}", s.notes);
            Ok(())
        }
        SessionsCmd::Agenda { session } => {
            let agenda: Vec<AgendaItem> = client.get(&path(&session, "/agenda"))?;
            print_agenda(&agenda, json)
        }
        SessionsCmd::Propose {
            session,
            title,
            kind,
            member,
        } => {
            let agenda: Vec<AgendaItem> = client.post(
                &path(&session, "/agenda"),
                &ProposeRequest {
                    title,
                    kind,
                    member,
                },
            )?;
            print_agenda(&agenda, json)
        }
        SessionsCmd::Vote {
            session,
            proposal,
            withdraw,
            member,
        } => {
            let agenda: Vec<AgendaItem> = client.put(
                &path(&session, &format!("/agenda/{}/vote", urlencode(&proposal))),
                &VoteRequest {
                    vote: !withdraw,
                    member,
                },
            )?;
            print_agenda(&agenda, json)
        }
        SessionsCmd::Schedule {
            session,
            top,
            from,
            minutes,
        } => {
            let agenda: Vec<AgendaItem> = client.post(
                &path(&session, "/schedule"),
                &ScheduleRequest { top, from, minutes },
            )?;
            print_agenda(&agenda, json)
        }
        SessionsCmd::Export { ics: _, output } => {
            let calendar = client.get_text("/api/sessions/export.ics")?;
            match output {
                Some(file) => {
                    std::fs::write(&file, calendar)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    eprintln!("Wrote {}", file.display());
                }
                None => output::crlf_text(&calendar),
            }
            Ok(())
        }
    }
}

fn path(session: &str, rest: &str) -> String {
    format!("/api/sessions/{}{rest}", urlencode(session))
}

fn print_agenda(agenda: &[AgendaItem], json: bool) -> Result<()> {
    if json {
        return output::json(&agenda);
    }
    let rows = agenda.iter().enumerate().map(|(i, p)| {
        [
            (i + 1).to_string(),
            p.votes.to_string(),
            p.title.clone(),
            p.kind.clone(),
            p.by.name.clone(),
            p.slot
                .as_ref()
                .map_or(String::new(), |s| format!("{} - {}", s.start, s.end)),
            p.id.clone(),
        ]
    });
    let table = output::table(
        &["#", "votes", "proposal", "kind", "by", "slot", "id"],
        rows,
    );
    output::print_table(table, "No proposals yet: the agenda starts empty.");
    Ok(())
}

fn print_session(s: &SessionView) {
    let names = |refs: &[crdt_model::api::MemberRef]| {
        refs.iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    say!("{} ({})", s.title, s.kind);
    say!("when      {} to {}", s.start, s.end);
    if !s.place.is_empty() {
        say!("where     {}", s.place);
    }
    if !s.online.is_empty() {
        say!("online    {}", s.online);
    }
    say!("hosts     {}", names(&s.hosts));
    if !s.guests.is_empty() {
        say!("guests    {}", s.guests.join(", "));
    }
    let count = |status: &str| s.rsvps.values().filter(|r| *r == status).count();
    say!(
        "rsvps     {} going, {} maybe, {} not going",
        count("going"),
        count("maybe"),
        count("not-going")
    );
    say!("came      {}", names(&s.attendance));
    if !s.description.is_empty() {
        say!("\n{}", s.description);
    }
    if !s.notes.is_empty() {
        say!("\nWrite-up:\n{}", s.notes);
    }
    say!("\nid {}", s.id);
}
