//! What to send: digest rounds (`Summary`, then `Digest` only when the summaries differ),
//! catching up (`Want`, `Pull`, the sync protocol where histories diverged), pushing our
//! own changes and announcing those we received.

use rand::seq::IndexedRandom;

use super::peers::Punishment;
use super::*;

impl Core {
    /// Heads of every document we may share with `peer`, in id order.
    pub(super) fn digest_for(&self, peer: &PeerId) -> Vec<(String, wire::Heads)> {
        let own = self.peers.is_own_device(peer);
        self.ours
            .iter()
            .filter(|(d, _)| self.access.shareable(own, d))
            .map(|(d, h)| (d.clone(), to_wire(h)))
            .collect()
    }

    pub(super) fn remember_digest(&mut self, peer: &PeerId, docs: &[(String, wire::Heads)]) {
        for (doc, heads) in docs {
            self.peers.remember(peer, doc, from_wire(heads));
        }
    }

    /// A digest round with `peer`: one summary hash, the digests only if they differ.
    pub(super) fn reconcile(&mut self, peer: PeerId) {
        if !self.ready {
            return; // Started again once our heads are known.
        }
        if !self.reconciling.insert(peer) {
            return;
        }
        let digest = self.digest_for(&peer);
        let hash = wire::summary(&digest);
        self.call(
            peer,
            &Request::Summary { hash },
            Purpose::Summary { digest },
        );
    }

    /// Given the peer's heads of every document, gets what we lack from it.
    pub(super) fn catch_up(&mut self, at: At, peer: PeerId, theirs: Vec<(String, Heads)>) {
        let mut want = Vec::new();
        let mut compare = Vec::new();
        for (doc, heads) in theirs.into_iter().take(limits::MAX_ANNOUNCED_DOCS) {
            self.peers.remember(&peer, &doc, heads.clone());
            if !self.shareable(&peer, &doc) {
                continue; // Not in our index (yet): fetched once it is.
            }
            match self.ours.get(&doc) {
                None => want.push(doc),
                Some(ours) if *ours != heads => compare.push(doc),
                Some(_) => {}
            }
        }
        self.fetch(peer, want);
        self.check(peer, compare);
        self.peers.touch(&peer, at.wall);
    }

    /// Checks whether `peer` holds changes of `docs` we lack (its heads as last heard), so as
    /// to pull them. A document being checked or pulled already waits its turn: the peer is
    /// checked again once that pull is done, against what we hold then.
    pub(super) fn check(&mut self, peer: PeerId, docs: Vec<String>) {
        let mut now = Vec::new();
        for doc in docs {
            if self.pulling.contains_key(&doc) || self.checking.contains(&doc) {
                self.pull_queue.entry(doc).or_default().insert(peer);
            } else if let Some(theirs) = self.peers.known(&peer, &doc) {
                self.checking.insert(doc.clone());
                now.push((doc, theirs.clone()));
            }
        }
        if !now.is_empty() {
            self.out
                .push(Effect::Work(Work::Lacking { peer, docs: now }));
        }
    }

    /// The next peer waiting with heads of `doc` we may lack, checked against what we hold
    /// now.
    pub(super) fn next_check(&mut self, doc: &str) {
        if self.pulling.contains_key(doc) || self.checking.contains(doc) {
            return;
        }
        while let Some(peer) = self.pull_queue.get_mut(doc).and_then(BTreeSet::pop_first) {
            let theirs = self.peers.known(&peer, doc);
            if self.peers.may_send(&peer) && theirs.is_some() && theirs != self.ours.get(doc) {
                self.check(peer, vec![doc.to_owned()]);
                return;
            }
        }
        self.pull_queue.remove(doc);
    }

    /// Pulls the changes of `doc` after `heads` (ours, read just now) from `peer`.
    pub(super) fn pull(&mut self, peer: PeerId, doc: String, heads: Heads) {
        if !self.peers.may_send(&peer) || self.pulling.contains_key(&doc) {
            return self.next_check(&doc);
        }
        self.pulling.insert(doc.clone(), peer);
        let request = Request::Pull {
            doc: doc.clone(),
            heads: to_wire(&heads),
        };
        self.call(peer, &request, Purpose::Pull { doc });
    }

    pub(super) fn pull_done(&mut self, doc: &str) {
        self.pulling.remove(doc);
        self.next_check(doc);
    }

