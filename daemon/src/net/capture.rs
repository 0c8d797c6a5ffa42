//! Recording real sync traffic as fuzzing seeds. Off unless `GUILD_CAPTURE_FRAMES` names a
//! directory: then every inbound request frame and every response to our requests is written
//! there as `request-<hash>` / `response-<hash>` (the frame body, deduplicated by content).
//! `tests/src/bin/capture_seeds.rs` runs daemons this way and turns the files into the
//! corpora under `fuzz/corpus/`. A debugging aid: the frames hold community data.

use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub const ENV: &str = "GUILD_CAPTURE_FRAMES";

fn dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var_os(ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    })
    .as_ref()
}

/// Writes `bytes` as a seed of `kind`, if capturing.
pub fn record(kind: &str, bytes: &[u8]) {
    let Some(dir) = dir() else {
        return;
    };
    let hash = Sha256::digest(bytes);
    let name: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{kind}-{name}"));
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, bytes)) {
        tracing::debug!("cannot capture {}: {e}", path.display());
    }
}
