//! Scenario 5, footprint: resident memory idle and with many documents; start-up with a large store.
//!
//! RSS is VmRSS from /proc/PID/status after the daemon has been idle for a few seconds.
//! Start-up is from spawning `guildd run` until its API answers a request; the store file is
//! in the page cache (it was just written), so this is a warm start.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use crate::common::{Ctx, median};
use crate::node::{Node, str_field};
use crate::report::{Report, bytes, ms, secs};
use crate::seed;

const SETTLE: Duration = Duration::from_secs(3);

pub fn run(ctx: &Ctx, report: &mut Report, many_docs: Option<(&Path, usize)>) -> Result<()> {
    let section = "5. Footprint";

    // Idle, with a fresh community (two documents).
    let mut idle = ctx.node("footprint/idle", "Ida Idle")?;
    let fresh_start = idle.start()?;
    idle.init("Bench community")?;
    std::thread::sleep(SETTLE);
    let idle_rss = idle.rss()?;
    idle.stop()?;
    report.at_most(
        section,
        "idle daemon RSS (fresh community)",
        bytes(idle_rss),
        String::new(),
        None,
        "< 40 MB".into(),
        idle_rss as f64,
        40e6,
    );

    // With many documents: the bulk scenario's receiver, restarted (everything loaded).
    let mut docs_rss = None;
    if let Some((dir, docs)) = many_docs {
        let mut node = Node::new(&ctx.guildd, dir, "Bea Receiver")?;
        let start = node.start()?;
        std::thread::sleep(SETTLE);
        let rss = node.rss()?;
        let peak = node.peak_rss()?;
        node.stop()?;
        report.info(
            section,
            &format!("RSS with {docs} documents (peak)"),
            format!("{} ({}), start-up {}", bytes(rss), bytes(peak), ms(start)),
        );
        docs_rss =
            Some(json!({"docs": docs, "rss": rss, "peak_rss": peak, "start_secs": secs(start)}));
    }

    // Start-up with a large store.
    let target = ctx.store_bytes;
    let mut big = ctx.node("footprint/big", "Bo Big")?;
    big.start()?;
    big.init("Bench community")?;
    let community = str_field(&big.get("/api/status")?["community"], "id")?;
    big.stop()?;
    let made = seed::big_store(&big.dir, &community, target, 11)?;
    eprintln!(
        "  footprint: built a {} store ({} members, {} sessions, {} changes) in {}",
        bytes(made.file_bytes),
        made.members,
        made.sessions,
        made.changes,
        ms(made.took)
    );
    let mut starts = Vec::new();
    let mut rss_after = 0;
    let mut peak = 0;
    for _ in 0..if ctx.quick { 1 } else { 2 } {
        let took = big.start()?;
        starts.push(took);
        std::thread::sleep(SETTLE);
        rss_after = big.rss()?;
        peak = big.peak_rss()?;
        let docs = big.get("/api/status")?["documents"]
            .as_array()
            .map(Vec::len)
            .context("no documents")?;
        anyhow::ensure!(docs > made.members, "the big store did not load");
        big.stop()?;
    }
    let first = starts[0];
    let med = median(starts.clone());
    report.at_most(
        section,
        &format!(
            "start-up with a {} store (first / median)",
            bytes(made.file_bytes)
        ),
        format!("{} / {}", ms(first), ms(med)),
        format!(
            "{} docs, {} changes",
            made.members + made.sessions + 2,
            made.changes
        ),
        None,
        "< 1 s".into(),
        secs(med),
        1.0,
    );
    report.info(
        section,
        "RSS after start-up with that store (peak)",
        format!("{} ({})", bytes(rss_after), bytes(peak)),
    );
    report.figure(
        "footprint",
        json!({
            "idle_rss": idle_rss,
            "fresh_start_secs": secs(fresh_start),
            "with_docs": docs_rss,
            "big_store": {
                "file_bytes": made.file_bytes,
                "members": made.members,
                "sessions": made.sessions,
                "changes": made.changes,
                "build_secs": secs(made.took),
                "start_secs": starts.iter().map(|d| secs(*d)).collect::<Vec<_>>(),
                "rss_after_start": rss_after,
                "peak_rss": peak,
            },
        }),
    );
    Ok(())
}
