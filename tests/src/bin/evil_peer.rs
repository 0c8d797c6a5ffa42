//! A peer that speaks `/guild/sync/1` wrongly on purpose, to show that a daemon survives it
//! and bans it while honest peers keep syncing. Used by `tests/e2e/hostile.rs`; also handy by
//! hand (`evil_peer --help`):
//!
//! ```sh
//! evil_peer --target /ip4/127.0.0.1/tcp/4717/p2p/12D3Koo... [--ticket guild1...] \
//!           [--attacks oversize,garbage,flood,announce,unknown,hold]
//! evil_peer --target ... --attacks held-sockets --sockets 200 --seconds 20 --from 127.0.0.66
//! evil_peer --target ... --attacks slow-handshake --from 127.0.0.66
//! ```
//!
//! The attacks it has, and nothing else:
//! - protocol level, each with a fresh libp2p identity (so one ban does not hide the next):
//!   `oversize` (a frame length over the limit), `garbage` (frames that decode to nothing),
//!   `flood` (cheap requests as fast as the connection allows), `announce` (a digest naming
//!   more documents than any community holds), `unknown` (changes for documents that do not
//!   exist, then junk sync messages), `hold` (many large requests at once, to make the daemon
//!   hold memory). Each prints one JSON line: the attack, its peer id, what the daemon
//!   answered, whether it closed the connection, and whether a redial was refused after.
//!   With `--ticket` it acts as a malicious *member* (it proves membership first); without,
//!   as a stranger.
//! - socket level, below libp2p: `held-sockets` (idle TCP sockets held open and reopened when
//!   closed, to take every slot for incoming handshakes) and `slow-handshake` (a Noise
//!   handshake started and then trickled a byte at a time). They print what the daemon did.
//!
//! It only dials the loopback address it is given, and binds its sockets to a loopback
//! address (`--from`) so the daemon sees the attacker as another machine.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use guild_daemon::net::limits;
use guild_daemon::net::membership::{Membership, Ticket};
use guild_daemon::net::wire::{self, MAX_FRAME, PROTOCOL, Request, Response};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identity, noise, tcp, yamux};
use serde_json::json;

/// How long one attack may take before the evil peer gives up on it.
const ATTACK_TIME: Duration = Duration::from_secs(60);

