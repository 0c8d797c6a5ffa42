//! The API's JSON bodies: a real daemon (store on /dev/shm when there is one, no network
//! listeners, no mDNS) answers each input as one HTTP request on loopback. Input: a first
//! line `METHOD /api/path`, then the body. Routes that make the daemon dial addresses
//! (`/api/join`, `/api/peers`) are left out: a fuzzer must not send traffic anywhere.
//! The daemon must never crash or answer 5xx to bad input, and every error must be the API's
//! `{"error": {"code", "message"}}`.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use guild_daemon::{Config, Daemon};
use libfuzzer_sys::fuzz_target;

struct Target {
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    token: String,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let shm = PathBuf::from("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a data directory");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        api_addr: "127.0.0.1:0".parse().expect("an address"),
        listen: Vec::new(),
        mdns: false,
        hub: false,
    };
    let daemon = runtime
        .block_on(Daemon::bind(config))
        .expect("the daemon starts");
    let addr = daemon.api_addr;
    // Kept running for the whole fuzzing process.
    std::mem::forget(daemon);
    let token = std::fs::read_to_string(dir.path().join("api-token"))
        .expect("the token")
        .trim()
        .to_owned();
    let target = Target {
        _runtime: runtime,
        _dir: dir,
        addr,
        token,
    };
    let init = br#"{"community":"Fuzzers","purpose":"","me":{"name":"Ada","team":"Platform"}}"#;
    let (status, _) = request(&target, "POST", "/api/init", init);
    assert_eq!(status, 201, "init");
    target
});

/// One request; returns the status and the body.
fn request(t: &Target, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(t.addr).expect("the daemon is up");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        t.token,
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .expect("the request is sent");
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("the daemon answers (it must not crash)");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    (status, response[at..].to_vec())
}

/// Characters a request target may hold (RFC 3986); others are the HTTP parser's business,
/// which answers them before the API sees anything.
fn uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%?".contains(&b)
}

fuzz_target!(|data: &[u8]| {
    let target = &*TARGET;
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(line) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    let Some((method, path)) = line.split_once(' ') else {
        return;
    };
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method)
        || !path.starts_with("/api/")
        || path.starts_with("/api/join")
        || path.starts_with("/api/peers")
        || !path.bytes().all(uri_char)
    {
        return;
    }
    let (status, answer) = request(target, method, path, body);
    assert!(
        status < 500,
        "{method} {path} answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    if status >= 400 && status != 405 {
        let error: serde_json::Value = serde_json::from_slice(&answer).expect("errors are JSON");
        assert!(error["error"]["code"].is_string(), "{error}");
        assert!(error["error"]["message"].is_string(), "{error}");
    }
});
