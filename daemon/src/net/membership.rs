//! Who may sync a community's data: holders of the community secret.
//!
//! A member proves it holds the secret with an HMAC over the community id and *both* peer
//! ids of the connection. Noise already authenticated those peer ids, so a proof cannot be
//! replayed by anyone else or on any other connection, and it works the same over TCP, QUIC
//! or a relay (unlike a libp2p pre-shared key, which covers TCP only).
//!
//! The secret alone is not enough: the verifier also asks the community's documents (the
//! [`Roster`](crdt_model::roster::Roster)) whether the peer is a device of a current member or
//! presents an open invitation. Removing a member revokes their devices and invitations.
//!
//! The ticket printed by `guild invite` carries the community id, the secret, a one-off
//! invitation nonce and the inviter's addresses: treat it like a password. The code printed
//! by `guild devices link` also carries the member's *device secret*, which a daemon proves
//! the same way to show it is another device of the same member: only such peers receive
//! that member's private documents.

use hmac::{Hmac, Mac};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

const TICKET_PREFIX: &str = "guild1";
const DEVICE_CODE_PREFIX: &str = "guilddev1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub community: String,
    pub secret: [u8; 32],
    /// Multiaddrs (with `/p2p/<peer id>`) where the inviter listens.
    pub addrs: Vec<String>,
    /// The invitation nonce; its SHA-256 is listed in the community document.
    pub invite: [u8; 32],
}

/// What a member's second device needs to become that member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCode {
    pub ticket: Ticket,
    pub member: String,
    pub device: Device,
}

/// A member's own secret and private document, shared only among that member's devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub secret: [u8; 32],
    pub private_doc: String,
}

#[derive(Debug, Error)]
#[error("this is not a Guild device code (print one with `guild devices link`)")]
pub struct BadDeviceCode;

impl DeviceCode {
    pub fn encode(&self) -> String {
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        format!("{DEVICE_CODE_PREFIX}{}", bs58::encode(bytes).into_string())
    }

    pub fn decode(text: &str) -> Result<Self, BadDeviceCode> {
        let body = text
            .trim()
            .strip_prefix(DEVICE_CODE_PREFIX)
            .ok_or(BadDeviceCode)?;
        let bytes = bs58::decode(body).into_vec().map_err(|_| BadDeviceCode)?;
        let code: DeviceCode = postcard::from_bytes(&bytes).map_err(|_| BadDeviceCode)?;
        for id in [
            &code.ticket.community,
            &code.member,
            &code.device.private_doc,
        ] {
            crdt_model::DocId::try_from(id.clone()).map_err(|_| BadDeviceCode)?;
        }
        Ok(code)
    }
}

/// Hex SHA-256 of an invitation nonce: what the community document lists.
pub fn invite_hash(nonce: &[u8; 32]) -> String {
    use sha2::Digest;
    Sha256::digest(nonce)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Error)]
#[error("this is not a Guild invitation ticket (ask for a new one with `guild invite`)")]
pub struct BadTicket;

impl Ticket {
    pub fn encode(&self) -> String {
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        format!("{TICKET_PREFIX}{}", bs58::encode(bytes).into_string())
    }

    pub fn decode(text: &str) -> Result<Self, BadTicket> {
        let body = text.trim().strip_prefix(TICKET_PREFIX).ok_or(BadTicket)?;
        let bytes = bs58::decode(body).into_vec().map_err(|_| BadTicket)?;
        let ticket: Ticket = postcard::from_bytes(&bytes).map_err(|_| BadTicket)?;
        crdt_model::DocId::try_from(ticket.community.clone()).map_err(|_| BadTicket)?;
        Ok(ticket)
    }
}

/// The community secret and id, and this member's device secret: everything needed to prove
/// and check membership.
#[derive(Clone)]
pub struct Membership {
    pub community: String,
    secret: [u8; 32],
    /// This member's device secret and private document.
    pub device: Option<Device>,
    /// The invitation nonce this daemon joined with (shown until its member document has
    /// reached everyone).
    pub invite: Option<[u8; 32]>,
}

/// Never prints the secrets.
impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("community", &self.community)
            .field("device", &self.device.is_some())
            .field("invite", &self.invite.is_some())
            .finish()
    }
}

impl Membership {
    pub fn new(community: String, secret: [u8; 32]) -> Self {
        Self {
            community,
            secret,
            device: None,
            invite: None,
        }
    }

    pub fn with_device(mut self, device: Option<Device>) -> Self {
        self.device = device;
        self
    }

