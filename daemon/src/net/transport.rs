//! What the sync engine's shell needs of a network: send a request and get its answer,
//! answer a request, dial, disconnect, ban; and the events it reports. The libp2p swarm
//! (`net::swarm`) is the production one; [`MemNet`] connects engines in one process over
//! channels, for tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::wire::Frame;

pub trait Transport: Send + Sync + 'static {
    /// How an inbound request is answered.
    type Reply: Send + 'static;

    /// Sends a request frame to `peer`; resolves with the answer's bytes.
    fn request(&self, peer: PeerId, bytes: Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, String>>;

    fn respond(&self, reply: Self::Reply, bytes: Vec<u8>);

    /// Dials `addrs` (of `peer`, if known); resolves with the peer once connected.
    fn dial(
        &self,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> BoxFuture<'static, Result<PeerId, String>>;

    /// Closes every connection of `peer`.
    fn disconnect(&self, peer: PeerId);

    /// Closes every connection of `peer` and refuses new ones until `until`.
    fn ban(&self, peer: PeerId, until: Instant);

    /// The engine admitted `peer`: the network may give its address room among pending
    /// connections.
    fn admitted(&self, peer: PeerId);

    /// The devices of the community's current members, as the roster says (a hub serves
    /// them and nobody else).
    fn members(&self, _peers: HashSet<PeerId>) {}

    /// The community's hubs (addresses ending with the hub's peer id) and the rendezvous
    /// namespace members register under.
    fn hubs(&self, _namespace: String, _hubs: Vec<Multiaddr>) {}
}

/// What a transport reports.
#[derive(Debug)]
pub enum Event<R> {
    /// The first connection to `peer` is up.
    Connected {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        peer: PeerId,
    },
    /// A request; answer it with [`Transport::respond`].
    Request {
        peer: PeerId,
        frame: Frame,
        reply: R,
    },
    /// A member's addresses, from a hub's rendezvous point.
    Discovered {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    /// A peer seen on the local network.
    LanSeen {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    LanExpired {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// Our own addresses changed.
    NetworkChanged,
}

/// Engines in one process, connected over channels. Every node listens on `/memory/<n>`.
#[derive(Clone, Default)]
pub struct MemNet(Arc<Mutex<Hub>>);

#[derive(Default)]
struct Hub {
    nodes: HashMap<PeerId, mpsc::UnboundedSender<Event<MemReply>>>,
    addrs: HashMap<Multiaddr, PeerId>,
    /// Connected pairs (smaller id first).
    links: std::collections::HashSet<(PeerId, PeerId)>,
    bans: HashMap<(PeerId, PeerId), Instant>,
}

/// The answer channel of an in-memory request.
pub struct MemReply(oneshot::Sender<Vec<u8>>);

impl std::fmt::Debug for MemReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemReply")
    }
}

/// One node's end of a [`MemNet`].
pub struct MemTransport {
    me: PeerId,
    net: MemNet,
}

impl MemNet {
    /// Adds a node; returns its transport, its address and its events.
    pub fn join(
        &self,
        me: PeerId,
    ) -> (
        MemTransport,
        Multiaddr,
        mpsc::UnboundedReceiver<Event<MemReply>>,
    ) {
        let (events, rx) = mpsc::unbounded_channel();
        let mut hub = self.hub();
        let addr: Multiaddr = format!("/memory/{}", hub.addrs.len() + 1)
            .parse()
            .unwrap_or_else(|_| Multiaddr::empty());
        hub.nodes.insert(me, events);
        hub.addrs.insert(addr.clone(), me);
        (
            MemTransport {
                me,
                net: self.clone(),
            },
            addr,
            rx,
        )
    }

    /// Removes a node (a crash): its peers see it disconnect.
    pub fn leave(&self, me: &PeerId) {
        let mut hub = self.hub();
        hub.nodes.remove(me);
        let links: Vec<(PeerId, PeerId)> = hub
            .links
            .iter()
            .filter(|(a, b)| a == me || b == me)
            .copied()
            .collect();
        for (a, b) in links {
            hub.links.remove(&(a, b));
            let other = if a == *me { b } else { a };
            if let Some(events) = hub.nodes.get(&other) {
                let _ = events.send(Event::Disconnected { peer: *me });
            }
        }
    }

    fn hub(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn pair(a: PeerId, b: PeerId) -> (PeerId, PeerId) {
    if a < b { (a, b) } else { (b, a) }
}

impl Transport for MemTransport {
    type Reply = MemReply;

    fn request(&self, peer: PeerId, bytes: Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let (reply, answer) = oneshot::channel();
        let sent = {
            let hub = self.net.hub();
            hub.links
                .contains(&pair(self.me, peer))
                .then(|| hub.nodes.get(&peer).cloned())
                .flatten()
                .is_some_and(|events| {
                    events
                        .send(Event::Request {
                            peer: self.me,
                            frame: Frame::outgoing(bytes),
                            reply: MemReply(reply),
                        })
                        .is_ok()
                })
        };
        Box::pin(async move {
            if !sent {
                return Err("not connected".into());
            }
            answer.await.map_err(|_| "connection closed".to_owned())
        })
    }

    fn respond(&self, reply: MemReply, bytes: Vec<u8>) {
        let _ = reply.0.send(bytes);
    }

    fn dial(
        &self,
        _peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> BoxFuture<'static, Result<PeerId, String>> {
        let result = (|| {
            let mut hub = self.net.hub();
            let peer = addrs
                .iter()
                .find_map(|a| hub.addrs.get(a).copied())
                .ok_or("nobody listens there")?;
            let events = hub.nodes.get(&peer).cloned().ok_or("gone")?;
            let now = Instant::now();
            if hub
                .bans
                .get(&(peer, self.me))
                .is_some_and(|until| *until > now)
            {
                return Err("connection refused");
            }
            if hub.links.insert(pair(self.me, peer)) {
                let me_addr = hub
                    .addrs
                    .iter()
                    .find(|(_, p)| **p == self.me)
                    .map(|(a, _)| a.clone())
                    .unwrap_or_else(Multiaddr::empty);
                let _ = events.send(Event::Connected {
                    peer: self.me,
                    addr: me_addr,
                });
                if let Some(mine) = hub.nodes.get(&self.me) {
                    let _ = mine.send(Event::Connected {
                        peer,
                        addr: addrs.first().cloned().unwrap_or_else(Multiaddr::empty),
                    });
                }
            }
            Ok(peer)
        })()
        .map_err(str::to_owned);
        Box::pin(async move { result })
    }

    fn disconnect(&self, peer: PeerId) {
        let mut hub = self.net.hub();
        if hub.links.remove(&pair(self.me, peer)) {
            for (a, b) in [(self.me, peer), (peer, self.me)] {
                if let Some(events) = hub.nodes.get(&a) {
                    let _ = events.send(Event::Disconnected { peer: b });
                }
            }
        }
    }

    fn ban(&self, peer: PeerId, until: Instant) {
        self.net.hub().bans.insert((self.me, peer), until);
        self.disconnect(peer);
    }

    fn admitted(&self, _peer: PeerId) {}
}
