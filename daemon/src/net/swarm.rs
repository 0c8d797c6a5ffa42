//! The libp2p swarm, owned by one event loop: the production [`Transport`]. Everything else
//! talks to it through a cloneable [`NetHandle`] that sends commands with oneshot replies;
//! what happens on the network reaches the sync engine as [`Event`]s.
//!
//! Defences that belong at this level:
//! - handshakes (TCP accepted, Noise and Yamux under way) must finish within
//!   [`HANDSHAKE_TIMEOUT`], and pending incoming connections are limited per IP address with
//!   room kept for known members ([`PendingLimits`]);
//! - connection limits per peer and in all;
//! - a block list that keeps banned peers out (their connections are closed and new ones
//!   denied until the ban ends);
//! - dead connections are noticed: every connection is pinged every [`PING_EVERY`], and one
//!   with no answered ping for [`DEAD_AFTER`] is closed (a partition with every link still
//!   up, a laptop suspended), so the peer shows as disconnected and the engine redials;
//!   a connection nothing uses for [`IDLE_TIMEOUT`] closes (members' connections carry a
//!   digest round every 15 s). libp2p's TCP transport does not expose TCP keep-alive; the
//!   pings do its job, faster.
//!
//! Members behind NATs (issue 13), with libp2p's own behaviours: every daemon runs a relay
//! client, DCUtR (hole punching over a relayed connection), an AutoNAT v2 client and a
//! rendezvous client (see [`hubs`](super::hubs) for what is done with hubs). A daemon run
//! with `--hub` also serves: a circuit relay v2 whose reservations and circuits only
//! current members' devices get ([`relay_config`]), a rendezvous point and AutoNAT v2
//! dial-backs that answer members only ([`MembersOnly`]). Every connection, whatever its
//! path (direct, relayed, hole-punched), is an ordinary connection to the sync engine: the
//! membership hello runs on it before any document moves.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, allow_block_list, autonat, connection_limits, dcutr,
    identify, identity::Keypair, mdns, noise, ping, relay, rendezvous, tcp, yamux,
};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use super::gate::{MemberGate, MembersOnly};
use super::hubs::{Hubs, Path, Reachability, relay_of};
use super::limits;
use super::pending::{PendingLimits, ip_of};
use super::transport::{Event, Transport};
use super::wire::{self, Frame};

/// A connection nobody uses closes after this long (members' connections carry a digest
/// round every 15 s, so they stay).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// One request and its response, including applying a large batch on the far side.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// A connection must be set up (TCP, Noise, Yamux) within this long, both ways: an
/// incoming handshake that stalls gives its slot back, a dial to a host that does not
/// answer gives up (and is retried by the engine's dialer).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Ping every connection this often...
pub const PING_EVERY: Duration = Duration::from_secs(2);
/// ...giving each ping this long...
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// ...and close a connection with no answered ping for this long: the path is gone. (libp2p's
/// ping stays silent on a first failure and then waits for a new stream, so its own failure
/// report can take half a minute.)
pub const DEAD_AFTER: Duration = Duration::from_secs(8);
/// How often ended bans are lifted.
const UNBAN_CHECK: Duration = Duration::from_secs(1);

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so that banned peers and connections over the limits are refused before
    /// anything else sees them.
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pending: PendingLimits,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    sync: request_response::Behaviour<wire::Codec>,
    /// Reservations on hubs, and connections through them.
    relay_client: relay::client::Behaviour,
    /// Upgrades relayed connections to direct ones.
    dcutr: dcutr::Behaviour,
    /// Asks hubs whether our addresses are reachable from outside.
    autonat: autonat::v2::client::Behaviour,
    /// Registers our addresses at hubs and learns other members'.
    pub(super) rendezvous: rendezvous::client::Behaviour,
    /// `--hub` only: the relay server (members only, through its rate limiters).
    relay: Toggle<relay::Behaviour>,
    /// `--hub` only: AutoNAT v2 dial-backs, for members.
    autonat_server: Toggle<MembersOnly<autonat::v2::server::Behaviour>>,
    /// `--hub` only: the rendezvous point, for members.
    rendezvous_server: Toggle<MembersOnly<rendezvous::server::Behaviour>>,
}

