//! The data directory: where a daemon keeps its store, its API token and its address.
//!
//! Resolution order, shared with the CLI: `--data-dir`, then `GUILD_DATA_DIR`, then the XDG
//! data directory (`$XDG_DATA_HOME/guild`, usually `~/.local/share/guild`).

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub const STORE_FILE: &str = "guild.redb";
pub const TOKEN_FILE: &str = "api-token";
/// Written once the API listens; the CLI reads it to find the daemon.
pub const ADDR_FILE: &str = "api-addr";
pub const LOG_FILE: &str = "guildd.log";

pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf> {
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

/// Creates the directory (owner-only) if needed.
pub fn prepare(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict permissions of {}", dir.display()))?;
    }
    Ok(())
}

/// The API token, created (random, mode 0600) on first start and kept after that.
pub fn token(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN_FILE);
    match fs::read_to_string(&path) {
        Ok(token) if token.trim().len() >= 32 => return Ok(token.trim().to_owned()),
        Ok(_) => tracing::warn!("{} is too short; writing a new token", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let token: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write_private(&path, token.as_bytes())?;
    Ok(token)
}

pub fn write_addr(dir: &Path, addr: SocketAddr) -> Result<()> {
    write_private(&dir.join(ADDR_FILE), addr.to_string().as_bytes())
}

/// Writes a file readable by its owner only, atomically (temp file, fsync, rename).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
