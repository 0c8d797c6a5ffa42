//! Times: as people write them, as documents store them, and as readers see them.
//!
//! - **Stored**: RFC 3339 with the offset the time was written in
//!   (`2026-12-05T10:00:00+00:00`), so every replica orders sessions by their own times,
//!   never by a daemon's clock ([`parse`], [`format`]).
//! - **Written** ([`read`]): `2026-12-05 10:00`, `2026-12-05T10:00`, a date alone
//!   (`2026-12-05`: the whole day), a clock time alone (`10:30`) where a day is implied (the
//!   session's), or RFC 3339 with an offset. Times without an offset are in the writer's
//!   time zone, which the caller passes in: an IANA name (`Europe/London`), `UTC` or a fixed
//!   offset (`+05:30`).
//! - **Shown** ([`show`], [`show_span`]): in the reader's time zone, with its abbreviation
//!   (`Sat 5 Dec 2026 10:00 GMT`).
//!
//! Time zone rules come from the tz database bundled into the binary (jiff's
//! `tzdb-bundle-always`), never from the machine, so summer time is handled the same
//! everywhere and this module stays pure.

use jiff::civil::{DateTime, Time};
use jiff::fmt::temporal::{Pieces, PiecesOffset, TimeZoneAnnotationKind};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone, TimeZoneDatabase};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::ModelError;

/// A time zone from the bundled database (or UTC, or a fixed offset).
pub type Zone = TimeZone;

/// What to tell people who typed something that is not a time.
pub const FORMATS: &str = "write 2026-12-05 10:00, 2026-12-05 (the whole day) or RFC 3339 \
                           like 2026-12-05T10:00:00+01:00";

/// Parses a stored RFC 3339 time with its offset (the session's time zone).
pub fn parse(field: &'static str, value: &str) -> Result<OffsetDateTime, ModelError> {
    OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|e| ModelError::Invalid {
        field,
        reason: format!(
            "{value:?} is not a time like 2026-12-01T18:00:00+01:00 or 2026-12-01T17:00:00Z ({e})"
        ),
    })
}

pub fn format(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Calendar date of a stored time or date string (`YYYY-MM-DD` prefix), for grouping.
pub fn date_of(stored: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(stored.get(..10)?, format).ok()
}

/// The time zone named `name`: an IANA name from the bundled database (`Europe/London`,
/// case-insensitive), `UTC`, or a fixed offset (`+01:00`, `-05`, `+0530`).
pub fn zone(name: &str) -> Result<Zone, ModelError> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
        return Ok(TimeZone::UTC);
    }
    if let Some(offset) = fixed_offset(name) {
        return Ok(TimeZone::fixed(offset));
    }
    TimeZoneDatabase::bundled()
        .get(name)
        .map_err(|_| ModelError::Invalid {
            field: "time zone",
            reason: format!(
                "{name:?} is unknown; use an IANA name like Europe/London or America/New_York, \
                 UTC, or an offset like +01:00"
            ),
        })
}

/// `+01:00`, `-05`, `+0530` as an offset.
fn fixed_offset(text: &str) -> Option<Offset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits.get(..2)?.parse().ok()?;
    let minutes: i32 = digits
        .get(2..)
        .filter(|m| !m.is_empty())
        .map_or(Some(0), |m| m.parse().ok())?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// What people call a zone: its IANA name, or its offset for a fixed one.
pub fn zone_name(zone: &Zone) -> String {
    zone.iana_name().map_or_else(
        || zone.to_offset(jiff::Timestamp::UNIX_EPOCH).to_string(),
        str::to_owned,
    )
}

/// Which moment a date written alone stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayEdge {
    /// Its first moment: `--start 2026-12-05` starts at midnight.
    Start,
    /// Its last: `--end 2026-12-05` ends at midnight of the next day.
    End,
}

