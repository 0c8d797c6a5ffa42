//! The sync engine's shell: one task owns the [`Core`] and feeds it everything that happens
//! (transport events, answers, finished document work, document changes, time), then carries
//! out the effects it returns: requests and dials on the [`Transport`], document work on the
//! blocking pool (`docwork`), answers, disconnections, bans. No locks around the engine's
//! state: only this task touches it. Everything else talks to it through an [`Engine`]
//! handle; shutdown is a message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::capture;
use super::core::peers::Traffic;
use super::core::{At, Changed, Core, Effect, Heads, InId, Input, PeerReport};
use super::docwork::{self, RepoDocs, SyncStates};
use super::membership::Membership;
use super::transport::{Event, Transport};
use crate::repo::Repo;

/// What status pages show of the engine.
#[derive(Clone, Debug, Default)]
pub struct EngineReport {
    pub peers: Vec<PeerReport>,
    /// Addresses kept connected.
    pub kept: Vec<String>,
    /// Our heads of every community document.
    pub ours: BTreeMap<String, Heads>,
    /// Sync traffic with all peers since start.
    pub traffic: Traffic,
    /// Strikes and bans counted since start.
    pub strikes: u64,
    pub bans: u64,
}

/// A peer refused us.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub peer: PeerId,
    pub reason: String,
    /// It may pass by itself: the peer has not heard of us (or of our invitation) yet.
    pub temporary: bool,
}

enum Command {
    Input(Box<Input>),
    Report(oneshot::Sender<EngineReport>),
    Shutdown(oneshot::Sender<()>),
}

/// A handle to the running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    commands: mpsc::UnboundedSender<Command>,
    refusals: broadcast::Sender<Refusal>,
    pub local_peer_id: PeerId,
}

impl Engine {
    /// Becomes a member and greets whoever is connected (`None`: gives up a join).
    pub fn set_membership(&self, membership: Option<Membership>) {
        let _ = self
            .commands
            .send(Command::Input(Box::new(Input::Membership(membership))));
    }

    pub fn keep(&self, addr: Multiaddr) {
        let _ = self
            .commands
            .send(Command::Input(Box::new(Input::Keep(addr))));
    }

    pub fn forget(&self, addr: Multiaddr) {
        let _ = self
            .commands
            .send(Command::Input(Box::new(Input::Forget(addr))));
    }

    pub async fn report(&self) -> EngineReport {
        let (reply, wait) = oneshot::channel();
        if self.commands.send(Command::Report(reply)).is_err() {
            return EngineReport::default();
        }
        wait.await.unwrap_or_default()
    }

    /// Refusals by peers, as they happen.
    pub fn refusals(&self) -> broadcast::Receiver<Refusal> {
        self.refusals.subscribe()
    }

