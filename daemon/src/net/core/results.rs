//! Document work results, and the index and roster read from the documents.

use super::peers::Punishment;
use super::*;

impl Core {
    pub(super) fn read_access(&mut self) {
        let Some(community) = self.access.community() else {
            return;
        };
        if self.reading_access {
            self.access_stale = true;
            return;
        }
        self.reading_access = true;
        self.access_stale = false;
        let community = community.to_owned();
        self.out.push(Effect::Work(Work::ReadAccess { community }));
    }

    pub(super) fn on_done(&mut self, at: At, done: Done) {
        match done {
            Done::AllHeads(all) => {
                let resync = std::mem::take(&mut self.resyncing);
                for (doc, mut heads) in all {
                    heads.sort();
                    if resync {
                        self.ours.insert(doc, heads);
                    } else {
                        // Heads reported by a change since are newer than what was read.
                        self.ours.entry(doc).or_insert(heads);
                    }
                }
                self.ready = true;
                for (peer, id, request) in std::mem::take(&mut self.waiting) {
                    self.handle_request(at, peer, id, request);
                }
                for peer in self.peers.members() {
                    if self.leads(&peer) {
                        self.reconcile(peer);
                    }
                }
                self.fetch_missing();
            }
            Done::Lacking { peer, docs } => {
                for (doc, lacking) in docs {
                    self.checking.remove(&doc);
                    match lacking {
                        Some(ours) => self.pull(peer, doc, ours),
                        None => self.next_check(&doc),
                    }
                }
            }
            Done::Answer {
                peer,
                id,
                response,
                remember,
            } => {
                for (doc, heads) in remember {
                    self.peers.remember(&peer, &doc, heads);
                }
                self.respond(id, &response);
            }
            Done::Applied {
                peer,
                doc,
                then,
                result,
            } => self.on_applied(at, peer, doc, then, result),
            Done::Push { peer, doc, outcome } => match outcome {
                PushOutcome::Send { bytes, heads } => {
                    let request = Request::Changes {
                        doc: doc.clone(),
                        bytes,
                        heads: to_wire(&heads),
                    };
                    self.call(peer, &request, Purpose::Changes { doc });
                }
                PushOutcome::TheyHaveMore { heads } => {
                    self.pushing.remove(&(peer, doc.clone()));
                    if self.pulling.contains_key(&doc) || self.checking.contains(&doc) {
                        self.pull_queue.entry(doc).or_default().insert(peer);
                    } else {
                        self.pull(peer, doc, heads);
                    }
                }
                PushOutcome::Nothing => {
                    self.pushing.remove(&(peer, doc));
                }
            },
            Done::SyncStep {
                peer,
                doc,
                answer: Some(id),
                result,
            } => match result {
                Ok((message, _)) => self.respond(id, &Response::Sync { message }),
                Err(fault) => {
                    if let DocFault::Bad(why) = &fault {
                        self.punish(
                            at,
                            peer,
                            &format!("sync of {doc}: {why}"),
                            Punishment::Strike,
                        );
                    }
                    self.respond(id, &refused(&format!("document {doc}: {fault}")));
                }
            },
            Done::SyncStep {
                peer,
                doc,
                answer: None,
                result,
            } => self.on_sync_step(at, peer, doc, result),
            Done::Access {
                listed,
                roster,
                hubs,
            } => {
                self.reading_access = false;
                self.access.update(listed, roster);
                self.push_newly_listed();
                self.serve_members();
                self.meet_at_hubs(at, &hubs);
                // Devices of members removed since they connected are cut off.
                let revoked: Vec<PeerId> = self
                    .peers
                    .members()
                    .into_iter()
                    .filter(|p| self.access.revoked(p))
                    .collect();
                for peer in revoked {
                    tracing::warn!("disconnecting {peer}: a device of a removed member");
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.member = false;
                    }
                    self.out.push(Effect::Disconnect { peer });
                }
                if self.ready {
                    self.fetch_missing();
                }
                if self.access_stale {
                    self.read_access();
                }
            }
            Done::Nothing => {}
        }
    }

    pub(super) fn on_applied(
        &mut self,
        at: At,
        peer: PeerId,
        doc: String,
        then: Then,
        result: Result<Heads, DocFault>,
    ) {
        match &then {
            Then::Fetched => {
                self.fetching.remove(&doc);
            }
            Then::Pulled => self.pull_done(&doc),
            Then::Ack(_) => {}
        }
        match result {
            Ok(heads) => {
                if !self.ours.contains_key(&doc) {
                    // A new document: in our digests from now on (its change notification
                    // may come later).
                    self.ours.insert(doc.clone(), heads.clone());
                }
                match then {
                    Then::Ack(id) => {
                        self.peers.touch(&peer, at.wall);
                        self.respond(
                            id,
                            &Response::Ack {
                                heads: to_wire(&heads),
                            },
                        );
                    }
                    // Right after loading, our heads are the peer's.
                    Then::Fetched => self.peers.remember(&peer, &doc, heads),
                    Then::Pulled => self.peers.touch(&peer, at.wall),
                }
            }
            Err(fault) => {
                match &fault {
                    DocFault::Bad(why) => {
                        self.punish(
                            at,
                            peer,
                            &format!("document {doc}: {why}"),
                            Punishment::Strike,
                        );
                    }
                    DocFault::Ours(why) => tracing::warn!("cannot apply {doc} from {peer}: {why}"),
                    DocFault::Missing => {}
                }
                if let Then::Ack(id) = then {
                    self.respond(id, &refused(&format!("document {doc}: {fault}")));
                }
            }
        }
    }
}
