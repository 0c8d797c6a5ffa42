//! `guild doctor`: each problem found with what to do about it.

use std::time::Duration;

use guild_tests::{Daemon, Options, wait_until};
use serde_json::Value;

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

#[test]
fn doctor_finds_a_clock_hours_ahead_open_permissions_and_a_stopped_daemon() {
    let ada_dir = tempfile::tempdir().unwrap();
    let bea_dir = tempfile::tempdir().unwrap();
    // Ada's laptop runs three hours fast.
    let ada = Daemon::start_with(
        ada_dir.path(),
        Options {
            env: vec![("GUILD_CLOCK_OFFSET_SECS".into(), "10800".into())],
            ..Options::default()
        },
    );
    let mut bea = Daemon::start(bea_dir.path());
    ada.guild(&["init", "--community", "Checked", "--name", "Ada"]);
    let ticket = ada.guild(&["invite"]);
    bea.guild(&["join", ticket.trim(), "--name", "Bea"]);

    let healthy = bea.guild_json(&["doctor"]);
    for name in [
        "daemon",
        "data-dir",
        "store",
        "disk",
        "clock",
        "listening",
        "peers",
    ] {
        assert_ne!(check(&healthy, name)["status"], "fail", "{healthy}");
    }
    assert_eq!(check(&healthy, "store")["status"], "ok", "{healthy}");

    ada.guild(&["skills", "rate", "discovery", "4"]);
    wait_until("Ada's rating reaches Bea", Duration::from_secs(30), || {
        let ada = bea.guild_json(&["members", "show", "Ada"]);
        ada["skills"]["discovery"]["level"] == 4
    });
    let report = bea.guild_json(&["doctor"]);
    let clock = check(&report, "clock");
    assert_eq!(clock["status"], "warn", "{report}");
    let detail = clock["detail"].as_str().unwrap();
    assert!(
        detail.contains("Ada's rating of Discovery") && detail.contains("3 hours ahead"),
        "{detail}"
    );
    assert!(clock["fix"].as_str().unwrap().contains("clock"));

    // A token readable by anyone on the machine: a failure, with the command that fixes it.
    let token = bea_dir.path().join("api-token");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = bea.guild_output(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = check(&report, "data-dir");
    assert_eq!(dir["status"], "fail", "{report}");
    assert!(
        dir["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("chmod 600 {}", token.display())),
        "{dir}"
    );

    bea.kill();
    let out = bea.guild_output(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("FAIL  daemon"), "{stdout}");
    assert!(stdout.contains("guildd start --data-dir"), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim(), "guild: 2 problems found", "{stderr}");
}
