//! `guild sessions ...`
//!
//! Times are typed as people write them (`2026-12-05 10:00`, `2026-12-05`, `10:30` on the
//! session's day, or RFC 3339) in this machine's time zone or `--tz`; the zone goes with
//! the request and the daemon stores RFC 3339 with the offset. Times are shown in the same
//! zone (see `crdt_model::when`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use crdt_model::api::{
    AgendaItem, AttendRequest, CancelRequest, MemberRef, MoveRequest, NotesRequest, ProposeRequest,
    RsvpRequest, ScheduleRequest, SessionView, VoteRequest,
};
use crdt_model::session::{NewSession, SessionChange};
use crdt_model::when::{self, Zone};

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Args)]
#[command(
    after_help = "Times: 2026-12-05 10:00, 2026-12-05 (the whole day), 10:30 (on the \
    session's day) or RFC 3339 such as 2026-12-05T10:00:00+01:00, in this machine's time zone \
    or --tz."
)]
pub struct SessionsArgs {
    /// Time zone of the times you type and of the times shown: an IANA name such as
    /// Europe/London, UTC, or an offset such as +01:00 [default: this machine's, from $TZ
    /// or the system]
    #[arg(long, global = true, value_name = "ZONE")]
    tz: Option<String>,
    #[command(subcommand)]
    command: SessionsCmd,
}

