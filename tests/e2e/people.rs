//! The people side of running a community, through the CLI against real daemons: honest
//! health for a waning community, fair council suggestions, who may do what (and the change
//! log that shows it), finding people and skills as people type them, and relationships.

use std::time::Duration;

use guild_tests::{Daemon, Options, wait_until};
use serde_json::Value;

use crate::community::{attended, date, day};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A daemon whose clock runs `days` behind (negative) or ahead, on `listen`.
fn daemon_at(dir: &std::path::Path, days: i64, listen: &str) -> Daemon {
    Daemon::start_with(
        dir,
        Options {
            listen: listen.to_owned(),
            env: vec![(
                "GUILD_CLOCK_OFFSET_SECS".into(),
                (days * 86_400).to_string(),
            )],
            ..Options::default()
        },
    )
}

// Issue 10, wrong answer 1, end to end: monthly sessions whose attendance fell from 10 to 2,
// and an organiser who keeps everyone's skills audit up to date with `--member`. Health used
// to count every recently rated member as active ("13 active lately (100%)") and listed
// nobody as drifted.
#[test]
fn a_waning_community_is_reported_honestly() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listen = Options::default().listen;
    let others = [
        "Cal", "Dev", "Eli", "Fin", "Gia", "Hal", "Ivo", "Jas", "Kai", "Lou", "Mo",
    ];

    // Two hundred days ago (the daemon's clock set back): Ada starts the community, adds
    // eleven colleagues and runs the first skills audit, entering most ratings herself.
    let audit = [
        ("Ada", "Discovery", "3", false),
        ("Cal", "Discovery", "2", true),
        ("Dev", "Discovery", "4", false),
        ("Eli", "Discovery", "1", true),
        ("Fin", "Discovery", "3", false),
        ("Gia", "Discovery", "2", false),
        ("Hal", "Discovery", "1", false),
        ("Ivo", "Discovery", "0", true),
        ("Jas", "Roadmapping", "1", true),
        ("Kai", "Discovery", "1", false),
        ("Lou", "Discovery", "1", false),
        ("Mo", "Discovery", "0", true),
    ];
    {
        let ada = daemon_at(dir_a.path(), -200, &listen);
        ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
        for name in others {
            ada.guild(&["members", "add", name, "--joined", &date(-400)]);
        }
        for (who, skill, level, grow) in audit {
            let mut args = vec!["skills", "rate", skill, level];
            if who != "Ada" {
                args.extend(["--member", who]);
            }
            if grow {
                args.push("--grow");
            }
            ada.guild(&args);
        }
    }

    // Today: monthly sessions over the last five months, attendance falling 10, 8, 6, 4, 2.
    let ada = daemon_at(dir_a.path(), 0, &listen);
    let attendance: [(i64, &[&str]); 5] = [
        (
            -150,
            &[
                "Ada", "Cal", "Dev", "Eli", "Fin", "Gia", "Hal", "Ivo", "Jas", "Kai",
            ],
        ),
        (
            -120,
            &["Ada", "Cal", "Dev", "Eli", "Fin", "Gia", "Hal", "Ivo"],
        ),
        (-75, &["Ada", "Cal", "Dev", "Eli", "Fin", "Gia"]),
        (-45, &["Ada", "Cal", "Dev", "Eli"]),
        (-15, &["Ada", "Cal"]),
    ];
    for (i, (days, came)) in attendance.iter().enumerate() {
        let session = ada.guild_json(&[
            "sessions",
            "add",
            &format!("Monthly meetup {}", i + 1),
            "--kind",
            "meetup",
            "--start",
            &day(*days, 18),
            "--end",
            &day(*days, 20),
        ]);
        let mut args = vec!["sessions", "attend", session["id"].as_str().unwrap()];
        args.extend(came.iter());
        ada.guild(&args);
    }
    // The organiser re-rates some of them this week, drifted ones included: none of this is
    // their own activity. Cal grew into teaching discovery; re-rated without --grow, his
    // wish to grow it stays; Ivo no longer wants to.
    ada.guild(&["skills", "rate", "disc", "4", "--member", "Cal"]);
    ada.guild(&["skills", "rate", "Discovery", "3", "--member", "Hal"]);
    ada.guild(&[
        "skills",
        "rate",
        "discovery",
        "2",
        "--member",
        "Ivo",
        "--no-grow",
    ]);
    ada.guild(&["skills", "rate", "Roadmapping", "2", "--member", "Lou"]);
    ada.guild(&["skills", "rate", "Roadmapping", "2"]);
    let cal = ada.guild_json(&["members", "show", "Cal"]);
    assert_eq!(cal["skills"]["discovery"]["level"], 4);
    assert_eq!(cal["skills"]["discovery"]["grow"], true, "{cal}");
    let ada_id = ada.guild_json(&["status"])["me"]["id"].clone();
    assert_eq!(cal["skills"]["discovery"]["by"], ada_id);
    assert_eq!(cal["rating_history"].as_object().unwrap().len(), 2);
    let cal_text = ada.guild(&["members", "show", "Cal"]);
    let moved = format!(
        "Discovery: {} practising -> {} can teach",
        date(-200),
        date(0)
    );
    assert!(
        cal_text.contains(&moved),
        "{moved:?} missing from:\n{cal_text}"
    );
    assert!(cal_text.contains("RATED FOR THEM BY"), "{cal_text}");

    // Bea joins today and rates her own skills on her own laptop: that is activity.
    let bea = Daemon::start(dir_b.path());
    let ticket = ada.guild(&["invite"]);
    bea.guild(&["join", ticket.trim(), "--name", "Bea"]);
    wait_until(
        "the community to reach Bea",
        Duration::from_secs(30),
        || bea.guild_output(&["skills", "list"]).status.success(),
    );
    bea.guild(&["skills", "rate", "Discovery", "1", "--grow"]);
    wait_until("Bea's rating to reach Ada", Duration::from_secs(30), || {
        // Until her member document arrives, Ada's daemon does not know her at all.
        let out = ada.guild_output(&["members", "show", "Bea", "--json"]);
        out.status.success()
            && serde_json::from_slice::<Value>(&out.stdout)
                .is_ok_and(|bea| bea["skills"]["discovery"]["level"] == 1)
    });

    // Ada casts a vote for Hal at next month's unconference: it counts on the agenda, but it
    // is not Hal's own doing (it once made him look active), so he stays drifted below.
    let camp = ada.guild_json(&[
        "sessions",
        "add",
        "Winter unconference",
        "--kind",
        "unconference",
        "--start",
        &day(20, 10),
        "--end",
        &day(20, 16),
    ]);
    let camp = camp["id"].as_str().unwrap();
    ada.guild(&["sessions", "propose", camp, "Roadmaps at scale"]);
    ada.guild(&["sessions", "vote", camp, "Roadmaps", "--member", "Hal"]);
    let agenda = ada.guild_json(&["sessions", "agenda", camp]);
    assert_eq!(agenda[0]["votes"], 1, "{agenda}");

    let health = ada.guild_json(&["health"]);
    assert_eq!(health["members"], 13);
    assert_eq!(attended(&health), [10, 8, 6, 4, 2]);
    assert_eq!(health["attendance_trend"]["direction"], "falling");
    // Ada, Cal, Dev, Eli, Fin and Gia came lately; Bea rated her own skills.
    assert_eq!(health["active_members"], 7, "{health}");
    let share = health["active_share"].as_f64().unwrap();
    assert!((share - 7.0 / 13.0).abs() < 1e-9, "{share}");
    assert_eq!(names(&health["drifted"]), ["Hal", "Ivo", "Jas", "Kai"]);
    assert_eq!(health["drifted"][0]["last_attended"], date(-120).as_str());
    assert_eq!(health["drifted"][3]["last_attended"], date(-150).as_str());
    assert_eq!(names(&health["never_came"]), ["Lou", "Mo"]);
    assert_eq!(health["new_members"], 1);
    // The audit moved since six months ago: Cal and Hal became experienced, Cal can teach.
    let moved = &health["skills_moved"][0];
    assert_eq!(moved["skill"], "Discovery", "{health}");
    assert_eq!(
        (&moved["experienced_then"], &moved["experienced_now"]),
        (&Value::from(3), &Value::from(5))
    );
    assert_eq!(
        (&moved["teachers_then"], &moved["teachers_now"]),
        (&Value::from(1), &Value::from(2))
    );
    // Those only rated at the audit seven months ago are nudged to re-rate.
    assert_eq!(
        names(&health["stale_ratings"]),
        ["Dev", "Eli", "Fin", "Gia", "Jas", "Kai", "Mo"]
    );

    // The same, readable at a glance.
    let text = ada.guild(&["health"]);
    for expected in [
        "13 members, 1 new",
        "7 of 13 (54%)",
        "falling",
        "10, 8, 6, 4, 2",
        "Drifted away: 4 members",
        "Never came: 2 members",
        "Re-rate nudge: 7 members have",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let stale = ada.guild_json(&["skills", "stale"]);
    assert_eq!(names(&stale["stale"]).len(), 7);
    assert_eq!(stale["never_rated"], Value::Array(vec![]));
    let gaps = ada.guild_json(&["skills", "gaps", "--since", &date(-199)]);
    assert_eq!(gaps["since"], date(-199).as_str());
    assert_eq!(gaps["since_is_default"], false);
    assert_eq!(gaps["movement"][0]["skill"], "Discovery");
    let gaps_text = ada.guild(&["skills", "gaps"]);
    assert!(gaps_text.contains("six months ago"), "{gaps_text}");
}

