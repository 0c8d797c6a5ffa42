//! `guild council`, `guild knowledge`, `guild ask/answer/questions`, `guild health`.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{
    AcceptRequest, AnswerRequest, AskRequest, CouncilView, EntryView, MemberRef, NewTermRequest,
    QuestionView, TermView,
};
use crdt_model::council::Suggestions;
use crdt_model::health::HealthReport;
use crdt_model::knowledge::NewEntry;

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Subcommand)]
pub enum CouncilCmd {
    /// Current and upcoming leads, who has not led yet, who is willing (the default).
    Show,
    /// Add a term to the rota (stewards only; kept in the change log).
    AddTerm {
        /// First day of the term, YYYY-MM-DD.
        #[arg(long)]
        start: String,
        /// Last day of the term, YYYY-MM-DD.
        #[arg(long)]
        end: String,
        /// A lead (member id, prefix or name); repeat for several.
        #[arg(long = "lead", required = true)]
        leads: Vec<String>,
    },
    /// Take a term off the rota (stewards only; kept in the change log).
    RemoveTerm {
        /// The term's id, a unique id prefix, or its start date (YYYY-MM-DD).
        term: String,
    },
    /// Who should lead next, fairest first: never led, then led least and longest ago,
    /// then who attends. Never the current or next leads, never who said "not now".
    Suggest {
        /// How many to suggest (1-50).
        #[arg(long, default_value_t = 2)]
        count: usize,
    },
}

#[derive(Subcommand)]
pub enum KnowledgeCmd {
    /// Share a resource, or record a guideline or ritual.
    Add {
        title: String,
        #[arg(long, default_value = "")]
        url: String,
        #[arg(long, default_value = "")]
        body: String,
        /// A tag; repeatable.
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// resource, guideline or ritual
        #[arg(long, default_value = "resource")]
        kind: String,
        /// The session it came from.
        #[arg(long)]
        session: Option<String>,
    },
    /// List what the community knows, newest first.
    List {
        #[arg(long)]
        tag: Option<String>,
        /// resource, guideline or ritual
        #[arg(long)]
        kind: Option<String>,
    },
    /// Search titles, bodies, links and tags.
    Search { query: String },
}

#[derive(Subcommand)]
pub enum QuestionsCmd {
    /// Every question, newest first (the default).
    List,
    /// As the asker, mark the answer that helped.
    Accept { question: String, answer: String },
}

pub fn council(client: &Client, cmd: Option<CouncilCmd>, json: bool) -> Result<()> {
    match cmd.unwrap_or(CouncilCmd::Show) {
        CouncilCmd::Show => {
            let view: CouncilView = client.get("/api/council")?;
            if json {
                return output::json(&view);
            }
            let rows = |terms: &[TermView]| -> Vec<[String; 3]> {
                terms
                    .iter()
                    .map(|t| [t.start.clone(), t.end.clone(), names(&t.leads)])
                    .collect()
            };
            say!("Current:");
            output::print_table(
                output::table(&["from", "to", "leads"], rows(&view.current)),
                "  nobody: add a term with guild council add-term",
            );
            say!("\nUpcoming:");
            output::print_table(
                output::table(&["from", "to", "leads"], rows(&view.upcoming)),
                "  none planned",
            );
            say!(
                "\nNot led yet: {}",
                if view.never_led.is_empty() {
                    "everyone has led".into()
                } else {
                    names(&view.never_led)
                }
            );
            let group = |label: &str, members: &[MemberRef]| {
                if !members.is_empty() {
                    say!("{label} ({}): {}", members.len(), names(members));
                }
            };
            group("Willing to lead", &view.willing);
            group("Not now", &view.not_now);
            group("Not asked yet", &view.not_asked);
            Ok(())
        }
        CouncilCmd::AddTerm { start, end, leads } => {
            let term: TermView =
                client.post("/api/council", &NewTermRequest { start, end, leads })?;
            if json {
                return output::json(&term);
            }
            say!(
                "Added a term {} to {} led by {} ({})",
                term.start,
                term.end,
                names(&term.leads),
                term.id
            );
            Ok(())
        }
        CouncilCmd::RemoveTerm { term } => {
            client.delete(&format!("/api/council/{}", urlencode(&term)))?;
            say!("Removed the term {term} from the rota");
            Ok(())
        }
        CouncilCmd::Suggest { count: how_many } => {
            let s: Suggestions =
                client.get_query("/api/council/suggest", &[("count", &how_many.to_string())])?;
            if json {
                return output::json(&s);
            }
            let rows = s.suggestions.iter().map(|s| {
                [
                    s.name.clone(),
                    s.terms_led.to_string(),
                    s.last_led.clone().unwrap_or_else(|| "never".into()),
                    s.recent_attendance.to_string(),
                    s.willingness.label().to_owned(),
                ]
            });
            let table = output::table(
                &[
                    "name",
                    "terms led",
                    "last led",
                    "sessions (180 days)",
                    "council",
                ],
                rows,
            );
            output::print_table(
                table,
                "Nobody to suggest: everyone is leading, said not now, or was removed.",
            );
            if !s.not_asked.is_empty() {
                say!(
                    "\nNot asked yet ({}): {}",
                    s.not_asked.len(),
                    names(&s.not_asked)
                );
                say!(
                    "Ask them, then record it: guild members update NAME --council willing|not-now"
                );
            }
            if !s.not_now.is_empty() {
                say!("Said not now (not suggested): {}", names(&s.not_now));
            }
            if !s.leading.is_empty() {
                say!("Leading now or next (not suggested): {}", names(&s.leading));
            }
            Ok(())
        }
    }
}

