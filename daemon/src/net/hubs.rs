//! What a daemon does with its community's hubs (issue 13), in the swarm's event loop.
//!
//! The sync engine's dialer keeps every hub connected, with its backoff (hubs are listed in
//! the community document, `guild hubs add`). Over a direct connection to a hub this daemon:
//! - learns from AutoNAT v2 whether its own addresses are reachable from outside;
//! - while they are not known to be ([`Reachability`] not public), reserves a relay slot on
//!   the hub (`listen_on(<hub>/p2p-circuit)`), so that other members can reach it through the
//!   hub; DCUtR then tries to turn each relayed connection into a direct one;
//! - registers its external addresses (reachable ones, or the relay circuit) under the
//!   community's namespace at the hub's rendezvous point, and discovers other members'
//!   there every [`TICK`]; what it discovers goes to the dialer like a peer seen on the LAN.
//!
//! A hub does none of this for itself: it is reachable by definition (its listen addresses
//! are its external addresses) and serves the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, Swarm, rendezvous};

use super::swarm::Behaviour;

/// How often registrations are checked and members discovered at each connected hub.
pub const TICK: Duration = Duration::from_secs(5);
/// A registration is renewed after this long (it lives [`rendezvous::DEFAULT_TTL`], 2 h).
const RENEW_AFTER: Duration = Duration::from_secs(60 * 60);
/// A failed reservation is retried after this long, doubling up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(5 * 60);

/// Whether others can dial this daemon, as AutoNAT found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Reachability {
    /// Not tested yet (no hub connected, or no answer yet).
    #[default]
    Unknown,
    /// A hub dialled us back on these addresses.
    Public(Vec<Multiaddr>),
    /// Every address tested failed: we are behind a NAT or a firewall.
    Private,
}

/// How a connected peer is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// A connection one of us dialled directly.
    Direct,
    /// Only through a hub's relay.
    Relayed { hub: PeerId },
    /// A direct connection that hole punching (DCUtR) made from a relayed one.
    HolePunched,
}

/// The hub that relays a `/p2p-circuit` address (the peer id before `/p2p-circuit`).
pub fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut relay = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(peer) => relay = Some(peer),
            Protocol::P2pCircuit => return relay,
            _ => {}
        }
    }
    None
}

