//! Sessions as organisers run them, through the CLI against real daemons: a ProductCamp-style
//! unconference over three laptops (proposals, dot votes within a budget, two rooms, a
//! schedule identical everywhere and in the `.ics`), bad input refused without changing
//! anything, mistakes fixed by who may fix them, guests, write-ups and times.

use std::collections::BTreeSet;
use std::io::{BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use guild_tests::{Daemon, HttpRequest, bin, wait_until};

use crate::community::day;
use serde_json::{Value, json};
use tempfile::TempDir;

const CONVERGE: Duration = Duration::from_secs(60);

/// A community of daemons: the first (its founder, so its steward) creates it, the others
/// join with its ticket under the given names.
fn community(names: &[&str]) -> (Vec<TempDir>, Vec<Daemon>) {
    let dirs: Vec<TempDir> = names.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let founder = Daemon::start(dirs[0].path());
    founder.guild(&["init", "--community", "Product People", "--name", names[0]]);
    let mut daemons = vec![founder];
    for (dir, name) in dirs.iter().zip(names).skip(1) {
        let daemon = Daemon::start(dir.path());
        let ticket = daemons[0].guild(&["invite"]);
        daemon.guild(&["join", ticket.trim(), "--name", name]);
        daemons.push(daemon);
    }
    (dirs, daemons)
}

fn wait_converged(daemons: &[&Daemon]) {
    wait_until("every daemon to hold identical heads", CONVERGE, || {
        let first = daemons[0].heads();
        daemons.iter().all(|d| d.heads() == first)
    });
}

fn id_of(created: &Value) -> String {
    created["id"].as_str().unwrap().to_owned()
}

/// An RFC 3339 time `days` from now (negative: in the past) at `hour`:00 UTC.
/// `guild` with extra environment and standard input; must succeed; returns stdout.
fn guild_with(d: &Daemon, args: &[&str], env: &[(&str, &str)], stdin: &str) -> String {
    let mut child = Command::new(bin("guild"))
        .arg("--data-dir")
        .arg(&d.dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "guild {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The events of an `.ics` export, parsed by an independent iCalendar parser, as
/// (name, value) pairs without DTSTAMP (the export's own time), sorted by UID.
fn ics_events(d: &Daemon) -> Vec<Vec<(String, String)>> {
    let path = d.dir.join("export.ics");
    d.guild(&[
        "sessions",
        "export",
        "--ics",
        "--output",
        path.to_str().unwrap(),
    ]);
    let calendars: Vec<_> =
        ical::IcalParser::new(BufReader::new(std::fs::File::open(&path).unwrap()))
            .map(|c| c.unwrap())
            .collect();
    assert_eq!(calendars.len(), 1);
    let mut events: Vec<Vec<(String, String)>> = calendars[0]
        .events
        .iter()
        .map(|e| {
            let mut props: Vec<(String, String)> = e
                .properties
                .iter()
                .filter(|p| p.name != "DTSTAMP")
                .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
                .collect();
            props.sort();
            props
        })
        .collect();
    events.sort_by_key(|e| prop(e, "UID"));
    events
}

fn prop(event: &[(String, String)], name: &str) -> String {
    event
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn titles(agenda: &Value) -> Vec<(String, u64)> {
    agenda
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["title"].as_str().unwrap().to_owned(),
                p["votes"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn an_unconference_over_three_laptops_converges_on_one_schedule() {
    let (_dirs, d) = community(&["Ada", "Bea", "Cy"]);
    let (ada, bea, cy) = (&d[0], &d[1], &d[2]);
    ada.guild(&["guests", "add", "Priya Shah", "--organisation", "HMRC"]);
    // Written as people write times, in London's summer time.
    let camp = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "ProductCamp",
        "--kind",
        "unconference",
        "--start",
        "2027-06-05 10:00",
        "--end",
        "13:00",
        "--tz",
        "Europe/London",
        "--place",
        "Leeds",
        "--room",
        "Main hall",
        "--room",
        "Library",
        "--votes",
        "3",
        "--guest",
        "priya",
    ]));
    let shown = ada.guild_json(&["sessions", "show", &camp]);
    assert_eq!(shown["start"], "2027-06-05T10:00:00+01:00");
    assert_eq!(shown["end"], "2027-06-05T13:00:00+01:00");
    assert_eq!(shown["vote_budget"], 3);
    assert_eq!(shown["guests"][0]["name"], "Priya Shah");
    wait_until("the unconference to reach every laptop", CONVERGE, || {
        [bea, cy].iter().all(|x| {
            x.guild_output(&["sessions", "show", &camp])
                .status
                .success()
        })
    });

    // The agenda starts empty; each laptop proposes.
    for (who, title, kind) in [
        (ada, "Roadmaps without dates", "talk"),
        (ada, "Pricing experiments", "discussion"),
        (bea, "Service design at scale", "talk"),
        (bea, "Help me size discovery", "help"),
        (cy, "OKRs that work", "talk"),
        (cy, "Discovery on a budget", "talk"),
    ] {
        who.guild(&["sessions", "propose", &camp, title, "--kind", kind]);
    }
    wait_until("every proposal on every laptop", CONVERGE, || {
        d.iter().all(|x| {
            x.guild_json(&["sessions", "agenda", &camp])
                .as_array()
                .unwrap()
                .len()
                == 6
        })
    });
    // Three dots each, from each laptop.
    for (who, votes) in [
        (ada, ["Service", "OKRs", "Help"]),
        (bea, ["Roadmaps", "OKRs", "Discovery"]),
        (cy, ["Roadmaps", "Service", "OKRs"]),
    ] {
        for proposal in votes {
            who.guild(&["sessions", "vote", &camp, proposal]);
        }
    }
    wait_converged(&[ada, bea, cy]);
    // A fourth dot is refused and changes nothing.
    let before = cy.heads();
    let (_, err) = cy.guild_fails(&["sessions", "vote", &camp, "Pricing"]);
    assert!(
        err.contains("all 3 votes in \"ProductCamp\" are used"),
        "{err}"
    );
    assert_eq!(cy.heads(), before);

    let agenda = ada.guild_json(&["sessions", "agenda", &camp]);
    assert_eq!(
        titles(&agenda),
        [
            ("OKRs that work".to_owned(), 3),
            ("Roadmaps without dates".to_owned(), 2),
            ("Service design at scale".to_owned(), 2),
            ("Discovery on a budget".to_owned(), 1),
            ("Help me size discovery".to_owned(), 1),
            ("Pricing experiments".to_owned(), 0),
        ]
    );
    for x in [bea, cy] {
        assert_eq!(x.guild_json(&["sessions", "agenda", &camp]), agenda);
    }

    // Only hosts (and stewards) schedule.
    let (_, err) = bea.guild_fails(&["sessions", "schedule", &camp, "--from", "10:30"]);
    assert!(err.contains("only the hosts (Ada)"), "{err}");
    // 45-minute slots from 10:30 in both rooms: best-voted first, nobody in two rooms.
    ada.guild(&[
        "sessions",
        "schedule",
        &camp,
        "--from",
        "10:30",
        "--minutes",
        "45",
        "--tz",
        "Europe/London",
    ]);
    // By hand: Pricing onto Service's slot would put Bea in two rooms at 12:00 (Service
    // would take Pricing's place, beside her Help): refused. Onto Discovery's: they swap.
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "move",
        &camp,
        "Pricing",
        "--at",
        "11:15",
        "--room",
        "main hall",
        "--tz",
        "Europe/London",
    ]);
    assert!(err.contains("same presenter at the same time"), "{err}");
    ada.guild(&[
        "sessions",
        "move",
        &camp,
        "Pricing",
        "--at",
        "11:15",
        "--room",
        "Library",
        "--tz",
        "Europe/London",
    ]);

    wait_converged(&[ada, bea, cy]);
    let slots = ada.guild_json(&["sessions", "show", &camp])["slots"].clone();
    let expected = [
        ("10:30", "11:15", "Main hall", "OKRs that work", "Cy"),
        ("10:30", "11:15", "Library", "Roadmaps without dates", "Ada"),
        (
            "11:15",
            "12:00",
            "Main hall",
            "Service design at scale",
            "Bea",
        ),
        ("11:15", "12:00", "Library", "Pricing experiments", "Ada"),
        (
            "12:00",
            "12:45",
            "Main hall",
            "Help me size discovery",
            "Bea",
        ),
        ("12:00", "12:45", "Library", "Discovery on a budget", "Cy"),
    ];
    let got: Vec<(String, String, String, String, String)> = slots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let s_ = |k: &str| s[k].as_str().unwrap().to_owned();
            (
                s_("start"),
                s_("end"),
                s_("room"),
                s_("title"),
                s["by"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, String, String)> = expected
        .iter()
        .map(|(s, e, room, title, by)| {
            (
                format!("2027-06-05T{s}:00+01:00"),
                format!("2027-06-05T{e}:00+01:00"),
                (*room).to_owned(),
                (*title).to_owned(),
                (*by).to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        ada.guild_json(&["sessions", "show", &camp])["clashes"],
        json!([])
    );
    for x in [bea, cy] {
        assert_eq!(x.guild_json(&["sessions", "show", &camp])["slots"], slots);
    }
    // People read it in their own zone.
    let human = cy.guild(&["sessions", "show", &camp, "--tz", "Europe/London"]);
    assert!(
        human.contains("Sat 5 Jun 2027 10:00 to 13:00 BST"),
        "{human}"
    );
    assert!(human.contains("3 votes each"), "{human}");
    let line = human
        .lines()
        .find(|l| l.contains("OKRs that work"))
        .unwrap();
    assert!(
        line.contains("10:30 to 11:15") && line.contains("Main hall"),
        "{line}"
    );

    // The calendar: the same on every laptop, one event per slot, in UTC.
    let calendar = ics_events(ada);
    assert_eq!(ics_events(bea), calendar);
    assert_eq!(ics_events(cy), calendar);
    let mut from_ics: Vec<(String, String, String, String)> = calendar
        .iter()
        .filter(|e| prop(e, "RELATED-TO") == format!("{camp}@guild"))
        .map(|e| {
            (
                prop(e, "DTSTART"),
                prop(e, "DTEND"),
                prop(e, "LOCATION"),
                prop(e, "SUMMARY"),
            )
        })
        .collect();
    from_ics.sort();
    let utc = |hm: &str| {
        let (h, m) = hm.split_once(':').unwrap();
        format!("20270605T{:02}{m}00Z", h.parse::<u8>().unwrap() - 1)
    };
    let mut want_ics: Vec<(String, String, String, String)> = expected
        .iter()
        .map(|(s, e, room, title, _)| {
            (
                utc(s),
                utc(e),
                format!("{room}\\, Leeds"),
                (*title).to_owned(),
            )
        })
        .collect();
    want_ics.sort();
    assert_eq!(from_ics, want_ics);
    // Two rooms in parallel at every time, and no presenter in two places.
    let times: BTreeSet<&String> = from_ics.iter().map(|(s, ..)| s).collect();
    assert_eq!(times.len(), 3);
    let session = calendar
        .iter()
        .find(|e| prop(e, "UID") == format!("{camp}@guild"))
        .unwrap();
    assert_eq!(prop(session, "DTSTART"), "20270605T090000Z");
    assert_eq!(prop(session, "STATUS"), "CONFIRMED");
    assert!(prop(session, "DESCRIPTION").contains("Priya Shah"));
}

#[test]
fn bad_unconference_input_gets_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    ada.guild(&["members", "add", "Bea"]);
    ada.guild(&["guests", "add", "Priya Shah"]);
    let camp = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "ProductCamp",
        "--kind",
        "unconference",
        "--start",
        "2027-06-05T10:00:00+01:00",
        "--end",
        "2027-06-05T17:00:00+01:00",
    ]));
    for title in ["A", "B", "C", "D"] {
        ada.guild(&["sessions", "propose", &camp, &format!("Talk {title}")]);
    }
    for title in ["Talk A", "Talk B", "Talk C"] {
        ada.guild(&["sessions", "vote", &camp, title]);
    }
    ada.guild(&[
        "sessions",
        "schedule",
        &camp,
        "--from",
        "2027-06-05T10:00:00+01:00",
        "--top",
        "1",
    ]);
    let before = ada.heads();

    // Wrong answer 5: slots up to 18:45 for a session ending at 17:00, or the next day.
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "schedule",
        &camp,
        "--from",
        "2027-06-05T15:30:00+01:00",
        "--minutes",
        "45",
        "--top",
        "4",
    ]);
    assert!(err.contains("only 2 fit"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "schedule",
        &camp,
        "--from",
        "2027-06-06 10:00",
        "--tz",
        "+01:00",
    ]);
    assert!(
        err.contains("outside the session (10:00 to 17:00)"),
        "{err}"
    );
    let (_, err) = ada.guild_fails(&[
        "sessions", "schedule", &camp, "--from", "11:00", "--top", "0",
    ]);
    assert!(err.contains("0 proposals would schedule nothing"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "sessions", "move", &camp, "Talk A", "--at", "16:45", "--tz", "+01:00",
    ]);
    assert!(err.contains("outside the session"), "{err}");
    // A fourth vote.
    let (_, err) = ada.guild_fails(&["sessions", "vote", &camp, "Talk D"]);
    assert!(err.contains("all 3 votes"), "{err}");
    // An unknown time zone: the CLI says so, and so does the daemon to anyone else.
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "Meetup",
        "--kind",
        "meetup",
        "--start",
        "2027-06-05 18:00",
        "--end",
        "20:00",
        "--tz",
        "Europe/Londn",
    ]);
    assert!(err.contains("\"Europe/Londn\" is unknown"), "{err}");
    assert!(err.contains("Europe/London"), "{err}");
    let token = ada.token();
    let body = json!({"title": "Meetup", "kind": "meetup", "start": "2027-06-05 18:00",
        "end": "2027-06-05 20:00", "tz": "Mars/Olympus"})
    .to_string();
    let (status, answer) = ada.http(&HttpRequest {
        body: body.as_bytes(),
        ..HttpRequest::new("POST", "/api/sessions", Some(&token))
    });
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"Mars/Olympus\" is unknown")
    );
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "Meetup",
        "--kind",
        "meetup",
        "--start",
        "next friday",
        "--end",
        "20:00",
    ]);
    assert!(
        err.contains("is not a time; write 2026-12-05 10:00, 2026-12-05 (the whole day)"),
        "{err}"
    );
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "Meetup",
        "--kind",
        "meetup",
        "--start",
        "2027-03-28 01:30",
        "--end",
        "03:00",
        "--tz",
        "Europe/London",
    ]);
    assert!(err.contains("does not exist in Europe/London"), "{err}");
    // A guest voting or proposing.
    let (_, err) = ada.guild_fails(&["sessions", "vote", &camp, "Talk D", "--member", "priya"]);
    assert!(
        err.contains("Priya Shah is a guest, not a member: guests cannot vote"),
        "{err}"
    );
    let (_, err) = ada.guild_fails(&["sessions", "propose", &camp, "My talk", "--member", "Priya"]);
    assert!(err.contains("guests cannot propose"), "{err}");
    // No rooms to move to, a write-up with a control character, a change of nothing.
    let (_, err) = ada.guild_fails(&[
        "sessions", "move", &camp, "Talk A", "--at", "11:00", "--room", "Attic", "--tz", "+01:00",
    ]);
    assert!(err.contains("has no rooms"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "notes", &camp, "--append", "ding\u{7}"]);
    assert!(err.contains("control character"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "update", &camp]);
    assert!(err.contains("nothing to change"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "update",
        &camp,
        "--end",
        "2027-06-05T10:15:00+01:00",
    ]);
    assert!(
        err.contains("1 slot would fall outside the session"),
        "{err}"
    );

    assert_eq!(ada.heads(), before, "a refused request changed data");
}

