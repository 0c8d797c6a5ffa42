//! The sync engine: answers peers' requests and reconciles documents with them.
//!
//! Cost follows what changed, not what exists (see `wire` for the conversation): on connect
//! one `Digest` round compares every document's heads; only documents that differ are
//! touched; a document the peer is merely behind on costs one `save_after` chunk; a
//! document the peer lacks entirely costs one compressed snapshot; Automerge's sync protocol
//! runs only where both sides hold changes the other lacks.
//!
//! Every request from a peer that has not proven membership is refused: a stranger that
//! dials a member learns nothing about the community, not even its document ids.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use crdt_model::DocKind;
use crdt_model::GuildDoc;
use crdt_model::community::Community;
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use thiserror::Error;
use tokio::sync::broadcast::error::RecvError;

use super::membership::Membership;
use super::swarm::{NetError, NetHandle};
use super::wire::{self, Heads, Request, Response};
use crate::repo::{Repo, RepoError};

/// Most rounds of Automerge's sync protocol for one document in one session.
const MAX_SYNC_ROUNDS: usize = 64;
/// Misbehaviours (malformed or unauthorised requests) before a peer is disconnected.
const STRIKES_BEFORE_BAN: u32 = 5;
/// How long a disconnected misbehaving peer stays banned.
const BAN: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("peer {0} sent a malformed message: {1}")]
    Malformed(PeerId, String),
    #[error("peer {0} refused: {1}")]
    Refused(PeerId, String),
    #[error("unexpected answer from {0}")]
    Unexpected(PeerId),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("document {0}: {1}")]
    Doc(String, String),
    #[error("unknown document {0}")]
    UnknownDoc(String),
    #[error("cannot encode a message: {0}")]
    Encode(String),
}

/// What this daemon knows about one peer.
#[derive(Default)]
struct PeerState {
    connected: bool,
    addrs: Vec<String>,
    /// Proved it holds the community secret on this connection.
    member: bool,
    /// The peer's heads per document, as last heard from it.
    known: HashMap<String, Vec<ChangeHash>>,
    last_sync: Option<time::OffsetDateTime>,
    strikes: u32,
    banned_until: Option<Instant>,
    bytes_sent: u64,
    bytes_received: u64,
}

/// One peer as status pages show it.
#[derive(Clone, Debug)]
pub struct PeerReport {
    pub peer: PeerId,
    pub connected: bool,
    pub addrs: Vec<String>,
    pub member: bool,
    pub known: HashMap<String, Vec<ChangeHash>>,
    pub last_sync: Option<time::OffsetDateTime>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

pub struct Engine {
    repo: Arc<Repo>,
    net: NetHandle,
    membership: RwLock<Option<Membership>>,
    peers: Mutex<HashMap<PeerId, PeerState>>,
    /// Documents peers may send us: the community document and everything its index lists.
    index: RwLock<HashMap<String, DocKind>>,
    /// Sync-protocol states of running sessions; persisted after every message.
    sync_states: tokio::sync::Mutex<HashMap<(PeerId, String), sync::State>>,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
}

impl Engine {
    pub fn new(repo: Arc<Repo>, net: NetHandle, membership: Option<Membership>) -> Arc<Self> {
        let engine = Arc::new(Self {
            repo,
            net,
            membership: RwLock::new(membership),
            peers: Mutex::new(HashMap::new()),
            index: RwLock::new(HashMap::new()),
            sync_states: tokio::sync::Mutex::new(HashMap::new()),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        });
        tokio::spawn(engine.clone().push_changes());
        engine
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.net.local_peer_id
    }

