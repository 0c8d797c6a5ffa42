//! Whom to dial and when: addresses kept with `guild peers add` or from join tickets, and
//! peers seen on the local network (mDNS), each with a backoff that follows what happened
//! the last time.
//!
//! - Unreachable (the dial failed): retry after 0.5 s, doubling up to [`MAX_UNREACHABLE`].
//! - Refused (the peer said why: not a member, a revoked or expired invitation...), or closed
//!   the connection before admitting us (a ban shows that way): retry after
//!   [`FIRST_REFUSED`], doubling up to [`MAX_REFUSED`] (an hour), and never sooner than the
//!   peer asked (a ban's end).
//! - Lost (an admitted peer's connection closed, or went dead and the ping noticed): redial
//!   at once, then *probe*: one lost peer every [`PROBE_EVERY`], round robin, so that a
//!   partition's heal is noticed within seconds however long it lasted, at the cost of one
//!   dial at a time whatever the number of peers gone. When a probe (or any connection to a
//!   lost peer) succeeds, the network is back: every lost peer is redialled at once. A change
//!   of our own addresses (an interface up or down) or an mDNS sighting does the same.
//!
//! Pure: the time and the jitter are arguments.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::net::hubs::peer_in;
use libp2p::{Multiaddr, PeerId};

pub const FIRST_UNREACHABLE: Duration = Duration::from_millis(500);
pub const MAX_UNREACHABLE: Duration = Duration::from_secs(60);
pub const FIRST_REFUSED: Duration = Duration::from_secs(2);
pub const MAX_REFUSED: Duration = Duration::from_secs(60 * 60);
/// How often one lost peer is probed (one TCP handshake attempt: cheap, and a heal is
/// noticed within about this long).
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Lost peers are probed for this long; after that they are redialled like unreachable ones.
pub const LOST_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);
/// LAN peers mDNS stopped reporting are forgotten after this long.
pub const LAN_MEMORY: Duration = Duration::from_secs(60 * 60);

/// Where a target came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKey {
    /// An address from `guild peers add` or a ticket, kept until removed.
    Kept(String),
    /// A peer mDNS reported on the local network, or a hub's rendezvous point named.
    Lan(PeerId),
    /// A hub the community document lists (`guild hubs add`), kept while it is listed.
    Hub(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Dial when due.
    Waiting { at: Instant },
    /// A dial is under way.
    Dialing,
    /// Connected to this peer (admitted or not yet).
    Connected(PeerId),
    /// Admitted once, connection gone: probed in turn.
    Lost,
}

#[derive(Clone, Debug)]
struct Target {
    addrs: Vec<Multiaddr>,
    peer: Option<PeerId>,
    state: State,
    /// Failures since the last admission.
    attempts: u32,
    /// The last failure was a refusal (kept however the network changes).
    refused: bool,
    /// When the peer last admitted us.
    admitted: Option<Instant>,
    /// For LAN targets: when mDNS last reported it (`None` while it does).
    lan_gone: Option<Instant>,
}

/// A dial to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    pub key: TargetKey,
    pub peer: Option<PeerId>,
    pub addrs: Vec<Multiaddr>,
}

/// What a peer did that ended a connection attempt or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It said why it refuses us; `retry_after`: when it would consider us again;
    /// `temporary`: the refusal may pass by itself (it has not heard of us yet), so the
    /// backoff stops growing at [`MAX_UNREACHABLE`].
    Refused {
        retry_after: Option<Duration>,
        temporary: bool,
    },
    /// It closed the connection before admitting us (banned, or refusing silently).
    ClosedEarly,
}

#[derive(Default)]
pub struct Dialer {
    targets: BTreeMap<TargetKey, Target>,
    next_probe: Option<Instant>,
    /// The lost target probed last (round robin).
    last_probed: Option<TargetKey>,
    /// When [`Dialer::due`] next has something to do, as of its last run...
    wake: Option<Instant>,
    /// ...unless a target changed since.
    stale: bool,
}

impl Dialer {
    /// Keeps `addr` connected (from `guild peers add` or a ticket); dials at once.
    pub fn keep(&mut self, addr: Multiaddr, now: Instant) {
        self.stale = true;
        let peer = peer_in(&addr);
        self.targets
            .entry(TargetKey::Kept(addr.to_string()))
            .or_insert_with(|| Target {
                addrs: vec![addr],
                peer,
                state: State::Waiting { at: now },
                attempts: 0,
                refused: false,
                admitted: None,
                lan_gone: None,
            });
    }

