//! A deterministic simulator of many sync engines: each node is a real [`Core`] with its
//! documents in memory ([`MemDocs`], run through the same `docwork` as the daemon), on a
//! simulated network with latency, connection drops, partitions and heals, and crashes and
//! restarts, all driven by one seeded scheduler. The same seed replays the same run.
//!
//! What every run checks (see [`Sim::check`]): once everyone is back and connected, every
//! replica holds identical heads; every acknowledged local change is on every replica; no
//! honest node was ever struck, banned or refused; messages and bytes per change stay under
//! a bound.
//!
//! `cargo test -p guild-daemon sim_` runs 50 nodes on many seeds; the table of costs by
//! community size is printed by the ignored test `sim_table` (by hand, in release:
//! `cargo test --release -p guild-daemon sim_table -- --ignored --nocapture`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ROOT};
use crdt_model::community::Community;
use crdt_model::member::{Member, Profile};
use crdt_model::{DocKind, GuildDoc};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use super::core::{At, Changed, Core, Effect, InId, Input, ReqId};
use super::docwork::{self, Docs, MemDocs, SyncStates};
use super::membership::Membership;

/// How nodes find each other.
#[derive(Clone, Copy, Debug)]
pub enum Topology {
    /// Everyone sees everyone on the LAN (a meetup).
    Lan,
    /// Each node keeps `k` random others connected (members across networks).
    Kept(usize),
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub nodes: usize,
    pub seed: u64,
    pub topology: Topology,
    /// One-way latency, uniformly between these (ms).
    pub latency_ms: (u64, u64),
    /// Chance that a message breaks its connection (loss on TCP shows as a reset).
    pub drop: f64,
    /// Local edits, spread over the first `edit_secs`.
    pub edits: usize,
    pub edit_secs: u64,
    /// New shared documents created during the edits (each indexed in the community).
    pub new_docs: usize,
    /// Partitions into two groups, each lasting `partition_secs`, during the edits.
    pub partitions: usize,
    pub partition_secs: u64,
    /// Nodes crashed (and restarted some seconds later) during the edits.
    pub crashes: usize,
    /// How long after the last heal and restart everything must have converged.
    pub converge_within: Duration,
}

impl Scenario {
    /// A meetup of `nodes` with everything going wrong now and then.
    pub fn stormy(nodes: usize, seed: u64) -> Self {
        Self {
            nodes,
            seed,
            topology: Topology::Lan,
            latency_ms: (1, 40),
            drop: 0.002,
            edits: nodes * 2,
            edit_secs: 30,
            new_docs: 3,
            partitions: 2,
            partition_secs: 12,
            crashes: 3,
            converge_within: Duration::from_secs(60),
        }
    }
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Simulated time from the last heal (everyone up and reachable) to identical heads.
    pub converged_after: Option<Duration>,
    pub messages: u64,
    pub bytes: u64,
    pub changes: u64,
    pub strikes: u64,
    pub bans: u64,
    pub refusals: u64,
    /// Acknowledged changes missing somewhere at the end.
    pub lost: u64,
    pub diverged_docs: usize,
    /// Requests sent, by kind.
    pub kinds: BTreeMap<&'static str, u64>,
}

#[derive(Debug)]
enum Ev {
    Input(usize, Input),
    /// A message on the connection of this generation: lost if it closed meanwhile.
    OnLink(usize, usize, u64, Input),
    Tick(usize),
    Edit(usize),
    NewDoc(usize),
    Crash(usize),
    Restart(usize),
    Partition(Vec<u8>),
    /// A connection found dead (the ping timed out) while partitioned.
    Dead(usize, usize),
    Heal,
    Check,
}

struct Node {
    peer: PeerId,
    addr: Multiaddr,
    core: Option<Core>,
    docs: MemDocs,
    states: SyncStates,
    /// Inbound requests being answered: who asked, and their request id.
    replies: BTreeMap<InId, (usize, ReqId)>,
    next_in: InId,
    next_tick: Option<Duration>,
    actor: ActorId,
    edits: u64,
}

