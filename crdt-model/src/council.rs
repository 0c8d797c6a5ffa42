//! Rolling leadership: the council rota lives in the community document, so no one carries
//! the community alone. Terms are keyed by id and leads by member id, so concurrent edits
//! of different terms, or of different leads of one term, all survive a merge.

use std::collections::{BTreeMap, BTreeSet};

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::api::MemberRef;
use crate::member::{Member, Willingness};
use crate::session::Session;
use crate::{ModelError, text, when as t};

#[derive(Clone, Debug, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub member_id: String,
    pub name: String,
    pub terms_led: u32,
    /// End of the last term they led, if any.
    pub last_led: Option<String>,
    /// Sessions attended in the last 180 days.
    pub recent_attendance: u32,
    /// Willing, or not asked yet (members who said "not now" are never suggested).
    pub willingness: Willingness,
}

/// Fair suggestions for the next term, and who the organiser still needs to ask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestions {
    /// Fairest first: never led, then led least and longest ago, then who attends most,
    /// then who said they are willing.
    pub suggestions: Vec<Suggestion>,
    /// Members nobody has asked yet (leads of the current and upcoming terms left out).
    pub not_asked: Vec<MemberRef>,
    /// Members who said "not now": never suggested.
    pub not_now: Vec<MemberRef>,
    /// Leads of the current and upcoming terms: never suggested, they already have a turn.
    pub leading: Vec<MemberRef>,
}

/// Fair next leads among every current member who has not said "not now" and is not
/// leading the current or an upcoming term: those who have led least, then longest ago
/// (never first), then who attend most, then who said they are willing; ties by name.
pub fn suggest(
    terms: &[Term],
    members: &[Member],
    sessions: &[Session],
    today: Date,
    count: usize,
) -> Suggestions {
    let leading: BTreeSet<&str> = terms
        .iter()
        .filter(|t| t.is_current(today) || t.is_upcoming(today))
        .flat_map(|t| t.leads.keys().map(String::as_str))
        .collect();
    let mut current: Vec<&Member> = members.iter().filter(|m| !m.removed).collect();
    current.sort_by(|a, b| {
        text::fold(&a.name)
            .cmp(&text::fold(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let refs = |keep: &dyn Fn(&Member) -> bool| -> Vec<MemberRef> {
        current
            .iter()
            .filter(|m| keep(m))
            .map(|m| MemberRef {
                id: m.id.clone(),
                name: m.name.clone(),
            })
            .collect()
    };
    let is_leading = |m: &Member| leading.contains(m.id.as_str());

    let window_start = today - time::Duration::days(180);
    let mut suggestions: Vec<Suggestion> = current
        .iter()
        .filter(|m| m.council != Willingness::NotNow && !is_leading(m))
        .map(|m| {
            let led: Vec<&Term> = terms
                .iter()
                .filter(|t| t.leads.contains_key(&m.id))
                .collect();
            let recent_attendance = sessions
                .iter()
                .filter(|s| !s.is_cancelled() && s.attendance.contains_key(&m.id))
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
                willingness: m.council,
            }
        })
        .collect();
    // `current` is already in name order and the sort is stable: ties stay by name.
    suggestions.sort_by(|a, b| {
        a.terms_led
            .cmp(&b.terms_led)
            .then_with(|| a.last_led.cmp(&b.last_led)) // None (never) sorts first
            .then_with(|| b.recent_attendance.cmp(&a.recent_attendance))
            .then_with(|| a.willingness.cmp(&b.willingness)) // willing before not asked
    });
    suggestions.truncate(count);
    Suggestions {
        suggestions,
        not_asked: refs(&|m| m.council == Willingness::NotAsked && !is_leading(m)),
        not_now: refs(&|m| m.council == Willingness::NotNow),
        leading: refs(&|m| is_leading(m)),
    }
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

    fn members(names: &[&str]) -> Vec<Member> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect()
    }

    fn names(s: &Suggestions) -> Vec<&str> {
        s.suggestions.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn suggestions_favour_who_has_led_least_and_longest_ago() {
        let members = members(&["Ann", "Bob", "Cat", "Dan"]);
        let terms = vec![
            Term::new("2025-01-01", "2025-03-31", &["m0".into(), "m1".into()]).unwrap(),
            Term::new("2025-04-01", "2025-06-30", &["m0".into()]).unwrap(),
            Term::new("2025-07-01", "2025-09-30", &["m2".into()]).unwrap(),
        ];
        let today = t::date_of("2026-01-01").unwrap();
        let suggested = suggest(&terms, &members, &[], today, 3);
        // Dan never led; Bob and Cat led once, Bob longer ago; Ann led twice.
        assert_eq!(names(&suggested), ["Dan", "Bob", "Cat"]);
    }

    // Issue 10, wrong answer 2: suggestions came only from members who had opted in (the
    // default was out), so everyone who had never led was left out, while the member
    // leading the current term was suggested.
    #[test]
    fn suggestions_are_fair_to_everyone_not_opted_out_and_skip_current_leads() {
        let mut members = members(&[
            "Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lee",
            "Max",
        ]);
        // Ann leads now and said she is willing; Bob and Cat are willing too; Dan said
        // "not now"; nobody has asked the other nine.
        for m in &mut members[0..3] {
            m.set_council(Willingness::Willing);
        }
        members[3].set_council(Willingness::NotNow);
        let terms = vec![
            Term::new("2025-01-01", "2025-03-31", &["m1".into()]).unwrap(),
            Term::new("2026-01-01", "2026-12-31", &["m0".into()]).unwrap(),
            Term::new("2027-01-01", "2027-03-31", &["m12".into()]).unwrap(),
        ];
        let today = t::date_of("2026-06-01").unwrap();
        let s = suggest(&terms, &members, &[], today, 20);
        assert_eq!(
            names(&s),
            [
                // Never led, willing first, then not asked yet (by name).
                "Cat", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lee",
                // Led before.
                "Bob",
            ]
        );
        assert!(
            !names(&s).contains(&"Ann"),
            "the current lead is never suggested"
        );
        assert!(!names(&s).contains(&"Max"), "nor the next term's lead");
        assert!(!names(&s).contains(&"Dan"), "nor who said not now");
        let refs = |r: &[MemberRef]| r.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            refs(&s.not_asked),
            ["Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lee"]
        );
        assert_eq!(refs(&s.not_now), ["Dan"]);
        assert_eq!(refs(&s.leading), ["Ann", "Max"]);
        assert_eq!(s.suggestions[1].willingness, Willingness::NotAsked);
        assert_eq!(
            names(&suggest(&terms, &members, &[], today, 2)),
            ["Cat", "Eve"]
        );
    }
}
