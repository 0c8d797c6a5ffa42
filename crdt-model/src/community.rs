//! The community document: who we are, the skill taxonomy and the index of documents.

use std::collections::{BTreeMap, BTreeSet};

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::council::Term;
use crate::lookup::{self, Found};
use crate::skills::{DEFAULT_SKILLS, skill_key};
use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError};

pub const SCHEMA: u64 = 1;

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Community {
    #[serde(skip)]
    pub kind: String,
    #[serde(skip)]
    pub schema: u64,
    /// The community id is also this document's id.
    pub id: String,
    pub name: String,
    pub purpose: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Skill taxonomy keyed by [`skill_key`]; the value keeps the display spelling.
    pub skills: BTreeMap<String, SkillDef>,
    /// Every other document of the community, so a new member learns what to fetch.
    pub docs: BTreeMap<String, DocEntry>,
    /// The council rota, keyed by term id.
    #[autosurgeon(missing = "Default::default")]
    pub council: BTreeMap<String, Term>,
    /// Open invitations, keyed by the hex SHA-256 of the ticket's invite nonce (the nonce
    /// itself is only in the ticket).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub invites: BTreeMap<String, Invitation>,
    /// Member id of who created the community: its steward until the first council term.
    /// Empty in communities created before stewards existed (see [`Community::stewards`]).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub founder: String,
    /// Removals, cancellations and role changes (who, what, when), keyed by random id so
    /// entries made on different daemons all survive a merge. Shown by `guild log`.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub log: BTreeMap<String, LogEntry>,
    /// People from outside the community (guest speakers, suppliers, other departments),
    /// keyed by random id. They are recorded as speakers, attendees and answerers without
    /// becoming members: they are in no member document, so the directory, health and
    /// council count members only. They never vote or propose.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub guests: BTreeMap<String, Guest>,
    /// Hubs: always-on member daemons that relay, and introduce, members who cannot reach
    /// each other directly, keyed by their libp2p address (ending with `/p2p/<peer id>`).
    /// Added and removed by stewards (`guild hubs`). Removing deletes the key, so a hub
    /// added again on another laptop at the same time stays listed.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub hubs: BTreeMap<String, Hub>,
}

/// A hub the community meets at.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hub {
    /// Member id of the steward who added it.
    pub added_by: String,
    /// RFC 3339.
    pub added: String,
}

/// Someone from outside the community.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Guest {
    pub name: String,
    /// Where they come from: another department, a supplier, a company.
    pub organisation: String,
    /// Anything worth remembering: what they spoke on, how to reach them.
    pub note: String,
    /// Member id of who recorded them: they may change or remove the record, as stewards
    /// may.
    pub added_by: String,
    /// RFC 3339.
    pub added: String,
    /// A tombstone, as for members: sessions and answers keep naming the guest, and a
    /// concurrent edit does not bring them back.
    pub removed: bool,
}

/// What a member fills in to record a guest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewGuest {
    pub name: String,
    #[serde(default)]
    pub organisation: String,
    #[serde(default)]
    pub note: String,
}

/// A change to a guest's record: only what is given changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub organisation: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One entry of the community's change log.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntry {
    /// RFC 3339 time of the change (the acting daemon's clock).
    pub at: String,
    /// Member id of who made the change.
    pub by: String,
    /// What happened, machine-readable: `member.removed`, `session.cancelled`, ...
    pub action: String,
    /// Id of what it happened to (a member, a session, a term).
    pub subject: String,
    /// One line for people: "removed Bea Jones".
    pub summary: String,
}

/// An invitation to join, as the community document lists it. The ticket printed by
/// `guild invite` carries a random nonce; the document holds only its SHA-256, so reading the
/// document does not let anyone join.
///
/// Merge rules: `used_by` is a map keyed by peer id, so uses recorded concurrently on
/// different daemons all survive; `revoked` is a tombstone nothing clears.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Member id of who invited.
    pub by: String,
    /// RFC 3339; the invitation is worthless after this.
    pub expires: String,
    /// How many daemons may join with it (invitations written before this field existed
    /// count as single-use).
    #[autosurgeon(missing = "one_use")]
    #[serde(default = "one_use")]
    pub uses: u64,
    /// Peer id of each daemon that joined with it -> when (RFC 3339).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub used_by: BTreeMap<String, String>,
    /// When it was revoked (RFC 3339); a revoked invitation admits nobody, ever.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub revoked: Option<String>,
}

