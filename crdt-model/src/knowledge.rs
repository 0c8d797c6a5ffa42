//! Knowledge: resources, the community's guidelines and rituals, and questions with answers.
//! One document for the community; every entry is keyed by a random id, so concurrent
//! additions (and concurrent answers to one question) all survive a merge.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::skills::skill_key;
use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError};

pub const SCHEMA: u64 = 1;

/// A resource is something to read or use; guidelines and rituals are how the community
/// runs itself (meeting cadence, formats, goals).
pub const ENTRY_KINDS: &[&str] = &["resource", "guideline", "ritual"];

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Knowledge {
    #[serde(skip)]
    pub kind: String,
    #[serde(skip)]
    pub schema: u64,
    pub id: String,
    pub entries: BTreeMap<String, Entry>,
    pub questions: BTreeMap<String, Question>,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Entry {
    /// resource, guideline or ritual.
    pub entry_kind: String,
    pub title: String,
    pub url: String,
    pub body: String,
    pub tags: Vec<String>,
    /// Member id of who shared it.
    pub shared_by: String,
    /// The session it came from, if any.
    pub session: Option<String>,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Question {
    pub title: String,
    pub body: String,
    pub asked_by: String,
    pub at: String,
    pub answers: BTreeMap<String, Answer>,
    /// The answer the asker marked as the one that helped.
    pub accepted: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Answer {
    pub body: String,
    pub by: String,
    pub at: String,
}

impl GuildDoc for Knowledge {
    const KIND: DocKind = DocKind::Knowledge;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    #[serde(default)]
    pub kind: Option<String>,
    pub title: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Session id (already resolved by the caller).
    #[serde(default)]
    pub session: Option<String>,
}

impl Knowledge {
    pub fn new(id: &str) -> Self {
        Knowledge {
            kind: DocKind::Knowledge.as_str().into(),
            schema: SCHEMA,
            id: id.into(),
            entries: BTreeMap::new(),
            questions: BTreeMap::new(),
        }
    }

    pub fn add_entry(
        &mut self,
        id: &str,
        new: &NewEntry,
        by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        let kind = new
            .kind
            .as_deref()
            .unwrap_or("resource")
            .trim()
            .to_lowercase();
        if !ENTRY_KINDS.contains(&kind.as_str()) {
            return Err(ModelError::Invalid {
                field: "kind",
                reason: format!("{kind:?} is not one of {}", ENTRY_KINDS.join(", ")),
            });
        }
        let url = text::optional("url", &new.url, MAX_LINE)?;
        if !url.is_empty() && !url.contains("://") {
            return Err(ModelError::Invalid {
                field: "url",
                reason: format!("{url:?} is not a link like https://example.org/guide"),
            });
        }
        let mut tags: Vec<String> = Vec::new();
        for tag in &new.tags {
            let tag = text::required("tag", tag, MAX_LINE)?;
            if !tags.iter().any(|t| skill_key(t) == skill_key(&tag)) {
                tags.push(tag);
            }
        }
        self.entries.insert(
            id.to_owned(),
            Entry {
                entry_kind: kind,
                title: text::required("title", &new.title, MAX_LINE)?,
                url,
                body: text::optional("body", &new.body, MAX_TEXT)?,
                tags,
                shared_by: by.to_owned(),
                session: new.session.clone(),
                at: now.to_owned(),
            },
        );
        Ok(())
    }

    pub fn ask(
        &mut self,
        id: &str,
        title: &str,
        body: &str,
        by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        self.questions.insert(
            id.to_owned(),
            Question {
                title: text::required("question", title, MAX_LINE)?,
                body: text::optional("body", body, MAX_TEXT)?,
                asked_by: by.to_owned(),
                at: now.to_owned(),
                answers: BTreeMap::new(),
                accepted: None,
            },
        );
        Ok(())
    }

    pub fn answer(
        &mut self,
        question: &str,
        id: &str,
        body: &str,
        by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        let q = self.question_mut(question)?;
        q.answers.insert(
            id.to_owned(),
            Answer {
                body: text::required("answer", body, MAX_TEXT)?,
                by: by.to_owned(),
                at: now.to_owned(),
            },
        );
        Ok(())
    }

    /// Only the asker marks the answer that helped.
    pub fn accept(&mut self, question: &str, answer: &str, by: &str) -> Result<(), ModelError> {
        let q = self.question_mut(question)?;
        if q.asked_by != by {
            return Err(ModelError::Invalid {
                field: "accept",
                reason: "only the person who asked can mark the answer that helped".into(),
            });
        }
        if !q.answers.contains_key(answer) {
            return Err(ModelError::Invalid {
                field: "answer",
                reason: format!("no answer {answer:?} to this question"),
            });
        }
        q.accepted = Some(answer.to_owned());
        Ok(())
    }

    fn question_mut(&mut self, id: &str) -> Result<&mut Question, ModelError> {
        self.questions
            .get_mut(id)
            .ok_or_else(|| ModelError::Invalid {
                field: "question",
                reason: format!("no question {id:?}"),
            })
    }
}

impl Entry {
    /// Case-insensitive match on title, body, url and tags.
    pub fn matches(&self, query: &str) -> bool {
        let q = query.trim().to_lowercase();
        [&self.title, &self.body, &self.url]
            .iter()
            .any(|f| f.to_lowercase().contains(&q))
            || self.tags.iter().any(|t| t.to_lowercase().contains(&q))
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| skill_key(t) == skill_key(tag))
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    fn entry(title: &str) -> NewEntry {
        NewEntry {
            title: title.into(),
            url: "https://example.org".into(),
            tags: vec!["Discovery".into(), "discovery".into()],
            ..NewEntry::default()
        }
    }

    #[test]
    fn entries_validate_and_search() {
        let mut k = Knowledge::new("k");
        assert!(k.add_entry("e", &entry(" "), "m", "t").is_err());
        let mut bad = entry("x");
        bad.url = "not a link".into();
        assert!(k.add_entry("e", &bad, "m", "t").is_err());
        bad.url = String::new();
        bad.kind = Some("poem".into());
        assert!(k.add_entry("e", &bad, "m", "t").is_err());
        k.add_entry("e", &entry("Opportunity trees"), "m", "t")
            .unwrap();
        assert_eq!(k.entries["e"].tags, ["Discovery"]);
        assert!(k.entries["e"].matches("OPPORTUNITY"));
        assert!(k.entries["e"].has_tag("discovery"));
    }

    #[test]
    fn concurrent_answers_all_survive_and_only_the_asker_accepts() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        let mut k = Knowledge::new("k");
        k.ask("q", "How do you run a pre-mortem?", "", "asker", "t")
            .unwrap();
        k.write(&mut a).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Knowledge::update(&mut a, |k| {
            k.answer("q", "a1", "Imagine it failed.", "m1", "t")
        })
        .unwrap();
        Knowledge::update(&mut b, |k| {
            k.answer("q", "a2", "Use the template.", "m2", "t")?;
            k.add_entry("e", &entry("Pre-mortem template"), "m2", "t")
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        let mut k = Knowledge::read(&a).unwrap();
        assert_eq!(k.questions["q"].answers.len(), 2);
        assert_eq!(k.entries.len(), 1);
        assert!(k.accept("q", "a1", "m1").is_err());
        assert!(k.accept("q", "zz", "asker").is_err());
        k.accept("q", "a2", "asker").unwrap();
        assert_eq!(k.questions["q"].accepted.as_deref(), Some("a2"));
    }
}
