//! Who may sync the community's data, as the documents say.
//!
//! Holding the community secret is necessary but not enough: a daemon is accepted if it is a
//! device (peer id) of a current member, or if it presents an open invitation (a newcomer
//! fetching the community before its own member document exists). Removing a member revokes
//! every device they registered, every invitation they issued and every invitation one of
//! their devices joined with, so once a daemon has the removal it refuses them, even though
//! they still know the secret. An invitation admits at most `uses` daemons; expiry is judged
//! at the moment of asking, with the caller's clock.

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
    /// Every invitation the community document lists, by the hex SHA-256 of its nonce.
    pub invites: HashMap<String, InviteState>,
}

/// What the roster knows of one invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteState {
    /// Member id of who issued it.
    pub by: String,
    /// `None` if the stored time does not parse (such an invitation admits nobody).
    pub expires: Option<OffsetDateTime>,
    pub uses: u64,
    /// Peer ids that joined with it.
    pub used_by: HashSet<String>,
    /// Revoked outright, issued by a member since removed, or used by a device of a member
    /// since removed (a removal revokes every ticket the member issued or held).
    pub revoked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A device of this current member.
    Member(String),
    /// A newcomer with an open invitation (the hex hash of its nonce).
    Invited(String),
    /// Not admitted, and why.
    Refused(Refusal),
}

/// Why a daemon that holds the community secret is not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// A device of a removed member.
    Removed,
    /// Its invitation has expired.
    Expired,
    /// Its invitation was revoked (or its issuer or holder removed).
    Revoked,
    /// Its invitation has admitted as many daemons as it may.
    UsedUp,
    /// Its invitation is not one this community issued (or not here yet).
    UnknownInvite,
    /// Neither a device of a current member nor holding an invitation.
    NotListed,
}