    /// Fetches whole documents we do not hold (those no other fetch is getting).
    pub(super) fn fetch(&mut self, peer: PeerId, docs: Vec<String>) {
        let docs: Vec<String> = docs
            .into_iter()
            .filter(|d| !self.ours.contains_key(d) && self.shareable(&peer, d))
            .collect();
        let docs: Vec<String> = docs
            .into_iter()
            .filter(|d| self.fetching.insert(d.clone()))
            .collect();
        if !docs.is_empty() {
            let request = Request::Want { docs: docs.clone() };
            self.call(peer, &request, Purpose::Want { docs });
        }
    }

    pub(super) fn on_snapshots(
        &mut self,
        peer: PeerId,
        asked: Vec<String>,
        snapshots: Vec<(String, Vec<u8>)>,
    ) {
        let mut returned = BTreeSet::new();
        for (doc, bytes) in snapshots {
            if !asked.contains(&doc) || !returned.insert(doc.clone()) {
                continue; // Not asked for: ignored.
            }
            if !self.apply(peer, &doc, bytes, Then::Fetched) {
                self.fetching.remove(&doc);
            }
        }
        let rest: Vec<String> = asked
            .into_iter()
            .filter(|d| !returned.contains(d))
            .collect();
        if returned.is_empty() {
            // The peer has none of them.
            for doc in rest {
                self.fetching.remove(&doc);
            }
        } else if !rest.is_empty() {
            // They did not fit in one answer: ask for the rest (still claimed).
            let request = Request::Want { docs: rest.clone() };
            self.call(peer, &request, Purpose::Want { docs: rest });
        }
    }

    /// Documents the index lists that we do not hold: fetch each from a peer that has it.
    pub(super) fn fetch_missing(&mut self) {
        let members = self.peers.members();
        if members.is_empty() {
            return;
        }
        let missing: Vec<String> = self
            .access
            .index()
            .filter(|d| !self.ours.contains_key(*d) && !self.fetching.contains(*d))
            .cloned()
            .collect();
        let mut by_peer: BTreeMap<PeerId, Vec<String>> = BTreeMap::new();
        for doc in missing {
            let holder = members
                .iter()
                .find(|p| self.peers.known(p, &doc).is_some())
                .or_else(|| members.first())
                .copied();
            if let Some(peer) = holder {
                by_peer.entry(peer).or_default().push(doc);
            }
        }
        for (peer, docs) in by_peer {
            self.fetch(peer, docs);
        }
    }

    pub(super) fn start_session(&mut self, peer: PeerId, doc: String) {
        let Some(kind) = self.kind_for(&peer, &doc) else {
            return;
        };
        if self.sessions.contains_key(&(peer, doc.clone())) {
            return; // One is running: it goes on until neither side has anything new.
        }
        self.sessions.insert(
            (peer, doc.clone()),
            Session {
                round: 0,
                ours_empty: false,
                theirs_empty: true,
                shared: Vec::new(),
            },
        );
        self.out.push(Effect::Work(Work::SyncStep {
            peer,
            doc,
            kind,
            received: None,
            restart: true,
            answer: None,
        }));
    }

