//! Sessions: meetups, community sessions, away days, show-and-tells, guest talks and
//! unconferences. One document per session.
//!
//! Everything several people touch at once is a map keyed by member id (RSVPs, attendance,
//! votes, hosts), by guest id (guest speakers, guest attendance) or by a random id
//! (proposals), so concurrent changes from different daemons all survive a merge. The
//! write-up is Automerge text, so two people editing the notes at once both keep their words.
//!
//! Unconferences (ProductCamp style): the agenda starts empty; members propose talks,
//! discussions and asks for help and vote with a few dots each (the session's vote budget,
//! at most one per proposal); the hosts turn the top proposals into timed slots in parallel
//! rooms, never putting one presenter in two rooms at once, and can move slots by hand.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, Value};
use autosurgeon::reconcile::NoKey;
use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler, Text};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::when::{self as t, DayEdge, Zone};
use crate::{DocKind, GuildDoc, ModelError};

pub const SCHEMA: u64 = 1;

pub const KINDS: &[&str] = &[
    "meetup",
    "community-session",
    "away-day",
    "show-and-tell",
    "guest-talk",
    "unconference",
];

/// Votes each member may spend in a new unconference unless its hosts choose otherwise
/// (ProductCamp gives a few dots each).
pub const DEFAULT_VOTE_BUDGET: u64 = 3;
/// The largest vote budget hosts can set.
pub const MAX_VOTE_BUDGET: u64 = 100;
/// Rooms or tracks one session can run in parallel.
pub const MAX_ROOMS: usize = 20;
/// Longest write-up, in characters.
pub const MAX_NOTES: usize = MAX_TEXT * 10;

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
    /// Guest speakers' names as typed before guests were kept in the community's guest list
    /// (shown as written; new sessions use [`Session::guest_speakers`]).
    pub guests: Vec<String>,
    pub description: String,
    pub rsvps: BTreeMap<String, Rsvp>,
    /// Members who came: member id -> when it was recorded. Members only (guests are in
    /// [`Session::guest_attendance`]), so attendance figures count the community.
    pub attendance: BTreeMap<String, String>,
    pub notes: Text,
    pub proposals: BTreeMap<String, Proposal>,
    /// Member id of who created the session: they may change and cancel it, as its hosts
    /// and the community's stewards may. Empty for sessions from before it was recorded.
    #[autosurgeon(missing = "Default::default")]
    pub created_by: String,
    /// Set when the session is cancelled: it is kept, shown as cancelled.
    #[autosurgeon(missing = "Default::default")]
    pub cancelled: Option<Cancellation>,
    /// Guest speakers: ids of the community's guests (people from outside it).
    #[autosurgeon(missing = "Default::default")]
    pub guest_speakers: BTreeMap<String, bool>,
    /// Guests who came: guest id -> when it was recorded. Kept apart from member attendance.
    #[autosurgeon(missing = "Default::default")]
    pub guest_attendance: BTreeMap<String, String>,
    /// Who recorded each attendance entry: member or guest id -> member id. They may take
    /// the entry back, as the person themselves, the hosts and stewards may.
    #[autosurgeon(missing = "Default::default")]
    pub recorded_by: BTreeMap<String, String>,
    /// Rooms or tracks that run in parallel (unconferences); empty means one room.
    #[autosurgeon(missing = "Default::default")]
    pub rooms: Vec<String>,
    /// Votes each member may spend in this session (dot voting), at most one per proposal;
    /// 0 means no limit (unconferences from before budgets existed).
    #[autosurgeon(missing = "Default::default")]
    pub vote_budget: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Cancellation {
    /// RFC 3339.
    pub at: String,
    /// Member id of who cancelled.
    pub by: String,
    pub reason: String,
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
    /// Member id of the presenter.
    pub by: String,
    pub at: String,
    /// One vote per member; removing the key withdraws it.
    pub votes: BTreeMap<String, Vote>,
    /// Set when a host turns the proposal into a timed slot.
    pub slot: Option<Slot>,
    /// Member id of who entered it (someone may propose on a colleague's behalf); empty
    /// for proposals from before it was recorded.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created_by: String,
    /// Votes cast on a colleague's behalf: voter's member id to who entered it. Such a vote
    /// counts on the agenda but is not the voter's own activity (see [`crate::health`]).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub proxy_votes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Slot {
    pub start: String,
    pub end: String,
    /// One of the session's rooms; empty for a session with one room (or its first room).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub room: String,
}

/// One member's vote: when it was cast (RFC 3339). When a member's votes add up to more
/// than the budget (cast on two laptops while apart), the earliest count (see
/// [`Session::counted_votes`]). Votes from before times were kept are stored as `true`,
/// read as `at: None`, and count first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub at: Option<String>,
}

impl Hydrate for Vote {
    fn hydrate_bool(_: bool) -> Result<Self, HydrateError> {
        Ok(Self { at: None })
    }

    fn hydrate_string(at: &'_ str) -> Result<Self, HydrateError> {
        Ok(Self {
            at: Some(at.to_owned()),
        })
    }
}

impl Reconcile for Vote {
    type Key<'a> = NoKey;

    fn reconcile<R: Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
        match &self.at {
            // A legacy vote stays as it was stored: rewriting it would be a needless change.
            None => true.reconcile(reconciler),
            Some(at) => at.reconcile(reconciler),
        }
    }
}

impl GuildDoc for Session {
    const KIND: DocKind = DocKind::Session;
}

pub const RSVP_STATUSES: &[&str] = &["going", "maybe", "not-going"];
pub const PROPOSAL_KINDS: &[&str] = &["talk", "discussion", "help"];

/// What a person fills in to create a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSession {
    pub title: String,
    pub kind: String,
    /// As people write it (see [`crate::when::read`]); a date alone starts at midnight.
    pub start: String,
    /// A date alone ends at its end; a clock time alone is on the start's day.
    pub end: String,
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub online: String,
    /// Member ids (already resolved by the caller).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Guest speakers: guest ids (already resolved by the caller).
    #[serde(default)]
    pub guests: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Rooms or tracks running in parallel (unconferences).
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Votes per member (unconferences) [default: 3]; 0 for no limit.
    #[serde(default)]
    pub votes: Option<u64>,
    /// The writer's time zone for times without an offset: IANA name, UTC or an offset.
    #[serde(default)]
    pub tz: Option<String>,
}

/// A change to a session: only what is given changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionChange {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub place: Option<String>,
    #[serde(default)]
    pub online: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Member ids (already resolved by the caller).
    #[serde(default)]
    pub add_hosts: Vec<String>,
    #[serde(default)]
    pub remove_hosts: Vec<String>,
    /// Guest ids (already resolved by the caller); a name typed before guests were kept
    /// can be removed by that name.
    #[serde(default)]
    pub add_guests: Vec<String>,
    #[serde(default)]
    pub remove_guests: Vec<String>,
    /// The rooms, in order, replacing the current list (empty: one room).
    #[serde(default)]
    pub rooms: Option<Vec<String>>,
    /// Votes per member; 0 for no limit.
    #[serde(default)]
    pub votes: Option<u64>,
    /// The writer's time zone (see [`NewSession::tz`]).
    #[serde(default)]
    pub tz: Option<String>,
}

impl SessionChange {
    fn is_empty(&self) -> bool {
        let SessionChange {
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
            votes,
            tz: _,
        } = self;
        [title, kind, start, end, place, online, description]
            .iter()
            .all(|f| f.is_none())
            && [add_hosts, remove_hosts, add_guests, remove_guests]
                .iter()
                .all(|l| l.is_empty())
            && rooms.is_none()
            && votes.is_none()
    }
}

/// Two scheduled proposals that cannot both happen as planned. Scheduling and moving
/// refuse clashes; they can still appear when two hosts move slots on different laptops
/// at once, so views show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clash {
    pub first: String,
    pub second: String,
    /// `room` (same room, overlapping times) or `presenter` (one presenter in two places).
    pub kind: String,
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

