//! The skills audit: self-ratings on a 0-4 scale, and what the community learns from them.
//!
//! It is a map for growing together, never a performance check: ratings are self-assessed
//! and the queries here answer "who can help me?" and "where are we thin?".

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::member::{Member, Rating};
use crate::{ModelError, text, when};

/// Self-assessed level. Maps onto the UK DDaT framework with 0 for "none":
/// aware = Awareness, practising = Working, experienced = Practitioner, can teach = Expert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum SkillLevel {
    None = 0,
    Aware = 1,
    Practising = 2,
    Experienced = 3,
    CanTeach = 4,
}

impl SkillLevel {
    pub const ALL: [SkillLevel; 5] = [
        Self::None,
        Self::Aware,
        Self::Practising,
        Self::Experienced,
        Self::CanTeach,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Aware => "aware",
            Self::Practising => "practising",
            Self::Experienced => "experienced",
            Self::CanTeach => "can teach",
        }
    }

    /// Accepts a number 0-4 or a label ("can-teach", "Can teach", ...).
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        let normal = input.trim().to_lowercase().replace(['-', '_'], " ");
        if let Ok(n) = normal.parse::<u8>() {
            return Self::try_from(n);
        }
        Self::ALL
            .into_iter()
            .find(|level| level.label() == normal)
            .ok_or_else(|| invalid_level(input))
    }
}

fn invalid_level(input: impl fmt::Display) -> ModelError {
    ModelError::Invalid {
        field: "skill level",
        reason: format!(
            "{input} is not a level; use 0-4 (0 none, 1 aware, 2 practising, 3 experienced, 4 can teach)"
        ),
    }
}

impl TryFrom<u8> for SkillLevel {
    type Error = ModelError;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::ALL
            .get(usize::from(n))
            .copied()
            .ok_or_else(|| invalid_level(n))
    }
}

impl From<SkillLevel> for u8 {
    fn from(level: SkillLevel) -> u8 {
        level as u8
    }
}

impl fmt::Display for SkillLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", *self as u8, self.label())
    }
}

/// The key a skill is stored under: skill names compare case-insensitively and ignore
/// surrounding and repeated whitespace, so "User research" and "user  research" are one skill.
pub fn skill_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A sensible starting taxonomy for a product community: the DDaT product-manager skills
/// plus everyday craft skills. Communities extend it.
pub const DEFAULT_SKILLS: &[&str] = &[
    "Agile working",
    "DDaT perspective",
    "Financial ownership",
    "Life cycle perspective",
    "Operational management",
    "Problem ownership",
    "Product ownership",
    "Strategic ownership",
    "User focus",
    "User research",
    "Discovery",
    "Roadmapping",
    "Prioritisation",
    "Stakeholder management",
    "Data analysis",
    "Working with legal and commercial",
];

/// One person who can help with a skill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Helper {
    pub member_id: String,
    pub name: String,
    pub team: String,
    /// 0 none, 1 aware, 2 practising, 3 experienced, 4 can teach.
    #[cfg_attr(feature = "openapi", schema(value_type = u8, minimum = 0, maximum = 4))]
    pub level: SkillLevel,
    pub wants_to_grow: bool,
}

/// The lowest level at which someone is offered as help: "practising" and up.
pub const HELP_THRESHOLD: SkillLevel = SkillLevel::Practising;

/// Who can help with `skill`: members at [`HELP_THRESHOLD`] or above, can-teach first, ties
/// broken by name (case-insensitively) so the answer is the same on every replica.
pub fn who_can_help<'a>(members: impl IntoIterator<Item = &'a Member>, skill: &str) -> Vec<Helper> {
    let mut helpers = rated(members, skill, |level, _| level >= HELP_THRESHOLD);
    helpers.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| by_name(a, b)));
    helpers
}

/// Who wants to grow `skill`, so teachers and learners can be paired: those furthest from
/// it first, ties by name.
pub fn who_wants_to_learn<'a>(
    members: impl IntoIterator<Item = &'a Member>,
    skill: &str,
) -> Vec<Helper> {
    let mut learners = rated(members, skill, |_, grow| grow);
    learners.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| by_name(a, b)));
    learners
}

