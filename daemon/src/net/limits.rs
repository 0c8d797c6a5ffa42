//! What one peer may make this daemon do or hold. Peers are other people's machines: a
//! member's daemon may be buggy or compromised, and anyone can dial us. Every limit here is
//! far above what an honest daemon needs, so only a misbehaving peer ever meets one; a peer
//! that breaks a hard limit is disconnected and banned for a while (see `sync::Engine`).
//!
//! The limits, by what they protect:
//! - the size of one frame: `wire::MAX_FRAME`, checked before the frame is read;
//! - memory held for frames still arriving, all peers together: [`FrameBudget`];
//! - memory held for requests being handled, and how many at once: [`MAX_HELD_PER_PEER`]
//!   (one frame's worth), [`MAX_HELD`] for all peers together (beyond it peers are told to
//!   slow down), [`MAX_IN_FLIGHT_PER_PEER`];
//! - how much work a peer can ask for: [`RateLimit`] (requests per second), and
//!   [`check_request`] (documents named in one message, heads per document, id length).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::wire::{Heads, Request, Response};

/// Documents one `Digest` or `Want` may name. A community has one document per member (and
/// later per session): 50,000 is far beyond any real one.
pub const MAX_ANNOUNCED_DOCS: usize = 50_000;
/// Document ids are base58 of 16 bytes (22 characters).
pub const MAX_DOC_ID_LEN: usize = 64;
/// Heads of one document: one per concurrent branch not yet merged.
pub const MAX_HEADS: usize = 1_024;

/// Bytes of one peer's requests this daemon holds at once (received, not yet answered): one
/// frame's worth. (It was 48 MiB; a few hostile members could make a daemon hold 250 MB.)
pub const MAX_HELD_PER_PEER: usize = super::wire::MAX_FRAME;
/// Bytes of requests held for all peers together; beyond it, requests are refused with
/// "slow down" (no fault of the one that arrives last), and honest daemons ask again.
pub const MAX_HELD: usize = 64 * 1024 * 1024;
/// Requests of one peer handled at once: twice what an honest daemon ever sends
/// ([`MAX_OUTBOUND_PER_PEER`]).
pub const MAX_IN_FLIGHT_PER_PEER: usize = 128;
/// Requests this daemon has open to one peer at once (a burst of pushes waits its turn).
pub const MAX_OUTBOUND_PER_PEER: usize = 64;
/// Bytes of frames being read from all peers together (a frame is counted as it arrives).
pub const FRAME_BUDGET: usize = 64 * 1024 * 1024;
/// A frame must arrive whole within this time, so a peer cannot hold the budget by trickling.
pub const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections one peer may hold to us at once (a dial each way is normal).
pub const MAX_CONNECTIONS_PER_PEER: usize = 3;
/// Connections from or to peers in all.
pub const MAX_CONNECTIONS: usize = 256;

/// Requests per second a peer may make, on average; bursts up to [`RATE_BURST`]. Catching up
/// on a document costs one request, and an honest daemon asks one after the other.
pub const RATE_PER_SEC: f64 = 200.0;
pub const RATE_BURST: f64 = 2_000.0;
/// Refused requests (over the rate) that count as one strike: a peer that slows down when
/// told never gets there.
pub const REFUSALS_PER_STRIKE: u32 = 50;

/// Requests about unknown documents that count as one strike. An honest push can overtake
/// the index entry of its document now and then; a peer naming documents at random cannot.
pub const UNKNOWN_PER_STRIKE: u32 = 25;

/// Strikes are forgotten after this long without a new one.
pub const STRIKE_MEMORY: Duration = Duration::from_secs(10 * 60);

/// How bad a violation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Could be a bug or a race (an unknown document, a malformed message): counts a strike.
    Strike,
    /// Never done by an honest daemon (an oversize frame, a flood): disconnect and ban now.
    Ban,
}

/// A request or response that breaks a limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub String);

/// Checks the sizes of an incoming request before any work is done for it.
pub fn check_request(request: &Request) -> Result<(), Violation> {
    match request {
        Request::Hello { community, .. } => check_id(community),
        Request::Digest { docs } => check_digest(docs),
        Request::Want { docs } => {
            check_count(docs.len())?;
            docs.iter().try_for_each(|d| check_id(d))
        }
        Request::Pull { doc, heads }
        | Request::Changes { doc, heads, .. }
        | Request::Have { doc, heads } => {
            check_id(doc)?;
            check_heads(heads)
        }
        Request::Sync { doc, .. } => check_id(doc),
        Request::Summary { .. } => Ok(()),
    }
}

/// Checks the sizes of a response to one of our requests.
pub fn check_response(response: &Response) -> Result<(), Violation> {
    match response {
        Response::Digest { docs } => check_digest(docs),
        Response::Snapshots { docs } => {
            check_count(docs.len())?;
            docs.iter().try_for_each(|(d, _)| check_id(d))
        }
        Response::Changes { heads, .. } | Response::Ack { heads } => check_heads(heads),
        Response::Hello { .. }
        | Response::Diverged
        | Response::Sync { .. }
        | Response::Refused { .. }
        | Response::Denied { .. }
        | Response::Summary { .. } => Ok(()),
    }
}

