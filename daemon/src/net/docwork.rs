//! Running the document work the core asks for ([`Work`]) against documents ([`Docs`]): the
//! real repo in the daemon (on the blocking pool, never on an async worker), in-memory
//! documents in the simulator. Everything Automerge does for sync happens here.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use crdt_model::community::Community;
use crdt_model::roster::{MemberAccess, Roster};
use crdt_model::{DocKind, GuildDoc, ModelError, View};
use libp2p::PeerId;

use super::core::{DocFault, Done, Heads, PushOutcome, Work};
use super::inbound;
use super::wire::{self, Response};
use crate::repo::{Repo, RepoError};

/// Changes for a pull larger than this are sent as the whole compressed document instead,
/// when that is smaller (Automerge's change format is not compressed; `save()` is).
const TRY_SNAPSHOT_ABOVE: usize = 1024;
/// Most documents in one `Snapshots` answer.
const MAX_SNAPSHOTS: usize = 10_000;

/// A sync-protocol state to store with a change: (peer, encoded state).
pub type SyncStateToStore = Option<(PeerId, Vec<u8>)>;

/// Documents as document work needs them. Calls may block (they run off the async workers).
pub trait Docs: Send + Sync {
    /// Ids of every document held.
    fn ids(&self) -> Vec<String>;

    /// Runs `f` on a held document.
    fn read<R>(&self, doc: &str, f: impl FnOnce(&mut AutoCommit) -> R) -> Option<R>;

    /// Changes `doc` durably with `f` (creating it first if `create` and it is not held),
    /// storing the sync state `f` returns in the same commit. If `f` fails nothing changes.
    /// `local`: made here, not received from a peer.
    fn change<R>(
        &self,
        doc: &str,
        create: bool,
        local: bool,
        f: impl FnOnce(&mut AutoCommit) -> Result<(R, SyncStateToStore), DocFault>,
    ) -> Result<R, DocFault>;

    /// The sync-protocol state stored for (peer, doc), if any.
    fn stored_sync_state(&self, peer: &PeerId, doc: &str) -> Option<Vec<u8>>;

    /// A typed view of a document, if held.
    fn view<T: View + Send + Sync + 'static>(
        &self,
        doc: &str,
    ) -> Option<Result<Arc<T>, ModelError>>;
}

/// One sync-protocol state, locked while a step uses it.
type SharedState = Arc<Mutex<sync::State>>;

/// Sync-protocol states of running sessions, one lock per (peer, document): sessions with
/// different peers or on different documents never wait for each other.
#[derive(Default)]
pub struct SyncStates(Mutex<HashMap<(PeerId, String), SharedState>>);

impl SyncStates {
    fn get(&self, docs: &impl Docs, peer: PeerId, doc: &str) -> SharedState {
        let mut states = self.0.lock().unwrap_or_else(|e| e.into_inner());
        states
            .entry((peer, doc.to_owned()))
            .or_insert_with(|| {
                let stored = docs
                    .stored_sync_state(&peer, doc)
                    .and_then(|bytes| sync::State::decode(&bytes).ok())
                    .unwrap_or_default();
                Arc::new(Mutex::new(stored))
            })
            .clone()
    }

    /// The peer is gone: its states are decoded afresh from the store next time (Automerge
    /// wants a state decoded again after a disconnection).
    pub fn forget(&self, peer: &PeerId) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(p, _), _| p != peer);
    }
}

