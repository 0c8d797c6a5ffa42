//! `GET /metrics`: the Prometheus text format, token required, counters that move when
//! two daemons sync.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use guild_tests::{Daemon, HttpRequest, wait_until};
use prometheus_parse::{Scrape, Value};

/// `GET /metrics` with the token; the body as text.
fn scrape(daemon: &Daemon) -> Scrape {
    let mut stream = TcpStream::connect(daemon.api_addr()).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        daemon.token()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The sum of the samples of `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[test]
fn metrics_parse_and_their_counters_move_after_a_sync() {
    let ada_dir = tempfile::tempdir().unwrap();
    let bea_dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(ada_dir.path());
    let bea = Daemon::start(bea_dir.path());
    ada.guild(&["init", "--community", "Measured", "--name", "Ada"]);
    let ticket = ada.guild(&["invite"]);
    bea.guild(&["join", ticket.trim(), "--name", "Bea"]);

    // The token is required, as everywhere.
    let (status, _) = bea.http(&HttpRequest::new("GET", "/metrics", None));
    assert_eq!(status, 401);

    wait_until("Bea holds the community", Duration::from_secs(30), || {
        ada.heads() == bea.heads()
    });
    let before = scrape(&bea);
    let documents = bea.guild_json(&["status"])["documents"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(value(&before, "guild_documents", &[]), documents as f64);
    assert!(
        value(
            &before,
            "guild_peers",
            &[("kind", "tcp"), ("member", "true")]
        ) >= 1.0
    );

    ada.guild(&["members", "add", "Counted Person"]);
    wait_until("the change reaches Bea", Duration::from_secs(30), || {
        bea.guild_output(&["members", "show", "Counted Person"])
            .status
            .success()
    });
    // A refusal is counted too, under its route and status.
    assert!(
        !bea.guild_output(&["members", "show", "Nobody Here"])
            .status
            .success()
    );
    let after = scrape(&bea);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        let (b, a) = (value(&before, name, labels), value(&after, name, labels));
        assert!(a > b, "{name}{labels:?} did not move: {b} -> {a}");
        eprintln!("METRICS: {name}{labels:?} {b} -> {a}");
    };
    moved("guild_sync_bytes_total", &[("direction", "in")]);
    moved("guild_sync_bytes_total", &[("direction", "out")]);
    moved("guild_changes_total", &[("origin", "peer")]);
    moved("guild_store_commit_seconds_count", &[("ok", "true")]);
    moved(
        "guild_api_requests_total",
        &[
            ("route", "/api/members/:id"),
            ("status", "200"),
            ("method", "GET"),
        ],
    );
    assert!(
        value(
            &after,
            "guild_api_requests_total",
            &[("route", "/api/members/:id"), ("status", "404")]
        ) >= 1.0
    );
    assert_eq!(
        value(&after, "guild_documents", &[]),
        documents as f64 + 1.0
    );
    // Nothing misbehaved.
    assert_eq!(value(&after, "guild_peer_bans_total", &[]), 0.0);
}
