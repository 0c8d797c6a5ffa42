//! `guild knowledge`, `guild ask`, `guild answer`, `guild questions`.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{AcceptRequest, AnswerRequest, AskRequest, EntryView, QuestionView};
use crdt_model::knowledge::{EntryChange, NewEntry};

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Subcommand)]
pub enum KnowledgeCmd {
    /// Share a resource, or record a guideline or ritual.
    Add {
        /// What it is called.
        title: String,
        /// A link to it.
        #[arg(long, default_value = "")]
        url: String,
        /// What it says, or why it is worth reading.
        #[arg(long, default_value = "")]
        body: String,
        /// A tag; repeatable.
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// resource, guideline or ritual
        #[arg(long, default_value = "resource")]
        kind: String,
        /// The session it came from (id, id prefix or title).
        #[arg(long)]
        session: Option<String>,
    },
    /// List what the community knows, newest first.
    List {
        /// Only entries with this tag (case-insensitive).
        #[arg(long)]
        tag: Option<String>,
        /// Only this kind: resource, guideline or ritual.
        #[arg(long)]
        kind: Option<String>,
    },
    /// Search titles, bodies, links and tags.
    Search {
        /// Words to look for (case-insensitive).
        query: String,
    },
    /// One entry in full.
    Show {
        /// The entry: id, id prefix or title (prefix).
        entry: String,
    },
    /// Fix an entry (who shared it, or a steward); only what is given changes.
    Update {
        /// The entry: id, id prefix or title (prefix).
        entry: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New link ("" clears it).
        #[arg(long)]
        url: Option<String>,
        /// New body ("" clears it).
        #[arg(long)]
        body: Option<String>,
        /// The tags, replacing the current ones; repeatable.
        #[arg(long = "tag", conflicts_with = "no_tags")]
        tags: Vec<String>,
        /// Remove every tag.
        #[arg(long)]
        no_tags: bool,
        /// New kind: resource, guideline or ritual.
        #[arg(long)]
        kind: Option<String>,
        /// The session it came from ("" unlinks it).
        #[arg(long)]
        session: Option<String>,
    },
    /// Remove an entry (who shared it, or a steward); recorded in the change log.
    Remove {
        /// The entry: id, id prefix or title (prefix).
        entry: String,
    },
}

#[derive(Subcommand)]
pub enum QuestionsCmd {
    /// Every question, newest first (the default).
    List,
    /// As the asker, mark the answer that helped.
    Accept {
        /// The question: id, id prefix or title prefix.
        question: String,
        /// The answer's id (or id prefix).
        answer: String,
    },
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
        KnowledgeCmd::Show { entry } => {
            let entry: EntryView = client.get(&entry_path(&entry))?;
            return show_entry(&entry, json);
        }
        KnowledgeCmd::Update {
            entry,
            title,
            url,
            body,
            tags,
            no_tags,
            kind,
            session,
        } => {
            let change = EntryChange {
                kind,
                title,
                url,
                body,
                tags: if no_tags {
                    Some(Vec::new())
                } else {
                    (!tags.is_empty()).then_some(tags)
                },
                session,
            };
            let entry: EntryView = client.patch(&entry_path(&entry), &change)?;
            if json {
                return output::json(&entry);
            }
            say!("Updated {} ({})", entry.entry.title, entry.id);
            return Ok(());
        }
        KnowledgeCmd::Remove { entry } => {
            let found: EntryView = client.get(&entry_path(&entry))?;
            client.delete(&entry_path(&found.id))?;
            say!("Removed {} ({})", found.entry.title, found.id);
            return Ok(());
        }
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

fn entry_path(entry: &str) -> String {
    format!("/api/knowledge/{}", urlencode(entry))
}

fn show_entry(e: &EntryView, json: bool) -> Result<()> {
    if json {
        return output::json(e);
    }
    say!("{} ({})", e.entry.title, e.entry.entry_kind);
    if !e.entry.url.is_empty() {
        say!("link      {}", e.entry.url);
    }
    if !e.entry.tags.is_empty() {
        say!("tags      {}", e.entry.tags.join(", "));
    }
    say!(
        "shared by {} on {}",
        e.shared_by_name,
        e.entry.at.get(..10).unwrap_or(&e.entry.at)
    );
    if let Some(title) = &e.session_title {
        say!("from      {title}");
    }
    if !e.entry.body.is_empty() {
        say!("\n{}", e.entry.body);
    }
    say!("\nid {}", e.id);
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

pub fn answer(
    client: &Client,
    question: String,
    body: String,
    guest: Option<String>,
    json: bool,
) -> Result<()> {
    let q: QuestionView = client.post(
        &format!("/api/questions/{}/answers", urlencode(&question)),
        &AnswerRequest { body, guest },
    )?;
    if json {
        return output::json(&q);
    }
    say!(
        "Answered {} ({})",
        q.question.title,
        count(q.question.answers.len(), "answer", "answers")
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
            let name = |q: &QuestionView, id: &String| q.names.get(id).unwrap_or(id).clone();
            for q in &questions {
                let mark = if q.question.accepted.is_some() {
                    "answered"
                } else {
                    "open"
                };
                say!(
                    "{} [{mark}] {} (asked by {})",
                    q.id,
                    q.question.title,
                    name(q, &q.question.asked_by)
                );
                for (id, a) in &q.question.answers {
                    let star = if q.question.accepted.as_ref() == Some(id) {
                        "*"
                    } else {
                        " "
                    };
                    say!("  {star} {id}: {} ({})", a.body, name(q, &a.by));
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
