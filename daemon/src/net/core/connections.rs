//! Membership and connections: greeting peers (`Hello` both ways), admitting or refusing
//! them, and punishing what no honest daemon sends.

use super::access::{Admission, Denial};
use super::dialer::Outcome;
use super::peers::{LogKey, Punishment};
use super::*;

impl Core {
    pub(super) fn on_membership(&mut self, at: At, membership: Option<Membership>) {
        self.access.set_membership(membership);
        // Refusals heard before we belonged where we belong now say nothing any more.
        self.dialer.forget_refusals(at.now);
        self.read_access();
        let connected: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected)
            .map(|(id, _)| *id)
            .collect();
        for peer in connected {
            self.send_hello(at, peer);
        }
    }

    pub(super) fn on_connected(&mut self, at: At, peer: PeerId, addr: &str) {
        if let Err(until) = self.peers.connected(peer, addr, at.now) {
            if self.peers.should_log(peer, LogKey::StillBanned, at.now) {
                tracing::info!(
                    "refusing {peer}: banned for another {}s",
                    until.saturating_duration_since(at.now).as_secs()
                );
            }
            self.out.push(Effect::Disconnect { peer });
            return;
        }
        self.dialer.connected(peer, None, at.now);
        self.send_hello(at, peer);
    }

    pub(super) fn send_hello(&mut self, at: At, peer: PeerId) {
        if let Some(hello) = self.access.hello(&self.me, &peer) {
            self.call(peer, &hello, Purpose::Hello);
            self.schedule(at.now + ADMISSION_TIME, Timer::AdmissionDeadline(peer));
        }
    }

    pub(super) fn on_disconnected(&mut self, at: At, peer: PeerId) {
        let p = self.peers.get(&peer);
        let closed_early = self.access.membership().is_some()
            && p.is_some_and(|p| !p.answered_hello && !p.refused_us);
        if closed_early {
            // Closed before the peer answered our `Hello`: a ban shows this way (the peer
            // refuses the connection as soon as it is up). Back off as for a refusal.
            if self.peers.should_log(peer, LogKey::ClosedEarly, at.now) {
                tracing::info!(
                    "{peer} closed the connection before admitting us (banned, or refusing us); backing off"
                );
            }
            let jitter = self.jitter();
            self.dialer
                .refused(peer, Outcome::ClosedEarly, at.now, jitter);
        }
        self.peers.disconnected(&peer, at.now);
        self.dialer.disconnected(peer, at.now);
        // Whatever was under way with the peer is over.
        let gone: Vec<ReqId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for req in gone {
            if let Some(call) = self.calls.remove(&req) {
                self.call_failed(call);
            }
        }
        self.queued.remove(&peer);
        self.sessions.retain(|(p, _), _| *p != peer);
        self.pushing.retain(|(p, _), _| *p != peer);
        let dropped: Vec<String> = self
            .pulling
            .iter()
            .filter(|(_, p)| **p == peer)
            .map(|(d, _)| d.clone())
            .collect();
        for set in self.pull_queue.values_mut() {
            set.remove(&peer);
        }
        for doc in dropped {
            self.pull_done(&doc);
        }
        self.reconciling.remove(&peer);
        let (gone, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(p, _, _)| *p == peer);
        self.waiting = waiting;
        for (_, id, _) in gone {
            self.respond(id, &refused("disconnected"));
        }
        self.out.push(Effect::Forget { peer });
    }

    /// The peer answered our `Hello`.
    pub(super) fn on_hello_answer(&mut self, at: At, peer: PeerId, answer: &Response) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.answered_hello = true;
        }
        match self.access.check_answer(&self.me, &peer, answer, at.wall) {
            Ok(admission) => self.admitted(at, peer, admission),
            Err(denial) => self.refuse(at, peer, &denial),
        }
    }

    pub(super) fn admitted(&mut self, at: At, peer: PeerId, admission: Admission) {
        let first = !self.peers.is_member(&peer);
        self.peers.admit(peer, admission.own_device, at.now);
        self.dialer.admitted(peer, at.now);
        self.record_invite(at, peer, admission.invite);
        if first {
            self.out.push(Effect::Admitted { peer });
        }
        if self.leads(&peer) {
            self.reconcile(peer);
            if self.reconcile_timers.insert(peer) {
                self.schedule_reconcile(at, peer);
            }
        }
    }

    pub(super) fn record_invite(&mut self, at: At, peer: PeerId, invite: Option<String>) {
        if let (Some(hash), Some(community)) = (invite, self.access.community()) {
            self.out.push(Effect::Work(Work::RecordInvite {
                community: community.to_owned(),
                hash,
                peer,
                when: crdt_model::when::format(at.wall),
            }));
        }
    }

    pub(super) fn schedule_reconcile(&mut self, at: At, peer: PeerId) {
        let jitter = self.rng.random_range(0.9..1.1);
        self.schedule(
            at.now + RECONCILE_EVERY.mul_f64(jitter),
            Timer::Reconcile(peer),
        );
    }

    /// We refuse `peer`: say why once an hour, back off dialling it, hang up shortly.
    pub(super) fn refuse(&mut self, at: At, peer: PeerId, denial: &Denial) {
        if self.peers.should_log(peer, LogKey::Refused, at.now) {
            match denial {
                Denial::NotMember => {
                    tracing::warn!(
                        "{peer} is not a member of this community (wrong membership proof); refusing it"
                    );
                }
                other => tracing::warn!("refusing {peer}: {other}"),
            }
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.member = false;
        }
        if *denial != Denial::NoCommunity {
            // Not worth dialling soon (when we have no community, the fault is ours).
            let jitter = self.jitter();
            self.dialer.refused(
                peer,
                Outcome::Refused {
                    retry_after: None,
                    temporary: may_pass(denial),
                },
                at.now,
                jitter,
            );
        }
        self.schedule(at.now + HANGUP_AFTER, Timer::Hangup(peer));
    }

    /// `peer` refused us, saying why.
    pub(super) fn refused_by(
        &mut self,
        at: At,
        peer: PeerId,
        reason: &str,
        retry_after: Option<Duration>,
    ) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.refused_us = true;
        }
        if self.peers.should_log(peer, LogKey::RefusedBy, at.now) {
            if reason == Denial::NoCommunity.to_string() {
                tracing::warn!(
                    "{peer} is not a member of this community: it belongs to no community yet"
                );
            } else {
                tracing::warn!("{peer} refused us: {reason}");
            }
        }
        let jitter = self.jitter();
        let temporary = retry_after.is_some();
        self.dialer.refused(
            peer,
            Outcome::Refused {
                retry_after,
                temporary,
            },
            at.now,
            jitter,
        );
        self.out.push(Effect::RefusedBy {
            peer,
            reason: reason.to_owned(),
            temporary,
        });
        self.out.push(Effect::Disconnect { peer });
    }

    pub(super) fn punish(&mut self, at: At, peer: PeerId, why: &str, how: Punishment) {
        if self.peers.should_log(peer, LogKey::Strike, at.now) {
            tracing::warn!("peer {peer}: {why}");
        } else {
            tracing::debug!("peer {peer}: {why}");
        }
        if let Some(until) = self.peers.punish(peer, how, at.now) {
            tracing::warn!(
                "disconnecting and banning {peer} for {}s",
                until.saturating_duration_since(at.now).as_secs()
            );
            self.out.push(Effect::Ban { peer, until });
        }
    }

    pub(super) fn on_hello(&mut self, at: At, peer: PeerId, id: InId, hello: &Request) {
        match self.access.answer_hello(&self.me, &peer, hello, at.wall) {
            Ok((answer, admission)) => {
                let first = !self.peers.is_member(&peer);
                self.peers.admit(peer, admission.own_device, at.now);
                self.record_invite(at, peer, admission.invite);
                if first {
                    self.out.push(Effect::Admitted { peer });
                }
                self.respond(id, &answer);
            }
            Err(denial) => {
                let retry_after = may_pass(&denial).then_some(RETRY_UNLISTED.as_secs());
                self.respond(
                    id,
                    &Response::Denied {
                        reason: denial.to_string(),
                        retry_after_secs: retry_after,
                    },
                );
                self.refuse(at, peer, &denial);
            }
        }
    }
}
