//! `guild doctor`: checks what can go wrong on a member's laptop and says what to do.
//! The daemon checks itself (`GET /api/doctor`); this adds what only the CLI can see: is
//! the daemon running for this data directory, and is the directory private.

use std::path::Path;

use anyhow::{Result, bail};
use crdt_model::api::Status;
use crdt_model::ops::{Check, CheckStatus, DoctorReport};

use crate::client::{self, Client};
use crate::output::{self, say};

/// Files that hold secrets or the community's data: owner-only.
const PRIVATE_FILES: &[&str] = &["api-token", "identity.key", "guild.redb"];

pub fn run(data_dir: &Path, json: bool) -> Result<()> {
    let mut checks = vec![permissions(data_dir)];
    match daemon(data_dir) {
        Ok((status, report)) => {
            checks.insert(
                0,
                Check::ok(
                    "daemon",
                    format!(
                        "guildd {} running at http://{}",
                        status.version, status.api_addr
                    ),
                ),
            );
            let ours = env!("CARGO_PKG_VERSION");
            if status.version != ours {
                checks.push(Check::warn(
                    "version",
                    format!("guild is {ours} but guildd is {}", status.version),
                    "restart guildd after upgrading (guildd stop, then guildd start)",
                ));
            }
            checks.extend(report.checks);
        }
        Err(e) => checks.insert(
            0,
            Check::fail(
                "daemon",
                format!("{e:#}"),
                format!(
                    "start it with `{}` (its log is {})",
                    client::start_command(data_dir),
                    data_dir.join("guildd.log").display()
                ),
            ),
        ),
    }
    let report = DoctorReport { checks };
    if json {
        output::json(&report)?;
    } else {
        print(&report);
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    if failed > 0 {
        bail!(
            "{failed} {} found",
            if failed == 1 { "problem" } else { "problems" }
        );
    }
    Ok(())
}

fn daemon(data_dir: &Path) -> Result<(Status, DoctorReport)> {
    let client = Client::connect(data_dir)?;
    let status: Status = client.get("/api/status")?;
    let report: DoctorReport = client.get("/api/doctor")?;
    Ok((status, report))
}

/// The data directory and its secrets must be private to their owner (0700 and 0600).
fn permissions(dir: &Path) -> Check {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return Check::warn(
            "data-dir",
            format!("{} does not exist yet", dir.display()),
            "guildd creates it at its first start",
        );
    };
    let me = rustix::process::getuid().as_raw();
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if meta.uid() != me {
        problems.push(format!("{} belongs to user {}", dir.display(), meta.uid()));
        fixes.push(format!("chown -R $(id -u) {}", client::shell_word(dir)));
    }
    if meta.mode() & 0o077 != 0 {
        problems.push(format!(
            "{} is open to others (mode {:o})",
            dir.display(),
            meta.mode() & 0o777
        ));
        fixes.push(format!("chmod 700 {}", client::shell_word(dir)));
    }
    for name in PRIVATE_FILES {
        let path = dir.join(name);
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.mode() & 0o077 != 0
        {
            problems.push(format!(
                "{name} is readable by others (mode {:o})",
                meta.mode() & 0o777
            ));
            fixes.push(format!("chmod 600 {}", client::shell_word(&path)));
        }
    }
    if problems.is_empty() {
        Check::ok("data-dir", format!("{} is private to you", dir.display()))
    } else {
        Check::fail("data-dir", problems.join("; "), fixes.join(" && "))
    }
}

fn print(report: &DoctorReport) {
    let width = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for check in &report.checks {
        let mark = match check.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
        };
        say!("{mark}  {:width$}  {}", check.name, check.detail);
        if let Some(fix) = &check.fix {
            say!("      {:width$}  -> {fix}", "");
        }
    }
}