    /// Stops dialling `addr`. True if it was kept.
    pub fn forget(&mut self, addr: &Multiaddr) -> bool {
        self.stale = true;
        self.targets
            .remove(&TargetKey::Kept(addr.to_string()))
            .is_some()
    }

    /// Addresses kept (for `guild peers`).
    pub fn kept(&self) -> Vec<String> {
        self.targets
            .keys()
            .filter_map(|k| match k {
                TargetKey::Kept(a) => Some(a.clone()),
                TargetKey::Lan(_) | TargetKey::Hub(_) => None,
            })
            .collect()
    }

    /// The community's hubs are `hubs` (addresses ending with their peer ids): dial the new
    /// ones at once, stop dialling those no longer listed. `me` is left out (a hub does not
    /// dial itself).
    pub fn set_hubs(&mut self, hubs: &[Multiaddr], me: PeerId, now: Instant) {
        self.stale = true;
        let wanted: BTreeMap<TargetKey, &Multiaddr> = hubs
            .iter()
            .filter(|a| peer_in(a) != Some(me))
            .map(|a| (TargetKey::Hub(a.to_string()), a))
            .collect();
        self.targets
            .retain(|key, _| !matches!(key, TargetKey::Hub(_)) || wanted.contains_key(key));
        for (key, addr) in wanted {
            self.targets.entry(key).or_insert_with(|| Target {
                addrs: vec![addr.clone()],
                peer: peer_in(addr),
                state: State::Waiting { at: now },
                attempts: 0,
                refused: false,
                admitted: None,
                lan_gone: None,
            });
        }
    }

    /// mDNS reports `peer` at `addrs`: dial it if it is not connected and not refusing us.
    pub fn lan_seen(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) {
        self.stale = true;
        let target = self
            .targets
            .entry(TargetKey::Lan(peer))
            .or_insert_with(|| Target {
                addrs: Vec::new(),
                peer: Some(peer),
                state: State::Waiting { at: now },
                attempts: 0,
                refused: false,
                admitted: None,
                lan_gone: None,
            });
        for addr in addrs {
            if !target.addrs.contains(&addr) {
                target.addrs.push(addr);
            }
        }
        target.lan_gone = None;
        // A sighting says the network works: a lost peer (or one merely unreachable) is worth
        // dialling now.
        self.network_back(now);
    }

    /// mDNS no longer reports `peer` at `addr`.
    pub fn lan_expired(&mut self, peer: PeerId, addr: &Multiaddr, now: Instant) {
        self.stale = true;
        if let Some(target) = self.targets.get_mut(&TargetKey::Lan(peer)) {
            target.addrs.retain(|a| a != addr);
            if target.addrs.is_empty() {
                target.lan_gone.get_or_insert(now);
            }
        }
    }

    /// Our own addresses changed (an interface came up, or a listener moved), or a lost peer
    /// came back: dial every lost or unreachable peer now. Refusals keep their backoff.
    pub fn network_back(&mut self, now: Instant) {
        self.stale = true;
        for target in self.targets.values_mut() {
            match target.state {
                State::Lost => target.state = State::Waiting { at: now },
                State::Waiting { at } if at > now && !target.refused => {
                    target.state = State::Waiting { at: now };
                }
                _ => {}
            }
        }
    }

    /// Our own membership changed: every refusal heard before is moot; dial those peers now.
    pub fn forget_refusals(&mut self, now: Instant) {
        self.stale = true;
        for target in self.targets.values_mut() {
            if target.refused {
                target.refused = false;
                target.attempts = 0;
                if matches!(target.state, State::Waiting { .. }) {
                    target.state = State::Waiting { at: now };
                }
            }
        }
    }

    /// A dial started by [`Dialer::due`] failed: nobody answered.
    pub fn unreachable(&mut self, key: &TargetKey, now: Instant, jitter: f64) {
        self.stale = true;
        let Some(target) = self.targets.get_mut(key) else {
            return;
        };
        if target
            .admitted
            .is_some_and(|at| now.saturating_duration_since(at) < LOST_MEMORY)
        {
            // It was ours until recently: keep probing it (a partition, a laptop asleep).
            target.state = State::Lost;
            return;
        }
        target.attempts += 1;
        target.refused = false;
        let wait = backoff(FIRST_UNREACHABLE, MAX_UNREACHABLE, target.attempts, jitter);
        target.state = State::Waiting { at: now + wait };
    }

