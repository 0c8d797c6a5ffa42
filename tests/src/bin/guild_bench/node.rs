//! One `guildd` process on its own data directory, driven over its HTTP API.
//!
//! Every daemon listens for peers on 127.0.0.1 only, with mDNS off. The libp2p port is fixed
//! when the node is created and kept across restarts, so peers can dial it again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::http::Client;

/// Every shared document's heads: id -> sorted heads.
pub type Heads = BTreeMap<String, Vec<String>>;

pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    /// libp2p listen address, `/ip4/127.0.0.1/tcp/PORT`.
    pub listen: String,
    /// Started with `--hub` (relay, rendezvous point and AutoNAT server for members).
    pub hub: bool,
    guildd: PathBuf,
    child: Option<Child>,
    api: Option<SocketAddr>,
    token: String,
    client: Option<Client>,
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Node {
    /// A node on `dir` (created if needed), not started.
    pub fn new(guildd: &Path, dir: &Path, name: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            listen: format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
            hub: false,
            guildd: guildd.to_path_buf(),
            child: None,
            api: None,
            token: String::new(),
            client: None,
        })
    }

    /// Starts the daemon and returns how long it took until its API answered a request.
    pub fn start(&mut self) -> Result<Duration> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let _ = std::fs::remove_file(self.dir.join("api-addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("bench-daemon.log"))
            .context("cannot open the daemon log")?;
        let started = Instant::now();
        let child = Command::new(&self.guildd)
            .arg("run")
            .arg("--data-dir")
            .arg(&self.dir)
            .args([
                "--api-addr",
                "127.0.0.1:0",
                "--listen",
                &self.listen,
                "--no-mdns",
            ])
            .args(self.hub.then_some("--hub"))
            // The shipped default log level, whatever the caller's environment says, unless
            // GUILD_BENCH_LOG asks for another (to measure what logging costs).
            .env_remove("GUILD_LOG")
            .envs(
                std::env::var_os("GUILD_BENCH_LOG")
                    .filter(|l| !l.is_empty())
                    .map(|l| ("GUILD_LOG", l)),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.guildd.display()))?;
        self.child = Some(child);
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "{}: guildd exited at start with {status}; see {}",
                    self.name,
                    self.dir.join("bench-daemon.log").display()
                );
            }
            if let Some(addr) = read_addr(&self.dir) {
                let token = std::fs::read_to_string(self.dir.join("api-token"))
                    .context("cannot read the API token")?
                    .trim()
                    .to_owned();
                let mut client = Client::new(addr, &token);
                // The first answered request: the daemon is up.
                if client.request("GET", "/api/peers", None).is_ok() {
                    let took = started.elapsed();
                    self.api = Some(addr);
                    self.token = token;
                    self.client = Some(client);
                    return Ok(took);
                }
            }
            if Instant::now() > deadline {
                bail!("{}: guildd did not answer within 120 s", self.name);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGTERM, and waits for the process to exit (SIGKILL after 30 s).
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        self.client = None;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) -> Result<()> {
        self.client = None;
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    pub fn pid(&self) -> Result<u32> {
        Ok(self.child.as_ref().context("not running")?.id())
    }

    /// Resident set size in bytes, from /proc/PID/status (VmRSS).
    pub fn rss(&self) -> Result<u64> {
        proc_status_kb(self.pid()?, "VmRSS:").map(|kb| kb * 1024)
    }

    /// CPU time (user + system) the process has used so far, from /proc/PID/stat.
    pub fn cpu(&self) -> Result<Duration> {
        let pid = self.pid()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> u64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0) };
        // utime and stime are fields 14 and 15 of stat (indexes 11 and 12 here); clock ticks
        // are 1/100 s on Linux.
        Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
    }

    /// Peak resident set size in bytes (VmHWM).
    pub fn peak_rss(&self) -> Result<u64> {
        proc_status_kb(self.pid()?, "VmHWM:").map(|kb| kb * 1024)
    }

    /// A fresh client on its own connection (for client threads).
    pub fn new_client(&self) -> Result<Client> {
        Ok(Client::new(
            self.api.context("the daemon is not running")?,
            &self.token,
        ))
    }

    fn client(&mut self) -> Result<&mut Client> {
        self.client.as_mut().context("the daemon is not running")
    }

    pub fn get(&mut self, path: &str) -> Result<Value> {
        let name = self.name.clone();
        self.client()?
            .get(path)
            .with_context(|| format!("daemon {name}"))
    }

    pub fn send(&mut self, method: &str, path: &str, body: &Value) -> Result<Value> {
        let name = self.name.clone();
        self.client()?
            .send(method, path, body)
            .with_context(|| format!("daemon {name}"))
    }

    /// Creates the community; returns this member's id.
    pub fn init(&mut self, community: &str) -> Result<String> {
        let me = self.name.clone();
        let r = self.send(
            "POST",
            "/api/init",
            &json!({"community": community, "purpose": "Benchmark", "me": {"name": me}}),
        )?;
        str_field(&r, "member_id")
    }

    pub fn ticket(&mut self) -> Result<String> {
        str_field(&self.get("/api/invite")?, "ticket")
    }

    /// Joins with `ticket`; returns once the community arrived and this member exists.
    pub fn join(&mut self, ticket: &str) -> Result<String> {
        let me = self.name.clone();
        let r = self.send(
            "POST",
            "/api/join",
            &json!({"ticket": ticket, "me": {"name": me, "team": "Bench"}}),
        )?;
        str_field(&r, "member_id")
    }

    pub fn add_peer(&mut self, addr: &str) -> Result<()> {
        self.send("POST", "/api/peers", &json!({ "addr": addr }))
            .map(drop)
    }

    /// Stops dialling every address this daemon keeps connected.
    pub fn forget_peers(&mut self) -> Result<()> {
        let peers = self.get("/api/peers")?;
        let dialled: Vec<String> = peers["dialled"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        for addr in dialled {
            self.send("DELETE", "/api/peers", &json!({ "addr": addr }))?;
        }
        Ok(())
    }

    /// Every shared document's heads (from `GET /api/status`).
    pub fn heads(&mut self) -> Result<Heads> {
        heads_of(&self.get("/api/status")?)
    }

    /// Frame bytes (sent, received) this daemon counted with every peer since it started.
    pub fn sync_bytes(&mut self) -> Result<(u64, u64)> {
        let peers = self.get("/api/peers")?;
        Ok(sum_peer_bytes(&peers["peers"]))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

pub fn str_field(v: &Value, field: &str) -> Result<String> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {field:?} in {v}"))
}

pub fn heads_of(status: &Value) -> Result<Heads> {
    let docs = status["documents"]
        .as_array()
        .context("status has no documents")?;
    let mut out = Heads::new();
    // A member's private documents (relationships) go only to that member's own devices:
    // they are not part of what members converge on.
    for d in docs.iter().filter(|d| d["kind"] != "relationships") {
        let heads: Vec<String> = d["heads"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect();
        out.insert(str_field(d, "id")?, heads);
    }
    Ok(out)
}

/// Sums `bytes_sent` and `bytes_received` over a list of peer statuses.
pub fn sum_peer_bytes(peers: &Value) -> (u64, u64) {
    peers
        .as_array()
        .into_iter()
        .flatten()
        .fold((0, 0), |acc, p| {
            (
                acc.0 + p["bytes_sent"].as_u64().unwrap_or(0),
                acc.1 + p["bytes_received"].as_u64().unwrap_or(0),
            )
        })
}

fn read_addr(dir: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(dir.join("api-addr"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn proc_status_kb(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// Waits until the redb file in `dir` can be opened (a stopped daemon's writer thread may
/// hold it for a moment).
pub fn wait_released(dir: &Path) -> Result<()> {
    let path = dir.join("guild.redb");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match redb::Database::builder().open(&path) {
            Ok(db) => {
                drop(db);
                return Ok(());
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        }
    }
}