pub struct Sim {
    scenario: Scenario,
    rng: StdRng,
    base: Instant,
    now: Duration,
    queue: BinaryHeap<Reverse<(Duration, u64, usize)>>,
    events: BTreeMap<usize, Ev>,
    seq: u64,
    nodes: Vec<Node>,
    by_peer: BTreeMap<PeerId, usize>,
    community: String,
    membership: Membership,
    shared: Vec<String>,
    /// Live connections (smaller index first), with their generation.
    links: BTreeMap<(usize, usize), u64>,
    generation: u64,
    /// Requests in flight on each connection: (asker, request id, answerer).
    in_flight: BTreeSet<(usize, ReqId, usize)>,
    group: Vec<u8>,
    bans: BTreeMap<(usize, usize), Duration>,
    /// Every acknowledged local change: (document, hash).
    acked: Vec<(String, ChangeHash)>,
    outcome: Outcome,
    /// When the last heal or restart happened.
    settled_at: Duration,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    pub fn new(scenario: Scenario) -> Self {
        let mut rng = StdRng::seed_from_u64(scenario.seed);
        let n = scenario.nodes;
        let keys: Vec<Keypair> = (0..n)
            .map(|_| {
                let mut seed: [u8; 32] = rng.random();
                Keypair::ed25519_from_bytes(&mut seed).unwrap_or_else(|_| unreachable!())
            })
            .collect();
        let peers: Vec<PeerId> = keys.iter().map(|k| k.public().to_peer_id()).collect();
        let community = "simcommunity00000000001".to_owned();
        let membership = Membership::new(community.clone(), rng.random());

        // The community as everyone holds it when the run starts: the community document,
        // one member document per 50 devices (so that 1,000 nodes stay cheap), a few shared
        // session documents.
        let mut docs: Vec<(String, AutoCommit)> = Vec::new();
        let mut c = Community::new(&community, "Sim", "", "2026-01-01T00:00:00Z")
            .unwrap_or_else(|_| unreachable!());
        for (m, chunk) in peers.chunks(50).enumerate() {
            let id = format!("member{m:04}");
            let profile = Profile {
                name: Some(format!("Member {m}")),
                ..Profile::default()
            };
            let mut member =
                Member::new(&id, &profile, "2026-01-01").unwrap_or_else(|_| unreachable!());
            for p in chunk {
                member
                    .devices
                    .insert(p.to_string(), "2026-01-01T00:00:00Z".into());
            }
            c.index(&id, DocKind::Member);
            docs.push((id, written(&member)));
        }
        let mut shared = Vec::new();
        for s in 0..5 {
            let id = format!("session{s:04}");
            let mut d = AutoCommit::new().with_actor(ActorId::from(b"setup".as_slice()));
            d.put(ROOT, "kind", "session")
                .unwrap_or_else(|_| unreachable!());
            commit(&mut d);
            c.index(&id, DocKind::Session);
            shared.push(id.clone());
            docs.push((id, d));
        }
        docs.push((community.clone(), written(&c)));
        let saved: Vec<(String, Vec<u8>)> = docs
            .iter_mut()
            .map(|(id, d)| (id.clone(), d.save()))
            .collect();

        let mut nodes = Vec::new();
        for (i, peer) in peers.iter().enumerate() {
            let mem = MemDocs::default();
            for (id, bytes) in &saved {
                let d = AutoCommit::load(bytes).unwrap_or_else(|_| unreachable!());
                mem.put(id, d);
            }
            mem.drain_changed();
            nodes.push(Node {
                peer: *peer,
                addr: format!("/memory/{i}")
                    .parse()
                    .unwrap_or_else(|_| unreachable!()),
                core: None,
                docs: mem,
                states: SyncStates::default(),
                replies: BTreeMap::new(),
                next_in: 0,
                next_tick: None,
                actor: ActorId::from(format!("node{i}").as_bytes()),
                edits: 0,
            });
        }
        let by_peer = peers.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let mut sim = Self {
            group: vec![0; n],
            scenario,
            rng,
            base: Instant::now(),
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            nodes,
            by_peer,
            community,
            membership,
            shared,
            links: BTreeMap::new(),
            generation: 0,
            in_flight: BTreeSet::new(),
            bans: BTreeMap::new(),
            acked: Vec::new(),
            outcome: Outcome::default(),
            settled_at: Duration::ZERO,
        };
        for i in 0..n {
            sim.boot(i);
        }
        sim.plan();
        sim
    }