fn names(members: &[MemberRef]) -> String {
    members
        .iter()
        .map(|m| m.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn knowledge(client: &Client, cmd: KnowledgeCmd, json: bool) -> Result<()> {
    let entries: Vec<EntryView> = match cmd {
        KnowledgeCmd::Add {
            title,
            url,
            body,
            tags,
            kind,
            session,
        } => {
            let new = NewEntry {
                kind: Some(kind),
                title,
                url,
                body,
                tags,
                session,
            };
            let entry: EntryView = client.post("/api/knowledge", &new)?;
            if json {
                return output::json(&entry);
            }
            say!("Shared {} ({})", entry.entry.title, entry.id);
            return Ok(());
        }
        KnowledgeCmd::List { tag, kind } => {
            let mut query = Vec::new();
            if let Some(tag) = &tag {
                query.push(("tag", tag.as_str()));
            }
            if let Some(kind) = &kind {
                query.push(("kind", kind.as_str()));
            }
            client.get_query("/api/knowledge", &query)?
        }
        KnowledgeCmd::Search { query } => client.get_query("/api/knowledge", &[("q", &query)])?,
    };
    if json {
        return output::json(&entries);
    }
    let rows = entries.iter().map(|e| {
        [
            e.entry.entry_kind.clone(),
            e.entry.title.clone(),
            e.entry.url.clone(),
            e.entry.tags.join(", "),
            e.id.clone(),
        ]
    });
    output::print_table(
        output::table(&["kind", "title", "link", "tags", "id"], rows),
        "Nothing found.",
    );
    Ok(())
}

pub fn ask(client: &Client, title: String, body: String, json: bool) -> Result<()> {
    let q: QuestionView = client.post("/api/questions", &AskRequest { title, body })?;
    if json {
        return output::json(&q);
    }
    say!("Asked {} ({})", q.question.title, q.id);
    Ok(())
}

pub fn answer(client: &Client, question: String, body: String, json: bool) -> Result<()> {
    let q: QuestionView = client.post(
        &format!("/api/questions/{}/answers", urlencode(&question)),
        &AnswerRequest { body },
    )?;
    if json {
        return output::json(&q);
    }
    say!(
        "Answered {} ({} answers)",
        q.question.title,
        q.question.answers.len()
    );
    Ok(())
}

pub fn questions(client: &Client, cmd: Option<QuestionsCmd>, json: bool) -> Result<()> {
    match cmd.unwrap_or(QuestionsCmd::List) {
        QuestionsCmd::List => {
            let questions: Vec<QuestionView> = client.get("/api/questions")?;
            if json {
                return output::json(&questions);
            }
            for q in &questions {
                let mark = if q.question.accepted.is_some() {
                    "answered"
                } else {
                    "open"
                };
                say!("{} [{mark}] {}", q.id, q.question.title);
                for (id, a) in &q.question.answers {
                    let star = if q.question.accepted.as_ref() == Some(id) {
                        "*"
                    } else {
                        " "
                    };
                    say!("  {star} {id}: {}", a.body);
                }
            }
            if questions.is_empty() {
                say!("No questions yet: ask one with guild ask");
            }
            Ok(())
        }
        QuestionsCmd::Accept { question, answer } => {
            let q: QuestionView = client.put(
                &format!("/api/questions/{}/accepted", urlencode(&question)),
                &AcceptRequest { answer },
            )?;
            if json {
                return output::json(&q);
            }
            say!("Marked the answer that helped for {}", q.question.title);
            Ok(())
        }
    }
}

pub fn health(client: &Client, since: Option<String>, json: bool) -> Result<()> {
    let query: Vec<(&str, &str)> = since.iter().map(|s| ("since", s.as_str())).collect();
    let r: HealthReport = client.get_query("/api/health", &query)?;
    if json {
        return output::json(&r);
    }
    say!("Community health on {}\n", r.today);
    say!(
        "Members      {}, {} in the last 90 days",
        count(r.members, "member", "members"),
        count(r.new_members, "new", "new")
    );
    say!(
        "Active       {} of {} ({:.0}%) did something themselves in the last 90 days",
        r.active_members,
        r.members,
        r.active_share * 100.0
    );
    let recent: Vec<String> = r
        .attendance
        .iter()
        .rev()
        .take(6)
        .rev()
        .map(|a| a.attended.to_string())
        .collect();
    if r.attendance.is_empty() {
        say!("Attendance   no sessions yet");
    } else if r.attendance_trend.direction == "unknown" {
        say!(
            "Attendance   {} came to the only session so far: too soon for a trend",
            r.attendance[0].attended
        );
    } else {
        say!(
            "Attendance   {}: {:.1} a session lately, {:.1} before (last {}: {})",
            r.attendance_trend.direction,
            r.attendance_trend.recent_average,
            r.attendance_trend.earlier_average,
            count(recent.len(), "session", "sessions"),
            recent.join(", ")
        );
    }
    let months: Vec<String> = r
        .sessions_per_month
        .iter()
        .map(|m| format!("{} {}", month_name(&m.month), m.sessions))
        .collect();
    say!("Sessions     {} (sessions a month)", months.join(" · "));
    say!(
        "Organising   {} {} half the sessions",
        count(r.organisers_for_half, "person", "people"),
        if r.organisers_for_half == 1 {
            "hosts"
        } else {
            "host"
        }
    );

    if r.drifted.is_empty() {
        say!("\nDrifted away: nobody");
    } else {
        say!(
            "\nDrifted away: {} came before but not in the last 90 days",
            count(r.drifted.len(), "member", "members")
        );
        let rows = r
            .drifted
            .iter()
            .map(|d| [d.name.clone(), format!("last came {}", d.last_attended)]);
        say!("{}", output::table(&["name", "last came"], rows));
    }
    if !r.never_came.is_empty() {
        say!(
            "\nNever came: {} joined over 90 days ago and never came to a session",
            count(r.never_came.len(), "member", "members")
        );
        let rows = r.never_came.iter().map(|n| {
            [
                n.name.clone(),
                n.joined.clone(),
                if n.active_lately {
                    "active in other ways".into()
                } else {
                    String::new()
                },
            ]
        });
        say!("{}", output::table(&["name", "joined", ""], rows));
    }
    say!();
    crate::skills::print_movement(&r.skills_moved, &r.skills_since, since.is_none());
    if !r.stale_ratings.is_empty() {
        let names: Vec<String> = r.stale_ratings.iter().map(|s| s.name.clone()).collect();
        say!(
            "Re-rate nudge: {} not re-rated their skills in six months: {} (guild skills stale)",
            count(names.len(), "member has", "members have"),
            names.join(", ")
        );
    }
    if !r.untaught_wants.is_empty() {
        say!(
            "Nobody teaches: {} (wanted, with no one at can-teach)",
            r.untaught_wants.join(", ")
        );
    }
    Ok(())
}

/// "2026-06" -> "Jun".
fn month_name(month: &str) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    month
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| NAMES.get(m.wrapping_sub(1)))
        .map_or_else(|| month.to_owned(), |n| (*n).to_owned())
}
