//! Living with guildd on a laptop: the service unit, stopping, completions and man pages,
//! what `guild` says with no daemon, JSON errors, and the API's refusal of HTTP tricks.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use guild_tests::{Daemon, HttpRequest, bin, free_port};
use serde_json::Value;

fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(bin(program));
    command.args(args).env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn guildd_service_install_writes_a_unit_that_systemd_accepts() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let data = home.path().join("data dir");
    // Never the real user's systemd: a temporary home, and nothing enabled.
    let env = [
        ("HOME", home.path()),
        ("XDG_CONFIG_HOME", config.as_path()),
        ("GUILD_SERVICE_NO_ENABLE", Path::new("1")),
    ];
    let data_arg = data.to_str().unwrap();
    let said = ok(run(
        "guildd",
        &["service", "install", "--data-dir", data_arg, "--no-mdns"],
        &env,
    ));
    let unit_path = config.join("systemd/user/guildd.service");
    assert!(said.contains("not enabled"), "{said}");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let guildd = bin("guildd");
    assert!(
        unit.contains(&format!(
            "ExecStart={} run --data-dir \"{}\" --no-mdns",
            guildd.display(),
            data.display()
        )),
        "{unit}"
    );
    assert!(unit.contains("Restart=on-failure"), "{unit}");
    assert!(unit.contains("StandardError=journal"), "{unit}");
    let status = ok(run("guildd", &["service", "status"], &env));
    assert!(
        status.contains(&unit_path.display().to_string()),
        "{status}"
    );

    // systemd itself parses it, and finds the binary and the man page it names.
    let verify = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if verify.is_ok_and(|s| s.success()) {
        let man = home.path().join("man");
        ok(run(
            "guildd",
            &["man", "-o", man.join("man1").to_str().unwrap()],
            &[],
        ));
        let out = Command::new("systemd-analyze")
            .args(["--user", "verify"])
            .arg(&unit_path)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", home.path())
            .env("MANPATH", &man)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze verify refused the unit:\n{}\n{unit}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
    }

    let said = ok(run("guildd", &["service", "uninstall"], &env));
    assert!(said.contains("removed"), "{said}");
    assert!(!unit_path.exists());
}

#[test]
fn completions_parse_and_man_pages_render() {
    for program in ["guild", "guildd"] {
        let script = ok(run(program, &["completions", "bash"], &[]));
        assert!(script.contains("complete"), "{script}");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &script).unwrap();
        let check = Command::new("bash")
            .arg("-n")
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "bash cannot parse {program}'s completions: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        for shell in ["zsh", "fish"] {
            assert!(!ok(run(program, &["completions", shell], &[])).is_empty());
        }
        let page = ok(run(program, &["man"], &[]));
        assert!(page.contains(&format!(".TH {program} 1")), "{page}");
    }
    let dir = tempfile::tempdir().unwrap();
    ok(run(
        "guild",
        &["man", "-o", dir.path().to_str().unwrap()],
        &[],
    ));
    for page in ["guild.1", "guild-export.1", "guild-members-add.1"] {
        assert!(dir.path().join(page).exists(), "{page} missing");
    }
}

fn guildd(dir: &Path, args: &[&str], colour: bool) -> Output {
    let mut command = Command::new(bin("guildd"));
    command.args(args).arg("--data-dir").arg(dir);
    if colour {
        command.env_remove("NO_COLOR");
    } else {
        command.env("NO_COLOR", "1");
    }
    command.output().unwrap()
}

