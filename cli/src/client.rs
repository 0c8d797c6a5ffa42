//! The CLI's only way to the daemon: its HTTP API, with the token from the data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use reqwest::Method;
use reqwest::blocking::{Client as Http, RequestBuilder};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `{"error": {"code", "message", "details"?}}`, as the daemon writes it.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    code: String,
    message: String,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

/// Same names as the daemon's `data_dir` module.
const TOKEN_FILE: &str = "api-token";
const ADDR_FILE: &str = "api-addr";

/// Why a command failed, so `main` can pick the exit code and scripts can read it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The daemon answered with an error.
    #[error("{message}")]
    Refused {
        /// The HTTP status, e.g. 404 or 507.
        status: u16,
        /// The API's error code: `bad_request`, `not_found`, `disk_full`...
        code: String,
        message: String,
        /// What the daemon added for scripts (an import's report...).
        details: Option<serde_json::Value>,
    },
    /// The daemon could not be reached.
    #[error("{message}")]
    Unreachable {
        /// `daemon_not_running` or `daemon_unreachable`.
        code: &'static str,
        message: String,
    },
}

/// The command that starts a daemon on `data_dir`, naming the directory only when it is
/// not the one guildd would pick by itself.
pub fn start_command(data_dir: &Path) -> String {
    match resolve_data_dir(None) {
        Ok(default) if default == data_dir => "guildd start".to_owned(),
        _ => format!("guildd start --data-dir {}", shell_word(data_dir)),
    }
}

/// A path as a shell word: quoted only when it needs to be.
pub fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-~+".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Says the daemon is not running for `data_dir`, and how to start it.
fn not_running(data_dir: &Path, why: &str) -> Failure {
    Failure::Unreachable {
        code: "daemon_not_running",
        message: format!(
            "the guild daemon for {} is not running ({why}); start it with `{}`",
            data_dir.display(),
            start_command(data_dir)
        ),
    }
}

pub struct Client {
    http: Http,
    base: String,
    token: String,
    data_dir: PathBuf,
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
        let addr = std::fs::read_to_string(data_dir.join(ADDR_FILE)).map_err(|_| {
            let why = if data_dir.join(TOKEN_FILE).exists() {
                "it is stopped"
            } else {
                "none has used this data directory yet"
            };
            not_running(data_dir, why)
        })?;
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
            data_dir: data_dir.to_path_buf(),
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

    /// A binary answer, such as a document's Automerge bytes.
    pub fn get_bytes(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<u8>> {
        self.send_raw(self.request(Method::GET, path).query(query))
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
                // It left its address behind: it was killed, or the machine restarted.
                anyhow!(not_running(
                    &self.data_dir,
                    &format!("nothing answers at {}", self.base)
                ))
            } else {
                anyhow!(Failure::Unreachable {
                    code: "daemon_unreachable",
                    message: format!("talking to the daemon at {}: {e}", self.base),
                })
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().context("reading the daemon's answer")?;
        if !status.is_success() {
            let failure = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Failure::Refused {
                    status: status.as_u16(),
                    code: body.error.code,
                    message: body.error.message,
                    details: body.error.details,
                },
                Err(_) => Failure::Refused {
                    status: status.as_u16(),
                    code: "http_error".into(),
                    message: format!("the daemon answered {status}"),
                    details: None,
                },
            };
            return Err(anyhow!(failure));
        }
        Ok(bytes.to_vec())
    }
}