    /// Our next message of a session we run is ready.
    pub(super) fn on_sync_step(
        &mut self,
        at: At,
        peer: PeerId,
        doc: String,
        result: Result<(Option<Vec<u8>>, Heads), DocFault>,
    ) {
        let key = (peer, doc.clone());
        let (message, shared) = match result {
            Ok(step) => step,
            Err(fault) => {
                self.sessions.remove(&key);
                if let DocFault::Bad(why) = fault {
                    self.punish(
                        at,
                        peer,
                        &format!("sync of {doc}: {why}"),
                        Punishment::Strike,
                    );
                }
                return;
            }
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.shared = shared;
        if message.is_none() && session.theirs_empty {
            return self.end_session(peer, doc);
        }
        session.ours_empty = message.is_none();
        let first = session.round == 0;
        let request = Request::Sync {
            doc: doc.clone(),
            message: message.unwrap_or_default(),
            first,
        };
        self.call(peer, &request, Purpose::Sync { doc });
    }

    pub(super) fn on_sync_reply(&mut self, peer: PeerId, doc: String, reply: Option<Vec<u8>>) {
        let key = (peer, doc.clone());
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if session.ours_empty && reply.is_none() {
            return self.end_session(peer, doc);
        }
        session.theirs_empty = reply.is_none();
        session.round += 1;
        if session.round >= MAX_SYNC_ROUNDS {
            return self.end_session(peer, doc);
        }
        let Some(kind) = self.kind_for(&peer, &doc) else {
            self.sessions.remove(&key);
            return;
        };
        self.out.push(Effect::Work(Work::SyncStep {
            peer,
            doc,
            kind,
            received: reply,
            restart: false,
            answer: None,
        }));
    }

    /// Both sides now hold the union of what they had; remember the heads they share (not
    /// our current heads, which may include local changes made meanwhile).
    pub(super) fn end_session(&mut self, peer: PeerId, doc: String) {
        if let Some(session) = self.sessions.remove(&(peer, doc.clone())) {
            self.peers.remember(&peer, &doc, session.shared);
        }
    }

    pub(super) fn on_changed(&mut self, changes: Vec<Changed>) {
        let mut access = false;
        let mut docs: BTreeMap<String, bool> = BTreeMap::new();
        for mut change in changes {
            change.heads.sort();
            let kind = self.access.kind_of(&change.doc);
            // The index and the roster follow the community and member documents (and a
            // document not in the index may be one: the index may still be being built).
            access |= matches!(kind, None | Some(DocKind::Member | DocKind::Community));
            if change.local && kind.is_none() {
                self.unlisted_local.insert(change.doc.clone());
            }
            self.ours.insert(change.doc.clone(), change.heads);
            *docs.entry(change.doc).or_default() |= change.local;
        }
        if access {
            self.read_access();
        }
        // The community document first: its index announces the others.
        let mut ordered: Vec<(String, bool)> = docs.into_iter().collect();
        ordered.sort_by_key(|(d, _)| !self.access.is_community(d));
        let members = self.peers.members();
        let announce_to: BTreeSet<PeerId> = members
            .choose_multiple(&mut self.rng, ANNOUNCE_FANOUT)
            .copied()
            .collect();
        for peer in members {
            for (doc, local) in &ordered {
                if !self.shareable(&peer, doc) {
                    continue;
                }
                // Our own changes go out whole, in one message. Changes we received are
                // only announced, and to a few peers: at a meetup every peer hears them from
                // their author too, and passing them on to everyone made traffic grow with
                // the cube of the number of daemons. Where peers are not all connected they
                // spread hop by hop, and the digest rounds catch anything a random choice
                // left out.
                if *local {
                    self.push(peer, doc);
                } else if announce_to.contains(&peer) {
                    self.announce(peer, doc);
                }
            }
        }
    }

    /// Pushes the documents made here that our index lists now (see `unlisted_local`).
    pub(super) fn push_newly_listed(&mut self) {
        let listed: Vec<String> = self
            .unlisted_local
            .iter()
            .filter(|d| self.access.kind_of(d).is_some())
            .cloned()
            .collect();
        for doc in &listed {
            self.unlisted_local.remove(doc);
        }
        for peer in self.peers.members() {
            for doc in &listed {
                if self.shareable(&peer, doc) {
                    self.push(peer, doc);
                }
            }
        }
    }

    /// Sends `peer` the changes of `doc` it lacks, in one message (one push in flight per
    /// peer and document: changes made meanwhile go in the next).
    pub(super) fn push(&mut self, peer: PeerId, doc: &str) {
        let Some(ours) = self.ours.get(doc) else {
            return;
        };
        let known = self.peers.known(&peer, doc);
        if known == Some(ours) {
            return;
        }
        let key = (peer, doc.to_owned());
        if let Some(again) = self.pushing.get_mut(&key) {
            *again = true;
            return;
        }
        let known = known.cloned().unwrap_or_default();
        self.pushing.insert(key, false);
        self.out.push(Effect::Work(Work::Push {
            peer,
            doc: doc.to_owned(),
            known,
        }));
    }

    /// Tells `peer` our heads of `doc`, unless it has them; it pulls what it lacks.
    pub(super) fn announce(&mut self, peer: PeerId, doc: &str) {
        let Some(ours) = self.ours.get(doc) else {
            return;
        };
        if self.peers.known(&peer, doc) == Some(ours) {
            return;
        }
        let request = Request::Have {
            doc: doc.to_owned(),
            heads: to_wire(ours),
        };
        let doc = doc.to_owned();
        self.call(peer, &request, Purpose::Have { doc });
    }
}
