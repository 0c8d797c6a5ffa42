//! A small HTTP/1.1 client for guildd's API: keep-alive, JSON bodies, nothing else.
//!
//! One `Client` holds one connection, so a benchmark client thread measures the daemon, not
//! TCP connection set-up. Written by hand (a few dozen lines) so the benchmark depends on
//! nothing the daemon does not already use.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One keep-alive connection to a daemon's API.
pub struct Client {
    addr: SocketAddr,
    token: String,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

/// A response: status and parsed JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    /// The body, or an error naming the request if the status is not 2xx.
    pub fn ok(self, what: &str) -> Result<Value> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            bail!("{what}: HTTP {} {}", self.status, self.body)
        }
    }
}

impl Client {
    pub fn new(addr: SocketAddr, token: &str) -> Self {
        Self {
            addr,
            token: token.to_owned(),
            conn: None,
            timeout: Duration::from_secs(300),
        }
    }

    /// Gives up on a response after `timeout` (the default is five minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn get(&mut self, path: &str) -> Result<Value> {
        self.request("GET", path, None)?.ok(&format!("GET {path}"))
    }

    pub fn send(&mut self, method: &str, path: &str, body: &Value) -> Result<Value> {
        self.request(method, path, Some(body))?
            .ok(&format!("{method} {path}"))
    }

    /// One request; reconnects once if a kept-alive connection was closed under us.
    pub fn request(&mut self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        let body = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        let reused = self.conn.is_some();
        match self.try_request(method, path, &body) {
            Ok(r) => Ok(r),
            // Only a stale kept-alive connection is retried: a fresh one failing is real.
            Err(_) if reused => {
                self.conn = None;
                self.try_request(method, path, &body)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    fn try_request(&mut self, method: &str, path: &str, body: &[u8]) -> Result<Response> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr)
                .with_context(|| format!("cannot connect to the API at {}", self.addr))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(self.timeout))?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().context("no connection")?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n",
            self.token,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body);
        conn.get_mut().write_all(&message)?;
        let (response, close) = read_response(conn)?;
        if close {
            // The server will not reuse this connection; the next request opens a new one.
            self.conn = None;
        }
        Ok(response)
    }
}

fn read_response(conn: &mut BufReader<TcpStream>) -> Result<(Response, bool)> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        bail!("connection closed before a response");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in {line:?}"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            bail!("connection closed in the response headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = value.parse().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        conn.read_exact(&mut body)?;
    } else if status != 204 && status != 304 {
        conn.read_to_end(&mut body)?;
        close = true;
    }
    let response = Response {
        status,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    Ok((response, close))
}
