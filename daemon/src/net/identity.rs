//! The node's libp2p identity: an ed25519 key kept in the data directory (mode 0600).
//! Its public half is the peer id other daemons see.

use std::path::Path;

use anyhow::{Context, Result};
use libp2p::identity::Keypair;

use crate::data_dir;

pub const KEY_FILE: &str = "identity.key";

pub fn load_or_create(dir: &Path) -> Result<Keypair> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
            .with_context(|| format!("{} is not a valid identity key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair.to_protobuf_encoding()?;
            data_dir::write_private(&path, &bytes)?;
            Ok(keypair)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
