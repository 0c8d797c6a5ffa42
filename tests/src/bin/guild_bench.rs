//! Guild's benchmark suite: real `guildd` processes on loopback, measured against the
//! physical limit of their own stack (Automerge's sync protocol in one process, no transport,
//! no storage). Prints a table and writes the same figures as JSON.
//!
//! ```sh
//! cargo run --release -p guild-tests --bin guild_bench            # the full run
//! cargo run -p guild-tests --bin guild_bench -- --quick           # smallest sizes (CI smoke)
//! guild_bench [--quick] [--only bulk,incremental,meetup,writes,footprint,hub] [--out DIR] [--keep]
//! ```
//!
//! Scenarios: (1) bulk convergence (N = 1,000 and 10,000 offline changes) and reconnect;
//! (2) one new change after a 100,000-change history; (3) meetups of 10, 25 and 50 daemons;
//! (4) durable API writes per second; (5) RSS and start-up time; (6) a newcomer joining
//! directly and through a hub.
//!
//! Every daemon listens on 127.0.0.1 with mDNS off. Byte counts are the daemons' own
//! counters of sync-protocol frames (`bytes_sent`/`bytes_received` in `guild status`),
//! which leave out TCP, Noise and Yamux overhead; where a recording relay sits between two
//! daemons its TCP payload count (overhead included) is shown too.

#[path = "guild_bench/bulk.rs"]
mod bulk;
#[path = "guild_bench/common.rs"]
mod common;
#[path = "guild_bench/footprint.rs"]
mod footprint;
#[path = "guild_bench/http.rs"]
mod http;
#[path = "guild_bench/hub.rs"]
mod hub;
#[path = "guild_bench/incremental.rs"]
mod incremental;
#[path = "guild_bench/inproc.rs"]
mod inproc;
#[path = "guild_bench/meetup.rs"]
mod meetup;
#[path = "guild_bench/node.rs"]
mod node;
#[path = "guild_bench/proxy.rs"]
mod proxy;
#[path = "guild_bench/report.rs"]
mod report;
#[path = "guild_bench/seed.rs"]
mod seed;
#[path = "guild_bench/workload.rs"]
mod workload;
#[path = "guild_bench/writes.rs"]
mod writes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use common::Ctx;
use report::Report;

const SCENARIOS: &[&str] = &[
    "bulk",
    "incremental",
    "meetup",
    "writes",
    "footprint",
    "hub",
];

struct Args {
    quick: bool,
    only: Vec<String>,
    out: Option<PathBuf>,
    keep: bool,
    bulk: Option<Vec<usize>>,
    meetup: Option<Vec<usize>>,
    history: Option<usize>,
    writes: Option<usize>,
    store_mb: Option<u64>,
}

fn list(value: Option<String>, flag: &str) -> Result<Vec<usize>> {
    value
        .with_context(|| format!("{flag} needs a value"))?
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .with_context(|| format!("{flag}: {v:?} is not a number"))
        })
        .collect()
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        quick: false,
        only: SCENARIOS.iter().map(|s| (*s).to_owned()).collect(),
        out: None,
        keep: false,
        bulk: None,
        meetup: None,
        history: None,
        writes: None,
        store_mb: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--keep" => args.keep = true,
            "--only" => {
                let list = it.next().context("--only needs a list")?;
                args.only = list.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(bad) = args.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                    bail!(
                        "unknown scenario {bad:?}; choose from {}",
                        SCENARIOS.join(",")
                    );
                }
            }
            "--out" => args.out = Some(it.next().context("--out needs a directory")?.into()),
            // Sizes, to override the defaults (for exploring; the report is for the defaults).
            "--bulk" => args.bulk = Some(list(it.next(), "--bulk")?),
            "--meetup" => args.meetup = Some(list(it.next(), "--meetup")?),
            "--history" => args.history = list(it.next(), "--history")?.first().copied(),
            "--writes" => args.writes = list(it.next(), "--writes")?.first().copied(),
            "--store-mb" => {
                args.store_mb = list(it.next(), "--store-mb")?.first().map(|n| *n as u64);
            }
            "-h" | "--help" => {
                println!(
                    "guild_bench [--quick] [--only {}] [--out DIR] [--keep]\n            \
                     [--bulk N,N] [--meetup N,N] [--history N] [--writes N] [--store-mb N]",
                    SCENARIOS.join(",")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(args)
}

/// `target/<profile>/`, where cargo put this binary, and whether it is a release build.
fn profile_dir() -> Result<(PathBuf, bool)> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no binary directory")?.to_path_buf();
    let release = dir.file_name().is_some_and(|n| n == "release");
    Ok((dir, release))
}

