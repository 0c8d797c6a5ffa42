//! Scenario 2, incremental: two connected daemons share a document with a long history; one
//! new change on one side. How long until the other has it (durably), in how many round trips and bytes.
//!
//! Timing comes from the recording relay, not from polling the receiver (a poll would load
//! the receiver and could hold the document's lock just as the change arrives): the
//! receiver acknowledges a pushed change only once it is durable, so the last byte it sends
//! back is the moment it has the change.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use automerge::{AutoCommit, ChangeHash};
use serde_json::json;

use crate::bulk::listen_socket;
use crate::common::{Ctx, median, peers_in_sync, poll, wait_converged, wait_quiet};
use crate::inproc;
use crate::node::Node;
use crate::proxy::{Dir, Proxy};
use crate::report::{Report, bytes, ms, ratio, secs};
use crate::seed;
use crate::workload::SKILLS;

struct Sample {
    /// From the sender's API acknowledgement to the receiver's acknowledgement of the push.
    from_ack: Duration,
    /// From the start of the API request on the sender.
    from_request: Duration,
    /// From the sender's API acknowledgement to the push passing the relay.
    sender_side: Duration,
    /// From the push passing the relay to the receiver's acknowledgement passing it.
    receiver_side: Duration,
    frames_in: u64,
    frames_out: u64,
    tcp: u64,
    round_trips: u64,
    change: ChangeHash,
}

fn doc_heads(node: &mut Node, doc: &str) -> Result<Vec<String>> {
    node.heads()?
        .remove(doc)
        .with_context(|| format!("{} does not hold {doc}", node.name))
}

