//! Who this daemon is: its peer id, the community it belongs to, the member it acts for,
//! its membership secrets and its devices. One owner for all of it: `init`, `join`, device
//! linking, invitations and status call [`Node`]; the API handlers never reach into the
//! network, and each fact is kept once (in the store's `meta` table, mirrored here and in
//! the engine, both updated only by this module).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use crdt_model::api::{InviteInfo, MemberRef};
use crdt_model::community::{Community, Invitation, LogEntry};
use crdt_model::member::Member;
use crdt_model::relationships::Relationships;
use crdt_model::{DocKind, GuildDoc, ModelError};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use thiserror::Error;
use time::OffsetDateTime;

use crate::net::Network;
use crate::net::hubs::peer_in;
use crate::net::membership::{Device, DeviceCode, Membership, Ticket, invite_hash};
use crate::net::shell::EngineReport;
use crate::net::swarm::NetConfig;
use crate::repo::{Repo, RepoError, Txn};
use crate::store::{Store, StoreError, meta};

/// How long `guild join` waits for the community to arrive from the inviter.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an invitation (or a device-link code) stays good unless told otherwise.
pub const INVITE_DAYS: i64 = 7;
/// The longest an invitation may stay good.
pub const MAX_INVITE_DAYS: i64 = 365;
/// The most daemons one invitation may admit.
pub const MAX_INVITE_USES: u64 = 1_000;

/// Which community this daemon belongs to and which member it acts for.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub community: Option<String>,
    pub me: Option<String>,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("this daemon has no community yet; run `guild init` or `guild join`")]
    NotInitialised,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The inviter's daemon refused us, saying why.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Timeout(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Node {
    repo: Arc<Repo>,
    network: Arc<Network>,
    identity: RwLock<Identity>,
    /// One `init`, `join` or device join at a time, so two cannot both pass the "not a
    /// member yet" check.
    joining: tokio::sync::Mutex<()>,
}

