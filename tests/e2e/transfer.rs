//! Moving data in and out: `guild export` (JSON and Automerge bytes) never carries a
//! secret; `guild import` takes a spreadsheet's members and skills matrix whole or not at
//! all, and a matrix exported from one community imports into another unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use guild_tests::{Daemon, wait_until};
use redb::{ReadableDatabase, TableDefinition};
use serde_json::Value;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta_v1");

/// Every way a secret could be written down: its bytes, hex, base58, and as a JSON array.
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let array = format!(
        "[{}]",
        secret
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    vec![
        secret.to_vec(),
        hex.into_bytes(),
        bs58::encode(secret).into_string().into_bytes(),
        array.into_bytes(),
    ]
}

fn assert_holds_none(what: &str, haystack: &[u8], secrets: &[(&str, Vec<u8>)]) {
    for (name, secret) in secrets {
        for needle in encodings(secret) {
            assert!(
                !haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice()),
                "{what} contains the {name}"
            );
        }
    }
}

#[test]
fn an_export_holds_every_shared_document_and_no_secret() {
    let ada_dir = tempfile::tempdir().unwrap();
    let bea_dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(ada_dir.path());
    let bea = Daemon::start(bea_dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    ada.guild(&["members", "add", "Grace", "--role", "Service designer"]);
    ada.guild(&["skills", "rate", "discovery", "4"]);
    ada.guild(&["skills", "rate", "roadmapping", "2", "--member", "Grace"]);
    ada.guild(&[
        "sessions",
        "add",
        "Away day",
        "--kind",
        "away-day",
        "--start",
        "2026-10-01T09:00:00+01:00",
        "--end",
        "2026-10-01T17:00:00+01:00",
    ]);
    ada.guild(&["sessions", "rsvp", "Away day", "going"]);
    ada.guild(&["knowledge", "add", "Continuous discovery habits"]);
    ada.guild(&["ask", "How do you run a pre-mortem?"]);
    ada.guild(&["relationships", "add", "Sam from Sales", "--team", "Sales"]);
    let ticket = ada.guild(&["invite"]);
    bea.guild(&["join", ticket.trim(), "--name", "Bea"]);
    wait_until(
        "Bea's profile reaches Ada",
        std::time::Duration::from_secs(30),
        || {
            ada.guild_json(&["members", "list"])
                .as_array()
                .is_some_and(|m| m.len() == 3)
        },
    );

    let out = ada_dir.path().join("backup.json");
    let out_arg = out.to_str().unwrap();
    ada.guild(&["export", "-o", out_arg]);
    let shared_text = std::fs::read(&out).unwrap();
    let shared: Value = serde_json::from_slice(&shared_text).unwrap();
    assert_eq!(shared["format"], "guild-export");
    assert_eq!(shared["version"], 1);
    let kinds: Vec<&str> = shared["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "community", "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "member").count(),
        3,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"session") && kinds.contains(&"knowledge"),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"relationships"),
        "private data exported unasked"
    );
    let text = String::from_utf8_lossy(&shared_text);
    assert!(text.contains("Service designer") && text.contains("pre-mortem"));
    assert!(!text.contains("Sam from Sales"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export is readable by others");
    }

    let private_out = ada_dir.path().join("private.json");
    ada.guild(&["export", "--private", "-o", private_out.to_str().unwrap()]);
    let private_text = std::fs::read(&private_out).unwrap();
    assert!(String::from_utf8_lossy(&private_text).contains("Sam from Sales"));

    let automerge_dir = ada_dir.path().join("automerge");
    ada.guild(&[
        "export",
        "--private",
        "--automerge",
        automerge_dir.to_str().unwrap(),
    ]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(automerge_dir.join("index.json")).unwrap()).unwrap();
    let files = index["documents"].as_array().unwrap();
    assert_eq!(files.len(), kinds.len() + 1, "{index}");
    let mut automerge_bytes = Vec::new();
    for file in files {
        let bytes = std::fs::read(automerge_dir.join(file["file"].as_str().unwrap())).unwrap();
        let mut doc = automerge::AutoCommit::load(&bytes).unwrap();
        let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        assert_eq!(Value::from(heads), file["heads"], "{file}");
        automerge_bytes.extend(bytes);
    }

    // The secrets, read from the stopped daemon's store and key file.
    let out = std::process::Command::new(guild_tests::bin("guildd"))
        .arg("stop")
        .arg("--data-dir")
        .arg(ada_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let secrets = secrets(ada_dir.path(), ticket.trim());
    assert_holds_none("the export", &shared_text, &secrets);
    assert_holds_none("the private export", &private_text, &secrets);
    assert_holds_none("the Automerge export", &automerge_bytes, &secrets);
    eprintln!(
        "EXPORT: {} documents, {} bytes of JSON; searched for {} secrets in 4 encodings each",
        kinds.len(),
        shared_text.len(),
        secrets.len()
    );
}

/// The community secret, the device secret, the identity key, the API token and the ticket.
fn secrets(dir: &Path, ticket: &str) -> Vec<(&'static str, Vec<u8>)> {
    let db = redb::Database::open(dir.join("guild.redb")).unwrap();
    let tx = db.begin_read().unwrap();
    let meta = tx.open_table(META).unwrap();
    let get = |key: &str| meta.get(key).unwrap().unwrap().value().to_vec();
    let key = std::fs::read(dir.join("identity.key")).unwrap();
    // The protobuf encoding ends with the ed25519 secret key followed by the public key.
    let identity = key[key.len() - 64..key.len() - 32].to_vec();
    let token = std::fs::read_to_string(dir.join("api-token")).unwrap();
    vec![
        ("community secret", get("community_secret")),
        ("device secret", get("device_secret")),
        ("identity key", identity),
        ("API token", token.trim().as_bytes().to_vec()),
        ("ticket", ticket.as_bytes().to_vec()),
    ]
}

fn import(daemon: &Daemon, csv: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["import", csv.to_str().unwrap()];
    args.extend(extra);
    daemon.guild_output(&args)
}

#[test]
fn members_import_lists_bad_rows_imports_nothing_then_all_200_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    daemon.guild(&["init", "--community", "Big", "--name", "Ada"]);
    let mut rows = vec!["Full name,Job title,Team,Email,Joined,Buddy,Shoe size".to_owned()];
    for i in 0..200 {
        rows.push(format!(
            "Person {i:03},Product manager,Team {},p{i}@example.org,2025-0{}-15,{},4{}",
            i % 7,
            1 + i % 9,
            if i > 0 { "Person 000" } else { "Ada" },
            i % 10
        ));
    }
    let good = rows.join("\n") + "\n";
    // Line 12 has no name, line 40 a date nobody can read, line 100 an unknown buddy.
    rows[11] = ",Analyst,Data,,,,".into();
    rows[39] = "Late Person,PM,Ops,,yesterday,,".into();
    rows[99] = "Lonely Person,PM,Ops,,,Nobody Known,".into();
    let bad = rows.join("\n") + "\n";
    let csv = dir.path().join("members.csv");
    std::fs::write(&csv, &bad).unwrap();

    let out = import(&daemon, &csv, &["--preview", "--json"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [12, 40, 100], "{report}");
    assert_eq!(report["unknown_columns"], serde_json::json!(["Shoe size"]));
    assert_eq!(report["rows"], 200);
    assert_eq!(report["applied"], false);

    // Without --preview: refused whole, every bad row listed, one line on stderr.
    let started = std::time::Instant::now();
    let out = import(&daemon, &csv, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in ["line 12:", "line 40:", "line 100:"] {
        assert!(stdout.contains(line), "{stdout}");
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let members = daemon.guild_json(&["members", "list"]);
    assert_eq!(members.as_array().unwrap().len(), 1, "half imported");

    std::fs::write(&csv, &good).unwrap();
    let out = import(&daemon, &csv, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"].as_array().unwrap().len(), 200);
    assert_eq!(report["applied"], true);
    eprintln!(
        "IMPORT: 200 members refused then imported in {:?}",
        started.elapsed()
    );
    let members = daemon.guild_json(&["members", "list"]);
    assert_eq!(members.as_array().unwrap().len(), 201);
    let p7 = daemon.guild_json(&["members", "show", "Person 007"]);
    assert_eq!(p7["team"], "Team 0");
    assert_eq!(p7["contact"], "p7@example.org");
    assert_eq!(p7["joined"], "2025-08-15");
    let p0 = daemon.guild_json(&["members", "show", "Person 000"]);
    assert_eq!(p7["buddy"], p0["id"]);

    // Importing the same file again changes nothing.
    let out = import(&daemon, &csv, &["--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"], serde_json::json!([]));
    assert_eq!(report["unchanged"], 200, "{report}");
}

/// Name -> skill -> (level, grow), from `guild skills matrix --json`.
fn matrix(daemon: &Daemon) -> BTreeMap<String, BTreeMap<String, (Value, bool)>> {
    let matrix = daemon.guild_json(&["skills", "matrix"]);
    let skills: Vec<String> = serde_json::from_value(matrix["skills"].clone()).unwrap();
    let mut out = BTreeMap::new();
    for row in matrix["rows"].as_array().unwrap() {
        let mut cells = BTreeMap::new();
        for (i, skill) in skills.iter().enumerate() {
            let level = row["levels"][i].clone();
            let grow = row["grow"][i].as_bool().unwrap();
            if !level.is_null() || grow {
                cells.insert(skill.clone(), (level, grow));
            }
        }
        out.insert(row["name"].as_str().unwrap().to_owned(), cells);
    }
    out
}

#[test]
fn a_skills_matrix_imports_whole_and_round_trips_into_another_community() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = Daemon::start(a_dir.path());
    let b = Daemon::start(b_dir.path());
    a.guild(&["init", "--community", "Spreadsheet people", "--name", "Ada"]);
    b.guild(&["init", "--community", "Newcomers", "--name", "Zoe"]);

    // A spreadsheet audit: 30 people by 20 skills (4 not in the taxonomy yet), levels as
    // numbers, labels or with "+" to grow, and grow columns for some skills.
    let skills: Vec<String> = crdt_model::skills::DEFAULT_SKILLS
        .iter()
        .chain(&["Pricing", "Facilitation", "Storytelling", "Service design"])
        .map(|s| (*s).to_owned())
        .collect();
    let labels = ["none", "aware", "practising", "experienced", "can teach"];
    let mut header = vec!["name".to_owned(), "team".to_owned()];
    for (i, skill) in skills.iter().enumerate() {
        header.push(skill.clone());
        if i % 4 == 0 {
            header.push(format!("{skill} (grow)"));
        }
    }
    let mut rows = vec![header.join(",")];
    for person in 0..30 {
        let mut row = vec![
            format!("Member {person:02}"),
            format!("Team {}", person % 3),
        ];
        for (i, _) in skills.iter().enumerate() {
            let level = (person + i) % 6; // 5 = not rated
            row.push(match (level, (person + i) % 3) {
                (5, _) => String::new(),
                (l, 0) => labels[l].to_owned(),
                (l, 1) => format!("{l}+"),
                (l, _) => l.to_string(),
            });
            if i % 4 == 0 {
                row.push(if person % 2 == 0 {
                    "yes".into()
                } else {
                    String::new()
                });
            }
        }
        rows.push(row.join(","));
    }
    let good = rows.join("\n") + "\n";
    let mut bad_rows = rows.clone();
    bad_rows[5] = bad_rows[5].replacen("Member 04,Team 1,", "Member 04,Team 1,7,", 1);
    bad_rows[5] = {
        // Keep the column count: drop the last cell.
        let mut cells: Vec<&str> = bad_rows[5].split(',').collect();
        cells.pop();
        cells.join(",")
    };
    bad_rows[9] = bad_rows[9].replacen(",yes,", ",maybe,", 1);
    let csv = a_dir.path().join("skills.csv");
    std::fs::write(&csv, bad_rows.join("\n") + "\n").unwrap();
    let before = matrix(&a);
    let out = import(&a, &csv, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("line 6: Agile working: "), "{stdout}");
    assert!(stdout.contains("line 10: "), "{stdout}");
    assert!(stdout.contains("\"maybe\" is not a grow mark"), "{stdout}");
    assert_eq!(matrix(&a), before, "a refused import changed the matrix");
    assert_eq!(
        a.guild_json(&["skills", "list"]).as_array().unwrap().len(),
        16,
        "a refused import added skills"
    );

    std::fs::write(&csv, &good).unwrap();
    let report: Value = serde_json::from_slice(&import(&a, &csv, &["--json"]).stdout).unwrap();
    assert_eq!(report["created"].as_array().unwrap().len(), 30, "{report}");
    assert_eq!(
        report["new_skills"],
        serde_json::json!(["Pricing", "Facilitation", "Storytelling", "Service design"])
    );
    let imported = matrix(&a);
    // Member 01 rated Agile working (i=0): (1+0)%6 = 1, written "1+": aware, wants to grow.
    assert_eq!(
        imported["Member 01"]["Agile working"],
        (Value::from(1), true),
        "{:?}",
        imported["Member 01"]
    );
    // Member 03, Discovery (i=10): 13%6 = 1, 13%3 = 1: "1+"; Storytelling (i=18): 21%6=3,
    // 21%3=0: "experienced".
    assert_eq!(imported["Member 03"]["Discovery"], (Value::from(1), true));
    assert_eq!(
        imported["Member 03"]["Storytelling"],
        (Value::from(3), false)
    );
    // Member 02, Life cycle perspective (i=3): 5%6 = 5, an empty cell: not rated.
    assert_eq!(imported["Member 02"].get("Life cycle perspective"), None);

    // The round trip: A's matrix as CSV, imported into B, is the same matrix.
    let exported = a.guild(&["skills", "matrix", "--csv"]);
    let csv_b = b_dir.path().join("skills.csv");
    std::fs::write(&csv_b, exported).unwrap();
    let out = import(&b, &csv_b, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut in_b = matrix(&b);
    assert_eq!(in_b.remove("Zoe"), Some(BTreeMap::new()));
    assert_eq!(in_b.len(), 31);
    assert_eq!(in_b, imported);
}
