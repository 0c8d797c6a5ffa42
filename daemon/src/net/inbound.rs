//! What a peer sends about a document, checked and applied: pure functions on an in-memory
//! document, so the engine and the fuzz targets (`fuzz/`) run the same code.
//!
//! Automerge's `load_incremental` skips a damaged tail with only a log line and accepts
//! bytes that are no chunks at all as "nothing new". From a peer that would hide a bug or an
//! attack behind an acknowledgement, so change bytes are first split into their chunks and
//! each one is checked: known type, intact, its checksum matching its content.

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, Change, ChangeHash, LoadOptions, OnPartialLoad};
use crdt_model::DocKind;

/// Automerge's chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;

/// Checks that `bytes` is a sequence of whole, intact Automerge chunks (changes, or whole
/// documents as in a snapshot); returns how many.
pub fn check_chunks(mut bytes: &[u8]) -> Result<usize, String> {
    let mut count = 0;
    while !bytes.is_empty() {
        let (chunk, rest) = next_chunk(bytes)?;
        check_chunk(chunk)?;
        bytes = rest;
        count += 1;
    }
    Ok(count)
}

/// Splits off the first chunk: magic, checksum (4), type (1), uLEB128 length, data.
fn next_chunk(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    if bytes.len() < 9 || bytes[..4] != MAGIC {
        return Err("not an Automerge chunk".into());
    }
    let (len, used) = uleb128(&bytes[9..]).ok_or("bad chunk length")?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| (9 + used).checked_add(len))
        .filter(|end| *end <= bytes.len())
        .ok_or("truncated chunk")?;
    Ok(bytes.split_at(end))
}

fn check_chunk(chunk: &[u8]) -> Result<(), String> {
    match chunk[8] {
        CHANGE | COMPRESSED_CHANGE => {
            let change = Change::try_from(chunk).map_err(|e| format!("bad change: {e}"))?;
            // The header's checksum is the first 4 bytes of the change's hash.
            if change.hash().0[..4] != chunk[4..8] {
                return Err("change checksum mismatch".into());
            }
            Ok(())
        }
        DOCUMENT => {
            let options = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
            AutoCommit::load_with_options(chunk, options)
                .map(drop)
                .map_err(|e| format!("bad document chunk: {e}"))
        }
        other => Err(format!("unexpected chunk type {other}")),
    }
}

/// Applies change bytes (a `save_after` chunk or a snapshot) from a peer to `doc`, which must
/// stay a document of kind `expected`. On error `doc` may hold part of the bytes: the caller
/// drops the change (the repo's transaction rolls back).
pub fn apply_changes(
    doc: &mut AutoCommit,
    expected: DocKind,
    bytes: &[u8],
) -> Result<Vec<ChangeHash>, String> {
    check_chunks(bytes)?;
    doc.load_incremental(bytes)
        .map_err(|e| format!("bad changes: {e}"))?;
    check_kind(doc, Some(expected))?;
    Ok(doc.get_heads())
}

/// Decodes a sync-protocol message from a peer (before any lock is taken for it).
pub fn decode_sync(bytes: &[u8]) -> Result<sync::Message, String> {
    let message =
        sync::Message::decode(bytes).map_err(|e| format!("malformed sync message: {e}"))?;
    for have in &message.have {
        check_bloom(&have.bloom.to_bytes())?;
    }
    Ok(message)
}

/// Probes and bits per entry of an honest Bloom filter (Automerge uses 7 and 10).
const MAX_BLOOM_PARAMETER: u64 = 64;

/// Automerge trusts a Bloom filter's parameters: zero bits makes it divide by zero (a panic,
/// found by the `sync_message` fuzz target), and a huge probe count makes it allocate and
/// loop without end. Refuse such a filter before Automerge reads it.
fn check_bloom(bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(()); // The empty filter.
    }
    let mut rest = bytes;
    let mut fields = [0u64; 3]; // entries, bits per entry, probes
    for field in &mut fields {
        let (value, used) = uleb128(rest).ok_or("malformed Bloom filter")?;
        *field = value;
        rest = &rest[used..];
    }
    let [_, bits_per_entry, probes] = fields;
    if rest.is_empty()
        || !(1..=MAX_BLOOM_PARAMETER).contains(&bits_per_entry)
        || !(1..=MAX_BLOOM_PARAMETER).contains(&probes)
    {
        return Err("malformed sync message: Bloom filter out of bounds".into());
    }
    Ok(())
}

/// An unsigned LEB128 number and how many bytes it took.
fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Receives one sync-protocol message for `doc`, which must stay of kind `expected`.
pub fn receive_sync(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    expected: Option<DocKind>,
    message: sync::Message,
) -> Result<(), String> {
    doc.sync()
        .receive_sync_message(state, message)
        .map_err(|e| format!("bad sync message: {e}"))?;
    check_kind(doc, expected)
}

fn check_kind(doc: &AutoCommit, expected: Option<DocKind>) -> Result<(), String> {
    match (DocKind::of(doc), expected) {
        (found, Some(expected)) if found == Some(expected) => Ok(()),
        (_, Some(expected)) => Err(format!("is not a {expected} document")),
        (_, None) => Err("is not a known document".into()),
    }
}

#[cfg(test)]
mod tests {
    use automerge::ROOT;
    use automerge::transaction::Transactable;

    use super::*;

    fn member_doc() -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "kind", "member").unwrap();
        doc.put(ROOT, "name", "Ada").unwrap();
        doc
    }

    #[test]
    fn real_changes_and_snapshots_pass() {
        let mut doc = member_doc();
        let snapshot = doc.save();
        assert_eq!(check_chunks(&snapshot), Ok(1));
        let heads = doc.get_heads();
        doc.put(ROOT, "team", "Platform").unwrap();
        doc.put(ROOT, "role", "PM").unwrap();
        doc.commit();
        let changes = doc.save_after(&heads);
        assert!(check_chunks(&changes).is_ok());
        let mut copy = AutoCommit::load(&snapshot).unwrap();
        let applied = apply_changes(&mut copy, DocKind::Member, &changes).unwrap();
        assert_eq!(applied, doc.get_heads());
    }

    #[test]
    fn bloom_filters_automerge_would_choke_on_are_refused() {
        // entries 1, bits per entry 0, probes 7, one byte of bits: modulo zero in Automerge.
        assert!(check_bloom(&[1, 0, 7, 0xff]).is_err());
        // 2^32 - 1 probes: Automerge would allocate and loop for each.
        assert!(check_bloom(&[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff]).is_err());
        assert!(check_bloom(&[1, 10, 7, 0x12, 0x34]).is_ok());
        assert!(check_bloom(&[]).is_ok());
        // The fuzzer's find, in a whole message.
        let mut doc = member_doc();
        let mut state = sync::State::new();
        let real = doc.sync().generate_sync_message(&mut state).unwrap();
        assert!(decode_sync(&real.encode()).is_ok());
    }

    #[test]
    fn garbage_truncation_and_wrong_kinds_are_refused() {
        let mut doc = member_doc();
        let changes = doc.save_after(&[]);
        assert!(check_chunks(&[0x55; 100]).is_err(), "garbage");
        assert!(
            check_chunks(&changes[..changes.len() - 1]).is_err(),
            "truncated"
        );
        let mut flipped = changes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(check_chunks(&flipped).is_err(), "flipped");
        let mut tail = changes.clone();
        tail.extend([0x85, 0x6f]);
        assert!(check_chunks(&tail).is_err(), "garbage tail");
        let mut other = AutoCommit::new();
        assert!(apply_changes(&mut other, DocKind::Community, &changes).is_err());
    }
}
