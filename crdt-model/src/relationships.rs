//! A member's own map of stakeholders and influencers, with a social-capital ledger and
//! "time to reconnect" nudges. Private: this document never leaves the member's own devices
//! (it is not in the community's index, and the daemon shares it only with peers that prove
//! they are the same member's devices).
//!
//! People, interactions and ledger entries are keyed by random ids, so edits made on two of
//! the member's laptops while apart all survive a merge.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError, when};

pub const SCHEMA: u64 = 1;
/// Keep in touch at least this often unless a person has their own cadence.
pub const DEFAULT_CADENCE_DAYS: u64 = 30;
/// Informal contact first: strong relationships are built "not by formality, but through
/// informal connections" (coffee, lunch, drinks after work, a walk).
pub const INTERACTION_KINDS: &[&str] = &[
    "coffee",
    "lunch",
    "breakfast",
    "dinner",
    "drinks",
    "walk",
    "social",
    "meeting",
    "event",
    "call",
    "message",
    "other",
];
pub const INFLUENCE: &[&str] = &["low", "medium", "high"];

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Relationships {
    #[serde(skip)]
    pub kind: String,
    #[serde(skip)]
    pub schema: u64,
    pub id: String,
    /// Member id of the owner.
    pub owner: String,
    pub cadence_days: u64,
    pub people: BTreeMap<String, Person>,
    pub interactions: BTreeMap<String, Interaction>,
    pub ledger: BTreeMap<String, LedgerEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    pub name: String,
    pub team: String,
    pub organisation: String,
    /// low, medium or high.
    pub influence: String,
    pub common_ground: String,
    pub interests: Vec<String>,
    pub notes: String,
    /// Overrides the default cadence for this person.
    pub cadence_days: Option<u64>,
    /// `YYYY-MM-DD`.
    pub added: String,
    /// What they want from you and from the work (their motivations, stated or not).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub wants: String,
    /// Their goals and their team's (a sales target, a launch, a promotion).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub goals: String,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interaction {
    pub person: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub interaction_kind: String,
    pub note: String,
}

/// A deposit is help given; a withdrawal a favour asked.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    pub person: String,
    pub date: String,
    /// Positive for deposits, negative for withdrawals.
    pub amount: i64,
    pub note: String,
}

impl GuildDoc for Relationships {
    const KIND: DocKind = DocKind::Relationships;
}

/// What a person types about someone. `None` leaves a field unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonFields {
    pub name: Option<String>,
    pub team: Option<String>,
    pub organisation: Option<String>,
    pub influence: Option<String>,
    pub common_ground: Option<String>,
    pub interests: Option<Vec<String>>,
    pub notes: Option<String>,
    pub cadence_days: Option<u64>,
    #[serde(default)]
    pub wants: Option<String>,
    #[serde(default)]
    pub goals: Option<String>,
}

/// How the due list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DueOrder {
    /// Longest neglected first.
    #[default]
    Neglect,
    /// High influence first, then longest neglected.
    Influence,
}

impl DueOrder {
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        match input.trim().to_lowercase().as_str() {
            "neglect" | "overdue" | "oldest" => Ok(Self::Neglect),
            "influence" => Ok(Self::Influence),
            _ => Err(ModelError::Invalid {
                field: "order",
                reason: format!("{input:?} is not one of neglect, influence"),
            }),
        }
    }
}

/// One person in the member's map, with where the relationship stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Standing {
    pub id: String,
    #[serde(flatten)]
    pub person: Person,
    /// Deposits minus withdrawals.
    pub balance: i64,
    /// Last interaction or deposit (help given), or when they were added if there is none.
    /// A favour asked (a withdrawal) draws on the relationship; it does not feed it.
    pub last_fed: String,
    /// The cadence that applies: the person's own, else the default.
    pub reconnect_every_days: u64,
    /// Days past the cadence (0 if not due).
    pub overdue_days: i64,
}

impl Relationships {
    pub fn new(id: &str, owner: &str) -> Self {
        Relationships {
            kind: DocKind::Relationships.as_str().into(),
            schema: SCHEMA,
            id: id.into(),
            owner: owner.into(),
            cadence_days: DEFAULT_CADENCE_DAYS,
            people: BTreeMap::new(),
            interactions: BTreeMap::new(),
            ledger: BTreeMap::new(),
        }
    }

