//! Peers added with `guild peers add`: persisted, dialled at start, redialled with
//! exponential backoff whenever the connection drops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::Multiaddr;

use super::swarm::NetHandle;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(60);
/// How often a connected peer is checked for a dropped connection.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Keeps a connection to `addr` for as long as it is in `wanted`.
pub async fn keep_connected(net: NetHandle, addr: Multiaddr, wanted: Arc<Mutex<Vec<Multiaddr>>>) {
    let mut backoff = FIRST_RETRY;
    let still_wanted = || {
        wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&addr)
    };
    while still_wanted() {
        match net.dial(addr.clone()).await {
            Ok(peer) => {
                backoff = FIRST_RETRY;
                while still_wanted() && net.is_connected(&peer).await {
                    tokio::time::sleep(CHECK_EVERY).await;
                }
                tracing::info!("lost {peer} at {addr}; redialling");
            }
            Err(e) => {
                tracing::debug!("{e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_RETRY);
            }
        }
    }
}