fn rated<'a>(
    members: impl IntoIterator<Item = &'a Member>,
    skill: &str,
    keep: impl Fn(SkillLevel, bool) -> bool,
) -> Vec<Helper> {
    let key = skill_key(skill);
    members
        .into_iter()
        .filter_map(|m| {
            let rating = m.skills.get(&key)?;
            let level = rating.level()?;
            keep(level, rating.grow).then(|| Helper {
                member_id: m.id.clone(),
                name: m.name.clone(),
                team: m.team.clone(),
                level,
                wants_to_grow: rating.grow,
            })
        })
        .collect()
}

fn by_name(a: &Helper, b: &Helper) -> std::cmp::Ordering {
    text::fold(&a.name)
        .cmp(&text::fold(&b.name))
        .then_with(|| a.member_id.cmp(&b.member_id))
}

/// Per skill, how the community stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkillSummary {
    pub skill: String,
    /// Members who rated themselves at each level 0..=4.
    pub levels: [u32; 5],
    /// Members at "experienced" or "can teach".
    pub experienced: u32,
    /// Members at "can teach".
    pub teachers: u32,
    /// Members who marked the skill as one they want to grow.
    pub want_to_grow: u32,
}

impl SkillSummary {
    /// How far demand to learn outstrips people who can teach; positive means a gap.
    pub fn gap(&self) -> i64 {
        i64::from(self.want_to_grow) - i64::from(self.teachers)
    }
}

/// One row per skill in the taxonomy (and any rated skill missing from it), in taxonomy order.
pub fn summarise<'a>(
    taxonomy: &[String],
    members: impl IntoIterator<Item = &'a Member> + Clone,
) -> Vec<SkillSummary> {
    summarise_ratings(taxonomy, members.into_iter().map(|m| &m.skills))
}

/// [`summarise`] over sets of ratings, one set per member (today's, or as they stood on
/// some day: [`Member::ratings_as_of`]).
pub fn summarise_ratings<'a>(
    taxonomy: &[String],
    ratings: impl IntoIterator<Item = &'a BTreeMap<String, Rating>>,
) -> Vec<SkillSummary> {
    let ratings: Vec<&BTreeMap<String, Rating>> = ratings.into_iter().collect();
    let mut order: Vec<String> = taxonomy.to_vec();
    let mut seen: BTreeMap<String, ()> = order.iter().map(|s| (skill_key(s), ())).collect();
    for set in &ratings {
        for rating in set.values() {
            if seen.insert(skill_key(&rating.name), ()).is_none() {
                order.push(rating.name.clone());
            }
        }
    }
    order
        .into_iter()
        .map(|skill| {
            let key = skill_key(&skill);
            let mut summary = SkillSummary {
                skill,
                levels: [0; 5],
                experienced: 0,
                teachers: 0,
                want_to_grow: 0,
            };
            for rating in ratings.iter().filter_map(|set| set.get(&key)) {
                if let Some(level) = rating.level() {
                    summary.levels[level as usize] += 1;
                    summary.experienced += u32::from(level >= SkillLevel::Experienced);
                    summary.teachers += u32::from(level == SkillLevel::CanTeach);
                }
                summary.want_to_grow += u32::from(rating.grow);
            }
            summary
        })
        .collect()
}

/// Strengths: skills with the most experienced people, best first (skills nobody is
/// experienced in are left out).
pub fn strengths(summaries: &[SkillSummary]) -> Vec<SkillSummary> {
    let mut out: Vec<_> = summaries
        .iter()
        .filter(|s| s.experienced > 0)
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        (b.experienced, b.teachers)
            .cmp(&(a.experienced, a.teachers))
            .then_with(|| skill_key(&a.skill).cmp(&skill_key(&b.skill)))
    });
    out
}

/// How one skill moved between two days of the audit: members rated experienced or better,
/// able to teach, and wanting to grow it, then and now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkillMovement {
    pub skill: String,
    pub experienced_then: u32,
    pub experienced_now: u32,
    pub teachers_then: u32,
    pub teachers_now: u32,
    pub want_to_grow_then: u32,
    pub want_to_grow_now: u32,
}

impl SkillMovement {
    /// Change in experienced-or-better members (teachers included).
    pub fn experienced_change(&self) -> i64 {
        i64::from(self.experienced_now) - i64::from(self.experienced_then)
    }

    pub fn teachers_change(&self) -> i64 {
        i64::from(self.teachers_now) - i64::from(self.teachers_then)
    }

    pub fn want_to_grow_change(&self) -> i64 {
        i64::from(self.want_to_grow_now) - i64::from(self.want_to_grow_then)
    }
}