/// Reads a time as people write it (see the module comment). `tz` is the writer's time
/// zone, for times written without an offset (none: they are refused); `day_of` gives the
/// day of a clock time written alone (`10:30`): the day `day_of` falls on in `tz`.
///
/// A time that does not exist in `zone` (skipped when the clocks go forward) is refused; a
/// time that happens twice (when they go back) is the first of the two.
pub fn read(
    field: &'static str,
    value: &str,
    tz: Option<&Zone>,
    day_of: Option<OffsetDateTime>,
    edge: DayEdge,
) -> Result<OffsetDateTime, ModelError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ModelError::Empty { field });
    }
    let invalid = |reason: String| ModelError::Invalid { field, reason };
    let not_a_time = || invalid(format!("{value:?} is not a time; {FORMATS}"));
    let mut written_zone = None;
    let (date, clock) = match Pieces::parse(value) {
        Ok(pieces) => {
            if let Some(offset) = pieces.offset() {
                let offset = match offset {
                    PiecesOffset::Zulu => Offset::UTC,
                    other => other.to_numeric_offset(),
                };
                let dt = civil(pieces.date(), pieces.time(), edge).ok_or_else(not_a_time)?;
                let instant = offset.to_timestamp(dt).map_err(|_| not_a_time())?;
                return to_offset_date_time(instant, offset).ok_or_else(not_a_time);
            }
            // `2026-12-05T10:00[Europe/Paris]`: the zone written with the time wins.
            if let Some(annotation) = pieces.time_zone_annotation() {
                written_zone = Some(match annotation.kind() {
                    TimeZoneAnnotationKind::Named(name) => zone(name.as_str())?,
                    TimeZoneAnnotationKind::Offset(offset) => TimeZone::fixed(*offset),
                    _ => return Err(not_a_time()),
                });
            }
            (Some(pieces.date()), pieces.time())
        }
        Err(_) => match value.parse::<Time>() {
            Ok(clock) => (None, Some(clock)),
            Err(_) => return Err(not_a_time()),
        },
    };
    let tz = written_zone.as_ref().or(tz).ok_or_else(|| {
        invalid(format!(
            "{value:?} has no time zone; add an offset (2026-12-05T10:00:00+01:00) or give one"
        ))
    })?;
    let date = match (date, day_of) {
        (Some(date), _) => date,
        (None, Some(day)) => civil_in(day, tz).ok_or_else(not_a_time)?.date(),
        (None, None) => {
            return Err(invalid(format!("{value:?} has no date; {FORMATS}")));
        }
    };
    let dt = civil(date, clock, edge).ok_or_else(not_a_time)?;
    let ambiguous = tz.to_ambiguous_zoned_datetime(dt);
    let offset = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Fold { before, .. } => before,
        AmbiguousOffset::Gap { after, .. } if clock.is_none() => after,
        AmbiguousOffset::Gap { .. } => {
            return Err(invalid(format!(
                "{} does not exist in {} (the clocks go forward then); pick another time",
                dt.strftime("%Y-%m-%d %H:%M"),
                zone_name(tz)
            )));
        }
    };
    let instant = offset.to_timestamp(dt).map_err(|_| not_a_time())?;
    to_offset_date_time(instant, offset).ok_or_else(not_a_time)
}

/// The wall-clock moment `date` at `clock`, or for a date alone its start or end.
fn civil(date: jiff::civil::Date, clock: Option<Time>, edge: DayEdge) -> Option<DateTime> {
    Some(match (clock, edge) {
        (Some(clock), _) => date.to_datetime(clock),
        (None, DayEdge::Start) => date.to_datetime(Time::midnight()),
        (None, DayEdge::End) => date.tomorrow().ok()?.to_datetime(Time::midnight()),
    })
}

fn to_offset_date_time(instant: jiff::Timestamp, offset: Offset) -> Option<OffsetDateTime> {
    let offset = UtcOffset::from_whole_seconds(offset.seconds()).ok()?;
    Some(
        OffsetDateTime::from_unix_timestamp(instant.as_second())
            .ok()?
            .to_offset(offset),
    )
}