    pub fn add_person(
        &mut self,
        id: &str,
        fields: &PersonFields,
        today: &str,
    ) -> Result<(), ModelError> {
        let mut person = Person {
            name: text::required("name", fields.name.as_deref().unwrap_or_default(), MAX_LINE)?,
            influence: "medium".into(),
            added: text::date("today", today)?,
            ..Person::default()
        };
        apply(&mut person, fields)?;
        self.people.insert(id.to_owned(), person);
        Ok(())
    }

    pub fn update_person(&mut self, id: &str, fields: &PersonFields) -> Result<(), ModelError> {
        let person = self.person_mut(id)?;
        let mut next = person.clone();
        apply(&mut next, fields)?;
        *person = next;
        Ok(())
    }

    pub fn log(
        &mut self,
        id: &str,
        person: &str,
        date: &str,
        kind: &str,
        note: &str,
    ) -> Result<(), ModelError> {
        self.person_mut(person)?;
        let kind = kind.trim().to_lowercase();
        if !INTERACTION_KINDS.contains(&kind.as_str()) {
            return Err(ModelError::Invalid {
                field: "kind",
                reason: format!("{kind:?} is not one of {}", INTERACTION_KINDS.join(", ")),
            });
        }
        self.interactions.insert(
            id.to_owned(),
            Interaction {
                person: person.to_owned(),
                date: text::date("date", date)?,
                interaction_kind: kind,
                note: text::optional("note", note, MAX_TEXT)?,
            },
        );
        Ok(())
    }

    /// Records help given (`amount > 0`) or a favour asked (`amount < 0`).
    pub fn record(
        &mut self,
        id: &str,
        person: &str,
        date: &str,
        amount: i64,
        note: &str,
    ) -> Result<(), ModelError> {
        self.person_mut(person)?;
        if amount == 0 || amount.abs() > 100 {
            return Err(ModelError::Invalid {
                field: "amount",
                reason: format!("{} is not between 1 and 100", amount.abs()),
            });
        }
        self.ledger.insert(
            id.to_owned(),
            LedgerEntry {
                person: person.to_owned(),
                date: text::date("date", date)?,
                amount,
                note: text::optional("note", note, MAX_TEXT)?,
            },
        );
        Ok(())
    }

    fn person_mut(&mut self, id: &str) -> Result<&mut Person, ModelError> {
        self.people.get_mut(id).ok_or_else(|| ModelError::Invalid {
            field: "person",
            reason: format!("no person {id:?} in your relationships"),
        })
    }

