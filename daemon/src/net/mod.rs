//! Peer-to-peer sync: the libp2p swarm, membership, and the sync engine.
//!
//! The engine is a pure core (`core`: peers and abuse policy, access, dialling, what to
//! send) driven by a thin async shell (`shell`) over a [`transport::Transport`] (the libp2p
//! swarm, `swarm`); document work runs on the blocking pool (`docwork`). `sim` runs many
//! cores under a deterministic scheduler in the tests.

mod capture;
pub mod core;
pub mod docwork;
pub mod gate;
pub mod hubs;
pub mod identity;
pub mod inbound;
pub mod limits;
pub mod membership;
pub mod pending;
pub mod shell;
#[cfg(test)]
mod sim;
pub mod swarm;
pub mod transport;
pub mod wire;

use std::sync::Arc;

use anyhow::Result;
use libp2p::{Multiaddr, PeerId};

use crate::repo::Repo;
use membership::Membership;

/// Where `api::relationships` finds our private document's id (the key lives with the
/// store's tables, `store::meta`).
pub use crate::store::meta::PRIVATE_DOC as META_PRIVATE_DOC;
use shell::{Engine, EngineReport};
use swarm::{NetConfig, NetHandle};

/// The swarm and the engine on it.
pub struct Network {
    engine: Engine,
    net: NetHandle,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Network {
    /// Starts the swarm and the engine.
    pub fn start(
        repo: Arc<Repo>,
        config: NetConfig,
        membership: Option<Membership>,
    ) -> Result<Arc<Self>> {
        let (net, events, swarm_task) = swarm::spawn(config)?;
        let core = core::Core::new(net.local_peer_id, membership, rand::random());
        let (engine, engine_task) = shell::spawn(core, net.clone(), events, repo);
        Ok(Arc::new(Self {
            engine,
            net,
            tasks: std::sync::Mutex::new(vec![swarm_task, engine_task]),
        }))
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.net.local_peer_id
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub async fn report(&self) -> EngineReport {
        self.engine.report().await
    }

    /// The swarm as it stands: listeners, connections and how each peer is reached,
    /// reachability, hubs and reservations.
    pub async fn info(&self) -> swarm::NetInfo {
        self.net.info().await.unwrap_or_default()
    }

    /// Where the swarm listens (actual addresses, ports resolved).
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.net
            .info()
            .await
            .map(|i| i.listen_addrs)
            .unwrap_or_default()
    }

    /// Stops the engine (and what it has under way) and the swarm (every connection and
    /// listener), and waits for both.
    pub async fn shutdown(&self) {
        self.engine.shutdown().await;
        self.net.shutdown().await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}
