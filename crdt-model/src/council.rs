//! Rolling leadership: the council rota lives in the community document, so no one carries
//! the community alone. Terms are keyed by id and leads by member id, so concurrent edits
//! of different terms, or of different leads of one term, all survive a merge.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::member::Member;
use crate::session::Session;
use crate::{ModelError, text, when as t};

#[derive(Clone, Debug, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Term {
    /// `YYYY-MM-DD`, inclusive.
    pub start: String,
    /// `YYYY-MM-DD`, inclusive.
    pub end: String,
    /// Member ids of the people steering in this term.
    pub leads: BTreeMap<String, bool>,
}

impl Term {
    pub fn new(start: &str, end: &str, leads: &[String]) -> Result<Self, ModelError> {
        let start = text::date("start", start)?;
        let end = text::date("end", end)?;
        if end < start {
            return Err(ModelError::Invalid {
                field: "end",
                reason: format!("{end} is before the start {start}"),
            });
        }
        if leads.is_empty() {
            return Err(ModelError::Empty { field: "leads" });
        }
        Ok(Term {
            start,
            end,
            leads: leads.iter().map(|l| (l.clone(), true)).collect(),
        })
    }

    fn dates(&self) -> Option<(Date, Date)> {
        Some((t::date_of(&self.start)?, t::date_of(&self.end)?))
    }

    pub fn is_current(&self, today: Date) -> bool {
        self.dates().is_some_and(|(s, e)| s <= today && today <= e)
    }

    pub fn is_upcoming(&self, today: Date) -> bool {
        self.dates().is_some_and(|(s, _)| s > today)
    }
}

/// Why someone is suggested to lead next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub member_id: String,
    pub name: String,
    pub terms_led: u32,
    /// End of the last term they led, if any.
    pub last_led: Option<String>,
    /// Sessions attended in the last 180 days.
    pub recent_attendance: u32,
    pub opted_in: bool,
}

/// Fair next leads: among members who opted in (everyone, if nobody has), those who have
/// led least, then longest ago (never first), then who attend most; ties by name.
pub fn suggest(
    terms: &[Term],
    members: &[Member],
    sessions: &[Session],
    today: Date,
    count: usize,
) -> Vec<Suggestion> {
    let anyone_opted_in = members.iter().any(|m| m.council_opt_in);
    let window_start = today - time::Duration::days(180);
    let mut out: Vec<Suggestion> = members
        .iter()
        .filter(|m| !m.removed && (!anyone_opted_in || m.council_opt_in))
        .map(|m| {
            let led: Vec<&Term> = terms
                .iter()
                .filter(|t| t.leads.contains_key(&m.id))
                .collect();
            let recent_attendance = sessions
                .iter()
                .filter(|s| s.attendance.contains_key(&m.id))
                .filter(|s| {
                    s.start_time()
                        .is_some_and(|st| st.date() >= window_start && st.date() <= today)
                })
                .count() as u32;
            Suggestion {
                member_id: m.id.clone(),
                name: m.name.clone(),
                terms_led: led.len() as u32,
                last_led: led.iter().map(|t| t.end.clone()).max(),
                recent_attendance,
                opted_in: m.council_opt_in,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.terms_led
            .cmp(&b.terms_led)
            .then_with(|| a.last_led.cmp(&b.last_led)) // None (never) sorts first
            .then_with(|| b.recent_attendance.cmp(&a.recent_attendance))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.member_id.cmp(&b.member_id))
    });
    out.truncate(count);
    out
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;
    use crate::GuildDoc;
    use crate::community::Community;

    #[test]
    fn terms_validate_dates_and_leads() {
        assert!(Term::new("2026-02-01", "2026-01-01", &["a".into()]).is_err());
        assert!(Term::new("2026-01-01", "2026-02-01", &[]).is_err());
        assert!(Term::new("2026-01-01", "someday", &["a".into()]).is_err());
        let term = Term::new("2026-01-01", "2026-03-31", &["a".into()]).unwrap();
        let day = |s| t::date_of(s).unwrap();
        assert!(term.is_current(day("2026-03-31")));
        assert!(term.is_upcoming(day("2025-12-31")));
    }

    #[test]
    fn concurrent_council_edits_merge() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        Community::new("c", "C", "", "t")
            .unwrap()
            .write(&mut a)
            .unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Community::update(&mut a, |c| {
            c.council.insert(
                "t1".into(),
                Term::new("2026-01-01", "2026-03-31", &["m1".into()])?,
            );
            Ok(())
        })
        .unwrap();
        Community::update(&mut b, |c| {
            c.council.insert(
                "t2".into(),
                Term::new("2026-04-01", "2026-06-30", &["m2".into()])?,
            );
            Ok(())
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        let c = Community::read(&a).unwrap();
        assert_eq!(c.council.len(), 2);
    }

    #[test]
    fn suggestions_favour_who_has_led_least_and_longest_ago() {
        let members: Vec<Member> = ["Ann", "Bob", "Cat", "Dan"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        let terms = vec![
            Term::new("2025-01-01", "2025-03-31", &["m0".into(), "m1".into()]).unwrap(),
            Term::new("2025-04-01", "2025-06-30", &["m0".into()]).unwrap(),
            Term::new("2025-07-01", "2025-09-30", &["m2".into()]).unwrap(),
        ];
        let today = t::date_of("2026-01-01").unwrap();
        let names: Vec<_> = suggest(&terms, &members, &[], today, 3)
            .into_iter()
            .map(|s| s.name)
            .collect();
        // Dan never led; Bob and Cat led once, Bob longer ago; Ann led twice.
        assert_eq!(names, ["Dan", "Bob", "Cat"]);
    }

    #[test]
    fn when_some_opted_in_only_they_are_suggested() {
        let mut members: Vec<Member> = ["Ann", "Bob"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        members[1].council_opt_in = true;
        let today = t::date_of("2026-01-01").unwrap();
        let names: Vec<_> = suggest(&[], &members, &[], today, 5)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["Bob"]);
    }
}