pub fn run(ctx: &Ctx, report: &mut Report, history: usize) -> Result<()> {
    let section = format!("2. Incremental: one new change after a {history}-change history");
    let mut a = ctx.node("incremental/sender", "Ada Sender")?;
    let mut b = ctx.node("incremental/receiver", "Bea Receiver")?;
    a.start()?;
    let me = a.init("Bench community")?;
    a.stop()?;
    let t = Instant::now();
    let base = seed::ratings_history(&a.dir, &me, history, 7)?;
    eprintln!(
        "  incremental: built a {history}-change member document ({}) in {}",
        bytes(base.len() as u64),
        ms(t.elapsed())
    );
    let sender_start = a.start()?;
    b.start()?;

    // The newcomer receives the whole history (as a compressed snapshot).
    let ticket = a.ticket()?;
    let t0 = Instant::now();
    b.join(&ticket)?;
    wait_converged(&mut [&mut a, &mut b], Duration::from_secs(900))?;
    let join_took = t0.elapsed();
    let (js, jr) = b.sync_bytes()?;

    // Reconnect through the relay, so that round trips and TCP bytes can be seen.
    b.forget_peers()?;
    b.stop()?;
    let receiver_start = b.start()?;
    let proxy = Proxy::start(listen_socket(&a)?)?;
    b.add_peer(&proxy.multiaddr())?;
    poll(
        "the two daemons to connect and agree",
        Duration::from_secs(300),
        Duration::from_millis(5),
        || Ok(peers_in_sync(&mut b)? && peers_in_sync(&mut a)?),
    )?;
    wait_quiet(&proxy, Duration::from_millis(500));

    let runs = if ctx.quick { 3 } else { 7 };
    let mut samples = Vec::new();
    for k in 0..runs {
        let (s0, r0) = b.sync_bytes()?;
        let mark = proxy.mark();
        let t0 = Instant::now();
        a.send(
            "PUT",
            "/api/skills/ratings",
            &json!({"skill": SKILLS[k % SKILLS.len()], "level": (k % 5), "grow": k % 2 == 0}),
        )?;
        let t_ack = Instant::now();
        wait_quiet(&proxy, Duration::from_millis(300));
        let arrived = proxy
            .last_in(mark, Dir::Up)
            .context("the receiver never answered the push")?;
        let pushed = proxy
            .first_in(mark, Dir::Down)
            .context("the sender never pushed")?;
        let sender_heads = doc_heads(&mut a, &me)?;
        ensure!(
            doc_heads(&mut b, &me)? == sender_heads,
            "the receiver does not hold the new change"
        );
        let (s1, r1) = b.sync_bytes()?;
        let tcp = proxy.since(mark);
        let head = sender_heads.first().context("no heads")?;
        samples.push(Sample {
            from_ack: arrived.saturating_duration_since(t_ack),
            from_request: arrived.saturating_duration_since(t0),
            sender_side: pushed.saturating_duration_since(t_ack),
            receiver_side: arrived.saturating_duration_since(pushed),
            frames_in: r1 - r0,
            frames_out: s1 - s0,
            tcp: tcp.total(),
            round_trips: tcp.round_trips,
            change: head.parse().context("bad change hash")?,
        });
    }

    // Write latency on the long document, over more than one compaction period (64).
    let mut write_lat = Vec::new();
    for k in 0..if ctx.quick { 10 } else { 70 } {
        let t0 = Instant::now();
        a.send(
            "PUT",
            "/api/skills/ratings",
            &json!({"skill": SKILLS[k % SKILLS.len()], "level": (k % 5)}),
        )?;
        write_lat.push(t0.elapsed());
    }
    write_lat.sort();
    a.stop()?;
    b.stop()?;

    // Automerge's own apply time for exactly these changes, on the document as the receiver
    // held it before each.
    let mut final_doc = inproc::load_docs(&a.dir)?
        .remove(&me)
        .context("the member document is gone")?;
    let hashes: Vec<ChangeHash> = samples.iter().map(|s| s.change).collect();
    let changes = inproc::changes_by_hash(&mut final_doc, &hashes)?;
    let base_doc = AutoCommit::load(&base)?;
    let applies = inproc::apply_times(&base_doc, &changes, 3)?;
    let one_message = inproc::push_frames(&base_doc, &changes, &me)?;
    let receive = inproc::receive_path(&base_doc, &changes)?;
    let stored = guild_daemon::store::StoredDoc {
        id: me.clone(),
        base: base.clone(),
        changes: Vec::new(),
    };
    let daemon_receive = inproc::daemon_receive(&stored, &changes)?;
    // The receiver's counters hold every frame it exchanged with the sender: they equal one
    // push and one acknowledgement exactly when nothing else was sent.
    let single = samples
        .iter()
        .zip(&one_message)
        .all(|(s, (push, ack))| s.frames_in == *push && s.frames_out == *ack);
    let (push_expected, _) = one_message.first().copied().unwrap_or_default();

    let lat = median(samples.iter().map(|s| s.from_ack).collect());
    let lat_req = median(samples.iter().map(|s| s.from_request).collect());
    let apply = median(applies.clone());
    let worst_margin = samples
        .iter()
        .zip(&applies)
        .map(|(s, a)| secs(s.from_ack) - secs(*a))
        .fold(f64::MIN, f64::max);
    let frames_in = samples.iter().map(|s| s.frames_in).max().unwrap_or(0);
    let frames_out = samples.iter().map(|s| s.frames_out).max().unwrap_or(0);
    let rts = samples.iter().map(|s| s.round_trips).max().unwrap_or(0);
    let tcp = samples.iter().map(|s| s.tcp).max().unwrap_or(0);

    report.info(
        &section,
        "newcomer joins (history sent as a snapshot)",
        format!(
            "{} , {} frames ({} compressed doc)",
            ms(join_took),
            bytes(js + jr),
            bytes(base.len() as u64)
        ),
    );
    report.at_most(
        &section,
        &format!("latency to the peer (median of {runs}, from write ack)"),
        format!("{} (from request {})", ms(lat), ms(lat_req)),
        format!("Automerge apply {}", ms(apply)),
        Some(ratio(secs(lat), secs(apply))),
        "<= apply + 5 ms".into(),
        secs(lat) * 1000.0,
        secs(apply) * 1000.0 + 5.0,
    );
    report.info(
        &section,
        "worst sample: latency minus its apply time",
        format!("{:.1} ms", worst_margin * 1000.0),
    );
    report.info(
        &section,
        "receiver's steps in process: load_incremental / kind check / save_incremental",
        format!(
            "{} / {} / {} (medians)",
            ms(receive.load_incremental),
            ms(receive.kind_check),
            ms(receive.save_incremental)
        ),
    );
    report.info(
        &section,
        "receiver's apply + commit with the daemon's own code, in process",
        ms(daemon_receive),
    );
    report.info(
        &section,
        "split: sender ack -> push out / push in -> durable ack out",
        format!(
            "{} / {} (medians)",
            ms(median(samples.iter().map(|s| s.sender_side).collect())),
            ms(median(samples.iter().map(|s| s.receiver_side).collect()))
        ),
    );
    let messages = if single { 1.0 } else { 2.0 };
    report.at_most(
        &section,
        "messages to deliver it",
        if single {
            "1 push + 1 ack (frame bytes match exactly)".into()
        } else {
            format!(
                "more than 1 ({} B received, one push is {push_expected} B)",
                frames_in
            )
        },
        format!("wire: {rts} turn(s) incl. Yamux stream open/close"),
        None,
        "1 message".into(),
        messages,
        1.0,
    );
    report.at_most(
        &section,
        "bytes: push frame / ack frame (max)",
        format!("{} / {}", bytes(frames_in), bytes(frames_out)),
        format!("TCP {}", bytes(tcp)),
        None,
        "< 1 KB".into(),
        frames_in as f64,
        1000.0,
    );
    let p = |q: f64| write_lat[((write_lat.len() - 1) as f64 * q).round() as usize];
    report.info(
        &section,
        "API write latency on this document p50 / p99 / max",
        format!("{} / {} / {}", ms(p(0.5)), ms(p(0.99)), ms(p(1.0))),
    );
    report.info(
        &section,
        "start-up with this document: sender / receiver",
        format!("{} / {}", ms(sender_start), ms(receiver_start)),
    );
    report.figure(
        "incremental",
        json!({
            "history_changes": history,
            "doc_save_bytes": base.len(),
            "join_secs": secs(join_took),
            "join_frame_bytes": js + jr,
            "latency_from_ack_ms": samples.iter().map(|s| secs(s.from_ack) * 1000.0).collect::<Vec<_>>(),
            "latency_from_request_ms": samples.iter().map(|s| secs(s.from_request) * 1000.0).collect::<Vec<_>>(),
            "sender_side_ms": samples.iter().map(|s| secs(s.sender_side) * 1000.0).collect::<Vec<_>>(),
            "receiver_side_ms": samples.iter().map(|s| secs(s.receiver_side) * 1000.0).collect::<Vec<_>>(),
            "inproc_load_incremental_ms": secs(receive.load_incremental) * 1000.0,
            "inproc_daemon_receive_ms": secs(daemon_receive) * 1000.0,
            "inproc_kind_check_ms": secs(receive.kind_check) * 1000.0,
            "inproc_save_incremental_ms": secs(receive.save_incremental) * 1000.0,
            "automerge_apply_ms": applies.iter().map(|d| secs(*d) * 1000.0).collect::<Vec<_>>(),
            "push_frame_bytes": samples.iter().map(|s| s.frames_in).collect::<Vec<_>>(),
            "ack_frame_bytes": samples.iter().map(|s| s.frames_out).collect::<Vec<_>>(),
            "tcp_bytes": samples.iter().map(|s| s.tcp).collect::<Vec<_>>(),
            "wire_turns": samples.iter().map(|s| s.round_trips).collect::<Vec<_>>(),
            "one_push_frame_bytes": one_message.iter().map(|m| m.0).collect::<Vec<_>>(),
            "single_message": single,
            "write_latency_ms": write_lat.iter().map(|d| secs(*d) * 1000.0).collect::<Vec<_>>(),
            "sender_start_secs": secs(sender_start),
            "receiver_start_secs": secs(receiver_start),
        }),
    );
    Ok(())
}
