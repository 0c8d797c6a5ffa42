//! The skills audit: self-ratings on a 0-4 scale, and what the community learns from them.
//!
//! It is a map for growing together, never a performance check: ratings are self-assessed
//! and the queries here answer "who can help me?" and "where are we thin?".

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::member::Member;

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
pub struct Helper {
    pub member_id: String,
    pub name: String,
    pub team: String,
    pub level: SkillLevel,
    pub wants_to_grow: bool,
}

/// The lowest level at which someone is offered as help: "practising" and up.
pub const HELP_THRESHOLD: SkillLevel = SkillLevel::Practising;

/// Who can help with `skill`: members at [`HELP_THRESHOLD`] or above, can-teach first, ties
/// broken by name (case-insensitively) so the answer is the same on every replica.
pub fn who_can_help<'a>(members: impl IntoIterator<Item = &'a Member>, skill: &str) -> Vec<Helper> {
    let key = skill_key(skill);
    let mut helpers: Vec<Helper> = members
        .into_iter()
        .filter_map(|m| {
            let rating = m.skills.get(&key)?;
            (rating.level()? >= HELP_THRESHOLD).then(|| Helper {
                member_id: m.id.clone(),
                name: m.name.clone(),
                team: m.team.clone(),
                level: rating.level().unwrap_or(SkillLevel::None),
                wants_to_grow: rating.grow,
            })
        })
        .collect();
    helpers.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.member_id.cmp(&b.member_id))
    });
    helpers
}

/// Who wants to grow `skill` (at any level), by name: the people a helper could teach.
pub fn wants_to_learn<'a>(
    members: impl IntoIterator<Item = &'a Member>,
    skill: &str,
) -> Vec<Helper> {
    let key = skill_key(skill);
    let mut learners: Vec<Helper> = members
        .into_iter()
        .filter_map(|m| {
            let rating = m.skills.get(&key).filter(|r| r.grow)?;
            Some(Helper {
                member_id: m.id.clone(),
                name: m.name.clone(),
                team: m.team.clone(),
                level: rating.level().unwrap_or(SkillLevel::None),
                wants_to_grow: true,
            })
        })
        .collect();
    learners.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.member_id.cmp(&b.member_id))
    });
    learners
}

/// Per skill, how the community stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    let mut order: Vec<String> = taxonomy.to_vec();
    let mut seen: BTreeMap<String, ()> = order.iter().map(|s| (skill_key(s), ())).collect();
    for member in members.clone() {
        for rating in member.skills.values() {
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
            for rating in members
                .clone()
                .into_iter()
                .filter_map(|m| m.skills.get(&key))
            {
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
    use crate::member::{Member, Rating};

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
    fn learners_are_everyone_who_wants_to_grow_the_skill() {
        let members = [
            member("1", "zoe", &[("Discovery", 1, true)]),
            member("2", "Bea", &[("discovery", 4, false)]),
            member("3", "amir", &[("DISCOVERY", 3, true)]),
        ];
        let names: Vec<_> = wants_to_learn(&members, "Discovery")
            .into_iter()
            .map(|h| (h.name, u8::from(h.level)))
            .collect();
        assert_eq!(names, [("amir".to_string(), 3), ("zoe".to_string(), 1)]);
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