// Issue 10, wrong answer 2, end to end: suggestions came only from members who had opted in,
// and included the current lead.
#[test]
fn council_suggestions_are_fair_in_a_thirteen_member_community() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    let others = [
        "Bea", "Cal", "Dev", "Eli", "Fin", "Gia", "Hal", "Ivo", "Jas", "Kai", "Lou", "Mo",
    ];
    for name in others {
        ada.guild(&["members", "add", name, "--joined", &date(-300)]);
    }
    // Ada leads now; Cal led before; Mo leads next.
    for (start, end, lead) in [(-30, 60, "Ada"), (-300, -200, "Cal"), (61, 150, "Mo")] {
        ada.guild(&[
            "council",
            "add-term",
            "--start",
            &date(start),
            "--end",
            &date(end),
            "--lead",
            lead,
        ]);
    }
    // Bea, Cal and Dev said they are willing; Eli said not now.
    for willing in ["Bea", "Cal", "Dev"] {
        ada.guild(&["members", "update", willing, "--council", "willing"]);
    }
    ada.guild(&["members", "update", "Eli", "--council", "not now"]);
    // Jas and Kai came to last month's meetup.
    let meetup = ada.guild_json(&[
        "sessions",
        "add",
        "Meetup",
        "--kind",
        "meetup",
        "--start",
        &day(-20, 18),
        "--end",
        &day(-20, 20),
    ]);
    ada.guild(&[
        "sessions",
        "attend",
        meetup["id"].as_str().unwrap(),
        "Jas",
        "Kai",
    ]);

    let s = ada.guild_json(&["council", "suggest", "--count", "20"]);
    assert_eq!(
        names(&s["suggestions"]),
        [
            // Never led: who attends first, then who said yes, then who nobody asked yet.
            "Jas", "Kai", "Bea", "Dev", "Fin", "Gia", "Hal", "Ivo", "Lou",
            // Led before.
            "Cal",
        ]
    );
    assert_eq!(
        names(&s["not_asked"]),
        ["Fin", "Gia", "Hal", "Ivo", "Jas", "Kai", "Lou"]
    );
    assert_eq!(names(&s["not_now"]), ["Eli"]);
    assert_eq!(names(&s["leading"]), ["Ada", "Mo"]);
    assert_eq!(s["suggestions"][0]["willingness"], "not-asked");
    assert_eq!(s["suggestions"][2]["willingness"], "willing");
    let text = ada.guild(&["council", "suggest", "--count", "3"]);
    assert!(
        text.contains("Not asked yet (7): Fin, Gia, Hal, Ivo, Jas, Kai, Lou"),
        "{text}"
    );
    assert!(text.contains("Said not now (not suggested): Eli"), "{text}");
    let council = ada.guild_json(&["council"]);
    assert_eq!(names(&council["willing"]), ["Bea", "Cal", "Dev"]);
    assert_eq!(names(&council["not_now"]), ["Eli"]);

    // An unknown willingness is refused with the values that work, and changes nothing.
    let before = ada.heads();
    let (code, err) = ada.guild_fails(&["members", "update", "Fin", "--council", "maybe"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("\"maybe\" is not one of willing, not-now, not-asked"),
        "{err}"
    );
    let (_, err) = ada.guild_fails(&["council", "suggest", "--count", "0"]);
    assert!(err.contains("between 1 and 50"), "{err}");
    assert_eq!(ada.heads(), before, "a refused request changed data");
    // The old yes/no flag still works.
    ada.guild(&["members", "update", "Lou", "--council-opt-in", "true"]);
    assert_eq!(
        ada.guild_json(&["members", "show", "Lou"])["council"],
        "willing"
    );
}

