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
//!
//! Every peer is held to the limits in `limits`: requests per second, requests and bytes
//! held at once, documents named per message. Breaking a hard limit bans the peer at once;
//! softer faults (malformed messages, unknown documents) count strikes, and
//! [`STRIKES_BEFORE_BAN`] strikes ban it. A ban closes the peer's connections and refuses
//! new ones for [`BAN`]; honest peers are never slowed by it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use crdt_model::DocKind;
use crdt_model::community::Community;
use crdt_model::roster::{MemberAccess, Roster, Verdict};
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use thiserror::Error;
use tokio::sync::broadcast::error::RecvError;

use super::claims::Claims;
use super::limits::{self, Rate, RateLimit, Severity};
use super::membership::{Membership, invite_hash};
use super::swarm::{NetError, NetHandle};
use super::wire::{self, Frame, FrameError, Heads, Request, Response};
use super::{capture, inbound};
use crate::repo::{Repo, RepoError};

/// Most rounds of Automerge's sync protocol for one document in one session.
const MAX_SYNC_ROUNDS: usize = 64;
/// How many peers hear of changes we received from another (see `push_changes`).
const ANNOUNCE_FANOUT: usize = 4;
/// Changes for a pull larger than this are sent as the whole compressed document instead,
/// when that is smaller (Automerge's change format is not compressed; `save()` is).
const TRY_SNAPSHOT_ABOVE: usize = 1024;
/// Misbehaviours (malformed or unauthorised requests) before a peer is disconnected.
const STRIKES_BEFORE_BAN: u32 = 5;
/// How often connected members compare digests even when nothing seems to have changed.
const RECONCILE_EVERY: Duration = Duration::from_secs(15);
/// How long a disconnected misbehaving peer stays banned.
const BAN: Duration = Duration::from_secs(60);
/// The refusal a peer over its request rate gets; honest daemons wait and ask again.
const SLOW_DOWN: &str = "slow down: too many requests";
/// How long to wait before asking again after [`SLOW_DOWN`], and how often.
const SLOW_DOWN_WAIT: Duration = Duration::from_millis(500);
const SLOW_DOWN_RETRIES: u32 = 20;

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
    /// Proved it holds the community secret on this connection, and is a device of a
    /// current member or holds an open invitation.
    member: bool,
    /// Proved it holds our member's device secret: another of our own devices, which may
    /// receive our private documents.
    own_device: bool,
    /// The peer's heads per document, as last heard from it.
    known: HashMap<String, Vec<ChangeHash>>,
    last_sync: Option<time::OffsetDateTime>,
    strikes: u32,
    last_strike: Option<Instant>,
    banned_until: Option<Instant>,
    bytes_sent: u64,
    bytes_received: u64,
    rate: RateLimit,
    /// Requests naming documents we do not know (see [`Engine::count_unknown`]).
    unknown: u32,
    /// Requests from this peer being handled, and the bytes they hold.
    in_flight: usize,
    held: usize,
}

impl PeerState {
    fn banned(&self) -> bool {
        self.banned_until
            .is_some_and(|until| until > Instant::now())
    }
}

