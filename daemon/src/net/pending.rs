//! Room for incoming connections that are still shaking hands (TCP accepted, Noise and
//! Yamux not done). Each pending connection holds a slot until its handshake completes or
//! times out (`swarm::HANDSHAKE_TIMEOUT`); without a limit per address, anyone on the same
//! Wi-Fi holding 64 idle sockets locked every peer out (issue 16, item 1).
//!
//! - at most [`PER_IP`] pending connections from one IP address;
//! - at most [`TOTAL`] in all, of which [`RESERVED`] only for addresses members connected
//!   from before (so members already known are never starved, whoever holds the rest).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Pending incoming connections from one IP address (a honest daemon needs one or two).
pub const PER_IP: usize = 8;
/// Pending incoming connections in all.
pub const TOTAL: usize = 64;
/// Of [`TOTAL`], slots only addresses of known members may take.
pub const RESERVED: usize = 16;
/// Addresses of known members remembered.
const KNOWN: usize = 1024;

#[derive(Default)]
pub struct PendingLimits {
    pending: HashMap<ConnectionId, Option<IpAddr>>,
    per_ip: HashMap<IpAddr, usize>,
    known: VecDeque<IpAddr>,
}

/// The IP address of a multiaddr, if it has one.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl PendingLimits {
    /// Members connect from `ip`: give it room among the reserved slots.
    pub fn add_known(&mut self, ip: IpAddr) {
        if self.known.contains(&ip) {
            return;
        }
        self.known.push_back(ip);
        if self.known.len() > KNOWN {
            self.known.pop_front();
        }
    }

    /// May a new pending connection from `ip` start?
    fn allow(&self, ip: Option<IpAddr>) -> Result<(), &'static str> {
        let total = self.pending.len();
        let known = ip.is_some_and(|ip| self.known.contains(&ip));
        if total >= TOTAL {
            return Err("too many pending connections");
        }
        if known {
            return Ok(());
        }
        if total >= TOTAL - RESERVED {
            return Err("pending connections full (the rest is kept for known members)");
        }
        if let Some(ip) = ip
            && self.per_ip.get(&ip).copied().unwrap_or(0) >= PER_IP
        {
            return Err("too many pending connections from this address");
        }
        Ok(())
    }

    fn release(&mut self, id: ConnectionId) {
        if let Some(Some(ip)) = self.pending.remove(&id)
            && let Some(n) = self.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(&'static str);

impl NetworkBehaviour for PendingLimits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let ip = ip_of(remote);
        if let Err(why) = self.allow(ip) {
            tracing::debug!("refusing a connection from {remote}: {why}");
            return Err(ConnectionDenied::new(Refused(why)));
        }
        self.pending.insert(id, ip);
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_default() += 1;
        }
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => self.release(e.connection_id),
            FromSwarm::ListenFailure(e) => self.release(e.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/5000").parse().unwrap()
    }

    fn open(limits: &mut PendingLimits, ip: &str) -> Result<ConnectionId, ConnectionDenied> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id =
            ConnectionId::new_unchecked(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        limits
            .handle_pending_inbound_connection(id, &addr("10.0.0.1"), &addr(ip))
            .map(|()| id)
    }

    /// Issue 16 (item 1): 64 idle sockets from one attacker locked every peer out.
    #[test]
    fn one_address_cannot_take_the_slots_of_others() {
        let mut limits = PendingLimits::default();
        let held: Vec<_> = (0..PER_IP)
            .map(|_| open(&mut limits, "10.0.0.66").unwrap())
            .collect();
        assert!(open(&mut limits, "10.0.0.66").is_err());
        assert!(open(&mut limits, "10.0.0.7").is_ok(), "a newcomer gets in");
        for id in held {
            limits.release(id);
        }
        assert!(open(&mut limits, "10.0.0.66").is_ok());
    }

    #[test]
    fn known_members_keep_room_when_strangers_fill_the_rest() {
        let mut limits = PendingLimits::default();
        limits.add_known("10.0.0.2".parse().unwrap());
        // Strangers from many addresses fill everything not reserved.
        let mut n = 0;
        while open(&mut limits, &format!("10.1.{}.{}", n / 250, n % 250 + 1)).is_ok() {
            n += 1;
        }
        assert_eq!(n, TOTAL - RESERVED);
        for _ in 0..RESERVED {
            assert!(open(&mut limits, "10.0.0.2").is_ok(), "a known member");
        }
        assert!(
            open(&mut limits, "10.0.0.2").is_err(),
            "all in all, {TOTAL}"
        );
    }
}
