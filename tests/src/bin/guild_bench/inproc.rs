//! The physical limit of Guild's stack: Automerge's own sync protocol run inside one process,
//! with no transport and no storage, on exactly the documents the daemons held.
//!
//! Documents are read from a stopped daemon's redb file with the daemon's own loader
//! (`guild_daemon::repo::load_stored`), so the comparison is on the same bytes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, Change, ChangeHash};
use crdt_model::DocKind;
use guild_daemon::store::Store;

use crate::node::wait_released;

/// Every shared document in a stopped daemon's data directory, loaded (private documents,
/// which only the member's own devices receive, are left out).
pub fn load_docs(dir: &Path) -> Result<BTreeMap<String, AutoCommit>> {
    let path = dir.join("guild.redb");
    let mut out = BTreeMap::new();
    {
        let store =
            Store::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        for stored in store.load_all()? {
            let doc = guild_daemon::repo::load_stored(&stored)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("cannot load {}", stored.id))?;
            if DocKind::of(&doc) != Some(DocKind::Relationships) {
                out.insert(stored.id, doc);
            }
        }
    }
    wait_released(dir)?;
    Ok(out)
}

/// What syncing some documents in process cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCost {
    pub time: Duration,
    /// Encoded sync-message bytes, both directions.
    pub bytes: u64,
    pub messages: u64,
    /// Most round trips any one document needed.
    pub rounds: u64,
}

/// Automerge's sync protocol between `from` and `to` (empty if `None`) until neither side has
/// anything to send. Messages are encoded and decoded, as they would be on a wire.
pub fn sync_pair(from: &AutoCommit, to: Option<&AutoCommit>) -> Result<SyncCost> {
    let mut a = from.clone();
    let mut b = to.cloned().unwrap_or_default();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let mut cost = SyncCost::default();
    let started = Instant::now();
    loop {
        let mut sent = false;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            let bytes = m.encode();
            cost.bytes += bytes.len() as u64;
            cost.messages += 1;
            b.sync()
                .receive_sync_message(&mut sb, sync::Message::decode(&bytes)?)?;
            sent = true;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            let bytes = m.encode();
            cost.bytes += bytes.len() as u64;
            cost.messages += 1;
            a.sync()
                .receive_sync_message(&mut sa, sync::Message::decode(&bytes)?)?;
            sent = true;
        }
        if !sent {
            break;
        }
        cost.rounds += 1;
    }
    cost.time = started.elapsed();
    if a.get_heads() != b.get_heads() {
        anyhow::bail!("in-process sync did not converge");
    }
    Ok(cost)
}

/// In-process reference figures for bringing `to` (the receiver's documents, possibly none)
/// up to `from` (the sender's).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference {
    pub docs: usize,
    pub changes: usize,
    /// Automerge's sync protocol, every document one after the other (median of runs).
    pub sync: SyncCost,
    /// Sum of compressed `save()` of the sender's documents.
    pub save_bytes: u64,
    /// `save()` then `load()` of every document (the snapshot path), median of runs.
    pub save_load: Duration,
}

pub fn reference(
    from: &BTreeMap<String, AutoCommit>,
    to: &BTreeMap<String, AutoCommit>,
    runs: usize,
) -> Result<Reference> {
    let mut r = Reference {
        docs: from.len(),
        ..Reference::default()
    };
    let mut sync_runs = Vec::new();
    let mut save_runs = Vec::new();
    for run in 0..runs.max(1) {
        let mut total = SyncCost::default();
        for (id, doc) in from {
            let cost = sync_pair(doc, to.get(id))?;
            total.time += cost.time;
            total.bytes += cost.bytes;
            total.messages += cost.messages;
            total.rounds = total.rounds.max(cost.rounds);
        }
        sync_runs.push(total);
        let started = Instant::now();
        let mut bytes = 0;
        for doc in from.values() {
            let mut doc = doc.clone();
            let saved = doc.save();
            bytes += saved.len() as u64;
            let loaded = AutoCommit::load(&saved)?;
            std::hint::black_box(loaded);
        }
        save_runs.push(started.elapsed());
        if run == 0 {
            r.save_bytes = bytes;
            r.changes = from
                .values()
                .map(|d| d.clone().get_changes(&[]).len())
                .sum();
        }
    }
    sync_runs.sort_by_key(|c| c.time);
    save_runs.sort();
    r.sync = sync_runs[sync_runs.len() / 2];
    r.save_load = save_runs[save_runs.len() / 2];
    Ok(r)
}

