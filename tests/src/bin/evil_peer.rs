//! A peer that speaks `/guild/sync/1` wrongly on purpose, to show that a daemon survives it
//! and bans it while honest peers keep syncing. Used by `tests/e2e/hostile.rs`; also handy by
//! hand:
//!
//! ```sh
//! evil_peer --target /ip4/127.0.0.1/tcp/4717/p2p/12D3Koo... [--ticket guild1...] \
//!           [--attacks oversize,garbage,flood,announce,unknown,hold,stale]
//! ```
//!
//! Every attack runs with a fresh identity (so one ban does not hide the next attack) and
//! prints one JSON line: the attack, its peer id, what the daemon answered, whether the
//! daemon closed the connection, and whether a redial was refused afterwards. With
//! `--ticket` it acts as a malicious *member* (it proves membership first); without, as a
//! stranger. It only dials the address it is given (the tests give 127.0.0.1).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use anyhow::{Context, Result, bail};
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

#[tokio::main]
async fn main() -> Result<()> {
    let mut target = None;
    let mut ticket = None;
    let mut attacks = "oversize,garbage,flood,announce,unknown".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" => target = args.next(),
            "--ticket" => ticket = args.next(),
            "--attacks" => attacks = args.next().context("--attacks needs a list")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let target: Multiaddr = target.context("--target is required")?.parse()?;
    if !target
        .iter()
        .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()))
    {
        bail!("evil_peer only attacks daemons on 127.0.0.0/8");
    }
    let membership = match ticket {
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
    for attack in attacks.split(',').filter(|a| !a.is_empty()) {
        let (requests, window) = attack_requests(attack, &community)?;
        let mut evil = Evil::connect(&target, membership.clone()).await?;
        evil.prove_membership().await;
        evil.pump(requests, window).await;
        println!("{}", evil.verdict(attack).await);
    }
    Ok(())
}
