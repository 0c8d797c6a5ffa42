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
pub const INTERACTION_KINDS: &[&str] = &[
    "coffee", "lunch", "meeting", "event", "call", "message", "other",
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
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Interaction {
    pub person: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub interaction_kind: String,
    pub note: String,
}

/// A deposit is help given; a withdrawal a favour asked.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
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
pub struct PersonFields {
    pub name: Option<String>,
    pub team: Option<String>,
    pub organisation: Option<String>,
    pub influence: Option<String>,
    pub common_ground: Option<String>,
    pub interests: Option<Vec<String>>,
    pub notes: Option<String>,
    pub cadence_days: Option<u64>,
}

/// One person in the member's map, with where the relationship stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub id: String,
    #[serde(flatten)]
    pub person: Person,
    /// Deposits minus withdrawals.
    pub balance: i64,
    /// Last interaction or ledger entry, or when they were added if there is none.
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
                // The last interaction or ledger entry; the day they were added if none yet.
                let last_fed = self
                    .interactions
                    .values()
                    .filter(|i| i.person == *id)
                    .map(|i| i.date.clone())
                    .chain(
                        self.ledger
                            .values()
                            .filter(|l| l.person == *id)
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

    /// Relationships not fed for longer than their cadence, the longest-neglected first.
    pub fn due(&self, today: Date) -> Vec<Standing> {
        let mut due: Vec<Standing> = self
            .standings(today)
            .into_iter()
            .filter(|s| s.overdue_days > 0)
            .collect();
        due.sort_by(|a, b| {
            a.last_fed
                .cmp(&b.last_fed)
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
        let due: Vec<_> = r.due(today).into_iter().map(|s| s.person.name).collect();
        // Support manager (last fed Sep 20) before CFO (weekly, added Nov 20); Sales lead is fine.
        assert_eq!(due, ["Support manager", "CFO"]);
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
