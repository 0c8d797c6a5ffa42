//! A realistic community of practice driven through the CLI against real daemons: members,
//! a past away day and an upcoming unconference with proposals and votes, a council rota,
//! resources, a question answered; then health, agenda and council suggestions.

use std::io::BufReader;
use std::time::Duration;

use guild_tests::{Daemon, wait_until};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An RFC 3339 time `days` from now (negative: in the past) at `hour`:00 UTC.
pub(crate) fn day(days: i64, hour: u8) -> String {
    let date = (OffsetDateTime::now_utc() + time::Duration::days(days)).date();
    date.with_hms(hour, 0, 0)
        .unwrap()
        .assume_utc()
        .format(&Rfc3339)
        .unwrap()
}

/// The calendar date `days` from now (negative: in the past), `YYYY-MM-DD`.
pub(crate) fn date(days: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .date()
        .to_string()
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.pointer(field).and_then(Value::as_str).unwrap().to_owned())
        .collect()
}

/// Attendance per past session, oldest first, from `guild health --json`.
pub(crate) fn attended(health: &Value) -> Vec<u64> {
    health["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attended"].as_u64().unwrap())
        .collect()
}

fn id_of(created: &Value) -> String {
    created["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_realistic_community_runs_on_guild() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ada = Daemon::start(dir_a.path());
    ada.guild(&[
        "init",
        "--community",
        "Product People",
        "--name",
        "Ada",
        "--role",
        "Head of product",
    ]);
    let bea = Daemon::start(dir_b.path());
    let ticket = ada.guild(&["invite"]);
    bea.guild(&[
        "join",
        ticket.trim(),
        "--name",
        "Bea",
        "--role",
        "Service designer",
    ]);
    ada.guild(&[
        "members",
        "add",
        "Cy",
        "--role",
        "User researcher",
        "--joined",
        &date(-400),
    ]);
    ada.guild(&[
        "members",
        "add",
        "Dee",
        "--role",
        "Delivery manager",
        "--joined",
        &date(-400),
    ]);
    ada.guild(&[
        "members",
        "add",
        "Eve",
        "--role",
        "Curious engineer",
        "--buddy",
        "Ada",
    ]);

    // A meetup long ago that only Dee came to, and last month's away day.
    let meetup = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "Spring meetup",
        "--kind",
        "meetup",
        "--start",
        &day(-200, 18),
        "--end",
        &day(-200, 20),
        "--place",
        "Leeds office",
    ]));
    ada.guild(&["sessions", "attend", &meetup, "Dee"]);
    ada.guild(&[
        "guests",
        "add",
        "Marty Cagan",
        "--organisation",
        "SVPG",
        "--note",
        "guest speaker",
    ]);
    let away_day = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "Away day",
        "--kind",
        "away-day",
        "--start",
        &day(-30, 9),
        "--end",
        &day(-30, 17),
        "--place",
        "The Mill",
        "--guest",
        "marty",
    ]));
    ada.guild(&["sessions", "attend", &away_day, "Ada", "Bea", "Cy"]);
    ada.guild(&[
        "sessions",
        "notes",
        &away_day,
        "--append",
        "We mapped our discovery practice.",
    ]);

    // The upcoming unconference: the agenda starts empty; people propose and vote.
    let unconf = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "Winter unconference",
        "--kind",
        "unconference",
        "--start",
        &day(10, 10),
        "--end",
        &day(10, 16),
        "--online",
        "https://meet.example/winter",
    ]));
    assert_eq!(
        ada.guild_json(&["sessions", "agenda", &unconf]),
        Value::Array(vec![])
    );
    ada.guild(&["sessions", "rsvp", &unconf, "going"]);
    ada.guild(&[
        "sessions",
        "propose",
        &unconf,
        "Roadmaps without dates",
        "--kind",
        "talk",
        "--member",
        "Cy",
    ]);
    ada.guild(&[
        "sessions",
        "propose",
        &unconf,
        "Help me size discovery",
        "--kind",
        "help",
    ]);
    ada.guild(&[
        "sessions",
        "propose",
        &unconf,
        "Pricing experiments",
        "--kind",
        "discussion",
        "--member",
        "Dee",
    ]);
    for voter in ["Ada", "Dee", "Eve"] {
        ada.guild(&["sessions", "vote", &unconf, "Roadmaps", "--member", voter]);
    }
    ada.guild(&["sessions", "vote", &unconf, "Pricing", "--member", "Eve"]);
    ada.guild(&["sessions", "vote", &unconf, "Pricing", "--member", "Eve"]); // still one vote
    wait_until(
        "the unconference to reach Bea",
        Duration::from_secs(30),
        || {
            bea.guild_output(&["sessions", "agenda", "Winter"])
                .status
                .success()
        },
    );
    bea.guild(&["sessions", "rsvp", "Winter", "maybe"]);
    bea.guild(&["sessions", "vote", "Winter", "Help me"]);

    // The council rota: Ada and Bea led last quarter.
    ada.guild(&[
        "council",
        "add-term",
        "--start",
        &date(-120),
        "--end",
        &date(-30),
        "--lead",
        "Ada",
        "--lead",
        "Bea",
    ]);
    ada.guild(&[
        "council",
        "add-term",
        "--start",
        &date(-29),
        "--end",
        &date(60),
        "--lead",
        "Ada",
    ]);

    // Knowledge, and a question Bea answers on her own laptop.
    ada.guild(&[
        "knowledge",
        "add",
        "Continuous discovery habits",
        "--url",
        "https://example.org/cdh",
        "--tag",
        "Discovery",
        "--session",
        "Away day",
    ]);
    ada.guild(&[
        "knowledge",
        "add",
        "We meet monthly, in person every quarter",
        "--kind",
        "ritual",
    ]);
    let question = ada.guild_json(&["ask", "How do you run a pre-mortem?"]);
    let question_id = id_of(&question);
    wait_until("the question to reach Bea", Duration::from_secs(30), || {
        bea.guild(&["questions", "--json"]).contains(&question_id)
    });
    bea.guild(&[
        "answer",
        &question_id,
        "Imagine the launch failed; list why; fix the top three.",
    ]);
    bea.guild(&["skills", "rate", "Roadmapping", "1", "--grow"]);
    wait_until("Bea's answer to reach Ada", Duration::from_secs(30), || {
        ada.guild(&["questions", "--json"])
            .contains("Imagine the launch failed")
    });
    let answered = ada.guild_json(&["questions"]);
    let answer_id = answered[0]["answers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    ada.guild(&["questions", "accept", &question_id, &answer_id]);
    let (_, err) = bea.guild_fails(&["questions", "accept", &question_id, &answer_id]);
    assert!(err.contains("only the person who asked"), "{err}");

    // The agenda, ranked by votes on both laptops once they have synced.
    wait_until("both daemons to converge", Duration::from_secs(30), || {
        ada.heads() == bea.heads()
    });
    let agenda = ada.guild_json(&["sessions", "agenda", &unconf]);
    assert_eq!(
        names(&agenda, "/title"),
        [
            "Roadmaps without dates",
            "Help me size discovery",
            "Pricing experiments"
        ]
    );
    let votes: Vec<u64> = agenda
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["votes"].as_u64().unwrap())
        .collect();
    assert_eq!(votes, [3, 1, 1]);
    assert_eq!(bea.guild_json(&["sessions", "agenda", &unconf]), agenda);
    let scheduled = ada.guild_json(&[
        "sessions",
        "schedule",
        &unconf,
        "--top",
        "2",
        "--from",
        &day(10, 11),
        "--minutes",
        "45",
    ]);
    assert!(
        scheduled[1]["slot"]["start"]
            .as_str()
            .unwrap()
            .contains("T11:45:00")
    );
    let (_, err) = bea.guild_fails(&[
        "sessions",
        "schedule",
        &unconf,
        "--top",
        "1",
        "--from",
        &day(10, 11),
    ]);
    assert!(err.contains("only the hosts"), "{err}");

    // Who should lead next: never led first, then who attends; Ada and Bea have led, and
    // Ada leads the current term, so she is never suggested.
    let suggested = ada.guild_json(&["council", "suggest", "--count", "5"]);
    assert_eq!(
        names(&suggested["suggestions"], "/name"),
        ["Cy", "Dee", "Eve", "Bea"]
    );
    assert_eq!(names(&suggested["leading"], "/name"), ["Ada"]);
    let council = ada.guild_json(&["council"]);
    assert_eq!(names(&council["current"], "/leads/0/name"), ["Ada"]);

    // Health: sessions, attendance and trend, who is active, who drifted, untaught wants.
    let health = ada.guild_json(&["health"]);
    assert_eq!(health["members"], 5);
    assert_eq!(attended(&health), [1, 3]);
    assert_eq!(health["attendance_trend"]["direction"], "rising");
    // Ada, Bea and Cy came. The proposal and the votes Ada entered for Dee and Eve are not
    // their own doing: Dee, last seen in May, has drifted; Eve joined today.
    assert_eq!(health["active_members"], 3, "{health}");
    assert_eq!(health["never_came"], serde_json::json!([]));
    assert_eq!(names(&health["drifted"], "/name"), ["Dee"]);
    assert_eq!(health["untaught_wants"], serde_json::json!(["Roadmapping"]));
    assert_eq!(health["new_members"], 3); // Ada, Bea and Eve joined today
    let new = ada.guild_json(&["members", "list", "--new"]);
    let eve = new
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Eve")
        .unwrap();
    assert_eq!(eve["buddy"]["name"], "Ada");
    assert_eq!(eve["sessions_attended"], 0);

    // The calendar export parses with an independent iCalendar parser.
    let ics_path = dir_a.path().join("sessions.ics");
    ada.guild(&[
        "sessions",
        "export",
        "--ics",
        "--output",
        ics_path.to_str().unwrap(),
    ]);
    let file = std::fs::File::open(&ics_path).unwrap();
    let calendars: Vec<_> = ical::IcalParser::new(BufReader::new(file))
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(calendars.len(), 1);
    let events = &calendars[0].events;
    // Three sessions, and the unconference's two scheduled slots as events of their own.
    assert_eq!(events.len(), 5);
    let prop = |e: &ical::parser::ical::component::IcalEvent, name: &str| {
        e.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
    };
    let (slots, sessions): (Vec<_>, Vec<_>) =
        events.iter().partition(|e| prop(e, "RELATED-TO").is_some());
    let summaries: Vec<_> = sessions
        .iter()
        .map(|e| prop(e, "SUMMARY").unwrap())
        .collect();
    assert_eq!(
        summaries,
        ["Spring meetup", "Away day", "Winter unconference"]
    );
    let mut slot_titles: Vec<_> = slots.iter().map(|e| prop(e, "SUMMARY").unwrap()).collect();
    slot_titles.sort();
    assert_eq!(
        slot_titles,
        ["Help me size discovery", "Roadmaps without dates"]
    );
    for slot in &slots {
        assert_eq!(prop(slot, "RELATED-TO").unwrap(), format!("{unconf}@guild"));
    }
    for e in events {
        assert!(prop(e, "DTSTART").unwrap().ends_with('Z'));
        assert!(prop(e, "UID").unwrap().ends_with("@guild"));
    }
}

