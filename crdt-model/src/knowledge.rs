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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Answer {
    pub body: String,
    /// Member id of who answered, or the guest id when `guest` is set.
    pub by: String,
    pub at: String,
    /// The answer is a guest's (someone from outside the community; `by` is their id in the
    /// community's guest list), recorded by a member.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub guest: bool,
    /// Member id of who recorded a guest's answer; empty for a member's own answer.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub recorded_by: String,
}

impl GuildDoc for Knowledge {
    const KIND: DocKind = DocKind::Knowledge;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A change to an entry: only what is given changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryChange {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// The tags, replacing the current ones.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Session id (already resolved by the caller); empty to unlink it.
    #[serde(default)]
    pub session: Option<String>,
}

fn entry_kind(kind: &str) -> Result<String, ModelError> {
    let kind = kind.trim().to_lowercase();
    if !ENTRY_KINDS.contains(&kind.as_str()) {
        return Err(ModelError::Invalid {
            field: "kind",
            reason: format!("{kind:?} is not one of {}", ENTRY_KINDS.join(", ")),
        });
    }
    Ok(kind)
}

fn link(url: &str) -> Result<String, ModelError> {
    let url = text::optional("url", url, MAX_LINE)?;
    if !url.is_empty() && !url.contains("://") {
        return Err(ModelError::Invalid {
            field: "url",
            reason: format!("{url:?} is not a link like https://example.org/guide"),
        });
    }
    Ok(url)
}

/// Tags, validated, duplicates (ignoring case) dropped.
fn tags_from(list: &[String]) -> Result<Vec<String>, ModelError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in list {
        let tag = text::required("tag", tag, MAX_LINE)?;
        if !tags.iter().any(|t| skill_key(t) == skill_key(&tag)) {
            tags.push(tag);
        }
    }
    Ok(tags)
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
        let kind = entry_kind(new.kind.as_deref().unwrap_or("resource"))?;
        let url = link(&new.url)?;
        let tags = tags_from(&new.tags)?;
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

    /// Changes an entry, all or nothing.
    pub fn update_entry(&mut self, id: &str, change: &EntryChange) -> Result<Entry, ModelError> {
        if change == &EntryChange::default() {
            return Err(ModelError::Invalid {
                field: "entry",
                reason: "nothing to change: give a new title, link, body, tags, kind or session"
                    .into(),
            });
        }
        let entry = self.entries.get_mut(id).ok_or_else(|| no_entry(id))?;
        let mut next = entry.clone();
        if let Some(kind) = &change.kind {
            next.entry_kind = entry_kind(kind)?;
        }
        if let Some(title) = &change.title {
            next.title = text::required("title", title, MAX_LINE)?;
        }
        if let Some(url) = &change.url {
            next.url = link(url)?;
        }
        if let Some(body) = &change.body {
            next.body = text::optional("body", body, MAX_TEXT)?;
        }
        if let Some(tags) = &change.tags {
            next.tags = tags_from(tags)?;
        }
        if let Some(session) = &change.session {
            next.session = Some(session.trim().to_owned()).filter(|s| !s.is_empty());
        }
        *entry = next.clone();
        Ok(next)
    }

    /// Removes an entry. The key is deleted: a concurrent edit of the entry's fields goes
    /// into the removed entry and does not bring it back.
    pub fn remove_entry(&mut self, id: &str) -> Result<Entry, ModelError> {
        self.entries.remove(id).ok_or_else(|| no_entry(id))
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
        self.add_answer(question, id, body, now, by, None)
    }

    /// Records a guest's answer (`guest` is their id in the community's guest list),
    /// entered by the member `recorded_by`.
    pub fn answer_as_guest(
        &mut self,
        question: &str,
        id: &str,
        body: &str,
        guest: &str,
        recorded_by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        self.add_answer(question, id, body, now, guest, Some(recorded_by))
    }

    /// An answer by `by`: a member, or a guest when `recorded_by` names the member who
    /// entered it.
    fn add_answer(
        &mut self,
        question: &str,
        id: &str,
        body: &str,
        now: &str,
        by: &str,
        recorded_by: Option<&str>,
    ) -> Result<(), ModelError> {
        let answer = Answer {
            body: text::required("answer", body, MAX_TEXT)?,
            by: by.to_owned(),
            at: now.to_owned(),
            guest: recorded_by.is_some(),
            recorded_by: recorded_by.unwrap_or_default().to_owned(),
        };
        self.question_mut(question)?
            .answers
            .insert(id.to_owned(), answer);
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

fn no_entry(id: &str) -> ModelError {
    ModelError::Invalid {
        field: "entry",
        reason: format!("no entry {id:?}"),
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
    fn entries_can_be_updated_and_removed() {
        let mut k = Knowledge::new("k");
        k.add_entry("e", &entry("Opportunity trees"), "m", "t")
            .unwrap();
        let before = k.clone();
        assert!(k.update_entry("e", &EntryChange::default()).is_err());
        let bad = EntryChange {
            title: Some("Better title".into()),
            url: Some("not a link".into()),
            ..EntryChange::default()
        };
        assert!(k.update_entry("e", &bad).is_err());
        assert_eq!(k, before, "all or nothing");
        let e = k
            .update_entry(
                "e",
                &EntryChange {
                    title: Some("Opportunity solution trees".into()),
                    tags: Some(vec!["Discovery".into(), "Product".into()]),
                    session: Some("s1".into()),
                    ..EntryChange::default()
                },
            )
            .unwrap();
        assert_eq!(e.title, "Opportunity solution trees");
        assert_eq!(e.tags, ["Discovery", "Product"]);
        assert_eq!(e.url, "https://example.org", "unchanged");
        assert_eq!(e.session.as_deref(), Some("s1"));
        assert!(k.update_entry("nope", &bad).is_err());
        k.remove_entry("e").unwrap();
        assert!(k.entries.is_empty());
        assert!(k.remove_entry("e").is_err());
    }

    #[test]
    fn a_removal_wins_over_a_concurrent_edit() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        let mut k = Knowledge::new("k");
        k.add_entry("e", &entry("Typo'd title"), "m", "t").unwrap();
        k.write(&mut a).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Knowledge::update(&mut a, |k| k.remove_entry("e").map(drop)).unwrap();
        Knowledge::update(&mut b, |k| {
            k.update_entry(
                "e",
                &EntryChange {
                    title: Some("Fixed title".into()),
                    ..EntryChange::default()
                },
            )
            .map(drop)
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        assert!(Knowledge::read(&a).unwrap().entries.is_empty());
        assert!(Knowledge::read(&b).unwrap().entries.is_empty());
    }

    #[test]
    fn a_guests_answer_is_marked_as_theirs() {
        let mut k = Knowledge::new("k");
        k.ask("q", "How do you price a platform?", "", "asker", "t")
            .unwrap();
        k.answer_as_guest("q", "a1", "Charge per team.", "g1", "m1", "t")
            .unwrap();
        let a = &k.questions["q"].answers["a1"];
        assert!(a.guest);
        assert_eq!((a.by.as_str(), a.recorded_by.as_str()), ("g1", "m1"));
        k.accept("q", "a1", "asker").unwrap();
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