/// The community's strengths on `since` (end of day) against today: every skill whose
/// experienced, teaching or want-to-grow counts changed, biggest change in strength first.
pub fn movement<'a>(
    taxonomy: &[String],
    members: impl IntoIterator<Item = &'a Member> + Clone,
    since: Date,
) -> Vec<SkillMovement> {
    let then_sets: Vec<BTreeMap<String, Rating>> = members
        .clone()
        .into_iter()
        .map(|m| m.ratings_as_of(since))
        .collect();
    let then = summarise_ratings(taxonomy, &then_sets);
    let now = summarise(taxonomy, members);
    let mut out: Vec<SkillMovement> = now
        .iter()
        .map(|n| {
            let t = then
                .iter()
                .find(|t| skill_key(&t.skill) == skill_key(&n.skill));
            let count = |f: fn(&SkillSummary) -> u32| t.map_or(0, f);
            SkillMovement {
                skill: n.skill.clone(),
                experienced_then: count(|s| s.experienced),
                experienced_now: n.experienced,
                teachers_then: count(|s| s.teachers),
                teachers_now: n.teachers,
                want_to_grow_then: count(|s| s.want_to_grow),
                want_to_grow_now: n.want_to_grow,
            }
        })
        .filter(|m| {
            m.experienced_change() != 0 || m.teachers_change() != 0 || m.want_to_grow_change() != 0
        })
        .collect();
    out.sort_by(|a, b| {
        let weight = |m: &SkillMovement| {
            (
                m.experienced_change().abs() + m.teachers_change().abs(),
                m.want_to_grow_change().abs(),
            )
        };
        weight(b)
            .cmp(&weight(a))
            .then_with(|| skill_key(&a.skill).cmp(&skill_key(&b.skill)))
    });
    out
}

/// Ratings older than this are worth a nudge to re-rate.
pub const STALE_MONTHS: u8 = 6;

/// A member whose ratings have not changed for [`STALE_MONTHS`] months.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaleRatings {
    pub member_id: String,
    pub name: String,
    /// RFC 3339 time of their newest rating.
    pub last_rated: String,
    pub skills_rated: usize,
}

/// Members whose newest rating is older than `older_than`, the longest-untouched first.
/// Members who never rated are not here (see [`never_rated`]).
pub fn stale<'a>(
    members: impl IntoIterator<Item = &'a Member>,
    older_than: Date,
) -> Vec<StaleRatings> {
    let mut out: Vec<StaleRatings> = members
        .into_iter()
        .filter(|m| !m.removed)
        .filter_map(|m| {
            let last = m.last_rated()?;
            when::date_of(last)
                .is_some_and(|d| d < older_than)
                .then(|| StaleRatings {
                    member_id: m.id.clone(),
                    name: m.name.clone(),
                    last_rated: last.to_owned(),
                    skills_rated: m.skills.len(),
                })
        })
        .collect();
    out.sort_by(|a, b| {
        a.last_rated
            .cmp(&b.last_rated)
            .then_with(|| text::fold(&a.name).cmp(&text::fold(&b.name)))
    });
    out
}

/// Members who have rated no skill at all.
pub fn never_rated<'a>(members: impl IntoIterator<Item = &'a Member>) -> Vec<&'a Member> {
    members
        .into_iter()
        .filter(|m| !m.removed && m.skills.is_empty())
        .collect()
}

/// The same day `months` calendar months earlier (the 31st becomes the month's last day).
pub fn months_before(day: Date, months: u8) -> Date {
    let total = day.year() * 12 + i32::from(u8::from(day.month())) - 1 - i32::from(months);
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .unwrap_or(Month::January);
    let last_day = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, day.day().min(last_day)).unwrap_or(day)
}

