//! Community health: is the energy waning before the community fizzles out?
//!
//! Measures borrowed from CHAOSS, the Orbit model and Emily Webber's work on communities of
//! practice: sessions held per month, attendance per session and its trend, the share of
//! members active lately, members who drifted away (came before, not lately) and members who
//! never came, skills people want to grow that nobody teaches, and how the skills audit moved.
//!
//! Activity is what members did themselves: came to a session, proposed, voted, shared,
//! asked, answered, or rated their own skills. A rating someone else entered for them
//! (`--member`) says nothing about whether they are still around, so it does not count.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::knowledge::Knowledge;
use crate::member::Member;
use crate::session::Session;
use crate::skills::{self, SkillMovement, SkillSummary, StaleRatings};
use crate::when;

/// "Lately": the last 90 days.
pub const ACTIVE_DAYS: i64 = 90;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    pub today: String,
    pub members: usize,
    /// The last 12 months, oldest first, including months with no session.
    pub sessions_per_month: Vec<Month>,
    /// Past sessions, oldest first.
    pub attendance: Vec<SessionAttendance>,
    pub attendance_trend: Trend,
    /// Members who did something themselves in the last 90 days: came, proposed, voted,
    /// shared, asked, answered or rated their own skills.
    pub active_members: usize,
    /// `active_members / members`, 0.0-1.0.
    pub active_share: f64,
    /// Joined in the last 90 days.
    pub new_members: usize,
    /// Came to a session before the last 90 days, not active since.
    pub drifted: Vec<Drifted>,
    /// Joined more than 90 days ago and never came to a session.
    pub never_came: Vec<NeverCame>,
    /// Skills people want to grow and nobody can teach.
    pub untaught_wants: Vec<String>,
    /// The fewest people who host half of the past sessions (organiser load).
    pub organisers_for_half: usize,
    /// The skills audit is compared with how it stood at the end of this day
    /// (`YYYY-MM-DD`; by default six months ago).
    pub skills_since: String,
    /// Skills whose strength changed since `skills_since`, biggest change first.
    pub skills_moved: Vec<SkillMovement>,
    /// Members whose ratings have not changed for six months: worth a nudge to re-rate.
    pub stale_ratings: Vec<StaleRatings>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    pub sessions: u32,
    pub attendance: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionAttendance {
    pub id: String,
    pub title: String,
    pub start: String,
    /// Members who came (guests are counted apart, so the trend is the members').
    pub attended: u32,
    /// Guests from outside the community who came.
    #[serde(default)]
    pub guests: u32,
    pub going: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trend {
    /// rising, steady, falling, or unknown (fewer than two past sessions).
    pub direction: String,
    /// Average attendance of the most recent half (at most 3) of past sessions.
    pub recent_average: f64,
    /// Average attendance of the sessions before those.
    pub earlier_average: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Drifted {
    pub member_id: String,
    pub name: String,
    /// Date of the last session they attended.
    pub last_attended: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NeverCame {
    pub member_id: String,
    pub name: String,
    pub joined: String,
    /// They did something else lately (asked, answered, shared, rated their skills).
    pub active_lately: bool,
}

/// How healthy the community is on `today`; the skills audit is compared with how it stood
/// at the end of `skills_since`.
pub fn report(
    members: &[Member],
    sessions: &[Session],
    knowledge: &[Knowledge],
    taxonomy: &[String],
    today: Date,
    skills_since: Date,
) -> HealthReport {
    let members: Vec<&Member> = members.iter().filter(|m| !m.removed).collect();
    let window_start = today - Duration::days(ACTIVE_DAYS);
    let in_window =
        |stored: &str| when::date_of(stored).is_some_and(|d| d >= window_start && d <= today);

    // A cancelled session was not held: it must not look like one nobody came to.
    let sessions: Vec<&Session> = sessions.iter().filter(|s| !s.is_cancelled()).collect();
    let mut past: Vec<&Session> = sessions
        .iter()
        .copied()
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
            guests: s.guest_attendance.len() as u32,
            going: s.rsvps.values().filter(|r| r.status == "going").count() as u32,
        })
        .collect();

    let active = active_lately(&members, &sessions, knowledge, window_start, today);
    let is_active = |m: &Member| active.contains(m.id.as_str());
    let active_members = members.iter().filter(|m| is_active(m)).count();

    let last_came = |m: &Member| {
        past.iter()
            .filter(|s| s.attendance.contains_key(&m.id))
            .filter_map(|s| s.start_time())
            .max()
    };
    let drifted = members
        .iter()
        .filter(|m| !is_active(m))
        .filter_map(|m| {
            Some(Drifted {
                member_id: m.id.clone(),
                name: m.name.clone(),
                last_attended: last_came(m)?.date().to_string(),
            })
        })
        .collect();
    let never_came = members
        .iter()
        .filter(|m| when::date_of(&m.joined).is_some_and(|d| d < window_start))
        .filter(|m| last_came(m).is_none())
        .map(|m| NeverCame {
            member_id: m.id.clone(),
            name: m.name.clone(),
            joined: m.joined.clone(),
            active_lately: is_active(m),
        })
        .collect();

    let owned: Vec<Member> = members.iter().map(|m| (*m).clone()).collect();
    let summaries: Vec<SkillSummary> = skills::summarise(taxonomy, &owned);
    let untaught_wants = summaries
        .iter()
        .filter(|s| s.want_to_grow > 0 && s.teachers == 0)
        .map(|s| s.skill.clone())
        .collect();
    let stale_before = skills::months_before(today, skills::STALE_MONTHS);

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
        never_came,
        untaught_wants,
        organisers_for_half: organisers_for_half(&past),
        skills_since: skills_since.to_string(),
        skills_moved: skills::movement(taxonomy, &owned, skills_since),
        stale_ratings: skills::stale(&owned, stale_before),
    }
}