#[test]
fn mistakes_are_fixed_by_who_may_fix_them() {
    let (_dirs, d) = community(&["Ada", "Bea"]);
    let (ada, bea) = (&d[0], &d[1]);
    // Bea plans a meetup; Ada (the founder, so the steward) plans an away day.
    let meetup = id_of(&bea.guild_json(&[
        "sessions",
        "add",
        "Show and tell",
        "--kind",
        "show-and-tell",
        "--start",
        &day(-2, 17),
        "--end",
        &day(-2, 19),
    ]));
    let away = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "Away day",
        "--kind",
        "away-day",
        "--start",
        &day(-1, 9),
        "--end",
        &day(-1, 17),
    ]));
    wait_converged(&[ada, bea]);
    assert_eq!(
        bea.guild_json(&["sessions", "show", &meetup])["created_by"]["name"],
        "Bea"
    );

    // Bea fixes her own session; the steward may too; Bea may not change Ada's.
    bea.guild(&[
        "sessions",
        "update",
        &meetup,
        "--title",
        "Show and tell: payments",
        "--place",
        "Leeds",
    ]);
    let before = bea.heads();
    let (_, err) = bea.guild_fails(&["sessions", "update", &away, "--place", "Bristol"]);
    assert!(
        err.contains("only the hosts (Ada) or stewards (Ada) can change \"Away day\""),
        "{err}"
    );
    let (_, err) = bea.guild_fails(&["sessions", "cancel", &away]);
    assert!(err.contains("can cancel \"Away day\""), "{err}");
    assert_eq!(bea.heads(), before);
    wait_converged(&[ada, bea]);
    ada.guild(&["sessions", "update", &meetup, "--add-host", "Ada"]);

    // RSVPs by name; attendance recorded and taken back.
    bea.guild(&["sessions", "rsvp", &away, "going"]);
    let said = ada.guild(&["sessions", "attend", &away, "Ada", "Bea"]);
    assert_eq!(said.trim(), "2 members came to Away day");
    wait_converged(&[ada, bea]);
    let shown = bea.guild_json(&["sessions", "show", &away]);
    assert_eq!(shown["rsvps"][0]["name"], "Bea");
    assert_eq!(shown["rsvps"][0]["status"], "going");
    let human = bea.guild(&["sessions", "show", &away]);
    assert!(human.contains("going     Bea"), "{human}");
    // Bea takes back her own entry, not Ada's.
    let (_, err) = bea.guild_fails(&["sessions", "attend", &away, "Ada", "--remove"]);
    assert!(err.contains("can take back Ada's attendance"), "{err}");
    bea.guild(&["sessions", "attend", &away, "--remove"]);
    wait_converged(&[ada, bea]);
    let came = ada.guild_json(&["sessions", "show", &away])["attendance"].clone();
    assert_eq!(came, json!([{"id": came[0]["id"], "name": "Ada"}]));

    // Cancelled: kept, shown as cancelled, cancelled in calendars, in the change log.
    bea.guild(&[
        "sessions",
        "cancel",
        &meetup,
        "--reason",
        "The room flooded",
    ]);
    wait_converged(&[ada, bea]);
    let list = ada.guild(&["sessions", "list"]);
    let line = list.lines().find(|l| l.contains("payments")).unwrap();
    assert!(line.trim_end().ends_with("cancelled"), "{list}");
    let shown = ada.guild_json(&["sessions", "show", &meetup]);
    assert_eq!(shown["cancelled"]["by"]["name"], "Bea");
    assert_eq!(shown["cancelled"]["reason"], "The room flooded");
    let calendar = ics_events(ada);
    let event = calendar
        .iter()
        .find(|e| prop(e, "UID") == format!("{meetup}@guild"))
        .unwrap();
    assert_eq!(prop(event, "STATUS"), "CANCELLED");
    assert_eq!(prop(event, "SUMMARY"), "Cancelled: Show and tell: payments");
    let (status, community) = ada.http(&HttpRequest::new(
        "GET",
        "/api/community",
        Some(&ada.token()),
    ));
    assert_eq!(status, 200);
    let log: Vec<(String, String)> = community["log"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        log.contains(&(
            "session.cancelled".into(),
            "cancelled \"Show and tell: payments\": The room flooded".into()
        )),
        "{log:?}"
    );
    assert!(
        log.iter().any(|(a, _)| a == "attendance.removed"),
        "{log:?}"
    );
    assert!(log.iter().any(|(a, _)| a == "session.hosts"), "{log:?}");
    let (_, err) = ada.guild_fails(&["sessions", "rsvp", &meetup, "going"]);
    assert!(err.contains("was cancelled"), "{err}");
    bea.guild(&["sessions", "cancel", &meetup, "--undo"]);

    // Proposals: withdrawn by who made them, not by others.
    let camp = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "ProductCamp",
        "--kind",
        "unconference",
        "--start",
        &day(20, 9),
        "--end",
        &day(20, 17),
    ]));
    ada.guild(&["sessions", "propose", &camp, "Ada's talk"]);
    wait_converged(&[ada, bea]);
    bea.guild(&["sessions", "propose", &camp, "Bea's talk"]);
    let (_, err) = bea.guild_fails(&["sessions", "withdraw", &camp, "Ada's"]);
    assert!(
        err.contains("only who proposed it (Ada), the hosts (Ada) or stewards (Ada)"),
        "{err}"
    );
    bea.guild(&["sessions", "withdraw", &camp, "Bea's"]);
    assert_eq!(
        titles(&bea.guild_json(&["sessions", "agenda", &camp])),
        [("Ada's talk".to_owned(), 0)]
    );

    // Knowledge: shown, fixed and removed by who shared it (or a steward).
    bea.guild(&[
        "knowledge",
        "add",
        "Opportunity trees",
        "--url",
        "https://example.org/ost",
        "--tag",
        "discovery",
    ]);
    ada.guild(&["knowledge", "add", "We meet monthly", "--kind", "ritual"]);
    wait_converged(&[ada, bea]);
    let entry = bea.guild_json(&["knowledge", "show", "opportunity"]);
    assert_eq!(entry["shared_by_name"], "Bea");
    bea.guild(&[
        "knowledge",
        "update",
        "opportunity",
        "--title",
        "Opportunity solution trees",
        "--session",
        &away,
    ]);
    let entry = bea.guild_json(&["knowledge", "show", &id_of(&entry)]);
    assert_eq!(entry["title"], "Opportunity solution trees");
    assert_eq!(entry["session_title"], "Away day");
    let before = bea.heads();
    let (_, err) = bea.guild_fails(&["knowledge", "remove", "We meet"]);
    assert!(
        err.contains("only who shared it (Ada) or stewards (Ada) can remove \"We meet monthly\""),
        "{err}"
    );
    assert_eq!(bea.heads(), before);
    wait_converged(&[ada, bea]);
    ada.guild(&[
        "knowledge",
        "update",
        "opportunity",
        "--tag",
        "Discovery",
        "--tag",
        "Trees",
    ]);
    bea.guild(&["knowledge", "remove", "opportunity"]);
    wait_converged(&[ada, bea]);
    assert_eq!(
        ada.guild_json(&["knowledge", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, err) = ada.guild_fails(&["knowledge", "show", "opportunity"]);
    assert!(err.contains("no knowledge entry"), "{err}");
}

#[test]
fn guests_speak_attend_and_answer_without_becoming_members() {
    let (_dirs, d) = community(&["Ada", "Bea"]);
    let (ada, bea) = (&d[0], &d[1]);
    ada.guild(&[
        "guests",
        "add",
        "Siobhán Kelly",
        "--organisation",
        "DWP",
        "--note",
        "Spoke on pricing",
    ]);
    ada.guild(&["guests", "add", "Tom Supplier", "--organisation", "Acme"]);
    let talk = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "Guest talk: pricing",
        "--kind",
        "guest-talk",
        "--start",
        &day(-3, 17),
        "--end",
        &day(-3, 18),
        "--guest",
        "siobhan",
    ]));
    ada.guild(&["sessions", "attend", &talk, "Ada", "--guest", "Tom"]);
    wait_converged(&[ada, bea]);
    bea.guild(&["sessions", "attend", &talk]);
    wait_converged(&[ada, bea]);

    let shown = ada.guild_json(&["sessions", "show", &talk]);
    assert_eq!(shown["guests"][0]["name"], "Siobhán Kelly");
    assert_eq!(
        shown["attendance"].as_array().unwrap().len(),
        2,
        "members only"
    );
    assert_eq!(shown["guest_attendance"][0]["name"], "Tom Supplier");
    let said = ada.guild(&["sessions", "attend", &talk, "--guest", "Tom"]);
    assert_eq!(
        said.trim(),
        "2 members came to Guest talk: pricing, and 1 guest"
    );
    // The directory and health count members only.
    let members = ada.guild_json(&["members", "list"]);
    assert_eq!(members.as_array().unwrap().len(), 2);
    let health = ada.guild_json(&["health"]);
    assert_eq!(health["members"], 2);
    assert_eq!(health["attendance"][0]["attended"], 2);
    let guests = bea.guild_json(&["guests", "list"]);
    assert_eq!(guests[0]["name"], "Siobhán Kelly");
    assert_eq!(
        (
            guests[0]["spoke_at"].as_u64(),
            guests[0]["came_to"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        (
            guests[1]["spoke_at"].as_u64(),
            guests[1]["came_to"].as_u64()
        ),
        (Some(0), Some(1))
    );

    // A guest's answer, marked as theirs.
    let q = id_of(&bea.guild_json(&["ask", "How do you price a platform?"]));
    wait_converged(&[ada, bea]);
    ada.guild(&[
        "answer",
        &q,
        "Per team, not per seat.",
        "--guest",
        "Siobhan",
    ]);
    let listed = ada.guild(&["questions"]);
    assert!(
        listed.contains("Per team, not per seat. (Siobhán Kelly (guest))"),
        "{listed}"
    );
    assert!(listed.contains("(asked by Bea)"), "{listed}");

    // Only who recorded a guest (or a steward) changes or removes them.
    wait_converged(&[ada, bea]);
    let (_, err) = bea.guild_fails(&["guests", "remove", "Tom"]);
    assert!(
        err.contains("only who recorded them (Ada) or stewards (Ada)"),
        "{err}"
    );
    ada.guild(&["guests", "update", "Tom", "--organisation", "Acme Ltd"]);
    ada.guild(&["guests", "remove", "Tom"]);
    assert_eq!(
        ada.guild_json(&["guests", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // ...and the session still names him.
    assert_eq!(
        ada.guild_json(&["sessions", "show", &talk])["guest_attendance"][0]["name"],
        "Tom Supplier"
    );
}

#[test]
fn write_ups_keep_every_paragraph_and_read_from_stdin_and_files() {
    let (_dirs, mut d) = community(&["Ada", "Bea"]);
    let away = id_of(&d[0].guild_json(&[
        "sessions",
        "add",
        "Away day",
        "--kind",
        "away-day",
        "--start",
        &day(-1, 9),
        "--end",
        &day(-1, 17),
    ]));
    wait_converged(&[&d[0], &d[1]]);
    // Wrong answer 4: both write the first line of an empty write-up while apart.
    d[1].kill();
    d[0].guild(&["sessions", "notes", &away, "--append", "Ada's first line"]);
    d[0].kill();
    d[1].restart();
    d[1].guild(&["sessions", "notes", &away, "--append", "Bea's first line"]);
    d[0].restart();
    d[1].restart(); // dials the founder at once, not after a backoff grown while it was down
    wait_converged(&[&d[0], &d[1]]);
    let notes = d[0].guild_json(&["sessions", "show", &away])["notes"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut lines: Vec<&str> = notes.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["Ada's first line", "Bea's first line"], "{notes:?}");
    assert_eq!(
        d[1].guild_json(&["sessions", "show", &away])["notes"],
        notes
    );

    // `--append -` reads standard input; `--file` a file (`--replace` to replace).
    let printed = guild_with(
        &d[0],
        &["sessions", "notes", &away, "--append", "-"],
        &[],
        "We mapped our discovery practice.\nNext: pricing.\n",
    );
    assert!(
        printed.ends_with("We mapped our discovery practice.\nNext: pricing.\n"),
        "{printed}"
    );
    let file = d[0].dir.join("write-up.md");
    std::fs::write(&file, "Café at the end, Siobhán paid.\n").unwrap();
    d[0].guild(&["sessions", "notes", &away, "--file", file.to_str().unwrap()]);
    let notes = d[0].guild(&["sessions", "notes", &away]);
    assert!(
        notes.ends_with("pricing.\nCafé at the end, Siobhán paid.\n"),
        "{notes}"
    );
    d[0].guild(&[
        "sessions",
        "notes",
        &away,
        "--file",
        file.to_str().unwrap(),
        "--replace",
    ]);
    assert_eq!(
        d[0].guild(&["sessions", "notes", &away]),
        "Café at the end, Siobhán paid.\n"
    );
    let (_, err) = d[0].guild_fails(&["sessions", "notes", &away, "--file", "/no/such/file"]);
    assert!(err.contains("cannot read /no/such/file"), "{err}");
}

#[test]
fn times_are_read_and_shown_in_the_readers_zone() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    // The machine's zone (TZ) when no --tz is given.
    let new_york = [("TZ", "America/New_York")];
    guild_with(
        &ada,
        &[
            "sessions",
            "add",
            "Evening meetup",
            "--kind",
            "meetup",
            "--start",
            "2027-01-15 18:00",
            "--end",
            "20:00",
        ],
        &new_york,
        "",
    );
    guild_with(
        &ada,
        &[
            "sessions",
            "add",
            "Away day",
            "--kind",
            "away-day",
            "--start",
            "2027-07-01",
            "--end",
            "2027-07-01",
        ],
        &new_york,
        "",
    );
    let list = ada.guild_json(&["sessions", "list"]);
    assert_eq!(list[0]["start"], "2027-01-15T18:00:00-05:00");
    assert_eq!(list[0]["end"], "2027-01-15T20:00:00-05:00");
    assert_eq!(list[1]["start"], "2027-07-01T00:00:00-04:00");
    assert_eq!(list[1]["end"], "2027-07-02T00:00:00-04:00");
    // Read in London: five hours later, in GMT; the whole day shows as one.
    let shown = ada.guild(&["sessions", "list", "--tz", "Europe/London"]);
    assert!(shown.contains("Fri 15 Jan 2027 23:00 GMT"), "{shown}");
    let shown = guild_with(&ada, &["sessions", "show", "Away"], &new_york, "");
    assert!(shown.contains("Thu 1 Jul 2027, all day"), "{shown}");
    let shown = guild_with(
        &ada,
        &["sessions", "show", "Evening"],
        &[("TZ", "Asia/Tokyo")],
        "",
    );
    assert!(
        shown.contains("Sat 16 Jan 2027 08:00 to 10:00 JST"),
        "{shown}"
    );
}