fn check_digest(docs: &[(String, Heads)]) -> Result<(), Violation> {
    check_count(docs.len())?;
    docs.iter().try_for_each(|(doc, heads)| {
        check_id(doc)?;
        check_heads(heads)
    })
}

fn check_count(n: usize) -> Result<(), Violation> {
    if n > MAX_ANNOUNCED_DOCS {
        return Err(Violation(format!(
            "named {n} documents in one message (limit {MAX_ANNOUNCED_DOCS})"
        )));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), Violation> {
    if id.len() > MAX_DOC_ID_LEN {
        return Err(Violation(format!(
            "sent an id of {} bytes (limit {MAX_DOC_ID_LEN})",
            id.len()
        )));
    }
    Ok(())
}

fn check_heads(heads: &Heads) -> Result<(), Violation> {
    if heads.len() > MAX_HEADS {
        return Err(Violation(format!(
            "sent {} heads for one document (limit {MAX_HEADS})",
            heads.len()
        )));
    }
    Ok(())
}

/// A token bucket: `RATE_PER_SEC` tokens a second, at most `RATE_BURST` saved up.
#[derive(Debug)]
pub struct RateLimit {
    tokens: f64,
    last: Instant,
    /// Requests refused since the last strike.
    refused: u32,
}

/// What to do with one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Rate {
    Allow,
    /// Refuse it ("slow down").
    Refuse,
    /// Refuse it and count a strike: the peer keeps going although told to slow down.
    Strike,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl RateLimit {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: RATE_BURST,
            last: now,
            refused: 0,
        }
    }

    pub fn check(&mut self, now: Instant) -> Rate {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * RATE_PER_SEC).min(RATE_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Rate::Allow;
        }
        self.refused += 1;
        if self.refused >= REFUSALS_PER_STRIKE {
            self.refused = 0;
            Rate::Strike
        } else {
            Rate::Refuse
        }
    }
}

/// Bytes of frames being read, shared by every connection's codec. A frame reserves its
/// bytes as they arrive and gives them back when the engine drops it.
#[derive(Clone, Debug)]
pub struct FrameBudget {
    used: Arc<AtomicUsize>,
    max: usize,
}

impl Default for FrameBudget {
    fn default() -> Self {
        Self::new(FRAME_BUDGET)
    }
}

impl FrameBudget {
    pub fn new(max: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Reserves `n` more bytes, or `None` if that would pass the budget.
    pub fn reserve(&self, n: usize) -> Option<Permit> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.max)
            })
            .ok()?;
        Some(Permit {
            used: self.used.clone(),
            n,
        })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// Bytes reserved from a [`FrameBudget`], returned on drop.
#[derive(Debug)]
pub struct Permit {
    used: Arc<AtomicUsize>,
    n: usize,
}

impl Permit {
    /// Adds `other`'s bytes to this permit.
    pub fn merge(&mut self, mut other: Permit) {
        self.n += std::mem::take(&mut other.n);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.used.fetch_sub(self.n, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_allows_bursts_then_refuses_then_strikes() {
        let start = Instant::now();
        let mut limit = RateLimit::new(start);
        for _ in 0..RATE_BURST as usize {
            assert_eq!(limit.check(start), Rate::Allow);
        }
        let refusals: Vec<Rate> = (0..REFUSALS_PER_STRIKE)
            .map(|_| limit.check(start))
            .collect();
        assert!(
            refusals[..refusals.len() - 1]
                .iter()
                .all(|r| *r == Rate::Refuse)
        );
        assert_eq!(refusals.last(), Some(&Rate::Strike));
        // A second later there is room again.
        let later = start + Duration::from_secs(1);
        assert_eq!(limit.check(later), Rate::Allow);
    }

    #[test]
    fn the_frame_budget_is_shared_and_given_back() {
        let budget = FrameBudget::new(100);
        let a = budget.reserve(60).unwrap();
        let other = budget.clone();
        assert!(other.reserve(50).is_none(), "over the shared budget");
        let mut b = other.reserve(40).unwrap();
        b.merge(other.reserve(0).unwrap());
        assert_eq!(budget.used(), 100);
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn over_announcing_is_a_violation() {
        let docs = vec![("d".to_owned(), vec![]); MAX_ANNOUNCED_DOCS + 1];
        assert!(check_request(&Request::Digest { docs }).is_err());
        let want = vec!["d".to_owned(); MAX_ANNOUNCED_DOCS + 1];
        assert!(check_request(&Request::Want { docs: want }).is_err());
        let heads = vec![[0; 32]; MAX_HEADS + 1];
        assert!(
            check_request(&Request::Pull {
                doc: "d".into(),
                heads
            })
            .is_err()
        );
        let long = "x".repeat(MAX_DOC_ID_LEN + 1);
        assert!(
            check_request(&Request::Sync {
                doc: long,
                message: vec![],
                first: true,
            })
            .is_err()
        );
        assert!(
            check_request(&Request::Want {
                docs: vec!["ok".into()]
            })
            .is_ok()
        );
    }
}
