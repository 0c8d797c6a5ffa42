//! `guild skills ...`

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{
    AddSkillRequest, Matrix, RateRequest, StaleReport, StrengthsAndGaps, WhoResponse,
};
use crdt_model::member::Member;
use crdt_model::skills::{Helper, SkillLevel, SkillMovement, SkillSummary};

use crate::client::Client;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Subcommand)]
pub enum SkillsCmd {
    /// The community's skill taxonomy.
    List,
    /// Add a skill to the taxonomy.
    Add {
        /// The skill's name as people should see it.
        name: String,
    },
    /// Rate a skill: 0 none, 1 aware, 2 practising, 3 experienced, 4 can teach.
    Rate {
        /// The skill (case and accents ignored; a unique prefix is enough).
        skill: String,
        /// 0-4 or a label such as "can-teach".
        level: String,
        /// Mark it as a skill you want to grow [default: keep what you said before].
        #[arg(long, conflicts_with = "no_grow")]
        grow: bool,
        /// You no longer want to grow it.
        #[arg(long)]
        no_grow: bool,
        /// Rate for a member who does not run Guild yet (id, id prefix or name). The rating
        /// records that you made it; it does not count as their activity.
        #[arg(long)]
        member: Option<String>,
    },
    /// Who can help with a skill (can-teach first), or who wants to learn it.
    Who {
        /// The skill (case and accents ignored; a unique prefix is enough).
        skill: String,
        /// List who wants to grow it instead, to pair them with those who can teach.
        #[arg(long)]
        learners: bool,
    },
    /// Everyone's ratings, one row per member.
    Matrix {
        /// Comma-separated values for a spreadsheet.
        #[arg(long)]
        csv: bool,
    },
    /// Collective strengths, skills people want to grow but few can teach, and how the
    /// audit moved since the last one.
    Gaps {
        /// The last audit, YYYY-MM-DD: compare with the ratings as they stood at the end of
        /// that day [default: six months ago].
        #[arg(long)]
        since: Option<String>,
    },
    /// Who to nudge to re-rate: ratings untouched for six months, and members with none.
    Stale,
}