/// The wall-clock date and time of `t` in `zone`.
fn civil_in(t: OffsetDateTime, zone: &Zone) -> Option<DateTime> {
    let instant = jiff::Timestamp::from_second(t.unix_timestamp()).ok()?;
    Some(instant.to_zoned_datetime(zone.clone()).datetime())
}

/// A stored time in the reader's zone: `Sat 5 Dec 2026 10:00 GMT` (the stored text itself
/// if it is not a time).
pub fn show(stored: &str, zone: &Zone) -> String {
    zoned(stored, zone).map_or_else(
        || stored.to_owned(),
        |z| z.strftime("%a %-d %b %Y %H:%M %Z").to_string(),
    )
}

/// The clock time of a stored time in the reader's zone: `10:30`.
pub fn show_clock(stored: &str, zone: &Zone) -> String {
    zoned(stored, zone).map_or_else(|| stored.to_owned(), |z| z.strftime("%H:%M").to_string())
}

/// From `start` to `end` in the reader's zone: `Sat 5 Dec 2026 10:00 to 16:00 GMT` on one
/// day, `Sat 5 Dec 2026, all day` or `Sat 5 Dec 2026 to Sun 6 Dec 2026, all day` for whole
/// days, both in full otherwise.
pub fn show_span(start: &str, end: &str, zone: &Zone) -> String {
    match (zoned(start, zone), zoned(end, zone)) {
        (Some(s), Some(e)) if is_midnight(&s) && is_midnight(&e) && s.date() < e.date() => {
            let last = e.date().yesterday().unwrap_or(e.date());
            if last == s.date() {
                format!("{}, all day", s.strftime("%a %-d %b %Y"))
            } else {
                format!(
                    "{} to {}, all day",
                    s.strftime("%a %-d %b %Y"),
                    last.strftime("%a %-d %b %Y")
                )
            }
        }
        (Some(s), Some(e)) if s.date() == e.date() => format!(
            "{} to {}",
            s.strftime("%a %-d %b %Y %H:%M"),
            e.strftime("%H:%M %Z")
        ),
        _ => format!("{} to {}", show(start, zone), show(end, zone)),
    }
}

fn is_midnight(t: &jiff::ZonedDateTime) -> bool {
    t.datetime().time() == Time::midnight()
}

