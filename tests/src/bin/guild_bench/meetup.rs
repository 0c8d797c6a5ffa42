//! Scenario 3, meetup: N members, each with their own offline edits (some on the same
//! session's notes, some new sessions, so the community index diverged too), arrive at once
//! and connect to everyone, as mDNS would connect them. Time until every daemon holds identical heads.
//!
//! One `guildd` process per daemon (the shipped binary, each with its own runtime, allocator
//! and store thread, as on members' laptops), all driven over HTTP from this one process.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::common::{Ctx, poll};
use crate::http::Client;
use crate::node::{Heads, Node, heads_of, str_field, sum_peer_bytes};
use crate::report::{Report, bytes, ms, secs};
use crate::workload::{ROLES, SKILLS, TEAMS, sentence};

/// Runs `f` on every node, `threads` at a time.
fn each<F>(nodes: &mut [Node], threads: usize, f: F) -> Result<()>
where
    F: Fn(usize, &mut Node) -> Result<()> + Sync,
{
    for (c, chunk) in nodes.chunks_mut(threads.max(1)).enumerate() {
        std::thread::scope(|s| -> Result<()> {
            let handles: Vec<_> = chunk
                .iter_mut()
                .enumerate()
                .map(|(i, node)| {
                    let f = &f;
                    s.spawn(move || f(c * threads + i, node))
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a thread panicked"))??;
            }
            Ok(())
        })?;
    }
    Ok(())
}

pub fn run(ctx: &Ctx, report: &mut Report, n: usize) -> Result<()> {
    let section = "3. Meetup: N daemons with offline edits, all connected at once";
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| ctx.node(&format!("meetup-{n}/{i:02}"), &format!("Member {i:02}")))
        .collect::<Result<_>>()?;

    // Everyone joins the community (node 0 created it, with one shared session).
    nodes[0].start()?;
    nodes[0].init("Meetup community")?;
    let session = str_field(
        &nodes[0].send(
            "POST",
            "/api/sessions",
            &json!({
                "title": "Quarterly meetup",
                "kind": "meetup",
                "start": "2025-09-18T18:00:00+01:00",
                "end": "2025-09-18T21:00:00+01:00",
                "place": "The usual pub",
            }),
        )?,
        "id",
    )?;
    // One invitation per newcomer (an invitation may be good for one join only).
    let tickets: Vec<String> = (1..n).map(|_| nodes[0].ticket()).collect::<Result<_>>()?;
    let mut members = vec![String::new(); n];
    members[0] = str_field(&nodes[0].get("/api/status")?["me"], "id")?;
    let (first, rest) = nodes.split_at_mut(1);
    let tickets = &tickets;
    let joined = std::sync::Mutex::new(Vec::new());
    each(rest, 8, |i, node| {
        node.start()?;
        let id = node.join(&tickets[i])?;
        // The shared session arrives just after the community: wait for it, then leave.
        poll(
            "the shared session to arrive",
            Duration::from_secs(120),
            Duration::from_millis(20),
            // A daemon that is still receiving may answer an error: not there yet.
            || Ok(node.heads().is_ok_and(|h| h.contains_key(&session))),
        )?;
        node.forget_peers()?;
        node.stop()?;
        joined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((i + 1, id));
        Ok(())
    })?;
    for (i, id) in joined.into_inner().unwrap_or_else(|e| e.into_inner()) {
        members[i] = id;
    }
    first[0].forget_peers()?;
    first[0].stop()?;

    // Apart: everyone edits offline.
    let members = &members;
    let session = &session;
    each(&mut nodes, 8, |i, node| {
        node.start()?;
        let me = &members[i];
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(i as u64);
        node.send(
            "PATCH",
            &format!("/api/members/{me}"),
            &json!({"role": ROLES[i % ROLES.len()], "team": TEAMS[i % TEAMS.len()]}),
        )?;
        for k in 0..8 {
            node.send(
                "PUT",
                "/api/skills/ratings",
                &json!({"skill": SKILLS[(i + 3 * k) % SKILLS.len()], "level": (i + k) % 5}),
            )?;
        }
        for _ in 0..2 {
            node.send(
                "POST",
                &format!("/api/sessions/{session}/notes"),
                &json!({"append": sentence(&mut rng)}),
            )?;
        }
        node.send(
            "PUT",
            &format!("/api/sessions/{session}/rsvp"),
            &json!({"status": "going"}),
        )?;
        if i % 5 == 0 {
            node.send(
                "POST",
                "/api/sessions",
                &json!({
                    "title": format!("Follow-up {i}"),
                    "kind": "community-session",
                    "start": "2025-10-02T12:00:00+01:00",
                    "end": "2025-10-02T13:00:00+01:00",
                }),
            )?;
        }
        Ok(())
    })?;
    let changes = n * 12 + n.div_ceil(5) * 2;
    let rss: Vec<u64> = nodes.iter().map(Node::rss).collect::<Result<_>>()?;

    // Together: every daemon dials every other with a higher index (one connection per pair).
    let addrs: Vec<String> = nodes.iter().map(|d| d.listen.clone()).collect();
    let cpu_before: Vec<Duration> = nodes.iter().map(Node::cpu).collect::<Result<_>>()?;
    let t0 = Instant::now();
    let addrs = &addrs;
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = nodes
            .iter_mut()
            .enumerate()
            .map(|(i, node)| {
                s.spawn(move || -> Result<()> {
                    for addr in &addrs[i + 1..] {
                        node.add_peer(addr)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a thread panicked"))??;
        }
        Ok(())
    })?;
    let dialled = t0.elapsed();
    // Sweep every daemon's heads until all are identical: each sweep asks every daemon once,
    // one after the other, then waits, so the poll itself costs the daemons little. A daemon
    // too busy to answer within 10 s counts as not there yet.
    let limit = Duration::from_secs(if ctx.quick { 60 } else { 300 });
    let pause = Duration::from_millis(if n >= 25 { 500 } else { 50 });
    let mut pollers: Vec<Client> = nodes
        .iter()
        .map(|d| {
            d.new_client()
                .map(|c| c.with_timeout(Duration::from_secs(10)))
        })
        .collect::<Result<_>>()?;
    let mut sweeps = 0;
    let mut last_sweep;
    let (converged, took, agreeing) = loop {
        sweeps += 1;
        let started = Instant::now();
        let views: Vec<Option<Heads>> = pollers
            .iter_mut()
            .map(|c| c.get("/api/status").ok().and_then(|s| heads_of(&s).ok()))
            .collect();
        last_sweep = started.elapsed();
        // How many daemons agree on the most common view.
        let agreeing = views
            .iter()
            .flatten()
            .map(|v| views.iter().flatten().filter(|w| *w == v).count())
            .max()
            .unwrap_or(0);
        if agreeing == n {
            break (true, t0.elapsed(), agreeing);
        }
        if t0.elapsed() > limit {
            break (false, t0.elapsed(), agreeing);
        }
        std::thread::sleep(pause);
    };
    let cpu_after: Vec<Duration> = nodes.iter().map(Node::cpu).collect::<Result<_>>()?;
    let cpu: Vec<Duration> = cpu_after
        .iter()
        .zip(&cpu_before)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let cpu_total: Duration = cpu.iter().sum();
    let cpu_max = cpu.iter().copied().max().unwrap_or_default();

    // Traffic settles (late acknowledgements), then every daemon's counters are read.
    let mut last = 0;
    let mut sent_per_node = Vec::new();
    for _ in 0..if converged { 30 } else { 1 } {
        std::thread::sleep(Duration::from_millis(500));
        sent_per_node = pollers
            .iter_mut()
            .map(|c| {
                c.get("/api/peers")
                    .map(|p| sum_peer_bytes(&p["peers"]).0)
                    .unwrap_or(0)
            })
            .collect();
        let total: u64 = sent_per_node.iter().sum();
        if total == last {
            break;
        }
        last = total;
    }
    let total: u64 = sent_per_node.iter().sum();
    let max_node = sent_per_node.iter().copied().max().unwrap_or(0);
    let docs = if converged {
        nodes[0].heads()?.len()
    } else {
        0
    };
    each(&mut nodes, 16, |_, node| node.stop())?;

    let what = format!("{n} daemons: time until identical heads");
    let measured = if converged {
        format!("{} (dials issued in {})", ms(took), ms(dialled))
    } else {
        format!("not converged after {} ({agreeing} of {n} agree)", ms(took))
    };
    if n >= 50 || ctx.quick {
        report.at_most(
            section,
            &what,
            measured,
            String::new(),
            None,
            "< 10 s (50 daemons)".into(),
            secs(took),
            10.0,
        );
    } else {
        report.info(section, &what, measured);
    }
    report.info(
        section,
        &format!("{n} daemons: daemon CPU total / busiest daemon"),
        format!(
            "{:.1} s / {:.1} s ({} cores shared by all)",
            secs(cpu_total),
            secs(cpu_max),
            std::thread::available_parallelism().map_or(0, |c| c.get())
        ),
    );
    report.info(
        section,
        &format!("{n} daemons: total sync bytes (max one daemon sent)"),
        format!("{} ({})", bytes(total), bytes(max_node)),
    );
    report.figure(
        &format!("meetup_{n}"),
        json!({
            "daemons": n,
            "offline_changes": changes,
            "docs": docs,
            "converged": converged,
            "converge_secs": secs(took),
            "agreeing_daemons": agreeing,
            "dials_issued_secs": secs(dialled),
            "sweeps": sweeps,
            "last_sweep_secs": secs(last_sweep),
            "daemon_cpu_secs": cpu.iter().map(|c| secs(*c)).collect::<Vec<_>>(),
            "daemon_cpu_total_secs": secs(cpu_total),
            "total_frame_bytes_sent": total,
            "max_frame_bytes_sent_by_one": max_node,
            "rss_before_connect_bytes": rss,
        }),
    );
    Ok(())
}
