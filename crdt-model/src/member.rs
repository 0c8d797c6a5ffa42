//! Member profiles: a broad-church directory (any role, not only job titles) plus each
//! member's skills-audit self-ratings. One document per member.
//!
//! Removal rule: removing a member sets a `removed` tombstone and nothing ever clears it.
//! Reconcile writes only changed fields, so a concurrent edit of the profile on another
//! replica does not touch `removed`: after merging, the member stays removed (and their
//! concurrent edit is kept in the document but hidden from every view).

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::skills::{SkillLevel, skill_key};
use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError};

pub const SCHEMA: u64 = 1;

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Member {
    #[serde(skip)]
    pub kind: String,
    #[serde(skip)]
    pub schema: u64,
    pub id: String,
    pub name: String,
    /// Any role: product manager, service designer, researcher, "curious engineer".
    pub role: String,
    pub team: String,
    pub organisation: String,
    pub interests: Vec<String>,
    pub contact: String,
    /// Calendar date `YYYY-MM-DD`.
    pub joined: String,
    /// Member id of the onboarding buddy.
    pub buddy: Option<String>,
    /// Tombstone; see the module docs for the merge rule.
    pub removed: bool,
    /// Keyed by [`skill_key`] so names compare case-insensitively.
    pub skills: BTreeMap<String, Rating>,
    /// Willing to take a turn on the council.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub council_opt_in: bool,
    /// libp2p peer ids of this member's daemons (laptops) -> when each was added. Other
    /// members' daemons sync only with devices of current members (see `roster`).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub devices: BTreeMap<String, String>,
}

/// One self-rating in the skills audit.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Rating {
    /// The skill's display name as the taxonomy spells it.
    pub name: String,
    /// 0-4, see [`SkillLevel`]. Stored as a number; out-of-range values from a peer are
    /// ignored by [`Rating::level`].
    pub level: u64,
    /// "I want to grow this skill."
    pub grow: bool,
    /// RFC 3339 time of the rating.
    pub updated: String,
}

impl Rating {
    pub fn level(&self) -> Option<SkillLevel> {
        u8::try_from(self.level)
            .ok()
            .and_then(|n| SkillLevel::try_from(n).ok())
    }
}

impl GuildDoc for Member {
    const KIND: DocKind = DocKind::Member;
}

/// The fields a person fills in. `None` leaves a field unchanged in an update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: Option<String>,
    pub role: Option<String>,
    pub team: Option<String>,
    pub organisation: Option<String>,
    pub interests: Option<Vec<String>>,
    pub contact: Option<String>,
    pub joined: Option<String>,
    /// Member id of the onboarding buddy; an empty string clears it.
    pub buddy: Option<String>,
    /// Willing to take a turn on the council.
    #[serde(default)]
    pub council_opt_in: Option<bool>,
}

impl Member {
    /// A new member. `today` is the default joined date (`YYYY-MM-DD`).
    pub fn new(id: &str, profile: &Profile, today: &str) -> Result<Self, ModelError> {
        let name = profile.name.as_deref().unwrap_or_default();
        let mut member = Member {
            kind: DocKind::Member.as_str().into(),
            schema: SCHEMA,
            id: id.into(),
            name: text::required("name", name, MAX_LINE)?,
            role: String::new(),
            team: String::new(),
            organisation: String::new(),
            interests: Vec::new(),
            contact: String::new(),
            joined: text::date("joined", today)?,
            buddy: None,
            removed: false,
            skills: BTreeMap::new(),
            council_opt_in: false,
            devices: BTreeMap::new(),
        };
        member.apply(profile)?;
        Ok(member)
    }

    /// Applies the fields present in `profile`, validating each; on error nothing changes.
    pub fn apply(&mut self, profile: &Profile) -> Result<(), ModelError> {
        let mut next = self.clone();
        if let Some(name) = &profile.name {
            next.name = text::required("name", name, MAX_LINE)?;
        }
        if let Some(role) = &profile.role {
            next.role = text::optional("role", role, MAX_LINE)?;
        }
        if let Some(team) = &profile.team {
            next.team = text::optional("team", team, MAX_LINE)?;
        }
        if let Some(org) = &profile.organisation {
            next.organisation = text::optional("organisation", org, MAX_LINE)?;
        }
        if let Some(contact) = &profile.contact {
            next.contact = text::optional("contact", contact, MAX_TEXT)?;
        }
        if let Some(joined) = &profile.joined {
            next.joined = text::date("joined", joined)?;
        }
        if let Some(buddy) = &profile.buddy {
            let buddy = text::optional("buddy", buddy, MAX_LINE)?;
            if buddy == self.id {
                return Err(ModelError::Invalid {
                    field: "buddy",
                    reason: "a member cannot be their own onboarding buddy".into(),
                });
            }
            next.buddy = (!buddy.is_empty()).then_some(buddy);
        }
        if let Some(opt_in) = profile.council_opt_in {
            next.council_opt_in = opt_in;
        }
        if let Some(interests) = &profile.interests {
            let mut clean: Vec<String> = Vec::new();
            for interest in interests {
                let interest = text::required("interest", interest, MAX_LINE)?;
                if !clean.iter().any(|i| skill_key(i) == skill_key(&interest)) {
                    clean.push(interest);
                }
            }
            next.interests = clean;
        }
        *self = next;
        Ok(())
    }

    /// Records a self-rating. `skill` must already be resolved to its taxonomy spelling.
    pub fn rate(&mut self, skill: &str, level: SkillLevel, grow: bool, now: &str) {
        self.skills.insert(
            skill_key(skill),
            Rating {
                name: skill.to_owned(),
                level: u64::from(u8::from(level)),
                grow,
                updated: now.to_owned(),
            },
        );
    }