/// Runs one piece of document work.
pub fn run(docs: &impl Docs, states: &SyncStates, work: Work) -> Done {
    match work {
        Work::AllHeads => Done::AllHeads(
            docs.ids()
                .into_iter()
                .filter_map(|id| docs.read(&id, |d| d.get_heads()).map(|h| (id, h)))
                .collect(),
        ),
        Work::Lacking { peer, docs: asked } => {
            // Our heads are read here, with the check, so that the pull that follows asks for
            // exactly what we lack (heads read earlier would fetch changes again).
            let checked = asked
                .into_iter()
                .map(|(doc, theirs)| {
                    let lacking = docs
                        .read(&doc, |d| {
                            theirs
                                .iter()
                                .any(|h| d.get_change_by_hash(h).is_none())
                                .then(|| d.get_heads())
                        })
                        .unwrap_or_else(|| Some(Vec::new()));
                    (doc, lacking)
                })
                .collect();
            Done::Lacking {
                peer,
                docs: checked,
            }
        }
        Work::Snapshots {
            peer,
            id,
            docs: asked,
        } => {
            let mut out = Vec::new();
            let mut remember = Vec::new();
            let mut size = 0;
            for doc in asked.iter().take(MAX_SNAPSHOTS) {
                let Some((bytes, heads)) = docs.read(doc, |d| (d.save(), d.get_heads())) else {
                    continue;
                };
                if size + bytes.len() > wire::SNAPSHOT_BATCH && !out.is_empty() {
                    break; // The rest in the next round.
                }
                size += bytes.len();
                // Once it has loaded the snapshot the peer holds our heads.
                remember.push((doc.clone(), heads));
                out.push((doc.clone(), bytes));
            }
            Done::Answer {
                peer,
                id,
                response: Response::Snapshots { docs: out },
                remember,
            }
        }
        Work::AnswerPull {
            peer,
            id,
            doc,
            heads,
        } => {
            let answered = docs.read(&doc, |d| answer_pull(d, &heads));
            let (response, remember) = match answered {
                Some((response, Some(ours))) => (response, vec![(doc, ours)]),
                Some((response, None)) => (response, Vec::new()),
                None => (
                    Response::Refused {
                        reason: format!("unknown document {doc}"),
                    },
                    Vec::new(),
                ),
            };
            Done::Answer {
                peer,
                id,
                response,
                remember,
            }
        }
        Work::Apply {
            peer,
            doc,
            kind,
            bytes,
            then,
        } => {
            let result = docs.change(&doc, true, false, |d| {
                let heads = inbound::apply_changes(d, kind, &bytes).map_err(DocFault::Bad)?;
                Ok((heads, None))
            });
            Done::Applied {
                peer,
                doc,
                then,
                result,
            }
        }
        Work::Push { peer, doc, known } => {
            let outcome = docs
                .read(&doc, |d| push(d, &known))
                .unwrap_or(PushOutcome::Nothing);
            Done::Push { peer, doc, outcome }
        }
        Work::SyncStep {
            peer,
            doc,
            kind,
            received,
            restart,
            answer,
        } => {
            let result = sync_step(docs, states, peer, &doc, kind, received.as_deref(), restart);
            Done::SyncStep {
                peer,
                doc,
                answer,
                result,
            }
        }
        Work::ReadAccess { community } => read_access(docs, &community),
        Work::RecordInvite {
            community,
            hash,
            peer,
            when,
        } => {
            let recorded = docs.change(&community, false, true, |d| {
                Community::update(d, |c| {
                    if let Some(invite) = c.invites.get_mut(&hash) {
                        invite.record_use(&peer.to_string(), &when);
                    }
                    Ok(())
                })
                .map_err(|e| DocFault::Ours(e.to_string()))?;
                Ok(((), None))
            });
            if let Err(e) = recorded {
                tracing::warn!("cannot record that {peer} used an invitation: {e}");
            }
            Done::Nothing
        }
    }
}

/// The answer to a `Pull` for changes after `heads`, and our heads if the peer will hold them.
fn answer_pull(d: &mut AutoCommit, heads: &[ChangeHash]) -> (Response, Option<Heads>) {
    let ours = d.get_heads();
    if heads.iter().any(|h| d.get_change_by_hash(h).is_none()) {
        // The puller holds changes we have never seen: the sync protocol is needed.
        return (Response::Diverged, None);
    }
    let mut bytes = d.save_after(heads);
    if bytes.len() > TRY_SNAPSHOT_ABOVE {
        // Far behind: the compressed document may be smaller than the changes.
        let whole = d.save();
        if whole.len() < bytes.len() {
            bytes = whole;
        }
    }
    let response = Response::Changes {
        bytes,
        heads: super::core::to_wire(&ours),
    };
    (response, Some(ours))
}

