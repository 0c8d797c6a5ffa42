//! `guild knowledge`, `guild ask`, `guild answer`, `guild questions`.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{AcceptRequest, AnswerRequest, AskRequest, EntryView, QuestionView};
use crdt_model::knowledge::NewEntry;

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};

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
