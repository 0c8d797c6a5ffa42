//! The documents this daemon holds, in memory, each behind its own lock, backed by the store.
//!
//! Every change goes through a [`Txn`]: lock the documents involved (in id order, so two
//! transactions never deadlock), change them, `commit()`. Commit appends each document's
//! incremental bytes to the store and returns only once they are durable. The locks are held
//! until then, so nobody reads a change that is not yet on disk, and if the commit fails the
//! documents are reloaded from the store: nothing unsaved stays visible. If the store cannot
//! even be read back (a failing disk), a document is rolled back in memory to the heads it had
//! when the transaction locked it.
//!
//! Loading is strict ([`load_stored`]): a stored base or change that fails its checksum, does
//! not parse, or depends on a change that is not stored is an error naming the document, never
//! a document silently missing its tail (Automerge's own `load_incremental` skips a damaged
//! tail with only a log line).
//!
//! Loading is also lazy, so that a large store starts at once: [`Repo::open`] reads only the
//! ids, a document is loaded when first used, and [`Repo::load_all`] loads the rest in the
//! background. A document that does not load is fatal ([`Repo::fatal`]): serving half a
//! community silently would be worse.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use automerge::{AutoCommit, ChangeHash, LoadOptions, OnPartialLoad, VerificationMode};
use crdt_model::{ModelError, View};
use thiserror::Error;
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast};

use crate::store::{Op, Store, StoreError, StoredDoc};

/// After this many incremental chunks a document is compacted into a fresh base.
const COMPACT_EVERY: u64 = 64;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "stored document {id} is corrupt ({reason}); move the data directory aside and re-sync it from a peer"
    )]
    Corrupt { id: String, reason: String },
    #[error("document {0} does not exist")]
    Missing(String),
    #[error("document {0} already exists")]
    Exists(String),
}

/// One document and its place in the store.
pub struct Slot {
    pub doc: AutoCommit,
    /// Sequence number of the next incremental chunk.
    next_seq: u64,
    /// Chunks appended since the last compaction.
    since_compact: u64,
    /// False until the document's first base is written.
    stored: bool,
    /// False until the stored document is read into `doc`.
    loaded: bool,
}

impl Slot {
    fn unloaded() -> Self {
        Self {
            doc: AutoCommit::new(),
            next_seq: 0,
            since_compact: 0,
            stored: true,
            loaded: false,
        }
    }
}

type SlotRef = Arc<Mutex<Slot>>;

pub struct Repo {
    store: Store,
    slots: RwLock<HashMap<String, SlotRef>>,
    changed: broadcast::Sender<Changed>,
    views: ViewCache,
    /// The first stored document that failed to load, with why.
    fatal: tokio::sync::watch::Sender<Option<String>>,
}

/// Typed views as last hydrated, each with the heads it was hydrated at. Hydrating is the
/// dearest part of most reads (the community's index of every document, every member to look
/// up a name or build the roster); a view is a function of its document's heads, so it stays
/// valid until they move.
#[derive(Default)]
struct ViewCache(std::sync::Mutex<HashMap<(String, TypeId), CachedView>>);

type CachedView = (Vec<ChangeHash>, Arc<dyn Any + Send + Sync>);

impl ViewCache {
    fn get(&self, key: &(String, TypeId)) -> Option<CachedView> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn put(&self, key: (String, TypeId), view: CachedView) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, view);
    }
}

impl Repo {
    /// Opens the repo over `store`, reading only which documents it holds.
    pub fn open(store: Store) -> Result<Self, RepoError> {
        let mut slots = HashMap::new();
        for id in store.doc_ids()? {
            slots.insert(id, Arc::new(Mutex::new(Slot::unloaded())));
        }
        let (changed, _) = broadcast::channel(1024);
        Ok(Self {
            store,
            slots: RwLock::new(slots),
            changed,
            views: ViewCache::default(),
            fatal: tokio::sync::watch::Sender::new(None),
        })
    }

    /// Loads, off the async workers, every document not loaded yet; stops at the first that
    /// does not load (see [`Repo::fatal`]).
    pub fn load_all(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let repo = self.clone();
        tokio::task::spawn_blocking(move || {
            for id in repo.ids() {
                let Some(slot) = repo.read_slots().get(&id).cloned() else {
                    continue;
                };
                if !repo.ensure_loaded(&id, &mut slot.blocking_lock()) {
                    return;
                }
            }
            tracing::debug!("every stored document is loaded");
        })
    }

