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

/// Written once the daemon runs: its process id, for `guildd stop`.
pub const PID_FILE: &str = "guildd.pid";

/// Refuses a data directory that has an identity but no store: the store was deleted or
/// lost, and starting would silently make a fresh node with the same peer id. With `fresh`
/// (the user means to start over) the old identity is set aside, so the new node has a new
/// peer id that no peer mistakes for the old one. Refuses a store without its identity too
/// (a new peer id would appear silently); `fresh` accepts the new identity.
pub fn check_store(dir: &Path, fresh: bool) -> Result<()> {
    let key = dir.join(crate::net::identity::KEY_FILE);
    let store = dir.join(STORE_FILE);
    let has_store = fs::metadata(&store).is_ok_and(|m| m.len() > 0);
    if has_store && !key.exists() {
        // The reverse loss: a new key would make this laptop a new device under the old
        // membership, silently. With `fresh` the user accepts a new identity.
        if !fresh {
            anyhow::bail!(
                "{} has a store but no identity ({} is missing): restore it from a backup, or run `guildd run --fresh` to go on with a new peer id",
                dir.display(),
                crate::net::identity::KEY_FILE
            );
        }
        return Ok(());
    }
    if has_store || !key.exists() {
        return Ok(());
    }
    if !fresh {
        anyhow::bail!(
            "{} has an identity but no store ({STORE_FILE} is missing or empty): restore {STORE_FILE} from a backup, or run `guildd run --fresh` to start over with an empty store",
            dir.display()
        );
    }
    let mut aside = dir.join(format!("{}.old", crate::net::identity::KEY_FILE));
    if aside.exists() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        aside = dir.join(format!("{}.old-{now}", crate::net::identity::KEY_FILE));
    }
    fs::rename(&key, &aside).with_context(|| format!("cannot move {} aside", key.display()))?;
    Ok(())
}

pub fn write_pid(dir: &Path, pid: u32) -> Result<()> {
    write_private(&dir.join(PID_FILE), pid.to_string().as_bytes())
}

/// The pid of the guildd running on `dir`, if the recorded one is still running.
pub fn running_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_guildd(pid).then_some(pid)
}

/// Whether `pid` is a live guildd process (not another program that reused the pid, not a
/// zombie waiting for its parent).
pub fn is_guildd(pid: i32) -> bool {
    if cfg!(target_os = "linux") {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // "pid (comm) state ...": comm may hold spaces and parentheses; the state follows
        // the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            return false;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let state = tail.trim_start().chars().next();
        comm == "guildd" && !matches!(state, Some('Z' | 'X'))
    } else {
        rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
    }
}

/// Removes the files that say a daemon runs here (its API address and pid).
pub fn remove_run_files(dir: &Path) {
    for file in [ADDR_FILE, PID_FILE] {
        let _ = fs::remove_file(dir.join(file));
    }
}
