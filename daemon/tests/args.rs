//! The guildd binary refuses unsafe or broken configurations before touching anything.
//! (Also makes `cargo test --workspace` build `guildd` for the end-to-end suite.)
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn refuses_a_non_loopback_api_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_guildd"))
        .args(["run", "--api-addr", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