/// Sends requests exactly as given (already framed, so the length prefix can lie) and reads
/// responses as frames.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        raw: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&raw).await?;
        io.flush().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&frame(&res)).await?;
        io.flush().await
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "oversize"));
    }
    let mut buf = vec![0; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn framed(request: &Request) -> Vec<u8> {
    frame(&wire::encode(request).unwrap())
}

type Behaviour = request_response::Behaviour<RawCodec>;

/// One connection to the target with a fresh identity.
struct Evil {
    swarm: Swarm<Behaviour>,
    target: PeerId,
    addr: Multiaddr,
    membership: Option<Membership>,
    pending: HashMap<OutboundRequestId, ()>,
    /// Requests the daemon sent us that we never answer (a stranger keeps it waiting).
    held: Vec<ResponseChannel<Vec<u8>>>,
    /// What the daemon answered, by kind.
    answers: HashMap<String, u64>,
    closed: bool,
}

impl Evil {
    async fn connect(addr: &Multiaddr, membership: Option<Membership>) -> Result<Self> {
        let target = addr
            .iter()
            .find_map(|p| match p {
                Protocol::P2p(peer) => Some(peer),
                _ => None,
            })
            .context("the target address needs /p2p/<peer id>")?;
        let swarm = SwarmBuilder::with_existing_identity(identity::Keypair::generate_ed25519())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_behaviour(|_| {
                request_response::Behaviour::with_codec(
                    RawCodec,
                    [(PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(30))
                        .with_max_concurrent_streams(2_000),
                )
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        let mut evil = Self {
            swarm,
            target,
            addr: addr.clone(),
            membership,
            pending: HashMap::new(),
            held: Vec::new(),
            answers: HashMap::new(),
            closed: false,
        };
        if !evil.dial().await {
            bail!("cannot connect to {addr}");
        }
        Ok(evil)
    }

    fn me(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Dials the target; true once a connection is up.
    async fn dial(&mut self) -> bool {
        if self.swarm.dial(self.addr.clone()).is_err() {
            return false;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await;
            match event {
                Ok(SwarmEvent::ConnectionEstablished { .. }) => {
                    self.closed = false;
                    return true;
                }
                Ok(SwarmEvent::OutgoingConnectionError { .. }) | Err(_) => return false,
                Ok(other) => self.on_event(other),
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<request_response::Event<Vec<u8>, Vec<u8>>>) {
        use request_response::{Event, Message};
        match event {
            SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            } => self.closed = true,
            SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            }) => self.on_request(&request, channel),
            SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => {
                self.pending.remove(&request_id);
                let kind = match wire::decode::<Response>(&response) {
                    Ok(Response::Refused { reason }) => format!("refused: {reason}"),
                    Ok(other) => format!("{other:?}")
                        .split([' ', '{', '('])
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    Err(_) => "undecodable".into(),
                };
                *self.answers.entry(kind).or_default() += 1;
            }
            SwarmEvent::Behaviour(Event::OutboundFailure {
                request_id, error, ..
            }) => {
                self.pending.remove(&request_id);
                let kind = format!("failed: {error}");
                *self.answers.entry(kind).or_default() += 1;
            }
            _ => {}
        }
    }

    /// The daemon's own requests: a member answers `Hello` (so the daemon does not drop it
    /// for that); a stranger keeps every request waiting.
    fn on_request(&mut self, request: &[u8], channel: ResponseChannel<Vec<u8>>) {
        let answer = match (&self.membership, wire::decode::<Request>(request)) {
            (Some(m), Ok(Request::Hello { .. })) => Response::Hello {
                proof: m.proof(&self.me(), &self.target),
                invite: m.invite,
                device: None,
            },
            (Some(_), Ok(Request::Digest { .. })) => Response::Digest { docs: vec![] },
            (Some(_), Ok(Request::Summary { .. })) => Response::Summary { same: false },
            (Some(_), _) => Response::Refused {
                reason: "no".into(),
            },
            (None, _) => {
                self.held.push(channel);
                return;
            }
        };
        let bytes = wire::encode(&answer).unwrap();
        let _ = self.swarm.behaviour_mut().send_response(channel, bytes);
    }

    fn send(&mut self, raw: Vec<u8>) {
        let id = self.swarm.behaviour_mut().send_request(&self.target, raw);
        self.pending.insert(id, ());
    }

    /// Runs the swarm until `done` holds, the connection closes, or `timeout` passes.
    async fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) && !self.closed {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => self.on_event(event),
                Err(_) => return,
            }
        }
    }

    /// Sends `requests` keeping at most `window` open at once; stops early if disconnected.
    async fn pump(&mut self, requests: impl IntoIterator<Item = Vec<u8>>, window: usize) {
        for raw in requests {
            self.run_until(ATTACK_TIME, |e| e.pending.len() < window)
                .await;
            if self.closed {
                return;
            }
            self.send(raw);
        }
        self.run_until(ATTACK_TIME, |e| e.pending.is_empty()).await;
    }

    async fn prove_membership(&mut self) {
        if let Some(m) = self.membership.clone() {
            let hello = Request::Hello {
                community: m.community.clone(),
                proof: m.proof(&self.me(), &self.target),
                invite: m.invite,
                device: None,
            };
            self.pump([framed(&hello)], 1).await;
        }
    }

    /// After an attack: waits a little for the daemon to close the connection, then checks
    /// whether it lets this identity back in (it must not while the ban lasts).
    async fn verdict(mut self, attack: &str) -> serde_json::Value {
        self.run_until(Duration::from_secs(10), |_| false).await;
        let disconnected = self.closed;
        let redial_refused = if disconnected {
            // A banned peer's connection is denied as soon as it is established, so a request
            // on it never gets an answer.
            !(self.dial().await && self.answers_hello().await)
        } else {
            false
        };
        json!({
            "attack": attack,
            "peer_id": self.me().to_string(),
            "member": self.membership.is_some(),
            "disconnected": disconnected,
            "redial_refused": redial_refused,
            "answers": self.answers,
        })
    }

    /// True if the daemon answers a `Hello` on the current connection.
    async fn answers_hello(&mut self) -> bool {
        let before: u64 = self.answers.values().sum();
        let hello = Request::Hello {
            community: "x".into(),
            proof: [0; 32],
            invite: None,
            device: None,
        };
        self.send(framed(&hello));
        self.run_until(Duration::from_secs(5), |e| e.pending.is_empty())
            .await;
        let answered = self
            .answers
            .iter()
            .filter(|(k, _)| !k.starts_with("failed"))
            .map(|(_, n)| n)
            .sum::<u64>();
        !self.closed && answered > before
    }
}

/// Documents a member's evil peer can name: the community document (from the ticket).
fn attack_requests(attack: &str, community: &str) -> Result<(Vec<Vec<u8>>, usize)> {
    let fake = |i: usize| format!("fake{i:08}");
    Ok(match attack {
        // A length prefix far over the limit, and no body.
        "oversize" => (vec![((MAX_FRAME + 1) as u32).to_be_bytes().to_vec()], 1),
        // Frames that decode to nothing.
        "garbage" => (
            (0..20)
                .map(|i| frame(&[0xff, 0xfe, i as u8, 0x00, 0x13, 0x37]))
                .collect(),
            1,
        ),
        // Cheap requests as fast as the connection allows.
        "flood" => (
            (0..20_000)
                .map(|_| framed(&Request::Digest { docs: vec![] }))
                .collect(),
            100,
        ),
        // More documents in one digest than any community holds.
        "announce" => (
            vec![framed(&Request::Digest {
                docs: (0..limits::MAX_ANNOUNCED_DOCS + 1)
                    .map(|i| (fake(i), vec![]))
                    .collect(),
            })],
            1,
        ),
        // Changes for documents that do not exist, then junk sync messages for the community
        // document.
        "unknown" => (
            (0..60)
                .map(|i| {
                    framed(&Request::Changes {
                        doc: fake(i),
                        bytes: vec![1, 2, 3],
                        heads: vec![],
                    })
                })
                .chain((0..10).map(|_| {
                    framed(&Request::Sync {
                        doc: community.to_owned(),
                        message: vec![0x42; 40],
                        first: false,
                    })
                }))
                .collect(),
            1,
        ),
        // Many large requests at once, to make the daemon hold memory for us.
        "hold" => (
            (0..limits::MAX_IN_FLIGHT_PER_PEER * 2)
                .map(|_| {
                    framed(&Request::Changes {
                        doc: community.to_owned(),
                        bytes: vec![0x55; 1024 * 1024],
                        heads: vec![],
                    })
                })
                .collect(),
            limits::MAX_IN_FLIGHT_PER_PEER * 2,
        ),
        other => bail!("unknown attack {other:?}"),
    })
}

/// A peer that attacks a Guild daemon on loopback on purpose (see the module docs).
#[derive(Parser)]
#[command(name = "evil_peer")]
struct Args {
    /// The daemon: /ip4/127.0.0.1/tcp/PORT/p2p/PEER_ID (loopback only).
    #[arg(long)]
    target: Multiaddr,
    /// Attack as a malicious member holding this ticket (else as a stranger).
    #[arg(long)]
    ticket: Option<String>,
    /// Comma-separated: oversize, garbage, flood, announce, unknown, hold (protocol level);
    /// held-sockets, slow-handshake (socket level).
    #[arg(long, default_value = "oversize,garbage,flood,announce,unknown")]
    attacks: String,
    /// The loopback address the socket-level attacks come from.
    #[arg(long, default_value = "127.0.0.66")]
    from: Ipv4Addr,
    /// held-sockets: how many idle sockets to hold open.
    #[arg(long, default_value_t = 200)]
    sockets: usize,
    /// held-sockets: for how long, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let target = args.target;
    if !target
        .iter()
        .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()))
    {
        bail!("evil_peer only attacks daemons on 127.0.0.0/8");
    }
    if !args.from.is_loopback() {
        bail!("--from must be a loopback address (127.0.0.0/8)");
    }
    let membership = match args.ticket {
        Some(t) => {
            let t = Ticket::decode(&t)?;
            // A malicious member: it holds the ticket, so it is admitted like a newcomer.
            Some(Membership::new(t.community, t.secret).with_invite(Some(t.invite)))
        }
        None => None,
    };
    let community = membership
        .as_ref()
        .map(|m| m.community.clone())
        .unwrap_or_default();
    for attack in args.attacks.split(',').filter(|a| !a.is_empty()) {
        let verdict = match attack {
            "held-sockets" => {
                held_sockets(
                    socket_of(&target)?,
                    args.from,
                    args.sockets,
                    Duration::from_secs(args.seconds),
                )
                .await
            }
            "slow-handshake" => slow_handshake(socket_of(&target)?, args.from).await?,
            _ => {
                let (requests, window) = attack_requests(attack, &community)?;
                let mut evil = Evil::connect(&target, membership.clone()).await?;
                evil.prove_membership().await;
                evil.pump(requests, window).await;
                evil.verdict(attack).await
            }
        };
        println!("{verdict}");
    }
    Ok(())
}