/// The `guildd` to measure: the one next to this binary, rebuilt first (with the same
/// profile) when run through cargo, so the figures are never those of a stale daemon.
fn guildd(dir: &Path, release: bool) -> Result<PathBuf> {
    if let Some(cargo) = std::env::var_os("CARGO") {
        // As `cargo install --path daemon` builds it (the shipped feature set).
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "guild-daemon", "--bin", "guildd"]);
        // `cargo run` gave us its package's variables; build scripts that watch them (ring's
        // watches CARGO_PKG_NAME) would rebuild, and rebuild again in everyone else's next build.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
            ]
            .iter()
            .any(|p| key.starts_with(p))
                || key == "OUT_DIR"
            {
                build.env_remove(key.as_ref());
            }
        }
        if release {
            build.arg("--release");
        }
        let status = build
            .status()
            .context("cannot run cargo build for guildd")?;
        if !status.success() {
            bail!("building guildd failed");
        }
    }
    let path = dir.join("guildd");
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build {}-p guild-daemon`",
            path.display(),
            if release { "--release " } else { "" }
        );
    }
    Ok(path)
}

fn text(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    if let Err(e) = run() {
        eprintln!("guild_bench: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let (bin_dir, release) = profile_dir()?;
    let guildd = guildd(&bin_dir, release)?;
    // target/guild-bench, next to target/<profile>.
    let target = bin_dir.parent().context("no target directory")?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| target.join("guild-bench"));
    let work = out.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    // The daemons run from a copy named apart from `guildd`, so that a `pkill guildd` or
    // `killall guildd` elsewhere on the machine (other people's tests) cannot stop them.
    let bin = out.join("bin");
    std::fs::create_dir_all(&bin)?;
    let daemon = bin.join("guild-bench-daemon");
    std::fs::copy(&guildd, &daemon)
        .with_context(|| format!("cannot copy {} to {}", guildd.display(), daemon.display()))?;
    let ctx = Ctx {
        guildd: daemon,
        work: work.clone(),
        quick: args.quick,
        writes: args.writes.unwrap_or(if args.quick { 100 } else { 2000 }),
        store_bytes: args
            .store_mb
            .map_or(if args.quick { 300_000 } else { 100_000_000 }, |mb| {
                mb * 1_000_000
            }),
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = loadavg();
    let command: Vec<String> = std::env::args().collect();
    eprintln!(
        "guild_bench: {} build, {cores} cores, load {load_before}, work in {}",
        if release { "release" } else { "debug" },
        work.display()
    );

    let mut report = Report::default();
    let mut failures = Vec::new();
    let started = Instant::now();
    let wants = |s: &str| args.only.iter().any(|o| o == s);
    let mut bulk_out: Option<bulk::Outcome> = None;

    let mut attempt =
        |name: &str, report: &mut Report, f: &mut dyn FnMut(&mut Report) -> Result<()>| {
            let t = Instant::now();
            eprintln!("guild_bench: {name} ...");
            match f(report) {
                Ok(()) => eprintln!("guild_bench: {name} done in {}", report::ms(t.elapsed())),
                Err(e) => {
                    eprintln!("guild_bench: {name} FAILED: {e:#}");
                    report.note(format!("{name} failed: {e:#}"));
                    failures.push(name.to_owned());
                }
            }
        };

    if wants("bulk") {
        let default: &[usize] = if args.quick { &[200] } else { &[1_000, 10_000] };
        for &n in args.bulk.as_deref().unwrap_or(default) {
            attempt(&format!("bulk {n}"), &mut report, &mut |r| {
                bulk_out = Some(bulk::run(&ctx, r, n)?);
                Ok(())
            });
        }
    }
    if wants("incremental") {
        let history = args
            .history
            .unwrap_or(if args.quick { 500 } else { 100_000 });
        attempt("incremental", &mut report, &mut |r| {
            incremental::run(&ctx, r, history)
        });
    }
    if wants("meetup") {
        let default: &[usize] = if args.quick { &[3] } else { &[10, 25, 50] };
        for &n in args.meetup.as_deref().unwrap_or(default) {
            attempt(&format!("meetup {n}"), &mut report, &mut |r| {
                meetup::run(&ctx, r, n)
            });
        }
    }
    if wants("writes") {
        attempt("writes", &mut report, &mut |r| writes::run(&ctx, r));
        if let Some(b) = &bulk_out {
            attempt("writes on a large community", &mut report, &mut |r| {
                writes::large_community(&ctx, r, &b.sender, b.docs)
            });
        }
    }
    if wants("footprint") {
        attempt("footprint", &mut report, &mut |r| {
            footprint::run(
                &ctx,
                r,
                bulk_out.as_ref().map(|b| (b.receiver.as_path(), b.docs)),
            )
        });
    }

    if wants("hub") {
        attempt("hub", &mut report, &mut |r| hub::run(&ctx, r));
    }

    let load_after = loadavg();
    let meta = json!({
        "command": command.join(" "),
        "quick": args.quick,
        "profile": if release { "release" } else { "debug" },
        "cores": cores,
        "cpu": cpu,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "git_commit": text("git", &["rev-parse", "HEAD"]),
        "git_dirty": !text("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty(),
        "date": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "total_secs": started.elapsed().as_secs_f64(),
        "failed": failures,
        "bytes_note": "sync frame bytes are the daemons' own counters (request and response frames of /guild/sync/1, postcard-encoded, without the 4-byte length prefix); they leave out TCP, Noise, Yamux, multistream-select, identify and ping. 'TCP' figures are payload bytes counted by a relay between the two daemons and include all of those.",
    });
    let table = report.table();
    println!(
        "Guild benchmark ({} build, {cores} cores: {cpu})",
        if release { "release" } else { "debug" }
    );
    println!("command: {}", command.join(" "));
    println!("load average before / after: {load_before} / {load_after}");
    print!("{table}");
    for note in &report.notes {
        println!("note: {note}");
    }
    std::fs::create_dir_all(&out)?;
    let json_path = out.join("results.json");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&report.json(meta))?,
    )
    .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(out.join("results.txt"), &table)?;
    println!(
        "\nwrote {} in {}",
        json_path.display(),
        report::ms(started.elapsed())
    );
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    if !failures.is_empty() {
        bail!(
            "{} scenario(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}
