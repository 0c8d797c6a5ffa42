//! Peer-to-peer sync: the libp2p swarm, membership, and the sync engine.

mod capture;
mod claims;
mod dialer;
pub mod identity;
pub mod inbound;
pub mod limits;
pub mod membership;
pub mod swarm;
pub mod sync;
pub mod wire;

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use libp2p::Multiaddr;

use crate::repo::{Repo, Txn};
use crate::store::Store;
use membership::{Device, Membership};
use swarm::{NetConfig, NetEvent, NetHandle};
use sync::Engine;

/// Metadata keys of the network layer.
pub const META_SECRET: &str = "community_secret";
pub const META_PEERS: &str = "peers";
/// This member's device secret (shared only with the member's own devices).
pub const META_DEVICE_SECRET: &str = "device_secret";
/// Id of this member's private relationships document.
pub const META_PRIVATE_DOC: &str = "private_doc";
/// The invitation nonce this daemon joined with.
pub const META_INVITE: &str = "invite";

/// The membership stored in the data directory, if this daemon belongs to a community.
pub fn stored_membership(store: &Store, community: Option<&str>) -> Result<Option<Membership>> {
    let (Some(community), Some(secret)) = (community, store.meta(META_SECRET)?) else {
        return Ok(None);
    };
    let key = |bytes: Vec<u8>, what: &str| -> Result<[u8; 32]> {
        bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the stored {what} is damaged"))
    };
    let device = match (
        store.meta(META_DEVICE_SECRET)?,
        store.meta(META_PRIVATE_DOC)?,
    ) {
        (Some(secret), Some(doc)) => Some(Device {
            secret: key(secret, "device secret")?,
            private_doc: String::from_utf8(doc).context("stored private document id")?,
        }),
        _ => None,
    };
    let invite = store
        .meta(META_INVITE)?
        .map(|n| key(n, "invitation"))
        .transpose()?;
    Ok(Some(
        Membership::new(community.to_owned(), key(secret, "community secret")?)
            .with_device(device)
            .with_invite(invite),
    ))
}

/// Writes `membership` into the same durable commit as `tx`.
pub fn store_membership(tx: &mut Txn<'_>, membership: &Membership) {
    tx.put_meta(META_SECRET, membership.secret());
    if let Some(device) = &membership.device {
        tx.put_meta(META_DEVICE_SECRET, &device.secret);
        tx.put_meta(META_PRIVATE_DOC, device.private_doc.as_bytes());
    }
    if let Some(invite) = &membership.invite {
        tx.put_meta(META_INVITE, invite);
    }
}

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
                        frame,
                        channel,
                    } => {
                        tokio::spawn(engine.clone().on_request(peer, frame, channel));
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