fn one_use() -> u64 {
    1
}

impl Invitation {
    /// A fresh invitation by member `by`, good for `uses` daemons until `expires`.
    pub fn new(by: &str, expires: &str, uses: u64) -> Result<Self, ModelError> {
        if uses == 0 {
            return Err(ModelError::Invalid {
                field: "uses",
                reason: "an invitation must admit at least one daemon".into(),
            });
        }
        Ok(Self {
            by: by.to_owned(),
            expires: expires.to_owned(),
            uses,
            used_by: BTreeMap::new(),
            revoked: None,
        })
    }

    /// Records that daemon `peer` joined with this invitation (idempotent).
    pub fn record_use(&mut self, peer: &str, now: &str) {
        self.used_by
            .entry(peer.to_owned())
            .or_insert_with(|| now.to_owned());
    }

    /// Revokes it (idempotent: the first revocation time stays).
    pub fn revoke(&mut self, now: &str) {
        self.revoked.get_or_insert_with(|| now.to_owned());
    }
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkillDef {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocEntry {
    pub kind: String,
}

impl GuildDoc for Community {
    const KIND: DocKind = DocKind::Community;
}

impl Community {
    /// A new community with the default skill taxonomy.
    pub fn new(id: &str, name: &str, purpose: &str, now: &str) -> Result<Self, ModelError> {
        let mut community = Community {
            kind: DocKind::Community.as_str().into(),
            schema: SCHEMA,
            id: id.into(),
            name: text::required("community name", name, MAX_LINE)?,
            purpose: text::optional("purpose", purpose, MAX_TEXT)?,
            created: now.into(),
            skills: BTreeMap::new(),
            docs: BTreeMap::new(),
            council: BTreeMap::new(),
            invites: BTreeMap::new(),
            founder: String::new(),
            log: BTreeMap::new(),
            guests: BTreeMap::new(),
            hubs: BTreeMap::new(),
        };
        for skill in DEFAULT_SKILLS {
            community.add_skill(skill)?;
        }
        Ok(community)
    }

    /// Display names of the taxonomy, alphabetically (case-insensitive).
    pub fn skill_names(&self) -> Vec<String> {
        self.skills.values().map(|s| s.name.clone()).collect()
    }

    /// The taxonomy's spelling of the skill `name` means: the same name whatever its case,
    /// accents and spacing, or a unique prefix ("disc" is Discovery). An unknown name is
    /// refused with the skills spelled like it; an ambiguous prefix with its candidates.
    pub fn resolve_skill(&self, name: &str) -> Result<String, ModelError> {
        if let Some(exact) = self.skills.get(&skill_key(name)) {
            return Ok(exact.name.clone());
        }
        let defs: Vec<&SkillDef> = self.skills.values().collect();
        match lookup::find(defs.iter().copied(), name, |s| &s.name, |s| &s.name) {
            Found::One(skill) => Ok(skill.name.clone()),
            Found::Many(many) => Err(ModelError::AmbiguousSkill {
                name: name.trim().to_owned(),
                candidates: many.iter().map(|s| s.name.clone()).collect(),
            }),
            Found::None => Err(ModelError::UnknownSkill {
                name: name.trim().to_owned(),
                suggestions: lookup::did_you_mean(name, defs.iter().map(|s| s.name.as_str())),
            }),
        }
    }

    pub fn add_skill(&mut self, name: &str) -> Result<String, ModelError> {
        let name = text::required("skill", name, MAX_LINE)?;
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = skill_key(&name);
        if self.skills.contains_key(&key) {
            return Err(ModelError::DuplicateSkill(name));
        }
        self.skills.insert(key, SkillDef { name: name.clone() });
        Ok(name)
    }

    /// Lists a document in the index (idempotent).
    pub fn index(&mut self, doc_id: &str, kind: DocKind) {
        self.docs.insert(
            doc_id.to_owned(),
            DocEntry {
                kind: kind.as_str().into(),
            },
        );
    }

    /// Who may act for the community today (remove members, schedule or cancel any session,
    /// change the rota): the leads of the current council term; between terms, the leads of
    /// the latest term that has ended; before the first term, the founder. Empty only for a
    /// community created before stewards existed that has no term yet: then, as before,
    /// every member may (see [`Community::is_steward`]).
    pub fn stewards(&self, today: Date) -> BTreeSet<String> {
        let leads = |term: &Term| term.leads.keys().cloned().collect::<BTreeSet<_>>();
        let current: BTreeSet<String> = self
            .council
            .values()
            .filter(|t| t.is_current(today))
            .flat_map(leads)
            .collect();
        if !current.is_empty() {
            return current;
        }
        let latest_past = self
            .council
            .values()
            .filter(|t| !t.is_current(today) && !t.is_upcoming(today))
            .max_by(|a, b| a.end.cmp(&b.end).then_with(|| a.start.cmp(&b.start)));
        if let Some(term) = latest_past {
            return leads(term);
        }
        if self.founder.trim().is_empty() {
            BTreeSet::new()
        } else {
            BTreeSet::from([self.founder.clone()])
        }
    }

    /// Whether `member` may act as a steward today (see [`Community::stewards`]).
    pub fn is_steward(&self, member: &str, today: Date) -> bool {
        let stewards = self.stewards(today);
        stewards.is_empty() || stewards.contains(member)
    }

    /// Adds an entry to the change log under `id` (a fresh random id).
    pub fn record(&mut self, id: &str, entry: LogEntry) {
        self.log.insert(id.to_owned(), entry);
    }

    /// The change log, newest first (ties by id, so every replica shows one order).
    pub fn log_newest_first(&self) -> Vec<(&String, &LogEntry)> {
        let mut entries: Vec<_> = self.log.iter().collect();
        entries.sort_by(|(ia, a), (ib, b)| b.at.cmp(&a.at).then_with(|| ia.cmp(ib)));
        entries
    }

    /// Records a guest under `id` (a fresh random id).
    pub fn add_guest(
        &mut self,
        id: &str,
        new: &NewGuest,
        by: &str,
        now: &str,
    ) -> Result<Guest, ModelError> {
        let guest = Guest {
            name: text::required("guest name", &new.name, MAX_LINE)?,
            organisation: text::optional("organisation", &new.organisation, MAX_LINE)?,
            note: text::optional("note", &new.note, MAX_TEXT)?,
            added_by: by.to_owned(),
            added: now.to_owned(),
            removed: false,
        };
        self.guests.insert(id.to_owned(), guest.clone());
        Ok(guest)
    }

    /// Changes a current guest's record.
    pub fn change_guest(&mut self, id: &str, change: &GuestChange) -> Result<Guest, ModelError> {
        if change == &GuestChange::default() {
            return Err(ModelError::Invalid {
                field: "guest",
                reason: "nothing to change: give a new name, organisation or note".into(),
            });
        }
        let guest = self.current_guest_mut(id)?;
        let mut next = guest.clone();
        if let Some(name) = &change.name {
            next.name = text::required("guest name", name, MAX_LINE)?;
        }
        if let Some(organisation) = &change.organisation {
            next.organisation = text::optional("organisation", organisation, MAX_LINE)?;
        }
        if let Some(note) = &change.note {
            next.note = text::optional("note", note, MAX_TEXT)?;
        }
        *guest = next.clone();
        Ok(next)
    }

    /// Marks a guest removed (a tombstone).
    pub fn remove_guest(&mut self, id: &str) -> Result<Guest, ModelError> {
        let guest = self.current_guest_mut(id)?;
        guest.removed = true;
        Ok(guest.clone())
    }

    fn current_guest_mut(&mut self, id: &str) -> Result<&mut Guest, ModelError> {
        self.guests
            .get_mut(id)
            .filter(|g| !g.removed)
            .ok_or_else(|| ModelError::Invalid {
                field: "guest",
                reason: format!("no guest {id:?}"),
            })
    }

    /// Current guests `key` names: the one with exactly that id; else those whose id starts
    /// with it (4+ characters) or whose name is it; else those whose name starts with it.
    /// Names match ignoring case and accents ("siobhan" finds "Siobhán").
    pub fn find_guests(&self, key: &str) -> Vec<(&String, &Guest)> {
        let key = key.trim();
        let current = || self.guests.iter().filter(|(_, g)| !g.removed);
        if let Some(exact) = current().find(|(id, _)| *id == key) {
            return vec![exact];
        }
        let folded = text::fold(key);
        if folded.is_empty() {
            return Vec::new();
        }
        let found: Vec<_> = current()
            .filter(|(id, g)| {
                (key.len() >= 4 && id.starts_with(key)) || text::fold(&g.name) == folded
            })
            .collect();
        if !found.is_empty() {
            return found;
        }
        current()
            .filter(|(_, g)| text::fold(&g.name).starts_with(&folded))
            .collect()
    }

    /// A guest's name for display, removed guests included.
    pub fn guest_name(&self, id: &str) -> Option<&str> {
        self.guests.get(id).map(|g| g.name.as_str())
    }

    /// Lists a hub at `addr` (checked by the caller: the model knows no multiaddrs).
    /// Returns false if it was listed already (its entry is kept as it was).
    pub fn add_hub(&mut self, addr: &str, by: &str, now: &str) -> Result<bool, ModelError> {
        let addr = text::required("hub address", addr, MAX_LINE)?;
        if self.hubs.contains_key(&addr) {
            return Ok(false);
        }
        self.hubs.insert(
            addr,
            Hub {
                added_by: by.to_owned(),
                added: now.to_owned(),
            },
        );
        Ok(true)
    }

    /// Stops listing the hub at `addr`.
    pub fn remove_hub(&mut self, addr: &str) -> Result<Hub, ModelError> {
        self.hubs
            .remove(addr.trim())
            .ok_or_else(|| ModelError::Invalid {
                field: "hub",
                reason: format!("{} is not one of the community's hubs", addr.trim()),
            })
    }

    /// Ids of indexed documents of one kind.
    pub fn docs_of(&self, kind: DocKind) -> impl Iterator<Item = &str> {
        self.docs
            .iter()
            .filter(move |(_, e)| DocKind::parse(&e.kind) == Some(kind))
            .map(|(id, _)| id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    fn new_doc() -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        Community::new(
            "c1",
            "Product people",
            "Learn together",
            "2026-01-01T00:00:00Z",
        )
        .unwrap()
        .write(&mut doc)
        .unwrap();
        doc
    }

    #[test]
    fn new_community_has_the_default_taxonomy() {
        let c = Community::read(&new_doc()).unwrap();
        assert_eq!(c.skills.len(), DEFAULT_SKILLS.len());
        assert_eq!(c.resolve_skill("user RESEARCH").unwrap(), "User research");
        assert!(matches!(
            c.resolve_skill("Juggling"),
            Err(ModelError::UnknownSkill { .. })
        ));
    }

    #[test]
    fn skills_resolve_by_folded_name_and_unique_prefix() {
        let mut c = Community::read(&new_doc()).unwrap();
        c.add_skill("Négociation").unwrap();
        assert_eq!(c.resolve_skill("negociation").unwrap(), "Négociation");
        assert_eq!(c.resolve_skill("disc").unwrap(), "Discovery");
        assert_eq!(c.resolve_skill("  user   RES").unwrap(), "User research");
        let err = c.resolve_skill("user").unwrap_err().to_string();
        assert!(err.contains("User focus, User research"), "{err}");
        let err = c.resolve_skill("Discovry").unwrap_err().to_string();
        assert!(err.contains("did you mean Discovery?"), "{err}");
        let err = c.resolve_skill("Juggling").unwrap_err().to_string();
        assert!(err.contains("guild skills add"), "{err}");
    }

    #[test]
    fn empty_community_name_is_refused() {
        assert!(matches!(
            Community::new("c1", " ", "", "t"),
            Err(ModelError::Empty { .. })
        ));
    }

    #[test]
    fn duplicate_skill_is_refused_case_insensitively() {
        let mut c = Community::read(&new_doc()).unwrap();
        assert!(matches!(
            c.add_skill("DISCOVERY"),
            Err(ModelError::DuplicateSkill(_))
        ));
        assert_eq!(
            c.add_skill("  Service   design ").unwrap(),
            "Service design"
        );
    }

    #[test]
    fn stewards_are_the_founder_then_the_current_leads() {
        let day = |s| crate::when::date_of(s).unwrap();
        let mut c = Community::read(&new_doc()).unwrap();
        // A community from before stewards existed: anyone may act, as before.
        assert!(c.stewards(day("2026-01-01")).is_empty());
        assert!(c.is_steward("anyone", day("2026-01-01")));
        c.founder = "ann".into();
        assert!(c.is_steward("ann", day("2026-01-01")));
        assert!(!c.is_steward("bob", day("2026-01-01")));
        c.council.insert(
            "t1".into(),
            Term::new("2026-02-01", "2026-04-30", &["bob".into(), "cat".into()]).unwrap(),
        );
        c.council.insert(
            "t2".into(),
            Term::new("2026-06-01", "2026-08-31", &["dan".into()]).unwrap(),
        );
        // Before the first term the founder; during it its leads; in the gap after it, its
        // leads still; then the next term's.
        assert_eq!(
            c.stewards(day("2026-01-15")),
            BTreeSet::from(["ann".into()])
        );
        assert_eq!(
            c.stewards(day("2026-03-01")),
            BTreeSet::from(["bob".into(), "cat".into()])
        );
        assert!(!c.is_steward("ann", day("2026-03-01")));
        assert_eq!(
            c.stewards(day("2026-05-15")),
            BTreeSet::from(["bob".into(), "cat".into()])
        );
        assert_eq!(
            c.stewards(day("2026-07-01")),
            BTreeSet::from(["dan".into()])
        );
    }

    #[test]
    fn concurrent_log_entries_all_survive_newest_first() {
        let mut a = new_doc();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        let entry = |at: &str, action: &str| LogEntry {
            at: at.into(),
            by: "ann".into(),
            action: action.into(),
            subject: "x".into(),
            summary: action.into(),
        };
        Community::update(&mut a, |c| {
            c.record("l1", entry("2026-01-01T10:00:00Z", "member.removed"));
            Ok(())
        })
        .unwrap();
        Community::update(&mut b, |c| {
            c.record("l2", entry("2026-01-02T10:00:00Z", "session.cancelled"));
            Ok(())
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        let c = Community::read(&a).unwrap();
        let actions: Vec<_> = c
            .log_newest_first()
            .into_iter()
            .map(|(_, e)| e.action.as_str())
            .collect();
        assert_eq!(actions, ["session.cancelled", "member.removed"]);
    }

    #[test]
    fn guests_are_found_by_name_and_kept_apart_from_members() {
        let mut a = new_doc();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        let priya = NewGuest {
            name: "Priya Shah".into(),
            organisation: "HMRC".into(),
            note: "Spoke on pricing".into(),
        };
        Community::update(&mut a, |c| c.add_guest("g1", &priya, "ann", "t").map(drop)).unwrap();
        let siobhan = NewGuest {
            name: "Siobhán Kelly".into(),
            ..NewGuest::default()
        };
        Community::update(&mut b, |c| {
            c.add_guest("g2", &siobhan, "bob", "t").map(drop)
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        let mut c = Community::read(&a).unwrap();
        let ids = |found: Vec<(&String, &Guest)>| -> Vec<String> {
            found.into_iter().map(|(id, _)| id.clone()).collect()
        };
        assert_eq!(ids(c.find_guests("siobhan")), ["g2"]);
        assert_eq!(ids(c.find_guests("PRIYA SHAH")), ["g1"]);
        assert_eq!(ids(c.find_guests("g1")), ["g1"]);
        assert!(c.find_guests("nobody").is_empty());
        assert!(c.add_guest("g3", &NewGuest::default(), "ann", "t").is_err());
        assert!(c.change_guest("g1", &GuestChange::default()).is_err());
        c.change_guest(
            "g1",
            &GuestChange {
                organisation: Some("HM Revenue & Customs".into()),
                ..GuestChange::default()
            },
        )
        .unwrap();
        assert_eq!(c.guests["g1"].organisation, "HM Revenue & Customs");
        c.remove_guest("g1").unwrap();
        assert!(c.find_guests("priya").is_empty());
        assert_eq!(
            c.guest_name("g1"),
            Some("Priya Shah"),
            "still named where recorded"
        );
        assert!(c.remove_guest("g1").is_err());
        // Guests are not members: nothing about them is in the member index.
        assert_eq!(c.docs_of(DocKind::Member).count(), 0);
    }

    #[test]
    fn concurrent_index_and_taxonomy_edits_merge() {
        let mut a = new_doc();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Community::update(&mut a, |c| {
            c.index("m1", DocKind::Member);
            c.add_skill("Facilitation").map(drop)
        })
        .unwrap();
        Community::update(&mut b, |c| {
            c.index("m2", DocKind::Member);
            c.add_skill("Service design").map(drop)
        })
        .unwrap();
        a.merge(&mut b).unwrap();
        let c = Community::read(&a).unwrap();
        let members: Vec<_> = c.docs_of(DocKind::Member).collect();
        assert_eq!(members, ["m1", "m2"]);
        assert!(c.resolve_skill("facilitation").is_ok());
        assert!(c.resolve_skill("service design").is_ok());
    }

    const HUB_A: &str = "/ip4/192.0.2.1/tcp/4717/p2p/12D3KooWA";
    const HUB_B: &str = "/dns4/hub.example.org/udp/4717/quic-v1/p2p/12D3KooWB";

    #[test]
    fn hubs_are_added_once_and_removed_by_address() {
        let mut c = Community::read(&new_doc()).unwrap();
        assert!(c.add_hub(HUB_A, "m1", "2026-01-02T00:00:00Z").unwrap());
        assert!(!c.add_hub(HUB_A, "m2", "2026-01-03T00:00:00Z").unwrap());
        assert_eq!(
            c.hubs[HUB_A].added_by, "m1",
            "a second add keeps the first entry"
        );
        assert!(matches!(
            c.add_hub("  ", "m1", "t"),
            Err(ModelError::Empty { .. })
        ));
        let err = c.remove_hub(HUB_B).unwrap_err().to_string();
        assert!(err.contains("not one of the community's hubs"), "{err}");
        assert_eq!(c.remove_hub(&format!(" {HUB_A} ")).unwrap().added_by, "m1");
        assert!(c.hubs.is_empty());
    }

    #[test]
    fn hubs_added_on_two_replicas_both_survive_and_a_removed_hub_can_be_added_again() {
        let mut a = new_doc();
        Community::update(&mut a, |c| c.add_hub(HUB_A, "m1", "t1").map(drop)).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        Community::update(&mut a, |c| c.add_hub(HUB_B, "m1", "t2").map(drop)).unwrap();
        Community::update(&mut b, |c| c.remove_hub(HUB_A).map(drop)).unwrap();
        let mut c = b.fork().with_actor(ActorId::from(b"c".as_slice()));
        // C, who has B's removal, adds A again before A's replica has heard of either.
        Community::update(&mut c, |c| c.add_hub(HUB_A, "m3", "t3").map(drop)).unwrap();
        a.merge(&mut b).unwrap();
        let merged = Community::read(&a).unwrap();
        assert_eq!(merged.hubs.keys().collect::<Vec<_>>(), [HUB_B]);
        a.merge(&mut c).unwrap();
        let merged = Community::read(&a).unwrap();
        assert_eq!(merged.hubs.keys().collect::<Vec<_>>(), [HUB_B, HUB_A]);
        assert_eq!(merged.hubs[HUB_A].added_by, "m3");
        // Old documents without hubs read as having none.
        let mut old = new_doc();
        automerge::transaction::Transactable::delete(&mut old, automerge::ROOT, "hubs").unwrap();
        assert!(Community::read(&old).unwrap().hubs.is_empty());
    }
}