pub fn run(client: &Client, cmd: SkillsCmd, json: bool) -> Result<()> {
    match cmd {
        SkillsCmd::List => {
            let skills: Vec<String> = client.get("/api/skills")?;
            if json {
                return output::json(&skills);
            }
            skills.iter().for_each(|s| say!("{s}"));
            Ok(())
        }
        SkillsCmd::Add { name } => {
            let name: String = client.post("/api/skills", &AddSkillRequest { name })?;
            if json {
                return output::json(&name);
            }
            say!("Added skill {name}");
            Ok(())
        }
        SkillsCmd::Rate {
            skill,
            level,
            grow,
            no_grow,
            member,
        } => {
            let level = SkillLevel::parse(&level)?;
            let req = RateRequest {
                skill,
                level: level.into(),
                grow: match (grow, no_grow) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                member,
            };
            let member: Member = client.put("/api/skills/ratings", &req)?;
            if json {
                return output::json(&member);
            }
            let rating = member
                .skills
                .values()
                .max_by(|a, b| a.updated.cmp(&b.updated));
            let skill = rating.map_or(req.skill.as_str(), |r| r.name.as_str());
            let grow = if rating.is_some_and(|r| r.grow) {
                ", wants to grow it"
            } else {
                ""
            };
            say!("{} rated {skill} at {level}{grow}", member.name);
            Ok(())
        }
        SkillsCmd::Who { skill, learners } => {
            let who: WhoResponse = client.get_query("/api/skills/who", &[("skill", &skill)])?;
            if json {
                return output::json(&who);
            }
            if learners {
                print_people(
                    &who.learners,
                    &format!("Nobody wants to grow {} yet.", who.skill),
                );
                if !who.learners.is_empty() {
                    let teachers: Vec<String> = who
                        .helpers
                        .iter()
                        .filter(|h| h.level >= SkillLevel::Experienced)
                        .map(|h| h.name.clone())
                        .collect();
                    if teachers.is_empty() {
                        say!("Nobody is experienced in {} yet: a gap to fill.", who.skill);
                    } else {
                        say!("Pair them with: {}", teachers.join(", "));
                    }
                }
            } else {
                print_people(
                    &who.helpers,
                    &format!(
                        "Nobody has rated themselves practising or better in {} yet.",
                        who.skill
                    ),
                );
            }
            Ok(())
        }
        SkillsCmd::Matrix { csv } => {
            let matrix: Matrix = client.get("/api/skills/matrix")?;
            if json {
                return output::json(&matrix);
            }
            if csv {
                return print_csv(&matrix);
            }
            let mut header = vec!["member"];
            header.extend(matrix.skills.iter().map(String::as_str));
            let rows = matrix.rows.iter().map(|r| {
                std::iter::once(r.name.clone()).chain(r.levels.iter().zip(&r.grow).map(
                    |(level, grow)| {
                        let level = level.map_or("-".into(), |l| l.to_string());
                        if *grow { format!("{level}+") } else { level }
                    },
                ))
            });
            output::print_table(output::table(&header, rows), "No members yet.");
            say!("(levels 0-4; + wants to grow)");
            Ok(())
        }
        SkillsCmd::Gaps { since } => {
            let query: Vec<(&str, &str)> = since.iter().map(|s| ("since", s.as_str())).collect();
            let report: StrengthsAndGaps = client.get_query("/api/skills/gaps", &query)?;
            if json {
                return output::json(&report);
            }
            say!("Strengths (experienced or can teach):");
            print_summaries(&report.strengths, "  none yet");
            say!("\nGaps (want to grow > can teach):");
            print_summaries(
                &report.gaps,
                "  none: every skill people want to grow has teachers",
            );
            say!();
            print_movement(&report.movement, &report.since, report.since_is_default);
            Ok(())
        }
        SkillsCmd::Stale => {
            let report: StaleReport = client.get("/api/skills/stale")?;
            if json {
                return output::json(&report);
            }
            if report.stale.is_empty() {
                say!("Nobody's ratings are older than six months.");
            } else {
                say!(
                    "{} not re-rated since {} (six months): worth a nudge",
                    count(report.stale.len(), "member has", "members have"),
                    report.older_than
                );
                let rows = report.stale.iter().map(|s| {
                    [
                        s.name.clone(),
                        s.last_rated.get(..10).unwrap_or(&s.last_rated).to_owned(),
                        count(s.skills_rated, "skill", "skills"),
                    ]
                });
                say!("{}", output::table(&["name", "last rated", "rated"], rows));
            }
            if !report.never_rated.is_empty() {
                let names: Vec<String> =
                    report.never_rated.iter().map(|m| m.name.clone()).collect();
                say!(
                    "Not rated anything yet ({}): {}",
                    report.never_rated.len(),
                    names.join(", ")
                );
            }
            Ok(())
        }
    }
}

fn print_people(people: &[Helper], empty: &str) {
    let rows = people.iter().map(|h| {
        [
            h.name.clone(),
            h.level.to_string(),
            if h.wants_to_grow {
                "yes".into()
            } else {
                String::new()
            },
            h.team.clone(),
            h.member_id.clone(),
        ]
    });
    let table = output::table(&["name", "level", "wants to grow", "team", "id"], rows);
    output::print_table(table, empty);
}

fn print_summaries(summaries: &[SkillSummary], empty: &str) {
    let rows = summaries.iter().map(|s| {
        [
            s.skill.clone(),
            s.experienced.to_string(),
            s.teachers.to_string(),
            s.want_to_grow.to_string(),
        ]
    });
    let table = output::table(&["skill", "experienced", "can teach", "want to grow"], rows);
    output::print_table(table, empty);
}

/// How the audit moved: "Since 2026-06-01 (six months ago; --since to change):".
pub fn print_movement(movement: &[SkillMovement], since: &str, since_is_default: bool) {
    let when = if since_is_default {
        format!("{since} (six months ago; --since DATE compares with another audit)")
    } else {
        since.to_owned()
    };
    if movement.is_empty() {
        say!("No change in the audit since {when}.");
        return;
    }
    say!("Since {when}:");
    let change = |then: u32, now: u32| {
        if then == now {
            now.to_string()
        } else {
            format!("{then} -> {now}")
        }
    };
    let rows = movement.iter().map(|m| {
        [
            m.skill.clone(),
            change(m.experienced_then, m.experienced_now),
            change(m.teachers_then, m.teachers_now),
            change(m.want_to_grow_then, m.want_to_grow_now),
        ]
    });
    say!(
        "{}",
        output::table(&["skill", "experienced", "can teach", "want to grow"], rows)
    );
}

fn print_csv(matrix: &Matrix) -> Result<()> {
    output::csv(matrix.csv_records())
}
