//! Peer-to-peer sync: the libp2p swarm, membership, and the sync engine.

mod dialer;
pub mod identity;
pub mod membership;
pub mod swarm;
pub mod sync;
pub mod wire;

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use libp2p::Multiaddr;

use crate::repo::Repo;
use membership::Membership;
use swarm::{NetConfig, NetEvent, NetHandle};
use sync::Engine;

/// Metadata keys of the network layer.
pub const META_SECRET: &str = "community_secret";
pub const META_PEERS: &str = "peers";

pub struct Network {
    pub net: NetHandle,
    pub engine: Arc<Engine>,
    repo: Arc<Repo>,
    /// Addresses from `guild peers add` (and join tickets), kept connected.
    dialled: Arc<Mutex<Vec<Multiaddr>>>,
}

impl Network {
    pub fn start(
        repo: Arc<Repo>,
        config: NetConfig,
        membership: Option<Membership>,
    ) -> Result<Arc<Self>> {
        let (net, mut events) = swarm::spawn(config)?;
        let engine = Engine::new(repo.clone(), net.clone(), membership.clone());
        let network = Arc::new(Self {
            net: net.clone(),
            engine: engine.clone(),
            repo: repo.clone(),
            dialled: Arc::new(Mutex::new(Vec::new())),
        });
        tokio::spawn(async move {
            if let Some(m) = membership {
                engine.set_membership(m).await;
            }
            while let Some(event) = events.recv().await {
                match event {
                    NetEvent::Connected { peer, addr } => {
                        tokio::spawn(engine.clone().on_connected_addr(peer, addr.to_string()));
                    }
                    NetEvent::Disconnected { peer } => engine.on_disconnected(peer),
                    NetEvent::Request {
                        peer,
                        bytes,
                        channel,
                    } => {
                        tokio::spawn(engine.clone().on_request(peer, bytes, channel));
                    }
                }
            }
        });
        for addr in network.stored_peers()? {
            network.keep_connected(addr);
        }
        Ok(network)
    }

    fn stored_peers(&self) -> Result<Vec<Multiaddr>> {
        let Some(bytes) = self.repo.store().meta(META_PEERS)? else {
            return Ok(Vec::new());
        };
        let addrs: Vec<String> = serde_json::from_slice(&bytes).context("stored peer list")?;
        Ok(addrs.iter().filter_map(|a| a.parse().ok()).collect())
    }

    fn keep_connected(&self, addr: Multiaddr) {
        let mut dialled = self.dialled.lock().unwrap_or_else(|e| e.into_inner());
        if !dialled.contains(&addr) {
            dialled.push(addr.clone());
            tokio::spawn(dialer::keep_connected(
                self.net.clone(),
                addr,
                self.dialled.clone(),
            ));
        }
    }

    /// Remembers `addrs` durably and keeps them connected.
    pub async fn add_peers(&self, addrs: &[Multiaddr]) -> Result<()> {
        let mut all = self.stored_peers()?;
        for addr in addrs {
            if !all.contains(addr) {
                all.push(addr.clone());
            }
        }
        self.store_peers(&all).await?;
        for addr in addrs {
            self.keep_connected(addr.clone());
        }
        Ok(())
    }

    /// Stops dialling `addr` (an open connection stays until either side closes it).
    /// Returns false if it was not in the list.
    pub async fn remove_peer(&self, addr: &Multiaddr) -> Result<bool> {
        let mut all = self.stored_peers()?;
        let before = all.len();
        all.retain(|a| a != addr);
        self.store_peers(&all).await?;
        self.dialled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|a| a != addr);
        Ok(all.len() < before)
    }

    async fn store_peers(&self, addrs: &[Multiaddr]) -> Result<()> {
        let strings: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let mut tx = self.repo.begin(&[]).await;
        tx.put_meta(META_PEERS, &serde_json::to_vec(&strings)?);
        tx.commit().await?;
        Ok(())
    }

    pub fn peer_list(&self) -> Vec<Multiaddr> {
        self.dialled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