/// Gaps: skills people want to grow where fewer can teach than want to learn, widest first.
pub fn gaps(summaries: &[SkillSummary]) -> Vec<SkillSummary> {
    let mut out: Vec<_> = summaries.iter().filter(|s| s.gap() > 0).cloned().collect();
    out.sort_by(|a, b| {
        b.gap()
            .cmp(&a.gap())
            .then_with(|| skill_key(&a.skill).cmp(&skill_key(&b.skill)))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, name: &str, ratings: &[(&str, u8, bool)]) -> Member {
        let mut m = Member::for_tests(id, name);
        for (skill, level, grow) in ratings {
            m.skills.insert(
                skill_key(skill),
                Rating {
                    name: skill.to_string(),
                    level: u64::from(*level),
                    grow: *grow,
                    updated: "2026-01-01T00:00:00Z".into(),
                    by: id.into(),
                },
            );
        }
        m
    }

    #[test]
    fn levels_parse_from_numbers_and_labels() {
        assert_eq!(SkillLevel::parse("4").unwrap(), SkillLevel::CanTeach);
        assert_eq!(
            SkillLevel::parse("can-teach").unwrap(),
            SkillLevel::CanTeach
        );
        assert_eq!(SkillLevel::parse(" Aware ").unwrap(), SkillLevel::Aware);
        let err = SkillLevel::parse("7").unwrap_err().to_string();
        assert!(err.contains("use 0-4"), "{err}");
        assert!(SkillLevel::parse("guru").is_err());
    }

    #[test]
    fn skill_names_compare_case_insensitively() {
        assert_eq!(skill_key("  User   Research "), "user research");
        assert_eq!(skill_key("USER RESEARCH"), skill_key("user research"));
    }

    #[test]
    fn who_can_help_ranks_teachers_first_then_by_name() {
        let members = [
            member("1", "zoe", &[("Discovery", 3, false)]),
            member("2", "Bea", &[("discovery", 4, false)]),
            member("3", "amir", &[("DISCOVERY", 4, true)]),
            member("4", "Cy", &[("Discovery", 1, true)]),
        ];
        let names: Vec<_> = who_can_help(&members, "Discovery")
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(names, ["amir", "Bea", "zoe"]);
    }

    #[test]
    fn learners_are_listed_for_pairing_with_teachers() {
        let members = [
            member("1", "Zoe", &[("Discovery", 2, true)]),
            member("2", "Bea", &[("Discovery", 4, false)]),
            member("3", "Amir", &[("Discovery", 0, true)]),
            member("4", "Cy", &[("Discovery", 3, false)]),
        ];
        let names = |h: Vec<Helper>| h.into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(
            names(who_wants_to_learn(&members, "discovery")),
            ["Amir", "Zoe"]
        );
        assert_eq!(
            names(who_can_help(&members, "discovery")),
            ["Bea", "Cy", "Zoe"]
        );
    }

    #[test]
    fn six_months_before_keeps_the_calendar() {
        let day = |s| when::date_of(s).unwrap();
        assert_eq!(months_before(day("2026-11-25"), 6), day("2026-05-25"));
        assert_eq!(months_before(day("2026-03-15"), 6), day("2025-09-15"));
        assert_eq!(months_before(day("2026-08-31"), 6), day("2026-02-28"));
        assert_eq!(months_before(day("2026-01-01"), 12), day("2025-01-01"));
    }

    #[test]
    fn stale_ratings_and_members_who_never_rated() {
        let mut old = member("1", "Old", &[("Discovery", 2, false)]);
        old.skills.get_mut("discovery").unwrap().updated = "2025-12-01T00:00:00Z".into();
        let fresh = member("2", "Fresh", &[("Discovery", 2, false)]);
        let none = member("3", "None", &[]);
        let members = [old, fresh, none];
        let cutoff = when::date_of("2026-01-01").unwrap();
        let stale: Vec<_> = stale(&members, cutoff)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(stale, ["Old"]);
        let never: Vec<_> = never_rated(&members).into_iter().map(|m| &m.name).collect();
        assert_eq!(never, ["None"]);
    }

    #[test]
    fn gaps_are_skills_wanted_more_than_taught() {
        let members = [
            member(
                "1",
                "A",
                &[("Roadmapping", 1, true), ("Discovery", 4, false)],
            ),
            member(
                "2",
                "B",
                &[("Roadmapping", 0, true), ("Discovery", 2, true)],
            ),
        ];
        let taxonomy = vec!["Discovery".to_string(), "Roadmapping".to_string()];
        let summaries = summarise(&taxonomy, &members);
        let gaps: Vec<_> = gaps(&summaries).into_iter().map(|s| s.skill).collect();
        assert_eq!(gaps, ["Roadmapping"]);
        let strengths: Vec<_> = strengths(&summaries).into_iter().map(|s| s.skill).collect();
        assert_eq!(strengths, ["Discovery"]);
        assert_eq!(summaries[0].levels, [0, 0, 1, 0, 1]);
    }
}
