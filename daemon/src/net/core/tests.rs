//! The core against its inputs and effects: no network, no documents, no clock.

use std::time::{Duration, Instant};

use automerge::ChangeHash;
use libp2p::PeerId;
use time::OffsetDateTime;

use super::*;
use crate::net::membership::Membership;
use crate::net::wire::{self, Request, Response};

const COMMUNITY: &str = "community-doc";

fn membership() -> Membership {
    Membership::new(COMMUNITY.into(), [7; 32])
}

fn hash(n: u8) -> ChangeHash {
    ChangeHash([n; 32])
}

/// A core that belongs to the community, with its heads read, and a clock.
struct Harness {
    core: Core,
    me: PeerId,
    at: At,
}

impl Harness {
    fn new() -> Self {
        Self::with_me(PeerId::random())
    }

    fn with_me(me: PeerId) -> Self {
        let mut core = Core::new(me, Some(membership()), 1);
        let start = core.start();
        assert!(
            start
                .iter()
                .any(|e| matches!(e, Effect::Work(Work::AllHeads)))
        );
        let mut h = Self {
            core,
            me,
            at: At {
                now: Instant::now(),
                wall: OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            },
        };
        h.handle(Input::Done(Done::AllHeads(vec![(
            COMMUNITY.into(),
            vec![hash(1)],
        )])));
        h
    }

    fn handle(&mut self, input: Input) -> Vec<Effect> {
        self.core.handle(self.at, input)
    }

    fn advance(&mut self, by: Duration) -> Vec<Effect> {
        self.at.now += by;
        self.handle(Input::Tick)
    }

    /// A peer (not us) whose id sorts after ours: we lead the digest rounds with it.
    fn follower(&self) -> PeerId {
        loop {
            let p = PeerId::random();
            if p > self.me {
                return p;
            }
        }
    }

    /// Connects `peer` and completes the `Hello` exchange both ways.
    fn admit(&mut self, peer: PeerId) -> Vec<Effect> {
        let effects = self.handle(Input::Connected {
            peer,
            addr: "/ip4/10.0.0.2/tcp/1".into(),
        });
        let (req, hello) = sent(&effects)
            .into_iter()
            .find(|(p, _, r)| *p == peer && matches!(r, Request::Hello { .. }))
            .map(|(_, req, r)| (req, r))
            .expect("a Hello");
        assert!(matches!(hello, Request::Hello { .. }));
        let m = membership();
        let answer = Response::Hello {
            proof: m.proof(&peer, &self.me),
            invite: None,
            device: None,
        };
        let mut out = self.answer(req, &answer);
        // And the peer's own Hello to us.
        let theirs = Request::Hello {
            community: COMMUNITY.into(),
            proof: m.proof(&peer, &self.me),
            invite: None,
            device: None,
        };
        out.extend(self.request(peer, 9_000, &theirs));
        out
    }

    fn answer(&mut self, req: ReqId, response: &Response) -> Vec<Effect> {
        self.handle(Input::Answer {
            req,
            answer: Ok(wire::encode(response).unwrap()),
        })
    }

    fn request(&mut self, peer: PeerId, id: InId, request: &Request) -> Vec<Effect> {
        self.handle(Input::Request {
            peer,
            id,
            frame: Ok(wire::encode(request).unwrap()),
        })
    }

    fn punished(&self) -> (u64, u64) {
        self.core.punishments()
    }
}

fn sent(effects: &[Effect]) -> Vec<(PeerId, ReqId, Request)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { peer, req, bytes } => {
                Some((*peer, *req, wire::decode::<Request>(bytes).unwrap()))
            }
            _ => None,
        })
        .collect()
}

fn responses(effects: &[Effect]) -> Vec<(InId, Response)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Respond { id, bytes } => Some((*id, wire::decode::<Response>(bytes).unwrap())),
            _ => None,
        })
        .collect()
}

fn works(effects: &[Effect]) -> Vec<&Work> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Work(w) => Some(w),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_is_greeted_admitted_and_the_leader_compares_summaries() {
    let mut h = Harness::new();
    let peer = h.follower();
    let effects = h.admit(peer);
    let summaries: Vec<_> = sent(&effects)
        .into_iter()
        .filter(|(_, _, r)| matches!(r, Request::Summary { .. }))
        .collect();
    assert_eq!(summaries.len(), 1, "{effects:?}");
    assert!(matches!(
        responses(&effects).as_slice(),
        [(9_000, Response::Hello { .. })]
    ));
    assert!(h.core.report()[0].member);
    // The same summary answered "same": in sync, nothing more sent.
    let (_, req, _) = &summaries[0];
    let effects = h.answer(*req, &Response::Summary { same: true });
    assert!(sent(&effects).is_empty());
    assert!(h.core.report()[0].in_sync);
    // Fifteen seconds on, the round comes again.
    let effects = h.advance(RECONCILE_EVERY.mul_f64(1.2));
    assert_eq!(sent(&effects).len(), 1);
}