/// What to push to a peer whose heads are `known`.
fn push(d: &mut AutoCommit, known: &[ChangeHash]) -> PushOutcome {
    if known.iter().any(|h| d.get_change_by_hash(h).is_none()) {
        return PushOutcome::TheyHaveMore {
            heads: d.get_heads(),
        };
    }
    let mut heads = d.get_heads();
    heads.sort();
    let mut sorted_known = known.to_vec();
    sorted_known.sort();
    if sorted_known == heads {
        return PushOutcome::Nothing;
    }
    PushOutcome::Send {
        bytes: d.save_after(known),
        heads,
    }
}

/// Receives the peer's sync message (if any), durably with the state, then generates ours.
fn sync_step(
    docs: &impl Docs,
    states: &SyncStates,
    peer: PeerId,
    doc: &str,
    kind: DocKind,
    received: Option<&[u8]>,
    restart: bool,
) -> Result<(Option<Vec<u8>>, Heads), DocFault> {
    let message = received
        .map(|bytes| inbound::decode_sync(bytes).map_err(DocFault::Bad))
        .transpose()?;
    let state = states.get(docs, peer, doc);
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if restart {
        // Forget everything but the shared heads, as Automerge wants at the start of every
        // session: what was in flight or sent in an earlier session may never have arrived.
        *state = sync::State::decode(&state.encode()).unwrap_or_default();
    }
    if let Some(message) = message {
        docs.change(doc, false, false, |d| {
            inbound::receive_sync(d, &mut state, Some(kind), message).map_err(DocFault::Bad)?;
            Ok(((), Some((peer, state.encode()))))
        })?;
    }
    let ours = docs
        .read(doc, |d| {
            d.sync()
                .generate_sync_message(&mut state)
                .map(|m| m.encode())
        })
        .ok_or(DocFault::Missing)?;
    let mut shared = state.shared_heads.clone();
    shared.sort();
    Ok((ours, shared))
}

/// The community's index and roster, as its documents say.
fn read_access(docs: &impl Docs, community_id: &str) -> Done {
    let empty = || Done::Access {
        listed: BTreeMap::new(),
        roster: None,
        hubs: Vec::new(),
    };
    let community = match docs.view::<Community>(community_id) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            tracing::error!("cannot read the community document: {e}");
            return empty();
        }
        None => return empty(),
    };
    let mut listed = BTreeMap::new();
    let mut members = Vec::new();
    for (id, entry) in &community.docs {
        let Some(kind) = DocKind::parse(&entry.kind) else {
            continue;
        };
        listed.insert(id.clone(), kind);
        if kind == DocKind::Member
            && let Some(Ok(access)) = docs.view::<MemberAccess>(id)
        {
            members.push((id.clone(), access));
        }
    }
    let roster = Roster::new(&community, &members);
    Done::Access {
        listed,
        roster: Some(roster),
        hubs: community.hubs.keys().cloned().collect(),
    }
}

/// The daemon's documents. Each call blocks the calling thread on the repo (documents are
/// locked, loaded and committed there), so it must run on the blocking pool.
pub struct RepoDocs {
    pub repo: Arc<Repo>,
    pub runtime: tokio::runtime::Handle,
}

impl Docs for RepoDocs {
    fn ids(&self) -> Vec<String> {
        self.repo.ids()
    }

    fn read<R>(&self, doc: &str, f: impl FnOnce(&mut AutoCommit) -> R) -> Option<R> {
        self.runtime.block_on(self.repo.read(doc, f))
    }

