//! Private relationships: a member's own map of stakeholders, which never leaves that
//! member's own devices.

use std::time::Duration;

use guild_tests::{Daemon, wait_until};
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

    // Sam was last fed 35 days ago by the deposit (the favour asked 33 days ago draws on
    // the relationship, it does not feed it: issue 10, wrong answer 3), on a 30-day
    // cadence; Sue 20 days ago (14-day cadence); Fred was added today.
    let due = ada.guild_json(&["relationships", "due"]);
    assert_eq!(names(&due), ["Sam Sales", "Sue Support"]);
    assert_eq!(due[0]["last_fed"], date(-35).as_str());
    assert_eq!(due[0]["overdue_days"], 5);

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

/// Ids of the documents a daemon holds, by kind.
fn docs_of(daemon: &Daemon, kind: &str) -> Vec<String> {
    daemon.guild_json(&["status"])["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

fn community_of(n: usize) -> (Vec<tempfile::TempDir>, Vec<Daemon>) {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let founder = Daemon::start(dirs[0].path());
    founder.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    let mut daemons = vec![founder];
    for (i, name) in ["Bea", "Cy"].iter().enumerate().take(n - 1) {
        let d = Daemon::start(dirs[i + 1].path());
        let ticket = daemons[0].guild(&["invite"]);
        d.guild(&["join", ticket.trim(), "--name", name]);
        daemons.push(d);
    }
    (dirs, daemons)
}

#[test]
fn the_private_document_reaches_my_second_laptop_and_no_other_daemon() {
    let (mut dirs, mut d) = community_of(3);
    // Ada links her second laptop.
    let laptop_dir = tempfile::tempdir().unwrap();
    let laptop = Daemon::start(laptop_dir.path());
    let code = d[0].guild(&["devices", "link"]);
    laptop.guild(&["devices", "join", code.trim()]);
    assert_eq!(laptop.guild_json(&["status"])["me"]["name"], "Ada");

    d[0].guild(&["relationships", "add", "Sam Sales", "--team", "Sales"]);
    wait_until(
        "Ada's relationship to reach her laptop",
        Duration::from_secs(30),
        || names(&laptop.guild_json(&["relationships", "list"])) == ["Sam Sales"],
    );
    laptop.guild(&[
        "relationships",
        "deposit",
        "Sam",
        "--note",
        "helped with a demo",
    ]);
    wait_until(
        "the laptop's edit to come back",
        Duration::from_secs(30),
        || d[0].guild_json(&["relationships", "show", "Sam"])["standing"]["balance"] == 1,
    );
    let listed = guild_tests::poll_until(Duration::from_secs(30), || {
        d[0].guild_json(&["devices"]).as_array().unwrap().len() == 2
    });
    assert!(
        listed,
        "Ada's member document does not list both laptops\n--- laptop ---\n{}\n--- ada ---\n{}",
        laptop.log(),
        d[0].log()
    );
    // Everyone converges on the community...
    d[1].guild(&["members", "add", "Dee"]);
    wait_until(
        "the community to converge on all four daemons",
        Duration::from_secs(60),
        || {
            let heads = d[0].heads();
            [&d[1], &d[2], &laptop].iter().all(|x| x.heads() == heads)
        },
    );
    // ...and the private document exists only on Ada's two devices.
    let private = docs_of(&d[0], "relationships");
    assert_eq!(private.len(), 1);
    assert_eq!(docs_of(&laptop, "relationships"), private);
    for other in [&d[1], &d[2]] {
        let theirs = other.guild_json(&["status"]);
        assert!(!theirs.to_string().contains(&private[0]), "{theirs}");
        assert_eq!(
            other.guild_json(&["relationships", "list"]),
            Value::Array(vec![])
        );
    }
    // Bea's and Cy's own private documents stayed at home too.
    assert!(
        !laptop
            .guild_json(&["status"])
            .to_string()
            .contains(&docs_of(&d[1], "relationships")[0])
    );
    drop(d.drain(..));
    dirs.clear();
}

#[test]
fn a_removed_member_receives_no_changes_made_after_the_removal_synced() {
    let (_dirs, d) = community_of(3);
    wait_until("the community to converge", Duration::from_secs(60), || {
        let heads = d[0].heads();
        d[1].heads() == heads && d[2].heads() == heads
    });
    d[0].guild(&["members", "remove", "Cy"]);
    wait_until(
        "Bea to learn of the removal",
        Duration::from_secs(30),
        || !names(&d[1].guild_json(&["members", "list"])).contains(&"Cy".to_owned()),
    );

    d[0].guild(&["members", "add", "After Removal A"]);
    d[1].guild(&["members", "add", "After Removal B"]);
    d[1].guild(&["skills", "rate", "Discovery", "4"]);
    wait_until("Ada and Bea to converge", Duration::from_secs(30), || {
        d[0].heads() == d[1].heads()
    });
    wait_until(
        "Ada to have turned Cy's daemon away",
        Duration::from_secs(30),
        || d[0].log().contains("a device of a removed member"),
    );

    let cy_sees = names(&d[2].guild_json(&["members", "list"]));
    assert!(
        !cy_sees.iter().any(|n| n.starts_with("After Removal")),
        "{cy_sees:?}"
    );
    assert_eq!(
        d[2].guild_json(&["skills", "who", "Discovery"])["helpers"],
        Value::Array(vec![])
    );
    let status = d[0].guild_json(&["status"]);
    let cy_peer = d[2].guild_json(&["status"])["peer_id"].clone();
    assert!(
        !status["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == cy_peer && p["member"] == true),
        "{status}"
    );
}