#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum NetError {
    #[error("the network task has stopped")]
    Stopped,
    #[error("request to {peer} failed: {reason}")]
    Request { peer: PeerId, reason: String },
    #[error("cannot dial {addr}: {reason}")]
    Dial { addr: String, reason: String },
}

/// What the engine is told, with libp2p's answer channel.
pub type NetEvent = Event<ResponseChannel<Vec<u8>>>;

enum Command {
    Request {
        peer: PeerId,
        bytes: Frame,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        channel: ResponseChannel<Vec<u8>>,
        bytes: Vec<u8>,
    },
    Dial {
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    Disconnect {
        peer: PeerId,
    },
    /// Close every connection of `peer` and refuse new ones until `until`.
    Ban {
        peer: PeerId,
        until: Instant,
    },
    /// The engine admitted `peer`: the addresses it connects from are members'.
    Admitted {
        peer: PeerId,
    },
    Info {
        reply: oneshot::Sender<NetInfo>,
    },
    /// The devices of current members (who a hub serves).
    Members(std::collections::HashSet<PeerId>),
    /// The community's hubs and its rendezvous namespace.
    Hubs {
        namespace: String,
        hubs: Vec<Multiaddr>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// A snapshot of the swarm for status pages.
#[derive(Clone, Debug, Default)]
pub struct NetInfo {
    pub listen_addrs: Vec<Multiaddr>,
    /// Connected peers and the remote address of each connection.
    pub connected: HashMap<PeerId, Vec<Multiaddr>>,
    /// How each connected peer is reached.
    pub paths: HashMap<PeerId, Path>,
    /// What AutoNAT found of our addresses.
    pub reachability: Reachability,
    /// Hubs we hold a relay reservation on.
    pub reservations: Vec<PeerId>,
    /// The community's hubs, and whether each is connected.
    pub hubs: Vec<(Multiaddr, bool)>,
    /// This daemon serves as a hub.
    pub hub: bool,
}

#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::UnboundedSender<Command>,
    pub local_peer_id: PeerId,
}

impl NetHandle {
    pub async fn info(&self) -> Result<NetInfo, NetError> {
        let (reply, wait) = oneshot::channel();
        self.send(Command::Info { reply })?;
        wait.await.map_err(|_| NetError::Stopped)
    }

    /// Stops the swarm: every connection and listener closes.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.send(Command::Shutdown { done }).is_ok() {
            let _ = wait.await;
        }
    }

    fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands.send(command).map_err(|_| NetError::Stopped)
    }
}

impl Transport for NetHandle {
    type Reply = ResponseChannel<Vec<u8>>;

    fn request(&self, peer: PeerId, bytes: Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let (reply, wait) = oneshot::channel();
        let sent = self.send(Command::Request {
            peer,
            bytes: Frame::outgoing(bytes),
            reply,
        });
        Box::pin(async move {
            sent.map_err(|e| e.to_string())?;
            match wait.await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(_) => Err(NetError::Stopped.to_string()),
            }
        })
    }

    fn respond(&self, channel: ResponseChannel<Vec<u8>>, bytes: Vec<u8>) {
        // If the network stopped, the peer is gone too: nothing to answer.
        let _ = self.send(Command::Respond { channel, bytes });
    }

    fn dial(
        &self,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> BoxFuture<'static, Result<PeerId, String>> {
        let (reply, wait) = oneshot::channel();
        let sent = self.send(Command::Dial { peer, addrs, reply });
        Box::pin(async move {
            sent.map_err(|e| e.to_string())?;
            match wait.await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(_) => Err(NetError::Stopped.to_string()),
            }
        })
    }

    fn disconnect(&self, peer: PeerId) {
        let _ = self.send(Command::Disconnect { peer });
    }

    fn ban(&self, peer: PeerId, until: Instant) {
        let _ = self.send(Command::Ban { peer, until });
    }

    fn admitted(&self, peer: PeerId) {
        let _ = self.send(Command::Admitted { peer });
    }

    fn members(&self, peers: std::collections::HashSet<PeerId>) {
        let _ = self.send(Command::Members(peers));
    }

    fn hubs(&self, namespace: String, hubs: Vec<Multiaddr>) {
        let _ = self.send(Command::Hubs { namespace, hubs });
    }
}