    fn change<R>(
        &self,
        doc: &str,
        create: bool,
        local: bool,
        f: impl FnOnce(&mut AutoCommit) -> Result<(R, SyncStateToStore), DocFault>,
    ) -> Result<R, DocFault> {
        let ours = |e: RepoError| DocFault::Ours(e.to_string());
        self.runtime.block_on(async {
            let mut f = Some(f);
            // A document created concurrently (the same new document arriving from two peers
            // at once) is simply there on the next try.
            for _ in 0..16 {
                let mut tx = self.repo.begin(&[doc]).await;
                if !local {
                    tx.from_peer();
                }
                if tx.doc(doc).is_err() {
                    if !create {
                        return Err(DocFault::Missing);
                    }
                    match tx.create(doc) {
                        Ok(_) => {}
                        Err(RepoError::Exists(_)) => continue,
                        Err(e) => return Err(ours(e)),
                    }
                }
                let d = tx.doc(doc).map_err(ours)?;
                let Some(f) = f.take() else {
                    break;
                };
                let (value, state) = f(d)?;
                if let Some((peer, state)) = state {
                    tx.put_sync_state(&peer.to_string(), doc, state);
                }
                tx.commit().await.map_err(ours)?;
                return Ok(value);
            }
            Err(DocFault::Ours(format!(
                "{doc} is being created by another task"
            )))
        })
    }

    fn stored_sync_state(&self, peer: &PeerId, doc: &str) -> Option<Vec<u8>> {
        self.repo
            .store()
            .sync_state(&peer.to_string(), doc)
            .ok()
            .flatten()
    }

    fn view<T: View + Send + Sync + 'static>(
        &self,
        doc: &str,
    ) -> Option<Result<Arc<T>, ModelError>> {
        self.runtime.block_on(self.repo.view::<T>(doc))
    }
}

/// Documents in memory: the simulator's store, and the shell's tests. "Durable" is what is
/// in here; a crash keeps it and loses everything else.
#[derive(Default)]
pub struct MemDocs {
    docs: Mutex<BTreeMap<String, AutoCommit>>,
    sync_states: Mutex<HashMap<(PeerId, String), Vec<u8>>>,
    /// Documents changed since last drained, with whether the change was local.
    changed: Mutex<Vec<(String, bool)>>,
    /// Typed views by the heads they were read at, as the repo keeps them.
    views: Mutex<HashMap<(String, TypeId), CachedView>>,
}

type CachedView = (Vec<ChangeHash>, Arc<dyn Any + Send + Sync>);

impl MemDocs {
    /// Changes made since the last call, for change notifications.
    pub fn drain_changed(&self) -> Vec<(String, bool)> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts a whole document in (set-up, or a local edit), as a local change.
    pub fn put(&self, id: &str, doc: AutoCommit) {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), doc);
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id.to_owned(), true));
    }

    /// Heads of every document.
    pub fn heads(&self) -> BTreeMap<String, Heads> {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .map(|(id, d)| {
                let mut heads = d.get_heads();
                heads.sort();
                (id.clone(), heads)
            })
            .collect()
    }
}

impl Docs for MemDocs {
    fn ids(&self) -> Vec<String> {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn read<R>(&self, doc: &str, f: impl FnOnce(&mut AutoCommit) -> R) -> Option<R> {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(doc)
            .map(f)
    }

    fn change<R>(
        &self,
        doc: &str,
        create: bool,
        local: bool,
        f: impl FnOnce(&mut AutoCommit) -> Result<(R, SyncStateToStore), DocFault>,
    ) -> Result<R, DocFault> {
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        let created = !docs.contains_key(doc);
        if created && !create {
            return Err(DocFault::Missing);
        }
        let d = docs.entry(doc.to_owned()).or_default();
        let before = d.get_heads();
        // Changed in place (copying every document for every change made large simulations
        // crawl); a failed change is undone by going back to the heads before it.
        let (value, state) = match f(d) {
            Ok(done) => done,
            Err(fault) => {
                if created {
                    docs.remove(doc);
                } else if let Ok(restored) = d.fork_at(&before) {
                    *d = restored;
                }
                return Err(fault);
            }
        };
        d.commit();
        let moved = d.get_heads() != before || created;
        drop(docs);
        if let Some((peer, state)) = state {
            self.sync_states
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((peer, doc.to_owned()), state);
        }
        if moved {
            self.changed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((doc.to_owned(), local));
        }
        Ok(value)
    }

    fn stored_sync_state(&self, peer: &PeerId, doc: &str) -> Option<Vec<u8>> {
        self.sync_states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(*peer, doc.to_owned()))
            .cloned()
    }

