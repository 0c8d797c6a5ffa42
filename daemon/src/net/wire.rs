//! The sync protocol's messages, `/guild/sync/1`.
//!
//! Every message is one request and its response on a fresh libp2p stream, framed as a
//! big-endian `u32` length and that many bytes of postcard-encoded [`Request`] or
//! [`Response`]. A frame longer than [`MAX_FRAME`] is refused before it is read; an inbound
//! frame reserves its bytes from a budget shared by all peers as they arrive, and must arrive
//! within `limits::FRAME_READ_TIMEOUT` (see `limits`).
//!
//! Conversation between two members A and B, after the Noise handshake:
//! 1. `Hello` both ways: each proves it holds the community secret (see `membership`).
//!    Nothing else is answered until the sender's proof checked out. A refused `Hello` is
//!    answered `Denied`, saying why.
//! 2. `Digest` both ways: every document's heads. Each side then *pulls* what it lacks:
//!    `Want` for documents it has never seen (answered with compressed snapshots) and `Pull`
//!    with its own heads for documents behind (answered with exactly the missing changes).
//!    Where both sides hold changes the other lacks, the side with the smaller peer id runs
//!    Automerge's sync protocol (`Sync`) for that document.
//! 3. Afterwards each local change is pushed at once as `Changes` (the bytes of
//!    `save_after(peer's heads)`): one message, no round trip before it.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use serde::{Deserialize, Serialize};

use super::limits::{FRAME_READ_TIMEOUT, FrameBudget, Permit};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/guild/sync/1");

/// Largest frame either side reads or writes (16 MiB).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Snapshot batches stay below this so a `Want` response always fits in a frame.
pub const SNAPSHOT_BATCH: usize = 8 * 1024 * 1024;

/// Raw Automerge change hashes, as sent on the wire.
pub type Heads = Vec<[u8; 32]>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Proof of the community secret, bound to both peer ids.
    Hello {
        community: String,
        proof: [u8; 32],
        /// The invitation nonce of a newcomer not yet listed as a member's device.
        invite: Option<[u8; 32]>,
        /// Proof of the member's device secret: "I am another device of your member".
        device: Option<[u8; 32]>,
    },
    /// The sender's heads of every document it holds.
    Digest { docs: Vec<(String, Heads)> },
    /// Snapshots of documents the sender does not hold.
    Want { docs: Vec<String> },
    /// The changes of `doc` after `heads` (the sender's current heads).
    Pull { doc: String, heads: Heads },
    /// One Automerge sync-protocol message for `doc`. `first` opens a session: the responder
    /// starts again from its stored state, so that an interrupted session (a crash, a lost
    /// connection) cannot leave it believing it sent changes that never arrived.
    Sync {
        doc: String,
        message: Vec<u8>,
        first: bool,
    },
    /// New changes of `doc` (a `save_after` chunk); `heads` are the sender's heads after them.
    Changes {
        doc: String,
        bytes: Vec<u8>,
        heads: Heads,
    },
    /// A hash of the sender's `Digest` (see [`summary`]): when the responder's is the same,
    /// nothing needs syncing and the digests themselves need not cross the wire.
    Summary { hash: [u8; 32] },
    /// The sender's new heads of `doc`, which it received from another peer: the responder
    /// pulls them if it lacks them (answered with `Ack`).
    Have { doc: String, heads: Heads },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Hello {
        proof: [u8; 32],
        /// As in the request: the responder may itself be a newcomer.
        invite: Option<[u8; 32]>,
        device: Option<[u8; 32]>,
    },
    Digest {
        docs: Vec<(String, Heads)>,
    },
    /// Compressed `save()` per document; documents left out did not fit (ask again) or are
    /// not known to the responder.
    Snapshots {
        docs: Vec<(String, Vec<u8>)>,
    },
    /// The changes asked for by `Pull`, with the responder's heads.
    Changes {
        bytes: Vec<u8>,
        heads: Heads,
    },
    /// The puller holds changes the responder has never seen: use `Sync`.
    Diverged,
    Sync {
        message: Option<Vec<u8>>,
    },
    /// The responder's heads of the document after applying a push.
    Ack {
        heads: Heads,
    },
    /// The request was refused; nothing was done.
    Refused {
        reason: String,
    },
    /// Whether the responder's digest hashes the same.
    Summary {
        same: bool,
    },
    /// The answer to a `Hello` the responder refuses: why, for its person to read ("this
    /// invitation was refused: expired"), and when it would consider the sender again if
    /// the refusal may pass by itself (it has not heard of the sender's invitation yet).
    Denied {
        reason: String,
        retry_after_secs: Option<u64>,
    },
}

