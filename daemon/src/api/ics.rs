//! Sessions as an iCalendar file (RFC 5545) that calendar apps import. Times are written in
//! UTC, which every client understands; each event keeps a stable UID so re-importing
//! updates instead of duplicating.

use crdt_model::session::Session;
use icalendar::{Calendar, Component, Event, EventLike};

pub fn calendar(community: &str, sessions: &[Session]) -> String {
    let mut calendar = Calendar::new();
    calendar.name(community);
    for s in sessions {
        let (Some(start), Some(end)) = (s.start_time(), s.end_time()) else {
            continue; // A document with an unreadable time is skipped, not half-exported.
        };
        let mut event = Event::new();
        event
            .uid(&format!("{}@guild", s.id))
            .summary(&s.title)
            .add_property("DTSTART", utc(start))
            .add_property("DTEND", utc(end))
            .add_property("CATEGORIES", s.session_kind.to_uppercase());
        if !s.description.is_empty() {
            event.description(&s.description);
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
    }
    calendar.done().to_string()
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
