//! Private relationships: a member's own map of stakeholders, which never leaves that
//! member's own devices.

use guild_tests::Daemon;
use serde_json::Value;
use time::OffsetDateTime;

fn date(days: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .date()
        .to_string()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn relationships_keep_a_ledger_and_say_who_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    assert_eq!(
        ada.guild_json(&["relationships", "list"]),
        Value::Array(vec![])
    );

    ada.guild(&[
        "relationships",
        "add",
        "Sam Sales",
        "--team",
        "Sales",
        "--influence",
        "high",
        "--common-ground",
        "cycling",
    ]);
    ada.guild(&[
        "relationships",
        "add",
        "Sue Support",
        "--team",
        "Support",
        "--cadence",
        "14",
    ]);
    ada.guild(&[
        "relationships",
        "add",
        "Fred Finance",
        "--organisation",
        "Finance",
    ]);
    ada.guild(&[
        "relationships",
        "log",
        "Sam",
        "--kind",
        "lunch",
        "--date",
        &date(-40),
        "--note",
        "pricing",
    ]);
    ada.guild(&[
        "relationships",
        "log",
        "Sue",
        "--kind",
        "coffee",
        "--date",
        &date(-20),
    ]);
    ada.guild(&[
        "relationships",
        "deposit",
        "Sam",
        "--amount",
        "3",
        "--note",
        "reviewed their deck",
        "--date",
        &date(-35),
    ]);
    ada.guild(&[
        "relationships",
        "withdraw",
        "Sam",
        "--note",
        "asked for an intro",
        "--date",
        &date(-33),
    ]);

    let sam = ada.guild_json(&["relationships", "show", "sam"]);
    assert_eq!(sam["standing"]["balance"], 2);
    assert_eq!(sam["interactions"].as_array().unwrap().len(), 1);
    assert_eq!(sam["ledger"].as_array().unwrap().len(), 2);

    // Sam last fed 33 days ago (30-day cadence); Sue 20 days ago (14-day cadence); Fred was
    // added today.
    let due = ada.guild_json(&["relationships", "due"]);
    assert_eq!(names(&due), ["Sam Sales", "Sue Support"]);
    assert_eq!(due[0]["overdue_days"], 3);

    // Bad input is refused and changes nothing.
    let before = ada.guild_json(&["relationships", "list"]);
    let (_, err) = ada.guild_fails(&["relationships", "log", "Sam", "--kind", "karaoke"]);
    assert!(err.contains("not one of"), "{err}");
    let (_, err) = ada.guild_fails(&["relationships", "deposit", "Nobody"]);
    assert!(err.contains("no person"), "{err}");
    let (_, err) = ada.guild_fails(&["relationships", "withdraw", "Sam", "--amount", "0"]);
    assert!(err.contains("at least 1"), "{err}");
    let (_, err) = ada.guild_fails(&["relationships", "add", "Ivy", "--influence", "huge"]);
    assert!(err.contains("not one of"), "{err}");
    assert_eq!(ada.guild_json(&["relationships", "list"]), before);

    // It is not part of the community: no index entry, no document a peer could ask for.
    let community = ada.guild_json(&["status"]);
    let kinds: Vec<_> = community["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"relationships".to_owned()));
}
