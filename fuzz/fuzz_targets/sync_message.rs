//! Handling an incoming sync message for a document: a request body from a peer, decoded,
//! size-checked, and (for changes and sync-protocol messages) applied to real Guild
//! documents exactly as the engine does (`net::inbound`). Nothing may panic, and whatever is
//! accepted must leave a document of the right kind that saves and loads to the same heads.
#![no_main]

use std::sync::LazyLock;

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use crdt_model::member::{Member, Profile};
use crdt_model::{DocKind, GuildDoc};
use guild_daemon::net::wire::{self, Request};
use guild_daemon::net::{inbound, limits};
use libfuzzer_sys::fuzz_target;

/// An empty document (what a snapshot of a new document lands in) and a member's document.
static FIXTURES: LazyLock<Vec<(AutoCommit, DocKind)>> = LazyLock::new(|| {
    let mut member = AutoCommit::new();
    let profile = Profile {
        name: Some("Ada".into()),
        team: Some("Platform".into()),
        ..Profile::default()
    };
    Member::new("3vQB7B6MrGQZaxCuFg4oh", &profile, "2026-01-01")
        .and_then(|m| m.write(&mut member))
        .expect("a member document");
    vec![
        (AutoCommit::new(), DocKind::Member),
        (member, DocKind::Member),
    ]
});

/// An accepted change leaves a document of its kind that saves and reloads intact.
fn check(doc: &mut AutoCommit, kind: DocKind) {
    assert_eq!(DocKind::of(doc), Some(kind));
    let heads = doc.get_heads();
    let mut reloaded = AutoCommit::load(&doc.save()).expect("an accepted document reloads");
    assert_eq!(reloaded.get_heads(), heads);
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = wire::decode::<Request>(data) else {
        return;
    };
    if limits::check_request(&request).is_err() {
        return; // Refused before any work, as in the engine.
    }
    match request {
        Request::Changes { bytes, .. } => {
            for (fixture, kind) in FIXTURES.iter() {
                let mut doc = fixture.clone();
                if inbound::apply_changes(&mut doc, *kind, &bytes).is_ok() {
                    check(&mut doc, *kind);
                }
            }
        }
        Request::Sync { message, .. } => {
            let Ok(message) = inbound::decode_sync(&message) else {
                return;
            };
            for (fixture, kind) in FIXTURES.iter() {
                let mut doc = fixture.clone();
                let mut state = sync::State::new();
                if inbound::receive_sync(&mut doc, &mut state, Some(*kind), message.clone()).is_ok()
                {
                    check(&mut doc, *kind);
                    // The reply a daemon would send, and the state it would persist.
                    let _ = doc.sync().generate_sync_message(&mut state);
                    let _ = sync::State::decode(&state.encode()).expect("state round-trips");
                }
            }
        }
        Request::Pull { heads, .. } => {
            // What answering a pull computes from the peer's heads.
            let heads: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
            for (fixture, _) in FIXTURES.iter() {
                let mut doc = fixture.clone();
                let _ = doc.save_after(&heads);
            }
        }
        Request::Hello { .. }
        | Request::Digest { .. }
        | Request::Want { .. }
        | Request::Summary { .. }
        | Request::Have { .. } => {}
    }
});
