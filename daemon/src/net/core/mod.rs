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
//! - here: the conversation (see `wire`): `Hello` both ways; the peer with the smaller id
//!   runs the digest rounds (`Summary`, then `Digest` only if the summaries differ) on
//!   connect and every [`RECONCILE_EVERY`]; each side pulls what it lacks (`Want` for
//!   documents it has never seen, `Pull` for documents it is behind on, `Sync` where both
//!   sides hold changes the other lacks); local changes are pushed at once (`Changes`) and
//!   changes received are announced (`Have`) to a few random peers.
//!
//! Cost follows change: our heads of every document are kept here (updated as documents
//! change), so a digest costs no document work; only documents whose heads differ are
//! touched.

pub mod access;
pub mod dialer;
pub mod peers;
pub mod work;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use crdt_model::DocKind;
use libp2p::{Multiaddr, PeerId};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use super::limits;
use super::membership::Membership;
use super::wire::{self, FrameError, Request, Response};
use access::{Access, Admission, Denial};
use dialer::{Dial, Dialer, Outcome, TargetKey};
use peers::{Admit, LogKey, PeerBook, Punishment};
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
    RefusedBy { peer: PeerId, reason: String },
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
}

/// Why we sent a request, so that its answer can be acted on.
#[derive(Debug)]
enum Purpose {
    Hello,
    Summary { digest: Vec<(String, wire::Heads)> },
    Digest,
    Want { docs: Vec<String> },
    Pull { doc: String, announced: bool },
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
    /// Pulls in flight, so the same pull is never made twice at once.
    pulling: BTreeSet<(PeerId, String)>,
    /// Documents being pulled after an announcement (from whichever peer).
    announced: BTreeSet<String>,
    sessions: BTreeMap<(PeerId, String), Session>,
    /// Pushes in flight; true if the document changed again meanwhile.
    pushing: BTreeMap<(PeerId, String), bool>,
    /// Peers a digest round is running with.
    reconciling: BTreeSet<PeerId>,
    /// Peers with a periodic digest round scheduled.
    reconcile_timers: BTreeSet<PeerId>,
    reading_access: bool,
    access_stale: bool,
    timers: BTreeSet<(Instant, u64, Timer)>,
    timer_seq: u64,
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
            pulling: BTreeSet::new(),
            announced: BTreeSet::new(),
            sessions: BTreeMap::new(),
            pushing: BTreeMap::new(),
            reconciling: BTreeSet::new(),
            reconcile_timers: BTreeSet::new(),
            reading_access: false,
            access_stale: false,
            timers: BTreeSet::new(),
            timer_seq: 0,
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

    /// True while no request, document work or session is under way.
    pub fn idle(&self) -> bool {
        self.calls.is_empty()
            && self.held.is_empty()
            && self.fetching.is_empty()
            && self.pulling.is_empty()
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

    // ----- membership and connections -----

    fn on_membership(&mut self, at: At, membership: Option<Membership>) {
        self.access.set_membership(membership);
        // Refusals heard before we belonged where we belong now say nothing any more.
        self.dialer.forget_refusals(at.now);
        self.read_access();
        let connected: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected)
            .map(|(id, _)| *id)
            .collect();
        for peer in connected {
            self.send_hello(at, peer);
        }
    }

    fn on_connected(&mut self, at: At, peer: PeerId, addr: &str) {
        if let Err(until) = self.peers.connected(peer, addr, at.now) {
            if self.peers.should_log(peer, LogKey::StillBanned, at.now) {
                tracing::info!(
                    "refusing {peer}: banned for another {}s",
                    until.saturating_duration_since(at.now).as_secs()
                );
            }
            self.out.push(Effect::Disconnect { peer });
            return;
        }
        self.dialer.connected(peer, None, at.now);
        self.send_hello(at, peer);
    }

    fn send_hello(&mut self, at: At, peer: PeerId) {
        if let Some(hello) = self.access.hello(&self.me, &peer) {
            self.call(peer, &hello, Purpose::Hello);
            self.schedule(at.now + ADMISSION_TIME, Timer::AdmissionDeadline(peer));
        }
    }

    fn on_disconnected(&mut self, at: At, peer: PeerId) {
        let p = self.peers.get(&peer);
        let closed_early = self.access.membership().is_some()
            && p.is_some_and(|p| !p.answered_hello && !p.refused_us);
        if closed_early {
            // Closed before the peer answered our `Hello`: a ban shows this way (the peer
            // refuses the connection as soon as it is up). Back off as for a refusal.
            if self.peers.should_log(peer, LogKey::ClosedEarly, at.now) {
                tracing::info!(
                    "{peer} closed the connection before admitting us (banned, or refusing us); backing off"
                );
            }
            let jitter = self.jitter();
            self.dialer
                .refused(peer, Outcome::ClosedEarly, at.now, jitter);
        }
        self.peers.disconnected(&peer, at.now);
        self.dialer.disconnected(peer, at.now);
        // Whatever was under way with the peer is over.
        let gone: Vec<ReqId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for req in gone {
            if let Some(call) = self.calls.remove(&req) {
                self.call_failed(call);
            }
        }
        self.queued.remove(&peer);
        self.sessions.retain(|(p, _), _| *p != peer);
        self.pushing.retain(|(p, _), _| *p != peer);
        self.pulling.retain(|(p, _)| *p != peer);
        self.reconciling.remove(&peer);
        let (gone, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(p, _, _)| *p == peer);
        self.waiting = waiting;
        for (_, id, _) in gone {
            self.respond(id, &refused("disconnected"));
        }
        self.out.push(Effect::Forget { peer });
    }