    /// Stops the engine and whatever it has under way.
    pub async fn shutdown(&self) {
        let (reply, wait) = oneshot::channel();
        if self.commands.send(Command::Shutdown(reply)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// The time as the core wants it: monotonic, and the daemon's wall clock.
pub fn at() -> At {
    At {
        now: Instant::now(),
        wall: crate::clock::now(),
    }
}

/// Starts the engine over `transport`, whose events arrive on `events`.
pub fn spawn<T: Transport>(
    core: Core,
    transport: T,
    events: mpsc::UnboundedReceiver<Event<T::Reply>>,
    repo: Arc<Repo>,
) -> (Engine, JoinHandle<()>) {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (refusals, _) = broadcast::channel(64);
    let engine = Engine {
        commands,
        refusals: refusals.clone(),
        local_peer_id: core.me(),
    };
    let changes = repo.subscribe();
    let shell = Shell {
        core,
        transport: Arc::new(transport),
        docs: Arc::new(RepoDocs {
            repo,
            runtime: tokio::runtime::Handle::current(),
        }),
        states: Arc::new(SyncStates::default()),
        replies: HashMap::new(),
        next_in: 0,
        tasks: JoinSet::new(),
        refusals,
    };
    let task = tokio::spawn(shell.run(command_rx, events, changes));
    (engine, task)
}

struct Shell<T: Transport> {
    core: Core,
    transport: Arc<T>,
    docs: Arc<RepoDocs>,
    states: Arc<SyncStates>,
    /// Channels to answer inbound requests on.
    replies: HashMap<InId, T::Reply>,
    next_in: InId,
    /// Requests, dials and document work under way (aborted at shutdown).
    tasks: JoinSet<Option<Input>>,
    refusals: broadcast::Sender<Refusal>,
}

impl<T: Transport> Shell<T> {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: mpsc::UnboundedReceiver<Event<T::Reply>>,
        mut changes: broadcast::Receiver<crate::repo::Changed>,
    ) {
        let start = self.core.start();
        self.execute(start);
        loop {
            let wake = self.core.next_wake();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Command::Input(input)) => *input,
                    Some(Command::Report(reply)) => {
                        let (strikes, bans) = self.core.punishments();
                        let _ = reply.send(EngineReport {
                            peers: self.core.report(),
                            kept: self.core.kept(),
                            ours: self.core.our_heads(),
                            traffic: self.core.traffic(),
                            strikes,
                            bans,
                        });
                        continue;
                    }
                    Some(Command::Shutdown(done)) => {
                        self.tasks.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.tasks.shutdown().await;
                        return;
                    }
                },
                Some(finished) = self.tasks.join_next() => match finished {
                    Ok(Some(input)) => input,
                    Ok(None) => continue,
                    Err(e) => {
                        if e.is_panic() {
                            tracing::error!("a sync task panicked: {e}");
                        }
                        continue;
                    }
                },
                changed = changes.recv() => match changed {
                    Ok(first) => {
                        let mut all = vec![first];
                        while let Ok(more) = changes.try_recv() {
                            all.push(more);
                        }
                        Input::Changed(
                            all.into_iter()
                                .map(|c| Changed { doc: c.doc, heads: c.heads, local: c.local })
                                .collect(),
                        )
                    }
                    // Missed some: our heads are read again.
                    Err(broadcast::error::RecvError::Lagged(_)) => Input::Resync,
                    Err(broadcast::error::RecvError::Closed) => continue,
                },
                event = events.recv() => match event {
                    Some(event) => match self.on_event(event) {
                        Some(input) => input,
                        None => continue,
                    },
                    None => continue,
                },
                () = sleep => Input::Tick,
            };
            let effects = self.core.handle(at(), input);
            self.execute(effects);
        }
    }

    fn on_event(&mut self, event: Event<T::Reply>) -> Option<Input> {
        Some(match event {
            Event::Connected { peer, addr } => Input::Connected {
                peer,
                addr: addr.to_string(),
            },
            Event::Disconnected { peer } => Input::Disconnected { peer },
            Event::Request {
                peer,
                mut frame,
                reply,
            } => {
                self.next_in += 1;
                let id = self.next_in;
                self.replies.insert(id, reply);
                capture::record("request", &frame.bytes);
                let input = Input::Request {
                    peer,
                    id,
                    frame: match frame.refused.take() {
                        Some(limit) => Err(limit),
                        None => Ok(std::mem::take(&mut frame.bytes)),
                    },
                };
                // The frame's share of the budget is given back now that its bytes moved
                // into the input (the core holds the peer to its own limits from here).
                drop(frame);
                input
            }
            // A member a hub's rendezvous point named is dialled like one seen on the LAN
            // (while it is reported; the membership hello decides, as for any peer).
            Event::LanSeen { peer, addrs } | Event::Discovered { peer, addrs } => {
                Input::LanSeen { peer, addrs }
            }
            Event::LanExpired { peer, addr } => Input::LanExpired { peer, addr },
            Event::NetworkChanged => Input::NetworkChanged,
        })
    }

    fn execute(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { peer, req, bytes } => {
                    let request = self.transport.request(peer, bytes);
                    self.tasks.spawn(async move {
                        let answer = request.await;
                        if let Ok(bytes) = &answer {
                            capture::record("response", bytes);
                        }
                        Some(Input::Answer { req, answer })
                    });
                }
                Effect::Respond { id, bytes } => {
                    if let Some(reply) = self.replies.remove(&id) {
                        self.transport.respond(reply, bytes);
                    }
                }
                Effect::Work(work) => {
                    let (docs, states) = (self.docs.clone(), self.states.clone());
                    self.tasks.spawn(async move {
                        // Automerge's work (load, apply, save, sync) never runs on an async
                        // worker.
                        let done = tokio::task::spawn_blocking(move || {
                            docwork::run(&*docs, &states, work)
                        })
                        .await;
                        match done {
                            Ok(done) => Some(Input::Done(done)),
                            Err(e) => {
                                tracing::error!("document work failed: {e}");
                                None
                            }
                        }
                    });
                }
                Effect::Dial(dial) => {
                    let dialing = self.transport.dial(dial.peer, dial.addrs);
                    self.tasks.spawn(async move {
                        let result = dialing.await;
                        Some(Input::Dialed {
                            key: dial.key,
                            result,
                        })
                    });
                }
                Effect::Disconnect { peer } => self.transport.disconnect(peer),
                Effect::Ban { peer, until } => self.transport.ban(peer, until),
                Effect::Forget { peer } => self.states.forget(&peer),
                Effect::Admitted { peer } => self.transport.admitted(peer),
                Effect::RefusedBy {
                    peer,
                    reason,
                    temporary,
                } => {
                    let _ = self.refusals.send(Refusal {
                        peer,
                        reason,
                        temporary,
                    });
                }
                Effect::Members(members) => self.transport.members(members),
                Effect::Hubs { namespace, hubs } => self.transport.hubs(namespace, hubs),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crdt_model::community::Community;
    use crdt_model::member::{Member, Profile};
    use crdt_model::{DocKind, GuildDoc};

    use super::*;
    use crate::net::core::Core;
    use crate::net::transport::MemNet;
    use crate::store::Store;

    fn repo(dir: &tempfile::TempDir) -> Arc<Repo> {
        let store = Store::open(&dir.path().join("guild.redb")).unwrap();
        Arc::new(Repo::open(store).unwrap())
    }

    async fn heads(repo: &Repo) -> Vec<(String, Vec<automerge::ChangeHash>)> {
        let mut out = Vec::new();
        for id in repo.ids() {
            if let Some(h) = repo.read(&id, |d| d.get_heads()).await {
                out.push((id, h));
            }
        }
        out
    }

    /// The shell runs the same core over any transport: two engines on real stores converge
    /// over in-memory channels, a local change reaches the other at once, and both stop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_engines_converge_over_in_memory_channels() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let membership = Membership::new("community0000000000001".into(), [3; 32]);
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (repo_a, repo_b) = (repo(&dir_a), repo(&dir_b));
        // A holds the community: its document and a member whose devices are A and B.
        let mut community =
            Community::new(&membership.community, "C", "", "2026-01-01T00:00:00Z").unwrap();
        let profile = Profile {
            name: Some("Ada".into()),
            ..Profile::default()
        };
        let mut ada = Member::new("member000000000000001", &profile, "2026-01-01").unwrap();
        for p in [a, b] {
            ada.devices.insert(p.to_string(), "t".into());
        }
        community.index(&ada.id, DocKind::Member);
        let mut tx = repo_a.begin(&[]).await;
        community.write(tx.create(&community.id).unwrap()).unwrap();
        ada.write(tx.create(&ada.id).unwrap()).unwrap();
        tx.commit().await.unwrap();

        let net = MemNet::default();
        let (ta, addr_a, events_a) = net.join(a);
        let (tb, _, events_b) = net.join(b);
        let core_a = Core::new(a, Some(membership.clone()), 1);
        let core_b = Core::new(b, Some(membership.clone()), 2);
        let (engine_a, task_a) = spawn(core_a, ta, events_a, repo_a.clone());
        let (engine_b, task_b) = spawn(core_b, tb, events_b, repo_b.clone());
        engine_b.keep(addr_a);

        let converged = || async { heads(&repo_a).await == heads(&repo_b).await };
        tokio::time::timeout(Duration::from_secs(20), async {
            while !converged().await {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("B fetched the community from A");

        // A local change on A reaches B.
        let mut tx = repo_a.begin(&[&ada.id]).await;
        Member::update(tx.doc(&ada.id).unwrap(), |m| {
            m.team = "Platform".into();
            Ok(())
        })
        .unwrap();
        tx.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), async {
            while !converged().await {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the change reached B");
        // A hears back that B holds what it holds.
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let report = engine_a.report().await;
                if report
                    .peers
                    .iter()
                    .any(|p| p.peer == b && p.member && p.in_sync)
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("A reports B in sync");

        engine_a.shutdown().await;
        engine_b.shutdown().await;
        task_a.await.unwrap();
        task_b.await.unwrap();
    }
}