#[test]
fn differing_digests_fetch_what_is_missing_and_check_what_differs() {
    let mut h = Harness::new();
    let peer = h.follower();
    let effects = h.admit(peer);
    let (_, req, _) = sent(&effects)
        .into_iter()
        .find(|(_, _, r)| matches!(r, Request::Summary { .. }))
        .unwrap();
    let effects = h.answer(req, &Response::Summary { same: false });
    let (_, req, digest) = sent(&effects).pop().unwrap();
    assert!(matches!(digest, Request::Digest { .. }));
    // The peer has new heads of the community document.
    let effects = h.answer(
        req,
        &Response::Digest {
            docs: vec![(COMMUNITY.into(), vec![[2; 32]])],
        },
    );
    assert!(matches!(
        works(&effects).as_slice(),
        [Work::Lacking { docs, .. }] if docs[0].0 == COMMUNITY
    ));
    let effects = h.handle(Input::Done(Done::Lacking {
        peer,
        docs: vec![(COMMUNITY.into(), Some(vec![hash(1)]))],
    }));
    assert!(matches!(
        sent(&effects).as_slice(),
        [(_, _, Request::Pull { doc, .. })] if doc == COMMUNITY
    ));
}

/// Issue 12 (fault 1): honest peers were banned for naming documents whose index entry had
/// not arrived yet. Such requests are refused and cost nothing, however many.
#[test]
fn unknown_documents_are_refused_never_punished() {
    let mut h = Harness::new();
    let peer = h.follower();
    h.admit(peer);
    for i in 0..500 {
        let effects = h.request(
            peer,
            i,
            &Request::Changes {
                doc: format!("not-indexed-yet-{i}"),
                bytes: vec![1, 2, 3],
                heads: vec![],
            },
        );
        assert!(matches!(
            responses(&effects).as_slice(),
            [(_, Response::Refused { .. })]
        ));
    }
    let effects = h.request(
        peer,
        1_000,
        &Request::Have {
            doc: "not-indexed-yet-1".into(),
            heads: vec![[3; 32]],
        },
    );
    assert!(matches!(
        responses(&effects).as_slice(),
        [(_, Response::Ack { .. })]
    ));
    assert_eq!(h.punished(), (0, 0));
    // Once the index lists it, it is fetched from the peer that announced it.
    let effects = h.handle(Input::Done(Done::Access {
        listed: [("not-indexed-yet-1".to_owned(), DocKind::Session)].into(),
        roster: None,
        hubs: Vec::new(),
    }));
    assert!(
        sent(&effects).iter().any(|(p, _, r)| *p == peer
            && matches!(r, Request::Want { docs } if docs == &["not-indexed-yet-1"])),
        "{effects:?}"
    );
}

#[test]
fn what_no_honest_daemon_sends_is_struck_and_five_at_once_ban() {
    let mut h = Harness::new();
    let stranger = PeerId::random();
    h.handle(Input::Connected {
        peer: stranger,
        addr: "a".into(),
    });
    let mut banned = None;
    for i in 0..5 {
        let effects = h.request(stranger, i, &Request::Summary { hash: [0; 32] });
        banned = banned.or(effects.into_iter().find_map(|e| match e {
            Effect::Ban { peer, until } => Some((peer, until)),
            _ => None,
        }));
    }
    let (peer, until) = banned.expect("banned after five requests before Hello");
    assert_eq!(peer, stranger);
    assert_eq!(until, h.at.now + peers::BAN);
    // Garbage from a member: a strike each.
    let member = h.follower();
    h.admit(member);
    let effects = h.handle(Input::Request {
        peer: member,
        id: 50,
        frame: Ok(vec![0xff, 0xfe, 0x01]),
    });
    assert!(matches!(
        responses(&effects).as_slice(),
        [(50, Response::Refused { .. })]
    ));
    assert_eq!(h.punished(), (6, 1));
    // An oversize frame bans at once.
    let effects = h.handle(Input::Request {
        peer: member,
        id: 51,
        frame: Err(wire::FrameError::TooLarge(1 << 30)),
    });
    assert!(effects.iter().any(|e| matches!(e, Effect::Ban { .. })));
}

