//! Who may sync what: this daemon's membership, the documents it shares (the community
//! document and everything its index lists, plus our own private document), and the roster
//! that says which peers are admitted.
//!
//! A peer is admitted once it proved the community secret (see `membership`) *and* the
//! roster agrees: a device of a current member, another of our own devices, or a newcomer
//! with an open invitation. Until the community document is here (a newcomer fetching it)
//! the secret alone admits.
//!
//! Pure: the wall-clock time is an argument (invitations expire).

use std::collections::{BTreeMap, HashMap, HashSet};

use crdt_model::DocKind;
use crdt_model::roster::{Refusal, Roster, Verdict};
use libp2p::PeerId;
use time::OffsetDateTime;

use crate::net::membership::{Membership, invite_hash};
use crate::net::wire::{Request, Response};

/// Why a peer is not admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// It does not hold our community's secret (a stranger, or a member of another
    /// community met on the LAN).
    NotMember,
    /// We belong to no community yet.
    NoCommunity,
    /// It holds the secret but the roster refuses it.
    Refused(Refusal),
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotMember => f.write_str("not a member of this community"),
            Self::NoCommunity => f.write_str("not a member of any community"),
            Self::Refused(r) => f.write_str(r.describe()),
        }
    }
}

/// A peer that passed the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Another device of our own member.
    pub own_device: bool,
    /// Admitted on this invitation (the hex hash of its nonce), not as a listed device: the
    /// use is recorded in the community document.
    pub invite: Option<String>,
}

#[derive(Default)]
pub struct Access {
    membership: Option<Membership>,
    /// Documents peers may send us and we may send them: the community document, the
    /// documents its index lists, and our private document.
    index: BTreeMap<String, DocKind>,
    roster: Option<Roster>,
    /// Uses of invitations granted here that the community document does not show yet:
    /// counted, so a single-use ticket admits one daemon even before its use is recorded.
    claimed: HashMap<String, HashSet<String>>,
}

impl Access {
    pub fn new(membership: Option<Membership>) -> Self {
        let mut access = Self::default();
        access.set_membership(membership);
        access
    }

    pub fn membership(&self) -> Option<&Membership> {
        self.membership.as_ref()
    }

    pub fn community(&self) -> Option<&str> {
        self.membership.as_ref().map(|m| m.community.as_str())
    }

    pub fn is_community(&self, doc: &str) -> bool {
        self.community() == Some(doc)
    }

    /// Becomes a member (after `init`, `join` or linking a device).
    pub fn set_membership(&mut self, membership: Option<Membership>) {
        self.index.clear();
        if let Some(m) = &membership {
            self.index.insert(m.community.clone(), DocKind::Community);
            if let Some(device) = &m.device {
                self.index
                    .insert(device.private_doc.clone(), DocKind::Relationships);
            }
        }
        self.membership = membership;
        self.roster = None;
    }

    /// The documents the community's index lists (with their kinds) and the roster, as read
    /// from the documents. Returns the documents that are new to the index.
    pub fn update(
        &mut self,
        listed: BTreeMap<String, DocKind>,
        roster: Option<Roster>,
    ) -> Vec<String> {
        let Some(membership) = &self.membership else {
            return Vec::new();
        };
        let mut index = BTreeMap::from([(membership.community.clone(), DocKind::Community)]);
        if let Some(device) = &membership.device {
            index.insert(device.private_doc.clone(), DocKind::Relationships);
        }
        for (doc, kind) in listed {
            // Only our own private document is ever accepted, never one named in the index.
            if kind != DocKind::Relationships && kind != DocKind::Community {
                index.entry(doc).or_insert(kind);
            }
        }
        let added = index
            .keys()
            .filter(|d| !self.index.contains_key(*d))
            .cloned()
            .collect();
        self.index = index;
        if let Some(roster) = &roster {
            // Uses now in the document no longer need counting here.
            for (hash, peers) in &mut self.claimed {
                if let Some(invite) = roster.invites.get(hash) {
                    peers.retain(|p| !invite.used_by.contains(p));
                }
            }
            self.claimed.retain(|_, peers| !peers.is_empty());
        }
        self.roster = roster;
        added
    }

