//! Loading a document from stored bytes (`repo::load_stored`, what the daemon does for every
//! document at start). Input: a sequence of (u32 little-endian length, bytes) records, the
//! first the compacted base, the rest incremental changes. Nothing may panic; a document
//! that loads must save and reload to the same heads.
#![no_main]

use guild_daemon::repo::load_stored;
use guild_daemon::store::StoredDoc;
use libfuzzer_sys::fuzz_target;

fn records(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let rest = &data[4..];
        let take = len.min(rest.len());
        out.push(rest[..take].to_vec());
        data = &rest[take..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut parts = records(data).into_iter();
    let Some(base) = parts.next() else {
        return;
    };
    let stored = StoredDoc {
        id: "fuzz".into(),
        base,
        changes: parts.enumerate().map(|(i, c)| (i as u64, c)).collect(),
    };
    if let Ok(mut doc) = load_stored(&stored) {
        let heads = doc.get_heads();
        let again = StoredDoc {
            id: "fuzz".into(),
            base: doc.save(),
            changes: Vec::new(),
        };
        if !again.base.is_empty() {
            let mut reloaded =
                load_stored(&again).expect("a loaded document reloads from its save");
            assert_eq!(reloaded.get_heads(), heads);
        }
    }
});