    /// Resolves with why, once a stored document failed to load: the daemon must stop.
    pub async fn fatal(&self) -> String {
        let mut fatal = self.fatal.subscribe();
        match fatal.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Reads the stored document into `slot` if not done yet; false if it does not load.
    fn ensure_loaded(&self, id: &str, slot: &mut Slot) -> bool {
        if slot.loaded {
            return true;
        }
        let loaded = match self.store.load(id) {
            Ok(Some(stored)) => slot_from(stored),
            Ok(None) => Err(RepoError::Missing(id.to_owned())),
            Err(e) => Err(e.into()),
        };
        match loaded {
            Ok(fresh) => {
                *slot = fresh;
                true
            }
            Err(e) => {
                tracing::error!("{e}");
                self.fatal.send_if_modified(|fatal| {
                    fatal.get_or_insert_with(|| e.to_string());
                    true
                });
                false
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Ids of every document held, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read_slots().keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn contains(&self, id: &str) -> bool {
        self.read_slots().contains_key(id)
    }

    /// Documents whose changes became durable, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changed.subscribe()
    }

    /// Runs `f` on a document, if held. A document being created is not held until its
    /// transaction commits: one rolled back must never be seen, not even empty.
    pub async fn read<R>(&self, id: &str, f: impl FnOnce(&mut AutoCommit) -> R) -> Option<R> {
        let slot = self.read_slots().get(id).cloned()?;
        let mut slot = slot.lock().await;
        (self.ensure_loaded(id, &mut slot) && slot.stored).then(|| f(&mut slot.doc))
    }

    /// A typed view of a document, if held: hydrated again only when its heads moved.
    pub async fn view<T>(&self, id: &str) -> Option<Result<Arc<T>, ModelError>>
    where
        T: View + Send + Sync + 'static,
    {
        let key = (id.to_owned(), TypeId::of::<T>());
        let cached = self.views.get(&key);
        let read = self
            .read(id, |doc| {
                let heads = doc.get_heads();
                if let Some((at, view)) = cached
                    && at == heads
                    && let Ok(view) = view.downcast::<T>()
                {
                    return Ok((view, None));
                }
                T::read_view(doc).map(|view| (Arc::new(view), Some(heads)))
            })
            .await?;
        Some(read.map(|(view, fresh)| {
            if let Some(heads) = fresh {
                self.views.put(key, (heads, view.clone()));
            }
            view
        }))
    }

    /// Locks the documents `ids` (those that exist) for a change.
    pub async fn begin(&self, ids: &[&str]) -> Txn<'_> {
        let mut wanted: Vec<&str> = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut locked = BTreeMap::new();
        let mut before = HashMap::new();
        for id in wanted {
            let slot = self.read_slots().get(id).cloned();
            if let Some(slot) = slot {
                let mut guard = slot.lock_owned().await;
                if !self.ensure_loaded(id, &mut guard) || !guard.stored {
                    // Its creation was rolled back while we waited (or it does not load):
                    // it does not exist.
                    continue;
                }
                before.insert(
                    id.to_owned(),
                    Before {
                        heads: guard.doc.get_heads(),
                        next_seq: guard.next_seq,
                        since_compact: guard.since_compact,
                    },
                );
                locked.insert(id.to_owned(), guard);
            }
        }
        Txn {
            repo: self,
            locked,
            before,
            meta: Vec::new(),
            committed: false,
            from_peer: false,
        }
    }

    fn read_slots(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, SlotRef>> {
        // A poisoned lock only means a panic elsewhere while holding it; the map is intact.
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_slots(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, SlotRef>> {
        self.slots.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a document back to its durable state (after a failed or abandoned change):
    /// what the store holds, or if the store cannot be read, the state `before` the change.
    fn reload(&self, id: &str, slot: &mut Slot, before: Option<&Before>) {
        let error = match self.store.load(id) {
            Ok(Some(stored)) => match slot_from(stored) {
                Ok(fresh) => {
                    *slot = fresh;
                    return;
                }
                Err(e) => e,
            },
            Ok(None) => {
                self.write_slots().remove(id);
                return;
            }
            Err(e) => e.into(),
        };
        tracing::error!("cannot reload {id} from the store ({error}); rolling back in memory");
        let Some(before) = before else {
            // Created by this transaction and never stored: it must not stay visible.
            self.write_slots().remove(id);
            return;
        };
        match slot.doc.fork_at(&before.heads) {
            Ok(mut doc) => {
                // Everything up to `before` is stored: incremental saves start from here.
                doc.save_incremental();
                slot.doc = doc;
                slot.next_seq = before.next_seq;
                slot.since_compact = before.since_compact;
            }
            Err(e) => {
                // Cannot happen (the heads were this document's); never serve unsaved data.
                tracing::error!("cannot roll back {id} ({e}); dropping it from memory");
                self.write_slots().remove(id);
            }
        }
    }
}

/// A locked document's durable state when the transaction took it.
struct Before {
    heads: Vec<ChangeHash>,
    next_seq: u64,
    since_compact: u64,
}

/// Loads a stored document strictly: every chunk must parse and pass its checksum, and every
/// change's dependencies must be present. Public for the fuzz target `load_document`.
pub fn load_stored(stored: &StoredDoc) -> Result<AutoCommit, RepoError> {
    let corrupt = |reason: String| RepoError::Corrupt {
        id: stored.id.clone(),
        reason,
    };
    if stored.base.is_empty() {
        return Err(corrupt("its stored base is empty".into()));
    }
    // One strict load of base and changes together: Automerge reads concatenated chunks,
    // and only a whole load can refuse a damaged tail (OnPartialLoad::Error).
    let mut all = Vec::with_capacity(
        stored.base.len() + stored.changes.iter().map(|(_, c)| c.len()).sum::<usize>(),
    );
    all.extend_from_slice(&stored.base);
    for (_, chunk) in &stored.changes {
        all.extend_from_slice(chunk);
    }
    let options = LoadOptions::new()
        .on_partial_load(OnPartialLoad::Error)
        .verification_mode(VerificationMode::Check);
    let mut doc =
        AutoCommit::load_with_options(&all, options).map_err(|e| corrupt(e.to_string()))?;
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        return Err(corrupt(format!(
            "{} change(s) it depends on are not stored",
            missing.len()
        )));
    }
    Ok(doc)
}

fn slot_from(stored: StoredDoc) -> Result<Slot, RepoError> {
    let mut doc = load_stored(&stored)?;
    // Everything loaded is already stored: the next save_incremental starts from here.
    doc.save_incremental();
    Ok(Slot {
        doc,
        next_seq: stored.changes.last().map_or(0, |(seq, _)| seq + 1),
        since_compact: stored.changes.len() as u64,
        stored: true,
        loaded: true,
    })
}

/// Documents locked for one atomic, durable change.
pub struct Txn<'r> {
    repo: &'r Repo,
    locked: BTreeMap<String, OwnedMutexGuard<Slot>>,
    /// Durable state of each locked, stored document, to roll back to if all else fails.
    before: HashMap<String, Before>,
    meta: Vec<Op>,
    committed: bool,
    from_peer: bool,
}

/// A document whose changes became durable.
#[derive(Clone, Debug)]
pub struct Changed {
    pub doc: String,
    /// Made here (through the API), not received from a peer.
    pub local: bool,
    /// The document's heads after the change.
    pub heads: Vec<ChangeHash>,
}

impl Txn<'_> {
    /// Marks the changes as received from a peer (see [`Changed::local`]).
    pub fn from_peer(&mut self) {
        self.from_peer = true;
    }

    pub fn doc(&mut self, id: &str) -> Result<&mut AutoCommit, RepoError> {
        self.locked
            .get_mut(id)
            .map(|slot| &mut slot.doc)
            .ok_or_else(|| RepoError::Missing(id.to_owned()))
    }

    /// Adds a new, empty document to the repo, locked by this transaction. If the transaction
    /// is not committed, the document disappears again.
    pub fn create(&mut self, id: &str) -> Result<&mut AutoCommit, RepoError> {
        let slot = {
            let mut slots = self.repo.write_slots();
            if slots.contains_key(id) {
                return Err(RepoError::Exists(id.to_owned()));
            }
            let slot = Arc::new(Mutex::new(Slot {
                doc: AutoCommit::new(),
                next_seq: 0,
                since_compact: 0,
                stored: false,
                loaded: true,
            }));
            slots.insert(id.to_owned(), slot.clone());
            slot
        };
        let guard = slot
            .try_lock_owned()
            .map_err(|_| RepoError::Exists(id.to_owned()))?;
        Ok(&mut self.locked.entry(id.to_owned()).or_insert(guard).doc)
    }

    /// Stores a metadata value in the same durable commit.
    pub fn put_meta(&mut self, key: &str, value: &[u8]) {
        self.meta.push(Op::PutMeta {
            key: key.to_owned(),
            value: value.to_vec(),
        });
    }

    /// Deletes a metadata value in the same durable commit.
    pub fn delete_meta(&mut self, key: &str) {
        self.meta.push(Op::DeleteMeta {
            key: key.to_owned(),
        });
    }

    /// Stores a peer's sync state for a document in the same durable commit.
    pub fn put_sync_state(&mut self, peer: &str, doc: &str, state: Vec<u8>) {
        self.meta.push(Op::PutSyncState {
            peer: peer.to_owned(),
            doc: doc.to_owned(),
            state,
        });
    }

    /// Makes every change durable; on failure the documents return to their stored state.
    pub async fn commit(mut self) -> Result<(), RepoError> {
        let mut ops = std::mem::take(&mut self.meta);
        let mut touched = Vec::new();
        for (id, slot) in self.locked.iter_mut() {
            slot.doc.commit();
            let bytes = slot.doc.save_incremental();
            if bytes.is_empty() && slot.stored {
                continue;
            }
            touched.push(id.clone());
            if !slot.stored || slot.since_compact + 1 >= COMPACT_EVERY {
                if slot.stored {
                    // Logged so the crash harness can kill the daemon mid-compaction.
                    tracing::debug!("compacting {id}: folding {} changes", slot.since_compact);
                }
                ops.push(Op::Compact {
                    doc: id.clone(),
                    base: slot.doc.save(),
                    upto: slot.next_seq,
                });
                slot.since_compact = 0;
            } else {
                ops.push(Op::Append {
                    doc: id.clone(),
                    seq: slot.next_seq,
                    bytes,
                });
                slot.next_seq += 1;
                slot.since_compact += 1;
            }
        }
        if ops.is_empty() {
            self.committed = true;
            return Ok(());
        }
        let written = self.repo.store.write(ops).await;
        self.committed = true;
        if let Err(e) = written {
            for id in &touched {
                if let Some(slot) = self.locked.get_mut(id) {
                    self.repo.reload(id, slot, self.before.get(id));
                }
            }
            return Err(e.into());
        }
        for id in touched {
            let Some(slot) = self.locked.get_mut(&id) else {
                continue;
            };
            slot.stored = true;
            let heads = slot.doc.get_heads();
            // Nobody listening is fine.
            let _ = self.repo.changed.send(Changed {
                doc: id,
                local: !self.from_peer,
                heads,
            });
        }
        Ok(())
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Abandoned or failed: drop whatever changed in memory.
        let repo = self.repo;
        for (id, slot) in self.locked.iter_mut() {
            slot.doc.rollback();
            let unsaved = !slot.stored || !slot.doc.save_incremental().is_empty();
            if unsaved {
                repo.reload(id, slot, self.before.get(id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};

    use super::*;

    /// A base and three incremental changes, as the store holds them.
    fn stored() -> StoredDoc {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "name", "Ada").unwrap();
        let base = doc.save();
        let mut changes = Vec::new();
        for (seq, team) in ["Platform", "Payments", "Data"].iter().enumerate() {
            doc.put(ROOT, "team", *team).unwrap();
            changes.push((seq as u64, doc.save_incremental()));
        }
        StoredDoc {
            id: "doc1".into(),
            base,
            changes,
        }
    }

    #[tokio::test]
    async fn a_creation_rolled_back_is_never_seen_even_by_a_waiting_reader() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Arc::new(Repo::open(Store::open(&dir.path().join("t.redb")).unwrap()).unwrap());
        let mut tx = repo.begin(&[]).await;
        tx.create("new")
            .unwrap()
            .put(ROOT, "kind", "member")
            .unwrap();
        // A reader and a transaction that find the document while it is being created:
        // polled once, each is waiting for its lock.
        let mut reader = std::pin::pin!(repo.read("new", |d| d.get_heads()));
        let mut writer = std::pin::pin!(async { repo.begin(&["new"]).await.doc("new").is_ok() });
        assert!(futures::poll!(reader.as_mut()).is_pending());
        assert!(futures::poll!(writer.as_mut()).is_pending());
        drop(tx);
        assert_eq!(reader.await, None, "a reader saw a phantom document");
        assert!(!writer.await, "a transaction locked a phantom document");
        assert!(!repo.contains("new"));
    }

    #[test]
    fn intact_documents_load_with_every_change() {
        let doc = load_stored(&stored()).unwrap();
        let (team, _) = doc.get(ROOT, "team").unwrap().unwrap();
        assert_eq!(team.as_str(), Some("Data"));
    }

    #[test]
    fn damaged_or_missing_changes_are_refused_not_skipped() {
        type Damage = fn(&mut StoredDoc);
        let cases: [(&str, Damage); 5] = [
            ("a flipped byte in the last change", |s| {
                let last = &mut s.changes[2].1;
                let at = last.len() - 3;
                last[at] ^= 0xff;
            }),
            ("a truncated last change", |s| {
                let last = &mut s.changes[2].1;
                last.truncate(last.len() / 2);
            }),
            ("a change missing in the middle", |s| {
                s.changes.remove(1);
            }),
            ("a flipped byte in the base", |s| {
                let at = s.base.len() / 2;
                s.base[at] ^= 0xff;
            }),
            ("an empty base", |s| s.base.clear()),
        ];
        for (what, damage) in cases {
            let mut s = stored();
            damage(&mut s);
            match load_stored(&s) {
                Err(e @ RepoError::Corrupt { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains("doc1"), "{what}: {message}");
                    assert!(
                        message.contains("re-sync it from a peer"),
                        "{what}: {message}"
                    );
                }
                Err(e) => panic!("{what}: wrong error {e}"),
                Ok(_) => panic!("{what}: loaded anyway"),
            }
        }
    }
}
