//! Crash-safety harness: real daemons take concurrent writes through the API and are killed
//! with SIGKILL at random moments, mid-compaction and mid-sync; after every restart each
//! acknowledged write must be there and every document must load.
//!
//! CI runs a modest number of trials; run many by hand:
//!
//! ```sh
//! GUILD_CRASH_TRIALS=300 cargo test -p guild-tests --test e2e crash -- --nocapture
//! ```
//!
//! Trials rotate through three kinds:
//! - `random`: kill the daemon being written to once a random number of writes (1-80) have
//!   been acknowledged, i.e. at an arbitrary point of its write path;
//! - `compaction`: kill it the moment its log says a document is being compacted (the
//!   community document is compacted every 64 changes, and every new member changes it);
//! - `sync`: both daemons take writes and push them to each other; kill the receiving peer
//!   at a random moment, restart it, and require both to converge with every write.
//!
//! A write counts as acknowledged when the API answered `201 Created` (the daemon answers
//! only after its transaction is durable). Writes in flight at the kill may or may not be
//! there afterwards; the harness counts both.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use guild_tests::{Daemon, poll_until};
use serde_json::Value;

const WRITERS: usize = 4;
const CONVERGE: Duration = Duration::from_secs(90);

/// What one write came to.
enum Outcome {
    /// 201 with the new member's id.
    Acked(String),
    /// Sent, but the connection died before an answer: unknown.
    InFlight,
    /// Never reached the daemon (it was already dead).
    NotSent,
    /// The daemon answered with an error.
    Refused(String),
}

/// `POST /api/members {"name": name}` on a raw socket, so a dying daemon is an outcome, not
/// a panic.
fn add_member(addr: SocketAddr, token: &str, name: &str) -> Outcome {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return Outcome::NotSent;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let body = serde_json::json!({ "name": name }).to_string();
    let request = format!(
        "POST /api/members HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return Outcome::InFlight;
    }
    let mut response = Vec::new();
    if stream.read_to_end(&mut response).is_err() || response.is_empty() {
        return Outcome::InFlight;
    }
    let text = String::from_utf8_lossy(&response);
    if !text.starts_with("HTTP/1.1 201") {
        return Outcome::Refused(
            text.lines().next().unwrap_or_default().to_owned()
                + " "
                + text.split_once("\r\n\r\n").map_or("", |(_, b)| b),
        );
    }
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    match serde_json::from_str::<Value>(body) {
        Ok(v) => v["id"]
            .as_str()
            .map_or(Outcome::InFlight, |id| Outcome::Acked(id.to_owned())),
        Err(_) => Outcome::InFlight,
    }
}

/// Everything the writers learnt, shared across threads.
#[derive(Default)]
struct Ledger {
    /// id -> name of every acknowledged write.
    acked: BTreeMap<String, String>,
    /// Names of writes in flight when a daemon died.
    in_flight: Vec<String>,
    /// Errors the daemon answered (there should be none).
    refused: Vec<String>,
}