    fn membership(&self) -> Option<Membership> {
        self.membership
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerState>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Becomes a member (after `guild init` or `guild join`) and syncs with whoever is
    /// already connected.
    pub async fn set_membership(self: &Arc<Self>, membership: Membership) {
        *self.membership.write().unwrap_or_else(|e| e.into_inner()) = Some(membership);
        self.refresh_index().await;
        let connected: Vec<PeerId> = self
            .peers()
            .iter()
            .filter(|(_, p)| p.connected)
            .map(|(id, _)| *id)
            .collect();
        for peer in connected {
            tokio::spawn(self.clone().on_connected(peer));
        }
    }

    /// Our heads of every document we share, sorted per document.
    pub async fn our_heads(&self) -> HashMap<String, Vec<ChangeHash>> {
        self.digest()
            .await
            .into_iter()
            .map(|(doc, heads)| (doc, from_wire(&heads)))
            .collect()
    }

    pub fn report(&self) -> Vec<PeerReport> {
        let mut out: Vec<PeerReport> = self
            .peers()
            .iter()
            .filter(|(_, p)| p.connected || p.last_sync.is_some())
            .map(|(peer, p)| PeerReport {
                peer: *peer,
                connected: p.connected,
                addrs: p.addrs.clone(),
                member: p.member,
                known: p.known.clone(),
                last_sync: p.last_sync,
                bytes_sent: p.bytes_sent,
                bytes_received: p.bytes_received,
            })
            .collect();
        out.sort_by_key(|r| r.peer.to_string());
        out
    }

    // ----- connection lifecycle -----

    pub fn on_disconnected(&self, peer: PeerId) {
        if let Some(state) = self.peers().get_mut(&peer) {
            state.connected = false;
            state.member = false;
            state.known.clear();
        }
        // Sync states are decoded afresh from the store on the next connection.
        if let Ok(mut states) = self.sync_states.try_lock() {
            states.retain(|(p, _), _| *p != peer);
        }
    }

    /// A connection came up: prove membership, compare digests, pull what we lack.
    pub async fn on_connected_addr(self: Arc<Self>, peer: PeerId, addr: String) {
        {
            let mut peers = self.peers();
            let state = peers.entry(peer).or_default();
            if state
                .banned_until
                .is_some_and(|until| until > Instant::now())
            {
                drop(peers);
                tracing::info!("refusing banned peer {peer}");
                self.net.disconnect(peer);
                return;
            }
            state.connected = true;
            if !state.addrs.contains(&addr) {
                state.addrs.push(addr);
            }
        }
        self.on_connected(peer).await;
    }

    async fn on_connected(self: Arc<Self>, peer: PeerId) {
        let Some(membership) = self.membership() else {
            return; // Not in a community: nothing to offer, nothing to ask.
        };
        if let Err(e) = self.hello(peer, &membership).await {
            tracing::warn!("{peer} is not a member of this community: {e}");
            self.net.disconnect(peer);
            return;
        }
        if let Err(e) = self.reconcile(peer).await {
            tracing::warn!("sync with {peer} failed: {e}");
        }
    }

    async fn hello(&self, peer: PeerId, membership: &Membership) -> Result<(), SyncError> {
        let local = self.local_peer_id();
        let request = Request::Hello {
            community: membership.community.clone(),
            proof: membership.proof(&local, &peer),
        };
        match self.call(peer, &request).await? {
            Response::Hello { proof }
                if membership.verify(&membership.community, &peer, &local, &proof) =>
            {
                self.mark_member(peer);
                Ok(())
            }
            Response::Hello { .. } => {
                Err(SyncError::Refused(peer, "wrong membership proof".into()))
            }
            _ => Err(SyncError::Unexpected(peer)),
        }
    }

    fn mark_member(&self, peer: PeerId) {
        let mut peers = self.peers();
        let state = peers.entry(peer).or_default();
        state.member = true;
        state.connected = true;
    }

    fn is_member(&self, peer: &PeerId) -> bool {
        self.peers().get(peer).is_some_and(|p| p.member)
    }

    /// Full reconciliation with one peer: digests, then pull what differs.
    pub async fn reconcile(&self, peer: PeerId) -> Result<(), SyncError> {
        let ours = self.digest().await;
        let theirs = match self.call(peer, &Request::Digest { docs: ours }).await? {
            Response::Digest { docs } => docs,
            _ => return Err(SyncError::Unexpected(peer)),
        };
        let theirs: Vec<(String, Vec<ChangeHash>)> = theirs
            .into_iter()
            .map(|(doc, heads)| (doc, from_wire(&heads)))
            .collect();
        self.remember_all(peer, &theirs);

        // The community document first: its index says which other documents to accept.
        if let Some(community) = self.membership().map(|m| m.community)
            && let Some((_, heads)) = theirs.iter().find(|(d, _)| *d == community)
        {
            self.catch_up(peer, &community, heads).await?;
            self.refresh_index().await;
        }
        let mut missing = Vec::new();
        for (doc, heads) in &theirs {
            if !self.allowed(doc) {
                continue;
            }
            if self.repo.contains(doc) {
                self.catch_up(peer, doc, heads).await?;
            } else {
                missing.push(doc.clone());
            }
        }
        self.fetch(peer, missing).await?;
        self.touch(peer);
        Ok(())
    }

    /// Brings our copy of `doc` up to what the peer has, if the peer has anything new.
    async fn catch_up(
        &self,
        peer: PeerId,
        doc: &str,
        their_heads: &[ChangeHash],
    ) -> Result<(), SyncError> {
        let Some(lacking) = self
            .repo
            .read(doc, |d| {
                their_heads
                    .iter()
                    .any(|h| d.get_change_by_hash(h).is_none())
            })
            .await
        else {
            return self.fetch(peer, vec![doc.to_owned()]).await;
        };
        if lacking {
            self.pull(peer, doc).await?;
        }
        Ok(())
    }

    /// Asks for the changes we lack; runs the sync protocol where histories diverged.
    async fn pull(&self, peer: PeerId, doc: &str) -> Result<(), SyncError> {
        let heads = self.heads(doc).await.unwrap_or_default();
        let request = Request::Pull {
            doc: doc.to_owned(),
            heads: to_wire(&heads),
        };
        match self.call(peer, &request).await? {
            Response::Changes { bytes, heads } => {
                self.remember(peer, doc, from_wire(&heads));
                self.apply(doc, &bytes).await?;
                Ok(())
            }
            // Both sides hold changes the other lacks; one side runs the sync protocol.
            Response::Diverged if self.local_peer_id() < peer => self.sync_session(peer, doc).await,
            Response::Diverged => Ok(()),
            _ => Err(SyncError::Unexpected(peer)),
        }
    }

    /// Fetches whole documents we do not hold, as compressed snapshots.
    async fn fetch(&self, peer: PeerId, mut docs: Vec<String>) -> Result<(), SyncError> {
        docs.retain(|d| !self.repo.contains(d) && self.allowed(d));
        while !docs.is_empty() {
            let snapshots = match self
                .call(peer, &Request::Want { docs: docs.clone() })
                .await?
            {
                Response::Snapshots { docs } => docs,
                _ => return Err(SyncError::Unexpected(peer)),
            };
            if snapshots.is_empty() {
                break; // The peer has none of them.
            }
            for (doc, bytes) in snapshots {
                if !docs.contains(&doc) {
                    continue; // Not asked for: ignore.
                }
                self.apply(&doc, &bytes).await?;
                if let Some(heads) = self.heads(&doc).await {
                    self.remember(peer, &doc, heads);
                }
                if self.is_community(&doc) {
                    self.refresh_index().await;
                }
            }
            docs.retain(|d| !self.repo.contains(d));
        }
        Ok(())
    }

    /// Automerge's sync protocol for one document, driven from this side.
    async fn sync_session(&self, peer: PeerId, doc: &str) -> Result<(), SyncError> {
        let mut their_last: Option<Vec<u8>> = None;
        for _ in 0..MAX_SYNC_ROUNDS {
            let ours = self
                .with_sync_state(peer, doc, |d, state| {
                    d.sync().generate_sync_message(state).map(|m| m.encode())
                })
                .await?;
            if ours.is_none() && their_last.is_none() {
                break;
            }
            let reply = match self
                .call(
                    peer,
                    &Request::Sync {
                        doc: doc.to_owned(),
                        message: ours.clone().unwrap_or_default(),
                    },
                )
                .await?
            {
                Response::Sync { message } => message,
                _ => return Err(SyncError::Unexpected(peer)),
            };
            if let Some(bytes) = &reply {
                self.receive_sync(peer, doc, bytes).await?;
            }
            if ours.is_none() && reply.is_none() {
                break;
            }
            their_last = reply;
        }
        if let Some(heads) = self.heads(doc).await {
            // After a completed session both sides hold the union.
            self.remember(peer, doc, heads);
        }
        Ok(())
    }

    // ----- answering requests -----

    pub async fn on_request(
        self: Arc<Self>,
        peer: PeerId,
        bytes: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        self.count_received(peer, bytes.len());
        let response = match wire::decode::<Request>(&bytes) {
            Ok(request) => self.handle(peer, request).await,
            Err(e) => {
                self.strike(peer, &format!("malformed request: {e}"));
                Response::Refused {
                    reason: "malformed request".into(),
                }
            }
        };
        match wire::encode(&response) {
            Ok(bytes) => {
                self.count_sent(peer, bytes.len());
                self.net.respond(channel, bytes);
            }
            Err(e) => tracing::error!("cannot encode a response: {e}"),
        }
    }

    async fn handle(&self, peer: PeerId, request: Request) -> Response {
        if let Request::Hello { community, proof } = request {
            return self.answer_hello(peer, &community, &proof);
        }
        if !self.is_member(&peer) {
            self.strike(peer, "request before proving membership");
            return refused("prove membership first (Hello)");
        }
        let result = match request {
            Request::Hello { .. } => unreachable!("handled above"),
            Request::Digest { docs } => {
                let docs: Vec<_> = docs.into_iter().map(|(d, h)| (d, from_wire(&h))).collect();
                self.remember_all(peer, &docs);
                Ok(Response::Digest {
                    docs: self.digest().await,
                })
            }
            Request::Want { docs } => Ok(self.answer_want(peer, docs).await),
            Request::Pull { doc, heads } => self.answer_pull(peer, &doc, &from_wire(&heads)).await,
            Request::Sync { doc, message } => self.answer_sync(peer, &doc, &message).await,
            Request::Changes { doc, bytes, heads } => {
                self.answer_changes(peer, &doc, &bytes, heads).await
            }
        };
        result.unwrap_or_else(|e| {
            if let SyncError::UnknownDoc(_) = e {
                // Benign: a push can overtake the index entry announcing its document; the
                // document is fetched once the index arrives. Not a strike.
                tracing::debug!("request from {peer} dropped: {e}");
                return refused(&e.to_string());
            }
            tracing::warn!("request from {peer} dropped: {e}");
            if matches!(e, SyncError::Doc(..)) {
                self.strike(peer, &e.to_string());
            }
            refused(&e.to_string())
        })
    }

    fn answer_hello(&self, peer: PeerId, community: &str, proof: &[u8; 32]) -> Response {
        let Some(membership) = self.membership() else {
            return refused("not a member of any community");
        };
        let local = self.local_peer_id();
        if !membership.verify(community, &peer, &local, proof) {
            self.strike(peer, "wrong membership proof");
            return refused("not a member of this community");
        }
        self.mark_member(peer);
        Response::Hello {
            proof: membership.proof(&local, &peer),
        }
    }

    async fn answer_want(&self, peer: PeerId, docs: Vec<String>) -> Response {
        let mut out = Vec::new();
        let mut size = 0;
        for doc in docs.iter().filter(|d| self.shareable(d)).take(10_000) {
            let Some((bytes, heads)) = self.repo.read(doc, |d| (d.save(), d.get_heads())).await
            else {
                continue;
            };
            if size + bytes.len() > wire::SNAPSHOT_BATCH && !out.is_empty() {
                break; // The rest in the next round.
            }
            size += bytes.len();
            // Once it has loaded the snapshot the peer holds our heads.
            self.remember(peer, doc, heads);
            out.push((doc.clone(), bytes));
        }
        Response::Snapshots { docs: out }
    }

    async fn answer_pull(
        &self,
        peer: PeerId,
        doc: &str,
        heads: &[ChangeHash],
    ) -> Result<Response, SyncError> {
        if !self.shareable(doc) {
            return Err(unknown(doc));
        }
        let (answer, ours) = self
            .repo
            .read(doc, |d| {
                let ours = d.get_heads();
                if heads.iter().any(|h| d.get_change_by_hash(h).is_none()) {
                    return (Response::Diverged, None);
                }
                let bytes = d.save_after(heads);
                (
                    Response::Changes {
                        bytes,
                        heads: to_wire(&ours),
                    },
                    Some(ours),
                )
            })
            .await
            .ok_or_else(|| unknown(doc))?;
        if let Some(ours) = ours {
            self.remember(peer, doc, ours);
        }
        Ok(answer)
    }

    async fn answer_sync(
        &self,
        peer: PeerId,
        doc: &str,
        message: &[u8],
    ) -> Result<Response, SyncError> {
        if !self.shareable(doc) {
            return Err(unknown(doc));
        }
        if !message.is_empty() {
            self.receive_sync(peer, doc, message).await?;
        }
        let reply = self
            .with_sync_state(peer, doc, |d, state| {
                d.sync().generate_sync_message(state).map(|m| m.encode())
            })
            .await?;
        Ok(Response::Sync { message: reply })
    }

    async fn answer_changes(
        &self,
        peer: PeerId,
        doc: &str,
        bytes: &[u8],
        heads: Heads,
    ) -> Result<Response, SyncError> {
        if !self.allowed(doc) {
            // Maybe its index entry has not arrived yet; it will be fetched when it does.
            return Err(unknown(doc));
        }
        self.remember(peer, doc, from_wire(&heads));
        let ours = self.apply(doc, bytes).await?;
        self.touch(peer);
        Ok(Response::Ack {
            heads: to_wire(&ours),
        })
    }

    // ----- pushing local changes -----

    /// Pushes every durable change to every member peer at once.
    async fn push_changes(self: Arc<Self>) {
        let mut changes = self.repo.subscribe();
        loop {
            let mut docs = BTreeSet::new();
            match changes.recv().await {
                Ok(doc) => {
                    docs.insert(doc);
                }
                Err(RecvError::Lagged(_)) => {
                    // Missed some: a full reconciliation catches everything.
                    for peer in self.member_peers() {
                        let engine = self.clone();
                        tokio::spawn(async move { engine.reconcile(peer).await });
                    }
                    continue;
                }
                Err(RecvError::Closed) => return,
            }
            while let Ok(doc) = changes.try_recv() {
                docs.insert(doc);
            }
            if docs.iter().any(|d| self.is_community(d)) {
                self.refresh_index().await;
            }
            // The community document goes first: its index announces the others.
            let mut ordered: Vec<String> =
                docs.iter().filter(|d| self.shareable(d)).cloned().collect();
            ordered.sort_by_key(|d| !self.is_community(d));
            let community_changed = docs.iter().any(|d| self.is_community(d));
            for peer in self.member_peers() {
                let (engine, ordered) = (self.clone(), ordered.clone());
                tokio::spawn(async move {
                    for doc in &ordered {
                        if let Err(e) = engine.push(peer, doc).await {
                            tracing::debug!("push of {doc} to {peer}: {e}");
                        }
                    }
                    if community_changed {
                        // The index may list documents we do not hold yet.
                        let missing = engine.missing_from_index();
                        if let Err(e) = engine.fetch(peer, missing).await {
                            tracing::debug!("fetch from {peer}: {e}");
                        }
                    }
                });
            }
        }
    }

    /// Sends `peer` the changes of `doc` it lacks, in one message.
    async fn push(&self, peer: PeerId, doc: &str) -> Result<(), SyncError> {
        let known = self
            .peers()
            .get(&peer)
            .and_then(|p| p.known.get(doc).cloned());
        let outgoing = self
            .repo
            .read(doc, |d| {
                let known = known.unwrap_or_default();
                if known.iter().any(|h| d.get_change_by_hash(h).is_none()) {
                    return None; // The peer has changes we lack: pull instead.
                }
                let heads = d.get_heads();
                let mut sorted_known = known.clone();
                sorted_known.sort();
                if sorted_known == heads {
                    return Some(None); // Up to date.
                }
                Some(Some((d.save_after(&known), heads)))
            })
            .await
            .ok_or_else(|| unknown(doc))?;
        match outgoing {
            None => self.pull(peer, doc).await,
            Some(None) => Ok(()),
            Some(Some((bytes, heads))) => {
                let request = Request::Changes {
                    doc: doc.to_owned(),
                    bytes,
                    heads: to_wire(&heads),
                };
                match self.call(peer, &request).await? {
                    Response::Ack { heads } => {
                        self.remember(peer, doc, from_wire(&heads));
                        self.touch(peer);
                        Ok(())
                    }
                    _ => Err(SyncError::Unexpected(peer)),
                }
            }
        }
    }

    // ----- documents -----

    /// Applies changes or a snapshot from a peer, durably; creates the document if new.
    /// Refuses (and rolls back) anything that leaves the document not of its indexed kind.
    async fn apply(&self, doc: &str, bytes: &[u8]) -> Result<Vec<ChangeHash>, SyncError> {
        let expected = self.kind_of(doc).ok_or_else(|| unknown(doc))?;
        for _ in 0..2 {
            let mut tx = self.repo.begin(&[doc]).await;
            let d = match tx.doc(doc) {
                Ok(d) => d,
                Err(_) => match tx.create(doc) {
                    Ok(d) => d,
                    Err(RepoError::Exists(_)) => continue, // Created concurrently: retry.
                    Err(e) => return Err(e.into()),
                },
            };
            d.load_incremental(bytes)
                .map_err(|e| SyncError::Doc(doc.to_owned(), format!("bad changes: {e}")))?;
            if DocKind::of(d) != Some(expected) {
                return Err(SyncError::Doc(
                    doc.to_owned(),
                    format!("is not a {expected} document"),
                ));
            }
            let heads = d.get_heads();
            tx.commit().await?;
            return Ok(heads);
        }
        Err(SyncError::Doc(
            doc.to_owned(),
            "created concurrently".into(),
        ))
    }

    /// Receives one sync-protocol message; applied changes and the state become durable together.
    async fn receive_sync(&self, peer: PeerId, doc: &str, bytes: &[u8]) -> Result<(), SyncError> {
        let message = sync::Message::decode(bytes)
            .map_err(|e| SyncError::Doc(doc.to_owned(), format!("malformed sync message: {e}")))?;
        let mut states = self.sync_states.lock().await;
        let state = self.sync_state_entry(&mut states, peer, doc);
        let mut tx = self.repo.begin(&[doc]).await;
        let d = tx.doc(doc)?;
        d.sync()
            .receive_sync_message(state, message)
            .map_err(|e| SyncError::Doc(doc.to_owned(), format!("bad sync message: {e}")))?;
        if DocKind::of(d) != self.kind_of(doc) {
            return Err(SyncError::Doc(doc.to_owned(), "changed kind".into()));
        }
        tx.put_sync_state(&peer.to_string(), doc, state.encode());
        tx.commit().await?;
        Ok(())
    }

    async fn with_sync_state<R>(
        &self,
        peer: PeerId,
        doc: &str,
        f: impl FnOnce(&mut AutoCommit, &mut sync::State) -> R,
    ) -> Result<R, SyncError> {
        let mut states = self.sync_states.lock().await;
        let state = self.sync_state_entry(&mut states, peer, doc);
        self.repo
            .read(doc, |d| f(d, state))
            .await
            .ok_or_else(|| unknown(doc))
    }

    fn sync_state_entry<'s>(
        &self,
        states: &'s mut HashMap<(PeerId, String), sync::State>,
        peer: PeerId,
        doc: &str,
    ) -> &'s mut sync::State {
        states.entry((peer, doc.to_owned())).or_insert_with(|| {
            self.repo
                .store()
                .sync_state(&peer.to_string(), doc)
                .ok()
                .flatten()
                .and_then(|bytes| sync::State::decode(&bytes).ok())
                .unwrap_or_default()
        })
    }