    pub fn has_interest(&self, interest: &str) -> bool {
        let wanted = skill_key(interest);
        self.interests.iter().any(|i| skill_key(i) == wanted)
    }

    #[cfg(test)]
    pub(crate) fn for_tests(id: &str, name: &str) -> Self {
        let profile = Profile {
            name: Some(name.into()),
            ..Profile::default()
        };
        Self::new(id, &profile, "2026-01-01").unwrap()
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    fn doc_with(member: &Member) -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"replica-a".as_slice()));
        member.write(&mut doc).unwrap();
        doc
    }

    fn fork(doc: &mut AutoCommit, actor: &[u8]) -> AutoCommit {
        doc.fork().with_actor(ActorId::from(actor))
    }

    fn profile(f: impl FnOnce(&mut Profile)) -> Profile {
        let mut p = Profile::default();
        f(&mut p);
        p
    }

    #[test]
    fn new_member_validates_input() {
        let empty = profile(|p| p.name = Some("  ".into()));
        assert!(matches!(
            Member::new("m1", &empty, "2026-01-01"),
            Err(ModelError::Empty { field: "name" })
        ));
        let bad_date = profile(|p| {
            p.name = Some("Ada".into());
            p.joined = Some("2026-13-01".into());
        });
        assert!(Member::new("m1", &bad_date, "2026-01-01").is_err());
    }

    #[test]
    fn failed_update_changes_nothing() {
        let mut m = Member::for_tests("m1", "Ada");
        let before = m.clone();
        let bad = profile(|p| {
            p.team = Some("Payments".into());
            p.name = Some(String::new());
        });
        assert!(m.apply(&bad).is_err());
        assert_eq!(m, before);
    }

    #[test]
    fn interests_are_deduplicated_case_insensitively() {
        let mut m = Member::for_tests("m1", "Ada");
        m.apply(&profile(|p| {
            p.interests = Some(vec!["Discovery".into(), "discovery ".into(), "OKRs".into()])
        }))
        .unwrap();
        assert_eq!(m.interests, ["Discovery", "OKRs"]);
        assert!(m.has_interest("DISCOVERY"));
    }

    #[test]
    fn concurrent_edits_of_different_fields_both_survive() {
        let mut a = doc_with(&Member::for_tests("m1", "Ada"));
        let mut b = fork(&mut a, b"replica-b");

        Member::update(&mut a, |m| {
            m.apply(&profile(|p| p.team = Some("Payments".into())))
        })
        .unwrap();
        Member::update(&mut b, |m| {
            m.apply(&profile(|p| p.role = Some("Researcher".into())))
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();

        let merged = Member::read(&a).unwrap();
        assert_eq!(merged.team, "Payments");
        assert_eq!(merged.role, "Researcher");
        assert_eq!(merged, Member::read(&b).unwrap());
    }

    #[test]
    fn concurrent_ratings_of_different_skills_both_survive() {
        let mut a = doc_with(&Member::for_tests("m1", "Ada"));
        let mut b = fork(&mut a, b"replica-b");

        Member::update(&mut a, |m| {
            m.rate("Discovery", SkillLevel::CanTeach, false, "t1");
            Ok(())
        })
        .unwrap();
        Member::update(&mut b, |m| {
            m.rate("Roadmapping", SkillLevel::Aware, true, "t2");
            Ok(())
        })
        .unwrap();
        a.merge(&mut b).unwrap();

        let merged = Member::read(&a).unwrap();
        assert_eq!(
            merged.skills["discovery"].level(),
            Some(SkillLevel::CanTeach)
        );
        assert_eq!(
            merged.skills["roadmapping"].level(),
            Some(SkillLevel::Aware)
        );
        assert!(merged.skills["roadmapping"].grow);
    }

    #[test]
    fn concurrent_edits_of_one_field_converge_to_one_value() {
        let mut a = doc_with(&Member::for_tests("m1", "Ada"));
        let mut b = fork(&mut a, b"replica-b");
        Member::update(&mut a, |m| {
            m.apply(&profile(|p| p.team = Some("Red".into())))
        })
        .unwrap();
        Member::update(&mut b, |m| {
            m.apply(&profile(|p| p.team = Some("Blue".into())))
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let (ma, mb) = (Member::read(&a).unwrap(), Member::read(&b).unwrap());
        assert_eq!(ma.team, mb.team);
        assert!(ma.team == "Red" || ma.team == "Blue");
    }

    #[test]
    fn removed_member_stays_removed_despite_a_concurrent_edit() {
        let mut a = doc_with(&Member::for_tests("m1", "Ada"));
        let mut b = fork(&mut a, b"replica-b");

        Member::update(&mut a, |m| {
            m.removed = true;
            Ok(())
        })
        .unwrap();
        Member::update(&mut b, |m| {
            m.apply(&profile(|p| p.team = Some("Payments".into())))
        })
        .unwrap();
        b.merge(&mut a).unwrap();
        a.merge(&mut b).unwrap();

        for doc in [&a, &b] {
            let merged = Member::read(doc).unwrap();
            assert!(merged.removed, "removal must win over a concurrent edit");
            assert_eq!(
                merged.team, "Payments",
                "the concurrent edit is kept, hidden"
            );
        }
    }

    #[test]
    fn reading_a_foreign_document_is_an_error_not_a_panic() {
        let mut doc = AutoCommit::new();
        assert!(matches!(
            Member::read(&doc),
            Err(ModelError::Corrupt { .. })
        ));
        use automerge::transaction::Transactable;
        doc.put(automerge::ROOT, "kind", "member").unwrap();
        doc.put(automerge::ROOT, "name", 42).unwrap();
        assert!(matches!(
            Member::read(&doc),
            Err(ModelError::Corrupt { .. })
        ));
    }
}