    /// Schedules the scenario's edits, partitions and crashes.
    fn plan(&mut self) {
        let s = self.scenario.clone();
        let span = Duration::from_secs(s.edit_secs);
        for _ in 0..s.edits {
            let at = span.mul_f64(self.rng.random());
            let who = self.rng.random_range(0..s.nodes);
            self.at(at, Ev::Edit(who));
        }
        for _ in 0..s.new_docs {
            let at = span.mul_f64(self.rng.random());
            let who = self.rng.random_range(0..s.nodes);
            self.at(at, Ev::NewDoc(who));
        }
        let mut last = Duration::ZERO;
        for p in 0..s.partitions {
            let start =
                span.mul_f64((p as f64 + self.rng.random::<f64>() * 0.5) / s.partitions as f64);
            let groups: Vec<u8> = (0..s.nodes).map(|_| self.rng.random_range(0..2)).collect();
            let end = start + Duration::from_secs(s.partition_secs);
            self.at(start, Ev::Partition(groups));
            self.at(end, Ev::Heal);
            last = last.max(end);
        }
        for _ in 0..s.crashes {
            let at = span.mul_f64(self.rng.random());
            let who = self.rng.random_range(0..s.nodes);
            let back = at + Duration::from_secs(self.rng.random_range(1..20));
            self.at(at, Ev::Crash(who));
            self.at(back, Ev::Restart(who));
            last = last.max(back);
        }
        self.settled_at = last;
        // Convergence is checked once everything is back and the edits are over.
        self.at(span.max(last), Ev::Check);
    }

    fn at(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        let key = self.seq as usize;
        self.events.insert(key, ev);
        self.queue.push(Reverse((at, self.seq, key)));
    }

