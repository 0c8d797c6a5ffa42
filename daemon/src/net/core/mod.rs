//! The sync engine's core: a state machine that takes inputs (a connection came up, a
//! request or an answer arrived, documents changed, document work finished, time passed) and
//! returns effects (send this, answer that, run this document work, dial, disconnect, ban).
//! It does no I/O and reads no clock: the time and the randomness are inputs, so the same
//! code runs under the async shell (`net::shell`, the libp2p swarm) and under the
//! deterministic simulator (`net::sim`), and its parts are unit-tested against their inputs
//! and effects. Shaped like samod's `samod-core` and iroh-gossip's `proto::state`.
//!
//! What it decides, by part:
//! - [`peers`]: what we know of each peer, the limits it is held to, strikes and bans;
//! - [`access`]: membership, the documents we share, the roster that admits peers;
//! - [`dialer`]: whom to dial and when (backoff, probing lost peers);
//! - `connections`: `Hello` both ways, admitting or refusing peers, punishing;
//! - `calls`: our requests (within the limits we hold peers to) and the peer's (held to
//!   them);
//! - `reconcile`: the conversation (see `wire`): the peer with the smaller id runs the digest
//!   rounds (`Summary`, then `Digest` only if the summaries differ) on connect and every
//!   [`RECONCILE_EVERY`]; each side pulls what it lacks (`Want` for documents it has never
//!   seen, `Pull` for documents it is behind on, `Sync` where both sides hold changes the
//!   other lacks); local changes are pushed at once (`Changes`) and changes received are
//!   announced (`Have`) to a few random peers;
//! - `results`: what document work found, and the index and roster it read.
//!
//! Cost follows change: our heads of every document are kept here (updated as documents
//! change), so a digest costs no document work; only documents whose heads differ are
//! touched.

pub mod access;
mod calls;
mod connections;
pub mod dialer;
pub mod peers;
mod reconcile;
mod results;
pub mod work;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use crdt_model::DocKind;
use libp2p::{Multiaddr, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use super::limits;
use super::membership::Membership;
use super::wire::{self, FrameError, Request, Response};
use access::{Access, Denial};
use dialer::{Dial, Dialer, TargetKey};
use peers::PeerBook;
pub use work::{DocFault, Done, Heads, PushOutcome, Then, Work};

/// An inbound request, as the shell numbers them (it keeps the channel to answer on).
pub type InId = u64;
/// One of our requests, as the core numbers them.
pub type ReqId = u64;

/// Most rounds of Automerge's sync protocol for one document in one session.
pub const MAX_SYNC_ROUNDS: usize = 64;
/// How many peers hear of changes we received from another.
pub const ANNOUNCE_FANOUT: usize = 4;
/// How often connected members compare summaries even when nothing seems to have changed.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(15);
/// A connection whose peer has not proved membership within this long is closed (so that
/// strangers cannot hold connection slots).
pub const ADMISSION_TIME: Duration = Duration::from_secs(10);
/// How long a refused peer's connection stays open so that our answer reaches it.
pub const HANGUP_AFTER: Duration = Duration::from_secs(1);
/// The refusal a peer over its request rate gets; honest daemons wait and ask again.
pub const SLOW_DOWN: &str = "slow down: too many requests";
const SLOW_DOWN_WAIT: Duration = Duration::from_millis(500);
const SLOW_DOWN_RETRIES: u32 = 20;
/// How long a refusal that may pass (the refusing daemon has not heard of us yet) asks the
/// refused daemon to wait.
const RETRY_UNLISTED: Duration = Duration::from_secs(5);

/// The time, both ways: `now` for durations and timers, `wall` for what people read and
/// for invitation expiry (`GUILD_CLOCK_OFFSET_SECS` shifts it).
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub now: Instant,
    pub wall: OffsetDateTime,
}

/// A document became durable with new heads.
#[derive(Clone, Debug)]
pub struct Changed {
    pub doc: String,
    pub heads: Heads,
    /// Made here (through the API), not received from a peer.
    pub local: bool,
}