fn zoned(stored: &str, zone: &Zone) -> Option<jiff::ZonedDateTime> {
    let instant: jiff::Timestamp = stored.trim().parse().ok()?;
    Some(instant.to_zoned_datetime(zone.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> Zone {
        zone("Europe/London").unwrap()
    }

    fn read_start(value: &str, zone: &Zone) -> String {
        format(read("start", value, Some(zone), None, DayEdge::Start).unwrap())
    }

    #[test]
    fn times_as_people_write_them_in_their_zone() {
        let z = london();
        assert_eq!(read_start("2026-12-05 10:00", &z), "2026-12-05T10:00:00Z");
        assert_eq!(read_start("2026-12-05T10:00", &z), "2026-12-05T10:00:00Z");
        // Summer time: London is an hour ahead of UTC in July.
        assert_eq!(
            read_start("2026-07-05 10:00", &z),
            "2026-07-05T10:00:00+01:00"
        );
        assert_eq!(read_start("2026-12-05", &z), "2026-12-05T00:00:00Z");
        let end = read("end", "2026-12-05[Europe/Paris]", None, None, DayEdge::End).unwrap();
        assert_eq!(format(end), "2026-12-06T00:00:00+01:00");
        let end = read("end", "2026-12-05", Some(&z), None, DayEdge::End).unwrap();
        assert_eq!(format(end), "2026-12-06T00:00:00Z");
        // An explicit offset wins over the zone, and is kept.
        assert_eq!(
            read_start("2026-12-05T10:00:00+05:30", &z),
            "2026-12-05T10:00:00+05:30"
        );
        assert_eq!(
            read_start("2026-12-05T10:00:00Z", &z),
            "2026-12-05T10:00:00Z"
        );
        assert_eq!(
            read_start("2026-12-05T10:00[Europe/Paris]", &z),
            "2026-12-05T10:00:00+01:00"
        );
        let ny = zone("america/new_york").unwrap();
        assert_eq!(
            read_start("2026-12-05 10:00", &ny),
            "2026-12-05T10:00:00-05:00"
        );
        assert_eq!(
            read_start("2026-12-05 10:00", &zone("+05:30").unwrap()),
            "2026-12-05T10:00:00+05:30"
        );
    }

    #[test]
    fn a_clock_time_alone_is_on_the_given_day() {
        let z = london();
        let start = parse("start", "2026-07-05T09:00:00+01:00").unwrap();
        let t = read("from", "10:30", Some(&z), Some(start), DayEdge::Start).unwrap();
        assert_eq!(format(t), "2026-07-05T10:30:00+01:00");
        let err = read("from", "10:30", Some(&z), None, DayEdge::Start).unwrap_err();
        assert!(err.to_string().contains("has no date"), "{err}");
    }

    #[test]
    fn summer_time_gaps_are_refused_and_folds_take_the_first() {
        let z = london();
        // 29 March 2026: 01:00 GMT becomes 02:00 BST; 01:30 never happens.
        let err = read("start", "2026-03-29 01:30", Some(&z), None, DayEdge::Start)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist in Europe/London"), "{err}");
        // 25 October 2026: 01:30 happens twice; the first is BST.
        assert_eq!(
            read_start("2026-10-25 01:30", &z),
            "2026-10-25T01:30:00+01:00"
        );
    }

    #[test]
    fn bad_times_and_unknown_zones_say_what_works() {
        let err = zone("Europe/Londn").unwrap_err().to_string();
        assert!(err.contains("\"Europe/Londn\" is unknown"), "{err}");
        assert!(err.contains("Europe/London"), "{err}");
        for bad in ["tomorrow", "2026-13-05 10:00", "10:61", "5/12/2026"] {
            let err = read("start", bad, Some(&london()), None, DayEdge::Start)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("is not a time") && err.contains("2026-12-05 10:00"),
                "{err}"
            );
        }
        let err = read("start", "2026-12-05 10:00", None, None, DayEdge::Start)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no time zone"), "{err}");
        // RFC 3339 needs no zone.
        assert!(read("start", "2026-12-05T10:00:00Z", None, None, DayEdge::Start).is_ok());
    }

    #[test]
    fn stored_times_show_in_the_readers_zone() {
        let stored = "2026-07-05T09:00:00Z";
        assert_eq!(show(stored, &london()), "Sun 5 Jul 2026 10:00 BST");
        assert_eq!(
            show(stored, &zone("Asia/Tokyo").unwrap()),
            "Sun 5 Jul 2026 18:00 JST"
        );
        assert_eq!(
            show_span(stored, "2026-07-05T15:00:00Z", &london()),
            "Sun 5 Jul 2026 10:00 to 16:00 BST"
        );
        assert_eq!(show_clock(stored, &london()), "10:00");
        assert_eq!(
            show_span(
                "2026-07-05T00:00:00+01:00",
                "2026-07-06T00:00:00+01:00",
                &london()
            ),
            "Sun 5 Jul 2026, all day"
        );
        assert_eq!(
            show_span(
                "2026-07-05T00:00:00+01:00",
                "2026-07-07T00:00:00+01:00",
                &london()
            ),
            "Sun 5 Jul 2026 to Mon 6 Jul 2026, all day"
        );
        assert_eq!(show("not a time", &london()), "not a time");
        assert_eq!(zone_name(&london()), "Europe/London");
    }
}
