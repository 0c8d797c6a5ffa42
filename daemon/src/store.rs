//! Durable storage: every document, and the daemon's own metadata, in one redb file.
//!
//! Only the storage thread writes. It drains a channel of batches and commits as many as are
//! waiting in one transaction (group commit), then acknowledges each batch: a write is
//! acknowledged to its caller only after the transaction holding it is durable
//! (`Durability::Immediate`, redb's default, fsyncs on commit).
//!
//! Layout (table names carry a version so a future layout can migrate):
//! - `docs_v1`: document id -> compressed Automerge `save()` (the compacted base);
//! - `changes_v1`: (document id, sequence) -> incremental bytes appended since that base;
//! - `meta_v1`: key -> bytes (the local member id, the community secret, peers to dial);
//! - `sync_states_v1`: (peer, document) -> Automerge sync state, so a reconnect resumes.
//!
//! Loading a document is `load(base)` followed by `load_incremental` of its changes in
//! sequence order. Compaction writes a new base and deletes the folded changes in the same
//! transaction, so a crash leaves either the old base plus changes or the new base.

use std::path::Path;
use std::sync::Arc;
use std::thread;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs_v1");
const CHANGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("changes_v1");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta_v1");
/// (peer id, document id) -> encoded Automerge `sync::State`.
const SYNC_STATES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("sync_states_v1");

/// Most batches folded into one transaction.
const MAX_GROUP: usize = 512;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("another guild daemon is using this data directory ({0})")]
    InUse(String),
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("storage error: {0}")]
    Redb(#[from] redb::Error),
    #[error("could not save the change: {0}")]
    Commit(String),
    #[error("the storage thread has stopped")]
    Stopped,
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Redb(e.into())
            }
        }
    )*};
}
redb_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One write to make durable.
#[derive(Debug)]
pub enum Op {
    /// Append incremental change bytes for a document.
    Append {
        doc: String,
        seq: u64,
        bytes: Vec<u8>,
    },
    /// Replace a document's base and drop its changes with sequence below `upto`.
    Compact {
        doc: String,
        base: Vec<u8>,
        upto: u64,
    },
    PutMeta {
        key: String,
        value: Vec<u8>,
    },
    PutSyncState {
        peer: String,
        doc: String,
        state: Vec<u8>,
    },
}

struct Batch {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), String>>,
}

/// A stored document as read at start-up.
pub struct StoredDoc {
    pub id: String,
    pub base: Vec<u8>,
    /// Incremental chunks in sequence order.
    pub changes: Vec<(u64, Vec<u8>)>,
}

/// Handle to the store. Cheap to clone; reads go straight to redb, writes to the writer thread.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: mpsc::UnboundedSender<Batch>,
}

impl Store {
    /// Opens (or creates) the store and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let builder = Database::builder();
        let db = builder.create(path).map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::InUse(path.display().to_string())
            }
            source => StoreError::Open {
                path: path.display().to_string(),
                source,
            },
        })?;
        restrict_permissions(path);
        let db = Arc::new(db);
        {
            // Create the tables so reads never meet a missing table.
            let tx = db.begin_write()?;
            tx.open_table(DOCS)?;
            tx.open_table(CHANGES)?;
            tx.open_table(META)?;
            tx.open_table(SYNC_STATES)?;
            tx.commit()?;
        }
        let (writer, batches) = mpsc::unbounded_channel();
        let thread_db = db.clone();
        thread::Builder::new()
            .name("guild-store".into())
            .spawn(move || write_loop(&thread_db, batches))
            .map_err(|e| StoreError::Redb(redb::Error::Io(e)))?;
        Ok(Self { db, writer })
    }

    /// Makes `ops` durable in one transaction (possibly shared with other batches).
    pub async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send(Batch { ops, done })
            .map_err(|_| StoreError::Stopped)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Commit(message)),
            Err(_) => Err(StoreError::Stopped),
        }
    }

    /// Every stored document with its pending changes.
    pub fn load_all(&self) -> Result<Vec<StoredDoc>, StoreError> {
        let tx = self.db.begin_read()?;
        let docs = tx.open_table(DOCS)?;
        let changes = tx.open_table(CHANGES)?;
        let mut out = Vec::new();
        for entry in docs.iter()? {
            let (id, base) = entry?;
            let id = id.value().to_owned();
            let mut chunks = Vec::new();
            for change in changes.range((id.as_str(), 0)..=(id.as_str(), u64::MAX))? {
                let (key, bytes) = change?;
                chunks.push((key.value().1, bytes.value().to_vec()));
            }
            out.push(StoredDoc {
                id,
                base: base.value().to_vec(),
                changes: chunks,
            });
        }
        Ok(out)
    }

    /// One stored document, if present.
    pub fn load(&self, id: &str) -> Result<Option<StoredDoc>, StoreError> {
        let tx = self.db.begin_read()?;
        let docs = tx.open_table(DOCS)?;
        let Some(base) = docs.get(id)? else {
            return Ok(None);
        };
        let changes = tx.open_table(CHANGES)?;
        let mut chunks = Vec::new();
        for change in changes.range((id, 0)..=(id, u64::MAX))? {
            let (key, bytes) = change?;
            chunks.push((key.value().1, bytes.value().to_vec()));
        }
        Ok(Some(StoredDoc {
            id: id.to_owned(),
            base: base.value().to_vec(),
            changes: chunks,
        }))
    }

    pub fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let states = tx.open_table(SYNC_STATES)?;
        Ok(states.get((peer, doc))?.map(|v| v.value().to_vec()))
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        Ok(meta.get(key)?.map(|v| v.value().to_vec()))
    }
}