#[derive(Debug)]
pub enum Input {
    /// We became a member (`init`, `join`, linking a device), or gave up a join.
    Membership(Option<Membership>),
    /// Keep this address connected (`guild peers add`, a ticket).
    Keep(Multiaddr),
    /// Stop dialling it.
    Forget(Multiaddr),
    /// mDNS sees `peer` at `addrs`.
    LanSeen { peer: PeerId, addrs: Vec<Multiaddr> },
    /// mDNS no longer sees `peer` at `addr`.
    LanExpired { peer: PeerId, addr: Multiaddr },
    /// Our own addresses changed (an interface came up or went down).
    NetworkChanged,
    /// A dial asked for by [`Effect::Dial`] connected to `peer`, or failed.
    Dialed {
        key: TargetKey,
        result: Result<PeerId, String>,
    },
    /// The first connection to `peer` is up.
    Connected { peer: PeerId, addr: String },
    /// The last connection to `peer` closed.
    Disconnected { peer: PeerId },
    /// A request from `peer`: its bytes, or the wire limit it broke.
    Request {
        peer: PeerId,
        id: InId,
        frame: Result<Vec<u8>, FrameError>,
    },
    /// The answer to one of our requests, or why there is none.
    Answer {
        req: ReqId,
        answer: Result<Vec<u8>, String>,
    },
    /// Document work finished.
    Done(Done),
    /// Documents changed durably.
    Changed(Vec<Changed>),
    /// Change notifications were missed: read every document's heads again.
    Resync,
    /// Time passed (call at [`Core::next_wake`]).
    Tick,
}

#[derive(Debug)]
pub enum Effect {
    /// Send a request; its answer comes back as [`Input::Answer`].
    Send {
        peer: PeerId,
        req: ReqId,
        bytes: Vec<u8>,
    },
    /// Answer an inbound request.
    Respond { id: InId, bytes: Vec<u8> },
    /// Run document work; its result comes back as [`Input::Done`].
    Work(Work),
    /// Dial; the outcome comes back as [`Input::Dialed`].
    Dial(Dial),
    /// Close every connection of the peer.
    Disconnect { peer: PeerId },
    /// Close every connection of the peer and refuse new ones until `until`.
    Ban { peer: PeerId, until: Instant },
    /// The peer is gone: drop what the shell keeps for it (sync-protocol states).
    Forget { peer: PeerId },
    /// We admitted the peer: its address may be given room among pending connections.
    Admitted { peer: PeerId },
    /// The peer refused us, and why (a join waiting on its inviter stops waiting).
    /// `temporary`: the refusal may pass by itself (the peer has not heard of us yet).
    RefusedBy {
        peer: PeerId,
        reason: String,
        temporary: bool,
    },
    /// The devices of current members changed (a hub serves them and nobody else).
    Members(HashSet<PeerId>),
    /// The community's hubs changed: meet members there, under this rendezvous namespace.
    Hubs {
        namespace: String,
        hubs: Vec<Multiaddr>,
    },
}

/// One peer as status pages show it.
#[derive(Clone, Debug)]
pub struct PeerReport {
    pub peer: PeerId,
    pub connected: bool,
    pub addrs: Vec<String>,
    pub member: bool,
    pub in_sync: bool,
    pub last_sync: Option<OffsetDateTime>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// The heads we know the peer holds, per document (for per-document sync state).
    pub known: BTreeMap<String, Heads>,
}

/// Why we sent a request, so that its answer can be acted on.
#[derive(Debug)]
enum Purpose {
    Hello,
    Summary { digest: Vec<(String, wire::Heads)> },
    Digest,
    Want { docs: Vec<String> },
    Pull { doc: String },
    Sync { doc: String },
    Changes { doc: String },
    Have { doc: String },
}

struct Call {
    peer: PeerId,
    bytes: Vec<u8>,
    retries: u32,
    purpose: Purpose,
}

/// A sync-protocol session this side runs.
struct Session {
    round: usize,
    /// Our last message was empty.
    ours_empty: bool,
    /// The peer's last message was empty (at the start: nothing heard yet).
    theirs_empty: bool,
    /// The heads both sides share, as of the last step.
    shared: Heads,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Ask again after "slow down".
    Resend(ReqId),
    /// The periodic digest round with a peer we lead.
    Reconcile(PeerId),
    /// Close the connection if the peer has not proved membership by now.
    AdmissionDeadline(PeerId),
    /// Close a refused peer's connection (our answer has had time to arrive).
    Hangup(PeerId),
}