    pub fn with_invite(mut self, invite: Option<[u8; 32]>) -> Self {
        self.invite = invite;
        self
    }

    /// Proof of the device secret, if we hold one.
    pub fn device_proof(&self, from: &PeerId, to: &PeerId) -> Option<[u8; 32]> {
        let device = self.device.as_ref()?;
        Some(
            mac(
                &device.secret,
                b"guild/device/v1\0",
                &self.community,
                from,
                to,
            )
            .finalize()
            .into_bytes()
            .into(),
        )
    }

    /// True if `proof` shows `from` holds our own device secret: another of our devices.
    pub fn verify_device(&self, from: &PeerId, to: &PeerId, proof: Option<&[u8; 32]>) -> bool {
        match (self.device.as_ref(), proof) {
            (Some(device), Some(proof)) => mac(
                &device.secret,
                b"guild/device/v1\0",
                &self.community,
                from,
                to,
            )
            .verify_slice(proof)
            .is_ok(),
            _ => false,
        }
    }

    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// What `from` sends `to` to prove membership.
    pub fn proof(&self, from: &PeerId, to: &PeerId) -> [u8; 32] {
        self.mac(from, to).finalize().into_bytes().into()
    }

    /// Constant-time check of a proof `from` sent to `to`.
    pub fn verify(&self, community: &str, from: &PeerId, to: &PeerId, proof: &[u8; 32]) -> bool {
        community == self.community && self.mac(from, to).verify_slice(proof).is_ok()
    }

    fn mac(&self, from: &PeerId, to: &PeerId) -> Hmac<Sha256> {
        mac(&self.secret, b"guild/hello/v1\0", &self.community, from, to)
    }
}

/// HMAC-SHA256 keyed with `key` over a domain label, the community id and both peer ids.
fn mac(key: &[u8; 32], domain: &[u8], community: &str, from: &PeerId, to: &PeerId) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(domain);
    mac.update(community.as_bytes());
    mac.update(b"\0");
    mac.update(&from.to_bytes());
    mac.update(&to.to_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_bind_secret_community_and_both_peers() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let m = Membership::new("comm".into(), [1; 32]);
        let proof = m.proof(&a, &b);
        assert!(m.verify("comm", &a, &b, &proof));
        assert!(!m.verify("comm", &b, &a, &proof), "direction matters");
        assert!(
            !m.verify("comm", &c, &b, &proof),
            "another peer cannot replay it"
        );
        assert!(!m.verify("other", &a, &b, &proof));
        let stranger = Membership::new("comm".into(), [2; 32]);
        assert!(!m.verify("comm", &a, &b, &stranger.proof(&a, &b)));
    }

    #[test]
    fn tickets_round_trip_and_reject_garbage() {
        let ticket = Ticket {
            community: "3vQB7B6MrGQZaxCuFg4oh".into(),
            secret: [7; 32],
            addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            invite: [3; 32],
        };
        assert_eq!(Ticket::decode(&ticket.encode()).unwrap(), ticket);
        assert!(Ticket::decode("guild1abc").is_err());
        assert!(Ticket::decode("hello").is_err());
    }

    #[test]
    fn device_proofs_need_the_device_secret() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let device = Device {
            secret: [9; 32],
            private_doc: "p".into(),
        };
        let mine = Membership::new("c".into(), [1; 32]).with_device(Some(device.clone()));
        let proof = mine.device_proof(&a, &b);
        assert!(mine.verify_device(&a, &b, proof.as_ref()));
        assert!(!mine.verify_device(&b, &a, proof.as_ref()));
        let other_member = Membership::new("c".into(), [1; 32]).with_device(Some(Device {
            secret: [8; 32],
            ..device
        }));
        assert!(!mine.verify_device(&a, &b, other_member.device_proof(&a, &b).as_ref()));
        assert!(!mine.verify_device(&a, &b, None));
    }

    #[test]
    fn device_codes_round_trip() {
        let code = DeviceCode {
            ticket: Ticket {
                community: "3vQB7B6MrGQZaxCuFg4oh".into(),
                secret: [7; 32],
                addrs: vec![],
                invite: [1; 32],
            },
            member: "4vQB7B6MrGQZaxCuFg4oh".into(),
            device: Device {
                secret: [2; 32],
                private_doc: "5vQB7B6MrGQZaxCuFg4oh".into(),
            },
        };
        assert_eq!(DeviceCode::decode(&code.encode()).unwrap(), code);
        assert!(DeviceCode::decode(&code.ticket.encode()).is_err());
    }
}