impl Refusal {
    /// How the refused daemon's person should read it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Removed => "a device of a removed member",
            Self::Expired => "this invitation was refused: expired",
            Self::Revoked => "this invitation was refused: revoked",
            Self::UsedUp => "this invitation was refused: already used",
            Self::UnknownInvite => "this invitation was refused: unknown",
            Self::NotListed => "not a device of any current member, and no open invitation",
        }
    }

    /// Could the refusal go away without anyone acting (the refusing daemon has not yet
    /// received the newcomer's member document or the invitation)?
    pub fn may_pass(self) -> bool {
        matches!(self, Self::UnknownInvite | Self::NotListed)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl Roster {
    /// `members`: each member's id and access fields.
    pub fn new<M: std::borrow::Borrow<MemberAccess>>(
        community: &Community,
        members: &[(String, M)],
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
            .map(|(hash, inv)| {
                let used_by: HashSet<String> = inv.used_by.keys().cloned().collect();
                let revoked = inv.revoked.is_some()
                    || removed.contains(inv.by.as_str())
                    || used_by.iter().any(|p| roster.revoked.contains(p));
                let state = InviteState {
                    by: inv.by.clone(),
                    expires: when_parse(&inv.expires),
                    uses: inv.uses,
                    used_by,
                    revoked,
                };
                (hash.clone(), state)
            })
            .collect();
        roster
    }

    /// Judges `peer`, which proved the community secret. `invite_hash` is the hex SHA-256 of
    /// the nonce it presented, if any; `claimed` counts uses of that invitation this daemon
    /// granted that the document does not show yet.
    pub fn judge(
        &self,
        peer: &str,
        invite_hash: Option<&str>,
        claimed: &HashSet<String>,
        now: OffsetDateTime,
    ) -> Verdict {
        if self.revoked.contains(peer) {
            return Verdict::Refused(Refusal::Removed);
        }
        if let Some(member) = self.devices.get(peer) {
            return Verdict::Member(member.clone());
        }
        let Some(hash) = invite_hash else {
            return Verdict::Refused(Refusal::NotListed);
        };
        let Some(invite) = self.invites.get(hash) else {
            return Verdict::Refused(Refusal::UnknownInvite);
        };
        if invite.revoked {
            return Verdict::Refused(Refusal::Revoked);
        }
        if invite.expires.is_none_or(|exp| exp <= now) {
            return Verdict::Refused(Refusal::Expired);
        }
        // A daemon that already joined with it may present it again (until its own member
        // document has reached everyone).
        let used: HashSet<&String> = invite.used_by.iter().chain(claimed).collect();
        if !used.contains(&peer.to_owned()) && used.len() as u64 >= invite.uses {
            return Verdict::Refused(Refusal::UsedUp);
        }
        Verdict::Invited(hash.to_owned())
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
        let invite = |by: &str, expires: &str| Invitation::new(by, expires, 1).unwrap();
        community
            .invites
            .insert("open".into(), invite("ada", "2026-12-01T00:00:00Z"));
        community
            .invites
            .insert("robs".into(), invite("rob", "2026-12-01T00:00:00Z"));
        community
            .invites
            .insert("old".into(), invite("ada", "2026-01-01T00:00:00Z"));
        let now = at("2026-11-25T00:00:00Z");
        let none = HashSet::new();
        let access = |m: &Member| (m.id.clone(), MemberAccess::from(m));
        let roster = Roster::new(&community, &[access(&ada), access(&rob)]);
        assert_eq!(
            roster.judge("peer-ada", None, &none, now),
            Verdict::Member("ada".into())
        );
        assert_eq!(
            roster.judge("stranger", Some("open"), &none, now),
            Verdict::Invited("open".into())
        );
        assert_eq!(
            roster.judge("stranger", Some("old"), &none, now),
            Verdict::Refused(Refusal::Expired)
        );
        assert_eq!(
            roster.judge("stranger", Some("open"), &none, at("2026-12-02T00:00:00Z")),
            Verdict::Refused(Refusal::Expired),
            "expiry is judged at the time of asking, not when the roster was built"
        );
        assert_eq!(
            roster.judge("stranger", Some("nope"), &none, now),
            Verdict::Refused(Refusal::UnknownInvite)
        );
        assert_eq!(
            roster.judge("stranger", None, &none, now),
            Verdict::Refused(Refusal::NotListed)
        );

        rob.removed = true;
        let roster = Roster::new(&community, &[access(&ada), access(&rob)]);
        assert_eq!(
            roster.judge("peer-rob", None, &none, now),
            Verdict::Refused(Refusal::Removed)
        );
        assert_eq!(
            roster.judge("peer-rob", Some("open"), &none, now),
            Verdict::Refused(Refusal::Removed)
        );
        assert_eq!(
            roster.judge("x", Some("robs"), &none, now),
            Verdict::Refused(Refusal::Revoked),
            "a removed member's invitations die"
        );
    }

    #[test]
    fn uses_are_counted_and_revocation_and_removal_close_invitations() {
        let mut community = Community::new("c", "C", "", "t").unwrap();
        let now = at("2026-11-25T00:00:00Z");
        let mut single = Invitation::new("ada", "2026-12-01T00:00:00Z", 1).unwrap();
        single.record_use("first", "t");
        community.invites.insert("single".into(), single);
        let mut twice = Invitation::new("ada", "2026-12-01T00:00:00Z", 2).unwrap();
        twice.record_use("eve-laptop", "t");
        community.invites.insert("twice".into(), twice);
        let mut gone = Invitation::new("ada", "2026-12-01T00:00:00Z", 5).unwrap();
        gone.revoke("t");
        community.invites.insert("gone".into(), gone);
        let ada = Member::for_tests("ada", "Ada");
        let mut eve = Member::for_tests("eve", "Eve");
        eve.devices.insert("eve-laptop".into(), "t".into());
        let none = HashSet::new();
        let access = |m: &Member| (m.id.clone(), MemberAccess::from(m));
        let roster = Roster::new(&community, &[access(&ada), access(&eve)]);
        assert_eq!(
            roster.judge("first", Some("single"), &none, now),
            Verdict::Invited("single".into()),
            "the daemon that used it may present it again"
        );
        assert_eq!(
            roster.judge("second", Some("single"), &none, now),
            Verdict::Refused(Refusal::UsedUp)
        );
        assert_eq!(
            roster.judge("second", Some("twice"), &none, now),
            Verdict::Invited("twice".into())
        );
        let claimed = HashSet::from(["second".to_owned()]);
        assert_eq!(
            roster.judge("third", Some("twice"), &claimed, now),
            Verdict::Refused(Refusal::UsedUp),
            "a use granted here but not yet in the document counts"
        );
        assert_eq!(
            roster.judge("anyone", Some("gone"), &none, now),
            Verdict::Refused(Refusal::Revoked)
        );

        // Removing Eve revokes the ticket she joined with: a fresh data directory (a new
        // peer id) cannot use its remaining use.
        eve.removed = true;
        let roster = Roster::new(&community, &[access(&ada), access(&eve)]);
        assert_eq!(
            roster.judge("eve-again", Some("twice"), &none, now),
            Verdict::Refused(Refusal::Revoked)
        );
        assert!(Invitation::new("ada", "2026-12-01T00:00:00Z", 0).is_err());
    }
}
