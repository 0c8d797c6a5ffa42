//! Document work the core asks for and the results it gets back. The core never touches a
//! document: reading, applying and saving Automerge documents is what the shell runs off the
//! async workers (`net::docwork`), and each result comes back as an input carrying the
//! context the core needs to go on.

use automerge::ChangeHash;
use crdt_model::DocKind;
use crdt_model::roster::Roster;
use libp2p::PeerId;
use std::collections::BTreeMap;

use super::InId;

pub type Heads = Vec<ChangeHash>;

#[derive(Debug)]
pub enum Work {
    /// Heads of every document held (at start, or after change notifications were missed).
    AllHeads,
    /// Which of these documents hold changes (the peer's heads) that we lack?
    Lacking {
        peer: PeerId,
        docs: Vec<(String, Heads)>,
    },
    /// Answer a `Want`: compressed snapshots, up to one frame's worth.
    Snapshots {
        peer: PeerId,
        id: InId,
        docs: Vec<String>,
    },
    /// Answer a `Pull`: the changes after the peer's heads, or `Diverged`.
    AnswerPull {
        peer: PeerId,
        id: InId,
        doc: String,
        heads: Heads,
    },
    /// Apply changes or a snapshot from a peer durably (creating the document if new); it
    /// must stay of kind `kind`.
    Apply {
        peer: PeerId,
        doc: String,
        kind: DocKind,
        bytes: Vec<u8>,
        then: Then,
    },
    /// The changes of `doc` after `known` (the peer's heads), to push.
    Push {
        peer: PeerId,
        doc: String,
        known: Heads,
    },
    /// One step of Automerge's sync protocol: receive the peer's message (if any), then
    /// generate ours. `restart`: a session starts, from the state kept durably.
    SyncStep {
        peer: PeerId,
        doc: String,
        kind: DocKind,
        received: Option<Vec<u8>>,
        restart: bool,
        /// Answering the peer's `Sync` request (else we run the session).
        answer: Option<InId>,
    },
    /// Read the community's index and roster.
    ReadAccess { community: String },
    /// Record in the community document that `peer` joined with invitation `hash`.
    RecordInvite {
        community: String,
        hash: String,
        peer: PeerId,
        /// RFC 3339, now.
        when: String,
    },
}

/// What to do once an `Apply` is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// Answer the peer's `Changes` request with our heads.
    Ack(InId),
    /// It answered our `Pull`.
    Pulled,
    /// It answered our `Want` (one of a batch).
    Fetched,
}

#[derive(Debug)]
pub enum Done {
    AllHeads(Vec<(String, Heads)>),
    /// Each document checked, with our heads if we lack some of the peer's changes.
    Lacking {
        peer: PeerId,
        docs: Vec<(String, Option<Heads>)>,
    },
    /// The answer to an inbound request (`Snapshots`, `AnswerPull`), and heads the peer holds
    /// once it has it.
    Answer {
        peer: PeerId,
        id: InId,
        response: crate::net::wire::Response,
        remember: Vec<(String, Heads)>,
    },
    Applied {
        peer: PeerId,
        doc: String,
        then: Then,
        result: Result<Heads, DocFault>,
    },
    Push {
        peer: PeerId,
        doc: String,
        outcome: PushOutcome,
    },
    SyncStep {
        peer: PeerId,
        doc: String,
        answer: Option<InId>,
        /// Our next message, if we have anything to say, and the heads both sides share.
        result: Result<(Option<Vec<u8>>, Heads), DocFault>,
    },
    Access {
        listed: BTreeMap<String, DocKind>,
        roster: Option<Roster>,
        /// The hubs the community document lists (multiaddrs, as written).
        hubs: Vec<String>,
    },
    /// Nothing to report (a recorded invitation).
    Nothing,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Send these bytes; our heads after them.
    Send { bytes: Vec<u8>, heads: Heads },
    /// The peer holds changes we lack (our heads): pull instead.
    TheyHaveMore { heads: Heads },
    /// Nothing to send (or the document is gone).
    Nothing,
}

/// Why document work failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocFault {
    /// What the peer sent is not what an honest daemon sends (bad chunks, a wrong kind, a
    /// malformed sync message): counts against it.
    Bad(String),
    /// Our side failed (the disk, a document that does not load): not the peer's fault.
    Ours(String),
    /// The document is not here.
    Missing,
}

impl std::fmt::Display for DocFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bad(why) | Self::Ours(why) => f.write_str(why),
            Self::Missing => f.write_str("unknown document"),
        }
    }
}
