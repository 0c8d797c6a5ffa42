//! Who may sync a community's data: holders of the community secret.
//!
//! A member proves it holds the secret with an HMAC over the community id and *both* peer
//! ids of the connection. Noise already authenticated those peer ids, so a proof cannot be
//! replayed by anyone else or on any other connection, and it works the same over TCP, QUIC
//! or a relay (unlike a libp2p pre-shared key, which covers TCP only).
//!
//! The ticket printed by `guild invite` carries the community id, the secret and the
//! inviter's addresses: treat it like a password.

use hmac::{Hmac, Mac};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

const TICKET_PREFIX: &str = "guild1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub community: String,
    pub secret: [u8; 32],
    /// Multiaddrs (with `/p2p/<peer id>`) where the inviter listens.
    pub addrs: Vec<String>,
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

/// The community secret and id: everything needed to prove and check membership.
#[derive(Clone)]
pub struct Membership {
    pub community: String,
    secret: [u8; 32],
}

impl Membership {
    pub fn new(community: String, secret: [u8; 32]) -> Self {
        Self { community, secret }
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
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"guild/hello/v1\0");
        mac.update(self.community.as_bytes());
        mac.update(b"\0");
        mac.update(&from.to_bytes());
        mac.update(&to.to_bytes());
        mac
    }
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
        };
        assert_eq!(Ticket::decode(&ticket.encode()).unwrap(), ticket);
        assert!(Ticket::decode("guild1abc").is_err());
        assert!(Ticket::decode("hello").is_err());
    }
}