#[test]
fn who_may_do_what_is_enforced_by_the_daemon_and_logged() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ada = Daemon::start(dir_a.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    ada.guild(&["members", "add", "Cal"]);
    ada.guild(&["members", "add", "Dev"]);
    let bea = Daemon::start(dir_b.path());
    let ticket = ada.guild(&["invite"]);
    bea.guild(&["join", ticket.trim(), "--name", "Bea"]);
    let converged = |what: &str| {
        wait_until(what, Duration::from_secs(30), || ada.heads() == bea.heads());
    };
    converged("Bea to have the community");

    // Bea is a member, not a steward: her own daemon refuses, and nothing changes.
    let before = bea.heads();
    let (code, err) = bea.guild_fails(&["members", "remove", "Cal"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("only stewards (Ada) can remove members"),
        "{err}"
    );
    let (_, err) = bea.guild_fails(&["members", "update", "Cal", "--team", "Growth"]);
    assert!(
        err.contains("only Cal or a steward (Ada) can change Cal's profile"),
        "{err}"
    );
    let (_, err) = bea.guild_fails(&["skills", "rate", "Discovery", "3", "--member", "Cal"]);
    assert!(
        err.contains("can rate the skills in Cal's profile"),
        "{err}"
    );
    let (_, err) = bea.guild_fails(&[
        "council",
        "add-term",
        "--start",
        &date(0),
        "--end",
        &date(30),
        "--lead",
        "Bea",
    ]);
    assert!(
        err.contains("only stewards (Ada) can change the council rota"),
        "{err}"
    );
    assert_eq!(bea.heads(), before, "a refused request changed data");
    // Her own profile is hers; Ada, as the steward, may edit anyone's.
    bea.guild(&["members", "update", "Bea", "--team", "Growth"]);
    ada.guild(&["members", "update", "Cal", "--team", "Platform"]);
    converged("the profile edits to sync");
    ada.guild(&["members", "update", "Bea", "--role", "Service designer"]);

    // Ada removes Dev and hands the council to Bea: both are in the change log.
    ada.guild(&["members", "remove", "Dev"]);
    ada.guild(&[
        "council",
        "add-term",
        "--start",
        &date(-1),
        "--end",
        &date(60),
        "--lead",
        "Bea",
    ]);
    converged("the removal and the new term to reach Bea");
    // Stewardship changed hands: now Bea may remove members and Ada may not.
    let (_, err) = ada.guild_fails(&["members", "remove", "Cal"]);
    assert!(
        err.contains("only stewards (Bea) can remove members"),
        "{err}"
    );
    bea.guild(&["members", "remove", "Cal"]);
    converged("Bea's removal to reach Ada");

    let log = ada.guild_json(&["log"]);
    let entries: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["by"]["name"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(entries.len(), 3, "{log}");
    assert_eq!(
        entries[0],
        ("Bea".into(), "member.removed".into(), "removed Cal".into())
    );
    assert_eq!(entries[1].1, "council.term_added");
    assert!(entries[1].2.contains("led by Bea"), "{entries:?}");
    assert_eq!(
        entries[2],
        ("Ada".into(), "member.removed".into(), "removed Dev".into())
    );
    assert_eq!(bea.guild_json(&["log"]), log);
    let text = bea.guild(&["log"]);
    assert!(text.contains("removed Dev"), "{text}");
    assert!(text.contains("3 changes, newest first"), "{text}");
}

#[test]
fn people_and_skills_are_found_as_people_type_them() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    ada.guild(&[
        "members",
        "add",
        "Siobhán Murphy",
        "--team",
        "Équipe Produit",
        "--interest",
        "Découverte",
    ]);
    assert_eq!(
        ada.guild_json(&["members", "show", "siobhan"])["name"],
        "Siobhán Murphy"
    );
    let by_team = ada.guild_json(&["members", "list", "--team", "equipe produit"]);
    assert_eq!(names(&by_team), ["Siobhán Murphy"]);
    let by_interest = ada.guild_json(&["members", "list", "--interest", "DECOUVERTE"]);
    assert_eq!(names(&by_interest), ["Siobhán Murphy"]);

    // A second Siobhan: added, with a warning on stderr and in the answer.
    let out = ada.guild_output(&["members", "add", "Siobhan Murphy"]);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: another member") && stderr.contains("already called"),
        "{stderr}"
    );
    let third = ada.guild_json(&["members", "add", "SIOBHAN MURPHY"]);
    assert_eq!(third["warnings"].as_array().unwrap().len(), 2, "{third}");
    let (_, err) = ada.guild_fails(&["members", "show", "siobhan"]);
    assert!(err.contains("matches 3 members"), "{err}");

    // Skills: a unique prefix works, an ambiguous one lists the candidates, a near miss
    // gets a "did you mean".
    let before = ada.heads();
    let (_, err) = ada.guild_fails(&["skills", "rate", "Discovry", "3"]);
    assert!(err.contains("did you mean Discovery?"), "{err}");
    let (_, err) = ada.guild_fails(&["skills", "rate", "user", "3"]);
    assert!(err.contains("User focus, User research"), "{err}");
    let (_, err) = ada.guild_fails(&["skills", "who", "juggling"]);
    assert!(err.contains("guild skills add"), "{err}");
    let (_, err) = ada.guild_fails(&["skills", "gaps", "--since", "last spring"]);
    assert!(err.contains("not a date like 2026-11-25"), "{err}");
    let (_, err) = ada.guild_fails(&["skills", "gaps", "--since", &date(3)]);
    assert!(err.contains("in the future"), "{err}");
    let (_, err) = ada.guild_fails(&["health", "--since", "2026-02-30"]);
    assert!(err.contains("not a date"), "{err}");
    assert_eq!(ada.heads(), before, "a refused request changed data");

    // Re-rating without --grow keeps the wish to grow; --no-grow clears it.
    ada.guild(&["skills", "rate", "user res", "1", "--grow"]);
    ada.guild(&["skills", "rate", "USER RESEARCH", "2"]);
    let me = ada.guild_json(&["members", "show", "Ada"]);
    assert_eq!(me["skills"]["user research"]["grow"], true, "{me}");
    ada.guild(&["skills", "rate", "user research", "2", "--no-grow"]);
    let me = ada.guild_json(&["members", "show", "Ada"]);
    assert_eq!(me["skills"]["user research"]["grow"], false, "{me}");

    // Teachers and learners, to pair them.
    let siobhan = third["id"].as_str().unwrap();
    ada.guild(&["skills", "rate", "disc", "4"]);
    ada.guild(&["skills", "rate", "disc", "1", "--grow", "--member", siobhan]);
    let who = ada.guild_json(&["skills", "who", "Disc", "--learners"]);
    assert_eq!(who["skill"], "Discovery");
    assert_eq!(names(&who["learners"]), ["SIOBHAN MURPHY"]);
    assert_eq!(names(&who["helpers"]), ["Ada"]);
    let text = ada.guild(&["skills", "who", "disc", "--learners"]);
    assert!(text.contains("Pair them with: Ada"), "{text}");
    let listed = ada.guild(&["members", "list"]);
    assert!(listed.contains("4 members"), "{listed}");
}

