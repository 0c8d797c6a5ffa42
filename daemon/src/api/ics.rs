//! Sessions as an iCalendar file (RFC 5545) that calendar apps import. Times are written in
//! UTC, which every client understands; each event keeps a stable UID so re-importing
//! updates instead of duplicating.
//!
//! One VEVENT per session, and one per scheduled unconference slot (UID
//! `<session>-<proposal>@guild`, the room as its location, `RELATED-TO` the session), so a
//! calendar shows the parallel rooms side by side. A cancelled session (and its slots) is
//! exported with `STATUS:CANCELLED` and "Cancelled: " before its title, for apps that
//! ignore the status.

use crdt_model::community::Community;
use crdt_model::session::Session;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

/// `name` gives a member's name for their id (presenters).
pub fn calendar(
    community: &Community,
    sessions: &[Session],
    name: &dyn Fn(&str) -> String,
) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&community.name);
    for s in sessions {
        let (Some(start), Some(end)) = (s.start_time(), s.end_time()) else {
            continue; // A document with an unreadable time is skipped, not half-exported.
        };
        let uid = format!("{}@guild", s.id);
        let mut event = Event::new();
        event
            .uid(&uid)
            .summary(&summary(s, &s.title))
            .add_property("DTSTART", utc(start))
            .add_property("DTEND", utc(end))
            .add_property("CATEGORIES", s.session_kind.to_uppercase())
            .status(status(s));
        let mut description = s.description.clone();
        let speakers: Vec<&str> = s
            .guest_speakers
            .keys()
            .filter_map(|g| community.guest_name(g))
            .chain(s.guests.iter().map(String::as_str))
            .collect();
        if !speakers.is_empty() {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&format!("Guest speakers: {}", speakers.join(", ")));
        }
        if let Some(reason) = s.cancelled.as_ref().map(|c| c.reason.as_str()) {
            let line = if reason.is_empty() {
                "Cancelled.".to_owned()
            } else {
                format!("Cancelled: {reason}")
            };
            description = if description.is_empty() {
                line
            } else {
                format!("{line}\n\n{description}")
            };
        }
        if !description.is_empty() {
            event.description(&description);
        }
        match (s.place.is_empty(), s.online.is_empty()) {
            (false, _) => {
                event.location(&s.place);
            }
            (true, false) => {
                event.location(&s.online);
            }
            (true, true) => {}
        }
        if !s.online.is_empty() {
            event.url(&s.online);
        }
        calendar.push(event.done());
        for (id, p) in &s.proposals {
            let Some(slot) = &p.slot else { continue };
            let (Ok(start), Ok(end)) = (
                crdt_model::when::parse("slot", &slot.start),
                crdt_model::when::parse("slot", &slot.end),
            ) else {
                continue;
            };
            let room = s.room_of(slot);
            let location = [room, s.place.as_str()]
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let mut event = Event::new();
            event
                .uid(&format!("{}-{id}@guild", s.id))
                .summary(&summary(s, &p.title))
                .add_property("DTSTART", utc(start))
                .add_property("DTEND", utc(end))
                .add_property("RELATED-TO", &uid)
                .add_property("CATEGORIES", p.proposal_kind.to_uppercase())
                .description(&format!(
                    "A {} by {} at {}",
                    p.proposal_kind,
                    name(&p.by),
                    s.title
                ))
                .status(status(s));
            if !location.is_empty() {
                event.location(&location);
            }
            calendar.push(event.done());
        }
    }
    calendar.done().to_string()
}

fn status(s: &Session) -> EventStatus {
    if s.is_cancelled() {
        EventStatus::Cancelled
    } else {
        EventStatus::Confirmed
    }
}

fn summary(s: &Session, title: &str) -> String {
    if s.is_cancelled() {
        format!("Cancelled: {title}")
    } else {
        title.to_owned()
    }
}

fn utc(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
