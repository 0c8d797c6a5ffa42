//! Captures real traffic as seed corpora for the fuzz targets in `fuzz/`:
//!
//! ```sh
//! cargo build -p guild-daemon -p guild-cli -p guild-tests --bins
//! target/debug/capture_seeds            # writes fuzz/seeds/<target>/
//! ```
//!
//! Two daemons on 127.0.0.1 (mDNS off) form a community, edit together, edit apart (so that
//! reconnecting needs pulls and Automerge's sync protocol), and converge. The daemons run
//! with `GUILD_CAPTURE_FRAMES`, so every sync frame they receive is recorded; the `guild`
//! CLI talks to the first daemon through a recording proxy, so the API bodies are the CLI's
//! own; the stored documents are read from the stopped daemons' redb files.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs_v1");
const CHANGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("changes_v1");

fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join(name)
}

struct Guildd {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    frames: PathBuf,
}

impl Guildd {
    fn start(dir: &Path, frames: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut d = Self {
            dir: dir.to_path_buf(),
            port,
            child: None,
            frames: frames.to_path_buf(),
        };
        d.spawn()?;
        Ok(d)
    }

    fn spawn(&mut self) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.join("api-addr"));
        std::fs::create_dir_all(&self.dir)?;
        let log = std::fs::File::create(self.dir.join("capture.log"))?;
        self.child = Some(
            Command::new(sibling("guildd"))
                .args(["run", "--data-dir"])
                .arg(&self.dir)
                .args(["--api-addr", "127.0.0.1:0", "--no-mdns", "--listen"])
                .arg(format!("/ip4/127.0.0.1/tcp/{}", self.port))
                .env("GUILD_CAPTURE_FRAMES", &self.frames)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("guildd (build it first)")?,
        );
        wait("the daemon's API", || {
            self.dir.join("api-addr").exists() && guild(&self.dir, &["status"]).is_ok()
        })
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Guildd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `ok` for up to a minute.
fn wait(what: &str, mut ok: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Runs the CLI; Ok(stdout) on success (failures are fine for seeds: they send bodies too).
fn guild(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(sibling("guild"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn heads(dir: &Path) -> Value {
    guild(dir, &["status", "--json"])
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .map_or(Value::Null, |v| {
            // Each daemon's private documents differ by design: compare the shared ones.
            let shared: Vec<Value> = v["documents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"] != "relationships")
                .cloned()
                .collect();
            Value::Array(shared)
        })
}

/// A proxy for one daemon's API that records every request as `METHOD PATH\nBODY`. The CLI
/// finds it through a data directory of its own holding the proxy's address and the token.
fn recording_proxy(daemon_dir: &Path, proxy_dir: &Path, out: &Path) -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    std::fs::create_dir_all(proxy_dir)?;
    std::fs::write(
        proxy_dir.join("api-addr"),
        listener.local_addr()?.to_string(),
    )?;
    std::fs::copy(daemon_dir.join("api-token"), proxy_dir.join("api-token"))?;
    let target: String = std::fs::read_to_string(daemon_dir.join("api-addr"))?;
    let out = out.to_path_buf();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let _ = relay(client, target.trim(), &out);
        }
    });
    Ok(())
}

fn relay(client: TcpStream, target: &str, out: &Path) -> Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            }
            if !name.eq_ignore_ascii_case("connection") {
                headers.push(h);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut seed = format!("{method} {path}\n").into_bytes();
    seed.extend(&body);
    save(&out.join("api_json"), &seed)?;

    let mut daemon = TcpStream::connect(target)?;
    let mut request = line.into_bytes();
    for h in headers {
        request.extend(h.into_bytes());
    }
    request.extend(b"Connection: close\r\n\r\n");
    request.extend(&body);
    daemon.write_all(&request)?;
    let mut response = Vec::new();
    daemon.read_to_end(&mut response)?;
    let mut client = client;
    client.write_all(&response)?;
    Ok(())
}

/// Writes a seed named by its content (so repeated captures do not pile up copies).
fn save(dir: &Path, bytes: &[u8]) -> Result<()> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{:016x}", h.finish())), bytes)?;
    Ok(())
}