/// The peer id a multiaddr ends with.
pub fn peer_in(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().last().and_then(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

pub struct Hubs {
    me: PeerId,
    /// This daemon is a hub.
    serving: bool,
    namespace: Option<rendezvous::Namespace>,
    /// Each hub's address (ending with its peer id).
    addrs: BTreeMap<PeerId, Multiaddr>,
    /// Hubs connected directly.
    connected: HashSet<PeerId>,
    reachability: Reachability,
    /// Relay listeners asked for, by hub.
    listeners: HashMap<PeerId, ListenerId>,
    /// Hubs that accepted our reservation.
    reserved: HashSet<PeerId>,
    /// When a reservation may be asked for again, and the next wait.
    retry: HashMap<PeerId, (Instant, Duration)>,
    /// When we last registered at each hub.
    registered: HashMap<PeerId, Instant>,
    /// Where each hub's discovery left off.
    cookies: HashMap<PeerId, rendezvous::Cookie>,
}

impl Hubs {
    pub fn new(me: PeerId, serving: bool) -> Self {
        Self {
            me,
            serving,
            namespace: None,
            addrs: BTreeMap::new(),
            connected: HashSet::new(),
            reachability: Reachability::Unknown,
            listeners: HashMap::new(),
            reserved: HashSet::new(),
            retry: HashMap::new(),
            registered: HashMap::new(),
            cookies: HashMap::new(),
        }
    }

    pub fn serving(&self) -> bool {
        self.serving
    }

    pub fn reachability(&self) -> Reachability {
        self.reachability.clone()
    }

    pub fn reservations(&self) -> Vec<PeerId> {
        let mut out: Vec<PeerId> = self.reserved.iter().copied().collect();
        out.sort();
        out
    }

    /// The hubs, and whether each is connected.
    pub fn listed(&self) -> Vec<(Multiaddr, bool)> {
        self.addrs
            .iter()
            .map(|(peer, addr)| (addr.clone(), self.connected.contains(peer)))
            .collect()
    }

    pub fn is_hub(&self, peer: &PeerId) -> bool {
        self.addrs.contains_key(peer)
    }

    /// The community's hubs changed (or we joined one).
    pub fn set(&mut self, swarm: &mut Swarm<Behaviour>, namespace: &str, hubs: Vec<Multiaddr>) {
        match rendezvous::Namespace::new(namespace.to_owned()) {
            Ok(ns) => self.namespace = Some(ns),
            Err(_) => tracing::warn!("rendezvous namespace too long: {namespace}"),
        }
        if self.serving {
            // Our own entries are where members reach us (a public address in front of a
            // forwarded port, say): relay reservations hand them out.
            for own in hubs.iter().filter(|a| peer_in(a) == Some(self.me)) {
                let mut public = own.clone();
                public.pop();
                swarm.add_external_address(public);
            }
        }
        let addrs: BTreeMap<PeerId, Multiaddr> = hubs
            .into_iter()
            .filter_map(|a| peer_in(&a).map(|p| (p, a)))
            .filter(|(p, _)| *p != self.me)
            .collect();
        let gone: Vec<PeerId> = self
            .addrs
            .keys()
            .filter(|p| !addrs.contains_key(p))
            .copied()
            .collect();
        for hub in gone {
            if let Some(listener) = self.listeners.remove(&hub) {
                swarm.remove_listener(listener);
            }
            self.reserved.remove(&hub);
            self.registered.remove(&hub);
            self.cookies.remove(&hub);
        }
        self.addrs = addrs;
        // Hubs we were connected to before we knew them as hubs (the join's connection).
        self.connected = self
            .addrs
            .keys()
            .filter(|hub| swarm.is_connected(hub))
            .copied()
            .collect();
        self.tick(swarm, Instant::now());
    }

    /// A direct connection to `peer` came up.
    pub fn connected(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) {
        if self.addrs.contains_key(&peer) && self.connected.insert(peer) {
            tracing::info!("connected to hub {peer}");
            self.tick(swarm, Instant::now());
        }
    }

    /// The last direct connection to `peer` closed.
    pub fn disconnected(&mut self, peer: PeerId) {
        if self.connected.remove(&peer) {
            self.registered.remove(&peer);
        }
    }

    /// AutoNAT tested `addr`.
    pub fn tested(&mut self, swarm: &mut Swarm<Behaviour>, addr: Multiaddr, reachable: bool) {
        if reachable {
            self.confirmed(swarm, addr);
        } else if self.reachability == Reachability::Unknown {
            tracing::info!("not reachable from outside at {addr}: reserving relay slots on hubs");
            self.reachability = Reachability::Private;
            self.tick(swarm, Instant::now());
        }
    }

    /// An address of ours was confirmed reachable (AutoNAT), or a relay reservation made an
    /// external circuit address.
    pub fn confirmed(&mut self, swarm: &mut Swarm<Behaviour>, addr: Multiaddr) {
        // Our registrations name our external addresses: renew them.
        self.registered.clear();
        if relay_of(&addr).is_some() {
            self.tick(swarm, Instant::now());
            return;
        }
        let mut public = match std::mem::take(&mut self.reachability) {
            Reachability::Public(addrs) => addrs,
            _ => Vec::new(),
        };
        if !public.contains(&addr) {
            tracing::info!("reachable from outside at {addr}");
            public.push(addr);
        }
        self.reachability = Reachability::Public(public);
        // Reachable: relay slots are no longer needed.
        for (_, listener) in self.listeners.drain() {
            swarm.remove_listener(listener);
        }
        self.reserved.clear();
        self.tick(swarm, Instant::now());
    }

    /// An external address of ours is no longer valid.
    pub fn expired(&mut self, addr: &Multiaddr) {
        self.registered.clear();
        if let Reachability::Public(addrs) = &mut self.reachability {
            addrs.retain(|a| a != addr);
            if addrs.is_empty() {
                self.reachability = Reachability::Unknown;
            }
        }
    }

    pub fn reservation_accepted(&mut self, hub: PeerId) {
        tracing::info!("relay slot reserved on hub {hub}");
        self.retry.remove(&hub);
        self.reserved.insert(hub);
    }

    /// A relay listener closed: the reservation failed or ended.
    pub fn listener_closed(&mut self, listener: ListenerId, why: &str) {
        let Some(hub) = self
            .listeners
            .iter()
            .find(|(_, l)| **l == listener)
            .map(|(h, _)| *h)
        else {
            return;
        };
        tracing::info!("relay slot on hub {hub} lost: {why}");
        self.listeners.remove(&hub);
        self.reserved.remove(&hub);
        let wait = self
            .retry
            .get(&hub)
            .map_or(FIRST_RETRY, |(_, w)| (*w * 2).min(MAX_RETRY));
        self.retry.insert(hub, (Instant::now() + wait, wait));
    }

    pub fn registered(&mut self, hub: PeerId) {
        self.registered.insert(hub, Instant::now());
    }

    pub fn register_failed(&mut self, hub: PeerId) {
        self.registered.remove(&hub);
    }

    /// What a hub's rendezvous point told us: other members and their addresses.
    pub fn discovered(
        &mut self,
        hub: PeerId,
        registrations: Vec<rendezvous::Registration>,
        cookie: rendezvous::Cookie,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.cookies.insert(hub, cookie);
        registrations
            .into_iter()
            .map(|r| (r.record.peer_id(), r.record.addresses().to_vec()))
            .filter(|(peer, addrs)| *peer != self.me && !addrs.is_empty())
            .collect()
    }

    /// Reserves, registers and discovers where due.
    pub fn tick(&mut self, swarm: &mut Swarm<Behaviour>, now: Instant) {
        if self.serving {
            return;
        }
        let Some(namespace) = self.namespace.clone() else {
            return;
        };
        let connected: Vec<PeerId> = self.connected.iter().copied().collect();
        for hub in connected {
            let Some(addr) = self.addrs.get(&hub).cloned() else {
                continue;
            };
            let public = matches!(self.reachability, Reachability::Public(_));
            let due = self.retry.get(&hub).is_none_or(|(at, _)| *at <= now);
            if !public && due && !self.listeners.contains_key(&hub) {
                match swarm.listen_on(addr.with(Protocol::P2pCircuit)) {
                    Ok(listener) => {
                        self.listeners.insert(hub, listener);
                    }
                    Err(e) => tracing::debug!("cannot reserve on hub {hub}: {e}"),
                }
            }
            let renew = self
                .registered
                .get(&hub)
                .is_none_or(|at| now.saturating_duration_since(*at) > RENEW_AFTER);
            if renew {
                let behaviour = swarm.behaviour_mut();
                match behaviour.rendezvous.register(namespace.clone(), hub, None) {
                    // Marked now so that one registration is under way at a time; a failure
                    // clears it.
                    Ok(()) => {
                        self.registered.insert(hub, now);
                    }
                    Err(e) => tracing::debug!("not registering at hub {hub} yet: {e}"),
                }
            }
            let cookie = self.cookies.get(&hub).cloned();
            swarm
                .behaviour_mut()
                .rendezvous
                .discover(Some(namespace.clone()), cookie, None, hub);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_of_a_circuit_address_is_the_peer_before_p2p_circuit() {
        let (hub, member) = (PeerId::random(), PeerId::random());
        let circuit: Multiaddr =
            format!("/ip4/192.0.2.1/tcp/4717/p2p/{hub}/p2p-circuit/p2p/{member}")
                .parse()
                .unwrap();
        assert_eq!(relay_of(&circuit), Some(hub));
        assert_eq!(peer_in(&circuit), Some(member));
        let direct: Multiaddr = format!("/ip4/192.0.2.1/tcp/4717/p2p/{hub}")
            .parse()
            .unwrap();
        assert_eq!(relay_of(&direct), None);
        assert_eq!(peer_in(&direct), Some(hub));
    }
}