pub struct Core {
    me: PeerId,
    rng: StdRng,
    access: Access,
    peers: PeerBook,
    dialer: Dialer,
    /// Our heads of every document held.
    ours: BTreeMap<String, Heads>,
    /// `ours` is complete (read at start); digests wait until it is.
    ready: bool,
    /// Change notifications were missed: the next read of every head replaces `ours`.
    resyncing: bool,
    /// Requests that need `ours` complete, held until it is.
    waiting: Vec<(PeerId, InId, Request)>,
    calls: BTreeMap<ReqId, Call>,
    /// Requests waiting for one of the peer's outbound slots.
    queued: BTreeMap<PeerId, VecDeque<ReqId>>,
    next_req: ReqId,
    /// Inbound requests admitted and not answered yet: their peer and bytes.
    held: BTreeMap<InId, (PeerId, usize)>,
    /// Documents being fetched whole (from whichever peer).
    fetching: BTreeSet<String>,
    /// Documents being pulled, and from whom: one pull per document at a time (pulls of one
    /// document from several peers at once returned the same changes several times).
    pulling: BTreeMap<String, PeerId>,
    /// Documents being checked for changes we lack (before a pull).
    checking: BTreeSet<String>,
    /// Peers with heads of a document we may lack, to check once its pull is done.
    pull_queue: BTreeMap<String, BTreeSet<PeerId>>,
    sessions: BTreeMap<(PeerId, String), Session>,
    /// Pushes in flight; true if the document changed again meanwhile.
    pushing: BTreeMap<(PeerId, String), bool>,
    /// Documents made here before our index listed them (a member or session just added:
    /// the index is read after the change): pushed once it does.
    unlisted_local: BTreeSet<String>,
    /// Peers a digest round is running with.
    reconciling: BTreeSet<PeerId>,
    /// Peers with a periodic digest round scheduled.
    reconcile_timers: BTreeSet<PeerId>,
    reading_access: bool,
    access_stale: bool,
    timers: BTreeSet<(Instant, u64, Timer)>,
    timer_seq: u64,
    /// The members' devices and the hubs last handed to the shell (sent again only when
    /// they change).
    served: Option<HashSet<PeerId>>,
    hubs: Option<Vec<Multiaddr>>,
    out: Vec<Effect>,
}

impl Core {
    /// `seed` drives every random choice (announcement targets, jitter).
    pub fn new(me: PeerId, membership: Option<Membership>, seed: u64) -> Self {
        let mut core = Self {
            me,
            rng: StdRng::seed_from_u64(seed),
            access: Access::new(membership),
            peers: PeerBook::default(),
            dialer: Dialer::default(),
            ours: BTreeMap::new(),
            ready: false,
            resyncing: false,
            waiting: Vec::new(),
            calls: BTreeMap::new(),
            queued: BTreeMap::new(),
            next_req: 0,
            held: BTreeMap::new(),
            fetching: BTreeSet::new(),
            pulling: BTreeMap::new(),
            checking: BTreeSet::new(),
            pull_queue: BTreeMap::new(),
            sessions: BTreeMap::new(),
            pushing: BTreeMap::new(),
            unlisted_local: BTreeSet::new(),
            reconciling: BTreeSet::new(),
            reconcile_timers: BTreeSet::new(),
            reading_access: false,
            access_stale: false,
            timers: BTreeSet::new(),
            timer_seq: 0,
            served: None,
            hubs: None,
            out: Vec::new(),
        };
        core.out.push(Effect::Work(Work::AllHeads));
        core.read_access();
        core
    }

