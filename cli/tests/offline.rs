//! Without a daemon the CLI says so in one line and exits 3.
//! (Also makes `cargo test --workspace` build `guild` for the end-to-end suite.)
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn says_the_daemon_is_not_running_and_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_guild"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not running") && stderr.contains("guildd start"),
        "{stderr}"
    );
}
