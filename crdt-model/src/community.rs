//! The community document: who we are, the skill taxonomy and the index of documents.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::council::Term;
use crate::skills::{DEFAULT_SKILLS, skill_key};
use crate::text::{self, MAX_LINE, MAX_TEXT};
use crate::{DocKind, GuildDoc, ModelError};

pub const SCHEMA: u64 = 1;

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
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
}

/// An invitation to join, as the community document lists it. The ticket printed by
/// `guild invite` carries a random nonce; the document holds only its SHA-256, so reading the
/// document does not let anyone join.
///
/// Merge rules: `used_by` is a map keyed by peer id, so uses recorded concurrently on
/// different daemons all survive; `revoked` is a tombstone nothing clears.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
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
pub struct SkillDef {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
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

    /// The taxonomy's spelling of `name`, if the skill exists (case-insensitive).
    pub fn resolve_skill(&self, name: &str) -> Result<String, ModelError> {
        self.skills
            .get(&skill_key(name))
            .map(|s| s.name.clone())
            .ok_or_else(|| ModelError::UnknownSkill(name.trim().to_owned()))
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
            Err(ModelError::UnknownSkill(_))
        ));
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
}
