//! One member's daemon, driven only through the `guild` binary.

use guild_tests::{Daemon, HttpRequest};
use serde_json::Value;

fn names(members: &Value) -> Vec<String> {
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

fn init(daemon: &Daemon) {
    daemon.guild(&[
        "init",
        "--community",
        "Product People",
        "--name",
        "Ada Lovelace",
        "--role",
        "Product manager",
        "--team",
        "Payments",
    ]);
}

#[test]
fn acknowledged_writes_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path());
    init(&daemon);
    daemon.guild(&[
        "members",
        "add",
        "Grace Hopper",
        "--role",
        "Service designer",
        "--team",
        "Platform",
        "--interest",
        "Discovery",
    ]);
    daemon.guild(&["members", "add", "Katherine Johnson", "--team", "Data"]);
    daemon.guild(&[
        "members",
        "update",
        "katherine",
        "--role",
        "Analyst",
        "--buddy",
        "Ada",
    ]);
    daemon.guild(&["members", "add", "Temporary Person"]);
    daemon.guild(&["members", "remove", "temporary"]);
    daemon.guild(&["skills", "add", "Facilitation"]);
    daemon.guild(&["skills", "rate", "discovery", "4"]);
    daemon.guild(&["skills", "rate", "User Research", "practising", "--grow"]);
    daemon.guild(&["skills", "rate", "facilitation", "3", "--member", "grace"]);
    // Enough writes on one document to pass the compaction threshold.
    for level in (0..70).map(|i| (i % 5).to_string()) {
        daemon.guild(&[
            "skills",
            "rate",
            "Roadmapping",
            &level,
            "--member",
            "Katherine",
        ]);
    }

    let before_members = daemon.guild_json(&["members", "list"]);
    let before_heads = daemon.heads();
    let before_matrix = daemon.guild_json(&["skills", "matrix"]);

    daemon.kill();
    // The CLI says so, in one line, when the daemon is gone.
    let (code, stderr) = daemon.guild_fails(&["status"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("not running") || stderr.contains("cannot reach"),
        "{stderr}"
    );

    daemon.restart();
    assert_eq!(daemon.heads(), before_heads);
    assert_eq!(daemon.guild_json(&["members", "list"]), before_members);
    assert_eq!(daemon.guild_json(&["skills", "matrix"]), before_matrix);
    assert_eq!(
        names(&before_members),
        ["Ada Lovelace", "Grace Hopper", "Katherine Johnson"]
    );
    let katherine = daemon.guild_json(&["members", "show", "Katherine"]);
    assert_eq!(katherine["role"], "Analyst");
    assert_eq!(katherine["skills"]["roadmapping"]["level"], 4);
    let status = daemon.guild_json(&["status"]);
    assert_eq!(status["community"]["name"], "Product People");
    assert_eq!(status["me"]["name"], "Ada Lovelace");
}