#[test]
fn bad_session_input_gets_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    let unconf = id_of(&ada.guild_json(&[
        "sessions",
        "add",
        "Unconference",
        "--kind",
        "unconference",
        "--start",
        &day(5, 10),
        "--end",
        &day(5, 12),
    ]));
    ada.guild(&["sessions", "propose", &unconf, "A talk"]);
    let before = ada.heads();

    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "Backwards",
        "--kind",
        "meetup",
        "--start",
        &day(5, 12),
        "--end",
        &day(5, 10),
    ]);
    assert!(err.contains("not after the start"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "  ",
        "--kind",
        "meetup",
        "--start",
        &day(5, 10),
        "--end",
        &day(5, 12),
    ]);
    assert!(err.contains("title must not be empty"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "Party",
        "--kind",
        "rave",
        "--start",
        &day(5, 10),
        "--end",
        &day(5, 12),
    ]);
    assert!(err.contains("not one of"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "sessions",
        "add",
        "Meetup",
        "--kind",
        "meetup",
        "--start",
        "tomorrow",
        "--end",
        &day(5, 12),
    ]);
    assert!(err.contains("not a time"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "show", "No such session"]);
    assert!(err.contains("no session"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "rsvp", &unconf, "perhaps"]);
    assert!(err.contains("not one of"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "vote", &unconf, "A talk", "--member", "Mallory"]);
    assert!(err.contains("only members"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "propose", &unconf, ""]);
    assert!(err.contains("must not be empty"), "{err}");
    let (_, err) = ada.guild_fails(&["sessions", "attend", &unconf]);
    assert!(err.contains("has not started"), "{err}");
    let (_, err) = ada.guild_fails(&[
        "council",
        "add-term",
        "--start",
        &date(10),
        "--end",
        &date(1),
        "--lead",
        "Ada",
    ]);
    assert!(err.contains("before the start"), "{err}");
    let (_, err) = ada.guild_fails(&["knowledge", "add", "Guide", "--url", "not a link"]);
    assert!(err.contains("not a link"), "{err}");
    let (_, err) = ada.guild_fails(&["answer", "no such question", "text"]);
    assert!(err.contains("no question"), "{err}");

    assert_eq!(ada.heads(), before, "a refused request changed data");
}
