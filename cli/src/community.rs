//! `guild council`, `guild health`.

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{CouncilView, MemberRef, NewTermRequest, TermView};
use crdt_model::council::Suggestions;
use crdt_model::health::HealthReport;

use crate::client::Client;
use crate::members::urlencode;
use crate::output::{self, say};
use crate::plural::count;

#[derive(Subcommand)]
pub enum CouncilCmd {
    /// Current and upcoming leads, who has not led yet, who is willing (the default).
    Show,
    /// Add a term to the rota (stewards only; kept in the change log).
    AddTerm {
        /// First day of the term, YYYY-MM-DD.
        #[arg(long)]
        start: String,
        /// Last day of the term, YYYY-MM-DD.
        #[arg(long)]
        end: String,
        /// A lead (member id, prefix or name); repeat for several.
        #[arg(long = "lead", required = true)]
        leads: Vec<String>,
    },
    /// Take a term off the rota (stewards only; kept in the change log).
    RemoveTerm {
        /// The term's id, a unique id prefix, or its start date (YYYY-MM-DD).
        term: String,
    },
    /// Who should lead next, fairest first: never led, then led least and longest ago,
    /// then who attends. Never the current or next leads, never who said "not now".
    Suggest {
        /// How many to suggest (1-50).
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
                    .map(|t| [t.start.clone(), t.end.clone(), names(&t.leads)])
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
            say!(
                "\nNot led yet: {}",
                if view.never_led.is_empty() {
                    "everyone has led".into()
                } else {
                    names(&view.never_led)
                }
            );
            let group = |label: &str, members: &[MemberRef]| {
                if !members.is_empty() {
                    say!("{label} ({}): {}", members.len(), names(members));
                }
            };
            group("Willing to lead", &view.willing);
            group("Not now", &view.not_now);
            group("Not asked yet", &view.not_asked);
            Ok(())
        }
        CouncilCmd::AddTerm { start, end, leads } => {
            let term: TermView =
                client.post("/api/council", &NewTermRequest { start, end, leads })?;
            if json {
                return output::json(&term);
            }
            say!(
                "Added a term {} to {} led by {} ({})",
                term.start,
                term.end,
                names(&term.leads),
                term.id
            );
            Ok(())
        }
        CouncilCmd::RemoveTerm { term } => {
            client.delete(&format!("/api/council/{}", urlencode(&term)))?;
            say!("Removed the term {term} from the rota");
            Ok(())
        }
        CouncilCmd::Suggest { count: how_many } => {
            let s: Suggestions =
                client.get_query("/api/council/suggest", &[("count", &how_many.to_string())])?;
            if json {
                return output::json(&s);
            }
            let rows = s.suggestions.iter().map(|s| {
                [
                    s.name.clone(),
                    s.terms_led.to_string(),
                    s.last_led.clone().unwrap_or_else(|| "never".into()),
                    s.recent_attendance.to_string(),
                    s.willingness.label().to_owned(),
                ]
            });
            let table = output::table(
                &[
                    "name",
                    "terms led",
                    "last led",
                    "sessions (180 days)",
                    "council",
                ],
                rows,
            );
            output::print_table(
                table,
                "Nobody to suggest: everyone is leading, said not now, or was removed.",
            );
            if !s.not_asked.is_empty() {
                say!(
                    "\nNot asked yet ({}): {}",
                    s.not_asked.len(),
                    names(&s.not_asked)
                );
                say!(
                    "Ask them, then record it: guild members update NAME --council willing|not-now"
                );
            }
            if !s.not_now.is_empty() {
                say!("Said not now (not suggested): {}", names(&s.not_now));
            }
            if !s.leading.is_empty() {
                say!("Leading now or next (not suggested): {}", names(&s.leading));
            }
            Ok(())
        }
    }
}