/// Ids of members who did something themselves between `since` and `today`.
fn active_lately<'a>(
    members: &[&'a Member],
    sessions: &[&'a Session],
    knowledge: &'a [Knowledge],
    since: Date,
    today: Date,
) -> HashSet<&'a str> {
    let in_window = |stored: &str| when::date_of(stored).is_some_and(|d| d >= since && d <= today);
    let mut active: HashSet<&str> = HashSet::new();
    for s in sessions {
        let start = s.start_time().map(|t| t.date());
        // Came: attendance of the sessions held in the window.
        if start.is_some_and(|d| d >= since && d <= today) {
            active.extend(s.attendance.keys().map(String::as_str));
        }
        for p in s.proposals.values() {
            // A proposal entered on a colleague's behalf is not the colleague's activity
            // (older proposals do not say who entered them: they count, as they did).
            let self_made = p.created_by.is_empty() || p.created_by == p.by;
            if self_made && in_window(&p.at) {
                active.insert(p.by.as_str());
            }
            // A vote cast on a colleague's behalf is not the colleague's activity.
            let own_votes = p
                .votes
                .iter()
                .filter(|(v, _)| !p.proxy_votes.contains_key(*v));
            for (voter, vote) in own_votes {
                // Votes say when they were cast; older ones do not: a vote on a session
                // held in the window or still to come was cast lately enough.
                let lately = match &vote.at {
                    Some(at) => in_window(at),
                    None => start.is_some_and(|d| d >= since),
                };
                if lately {
                    active.insert(voter.as_str());
                }
            }
        }
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
    // Their own ratings only: one an organiser entered for them is not their activity.
    for m in members {
        if m.rated_own_skills(since, today) {
            active.insert(m.id.as_str());
        }
    }
    active
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
    use crate::skills::SkillLevel;

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

    // Merging sessions and health: a cancelled session counted as one held with nobody
    // there (a falsely falling trend), guests swelled member attendance, and a proposal
    // entered on a colleague's behalf counted as the colleague's activity.
    #[test]
    fn cancelled_sessions_guests_and_proxy_proposals_do_not_skew_health() {
        let members: Vec<Member> = ["Ann", "Bob", "Cat"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        let mut s1 = session("s1", "2026-10-01", &["m0", "m1"], "m0");
        s1.attend_guest("g1", "m0", "2026-10-01");
        s1.attend_guest("g2", "m0", "2026-10-01");
        let s2 = session("s2", "2026-10-15", &["m0", "m1"], "m0");
        let mut cancelled = session("s3", "2026-11-01", &[], "m0");
        cancelled
            .cancel("m0", "2026-10-30T10:00:00Z", "room flooded")
            .unwrap();
        let mut unconf = session("s4", "2026-12-20", &[], "m0");
        unconf.session_kind = "unconference".into();
        unconf
            .propose("p1", "Pricing", "talk", "m2", "2026-11-20T10:00:00Z")
            .unwrap();
        unconf.proposals.get_mut("p1").unwrap().created_by = "m0".into();
        let today = when::date_of("2026-11-25").unwrap();
        let r = report(
            &members,
            &[s1, s2, cancelled, unconf],
            &[],
            &[],
            today,
            today,
        );
        assert_eq!(r.attendance.len(), 2, "the cancelled session was not held");
        assert_eq!(r.attendance_trend.direction, "steady");
        assert_eq!((r.attendance[0].attended, r.attendance[0].guests), (2, 2));
        // Cat only had a talk proposed for her by Ann: not her own activity.
        assert_eq!(r.active_members, 2);
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
        let r = report(&members, &sessions, &[], &[], today, today);
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

    // Issue 10, wrong answer 1: any skills rating updated in the last 90 days counted as
    // the member being active, even one an organiser entered for them (`--member`). In a
    // 13-member community where 7 had not come for 3 to 5 months, health said "13 active
    // lately (100%)" and listed nobody as drifted.
    #[test]
    fn ratings_entered_by_an_organiser_do_not_hide_drift() {
        let mut members: Vec<Member> = (0..13)
            .map(|i| Member::for_tests(&format!("m{i:02}"), &format!("P{i:02}")))
            .collect();
        for m in &mut members {
            m.joined = "2025-06-01".into();
        }
        // The organiser (m00) re-rated everyone last week; P01 also rated herself.
        for m in &mut members {
            m.rate(
                "Discovery",
                SkillLevel::Aware,
                None,
                "m00",
                "2026-11-18T10:00:00Z",
            );
        }
        members[1].rate(
            "Roadmapping",
            SkillLevel::Practising,
            None,
            "m01",
            "2026-11-19T10:00:00Z",
        );
        let who = |range: std::ops::Range<usize>| -> Vec<String> {
            range.map(|i| format!("m{i:02}")).collect()
        };
        let mut sessions = vec![
            // 3 to 5 months ago: m00-m10 came.
            session("s1", "2026-06-20", &refs(&who(0..11)), "m00"),
            session("s2", "2026-08-01", &refs(&who(0..9)), "m00"),
            // Lately only m00, m02-m05 came.
            session("s3", "2026-10-01", &refs(&who(2..6)), "m00"),
            session("s4", "2026-11-10", &["m00", "m02"], "m00"),
        ];
        sessions[3].attend("m00", "2026-11-10");
        let today = when::date_of("2026-11-25").unwrap();
        let r = report(&members, &sessions, &[], &[], today, today);
        // m00, m02-m05 came lately; m01 rated her own skills: 6 of 13.
        assert_eq!(r.active_members, 6, "{r:#?}");
        assert!((r.active_share - 6.0 / 13.0).abs() < 1e-9);
        let drifted: Vec<_> = r.drifted.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(drifted, ["P06", "P07", "P08", "P09", "P10"]);
        assert_eq!(r.drifted[0].last_attended, "2026-08-01");
        assert_eq!(r.drifted[4].last_attended, "2026-06-20");
        // P11 and P12 joined long ago and never came: shown apart from the drifted.
        let never: Vec<_> = r.never_came.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(never, ["P11", "P12"]);
        assert!(!r.never_came[0].active_lately);
    }

    fn refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }

    #[test]
    fn votes_and_new_members_are_counted_fairly() {
        let mut members: Vec<Member> = ["Ann", "Bob", "Cat"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        members[2].joined = "2026-11-01".into();
        let mut upcoming = session("s1", "2026-12-20", &[], "m0");
        upcoming.session_kind = "unconference".into();
        upcoming
            .propose("p1", "Roadmaps", "talk", "m0", "2026-08-01T00:00:00Z")
            .unwrap();
        upcoming.proposals.get_mut("p1").unwrap().votes.insert(
            "m1".into(),
            crate::session::Vote {
                at: Some("2026-11-20T10:00:00Z".into()),
            },
        );
        let today = when::date_of("2026-11-25").unwrap();
        let r = report(&members, &[upcoming], &[], &[], today, today);
        // Bob voted on an upcoming session; Ann proposed long ago; Cat is new and has not
        // come yet: she is not "never came" until she has been a member for 90 days.
        assert_eq!(r.active_members, 1);
        assert_eq!(r.new_members, 1);
        assert!(r.never_came.iter().all(|n| n.name != "Cat"));
    }

    // Bug: a vote an organiser cast with `--member` counted as the member's own activity,
    // so health could hide a drifted member who had only been voted for.
    #[test]
    fn a_vote_cast_on_a_members_behalf_is_not_their_activity() {
        let members: Vec<Member> = ["Ann", "Bob"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        let mut s = session("s1", "2026-12-20", &[], "m0");
        s.session_kind = "unconference".into();
        s.propose("p1", "Roadmaps", "talk", "m0", "2026-06-01T00:00:00Z")
            .unwrap();
        s.propose("p2", "Pricing", "talk", "m0", "2026-06-01T00:00:00Z")
            .unwrap();
        let at = "2026-11-20T10:00:00Z";
        // Ann votes for Bob, on his behalf.
        s.vote_for("p1", "m1", "m0", true, at).unwrap();
        let today = when::date_of("2026-11-25").unwrap();
        let active =
            |s: &Session| report(&members, std::slice::from_ref(s), &[], &[], today, today);
        assert_eq!(
            active(&s).active_members,
            0,
            "nobody did anything themselves"
        );
        assert_eq!(s.proposals["p1"].votes.len(), 1, "the vote still counts");
        // Bob confirms it himself: now it is his.
        s.vote("p1", "m1", true, at).unwrap();
        assert!(s.proposals["p1"].proxy_votes.is_empty());
        assert_eq!(active(&s).active_members, 1);
        // Withdrawn and cast again for him: his no longer.
        s.vote("p1", "m1", false, at).unwrap();
        s.vote_for("p2", "m1", "m0", true, at).unwrap();
        assert_eq!(active(&s).active_members, 0);
        assert_eq!(s.proposals["p2"].proxy_votes["m1"], "m0");
    }

    #[test]
    fn the_skills_audit_shows_what_moved_and_who_to_nudge() {
        let mut members: Vec<Member> = ["Ann", "Bob", "Cat"]
            .iter()
            .enumerate()
            .map(|(i, n)| Member::for_tests(&format!("m{i}"), n))
            .collect();
        // The audit in March: nobody could teach discovery; Bob wanted to grow it.
        members[0].rate(
            "Discovery",
            SkillLevel::Practising,
            None,
            "m0",
            "2026-03-01T10:00:00Z",
        );
        members[1].rate(
            "Discovery",
            SkillLevel::Aware,
            Some(true),
            "m1",
            "2026-03-01T10:00:00Z",
        );
        members[2].rate(
            "Roadmapping",
            SkillLevel::CanTeach,
            None,
            "m2",
            "2026-03-01T10:00:00Z",
        );
        // Since then Ann grew into teaching it and Bob became experienced.
        members[0].rate(
            "Discovery",
            SkillLevel::CanTeach,
            None,
            "m0",
            "2026-10-01T10:00:00Z",
        );
        members[1].rate(
            "Discovery",
            SkillLevel::Experienced,
            Some(false),
            "m1",
            "2026-10-02T10:00:00Z",
        );
        let taxonomy = vec!["Discovery".to_string(), "Roadmapping".to_string()];
        let today = when::date_of("2026-11-25").unwrap();
        let since = when::date_of("2026-05-25").unwrap();
        let r = report(&members, &[], &[], &taxonomy, today, since);
        assert_eq!(r.skills_since, "2026-05-25");
        assert_eq!(r.skills_moved.len(), 1, "{:?}", r.skills_moved);
        let d = &r.skills_moved[0];
        assert_eq!(d.skill, "Discovery");
        assert_eq!((d.experienced_then, d.experienced_now), (0, 2));
        assert_eq!((d.teachers_then, d.teachers_now), (0, 1));
        assert_eq!((d.want_to_grow_then, d.want_to_grow_now), (1, 0));
        // Cat has not touched her ratings since March: more than six months.
        let stale: Vec<_> = r.stale_ratings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(stale, ["Cat"]);
    }

    #[test]
    fn an_empty_community_is_reported_without_dividing_by_zero() {
        let today = when::date_of("2026-11-25").unwrap();
        let r = report(&[], &[], &[], &[], today, today);
        assert_eq!(r.active_share, 0.0);
        assert_eq!(r.attendance_trend.direction, "unknown");
    }
}