    fn clock(&self) -> At {
        At {
            now: self.base + self.now,
            wall: OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_600) + self.now,
        }
    }

    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.scenario.latency_ms;
        Duration::from_millis(self.rng.random_range(lo..=hi))
    }

    /// Starts (or restarts) node `i`'s engine on its stored documents.
    fn boot(&mut self, i: usize) {
        let seed = self.rng.random();
        let mut core = Core::new(self.nodes[i].peer, Some(self.membership.clone()), seed);
        let effects = core.start();
        self.nodes[i].core = Some(core);
        self.nodes[i].next_tick = None;
        self.run_effects(i, effects);
        let n = self.scenario.nodes;
        match self.scenario.topology {
            Topology::Lan => {
                for j in (0..n).filter(|j| *j != i) {
                    let input = Input::LanSeen {
                        peer: self.nodes[j].peer,
                        addrs: vec![self.nodes[j].addr.clone()],
                    };
                    self.deliver(i, input);
                }
            }
            Topology::Kept(k) => {
                // The same peers every boot (a node's `peers add` list is durable).
                let mut rng = StdRng::seed_from_u64(self.scenario.seed ^ (i as u64 + 1));
                for _ in 0..k.min(n - 1) {
                    let j = (i + rng.random_range(1..n)) % n;
                    let addr = self.nodes[j].addr.clone();
                    self.deliver(i, Input::Keep(addr));
                }
            }
        }
    }

    /// Hands `input` to node `i` now and carries out what it returns.
    fn deliver(&mut self, i: usize, input: Input) {
        let at = self.clock();
        let Some(core) = self.nodes[i].core.as_mut() else {
            return;
        };
        let effects = core.handle(at, input);
        self.run_effects(i, effects);
    }

    fn run_effects(&mut self, i: usize, effects: Vec<Effect>) {
        for effect in effects {
            self.effect(i, effect);
        }
        self.notify_changes(i);
        if let Some(wake) = self.nodes[i].core.as_ref().and_then(Core::next_wake) {
            let wake = wake.saturating_duration_since(self.base).max(self.now);
            if self.nodes[i]
                .next_tick
                .is_none_or(|t| wake < t || t < self.now)
            {
                self.nodes[i].next_tick = Some(wake);
                self.at(wake, Ev::Tick(i));
            }
        }
    }

    /// Documents node `i` changed reach its engine as change notifications.
    fn notify_changes(&mut self, i: usize) {
        let changed = self.nodes[i].docs.drain_changed();
        if changed.is_empty() {
            return;
        }
        let docs = &self.nodes[i].docs;
        let changes = changed
            .into_iter()
            .filter_map(|(doc, local)| {
                let heads = docs.read(&doc, |d| d.get_heads())?;
                Some(Changed { doc, heads, local })
            })
            .collect();
        let at = self.now + Duration::from_micros(100);
        self.at(at, Ev::Input(i, Input::Changed(changes)));
    }

    fn reachable(&self, i: usize, j: usize) -> bool {
        self.nodes[i].core.is_some()
            && self.nodes[j].core.is_some()
            && self.group[i] == self.group[j]
    }

    fn effect(&mut self, i: usize, effect: Effect) {
        match effect {
            Effect::Send { peer, req, bytes } => {
                let Some(&j) = self.by_peer.get(&peer) else {
                    return;
                };
                self.outcome.messages += 1;
                self.outcome.bytes += bytes.len() as u64;
                if let Ok(request) = super::wire::decode::<super::wire::Request>(&bytes) {
                    *self.outcome.kinds.entry(request.kind()).or_default() += 1;
                }
                let Some(&link) = self.links.get(&pair(i, j)) else {
                    let at = self.now;
                    self.at(
                        at,
                        Ev::Input(
                            i,
                            Input::Answer {
                                req,
                                answer: Err("not connected".into()),
                            },
                        ),
                    );
                    return;
                };
                self.in_flight.insert((i, req, j));
                if !self.reachable(i, j) {
                    return; // Lost in the partition: fails when the connection is found dead.
                }
                if self.rng.random::<f64>() < self.scenario.drop {
                    return self.cut(i, j);
                }
                self.nodes[j].next_in += 1;
                let id = self.nodes[j].next_in;
                self.nodes[j].replies.insert(id, (i, req));
                let at = self.now + self.latency();
                let input = Input::Request {
                    peer: self.nodes[i].peer,
                    id,
                    frame: Ok(bytes),
                };
                self.at(at, Ev::OnLink(j, i, link, input));
            }
            Effect::Respond { id, bytes } => {
                let Some((j, req)) = self.nodes[i].replies.remove(&id) else {
                    return;
                };
                self.outcome.messages += 1;
                self.outcome.bytes += bytes.len() as u64;
                let link = self.links.get(&pair(i, j)).copied();
                if !self.in_flight.remove(&(j, req, i)) || !self.reachable(i, j) {
                    return;
                }
                let Some(link) = link else {
                    return;
                };
                let at = self.now + self.latency();
                self.at(
                    at,
                    Ev::OnLink(
                        j,
                        i,
                        link,
                        Input::Answer {
                            req,
                            answer: Ok(bytes),
                        },
                    ),
                );
            }
            Effect::Work(work) => {
                let node = &self.nodes[i];
                let done = docwork::run(&node.docs, &node.states, work);
                self.notify_changes(i);
                let at = self.now + Duration::from_micros(self.rng.random_range(200..2_000));
                self.at(at, Ev::Input(i, Input::Done(done)));
            }
            Effect::Dial(dial) => {
                let target = dial
                    .addrs
                    .iter()
                    .find_map(|a| self.nodes.iter().position(|n| &n.addr == a));
                let banned = |sim: &Self, j: usize| {
                    sim.bans.get(&(j, i)).is_some_and(|until| *until > sim.now)
                };
                let result = match target {
                    Some(j) if j != i && self.reachable(i, j) && !banned(self, j) => Ok(j),
                    _ => Err("unreachable".to_owned()),
                };
                let lat = self.latency();
                match result {
                    Ok(j) => {
                        if !self.links.contains_key(&pair(i, j)) {
                            self.generation += 1;
                            self.links.insert(pair(i, j), self.generation);
                            let (pi, pj) = (self.nodes[i].peer, self.nodes[j].peer);
                            let (ai, aj) = (
                                self.nodes[i].addr.to_string(),
                                self.nodes[j].addr.to_string(),
                            );
                            self.at(
                                self.now + lat,
                                Ev::Input(i, Input::Connected { peer: pj, addr: aj }),
                            );
                            self.at(
                                self.now + lat,
                                Ev::Input(j, Input::Connected { peer: pi, addr: ai }),
                            );
                        }
                        let peer = self.nodes[j].peer;
                        self.at(
                            self.now + lat * 2,
                            Ev::Input(
                                i,
                                Input::Dialed {
                                    key: dial.key,
                                    result: Ok(peer),
                                },
                            ),
                        );
                    }
                    Err(e) => {
                        // A dial into a partition waits for the handshake timeout.
                        let wait = if target.is_some() {
                            Duration::from_secs(3)
                        } else {
                            lat
                        };
                        self.at(
                            self.now + wait,
                            Ev::Input(
                                i,
                                Input::Dialed {
                                    key: dial.key,
                                    result: Err(e),
                                },
                            ),
                        );
                    }
                }
            }
            Effect::Disconnect { peer } => {
                if let Some(&j) = self.by_peer.get(&peer) {
                    self.cut(i, j);
                }
            }
            Effect::Ban { peer, until } => {
                if let Some(&j) = self.by_peer.get(&peer) {
                    let until = until.saturating_duration_since(self.base);
                    self.bans.insert((i, j), until);
                    self.cut(i, j);
                }
            }
            Effect::Forget { peer } => self.nodes[i].states.forget(&peer),
            Effect::Admitted { .. } | Effect::Members(_) | Effect::Hubs { .. } => {}
            Effect::RefusedBy { .. } => self.outcome.refusals += 1,
        }
    }

    /// Closes the connection between `i` and `j`: both hear of it, and requests in flight
    /// on it fail.
    fn cut(&mut self, i: usize, j: usize) {
        if self.links.remove(&pair(i, j)).is_none() {
            return;
        }
        let failed: Vec<(usize, ReqId, usize)> = self
            .in_flight
            .iter()
            .filter(|(a, _, b)| pair(*a, *b) == pair(i, j))
            .copied()
            .collect();
        for (asker, req, answerer) in failed {
            self.in_flight.remove(&(asker, req, answerer));
            let at = self.now + Duration::from_micros(50);
            self.at(
                at,
                Ev::Input(
                    asker,
                    Input::Answer {
                        req,
                        answer: Err("connection closed".into()),
                    },
                ),
            );
        }
        for (a, b) in [(i, j), (j, i)] {
            let peer = self.nodes[b].peer;
            let at = self.now + Duration::from_micros(60);
            self.at(at, Ev::Input(a, Input::Disconnected { peer }));
        }
    }

    /// A local edit on node `i`, acknowledged once stored.
    fn edit(&mut self, i: usize) {
        if self.nodes[i].core.is_none() {
            return;
        }
        self.nodes[i].edits += 1;
        let n = self.nodes[i].edits;
        // Mostly the shared sessions (concurrent edits), sometimes our own member document.
        let doc = if self.rng.random_bool(0.7) {
            let k = self.rng.random_range(0..self.shared.len());
            self.shared[k].clone()
        } else {
            format!("member{:04}", i / 50)
        };
        let actor = self.nodes[i].actor.clone();
        let field = format!("f{}", self.rng.random_range(0..8));
        let heads = self.nodes[i].docs.change(&doc, false, true, |d| {
            d.set_actor(actor);
            d.put(ROOT, field.as_str(), format!("edit {n} by node {i}"))
                .map_err(|e| super::core::DocFault::Ours(e.to_string()))?;
            commit(d);
            Ok((d.get_heads(), None))
        });
        // The change just made depends on every earlier head: it is the only head now.
        if let Ok([head]) = heads.as_deref() {
            self.acked.push((doc, *head));
            self.outcome.changes += 1;
        }
        self.notify_changes(i);
    }

    /// Node `i` creates a new shared document and lists it in the community's index.
    fn new_doc(&mut self, i: usize) {
        if self.nodes[i].core.is_none() {
            return;
        }
        let id = format!("new{i:04}x{:04}", self.nodes[i].edits);
        self.nodes[i].edits += 1;
        let actor = self.nodes[i].actor.clone();
        let created = self.nodes[i].docs.change(&id, true, true, |d| {
            d.set_actor(actor.clone());
            d.put(ROOT, "kind", "session")
                .map_err(|e| super::core::DocFault::Ours(e.to_string()))?;
            commit(d);
            Ok((d.get_heads(), None))
        });
        let community = self.community.clone();
        let indexed = self.nodes[i].docs.change(&community, false, true, |d| {
            d.set_actor(actor);
            let mut c =
                Community::read(d).map_err(|e| super::core::DocFault::Ours(e.to_string()))?;
            c.index(&id, DocKind::Session);
            autosurgeon::reconcile(d, &c)
                .map_err(|e| super::core::DocFault::Ours(e.to_string()))?;
            commit(d);
            Ok((d.get_heads(), None))
        });
        if let (Ok(created), Ok(_)) = (created, indexed) {
            for h in created {
                self.acked.push((id.clone(), h));
            }
            self.outcome.changes += 2;
        }
        self.notify_changes(i);
    }

    fn crash(&mut self, i: usize) {
        let Some(core) = self.nodes[i].core.take() else {
            return;
        };
        let (strikes, bans) = core.punishments();
        self.outcome.strikes += strikes;
        self.outcome.bans += bans;
        // Everything not durable is gone: the engine, sync states in memory, open requests.
        self.nodes[i].states = SyncStates::default();
        self.nodes[i].replies.clear();
        let peers: Vec<usize> = self
            .links
            .keys()
            .filter(|(a, b)| *a == i || *b == i)
            .map(|(a, b)| if *a == i { *b } else { *a })
            .collect();
        for j in peers {
            self.cut(i, j);
        }
    }

    /// Runs the scenario; returns what it measured.
    pub fn run(mut self) -> (Outcome, Vec<BTreeMap<String, Vec<ChangeHash>>>) {
        let deadline = self
            .settled_at
            .max(Duration::from_secs(self.scenario.edit_secs))
            + self.scenario.converge_within;
        let mut converged_at = None;
        let mut break_at = deadline;
        while let Some(Reverse((at, _, key))) = self.queue.pop() {
            if at > break_at {
                break;
            }
            self.now = at;
            let Some(ev) = self.events.remove(&key) else {
                continue;
            };
            match ev {
                Ev::Input(i, input) => self.deliver(i, input),
                Ev::OnLink(to, from, link, input) => {
                    if self.links.get(&pair(to, from)) == Some(&link) {
                        self.deliver(to, input);
                    }
                }
                Ev::Tick(i) => {
                    if self.nodes[i].next_tick == Some(at) {
                        self.nodes[i].next_tick = None;
                        self.deliver(i, Input::Tick);
                    }
                }
                Ev::Edit(i) => self.edit(i),
                Ev::NewDoc(i) => self.new_doc(i),
                Ev::Crash(i) => self.crash(i),
                Ev::Restart(i) => {
                    if self.nodes[i].core.is_none() {
                        self.boot(i);
                    }
                }
                Ev::Partition(groups) => {
                    self.group = groups;
                    // Connections across the split go dead; each side notices when its ping
                    // times out (5 to 10 s).
                    let across: Vec<(usize, usize)> = self
                        .links
                        .keys()
                        .filter(|(a, b)| self.group[*a] != self.group[*b])
                        .copied()
                        .collect();
                    for (a, b) in across {
                        let after = Duration::from_millis(self.rng.random_range(5_000..10_000));
                        self.at(self.now + after, Ev::Dead(a, b));
                    }
                }
                Ev::Dead(a, b) => {
                    if self.group[a] != self.group[b] {
                        self.cut(a, b);
                    }
                }
                Ev::Heal => self.group = vec![0; self.scenario.nodes],
                Ev::Check => {
                    if self.converged() {
                        converged_at = Some(self.now);
                        // A little longer, to see that it stays so; then stop.
                        break_at = break_at.min(self.now + Duration::from_secs(2));
                    } else {
                        self.at(self.now + Duration::from_millis(500), Ev::Check);
                    }
                }
            }
        }
        for node in &self.nodes {
            if let Some(core) = &node.core {
                let (strikes, bans) = core.punishments();
                self.outcome.strikes += strikes;
                self.outcome.bans += bans;
            }
        }
        let settled = self
            .settled_at
            .max(Duration::from_secs(self.scenario.edit_secs));
        self.outcome.converged_after = converged_at.map(|at| at.saturating_sub(settled));
        let heads: Vec<_> = self.nodes.iter().map(|n| n.docs.heads()).collect();
        self.outcome.diverged_docs = heads[0]
            .iter()
            .filter(|(doc, h)| heads.iter().any(|other| other.get(*doc) != Some(h)))
            .count()
            + heads.iter().filter(|h| h.len() != heads[0].len()).count();
        self.outcome.lost = self
            .acked
            .iter()
            .map(|(doc, hash)| {
                self.nodes
                    .iter()
                    .filter(|n| {
                        !n.docs
                            .read(doc, |d| d.get_change_by_hash(hash).is_some())
                            .unwrap_or(false)
                    })
                    .count() as u64
            })
            .sum();
        (self.outcome, heads)
    }

    fn converged(&self) -> bool {
        let first = self.nodes[0].docs.heads();
        self.nodes
            .iter()
            .all(|n| n.core.is_some() && n.docs.heads() == first)
    }
}

