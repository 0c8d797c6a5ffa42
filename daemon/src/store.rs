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
//! - `meta_v1`: key -> bytes, the keys in [`meta`] (who this daemon is, peers to dial);
//! - `sync_states_v1`: (peer, document) -> Automerge sync state, so a reconnect resumes.
//!
//! Loading a document is `load(base)` followed by `load_incremental` of its changes in
//! sequence order. Compaction writes a new base and deletes the folded changes in the same
//! transaction, so a crash leaves either the old base plus changes or the new base.
//!
//! Faults (see the README's guarantees):
//! - every commit is two-phase, so a damaged latest commit is reported, never silently rolled
//!   back to the one before (which would drop an acknowledged write);
//! - every open verifies the checksum of every page (`set_check_integrity_on_open`): a file
//!   truncated or altered outside redb refuses to open with [`StoreError::Damaged`];
//! - a failed write (a full disk) is refused with a message saying so, and once redb has
//!   seen an I/O error every later write is refused until the daemon restarts (redb's rule:
//!   its in-memory state can no longer be trusted to match the file).
//!
//! [`Store::close`] stops the writer thread once every write sent before is committed, then
//! closes the database, so that a clean shutdown leaves a file redb opens without repair.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
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

/// The keys of the `meta_v1` table: who this daemon is. Written only by `crate::node`.
pub mod meta {
    /// The id of the community this daemon belongs to (or is joining).
    pub const COMMUNITY: &str = "community";
    /// The member this daemon acts for.
    pub const ME: &str = "me";
    /// The community secret (32 bytes).
    pub const SECRET: &str = "community_secret";
    /// This member's device secret (shared only with the member's own devices).
    pub const DEVICE_SECRET: &str = "device_secret";
    /// Id of this member's private relationships document.
    pub const PRIVATE_DOC: &str = "private_doc";
    /// The invitation nonce this daemon joined with.
    pub const INVITE: &str = "invite";
    /// Addresses kept connected (`guild peers add`, tickets), as a JSON list of multiaddrs.
    pub const PEERS: &str = "peers";
    /// Present while a daemon has the store open: found at start, the last one did not
    /// close it (a crash, a kill, a power cut).
    pub const OPEN: &str = "open";
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("another guild daemon is using this data directory ({0})")]
    InUse(String),
    #[error(
        "the store {path} is damaged ({detail}); restore it from a backup, or move the data directory aside and join the community again to re-sync from a peer"
    )]
    Damaged { path: String, detail: String },
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
    /// The disk (or the file system holding the store) is full.
    #[error("could not save the change: {0}")]
    DiskFull(String),
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
    DeleteMeta {
        key: String,
    },
    PutSyncState {
        peer: String,
        doc: String,
        state: Vec<u8>,
    },
}

struct Batch {
    ops: Vec<Op>,
    /// `None`: the store is closing; this is the last batch.
    done: Option<oneshot::Sender<Result<(), Refusal>>>,
}

impl Batch {
    fn close() -> Self {
        Self {
            ops: Vec::new(),
            done: None,
        }
    }
}

/// Why a batch was not committed, as its caller should read it.
#[derive(Clone, Debug)]
struct Refusal {
    message: String,
    /// It failed for lack of space (or after such a failure, until a restart).
    disk_full: bool,
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
    /// `None` once closed.
    db: Arc<RwLock<Option<Database>>>,
    writer: mpsc::UnboundedSender<Batch>,
    thread: Arc<Mutex<Option<thread::JoinHandle<()>>>>,
}