#[test]
fn local_changes_are_pushed_once_per_peer_and_coalesced_while_in_flight() {
    let mut h = Harness::new();
    let peer = h.follower();
    h.admit(peer);
    let change = |n| {
        Input::Changed(vec![Changed {
            doc: COMMUNITY.into(),
            heads: vec![hash(n)],
            local: true,
        }])
    };
    let effects = h.handle(change(2));
    assert!(matches!(
        works(&effects).as_slice(),
        [Work::Push { doc, .. }] if doc == COMMUNITY
    ));
    let effects = h.handle(Input::Done(Done::Push {
        peer,
        doc: COMMUNITY.into(),
        outcome: PushOutcome::Send {
            bytes: vec![1],
            heads: vec![hash(2)],
        },
    }));
    let (_, req, _) = sent(&effects).pop().unwrap();
    // Two more changes while the push is in flight: no new push yet...
    assert!(works(&h.handle(change(3))).is_empty());
    assert!(works(&h.handle(change(4))).is_empty());
    // ...one once it is acknowledged.
    let effects = h.answer(
        req,
        &Response::Ack {
            heads: vec![[2; 32]],
        },
    );
    assert_eq!(works(&effects).len(), 1);
}

/// Issue 12 (fault 3) and issue 16 (item 6): a refused daemon redialled twice a second,
/// logging a false "not a member". It now hears why, stops waiting, and backs off.
#[test]
fn a_refusal_is_reported_and_the_refusing_peer_is_not_redialled_soon() {
    let mut h = Harness::new();
    let peer = h.follower();
    let addr: libp2p::Multiaddr = format!("/ip4/10.0.0.9/tcp/4717/p2p/{peer}")
        .parse()
        .unwrap();
    let effects = h.handle(Input::Keep(addr));
    let dial = effects
        .iter()
        .find_map(|e| match e {
            Effect::Dial(d) => Some(d.clone()),
            _ => None,
        })
        .expect("dialled at once");
    h.handle(Input::Dialed {
        key: dial.key,
        result: Ok(peer),
    });
    let effects = h.handle(Input::Connected {
        peer,
        addr: "/ip4/10.0.0.9/tcp/4717".into(),
    });
    let (_, req, _) = sent(&effects).pop().unwrap();
    let effects = h.answer(
        req,
        &Response::Denied {
            reason: "this invitation was refused: expired".into(),
            retry_after_secs: None,
        },
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::RefusedBy { reason, .. } if reason.contains("expired")
    )));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Disconnect { .. }))
    );
    h.handle(Input::Disconnected { peer });
    // No dial for at least the first backoff.
    let mut dials = 0;
    for _ in 0..10 {
        let effects = h.advance(Duration::from_millis(100));
        dials += effects
            .iter()
            .filter(|e| matches!(e, Effect::Dial(_)))
            .count();
    }
    assert_eq!(dials, 0);
}

#[test]
fn strangers_that_never_prove_membership_are_hung_up_on() {
    let mut h = Harness::new();
    let stranger = PeerId::random();
    h.handle(Input::Connected {
        peer: stranger,
        addr: "a".into(),
    });
    let effects = h.advance(ADMISSION_TIME + Duration::from_millis(1));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Disconnect { peer } if *peer == stranger
    )));
    // And a member of another community is refused, in words, without a strike.
    let other = PeerId::random();
    h.handle(Input::Connected {
        peer: other,
        addr: "b".into(),
    });
    let foreign = Membership::new(COMMUNITY.into(), [8; 32]);
    let effects = h.request(
        other,
        3,
        &Request::Hello {
            community: COMMUNITY.into(),
            proof: foreign.proof(&other, &h.me),
            invite: None,
            device: None,
        },
    );
    assert!(matches!(
        responses(&effects).as_slice(),
        [(3, Response::Denied { reason, .. })] if reason.contains("not a member")
    ));
    assert_eq!(h.punished(), (0, 0));
}

#[test]
fn slow_down_is_honoured_by_asking_again_later() {
    let mut h = Harness::new();
    let peer = h.follower();
    let effects = h.admit(peer);
    let (_, req, summary) = sent(&effects)
        .into_iter()
        .find(|(_, _, r)| matches!(r, Request::Summary { .. }))
        .unwrap();
    let effects = h.answer(
        req,
        &Response::Refused {
            reason: SLOW_DOWN.into(),
        },
    );
    assert!(sent(&effects).is_empty());
    let effects = h.advance(Duration::from_millis(600));
    let again: Vec<_> = sent(&effects)
        .into_iter()
        .filter(|(_, _, r)| *r == summary)
        .collect();
    assert_eq!(again.len(), 1);
}