    /// Effects to run at start (reading every document's heads and the roster).
    pub fn start(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    pub fn me(&self) -> PeerId {
        self.me
    }

    /// Handles one input; returns what to do.
    pub fn handle(&mut self, at: At, input: Input) -> Vec<Effect> {
        match input {
            Input::Membership(m) => self.on_membership(at, m),
            Input::Keep(addr) => self.dialer.keep(addr, at.now),
            Input::Forget(addr) => {
                self.dialer.forget(&addr);
            }
            Input::LanSeen { peer, addrs } => {
                if peer != self.me {
                    self.dialer.lan_seen(peer, addrs, at.now);
                }
            }
            Input::LanExpired { peer, addr } => self.dialer.lan_expired(peer, &addr, at.now),
            Input::NetworkChanged => self.dialer.network_back(at.now),
            Input::Dialed { key, result } => match result {
                Ok(peer) => self.dialer.connected(peer, Some(&key), at.now),
                Err(e) => {
                    tracing::debug!("dial {key:?}: {e}");
                    let jitter = self.jitter();
                    self.dialer.unreachable(&key, at.now, jitter);
                }
            },
            Input::Connected { peer, addr } => self.on_connected(at, peer, &addr),
            Input::Disconnected { peer } => self.on_disconnected(at, peer),
            Input::Request { peer, id, frame } => self.on_request(at, peer, id, frame),
            Input::Answer { req, answer } => self.on_answer(at, req, answer),
            Input::Done(done) => self.on_done(at, done),
            Input::Changed(changes) => self.on_changed(changes),
            Input::Resync => {
                self.ready = false;
                self.resyncing = true;
                self.out.push(Effect::Work(Work::AllHeads));
            }
            Input::Tick => self.on_tick(at),
        }
        self.dial_due(at);
        std::mem::take(&mut self.out)
    }

    /// When [`Input::Tick`] should come next.
    pub fn next_wake(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|(at, _, _)| *at);
        [timer, self.dialer.next_wake()].into_iter().flatten().min()
    }

    /// Every peer worth showing (connected, or synced with before).
    pub fn report(&self) -> Vec<PeerReport> {
        self.peers
            .iter()
            .filter(|(_, p)| p.connected || p.last_sync.is_some())
            .map(|(peer, p)| PeerReport {
                peer: *peer,
                connected: p.connected,
                addrs: p.addrs.clone(),
                member: p.member,
                in_sync: p.member && self.in_sync(peer),
                last_sync: p.last_sync,
                bytes_sent: p.bytes_sent,
                bytes_received: p.bytes_received,
                messages_sent: p.messages_sent,
                messages_received: p.messages_received,
                known: p.known.clone(),
            })
            .collect()
    }

    /// Our heads of every community document (private documents left out), for status.
    pub fn our_heads(&self) -> BTreeMap<String, Heads> {
        self.ours
            .iter()
            .filter(|(d, _)| self.access.shareable(false, d))
            .map(|(d, h)| (d.clone(), h.clone()))
            .collect()
    }

    /// Addresses kept connected.
    pub fn kept(&self) -> Vec<String> {
        self.dialer.kept()
    }

    /// Strikes and bans counted since start (the simulator checks honest peers get none).
    pub fn punishments(&self) -> (u64, u64) {
        (self.peers.strikes_total, self.peers.bans_total)
    }

    /// Sync traffic with all peers since start.
    pub fn traffic(&self) -> peers::Traffic {
        self.peers.traffic
    }

    /// True while no request, document work or session is under way.
    pub fn idle(&self) -> bool {
        self.calls.is_empty()
            && self.held.is_empty()
            && self.fetching.is_empty()
            && self.pulling.is_empty()
            && self.checking.is_empty()
            && self.sessions.is_empty()
            && self.pushing.is_empty()
            && self.reconciling.is_empty()
            && !self.reading_access
    }

    fn in_sync(&self, peer: &PeerId) -> bool {
        let own = self.peers.is_own_device(peer);
        self.ours
            .iter()
            .filter(|(d, _)| self.access.shareable(own, d))
            .all(|(doc, heads)| self.peers.known(peer, doc) == Some(heads))
    }

    fn jitter(&mut self) -> f64 {
        self.rng.random_range(0.5..1.0)
    }

    fn leads(&self, peer: &PeerId) -> bool {
        self.me < *peer
    }

    fn shareable(&self, peer: &PeerId, doc: &str) -> bool {
        self.access.shareable(self.peers.is_own_device(peer), doc)
    }