fn commit(d: &mut AutoCommit) {
    d.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
}

/// A model document written with a fixed actor and commit time (`GuildDoc::write` commits
/// at the wall-clock time, which would change every hash from one run to the next).
fn written<T: GuildDoc>(value: &T) -> AutoCommit {
    let mut d = AutoCommit::new().with_actor(ActorId::from(b"setup".as_slice()));
    autosurgeon::reconcile(&mut d, value).unwrap_or_else(|_| unreachable!());
    commit(&mut d);
    d
}

/// Runs `scenario` and checks every property; returns the outcome.
pub fn check(scenario: Scenario) -> Outcome {
    // `GUILD_SIM_LOG=guild_daemon=debug` shows what the engines say.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("GUILD_SIM_LOG"))
        .with_test_writer()
        .try_init();
    let label = format!("{} nodes, seed {}", scenario.nodes, scenario.seed);
    let (outcome, _) = Sim::new(scenario).run();
    assert!(
        outcome.converged_after.is_some() && outcome.diverged_docs == 0,
        "{label}: replicas did not converge: {outcome:?}"
    );
    assert_eq!(
        outcome.lost, 0,
        "{label}: acknowledged changes lost: {outcome:?}"
    );
    assert_eq!(
        (outcome.strikes, outcome.bans, outcome.refusals),
        (0, 0, 0),
        "{label}: an honest node was punished or refused: {outcome:?}"
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed replays the same run, to the byte.
    #[test]
    fn sim_is_deterministic() {
        let run = || {
            let (o, heads) = Sim::new(Scenario::stormy(8, 42)).run();
            (o.messages, o.bytes, o.converged_after, heads)
        };
        assert_eq!(run(), run());
    }

    /// 50 nodes at a meetup, with partitions, crashes and dropped connections, on many
    /// seeds: they converge, lose nothing acknowledged, punish nobody, and the traffic per
    /// change stays bounded.
    #[test]
    fn sim_fifty_nodes_on_many_seeds() {
        let seeds = std::env::var("GUILD_SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5u64);
        for seed in 0..seeds {
            let scenario = Scenario::stormy(50, seed);
            let nodes = scenario.nodes as f64;
            let o = check(scenario);
            let per_change_per_node = o.messages as f64 / o.changes as f64 / nodes;
            eprintln!(
                "SIM seed {seed}: converged {:?} after the last heal; {} changes, {} messages ({per_change_per_node:.1} per change per node), {} bytes; {:?}",
                o.converged_after, o.changes, o.messages, o.bytes, o.kinds
            );
            // Bounded: a change costs each node a few pushes, announcements and pulls, not
            // traffic that grows with the number of nodes (measured: about 16 messages and
            // 1.5 KB per change per node).
            assert!(
                per_change_per_node < 40.0,
                "seed {seed}: {per_change_per_node:.1} messages per change per node"
            );
            let bytes_per_change_per_node = o.bytes as f64 / o.changes as f64 / nodes;
            assert!(
                bytes_per_change_per_node < 8_000.0,
                "seed {seed}: {bytes_per_change_per_node:.0} bytes per change per node"
            );
        }
    }

    /// Cost by community size, by hand:
    /// `cargo test --release -p guild-daemon sim_table -- --ignored --nocapture`.
    #[test]
    #[ignore = "minutes; run by hand in release"]
    fn sim_table() {
        let sizes: Vec<usize> = std::env::var("GUILD_SIM_SIZES")
            .ok()
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![10, 50, 100, 250, 500, 1000]);
        println!(
            "| nodes | converged after the last heal | messages per node | bytes per node | messages per change per node |"
        );
        println!("|---|---|---|---|---|");
        for n in sizes {
            let scenario = Scenario {
                topology: Topology::Kept(8),
                edits: 200,
                new_docs: 3,
                crashes: 3,
                partitions: 1,
                converge_within: Duration::from_secs(180),
                ..Scenario::stormy(n, 7)
            };
            let started = Instant::now();
            let o = check(scenario);
            println!(
                "| {n} | {:.1} s | {:.0} | {:.0} | {:.2} |",
                o.converged_after.unwrap_or_default().as_secs_f64(),
                o.messages as f64 / n as f64,
                o.bytes as f64 / n as f64,
                o.messages as f64 / o.changes as f64 / n as f64,
            );
            eprintln!("({n} nodes simulated in {:?})", started.elapsed());
        }
    }
}
