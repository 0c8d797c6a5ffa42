//! Community health: is the energy waning before the community fizzles out?
//!
//! Measures borrowed from CHAOSS, the Orbit model and Emily Webber's work on communities of
//! practice: sessions held per month, attendance per session and its trend, the share of
//! members active lately, members who drifted away (came before, not lately), and skills
//! people want to grow that nobody teaches.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::knowledge::Knowledge;
use crate::member::Member;
use crate::session::Session;
use crate::skills::{self, SkillSummary};
use crate::when;

/// "Lately": the last 90 days.
pub const ACTIVE_DAYS: i64 = 90;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub today: String,
    pub members: usize,
    /// The last 12 months, oldest first, including months with no session.
    pub sessions_per_month: Vec<Month>,
    /// Past sessions, oldest first.
    pub attendance: Vec<SessionAttendance>,
    pub attendance_trend: Trend,
    /// Members active in the last 90 days: attended, proposed, shared, asked, answered or
    /// updated their skills.
    pub active_members: usize,
    /// `active_members / members`, 0.0-1.0.
    pub active_share: f64,
    pub new_members: usize,
    /// Came to a session before the last 90 days, not active since.
    pub drifted: Vec<Drifted>,
    /// Skills people want to grow and nobody can teach.
    pub untaught_wants: Vec<String>,
    /// The fewest people who host half of the past sessions (organiser load).
    pub organisers_for_half: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    pub sessions: u32,
    pub attendance: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionAttendance {
    pub id: String,
    pub title: String,
    pub start: String,
    pub attended: u32,
    pub going: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// rising, steady, falling, or unknown (fewer than two past sessions).
    pub direction: String,
    /// Average attendance of the most recent half (at most 3) of past sessions.
    pub recent_average: f64,
    /// Average attendance of the sessions before those.
    pub earlier_average: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drifted {
    pub member_id: String,
    pub name: String,
    /// Date of the last session they attended.
    pub last_attended: String,
}

pub fn report(
    members: &[Member],
    sessions: &[Session],
    knowledge: &[Knowledge],
    taxonomy: &[String],
    today: Date,
) -> HealthReport {
    let members: Vec<&Member> = members.iter().filter(|m| !m.removed).collect();
    let window_start = today - Duration::days(ACTIVE_DAYS);
    let in_window =
        |stored: &str| when::date_of(stored).is_some_and(|d| d >= window_start && d <= today);

    let mut past: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.start_time().is_some_and(|t| t.date() <= today))
        .collect();
    past.sort_by_key(|s| s.start_time());

    let attendance: Vec<SessionAttendance> = past
        .iter()
        .map(|s| SessionAttendance {
            id: s.id.clone(),
            title: s.title.clone(),
            start: s.start.clone(),
            attended: s.attendance.len() as u32,
            going: s.rsvps.values().filter(|r| r.status == "going").count() as u32,
        })
        .collect();

    // Who did something lately.
    let mut active: HashSet<&str> = HashSet::new();
    for s in &past {
        if in_window(&s.start) {
            active.extend(s.attendance.keys().map(String::as_str));
        }
    }
    for s in sessions {
        active.extend(
            s.proposals
                .values()
                .filter(|p| in_window(&p.at))
                .map(|p| p.by.as_str()),
        );
    }
    for k in knowledge {
        active.extend(
            k.entries
                .values()
                .filter(|e| in_window(&e.at))
                .map(|e| e.shared_by.as_str()),
        );
        for q in k.questions.values() {
            if in_window(&q.at) {
                active.insert(q.asked_by.as_str());
            }
            active.extend(
                q.answers
                    .values()
                    .filter(|a| in_window(&a.at))
                    .map(|a| a.by.as_str()),
            );
        }
    }
    for m in &members {
        if m.skills.values().any(|r| in_window(&r.updated)) {
            active.insert(m.id.as_str());
        }
    }
    let active_members = members
        .iter()
        .filter(|m| active.contains(m.id.as_str()))
        .count();

    let drifted = members
        .iter()
        .filter(|m| !active.contains(m.id.as_str()))
        .filter_map(|m| {
            let last = past
                .iter()
                .filter(|s| s.attendance.contains_key(&m.id))
                .filter_map(|s| s.start_time())
                .max()?;
            Some(Drifted {
                member_id: m.id.clone(),
                name: m.name.clone(),
                last_attended: last.date().to_string(),
            })
        })
        .collect();

    let owned: Vec<Member> = members.iter().map(|m| (*m).clone()).collect();
    let summaries: Vec<SkillSummary> = skills::summarise(taxonomy, &owned);
    let untaught_wants = summaries
        .iter()
        .filter(|s| s.want_to_grow > 0 && s.teachers == 0)
        .map(|s| s.skill.clone())
        .collect();

    HealthReport {
        today: today.to_string(),
        members: members.len(),
        sessions_per_month: per_month(&past, today),
        attendance_trend: trend(&attendance),
        attendance,
        active_members,
        active_share: if members.is_empty() {
            0.0
        } else {
            active_members as f64 / members.len() as f64
        },
        new_members: members.iter().filter(|m| in_window(&m.joined)).count(),
        drifted,
        untaught_wants,
        organisers_for_half: organisers_for_half(&past),
    }
}

