//! Member profiles: a broad-church directory (any role, not only job titles) plus each
//! member's skills-audit self-ratings. One document per member.
//!
//! Removal rule: removing a member sets a `removed` tombstone and nothing ever clears it.
//! Reconcile writes only changed fields, so a concurrent edit of the profile on another
//! replica does not touch `removed`: after merging, the member stays removed (and their
//! concurrent edit is kept in the document but hidden from every view).

use std::collections::BTreeMap;
use std::fmt;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc};
use autosurgeon::hydrate::MaybeMissing;
use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::skills::{SkillLevel, skill_key};
use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError, when};

pub const SCHEMA: u64 = 1;

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Superseded by [`Member::council`], kept in step with it so daemons from before
    /// willingness had three values still read "willing" right.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub council_opt_in: bool,
    /// Whether they would take a turn on the council. Documents from before this field
    /// read `council_opt_in`: true is willing, false (the old default) is not asked.
    #[autosurgeon(with = "willingness_field")]
    #[serde(default)]
    pub council: Willingness,
    /// Member id of who added them to the directory (empty for the founder, for members
    /// who joined themselves and for members added before this was recorded). While they
    /// do not run Guild themselves, that person may keep their profile up to date.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub added_by: String,
    /// Every rating ever made, keyed `"YYYY-MM-DD skill-key"`: the last rating of a skill on
    /// a day stands for that day, so the history grows with the days people rate, not with
    /// every click, and concurrent ratings made on different days all survive a merge.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub rating_history: BTreeMap<String, RatingEvent>,
    /// libp2p peer ids of this member's daemons (laptops) -> when each was added. Other
    /// members' daemons sync only with devices of current members (see `roster`).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub devices: BTreeMap<String, String>,
}

/// One self-rating in the skills audit.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Member id of who made the rating: the member themselves, or someone rating on their
    /// behalf (`--member`). Empty for ratings made before this was recorded.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub by: String,
}

/// One rating in a member's history.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatingEvent {
    /// The skill's display name as the taxonomy spelled it then.
    pub skill: String,
    pub level: u64,
    pub grow: bool,
    /// RFC 3339.
    pub at: String,
    /// Member id of who made the rating.
    pub by: String,
}

/// Whether a member would take a turn on the council.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Willingness {
    /// Said yes.
    Willing,
    /// Said "not now": never suggested until they say otherwise.
    NotNow,
    /// Nobody has asked them yet.
    #[default]
    NotAsked,
}

impl Willingness {
    pub const ALL: [Willingness; 3] = [Self::Willing, Self::NotNow, Self::NotAsked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Willing => "willing",
            Self::NotNow => "not-now",
            Self::NotAsked => "not-asked",
        }
    }

    /// For people: "willing", "not now", "not asked yet".
    pub fn label(self) -> &'static str {
        match self {
            Self::Willing => "willing",
            Self::NotNow => "not now",
            Self::NotAsked => "not asked yet",
        }
    }

    /// Accepts `willing`, `not-now`, `not now`, `not_asked`, ... in any case.
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        let normal = input.trim().to_lowercase().replace([' ', '_'], "-");
        Self::ALL
            .into_iter()
            .find(|w| w.as_str() == normal)
            .ok_or_else(|| ModelError::Invalid {
                field: "council willingness",
                reason: format!("{input:?} is not one of willing, not-now, not-asked"),
            })
    }
}

impl fmt::Display for Willingness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Stores [`Willingness`] as its string; reads old documents' `council_opt_in` instead
/// when the field is missing, and an unknown value (from a newer daemon) as not asked.
mod willingness_field {
    use autosurgeon::hydrate::MaybeMissing;
    use autosurgeon::{Hydrate, HydrateError, Prop, ReadDoc, Reconciler};

    use super::Willingness;

    pub(super) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<Willingness, HydrateError> {
        match MaybeMissing::<String>::hydrate(doc, obj, prop)? {
            MaybeMissing::Present(stored) => {
                Ok(Willingness::parse(&stored).unwrap_or(Willingness::NotAsked))
            }
            MaybeMissing::Missing => {
                let legacy = MaybeMissing::<bool>::hydrate(doc, obj, "council_opt_in".into())?;
                Ok(if legacy == MaybeMissing::Present(true) {
                    Willingness::Willing
                } else {
                    Willingness::NotAsked
                })
            }
        }
    }

    pub(super) fn reconcile<R: Reconciler>(
        value: &Willingness,
        mut reconciler: R,
    ) -> Result<(), R::Error> {
        reconciler.str(value.as_str())
    }
}

