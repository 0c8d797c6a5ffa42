//! The sync protocol's messages, `/guild/sync/1`.
//!
//! Every message is one request and its response on a fresh libp2p stream, framed as a
//! big-endian `u32` length and that many bytes of postcard-encoded [`Request`] or
//! [`Response`]. A frame longer than [`MAX_FRAME`] is refused before it is read.
//!
//! Conversation between two members A and B, after the Noise handshake:
//! 1. `Hello` both ways: each proves it holds the community secret (see `membership`).
//!    Nothing else is answered until the sender's proof checked out.
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
    Hello { community: String, proof: [u8; 32] },
    /// The sender's heads of every document it holds.
    Digest { docs: Vec<(String, Heads)> },
    /// Snapshots of documents the sender does not hold.
    Want { docs: Vec<String> },
    /// The changes of `doc` after `heads` (the sender's current heads).
    Pull { doc: String, heads: Heads },
    /// One Automerge sync-protocol message for `doc`.
    Sync { doc: String, message: Vec<u8> },
    /// New changes of `doc` (a `save_after` chunk); `heads` are the sender's heads after them.
    Changes {
        doc: String,
        bytes: Vec<u8>,
        heads: Heads,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Hello {
        proof: [u8; 32],
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
}

/// Length-prefixed frames with a hard maximum size. Frames stay raw bytes here: the sync
/// engine decodes them, so a malformed message is seen (logged, counted against the peer)
/// instead of vanishing inside libp2p.
#[derive(Clone, Debug, Default)]
pub struct Codec;

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
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

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        tracing::warn!("dropping a frame of {len} bytes: over the {MAX_FRAME}-byte limit");
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: &[u8]) -> io::Result<()> {
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
    use futures::executor::block_on;
    use libp2p::request_response::Codec as _;

    use super::*;

    fn roundtrip(req: Request) -> Request {
        let mut buf = Vec::new();
        block_on(Codec.write_request(&PROTOCOL, &mut buf, encode(&req).unwrap())).unwrap();
        let mut reader = futures::io::Cursor::new(buf);
        decode(&block_on(Codec.read_request(&PROTOCOL, &mut reader)).unwrap()).unwrap()
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
        let err = block_on(Codec.read_request(&PROTOCOL, &mut reader)).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for garbage in [
            vec![0xff; 64],
            vec![],
            vec![7, 0, 0],
            vec![5, 0xff, 0xff, 0xff, 0x0f],
        ] {
            assert!(decode::<Request>(&garbage).is_err(), "{garbage:?}");
        }
    }
}