/// Every stored document of a stopped daemon, as `load_document` inputs.
fn stored_documents(dir: &Path, out: &Path) -> Result<usize> {
    let db = redb::Database::open(dir.join("guild.redb"))?;
    let tx = db.begin_read()?;
    let docs = tx.open_table(DOCS)?;
    let changes = tx.open_table(CHANGES)?;
    let mut n = 0;
    for entry in docs.iter()? {
        let (id, base) = entry?;
        let mut records: Vec<Vec<u8>> = vec![base.value().to_vec()];
        for c in changes.range((id.value(), 0)..=(id.value(), u64::MAX))? {
            records.push(c?.1.value().to_vec());
        }
        let mut seed = Vec::new();
        for r in records {
            seed.extend((r.len() as u32).to_le_bytes());
            seed.extend(r);
        }
        save(&out.join("load_document"), &seed)?;
        n += 1;
    }
    Ok(n)
}

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds"));
    let work = tempfile::tempdir()?;
    let frames = work.path().join("frames");
    let (a_dir, b_dir, proxy) = (
        work.path().join("a"),
        work.path().join("b"),
        work.path().join("proxy"),
    );
    let mut a = Guildd::start(&a_dir, &frames)?;
    recording_proxy(&a_dir, &proxy, &out)?;
    let via_proxy = |args: &[&str]| {
        let _ = guild(&proxy, args);
    };
    via_proxy(&["init", "--community", "Seed Growers", "--name", "Ada"]);
    via_proxy(&[
        "members",
        "add",
        "Grace Hopper",
        "--role",
        "Designer",
        "--team",
        "Platform",
        "--interest",
        "Discovery",
    ]);
    via_proxy(&["members", "add", "Katherine Johnson", "--team", "Data"]);
    via_proxy(&[
        "members",
        "update",
        "grace",
        "--buddy",
        "Ada",
        "--contact",
        "grace@example.org",
    ]);
    via_proxy(&["members", "add", "Removed Soon"]);
    via_proxy(&["members", "remove", "removed"]);
    via_proxy(&["members", "add", ""]);
    via_proxy(&["skills", "add", "Facilitation"]);
    via_proxy(&["skills", "rate", "discovery", "4"]);
    via_proxy(&["skills", "rate", "user research", "1", "--grow"]);
    via_proxy(&["skills", "rate", "facilitation", "3", "--member", "grace"]);
    via_proxy(&["skills", "rate", "discovery", "7"]);
    via_proxy(&[
        "sessions",
        "add",
        "Show and tell",
        "--kind",
        "show-and-tell",
        "--start",
        "2026-12-01T18:00:00+01:00",
        "--end",
        "2026-12-01T19:30:00+01:00",
        "--place",
        "Room 1",
    ]);
    via_proxy(&["sessions", "rsvp", "show", "going"]);
    via_proxy(&["sessions", "notes", "show", "We showed things."]);
    via_proxy(&["ask", "How do we run a discovery sprint?"]);
    via_proxy(&["answer", "how", "Start from the problem."]);
    via_proxy(&[
        "knowledge",
        "add",
        "Service manual",
        "--url",
        "https://example.org/manual",
    ]);

    // A second member joins, both edit together, then apart, then meet again.
    let mut b = Guildd::start(&b_dir, &frames)?;
    let ticket = guild(&a_dir, &["invite"])?;
    guild(&b_dir, &["join", ticket.trim(), "--name", "Bea"])?;
    wait("the first sync", || heads(&a_dir) == heads(&b_dir))?;
    let _ = guild(&b_dir, &["members", "add", "Dorothy Vaughan"]);
    let _ = guild(&b_dir, &["skills", "rate", "discovery", "3"]);
    wait("a pushed change", || heads(&a_dir) == heads(&b_dir))?;
    b.kill();
    for i in 0..5 {
        let _ = guild(
            &a_dir,
            &[
                "members",
                "update",
                "grace",
                "--team",
                &format!("Team A{i}"),
            ],
        );
    }
    a.kill();
    b.spawn()?;
    for i in 0..5 {
        let _ = guild(
            &b_dir,
            &[
                "members",
                "update",
                "grace",
                "--role",
                &format!("Role B{i}"),
            ],
        );
    }
    let _ = guild(&b_dir, &["members", "add", "Mary Jackson"]);
    a.spawn()?;
    wait("convergence after editing apart", || {
        heads(&a_dir) == heads(&b_dir)
    })?;
    a.kill();
    b.kill();

    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(&frames)? {
        let path = entry?.path();
        let body = std::fs::read(&path)?;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend(&body);
        save(&out.join("sync_frame"), &framed)?;
        *counts.entry("sync_frame").or_insert(0) += 1;
        if name.starts_with("request-") {
            save(&out.join("sync_message"), &body)?;
            *counts.entry("sync_message").or_insert(0) += 1;
        }
    }
    let docs = stored_documents(&a_dir, &out)? + stored_documents(&b_dir, &out)?;
    counts.insert("load_document", docs);
    counts.insert("api_json", std::fs::read_dir(out.join("api_json"))?.count());
    println!("seeds written to {}: {counts:?}", out.display());
    Ok(())
}