fn invalid(field: &'static str, reason: impl Into<String>) -> ModelError {
    ModelError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The zone named in a request, if any.
fn zone_of(tz: Option<&String>) -> Result<Option<Zone>, ModelError> {
    tz.map(|name| t::zone(name)).transpose()
}

fn online_link(value: &str) -> Result<String, ModelError> {
    let online = text::optional("online link", value, MAX_LINE)?;
    if !online.is_empty() && !online.contains("://") {
        return Err(invalid(
            "online link",
            format!("{online:?} is not a link like https://meet.example/abc"),
        ));
    }
    Ok(online)
}

fn check_times(start: OffsetDateTime, end: OffsetDateTime) -> Result<(), ModelError> {
    if end <= start {
        return Err(invalid(
            "end",
            format!(
                "{} is not after the start {}",
                t::format(end),
                t::format(start)
            ),
        ));
    }
    Ok(())
}

fn rooms_from(list: &[String]) -> Result<Vec<String>, ModelError> {
    let mut rooms: Vec<String> = Vec::new();
    for room in list {
        let room = text::required("room", room, MAX_LINE)?;
        if rooms.iter().any(|r| text::fold(r) == text::fold(&room)) {
            return Err(invalid("room", format!("{room:?} is listed twice")));
        }
        rooms.push(room);
    }
    if rooms.len() > MAX_ROOMS {
        return Err(invalid(
            "rooms",
            format!("{} rooms; the limit is {MAX_ROOMS}", rooms.len()),
        ));
    }
    Ok(rooms)
}

fn budget(votes: u64) -> Result<u64, ModelError> {
    if votes > MAX_VOTE_BUDGET {
        return Err(invalid(
            "votes",
            format!("{votes} votes each is more than {MAX_VOTE_BUDGET}; 0 means no limit"),
        ));
    }
    Ok(votes)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Session {
    pub fn new(id: &str, new: &NewSession) -> Result<Self, ModelError> {
        let zone = zone_of(new.tz.as_ref())?;
        let start = t::read("start", &new.start, zone.as_ref(), None, DayEdge::Start)?;
        let end = t::read("end", &new.end, zone.as_ref(), Some(start), DayEdge::End)?;
        check_times(start, end)?;
        let session_kind = one_of("kind", &new.kind, KINDS)?;
        let unconference = session_kind == "unconference";
        let rooms = rooms_from(&new.rooms)?;
        if !unconference && (!rooms.is_empty() || new.votes.is_some()) {
            return Err(invalid(
                "session",
                "only unconferences have rooms and votes (their slots run in parallel rooms)",
            ));
        }
        Ok(Session {
            kind: DocKind::Session.as_str().into(),
            schema: SCHEMA,
            id: id.into(),
            title: text::required("title", &new.title, MAX_LINE)?,
            session_kind,
            start: t::format(start),
            end: t::format(end),
            place: text::optional("place", &new.place, MAX_LINE)?,
            online: online_link(&new.online)?,
            hosts: new.hosts.iter().map(|h| (h.clone(), true)).collect(),
            guests: Vec::new(),
            description: text::optional("description", &new.description, MAX_TEXT)?,
            rsvps: BTreeMap::new(),
            attendance: BTreeMap::new(),
            notes: Text::with_value(""),
            proposals: BTreeMap::new(),
            created_by: String::new(),
            cancelled: None,
            guest_speakers: new.guests.iter().map(|g| (g.clone(), true)).collect(),
            guest_attendance: BTreeMap::new(),
            recorded_by: BTreeMap::new(),
            rooms,
            vote_budget: if unconference {
                budget(new.votes.unwrap_or(DEFAULT_VOTE_BUDGET))?
            } else {
                0
            },
        })
    }

    pub fn start_time(&self) -> Option<OffsetDateTime> {
        t::parse("start", &self.start).ok()
    }

    pub fn end_time(&self) -> Option<OffsetDateTime> {
        t::parse("end", &self.end).ok()
    }

    fn bounds(&self) -> Result<(OffsetDateTime, OffsetDateTime), ModelError> {
        Ok((t::parse("start", &self.start)?, t::parse("end", &self.end)?))
    }

    /// Upcoming until it has ended.
    pub fn is_upcoming(&self, now: OffsetDateTime) -> bool {
        self.end_time().is_some_and(|end| end > now)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.is_some()
    }

    /// Refuses changes that make no sense for a cancelled session (RSVPs, attendance,
    /// proposals, votes, slots).
    pub fn ensure_open(&self) -> Result<(), ModelError> {
        match &self.cancelled {
            Some(_) => Err(invalid(
                "session",
                format!(
                    "{:?} was cancelled (guild sessions cancel --undo reinstates it)",
                    self.title
                ),
            )),
            None => Ok(()),
        }
    }

    /// Whether `member` may change this session: a host or who created it. (Stewards may
    /// too; the caller knows who they are.)
    pub fn may_change(&self, member: &str) -> bool {
        self.hosts.contains_key(member)
            || (!self.created_by.is_empty() && self.created_by == member)
    }

    /// Applies a change, all or nothing. Moving the whole session (start and end by the
    /// same amount) moves its slots with it; any other change of times must leave every
    /// slot inside the session.
    pub fn apply(&mut self, change: &SessionChange) -> Result<(), ModelError> {
        if change.is_empty() {
            return Err(invalid(
                "change",
                "nothing to change: give a new title, kind, time, place, link, description, \
                 hosts, guests, rooms or votes",
            ));
        }
        let zone = zone_of(change.tz.as_ref())?;
        let mut next = self.clone();
        if let Some(title) = &change.title {
            next.title = text::required("title", title, MAX_LINE)?;
        }
        if let Some(place) = &change.place {
            next.place = text::optional("place", place, MAX_LINE)?;
        }
        if let Some(online) = &change.online {
            next.online = online_link(online)?;
        }
        if let Some(description) = &change.description {
            next.description = text::optional("description", description, MAX_TEXT)?;
        }
        if let Some(kind) = &change.kind {
            next.session_kind = one_of("kind", kind, KINDS)?;
        }
        let unconference = next.session_kind == "unconference";
        if !unconference && !next.proposals.is_empty() {
            return Err(invalid(
                "kind",
                format!(
                    "{:?} has {}; only unconferences take proposals (withdraw them first)",
                    self.title,
                    plural(next.proposals.len(), "proposal", "proposals")
                ),
            ));
        }
        if let Some(rooms) = &change.rooms {
            next.rooms = rooms_from(rooms)?;
        }
        if let Some(votes) = change.votes {
            next.vote_budget = budget(votes)?;
        }
        if unconference && self.session_kind != "unconference" && change.votes.is_none() {
            next.vote_budget = DEFAULT_VOTE_BUDGET;
        }
        if !unconference {
            if !next.rooms.is_empty() || change.votes.is_some_and(|v| v > 0) {
                return Err(invalid(
                    "session",
                    "only unconferences have rooms and votes (their slots run in parallel rooms)",
                ));
            }
            next.vote_budget = 0;
        }
        for host in &change.add_hosts {
            next.hosts.insert(host.clone(), true);
        }
        for host in &change.remove_hosts {
            if next.hosts.remove(host).is_none() {
                return Err(invalid(
                    "host",
                    format!("{host} is not a host of this session"),
                ));
            }
        }
        if next.hosts.is_empty() {
            return Err(invalid(
                "hosts",
                "a session needs at least one host; add another before removing the last",
            ));
        }
        for guest in &change.add_guests {
            next.guest_speakers.insert(guest.clone(), true);
        }
        for guest in &change.remove_guests {
            if next.guest_speakers.remove(guest).is_some() {
                continue;
            }
            let before = next.guests.len();
            next.guests.retain(|g| text::fold(g) != text::fold(guest));
            if next.guests.len() == before {
                return Err(invalid(
                    "guest",
                    format!("{guest} is not a guest speaker of this session"),
                ));
            }
        }
        let (old_start, old_end) = self.bounds()?;
        let start = match &change.start {
            Some(s) => t::read("start", s, zone.as_ref(), Some(old_start), DayEdge::Start)?,
            None => old_start,
        };
        let end = match &change.end {
            Some(e) => t::read("end", e, zone.as_ref(), Some(start), DayEdge::End)?,
            None => old_end,
        };
        check_times(start, end)?;
        next.start = t::format(start);
        next.end = t::format(end);
        let shift = start - old_start;
        if shift != Duration::ZERO && end - old_end == shift {
            for p in next.proposals.values_mut() {
                if let Some(slot) = &mut p.slot {
                    let moved = |s: &str| {
                        t::parse("slot", s)
                            .and_then(|x| plus(x, shift))
                            .map(t::format)
                    };
                    slot.start = moved(&slot.start)?;
                    slot.end = moved(&slot.end)?;
                }
            }
        }
        next.check_slots_fit()?;
        *self = next;
        Ok(())
    }

    /// Every slot lies inside the session and in one of its rooms.
    fn check_slots_fit(&self) -> Result<(), ModelError> {
        let (start, end) = self.bounds()?;
        let mut outside = Vec::new();
        let mut roomless = Vec::new();
        for p in self.proposals.values() {
            let Some(slot) = &p.slot else { continue };
            let (s, e) = (t::parse("slot", &slot.start)?, t::parse("slot", &slot.end)?);
            if s < start || e > end {
                outside.push(p.title.clone());
            }
            if !slot.room.is_empty() && self.room(&slot.room).is_none() {
                roomless.push(format!("{} in {}", p.title, slot.room));
            }
        }
        if !outside.is_empty() {
            return Err(invalid(
                "times",
                format!(
                    "{} would fall outside the session ({}); move them (guild sessions move) \
                     or schedule again",
                    plural(outside.len(), "slot", "slots"),
                    outside.join(", ")
                ),
            ));
        }
        if !roomless.is_empty() {
            return Err(invalid(
                "rooms",
                format!(
                    "slots are booked in rooms no longer listed ({}); move them first",
                    roomless.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The session's spelling of `room` (matched ignoring case and accents).
    pub fn room(&self, room: &str) -> Option<&str> {
        let key = text::fold(room);
        self.rooms
            .iter()
            .find(|r| text::fold(r) == key)
            .map(String::as_str)
    }

    /// The room a slot is in: its own, or the first room for a slot booked before the
    /// session had rooms.
    pub fn room_of<'a>(&'a self, slot: &'a Slot) -> &'a str {
        if slot.room.is_empty() {
            self.rooms.first().map_or("", String::as_str)
        } else {
            &slot.room
        }
    }

    pub fn cancel(&mut self, by: &str, now: &str, reason: &str) -> Result<(), ModelError> {
        if self.is_cancelled() {
            return Err(invalid(
                "session",
                format!("{:?} is already cancelled", self.title),
            ));
        }
        self.cancelled = Some(Cancellation {
            at: now.to_owned(),
            by: by.to_owned(),
            reason: text::optional("reason", reason, MAX_TEXT)?,
        });
        Ok(())
    }

    pub fn reinstate(&mut self) -> Result<(), ModelError> {
        if self.cancelled.take().is_none() {
            return Err(invalid(
                "session",
                format!("{:?} is not cancelled", self.title),
            ));
        }
        Ok(())
    }

    pub fn rsvp(&mut self, member: &str, status: &str, now: &str) -> Result<(), ModelError> {
        self.ensure_open()?;
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

    /// Records that a member came (the first record stays).
    pub fn attend(&mut self, member: &str, now: &str) {
        self.attendance
            .entry(member.to_owned())
            .or_insert_with(|| now.to_owned());
    }

    /// Records that a member came, recorded by the member `by` (the first record stays).
    pub fn record_attendance(&mut self, member: &str, by: &str, now: &str) {
        if !self.attendance.contains_key(member) {
            self.attend(member, now);
            self.recorded_by.insert(member.to_owned(), by.to_owned());
        }
    }

    /// Records that a guest came, recorded by the member `by` (the first record stays).
    pub fn attend_guest(&mut self, guest: &str, by: &str, now: &str) {
        if !self.guest_attendance.contains_key(guest) {
            self.guest_attendance
                .insert(guest.to_owned(), now.to_owned());
            self.recorded_by.insert(guest.to_owned(), by.to_owned());
        }
    }

    /// Takes back a member's attendance entry; `name` is for the error.
    pub fn unattend(&mut self, member: &str, name: &str) -> Result<(), ModelError> {
        match self.attendance.remove(member) {
            Some(_) => {
                self.recorded_by.remove(member);
                Ok(())
            }
            None => Err(invalid(
                "attendance",
                format!("{name} is not recorded as having come to {:?}", self.title),
            )),
        }
    }

    /// Takes back a guest's attendance entry; `name` is for the error.
    pub fn unattend_guest(&mut self, guest: &str, name: &str) -> Result<(), ModelError> {
        match self.guest_attendance.remove(guest) {
            Some(_) => {
                self.recorded_by.remove(guest);
                Ok(())
            }
            None => Err(invalid(
                "attendance",
                format!(
                    "{name} (guest) is not recorded as having come to {:?}",
                    self.title
                ),
            )),
        }
    }

    /// Adds a proposal by `by` (the presenter), entered by `created_by`.
    pub fn propose(
        &mut self,
        id: &str,
        title: &str,
        kind: &str,
        by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        self.propose_for(id, title, kind, by, by, now)
    }

    /// Adds a proposal presented by `by` and entered by `created_by`.
    pub fn propose_for(
        &mut self,
        id: &str,
        title: &str,
        kind: &str,
        by: &str,
        created_by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        if self.session_kind != "unconference" {
            return Err(invalid(
                "session",
                format!(
                    "{:?} is a {}; only unconferences take proposals",
                    self.title, self.session_kind
                ),
            ));
        }
        self.ensure_open()?;
        let proposal = Proposal {
            title: text::required("title", title, MAX_LINE)?,
            proposal_kind: one_of("proposal kind", kind, PROPOSAL_KINDS)?,
            by: by.to_owned(),
            at: now.to_owned(),
            votes: BTreeMap::new(),
            slot: None,
            created_by: created_by.to_owned(),
            proxy_votes: BTreeMap::new(),
        };
        self.proposals.insert(id.to_owned(), proposal);
        Ok(())
    }

    /// Removes a proposal, its votes and its slot.
    pub fn withdraw(&mut self, proposal: &str) -> Result<Proposal, ModelError> {
        self.proposals
            .remove(proposal)
            .ok_or_else(|| no_proposal(proposal))
    }

    /// Casts (`vote = true`) or withdraws a member's own vote for a proposal, at most one
    /// per proposal; a vote beyond the session's budget is refused.
    pub fn vote(
        &mut self,
        proposal: &str,
        member: &str,
        vote: bool,
        now: &str,
    ) -> Result<(), ModelError> {
        self.vote_for(proposal, member, member, vote, now)
    }

    /// As [`Session::vote`], entered by `by`: when that is someone else, the vote is
    /// recorded as cast on the member's behalf; the member's own vote replaces that mark.
    pub fn vote_for(
        &mut self,
        proposal: &str,
        member: &str,
        by: &str,
        vote: bool,
        now: &str,
    ) -> Result<(), ModelError> {
        let added = self.cast(proposal, member, vote, now)?;
        if let Some(p) = self.proposals.get_mut(proposal) {
            if added && by != member {
                p.proxy_votes.insert(member.to_owned(), by.to_owned());
            } else if !vote || by == member {
                // Withdrawn, or confirmed by the member themselves: no longer on their behalf.
                p.proxy_votes.remove(member);
            }
        }
        Ok(())
    }

    /// Casts or withdraws the vote; true if this call added it.
    fn cast(
        &mut self,
        proposal: &str,
        member: &str,
        vote: bool,
        now: &str,
    ) -> Result<bool, ModelError> {
        if !self.proposals.contains_key(proposal) {
            return Err(no_proposal(proposal));
        }
        if !vote {
            if let Some(p) = self.proposals.get_mut(proposal) {
                p.votes.remove(member);
            }
            return Ok(false);
        }
        self.ensure_open()?;
        if self.proposals[proposal].votes.contains_key(member) {
            return Ok(false); // Voting twice is still one vote.
        }
        let spent: Vec<&str> = self
            .proposals
            .values()
            .filter(|p| p.votes.contains_key(member))
            .map(|p| p.title.as_str())
            .collect();
        let budget = usize::try_from(self.vote_budget).unwrap_or(usize::MAX);
        if budget > 0 && spent.len() >= budget {
            return Err(invalid(
                "vote",
                format!(
                    "all {} in {:?} are used (on {}); withdraw one first \
                     (guild sessions vote SESSION PROPOSAL --withdraw)",
                    plural(budget, "vote", "votes"),
                    self.title,
                    spent
                        .iter()
                        .map(|t| format!("{t:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(p) = self.proposals.get_mut(proposal) {
            p.votes.insert(
                member.to_owned(),
                Vote {
                    at: Some(now.to_owned()),
                },
            );
        }
        Ok(true)
    }

    /// The votes that count, per proposal id: each member's first `vote_budget` votes in
    /// this session, earliest first (then by proposal id), or all of them when there is no
    /// budget. A member whose two laptops each spent the budget while apart keeps every vote
    /// in the document, but only the earliest count: the same ones on every replica, so
    /// the ranking never rewards voting from two devices.
    pub fn counted_votes(&self) -> BTreeMap<&str, usize> {
        let mut counted: BTreeMap<&str, usize> =
            self.proposals.keys().map(|id| (id.as_str(), 0)).collect();
        for (_, votes) in self.votes_by_member() {
            let take = if self.vote_budget == 0 {
                votes.len()
            } else {
                usize::try_from(self.vote_budget).unwrap_or(usize::MAX)
            };
            for (_, proposal) in votes.into_iter().take(take) {
                *counted.entry(proposal).or_default() += 1;
            }
        }
        counted
    }

    /// Members who hold more votes than the budget (after a merge), and how many of theirs
    /// do not count.
    pub fn uncounted_votes(&self) -> BTreeMap<&str, usize> {
        if self.vote_budget == 0 {
            return BTreeMap::new();
        }
        let budget = usize::try_from(self.vote_budget).unwrap_or(usize::MAX);
        self.votes_by_member()
            .into_iter()
            .filter(|(_, votes)| votes.len() > budget)
            .map(|(member, votes)| (member, votes.len() - budget))
            .collect()
    }

    /// Each member's votes, earliest first: (when, proposal id).
    fn votes_by_member(&self) -> BTreeMap<&str, Vec<CastVote<'_>>> {
        let mut by: BTreeMap<&str, Vec<CastVote<'_>>> = BTreeMap::new();
        for (id, p) in &self.proposals {
            for (member, vote) in &p.votes {
                let at = vote.at.as_deref().and_then(|a| t::parse("vote", a).ok());
                by.entry(member.as_str())
                    .or_default()
                    .push((at, id.as_str()));
            }
        }
        for votes in by.values_mut() {
            votes.sort();
        }
        by
    }

    /// Proposals ranked by the votes that count (most first), ties by title then id: the
    /// same order on every replica.
    pub fn agenda(&self) -> Vec<(&String, &Proposal)> {
        let counted = self.counted_votes();
        let votes = |id: &String| counted.get(id.as_str()).copied().unwrap_or(0);
        let mut ranked: Vec<_> = self.proposals.iter().collect();
        ranked.sort_by(|(ia, a), (ib, b)| {
            votes(ib)
                .cmp(&votes(ia))
                .then_with(|| text::fold(&a.title).cmp(&text::fold(&b.title)))
                .then_with(|| ia.cmp(ib))
        });
        ranked
    }

    /// Turns the best-voted proposals into slots of `minutes`, from `from` (written in
    /// `zone`; a clock time alone is on the session's day), filling every room at each time
    /// before the next time. `top` proposals get a slot; without `top`, as many as fit. Every
    /// slot lies inside the session and no presenter is in two rooms at once; a proposal
    /// whose presenter is busy takes the next free place. Scheduling again starts over
    /// (slots moved by hand included). Returns the scheduled proposal ids, in order.
    pub fn schedule(
        &mut self,
        top: Option<usize>,
        from: &str,
        minutes: u32,
        zone: Option<&Zone>,
    ) -> Result<Vec<String>, ModelError> {
        self.ensure_open()?;
        if top == Some(0) {
            return Err(invalid(
                "top",
                "0 proposals would schedule nothing; give 1 or more (or leave --top out to \
                 fill every slot)",
            ));
        }
        if minutes == 0 || minutes > 24 * 60 {
            return Err(invalid(
                "minutes",
                format!("{minutes} is not between 1 and 1440"),
            ));
        }
        if self.proposals.is_empty() {
            return Err(invalid(
                "agenda",
                format!("{:?} has no proposals to schedule yet", self.title),
            ));
        }
        let (start, end) = self.bounds()?;
        let from = t::read("from", from, zone, Some(start), DayEdge::Start)?;
        let length = Duration::minutes(i64::from(minutes));
        self.check_inside(from, plus(from, length)?)?;
        // How many times of `length` fit before the end, and so how many slots in all.
        let fit = usize::try_from((end - from).whole_minutes() / i64::from(minutes)).unwrap_or(0);
        let rooms: Vec<String> = if self.rooms.is_empty() {
            vec![String::new()]
        } else {
            self.rooms.clone()
        };
        let capacity = fit.saturating_mul(rooms.len());
        let ranked: Vec<(String, String)> = self
            .agenda()
            .into_iter()
            .map(|(id, p)| (id.clone(), p.by.clone()))
            .collect();
        let wanted = top.unwrap_or(capacity).min(ranked.len());
        if wanted > capacity {
            return Err(invalid(
                "top",
                format!(
                    "{wanted} proposals need {wanted} slots but only {capacity} fit: {} of \
                     {minutes} minutes from {} to the end at {}{}",
                    plural(fit, "time", "times"),
                    clock(from, start),
                    clock(end, start),
                    if rooms.len() > 1 {
                        format!(" in {} rooms", rooms.len())
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        // Greedy, best-voted first: the earliest time with a free room whose presenter is
        // not presenting elsewhere then. The k-th proposal finds a place among the first k+1
        // times (at most k are taken), so `wanted` times are enough.
        let times: Vec<OffsetDateTime> = (0..fit.min(wanted))
            .map(|i| from + Duration::minutes(i64::from(minutes) * i64::try_from(i).unwrap_or(0)))
            .collect();
        let mut taken: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut presenting: BTreeSet<(usize, &str)> = BTreeSet::new();
        let mut plan: Vec<(String, Slot)> = Vec::new();
        for (id, presenter) in ranked.iter().take(wanted) {
            let place = (0..times.len()).find_map(|ti| {
                if presenting.contains(&(ti, presenter.as_str())) {
                    return None;
                }
                (0..rooms.len())
                    .find(|ri| !taken.contains(&(ti, *ri)))
                    .map(|ri| (ti, ri))
            });
            let Some((ti, ri)) = place else {
                return Err(invalid(
                    "schedule",
                    format!(
                        "no slot is left for {:?} without its presenter being in two rooms at \
                         once; schedule fewer (--top) or shorter slots (--minutes)",
                        self.proposals[id].title
                    ),
                ));
            };
            taken.insert((ti, ri));
            presenting.insert((ti, presenter.as_str()));
            plan.push((
                id.clone(),
                Slot {
                    start: t::format(times[ti]),
                    end: t::format(times[ti] + length),
                    room: rooms[ri].clone(),
                },
            ));
        }
        for p in self.proposals.values_mut() {
            p.slot = None;
        }
        let mut ids = Vec::new();
        for (id, slot) in plan {
            if let Some(p) = self.proposals.get_mut(&id) {
                p.slot = Some(slot);
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Refuses a slot that is not inside the session.
    fn check_inside(&self, from: OffsetDateTime, to: OffsetDateTime) -> Result<(), ModelError> {
        let (start, end) = self.bounds()?;
        if from < start || to > end {
            return Err(invalid(
                "slot",
                format!(
                    "{} to {} is outside the session ({} to {}); slots must fit inside it",
                    clock(from, start),
                    clock(to, start),
                    clock(start, start),
                    clock(end, start)
                ),
            ));
        }
        Ok(())
    }

    /// Moves a proposal's slot by hand to `at` (written in `zone`; a clock time alone is on
    /// the session's day), for `minutes` (default: its current length) in `room` (default:
    /// its current room, else the first). The slot must lie inside the session, its
    /// presenter must not be presenting elsewhere then, and the room must be free then,
    /// except that moving onto exactly another proposal's slot swaps the two. Returns the
    /// id of the proposal swapped with, if any.
    pub fn move_slot(
        &mut self,
        proposal: &str,
        at: &str,
        minutes: Option<u32>,
        room: Option<&str>,
        zone: Option<&Zone>,
    ) -> Result<Option<String>, ModelError> {
        self.ensure_open()?;
        let current = self
            .proposals
            .get(proposal)
            .ok_or_else(|| no_proposal(proposal))?
            .clone();
        let (session_start, _) = self.bounds()?;
        let from = t::read("at", at, zone, Some(session_start), DayEdge::Start)?;
        let length = match (minutes, &current.slot) {
            (Some(0), _) => return Err(invalid("minutes", "0 is not between 1 and 1440")),
            (Some(m), _) if m > 24 * 60 => {
                return Err(invalid("minutes", format!("{m} is not between 1 and 1440")));
            }
            (Some(m), _) => Duration::minutes(i64::from(m)),
            (None, Some(slot)) => t::parse("slot", &slot.end)? - t::parse("slot", &slot.start)?,
            (None, None) => {
                return Err(invalid(
                    "minutes",
                    format!(
                        "{:?} has no slot yet: say how long (--minutes)",
                        current.title
                    ),
                ));
            }
        };
        let room = match room {
            Some(r) => self.room(r).map(str::to_owned).ok_or_else(|| {
                invalid(
                    "room",
                    if self.rooms.is_empty() {
                        format!("{:?} has no rooms; add them with --room", self.title)
                    } else {
                        format!("{r:?} is not one of {}", self.rooms.join(", "))
                    },
                )
            })?,
            None => current
                .slot
                .as_ref()
                .map(|s| self.room_of(s).to_owned())
                .unwrap_or_else(|| self.rooms.first().cloned().unwrap_or_default()),
        };
        let to = plus(from, length)?;
        let target = Slot {
            start: t::format(from),
            end: t::format(to),
            room,
        };
        self.check_inside(from, to)?;
        // Onto exactly another slot: the two swap places.
        let same_place = |s: &Slot| {
            self.room_of(s) == target.room
                && t::parse("slot", &s.start).ok() == Some(from)
                && t::parse("slot", &s.end).ok() == Some(to)
        };
        let swap_with = self
            .proposals
            .iter()
            .find(|(id, p)| *id != proposal && p.slot.as_ref().is_some_and(same_place))
            .map(|(id, _)| id.clone());
        let mut next = self.clone();
        if let Some(other) = &swap_with {
            let Some(old) = current.slot.clone() else {
                return Err(invalid(
                    "slot",
                    format!(
                        "that slot is {:?}'s; {:?} has no slot to swap with it (move that one \
                         first)",
                        self.proposals[other].title, current.title
                    ),
                ));
            };
            if let Some(p) = next.proposals.get_mut(other) {
                p.slot = Some(old);
            }
        }
        if let Some(p) = next.proposals.get_mut(proposal) {
            p.slot = Some(target);
        }
        if let Some(clash) = next.clashes().into_iter().find(|c| {
            c.first == proposal
                || c.second == proposal
                || Some(&c.first) == swap_with.as_ref()
                || Some(&c.second) == swap_with.as_ref()
        }) {
            return Err(invalid("slot", next.describe_clash(&clash)));
        }
        *self = next;
        Ok(swap_with)
    }

    /// Takes a proposal's slot away (it stays on the agenda).
    pub fn unschedule(&mut self, proposal: &str) -> Result<(), ModelError> {
        let p = self
            .proposals
            .get_mut(proposal)
            .ok_or_else(|| no_proposal(proposal))?;
        if p.slot.take().is_none() {
            return Err(invalid("slot", format!("{:?} has no slot", p.title)));
        }
        Ok(())
    }

    /// Scheduled proposals that overlap in one room, or whose presenter is in two places at
    /// once; sorted, so every replica lists the same.
    pub fn clashes(&self) -> Vec<Clash> {
        let slots: Vec<(&String, &Proposal, OffsetDateTime, OffsetDateTime, &str)> = self
            .proposals
            .iter()
            .filter_map(|(id, p)| {
                let slot = p.slot.as_ref()?;
                let s = t::parse("slot", &slot.start).ok()?;
                let e = t::parse("slot", &slot.end).ok()?;
                Some((id, p, s, e, self.room_of(slot)))
            })
            .collect();
        let mut clashes = Vec::new();
        for (i, a) in slots.iter().enumerate() {
            for b in &slots[i + 1..] {
                if !(a.2 < b.3 && b.2 < a.3) {
                    continue;
                }
                let kind = if a.4 == b.4 {
                    "room"
                } else if a.1.by == b.1.by {
                    "presenter"
                } else {
                    continue;
                };
                clashes.push(Clash {
                    first: a.0.clone(),
                    second: b.0.clone(),
                    kind: kind.into(),
                });
            }
        }
        clashes
    }

    /// A clash in words.
    pub fn describe_clash(&self, clash: &Clash) -> String {
        let title = |id: &str| {
            self.proposals
                .get(id)
                .map_or_else(|| id.to_owned(), |p| p.title.clone())
        };
        let (a, b) = (title(&clash.first), title(&clash.second));
        if clash.kind == "room" {
            format!("{a:?} and {b:?} overlap in the same room")
        } else {
            format!("{a:?} and {b:?} have the same presenter at the same time")
        }
    }

    /// Adds a paragraph to the end of the write-up in the session document `doc`, and
    /// commits. Each append ends with a newline and starts on a line of its own, so two
    /// appends made at once on different laptops stay two paragraphs whichever order the
    /// merge puts them in (Automerge keeps each inserted run together).
    ///
    /// Edits the Automerge text directly: Automerge counts positions in Unicode code
    /// points, while `autosurgeon::Text::splice` counts bytes, which misplaces (or panics
    /// on) any edit after an "é".
    pub fn append_notes(doc: &mut AutoCommit, addition: &str) -> Result<(), ModelError> {
        let addition = text::required("write-up", addition, MAX_NOTES)?;
        let notes = notes_object(doc)?;
        let current = doc.text(&notes)?;
        let len = current.chars().count();
        check_notes_length(len + addition.chars().count() + 2)?;
        let mut chunk = String::new();
        if !current.is_empty() && !current.ends_with('\n') {
            chunk.push('\n');
        }
        chunk.push_str(&addition);
        chunk.push('\n');
        doc.splice_text(&notes, len, 0, &chunk)?;
        doc.commit();
        Ok(())
    }

    /// Replaces the write-up in `doc` with `value` as a character diff (so a concurrent edit
    /// elsewhere in the text survives), and commits.
    pub fn set_notes(doc: &mut AutoCommit, value: &str) -> Result<(), ModelError> {
        let mut value = text::optional("write-up", value, MAX_NOTES)?;
        if !value.is_empty() {
            value.push('\n');
        }
        check_notes_length(value.chars().count())?;
        let notes = notes_object(doc)?;
        let current = doc.text(&notes)?;
        let mut at = 0;
        for change in
            similar::TextDiff::from_chars(current.as_str(), value.as_str()).iter_all_changes()
        {
            let n = change.value().chars().count();
            match change.tag() {
                similar::ChangeTag::Equal => at += n,
                similar::ChangeTag::Delete => {
                    doc.splice_text(&notes, at, isize::try_from(n).unwrap_or(isize::MAX), "")?;
                }
                similar::ChangeTag::Insert => {
                    doc.splice_text(&notes, at, 0, change.value())?;
                    at += n;
                }
            }
        }
        doc.commit();
        Ok(())
    }
}

/// When a vote was cast (`None`: before times were kept, so first) and for which proposal.
type CastVote<'a> = (Option<OffsetDateTime>, &'a str);

fn check_notes_length(len: usize) -> Result<(), ModelError> {
    if len > MAX_NOTES {
        return Err(ModelError::TooLong {
            field: "write-up",
            len,
            max: MAX_NOTES,
        });
    }
    Ok(())
}

/// The write-up's text object in a session document.
fn notes_object(doc: &AutoCommit) -> Result<automerge::ObjId, ModelError> {
    DocKind::Session.check(doc)?;
    match doc.get(automerge::ROOT, "notes")? {
        Some((Value::Object(ObjType::Text), id)) => Ok(id),
        _ => Err(ModelError::Corrupt {
            expected: "session",
            reason: "its write-up is not text".into(),
        }),
    }
}

/// `t + d`, refused when it leaves the calendar (past year 9999).
fn plus(t: OffsetDateTime, d: Duration) -> Result<OffsetDateTime, ModelError> {
    t.checked_add(d)
        .ok_or_else(|| invalid("time", "that is too far in the future"))
}

fn no_proposal(id: &str) -> ModelError {
    invalid("proposal", format!("no proposal {id:?} in this session"))
}

/// `t` as people read it in an error, in the session's own offset: `16:00`, with the date
/// when it is not the session's first day.
fn clock(t: OffsetDateTime, session_start: OffsetDateTime) -> String {
    let t = t.to_offset(session_start.offset());
    let hm = format!("{:02}:{:02}", t.hour(), t.minute());
    if t.date() == session_start.date() {
        hm
    } else {
        format!("{} {hm}", t.date())
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

    fn doc_of(session: &Session) -> AutoCommit {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        session.write(&mut a).unwrap();
        a
    }

    fn pair() -> (AutoCommit, AutoCommit) {
        let mut a = doc_of(&unconference());
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

    fn with_proposals(s: &mut Session, proposals: &[(&str, &str, usize)]) {
        for (id, by, votes) in proposals {
            s.propose(
                id,
                &format!("Talk {id}"),
                "talk",
                by,
                "2026-11-01T00:00:00Z",
            )
            .unwrap();
            for v in 0..*votes {
                s.vote(id, &format!("m{v}"), true, "2026-11-02T00:00:00Z")
                    .unwrap();
            }
        }
    }

    fn slot(s: &Session, id: &str) -> (String, String, String) {
        let slot = s.proposals[id].slot.clone().unwrap();
        (slot.start, slot.end, slot.room)
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
        new.rooms = vec!["Main".into()];
        let err = Session::new("s", &new).unwrap_err().to_string();
        assert!(err.contains("only unconferences have rooms"), "{err}");
    }

    #[test]
    fn times_are_read_in_the_writers_zone() {
        let s = Session::new(
            "s",
            &NewSession {
                title: "Summer meetup".into(),
                kind: "meetup".into(),
                start: "2026-07-01 18:00".into(),
                end: "20:00".into(),
                tz: Some("Europe/London".into()),
                ..NewSession::default()
            },
        )
        .unwrap();
        assert_eq!(s.start, "2026-07-01T18:00:00+01:00");
        assert_eq!(s.end, "2026-07-01T20:00:00+01:00");
        let err = Session::new(
            "s",
            &NewSession {
                title: "Meetup".into(),
                kind: "meetup".into(),
                start: "2026-07-01 18:00".into(),
                end: "2026-07-01 20:00".into(),
                tz: Some("Mars/Olympus".into()),
                ..NewSession::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"Mars/Olympus\" is unknown"), "{err}");
    }

    #[test]
    fn concurrent_rsvps_and_attendance_all_survive() {
        let (mut a, mut b) = pair();
        Session::update(&mut a, |s| {
            s.rsvp("m1", "going", "t")?;
            s.attend("m1", "t");
            s.attend_guest("g1", "m1", "t");
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
        assert_eq!(s.attendance.len(), 2, "members only");
        assert_eq!(s.guest_attendance.len(), 1);
    }

    #[test]
    fn attendance_can_be_taken_back() {
        let mut s = unconference();
        s.record_attendance("m1", "ada", "t");
        s.attend_guest("g1", "ada", "t");
        assert_eq!(s.recorded_by["g1"], "ada");
        s.unattend("m1", "Ada").unwrap();
        s.unattend_guest("g1", "Priya").unwrap();
        assert!(s.attendance.is_empty() && s.guest_attendance.is_empty());
        assert!(s.recorded_by.is_empty());
        let err = s.unattend("m1", "Ada").unwrap_err().to_string();
        assert!(err.contains("Ada is not recorded as having come"), "{err}");
    }

    #[test]
    fn concurrent_votes_all_count_and_one_member_votes_once() {
        let mut s = unconference();
        s.propose("p1", "Roadmaps are lies", "talk", "ada", "t")
            .unwrap();
        s.propose("p2", "Help with OKRs", "help", "bea", "t")
            .unwrap();
        let mut a = doc_of(&s);
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Session::update(&mut a, |s| {
            s.vote("p2", "m1", true, "2026-11-01T10:00:00Z")?;
            s.vote("p2", "m1", true, "2026-11-01T10:01:00Z") // twice: still one vote
        })
        .unwrap();
        Session::update(&mut b, |s| {
            s.vote("p2", "m2", true, "2026-11-01T10:00:00Z")?;
            s.vote("p1", "m3", true, "2026-11-01T10:00:00Z")
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
        s.vote("p1", "m1", true, "t").unwrap();
        s.vote("p1", "m1", false, "t").unwrap();
        assert!(s.proposals["p1"].votes.is_empty());
        assert!(s.vote("nope", "m1", true, "t").is_err());
    }

    #[test]
    fn a_fourth_vote_is_refused_until_one_is_withdrawn() {
        let mut s = unconference();
        assert_eq!(s.vote_budget, DEFAULT_VOTE_BUDGET);
        with_proposals(
            &mut s,
            &[
                ("p1", "x", 0),
                ("p2", "x", 0),
                ("p3", "x", 0),
                ("p4", "x", 0),
            ],
        );
        for p in ["p1", "p2", "p3"] {
            s.vote(p, "ada", true, "2026-11-01T10:00:00Z").unwrap();
        }
        let before = s.clone();
        let err = s.vote("p4", "ada", true, "t").unwrap_err().to_string();
        assert!(
            err.contains("all 3 votes in \"Winter unconference\" are used"),
            "{err}"
        );
        assert!(err.contains("\"Talk p1\""), "{err}");
        assert_eq!(s, before);
        // Voting again for one already chosen costs nothing.
        s.vote("p1", "ada", true, "t").unwrap();
        s.vote("p1", "ada", false, "t").unwrap();
        s.vote("p4", "ada", true, "t").unwrap();
    }

    // A member's two laptops, apart, each spend the whole budget: after the merge every vote
    // is kept but only the earliest three count, identically on every replica.
    #[test]
    fn votes_merged_from_one_members_two_laptops_never_exceed_the_budget() {
        let mut s = unconference();
        with_proposals(
            &mut s,
            &[
                ("p1", "x", 0),
                ("p2", "x", 0),
                ("p3", "x", 0),
                ("p4", "x", 0),
                ("p5", "x", 0),
            ],
        );
        let mut laptop = doc_of(&s);
        let mut other = laptop.fork().with_actor(ActorId::from(b"b".as_slice()));
        Session::update(&mut laptop, |s| {
            s.vote("p1", "ada", true, "2026-11-01T10:00:00Z")?;
            s.vote("p2", "ada", true, "2026-11-01T10:05:00Z")?;
            s.vote("p3", "ada", true, "2026-11-01T10:10:00Z")
        })
        .unwrap();
        Session::update(&mut other, |s| {
            s.vote("p4", "ada", true, "2026-11-01T10:02:00Z")?;
            s.vote("p5", "ada", true, "2026-11-01T10:20:00Z")?;
            s.vote("p5", "bea", true, "2026-11-01T10:20:00Z")
        })
        .unwrap();
        let s = merged(laptop, other);
        let counted = s.counted_votes();
        assert_eq!(
            counted["p1"] + counted["p2"] + counted["p3"] + counted["p4"],
            3
        );
        // Earliest first: p1 (10:00), p4 (10:02), p2 (10:05); not p3 (10:10) nor p5 (10:20).
        assert_eq!(
            (counted["p1"], counted["p4"], counted["p2"], counted["p3"]),
            (1, 1, 1, 0)
        );
        assert_eq!(counted["p5"], 1, "Bea's vote");
        assert_eq!(s.uncounted_votes(), BTreeMap::from([("ada", 2)]));
        // And no further vote until enough are withdrawn.
        let mut s = s;
        assert!(
            s.vote("p5", "ada", true, "t").is_ok(),
            "already voted: no change"
        );
        s.vote("p3", "ada", false, "t").unwrap();
        assert!(s.vote("p3", "ada", true, "t").is_err());
    }

    #[test]
    fn concurrent_write_up_edits_keep_both_peoples_words() {
        let (mut a, _) = pair();
        Session::set_notes(&mut a, "We discussed roadmaps.").unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Session::set_notes(&mut a, "We discussed roadmaps and OKRs.").unwrap();
        Session::append_notes(&mut b, "Next time: pricing.").unwrap();
        let s = merged(a, b);
        assert_eq!(
            s.notes.as_str(),
            "We discussed roadmaps and OKRs.\nNext time: pricing.\n"
        );
    }

    // Wrong answer 4 of issue 10: two people's first appends to an empty write-up, made
    // concurrently, were glued into one line ("C first lineB first line").
    #[test]
    fn concurrent_first_appends_to_an_empty_write_up_stay_apart() {
        for a_first in [true, false] {
            let (mut a, mut b) = pair();
            Session::append_notes(&mut a, "B first line").unwrap();
            Session::append_notes(&mut b, "C first line").unwrap();
            if a_first {
                a.merge(&mut b).unwrap();
            } else {
                b.merge(&mut a).unwrap();
                a = b;
            }
            let notes = Session::read(&a).unwrap().notes.as_str().to_owned();
            let mut lines: Vec<&str> = notes.lines().filter(|l| !l.is_empty()).collect();
            lines.sort_unstable();
            assert_eq!(lines, ["B first line", "C first line"], "{notes:?}");
        }
    }

    // autosurgeon's Text counts bytes where Automerge counts code points: appending after
    // "Café" panicked ("byte index is not a char boundary") and replacing text after an
    // accent spliced at the wrong place.
    #[test]
    fn write_ups_with_accents_append_and_replace_cleanly() {
        let (mut a, _) = pair();
        Session::append_notes(&mut a, "Café with Siobhán 👋").unwrap();
        Session::append_notes(&mut a, "Zoë joined").unwrap();
        Session::set_notes(&mut a, "Café with Siobhán 👋\nZoë and Ana joined").unwrap();
        let notes = Session::read(&a).unwrap().notes.as_str().to_owned();
        assert_eq!(notes, "Café with Siobhán 👋\nZoë and Ana joined\n");
        let err = Session::append_notes(&mut a, "bell \u{7}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("control character"), "{err}");
        assert!(Session::append_notes(&mut a, "  ").is_err());
        Session::set_notes(&mut a, "").unwrap();
        assert_eq!(Session::read(&a).unwrap().notes.as_str(), "");
    }

    #[test]
    fn scheduling_gives_the_top_proposals_consecutive_slots() {
        let mut s = unconference();
        with_proposals(&mut s, &[("p1", "a", 1), ("p2", "b", 3), ("p3", "c", 2)]);
        let ids = s
            .schedule(Some(2), "2026-12-01T10:00:00+01:00", 30, None)
            .unwrap();
        assert_eq!(ids, ["p2", "p3"]);
        assert_eq!(slot(&s, "p3").0, "2026-12-01T10:30:00+01:00");
        assert!(s.proposals["p1"].slot.is_none());
        // Again, for everything, from a clock time on the session's day.
        let zone = t::zone("+01:00").unwrap();
        let ids = s.schedule(None, "11:00", 60, Some(&zone)).unwrap();
        assert_eq!(ids, ["p2", "p3", "p1"]);
        assert_eq!(slot(&s, "p1").1, "2026-12-01T14:00:00+01:00");
    }

    // Wrong answer 5 of issue 10: scheduling gave slots up to 18:45 for a session ending at
    // 17:00 (or on the next day), and `--top 0` silently did nothing.
    #[test]
    fn slots_outside_their_session_are_refused() {
        let mut s = unconference(); // 10:00 to 16:00 (+01:00)
        for id in ["p1", "p2", "p3", "p4"] {
            s.propose(id, id, "talk", "x", "t").unwrap();
        }
        let before = s.clone();
        // 15:00, 15:30, then 16:00 to 16:30: past the end.
        let err = s
            .schedule(Some(3), "2026-12-01T15:00:00+01:00", 30, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only 2 fit"), "{err}");
        // The next day.
        let err = s
            .schedule(Some(1), "2026-12-02T10:00:00+01:00", 30, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("outside the session (10:00 to 16:00)"),
            "{err}"
        );
        // Before the start.
        assert!(
            s.schedule(Some(1), "2026-12-01T09:30:00+01:00", 30, None)
                .is_err()
        );
        let err = s
            .schedule(Some(0), "2026-12-01T10:00:00+01:00", 30, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("0 proposals would schedule nothing"), "{err}");
        assert_eq!(s, before, "a refused schedule changed the session");
    }

    // A slot stored by another daemon near the end of the calendar must not overflow (a
    // panic in this daemon) when the session is moved: the move is refused.
    #[test]
    fn moving_a_session_never_overflows_its_slots() {
        let mut s = unconference();
        s.propose("p1", "Talk", "talk", "ada", "t").unwrap();
        s.start = "9999-12-29T10:00:00Z".into();
        s.end = "9999-12-29T16:00:00Z".into();
        if let Some(p) = s.proposals.get_mut("p1") {
            p.slot = Some(Slot {
                start: "9999-12-31T23:00:00Z".into(),
                end: "9999-12-31T23:30:00Z".into(),
                room: String::new(),
            });
        }
        let err = s
            .apply(&SessionChange {
                start: Some("9999-12-30T10:00:00Z".into()),
                end: Some("9999-12-30T16:00:00Z".into()),
                ..SessionChange::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("too far in the future"), "{err}");
    }

    fn two_rooms() -> Session {
        let mut s = unconference();
        s.apply(&SessionChange {
            rooms: Some(vec!["Main hall".into(), "Library".into()]),
            ..SessionChange::default()
        })
        .unwrap();
        s
    }

    #[test]
    fn rooms_run_in_parallel_and_no_presenter_is_in_two_at_once() {
        let mut s = two_rooms();
        // Ada presents the two best-voted: they cannot run side by side.
        with_proposals(
            &mut s,
            &[
                ("p1", "ada", 3),
                ("p2", "ada", 2),
                ("p3", "bea", 1),
                ("p4", "cy", 0),
            ],
        );
        s.schedule(None, "2026-12-01T10:00:00+01:00", 60, None)
            .unwrap();
        let at = |h: u8| format!("2026-12-01T{h}:00:00+01:00");
        assert_eq!(slot(&s, "p1"), (at(10), at(11), "Main hall".into()));
        assert_eq!(slot(&s, "p3"), (at(10), at(11), "Library".into()));
        assert_eq!(slot(&s, "p2"), (at(11), at(12), "Main hall".into()));
        assert_eq!(slot(&s, "p4"), (at(11), at(12), "Library".into()));
        assert!(s.clashes().is_empty());
        // Only 2 times x 2 rooms fit between 14:00 and 16:00.
        with_proposals(
            &mut s,
            &[("p5", "dee", 0), ("p6", "eve", 0), ("p7", "fay", 0)],
        );
        let err = s
            .schedule(Some(5), "14:00", 60, Some(&t::zone("+01:00").unwrap()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "only 4 fit: 2 times of 60 minutes from 14:00 to the end at 16:00 in 2 rooms"
            ),
            "{err}"
        );
    }

    #[test]
    fn slots_move_by_hand_swap_and_refuse_clashes() {
        let mut s = two_rooms();
        with_proposals(
            &mut s,
            &[("p1", "ada", 3), ("p2", "bea", 2), ("p3", "ada", 1)],
        );
        s.schedule(None, "2026-12-01T10:00:00+01:00", 60, None)
            .unwrap();
        // p1 Main 10:00, p2 Library 10:00, p3 Main 11:00.
        let zone = t::zone("Europe/Paris").unwrap();
        let before = s.clone();
        // Ada's p3 next to her p1: one presenter in two rooms.
        let err = s
            .move_slot("p3", "10:00", None, Some("library"), Some(&zone))
            .unwrap_err()
            .to_string();
        assert!(err.contains("same presenter"), "{err}");
        // Outside the session.
        assert!(s.move_slot("p3", "15:30", None, None, Some(&zone)).is_err());
        assert!(
            s.move_slot("p3", "11:00", None, Some("Attic"), Some(&zone))
                .is_err()
        );
        assert_eq!(s, before);
        // Onto exactly p2's slot would put Ada in two rooms at 10:00.
        let err = s
            .move_slot("p3", "10:00", None, Some("Library"), Some(&zone))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"Talk p1\" and \"Talk p3\" have the same presenter"),
            "{err}"
        );
        assert_eq!(s, before);
        // Onto exactly p1's slot: the two swap rooms.
        let swapped = s
            .move_slot("p2", "10:00", None, Some("main hall"), Some(&zone))
            .unwrap();
        assert_eq!(swapped.as_deref(), Some("p1"));
        assert_eq!(slot(&s, "p2").2, "Main hall");
        assert_eq!(slot(&s, "p1").2, "Library");
        assert_eq!(slot(&s, "p1").0, "2026-12-01T10:00:00+01:00");
        assert!(s.clashes().is_empty());
        // p3 moves on to 13:00 for 45 minutes: nothing clashes any more.
        s.move_slot("p3", "13:00", Some(45), None, Some(&zone))
            .unwrap();
        assert_eq!(slot(&s, "p3").1, "2026-12-01T13:45:00+01:00");
        assert!(s.clashes().is_empty());
        s.unschedule("p3").unwrap();
        assert!(s.unschedule("p3").is_err());
    }

    #[test]
    fn two_hosts_moving_slots_apart_shows_a_clash_after_the_merge() {
        let mut s = two_rooms();
        with_proposals(&mut s, &[("p1", "ada", 2), ("p2", "bea", 1)]);
        s.schedule(None, "2026-12-01T10:00:00+01:00", 60, None)
            .unwrap();
        let (mut a, mut b) = {
            let mut a = doc_of(&s);
            let b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
            (a, b)
        };
        Session::update(&mut a, |s| {
            s.move_slot("p1", "2026-12-01T12:00:00+01:00", None, None, None)
                .map(drop)
        })
        .unwrap();
        Session::update(&mut b, |s| {
            s.move_slot(
                "p2",
                "2026-12-01T12:00:00+01:00",
                None,
                Some("Main hall"),
                None,
            )
            .map(drop)
        })
        .unwrap();
        let s = merged(a, b);
        assert_eq!(
            s.clashes(),
            [Clash {
                first: "p1".into(),
                second: "p2".into(),
                kind: "room".into()
            }]
        );
    }

    #[test]
    fn updates_fix_mistakes_and_keep_slots_inside() {
        let mut s = unconference();
        with_proposals(&mut s, &[("p1", "ada", 1)]);
        s.schedule(None, "2026-12-01T15:00:00+01:00", 60, None)
            .unwrap();
        let before = s.clone();
        // Ending earlier would strand the 15:00 slot.
        let err = s
            .apply(&SessionChange {
                end: Some("2026-12-01T15:30:00+01:00".into()),
                ..SessionChange::default()
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 slot would fall outside the session (Talk p1)"),
            "{err}"
        );
        assert!(s.apply(&SessionChange::default()).is_err());
        let err = s
            .apply(&SessionChange {
                remove_hosts: vec!["ada".into()],
                ..SessionChange::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one host"), "{err}");
        assert!(
            s.apply(&SessionChange {
                kind: Some("meetup".into()),
                ..SessionChange::default()
            })
            .is_err()
        );
        assert_eq!(s, before);
        // Postponed by a week: the slots move with it.
        s.apply(&SessionChange {
            title: Some("Winter unconference (moved)".into()),
            start: Some("2026-12-08 10:00".into()),
            end: Some("2026-12-08 16:00".into()),
            tz: Some("Europe/Paris".into()),
            add_hosts: vec!["bea".into()],
            remove_hosts: vec!["ada".into()],
            votes: Some(5),
            ..SessionChange::default()
        })
        .unwrap();
        assert_eq!(s.start, "2026-12-08T10:00:00+01:00");
        assert_eq!(slot(&s, "p1").0, "2026-12-08T15:00:00+01:00");
        assert_eq!(s.hosts.keys().collect::<Vec<_>>(), ["bea"]);
        assert_eq!(s.vote_budget, 5);
        // A room with slots cannot go.
        s.apply(&SessionChange {
            rooms: Some(vec!["Main".into(), "Side".into()]),
            ..SessionChange::default()
        })
        .unwrap();
        s.move_slot("p1", "2026-12-08T11:00:00+01:00", None, Some("Side"), None)
            .unwrap();
        let err = s
            .apply(&SessionChange {
                rooms: Some(vec!["Main".into()]),
                ..SessionChange::default()
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rooms no longer listed (Talk p1 in Side)"),
            "{err}"
        );
    }

    #[test]
    fn a_cancelled_session_is_kept_but_takes_nothing_new() {
        let mut s = unconference();
        s.propose("p1", "Talk", "talk", "ada", "t").unwrap();
        s.cancel("ada", "2026-11-20T09:00:00Z", "Snow").unwrap();
        assert!(s.is_cancelled());
        assert!(s.cancel("ada", "t", "").is_err());
        for err in [
            s.clone().rsvp("m", "going", "t").unwrap_err(),
            s.clone()
                .propose("p2", "More", "talk", "m", "t")
                .unwrap_err(),
            s.clone().vote("p1", "m", true, "t").unwrap_err(),
            s.clone()
                .schedule(None, "2026-12-01T10:00:00+01:00", 30, None)
                .unwrap_err(),
        ] {
            assert!(err.to_string().contains("was cancelled"), "{err}");
        }
        s.reinstate().unwrap();
        assert!(s.reinstate().is_err());
        s.rsvp("m", "going", "t").unwrap();
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

    // Documents stored before creators, cancellations, guests, rooms, vote budgets and vote
    // times existed must keep loading: the new fields read as empty, old votes as `true`.
    #[test]
    fn a_session_stored_before_these_fields_existed_still_loads() {
        let mut s = unconference();
        s.propose("p1", "Talk", "talk", "ada", "t").unwrap();
        let mut doc = doc_of(&s);
        for field in [
            "created_by",
            "cancelled",
            "guest_speakers",
            "guest_attendance",
            "recorded_by",
            "rooms",
            "vote_budget",
        ] {
            doc.delete(automerge::ROOT, field).unwrap();
        }
        let proposals = match doc.get(automerge::ROOT, "proposals").unwrap() {
            Some((_, id)) => id,
            None => panic!("no proposals"),
        };
        let p1 = doc.get(&proposals, "p1").unwrap().unwrap().1;
        doc.delete(&p1, "created_by").unwrap();
        let votes = doc.get(&p1, "votes").unwrap().unwrap().1;
        doc.put(&votes, "m1", true).unwrap();
        doc.commit();
        let old = Session::read(&doc).unwrap();
        assert_eq!(old.vote_budget, 0, "no limit, as before");
        assert!(old.cancelled.is_none() && old.rooms.is_empty());
        assert_eq!(old.proposals["p1"].votes["m1"], Vote { at: None });
        // Writing it back leaves the old vote as it was stored.
        old.write(&mut doc).unwrap();
        let vote = doc.get(&votes, "m1").unwrap().unwrap().0;
        assert_eq!(vote, automerge::Value::from(true));
        assert_eq!(Session::read(&doc).unwrap(), old);
    }
}