#[test]
fn guildd_stop_stops_cleanly_and_the_log_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    // Issue 10: `guildd start` wrote ANSI colour codes into guildd.log. NO_COLOR is unset
    // here on purpose: colour depends on a terminal, and the log is not one.
    let start = |fresh_listen: &str| {
        ok(guildd(
            dir.path(),
            &["start", "--no-mdns", "--listen", fresh_listen],
            true,
        ))
    };
    start(&listen);
    let status = Command::new(bin("guild"))
        .args(["status", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(status.status.success());
    let pid: i32 = std::fs::read_to_string(dir.path().join("guildd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let said = ok(guildd(dir.path(), &["stop"], false));
    assert!(said.contains(&format!("stopped (pid {pid}")), "{said}");
    assert!(
        !dir.path().join("api-addr").exists(),
        "api-addr left behind"
    );
    assert!(
        !dir.path().join("guildd.pid").exists(),
        "guildd.pid left behind"
    );
    assert!(!is_running(pid), "guildd (pid {pid}) still runs");
    let log = std::fs::read_to_string(dir.path().join("guildd.log")).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in guildd.log:\n{log}");

    // Stopping again is fine; the data directory is free for the next daemon.
    let again = ok(guildd(dir.path(), &["stop"], false));
    assert!(again.contains("not running"), "{again}");
    start(&format!("/ip4/127.0.0.1/tcp/{}", free_port()));
    ok(guildd(dir.path(), &["stop"], false));
}

fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, s)| !s.trim_start().starts_with('Z'))
    })
}

#[test]
fn guild_with_no_daemon_says_how_to_start_it_and_errors_are_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never used");
    let guild = |args: &[&str]| {
        Command::new(bin("guild"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    let out = guild(&["status"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("guildd start --data-dir '{}'", data.display())),
        "{stderr}"
    );

    let out = guild(&["members", "list", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"]["code"], "daemon_not_running", "{error}");
    assert!(out.stdout.is_empty());

    // A usage error, as JSON, with the usage exit code.
    let out = guild(&["members", "list", "--json", "--no-such-option"]);
    assert_eq!(out.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"]["code"], "usage", "{error}");

    // The daemon's refusals carry its status and code.
    let daemon = Daemon::start(&dir.path().join("running"));
    daemon.guild(&["init", "--community", "C", "--name", "Ada"]);
    let out = daemon.guild_output(&["members", "show", "nobody", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"]["status"], 404, "{error}");
    assert_eq!(error["error"]["code"], "not_found", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody")
    );

    // Every command answers in JSON when asked, the ones that only confirm too.
    daemon.guild(&["members", "add", "Bo"]);
    let removed = daemon.guild_json(&["members", "remove", "Bo"]);
    assert_eq!(removed["removed"]["name"], "Bo", "{removed}");
    let addr = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWHN3mbHm67dcgYswgfXXthQYpXeiSu4kvQRmJ34fw1N8Q";
    assert_eq!(daemon.guild_json(&["peers", "add", addr])["added"], addr);
    assert_eq!(
        daemon.guild_json(&["peers", "remove", addr])["removed"],
        addr
    );

    // Killed, it leaves its address behind: the CLI still says how to start it.
    let mut daemon = daemon;
    daemon.kill();
    let (code, stderr) = daemon.guild_fails(&["status"]);
    assert_eq!(code, 3);
    assert!(
        stderr.contains("not running") && stderr.contains("guildd start"),
        "{stderr}"
    );
}

#[test]
fn the_api_refuses_a_second_host_or_origin_and_absolute_targets_for_other_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let token = daemon.token();
    let get = |path: &str, headers: &[(&str, &str)]| {
        daemon.http(&HttpRequest {
            headers,
            ..HttpRequest::new("GET", path, Some(&token))
        })
    };
    assert_eq!(get("/api/status", &[]).0, 200);
    // Issue 16.7: each of these was served, the first header being loopback.
    for (what, path, headers) in [
        (
            "a second Host",
            "/api/status",
            &[("Host", "evil.example")][..],
        ),
        (
            "a second loopback Host",
            "/api/status",
            &[("Host", "127.0.0.1")][..],
        ),
        (
            "two Origins",
            "/api/status",
            &[
                ("Origin", "http://127.0.0.1"),
                ("Origin", "http://evil.example"),
            ][..],
        ),
        (
            "an absolute target",
            "http://evil.example/api/status",
            &[][..],
        ),
    ] {
        let (status, body) = get(path, headers);
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{what}: {body}");
    }
    assert_eq!(get("http://127.0.0.1/api/status", &[]).0, 200);
}
