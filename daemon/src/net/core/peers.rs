//! Peer bookkeeping and the abuse policy: what this daemon knows about each peer, how much a
//! peer may make it do or hold, and when it has misbehaved enough to be banned.
//!
//! Only what no honest daemon ever sends counts against a peer (a *strike*): a malformed
//! message, bytes that are not Automerge changes, changes that turn a document into another
//! kind, a request before proving membership, going on after "slow down". A document named
//! before its index entry arrives here, or created concurrently and arriving from two peers
//! at once, is normal between honest daemons and costs nothing. Strikes decay (one every
//! [`STRIKE_DECAY`]), so a rare fault never adds up to a ban; [`STRIKES_BEFORE_BAN`] in quick
//! succession, or one hard limit broken (an oversize frame, a flood), ban the peer for
//! [`BAN`].
//!
//! Pure: the time is an argument, nothing here does I/O.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use libp2p::PeerId;
use time::OffsetDateTime;

use crate::net::limits::{self, Rate, RateLimit};

/// Strikes in quick succession that ban a peer.
pub const STRIKES_BEFORE_BAN: f64 = 5.0;
/// One strike is forgiven every this long.
pub const STRIKE_DECAY: Duration = Duration::from_secs(60);
/// How long a banned peer is refused.
pub const BAN: Duration = Duration::from_secs(60);
/// The same kind of log line about one peer is written at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(60 * 60);
/// Peers remembered for their log lines after they went away (strangers can make up any
/// number of peer ids, so this is bounded).
const MAX_LOG_MEMORY: usize = 4096;

/// A peer's heads of one document, sorted.
pub type Heads = Vec<ChangeHash>;

/// What this daemon knows about one peer.
#[derive(Debug)]
pub struct Peer {
    pub connected: bool,
    pub addrs: Vec<String>,
    /// Proved it holds the community secret and is admitted by the roster.
    pub member: bool,
    /// Proved it holds our member's device secret: another of our own devices, which may
    /// receive our private documents.
    pub own_device: bool,
    /// The peer's heads per document, as last heard from it (documents not in our index yet
    /// included, up to [`limits::MAX_ANNOUNCED_DOCS`]: they are fetched once it lists them).
    pub known: BTreeMap<String, Heads>,
    pub last_sync: Option<OffsetDateTime>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    strikes: f64,
    strikes_at: Option<Instant>,
    banned_until: Option<Instant>,
    rate: RateLimit,
    /// Requests from this peer being handled, and the bytes they hold.
    in_flight: usize,
    held: usize,
    /// Our requests to this peer awaiting answers.
    pub outbound: usize,
    /// It answered our `Hello` on this connection: it admitted us (whatever we concluded of
    /// it).
    pub answered_hello: bool,
    /// It refused us in words on this connection.
    pub refused_us: bool,
}

impl Peer {
    fn new(now: Instant) -> Self {
        Self {
            connected: false,
            addrs: Vec::new(),
            member: false,
            own_device: false,
            known: BTreeMap::new(),
            last_sync: None,
            bytes_sent: 0,
            bytes_received: 0,
            messages_sent: 0,
            messages_received: 0,
            strikes: 0.0,
            strikes_at: None,
            banned_until: None,
            rate: RateLimit::new(now),
            in_flight: 0,
            held: 0,
            outbound: 0,
            answered_hello: false,
            refused_us: false,
        }
    }

    pub fn banned(&self, now: Instant) -> Option<Instant> {
        self.banned_until.filter(|until| *until > now)
    }
}

/// Whether an inbound request may be handled.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Handle it; call [`PeerBook::release`] with the same byte count once answered.
    Yes,
    /// Refuse it with "slow down"; an honest daemon waits and asks again.
    SlowDown,
    /// Refuse it: the peer is banned (its connection is closing).
    Banned,
    /// Refuse it and punish the peer: it broke a limit.
    Violation(Punishment, String),
}

/// How bad a misbehaviour is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Punishment {
    /// Never done by an honest daemon, but small: counts a strike.
    Strike,
    /// A hard limit broken (an oversize frame, a flood): ban now.
    Ban,
}

/// Kinds of log lines written at most once per peer per [`LOG_EVERY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKey {
    /// We refused the peer.
    Refused,
    /// The peer refused us.
    RefusedBy,
    /// A banned peer came back before its ban ended.
    StillBanned,
    /// The peer closed the connection before admitting us.
    ClosedEarly,
    /// A strike (the misbehaviour itself).
    Strike,
}

