//! Your relationships: the map of stakeholders and influencers, who is due a reconnect, and
//! the social-capital ledger. Private: the document lives only on your own devices, and
//! this page is served only by your own daemon to your own browser.

use axum::extract::{Path, State};
use axum::response::Response;
use crdt_model::api::{LedgerRequest, LogRequest};
use crdt_model::relationships::{
    INFLUENCE, INTERACTION_KINDS, PersonFields, Relationships, Standing,
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::error::{ApiError, ApiJson, ApiQuery};
use crate::api::relationships as api;
use crate::api::state::{AppState, clock};
use crate::dashboard::Dashboard;
use crate::dashboard::charts::{self, Dot};
use crate::dashboard::layout::{Ctx, Form, Nav, Page, PageResult, day, given, txt};

struct Map {
    standings: Vec<Standing>,
    due: Vec<Standing>,
    doc: Relationships,
}

async fn gather(state: &AppState) -> Result<Map, ApiError> {
    Ok(Map {
        standings: api::list(State(state.clone())).await?.0,
        due: api::due(State(state.clone()), ApiQuery(Default::default()))
            .await?
            .0,
        doc: api::read(state).await?,
    })
}

/// Bands of the map, most influential first.
const BANDS: [&str; 3] = ["high", "medium", "low"];

fn dots(standings: &[Standing]) -> Vec<Dot> {
    let today = clock().date();
    standings
        .iter()
        .map(|s| {
            let since = crdt_model::when::date_of(&s.last_fed)
                .map_or(0, |d| (today - d).whole_days().max(0));
            Dot {
                label: s.person.name.clone(),
                band: BANDS
                    .iter()
                    .position(|b| *b == s.person.influence)
                    .unwrap_or(BANDS.len() - 1),
                elapsed: since as f64 / s.reconnect_every_days.max(1) as f64,
                class: match s.balance {
                    b if b > 0 => "owed",
                    b if b < 0 => "owing",
                    _ => "even",
                },
            }
        })
        .collect()
}

pub(crate) async fn page(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let m = gather(&dash.app).await?;
    let name = |id: &str| {
        m.doc
            .people
            .get(id)
            .map_or_else(|| id.to_owned(), |p| p.name.clone())
    };
    let mut ledger: Vec<_> = m.doc.ledger.values().collect();
    ledger.sort_by(|a, b| b.date.cmp(&a.date));
    let mut interactions: Vec<_> = m.doc.interactions.values().collect();
    interactions.sort_by(|a, b| b.date.cmp(&a.date));
    let intro = html! {
        p.notice { "Private: only you see this. It is kept on your own devices and never sent to other members." }
    };
    let live = html! {
        @if m.standings.is_empty() {
            p.muted { "Nobody in your map yet: add the people who matter to your work." }
        } @else {
            (charts::map("map", "Your map: influence by time since you were last in touch", &BANDS, &dots(&m.standings)))
            p.legend {
                span { span.key.owed {} "you have helped more than you asked" }
                span { span.key.even {} "even" }
                span { span.key.owing {} "you have asked more than you helped" }
            }
        }
        h2 { "Due a reconnect" }
        @if m.due.is_empty() { p.muted { "Nobody is overdue." } }
        ul.plain {
            @for s in &m.due {
                li { strong { (txt(&s.person.name)) } span.muted { " · last in touch " (day(&s.last_fed))
                    " · " (s.overdue_days) " days overdue (every " (s.reconnect_every_days) " days)" } }
            }
        }
        h2 { "Everyone" }
        div.scroll {
            table.hide-narrow {
                thead { tr { th { "Name" } th { "Influence" } th.narrow-hide { "Team" } th { "Balance" } th.narrow-hide { "Last in touch" } } }
                tbody {
                    @for s in &m.standings {
                        tr {
                            td { (txt(&s.person.name)) @if !s.person.common_ground.is_empty() { br; span.muted { "common ground: " (txt(&s.person.common_ground)) } } }
                            td { (txt(&s.person.influence)) }
                            td.narrow-hide { (txt(&s.person.team)) }
                            td { (format!("{:+}", s.balance)) }
                            td.narrow-hide { (day(&s.last_fed)) }
                        }
                    }
                }
            }
        }
        h2 { "Ledger" }
        @if ledger.is_empty() { p.muted { "Nothing recorded yet." } }
        ul.plain {
            @for l in &ledger {
                li { (day(&l.date)) " · " strong { (txt(&name(&l.person))) } " · "
                    @if l.amount >= 0 { span.pill-ok { "helped +" (l.amount) } } @else { span.pill-bad { "asked " (l.amount) } }
                    @if !l.note.is_empty() { " · " (txt(&l.note)) } }
            }
        }
        h2 { "Recent interactions" }
        @if interactions.is_empty() { p.muted { "None logged yet." } }
        ul.plain {
            @for i in interactions.iter().take(20) {
                li { (day(&i.date)) " · " (i.interaction_kind) " with " strong { (txt(&name(&i.person))) }
                    @if !i.note.is_empty() { " · " (txt(&i.note)) } }
            }
        }
    };
    let tools = html! {
        @if !m.standings.is_empty() {
            section.panel {
                h2 { "Log an interaction" }
                form.stack method="post" action="/ui/relationships/log" {
                    (ctx.csrf())
                    (person_select(&m.standings))
                    label { "Kind" select name="kind" { @for k in INTERACTION_KINDS { option value=(k) { (k) } } } }
                    label { "Note" input name="note"; }
                    div { button type="submit" { "Log" } }
                }
            }
            section.panel {
                h2 { "Social capital" }
                form.stack method="post" action="/ui/relationships/ledger" {
                    (ctx.csrf())
                    (person_select(&m.standings))
                    fieldset {
                        legend { "What happened" }
                        label.check { input type="radio" name="direction" value="gave" checked; "I helped them" }
                        label.check { input type="radio" name="direction" value="asked"; "I asked a favour" }
                    }
                    label { "How much" span.hint { "1 to 100" } input type="number" name="amount" min="1" max="100" value="1"; }
                    label { "Note" input name="note"; }
                    div { button type="submit" { "Record" } }
                }
            }
        }
        section.panel {
            h2 { "Add a person" }
            form.stack method="post" action="/ui/relationships" {
                (ctx.csrf())
                label { "Name" input name="name" required; }
                label { "Team" input name="team"; }
                label { "Organisation" input name="organisation"; }
                label { "Influence" select name="influence" { @for i in INFLUENCE { option value=(i) selected[*i == "medium"] { (i) } } } }
                label { "Common ground" input name="common_ground"; }
                label { "Keep in touch every" span.hint { "days; empty for the default" } input type="number" name="cadence_days" min="1"; }
                div { button type="submit" { "Add" } }
            }
        }
    };
    Ok(ctx.render(
        Page::new("Relationships", Nav::Relationships, live)
            .intro(intro)
            .tools(tools),
    ))
}

fn person_select(standings: &[Standing]) -> Markup {
    html! {
        label { "Who" select name="person" { @for s in standings { option value=(s.id) { (txt(&s.person.name)) } } } }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PersonForm {
    name: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    influence: String,
    #[serde(default)]
    common_ground: String,
    #[serde(default)]
    cadence_days: String,
}

pub(crate) async fn add(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<PersonForm>,
) -> Response {
    let done = async {
        let cadence_days =
            match given(&Some(form.cadence_days)) {
                Some(days) => Some(days.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("{days:?} is not a number of days"))
                })?),
                None => None,
            };
        let fields = PersonFields {
            name: Some(form.name),
            team: given(&Some(form.team)),
            organisation: given(&Some(form.organisation)),
            influence: given(&Some(form.influence)),
            common_ground: given(&Some(form.common_ground)),
            cadence_days,
            ..PersonFields::default()
        };
        let (_, ApiJson(s)) = api::add(State(dash.app.clone()), ApiJson(fields)).await?;
        Ok(format!("Added {}", s.person.name))
    }
    .await;
    ctx.done(done, "/ui/relationships")
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogForm {
    person: String,
    kind: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn log(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<LogForm>,
) -> Response {
    let request = LogRequest {
        kind: form.kind,
        date: None,
        note: form.note,
    };
    let done = api::log(State(dash.app.clone()), Path(form.person), ApiJson(request))
        .await
        .map(|ApiJson(s)| format!("Logged time with {}", s.person.name));
    ctx.done(done, "/ui/relationships")
}

#[derive(Debug, Deserialize)]
pub(crate) struct LedgerForm {
    person: String,
    /// `gave` (a deposit) or `asked` (a withdrawal).
    direction: String,
    amount: i64,
    #[serde(default)]
    note: String,
}

pub(crate) async fn ledger(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<LedgerForm>,
) -> Response {
    let request = LedgerRequest {
        amount: form.amount,
        date: None,
        note: form.note,
    };
    let state = State(dash.app.clone());
    let person = Path(form.person);
    let done = match form.direction.as_str() {
        "gave" => api::deposit(state, person, ApiJson(request)).await,
        "asked" => api::withdraw(state, person, ApiJson(request)).await,
        other => Err(ApiError::bad_request(format!(
            "{other:?} is neither gave nor asked"
        ))),
    }
    .map(|ApiJson(s)| {
        format!(
            "Recorded; your balance with {} is {:+}",
            s.person.name, s.balance
        )
    });
    ctx.done(done, "/ui/relationships")
}