impl Node {
    /// Reads who we are from the store and starts the network.
    pub fn start(repo: Arc<Repo>, config: NetConfig) -> anyhow::Result<Arc<Self>> {
        let store = repo.store();
        let identity = Identity {
            community: meta_string(store, meta::COMMUNITY)?,
            me: meta_string(store, meta::ME)?,
        };
        let membership = stored_membership(store, identity.community.as_deref())?;
        let kept = stored_peers(store)?;
        let network = Network::start(repo.clone(), config, membership)?;
        for addr in kept {
            network.engine().keep(addr);
        }
        Ok(Arc::new(Self {
            repo,
            network,
            identity: RwLock::new(identity),
            joining: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn identity(&self) -> Identity {
        self.identity
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_identity(&self, f: impl FnOnce(&mut Identity)) {
        f(&mut self.identity.write().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn peer_id(&self) -> PeerId {
        self.network.local_peer_id()
    }

    pub fn community_id(&self) -> Result<String, NodeError> {
        self.identity().community.ok_or(NodeError::NotInitialised)
    }

    pub fn me(&self) -> Result<String, NodeError> {
        self.identity().me.ok_or(NodeError::NotInitialised)
    }

    fn membership(&self) -> Result<Membership, NodeError> {
        stored_membership(self.repo.store(), self.identity().community.as_deref())
            .map_err(|e| NodeError::Conflict(e.to_string()))?
            .ok_or(NodeError::NotInitialised)
    }

    /// Creates the community, with us as its first member.
    pub async fn init(&self, community: Community, me: Member) -> Result<(), NodeError> {
        let _one = self.joining.lock().await;
        if let Some(existing) = self.identity().community {
            // Also covers a join in progress.
            return Err(NodeError::Conflict(format!(
                "this daemon already belongs to community {existing}"
            )));
        }
        let membership =
            Membership::new(community.id.clone(), rand::random()).with_device(Some(new_device()));
        let member_id = me.id.clone();
        let mut tx = self.repo.begin(&[]).await;
        community.write(tx.create(&community.id)?)?;
        self.create_member(&mut tx, me, &membership)?;
        tx.put_meta(meta::COMMUNITY, community.id.as_bytes());
        store_membership(&mut tx, &membership);
        tx.commit().await?;
        self.set_identity(|i| {
            i.community = Some(community.id.clone());
            i.me = Some(member_id);
        });
        self.network.engine().set_membership(Some(membership));
        Ok(())
    }

    /// Joins the ticket's community as a new member `me`: fetches the community from the
    /// inviter, then adds our member document.
    pub async fn join(&self, ticket: &Ticket, mut me: Member) -> Result<(), NodeError> {
        let _one = self.joining.lock().await;
        self.check_can_join(&ticket.community)?;
        me.buddy = None; // Chosen once the directory has arrived.
        // Keep the device secret of an earlier attempt that timed out.
        let device = stored_membership(self.repo.store(), Some(&ticket.community))
            .ok()
            .flatten()
            .and_then(|m| m.device)
            .unwrap_or_else(new_device);
        let membership = Membership::new(ticket.community.clone(), ticket.secret)
            .with_invite(Some(ticket.invite))
            .with_device(Some(device));
        self.connect_and_fetch(ticket, membership.clone(), &[&ticket.community])
            .await?;
        let community_id = &ticket.community;
        let member_id = me.id.clone();
        let peer = self.peer_id().to_string();
        let now = crdt_model::when::format(crate::clock::now());
        let mut tx = self.repo.begin(&[community_id]).await;
        Community::update(tx.doc(community_id)?, |c| {
            c.index(&member_id, DocKind::Member);
            // Our use of the invitation, for every daemon to count.
            if let Some(invite) = c.invites.get_mut(&invite_hash(&ticket.invite)) {
                invite.record_use(&peer, &now);
            }
            Ok(())
        })?;
        self.create_member(&mut tx, me, &membership)?;
        tx.commit().await?;
        self.set_identity(|i| i.me = Some(member_id));
        Ok(())
    }

    /// A code for another of my devices: an invitation plus my device secret.
    pub async fn link_device(&self) -> Result<DeviceCode, NodeError> {
        let ticket = self.invite(1, None).await?;
        let device = self
            .membership()?
            .device
            .ok_or_else(|| NodeError::Conflict("this daemon has no device secret".into()))?;
        Ok(DeviceCode {
            ticket,
            member: self.me()?,
            device,
        })
    }

    /// Makes this (fresh) daemon another device of the member in the code.
    pub async fn join_device(&self, code: &DeviceCode) -> Result<(), NodeError> {
        let _one = self.joining.lock().await;
        self.check_can_join(&code.ticket.community)?;
        let membership = Membership::new(code.ticket.community.clone(), code.ticket.secret)
            .with_invite(Some(code.ticket.invite))
            .with_device(Some(code.device.clone()));
        self.connect_and_fetch(
            &code.ticket,
            membership,
            &[&code.ticket.community, &code.member],
        )
        .await?;
        // Register this daemon among the member's devices, so every member admits it.
        let now = crdt_model::when::format(crate::clock::now());
        let peer = self.peer_id().to_string();
        let community = &code.ticket.community;
        let mut tx = self.repo.begin(&[&code.member, community]).await;
        Member::update(tx.doc(&code.member)?, |m| {
            m.devices.insert(peer.clone(), now.clone());
            Ok(())
        })?;
        Community::update(tx.doc(community)?, |c| {
            if let Some(invite) = c.invites.get_mut(&invite_hash(&code.ticket.invite)) {
                invite.record_use(&peer, &now);
            }
            Ok(())
        })?;
        tx.put_meta(meta::ME, code.member.as_bytes());
        tx.commit().await?;
        self.set_identity(|i| i.me = Some(code.member.clone()));
        Ok(())
    }

    /// Refuses to join when this daemon already belongs somewhere.
    fn check_can_join(&self, community: &str) -> Result<(), NodeError> {
        let identity = self.identity();
        if let Some(me) = identity.me {
            return Err(NodeError::Conflict(format!(
                "this daemon already belongs to community {} as member {me}",
                identity.community.unwrap_or_default()
            )));
        }
        if identity.community.as_ref().is_some_and(|c| c != community) {
            return Err(NodeError::Conflict(
                "this daemon is already joining another community".into(),
            ));
        }
        Ok(())
    }

    /// Becomes a member of the ticket's community (the secret is what lets the inviter's
    /// daemon talk to us), dials the inviter, and waits until `docs` have arrived, or the
    /// inviter refuses us.
    async fn connect_and_fetch(
        &self,
        ticket: &Ticket,
        membership: Membership,
        docs: &[&str],
    ) -> Result<(), NodeError> {
        let addrs: Vec<Multiaddr> = ticket.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        if addrs.is_empty() {
            return Err(NodeError::BadInput(
                "the ticket holds no address to reach the inviter".into(),
            ));
        }
        let inviters: Vec<PeerId> = addrs.iter().filter_map(peer_in).collect();
        let mut refusals = self.network.engine().refusals();
        let mut tx = self.repo.begin(&[]).await;
        tx.put_meta(meta::COMMUNITY, ticket.community.as_bytes());
        store_membership(&mut tx, &membership);
        tx.commit().await?;
        self.set_identity(|i| i.community = Some(ticket.community.clone()));
        self.network.engine().set_membership(Some(membership));
        self.add_peers(&addrs).await?;
        for doc in docs {
            match self.wait_for_doc(doc, &inviters, &mut refusals).await {
                Ok(()) => {}
                Err(NodeError::Refused(why)) => {
                    self.abandon_join(&addrs).await?;
                    return Err(NodeError::Refused(why));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The inviter refused us: forget the join, so that another ticket can be used.
    async fn abandon_join(&self, addrs: &[Multiaddr]) -> Result<(), NodeError> {
        for addr in addrs {
            self.remove_peer(addr).await?;
        }
        let mut tx = self.repo.begin(&[]).await;
        for key in [meta::COMMUNITY, meta::SECRET, meta::INVITE] {
            tx.delete_meta(key);
        }
        tx.commit().await?;
        self.set_identity(|i| i.community = None);
        self.network.engine().set_membership(None);
        Ok(())
    }

    async fn wait_for_doc(
        &self,
        id: &str,
        inviters: &[PeerId],
        refusals: &mut tokio::sync::broadcast::Receiver<crate::net::shell::Refusal>,
    ) -> Result<(), NodeError> {
        let mut changes = self.repo.subscribe();
        let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
        while !self.repo.contains(id) {
            tokio::select! {
                _ = changes.recv() => {}
                refusal = refusals.recv() => {
                    // The inviter's refusal ends the join. A hub the ticket names may not
                    // have the invitation yet: its refusal that may pass does not.
                    if let Ok(r) = refusal
                        && (inviters.is_empty() || inviters.contains(&r.peer))
                        && !(r.temporary && inviters.first() != Some(&r.peer))
                    {
                        return Err(NodeError::Refused(r.reason));
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(NodeError::Timeout(format!(
                        "could not fetch the community from the inviter within {}s; guildd keeps trying: run the same `guild join` again once the inviter's daemon is reachable",
                        JOIN_TIMEOUT.as_secs()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Creates the local member's documents in `tx`: the member document listing this
    /// daemon as one of their devices, and their private relationships document.
    fn create_member(
        &self,
        tx: &mut Txn<'_>,
        mut me: Member,
        membership: &Membership,
    ) -> Result<(), NodeError> {
        let now = crdt_model::when::format(crate::clock::now());
        me.devices.insert(self.peer_id().to_string(), now);
        me.write(tx.create(&me.id)?)?;
        tx.put_meta(meta::ME, me.id.as_bytes());
        if let Some(device) = &membership.device {
            Relationships::new(&device.private_doc, &me.id)
                .write(tx.create(&device.private_doc)?)?;
        }
        Ok(())
    }

    // ----- invitations -----

    /// Opens an invitation good for `uses` daemons until `expires` (default: a week) and
    /// returns a ticket carrying its nonce.
    pub async fn invite(&self, uses: u64, expires: Option<&str>) -> Result<Ticket, NodeError> {
        let community_id = self.community_id()?;
        let me = self.me()?;
        let membership = self.membership()?;
        if !(1..=MAX_INVITE_USES).contains(&uses) {
            return Err(NodeError::BadInput(format!(
                "--uses must be between 1 and {MAX_INVITE_USES}"
            )));
        }
        let now = crate::clock::now();
        let expires = match expires {
            Some(text) => parse_expiry(text, now)?,
            None => now + time::Duration::days(INVITE_DAYS),
        };
        let nonce: [u8; 32] = rand::random();
        let invitation = Invitation::new(&me, &crdt_model::when::format(expires), uses)?;
        let mut tx = self.repo.begin(&[&community_id]).await;
        Community::update(tx.doc(&community_id)?, |c| {
            c.invites.insert(invite_hash(&nonce), invitation);
            Ok(())
        })?;
        tx.commit().await?;
        let peer_id = self.peer_id();
        // Where the newcomer may reach us, then the community's hubs (reachable from
        // anywhere, and members: they admit the newcomer on this invitation too).
        let mut addrs: Vec<String> = self
            .network
            .listen_addrs()
            .await
            .into_iter()
            .map(|a| match a.iter().last() {
                // A relay circuit address already ends with our peer id.
                Some(Protocol::P2p(_)) => a.to_string(),
                _ => a.with(Protocol::P2p(peer_id)).to_string(),
            })
            .collect();
        let community = self.repo.view::<Community>(&community_id).await;
        if let Some(Ok(community)) = community {
            addrs.extend(
                community
                    .hubs
                    .keys()
                    .filter(|h| !h.ends_with(&format!("/p2p/{peer_id}")))
                    .cloned(),
            );
        }
        Ok(Ticket {
            community: community_id,
            secret: *membership.secret(),
            addrs,
            invite: nonce,
        })
    }

    /// Every invitation the community document lists, newest expiry first.
    pub async fn invitations(&self) -> Result<Vec<InviteInfo>, NodeError> {
        let community = self.community().await?;
        let members = self.members(&community).await;
        let names: BTreeMap<String, String> = members
            .iter()
            .map(|m| (m.id.clone(), m.name.clone()))
            .collect();
        let removed: Vec<&str> = members
            .iter()
            .filter(|m| m.removed)
            .flat_map(|m| m.devices.keys().map(String::as_str).chain([m.id.as_str()]))
            .collect();
        let now = crate::clock::now();
        let mut out: Vec<InviteInfo> = community
            .invites
            .iter()
            .map(|(hash, inv)| InviteInfo {
                id: short_id(hash),
                by: MemberRef {
                    id: inv.by.clone(),
                    name: names
                        .get(&inv.by)
                        .cloned()
                        .unwrap_or_else(|| inv.by.clone()),
                },
                expires: inv.expires.clone(),
                uses: inv.uses,
                used: inv.used_by.len() as u64,
                state: invite_state(inv, &removed, now).into(),
            })
            .collect();
        out.sort_by(|a, b| b.expires.cmp(&a.expires).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Revokes one invitation (its issuer or a steward may) or every open one (stewards
    /// only). Returns the ids revoked.
    pub async fn revoke(&self, id: Option<&str>, all: bool) -> Result<Vec<String>, NodeError> {
        let community_id = self.community_id()?;
        let me = self.me()?;
        let community = self.community().await?;
        let now = crate::clock::now();
        // Stewards as the model says (council leads; the founder before the first term).
        let steward = community.is_steward(&me, now.date());
        let hashes: Vec<String> = match (id.map(str::trim), all) {
            (Some(_), true) => {
                return Err(NodeError::BadInput(
                    "give an invitation id or --all, not both".into(),
                ));
            }
            (None, false) => {
                return Err(NodeError::BadInput(
                    "say which invitation to revoke (see `guild invite list`), or --all".into(),
                ));
            }
            (None, true) => {
                if !steward {
                    return Err(NodeError::Forbidden(
                        "only a steward (a council lead of the current term, or the founder before the first term) can revoke every invitation".into(),
                    ));
                }
                community
                    .invites
                    .iter()
                    .filter(|(_, inv)| {
                        inv.revoked.is_none()
                            && crdt_model::when::parse("expires", &inv.expires)
                                .is_ok_and(|e| e > now)
                    })
                    .map(|(h, _)| h.clone())
                    .collect()
            }
            (Some(prefix), false) => {
                if prefix.len() < 4 {
                    return Err(NodeError::BadInput(
                        "an invitation id needs at least 4 characters".into(),
                    ));
                }
                let found: Vec<&String> = community
                    .invites
                    .keys()
                    .filter(|h| h.starts_with(prefix))
                    .collect();
                let hash = match found.as_slice() {
                    [one] => (*one).clone(),
                    [] => return Err(NodeError::NotFound(format!("no invitation {prefix:?}"))),
                    _ => {
                        return Err(NodeError::Conflict(format!(
                            "{prefix:?} matches {} invitations; give more of the id",
                            found.len()
                        )));
                    }
                };
                let by = community.invites.get(&hash).map(|i| i.by.clone());
                if by.as_deref() != Some(me.as_str()) && !steward {
                    return Err(NodeError::Forbidden(
                        "only whoever issued an invitation, or a steward, can revoke it".into(),
                    ));
                }
                vec![hash]
            }
        };
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let when = crdt_model::when::format(now);
        let mut tx = self.repo.begin(&[&community_id]).await;
        let ids: Vec<String> = hashes.iter().map(|h| short_id(h)).collect();
        Community::update(tx.doc(&community_id)?, |c| {
            for hash in &hashes {
                if let Some(inv) = c.invites.get_mut(hash) {
                    inv.revoke(&when);
                }
            }
            // Revoking is a steward's act (or an issuer's): it goes in the change log.
            c.record(
                &crate::api::state::new_id(),
                LogEntry {
                    at: when.clone(),
                    by: me.clone(),
                    action: "invitation.revoked".into(),
                    subject: ids.join(","),
                    summary: match ids.as_slice() {
                        [one] => format!("revoked invitation {one}"),
                        many => format!("revoked {} invitations", many.len()),
                    },
                },
            );
            Ok(())
        })?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn community(&self) -> Result<Arc<Community>, NodeError> {
        let id = self.community_id()?;
        self.repo
            .view::<Community>(&id)
            .await
            .transpose()?
            .ok_or_else(|| NodeError::Conflict("the community has not arrived yet".into()))
    }

    async fn members(&self, community: &Community) -> Vec<Arc<Member>> {
        let mut members = Vec::new();
        for id in community.docs_of(DocKind::Member) {
            if let Some(Ok(m)) = self.repo.view::<Member>(id).await {
                members.push(m);
            }
        }
        members
    }

    // ----- peers -----

    /// Remembers `addrs` durably and keeps them connected.
    pub async fn add_peers(&self, addrs: &[Multiaddr]) -> Result<(), NodeError> {
        let mut all =
            stored_peers(self.repo.store()).map_err(|e| NodeError::Conflict(e.to_string()))?;
        for addr in addrs {
            if !all.contains(addr) {
                all.push(addr.clone());
            }
        }
        self.store_peers(&all).await?;
        for addr in addrs {
            self.network.engine().keep(addr.clone());
        }
        Ok(())
    }

    /// Stops dialling `addr` (an open connection stays until either side closes it).
    /// Returns false if it was not in the list.
    pub async fn remove_peer(&self, addr: &Multiaddr) -> Result<bool, NodeError> {
        let mut all =
            stored_peers(self.repo.store()).map_err(|e| NodeError::Conflict(e.to_string()))?;
        let before = all.len();
        all.retain(|a| a != addr);
        self.store_peers(&all).await?;
        self.network.engine().forget(addr.clone());
        Ok(all.len() < before)
    }

    async fn store_peers(&self, addrs: &[Multiaddr]) -> Result<(), NodeError> {
        let strings: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let bytes = serde_json::to_vec(&strings).unwrap_or_default();
        let mut tx = self.repo.begin(&[]).await;
        tx.put_meta(meta::PEERS, &bytes);
        tx.commit().await?;
        Ok(())
    }

    /// Peers, addresses kept, and our heads, for status pages.
    pub async fn report(&self) -> EngineReport {
        self.network.report().await
    }

    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.network.listen_addrs().await
    }

    /// The swarm as it stands (paths to peers, reachability, hubs, reservations).
    pub async fn net_info(&self) -> crate::net::swarm::NetInfo {
        self.network.info().await
    }

    /// Stops the engine and the swarm.
    pub async fn shutdown(&self) {
        self.network.shutdown().await;
    }
}

/// A fresh device secret and private document id for a new member.
pub fn new_device() -> Device {
    Device {
        secret: rand::random(),
        private_doc: crdt_model::DocId::from_random(rand::random()).to_string(),
    }
}

/// The first characters of an invitation's hash: enough to name it.
fn short_id(hash: &str) -> String {
    hash.chars().take(8).collect()
}

/// How `guild invite list` describes an invitation, by the same rules as the roster.
/// `removed`: ids and device peer ids of removed members.
fn invite_state(inv: &Invitation, removed: &[&str], now: OffsetDateTime) -> &'static str {
    // A time that does not parse admits nobody, as the roster judges it.
    let expired = crdt_model::when::parse("expires", &inv.expires)
        .ok()
        .is_none_or(|e| e <= now);
    let revoked = inv.revoked.is_some()
        || removed.contains(&inv.by.as_str())
        || inv.used_by.keys().any(|p| removed.contains(&p.as_str()));
    if revoked {
        "revoked"
    } else if expired {
        "expired"
    } else if inv.used_by.len() as u64 >= inv.uses {
        "used up"
    } else {
        "open"
    }
}

/// An expiry as people type it: a duration from now (`90m`, `12h`, `7d`, `2w`) or an RFC
/// 3339 time.
pub fn parse_expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, NodeError> {
    let text = text.trim();
    let bad = || {
        NodeError::BadInput(format!(
            "{text:?} is not an expiry like 90m, 12h, 7d, 2w or 2026-12-01T18:00:00Z"
        ))
    };
    let at = if let Ok(t) = crdt_model::when::parse("expires", text) {
        t
    } else {
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = text.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad())?;
        let span = match unit.trim() {
            "m" | "min" => time::Duration::minutes(n),
            "h" => time::Duration::hours(n),
            "d" => time::Duration::days(n),
            "w" => time::Duration::weeks(n),
            _ => return Err(bad()),
        };
        now + span
    };
    if at <= now {
        return Err(NodeError::BadInput(format!(
            "the expiry {text:?} is in the past"
        )));
    }
    if at > now + time::Duration::days(MAX_INVITE_DAYS) {
        return Err(NodeError::BadInput(format!(
            "an invitation can stay open for at most {MAX_INVITE_DAYS} days"
        )));
    }
    Ok(at)
}

fn meta_string(store: &Store, key: &str) -> anyhow::Result<Option<String>> {
    store
        .meta(key)?
        .map(|bytes| String::from_utf8(bytes).with_context(|| format!("stored {key} is not text")))
        .transpose()
}

/// The membership stored in the data directory, if this daemon belongs to a community.
pub fn stored_membership(
    store: &Store,
    community: Option<&str>,
) -> anyhow::Result<Option<Membership>> {
    let (Some(community), Some(secret)) = (community, store.meta(meta::SECRET)?) else {
        return Ok(None);
    };
    let key = |bytes: Vec<u8>, what: &str| -> anyhow::Result<[u8; 32]> {
        bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the stored {what} is damaged"))
    };
    let device = match (
        store.meta(meta::DEVICE_SECRET)?,
        store.meta(meta::PRIVATE_DOC)?,
    ) {
        (Some(secret), Some(doc)) => Some(Device {
            secret: key(secret, "device secret")?,
            private_doc: String::from_utf8(doc).context("stored private document id")?,
        }),
        _ => None,
    };
    let invite = store
        .meta(meta::INVITE)?
        .map(|n| key(n, "invitation"))
        .transpose()?;
    Ok(Some(
        Membership::new(community.to_owned(), key(secret, "community secret")?)
            .with_device(device)
            .with_invite(invite),
    ))
}

/// Writes `membership` into the same durable commit as `tx`.
fn store_membership(tx: &mut Txn<'_>, membership: &Membership) {
    tx.put_meta(meta::SECRET, membership.secret());
    if let Some(device) = &membership.device {
        tx.put_meta(meta::DEVICE_SECRET, &device.secret);
        tx.put_meta(meta::PRIVATE_DOC, device.private_doc.as_bytes());
    }
    if let Some(invite) = &membership.invite {
        tx.put_meta(meta::INVITE, invite);
    }
}

fn stored_peers(store: &Store) -> anyhow::Result<Vec<Multiaddr>> {
    let Some(bytes) = store.meta(meta::PEERS)? else {
        return Ok(Vec::new());
    };
    let addrs: Vec<String> = serde_json::from_slice(&bytes).context("stored peer list")?;
    Ok(addrs.iter().filter_map(|a| a.parse().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_durations_or_times_in_the_future() {
        let now = crdt_model::when::parse("t", "2026-11-25T00:00:00Z").unwrap();
        assert_eq!(
            parse_expiry("90m", now).unwrap(),
            now + time::Duration::minutes(90)
        );
        assert_eq!(
            parse_expiry("2w", now).unwrap(),
            now + time::Duration::weeks(2)
        );
        assert_eq!(
            parse_expiry("2026-12-01T00:00:00Z", now).unwrap(),
            crdt_model::when::parse("t", "2026-12-01T00:00:00Z").unwrap()
        );
        for bad in [
            "",
            "soon",
            "5y",
            "-3d",
            "2026-01-01T00:00:00Z",
            "400d",
            "0h",
        ] {
            assert!(parse_expiry(bad, now).is_err(), "{bad}");
        }
    }
}
