//! `guild council`, `guild health`.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{CouncilView, NewTermRequest, TermView};
use crdt_model::council::Suggestion;
use crdt_model::health::HealthReport;

use crate::client::Client;
use crate::output::{self, say};

#[derive(Subcommand)]
pub enum CouncilCmd {
    /// Current and upcoming leads (the default).
    Show,
    /// Add a term to the rota.
    AddTerm {
        /// YYYY-MM-DD
        #[arg(long)]
        start: String,
        /// YYYY-MM-DD
        #[arg(long)]
        end: String,
        /// A lead (id, prefix or name); repeat for several.
        #[arg(long = "lead", required = true)]
        leads: Vec<String>,
    },
    /// Who should lead next: those who led least and longest ago, who attend, who opted in.
    Suggest {
        #[arg(long, default_value_t = 2)]
        count: usize,
    },
}

pub fn council(client: &Client, cmd: Option<CouncilCmd>, json: bool) -> Result<()> {
    match cmd.unwrap_or(CouncilCmd::Show) {
        CouncilCmd::Show => {
            let view: CouncilView = client.get("/api/council")?;
            if json {
                return output::json(&view);
            }
            let rows = |terms: &[TermView]| -> Vec<[String; 3]> {
                terms
                    .iter()
                    .map(|t| {
                        [
                            t.start.clone(),
                            t.end.clone(),
                            t.leads
                                .iter()
                                .map(|l| l.name.clone())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ]
                    })
                    .collect()
            };
            say!("Current:");
            output::print_table(
                output::table(&["from", "to", "leads"], rows(&view.current)),
                "  nobody: add a term with guild council add-term",
            );
            say!("\nUpcoming:");
            output::print_table(
                output::table(&["from", "to", "leads"], rows(&view.upcoming)),
                "  none planned",
            );
            let never: Vec<_> = view.never_led.iter().map(|m| m.name.clone()).collect();
            say!(
                "\nNot led yet: {}",
                if never.is_empty() {
                    "everyone has led".into()
                } else {
                    never.join(", ")
                }
            );
            Ok(())
        }
        CouncilCmd::AddTerm { start, end, leads } => {
            let term: TermView =
                client.post("/api/council", &NewTermRequest { start, end, leads })?;
            if json {
                return output::json(&term);
            }
            say!("Added term {} to {}", term.start, term.end);
            Ok(())
        }
        CouncilCmd::Suggest { count } => {
            let suggestions: Vec<Suggestion> =
                client.get_query("/api/council/suggest", &[("count", &count.to_string())])?;
            if json {
                return output::json(&suggestions);
            }
            let rows = suggestions.iter().map(|s| {
                [
                    s.name.clone(),
                    s.terms_led.to_string(),
                    s.last_led.clone().unwrap_or_else(|| "never".into()),
                    s.recent_attendance.to_string(),
                    if s.opted_in {
                        "yes".into()
                    } else {
                        String::new()
                    },
                ]
            });
            let table = output::table(
                &[
                    "name",
                    "terms led",
                    "last led",
                    "sessions (180 days)",
                    "opted in",
                ],
                rows,
            );
            output::print_table(table, "No members to suggest.");
            Ok(())
        }
    }
}

pub fn health(client: &Client, json: bool) -> Result<()> {
    let r: HealthReport = client.get("/api/health")?;
    if json {
        return output::json(&r);
    }
    say!("Community health on {}", r.today);
    say!(
        "members        {} ({} new in 90 days), {} active lately ({:.0}%)",
        r.members,
        r.new_members,
        r.active_members,
        r.active_share * 100.0
    );
    say!(
        "attendance     {} (recent average {:.1}, before {:.1})",
        r.attendance_trend.direction,
        r.attendance_trend.recent_average,
        r.attendance_trend.earlier_average
    );
    say!(
        "organising     {} people host half the sessions",
        r.organisers_for_half
    );
    let months: Vec<String> = r
        .sessions_per_month
        .iter()
        .map(|m| format!("{} {}", &m.month[5..], m.sessions))
        .collect();
    say!("sessions/month {}", months.join("  "));
    if !r.drifted.is_empty() {
        let names: Vec<String> = r
            .drifted
            .iter()
            .map(|d| format!("{} (last came {})", d.name, d.last_attended))
            .collect();
        say!("drifted away   {}", names.join(", "));
    }
    if !r.untaught_wants.is_empty() {
        say!("nobody teaches {}", r.untaught_wants.join(", "));
    }
    Ok(())
}
