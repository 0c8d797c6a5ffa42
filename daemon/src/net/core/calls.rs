//! Requests both ways: ours (sent within the per-peer limits, asked again after "slow
//! down") and the peer's (held to its limits, decoded, answered).

use super::peers::{Admit, Punishment};
use super::*;

impl Core {
    /// Sends a request, or queues it until the peer has a free outbound slot (so that we
    /// never break the limits we hold peers to).
    pub(super) fn call(&mut self, peer: PeerId, request: &Request, purpose: Purpose) {
        let bytes = match wire::encode(request) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!("cannot encode a {}: {e}", request.kind());
                return;
            }
        };
        tracing::trace!("to {peer}: {} of {} B", request.kind(), bytes.len());
        self.next_req += 1;
        let req = self.next_req;
        self.calls.insert(
            req,
            Call {
                peer,
                bytes,
                retries: 0,
                purpose,
            },
        );
        self.dispatch(peer, req);
    }

    pub(super) fn dispatch(&mut self, peer: PeerId, req: ReqId) {
        let free = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.outbound < limits::MAX_OUTBOUND_PER_PEER);
        if !free {
            self.queued.entry(peer).or_default().push_back(req);
            return;
        }
        let Some(call) = self.calls.get(&req) else {
            return;
        };
        let bytes = call.bytes.clone();
        if let Some(p) = self.peers.get_mut(&peer) {
            p.outbound += 1;
        }
        self.peers.count_sent(&peer, bytes.len());
        self.out.push(Effect::Send { peer, req, bytes });
    }

    pub(super) fn slot_freed(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.outbound = p.outbound.saturating_sub(1);
        }
        if let Some(next) = self.queued.get_mut(&peer).and_then(VecDeque::pop_front) {
            self.dispatch(peer, next);
        }
    }

    /// Answers an inbound request and frees what it held.
    pub(super) fn respond(&mut self, id: InId, response: &Response) {
        let bytes = match wire::encode(response) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!("cannot encode a response: {e}");
                return;
            }
        };
        if let Some((peer, held)) = self.held.remove(&id) {
            self.peers.release(&peer, held);
            self.peers.count_sent(&peer, bytes.len());
            tracing::trace!(
                "to {peer}: {} of {} B",
                response_kind(response),
                bytes.len()
            );
        }
        self.out.push(Effect::Respond { id, bytes });
    }

    pub(super) fn on_request(
        &mut self,
        at: At,
        peer: PeerId,
        id: InId,
        frame: Result<Vec<u8>, FrameError>,
    ) {
        let bytes = match frame {
            Ok(bytes) => bytes,
            Err(limit) => {
                // The frame broke a wire limit and was never read.
                self.peers.count_received(&peer, 0);
                let how = match limit {
                    FrameError::TooLarge(_) => Some(Punishment::Ban),
                    FrameError::TooSlow(_) => Some(Punishment::Strike),
                    // Every peer's frames together were over the budget: not this peer's
                    // fault alone (one that holds much is caught by the per-peer limits).
                    FrameError::Busy(_) => None,
                };
                if let Some(how) = how {
                    self.punish(at, peer, &limit.to_string(), how);
                }
                self.respond(id, &refused(&limit.to_string()));
                return;
            }
        };
        match self.peers.admit_request(peer, bytes.len(), at.now) {
            Admit::Yes => {
                self.held.insert(id, (peer, bytes.len()));
            }
            Admit::Banned => return self.respond(id, &refused("banned")),
            Admit::SlowDown => return self.respond(id, &refused(SLOW_DOWN)),
            Admit::Violation(how, why) => {
                self.punish(at, peer, &why, how);
                return self.respond(id, &refused(&why));
            }
        }
        let request = match wire::decode::<Request>(&bytes) {
            Ok(request) => request,
            Err(e) => {
                self.punish(
                    at,
                    peer,
                    &format!("malformed request: {e}"),
                    Punishment::Strike,
                );
                return self.respond(id, &refused("malformed request"));
            }
        };
        drop(bytes);
        if let Err(v) = limits::check_request(&request) {
            self.punish(at, peer, &v.to_string(), Punishment::Ban);
            return self.respond(id, &refused(&v.to_string()));
        }
        if let Request::Hello { .. } = request {
            return self.on_hello(at, peer, id, &request);
        }
        if !self.peers.is_member(&peer) {
            self.punish(
                at,
                peer,
                "request before proving membership",
                Punishment::Strike,
            );
            return self.respond(id, &refused("prove membership first (Hello)"));
        }
        self.handle_request(at, peer, id, request);
    }

    pub(super) fn handle_request(&mut self, at: At, peer: PeerId, id: InId, request: Request) {
        match request {
            Request::Hello { .. } => {}
            Request::Summary { .. } | Request::Digest { .. } if !self.ready => {
                // Answered once our heads are all known (see `on_done`).
                self.waiting.push((peer, id, request));
            }
            Request::Summary { hash } => {
                let ours = self.digest_for(&peer);
                let same = wire::summary(&ours) == hash;
                if same {
                    self.remember_digest(&peer, &ours);
                    self.peers.touch(&peer, at.wall);
                }
                self.respond(id, &Response::Summary { same });
            }
            Request::Digest { docs } => {
                let ours = self.digest_for(&peer);
                self.respond(id, &Response::Digest { docs: ours });
                // The peer runs this round for both of us: get what we lack from its digest.
                self.catch_up(at, peer, from_wire_all(docs));
            }
            Request::Want { docs } => {
                let docs: Vec<String> = docs
                    .into_iter()
                    .filter(|d| self.shareable(&peer, d))
                    .take(10_000)
                    .collect();
                self.out
                    .push(Effect::Work(Work::Snapshots { peer, id, docs }));
            }
            Request::Have { doc, heads } => self.on_have(peer, id, doc, from_wire(&heads)),
            Request::Pull { doc, heads } => {
                if !self.shareable(&peer, &doc) {
                    return self.respond(id, &unknown_doc(&doc));
                }
                self.out.push(Effect::Work(Work::AnswerPull {
                    peer,
                    id,
                    doc,
                    heads: from_wire(&heads),
                }));
            }
            Request::Sync {
                doc,
                message,
                first,
            } => {
                let Some(kind) = self.kind_for(&peer, &doc) else {
                    return self.respond(id, &unknown_doc(&doc));
                };
                self.out.push(Effect::Work(Work::SyncStep {
                    peer,
                    doc,
                    kind,
                    received: (!message.is_empty()).then_some(message),
                    restart: first,
                    answer: Some(id),
                }));
            }
            Request::Changes { doc, bytes, heads } => {
                // A document not in our index yet is normal (its index entry may be behind):
                // refused, not punished; it is fetched once the index lists it, from this
                // peer, which we remember holds it (another member may not have it yet).
                let accepted = self.apply(peer, &doc, bytes, Then::Ack(id));
                self.peers.remember(&peer, &doc, from_wire(&heads));
                if !accepted {
                    self.respond(id, &unknown_doc(&doc));
                }
            }
        }
    }

    /// Applies what the peer sent of `doc` (off the async workers); false if the peer may
    /// not send it (it is not in our index).
    pub(super) fn apply(&mut self, peer: PeerId, doc: &str, bytes: Vec<u8>, then: Then) -> bool {
        let Some(kind) = self.kind_for(&peer, doc) else {
            return false;
        };
        self.out.push(Effect::Work(Work::Apply {
            peer,
            doc: doc.to_owned(),
            kind,
            bytes,
            then,
        }));
        true
    }

    /// The document's kind if the peer may send or receive it.
    pub(super) fn kind_for(&self, peer: &PeerId, doc: &str) -> Option<DocKind> {
        self.shareable(peer, doc)
            .then(|| self.access.kind_of(doc))
            .flatten()
    }

    /// The peer announces new heads of `doc`: pull them (once, however many announce them).
    pub(super) fn on_have(&mut self, peer: PeerId, id: InId, doc: String, heads: Heads) {
        if !self.shareable(&peer, &doc) {
            // Its index entry may not be here yet; the document is fetched once it is.
            self.peers.remember(&peer, &doc, heads);
            return self.respond(id, &Response::Ack { heads: Vec::new() });
        }
        self.peers.remember(&peer, &doc, heads.clone());
        let ours = self.ours.get(&doc).cloned();
        self.respond(
            id,
            &Response::Ack {
                heads: to_wire(ours.as_deref().unwrap_or_default()),
            },
        );
        if !self.ready || ours.as_ref() == Some(&heads) {
            return;
        }
        if ours.is_none() {
            return self.fetch(peer, vec![doc]);
        }
        self.check(peer, vec![doc]);
    }

    pub(super) fn on_answer(&mut self, at: At, req: ReqId, answer: Result<Vec<u8>, String>) {
        let Some(call) = self.calls.remove(&req) else {
            return;
        };
        let peer = call.peer;
        self.slot_freed(peer);
        let bytes = match answer {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::debug!("request to {peer} failed: {e}");
                return self.call_failed(call);
            }
        };
        self.peers.count_received(&peer, bytes.len());
        let response = match wire::decode::<Response>(&bytes) {
            Ok(response) => response,
            Err(e) => {
                self.punish(
                    at,
                    peer,
                    &format!("malformed response: {e}"),
                    Punishment::Strike,
                );
                return self.call_failed(call);
            }
        };
        if let Err(v) = limits::check_response(&response) {
            self.punish(at, peer, &v.to_string(), Punishment::Ban);
            return self.call_failed(call);
        }
        match (call.purpose, response) {
            (purpose, Response::Refused { reason })
                if reason == SLOW_DOWN && call.retries < SLOW_DOWN_RETRIES =>
            {
                self.next_req += 1;
                let again = self.next_req;
                self.calls.insert(
                    again,
                    Call {
                        peer,
                        bytes: call.bytes,
                        retries: call.retries + 1,
                        purpose,
                    },
                );
                self.schedule(at.now + SLOW_DOWN_WAIT, Timer::Resend(again));
            }
            (
                Purpose::Hello,
                Response::Denied {
                    reason,
                    retry_after_secs,
                },
            ) => self.refused_by(at, peer, &reason, retry_after_secs.map(Duration::from_secs)),
            (Purpose::Hello, Response::Refused { reason }) => {
                self.refused_by(at, peer, &reason, None);
            }
            (Purpose::Hello, hello @ Response::Hello { .. }) => {
                self.on_hello_answer(at, peer, &hello);
            }
            (purpose, Response::Refused { reason } | Response::Denied { reason, .. }) => {
                tracing::debug!("{peer} refused a request: {reason}");
                self.call_failed(Call {
                    peer,
                    bytes: Vec::new(),
                    retries: 0,
                    purpose,
                });
            }
            (Purpose::Summary { digest }, Response::Summary { same: true }) => {
                self.remember_digest(&peer, &digest);
                self.peers.touch(&peer, at.wall);
                self.reconciling.remove(&peer);
            }
            (Purpose::Summary { digest }, Response::Summary { same: false }) => {
                self.call(peer, &Request::Digest { docs: digest }, Purpose::Digest);
            }
            (Purpose::Digest, Response::Digest { docs }) => {
                self.reconciling.remove(&peer);
                self.catch_up(at, peer, from_wire_all(docs));
            }
            (Purpose::Want { docs }, Response::Snapshots { docs: snapshots }) => {
                self.on_snapshots(peer, docs, snapshots);
            }
            (Purpose::Pull { doc }, Response::Changes { bytes, heads }) => {
                self.peers.remember(&peer, &doc, from_wire(&heads));
                if !self.apply(peer, &doc, bytes, Then::Pulled) {
                    self.pull_done(&doc);
                }
            }
            (Purpose::Pull { doc }, Response::Diverged) => {
                self.pull_done(&doc);
                if self.leads(&peer) {
                    self.start_session(peer, doc);
                } else if let Some(ours) = self.ours.get(&doc) {
                    // The peer runs the sync protocol: tell it we have changes it lacks.
                    let have = Request::Have {
                        doc: doc.clone(),
                        heads: to_wire(ours),
                    };
                    self.call(peer, &have, Purpose::Have { doc });
                }
            }
            (Purpose::Sync { doc }, Response::Sync { message }) => {
                self.on_sync_reply(peer, doc, message);
            }
            (Purpose::Changes { doc }, Response::Ack { heads }) => {
                self.peers.remember(&peer, &doc, from_wire(&heads));
                self.peers.touch(&peer, at.wall);
                let again = self.pushing.remove(&(peer, doc.clone())).unwrap_or(false);
                if again {
                    self.push(peer, &doc);
                }
            }
            (Purpose::Have { doc }, Response::Ack { heads }) => {
                if !heads.is_empty() {
                    self.peers.remember(&peer, &doc, from_wire(&heads));
                }
            }
            (purpose, other) => {
                self.punish(
                    at,
                    peer,
                    &format!("answered a request with {}", response_kind(&other)),
                    Punishment::Strike,
                );
                self.call_failed(Call {
                    peer,
                    bytes: Vec::new(),
                    retries: 0,
                    purpose,
                });
            }
        }
    }

    /// A request got no useful answer: release whatever it held.
    pub(super) fn call_failed(&mut self, call: Call) {
        let peer = call.peer;
        match call.purpose {
            Purpose::Hello | Purpose::Have { .. } => {}
            Purpose::Summary { .. } | Purpose::Digest => {
                self.reconciling.remove(&peer);
            }
            Purpose::Want { docs } => {
                for doc in docs {
                    self.fetching.remove(&doc);
                }
            }
            Purpose::Pull { doc } => self.pull_done(&doc),
            Purpose::Sync { doc } => {
                self.sessions.remove(&(peer, doc));
            }
            Purpose::Changes { doc } => {
                self.pushing.remove(&(peer, doc));
            }
        }
    }
}