    /// Everyone with balance and how overdue the relationship is.
    pub fn standings(&self, today: Date) -> Vec<Standing> {
        let mut out: Vec<Standing> = self
            .people
            .iter()
            .map(|(id, p)| {
                // The last interaction or deposit; the day they were added if none yet.
                let last_fed = self
                    .interactions
                    .values()
                    .filter(|i| i.person == *id)
                    .map(|i| i.date.clone())
                    .chain(
                        self.ledger
                            .values()
                            .filter(|l| l.person == *id && l.amount > 0)
                            .map(|l| l.date.clone()),
                    )
                    .max()
                    .unwrap_or_else(|| p.added.clone());
                let cadence_days = p.cadence_days.unwrap_or(self.cadence_days);
                let overdue_days = when::date_of(&last_fed)
                    .map(|d| (today - d).whole_days() - cadence_days as i64)
                    .unwrap_or(0)
                    .max(0);
                Standing {
                    id: id.clone(),
                    person: p.clone(),
                    balance: self
                        .ledger
                        .values()
                        .filter(|l| l.person == *id)
                        .map(|l| l.amount)
                        .sum(),
                    last_fed,
                    reconnect_every_days: cadence_days,
                    overdue_days,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            a.person
                .name
                .to_lowercase()
                .cmp(&b.person.name.to_lowercase())
        });
        out
    }

    /// Relationships not fed for longer than their cadence, the longest-neglected first,
    /// or with [`DueOrder::Influence`] the most influential first.
    pub fn due(&self, today: Date, order: DueOrder) -> Vec<Standing> {
        let mut due: Vec<Standing> = self
            .standings(today)
            .into_iter()
            .filter(|s| s.overdue_days > 0)
            .collect();
        let influence = |s: &Standing| INFLUENCE.iter().position(|i| *i == s.person.influence);
        due.sort_by(|a, b| {
            let first = match order {
                DueOrder::Neglect => std::cmp::Ordering::Equal,
                DueOrder::Influence => influence(b).cmp(&influence(a)),
            };
            first
                .then_with(|| a.last_fed.cmp(&b.last_fed))
                .then_with(|| a.person.name.cmp(&b.person.name))
        });
        due
    }
}

fn apply(person: &mut Person, fields: &PersonFields) -> Result<(), ModelError> {
    if let Some(name) = &fields.name {
        person.name = text::required("name", name, MAX_LINE)?;
    }
    if let Some(team) = &fields.team {
        person.team = text::optional("team", team, MAX_LINE)?;
    }
    if let Some(org) = &fields.organisation {
        person.organisation = text::optional("organisation", org, MAX_LINE)?;
    }
    if let Some(influence) = &fields.influence {
        let influence = influence.trim().to_lowercase();
        if !INFLUENCE.contains(&influence.as_str()) {
            return Err(ModelError::Invalid {
                field: "influence",
                reason: format!("{influence:?} is not one of {}", INFLUENCE.join(", ")),
            });
        }
        person.influence = influence;
    }
    if let Some(common) = &fields.common_ground {
        person.common_ground = text::optional("common ground", common, MAX_TEXT)?;
    }
    if let Some(interests) = &fields.interests {
        person.interests = interests
            .iter()
            .map(|i| text::required("interest", i, MAX_LINE))
            .collect::<Result<_, _>>()?;
    }
    if let Some(notes) = &fields.notes {
        person.notes = text::optional("notes", notes, MAX_TEXT)?;
    }
    if let Some(wants) = &fields.wants {
        person.wants = text::optional("wants", wants, MAX_TEXT)?;
    }
    if let Some(goals) = &fields.goals {
        person.goals = text::optional("goals", goals, MAX_TEXT)?;
    }
    if let Some(days) = fields.cadence_days {
        if days == 0 || days > 3650 {
            return Err(ModelError::Invalid {
                field: "cadence",
                reason: format!("{days} days is not between 1 and 3650"),
            });
        }
        person.cadence_days = Some(days);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    fn named(name: &str) -> PersonFields {
        PersonFields {
            name: Some(name.into()),
            ..PersonFields::default()
        }
    }

    #[test]
    fn balances_and_due_list() {
        let mut r = Relationships::new("r", "me");
        r.add_person("p1", &named("Sales lead"), "2026-09-01")
            .unwrap();
        r.add_person("p2", &named("Support manager"), "2026-08-01")
            .unwrap();
        let mut weekly = named("CFO");
        weekly.cadence_days = Some(7);
        weekly.influence = Some("High".into());
        r.add_person("p3", &weekly, "2026-11-20").unwrap();
        r.log("i1", "p1", "2026-11-10", "coffee", "pricing chat")
            .unwrap();
        r.record("l1", "p2", "2026-09-15", 3, "reviewed their survey")
            .unwrap();
        r.record("l2", "p2", "2026-09-20", -1, "asked for data")
            .unwrap();
        let today = when::date_of("2026-11-30").unwrap();
        let standings = r.standings(today);
        let p2 = standings.iter().find(|s| s.id == "p2").unwrap();
        assert_eq!(p2.balance, 2);
        let due: Vec<_> = r
            .due(today, DueOrder::Neglect)
            .into_iter()
            .map(|s| s.person.name)
            .collect();
        // Support manager (last fed Sep 20) before CFO (weekly, added Nov 20); Sales lead is fine.
        assert_eq!(due, ["Support manager", "CFO"]);
    }

    // Issue 10, wrong answer 3: `relationships withdraw` (a favour asked) reset "last fed".
    // Asking draws on the relationship; only interactions and deposits feed it.
    #[test]
    fn a_favour_asked_does_not_feed_the_relationship() {
        let mut r = Relationships::new("r", "me");
        r.add_person("p", &named("Sam"), "2026-01-01").unwrap();
        r.log("i1", "p", "2026-02-01", "coffee", "").unwrap();
        r.record("l1", "p", "2026-03-01", -2, "asked for an intro")
            .unwrap();
        let today = when::date_of("2026-03-20").unwrap();
        let sam = &r.standings(today)[0];
        assert_eq!(sam.last_fed, "2026-02-01");
        assert_eq!(sam.balance, -2);
        assert_eq!(sam.overdue_days, 17, "due since 30 days after the coffee");
        r.record("l2", "p", "2026-03-10", 1, "reviewed their deck")
            .unwrap();
        assert_eq!(r.standings(today)[0].last_fed, "2026-03-10");
    }

    #[test]
    fn due_by_influence_puts_high_influence_first() {
        let mut r = Relationships::new("r", "me");
        for (id, name, influence, added) in [
            ("p1", "Low long ago", "low", "2026-01-01"),
            ("p2", "High lately", "high", "2026-03-01"),
            ("p3", "Medium", "medium", "2026-02-01"),
            ("p4", "High long ago", "high", "2026-01-15"),
        ] {
            let mut fields = named(name);
            fields.influence = Some(influence.into());
            r.add_person(id, &fields, added).unwrap();
        }
        let today = when::date_of("2026-06-01").unwrap();
        let names = |order| -> Vec<String> {
            r.due(today, order)
                .into_iter()
                .map(|s| s.person.name)
                .collect()
        };
        assert_eq!(
            names(DueOrder::Influence),
            ["High long ago", "High lately", "Medium", "Low long ago"]
        );
        assert_eq!(
            names(DueOrder::Neglect),
            ["Low long ago", "High long ago", "Medium", "High lately"]
        );
        assert!(DueOrder::parse("fame").is_err());
    }

    #[test]
    fn what_they_want_and_their_goals_and_informal_contact() {
        let mut r = Relationships::new("r", "me");
        let mut fields = named("Sam");
        fields.wants = Some("fewer escalations from big customers".into());
        fields.goals = Some("hit the Q3 renewal target".into());
        r.add_person("p", &fields, "2026-01-01").unwrap();
        assert_eq!(r.people["p"].goals, "hit the Q3 renewal target");
        for kind in ["drinks", "walk", "Breakfast"] {
            r.log(kind, "p", "2026-02-01", kind, "").unwrap();
        }
        assert_eq!(r.interactions["Breakfast"].interaction_kind, "breakfast");
    }

    #[test]
    fn bad_input_is_refused() {
        let mut r = Relationships::new("r", "me");
        assert!(r.add_person("p", &named(" "), "2026-01-01").is_err());
        r.add_person("p", &named("Ann"), "2026-01-01").unwrap();
        assert!(r.log("i", "nobody", "2026-01-01", "coffee", "").is_err());
        assert!(r.log("i", "p", "2026-01-01", "karaoke", "").is_err());
        assert!(r.log("i", "p", "01/01/2026", "coffee", "").is_err());
        assert!(r.record("l", "p", "2026-01-01", 0, "").is_err());
        let mut bad = named("Ann");
        bad.influence = Some("enormous".into());
        assert!(r.update_person("p", &bad).is_err());
        assert_eq!(r.people["p"].influence, "medium");
    }

    #[test]
    fn edits_on_two_devices_merge() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"laptop".as_slice()));
        let mut r = Relationships::new("r", "me");
        r.add_person("p", &named("Ann"), "2026-01-01").unwrap();
        r.write(&mut a).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"desktop".as_slice()));
        Relationships::update(&mut a, |r| r.log("i1", "p", "2026-02-01", "lunch", "")).unwrap();
        Relationships::update(&mut b, |r| r.record("l1", "p", "2026-02-02", 2, "intro")).unwrap();
        a.merge(&mut b).unwrap();
        let r = Relationships::read(&a).unwrap();
        assert_eq!((r.interactions.len(), r.ledger.len()), (1, 1));
    }
}
