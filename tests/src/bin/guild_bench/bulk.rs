//! Scenario 1, bulk convergence: a member comes back after another made N changes offline;
//! and the reconnect of two daemons that already share everything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::common::{Ctx, peers_in_sync, poll, wait_converged, wait_quiet};
use crate::inproc;
use crate::node::Node;
use crate::proxy::Proxy;
use crate::report::{Report, bytes, ms, ratio, secs};
use crate::workload;

/// The data directories left behind (daemons stopped), for later scenarios.
pub struct Outcome {
    pub sender: PathBuf,
    pub receiver: PathBuf,
    pub docs: usize,
}

pub fn listen_socket(node: &Node) -> Result<SocketAddr> {
    let port = node
        .listen
        .rsplit('/')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .context("listen address has no port")?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

pub fn run(ctx: &Ctx, report: &mut Report, n: usize) -> Result<Outcome> {
    let section = format!("1. Bulk convergence: N = {n} changes made offline, then connect");
    let mut a = ctx.node(&format!("bulk-{n}/sender"), "Ada Sender")?;
    let mut b = ctx.node(&format!("bulk-{n}/receiver"), "Bea Receiver")?;

    // B joins while the community is empty, then goes away.
    a.start()?;
    a.init("Bench community")?;
    b.start()?;
    let ticket = a.ticket()?;
    b.join(&ticket)?;
    wait_converged(&mut [&mut a, &mut b], Duration::from_secs(60))?;
    b.forget_peers()?;
    b.stop()?;

    // A makes N changes while B is away.
    // A community of N/50 members (200 for 10,000 changes) and N/100 sessions.
    let sessions = (n / 100).max(1);
    let members = (n / 50).max(2);
    let made = workload::populate(&a, n, members, sessions, 8, n as u64)?;
    a.stop()?;
    eprintln!(
        "  bulk {n}: {} API writes offline in {} ({:.0}/s)",
        made.writes,
        ms(made.elapsed),
        made.writes as f64 / secs(made.elapsed)
    );

    // The physical limit: Automerge's sync protocol in one process on the same documents,
    // from A's documents to what B held.
    let from = inproc::load_docs(&a.dir)?;
    let to = inproc::load_docs(&b.dir)?;
    let runs = if ctx.quick { 1 } else { 3 };
    let reference = inproc::reference(&from, &to, runs)?;

    // Connect: B dials A (through the recording relay) and catches up.
    a.start()?;
    b.start()?;
    let proxy = Proxy::start(listen_socket(&a)?)?;
    let mark = proxy.mark();
    let t0 = Instant::now();
    b.add_peer(&proxy.multiaddr())?;
    poll(
        "the receiver to hold the sender's heads",
        Duration::from_secs(900),
        Duration::from_millis(2),
        || peers_in_sync(&mut b),
    )?;
    let took = t0.elapsed();
    // Confirm with every document's heads, on both sides.
    wait_converged(&mut [&mut a, &mut b], Duration::from_secs(60))?;
    wait_quiet(&proxy, Duration::from_millis(500));
    let (sent, received) = b.sync_bytes()?;
    let frames = sent + received;
    let tcp = proxy.since(mark);

    let time_ratio = ratio(secs(took), secs(reference.sync.time));
    let bytes_ratio = ratio(frames as f64, reference.save_bytes as f64);
    report.info(
        &section,
        "documents / Automerge changes the receiver lacked",
        format!(
            "{} docs, {} changes ({} API writes at {:.0}/s, 8 clients)",
            reference.docs,
            reference.changes,
            made.writes,
            made.writes as f64 / secs(made.elapsed)
        ),
    );
    report.at_most(
        &section,
        "time from connect until heads match",
        ms(took),
        format!("sync protocol {}", ms(reference.sync.time)),
        Some(time_ratio),
        "<= 1.5x in-process".into(),
        time_ratio,
        1.5,
    );
    report.at_most(
        &section,
        "bytes on the wire (sync frames)",
        bytes(frames),
        format!("compressed save() {}", bytes(reference.save_bytes)),
        Some(bytes_ratio),
        "<= 1.1x save()".into(),
        bytes_ratio,
        1.1,
    );
    report.compare(
        &section,
        "bytes vs in-process sync messages",
        bytes(frames),
        format!(
            "sync messages {} ({} msgs)",
            bytes(reference.sync.bytes),
            reference.sync.messages
        ),
        ratio(frames as f64, reference.sync.bytes as f64),
    );
    report.compare(
        &section,
        "time vs in-process save()+load()",
        ms(took),
        format!("save+load {}", ms(reference.save_load)),
        ratio(secs(took), secs(reference.save_load)),
    );
    report.info(
        &section,
        "TCP payload through the relay / round trips",
        format!(
            "{} (Noise+Yamux incl.), {} round trips",
            bytes(tcp.total()),
            tcp.round_trips
        ),
    );
    report.figure(
        &format!("bulk_{n}"),
        json!({
            "changes_requested": n,
            "api_writes": made.writes,
            "api_write_secs": secs(made.elapsed),
            "members_created": made.members.len(),
            "sessions_created": made.sessions.len(),
            "docs": reference.docs,
            "automerge_changes": reference.changes,
            "converge_secs": secs(took),
            "frame_bytes_sent_by_receiver": sent,
            "frame_bytes_received_by_receiver": received,
            "frame_bytes": frames,
            "tcp_bytes": tcp.total(),
            "tcp_round_trips": tcp.round_trips,
            "inproc_sync_secs": secs(reference.sync.time),
            "inproc_sync_bytes": reference.sync.bytes,
            "inproc_sync_messages": reference.sync.messages,
            "inproc_sync_max_rounds": reference.sync.rounds,
            "inproc_save_bytes": reference.save_bytes,
            "inproc_save_load_secs": secs(reference.save_load),
            "time_ratio": time_ratio,
            "bytes_ratio_vs_save": bytes_ratio,
        }),
    );

    // The reconnect target is for two daemons sharing 1,000 documents: for the large run, A
    // adds members (while connected, so B receives them) until they do.
    let mut docs = reference.docs;
    if n >= 10_000 && docs < 1000 {
        let people: Vec<workload::Job> = (0..1000 - docs)
            .map(|i| workload::Job {
                method: "POST",
                path: "/api/members".into(),
                body: json!({"name": format!("Newcomer {i}"), "team": "Onboarding"}),
            })
            .collect();
        workload::run_jobs(&a, &people, 8)?;
        wait_converged(&mut [&mut a, &mut b], Duration::from_secs(600))?;
        docs = a.heads()?.len();
    }
    reconnect(report, &section, &mut a, &mut b, &proxy, docs)?;
    a.stop()?;
    b.stop()?;
    Ok(Outcome {
        sender: a.dir.clone(),
        receiver: b.dir.clone(),
        docs,
    })
}

/// Both daemons already hold the same documents; B restarts and connects again.
fn reconnect(
    report: &mut Report,
    section: &str,
    a: &mut Node,
    b: &mut Node,
    proxy: &Proxy,
    docs: usize,
) -> Result<()> {
    b.forget_peers()?;
    b.stop()?;
    let restart = b.start()?;
    let mark = proxy.mark();
    let t0 = Instant::now();
    b.add_peer(&proxy.multiaddr())?;
    poll(
        "both daemons to see each other in sync",
        Duration::from_secs(120),
        Duration::from_millis(1),
        || Ok(peers_in_sync(b)? && peers_in_sync(a)?),
    )?;
    let took = t0.elapsed();
    wait_quiet(proxy, Duration::from_millis(500));
    let (sent, received) = b.sync_bytes()?;
    let frames = sent + received;
    let tcp = proxy.since(mark);
    let what_time = format!("reconnect, {docs} shared docs, no changes: time");
    let what_bytes = format!("reconnect, {docs} shared docs, no changes: bytes");
    // The targets are stated for 1,000 shared documents.
    if docs >= 1000 {
        report.at_most(
            section,
            &what_time,
            ms(took),
            String::new(),
            None,
            "< 100 ms".into(),
            secs(took) * 1000.0,
            100.0,
        );
        report.at_most(
            section,
            &what_bytes,
            bytes(frames),
            format!("TCP {}", bytes(tcp.total())),
            None,
            "< 64 KB".into(),
            frames as f64,
            64_000.0,
        );
    } else {
        report.info(section, &what_time, ms(took));
        report.info(
            section,
            &what_bytes,
            format!("{} (TCP {})", bytes(frames), bytes(tcp.total())),
        );
    }
    report.figure(
        &format!("reconnect_{docs}_docs"),
        json!({
            "docs": docs,
            "receiver_restart_secs": secs(restart),
            "reconnect_secs": secs(took),
            "frame_bytes": frames,
            "tcp_bytes": tcp.total(),
            "tcp_round_trips": tcp.round_trips,
        }),
    );
    Ok(())
}