#[derive(Subcommand)]
pub enum SessionsCmd {
    /// Plan a session.
    Add {
        /// What it is called.
        title: String,
        /// meetup, community-session, away-day, show-and-tell, guest-talk or unconference
        #[arg(long)]
        kind: String,
        /// When it starts: 2026-12-05 10:00, 2026-12-05 (from midnight) or RFC 3339.
        #[arg(long)]
        start: String,
        /// When it ends: 2026-12-05 16:00, 16:00 (on the start's day), 2026-12-05 (to the
        /// end of that day) or RFC 3339.
        #[arg(long)]
        end: String,
        /// Where it happens.
        #[arg(long, default_value = "")]
        place: String,
        /// Link for joining online.
        #[arg(long, default_value = "")]
        online: String,
        /// A host (member id, prefix or name); repeat for several [default: you].
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// A guest speaker from the community's guest list (guild guests add); repeatable.
        #[arg(long = "guest")]
        guests: Vec<String>,
        /// What it is about.
        #[arg(long, default_value = "")]
        description: String,
        /// A room or track that runs in parallel (unconferences); repeat for several.
        #[arg(long = "room")]
        rooms: Vec<String>,
        /// Votes each member may spend (unconferences; 0: no limit) [default: 3].
        #[arg(long)]
        votes: Option<u64>,
    },
    /// List sessions, oldest first.
    List {
        /// Only sessions that have not ended.
        #[arg(long, conflicts_with = "past")]
        upcoming: bool,
        /// Only sessions that have ended.
        #[arg(long)]
        past: bool,
    },
    /// One session: times, hosts, RSVPs, who came, rooms and slots, the write-up.
    Show {
        /// The session: id, id prefix or title (prefix).
        session: String,
    },
    /// Fix a session (hosts, who created it and stewards); only what is given changes.
    Update {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New kind.
        #[arg(long)]
        kind: Option<String>,
        /// New start. Moving start and end by the same amount moves the slots too.
        #[arg(long)]
        start: Option<String>,
        /// New end.
        #[arg(long)]
        end: Option<String>,
        /// New place ("" clears it).
        #[arg(long)]
        place: Option<String>,
        /// New link for joining online ("" clears it).
        #[arg(long)]
        online: Option<String>,
        /// New description ("" clears it).
        #[arg(long)]
        description: Option<String>,
        /// Make this member a host; repeatable.
        #[arg(long = "add-host")]
        add_hosts: Vec<String>,
        /// This member no longer hosts; repeatable.
        #[arg(long = "remove-host")]
        remove_hosts: Vec<String>,
        /// Add this guest speaker (from guild guests); repeatable.
        #[arg(long = "add-guest")]
        add_guests: Vec<String>,
        /// Remove this guest speaker; repeatable.
        #[arg(long = "remove-guest")]
        remove_guests: Vec<String>,
        /// The rooms, replacing the list; repeat for several.
        #[arg(long = "room", conflicts_with = "no_rooms")]
        rooms: Vec<String>,
        /// Back to a single room.
        #[arg(long)]
        no_rooms: bool,
        /// Votes each member may spend (0: no limit).
        #[arg(long)]
        votes: Option<u64>,
    },
    /// Cancel a session: it is kept, shown as cancelled, and cancelled in calendars.
    Cancel {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// Why, for those who planned to come.
        #[arg(long, default_value = "")]
        reason: String,
        /// Reinstate a cancelled session instead.
        #[arg(long, conflicts_with = "reason")]
        undo: bool,
    },
    /// Say whether you are coming: going, maybe or not-going.
    Rsvp {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// going, maybe or not-going
        status: String,
        /// Answer for this member (someone who does not run Guild yet) [default: you].
        #[arg(long)]
        member: Option<String>,
    },
    /// Record who came [default: you]; --remove takes entries back.
    Attend {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// Members who came (id, prefix or name).
        members: Vec<String>,
        /// A guest who came (from guild guests); repeatable.
        #[arg(long = "guest")]
        guests: Vec<String>,
        /// Take these attendance entries back instead (yours, ones you recorded, or as a
        /// host or steward any).
        #[arg(long)]
        remove: bool,
    },
    /// Show the write-up, or add to it.
    Notes {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// Add this paragraph at the end ("-" reads it from standard input).
        #[arg(long, conflicts_with_all = ["set", "file"])]
        append: Option<String>,
        /// Replace the write-up with this text ("-" reads it from standard input).
        #[arg(long, conflicts_with = "file")]
        set: Option<String>,
        /// Add the contents of this file at the end (with --replace: replace the write-up).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// With --file: replace the write-up instead of adding to it.
        #[arg(long, requires = "file")]
        replace: bool,
    },
    /// Unconference proposals ranked by the votes that count.
    Agenda {
        /// The session: id, id prefix or title (prefix).
        session: String,
    },
    /// Propose a talk, a discussion or an ask for help at an unconference.
    Propose {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// What you propose.
        title: String,
        /// talk, discussion or help
        #[arg(long, default_value = "talk")]
        kind: String,
        /// The presenter, if not you (a member: guests cannot propose).
        #[arg(long)]
        member: Option<String>,
    },
    /// Withdraw a proposal (its presenter, who entered it, a host or a steward).
    Withdraw {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// The proposal: id, id prefix or title prefix.
        proposal: String,
    },
    /// Vote for a proposal: one vote per proposal, within the session's vote budget.
    Vote {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// The proposal: id, id prefix or title prefix.
        proposal: String,
        /// Withdraw your vote instead.
        #[arg(long)]
        withdraw: bool,
        /// Vote as this member, if not you (a member: guests cannot vote).
        #[arg(long)]
        member: Option<String>,
    },
    /// Hosts and stewards: fill the slots with the best-voted proposals, every room at each
    /// time, no presenter in two rooms at once, every slot inside the session. Starts over
    /// (slots moved by hand included).
    Schedule {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// How many proposals get a slot (1 or more) [default: as many as fit].
        #[arg(long)]
        top: Option<usize>,
        /// Start of the first slot: 10:30 (on the session's day), 2026-12-05 10:30 or RFC
        /// 3339.
        #[arg(long)]
        from: String,
        /// Length of each slot in minutes.
        #[arg(long, default_value_t = 30)]
        minutes: u32,
    },
    /// Hosts and stewards: move a proposal's slot by hand (onto exactly another slot: the
    /// two swap).
    Move {
        /// The session: id, id prefix or title (prefix).
        session: String,
        /// The proposal: id, id prefix or title prefix.
        proposal: String,
        /// New start: 11:00 (on the session's day), 2026-12-05 11:00 or RFC 3339.
        #[arg(long, required_unless_present = "unschedule")]
        at: Option<String>,
        /// New length in minutes [default: the slot's current length].
        #[arg(long)]
        minutes: Option<u32>,
        /// Room [default: its current room].
        #[arg(long)]
        room: Option<String>,
        /// Take the slot away instead (the proposal stays on the agenda).
        #[arg(long, conflicts_with_all = ["at", "minutes", "room"])]
        unschedule: bool,
    },
    /// Export every session (and every scheduled slot) as an iCalendar file.
    Export {
        /// Write iCalendar (the only format for now).
        #[arg(long, required = true)]
        ics: bool,
        /// File to write [default: standard output].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// The zone times are typed and shown in: `--tz`, else this machine's. Returns the name to
/// send with requests and the zone itself.
pub fn reader_zone(tz: Option<&str>) -> Result<(String, Zone)> {
    let name = match tz {
        Some(name) => name.trim().to_owned(),
        None => machine_zone(),
    };
    let zone = when::zone(&name)?;
    Ok((name, zone))
}

/// This machine's time zone ($TZ, else the system's), as a name the bundled database knows;
/// its current offset if it has no IANA name; UTC if it cannot be found.
fn machine_zone() -> String {
    match jiff::tz::TimeZone::try_system() {
        Ok(zone) => match zone.iana_name() {
            Some(name) if when::zone(name).is_ok() => name.to_owned(),
            _ => zone.to_offset(jiff::Timestamp::now()).to_string(),
        },
        Err(_) => "UTC".into(),
    }
}

pub fn run(client: &Client, args: SessionsArgs, json: bool) -> Result<()> {
    let (tz, zone) = reader_zone(args.tz.as_deref())?;
    let show = Show { zone: &zone, json };
    match args.command {
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
            rooms,
            votes,
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
                rooms,
                votes,
                tz: Some(tz),
            };
            let s: SessionView = client.post("/api/sessions", &new)?;
            show.done(&s, |s| {
                format!(
                    "Added {} ({}): {}",
                    s.title,
                    s.id,
                    when::show_span(&s.start, &s.end, &zone)
                )
            })
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
                    when::show(&s.start, &zone),
                    s.kind.clone(),
                    s.title.clone(),
                    s.rsvps
                        .iter()
                        .filter(|r| r.status == "going")
                        .count()
                        .to_string(),
                    s.attendance.len().to_string(),
                    if s.cancelled.is_some() {
                        "cancelled".into()
                    } else {
                        String::new()
                    },
                ]
            });
            let table = output::table(
                &["id", "start", "kind", "title", "going", "came", "status"],
                rows,
            );
            output::print_table(table, "No sessions.");
            Ok(())
        }
        SessionsCmd::Show { session } => {
            let s: SessionView = client.get(&path(&session, ""))?;
            if json {
                return output::json(&s);
            }
            print_session(&s, &zone);
            Ok(())
        }
        SessionsCmd::Update {
            session,
            title,
            kind,
            start,
            end,
            place,
            online,
            description,
            add_hosts,
            remove_hosts,
            add_guests,
            remove_guests,
            rooms,
            no_rooms,
            votes,
        } => {
            let change = SessionChange {
                title,
                kind,
                start,
                end,
                place,
                online,
                description,
                add_hosts,
                remove_hosts,
                add_guests,
                remove_guests,
                rooms: if no_rooms {
                    Some(Vec::new())
                } else {
                    (!rooms.is_empty()).then_some(rooms)
                },
                votes,
                tz: Some(tz),
            };
            let s: SessionView = client.patch(&path(&session, ""), &change)?;
            show.done(&s, |s| {
                format!(
                    "Updated {}: {}",
                    s.title,
                    when::show_span(&s.start, &s.end, &zone)
                )
            })
        }
        SessionsCmd::Cancel {
            session,
            reason,
            undo,
        } => {
            let req = CancelRequest {
                cancelled: !undo,
                reason,
            };
            let s: SessionView = client.put(&path(&session, "/cancelled"), &req)?;
            show.done(&s, |s| {
                if undo {
                    format!("Reinstated {}", s.title)
                } else {
                    format!("Cancelled {} (kept, shown as cancelled)", s.title)
                }
            })
        }
        SessionsCmd::Rsvp {
            session,
            status,
            member,
        } => {
            let s: SessionView =
                client.put(&path(&session, "/rsvp"), &RsvpRequest { status, member })?;
            show.done(&s, |s| format!("RSVP recorded for {}", s.title))
        }
        SessionsCmd::Attend {
            session,
            members,
            guests,
            remove,
        } => {
            let req = AttendRequest { members, guests };
            let s: SessionView = if remove {
                client.delete_with(&path(&session, "/attendance"), &req)?;
                client.get(&path(&session, ""))?
            } else {
                client.post(&path(&session, "/attendance"), &req)?
            };
            show.done(&s, |s| {
                let mut line = format!(
                    "{} came to {}",
                    count(s.attendance.len(), "member", "members"),
                    s.title
                );
                if !s.guest_attendance.is_empty() {
                    line.push_str(&format!(
                        ", and {}",
                        count(s.guest_attendance.len(), "guest", "guests")
                    ));
                }
                line
            })
        }
        SessionsCmd::Notes {
            session,
            append,
            set,
            file,
            replace,
        } => {
            let (append, set) = match (append, set, file) {
                (Some(text), None, None) => (Some(read_text(text)?), None),
                (None, Some(text), None) => (None, Some(read_text(text)?)),
                (None, None, Some(file)) => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    if replace {
                        (None, Some(text))
                    } else {
                        (Some(text), None)
                    }
                }
                _ => (None, None),
            };
            let s: SessionView = if append.is_none() && set.is_none() {
                client.get(&path(&session, ""))?
            } else {
                client.post(&path(&session, "/notes"), &NotesRequest { append, set })?
            };
            if json {
                return output::json(&s);
            }
            if s.notes.is_empty() {
                say!("No write-up yet: add one with guild sessions notes SESSION --append TEXT");
            } else {
                say!("{}", s.notes.trim_end());
            }
            Ok(())
        }
        SessionsCmd::Agenda { session } => {
            let agenda: Vec<AgendaItem> = client.get(&path(&session, "/agenda"))?;
            show.agenda(&agenda)
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
            show.agenda(&agenda)
        }
        SessionsCmd::Withdraw { session, proposal } => {
            client.delete(&proposal_path(&session, &proposal, ""))?;
            let agenda: Vec<AgendaItem> = client.get(&path(&session, "/agenda"))?;
            show.agenda(&agenda)
        }
        SessionsCmd::Vote {
            session,
            proposal,
            withdraw,
            member,
        } => {
            let agenda: Vec<AgendaItem> = client.put(
                &proposal_path(&session, &proposal, "/vote"),
                &VoteRequest {
                    vote: !withdraw,
                    member,
                },
            )?;
            show.agenda(&agenda)
        }
        SessionsCmd::Schedule {
            session,
            top,
            from,
            minutes,
        } => {
            let agenda: Vec<AgendaItem> = client.post(
                &path(&session, "/schedule"),
                &ScheduleRequest {
                    top,
                    from,
                    minutes,
                    tz: Some(tz),
                },
            )?;
            show.agenda(&agenda)
        }
        SessionsCmd::Move {
            session,
            proposal,
            at,
            minutes,
            room,
            unschedule,
        } => {
            let path = proposal_path(&session, &proposal, "/slot");
            let agenda: Vec<AgendaItem> = match at {
                Some(at) if !unschedule => client.put(
                    &path,
                    &MoveRequest {
                        at,
                        minutes,
                        room,
                        tz: Some(tz),
                    },
                )?,
                _ => {
                    client.delete(&path)?;
                    client.get(&self::path(&session, "/agenda"))?
                }
            };
            show.agenda(&agenda)
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

/// `-` means standard input.
fn read_text(text: String) -> Result<String> {
    if text != "-" {
        return Ok(text);
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the write-up from standard input")?;
    Ok(input)
}

fn path(session: &str, rest: &str) -> String {
    format!("/api/sessions/{}{rest}", urlencode(session))
}

fn proposal_path(session: &str, proposal: &str, rest: &str) -> String {
    path(session, &format!("/agenda/{}{rest}", urlencode(proposal)))
}

/// How answers are shown: JSON, or for people in their own time zone.
struct Show<'a> {
    zone: &'a Zone,
    json: bool,
}

impl Show<'_> {
    /// A session changed: its JSON, or one line about it.
    fn done(&self, s: &SessionView, line: impl FnOnce(&SessionView) -> String) -> Result<()> {
        if self.json {
            return output::json(s);
        }
        say!("{}", line(s));
        for clash in &s.clashes {
            say!("warning: {clash}");
        }
        Ok(())
    }

    fn agenda(&self, agenda: &[AgendaItem]) -> Result<()> {
        if self.json {
            return output::json(&agenda);
        }
        let rows = agenda.iter().enumerate().map(|(i, p)| {
            [
                (i + 1).to_string(),
                p.votes.to_string(),
                p.title.clone(),
                p.kind.clone(),
                p.by.name.clone(),
                p.slot.as_ref().map_or(String::new(), |s| {
                    let at = format!(
                        "{} to {}",
                        when::show_clock(&s.start, self.zone),
                        when::show_clock(&s.end, self.zone)
                    );
                    if s.room.is_empty() {
                        at
                    } else {
                        format!("{at}, {}", s.room)
                    }
                }),
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
}

fn names(refs: &[MemberRef]) -> String {
    refs.iter()
        .map(|m| m.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_session(s: &SessionView, zone: &Zone) {
    match &s.cancelled {
        Some(_) => say!("{} ({}), CANCELLED", s.title, s.kind),
        None => say!("{} ({})", s.title, s.kind),
    }
    if let Some(c) = &s.cancelled {
        let reason = if c.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", c.reason)
        };
        say!(
            "cancelled by {} on {}{reason}",
            c.by.name,
            when::show(&c.at, zone)
        );
    }
    say!("when      {}", when::show_span(&s.start, &s.end, zone));
    if !s.place.is_empty() {
        say!("where     {}", s.place);
    }
    if !s.online.is_empty() {
        say!("online    {}", s.online);
    }
    say!("hosts     {}", names(&s.hosts));
    if !s.guests.is_empty() {
        say!("speakers  {}", guest_names(&s.guests));
    }
    let with = |status: &str| -> Vec<MemberRef> {
        s.rsvps
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.member.clone())
            .collect()
    };
    for (status, label) in [
        ("going", "going"),
        ("maybe", "maybe"),
        ("not-going", "not going"),
    ] {
        let who = with(status);
        if !who.is_empty() {
            say!("{label:<9} {}", names(&who));
        }
    }
    if s.rsvps.is_empty() {
        say!("rsvps     none yet");
    }
    if !s.attendance.is_empty() || !s.guest_attendance.is_empty() {
        let mut came = names(&s.attendance);
        if !s.guest_attendance.is_empty() {
            if !came.is_empty() {
                came.push_str("; ");
            }
            came.push_str(&format!("guests: {}", guest_names(&s.guest_attendance)));
        }
        say!("came      {came}");
    }
    if s.kind == "unconference" {
        let budget = if s.vote_budget == 0 {
            "no limit".to_owned()
        } else {
            count(s.vote_budget as usize, "vote", "votes") + " each"
        };
        say!(
            "agenda    {}, {budget}",
            count(s.proposals, "proposal", "proposals")
        );
    }
    if !s.rooms.is_empty() {
        say!("rooms     {}", s.rooms.join(", "));
    }
    if !s.slots.is_empty() {
        say!("\nSchedule ({}):", when::zone_name(zone));
        let rows = s.slots.iter().map(|slot| {
            [
                format!(
                    "{} to {}",
                    when::show_clock(&slot.start, zone),
                    when::show_clock(&slot.end, zone)
                ),
                slot.room.clone(),
                slot.title.clone(),
                slot.kind.clone(),
                slot.by.name.clone(),
            ]
        });
        say!(
            "{}",
            output::table(&["time", "room", "proposal", "kind", "by"], rows)
        );
    }
    for clash in &s.clashes {
        say!("warning: {clash}");
    }
    if !s.description.is_empty() {
        say!("\n{}", s.description);
    }
    if !s.notes.is_empty() {
        say!("\nWrite-up:\n{}", s.notes.trim_end());
    }
    say!("\nid {}", s.id);
}

fn guest_names(guests: &[crdt_model::api::GuestRef]) -> String {
    guests
        .iter()
        .map(|g| {
            if g.organisation.is_empty() {
                g.name.clone()
            } else {
                format!("{} ({})", g.name, g.organisation)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