    /// The peer answered our `Hello`.
    fn on_hello_answer(&mut self, at: At, peer: PeerId, answer: &Response) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.answered_hello = true;
        }
        match self.access.check_answer(&self.me, &peer, answer, at.wall) {
            Ok(admission) => self.admitted(at, peer, admission),
            Err(denial) => self.refuse(at, peer, &denial),
        }
    }

    fn admitted(&mut self, at: At, peer: PeerId, admission: Admission) {
        let first = !self.peers.is_member(&peer);
        self.peers.admit(peer, admission.own_device, at.now);
        self.dialer.admitted(peer, at.now);
        self.record_invite(at, peer, admission.invite);
        if first {
            self.out.push(Effect::Admitted { peer });
        }
        if self.leads(&peer) {
            self.reconcile(peer);
            if self.reconcile_timers.insert(peer) {
                self.schedule_reconcile(at, peer);
            }
        }
    }

    fn record_invite(&mut self, at: At, peer: PeerId, invite: Option<String>) {
        if let (Some(hash), Some(community)) = (invite, self.access.community()) {
            self.out.push(Effect::Work(Work::RecordInvite {
                community: community.to_owned(),
                hash,
                peer,
                when: crdt_model::when::format(at.wall),
            }));
        }
    }

    fn schedule_reconcile(&mut self, at: At, peer: PeerId) {
        let jitter = self.rng.random_range(0.9..1.1);
        self.schedule(
            at.now + RECONCILE_EVERY.mul_f64(jitter),
            Timer::Reconcile(peer),
        );
    }

    /// We refuse `peer`: say why once an hour, back off dialling it, hang up shortly.
    fn refuse(&mut self, at: At, peer: PeerId, denial: &Denial) {
        if self.peers.should_log(peer, LogKey::Refused, at.now) {
            match denial {
                Denial::NotMember => {
                    tracing::warn!(
                        "{peer} is not a member of this community (wrong membership proof); refusing it"
                    );
                }
                other => tracing::warn!("refusing {peer}: {other}"),
            }
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.member = false;
        }
        if *denial != Denial::NoCommunity {
            // Not worth dialling soon (when we have no community, the fault is ours).
            let jitter = self.jitter();
            self.dialer.refused(
                peer,
                Outcome::Refused {
                    retry_after: None,
                    temporary: may_pass(denial),
                },
                at.now,
                jitter,
            );
        }
        self.schedule(at.now + HANGUP_AFTER, Timer::Hangup(peer));
    }

    /// `peer` refused us, saying why.
    fn refused_by(&mut self, at: At, peer: PeerId, reason: &str, retry_after: Option<Duration>) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.refused_us = true;
        }
        if self.peers.should_log(peer, LogKey::RefusedBy, at.now) {
            if reason == Denial::NoCommunity.to_string() {
                tracing::warn!(
                    "{peer} is not a member of this community: it belongs to no community yet"
                );
            } else {
                tracing::warn!("{peer} refused us: {reason}");
            }
        }
        let jitter = self.jitter();
        let temporary = retry_after.is_some();
        self.dialer.refused(
            peer,
            Outcome::Refused {
                retry_after,
                temporary,
            },
            at.now,
            jitter,
        );
        self.out.push(Effect::RefusedBy {
            peer,
            reason: reason.to_owned(),
        });
        self.out.push(Effect::Disconnect { peer });
    }

    fn punish(&mut self, at: At, peer: PeerId, why: &str, how: Punishment) {
        if self.peers.should_log(peer, LogKey::Strike, at.now) {
            tracing::warn!("peer {peer}: {why}");
        } else {
            tracing::debug!("peer {peer}: {why}");
        }
        if let Some(until) = self.peers.punish(peer, how, at.now) {
            tracing::warn!(
                "disconnecting and banning {peer} for {}s",
                until.saturating_duration_since(at.now).as_secs()
            );
            self.out.push(Effect::Ban { peer, until });
        }
    }

    // ----- sending -----

    /// Sends a request, or queues it until the peer has a free outbound slot (so that we
    /// never break the limits we hold peers to).
    fn call(&mut self, peer: PeerId, request: &Request, purpose: Purpose) {
        let bytes = match wire::encode(request) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!("cannot encode a {}: {e}", request.kind());
                return;
            }
        };
        self.next_req += 1;
        let req = self.next_req;
        self.calls.insert(
            req,
            Call {
                peer,
                bytes,
                retries: 0,
                purpose,
            },
        );
        self.dispatch(peer, req);
    }

    fn dispatch(&mut self, peer: PeerId, req: ReqId) {
        let free = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.outbound < limits::MAX_OUTBOUND_PER_PEER);
        if !free {
            self.queued.entry(peer).or_default().push_back(req);
            return;
        }
        let Some(call) = self.calls.get(&req) else {
            return;
        };
        let bytes = call.bytes.clone();
        if let Some(p) = self.peers.get_mut(&peer) {
            p.outbound += 1;
        }
        self.peers.count_sent(&peer, bytes.len());
        self.out.push(Effect::Send { peer, req, bytes });
    }

    fn slot_freed(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.outbound = p.outbound.saturating_sub(1);
        }
        if let Some(next) = self.queued.get_mut(&peer).and_then(VecDeque::pop_front) {
            self.dispatch(peer, next);
        }
    }

    /// Answers an inbound request and frees what it held.
    fn respond(&mut self, id: InId, response: &Response) {
        let bytes = match wire::encode(response) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!("cannot encode a response: {e}");
                return;
            }
        };
        if let Some((peer, held)) = self.held.remove(&id) {
            self.peers.release(&peer, held);
            self.peers.count_sent(&peer, bytes.len());
        }
        self.out.push(Effect::Respond { id, bytes });
    }

    // ----- inbound requests -----

    fn on_request(&mut self, at: At, peer: PeerId, id: InId, frame: Result<Vec<u8>, FrameError>) {
        let bytes = match frame {
            Ok(bytes) => bytes,
            Err(limit) => {
                // The frame broke a wire limit and was never read.
                self.peers.count_received(&peer, 0);
                let how = match limit {
                    FrameError::TooLarge(_) => Some(Punishment::Ban),
                    FrameError::TooSlow(_) => Some(Punishment::Strike),
                    // Every peer's frames together were over the budget: not this peer's
                    // fault alone (one that holds much is caught by the per-peer limits).
                    FrameError::Busy(_) => None,
                };
                if let Some(how) = how {
                    self.punish(at, peer, &limit.to_string(), how);
                }
                self.respond(id, &refused(&limit.to_string()));
                return;
            }
        };
        match self.peers.admit_request(peer, bytes.len(), at.now) {
            Admit::Yes => {
                self.held.insert(id, (peer, bytes.len()));
            }
            Admit::Banned => return self.respond(id, &refused("banned")),
            Admit::SlowDown => return self.respond(id, &refused(SLOW_DOWN)),
            Admit::Violation(how, why) => {
                self.punish(at, peer, &why, how);
                return self.respond(id, &refused(&why));
            }
        }
        let request = match wire::decode::<Request>(&bytes) {
            Ok(request) => request,
            Err(e) => {
                self.punish(
                    at,
                    peer,
                    &format!("malformed request: {e}"),
                    Punishment::Strike,
                );
                return self.respond(id, &refused("malformed request"));
            }
        };
        drop(bytes);
        if let Err(v) = limits::check_request(&request) {
            self.punish(at, peer, &v.to_string(), Punishment::Ban);
            return self.respond(id, &refused(&v.to_string()));
        }
        if let Request::Hello { .. } = request {
            return self.on_hello(at, peer, id, &request);
        }
        if !self.peers.is_member(&peer) {
            self.punish(
                at,
                peer,
                "request before proving membership",
                Punishment::Strike,
            );
            return self.respond(id, &refused("prove membership first (Hello)"));
        }
        self.handle_request(at, peer, id, request);
    }

    fn on_hello(&mut self, at: At, peer: PeerId, id: InId, hello: &Request) {
        match self.access.answer_hello(&self.me, &peer, hello, at.wall) {
            Ok((answer, admission)) => {
                let first = !self.peers.is_member(&peer);
                self.peers.admit(peer, admission.own_device, at.now);
                self.record_invite(at, peer, admission.invite);
                if first {
                    self.out.push(Effect::Admitted { peer });
                }
                self.respond(id, &answer);
            }
            Err(denial) => {
                let retry_after = may_pass(&denial).then_some(RETRY_UNLISTED.as_secs());
                self.respond(
                    id,
                    &Response::Denied {
                        reason: denial.to_string(),
                        retry_after_secs: retry_after,
                    },
                );
                self.refuse(at, peer, &denial);
            }
        }
    }

    fn handle_request(&mut self, at: At, peer: PeerId, id: InId, request: Request) {
        match request {
            Request::Hello { .. } => {}
            Request::Summary { .. } | Request::Digest { .. } if !self.ready => {
                // Answered once our heads are all known (see `on_done`).
                self.waiting.push((peer, id, request));
            }
            Request::Summary { hash } => {
                let ours = self.digest_for(&peer);
                let same = wire::summary(&ours) == hash;
                if same {
                    self.remember_digest(&peer, &ours);
                    self.peers.touch(&peer, at.wall);
                }
                self.respond(id, &Response::Summary { same });
            }
            Request::Digest { docs } => {
                let ours = self.digest_for(&peer);
                self.respond(id, &Response::Digest { docs: ours });
                // The peer runs this round for both of us: get what we lack from its digest.
                self.catch_up(at, peer, from_wire_all(docs));
            }
            Request::Want { docs } => {
                let docs: Vec<String> = docs
                    .into_iter()
                    .filter(|d| self.shareable(&peer, d))
                    .take(10_000)
                    .collect();
                self.out
                    .push(Effect::Work(Work::Snapshots { peer, id, docs }));
            }
            Request::Have { doc, heads } => self.on_have(peer, id, doc, from_wire(&heads)),
            Request::Pull { doc, heads } => {
                if !self.shareable(&peer, &doc) {
                    return self.respond(id, &unknown_doc(&doc));
                }
                self.out.push(Effect::Work(Work::AnswerPull {
                    peer,
                    id,
                    doc,
                    heads: from_wire(&heads),
                }));
            }
            Request::Sync {
                doc,
                message,
                first,
            } => {
                let Some(kind) = self.kind_for(&peer, &doc) else {
                    return self.respond(id, &unknown_doc(&doc));
                };
                self.out.push(Effect::Work(Work::SyncStep {
                    peer,
                    doc,
                    kind,
                    received: (!message.is_empty()).then_some(message),
                    restart: first,
                    answer: Some(id),
                }));
            }
            Request::Changes { doc, bytes, heads } => {
                // A document not in our index yet is normal (its index entry may be behind):
                // refused, not punished; it is fetched once the index lists it.
                let Some(kind) = self.kind_for(&peer, &doc) else {
                    return self.respond(id, &unknown_doc(&doc));
                };
                self.peers.remember(&peer, &doc, from_wire(&heads));
                self.out.push(Effect::Work(Work::Apply {
                    peer,
                    doc,
                    kind,
                    bytes,
                    then: Then::Ack(id),
                }));
            }
        }
    }

    /// The document's kind if the peer may send or receive it.
    fn kind_for(&self, peer: &PeerId, doc: &str) -> Option<DocKind> {
        self.shareable(peer, doc)
            .then(|| self.access.kind_of(doc))
            .flatten()
    }

    /// The peer announces new heads of `doc`: pull them (once, however many announce them).
    fn on_have(&mut self, peer: PeerId, id: InId, doc: String, heads: Heads) {
        if !self.shareable(&peer, &doc) {
            // Its index entry may not be here yet; the document is fetched once it is.
            self.peers.remember(&peer, &doc, heads);
            return self.respond(id, &Response::Ack { heads: Vec::new() });
        }
        self.peers.remember(&peer, &doc, heads.clone());
        let ours = self.ours.get(&doc).cloned();
        self.respond(
            id,
            &Response::Ack {
                heads: to_wire(ours.as_deref().unwrap_or_default()),
            },
        );
        if !self.ready || ours.as_ref() == Some(&heads) {
            return;
        }
        if ours.is_none() {
            return self.fetch(peer, vec![doc]);
        }
        if self.announced.insert(doc.clone()) {
            self.out.push(Effect::Work(Work::Lacking {
                peer,
                docs: vec![(doc, heads)],
            }));
        }
    }

    // ----- answers to our requests -----

    fn on_answer(&mut self, at: At, req: ReqId, answer: Result<Vec<u8>, String>) {
        let Some(call) = self.calls.remove(&req) else {
            return;
        };
        let peer = call.peer;
        self.slot_freed(peer);
        let bytes = match answer {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::debug!("request to {peer} failed: {e}");
                return self.call_failed(call);
            }
        };
        self.peers.count_received(&peer, bytes.len());
        let response = match wire::decode::<Response>(&bytes) {
            Ok(response) => response,
            Err(e) => {
                self.punish(
                    at,
                    peer,
                    &format!("malformed response: {e}"),
                    Punishment::Strike,
                );
                return self.call_failed(call);
            }
        };
        if let Err(v) = limits::check_response(&response) {
            self.punish(at, peer, &v.to_string(), Punishment::Ban);
            return self.call_failed(call);
        }
        match (call.purpose, response) {
            (purpose, Response::Refused { reason })
                if reason == SLOW_DOWN && call.retries < SLOW_DOWN_RETRIES =>
            {
                self.next_req += 1;
                let again = self.next_req;
                self.calls.insert(
                    again,
                    Call {
                        peer,
                        bytes: call.bytes,
                        retries: call.retries + 1,
                        purpose,
                    },
                );
                self.schedule(at.now + SLOW_DOWN_WAIT, Timer::Resend(again));
            }
            (
                Purpose::Hello,
                Response::Denied {
                    reason,
                    retry_after_secs,
                },
            ) => self.refused_by(at, peer, &reason, retry_after_secs.map(Duration::from_secs)),
            (Purpose::Hello, Response::Refused { reason }) => {
                self.refused_by(at, peer, &reason, None);
            }
            (Purpose::Hello, hello @ Response::Hello { .. }) => {
                self.on_hello_answer(at, peer, &hello);
            }
            (purpose, Response::Refused { reason } | Response::Denied { reason, .. }) => {
                tracing::debug!("{peer} refused a request: {reason}");
                self.call_failed(Call {
                    peer,
                    bytes: Vec::new(),
                    retries: 0,
                    purpose,
                });
            }
            (Purpose::Summary { digest }, Response::Summary { same: true }) => {
                self.remember_digest(&peer, &digest);
                self.peers.touch(&peer, at.wall);
                self.reconciling.remove(&peer);
            }
            (Purpose::Summary { digest }, Response::Summary { same: false }) => {
                self.call(peer, &Request::Digest { docs: digest }, Purpose::Digest);
            }
            (Purpose::Digest, Response::Digest { docs }) => {
                self.reconciling.remove(&peer);
                self.catch_up(at, peer, from_wire_all(docs));
            }
            (Purpose::Want { docs }, Response::Snapshots { docs: snapshots }) => {
                self.on_snapshots(peer, docs, snapshots);
            }
            (Purpose::Pull { doc, announced }, Response::Changes { bytes, heads }) => {
                self.peers.remember(&peer, &doc, from_wire(&heads));
                match self.kind_for(&peer, &doc) {
                    Some(kind) => self.out.push(Effect::Work(Work::Apply {
                        peer,
                        doc,
                        kind,
                        bytes,
                        then: Then::Pulled,
                    })),
                    None => self.pull_done(peer, &doc, announced),
                }
            }
            (Purpose::Pull { doc, announced }, Response::Diverged) => {
                self.pull_done(peer, &doc, announced);
                if self.leads(&peer) {
                    self.start_session(peer, doc);
                } else if let Some(ours) = self.ours.get(&doc) {
                    // The peer runs the sync protocol: tell it we have changes it lacks.
                    let have = Request::Have {
                        doc: doc.clone(),
                        heads: to_wire(ours),
                    };
                    self.call(peer, &have, Purpose::Have { doc });
                }
            }
            (Purpose::Sync { doc }, Response::Sync { message }) => {
                self.on_sync_reply(peer, doc, message);
            }
            (Purpose::Changes { doc }, Response::Ack { heads }) => {
                self.peers.remember(&peer, &doc, from_wire(&heads));
                self.peers.touch(&peer, at.wall);
                let again = self.pushing.remove(&(peer, doc.clone())).unwrap_or(false);
                if again {
                    self.push(peer, &doc);
                }
            }
            (Purpose::Have { doc }, Response::Ack { heads }) => {
                if !heads.is_empty() {
                    self.peers.remember(&peer, &doc, from_wire(&heads));
                }
            }
            (purpose, other) => {
                self.punish(
                    at,
                    peer,
                    &format!("answered a request with {}", response_kind(&other)),
                    Punishment::Strike,
                );
                self.call_failed(Call {
                    peer,
                    bytes: Vec::new(),
                    retries: 0,
                    purpose,
                });
            }
        }
    }

    /// A request got no useful answer: release whatever it held.
    fn call_failed(&mut self, call: Call) {
        let peer = call.peer;
        match call.purpose {
            Purpose::Hello | Purpose::Have { .. } => {}
            Purpose::Summary { .. } | Purpose::Digest => {
                self.reconciling.remove(&peer);
            }
            Purpose::Want { docs } => {
                for doc in docs {
                    self.fetching.remove(&doc);
                }
            }
            Purpose::Pull { doc, announced } => self.pull_done(peer, &doc, announced),
            Purpose::Sync { doc } => {
                self.sessions.remove(&(peer, doc));
            }
            Purpose::Changes { doc } => {
                self.pushing.remove(&(peer, doc));
            }
        }
    }

    // ----- reconciling -----

    /// Heads of every document we may share with `peer`, in id order.
    fn digest_for(&self, peer: &PeerId) -> Vec<(String, wire::Heads)> {
        let own = self.peers.is_own_device(peer);
        self.ours
            .iter()
            .filter(|(d, _)| self.access.shareable(own, d))
            .map(|(d, h)| (d.clone(), to_wire(h)))
            .collect()
    }

    fn remember_digest(&mut self, peer: &PeerId, docs: &[(String, wire::Heads)]) {
        for (doc, heads) in docs {
            self.peers.remember(peer, doc, from_wire(heads));
        }
    }

    /// A digest round with `peer`: one summary hash, the digests only if they differ.
    fn reconcile(&mut self, peer: PeerId) {
        if !self.ready {
            return; // Started again once our heads are known.
        }
        if !self.reconciling.insert(peer) {
            return;
        }
        let digest = self.digest_for(&peer);
        let hash = wire::summary(&digest);
        self.call(
            peer,
            &Request::Summary { hash },
            Purpose::Summary { digest },
        );
    }

    /// Given the peer's heads of every document, gets what we lack from it.
    fn catch_up(&mut self, at: At, peer: PeerId, theirs: Vec<(String, Heads)>) {
        let mut want = Vec::new();
        let mut compare = Vec::new();
        for (doc, heads) in theirs.into_iter().take(limits::MAX_ANNOUNCED_DOCS) {
            self.peers.remember(&peer, &doc, heads.clone());
            if !self.shareable(&peer, &doc) {
                continue; // Not in our index (yet): fetched once it is.
            }
            match self.ours.get(&doc) {
                None => want.push(doc),
                Some(ours) if *ours != heads => {
                    if !self.pulling.contains(&(peer, doc.clone())) {
                        compare.push((doc, heads));
                    }
                }
                Some(_) => {}
            }
        }
        self.fetch(peer, want);
        if !compare.is_empty() {
            self.out.push(Effect::Work(Work::Lacking {
                peer,
                docs: compare,
            }));
        }
        self.peers.touch(&peer, at.wall);
    }

    fn pull(&mut self, peer: PeerId, doc: String, announced: bool) {
        if !self.peers.may_send(&peer) || !self.pulling.insert((peer, doc.clone())) {
            if announced {
                self.announced.remove(&doc);
            }
            return;
        }
        let heads = self.ours.get(&doc).cloned().unwrap_or_default();
        let request = Request::Pull {
            doc: doc.clone(),
            heads: to_wire(&heads),
        };
        self.call(peer, &request, Purpose::Pull { doc, announced });
    }

    fn pull_done(&mut self, peer: PeerId, doc: &str, announced: bool) {
        self.pulling.remove(&(peer, doc.to_owned()));
        if announced {
            self.announced.remove(doc);
        }
    }

    /// Fetches whole documents we do not hold (those no other fetch is getting).
    fn fetch(&mut self, peer: PeerId, docs: Vec<String>) {
        let docs: Vec<String> = docs
            .into_iter()
            .filter(|d| !self.ours.contains_key(d) && self.shareable(&peer, d))
            .collect();
        let docs: Vec<String> = docs
            .into_iter()
            .filter(|d| self.fetching.insert(d.clone()))
            .collect();
        if !docs.is_empty() {
            let request = Request::Want { docs: docs.clone() };
            self.call(peer, &request, Purpose::Want { docs });
        }
    }

    fn on_snapshots(
        &mut self,
        peer: PeerId,
        asked: Vec<String>,
        snapshots: Vec<(String, Vec<u8>)>,
    ) {
        let mut returned = BTreeSet::new();
        for (doc, bytes) in snapshots {
            if !asked.contains(&doc) || !returned.insert(doc.clone()) {
                continue; // Not asked for: ignored.
            }
            match self.kind_for(&peer, &doc) {
                Some(kind) => self.out.push(Effect::Work(Work::Apply {
                    peer,
                    doc,
                    kind,
                    bytes,
                    then: Then::Fetched,
                })),
                None => {
                    self.fetching.remove(&doc);
                }
            }
        }
        let rest: Vec<String> = asked
            .into_iter()
            .filter(|d| !returned.contains(d))
            .collect();
        if returned.is_empty() {
            // The peer has none of them.
            for doc in rest {
                self.fetching.remove(&doc);
            }
        } else if !rest.is_empty() {
            // They did not fit in one answer: ask for the rest (still claimed).
            let request = Request::Want { docs: rest.clone() };
            self.call(peer, &request, Purpose::Want { docs: rest });
        }
    }

    /// Documents the index lists that we do not hold: fetch each from a peer that has it.
    fn fetch_missing(&mut self) {
        let members = self.peers.members();
        if members.is_empty() {
            return;
        }
        let missing: Vec<String> = self
            .access
            .index()
            .filter(|d| !self.ours.contains_key(*d) && !self.fetching.contains(*d))
            .cloned()
            .collect();
        let mut by_peer: BTreeMap<PeerId, Vec<String>> = BTreeMap::new();
        for doc in missing {
            let holder = members
                .iter()
                .find(|p| self.peers.known(p, &doc).is_some())
                .or_else(|| members.first())
                .copied();
            if let Some(peer) = holder {
                by_peer.entry(peer).or_default().push(doc);
            }
        }
        for (peer, docs) in by_peer {
            self.fetch(peer, docs);
        }
    }

    // ----- the sync protocol -----

    fn start_session(&mut self, peer: PeerId, doc: String) {
        let Some(kind) = self.kind_for(&peer, &doc) else {
            return;
        };
        if self.sessions.contains_key(&(peer, doc.clone())) {
            return; // One is running: it goes on until neither side has anything new.
        }
        self.sessions.insert(
            (peer, doc.clone()),
            Session {
                round: 0,
                ours_empty: false,
                theirs_empty: true,
                shared: Vec::new(),
            },
        );
        self.out.push(Effect::Work(Work::SyncStep {
            peer,
            doc,
            kind,
            received: None,
            restart: true,
            answer: None,
        }));
    }

    /// Our next message of a session we run is ready.
    fn on_sync_step(
        &mut self,
        at: At,
        peer: PeerId,
        doc: String,
        result: Result<(Option<Vec<u8>>, Heads), DocFault>,
    ) {
        let key = (peer, doc.clone());
        let (message, shared) = match result {
            Ok(step) => step,
            Err(fault) => {
                self.sessions.remove(&key);
                if let DocFault::Bad(why) = fault {
                    self.punish(
                        at,
                        peer,
                        &format!("sync of {doc}: {why}"),
                        Punishment::Strike,
                    );
                }
                return;
            }
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.shared = shared;
        if message.is_none() && session.theirs_empty {
            return self.end_session(peer, doc);
        }
        session.ours_empty = message.is_none();
        let first = session.round == 0;
        let request = Request::Sync {
            doc: doc.clone(),
            message: message.unwrap_or_default(),
            first,
        };
        self.call(peer, &request, Purpose::Sync { doc });
    }

    fn on_sync_reply(&mut self, peer: PeerId, doc: String, reply: Option<Vec<u8>>) {
        let key = (peer, doc.clone());
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if session.ours_empty && reply.is_none() {
            return self.end_session(peer, doc);
        }
        session.theirs_empty = reply.is_none();
        session.round += 1;
        if session.round >= MAX_SYNC_ROUNDS {
            return self.end_session(peer, doc);
        }
        let Some(kind) = self.kind_for(&peer, &doc) else {
            self.sessions.remove(&key);
            return;
        };
        self.out.push(Effect::Work(Work::SyncStep {
            peer,
            doc,
            kind,
            received: reply,
            restart: false,
            answer: None,
        }));
    }

    /// Both sides now hold the union of what they had; remember the heads they share (not
    /// our current heads, which may include local changes made meanwhile).
    fn end_session(&mut self, peer: PeerId, doc: String) {
        if let Some(session) = self.sessions.remove(&(peer, doc.clone())) {
            self.peers.remember(&peer, &doc, session.shared);
        }
    }

    // ----- pushing and announcing -----

    fn on_changed(&mut self, changes: Vec<Changed>) {
        let mut access = false;
        let mut docs: BTreeMap<String, bool> = BTreeMap::new();
        for mut change in changes {
            change.heads.sort();
            let kind = self.access.kind_of(&change.doc);
            // The index and the roster follow the community and member documents (and a
            // document not in the index may be one: the index may still be being built).
            access |= matches!(kind, None | Some(DocKind::Member | DocKind::Community));
            self.ours.insert(change.doc.clone(), change.heads);
            *docs.entry(change.doc).or_default() |= change.local;
        }
        if access {
            self.read_access();
        }
        // The community document first: its index announces the others.
        let mut ordered: Vec<(String, bool)> = docs.into_iter().collect();
        ordered.sort_by_key(|(d, _)| !self.access.is_community(d));
        let members = self.peers.members();
        let announce_to: BTreeSet<PeerId> = members
            .choose_multiple(&mut self.rng, ANNOUNCE_FANOUT)
            .copied()
            .collect();
        for peer in members {
            for (doc, local) in &ordered {
                if !self.shareable(&peer, doc) {
                    continue;
                }
                // Our own changes go out whole, in one message. Changes we received are
                // only announced, and to a few peers: at a meetup every peer hears them from
                // their author too, and passing them on to everyone made traffic grow with
                // the cube of the number of daemons. Where peers are not all connected they
                // spread hop by hop, and the digest rounds catch anything a random choice
                // left out.
                if *local {
                    self.push(peer, doc);
                } else if announce_to.contains(&peer) {
                    self.announce(peer, doc);
                }
            }
        }
    }

    /// Sends `peer` the changes of `doc` it lacks, in one message (one push in flight per
    /// peer and document: changes made meanwhile go in the next).
    fn push(&mut self, peer: PeerId, doc: &str) {
        let Some(ours) = self.ours.get(doc) else {
            return;
        };
        let known = self.peers.known(&peer, doc);
        if known == Some(ours) {
            return;
        }
        let key = (peer, doc.to_owned());
        if let Some(again) = self.pushing.get_mut(&key) {
            *again = true;
            return;
        }
        let known = known.cloned().unwrap_or_default();
        self.pushing.insert(key, false);
        self.out.push(Effect::Work(Work::Push {
            peer,
            doc: doc.to_owned(),
            known,
        }));
    }

    /// Tells `peer` our heads of `doc`, unless it has them; it pulls what it lacks.
    fn announce(&mut self, peer: PeerId, doc: &str) {
        let Some(ours) = self.ours.get(doc) else {
            return;
        };
        if self.peers.known(&peer, doc) == Some(ours) {
            return;
        }
        let request = Request::Have {
            doc: doc.to_owned(),
            heads: to_wire(ours),
        };
        let doc = doc.to_owned();
        self.call(peer, &request, Purpose::Have { doc });
    }

    // ----- document work results -----

    fn read_access(&mut self) {
        let Some(community) = self.access.community() else {
            return;
        };
        if self.reading_access {
            self.access_stale = true;
            return;
        }
        self.reading_access = true;
        self.access_stale = false;
        let community = community.to_owned();
        self.out.push(Effect::Work(Work::ReadAccess { community }));
    }

    fn on_done(&mut self, at: At, done: Done) {
        match done {
            Done::AllHeads(all) => {
                let resync = std::mem::take(&mut self.resyncing);
                for (doc, mut heads) in all {
                    heads.sort();
                    if resync {
                        self.ours.insert(doc, heads);
                    } else {
                        // Heads reported by a change since are newer than what was read.
                        self.ours.entry(doc).or_insert(heads);
                    }
                }
                self.ready = true;
                for (peer, id, request) in std::mem::take(&mut self.waiting) {
                    self.handle_request(at, peer, id, request);
                }
                for peer in self.peers.members() {
                    if self.leads(&peer) {
                        self.reconcile(peer);
                    }
                }
                self.fetch_missing();
            }
            Done::Lacking { peer, lacking } => {
                let announced: BTreeSet<String> = lacking
                    .iter()
                    .filter(|d| self.announced.contains(*d))
                    .cloned()
                    .collect();
                // Documents checked after an announcement that turned out not to be lacking.
                self.announced
                    .retain(|d| !announced.contains(d) || lacking.contains(d));
                for doc in lacking {
                    let via_have = announced.contains(&doc);
                    self.pull(peer, doc, via_have);
                }
            }
            Done::Answer {
                peer,
                id,
                response,
                remember,
            } => {
                for (doc, heads) in remember {
                    self.peers.remember(&peer, &doc, heads);
                }
                self.respond(id, &response);
            }
            Done::Applied {
                peer,
                doc,
                then,
                result,
            } => self.on_applied(at, peer, doc, then, result),
            Done::Push { peer, doc, outcome } => match outcome {
                PushOutcome::Send { bytes, heads } => {
                    let request = Request::Changes {
                        doc: doc.clone(),
                        bytes,
                        heads: to_wire(&heads),
                    };
                    self.call(peer, &request, Purpose::Changes { doc });
                }
                PushOutcome::TheyHaveMore => {
                    self.pushing.remove(&(peer, doc.clone()));
                    self.pull(peer, doc, false);
                }
                PushOutcome::Nothing => {
                    self.pushing.remove(&(peer, doc));
                }
            },
            Done::SyncStep {
                peer,
                doc,
                answer: Some(id),
                result,
            } => match result {
                Ok((message, _)) => self.respond(id, &Response::Sync { message }),
                Err(fault) => {
                    if let DocFault::Bad(why) = &fault {
                        self.punish(
                            at,
                            peer,
                            &format!("sync of {doc}: {why}"),
                            Punishment::Strike,
                        );
                    }
                    self.respond(id, &refused(&format!("document {doc}: {fault}")));
                }
            },
            Done::SyncStep {
                peer,
                doc,
                answer: None,
                result,
            } => self.on_sync_step(at, peer, doc, result),
            Done::Access { listed, roster } => {
                self.reading_access = false;
                self.access.update(listed, roster);
                // Devices of members removed since they connected are cut off.
                let revoked: Vec<PeerId> = self
                    .peers
                    .members()
                    .into_iter()
                    .filter(|p| self.access.revoked(p))
                    .collect();
                for peer in revoked {
                    tracing::warn!("disconnecting {peer}: a device of a removed member");
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.member = false;
                    }
                    self.out.push(Effect::Disconnect { peer });
                }
                if self.ready {
                    self.fetch_missing();
                }
                if self.access_stale {
                    self.read_access();
                }
            }
            Done::Nothing => {}
        }
    }

    fn on_applied(
        &mut self,
        at: At,
        peer: PeerId,
        doc: String,
        then: Then,
        result: Result<Heads, DocFault>,
    ) {
        match &then {
            Then::Fetched => {
                self.fetching.remove(&doc);
            }
            Then::Pulled => {
                let announced = self.announced.contains(&doc);
                self.pull_done(peer, &doc, announced);
            }
            Then::Ack(_) => {}
        }
        match result {
            Ok(heads) => {
                if !self.ours.contains_key(&doc) {
                    // A new document: in our digests from now on (its change notification
                    // may come later).
                    self.ours.insert(doc.clone(), heads.clone());
                }
                match then {
                    Then::Ack(id) => {
                        self.peers.touch(&peer, at.wall);
                        self.respond(
                            id,
                            &Response::Ack {
                                heads: to_wire(&heads),
                            },
                        );
                    }
                    // Right after loading, our heads are the peer's.
                    Then::Fetched => self.peers.remember(&peer, &doc, heads),
                    Then::Pulled => self.peers.touch(&peer, at.wall),
                }
            }
            Err(fault) => {
                match &fault {
                    DocFault::Bad(why) => {
                        self.punish(
                            at,
                            peer,
                            &format!("document {doc}: {why}"),
                            Punishment::Strike,
                        );
                    }
                    DocFault::Ours(why) => tracing::warn!("cannot apply {doc} from {peer}: {why}"),
                    DocFault::Missing => {}
                }
                if let Then::Ack(id) = then {
                    self.respond(id, &refused(&format!("document {doc}: {fault}")));
                }
            }
        }
    }

    // ----- time -----

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

    fn dial_due(&mut self, at: At) {
        let peers = &self.peers;
        let dials = self
            .dialer
            .due(at.now, |p| peers.get(p).is_some_and(|p| p.connected));
        self.out.extend(dials.into_iter().map(Effect::Dial));
    }
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
