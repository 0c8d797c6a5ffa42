//! What `GET /metrics` shows, in the Prometheus (OpenMetrics) text format.
//!
//! Two kinds of figures:
//! - counted as things happen, in one process-wide set of counters (a process runs one
//!   daemon): API requests by route and status, store commit latency, document changes by
//!   origin;
//! - read at scrape time from what the daemon already knows: documents held, connected
//!   peers by connection kind, and the sync engine's own totals (messages and bytes in and
//!   out, strikes, bans), which its pure core keeps.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::net::core::PeerReport;
use crate::net::core::peers::Traffic;
use crate::repo::Repo;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's template (`/api/members/:id`), so ids never become label values.
    route: String,
    status: u16,
}

#[derive(Clone, Copy, Debug)]
pub enum Direction {
    In,
    Out,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    /// in or out.
    direction: &'static str,
}

impl From<Direction> for DirectionLabels {
    fn from(direction: Direction) -> Self {
        Self {
            direction: match direction {
                Direction::In => "in",
                Direction::Out => "out",
            },
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    /// local (made through this daemon's API), peer (received), or unknown (the counter
    /// fell behind a burst: counted, origin not known).
    origin: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    ok: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    /// tcp, quic, relay or other.
    kind: String,
    /// Proved membership of the community on this connection.
    member: bool,
}

/// The counters kept as things happen.
struct Counters {
    api_requests: Family<RequestLabels, Counter>,
    store_commits: Family<OutcomeLabels, Histogram>,
    changes: Family<OriginLabels, Counter>,
}

fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    COUNTERS.get_or_init(|| Counters {
        api_requests: Family::default(),
        // 100 us to about 6.5 s: an fsync on a laptop's SSD takes a few milliseconds.
        store_commits: Family::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 17))
        }),
        changes: Family::default(),
    })
}

/// An API request answered.
pub fn api_request(method: &str, route: &str, status: u16) {
    counters()
        .api_requests
        .get_or_create(&RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        })
        .inc();
}

/// A store transaction committed (or refused) after `took`.
pub fn store_commit(took: Duration, ok: bool) {
    counters()
        .store_commits
        .get_or_create(&OutcomeLabels { ok })
        .observe(took.as_secs_f64());
}

/// Counts the document changes that become durable, by origin, for as long as `repo` lives.
pub fn watch_changes(repo: &Arc<Repo>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut changed = repo.subscribe();
    runtime.spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        let changes = &counters().changes;
        loop {
            let (origin, n) = match changed.recv().await {
                Ok(c) if c.local => ("local", 1),
                Ok(_) => ("peer", 1),
                Err(RecvError::Lagged(n)) => ("unknown", n),
                Err(RecvError::Closed) => return,
            };
            changes.get_or_create(&OriginLabels { origin }).inc_by(n);
        }
    });
}

/// What the daemon knows at scrape time.
pub struct Snapshot {
    pub documents: usize,
    pub peers: Vec<PeerReport>,
    pub traffic: Traffic,
    pub strikes: u64,
    pub bans: u64,
}

/// Every metric, in the OpenMetrics text format.
pub fn render(now: &Snapshot) -> String {
    let c = counters();
    let mut registry = Registry::with_prefix("guild");

    let documents = Gauge::<i64>::default();
    documents.set(i64::try_from(now.documents).unwrap_or(i64::MAX));
    registry.register("documents", "Documents held", documents);

    let peers = Family::<PeerLabels, Gauge>::default();
    for peer in now.peers.iter().filter(|p| p.connected) {
        peers
            .get_or_create(&PeerLabels {
                kind: connection_kind(&peer.addrs).into(),
                member: peer.member,
            })
            .inc();
    }
    registry.register("peers", "Connected peers by connection kind", peers);

    let by_direction = |inward: u64, outward: u64| {
        let family = Family::<DirectionLabels, Counter>::default();
        family.get_or_create(&Direction::In.into()).inc_by(inward);
        family.get_or_create(&Direction::Out.into()).inc_by(outward);
        family
    };
    let t = &now.traffic;
    registry.register_with_unit(
        "sync",
        "Sync traffic with peers (frames in and out)",
        Unit::Bytes,
        by_direction(t.bytes_in, t.bytes_out),
    );
    registry.register(
        "sync_messages",
        "Sync messages sent to and received from peers",
        by_direction(t.messages_in, t.messages_out),
    );
    let counter = |n: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(n);
        c
    };
    registry.register(
        "peer_strikes",
        "Misbehaviours counted against peers",
        counter(now.strikes),
    );
    registry.register("peer_bans", "Peers banned", counter(now.bans));
    registry.register(
        "changes",
        "Document changes made durable, by origin",
        c.changes.clone(),
    );
    registry.register_with_unit(
        "store_commit",
        "Store transactions committed (ok=false: refused), by latency",
        Unit::Seconds,
        c.store_commits.clone(),
    );
    registry.register(
        "api_requests",
        "API requests by method, route and status",
        c.api_requests.clone(),
    );

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// How a peer is connected, from the address of its connection.
fn connection_kind(addrs: &[String]) -> &'static str {
    let Some(addr) = addrs.last() else {
        return "other";
    };
    if addr.contains("/p2p-circuit") {
        "relay"
    } else if addr.contains("/quic") {
        "quic"
    } else if addr.contains("/tcp/") {
        "tcp"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_in_the_text_format() {
        api_request("GET", "/api/status", 200);
        store_commit(Duration::from_millis(3), true);
        let text = render(&Snapshot {
            documents: 7,
            peers: Vec::new(),
            traffic: Traffic {
                bytes_in: 10,
                bytes_out: 20,
                messages_in: 1,
                messages_out: 2,
            },
            strikes: 3,
            bans: 1,
        });
        for line in [
            "guild_documents 7",
            "guild_sync_bytes_total{direction=\"in\"} 10",
            "guild_sync_bytes_total{direction=\"out\"} 20",
            "guild_sync_messages_total{direction=\"out\"} 2",
            "guild_peer_strikes_total 3",
            "guild_peer_bans_total 1",
            "# TYPE guild_store_commit_seconds histogram",
            "# TYPE guild_peer_bans counter",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            text.contains(
                "guild_api_requests_total{method=\"GET\",route=\"/api/status\",status=\"200\"}"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn connection_kinds() {
        let kind = |a: &str| connection_kind(&[a.to_owned()]);
        assert_eq!(kind("/ip4/127.0.0.1/tcp/4717"), "tcp");
        assert_eq!(kind("/ip4/127.0.0.1/udp/4717/quic-v1"), "quic");
        assert_eq!(kind("/ip4/1.2.3.4/tcp/1/p2p/x/p2p-circuit"), "relay");
        assert_eq!(connection_kind(&[]), "other");
    }
}