#[test]
fn who_can_help_ranks_teachers_first_and_finds_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    init(&daemon);
    for name in ["Zoe", "bea", "Amir", "Cy"] {
        daemon.guild(&["members", "add", name, "--team", "Growth"]);
    }
    daemon.guild(&["skills", "rate", "Discovery", "3", "--member", "Zoe"]);
    daemon.guild(&[
        "skills",
        "rate",
        "discovery",
        "can-teach",
        "--member",
        "bea",
    ]);
    daemon.guild(&["skills", "rate", "DISCOVERY", "4", "--member", "Amir"]);
    daemon.guild(&[
        "skills",
        "rate",
        "Discovery",
        "1",
        "--grow",
        "--member",
        "Cy",
    ]);
    daemon.guild(&[
        "skills",
        "rate",
        "Roadmapping",
        "0",
        "--grow",
        "--member",
        "Cy",
    ]);
    daemon.guild(&[
        "skills",
        "rate",
        "Roadmapping",
        "1",
        "--grow",
        "--member",
        "Zoe",
    ]);

    let who = daemon.guild_json(&["skills", "who", "discovery"]);
    assert_eq!(who["skill"], "Discovery");
    let ranked: Vec<_> = who["helpers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(ranked, ["Amir", "bea", "Zoe"]);
    let table = daemon.guild(&["skills", "who", "Discovery"]);
    assert!(
        table.find("Amir").unwrap() < table.find("Zoe").unwrap(),
        "{table}"
    );

    let report = daemon.guild_json(&["skills", "gaps"]);
    let gaps: Vec<_> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["skill"].as_str().unwrap())
        .collect();
    assert_eq!(gaps, ["Roadmapping"]);
    assert_eq!(report["strengths"][0]["skill"], "Discovery");

    let csv = daemon.guild(&["skills", "matrix", "--csv"]);
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("member_id,name,team,"), "{header}");
    assert_eq!(csv.lines().count(), 1 + 5, "{csv}");

    let growth = daemon.guild_json(&["members", "list", "--team", "growth"]);
    assert_eq!(names(&growth), ["Amir", "bea", "Cy", "Zoe"]);
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    init(&daemon);
    daemon.guild(&["members", "add", "Grace Hopper"]);
    let before = daemon.heads();

    let (_, err) = daemon.guild_fails(&["skills", "rate", "Discovery", "7"]);
    assert!(err.contains("use 0-4"), "{err}");
    let (_, err) = daemon.guild_fails(&["skills", "rate", "Juggling", "2"]);
    assert!(err.contains("unknown skill"), "{err}");
    let (_, err) = daemon.guild_fails(&["members", "add", "   "]);
    assert!(err.contains("name must not be empty"), "{err}");
    let (_, err) = daemon.guild_fails(&["members", "show", "NoSuchPerson"]);
    assert!(err.contains("no member"), "{err}");
    let (_, err) = daemon.guild_fails(&["members", "update", "grace", "--joined", "yesterday"]);
    assert!(err.contains("not a date"), "{err}");
    let (_, err) = daemon.guild_fails(&["members", "update", "grace", "--buddy", "nobody"]);
    assert!(err.contains("buddy"), "{err}");
    let (_, err) = daemon.guild_fails(&["skills", "add", "discovery"]);
    assert!(err.contains("already"), "{err}");
    let (_, err) = daemon.guild_fails(&["init", "--community", "Another", "--name", "Me"]);
    assert!(err.contains("already belongs"), "{err}");

    // What the CLI would never send, over raw HTTP.
    let token = daemon.token();
    let (status, body) = daemon.http(&HttpRequest::new("GET", "/api/members", None));
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = daemon.http(&HttpRequest::new(
        "GET",
        "/api/members",
        Some("wrong-token"),
    ));
    assert_eq!(status, 401);
    let (status, body) = daemon.http(&HttpRequest {
        body: b"{\"name\": ",
        ..HttpRequest::new("POST", "/api/members", Some(&token))
    });
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let (status, body) = daemon.http(&HttpRequest {
        body: br#"{"skill": "Discovery", "level": 7}"#,
        ..HttpRequest::new("PUT", "/api/skills/ratings", Some(&token))
    });
    assert_eq!(status, 400, "{body}");
    let (status, body) = daemon.http(&HttpRequest::new(
        "GET",
        "/api/members/zzzzzzzz",
        Some(&token),
    ));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = daemon.http(&HttpRequest {
        host: "evil.example",
        ..HttpRequest::new("GET", "/api/members", Some(&token))
    });
    assert_eq!(status, 403);

    let (status, _) = daemon.http(&HttpRequest {
        headers: &[("Origin", "https://evil.example")],
        ..HttpRequest::new("GET", "/api/members", Some(&token))
    });
    assert_eq!(status, 403, "a web page's Origin must be refused");
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(300 * 1024));
    let (status, body) = daemon.http(&HttpRequest {
        body: big.as_bytes(),
        ..HttpRequest::new("POST", "/api/members", Some(&token))
    });
    assert_eq!(status, 413, "{body}");
    let (status, _) = daemon.http(&HttpRequest {
        body: big.as_bytes(),
        ..HttpRequest::new("POST", "/api/members", None)
    });
    assert_eq!(status, 401);

    assert_eq!(daemon.heads(), before, "a refused request changed data");
}

#[test]
fn secrets_are_owner_only_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let _daemon = Daemon::start(dir.path());
    for file in ["api-token", "guild.redb", "identity.key"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
    }
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let out = std::process::Command::new(guild_tests::bin("guildd"))
        .args(["run", "--api-addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another guild daemon is using this data directory"),
        "{stderr}"
    );
    // The first daemon is unaffected.
    daemon.guild(&["status"]);
}
