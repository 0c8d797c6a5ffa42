//! The CLI's only way to the daemon: its HTTP API, with the token from the data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use crdt_model::api::ErrorBody;
use reqwest::Method;
use reqwest::blocking::{Client as Http, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Same names as the daemon's `data_dir` module.
const TOKEN_FILE: &str = "api-token";
const ADDR_FILE: &str = "api-addr";

/// Why a command failed, so `main` can pick the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The daemon answered with an error.
    #[error("{0}")]
    Refused(String),
    /// The daemon could not be reached.
    #[error("{0}")]
    Unreachable(String),
}

pub struct Client {
    http: Http,
    base: String,
    token: String,
}

/// `--data-dir`, then `GUILD_DATA_DIR`, then the XDG data dir: the daemon's order.
pub fn resolve_data_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("GUILD_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "guild")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .context("cannot find a home directory for Guild's data; pass --data-dir")
}

impl Client {
    pub fn connect(data_dir: &Path) -> Result<Self> {
        let not_running = || {
            Failure::Unreachable(format!(
                "the guild daemon is not running for {}; start it with `guildd start --data-dir {}`",
                data_dir.display(),
                data_dir.display()
            ))
        };
        let addr = std::fs::read_to_string(data_dir.join(ADDR_FILE)).map_err(|_| not_running())?;
        let token = std::fs::read_to_string(data_dir.join(TOKEN_FILE))
            .with_context(|| format!("cannot read the API token in {}", data_dir.display()))?;
        let http = Http::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            base: format!("http://{}", addr.trim()),
            token: token.trim().to_owned(),
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path))
    }

    pub fn get_query<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T> {
        self.send(self.request(Method::GET, path).query(query))
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(Method::POST, path).json(body))
    }

    pub fn put<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(Method::PUT, path).json(body))
    }

    pub fn patch<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(Method::PATCH, path).json(body))
    }

    pub fn delete(&self, path: &str) -> Result<()> {
        self.send::<serde_json::Value>(self.request(Method::DELETE, path))
            .map(drop)
    }

    pub fn delete_with<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        self.send::<serde_json::Value>(self.request(Method::DELETE, path).json(body))
            .map(drop)
    }

    /// A text (non-JSON) answer, such as the iCalendar export.
    pub fn get_text(&self, path: &str) -> Result<String> {
        let bytes: Vec<u8> = self.send_raw(self.request(Method::GET, path))?;
        String::from_utf8(bytes).context("the daemon's answer is not UTF-8")
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let bytes = self.send_raw(request)?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).context("the daemon's answer is not what this CLI expects")
    }

    fn send_raw(&self, request: RequestBuilder) -> Result<Vec<u8>> {
        let response = request.send().map_err(|e| {
            if e.is_connect() {
                anyhow!(Failure::Unreachable(format!(
                    "cannot reach the guild daemon at {} (is it running? start it with `guildd start`)",
                    self.base
                )))
            } else {
                anyhow!(Failure::Unreachable(format!("talking to the daemon: {e}")))
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().context("reading the daemon's answer")?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| format!("the daemon answered {status}"));
            return Err(anyhow!(Failure::Refused(message)));
        }
        Ok(bytes.to_vec())
    }
}
