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

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, allow_block_list, connection_limits, identify,
    identity::Keypair, mdns, noise, ping, tcp, yamux,
};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

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
}

pub struct NetConfig {
    pub keypair: Keypair,
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
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
    let mut swarm = SwarmBuilder::with_existing_identity(config.keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(|key| {
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
            })
        })?
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
}

impl EventLoop {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut unban = tokio::time::interval(UNBAN_CHECK);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
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
                let _ = reply.send(NetInfo {
                    listen_addrs: self.listen_addrs.clone(),
                    connected,
                });
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(
                    "p2p listening on {address}/p2p/{}",
                    self.swarm.local_peer_id()
                );
                self.listen_addrs.push(address);
                // An interface came up: peers lost may be reachable again.
                let _ = self.events.send(Event::NetworkChanged);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
                let _ = self.events.send(Event::NetworkChanged);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
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
                if let Some(conns) = self.connections.get_mut(&peer_id) {
                    conns.retain(|(id, _)| *id != connection_id);
                    if conns.is_empty() {
                        self.connections.remove(&peer_id);
                    }
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
            _ => {}
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