impl Store {
    /// Opens (or creates) the store and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut builder = Database::builder();
        // Verify every page at every open: a file damaged outside redb (a bad disk, a stray
        // write, a truncation) is refused instead of trusted. The store is small, so this
        // costs little.
        // (redb calls its repair callback for this check at every open, so whether the last
        // daemon closed the store is told by our own `meta::OPEN` marker instead.)
        builder.set_check_integrity_on_open(true);
        // `create` would initialise a fresh, empty database over a file whose header was
        // wiped, silently losing everything in it: an existing file is only ever opened.
        let existing = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let db = if existing {
            builder.open(path)
        } else {
            builder.create(path)
        }
        .map_err(|source| open_error(path, source))?;
        restrict_permissions(path);
        {
            // Create the tables so reads never meet a missing table.
            let tx = db.begin_write()?;
            tx.open_table(DOCS)?;
            tx.open_table(CHANGES)?;
            tx.open_table(SYNC_STATES)?;
            let mut table = tx.open_table(META)?;
            if table.insert(meta::OPEN, [].as_slice())?.is_some() {
                tracing::warn!(
                    "guild.redb was not closed cleanly (a crash?): its every page was checked"
                );
            }
            drop(table);
            tx.commit()?;
        }
        let db = Arc::new(RwLock::new(Some(db)));
        let (writer, batches) = mpsc::unbounded_channel();
        let thread_db = db.clone();
        let thread = thread::Builder::new()
            .name("guild-store".into())
            .spawn(move || write_loop(&thread_db, batches))
            .map_err(|e| StoreError::Redb(redb::Error::Io(e)))?;
        Ok(Self {
            db,
            writer,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Commits every write sent before, stops the writer thread and closes the database.
    /// Later reads and writes fail with [`StoreError::Stopped`]. Blocks: call it off the
    /// async workers (or at the very end).
    pub fn close(&self) {
        let _ = self.writer.send(Batch::close());
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the storage thread panicked");
        }
        let db = self.db.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(db) = db {
            if let Err(e) = remove_open_marker(&db) {
                tracing::warn!("guild.redb could not be marked closed: {e}");
            }
            if let Err(e) = db.close() {
                tracing::warn!("guild.redb was not closed cleanly: {e}");
            }
        }
    }

    /// Runs `f` on the open database.
    fn with_db<R>(
        &self,
        f: impl FnOnce(&Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        match db.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::Stopped),
        }
    }

    /// Makes `ops` durable in one transaction (possibly shared with other batches).
    pub async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send(Batch {
                ops,
                done: Some(done),
            })
            .map_err(|_| StoreError::Stopped)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Refusal {
                message,
                disk_full: true,
            })) => Err(StoreError::DiskFull(message)),
            Ok(Err(Refusal { message, .. })) => Err(StoreError::Commit(message)),
            Err(_) => Err(StoreError::Stopped),
        }
    }

    /// Every stored document with its pending changes.
    pub fn load_all(&self) -> Result<Vec<StoredDoc>, StoreError> {
        self.with_db(Self::load_all_in)
    }

    fn load_all_in(db: &Database) -> Result<Vec<StoredDoc>, StoreError> {
        let tx = db.begin_read()?;
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

    /// Ids of every stored document, sorted.
    pub fn doc_ids(&self) -> Result<Vec<String>, StoreError> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let docs = tx.open_table(DOCS)?;
            let mut ids = Vec::new();
            for entry in docs.iter()? {
                ids.push(entry?.0.value().to_owned());
            }
            Ok(ids)
        })
    }

    /// One stored document, if present.
    pub fn load(&self, id: &str) -> Result<Option<StoredDoc>, StoreError> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
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
        })
    }

    pub fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let states = tx.open_table(SYNC_STATES)?;
            Ok(states.get((peer, doc))?.map(|v| v.value().to_vec()))
        })
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let meta = tx.open_table(META)?;
            Ok(meta.get(key)?.map(|v| v.value().to_vec()))
        })
    }
}

/// Sorts an open failure into "in use", "damaged" and everything else (permissions...).
/// The last write of a clean close (see [`meta::OPEN`]).
fn remove_open_marker(db: &Database) -> Result<(), StoreError> {
    let tx = db.begin_write()?;
    tx.open_table(META)?.remove(meta::OPEN)?;
    tx.commit()?;
    Ok(())
}

fn open_error(path: &Path, source: redb::DatabaseError) -> StoreError {
    let path = path.display().to_string();
    let damaged = |detail: String| StoreError::Damaged {
        path: path.clone(),
        detail,
    };
    match source {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path),
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail)) => damaged(detail),
        redb::DatabaseError::Storage(redb::StorageError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            damaged(e.to_string())
        }
        redb::DatabaseError::UpgradeRequired(_) => damaged(source.to_string()),
        source => StoreError::Open { path, source },
    }
}

/// The I/O error behind a store error, if that is what it is.
fn io_error(e: &StoreError) -> Option<&std::io::Error> {
    match e {
        StoreError::Redb(redb::Error::Io(io)) => Some(io),
        _ => None,
    }
}

fn is_previous_io(e: &StoreError) -> bool {
    matches!(e, StoreError::Redb(redb::Error::PreviousIo))
}

/// A commit failure as the person who made the change should read it.
fn commit_error(e: &StoreError) -> Refusal {
    match io_error(e) {
        Some(io)
            if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) =>
        {
            Refusal {
                message: format!("the disk is full; free some space ({io})"),
                disk_full: true,
            }
        }
        _ => Refusal {
            message: e.to_string(),
            disk_full: false,
        },
    }
}