/// How long Automerge takes to apply each of `changes`, one after the other, to `base` (the
/// document as the receiving peer held it): median over `runs` fresh copies.
pub fn apply_times(base: &AutoCommit, changes: &[Change], runs: usize) -> Result<Vec<Duration>> {
    let mut per_change: Vec<Vec<Duration>> = vec![Vec::new(); changes.len()];
    for _ in 0..runs.max(1) {
        let mut doc = base.clone();
        // Warm the copy as a long-running daemon's document would be.
        std::hint::black_box(doc.get_heads());
        for (i, change) in changes.iter().enumerate() {
            let started = Instant::now();
            doc.apply_changes([change.clone()])?;
            per_change[i].push(started.elapsed());
        }
    }
    Ok(per_change
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect())
}

/// The changes with `hashes`, from `doc`.
pub fn changes_by_hash(doc: &mut AutoCommit, hashes: &[ChangeHash]) -> Result<Vec<Change>> {
    hashes
        .iter()
        .map(|h| {
            doc.get_change_by_hash(h)
                .with_context(|| format!("change {h} is not in the document"))
        })
        .collect()
}

/// The exact frame sizes of the one `Changes` push and its `Ack` that deliver each of
/// `changes` (applied in order to `base`) to a peer that held everything before it, encoded
/// with the daemon's own wire types.
pub fn push_frames(base: &AutoCommit, changes: &[Change], doc_id: &str) -> Result<Vec<(u64, u64)>> {
    use guild_daemon::net::wire::{Request, Response, encode};
    let mut doc = base.clone();
    let mut out = Vec::new();
    for change in changes {
        doc.apply_changes([change.clone()])?;
        let bytes = doc.save_after(change.deps());
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        let push = encode(&Request::Changes {
            doc: doc_id.to_owned(),
            bytes,
            heads: heads.clone(),
        })?;
        let ack = encode(&Response::Ack { heads })?;
        out.push((push.len() as u64, ack.len() as u64));
    }
    Ok(out)
}

/// The receiving daemon's in-memory work for one pushed change, step by step, in process:
/// `load_incremental` of the pushed bytes (how the daemon applies them) and the
/// `save_incremental` its repo then calls to get the bytes to store. Medians over `changes`.
pub fn receive_path(base: &AutoCommit, changes: &[Change]) -> Result<ReceivePath> {
    let mut doc = base.clone();
    // As a long-running daemon's document: saved up to here.
    doc.save_incremental();
    let (mut load, mut kind, mut save) = (Vec::new(), Vec::new(), Vec::new());
    for change in changes {
        let mut sender = doc.clone();
        sender.apply_changes([change.clone()])?;
        let bytes = sender.save_after(change.deps());
        let t = Instant::now();
        doc.load_incremental(&bytes)?;
        load.push(t.elapsed());
        // The daemon then checks the document is still of its kind (`inbound::check_kind`).
        let t = Instant::now();
        std::hint::black_box(DocKind::of(&doc));
        kind.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(doc.save_incremental());
        save.push(t.elapsed());
    }
    let med = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    Ok(ReceivePath {
        load_incremental: med(load),
        kind_check: med(kind),
        save_incremental: med(save),
    })
}

pub struct ReceivePath {
    pub load_incremental: Duration,
    pub kind_check: Duration,
    pub save_incremental: Duration,
}

/// The receiving daemon's whole in-memory step for one pushed change, with its own code: the
/// stored document loaded by `repo::load_stored` (then `save_incremental`, as the repo does),
/// `inbound::apply_changes` on the pushed bytes, then `commit` and `save_incremental` as
/// `Txn::commit` does. Median over `changes`.
pub fn daemon_receive(
    stored: &guild_daemon::store::StoredDoc,
    changes: &[Change],
) -> Result<Duration> {
    let mut doc = guild_daemon::repo::load_stored(stored).map_err(|e| anyhow!("{e}"))?;
    doc.save_incremental();
    let kind = DocKind::of(&doc).context("the document has no kind")?;
    let mut times = Vec::new();
    for change in changes {
        let mut sender = doc.clone();
        sender.apply_changes([change.clone()])?;
        let bytes = sender.save_after(change.deps());
        let t = Instant::now();
        guild_daemon::net::inbound::apply_changes(&mut doc, kind, &bytes)
            .map_err(|e| anyhow!(e))?;
        doc.commit();
        std::hint::black_box(doc.save_incremental());
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}