    fn schedule(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq, timer));
    }

    fn on_tick(&mut self, at: At) {
        while let Some(first) = self.timers.first() {
            if first.0 > at.now {
                break;
            }
            let Some((_, _, timer)) = self.timers.pop_first() else {
                break;
            };
            match timer {
                Timer::Resend(req) => {
                    if let Some(peer) = self.calls.get(&req).map(|c| c.peer) {
                        if self.peers.get(&peer).is_some_and(|p| p.connected) {
                            self.dispatch(peer, req);
                        } else if let Some(call) = self.calls.remove(&req) {
                            self.call_failed(call);
                        }
                    }
                }
                Timer::Reconcile(peer) => {
                    if self.peers.may_send(&peer) {
                        self.reconcile(peer);
                        self.schedule_reconcile(at, peer);
                    } else {
                        self.reconcile_timers.remove(&peer);
                    }
                }
                Timer::AdmissionDeadline(peer) => {
                    let p = self.peers.get(&peer);
                    if p.is_some_and(|p| p.connected && !p.member) {
                        tracing::debug!(
                            "closing the connection of {peer}: no proof of membership in {}s",
                            ADMISSION_TIME.as_secs()
                        );
                        self.out.push(Effect::Disconnect { peer });
                    }
                }
                Timer::Hangup(peer) => {
                    if self
                        .peers
                        .get(&peer)
                        .is_some_and(|p| p.connected && !p.member)
                    {
                        self.out.push(Effect::Disconnect { peer });
                    }
                }
            }
        }
        self.peers.expire_bans(at.now);
    }

    /// Hands the shell the devices of current members, if they changed.
    fn serve_members(&mut self) {
        let members = self.access.member_devices();
        if self.served.as_ref() != Some(&members) {
            self.served = Some(members.clone());
            self.out.push(Effect::Members(members));
        }
    }

    /// Keeps the community's hubs dialled and hands them to the shell, if they changed.
    /// Entries that are not multiaddrs ending with a peer id are skipped (the API checks
    /// what it writes; another daemon may have written anything).
    fn meet_at_hubs(&mut self, at: At, listed: &[String]) {
        let Some(community) = self.access.community().map(str::to_owned) else {
            return;
        };
        let hubs: Vec<Multiaddr> = listed
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .filter(|a| matches!(a.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(_))))
            .collect();
        if self.hubs.as_ref() == Some(&hubs) {
            return;
        }
        self.dialer.set_hubs(&hubs, self.me, at.now);
        self.hubs = Some(hubs.clone());
        self.out.push(Effect::Hubs {
            namespace: rendezvous_namespace(&community),
            hubs,
        });
    }

    fn dial_due(&mut self, at: At) {
        let peers = &self.peers;
        let dials = self
            .dialer
            .due(at.now, |p| peers.get(p).is_some_and(|p| p.connected));
        self.out.extend(dials.into_iter().map(Effect::Dial));
    }
}

/// The rendezvous namespace a community's members register under at its hubs (hubs answer
/// members only, so the name need not be secret).
pub fn rendezvous_namespace(community: &str) -> String {
    format!("guild/{community}")
}

/// A refusal that may pass without anyone acting: the refusing daemon has not yet heard of
/// the newcomer's invitation or member document, or has not joined yet.
fn may_pass(denial: &Denial) -> bool {
    match denial {
        Denial::Refused(r) => r.may_pass(),
        // It may join soon (a newcomer that met us on the LAN before joining).
        Denial::NoCommunity => true,
        Denial::NotMember => false,
    }
}

fn refused(reason: &str) -> Response {
    Response::Refused {
        reason: reason.to_owned(),
    }
}

fn unknown_doc(doc: &str) -> Response {
    refused(&format!("unknown document {doc}"))
}

fn response_kind(response: &Response) -> &'static str {
    match response {
        Response::Hello { .. } => "Hello",
        Response::Digest { .. } => "Digest",
        Response::Snapshots { .. } => "Snapshots",
        Response::Changes { .. } => "Changes",
        Response::Diverged => "Diverged",
        Response::Sync { .. } => "Sync",
        Response::Ack { .. } => "Ack",
        Response::Refused { .. } => "Refused",
        Response::Summary { .. } => "Summary",
        Response::Denied { .. } => "Denied",
    }
}

pub fn to_wire(heads: &[ChangeHash]) -> wire::Heads {
    heads.iter().map(|h| h.0).collect()
}

/// Heads from the wire, sorted and without duplicates.
pub fn from_wire(heads: &wire::Heads) -> Heads {
    let mut out: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
    out.sort();
    out.dedup();
    out
}

fn from_wire_all(docs: Vec<(String, wire::Heads)>) -> Vec<(String, Heads)> {
    docs.into_iter()
        .map(|(doc, heads)| {
            let heads = from_wire(&heads);
            (doc, heads)
        })
        .collect()
}

#[cfg(test)]
mod tests;
