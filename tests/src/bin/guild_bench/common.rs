//! What every scenario shares: where daemons live, and waiting for conditions by polling.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::Value;

use crate::node::{Heads, Node};
use crate::proxy::Proxy;

pub struct Ctx {
    pub guildd: PathBuf,
    /// Scratch space for data directories, on the same disk as the repository (not tmpfs):
    /// durable writes must pay for a real fsync.
    pub work: PathBuf,
    pub quick: bool,
    /// API writes per write-rate run.
    pub writes: usize,
    /// Size of the large store for the start-up measurement.
    pub store_bytes: u64,
}

impl Ctx {
    pub fn node(&self, dir: &str, name: &str) -> Result<Node> {
        Node::new(&self.guildd, &self.work.join(dir), name)
    }
}

/// Polls `condition` every `every` until it holds; fails after `timeout`.
pub fn poll(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut condition: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        if condition()? {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(every);
    }
}

/// Every connected peer of `node` proved membership and holds exactly `node`'s heads (as the
/// peer last told it), and there is at least one.
pub fn peers_in_sync(node: &mut Node) -> Result<bool> {
    let peers = node.get("/api/peers")?;
    let connected: Vec<&Value> = peers["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["connected"] == Value::Bool(true))
        .collect();
    Ok(!connected.is_empty()
        && connected
            .iter()
            .all(|p| p["member"] == Value::Bool(true) && p["in_sync"] == Value::Bool(true)))
}

/// All `nodes` hold identical heads for every document.
pub fn all_equal(nodes: &mut [&mut Node]) -> Result<Option<Heads>> {
    let mut first: Option<Heads> = None;
    let mut equal = true;
    for node in nodes.iter_mut() {
        let heads = node.heads()?;
        match &first {
            None => first = Some(heads),
            Some(f) if *f != heads => equal = false,
            Some(_) => {}
        }
        if !equal {
            return Ok(None);
        }
    }
    Ok(first)
}

pub fn wait_converged(nodes: &mut [&mut Node], timeout: Duration) -> Result<Duration> {
    poll(
        "identical heads",
        timeout,
        Duration::from_millis(20),
        || Ok(all_equal(nodes)?.is_some()),
    )
}

/// Waits until the relay has carried nothing for `quiet` (and at least `quiet`, so that traffic
/// about to start is not missed).
pub fn wait_quiet(proxy: &Proxy, quiet: Duration) {
    std::thread::sleep(quiet);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match proxy.last_activity() {
            Some(t) if t.elapsed() < quiet => std::thread::sleep(Duration::from_millis(20)),
            _ => return,
        }
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}
