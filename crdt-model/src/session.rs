//! Sessions: meetups, community sessions, away days, show-and-tells, guest talks and
//! unconferences. One document per session.
//!
//! Everything several people touch at once is a map keyed by member id (RSVPs, attendance,
//! votes, hosts) or by a random id (proposals), so concurrent changes from different
//! daemons all survive a merge. The write-up is Automerge text, so two people editing the
//! notes at once both keep their words.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile, Text};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError, when as t};

pub const SCHEMA: u64 = 1;

pub const KINDS: &[&str] = &[
    "meetup",
    "community-session",
    "away-day",
    "show-and-tell",
    "guest-talk",
    "unconference",
];

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct Session {
    pub kind: String,
    pub schema: u64,
    pub id: String,
    pub title: String,
    /// One of [`KINDS`].
    pub session_kind: String,
    /// RFC 3339 with the session's offset.
    pub start: String,
    pub end: String,
    pub place: String,
    pub online: String,
    /// Member ids of the hosts.
    pub hosts: BTreeMap<String, bool>,
    /// Guest speakers, who may be from outside the community.
    pub guests: Vec<String>,
    pub description: String,
    pub rsvps: BTreeMap<String, Rsvp>,
    /// Who actually came: member id -> when it was recorded.
    pub attendance: BTreeMap<String, String>,
    pub notes: Text,
    pub proposals: BTreeMap<String, Proposal>,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Rsvp {
    /// going, maybe or not-going.
    pub status: String,
    pub at: String,
}

/// An unconference proposal: a talk, a discussion or an ask for help.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Proposal {
    pub title: String,
    /// talk, discussion or help.
    pub proposal_kind: String,
    pub by: String,
    pub at: String,
    /// One vote per member; removing the key withdraws it.
    pub votes: BTreeMap<String, bool>,
    /// Set when a host turns the proposal into a timed slot.
    pub slot: Option<Slot>,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Slot {
    pub start: String,
    pub end: String,
}

impl GuildDoc for Session {
    const KIND: DocKind = DocKind::Session;
}

pub const RSVP_STATUSES: &[&str] = &["going", "maybe", "not-going"];
pub const PROPOSAL_KINDS: &[&str] = &["talk", "discussion", "help"];

/// What a person fills in to create a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub title: String,
    pub kind: String,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub online: String,
    /// Member ids (already resolved by the caller).
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub guests: Vec<String>,
    #[serde(default)]
    pub description: String,
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<String, ModelError> {
    let normal = value.trim().to_lowercase().replace([' ', '_'], "-");
    allowed
        .iter()
        .find(|a| **a == normal)
        .map(|a| (*a).to_owned())
        .ok_or_else(|| ModelError::Invalid {
            field,
            reason: format!("{value:?} is not one of {}", allowed.join(", ")),
        })
}

impl Session {
    pub fn new(id: &str, new: &NewSession) -> Result<Self, ModelError> {
        let start = t::parse("start", &new.start)?;
        let end = t::parse("end", &new.end)?;
        if end <= start {
            return Err(ModelError::Invalid {
                field: "end",
                reason: format!(
                    "{} is not after the start {}",
                    new.end.trim(),
                    new.start.trim()
                ),
            });
        }
        let online = text::optional("online link", &new.online, MAX_LINE)?;
        if !online.is_empty() && !online.contains("://") {
            return Err(ModelError::Invalid {
                field: "online link",
                reason: format!("{online:?} is not a link like https://meet.example/abc"),
            });
        }
        let mut guests = Vec::new();
        for guest in &new.guests {
            guests.push(text::required("guest", guest, MAX_LINE)?);
        }
        Ok(Session {
            kind: DocKind::Session.as_str().into(),
            schema: SCHEMA,
            id: id.into(),
            title: text::required("title", &new.title, MAX_LINE)?,
            session_kind: one_of("kind", &new.kind, KINDS)?,
            start: t::format(start),
            end: t::format(end),
            place: text::optional("place", &new.place, MAX_LINE)?,
            online,
            hosts: new.hosts.iter().map(|h| (h.clone(), true)).collect(),
            guests,
            description: text::optional("description", &new.description, MAX_TEXT)?,
            rsvps: BTreeMap::new(),
            attendance: BTreeMap::new(),
            notes: Text::with_value(""),
            proposals: BTreeMap::new(),
        })
    }

    pub fn start_time(&self) -> Option<OffsetDateTime> {
        t::parse("start", &self.start).ok()
    }

    pub fn end_time(&self) -> Option<OffsetDateTime> {
        t::parse("end", &self.end).ok()
    }

    /// Upcoming until it has ended.
    pub fn is_upcoming(&self, now: OffsetDateTime) -> bool {
        self.end_time().is_some_and(|end| end > now)
    }

    pub fn rsvp(&mut self, member: &str, status: &str, now: &str) -> Result<(), ModelError> {
        let status = one_of("rsvp", status, RSVP_STATUSES)?;
        self.rsvps.insert(
            member.to_owned(),
            Rsvp {
                status,
                at: now.to_owned(),
            },
        );
        Ok(())
    }

    pub fn attend(&mut self, member: &str, now: &str) {
        self.attendance
            .entry(member.to_owned())
            .or_insert_with(|| now.to_owned());
    }

    /// Adds a proposal; returns nothing, the caller chose `id`.
    pub fn propose(
        &mut self,
        id: &str,
        title: &str,
        kind: &str,
        by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        if self.session_kind != "unconference" {
            return Err(ModelError::Invalid {
                field: "session",
                reason: format!(
                    "{:?} is a {}; only unconferences take proposals",
                    self.title, self.session_kind
                ),
            });
        }
        let proposal = Proposal {
            title: text::required("title", title, MAX_LINE)?,
            proposal_kind: one_of("proposal kind", kind, PROPOSAL_KINDS)?,
            by: by.to_owned(),
            at: now.to_owned(),
            votes: BTreeMap::new(),
            slot: None,
        };
        self.proposals.insert(id.to_owned(), proposal);
        Ok(())
    }

    /// One vote per member per proposal; `vote = false` withdraws it.
    pub fn vote(&mut self, proposal: &str, member: &str, vote: bool) -> Result<(), ModelError> {
        let p = self
            .proposals
            .get_mut(proposal)
            .ok_or_else(|| ModelError::Invalid {
                field: "proposal",
                reason: format!("no proposal {proposal:?} in this session"),
            })?;
        if vote {
            p.votes.insert(member.to_owned(), true);
        } else {
            p.votes.remove(member);
        }
        Ok(())
    }

    /// Proposals ranked by votes (most first), ties by title then id: the same order on
    /// every replica.
    pub fn agenda(&self) -> Vec<(&String, &Proposal)> {
        let mut ranked: Vec<_> = self.proposals.iter().collect();
        ranked.sort_by(|(ia, a), (ib, b)| {
            b.votes
                .len()
                .cmp(&a.votes.len())
                .then_with(|| a.title.to_lowercase().cmp(&b.title.to_lowercase()))
                .then_with(|| ia.cmp(ib))
        });
        ranked
    }

    /// Turns the `top` best-voted proposals into consecutive slots of `minutes` from `from`.
    /// Presenters do not clash: slots never overlap.
    pub fn schedule(
        &mut self,
        top: usize,
        from: &str,
        minutes: u32,
    ) -> Result<Vec<String>, ModelError> {
        let from = t::parse("from", from)?;
        if minutes == 0 || minutes > 24 * 60 {
            return Err(ModelError::Invalid {
                field: "minutes",
                reason: format!("{minutes} is not between 1 and 1440"),
            });
        }
        let ids: Vec<String> = self
            .agenda()
            .iter()
            .take(top)
            .map(|(id, _)| (*id).clone())
            .collect();
        let length = time::Duration::minutes(i64::from(minutes));
        for (i, id) in ids.iter().enumerate() {
            let start = from + length * (i as i32);
            if let Some(p) = self.proposals.get_mut(id) {
                p.slot = Some(Slot {
                    start: t::format(start),
                    end: t::format(start + length),
                });
            }
        }
        Ok(ids)
    }

    pub fn notes_append(&mut self, text: &str) -> Result<(), ModelError> {
        let current = self.notes.as_str().chars().count();
        let len = current + text.chars().count();
        if len > MAX_TEXT * 10 {
            return Err(ModelError::TooLong {
                field: "notes",
                len,
                max: MAX_TEXT * 10,
            });
        }
        let mut addition = text.to_owned();
        if current > 0 && !self.notes.as_str().ends_with('\n') {
            addition.insert(0, '\n');
        }
        self.notes.splice(current, 0, addition);
        Ok(())
    }

    pub fn notes_set(&mut self, text: &str) -> Result<(), ModelError> {
        let len = text.chars().count();
        if len > MAX_TEXT * 10 {
            return Err(ModelError::TooLong {
                field: "notes",
                len,
                max: MAX_TEXT * 10,
            });
        }
        self.notes.update(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    fn unconference() -> Session {
        Session::new(
            "s1",
            &NewSession {
                title: "Winter unconference".into(),
                kind: "Unconference".into(),
                start: "2026-12-01T10:00:00+01:00".into(),
                end: "2026-12-01T16:00:00+01:00".into(),
                hosts: vec!["ada".into()],
                ..NewSession::default()
            },
        )
        .unwrap()
    }

    fn pair() -> (AutoCommit, AutoCommit) {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        unconference().write(&mut a).unwrap();
        let b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        (a, b)
    }

    fn merged(mut a: AutoCommit, mut b: AutoCommit) -> Session {
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let (sa, sb) = (Session::read(&a).unwrap(), Session::read(&b).unwrap());
        assert_eq!(sa, sb, "replicas must converge");
        sa
    }

    #[test]
    fn end_before_start_and_empty_title_are_refused() {
        let mut new = NewSession {
            title: "Meetup".into(),
            kind: "meetup".into(),
            start: "2026-12-01T18:00:00Z".into(),
            end: "2026-12-01T17:00:00Z".into(),
            ..NewSession::default()
        };
        let err = Session::new("s", &new).unwrap_err().to_string();
        assert!(err.contains("not after the start"), "{err}");
        new.end = "2026-12-01T19:00:00Z".into();
        new.title = " ".into();
        assert!(matches!(
            Session::new("s", &new),
            Err(ModelError::Empty { .. })
        ));
        new.title = "Meetup".into();
        new.kind = "party".into();
        assert!(Session::new("s", &new).is_err());
        new.kind = "guest talk".into();
        assert_eq!(Session::new("s", &new).unwrap().session_kind, "guest-talk");
    }

    #[test]
    fn concurrent_rsvps_and_attendance_all_survive() {
        let (mut a, mut b) = pair();
        Session::update(&mut a, |s| {
            s.rsvp("m1", "going", "t")?;
            s.attend("m1", "t");
            Ok(())
        })
        .unwrap();
        Session::update(&mut b, |s| {
            s.rsvp("m2", "maybe", "t")?;
            s.attend("m2", "t");
            Ok(())
        })
        .unwrap();
        let s = merged(a, b);
        assert_eq!(s.rsvps["m1"].status, "going");
        assert_eq!(s.rsvps["m2"].status, "maybe");
        assert_eq!(s.attendance.len(), 2);
    }

    #[test]
    fn concurrent_votes_all_count_and_one_member_votes_once() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        let mut s = unconference();
        s.propose("p1", "Roadmaps are lies", "talk", "ada", "t")
            .unwrap();
        s.propose("p2", "Help with OKRs", "help", "bea", "t")
            .unwrap();
        s.write(&mut a).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Session::update(&mut a, |s| {
            s.vote("p2", "m1", true)?;
            s.vote("p2", "m1", true) // twice: still one vote
        })
        .unwrap();
        Session::update(&mut b, |s| {
            s.vote("p2", "m2", true)?;
            s.vote("p1", "m3", true)
        })
        .unwrap();
        let s = merged(a, b);
        assert_eq!(s.proposals["p2"].votes.len(), 2);
        let ranked: Vec<_> = s.agenda().iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ranked, ["p2", "p1"]);
    }

    #[test]
    fn a_vote_can_be_withdrawn() {
        let mut s = unconference();
        s.propose("p1", "Talk", "talk", "ada", "t").unwrap();
        s.vote("p1", "m1", true).unwrap();
        s.vote("p1", "m1", false).unwrap();
        assert!(s.proposals["p1"].votes.is_empty());
        assert!(s.vote("nope", "m1", true).is_err());
    }

    #[test]
    fn concurrent_write_up_edits_keep_both_peoples_words() {
        let (mut a, _) = pair();
        Session::update(&mut a, |s| s.notes_set("We discussed roadmaps.")).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Session::update(&mut a, |s| s.notes_set("We discussed roadmaps and OKRs.")).unwrap();
        Session::update(&mut b, |s| s.notes_append("Next time: pricing.")).unwrap();
        let s = merged(a, b);
        assert_eq!(
            s.notes.as_str(),
            "We discussed roadmaps and OKRs.\nNext time: pricing."
        );
    }

    #[test]
    fn scheduling_gives_the_top_proposals_consecutive_slots() {
        let mut s = unconference();
        for (id, title, votes) in [("p1", "A", 1), ("p2", "B", 3), ("p3", "C", 2)] {
            s.propose(id, title, "talk", "x", "t").unwrap();
            for v in 0..votes {
                s.vote(id, &format!("m{v}"), true).unwrap();
            }
        }
        let ids = s.schedule(2, "2026-12-01T10:00:00+01:00", 30).unwrap();
        assert_eq!(ids, ["p2", "p3"]);
        let slot = s.proposals["p3"].slot.clone().unwrap();
        assert_eq!(slot.start, "2026-12-01T10:30:00+01:00");
        assert!(s.proposals["p1"].slot.is_none());
    }

    #[test]
    fn only_unconferences_take_proposals() {
        let mut s = Session::new(
            "s",
            &NewSession {
                title: "Meetup".into(),
                kind: "meetup".into(),
                start: "2026-12-01T18:00:00Z".into(),
                end: "2026-12-01T19:00:00Z".into(),
                ..NewSession::default()
            },
        )
        .unwrap();
        assert!(s.propose("p", "Talk", "talk", "m", "t").is_err());
    }
}