#[derive(Default)]
pub struct PeerBook {
    peers: BTreeMap<PeerId, Peer>,
    /// When each kind of line about a peer was last logged, oldest first for eviction.
    logged: BTreeMap<(PeerId, LogKey), Instant>,
    log_order: VecDeque<(PeerId, LogKey)>,
    /// Bytes of requests held for all peers together.
    held: usize,
    /// Every strike and ban counted, for the simulator's "no honest peer punished" check.
    pub strikes_total: u64,
    pub bans_total: u64,
    /// Every sync message counted, for `/metrics`.
    pub traffic: Traffic,
}

/// Sync traffic with all peers since start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_in: u64,
    pub messages_out: u64,
}

impl PeerBook {
    pub fn get(&self, peer: &PeerId) -> Option<&Peer> {
        self.peers.get(peer)
    }

    pub fn get_mut(&mut self, peer: &PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(peer)
    }

    pub fn entry(&mut self, peer: PeerId, now: Instant) -> &mut Peer {
        self.peers.entry(peer).or_insert_with(|| Peer::new(now))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &Peer)> {
        self.peers.iter()
    }

    pub fn banned(&self, peer: &PeerId, now: Instant) -> Option<Instant> {
        self.peers.get(peer).and_then(|p| p.banned(now))
    }

    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| p.member && p.connected)
    }

    /// We may send `peer` requests (see [`PeerBook::members`]).
    pub fn may_send(&self, peer: &PeerId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| p.member && p.connected && p.answered_hello)
    }

    pub fn is_own_device(&self, peer: &PeerId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| p.member && p.own_device)
    }

    /// Connected peers we may send requests to, in id order: they proved membership to us
    /// and admitted us (answered our `Hello`). Sending before they admitted us would race our
    /// `Hello` on another stream and look, to them, like a request before proving membership.
    pub fn members(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.member && p.connected && p.answered_hello)
            .map(|(id, _)| *id)
            .collect()
    }

    /// A connection came up. Refused (`Err` with the ban's end) if the peer is banned.
    pub fn connected(&mut self, peer: PeerId, addr: &str, now: Instant) -> Result<(), Instant> {
        let state = self.entry(peer, now);
        if let Some(until) = state.banned(now) {
            return Err(until);
        }
        state.connected = true;
        if !state.addrs.iter().any(|a| a == addr) {
            state.addrs.push(addr.to_owned());
        }
        Ok(())
    }

    /// The peer's last connection closed: it must prove membership again, and its heads may
    /// move while we do not hear from it. Peers we never synced with are forgotten (unless
    /// banned or still holding requests), so that strangers cannot fill memory.
    pub fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        state.connected = false;
        state.member = false;
        state.own_device = false;
        state.known.clear();
        state.outbound = 0;
        state.answered_hello = false;
        state.refused_us = false;
        if state.last_sync.is_none() && state.banned(now).is_none() && state.in_flight == 0 {
            self.peers.remove(peer);
        }
    }

    /// Admits the peer as a member (it proved the secret and the roster agrees).
    pub fn admit(&mut self, peer: PeerId, own_device: bool, now: Instant) {
        let state = self.entry(peer, now);
        state.member = true;
        state.connected = true;
        state.own_device = own_device;
    }

    /// Counts an inbound request of `bytes` against the peer's limits.
    pub fn admit_request(&mut self, peer: PeerId, bytes: usize, now: Instant) -> Admit {
        let total = self.held;
        let state = self.peers.entry(peer).or_insert_with(|| Peer::new(now));
        state.bytes_received += bytes as u64;
        state.messages_received += 1;
        self.traffic.bytes_in += bytes as u64;
        self.traffic.messages_in += 1;
        if state.banned(now).is_some() {
            return Admit::Banned;
        }
        if state.in_flight >= limits::MAX_IN_FLIGHT_PER_PEER {
            return Admit::Violation(
                Punishment::Ban,
                format!(
                    "sent more than {} requests at once",
                    limits::MAX_IN_FLIGHT_PER_PEER
                ),
            );
        }
        // Over what may be held (for this peer, or for everyone together): "slow down". An
        // honest daemon pushing a few large documents at once waits and sends them again.
        if state.held + bytes > limits::MAX_HELD_PER_PEER || total + bytes > limits::MAX_HELD {
            return Admit::SlowDown;
        }
        match state.rate.check(now) {
            Rate::Allow => {
                state.in_flight += 1;
                state.held += bytes;
                self.held += bytes;
                Admit::Yes
            }
            Rate::Refuse => Admit::SlowDown,
            Rate::Strike => Admit::Violation(
                Punishment::Strike,
                "kept sending requests after being told to slow down".into(),
            ),
        }
    }

    /// An admitted request was answered: its slot and bytes are free again.
    pub fn release(&mut self, peer: &PeerId, bytes: usize) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.held = state.held.saturating_sub(bytes);
        }
        self.held = self.held.saturating_sub(bytes);
    }

    /// Counts a misbehaviour. Returns the end of the ban if the peer is now banned (it was
    /// not before): the caller closes its connections and refuses new ones until then.
    pub fn punish(&mut self, peer: PeerId, how: Punishment, now: Instant) -> Option<Instant> {
        let state = self.entry(peer, now);
        if state.banned(now).is_some() {
            return None;
        }
        self.strikes_total += 1;
        let state = self.entry(peer, now);
        let forgiven = state.strikes_at.map_or(0.0, |at| {
            now.saturating_duration_since(at).as_secs_f64() / STRIKE_DECAY.as_secs_f64()
        });
        state.strikes = (state.strikes - forgiven).max(0.0) + 1.0;
        state.strikes_at = Some(now);
        if how == Punishment::Ban || state.strikes >= STRIKES_BEFORE_BAN {
            state.strikes = 0.0;
            let until = now + BAN;
            state.banned_until = Some(until);
            state.member = false;
            self.bans_total += 1;
            return Some(until);
        }
        None
    }

    /// Forgets bans that ended, and peers kept only for them.
    pub fn expire_bans(&mut self, now: Instant) {
        self.peers.retain(|_, p| {
            if p.banned_until.is_some_and(|until| until <= now) {
                p.banned_until = None;
            }
            p.connected || p.banned_until.is_some() || p.last_sync.is_some() || p.in_flight > 0
        });
    }

    /// The earliest end of a ban, for timers.
    pub fn next_ban_end(&self, now: Instant) -> Option<Instant> {
        self.peers.values().filter_map(|p| p.banned(now)).min()
    }

    /// True if a line of this kind about `peer` should be logged now (at most once per
    /// [`LOG_EVERY`]); records that it was.
    pub fn should_log(&mut self, peer: PeerId, key: LogKey, now: Instant) -> bool {
        if let Some(at) = self.logged.get(&(peer, key))
            && now.saturating_duration_since(*at) < LOG_EVERY
        {
            return false;
        }
        if self.logged.insert((peer, key), now).is_none() {
            self.log_order.push_back((peer, key));
        }
        while self.log_order.len() > MAX_LOG_MEMORY {
            if let Some(oldest) = self.log_order.pop_front() {
                self.logged.remove(&oldest);
            }
        }
        true
    }

    /// Remembers the peer's heads of `doc` (sorted). Up to [`limits::MAX_ANNOUNCED_DOCS`]
    /// documents per peer, so a peer cannot make us hold what it likes.
    pub fn remember(&mut self, peer: &PeerId, doc: &str, mut heads: Heads) {
        heads.sort();
        heads.dedup();
        if let Some(state) = self.peers.get_mut(peer)
            && state.connected
            && (state.known.len() < limits::MAX_ANNOUNCED_DOCS || state.known.contains_key(doc))
        {
            state.known.insert(doc.to_owned(), heads);
        }
    }

    pub fn known(&self, peer: &PeerId, doc: &str) -> Option<&Heads> {
        self.peers.get(peer).and_then(|p| p.known.get(doc))
    }

    /// A sync exchange with the peer completed.
    pub fn touch(&mut self, peer: &PeerId, wall: OffsetDateTime) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.last_sync = Some(wall);
        }
    }

    pub fn count_sent(&mut self, peer: &PeerId, bytes: usize) {
        self.traffic.bytes_out += bytes as u64;
        self.traffic.messages_out += 1;
        if let Some(state) = self.peers.get_mut(peer) {
            state.bytes_sent += bytes as u64;
            state.messages_sent += 1;
        }
    }

    pub fn count_received(&mut self, peer: &PeerId, bytes: usize) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.bytes_received += bytes as u64;
            state.messages_received += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book_with(peer: PeerId, now: Instant) -> PeerBook {
        let mut book = PeerBook::default();
        book.connected(peer, "/ip4/127.0.0.1/tcp/1", now).unwrap();
        book.admit(peer, false, now);
        book.get_mut(&peer).unwrap().answered_hello = true;
        book
    }

    #[test]
    fn strikes_in_quick_succession_ban_but_spread_out_they_decay() {
        let peer = PeerId::random();
        let start = Instant::now();
        let mut book = book_with(peer, start);
        // One strike every two decay periods, for a long time: never banned.
        for i in 0..100u32 {
            let at = start + STRIKE_DECAY * 2 * i;
            assert_eq!(
                book.punish(peer, Punishment::Strike, at),
                None,
                "strike {i}"
            );
        }
        // Five at once: banned, not a member any more, and connections refused.
        let now = start + STRIKE_DECAY * 300;
        let bans: Vec<_> = (0..5)
            .map(|_| book.punish(peer, Punishment::Strike, now))
            .collect();
        assert_eq!(bans[..4], [None, None, None, None]);
        assert_eq!(bans[4], Some(now + BAN));
        assert!(!book.is_member(&peer));
        assert_eq!(book.connected(peer, "a", now), Err(now + BAN));
        // A banned peer is not punished again, and the ban ends.
        assert_eq!(book.punish(peer, Punishment::Ban, now), None);
        assert!(book.connected(peer, "a", now + BAN).is_ok());
        assert_eq!(book.bans_total, 1);
    }

    #[test]
    fn a_hard_limit_bans_at_once() {
        let peer = PeerId::random();
        let now = Instant::now();
        let mut book = book_with(peer, now);
        assert_eq!(book.punish(peer, Punishment::Ban, now), Some(now + BAN));
    }

    #[test]
    fn requests_are_bounded_in_number_bytes_and_rate() {
        let peer = PeerId::random();
        let now = Instant::now();
        let mut book = book_with(peer, now);
        for _ in 0..limits::MAX_IN_FLIGHT_PER_PEER {
            assert_eq!(book.admit_request(peer, 10, now), Admit::Yes);
        }
        assert!(matches!(
            book.admit_request(peer, 10, now),
            Admit::Violation(Punishment::Ban, _)
        ));
        for _ in 0..limits::MAX_IN_FLIGHT_PER_PEER {
            book.release(&peer, 10);
        }
        assert_eq!(
            book.admit_request(peer, limits::MAX_HELD_PER_PEER + 1, now),
            Admit::SlowDown
        );
        // The rate: a burst is fine, then "slow down", then a strike.
        let mut answers = Vec::new();
        for _ in 0..(limits::RATE_BURST as usize + limits::REFUSALS_PER_STRIKE as usize) {
            let a = book.admit_request(peer, 0, now);
            if a == Admit::Yes {
                book.release(&peer, 0);
            }
            answers.push(a);
        }
        assert!(answers.contains(&Admit::SlowDown));
        assert!(
            answers
                .iter()
                .any(|a| matches!(a, Admit::Violation(Punishment::Strike, _)))
        );
    }

    /// Issue 16 (item 7): hostile members could make a daemon hold 250 MB of requests.
    #[test]
    fn memory_held_for_all_peers_together_is_bounded() {
        let now = Instant::now();
        let mut book = PeerBook::default();
        let frame = limits::MAX_HELD_PER_PEER;
        let peers: Vec<PeerId> = (0..limits::MAX_HELD / frame + 2)
            .map(|_| PeerId::random())
            .collect();
        let admitted = peers
            .iter()
            .filter(|p| book.admit_request(**p, frame, now) == Admit::Yes)
            .count();
        assert_eq!(admitted, limits::MAX_HELD / frame);
        assert_ne!(book.admit_request(peers[0], 1, now), Admit::Yes);
        book.release(&peers[0], frame);
        assert_eq!(book.admit_request(peers[0], frame, now), Admit::Yes);
        assert_eq!(
            book.bans_total, 0,
            "not the fault of the one that came last"
        );
    }

    #[test]
    fn log_lines_are_written_once_per_peer_per_hour() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        let mut book = PeerBook::default();
        assert!(book.should_log(a, LogKey::Refused, now));
        assert!(!book.should_log(a, LogKey::Refused, now + Duration::from_secs(59 * 60)));
        assert!(book.should_log(a, LogKey::RefusedBy, now), "another kind");
        assert!(book.should_log(b, LogKey::Refused, now), "another peer");
        assert!(book.should_log(a, LogKey::Refused, now + LOG_EVERY));
        // Bounded however many strangers come and go.
        for _ in 0..(MAX_LOG_MEMORY * 2) {
            book.should_log(PeerId::random(), LogKey::Refused, now);
        }
        assert!(book.logged.len() <= MAX_LOG_MEMORY);
    }

    #[test]
    fn strangers_are_forgotten_members_remembered() {
        let now = Instant::now();
        let (stranger, member) = (PeerId::random(), PeerId::random());
        let mut book = PeerBook::default();
        book.connected(stranger, "a", now).unwrap();
        book.connected(member, "b", now).unwrap();
        book.admit(member, false, now);
        book.remember(&member, "doc", vec![]);
        book.touch(&member, OffsetDateTime::UNIX_EPOCH);
        book.disconnected(&stranger, now);
        book.disconnected(&member, now);
        assert!(book.get(&stranger).is_none());
        let kept = book.get(&member).unwrap();
        assert!(!kept.connected && !kept.member && kept.known.is_empty());
    }
}