/// A request's place in its peer's `in_flight` and `held`, given back when dropped.
struct Held {
    engine: Arc<Engine>,
    peer: PeerId,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(state) = self.engine.peers().get_mut(&self.peer) {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.held = state.held.saturating_sub(self.bytes);
        }
    }
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
    /// Which peers are devices of current members, which are revoked, which invitations are
    /// open; `None` until the community document is here (then the secret alone admits).
    roster: RwLock<Option<Roster>>,
    /// Sync-protocol states of running sessions; persisted after every message.
    sync_states: tokio::sync::Mutex<HashMap<(PeerId, String), sync::State>>,
    /// The (peer, document) pairs with a sync session running from this side.
    sessions: Claims<(PeerId, String)>,
    /// Documents being fetched (from whichever peer).
    fetching: Claims<String>,
    /// Documents being pulled after an announcement (from whichever peer).
    pulling: Claims<String>,
    /// Held while the index and roster are rebuilt.
    refreshing: tokio::sync::Mutex<()>,
    /// Requests open to each peer, so we never break the limits we hold peers to.
    outbound: Mutex<HashMap<PeerId, Arc<tokio::sync::Semaphore>>>,
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
            roster: RwLock::new(None),
            sync_states: tokio::sync::Mutex::new(HashMap::new()),
            sessions: Claims::default(),
            fetching: Claims::default(),
            pulling: Claims::default(),
            refreshing: tokio::sync::Mutex::new(()),
            outbound: Mutex::new(HashMap::new()),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        });
        tokio::spawn(engine.clone().push_changes());
        tokio::spawn(engine.clone().reconcile_periodically());
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
        self.digest(None)
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
        {
            let mut peers = self.peers();
            if let Some(state) = peers.get_mut(&peer) {
                state.connected = false;
                state.member = false;
                state.known.clear();
                // Forget peers we never synced with (strangers, who can make up any number
                // of peer ids) unless they are banned, so that memory stays bounded.
                if state.last_sync.is_none() && !state.banned() && state.in_flight == 0 {
                    peers.remove(&peer);
                }
            }
        }
        self.outbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&peer);
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
            if state.banned() {
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
        if !self.leads(peer) {
            return; // The peer runs the digest round; we act on its digest when it comes.
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
            invite: membership.invite,
            device: membership.device_proof(&local, &peer),
        };
        match self.call(peer, &request).await? {
            Response::Hello {
                proof,
                invite,
                device,
            } if membership.verify(&membership.community, &peer, &local, &proof) => {
                let own = membership.verify_device(&peer, &local, device.as_ref());
                self.admit_member(peer, invite.as_ref(), own)
                    .map_err(|why| SyncError::Refused(peer, why))
            }
            Response::Hello { .. } => {
                Err(SyncError::Refused(peer, "wrong membership proof".into()))
            }
            _ => Err(SyncError::Unexpected(peer)),
        }
    }

    /// Admits a peer that proved the community secret if the roster agrees: a device of a
    /// current member, one of our own devices, or a newcomer with an open invitation.
    fn admit_member(
        &self,
        peer: PeerId,
        invite: Option<&[u8; 32]>,
        own_device: bool,
    ) -> Result<(), String> {
        let verdict = self
            .roster
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.judge(&peer.to_string(), invite.map(invite_hash).as_deref()));
        match verdict {
            Some(Verdict::Revoked) => return Err("a device of a removed member".into()),
            Some(Verdict::Unknown) if !own_device => {
                return Err("not a device of any current member, and no open invitation".into());
            }
            _ => {}
        }
        let mut peers = self.peers();
        let state = peers.entry(peer).or_default();
        state.member = true;
        state.connected = true;
        state.own_device = own_device;
        Ok(())
    }

    fn is_member(&self, peer: &PeerId) -> bool {
        self.peers().get(peer).is_some_and(|p| p.member)
    }

    /// Full reconciliation with one peer: digests, then pull what differs.
    pub async fn reconcile(&self, peer: PeerId) -> Result<(), SyncError> {
        let ours = self.digest(Some(peer)).await;
        // Usually nothing changed: compare one hash, not every document's heads.
        let hash = wire::summary(&ours);
        match self.call(peer, &Request::Summary { hash }).await? {
            Response::Summary { same: true } => {
                self.remember_digest(peer, &ours);
                self.touch(peer);
                return Ok(());
            }
            Response::Summary { same: false } => {}
            _ => return Err(SyncError::Unexpected(peer)),
        }
        let theirs = match self.call(peer, &Request::Digest { docs: ours }).await? {
            Response::Digest { docs } => docs,
            _ => return Err(SyncError::Unexpected(peer)),
        };
        let theirs: Vec<(String, Vec<ChangeHash>)> = theirs
            .into_iter()
            .map(|(doc, heads)| (doc, from_wire(&heads)))
            .collect();
        self.catch_up_all(peer, theirs).await
    }

    /// Of two connected peers, the one with the smaller id runs the digest rounds (and
    /// the sync protocol for diverged documents), so that digests cross the wire once.
    fn leads(&self, peer: PeerId) -> bool {
        self.local_peer_id() < peer
    }

    /// Given the peer's heads of every document, gets what we lack from it.
    async fn catch_up_all(
        &self,
        peer: PeerId,
        theirs: Vec<(String, Vec<ChangeHash>)>,
    ) -> Result<(), SyncError> {
        self.remember_all(peer, &theirs);

        // The community document first: its index says which other documents to accept.
        if let Some(community) = self.membership().map(|m| m.community)
            && let Some((_, heads)) = theirs.iter().find(|(d, _)| *d == community)
        {
            self.catch_up(peer, &community, heads).await?;
            self.refresh_index().await;
            // The index may have grown: remember the peer's heads of the documents it added.
            self.remember_all(peer, &theirs);
        }
        let mut missing = Vec::new();
        for (doc, heads) in &theirs {
            if !self.allowed(peer, doc) {
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
            Response::Diverged if self.leads(peer) => self.sync_session(peer, doc).await,
            Response::Diverged => Ok(()),
            _ => Err(SyncError::Unexpected(peer)),
        }
    }

    /// Fetches whole documents we do not hold, as compressed snapshots.
    async fn fetch(&self, peer: PeerId, docs: Vec<String>) -> Result<(), SyncError> {
        // Documents another task is fetching already are left to it.
        let claimed = self.fetching.claim(
            docs.into_iter()
                .filter(|d| !self.repo.contains(d) && self.allowed(peer, d)),
        );
        let mut docs = claimed.keys.clone();
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
                // The heads right after loading: the peer's. Reading them later could count a
                // local change made meanwhile as one the peer has, and it would never be sent.
                let heads = self.apply(&doc, &bytes).await?;
                self.remember(peer, &doc, heads);
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
        let session = self.sessions.claim([(peer, doc.to_owned())]);
        if session.keys.is_empty() {
            return Ok(()); // One is running: it goes on until neither side has anything new.
        }
        self.restart_sync_state(peer, doc).await;
        let mut their_last: Option<Vec<u8>> = None;
        for round in 0..MAX_SYNC_ROUNDS {
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
                        first: round == 0,
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
        // Both sides now hold the union of what they had when the session ended; remember
        // the sync state's shared heads, not our current heads, which may include local
        // changes made meanwhile that the peer has not seen.
        let shared = self
            .sync_states
            .lock()
            .await
            .get(&(peer, doc.to_owned()))
            .map(|state| state.shared_heads.clone());
        if let Some(shared) = shared {
            self.remember(peer, doc, shared);
        }
        Ok(())
    }

    // ----- answering requests -----

    pub async fn on_request(
        self: Arc<Self>,
        peer: PeerId,
        frame: Frame,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        self.count_received(peer, frame.bytes.len());
        capture::record("request", &frame.bytes);
        let response = if let Some(limit) = &frame.refused {
            // The frame broke a wire limit and was never read (see `wire::Frame`).
            let severity = match limit {
                FrameError::TooLarge(_) => Some(Severity::Ban),
                FrameError::TooSlow(_) => Some(Severity::Strike),
                // Every peer's frames together were over the budget: not this peer's fault
                // alone (one that holds much is caught by `admit`).
                FrameError::Busy(_) => None,
            };
            if let Some(severity) = severity {
                self.punish(peer, &limit.to_string(), severity);
            }
            refused(&limit.to_string())
        } else {
            match self.admit(peer, frame.bytes.len()) {
                Ok(held) => {
                    let response = self.clone().decode_and_handle(peer, frame).await;
                    drop(held);
                    response
                }
                Err(refusal) => refusal,
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

    /// Counts a request against its peer's limits; refuses it if the peer is over them.
    fn admit(self: &Arc<Self>, peer: PeerId, bytes: usize) -> Result<Held, Response> {
        let violation = {
            let mut peers = self.peers();
            let state = peers.entry(peer).or_default();
            if state.banned() {
                None // Its connection is closing: nothing more to do.
            } else if state.in_flight >= limits::MAX_IN_FLIGHT_PER_PEER {
                Some(format!(
                    "sent more than {} requests at once",
                    limits::MAX_IN_FLIGHT_PER_PEER
                ))
            } else if state.held + bytes > limits::MAX_HELD_PER_PEER {
                Some(format!(
                    "made us hold more than {} bytes at once",
                    limits::MAX_HELD_PER_PEER
                ))
            } else {
                match state.rate.check(Instant::now()) {
                    Rate::Allow => {
                        state.in_flight += 1;
                        state.held += bytes;
                        return Ok(Held {
                            engine: self.clone(),
                            peer,
                            bytes,
                        });
                    }
                    Rate::Refuse => return Err(refused(SLOW_DOWN)),
                    Rate::Strike => {
                        drop(peers);
                        self.punish(peer, "kept sending too many requests", Severity::Strike);
                        return Err(refused(SLOW_DOWN));
                    }
                }
            }
        };
        match violation {
            Some(why) => {
                self.punish(peer, &why, Severity::Ban);
                Err(refused(&why))
            }
            None => Err(refused("banned")),
        }
    }

    async fn decode_and_handle(self: Arc<Self>, peer: PeerId, frame: Frame) -> Response {
        let request = match wire::decode::<Request>(&frame.bytes) {
            Ok(request) => request,
            Err(e) => {
                self.punish(peer, &format!("malformed request: {e}"), Severity::Strike);
                return refused("malformed request");
            }
        };
        // The decoded request holds its own copy; the frame's budget can go back now.
        drop(frame);
        if let Err(v) = limits::check_request(&request) {
            self.punish(peer, &v.to_string(), Severity::Ban);
            return refused(&v.to_string());
        }
        self.handle(peer, request).await
    }

    async fn handle(self: &Arc<Self>, peer: PeerId, request: Request) -> Response {
        if let Request::Hello {
            community,
            proof,
            invite,
            device,
        } = request
        {
            return self.answer_hello(peer, &community, &proof, invite.as_ref(), device.as_ref());
        }
        if !self.is_member(&peer) {
            self.punish(peer, "request before proving membership", Severity::Strike);
            return refused("prove membership first (Hello)");
        }
        let result = match request {
            Request::Hello { .. } => unreachable!("handled above"),
            Request::Digest { docs } => {
                let theirs: Vec<_> = docs.into_iter().map(|(d, h)| (d, from_wire(&h))).collect();
                self.remember_all(peer, &theirs);
                // The peer runs this round for both of us: get what we lack once it has our
                // digest too.
                let engine = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.catch_up_all(peer, theirs).await {
                        tracing::debug!("sync with {peer}: {e}");
                    }
                });
                Ok(Response::Digest {
                    docs: self.digest(Some(peer)).await,
                })
            }
            Request::Summary { hash } => {
                let ours = self.digest(Some(peer)).await;
                let same = wire::summary(&ours) == hash;
                if same {
                    self.remember_digest(peer, &ours);
                }
                Ok(Response::Summary { same })
            }
            Request::Want { docs } => Ok(self.answer_want(peer, docs).await),
            Request::Have { doc, heads } => {
                Ok(self.answer_have(peer, doc, from_wire(&heads)).await)
            }
            Request::Pull { doc, heads } => self.answer_pull(peer, &doc, &from_wire(&heads)).await,
            Request::Sync {
                doc,
                message,
                first,
            } => self.answer_sync(peer, &doc, &message, first).await,
            Request::Changes { doc, bytes, heads } => {
                self.answer_changes(peer, &doc, &bytes, heads).await
            }
        };
        result.unwrap_or_else(|e| {
            if let SyncError::UnknownDoc(_) = e {
                // Benign: a push can overtake the index entry announcing its document; the
                // document is fetched once the index arrives. Not a strike, unless a peer
                // names unknown documents far more often than such races explain.
                tracing::debug!("request from {peer} dropped: {e}");
                if self.count_unknown(peer) {
                    self.punish(peer, "keeps naming unknown documents", Severity::Strike);
                }
                return refused(&e.to_string());
            }
            tracing::warn!("request from {peer} dropped: {e}");
            if matches!(e, SyncError::Doc(..)) {
                self.punish(peer, &e.to_string(), Severity::Strike);
            }
            refused(&e.to_string())
        })
    }

    fn answer_hello(
        &self,
        peer: PeerId,
        community: &str,
        proof: &[u8; 32],
        invite: Option<&[u8; 32]>,
        device: Option<&[u8; 32]>,
    ) -> Response {
        let Some(membership) = self.membership() else {
            return refused("not a member of any community");
        };
        let local = self.local_peer_id();
        if !membership.verify(community, &peer, &local, proof) {
            self.punish(peer, "wrong membership proof", Severity::Strike);
            return refused("not a member of this community");
        }
        let own = membership.verify_device(&peer, &local, device);
        if let Err(why) = self.admit_member(peer, invite, own) {
            tracing::warn!("refusing {peer}: {why}");
            return refused(&why);
        }
        Response::Hello {
            proof: membership.proof(&local, &peer),
            invite: membership.invite,
            device: membership.device_proof(&local, &peer),
        }
    }

    async fn answer_want(&self, peer: PeerId, docs: Vec<String>) -> Response {
        let mut out = Vec::new();
        let mut size = 0;
        for doc in docs.iter().filter(|d| self.shareable(peer, d)).take(10_000) {
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

    /// A peer has new heads of `doc`: pull them (once, however many peers announce them).
    async fn answer_have(
        self: &Arc<Self>,
        peer: PeerId,
        doc: String,
        heads: Vec<ChangeHash>,
    ) -> Response {
        if !self.allowed(peer, &doc) {
            // Its index entry may not be here yet; the document is fetched once it is.
            return Response::Ack { heads: Vec::new() };
        }
        self.remember(peer, &doc, heads.clone());
        let ours = self.heads(&doc).await;
        let engine = self.clone();
        tokio::spawn(async move {
            let claimed = engine.pulling.claim([doc.clone()]);
            if claimed.keys.is_empty() {
                return; // Being pulled from another peer already.
            }
            if let Err(e) = engine.catch_up(peer, &doc, &heads).await {
                tracing::debug!("pull of {doc} from {peer}: {e}");
            }
        });
        Response::Ack {
            heads: to_wire(&ours.unwrap_or_default()),
        }
    }

    async fn answer_pull(
        &self,
        peer: PeerId,
        doc: &str,
        heads: &[ChangeHash],
    ) -> Result<Response, SyncError> {
        if !self.shareable(peer, doc) {
            return Err(unknown(doc));
        }
        let (answer, ours) = self
            .repo
            .read(doc, |d| {
                let ours = d.get_heads();
                if heads.iter().any(|h| d.get_change_by_hash(h).is_none()) {
                    return (Response::Diverged, None);
                }
                let mut bytes = d.save_after(heads);
                if bytes.len() > TRY_SNAPSHOT_ABOVE {
                    // Far behind: the compressed document may be smaller than the changes.
                    let whole = d.save();
                    if whole.len() < bytes.len() {
                        bytes = whole;
                    }
                }
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
        first: bool,
    ) -> Result<Response, SyncError> {
        if !self.shareable(peer, doc) {
            return Err(unknown(doc));
        }
        if first {
            self.restart_sync_state(peer, doc).await;
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
        if !self.allowed(peer, doc) {
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
            // Document -> whether any of its new changes was made here.
            let mut docs: BTreeMap<String, bool> = BTreeMap::new();
            match changes.recv().await {
                Ok(changed) => {
                    docs.insert(changed.doc, changed.local);
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
            while let Ok(changed) = changes.try_recv() {
                *docs.entry(changed.doc).or_default() |= changed.local;
            }
            // The index and the roster follow the community and member documents (and a
            // document not in the index yet may be one: the index may still be being built).
            if docs.keys().any(|d| {
                self.is_community(d) || matches!(self.kind_of(d), None | Some(DocKind::Member))
            }) {
                self.refresh_index().await;
            }
            // The community document goes first: its index announces the others.
            let mut ordered: Vec<(String, bool)> = docs.into_iter().collect();
            ordered.sort_by_key(|(d, _)| !self.is_community(d));
            let community_changed = ordered.iter().any(|(d, _)| self.is_community(d));
            let peers = self.member_peers();
            let announce_to: HashSet<PeerId> = {
                use rand::seq::IndexedRandom;
                peers
                    .choose_multiple(&mut rand::rng(), ANNOUNCE_FANOUT)
                    .copied()
                    .collect()
            };
            for peer in peers {
                let announce = announce_to.contains(&peer);
                let engine = self.clone();
                let ordered: Vec<(String, bool)> = ordered
                    .iter()
                    .filter(|(d, _)| self.shareable(peer, d))
                    .cloned()
                    .collect();
                tokio::spawn(async move {
                    for (doc, local) in &ordered {
                        // Our own changes go out whole, in one message. Changes we received
                        // are only announced, and to a few peers: at a meetup every peer hears
                        // them from their author too, and passing them on to everyone made
                        // traffic grow with the cube of the number of daemons. Where peers
                        // are not all connected, they spread hop by hop, and the digest
                        // rounds catch anything a random choice left out.
                        let sent = if *local {
                            engine.push(peer, doc).await
                        } else if announce {
                            engine.announce(peer, doc).await
                        } else {
                            Ok(())
                        };
                        if let Err(e) = sent {
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

    /// Anti-entropy: a digest round with every member peer now and then. Equal heads cost one
    /// small message; anything a push missed (a peer restarting, a lost response) is found.
    async fn reconcile_periodically(self: Arc<Self>) {
        let mut tick = tokio::time::interval(RECONCILE_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            for peer in self.member_peers().into_iter().filter(|p| self.leads(*p)) {
                let engine = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.reconcile(peer).await {
                        tracing::debug!("periodic sync with {peer}: {e}");
                    }
                });
            }
        }
    }

    /// Tells `peer` our heads of `doc`, unless it has them; it pulls what it lacks.
    async fn announce(&self, peer: PeerId, doc: &str) -> Result<(), SyncError> {
        let Some(heads) = self.heads(doc).await else {
            return Ok(());
        };
        if let Some(mut known) = self.known(peer, doc) {
            known.sort();
            if known == heads {
                return Ok(());
            }
        }
        let request = Request::Have {
            doc: doc.to_owned(),
            heads: to_wire(&heads),
        };
        match self.call(peer, &request).await? {
            Response::Ack { heads } => {
                self.remember(peer, doc, from_wire(&heads));
                Ok(())
            }
            _ => Err(SyncError::Unexpected(peer)),
        }
    }

    /// Sends `peer` the changes of `doc` it lacks, in one message.
    async fn push(&self, peer: PeerId, doc: &str) -> Result<(), SyncError> {
        let known = self.known(peer, doc);
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
            tx.from_peer();
            let d = match tx.doc(doc) {
                Ok(d) => d,
                Err(_) => match tx.create(doc) {
                    Ok(d) => d,
                    Err(RepoError::Exists(_)) => continue, // Created concurrently: retry.
                    Err(e) => return Err(e.into()),
                },
            };
            let heads = inbound::apply_changes(d, expected, bytes)
                .map_err(|e| SyncError::Doc(doc.to_owned(), e))?;
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
        let doc_error = |e| SyncError::Doc(doc.to_owned(), e);
        let message = inbound::decode_sync(bytes).map_err(doc_error)?;
        let mut states = self.sync_states.lock().await;
        let state = self.sync_state_entry(&mut states, peer, doc);
        let mut tx = self.repo.begin(&[doc]).await;
        tx.from_peer();
        let d = tx.doc(doc)?;
        inbound::receive_sync(d, state, self.kind_of(doc), message).map_err(doc_error)?;
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

    /// Forgets everything but the shared heads of the sync state with `peer` for `doc`, as
    /// Automerge wants at the start of every session: what was in flight or sent in an
    /// earlier session may never have arrived.
    async fn restart_sync_state(&self, peer: PeerId, doc: &str) {
        let mut states = self.sync_states.lock().await;
        let state = self.sync_state_entry(&mut states, peer, doc);
        *state = sync::State::decode(&state.encode()).unwrap_or_default();
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

    /// Heads of every document we may share with `peer` (with `None`: every community
    /// document, for status pages).
    async fn digest(&self, peer: Option<PeerId>) -> Vec<(String, Heads)> {
        let mut out = Vec::new();
        let ids = self.repo.ids();
        let ids = ids.iter().filter(|d| match peer {
            Some(peer) => self.shareable(peer, d),
            None => self.kind_of(d).is_some_and(|k| k != DocKind::Relationships),
        });
        for doc in ids.cloned() {
            if let Some(heads) = self.heads(&doc).await {
                out.push((doc, to_wire(&heads)));
            }
        }
        out
    }

    async fn refresh_index(&self) {
        // One at a time, so that a slow run (documents still loading) never overwrites the
        // roster of a later one with what it read earlier.
        let _one = self.refreshing.lock().await;
        let Some(membership) = self.membership() else {
            return;
        };
        let community_id = membership.community.clone();
        let mut index = HashMap::from([(community_id.clone(), DocKind::Community)]);
        if let Some(device) = &membership.device {
            // Our private document: in no index, shared with our own devices only.
            index.insert(device.private_doc.clone(), DocKind::Relationships);
        }
        let community = self.repo.view::<Community>(&community_id).await;
        if let Some(Err(e)) = &community {
            tracing::error!("cannot read the community document: {e}");
        }
        let Some(Ok(community)) = community else {
            *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
            return;
        };
        let mut members = Vec::new();
        for (id, entry) in &community.docs {
            match DocKind::parse(&entry.kind) {
                // Only our own private document is ever accepted, never one named in the index.
                Some(DocKind::Relationships) | None => continue,
                Some(kind) => {
                    index.insert(id.clone(), kind);
                }
            }
            if entry.kind == DocKind::Member.as_str()
                && let Some(Ok(access)) = self.repo.view::<MemberAccess>(id).await
            {
                members.push((id.clone(), access));
            }
        }
        let roster = Roster::new(&community, &members, time::OffsetDateTime::now_utc());
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
        // Disconnect devices of members removed since they connected.
        let revoked: Vec<PeerId> = self
            .peers()
            .iter_mut()
            .filter(|(peer, p)| p.member && roster.revoked.contains(&peer.to_string()))
            .map(|(peer, p)| {
                p.member = false;
                *peer
            })
            .collect();
        *self.roster.write().unwrap_or_else(|e| e.into_inner()) = Some(roster);
        for peer in revoked {
            tracing::warn!("disconnecting {peer}: a device of a removed member");
            self.net.disconnect(peer);
        }
    }

    fn kind_of(&self, doc: &str) -> Option<DocKind> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(doc)
            .copied()
    }

    /// `peer` may send us this document: a community document, or our private document
    /// from one of our own devices.
    fn allowed(&self, peer: PeerId, doc: &str) -> bool {
        match self.kind_of(doc) {
            Some(DocKind::Relationships) => self.is_own_device(&peer),
            Some(_) => true,
            None => false,
        }
    }

    /// We may send `peer` this document: the same rule as [`Engine::allowed`].
    fn shareable(&self, peer: PeerId, doc: &str) -> bool {
        self.allowed(peer, doc)
    }

    fn is_own_device(&self, peer: &PeerId) -> bool {
        self.peers()
            .get(peer)
            .is_some_and(|p| p.member && p.own_device)
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

    /// Remembers a peer's heads of the documents we may share with it (nothing else: a peer
    /// must not make us hold what it likes).
    /// The peer's heads of `doc`, as last heard from it.
    fn known(&self, peer: PeerId, doc: &str) -> Option<Vec<ChangeHash>> {
        self.peers()
            .get(&peer)
            .and_then(|p| p.known.get(doc).cloned())
    }

    /// Remembers a digest's heads as the peer's (its summary matched ours).
    fn remember_digest(&self, peer: PeerId, docs: &[(String, Heads)]) {
        let docs: Vec<_> = docs
            .iter()
            .map(|(d, h)| (d.clone(), from_wire(h)))
            .collect();
        self.remember_all(peer, &docs);
    }

    fn remember_all(&self, peer: PeerId, docs: &[(String, Vec<ChangeHash>)]) {
        for (doc, heads) in docs.iter().take(limits::MAX_ANNOUNCED_DOCS) {
            if self.allowed(peer, doc) {
                self.remember(peer, doc, heads.clone());
            }
        }
    }

    fn touch(&self, peer: PeerId) {
        if let Some(state) = self.peers().get_mut(&peer) {
            state.last_sync = Some(time::OffsetDateTime::now_utc());
        }
    }

    /// Counts a request about a document we do not know; true every
    /// [`limits::UNKNOWN_PER_STRIKE`] of them.
    fn count_unknown(&self, peer: PeerId) -> bool {
        let mut peers = self.peers();
        let state = peers.entry(peer).or_default();
        state.unknown += 1;
        state.unknown.is_multiple_of(limits::UNKNOWN_PER_STRIKE)
    }

    /// Counts a misbehaviour: a strike, or for a hard limit a ban at once. Banned peers are
    /// disconnected and refused for [`BAN`].
    pub fn punish(&self, peer: PeerId, why: &str, severity: Severity) {
        tracing::warn!("peer {peer}: {why}");
        let mut peers = self.peers();
        let state = peers.entry(peer).or_default();
        if state.banned() {
            return;
        }
        // Strikes are forgiven after a quiet while: an honest peer that races now and then
        // (a push overtaking its index entry) must not add up to a ban over days.
        let now = Instant::now();
        if state
            .last_strike
            .is_some_and(|at| now.duration_since(at) > limits::STRIKE_MEMORY)
        {
            state.strikes = 0;
        }
        state.last_strike = Some(now);
        state.strikes += 1;
        if severity == Severity::Ban || state.strikes >= STRIKES_BEFORE_BAN {
            state.strikes = 0;
            let until = Instant::now() + BAN;
            state.banned_until = Some(until);
            drop(peers);
            tracing::warn!("disconnecting and banning {peer} for {BAN:?}");
            self.net.ban(peer, until);
        }
    }

    /// One request and its checked response; waits and asks again when told to slow down.
    async fn call(&self, peer: PeerId, request: &Request) -> Result<Response, SyncError> {
        let bytes = wire::encode(request).map_err(|e| SyncError::Encode(e.to_string()))?;
        let slots = self
            .outbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(peer)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(limits::MAX_OUTBOUND_PER_PEER)))
            .clone();
        // Never closed, so acquiring only waits.
        let _slot = slots.acquire_owned().await.ok();
        let mut retries = 0;
        loop {
            self.count_sent(peer, bytes.len());
            let answer = self.net.request(peer, bytes.clone()).await?;
            self.count_received(peer, answer.len());
            tracing::trace!(
                "to {peer}: {} ({} B) answered with {} B",
                request.kind(),
                bytes.len(),
                answer.len()
            );
            capture::record("response", &answer);
            match wire::decode::<Response>(&answer) {
                Ok(Response::Refused { reason })
                    if reason == SLOW_DOWN && retries < SLOW_DOWN_RETRIES =>
                {
                    retries += 1;
                    tokio::time::sleep(SLOW_DOWN_WAIT).await;
                }
                Ok(Response::Refused { reason }) => return Err(SyncError::Refused(peer, reason)),
                Ok(response) => {
                    if let Err(v) = limits::check_response(&response) {
                        self.punish(peer, &v.to_string(), Severity::Ban);
                        return Err(SyncError::Malformed(peer, v.to_string()));
                    }
                    return Ok(response);
                }
                Err(e) => {
                    self.punish(peer, &format!("malformed response: {e}"), Severity::Strike);
                    return Err(SyncError::Malformed(peer, e.to_string()));
                }
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