    fn view<T: View + Send + Sync + 'static>(
        &self,
        doc: &str,
    ) -> Option<Result<Arc<T>, ModelError>> {
        let key = (doc.to_owned(), TypeId::of::<T>());
        let heads = self.read(doc, |d| d.get_heads())?;
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, view)) = views.get(&key)
            && *at == heads
            && let Ok(view) = view.clone().downcast::<T>()
        {
            return Some(Ok(view));
        }
        let view = self.read(doc, |d| T::read_view(d).map(Arc::new))?;
        if let Ok(view) = &view {
            views.insert(key, (heads, view.clone()));
        }
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use automerge::ROOT;
    use automerge::transaction::Transactable;

    use super::*;
    use crate::net::core::Then;

    fn member_doc() -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "kind", "member").unwrap();
        doc.put(ROOT, "name", "Ada").unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn a_document_created_concurrently_from_two_peers_merges_without_fault() {
        // Issue 12 (fault 1): the same new document arriving from two peers at once counted
        // as a strike. Both snapshots now apply; the second merges into the first.
        let docs = MemDocs::default();
        let states = SyncStates::default();
        let source = member_doc();
        let (a, b) = (PeerId::random(), PeerId::random());
        for peer in [a, b] {
            let done = run(
                &docs,
                &states,
                Work::Apply {
                    peer,
                    doc: "m".into(),
                    kind: DocKind::Member,
                    bytes: source.clone().save(),
                    then: Then::Fetched,
                },
            );
            let Done::Applied { result, .. } = done else {
                panic!("{done:?}")
            };
            assert_eq!(result, Ok(source.clone().get_heads()));
        }
    }

    #[test]
    fn pull_answers_changes_or_diverged() {
        let mut doc = member_doc();
        let old = doc.get_heads();
        doc.put(ROOT, "team", "Platform").unwrap();
        doc.commit();
        let (response, remember) = answer_pull(&mut doc, &old);
        assert!(matches!(response, Response::Changes { .. }));
        assert_eq!(remember, Some(doc.get_heads()));
        let unknown = [ChangeHash([7; 32])];
        assert_eq!(answer_pull(&mut doc, &unknown).0, Response::Diverged);
        assert!(matches!(
            push(&mut doc, &unknown),
            PushOutcome::TheyHaveMore { .. }
        ));
        let heads = doc.get_heads();
        assert_eq!(push(&mut doc, &heads), PushOutcome::Nothing);
        assert!(matches!(push(&mut doc, &old), PushOutcome::Send { .. }));
    }

    #[test]
    fn garbage_from_a_peer_is_a_fault_of_the_peer() {
        let docs = MemDocs::default();
        docs.put("m", member_doc());
        let states = SyncStates::default();
        let peer = PeerId::random();
        let done = run(
            &docs,
            &states,
            Work::Apply {
                peer,
                doc: "m".into(),
                kind: DocKind::Member,
                bytes: vec![1, 2, 3],
                then: Then::Pulled,
            },
        );
        assert!(matches!(
            done,
            Done::Applied {
                result: Err(DocFault::Bad(_)),
                ..
            }
        ));
        let done = run(
            &docs,
            &states,
            Work::SyncStep {
                peer,
                doc: "m".into(),
                kind: DocKind::Member,
                received: Some(vec![0x42; 40]),
                restart: true,
                answer: None,
            },
        );
        assert!(matches!(
            done,
            Done::SyncStep {
                result: Err(DocFault::Bad(_)),
                ..
            }
        ));
    }
}
