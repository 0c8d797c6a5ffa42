//! `guild skills ...`

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{AddSkillRequest, Matrix, RateRequest, StrengthsAndGaps, WhoResponse};
use crdt_model::member::Member;
use crdt_model::skills::{SkillLevel, SkillSummary, skill_key};

use crate::client::Client;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum SkillsCmd {
    /// The community's skill taxonomy.
    List,
    /// Add a skill to the taxonomy.
    Add { name: String },
    /// Rate your own level in a skill: 0 none, 1 aware, 2 practising, 3 experienced, 4 can teach.
    Rate {
        skill: String,
        /// 0-4 or a label such as "can-teach".
        level: String,
        /// Mark it as a skill you want to grow.
        #[arg(long)]
        grow: bool,
        /// Rate for a member who does not run Guild yet (id, id prefix or name).
        #[arg(long)]
        member: Option<String>,
    },
    /// Who can help me with a skill? Can-teach first, ties by name.
    Who { skill: String },
    /// Everyone's ratings, one row per member.
    Matrix {
        /// Comma-separated values for a spreadsheet.
        #[arg(long)]
        csv: bool,
    },
    /// Collective strengths, and skills people want to grow but few can teach.
    Gaps,
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
            say!("Added skill {name}");
            Ok(())
        }
        SkillsCmd::Rate {
            skill,
            level,
            grow,
            member,
        } => {
            let level = SkillLevel::parse(&level)?;
            let req = RateRequest {
                skill,
                level: level.into(),
                grow,
                member,
            };
            let member: Member = client.put("/api/skills/ratings", &req)?;
            if json {
                return output::json(&member);
            }
            let skill = member
                .skills
                .get(&skill_key(&req.skill))
                .map_or(req.skill.as_str(), |r| r.name.as_str());
            let grow = if grow { ", wants to grow it" } else { "" };
            say!("{} rated {skill} at {level}{grow}", member.name);
            Ok(())
        }
        SkillsCmd::Who { skill } => {
            let who: WhoResponse = client.get_query("/api/skills/who", &[("skill", &skill)])?;
            if json {
                return output::json(&who);
            }
            let rows = who.helpers.iter().map(|h| {
                [
                    h.name.clone(),
                    h.level.to_string(),
                    h.team.clone(),
                    h.member_id.clone(),
                ]
            });
            let table = output::table(&["name", "level", "team", "id"], rows);
            output::print_table(
                table,
                &format!(
                    "Nobody has rated themselves practising or better in {} yet.",
                    who.skill
                ),
            );
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
        SkillsCmd::Gaps => {
            let report: StrengthsAndGaps = client.get("/api/skills/gaps")?;
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
            Ok(())
        }
    }
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

fn print_csv(matrix: &Matrix) -> Result<()> {
    let mut header = vec!["member_id".to_owned(), "name".into(), "team".into()];
    for skill in &matrix.skills {
        header.push(skill.clone());
        header.push(format!("{skill} (grow)"));
    }
    let rows = matrix.rows.iter().map(|row| {
        let mut record = vec![row.member_id.clone(), row.name.clone(), row.team.clone()];
        for (level, grow) in row.levels.iter().zip(&row.grow) {
            record.push(level.map(|l| l.to_string()).unwrap_or_default());
            record.push(if *grow { "yes".into() } else { String::new() });
        }
        record
    });
    output::csv(std::iter::once(header).chain(rows))
}
