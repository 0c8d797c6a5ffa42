//! Harness for the end-to-end tests: real `guildd` processes on temporary data directories,
//! driven through the real `guild` binary (and raw HTTP where a test must send what the CLI
//! never would). Nothing here sleeps to synchronise: it polls a condition with a deadline.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where cargo put the workspace binaries: next to this test's `deps/` directory.
/// `cargo test --workspace` builds them before running any test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo test --workspace` so the binaries are built",
        path.display()
    );
    path
}

/// Polls `condition` until it holds or `timeout` passes; panics with `what` on timeout.
pub fn wait_until(what: &str, timeout: Duration, condition: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, condition),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// Polls `condition` until it holds (true) or `timeout` passes (false).
pub fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A `guildd` process on its own data directory. Killed (SIGKILL) when dropped.
pub struct Daemon {
    pub dir: PathBuf,
    child: Option<Child>,
    options: Options,
}

/// How a test daemon runs. The default suits these machines: loopback only, no multicast.
#[derive(Clone, Debug)]
pub struct Options {
    /// Command prefix for both guildd and guild, e.g. `ip netns exec NS`.
    pub prefix: Vec<String>,
    /// libp2p listen address; the default is a fixed free port on 127.0.0.1, kept across
    /// restarts so that peers can redial it.
    pub listen: String,
    pub mdns: bool,
    /// Extra environment for guildd, e.g. `GUILD_CLOCK_OFFSET_SECS`.
    pub env: Vec<(String, String)>,
    /// Extra arguments for `guildd run`, e.g. `--hub` or another `--listen`.
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            prefix: Vec::new(),
            listen: format!("/ip4/127.0.0.1/tcp/{}", free_port()),
            mdns: false,
            env: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    /// Starts a daemon on `dir` and waits until its API answers.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, Options::default())
    }

    pub fn start_with(dir: &Path, options: Options) -> Self {
        let mut daemon = Self {
            dir: dir.to_path_buf(),
            child: None,
            options,
        };
        daemon.spawn();
        daemon
    }

    /// The libp2p address peers can dial.
    pub fn p2p_addr(&self) -> String {
        self.options.listen.clone()
    }

    fn command(&self, program: &str) -> Command {
        let mut command = match self.options.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin(program));
                c
            }
            None => Command::new(bin(program)),
        };
        command.env("NO_COLOR", "1");
        command
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("api-addr"));
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("test-daemon.log"))
            .unwrap();
        let mut command = self.command("guildd");
        command
            .arg("run")
            .arg("--data-dir")
            .arg(&self.dir)
            .args([
                "--api-addr",
                "127.0.0.1:0",
                "--listen",
                &self.options.listen,
            ])
            .args(&self.options.args)
            .env("GUILD_LOG", "info,guild_daemon=debug")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if !self.options.mdns {
            command.arg("--no-mdns");
        }
        self.child = Some(command.spawn().unwrap());
        let started = Instant::now();
        wait_until("the daemon's API", Duration::from_secs(30), || {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "guildd exited at start with {status} after {:?}:\n{}",
                    started.elapsed(),
                    self.log()
                );
            }
            api_addr(&self.dir).is_some() && self.guild_output(&["status"]).status.success()
        });
    }

    /// SIGKILL: no shutdown code runs, as in a crash or a power cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, as `guildd stop` or a service manager sends it; waits for the daemon to exit
    /// and returns how it did.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the daemon is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        child.wait().unwrap()
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn api_addr(&self) -> SocketAddr {
        api_addr(&self.dir).unwrap()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("api-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("test-daemon.log")).unwrap_or_default()
    }

    /// Runs `guild --data-dir <dir> args...`, which must succeed; returns stdout.
    pub fn guild(&self, args: &[&str]) -> String {
        let out = self.guild_output(args);
        if !out.status.success() {
            panic!(
                "{}\n--- daemon log ---\n{}",
                describe(args, &out),
                self.log()
            );
        }
        String::from_utf8(out.stdout).unwrap()
    }

    /// Like [`Daemon::guild`] with `--json`, parsed.
    pub fn guild_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let stdout = self.guild(&all);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("guild {args:?} printed no JSON ({e}):\n{stdout}"))
    }

    /// Runs a `guild` command that must fail; returns (exit code, stderr).
    pub fn guild_fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.guild_output(args);
        assert!(
            !out.status.success(),
            "expected failure:\n{}",
            describe(args, &out)
        );
        let stderr = String::from_utf8(out.stderr.clone()).unwrap();
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "errors must be one line:\n{}",
            describe(args, &out)
        );
        (out.status.code().unwrap_or(-1), stderr)
    }

    pub fn guild_output(&self, args: &[&str]) -> Output {
        self.command("guild")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Every community document's heads: the exact state of this daemon's share of the
    /// community. Each member's private relationships document is left out: it lives only
    /// on that member's devices, so it never matches another member's.
    pub fn heads(&self) -> Value {
        let docs = self.guild_json(&["status"])["documents"].clone();
        Value::Array(
            docs.as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"] != "relationships")
                .cloned()
                .collect(),
        )
    }

    /// A raw HTTP request to this daemon's API.
    pub fn http(&self, request: &HttpRequest<'_>) -> (u16, Value) {
        http(self.api_addr(), request)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

fn api_addr(dir: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(dir.join("api-addr"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "guild {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    pub token: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    pub fn new(method: &'a str, path: &'a str, token: Option<&'a str>) -> Self {
        Self {
            method,
            path,
            host: "127.0.0.1",
            token,
            headers: &[],
            body: b"",
        }
    }
}

/// Minimal HTTP/1.1 client: one request, `Connection: close`, body parsed as JSON.
pub fn http(addr: SocketAddr, req: &HttpRequest<'_>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        req.path,
        req.host,
        req.body.len()
    );
    if let Some(token) = req.token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !req.body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before reading a large body.
    let _ = stream.write_all(req.body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Runs `ip ARGS...` (iproute2), for tests that build their own network namespaces; the error
/// says which step failed and why (no root, no iproute2...).
pub fn ip<S: AsRef<str>>(args: &[S]) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = Command::new("ip")
        .args(&args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