pub struct NetConfig {
    pub keypair: Keypair,
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
    /// Serve as a hub (`guildd run --hub`).
    pub hub: bool,
}

/// How long a relayed circuit may last, and how much it may carry, on a hub: long and large
/// enough for a member to sync through it (relay v2's defaults, 2 minutes and 128 KiB, cut a
/// join short). Only members get circuits at all.
pub const MEMBER_CIRCUIT_DURATION: Duration = Duration::from_secs(60 * 60);
pub const MEMBER_CIRCUIT_BYTES: u64 = 1 << 30;

/// The relay server's configuration on a hub: reservations and circuits for members'
/// devices only (the rate limiters ask the gate; a stranger is told "resource limit
/// exceeded", relay v2's refusal), with circuits raised for syncing.
pub fn relay_config(gate: &MemberGate) -> relay::Config {
    let (reserving, circuits) = (gate.clone(), gate.clone());
    relay::Config {
        max_reservations: 1024,
        max_reservations_per_peer: 4,
        max_circuits: 256,
        max_circuits_per_peer: 8,
        max_circuit_duration: MEMBER_CIRCUIT_DURATION,
        max_circuit_bytes: MEMBER_CIRCUIT_BYTES,
        reservation_rate_limiters: vec![Box::new(
            move |peer: PeerId, _: &Multiaddr, _: Instant| reserving.admits(&peer),
        )],
        circuit_src_rate_limiters: vec![Box::new(
            move |peer: PeerId, _: &Multiaddr, _: Instant| circuits.admits(&peer),
        )],
        ..relay::Config::default()
    }
}

/// Builds the swarm, starts listening and spawns its event loop.
pub fn spawn(
    config: NetConfig,
) -> anyhow::Result<(
    NetHandle,
    mpsc::UnboundedReceiver<NetEvent>,
    tokio::task::JoinHandle<()>,
)> {
    let local_peer_id = config.keypair.public().to_peer_id();
    let mdns_on = config.mdns;
    let hub = config.hub;
    let gate = MemberGate::default();
    let served = gate.clone();
    let builder = SwarmBuilder::with_existing_identity(config.keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?;
    // QUIC is left out only where the crate is built without it (the fuzz targets: its TLS
    // stack is a long C build and nothing fuzzed goes through it).
    #[cfg(feature = "quic")]
    let builder = builder.with_quic();
    let mut swarm = builder
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay_client| behaviour(key, relay_client, mdns_on, hub, &served))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .with_connection_timeout(HANDSHAKE_TIMEOUT)
        .build();
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    }
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::unbounded_channel();
    let event_loop = EventLoop {
        swarm,
        events,
        pending_requests: HashMap::new(),
        pending_dials: HashMap::new(),
        listen_addrs: Vec::new(),
        connections: HashMap::new(),
        alive: HashMap::new(),
        bans: HashMap::new(),
        gate,
        hubs: Hubs::new(local_peer_id, hub),
        relayed: HashMap::new(),
        hole_punched: std::collections::HashSet::new(),
    };
    let task = tokio::spawn(event_loop.run(command_rx));
    Ok((
        NetHandle {
            commands,
            local_peer_id,
        },
        event_rx,
        task,
    ))
}

