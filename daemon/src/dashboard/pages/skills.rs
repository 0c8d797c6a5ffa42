//! The skills audit: who can help with a skill (and who wants to learn it), the heatmap of
//! members by skills with strengths and gaps beside it, its CSV download, and rating your
//! own skills. A map for growing together, never a performance check.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use crdt_model::api::{AddSkillRequest, Matrix, RateRequest, StrengthsAndGaps};
use crdt_model::skills::{self, Helper, SkillLevel, SkillSummary};
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::error::{ApiError, ApiJson, ApiQuery};
use crate::api::skills as api;
use crate::api::state::AppState;
use crate::dashboard::Dashboard;
use crate::dashboard::layout::{
    Ctx, Form, Nav, Page, PageError, PageResult, member_link, txt, urlencode,
};

struct Heatmap {
    matrix: Matrix,
    report: StrengthsAndGaps,
    taxonomy: Vec<String>,
}

async fn gather_heatmap(state: &AppState) -> Result<Heatmap, ApiError> {
    Ok(Heatmap {
        matrix: api::matrix(State(state.clone())).await?.0,
        report: api::gaps(State(state.clone()), ApiQuery(Default::default()))
            .await?
            .0,
        taxonomy: api::taxonomy(State(state.clone())).await?.0,
    })
}