    /// The devices of current members, as the roster says (none before it is read).
    pub fn member_devices(&self) -> HashSet<PeerId> {
        self.roster
            .iter()
            .flat_map(|r| r.devices.keys())
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    pub fn kind_of(&self, doc: &str) -> Option<DocKind> {
        self.index.get(doc).copied()
    }

    pub fn index(&self) -> impl Iterator<Item = &String> {
        self.index.keys()
    }

    /// A peer (`own_device`: another of our devices) may send us `doc`, and we may send it
    /// `doc`: a community document, or our private document between our own devices.
    pub fn shareable(&self, own_device: bool, doc: &str) -> bool {
        match self.kind_of(doc) {
            Some(DocKind::Relationships) => own_device,
            Some(_) => true,
            None => false,
        }
    }

    /// Our `Hello` to `peer`, if we belong to a community.
    pub fn hello(&self, me: &PeerId, peer: &PeerId) -> Option<Request> {
        let m = self.membership.as_ref()?;
        Some(Request::Hello {
            community: m.community.clone(),
            proof: m.proof(me, peer),
            invite: m.invite,
            device: m.device_proof(me, peer),
        })
    }

    /// Our answer to a peer's `Hello`, with what we concluded about it.
    pub fn answer_hello(
        &mut self,
        me: &PeerId,
        peer: &PeerId,
        hello: &Request,
        now: OffsetDateTime,
    ) -> Result<(Response, Admission), Denial> {
        let Request::Hello {
            community,
            proof,
            invite,
            device,
        } = hello
        else {
            return Err(Denial::NotMember);
        };
        let m = self.membership.as_ref().ok_or(Denial::NoCommunity)?;
        if !m.verify(community, peer, me, proof) {
            return Err(Denial::NotMember);
        }
        let answer = Response::Hello {
            proof: m.proof(me, peer),
            invite: m.invite,
            device: m.device_proof(me, peer),
        };
        let admission = self.admit(me, peer, invite.as_ref(), device.as_ref(), now)?;
        Ok((answer, admission))
    }

    /// Checks the peer's answer to our `Hello`.
    pub fn check_answer(
        &mut self,
        me: &PeerId,
        peer: &PeerId,
        answer: &Response,
        now: OffsetDateTime,
    ) -> Result<Admission, Denial> {
        let Response::Hello {
            proof,
            invite,
            device,
        } = answer
        else {
            return Err(Denial::NotMember);
        };
        let m = self.membership.as_ref().ok_or(Denial::NoCommunity)?;
        if !m.verify(&m.community, peer, me, proof) {
            return Err(Denial::NotMember);
        }
        self.admit(me, peer, invite.as_ref(), device.as_ref(), now)
    }

    /// The roster's verdict on a peer that proved the secret.
    fn admit(
        &mut self,
        me: &PeerId,
        peer: &PeerId,
        invite: Option<&[u8; 32]>,
        device: Option<&[u8; 32]>,
        now: OffsetDateTime,
    ) -> Result<Admission, Denial> {
        let m = self.membership.as_ref().ok_or(Denial::NoCommunity)?;
        let own_device = m.verify_device(peer, me, device);
        let Some(roster) = &self.roster else {
            // The community document is not here yet: the secret is all we can check.
            return Ok(Admission {
                own_device,
                invite: None,
            });
        };
        let hash = invite.map(invite_hash);
        let claimed = hash
            .as_ref()
            .and_then(|h| self.claimed.get(h))
            .cloned()
            .unwrap_or_default();
        match roster.judge(&peer.to_string(), hash.as_deref(), &claimed, now) {
            Verdict::Member(_) => Ok(Admission {
                own_device,
                invite: None,
            }),
            // Our own devices share our member's document: its device list may not have
            // reached this roster yet.
            Verdict::Refused(r) if own_device && r != Refusal::Removed => Ok(Admission {
                own_device,
                invite: None,
            }),
            Verdict::Refused(r) => Err(Denial::Refused(r)),
            Verdict::Invited(hash) => {
                let already = roster
                    .invites
                    .get(&hash)
                    .is_some_and(|i| i.used_by.contains(&peer.to_string()));
                if already {
                    return Ok(Admission {
                        own_device,
                        invite: None,
                    });
                }
                // Counted here at once, however many times the peer says hello. The use is
                // written into the community document by the newcomer itself when it joins,
                // and by the daemon of whoever issued the invitation (the one a ticket leads
                // to first): others only count it, so that a meetup of newcomers does not turn
                // into a burst of changes to the community document.
                let first = self
                    .claimed
                    .entry(hash.clone())
                    .or_default()
                    .insert(peer.to_string());
                let ours = roster
                    .invites
                    .get(&hash)
                    .is_some_and(|i| roster.devices.get(&me.to_string()) == Some(&i.by));
                Ok(Admission {
                    own_device,
                    invite: (first && ours).then_some(hash),
                })
            }
        }
    }

    /// True if the roster says `peer` is a device of a removed member.
    pub fn revoked(&self, peer: &PeerId) -> bool {
        self.roster
            .as_ref()
            .is_some_and(|r| r.revoked.contains(&peer.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crdt_model::community::{Community, Invitation};
    use crdt_model::roster::MemberAccess;

    use super::*;
    use crate::net::membership::Device;

    fn now() -> OffsetDateTime {
        crdt_model::when::parse("t", "2026-11-25T00:00:00Z").unwrap()
    }

    fn membership() -> Membership {
        Membership::new("comm".into(), [1; 32])
    }

    /// An access whose roster lists `devices` as Ada's and one invitation of `uses`.
    fn access_with(devices: &[PeerId], nonce: [u8; 32], uses: u64) -> Access {
        let mut access = Access::new(Some(membership().with_device(Some(Device {
            secret: [5; 32],
            private_doc: "mine".into(),
        }))));
        let mut community = Community::new("comm", "C", "", "t").unwrap();
        community.invites.insert(
            invite_hash(&nonce),
            Invitation::new("ada", "2026-12-01T00:00:00Z", uses).unwrap(),
        );
        community.index("ada", DocKind::Member);
        let ada = MemberAccess {
            removed: false,
            devices: devices
                .iter()
                .map(|d| (d.to_string(), "t".into()))
                .collect(),
        };
        let roster = Roster::new(&community, &[("ada".to_owned(), ada)]);
        let listed = BTreeMap::from([
            ("ada".to_owned(), DocKind::Member),
            ("sneaky".to_owned(), DocKind::Relationships),
        ]);
        assert_eq!(access.update(listed, Some(roster)), ["ada"]);
        access
    }

    fn hello_from(peer: &PeerId, me: &PeerId, invite: Option<[u8; 32]>) -> Request {
        let m = membership().with_invite(invite);
        Access::new(Some(m)).hello(peer, me).unwrap()
    }

    #[test]
    fn listed_devices_are_admitted_strangers_refused() {
        let (me, ada, stranger) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut access = access_with(&[ada], [9; 32], 1);
        let hello = hello_from(&ada, &me, None);
        let (answer, admission) = access.answer_hello(&me, &ada, &hello, now()).unwrap();
        assert!(matches!(answer, Response::Hello { .. }));
        assert_eq!(admission.invite, None);
        let unlisted = hello_from(&stranger, &me, None);
        assert_eq!(
            access.answer_hello(&me, &stranger, &unlisted, now()).err(),
            Some(Denial::Refused(Refusal::NotListed))
        );
        let wrong_secret = Access::new(Some(Membership::new("comm".into(), [2; 32])))
            .hello(&stranger, &me)
            .unwrap();
        assert_eq!(
            access
                .answer_hello(&me, &stranger, &wrong_secret, now())
                .err(),
            Some(Denial::NotMember)
        );
    }

    #[test]
    fn a_single_use_invitation_admits_one_daemon_even_before_its_use_is_recorded() {
        let me = PeerId::random();
        // We are a device of Ada, who issued it: we record its use.
        let mut access = access_with(&[me], [9; 32], 1);
        let first = PeerId::random();
        let (_, admission) = access
            .answer_hello(&me, &first, &hello_from(&first, &me, Some([9; 32])), now())
            .unwrap();
        assert_eq!(admission.invite, Some(invite_hash(&[9; 32])));
        let second = PeerId::random();
        assert_eq!(
            access
                .answer_hello(
                    &me,
                    &second,
                    &hello_from(&second, &me, Some([9; 32])),
                    now()
                )
                .err(),
            Some(Denial::Refused(Refusal::UsedUp))
        );
        // The first may present it again (its use is recorded once).
        let (_, again) = access
            .answer_hello(&me, &first, &hello_from(&first, &me, Some([9; 32])), now())
            .unwrap();
        assert_eq!(again.invite, None);
        assert_eq!(
            access
                .answer_hello(
                    &me,
                    &second,
                    &hello_from(&second, &me, Some([7; 32])),
                    now()
                )
                .err(),
            Some(Denial::Refused(Refusal::UnknownInvite))
        );
        // A daemon of another member counts the use but leaves recording it to the issuer's
        // daemon and to the newcomer.
        let other = PeerId::random();
        let mut theirs = access_with(&[], [9; 32], 2);
        let hello = hello_from(&first, &other, Some([9; 32]));
        let (_, admission) = theirs.answer_hello(&other, &first, &hello, now()).unwrap();
        assert_eq!(admission.invite, None);
    }

    #[test]
    fn only_our_own_private_document_is_shared_and_only_with_our_devices() {
        let access = access_with(&[], [9; 32], 1);
        assert!(access.shareable(false, "comm"));
        assert!(access.shareable(false, "ada"));
        assert!(!access.shareable(false, "mine"));
        assert!(access.shareable(true, "mine"));
        assert!(
            !access.shareable(true, "sneaky"),
            "a private document named in the index"
        );
        assert!(!access.shareable(true, "unknown"));
    }
}