impl Request {
    /// The request's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "Hello",
            Request::Digest { .. } => "Digest",
            Request::Want { .. } => "Want",
            Request::Pull { .. } => "Pull",
            Request::Sync { .. } => "Sync",
            Request::Changes { .. } => "Changes",
            Request::Summary { .. } => "Summary",
            Request::Have { .. } => "Have",
        }
    }
}

/// The hash of a digest (documents sorted by id, each one's heads sorted) that `Summary`
/// carries.
pub fn summary(docs: &[(String, Heads)]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(String, Heads)> = docs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hash = Sha256::new();
    for (doc, heads) in sorted {
        let mut heads = heads.clone();
        heads.sort_unstable();
        hash.update((doc.len() as u64).to_le_bytes());
        hash.update(doc.as_bytes());
        hash.update((heads.len() as u64).to_le_bytes());
        for head in heads {
            hash.update(head);
        }
    }
    hash.finalize().into()
}

/// Why an inbound frame was not read. libp2p drops a request whose read fails without saying
/// from which peer, so the codec hands such a frame on as [`Frame::refused`] instead: the
/// engine then knows whom to refuse and punish.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("too many bytes are arriving from peers at once; frame of {0} bytes refused")]
    Busy(usize),
    #[error("frame of {0} bytes did not arrive within {FRAME_READ_TIMEOUT:?}")]
    TooSlow(usize),
}

/// A failed [`read_frame`]: the connection failed, or the frame broke a limit.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Limit(FrameError),
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            ReadError::Limit(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// One inbound request frame, holding its share of the frame budget until dropped.
pub struct Frame {
    pub bytes: Vec<u8>,
    /// Set (and `bytes` empty) when the frame broke a limit and was not read.
    pub refused: Option<FrameError>,
    _permit: Option<Permit>,
}

impl Frame {
    /// A frame this daemon sends (it reserves nothing).
    pub fn outgoing(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            refused: None,
            _permit: None,
        }
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({} bytes)", self.bytes.len())
    }
}

/// Length-prefixed frames with a hard maximum size. Frames stay raw bytes here: the sync
/// engine decodes them, so a malformed message is seen (logged, counted against the peer)
/// instead of vanishing inside libp2p.
#[derive(Clone, Debug, Default)]
pub struct Codec {
    budget: FrameBudget,
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Frame>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, Some(&self.budget)).await {
            Ok((bytes, permit)) => Ok(Frame {
                bytes,
                refused: None,
                _permit: permit,
            }),
            Err(ReadError::Limit(refused)) => Ok(Frame {
                bytes: Vec::new(),
                refused: Some(refused),
                _permit: None,
            }),
            Err(ReadError::Io(e)) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        // Responses answer our own requests, so their number is ours to bound.
        Ok(read_frame(io, None).await.map_err(io::Error::from)?.0)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Frame,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.bytes).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

pub fn encode<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(message).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Bytes read (and reserved) at a time, so memory follows what actually arrived.
const READ_CHUNK: usize = 64 * 1024;