    async fn heads(&self, doc: &str) -> Option<Vec<ChangeHash>> {
        self.repo.read(doc, |d| d.get_heads()).await
    }

    /// Heads of every document we may share.
    async fn digest(&self) -> Vec<(String, Heads)> {
        let mut out = Vec::new();
        for doc in self.repo.ids().into_iter().filter(|d| self.shareable(d)) {
            if let Some(heads) = self.heads(&doc).await {
                out.push((doc, to_wire(&heads)));
            }
        }
        out
    }

    async fn refresh_index(&self) {
        let Some(community) = self.membership().map(|m| m.community) else {
            return;
        };
        let mut index = HashMap::from([(community.clone(), DocKind::Community)]);
        if let Some(Ok(c)) = self.repo.read(&community, |d| Community::read(d)).await {
            for (id, entry) in &c.docs {
                if let Some(kind) = DocKind::parse(&entry.kind) {
                    index.insert(id.clone(), kind);
                }
            }
        }
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
    }

    fn kind_of(&self, doc: &str) -> Option<DocKind> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(doc)
            .copied()
    }

    /// Peers may send us this document.
    fn allowed(&self, doc: &str) -> bool {
        self.kind_of(doc).is_some()
    }

    /// We may send peers this document.
    fn shareable(&self, doc: &str) -> bool {
        self.allowed(doc)
    }

    fn is_community(&self, doc: &str) -> bool {
        self.membership().is_some_and(|m| m.community == doc)
    }

    fn missing_from_index(&self) -> Vec<String> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|d| !self.repo.contains(d))
            .cloned()
            .collect()
    }

    // ----- peers -----

    fn member_peers(&self) -> Vec<PeerId> {
        self.peers()
            .iter()
            .filter(|(_, p)| p.member && p.connected)
            .map(|(id, _)| *id)
            .collect()
    }

    fn remember(&self, peer: PeerId, doc: &str, mut heads: Vec<ChangeHash>) {
        heads.sort();
        if let Some(state) = self.peers().get_mut(&peer) {
            state.known.insert(doc.to_owned(), heads);
        }
    }

    fn remember_all(&self, peer: PeerId, docs: &[(String, Vec<ChangeHash>)]) {
        for (doc, heads) in docs.iter().take(100_000) {
            self.remember(peer, doc, heads.clone());
        }
    }

    fn touch(&self, peer: PeerId) {
        if let Some(state) = self.peers().get_mut(&peer) {
            state.last_sync = Some(time::OffsetDateTime::now_utc());
        }
    }

    /// Counts a misbehaviour; past the limit the peer is disconnected and banned a while.
    fn strike(&self, peer: PeerId, why: &str) {
        tracing::warn!("peer {peer}: {why}");
        let mut peers = self.peers();
        let state = peers.entry(peer).or_default();
        state.strikes += 1;
        if state.strikes >= STRIKES_BEFORE_BAN {
            state.strikes = 0;
            state.banned_until = Some(Instant::now() + BAN);
            drop(peers);
            tracing::warn!("disconnecting and banning {peer} for {BAN:?}");
            self.net.disconnect(peer);
        }
    }

    async fn call(&self, peer: PeerId, request: &Request) -> Result<Response, SyncError> {
        let bytes = wire::encode(request).map_err(|e| SyncError::Encode(e.to_string()))?;
        self.count_sent(peer, bytes.len());
        let answer = self.net.request(peer, bytes).await?;
        self.count_received(peer, answer.len());
        match wire::decode::<Response>(&answer) {
            Ok(Response::Refused { reason }) => Err(SyncError::Refused(peer, reason)),
            Ok(response) => Ok(response),
            Err(e) => {
                self.strike(peer, &format!("malformed response: {e}"));
                Err(SyncError::Malformed(peer, e.to_string()))
            }
        }
    }

    fn count_sent(&self, peer: PeerId, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(state) = self.peers().get_mut(&peer) {
            state.bytes_sent += n as u64;
        }
    }

    fn count_received(&self, peer: PeerId, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(state) = self.peers().get_mut(&peer) {
            state.bytes_received += n as u64;
        }
    }
}

fn refused(reason: &str) -> Response {
    Response::Refused {
        reason: reason.to_owned(),
    }
}

fn unknown(doc: &str) -> SyncError {
    SyncError::UnknownDoc(doc.to_owned())
}

pub fn to_wire(heads: &[ChangeHash]) -> Heads {
    heads.iter().map(|h| h.0).collect()
}

pub fn from_wire(heads: &Heads) -> Vec<ChangeHash> {
    let mut out: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
    out.sort();
    out.dedup();
    out
}

/// Peers that already hold everything we hold (for status pages).
pub fn in_sync(
    known: &HashMap<String, Vec<ChangeHash>>,
    ours: &HashMap<String, Vec<ChangeHash>>,
) -> bool {
    let theirs: HashSet<&String> = known.keys().collect();
    ours.len() == theirs.len()
        && ours
            .iter()
            .all(|(doc, heads)| known.get(doc).is_some_and(|k| k == heads))
}