/// The TCP address of a multiaddr.
fn socket_of(addr: &Multiaddr) -> Result<SocketAddr> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(a),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    Ok(SocketAddr::from((
        ip.context("the target needs /ip4")?,
        port.context("the target needs /tcp")?,
    )))
}

/// A TCP connection to `target` from `from` (any port).
async fn connect_from(
    from: Ipv4Addr,
    target: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(target).await
}

/// Holds `sockets` idle TCP connections open for `duration`, reopening each as soon as the
/// daemon closes it: every one a handshake slot taken for as long as the daemon allows.
async fn held_sockets(
    target: SocketAddr,
    from: Ipv4Addr,
    sockets: usize,
    duration: Duration,
) -> serde_json::Value {
    use tokio::io::AsyncReadExt as _;
    let deadline = tokio::time::Instant::now() + duration;
    let opened = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..sockets {
        let (opened, closed) = (opened.clone(), closed.clone());
        tasks.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                let Ok(mut stream) = connect_from(from, target).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 256];
                // Say nothing; read until the daemon hangs up (or the attack ends).
                loop {
                    match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => {
                            closed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok(Ok(_)) => {}
                        Err(_) => return,
                    }
                }
                // Reopen at once, as an attacker would (a breath, so the loop cannot spin).
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    json!({
        "attack": "held-sockets",
        "sockets": sockets,
        "seconds": duration.as_secs(),
        "connections_opened": opened.load(Ordering::Relaxed),
        "closed_by_daemon": closed.load(Ordering::Relaxed),
    })
}

/// Opens a connection, agrees on Noise, then sends its first handshake message a byte at a
/// time, slowly: the daemon must give up on it within its handshake timeout.
async fn slow_handshake(target: SocketAddr, from: Ipv4Addr) -> Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = connect_from(from, target).await?;
    let started = std::time::Instant::now();
    // multistream-select: a varint length, then the line.
    let mut hello = Vec::new();
    for line in ["/multistream/1.0.0\n", "/noise\n"] {
        hello.push(line.len() as u8);
        hello.extend_from_slice(line.as_bytes());
    }
    stream.write_all(&hello).await?;
    // A Noise message of 32 bytes, announced, then trickled.
    let message: Vec<u8> = [0u8, 32].into_iter().chain([0x42; 32]).collect();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in message {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Then nothing, for as long as the daemon keeps the connection.
        std::future::pending::<()>().await;
    });
    let mut buf = [0u8; 256];
    let closed_after = loop {
        match tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => break None,
        }
    };
    trickle.abort();
    Ok(json!({
        "attack": "slow-handshake",
        "closed_after_ms": closed_after.map(|d| d.as_millis() as u64),
    }))
}
