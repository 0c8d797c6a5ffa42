//! Community health: sessions per month and attendance as charts, the trend, drifted and
//! new members, organiser load, and skills wanted that nobody teaches. The same report as
//! `guild health` (`crdt_model::health::report`).

use axum::extract::State;
use crdt_model::api::NewStarter;
use crdt_model::health::HealthReport;
use maud::html;

use crate::api::error::{ApiError, ApiQuery};
use crate::api::health as api;
use crate::api::state::AppState;
use crate::dashboard::Dashboard;
use crate::dashboard::charts::{self, Series};
use crate::dashboard::layout::{Ctx, Nav, Page, PageResult, day, member_link, txt, urlencode};

async fn gather(state: &AppState) -> Result<(HealthReport, Vec<NewStarter>), ApiError> {
    Ok((
        api::report(State(state.clone()), ApiQuery(Default::default()))
            .await?
            .0,
        api::new_starters(State(state.clone())).await?.0,
    ))
}

pub(crate) async fn page(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let (r, new) = gather(&dash.app).await?;
    let months: Vec<String> = r
        .sessions_per_month
        .iter()
        .map(|m| m.month.clone())
        .collect();
    let per_session: Vec<String> = r.attendance.iter().map(|a| a.title.clone()).collect();
    let t = &r.attendance_trend;
    let live = html! {
        div.cards {
            div.card { span.big { (r.members) } "members" }
            div.card { span.big { (r.active_members) } "active in the last 90 days ("
                (format!("{:.0}%", r.active_share * 100.0)) ")" }
            div.card { span.big { (r.new_members) } "joined in the last 90 days" }
            div.card { span.big { (r.organisers_for_half) }
                (if r.organisers_for_half == 1 { "person hosts" } else { "people host" }) " half of all sessions" }
        }
        h2 { "Attendance trend: " (t.direction) }
        p.muted {
            @if t.direction == "unknown" {
                "Too few past sessions to tell yet."
            } @else {
                "Recent sessions averaged " (format!("{:.1}", t.recent_average))
                " people, earlier ones " (format!("{:.1}", t.earlier_average)) "."
            }
        }
        div.grid {
            section.panel {
                h2 { "Sessions per month" }
                (charts::bars("sessions-per-month", "Sessions per month, last 12 months", &months, &[
                    Series { name: "sessions", values: r.sessions_per_month.iter().map(|m| f64::from(m.sessions)).collect() },
                    Series { name: "attendance", values: r.sessions_per_month.iter().map(|m| f64::from(m.attendance)).collect() },
                ]))
                h2 { "Attendance per session" }
                @if r.attendance.is_empty() {
                    p.muted { "No past sessions yet." }
                } @else {
                    (charts::lines("attendance", "Attendance per past session", &per_session, &[
                        Series { name: "came", values: r.attendance.iter().map(|a| f64::from(a.attended)).collect() },
                        Series { name: "said going", values: r.attendance.iter().map(|a| f64::from(a.going)).collect() },
                    ]))
                }
            }
            div {
                section.panel {
                    h2 { "Drifted away" }
                    p.hint { "Came before the last 90 days, not active since." }
                    @if r.drifted.is_empty() { p.muted { "Nobody." } }
                    ul.plain {
                        @for d in &r.drifted {
                            li { (member_link(&d.member_id, &d.name)) span.muted { " · last came " (day(&d.last_attended)) } }
                        }
                    }
                }
                section.panel {
                    h2 { "New members" }
                    @if new.is_empty() { p.muted { "Nobody joined in the last 90 days." } }
                    ul.plain {
                        @for n in &new {
                            li {
                                (member_link(&n.member_id, &n.name)) span.muted { " · joined " (day(&n.joined)) }
                                br;
                                @match &n.buddy {
                                    Some(b) => { "buddy " (member_link(&b.id, &b.name)) }
                                    None => span.pill-bad { "no buddy yet" },
                                }
                                " · " (n.sessions_attended) " sessions"
                            }
                        }
                    }
                }
                section.panel {
                    h2 { "Wanted, and nobody teaches" }
                    @if r.untaught_wants.is_empty() { p.muted { "Every skill people want to grow has a teacher." } }
                    ul.plain {
                        @for skill in &r.untaught_wants {
                            li { a href={ "/ui/skills/who?skill=" (urlencode(skill)) } { (txt(skill)) } }
                        }
                    }
                }
            }
        }
        p.muted { "As of " (r.today) }
    };
    Ok(ctx.render(Page::new("Health", Nav::Health, live)))
}