    /// A connection to `peer` came up (dialled by us or not). A target waiting out a refusal
    /// keeps waiting: the report of a dial can come after the refusal on the connection it
    /// made.
    pub fn connected(&mut self, peer: PeerId, key: Option<&TargetKey>, now: Instant) {
        self.stale = true;
        let mut was_lost = false;
        for (k, target) in &mut self.targets {
            if Some(k) == key && target.peer.is_none() {
                target.peer = Some(peer);
            }
            let ours = target.peer == Some(peer) || Some(k) == key;
            if !ours || (target.refused && target.state != State::Dialing) {
                continue;
            }
            was_lost |= target.state == State::Lost
                || target
                    .admitted
                    .is_some_and(|at| now.saturating_duration_since(at) < LOST_MEMORY);
            target.state = State::Connected(peer);
        }
        if was_lost {
            self.network_back(now);
        }
    }

    /// `peer` admitted us: whatever failed before is forgotten.
    pub fn admitted(&mut self, peer: PeerId, now: Instant) {
        self.stale = true;
        for target in self.targets.values_mut() {
            if target.peer == Some(peer) {
                target.attempts = 0;
                target.refused = false;
                target.admitted = Some(now);
            }
        }
    }

    /// `peer` refused us or closed before admitting us: back off.
    pub fn refused(&mut self, peer: PeerId, outcome: Outcome, now: Instant, jitter: f64) {
        self.stale = true;
        for target in self.targets.values_mut() {
            if target.peer == Some(peer) {
                target.admitted = None;
                target.refused = true;
                target.attempts += 1;
                let max = match outcome {
                    Outcome::Refused {
                        temporary: true, ..
                    } => MAX_UNREACHABLE,
                    _ => MAX_REFUSED,
                };
                let mut wait = backoff(FIRST_REFUSED, max, target.attempts, jitter);
                if let Outcome::Refused {
                    retry_after: Some(after),
                    ..
                } = outcome
                {
                    wait = wait.max(after);
                }
                target.state = State::Waiting { at: now + wait };
            }
        }
    }

    /// The last connection to `peer` closed.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        self.stale = true;
        for target in self.targets.values_mut() {
            if target.peer == Some(peer) && target.state == State::Connected(peer) {
                target.state = if target.admitted.is_some() {
                    // Lost: redial at once (a restart, a dropped link), then probe.
                    State::Waiting { at: now }
                } else if target.refused {
                    // Refused meanwhile: `refused` set the wait; keep the longer one.
                    continue;
                } else {
                    State::Waiting {
                        at: now + FIRST_UNREACHABLE,
                    }
                };
            }
        }
    }

    /// Dials due now; marks them under way. Cheap when nothing is due.
    pub fn due(&mut self, now: Instant, connected: impl Fn(&PeerId) -> bool) -> Vec<Dial> {
        if !self.stale && self.wake.is_none_or(|at| at > now) {
            return Vec::new();
        }
        let dials = self.due_now(now, connected);
        self.stale = false;
        self.wake = self.compute_wake();
        dials
    }

    fn due_now(&mut self, now: Instant, connected: impl Fn(&PeerId) -> bool) -> Vec<Dial> {
        self.targets.retain(|key, target| match key {
            TargetKey::Kept(_) | TargetKey::Hub(_) => true,
            TargetKey::Lan(_) => target
                .lan_gone
                .is_none_or(|gone| now.saturating_duration_since(gone) < LAN_MEMORY),
        });
        let mut dials = Vec::new();
        for (key, target) in &mut self.targets {
            if let Some(peer) = &target.peer
                && connected(peer)
            {
                target.state = State::Connected(*peer);
                continue;
            }
            if matches!(target.state, State::Waiting { at } if at <= now)
                && !target.addrs.is_empty()
            {
                target.state = State::Dialing;
                dials.push(Dial {
                    key: key.clone(),
                    peer: target.peer,
                    addrs: target.addrs.clone(),
                });
            }
        }
        // One lost peer in turn.
        if self.next_probe.is_none_or(|at| at <= now) {
            let lost: Vec<&TargetKey> = self
                .targets
                .iter()
                .filter(|(_, t)| t.state == State::Lost)
                .map(|(k, _)| k)
                .collect();
            let next = lost
                .iter()
                .find(|k| self.last_probed.as_ref().is_some_and(|last| **k > last))
                .or_else(|| lost.first())
                .map(|k| (*k).clone());
            if let Some(key) = next
                && let Some(target) = self.targets.get_mut(&key)
            {
                target.state = State::Dialing;
                dials.push(Dial {
                    key: key.clone(),
                    peer: target.peer,
                    addrs: target.addrs.clone(),
                });
                self.last_probed = Some(key);
            }
            self.next_probe = Some(now + PROBE_EVERY);
        }
        dials
    }

    /// When [`Dialer::due`] next has something to do.
    pub fn next_wake(&self) -> Option<Instant> {
        if self.stale {
            return self.compute_wake();
        }
        self.wake
    }

    fn compute_wake(&self) -> Option<Instant> {
        let waiting = self.targets.values().filter_map(|t| match t.state {
            State::Waiting { at } if !t.addrs.is_empty() => Some(at),
            _ => None,
        });
        let probe = self
            .targets
            .values()
            .any(|t| t.state == State::Lost)
            .then_some(self.next_probe)
            .flatten();
        waiting.chain(probe).min()
    }
}

