//! The libp2p swarm, owned by one event loop. Everything else talks to it through a
//! cloneable [`NetHandle`] that sends commands with oneshot replies; inbound requests and
//! connection changes are handed to the sync engine as [`NetEvent`]s.
//!
//! Defences that belong at this level: connection limits (per peer and in all), a block list
//! that keeps banned peers out (their connections are closed and new ones denied until the
//! ban ends).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, allow_block_list, connection_limits, identify,
    identity::Keypair, mdns, noise, ping, tcp, yamux,
};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use super::limits;
use super::wire::{self, Frame};

/// Connections stay open while both daemons run, so a change reaches peers at once.
const IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// One request and its response, including applying a large batch on the far side.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How often peers found on the LAN but not connected are dialled again (mDNS reports a
/// peer once, and a first connection can fail, for example while the peer starts up).
const LAN_REDIAL: Duration = Duration::from_secs(15);
/// How often ended bans are lifted.
const UNBAN_CHECK: Duration = Duration::from_secs(1);

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so banned peers and connections over the limits are refused before anything
    /// else sees them.
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
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

/// What the sync engine is told.
#[derive(Debug)]
pub enum NetEvent {
    /// First connection to `peer` is up.
    Connected { peer: PeerId, addr: Multiaddr },
    /// Last connection to `peer` closed.
    Disconnected { peer: PeerId },
    /// An inbound request; answer it with [`NetHandle::respond`].
    Request {
        peer: PeerId,
        frame: Frame,
        channel: ResponseChannel<Vec<u8>>,
    },
}

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
        addr: Multiaddr,
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
    Info {
        reply: oneshot::Sender<NetInfo>,
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
    pub async fn request(&self, peer: PeerId, bytes: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let (reply, wait) = oneshot::channel();
        self.send(Command::Request {
            peer,
            bytes: Frame::outgoing(bytes),
            reply,
        })?;
        wait.await.map_err(|_| NetError::Stopped)?
    }

    pub fn respond(&self, channel: ResponseChannel<Vec<u8>>, bytes: Vec<u8>) {
        // If the network stopped, the peer is gone too: nothing to answer.
        let _ = self.send(Command::Respond { channel, bytes });
    }

    /// Dials `addr` and returns the peer that answered once connected.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        let (reply, wait) = oneshot::channel();
        self.send(Command::Dial { addr, reply })?;
        wait.await.map_err(|_| NetError::Stopped)?
    }

    pub fn disconnect(&self, peer: PeerId) {
        let _ = self.send(Command::Disconnect { peer });
    }

    /// Disconnects `peer` and refuses its connections until `until`.
    pub fn ban(&self, peer: PeerId, until: Instant) {
        let _ = self.send(Command::Ban { peer, until });
    }

    pub async fn is_connected(&self, peer: &PeerId) -> bool {
        self.info()
            .await
            .is_ok_and(|info| info.connected.contains_key(peer))
    }

    pub async fn info(&self) -> Result<NetInfo, NetError> {
        let (reply, wait) = oneshot::channel();
        self.send(Command::Info { reply })?;
        wait.await.map_err(|_| NetError::Stopped)
    }

    fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands.send(command).map_err(|_| NetError::Stopped)
    }
}

pub struct NetConfig {
    pub keypair: Keypair,
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
}

/// Builds the swarm, starts listening and spawns its event loop.
pub fn spawn(config: NetConfig) -> anyhow::Result<(NetHandle, mpsc::UnboundedReceiver<NetEvent>)> {
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
                .with_max_established(Some(limits::MAX_CONNECTIONS as u32))
                .with_max_pending_incoming(Some(limits::MAX_CONNECTIONS as u32 / 4));
            Ok(Behaviour {
                blocked: allow_block_list::Behaviour::default(),
                limits: connection_limits::Behaviour::new(limits),
                identify: identify::Behaviour::new(
                    identify::Config::new("/guild/1".into(), key.public())
                        .with_agent_version(format!("guildd/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(ping::Config::new()),
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
        lan_peers: HashMap::new(),
        bans: HashMap::new(),
    };
    tokio::spawn(event_loop.run(command_rx));
    Ok((
        NetHandle {
            commands,
            local_peer_id,
        },
        event_rx,
    ))
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    events: mpsc::UnboundedSender<NetEvent>,
    pending_requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetError>>>,
    pending_dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NetError>>)>,
    listen_addrs: Vec<Multiaddr>,
    connections: HashMap<PeerId, Vec<(ConnectionId, Multiaddr)>>,
    /// Peers mDNS currently reports on the local network.
    lan_peers: HashMap<PeerId, Vec<Multiaddr>>,
    /// Banned peers and when their ban ends.
    bans: HashMap<PeerId, Instant>,
}

impl EventLoop {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut lan_redial = tokio::time::interval(LAN_REDIAL);
        let mut unban = tokio::time::interval(UNBAN_CHECK);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = lan_redial.tick() => self.dial_lan_peers(),
                _ = unban.tick() => self.lift_ended_bans(),
                command = commands.recv() => match command {
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
            Command::Dial { addr, reply } => {
                let opts = libp2p::swarm::dial_opts::DialOpts::unknown_peer_id()
                    .address(addr.clone())
                    .build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.pending_dials.insert(id, (addr, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: addr.to_string(),
                            reason: e.to_string(),
                        }));
                    }
                }
            }
            Command::Disconnect { peer } => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Ban { peer, until } => {
                tracing::warn!("banned {peer} for {:?}", until - Instant::now());
                self.bans.insert(peer, until);
                // Closes its connections now and denies new ones.
                self.swarm.behaviour_mut().blocked.block_peer(peer);
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
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
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
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                if num_established.get() == 1 {
                    tracing::info!("connected to {peer_id} at {addr}");
                    let _ = self.events.send(NetEvent::Connected {
                        peer: peer_id,
                        addr,
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                if let Some(conns) = self.connections.get_mut(&peer_id) {
                    conns.retain(|(id, _)| *id != connection_id);
                    if conns.is_empty() {
                        self.connections.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    tracing::info!("disconnected from {peer_id} ({cause:?})");
                    let _ = self.events.send(NetEvent::Disconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial {
                        addr: addr.to_string(),
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    tracing::info!("discovered {peer} at {addr} on the local network");
                    self.lan_peers.entry(peer).or_default().push(addr);
                }
                self.dial_lan_peers();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, addr) in gone {
                    if let Some(addrs) = self.lan_peers.get_mut(&peer) {
                        addrs.retain(|a| *a != addr);
                        if addrs.is_empty() {
                            self.lan_peers.remove(&peer);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            _ => {}
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

    fn dial_lan_peers(&mut self) {
        for (peer, addrs) in &self.lan_peers {
            if self.swarm.is_connected(peer) {
                continue;
            }
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(*peer)
                .addresses(addrs.clone())
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!("dial {peer}: {e}");
            }
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _ = self.events.send(NetEvent::Request {
                    peer,
                    frame: request,
                    channel,
                });
            }
            Event::Message {
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
            Event::OutboundFailure {
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
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!("inbound request from {peer} failed: {error}");
            }
            Event::ResponseSent { .. } => {}
        }
    }
}