fn per_month(past: &[&Session], today: Date) -> Vec<Month> {
    let key = |d: Date| format!("{:04}-{:02}", d.year(), u8::from(d.month()));
    let mut months: BTreeMap<String, Month> = BTreeMap::new();
    let (mut year, mut month) = (today.year(), u8::from(today.month()));
    for _ in 0..12 {
        let k = format!("{year:04}-{month:02}");
        months.insert(
            k.clone(),
            Month {
                month: k,
                sessions: 0,
                attendance: 0,
            },
        );
        (year, month) = if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        };
    }
    for s in past {
        if let Some(m) = s.start_time().and_then(|t| months.get_mut(&key(t.date()))) {
            m.sessions += 1;
            m.attendance += s.attendance.len() as u32;
        }
    }
    months.into_values().collect()
}

fn trend(attendance: &[SessionAttendance]) -> Trend {
    let counts: Vec<f64> = attendance.iter().map(|a| f64::from(a.attended)).collect();
    if counts.len() < 2 {
        return Trend {
            direction: "unknown".into(),
            recent_average: counts.first().copied().unwrap_or(0.0),
            earlier_average: 0.0,
        };
    }
    let recent_len = (counts.len() / 2).clamp(1, 3);
    let (earlier, recent) = counts.split_at(counts.len() - recent_len);
    let earlier = &earlier[earlier.len().saturating_sub(3)..];
    let average = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (recent_average, earlier_average) = (average(recent), average(earlier));
    // Within 10% either way counts as steady.
    let direction = if recent_average > earlier_average * 1.1 {
        "rising"
    } else if recent_average < earlier_average * 0.9 {
        "falling"
    } else {
        "steady"
    };
    Trend {
        direction: direction.into(),
        recent_average,
        earlier_average,
    }
}

fn organisers_for_half(past: &[&Session]) -> usize {
    let mut hosted: BTreeMap<&str, usize> = BTreeMap::new();
    for s in past {
        for host in s.hosts.keys() {
            *hosted.entry(host.as_str()).or_default() += 1;
        }
    }
    let mut counts: Vec<usize> = hosted.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let half = past.len().div_ceil(2);
    let mut covered = 0;
    for (i, c) in counts.iter().enumerate() {
        covered += c;
        if covered >= half {
            return i + 1;
        }
    }
    counts.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::NewSession;

    fn session(id: &str, start: &str, attendees: &[&str], host: &str) -> Session {
        let mut s = Session::new(
            id,
            &NewSession {
                title: format!("Session {id}"),
                kind: "meetup".into(),
                start: format!("{start}T18:00:00Z"),
                end: format!("{start}T19:00:00Z"),
                hosts: vec![host.into()],
                ..NewSession::default()
            },
        )
        .unwrap();
        for a in attendees {
            s.attend(a, start);
        }
        s
    }

    #[test]
    fn waning_energy_shows_as_falling_attendance_and_drifted_members() {
        let members: Vec<Member> = ["Ann", "Bob", "Cat", "Dan"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        let sessions = vec![
            session("s1", "2026-03-01", &["m0", "m1", "m2", "m3"], "m0"),
            session("s2", "2026-05-01", &["m0", "m1", "m2"], "m0"),
            session("s3", "2026-10-01", &["m0"], "m1"),
            session("s4", "2026-11-01", &["m0"], "m0"),
            session("s5", "2026-12-20", &[], "m0"), // upcoming: not counted
        ];
        let today = when::date_of("2026-11-25").unwrap();
        let r = report(&members, &sessions, &[], &[], today);
        assert_eq!(r.attendance.len(), 4);
        assert_eq!(r.attendance_trend.direction, "falling");
        assert_eq!(r.active_members, 1);
        assert!((r.active_share - 0.25).abs() < 1e-9);
        let drifted: Vec<_> = r.drifted.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(drifted, ["Bob", "Cat", "Dan"]);
        assert_eq!(r.sessions_per_month.len(), 12);
        assert_eq!(r.sessions_per_month.last().unwrap().month, "2026-11");
        assert_eq!(r.sessions_per_month.last().unwrap().sessions, 1);
        assert_eq!(r.organisers_for_half, 1);
    }

    #[test]
    fn an_empty_community_is_reported_without_dividing_by_zero() {
        let today = when::date_of("2026-11-25").unwrap();
        let r = report(&[], &[], &[], &[], today);
        assert_eq!(r.active_share, 0.0);
        assert_eq!(r.attendance_trend.direction, "unknown");
    }
}