/// `first * 2^(attempts-1)`, at most `max`, scaled by `jitter` in [0.5, 1] so that peers
/// refused together do not come back together.
fn backoff(first: Duration, max: Duration, attempts: u32, jitter: f64) -> Duration {
    let doubled = first.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(30)));
    doubled.min(max).mul_f64(jitter.clamp(0.5, 1.0))
}

/// The `/p2p/<peer id>` part of an address, if any.
/// The peer an address reaches: its last `/p2p/` (a relayed address names the relay first).
#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/10.0.0.1/tcp/{port}").parse().unwrap()
    }

    fn dialled(d: &mut Dialer, now: Instant) -> Vec<TargetKey> {
        d.due(now, |_| false).into_iter().map(|d| d.key).collect()
    }

    /// Issue 13: the community's hubs are dialled like kept addresses (with backoff), not
    /// listed as `guild peers add` addresses, never by the hub itself, and no longer once
    /// the community stops listing them. A relayed address names the peer it reaches last.
    #[test]
    fn hubs_are_dialled_while_listed_and_never_by_themselves() {
        let (me, hub, other) = (PeerId::random(), PeerId::random(), PeerId::random());
        let at = |peer: PeerId| -> Multiaddr {
            format!("/ip4/192.0.2.1/tcp/4717/p2p/{peer}")
                .parse()
                .unwrap()
        };
        let t0 = Instant::now();
        let mut d = Dialer::default();
        d.set_hubs(&[at(hub), at(me)], me, t0);
        let due = d.due(t0, |_| false);
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].key, TargetKey::Hub(at(hub).to_string()));
        assert_eq!(due[0].peer, Some(hub));
        assert!(d.kept().is_empty(), "hubs are not `guild peers` addresses");
        // Unreachable: backs off like any kept address.
        d.unreachable(&due[0].key, t0, 1.0);
        assert_eq!(d.next_wake(), Some(t0 + FIRST_UNREACHABLE));
        // Listing another hub instead stops dialling the first.
        d.set_hubs(&[at(other)], me, t0);
        let due: Vec<TargetKey> = dialled(&mut d, t0 + FIRST_UNREACHABLE);
        assert_eq!(due, [TargetKey::Hub(at(other).to_string())]);
        let relayed: Multiaddr = format!("{}/p2p-circuit/p2p/{other}", at(hub))
            .parse()
            .unwrap();
        assert_eq!(peer_in(&relayed), Some(other));
    }

    #[test]
    fn unreachable_addresses_back_off_to_a_minute() {
        let mut d = Dialer::default();
        let t0 = Instant::now();
        d.keep(addr(1), t0);
        let key = TargetKey::Kept(addr(1).to_string());
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            assert_eq!(dialled(&mut d, now), std::slice::from_ref(&key));
            d.unreachable(&key, now, 1.0);
            let next = d.next_wake().unwrap();
            waits.push(next - now);
            assert!(dialled(&mut d, next - Duration::from_millis(1)).is_empty());
            now = next;
        }
        assert_eq!(waits[0], FIRST_UNREACHABLE);
        assert_eq!(waits[1], FIRST_UNREACHABLE * 2);
        assert_eq!(*waits.last().unwrap(), MAX_UNREACHABLE);
    }

    /// Issue 12 (fault 3) and issue 16 (item 6): a refused or banned peer was redialled twice
    /// a second forever. It now backs off to an hour, and never sooner than it asked.
    #[test]
    fn refusals_back_off_to_an_hour_and_respect_the_ban() {
        let mut d = Dialer::default();
        let t0 = Instant::now();
        let peer = PeerId::random();
        d.lan_seen(peer, vec![addr(2)], t0);
        let key = TargetKey::Lan(peer);
        let mut now = t0;
        let mut dials = 0;
        // Two hours of refusals: each dial connects, then the peer refuses.
        while now < t0 + Duration::from_secs(2 * 60 * 60) {
            if dialled(&mut d, now) == [key.clone()] {
                dials += 1;
                d.connected(peer, Some(&key), now);
                d.refused(peer, Outcome::ClosedEarly, now, 1.0);
                d.disconnected(peer, now);
            }
            now = d.next_wake().unwrap().max(now + Duration::from_millis(1));
        }
        assert!(dials <= 14, "{dials} dials in two hours");
        assert!(d.next_wake().unwrap() - now <= MAX_REFUSED);
        // A ban of 10 minutes: no dial before it ends.
        let mut d = Dialer::default();
        d.lan_seen(peer, vec![addr(2)], t0);
        assert_eq!(dialled(&mut d, t0), std::slice::from_ref(&key));
        d.connected(peer, Some(&key), t0);
        let ban = Duration::from_secs(600);
        let outcome = Outcome::Refused {
            retry_after: Some(ban),
            temporary: false,
        };
        d.refused(peer, outcome, t0, 1.0);
        d.disconnected(peer, t0);
        assert_eq!(d.next_wake(), Some(t0 + ban));
        // Neither a sighting nor the network coming back shortens a refusal.
        d.lan_seen(peer, vec![addr(2)], t0 + Duration::from_secs(1));
        d.network_back(t0 + Duration::from_secs(1));
        assert_eq!(d.next_wake(), Some(t0 + ban));
    }

    /// Issue 12 (fault 2): after a partition, sync waited for TCP retransmission timers. Lost
    /// peers are redialled at once, then probed one at a time, and any one coming back
    /// brings the others back at once.
    #[test]
    fn lost_peers_are_redialled_probed_and_all_brought_back_together() {
        let mut d = Dialer::default();
        let t0 = Instant::now();
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        for (i, p) in peers.iter().enumerate() {
            d.lan_seen(*p, vec![addr(10 + i as u16)], t0);
        }
        assert_eq!(dialled(&mut d, t0).len(), 4);
        for p in &peers {
            d.connected(*p, Some(&TargetKey::Lan(*p)), t0);
            d.admitted(*p, t0);
        }
        // The partition: every connection dies, and redials fail.
        let t1 = t0 + Duration::from_secs(5);
        for p in &peers {
            d.disconnected(*p, t1);
        }
        let redials = dialled(&mut d, t1);
        assert_eq!(redials.len(), 4, "redialled at once");
        for key in &redials {
            d.unreachable(key, t1, 1.0);
        }
        // For ten minutes: one probe at a time, every PROBE_EVERY.
        let mut now = t1;
        let mut probes = 0;
        while now < t1 + Duration::from_secs(600) {
            now = d.next_wake().unwrap();
            for key in dialled(&mut d, now) {
                probes += 1;
                d.unreachable(&key, now, 1.0);
            }
        }
        let expected = (600.0 / PROBE_EVERY.as_secs_f64()) as i32;
        assert!((probes - expected).abs() <= 2, "{probes} probes");
        // The heal: the next probe succeeds, and every other lost peer is dialled at once.
        now = d.next_wake().unwrap();
        let probe = dialled(&mut d, now);
        assert_eq!(probe.len(), 1);
        let TargetKey::Lan(back) = probe[0] else {
            panic!()
        };
        d.connected(back, Some(&probe[0]), now);
        assert_eq!(dialled(&mut d, now).len(), 3, "the rest redialled at once");
    }

    #[test]
    fn a_dial_reported_after_its_refusal_does_not_stop_the_backoff() {
        let mut d = Dialer::default();
        let t0 = Instant::now();
        let peer = PeerId::random();
        d.lan_seen(peer, vec![addr(5)], t0);
        let key = TargetKey::Lan(peer);
        assert_eq!(dialled(&mut d, t0), std::slice::from_ref(&key));
        d.connected(peer, None, t0);
        d.refused(peer, Outcome::ClosedEarly, t0, 1.0);
        // The dial's own report comes last.
        d.connected(peer, Some(&key), t0);
        d.disconnected(peer, t0);
        let next = d.next_wake().expect("a redial is planned");
        assert_eq!(next, t0 + FIRST_REFUSED);
        assert_eq!(dialled(&mut d, next), [key]);
    }

    #[test]
    fn lan_peers_that_left_are_forgotten_kept_addresses_are_not() {
        let mut d = Dialer::default();
        let t0 = Instant::now();
        let peer = PeerId::random();
        d.lan_seen(peer, vec![addr(3)], t0);
        d.keep(addr(4), t0);
        d.lan_expired(peer, &addr(3), t0);
        let later = t0 + LAN_MEMORY + Duration::from_secs(1);
        let left = dialled(&mut d, later);
        assert_eq!(left, [TargetKey::Kept(addr(4).to_string())]);
        assert_eq!(d.kept(), [addr(4).to_string()]);
        assert!(d.forget(&addr(4)));
        assert!(d.next_wake().is_none());
    }
}