pub(crate) async fn heatmap(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let h = gather_heatmap(&dash.app).await?;
    let m = &h.matrix;
    let live = html! {
        (legend())
        p { a.button href="/ui/skills/matrix.csv" download { "Download as CSV" } }
        div.scroll {
            table.heatmap {
                caption.visually-hidden { "Members by skills; each cell is the member's level, 0 to 4" }
                thead {
                    tr {
                        th scope="col" { "Member" }
                        @for skill in &m.skills {
                            th.skill scope="col" { a href={ "/ui/skills/who?skill=" (urlencode(skill)) } { (txt(skill)) } }
                        }
                    }
                }
                tbody {
                    @for row in &m.rows {
                        tr {
                            th scope="row" { (member_link(&row.member_id, &row.name)) }
                            @for (i, level) in row.levels.iter().enumerate() {
                                @let grow = row.grow.get(i).copied().unwrap_or(false);
                                @let skill = m.skills.get(i).map_or("", String::as_str);
                                @match level {
                                    Some(l) => td.level.(format!("l{l}")).grow[grow]
                                        title={ (txt(&row.name)) ", " (txt(skill)) ": " (level_text(*l)) @if grow { ", wants to grow" } } {
                                        (l) @if grow { span.visually-hidden { " wants to grow" } }
                                    },
                                    None => td.level.unrated.grow[grow] title={ (txt(&row.name)) ", " (txt(skill)) ": not rated" } {
                                        "·" @if grow { span.visually-hidden { " wants to grow" } }
                                    },
                                }
                            }
                        }
                    }
                }
            }
        }
        div.grid {
            section.panel {
                h2 { "Strengths" }
                p.hint { "Skills the most members are experienced in or can teach." }
                (summaries(&h.report.strengths, |s| format!("{} experienced or better, {} can teach", s.experienced, s.teachers), "None yet."))
            }
            section.panel {
                h2 { "Gaps" }
                p.hint { "Wanted by more people than can teach them." }
                (summaries(&h.report.gaps, |s| format!("{} want to grow, {} can teach", s.want_to_grow, s.teachers), "No gaps: everything wanted has a teacher."))
            }
            @if !h.report.movement.is_empty() {
                section.panel {
                    h2 { "Moved since " (h.report.since) }
                    ul.plain {
                        @for m in &h.report.movement {
                            li {
                                a href={ "/ui/skills/who?skill=" (urlencode(&m.skill)) } { (txt(&m.skill)) } br;
                                span.muted {
                                    "experienced or better " (m.experienced_then) " → " (m.experienced_now)
                                    ", can teach " (m.teachers_then) " → " (m.teachers_now)
                                    ", want to grow " (m.want_to_grow_then) " → " (m.want_to_grow_now)
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let tools = html! {
        (rate_form(&ctx, &h.taxonomy, None))
        section.panel {
            h2 { "Add a skill" }
            form.row method="post" action="/ui/skills" {
                (ctx.csrf())
                label { "Skill" input name="name" required; }
                button type="submit" { "Add" }
            }
        }
    };
    Ok(ctx.render(Page::new("Skills", Nav::Skills, live).tools(tools)))
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for level in SkillLevel::ALL {
                span { span.swatch.(format!("l{}", u8::from(level))) {} (level) }
            }
            span { span.swatch.grow {} "wants to grow" }
        }
    }
}

fn level_text(level: u8) -> String {
    SkillLevel::try_from(level).map_or_else(|_| level.to_string(), |l| l.to_string())
}

fn summaries(list: &[SkillSummary], line: impl Fn(&SkillSummary) -> String, empty: &str) -> Markup {
    html! {
        @if list.is_empty() {
            p.muted { (empty) }
        } @else {
            ul.plain {
                @for s in list {
                    li { a href={ "/ui/skills/who?skill=" (urlencode(&s.skill)) } { (txt(&s.skill)) } br; span.muted { (line(s)) } }
                }
            }
        }
    }
}

/// `GET /ui/skills/matrix.csv`: the same records as `guild skills matrix --csv`.
pub(crate) async fn csv(State(dash): State<Dashboard>) -> Result<Response, PageError> {
    let matrix = api::matrix(State(dash.app.clone())).await?.0;
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for record in matrix.csv_records() {
        writer
            .write_record(record.iter().map(|c| txt(c).into_owned()))
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"skills-matrix.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WhoQuery {
    #[serde(default)]
    skill: String,
}

enum Answer {
    /// Nothing asked yet.
    None,
    Unknown(String),
    Found {
        skill: String,
        helpers: Vec<Helper>,
        learners: Vec<Helper>,
    },
}

async fn gather_who(state: &AppState, asked: &str) -> Result<(Vec<String>, Answer), ApiError> {
    let community = state.community().await?;
    let taxonomy = community.skill_names();
    if asked.trim().is_empty() {
        return Ok((taxonomy, Answer::None));
    }
    let skill = match community.resolve_skill(asked) {
        Ok(skill) => skill,
        // The model's words: they suggest the skill meant, if one is close.
        Err(e) => return Ok((taxonomy, Answer::Unknown(e.to_string()))),
    };
    let members = state.members(false).await?;
    Ok((
        taxonomy,
        Answer::Found {
            helpers: skills::who_can_help(&members, &skill),
            learners: skills::who_wants_to_learn(&members, &skill),
            skill,
        },
    ))
}

pub(crate) async fn who(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Query(query): Query<WhoQuery>,
) -> PageResult {
    let (taxonomy, answer) = gather_who(&dash.app, &query.skill).await?;
    let intro = html! {
        form.row role="search" method="get" action="/ui/skills/who" {
            label { "Which skill do you need help with?"
                input type="search" name="skill" list="skills" value=(query.skill) required placeholder="e.g. Discovery";
            }
            datalist #skills { @for s in &taxonomy { option value=(s) {} } }
            button type="submit" { "Find helpers" }
        }
    };
    let live = match &answer {
        Answer::None => {
            html! { p.muted { "Type a skill to see who can help, can-teach first, and who wants to learn it." } }
        }
        Answer::Unknown(why) => html! {
            p.notice { (txt(why)) ". "
                "Pick one from the list, or add it on the " a href="/ui/skills" { "Skills" } " page." }
        },
        Answer::Found {
            skill,
            helpers,
            learners,
        } => html! {
            h2 { "Who can help with " (txt(skill)) }
            @if helpers.is_empty() {
                p.muted { "Nobody has rated themselves practising or better yet." }
            } @else {
                ol.plain {
                    @for h in helpers {
                        li {
                            (member_link(&h.member_id, &h.name))
                            @if !h.team.is_empty() { span.muted { " · " (txt(&h.team)) } }
                            " · " strong { (h.level) }
                        }
                    }
                }
            }
            h2 { "Who wants to learn it" }
            @if learners.is_empty() {
                p.muted { "Nobody has marked it as something to grow." }
            } @else {
                ul.plain {
                    @for l in learners {
                        li { (member_link(&l.member_id, &l.name)) span.muted { " · now " (l.level) } }
                    }
                }
            }
        },
    };
    let rated = match &answer {
        Answer::Found { skill, .. } => Some(skill.as_str()),
        _ => None,
    };
    let tools = rate_form(&ctx, &taxonomy, rated);
    Ok(ctx.render(
        Page::new("Who can help", Nav::Who, live)
            .intro(intro)
            .tools(tools),
    ))
}

fn rate_form(ctx: &Ctx, taxonomy: &[String], skill: Option<&str>) -> Markup {
    html! {
        section.panel {
            h2 { "Rate your skill" }
            p.hint { "Where you are today, and whether you want to grow it." }
            form.stack method="post" action="/ui/skills/rate" {
                (ctx.csrf())
                @if let Some(skill) = skill { input type="hidden" name="back" value=(skill); }
                label { "Skill"
                    select name="skill" required {
                        @for s in taxonomy { option value=(s) selected[Some(s.as_str()) == skill] { (txt(s)) } }
                    }
                }
                label { "Level"
                    select name="level" {
                        @for level in SkillLevel::ALL { option value=(u8::from(level)) { (level) } }
                    }
                }
                label.check { input type="checkbox" name="grow" value="yes"; "I want to grow this" }
                div { button type="submit" { "Save rating" } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RateForm {
    skill: String,
    level: u8,
    grow: Option<String>,
    /// Back to "who can help" for this skill, if rated from there.
    back: Option<String>,
}

pub(crate) async fn rate(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<RateForm>,
) -> Response {
    let request = RateRequest {
        skill: form.skill.clone(),
        level: form.level,
        grow: Some(form.grow.is_some()),
        member: None,
    };
    let rated = api::rate(State(dash.app.clone()), ApiJson(request))
        .await
        .map(|_| format!("Rated {}: {}", form.skill, level_text(form.level)));
    let to = match &form.back {
        Some(skill) => format!("/ui/skills/who?skill={}", urlencode(skill)),
        None => "/ui/skills".to_owned(),
    };
    ctx.done(rated, &to)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SkillForm {
    name: String,
}

pub(crate) async fn add_skill(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<SkillForm>,
) -> Response {
    let added = api::add(
        State(dash.app.clone()),
        ApiJson(AddSkillRequest { name: form.name }),
    )
    .await
    .map(|(_, ApiJson(name))| format!("Added the skill {name}"));
    ctx.done(added, "/ui/skills")
}