/// Reads one frame: refuses it if too long, reserves `budget` as it arrives, and gives up
/// if it does not arrive in time.
pub async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    budget: Option<&FrameBudget>,
) -> Result<(Vec<u8>, Option<Permit>), ReadError> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        tracing::warn!("dropping a frame of {len} bytes: over the {MAX_FRAME}-byte limit");
        return Err(ReadError::Limit(FrameError::TooLarge(len)));
    }
    let body = async {
        let mut buf = Vec::new();
        let mut permit = None::<Permit>;
        while buf.len() < len {
            let chunk = READ_CHUNK.min(len - buf.len());
            if let Some(budget) = budget {
                let more = budget
                    .reserve(chunk)
                    .ok_or(ReadError::Limit(FrameError::Busy(len)))?;
                match &mut permit {
                    Some(p) => p.merge(more),
                    None => permit = Some(more),
                }
            }
            let start = buf.len();
            buf.resize(start + chunk, 0);
            io.read_exact(&mut buf[start..]).await?;
        }
        Ok((buf, permit))
    };
    tokio::time::timeout(FRAME_READ_TIMEOUT, body)
        .await
        .map_err(|_| ReadError::Limit(FrameError::TooSlow(len)))?
}

/// Writes one frame; refuses to send one over [`MAX_FRAME`].
pub async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|len| *len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.flush().await
}

#[cfg(test)]
mod tests {
    use libp2p::request_response::Codec as _;

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn roundtrip(req: Request) -> Request {
        let mut buf = Vec::new();
        let frame = Frame::outgoing(encode(&req).unwrap());
        block_on(Codec::default().write_request(&PROTOCOL, &mut buf, frame)).unwrap();
        let mut reader = futures::io::Cursor::new(buf);
        let frame = block_on(Codec::default().read_request(&PROTOCOL, &mut reader)).unwrap();
        decode(&frame.bytes).unwrap()
    }

    #[test]
    fn frames_round_trip() {
        let req = Request::Changes {
            doc: "abc".into(),
            bytes: vec![1, 2, 3],
            heads: vec![[9; 32]],
        };
        assert_eq!(roundtrip(req.clone()), req);
    }

    #[test]
    fn oversize_frames_are_refused_before_reading() {
        let mut frame = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        frame.extend([0; 16]);
        let mut reader = futures::io::Cursor::new(frame);
        let frame = block_on(Codec::default().read_request(&PROTOCOL, &mut reader)).unwrap();
        assert!(frame.bytes.is_empty());
        let refused = frame.refused.unwrap();
        assert!(matches!(refused, FrameError::TooLarge(_)));
        assert!(refused.to_string().contains("exceeds"), "{refused}");
    }

    #[test]
    fn frames_over_the_shared_budget_are_refused_and_the_budget_comes_back() {
        let budget = FrameBudget::new(100_000);
        let mut codec = Codec {
            budget: budget.clone(),
        };
        let mut frame = 90_000u32.to_be_bytes().to_vec();
        frame.extend(vec![0; 90_000]);
        let held =
            block_on(codec.read_request(&PROTOCOL, &mut futures::io::Cursor::new(&frame))).unwrap();
        assert_eq!(budget.used(), 90_000);
        let busy =
            block_on(codec.read_request(&PROTOCOL, &mut futures::io::Cursor::new(&frame))).unwrap();
        assert!(matches!(busy.refused, Some(FrameError::Busy(_))));
        drop(busy);
        drop(held);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_summary_depends_on_heads_not_on_their_order() {
        let a = ("a".to_owned(), vec![[1; 32], [2; 32]]);
        let b = ("b".to_owned(), vec![[3; 32]]);
        let one = summary(&[a.clone(), b.clone()]);
        let (mut a2, b2) = (a.clone(), b.clone());
        a2.1.reverse();
        assert_eq!(summary(&[b2, a2]), one);
        let moved = ("b".to_owned(), vec![[4; 32]]);
        assert_ne!(summary(&[a, moved]), one);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for garbage in [
            vec![0xff; 64],
            vec![],
            vec![42, 0, 0],
            vec![5, 0xff, 0xff, 0xff, 0x0f],
        ] {
            assert!(decode::<Request>(&garbage).is_err(), "{garbage:?}");
        }
    }
}