/// A rating made now, its history key (`"YYYY-MM-DD skill-key"`) and history entry.
fn new_rating(
    skill: &str,
    level: SkillLevel,
    grow: bool,
    by: &str,
    now: &str,
) -> (Rating, String, RatingEvent) {
    let level = u64::from(u8::from(level));
    let day = format!("{} {}", now.get(..10).unwrap_or(now), skill_key(skill));
    let rating = Rating {
        name: skill.to_owned(),
        level,
        grow,
        updated: now.to_owned(),
        by: by.to_owned(),
    };
    let event = RatingEvent {
        skill: skill.to_owned(),
        level,
        grow,
        at: now.to_owned(),
        by: by.to_owned(),
    };
    (rating, day, event)
}

/// The map at the root key `name`, if there is one.
fn root_map(doc: &AutoCommit, name: &str) -> Result<Option<automerge::ObjId>, ModelError> {
    match doc.get(automerge::ROOT, name)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Ok(Some(id)),
        Some(_) => Err(ModelError::Corrupt {
            expected: DocKind::Member.as_str(),
            reason: format!("{name} is not a map"),
        }),
        None => Ok(None),
    }
}

impl RatingEvent {
    fn as_rating(&self) -> Rating {
        Rating {
            name: self.skill.clone(),
            level: self.level,
            grow: self.grow,
            updated: self.at.clone(),
            by: self.by.clone(),
        }
    }
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Willing to take a turn on the council: `willing`, `not-now` or `not-asked`.
    #[serde(default)]
    pub council: Option<String>,
    /// The old yes/no form of `council`: true is willing, false is "not now".
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
            council: Willingness::NotAsked,
            added_by: String::new(),
            rating_history: BTreeMap::new(),
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
            next.set_council(if opt_in {
                Willingness::Willing
            } else {
                Willingness::NotNow
            });
        }
        if let Some(council) = &profile.council {
            next.set_council(Willingness::parse(council)?);
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

    /// Records a rating made by member `by` (themselves, or someone on their behalf) and
    /// keeps it in the history. `skill` must already be resolved to its taxonomy spelling.
    /// `grow: None` keeps what they said before about wanting to grow it.
    pub fn rate(
        &mut self,
        skill: &str,
        level: SkillLevel,
        grow: Option<bool>,
        by: &str,
        now: &str,
    ) {
        let key = skill_key(skill);
        let before = self.skills.get(&key).is_some_and(|r| r.grow);
        let (rating, day, event) = new_rating(skill, level, grow.unwrap_or(before), by, now);
        self.rating_history.insert(day, event);
        self.skills.insert(key, rating);
    }

    /// [`Member::rate`] straight into a member document, writing only the rating and its
    /// history entry: reconciling the whole member costs some twenty times as much per
    /// rating (see the benchmark's writes scenario) and grows with the member's history.
    pub fn rate_in_doc(
        doc: &mut AutoCommit,
        skill: &str,
        level: SkillLevel,
        grow: Option<bool>,
        by: &str,
        now: &str,
    ) -> Result<(), ModelError> {
        DocKind::Member.check(doc)?;
        let corrupt = |reason: String| ModelError::Corrupt {
            expected: DocKind::Member.as_str(),
            reason,
        };
        let key = skill_key(skill);
        let skills = root_map(doc, "skills")?.ok_or_else(|| corrupt("no skills map".into()))?;
        let before = MaybeMissing::<Rating>::hydrate(doc, &skills, key.as_str().into())
            .map_err(|e| corrupt(e.to_string()))?;
        let before = matches!(before, MaybeMissing::Present(r) if r.grow);
        let (rating, day, event) = new_rating(skill, level, grow.unwrap_or(before), by, now);
        // Documents from before the history was kept get the map on their first rating.
        let history = match root_map(doc, "rating_history")? {
            Some(history) => history,
            None => doc.put_object(automerge::ROOT, "rating_history", ObjType::Map)?,
        };
        let write = |e: autosurgeon::ReconcileError| corrupt(e.to_string());
        autosurgeon::reconcile_prop(doc, &skills, key.as_str(), &rating).map_err(write)?;
        autosurgeon::reconcile_prop(doc, &history, day.as_str(), &event).map_err(write)?;
        doc.commit();
        Ok(())
    }

    /// The ratings as they stood at the end of `day`: per skill, the last rating in the
    /// history made on or before it. A rating with no history (made before history was
    /// kept) counts from its own date.
    pub fn ratings_as_of(&self, day: Date) -> BTreeMap<String, Rating> {
        let mut out: BTreeMap<String, Rating> = BTreeMap::new();
        // Keys sort by day, so later ratings overwrite earlier ones.
        for event in self.rating_history.values() {
            if when::date_of(&event.at).is_some_and(|d| d <= day) {
                let key = skill_key(&event.skill);
                let later = out.get(&key).is_some_and(|r| r.updated > event.at);
                if !later {
                    out.insert(key, event.as_rating());
                }
            }
        }
        for (key, rating) in &self.skills {
            let has_history = self
                .rating_history
                .values()
                .any(|e| skill_key(&e.skill) == *key);
            if !has_history && when::date_of(&rating.updated).is_some_and(|d| d <= day) {
                out.insert(key.clone(), rating.clone());
            }
        }
        out
    }

    /// When any of their ratings last changed (RFC 3339), if they have any.
    pub fn last_rated(&self) -> Option<&str> {
        self.skills.values().map(|r| r.updated.as_str()).max()
    }

    /// Whether they rated any skill themselves within `since..=until`.
    pub fn rated_own_skills(&self, since: Date, until: Date) -> bool {
        let in_range = |at: &str| when::date_of(at).is_some_and(|d| d >= since && d <= until);
        self.skills
            .values()
            .any(|r| r.by == self.id && in_range(&r.updated))
            || self
                .rating_history
                .values()
                .any(|e| e.by == self.id && in_range(&e.at))
    }

    /// Sets council willingness, keeping the legacy yes/no field in step.
    pub fn set_council(&mut self, willingness: Willingness) {
        self.council = willingness;
        self.council_opt_in = willingness == Willingness::Willing;
    }

    /// Who may change this member's profile and ratings: they themselves, a steward, and
    /// whoever added them while they do not run Guild themselves (no device of theirs).
    pub fn editable_by(&self, actor: &str, actor_is_steward: bool) -> bool {
        actor == self.id
            || actor_is_steward
            || (!self.added_by.is_empty() && self.added_by == actor && self.devices.is_empty())
    }

    pub fn has_interest(&self, interest: &str) -> bool {
        let wanted = text::fold(interest);
        self.interests.iter().any(|i| text::fold(i) == wanted)
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
            m.rate("Discovery", SkillLevel::CanTeach, Some(false), "m1", "t1");
            Ok(())
        })
        .unwrap();
        Member::update(&mut b, |m| {
            m.rate("Roadmapping", SkillLevel::Aware, Some(true), "m1", "t2");
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
    fn willingness_migrates_from_the_old_yes_no_field() {
        use automerge::transaction::Transactable;
        for (opt_in, expected) in [(true, Willingness::Willing), (false, Willingness::NotAsked)] {
            let mut doc = doc_with(&Member::for_tests("m1", "Ada"));
            // A document written before willingness had three values.
            doc.delete(automerge::ROOT, "council").unwrap();
            doc.put(automerge::ROOT, "council_opt_in", opt_in).unwrap();
            assert_eq!(Member::read(&doc).unwrap().council, expected);
        }
        // A value from a newer daemon reads as not asked rather than breaking the document.
        let mut doc = doc_with(&Member::for_tests("m1", "Ada"));
        doc.put(automerge::ROOT, "council", "maybe-later").unwrap();
        assert_eq!(Member::read(&doc).unwrap().council, Willingness::NotAsked);
    }

    #[test]
    fn willingness_is_set_by_name_and_kept_in_step_with_the_old_field() {
        let mut m = Member::for_tests("m1", "Ada");
        m.apply(&profile(|p| p.council = Some("Not now".into())))
            .unwrap();
        assert_eq!((m.council, m.council_opt_in), (Willingness::NotNow, false));
        m.apply(&profile(|p| p.council = Some("willing".into())))
            .unwrap();
        assert_eq!((m.council, m.council_opt_in), (Willingness::Willing, true));
        // The old flag still works: false is an answer, "not now".
        m.apply(&profile(|p| p.council_opt_in = Some(false)))
            .unwrap();
        assert_eq!(m.council, Willingness::NotNow);
        let before = m.clone();
        let err = m
            .apply(&profile(|p| {
                p.team = Some("Payments".into());
                p.council = Some("maybe".into());
            }))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not one of willing, not-now, not-asked"),
            "{err}"
        );
        assert_eq!(m, before);
        let mut doc = doc_with(&m);
        Member::update(&mut doc, |m| {
            m.set_council(Willingness::Willing);
            Ok(())
        })
        .unwrap();
        assert_eq!(Member::read(&doc).unwrap().council, Willingness::Willing);
    }

    #[test]
    fn ratings_record_who_made_them_and_keep_their_history() {
        let mut m = Member::for_tests("m1", "Ada");
        m.rate(
            "Discovery",
            SkillLevel::Aware,
            Some(true),
            "organiser",
            "2026-01-10T09:00:00Z",
        );
        m.rate(
            "Discovery",
            SkillLevel::Practising,
            None,
            "m1",
            "2026-03-01T09:00:00Z",
        );
        // Re-rated the same day: that day's last rating stands.
        m.rate(
            "Discovery",
            SkillLevel::Experienced,
            None,
            "m1",
            "2026-03-01T17:00:00Z",
        );
        let now = &m.skills["discovery"];
        assert_eq!(now.level(), Some(SkillLevel::Experienced));
        assert!(
            now.grow,
            "re-rating without a grow answer keeps the old one"
        );
        assert_eq!(now.by, "m1");
        assert_eq!(m.rating_history.len(), 2);
        let day = |s| when::date_of(s).unwrap();
        let then = m.ratings_as_of(day("2026-02-01"));
        assert_eq!(then["discovery"].level(), Some(SkillLevel::Aware));
        assert_eq!(then["discovery"].by, "organiser");
        assert!(m.ratings_as_of(day("2026-01-09")).is_empty());
        m.rate(
            "Discovery",
            SkillLevel::CanTeach,
            Some(false),
            "m1",
            "2026-04-01T09:00:00Z",
        );
        assert!(!m.skills["discovery"].grow, "--no-grow clears it");
        // Only their own ratings are their activity.
        assert!(m.rated_own_skills(day("2026-03-01"), day("2026-04-30")));
        assert!(!m.rated_own_skills(day("2026-01-01"), day("2026-01-31")));
    }

    #[test]
    fn a_targeted_rating_writes_what_a_whole_update_writes() {
        let mut whole = doc_with(&Member::for_tests("m1", "Ada"));
        let mut targeted = doc_with(&Member::for_tests("m1", "Ada"));
        // An old document, from before the history was kept.
        targeted.delete(automerge::ROOT, "rating_history").unwrap();
        let ratings = [
            (
                "Discovery",
                SkillLevel::Aware,
                Some(true),
                "2026-01-10T09:00:00Z",
            ),
            (
                "Discovery",
                SkillLevel::Practising,
                None,
                "2026-03-01T09:00:00Z",
            ),
            (
                "Roadmapping",
                SkillLevel::CanTeach,
                Some(false),
                "2026-03-01T10:00:00Z",
            ),
        ];
        for (skill, level, grow, at) in ratings {
            Member::update(&mut whole, |m| {
                m.rate(skill, level, grow, "org", at);
                Ok(())
            })
            .unwrap();
            Member::rate_in_doc(&mut targeted, skill, level, grow, "org", at).unwrap();
        }
        let (a, b) = (
            Member::read(&whole).unwrap(),
            Member::read(&targeted).unwrap(),
        );
        assert_eq!(a, b);
        assert!(b.skills["discovery"].grow, "kept without a grow answer");
        assert_eq!(b.rating_history.len(), 3);
        let mut foreign = AutoCommit::new();
        assert!(Member::rate_in_doc(&mut foreign, "X", SkillLevel::Aware, None, "", "").is_err());
    }

    #[test]
    fn ratings_from_before_the_history_count_from_their_own_date() {
        let mut m = Member::for_tests("m1", "Ada");
        m.skills.insert(
            "roadmapping".into(),
            Rating {
                name: "Roadmapping".into(),
                level: 4,
                grow: false,
                updated: "2025-06-01T00:00:00Z".into(),
                by: String::new(),
            },
        );
        let day = |s| when::date_of(s).unwrap();
        assert!(m.ratings_as_of(day("2025-05-31")).is_empty());
        assert_eq!(m.ratings_as_of(day("2025-06-01")).len(), 1);
        // An old rating with no author is nobody's activity.
        assert!(!m.rated_own_skills(day("2025-01-01"), day("2025-12-31")));
    }

    #[test]
    fn who_may_edit_a_member() {
        let mut added = Member::for_tests("m2", "Bea");
        added.added_by = "m1".into();
        assert!(added.editable_by("m2", false), "themselves");
        assert!(
            added.editable_by("m1", false),
            "who added them, while they run no Guild"
        );
        assert!(added.editable_by("m9", true), "a steward");
        assert!(!added.editable_by("m3", false), "anyone else");
        added.devices.insert("peer".into(), "2026-01-01".into());
        assert!(
            !added.editable_by("m1", false),
            "once they run Guild, it is theirs"
        );
        let legacy = Member::for_tests("m4", "Cy");
        assert!(!legacy.editable_by("m1", false));
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