fn names(members: &[MemberRef]) -> String {
    members
        .iter()
        .map(|m| m.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn health(client: &Client, since: Option<String>, json: bool) -> Result<()> {
    let query: Vec<(&str, &str)> = since.iter().map(|s| ("since", s.as_str())).collect();
    let r: HealthReport = client.get_query("/api/health", &query)?;
    if json {
        return output::json(&r);
    }
    say!("Community health on {}\n", r.today);
    say!(
        "Members      {}, {} in the last 90 days",
        count(r.members, "member", "members"),
        count(r.new_members, "new", "new")
    );
    say!(
        "Active       {} of {} ({:.0}%) did something themselves in the last 90 days",
        r.active_members,
        r.members,
        r.active_share * 100.0
    );
    let recent: Vec<String> = r
        .attendance
        .iter()
        .rev()
        .take(6)
        .rev()
        .map(|a| a.attended.to_string())
        .collect();
    if r.attendance.is_empty() {
        say!("Attendance   no sessions yet");
    } else if r.attendance_trend.direction == "unknown" {
        say!(
            "Attendance   {} came to the only session so far: too soon for a trend",
            r.attendance[0].attended
        );
    } else {
        say!(
            "Attendance   {}: {:.1} a session lately, {:.1} before (last {}: {})",
            r.attendance_trend.direction,
            r.attendance_trend.recent_average,
            r.attendance_trend.earlier_average,
            count(recent.len(), "session", "sessions"),
            recent.join(", ")
        );
    }
    let guests: u32 = r.attendance.iter().map(|a| a.guests).sum();
    if guests > 0 {
        say!(
            "Guests       {} from outside the community came too (not counted above)",
            count(guests as usize, "visit", "visits")
        );
    }
    let months: Vec<String> = r
        .sessions_per_month
        .iter()
        .map(|m| format!("{} {}", month_name(&m.month), m.sessions))
        .collect();
    say!("Sessions     {} (sessions a month)", months.join(" · "));
    // With nothing held yet, "0 people host half the sessions" would read as a problem.
    if !r.attendance.is_empty() {
        say!(
            "Organising   {} {} half the sessions",
            count(r.organisers_for_half, "person", "people"),
            if r.organisers_for_half == 1 {
                "hosts"
            } else {
                "host"
            }
        );
    }

    if r.drifted.is_empty() {
        say!("\nDrifted away: nobody");
    } else {
        say!(
            "\nDrifted away: {} came before but not in the last 90 days",
            count(r.drifted.len(), "member", "members")
        );
        let rows = r
            .drifted
            .iter()
            .map(|d| [d.name.clone(), format!("last came {}", d.last_attended)]);
        say!("{}", output::table(&["name", "last came"], rows));
    }
    if !r.never_came.is_empty() {
        say!(
            "\nNever came: {} joined over 90 days ago and never came to a session",
            count(r.never_came.len(), "member", "members")
        );
        let rows = r.never_came.iter().map(|n| {
            [
                n.name.clone(),
                n.joined.clone(),
                if n.active_lately {
                    "active in other ways".into()
                } else {
                    String::new()
                },
            ]
        });
        say!("{}", output::table(&["name", "joined", ""], rows));
    }
    say!();
    crate::skills::print_movement(&r.skills_moved, &r.skills_since, since.is_none());
    if !r.stale_ratings.is_empty() {
        let names: Vec<String> = r.stale_ratings.iter().map(|s| s.name.clone()).collect();
        say!(
            "Re-rate nudge: {} not re-rated their skills in six months: {} (guild skills stale)",
            count(names.len(), "member has", "members have"),
            names.join(", ")
        );
    }
    if !r.untaught_wants.is_empty() {
        say!(
            "Nobody teaches: {} (wanted, with no one at can-teach)",
            r.untaught_wants.join(", ")
        );
    }
    Ok(())
}

/// "2026-06" -> "Jun".
fn month_name(month: &str) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    month
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| NAMES.get(m.wrapping_sub(1)))
        .map_or_else(|| month.to_owned(), |n| (*n).to_owned())
}