/// Writers hammering one daemon until it dies or `stop` is set.
fn spawn_writers(
    daemon: &Daemon,
    prefix: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<()>> {
    let (addr, token) = (daemon.api_addr(), daemon.token());
    (0..WRITERS)
        .map(|w| {
            let (ledger, stop, token, prefix) =
                (ledger.clone(), stop.clone(), token.clone(), prefix.clone());
            thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let name = format!("{prefix} w{w} n{i:04}");
                    match add_member(addr, &token, &name) {
                        Outcome::Acked(id) => {
                            ledger.lock().unwrap().acked.insert(id, name);
                        }
                        Outcome::InFlight => {
                            ledger.lock().unwrap().in_flight.push(name);
                            return;
                        }
                        Outcome::NotSent => return,
                        Outcome::Refused(why) => {
                            ledger
                                .lock()
                                .unwrap()
                                .refused
                                .push(format!("{name}: {why}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Counts new `compacting` lines in a log, reading only what was appended since last time.
struct LogWatch {
    path: std::path::PathBuf,
    offset: u64,
}

impl LogWatch {
    fn new(path: &Path) -> Self {
        let offset = std::fs::metadata(path).map_or(0, |m| m.len());
        Self {
            path: path.to_path_buf(),
            offset,
        }
    }

    fn saw(&mut self, needle: &str) -> bool {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return false;
        };
        let mut new = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut new).is_err()
        {
            return false;
        }
        // Only whole lines count; a partial last line is read again next time.
        let whole = new.rfind('\n').map_or(0, |i| i + 1);
        self.offset += whole as u64;
        new[..whole].contains(needle)
    }
}

/// Heads of the documents members share (each daemon's private documents differ by design).
fn shared_heads(daemon: &Daemon) -> Vec<Value> {
    daemon
        .heads()
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] != "relationships")
        .cloned()
        .collect()
}

fn members(daemon: &Daemon) -> BTreeMap<String, String> {
    daemon
        .guild_json(&["members", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Acknowledged writes missing (or changed) on `daemon`.
fn lost(daemon: &Daemon, acked: &BTreeMap<String, String>) -> Vec<String> {
    let present = members(daemon);
    acked
        .iter()
        .filter(|(id, name)| present.get(*id) != Some(*name))
        .map(|(id, name)| format!("{name} ({id})"))
        .collect()
}

/// Every document this daemon holds loads and is listed; returns how many.
fn documents_load(daemon: &Daemon) -> usize {
    let status = daemon.guild_json(&["status"]);
    let docs = status["documents"].as_array().unwrap();
    assert!(!docs.is_empty(), "no documents after restart: {status}");
    docs.len()
}

/// Waits until `target` writes to `daemon` were acknowledged; fails with why not.
fn wait_for_writes(daemon: &Daemon, ledger: &Arc<Mutex<Ledger>>, target: usize) {
    if !poll_until(Duration::from_secs(60), || {
        ledger.lock().unwrap().acked.len() >= target
    }) {
        let refused = ledger.lock().unwrap().refused.clone();
        let log = daemon.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!(
            "writes stalled; refused: {refused:?}\nlog tail (newest first):\n{}",
            tail.join("\n")
        );
    }
}

/// Fails the test with what differs and what the daemons complained about.
fn not_converged(a: &Daemon, b: &Daemon) -> ! {
    let (ha, hb) = (shared_heads(a), shared_heads(b));
    let differing: Vec<String> = ha
        .iter()
        .filter(|d| !hb.contains(d))
        .map(|d| {
            let on_b = hb.iter().find(|x| x["id"] == d["id"]);
            format!(
                "{} {}: A {} / B {}",
                d["kind"],
                d["id"],
                d["heads"],
                on_b.map_or("missing".to_owned(), |x| x["heads"].to_string())
            )
        })
        .collect();
    let only_b = hb
        .iter()
        .filter(|d| !ha.iter().any(|x| x["id"] == d["id"]))
        .count();
    let complaints = |d: &Daemon| {
        d.log()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join("\n")
    };
    panic!(
        "the daemons did not converge; {} of A's documents unlike B's ({only_b} only on B): {differing:#?}\n\
         A warnings:\n{}\nB warnings:\n{}\nB peers: {}",
        differing.len(),
        complaints(a),
        complaints(b),
        b.guild_json(&["peers"])
    );
}

fn trials() -> usize {
    std::env::var("GUILD_CRASH_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(12)
}

/// A pseudo-random number in `lo..hi` from the clock (no extra dependency, good enough to
/// spread kill moments).
fn random_in(lo: usize, hi: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    lo + (nanos.wrapping_mul(2_654_435_761) >> 7) % (hi - lo).max(1)
}

/// Trials per pair of daemons: each trial adds dozens of members, so a long run starts a
/// fresh pair now and then to keep every trial's cost alike.
const TRIALS_PER_PAIR: usize = 30;

#[derive(Default)]
struct Totals {
    kinds: BTreeMap<&'static str, usize>,
    compaction_kills: usize,
    acknowledged: usize,
    lost: usize,
    in_flight: usize,
    in_flight_present: usize,
    documents: usize,
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let trials = trials();
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut done = 0;
    while done < trials {
        let n = TRIALS_PER_PAIR.min(trials - done);
        run_pair(done, n, &mut totals);
        done += n;
    }
    eprintln!(
        "CRASH: trials={trials} {:?} compaction_kills={} acknowledged={} lost={} \
         in_flight_at_kill={} (present afterwards: {}) documents={} elapsed={:?}",
        totals.kinds,
        totals.compaction_kills,
        totals.acknowledged,
        totals.lost,
        totals.in_flight,
        totals.in_flight_present,
        totals.documents,
        started.elapsed()
    );
    assert_eq!(totals.lost, 0);
    assert!(
        totals.acknowledged >= trials,
        "too few acknowledged writes to mean anything"
    );
}

/// Trials `first..first + n` on a fresh pair of daemons.
fn run_pair(first: usize, n: usize, totals: &mut Totals) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut a = Daemon::start(dirs[0].path());
    a.guild(&["init", "--community", "Crash Test", "--name", "Ada"]);
    let mut b = Daemon::start(dirs[1].path());
    let ticket = a.guild(&["invite"]);
    b.guild(&["join", ticket.trim(), "--name", "Bea"]);

    let ledger_a = Arc::new(Mutex::new(Ledger::default()));
    let ledger_b = Arc::new(Mutex::new(Ledger::default()));

    for trial in first..first + n {
        let kind = ["random", "compaction", "sync"][trial % 3];
        *totals.kinds.entry(kind).or_default() += 1;
        let stop = Arc::new(AtomicBool::new(false));
        let acked_before = |l: &Arc<Mutex<Ledger>>| l.lock().unwrap().acked.len();
        let base_a = acked_before(&ledger_a);

        let mut writers =
            spawn_writers(&a, format!("t{trial:03} A"), ledger_a.clone(), stop.clone());
        match kind {
            "random" => {
                let target = base_a + random_in(1, 80);
                wait_for_writes(&a, &ledger_a, target);
                a.kill();
            }
            "compaction" => {
                let mut log = LogWatch::new(&a.dir.join("test-daemon.log"));
                let hit = poll_until(Duration::from_secs(60), || log.saw("compacting "));
                a.kill();
                if hit {
                    totals.compaction_kills += 1;
                }
            }
            _ => {
                writers.extend(spawn_writers(
                    &b,
                    format!("t{trial:03} B"),
                    ledger_b.clone(),
                    stop.clone(),
                ));
                let target = base_a + random_in(1, 60);
                wait_for_writes(&a, &ledger_a, target);
                // B is receiving A's pushes and pushing its own: kill it mid-sync.
                b.kill();
                stop.store(true, Ordering::Relaxed);
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }

        // Restart whoever died; every document must load and every acknowledged write of
        // theirs must be there.
        let victim = if kind == "sync" { &mut b } else { &mut a };
        victim.restart();
        let ledger = if kind == "sync" { &ledger_b } else { &ledger_a };
        documents_load(victim);
        let acked = ledger.lock().unwrap().acked.clone();
        let missing = lost(victim, &acked);
        assert!(
            missing.is_empty(),
            "trial {trial} ({kind}): {} acknowledged writes lost: {missing:?}",
            missing.len()
        );
    }

    // Both daemons converge and hold every acknowledged write of either.
    if !poll_until(CONVERGE, || shared_heads(&a) == shared_heads(&b)) {
        not_converged(&a, &b);
    }
    let mut all = ledger_a.lock().unwrap().acked.clone();
    all.extend(ledger_b.lock().unwrap().acked.clone());
    let (lost_a, lost_b) = (lost(&a, &all), lost(&b, &all));
    assert!(lost_a.is_empty(), "lost on A: {lost_a:?}");
    assert!(lost_b.is_empty(), "lost on B: {lost_b:?}");
    let in_flight: Vec<String> = [&ledger_a, &ledger_b]
        .iter()
        .flat_map(|l| l.lock().unwrap().in_flight.clone())
        .collect();
    let names: BTreeSet<String> = members(&a).into_values().collect();
    totals.in_flight_present += in_flight.iter().filter(|n| names.contains(*n)).count();
    totals.in_flight += in_flight.len();
    totals.acknowledged += all.len();
    totals.lost += lost_a.len() + lost_b.len();
    totals.documents += documents_load(&a);
}

/// Issue 16 (item 7): a clean SIGTERM left redb "not closed cleanly" (logged three times at
/// the next start, and every page checked again). Shutdown now stops the sync engine and the
/// swarm, commits what is pending and closes the store.
#[test]
fn sigterm_closes_the_store_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path());
    daemon.guild(&["init", "--community", "Tidy", "--name", "Ada"]);
    daemon.guild(&["members", "add", "Before The Stop"]);
    let status = daemon.terminate();
    assert!(status.success(), "guildd exited with {status}");
    daemon.restart();
    let log = daemon.log();
    assert!(!log.contains("not closed cleanly"), "{log}");
    assert!(members(&daemon).values().any(|n| n == "Before The Stop"));
    // A kill is not a clean stop, and the next start says so, once.
    daemon.restart();
    assert_eq!(daemon.log().matches("not closed cleanly").count(), 1);
}