/// The swarm's behaviours: what every daemon runs, and the hub's servers when `hub`.
fn behaviour(
    key: &libp2p::identity::Keypair,
    relay_client: relay::client::Behaviour,
    mdns_on: bool,
    hub: bool,
    served: &MemberGate,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let me = key.public().to_peer_id();
    let mdns = if mdns_on {
        // Ask every 30 s (default: 5 min) so people meeting up find each other soon.
        let config = mdns::Config {
            query_interval: Duration::from_secs(30),
            ..mdns::Config::default()
        };
        Some(mdns::tokio::Behaviour::new(
            config,
            key.public().to_peer_id(),
        )?)
    } else {
        None
    };
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established_per_peer(Some(limits::MAX_CONNECTIONS_PER_PEER as u32))
        .with_max_established(Some(limits::MAX_CONNECTIONS as u32));
    Ok(Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        pending: PendingLimits::default(),
        limits: connection_limits::Behaviour::new(limits),
        identify: identify::Behaviour::new(
            identify::Config::new("/guild/1".into(), key.public())
                .with_agent_version(format!("guildd/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(PING_EVERY)
                .with_timeout(PING_TIMEOUT),
        ),
        mdns: Toggle::from(mdns),
        sync: request_response::Behaviour::with_codec(
            wire::Codec::default(),
            [(wire::PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(REQUEST_TIMEOUT)
                .with_max_concurrent_streams(256),
        ),
        relay_client,
        dcutr: dcutr::Behaviour::new(me),
        // Tests a candidate address every 5 s (libp2p's default).
        autonat: autonat::v2::client::Behaviour::default(),
        rendezvous: rendezvous::client::Behaviour::new(key.clone()),
        relay: Toggle::from(hub.then(|| relay::Behaviour::new(me, relay_config(served)))),
        autonat_server: Toggle::from(
            hub.then(|| {
                MembersOnly::new(autonat::v2::server::Behaviour::default(), served.clone())
            }),
        ),
        rendezvous_server: Toggle::from(hub.then(|| {
            MembersOnly::new(
                rendezvous::server::Behaviour::new(rendezvous::server::Config::default()),
                served.clone(),
            )
        })),
    })
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    events: mpsc::UnboundedSender<NetEvent>,
    pending_requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetError>>>,
    pending_dials: HashMap<ConnectionId, (String, oneshot::Sender<Result<PeerId, NetError>>)>,
    listen_addrs: Vec<Multiaddr>,
    connections: HashMap<PeerId, Vec<(ConnectionId, Multiaddr)>>,
    /// When each connection last answered a ping (connections to peers that do not speak
    /// ping are left out).
    alive: HashMap<ConnectionId, (PeerId, Instant)>,
    /// Banned peers and when their ban ends.
    bans: HashMap<PeerId, Instant>,
    /// The devices of current members (who this daemon serves as a hub).
    gate: MemberGate,
    /// Hubs: reservations, rendezvous, reachability.
    hubs: Hubs,
    /// Connections through a relay, and the hub relaying each (when the address says).
    relayed: HashMap<ConnectionId, Option<PeerId>>,
    /// Direct connections that hole punching made.
    hole_punched: std::collections::HashSet<ConnectionId>,
}

impl EventLoop {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut unban = tokio::time::interval(UNBAN_CHECK);
        let mut hub_tick = tokio::time::interval(super::hubs::TICK);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = hub_tick.tick() => self.hubs.tick(&mut self.swarm, Instant::now()),
                _ = unban.tick() => {
                    self.lift_ended_bans();
                    self.close_dead_connections();
                }
                command = commands.recv() => match command {
                    Some(Command::Shutdown { done }) => {
                        // Dropping the swarm closes every connection and listener.
                        drop(self);
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => return,
                },
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request { peer, bytes, reply } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, bytes);
                self.pending_requests.insert(id, reply);
            }
            Command::Respond { channel, bytes } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, bytes)
                    .is_err()
                {
                    tracing::debug!("response dropped: the requester went away");
                }
            }
            Command::Dial { peer, addrs, reply } => {
                let shown = addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let opts = match peer {
                    Some(peer) => DialOpts::peer_id(peer).addresses(addrs).build(),
                    None => match addrs.first() {
                        Some(addr) => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                        None => {
                            let _ = reply.send(Err(NetError::Dial {
                                addr: shown,
                                reason: "no address".into(),
                            }));
                            return;
                        }
                    },
                };
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.pending_dials.insert(id, (shown, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: shown,
                            reason: e.to_string(),
                        }));
                    }
                }
            }
            Command::Disconnect { peer } => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Ban { peer, until } => {
                self.bans.insert(peer, until);
                // Closes its connections now and denies new ones.
                self.swarm.behaviour_mut().blocked.block_peer(peer);
            }
            Command::Admitted { peer } => {
                let ips: Vec<_> = self
                    .connections
                    .get(&peer)
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, addr)| ip_of(addr))
                    .collect();
                for ip in ips {
                    self.swarm.behaviour_mut().pending.add_known(ip);
                }
            }
            Command::Info { reply } => {
                let connected = self
                    .connections
                    .iter()
                    .map(|(peer, conns)| (*peer, conns.iter().map(|(_, a)| a.clone()).collect()))
                    .collect();
                let paths = self
                    .connections
                    .iter()
                    .map(|(peer, conns)| (*peer, self.path(conns)))
                    .collect();
                let _ = reply.send(NetInfo {
                    listen_addrs: self.listen_addrs.clone(),
                    connected,
                    paths,
                    reachability: self.hubs.reachability(),
                    reservations: self.hubs.reservations(),
                    hubs: self.hubs.listed(),
                    hub: self.hubs.serving(),
                });
            }
            Command::Members(members) => self.gate.set(members),
            Command::Hubs { namespace, hubs } => {
                self.hubs.set(&mut self.swarm, &namespace, hubs);
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// How a peer with these connections is reached.
    fn path(&self, conns: &[(ConnectionId, Multiaddr)]) -> Path {
        if conns.iter().any(|(id, _)| self.hole_punched.contains(id)) {
            return Path::HolePunched;
        }
        if conns.iter().any(|(id, _)| !self.relayed.contains_key(id)) {
            return Path::Direct;
        }
        let hub = conns
            .iter()
            .find_map(|(id, _)| self.relayed.get(id).copied().flatten());
        match hub {
            Some(hub) => Path::Relayed { hub },
            None => Path::Direct,
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(
                    "p2p listening on {address}/p2p/{}",
                    self.swarm.local_peer_id()
                );
                // A hub is reachable where it listens: relay reservations hand these
                // addresses to members.
                if self.hubs.serving() && !is_unspecified(&address) {
                    self.swarm.add_external_address(address.clone());
                }
                self.listen_addrs.push(address);
                // An interface came up: peers lost may be reachable again.
                let _ = self.events.send(Event::NetworkChanged);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
                let _ = self.events.send(Event::NetworkChanged);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                let why = match reason {
                    Ok(()) => "closed".to_owned(),
                    Err(e) => e.to_string(),
                };
                self.hubs.listener_closed(listener_id, &why);
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                self.hubs.confirmed(&mut self.swarm, address);
            }
            SwarmEvent::ExternalAddrExpired { address } => self.hubs.expired(&address),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                if endpoint.is_relayed() {
                    let hub = match &endpoint {
                        libp2p::core::ConnectedPoint::Dialer { address, .. } => relay_of(address),
                        libp2p::core::ConnectedPoint::Listener {
                            local_addr,
                            send_back_addr,
                        } => relay_of(local_addr).or_else(|| relay_of(send_back_addr)),
                    };
                    self.relayed.insert(connection_id, hub);
                } else {
                    self.hubs.connected(&mut self.swarm, peer_id);
                }
                self.connections
                    .entry(peer_id)
                    .or_default()
                    .push((connection_id, addr.clone()));
                self.alive.insert(connection_id, (peer_id, Instant::now()));
                if num_established.get() == 1 {
                    tracing::info!("connected to {peer_id} at {addr}");
                    let _ = self.events.send(Event::Connected {
                        peer: peer_id,
                        addr,
                    });
                }
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                self.alive.remove(&connection_id);
                self.relayed.remove(&connection_id);
                self.hole_punched.remove(&connection_id);
                if let Some(conns) = self.connections.get_mut(&peer_id) {
                    conns.retain(|(id, _)| *id != connection_id);
                    if conns.is_empty() {
                        self.connections.remove(&peer_id);
                    }
                }
                let direct = self
                    .connections
                    .get(&peer_id)
                    .is_some_and(|c| c.iter().any(|(id, _)| !self.relayed.contains_key(id)));
                if !direct {
                    self.hubs.disconnected(peer_id);
                }
                if num_established == 0 {
                    tracing::info!("disconnected from {peer_id} ({cause:?})");
                    let _ = self.events.send(Event::Disconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial {
                        addr,
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            })) => match result {
                Ok(_) => {
                    self.alive.insert(connection, (peer, Instant::now()));
                }
                // A peer that does not speak ping says nothing of the path: it is left to
                // the idle timeout.
                Err(ping::Failure::Unsupported) => {
                    self.alive.remove(&connection);
                }
                Err(failure) => tracing::debug!("ping to {peer} failed: {failure}"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in found {
                    tracing::info!("discovered {peer} at {addr} on the local network");
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    let _ = self.events.send(Event::LanSeen { peer, addrs });
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, addr) in gone {
                    let _ = self.events.send(Event::LanExpired { peer, addr });
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted { relay_peer_id, .. },
            )) => self.hubs.reservation_accepted(relay_peer_id),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => match result {
                Ok(connection) => {
                    tracing::info!("hole punched to {remote_peer_id}: connected directly");
                    self.hole_punched.insert(connection);
                }
                Err(e) => tracing::info!("hole punching to {remote_peer_id} failed: {e}"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::v2::client::Event {
                tested_addr,
                server,
                result,
                ..
            })) => {
                tracing::debug!("AutoNAT at {server}: {tested_addr}: {result:?}");
                self.hubs
                    .tested(&mut self.swarm, tested_addr, result.is_ok());
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rendezvous(event)) => {
                self.on_rendezvous_event(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => {
                tracing::debug!("relay: {event:?}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::RendezvousServer(event)) => {
                tracing::debug!("rendezvous point: {event:?}");
            }
            _ => {}
        }
    }

    fn on_rendezvous_event(&mut self, event: rendezvous::client::Event) {
        use rendezvous::client::Event as Rv;
        match event {
            Rv::Discovered {
                rendezvous_node,
                registrations,
                cookie,
            } => {
                for (peer, addrs) in self.hubs.discovered(rendezvous_node, registrations, cookie) {
                    tracing::debug!("hub {rendezvous_node} knows {peer} at {addrs:?}");
                    let _ = self.events.send(Event::Discovered { peer, addrs });
                }
            }
            Rv::Registered {
                rendezvous_node, ..
            } => self.hubs.registered(rendezvous_node),
            Rv::RegisterFailed {
                rendezvous_node,
                error,
                ..
            } => {
                tracing::info!("hub {rendezvous_node} refused our registration: {error:?}");
                self.hubs.register_failed(rendezvous_node);
            }
            Rv::DiscoverFailed {
                rendezvous_node,
                error,
                ..
            } => tracing::debug!("discovery at hub {rendezvous_node} failed: {error:?}"),
            Rv::Expired { .. } => {}
        }
    }

    /// Closes connections whose peer has not answered a ping for [`DEAD_AFTER`].
    fn close_dead_connections(&mut self) {
        let now = Instant::now();
        let dead: Vec<(ConnectionId, PeerId)> = self
            .alive
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) > DEAD_AFTER)
            .map(|(id, (peer, _))| (*id, *peer))
            .collect();
        for (id, peer) in dead {
            tracing::info!(
                "closing a connection to {peer}: no answer to pings for {}s",
                DEAD_AFTER.as_secs()
            );
            self.alive.remove(&id);
            self.swarm.close_connection(id);
        }
    }

    fn lift_ended_bans(&mut self) {
        let now = Instant::now();
        let ended: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in ended {
            self.bans.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            tracing::info!("ban of {peer} ended");
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        use request_response::{Event as Rr, Message};
        match event {
            Rr::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _ = self.events.send(Event::Request {
                    peer,
                    frame: request,
                    reply: channel,
                });
            }
            Rr::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Rr::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            Rr::InboundFailure { peer, error, .. } => {
                tracing::debug!("inbound request from {peer} failed: {error}");
            }
            Rr::ResponseSent { .. } => {}
        }
    }
}

/// `0.0.0.0` or `::`: listening on every interface, not an address anyone can dial.
fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
