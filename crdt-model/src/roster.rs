//! Who may sync the community's data, as the documents say.
//!
//! Holding the community secret is necessary but not enough: a daemon is accepted if it is a
//! device (peer id) of a current member, or if it presents an open invitation (a newcomer
//! fetching the community before its own member document exists). Removing a member revokes
//! every device they registered and every invitation they issued, so once a daemon has the
//! removal it refuses them, even though they still know the secret.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{AutoCommit, ROOT};
use time::OffsetDateTime;

use crate::community::Community;
use crate::member::Member;
use crate::{DocKind, ModelError, View, when};

/// What the roster needs of a member document. Read on every change to any member, so it
/// reads two fields, not the whole profile with its skills history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberAccess {
    pub removed: bool,
    /// Peer id -> when added, as in [`Member::devices`].
    pub devices: BTreeMap<String, String>,
}

impl View for MemberAccess {
    fn read_view(doc: &AutoCommit) -> Result<Self, ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt {
            expected: DocKind::Member.as_str(),
            reason,
        };
        DocKind::Member.check(doc)?;
        let removed: bool =
            autosurgeon::hydrate_prop(doc, ROOT, "removed").map_err(|e| corrupt(e.to_string()))?;
        let devices: Option<BTreeMap<String, String>> =
            autosurgeon::hydrate_prop(doc, ROOT, "devices").map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            removed,
            devices: devices.unwrap_or_default(),
        })
    }
}

impl From<&Member> for MemberAccess {
    fn from(m: &Member) -> Self {
        Self {
            removed: m.removed,
            devices: m.devices.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Roster {
    /// Peer id -> member id, for devices of current members.
    pub devices: HashMap<String, String>,
    /// Devices of removed members: refused outright.
    pub revoked: HashSet<String>,
    /// Hex SHA-256 of open invitation nonces.
    pub invites: HashSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A device of this current member.
    Member(String),
    /// A newcomer with an open invitation.
    Invited,
    /// A device of a removed member.
    Revoked,
    /// Neither a known device nor invited.
    Unknown,
}

impl Roster {
    /// `members`: each member's id and access fields.
    pub fn new<M: std::borrow::Borrow<MemberAccess>>(
        community: &Community,
        members: &[(String, M)],
        now: OffsetDateTime,
    ) -> Self {
        let members = || members.iter().map(|(id, m)| (id.as_str(), m.borrow()));
        let mut roster = Roster::default();
        let removed: HashSet<&str> = members()
            .filter(|(_, m)| m.removed)
            .map(|(id, _)| id)
            .collect();
        for (id, m) in members() {
            for peer in m.devices.keys() {
                if m.removed {
                    roster.revoked.insert(peer.clone());
                } else {
                    roster.devices.insert(peer.clone(), id.to_owned());
                }
            }
        }
        // A device listed by a current member and a removed one stays revoked.
        roster
            .devices
            .retain(|peer, _| !roster.revoked.contains(peer));
        roster.invites = community
            .invites
            .iter()
            .filter(|(_, inv)| !removed.contains(inv.by.as_str()))
            .filter(|(_, inv)| when_parse(&inv.expires).is_some_and(|exp| exp > now))
            .map(|(hash, _)| hash.clone())
            .collect();
        roster
    }

    /// `invite_hash` is the hex SHA-256 of the nonce the peer presented, if any.
    pub fn judge(&self, peer: &str, invite_hash: Option<&str>) -> Verdict {
        if self.revoked.contains(peer) {
            return Verdict::Revoked;
        }
        if let Some(member) = self.devices.get(peer) {
            return Verdict::Member(member.clone());
        }
        if invite_hash.is_some_and(|h| self.invites.contains(h)) {
            return Verdict::Invited;
        }
        Verdict::Unknown
    }
}

fn when_parse(s: &str) -> Option<OffsetDateTime> {
    when::parse("expires", s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::Invitation;

    fn at(s: &str) -> OffsetDateTime {
        when::parse("t", s).unwrap()
    }

    #[test]
    fn member_access_reads_what_the_whole_member_says() {
        use crate::GuildDoc;
        let mut ada = Member::for_tests("ada", "Ada");
        let mut doc = AutoCommit::new();
        ada.write(&mut doc).unwrap();
        assert_eq!(
            MemberAccess::read_view(&doc).unwrap(),
            MemberAccess::from(&ada)
        );
        ada.devices.insert("peer-ada".into(), "t".into());
        ada.removed = true;
        ada.write(&mut doc).unwrap();
        let access = MemberAccess::read_view(&doc).unwrap();
        assert_eq!(access, MemberAccess::from(&ada));
        assert!(access.removed && access.devices.contains_key("peer-ada"));
        assert!(
            MemberAccess::read_view(&AutoCommit::new()).is_err(),
            "not a member"
        );
    }

    #[test]
    fn devices_invites_and_removal() {
        let mut community = Community::new("c", "C", "", "t").unwrap();
        let mut ada = Member::for_tests("ada", "Ada");
        ada.devices.insert("peer-ada".into(), "t".into());
        let mut rob = Member::for_tests("rob", "Rob");
        rob.devices.insert("peer-rob".into(), "t".into());
        community.invites.insert(
            "open".into(),
            Invitation {
                by: "ada".into(),
                expires: "2026-12-01T00:00:00Z".into(),
            },
        );
        community.invites.insert(
            "robs".into(),
            Invitation {
                by: "rob".into(),
                expires: "2026-12-01T00:00:00Z".into(),
            },
        );
        community.invites.insert(
            "old".into(),
            Invitation {
                by: "ada".into(),
                expires: "2026-01-01T00:00:00Z".into(),
            },
        );
        let now = at("2026-11-25T00:00:00Z");
        let access = |m: &Member| (m.id.clone(), MemberAccess::from(m));
        let roster = Roster::new(&community, &[access(&ada), access(&rob)], now);
        assert_eq!(
            roster.judge("peer-ada", None),
            Verdict::Member("ada".into())
        );
        assert_eq!(roster.judge("stranger", Some("open")), Verdict::Invited);
        assert_eq!(
            roster.judge("stranger", Some("old")),
            Verdict::Unknown,
            "expired"
        );
        assert_eq!(roster.judge("stranger", None), Verdict::Unknown);

        rob.removed = true;
        let roster = Roster::new(&community, &[access(&ada), access(&rob)], now);
        assert_eq!(roster.judge("peer-rob", None), Verdict::Revoked);
        assert_eq!(roster.judge("peer-rob", Some("open")), Verdict::Revoked);
        assert_eq!(
            roster.judge("x", Some("robs")),
            Verdict::Unknown,
            "a removed member's invitations die"
        );
    }
}
