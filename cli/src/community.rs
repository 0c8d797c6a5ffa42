//! `guild council`, `guild knowledge`, `guild ask/answer/questions`, `guild health`.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{
    AcceptRequest, AnswerRequest, AskRequest, CouncilView, EntryView, NewTermRequest, QuestionView,
    TermView,
};
use crdt_model::council::Suggestion;
use crdt_model::health::HealthReport;
use crdt_model::knowledge::NewEntry;

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum CouncilCmd {
    /// Current and upcoming leads (the default).
    Show,
    /// Add a term to the rota.
    AddTerm {
        /// YYYY-MM-DD
        #[arg(long)]
        start: String,
        /// YYYY-MM-DD
        #[arg(long)]
        end: String,
        /// A lead (id, prefix or name); repeat for several.
        #[arg(long = "lead", required = true)]
        leads: Vec<String>,
    },
    /// Who should lead next: those who led least and longest ago, who attend, who opted in.
    Suggest {
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
                    .map(|t| {
                        [
                            t.start.clone(),
                            t.end.clone(),
                            t.leads
                                .iter()
                                .map(|l| l.name.clone())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ]
                    })
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
            let never: Vec<_> = view.never_led.iter().map(|m| m.name.clone()).collect();
            say!(
                "\nNot led yet: {}",
                if never.is_empty() {
                    "everyone has led".into()
                } else {
                    never.join(", ")
                }
            );
            Ok(())
        }
        CouncilCmd::AddTerm { start, end, leads } => {
            let term: TermView =
                client.post("/api/council", &NewTermRequest { start, end, leads })?;
            if json {
                return output::json(&term);
            }
            say!("Added term {} to {}", term.start, term.end);
            Ok(())
        }
        CouncilCmd::Suggest { count } => {
            let suggestions: Vec<Suggestion> =
                client.get_query("/api/council/suggest", &[("count", &count.to_string())])?;
            if json {
                return output::json(&suggestions);
            }
            let rows = suggestions.iter().map(|s| {
                [
                    s.name.clone(),
                    s.terms_led.to_string(),
                    s.last_led.clone().unwrap_or_else(|| "never".into()),
                    s.recent_attendance.to_string(),
                    if s.opted_in {
                        "yes".into()
                    } else {
                        String::new()
                    },
                ]
            });
            let table = output::table(
                &[
                    "name",
                    "terms led",
                    "last led",
                    "sessions (180 days)",
                    "opted in",
                ],
                rows,
            );
            output::print_table(table, "No members to suggest.");
            Ok(())
        }
    }
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

pub fn health(client: &Client, json: bool) -> Result<()> {
    let r: HealthReport = client.get("/api/health")?;
    if json {
        return output::json(&r);
    }
    say!("Community health on {}", r.today);
    say!(
        "members        {} ({} new in 90 days), {} active lately ({:.0}%)",
        r.members,
        r.new_members,
        r.active_members,
        r.active_share * 100.0
    );
    say!(
        "attendance     {} (recent average {:.1}, before {:.1})",
        r.attendance_trend.direction,
        r.attendance_trend.recent_average,
        r.attendance_trend.earlier_average
    );
    say!(
        "organising     {} people host half the sessions",
        r.organisers_for_half
    );
    let months: Vec<String> = r
        .sessions_per_month
        .iter()
        .map(|m| format!("{} {}", &m.month[5..], m.sessions))
        .collect();
    say!("sessions/month {}", months.join("  "));
    if !r.drifted.is_empty() {
        let names: Vec<String> = r
            .drifted
            .iter()
            .map(|d| format!("{} (last came {})", d.name, d.last_attended))
            .collect();
        say!("drifted away   {}", names.join(", "));
    }
    if !r.untaught_wants.is_empty() {
        say!("nobody teaches {}", r.untaught_wants.join(", "));
    }
    Ok(())
}