#[test]
fn a_banned_peer_coming_back_is_hung_up_on_and_logged_once() {
    let mut h = Harness::new();
    let peer = PeerId::random();
    h.handle(Input::Connected {
        peer,
        addr: "a".into(),
    });
    h.handle(Input::Request {
        peer,
        id: 1,
        frame: Err(wire::FrameError::TooLarge(1 << 30)),
    });
    h.handle(Input::Disconnected { peer });
    for _ in 0..3 {
        let effects = h.handle(Input::Connected {
            peer,
            addr: "a".into(),
        });
        assert!(matches!(effects.as_slice(), [Effect::Disconnect { .. }]));
        h.handle(Input::Disconnected { peer });
    }
}

/// Issue 13: the roster's devices and the community's hubs reach the shell (the hub's gate,
/// the swarm's reservations and rendezvous) when they change, and only then; the hubs are
/// dialled; an entry another daemon wrote that is no hub address is skipped.
/// A newcomer pushes its new member document before the index entry that lists it; the
/// document is then fetched from the newcomer, not from another member who lacks it (that
/// cost a reconcile round, 15 s, for every newcomer joining a daemon connected to a hub).
#[test]
fn a_document_pushed_before_its_index_entry_is_fetched_from_its_pusher() {
    let mut h = Harness::new();
    let (mut other, mut pusher) = (h.follower(), h.follower());
    if pusher < other {
        std::mem::swap(&mut other, &mut pusher);
    }
    h.admit(other);
    h.admit(pusher);
    let effects = h.request(
        pusher,
        1,
        &Request::Changes {
            doc: "new-member".into(),
            bytes: vec![1, 2, 3],
            heads: vec![[4; 32]],
        },
    );
    assert!(matches!(
        responses(&effects).as_slice(),
        [(_, Response::Refused { .. })]
    ));
    let effects = h.handle(Input::Done(Done::Access {
        listed: [("new-member".to_owned(), DocKind::Member)].into(),
        roster: None,
        hubs: Vec::new(),
    }));
    let wants: Vec<PeerId> = sent(&effects)
        .into_iter()
        .filter(|(_, _, r)| matches!(r, Request::Want { docs } if docs == &["new-member"]))
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(wants, [pusher], "{effects:?}");
}

/// A member added here changes its new document before our index lists it (the index is
/// read after the change): it is pushed to every member as soon as the index lists it, not
/// left for the next digest round.
#[test]
fn a_document_made_here_is_pushed_once_our_index_lists_it() {
    let mut h = Harness::new();
    let peer = h.follower();
    h.admit(peer);
    let effects = h.handle(Input::Changed(vec![Changed {
        doc: "my-member".into(),
        heads: vec![hash(5)],
        local: true,
    }]));
    assert!(
        !works(&effects)
            .iter()
            .any(|w| matches!(w, Work::Push { doc, .. } if doc == "my-member")),
        "not shareable before the index lists it: {effects:?}"
    );
    let effects = h.handle(Input::Done(Done::Access {
        listed: [("my-member".to_owned(), DocKind::Member)].into(),
        roster: None,
        hubs: Vec::new(),
    }));
    assert!(
        works(&effects).iter().any(
            |w| matches!(w, Work::Push { peer: p, doc, .. } if *p == peer && doc == "my-member")
        ),
        "{effects:?}"
    );
}

#[test]
fn the_roster_s_devices_and_the_hubs_reach_the_shell_when_they_change() {
    let mut h = Harness::new();
    let (member, hub) = (PeerId::random(), PeerId::random());
    let hub_addr = format!("/ip4/192.0.2.1/tcp/4717/p2p/{hub}");
    let roster = crdt_model::roster::Roster {
        devices: [(member.to_string(), "m1".to_owned())].into(),
        ..Default::default()
    };
    let access = |hubs: Vec<String>| {
        Input::Done(Done::Access {
            listed: Default::default(),
            roster: Some(roster.clone()),
            hubs,
        })
    };
    let effects = h.handle(access(vec![hub_addr.clone(), "not an address".into()]));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Members(m) if m == &[member].into())),
        "{effects:?}"
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Hubs { namespace, hubs }
            if namespace == &format!("guild/{COMMUNITY}") && hubs.len() == 1
                && hubs[0].to_string() == hub_addr)),
        "{effects:?}"
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Dial(d) if d.peer == Some(hub))),
        "{effects:?}"
    );
    // The same roster and hubs read again: nothing new for the shell.
    let effects = h.handle(access(vec![hub_addr, "not an address".into()]));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Members(_) | Effect::Hubs { .. })),
        "{effects:?}"
    );
}