fn write_loop(db: &Database, mut batches: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = batches.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match batches.try_recv() {
                Ok(batch) => group.push(batch),
                Err(_) => break,
            }
        }
        let result = commit(db, &group).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!("storage commit failed: {e}");
        }
        for batch in group {
            // The caller may have gone away (request cancelled); the write stands regardless.
            let _ = batch.done.send(result.clone());
        }
    }
}

fn commit(db: &Database, group: &[Batch]) -> Result<(), StoreError> {
    let mut tx = db.begin_write()?;
    tx.set_quick_repair(true);
    {
        let mut docs = tx.open_table(DOCS)?;
        let mut changes = tx.open_table(CHANGES)?;
        let mut meta = tx.open_table(META)?;
        let mut sync_states = tx.open_table(SYNC_STATES)?;
        for op in group.iter().flat_map(|b| &b.ops) {
            match op {
                Op::Append { doc, seq, bytes } => {
                    changes.insert((doc.as_str(), *seq), bytes.as_slice())?;
                }
                Op::Compact { doc, base, upto } => {
                    docs.insert(doc.as_str(), base.as_slice())?;
                    if *upto > 0 {
                        changes
                            .retain_in((doc.as_str(), 0)..(doc.as_str(), *upto), |_, _| false)?;
                    }
                }
                Op::PutMeta { key, value } => {
                    meta.insert(key.as_str(), value.as_slice())?;
                }
                Op::PutSyncState { peer, doc, state } => {
                    sync_states.insert((peer.as_str(), doc.as_str()), state.as_slice())?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// The store holds the community's data: owner-only, like the token file.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!("cannot restrict permissions of {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_and_compactions_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guild.redb");
        {
            let store = Store::open(&path).unwrap();
            store
                .write(vec![
                    Op::Compact {
                        doc: "d".into(),
                        base: b"base".to_vec(),
                        upto: 0,
                    },
                    Op::Append {
                        doc: "d".into(),
                        seq: 0,
                        bytes: b"c0".to_vec(),
                    },
                    Op::Append {
                        doc: "d".into(),
                        seq: 1,
                        bytes: b"c1".to_vec(),
                    },
                ])
                .await
                .unwrap();
            store
                .write(vec![Op::Compact {
                    doc: "d".into(),
                    base: b"base2".to_vec(),
                    upto: 1,
                }])
                .await
                .unwrap();
        }
        // The writer thread still holds the database until its channel closes; wait for it.
        let store = loop {
            match Store::open(&path) {
                Ok(store) => break store,
                Err(StoreError::InUse(_)) => tokio::task::yield_now().await,
                Err(e) => panic!("{e}"),
            }
        };
        let docs = store.load_all().unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].base, b"base2");
        assert_eq!(docs[0].changes, vec![(1, b"c1".to_vec())]);
    }

    #[tokio::test]
    async fn a_second_open_says_the_directory_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guild.redb");
        let _store = Store::open(&path).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(err.to_string().contains("another guild daemon"), "{err}");
    }
}