fn write_loop(db: &RwLock<Option<Database>>, mut batches: mpsc::UnboundedReceiver<Batch>) {
    // After an I/O error redb refuses every later write (its state may no longer match the
    // file) with "previous I/O error"; say what that error was and what to do.
    let mut first_io_error: Option<Refusal> = None;
    while let Some(first) = batches.blocking_recv() {
        let mut closing = first.done.is_none();
        let mut group = vec![first];
        while group.len() < MAX_GROUP && !closing {
            match batches.try_recv() {
                Ok(batch) => {
                    closing = batch.done.is_none();
                    group.push(batch);
                }
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let committed = {
            let db = db.read().unwrap_or_else(|e| e.into_inner());
            match db.as_ref() {
                Some(db) => commit(db, &group),
                None => Err(StoreError::Stopped),
            }
        };
        crate::metrics::store_commit(started.elapsed(), committed.is_ok());
        let result = committed.map_err(|e| {
            let refusal = commit_error(&e);
            if is_previous_io(&e) {
                let first = first_io_error.as_ref();
                Refusal {
                    message: format!(
                        "an earlier write failed ({}); nothing more can be saved until guildd is restarted",
                        first.map_or("I/O error", |r| r.message.as_str())
                    ),
                    disk_full: first.is_some_and(|r| r.disk_full),
                }
            } else {
                if io_error(&e).is_some() && first_io_error.is_none() {
                    first_io_error = Some(refusal.clone());
                }
                refusal
            }
        });
        if let Err(e) = &result {
            tracing::error!("storage commit failed: {}", e.message);
        }
        for batch in group {
            // The caller may have gone away (request cancelled); the write stands regardless.
            if let Some(done) = batch.done {
                let _ = done.send(result.clone());
            }
        }
        if closing {
            return;
        }
    }
}

fn commit(db: &Database, group: &[Batch]) -> Result<(), StoreError> {
    if group.iter().all(|b| b.ops.is_empty()) {
        return Ok(());
    }
    let mut tx = db.begin_write()?;
    tx.set_quick_repair(true);
    // Two-phase: a damaged latest commit is an error at the next open, not a silent fallback
    // to the previous commit (which would lose acknowledged writes).
    tx.set_two_phase_commit(true);
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
                Op::DeleteMeta { key } => {
                    meta.remove(key.as_str())?;
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

#[cfg(test)]
mod fault_tests {
    use super::*;

    /// A store with a few documents, closed, its file released.
    async fn filled(path: &Path) {
        let store = Store::open(path).unwrap();
        for i in 0..50u64 {
            let doc = format!("doc{}", i % 5);
            store
                .write(vec![
                    Op::Compact {
                        doc: doc.clone(),
                        base: vec![1],
                        upto: 0,
                    },
                    Op::Append {
                        doc,
                        seq: i,
                        bytes: vec![i as u8; 3000],
                    },
                ])
                .await
                .unwrap();
        }
        drop(store);
        // The writer thread lets go of the file once its channel closes.
        loop {
            match Database::builder().open(path) {
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => tokio::task::yield_now().await,
                other => break drop(other.unwrap()),
            }
        }
    }

    #[tokio::test]
    async fn a_damaged_file_is_refused_with_the_remedy() {
        type Damage = fn(&mut Vec<u8>);
        let damages: [(&str, Damage); 5] = [
            ("truncated to half", |b| b.truncate(b.len() / 2)),
            ("truncated to 1 KiB", |b| b.truncate(1024)),
            ("64 bytes flipped mid-file", |b| {
                let mid = b.len() / 2;
                b[mid..mid + 64].iter_mut().for_each(|x| *x ^= 0x5a);
            }),
            ("header wiped", |b| b[..512].fill(0)),
            ("a byte flipped in every page", |b| {
                for i in (4096..b.len()).step_by(4096) {
                    b[i + 100] ^= 0xff;
                }
            }),
        ];
        for (what, damage) in damages {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("guild.redb");
            filled(&path).await;
            let mut bytes = std::fs::read(&path).unwrap();
            damage(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            match Store::open(&path) {
                Err(e @ StoreError::Damaged { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains("is damaged"), "{what}: {message}");
                    assert!(message.contains("re-sync from a peer"), "{what}: {message}");
                    assert_eq!(message.lines().count(), 1, "{what}: {message}");
                }
                Err(e) => panic!("{what}: not reported as damage: {e}"),
                Ok(_) => panic!("{what}: the damaged store opened"),
            }
        }
    }
}