#[test]
fn relationships_know_what_people_want_and_who_matters_most() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    ada.guild(&[
        "relationships",
        "add",
        "Sam Sales",
        "--influence",
        "high",
        "--wants",
        "fewer escalations from big customers",
        "--goals",
        "hit the renewal target",
    ]);
    ada.guild(&["relationships", "add", "Lee Legal", "--influence", "low"]);
    ada.guild(&[
        "relationships",
        "add",
        "Zoë Support",
        "--influence",
        "medium",
    ]);
    ada.guild(&[
        "relationships",
        "log",
        "zoe",
        "--kind",
        "drinks",
        "--date",
        &date(-50),
    ]);
    ada.guild(&[
        "relationships",
        "log",
        "lee",
        "--kind",
        "walk",
        "--date",
        &date(-60),
    ]);
    ada.guild(&[
        "relationships",
        "log",
        "sam",
        "--kind",
        "coffee",
        "--date",
        &date(-40),
    ]);
    let sam = ada.guild_json(&["relationships", "show", "sam"]);
    assert_eq!(sam["standing"]["goals"], "hit the renewal target");
    let text = ada.guild(&["relationships", "show", "sam"]);
    assert!(
        text.contains("Wants: fewer escalations from big customers"),
        "{text}"
    );
    assert_eq!(
        names(&ada.guild_json(&["relationships", "due"])),
        ["Lee Legal", "Zoë Support", "Sam Sales"]
    );
    assert_eq!(
        names(&ada.guild_json(&["relationships", "due", "--by", "influence"])),
        ["Sam Sales", "Zoë Support", "Lee Legal"]
    );
    let (_, err) = ada.guild_fails(&["relationships", "due", "--by", "fame"]);
    assert!(err.contains("not one of neglect, influence"), "{err}");
}
