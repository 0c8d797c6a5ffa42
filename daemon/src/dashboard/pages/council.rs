//! Rolling leadership: the council rota as a timeline, who has never led, and fair
//! suggestions for the next term (`crdt_model::council::suggest`, as `guild council
//! suggest`).

use axum::extract::State;
use axum::response::Response;
use crdt_model::api::{CouncilView, NewTermRequest, TermView};
use crdt_model::council::{self, Suggestions, Term};
use crdt_model::member::Member;
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::council as api;
use crate::api::error::{ApiError, ApiJson};
use crate::api::state::{AppState, clock};
use crate::dashboard::Dashboard;
use crate::dashboard::charts::{self, Span};
use crate::dashboard::layout::{Ctx, Nav, Page, PageResult, member_link, txt};

/// How many names the page suggests for the next term.
const SUGGESTIONS: usize = 3;

struct Council {
    rota: CouncilView,
    suggestions: Suggestions,
    members: Vec<Member>,
}

async fn gather(state: &AppState) -> Result<Council, ApiError> {
    let rota = api::show(State(state.clone())).await?.0;
    let community = state.community().await?;
    let members = state.members(false).await?;
    let sessions = state.sessions().await?;
    let terms: Vec<Term> = community.council.values().cloned().collect();
    let suggestions = council::suggest(&terms, &members, &sessions, clock().date(), SUGGESTIONS);
    Ok(Council {
        rota,
        suggestions,
        members,
    })
}

fn spans(rota: &CouncilView) -> Vec<Span> {
    let group = |terms: &[TermView], class: &'static str| -> Vec<Span> {
        terms
            .iter()
            .filter_map(|t| {
                Some(Span {
                    label: names(t),
                    start: crdt_model::when::date_of(&t.start)?,
                    end: crdt_model::when::date_of(&t.end)?,
                    class,
                })
            })
            .collect()
    };
    let mut all = group(&rota.past, "past");
    all.extend(group(&rota.current, "current"));
    all.extend(group(&rota.upcoming, "upcoming"));
    all
}

fn names(term: &TermView) -> String {
    term.leads
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn page(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let c = gather(&dash.app).await?;
    let spans = spans(&c.rota);
    let live = html! {
        @if spans.is_empty() {
            p.muted { "No terms yet: add the first below." }
        } @else {
            (charts::timeline("rota", "The council rota: past, current and upcoming terms", &spans, clock().date()))
        }
        div.grid {
            div {
                (terms("Current", &c.rota.current))
                (terms("Upcoming", &c.rota.upcoming))
                (terms("Past", &c.rota.past))
            }
            div {
                section.panel {
                    h2 { "Suggested for the next term" }
                    p.hint { "Those who led least and longest ago, who come to sessions, and who said they are willing." }
                    @if c.suggestions.suggestions.is_empty() { p.muted { "Nobody to suggest yet." } }
                    ol.plain {
                        @for s in &c.suggestions.suggestions {
                            li {
                                (member_link(&s.member_id, &s.name))
                                span.muted {
                                    " · led " (s.terms_led) (if s.terms_led == 1 { " term" } else { " terms" })
                                    @if let Some(last) = &s.last_led { ", last " (last) }
                                    " · came to " (s.recent_attendance) " recent sessions"
                                    " · " (s.willingness.label())
                                }
                            }
                        }
                    }
                }
                @if !c.suggestions.not_asked.is_empty() {
                    section.panel {
                        h2 { "Not asked yet" }
                        p.hint { "Ask them whether they would take a turn (on their profile page)." }
                        p { @for (i, m) in c.suggestions.not_asked.iter().enumerate() { @if i > 0 { ", " } (member_link(&m.id, &m.name)) } }
                    }
                }
                section.panel {
                    h2 { "Never led" }
                    @if c.rota.never_led.is_empty() { p.muted { "Everyone has led." } }
                    p { @for (i, m) in c.rota.never_led.iter().enumerate() { @if i > 0 { ", " } (member_link(&m.id, &m.name)) } }
                }
            }
        }
    };
    let tools = html! {
        section.panel {
            h2 { "Add a term" }
            form.stack method="post" action="/ui/council" {
                (ctx.csrf())
                label { "Starts" input type="date" name="start" required; }
                label { "Ends" input type="date" name="end" required; }
                fieldset {
                    legend { "Leads" }
                    @for m in &c.members {
                        label.check { input type="checkbox" name="leads" value=(m.id); (txt(&m.name)) }
                    }
                }
                div { button type="submit" { "Add term" } }
            }
        }
    };
    Ok(ctx.render(Page::new("Council", Nav::Council, live).tools(tools)))
}

fn terms(heading: &str, terms: &[TermView]) -> Markup {
    html! {
        @if !terms.is_empty() {
            h2 { (heading) }
            ul.plain {
                @for t in terms {
                    li {
                        (t.start) " to " (t.end) ": "
                        @for (i, l) in t.leads.iter().enumerate() { @if i > 0 { ", " } (member_link(&l.id, &l.name)) }
                    }
                }
            }
        }
    }
}

/// The add-term form; `leads` repeats once per ticked box.
#[derive(Debug, Deserialize)]
pub(crate) struct TermForm {
    start: String,
    end: String,
}

pub(crate) async fn add_term(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    body: axum::body::Bytes,
) -> Response {
    let done = async {
        // Repeated fields (`leads=a&leads=b`) are read as pairs: serde_urlencoded does not
        // gather them into a list.
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::bad_request(format!("unreadable form: {e}")))?;
        let form: TermForm = serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::bad_request(format!("unreadable form: {e}")))?;
        let leads = pairs
            .into_iter()
            .filter(|(k, _)| k == "leads")
            .map(|(_, v)| v)
            .collect();
        let request = NewTermRequest {
            start: form.start,
            end: form.end,
            leads,
        };
        let (_, ApiJson(term)) = api::add_term(State(dash.app.clone()), ApiJson(request)).await?;
        Ok(format!("Added the term {} to {}", term.start, term.end))
    }
    .await;
    ctx.done(done, "/ui/council")
}
