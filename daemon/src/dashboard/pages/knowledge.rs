//! Knowledge and questions: browse and search resources, guidelines and rituals; ask,
//! answer, and (the asker) accept the answer that helped.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use crdt_model::api::{AcceptRequest, AnswerRequest, AskRequest, EntryView, QuestionView};
use crdt_model::knowledge::{ENTRY_KINDS, NewEntry};
use crdt_model::text::fold;
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::error::{ApiError, ApiJson, ApiQuery};
use crate::api::knowledge as api;
use crate::api::state::AppState;
use crate::dashboard::Dashboard;
use crate::dashboard::layout::{
    Ctx, Form, Nav, Page, PageResult, day, ext_link, given, list, member_link, para, txt, urlencode,
};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
}

struct Knowledge {
    entries: Vec<EntryView>,
    questions: Vec<QuestionView>,
    names: BTreeMap<String, String>,
}

async fn gather(state: &AppState, search: &Search) -> Result<Knowledge, ApiError> {
    let query = api::ListQuery {
        q: given(&Some(search.q.clone())),
        tag: given(&Some(search.tag.clone())),
        kind: None,
    };
    let entries = api::list(State(state.clone()), ApiQuery(query)).await?.0;
    let wanted = fold(&search.q);
    let questions: Vec<QuestionView> = api::questions(State(state.clone()))
        .await?
        .0
        .into_iter()
        .filter(|q| {
            search.tag.trim().is_empty()
                && (wanted.is_empty()
                    || fold(&q.question.title).contains(&wanted)
                    || fold(&q.question.body).contains(&wanted))
        })
        .collect();
    let authors: Vec<&String> = entries
        .iter()
        .map(|e| &e.entry.shared_by)
        .chain(questions.iter().flat_map(|q| {
            std::iter::once(&q.question.asked_by).chain(q.question.answers.values().map(|a| &a.by))
        }))
        .collect();
    let names = state
        .member_refs(authors)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    Ok(Knowledge {
        entries,
        questions,
        names,
    })
}

pub(crate) async fn page(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Query(search): Query<Search>,
) -> PageResult {
    let k = gather(&dash.app, &search).await?;
    let me = dash.app.identity().me.unwrap_or_default();
    let who = |id: &String| member_link(id, k.names.get(id).unwrap_or(id));
    let intro = html! {
        form.row role="search" method="get" action="/ui/knowledge" {
            label { "Search resources and questions" input type="search" name="q" value=(search.q); }
            @if !search.tag.is_empty() { input type="hidden" name="tag" value=(search.tag); }
            button type="submit" { "Search" }
            @if !search.tag.is_empty() || !search.q.is_empty() { a href="/ui/knowledge" { "Show everything" } }
        }
        @if !search.tag.is_empty() { p { "Tagged " span.tag { (txt(&search.tag)) } } }
    };
    let live = html! {
        h2 { "Resources, guidelines and rituals" }
        @if k.entries.is_empty() { p.muted { "Nothing found." } }
        ul.plain {
            @for e in &k.entries {
                li {
                    span.tag { (e.entry.entry_kind) } " "
                    strong { (ext_link(&e.entry.url, &e.entry.title)) }
                    @if !e.entry.body.is_empty() { div.prewrap { (para(&e.entry.body)) } }
                    div.muted {
                        @for t in &e.entry.tags { a.tag href={ "/ui/knowledge?tag=" (urlencode(t)) } { (txt(t)) } }
                        "shared by " (who(&e.entry.shared_by)) " on " (day(&e.entry.at))
                    }
                }
            }
        }
        h2 { "Questions" }
        @if k.questions.is_empty() { p.muted { "No questions found." } }
        @for q in &k.questions {
            (question(&ctx, q, &me, &who))
        }
    };
    let tools = html! {
        section.panel {
            h2 { "Ask the community" }
            form.stack method="post" action="/ui/questions" {
                (ctx.csrf())
                label { "Question" input name="title" required; }
                label { "Details" textarea name="body" rows="4" {} }
                div { button type="submit" { "Ask" } }
            }
        }
        section.panel {
            h2 { "Share something" }
            form.stack method="post" action="/ui/knowledge" {
                (ctx.csrf())
                label { "Kind" select name="kind" { @for kind in ENTRY_KINDS { option value=(kind) { (kind) } } } }
                label { "Title" input name="title" required; }
                label { "Link" input type="url" name="url" placeholder="https://"; }
                label { "Notes" textarea name="body" rows="3" {} }
                label { "Tags" span.hint { "separated by commas" } input name="tags"; }
                div { button type="submit" { "Share" } }
            }
        }
    };
    Ok(ctx.render(
        Page::new("Knowledge and questions", Nav::Knowledge, live)
            .intro(intro)
            .tools(tools),
    ))
}

fn question(ctx: &Ctx, q: &QuestionView, me: &str, who: &dyn Fn(&String) -> Markup) -> Markup {
    let question = &q.question;
    let mut answers: Vec<_> = question.answers.iter().collect();
    // The accepted answer first, then oldest first.
    answers.sort_by_key(|(id, a)| (question.accepted.as_ref() != Some(*id), a.at.clone()));
    html! {
        section.panel.question {
            h3 { (txt(&question.title)) }
            @if !question.body.is_empty() { p.prewrap { (para(&question.body)) } }
            p.muted { "asked by " (who(&question.asked_by)) " on " (day(&question.at)) }
            @for (id, a) in &answers {
                @let accepted = question.accepted.as_ref() == Some(*id);
                div.panel {
                    @if accepted { p.pill-ok { "✓ Accepted: this helped" } }
                    div.prewrap { (para(&a.body)) }
                    p.muted { (who(&a.by)) " on " (day(&a.at)) }
                    @if !accepted && question.asked_by == me {
                        form method="post" action={ "/ui/questions/" (q.id) "/accept" } {
                            (ctx.csrf())
                            input type="hidden" name="answer" value=(id);
                            button.quiet type="submit" { "This helped" }
                        }
                    }
                }
            }
            form.stack method="post" action={ "/ui/questions/" (q.id) "/answers" } {
                (ctx.csrf())
                label { "Your answer" textarea name="body" rows="3" required {} }
                div { button type="submit" { "Answer" } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EntryForm {
    kind: String,
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    tags: String,
}

pub(crate) async fn add(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<EntryForm>,
) -> Response {
    let new = NewEntry {
        kind: Some(form.kind),
        title: form.title,
        url: form.url.trim().to_owned(),
        body: form.body.replace("\r\n", "\n"),
        tags: list(&form.tags),
        session: None,
    };
    let done = api::add(State(dash.app.clone()), ApiJson(new))
        .await
        .map(|(_, ApiJson(e))| format!("Shared {}", e.entry.title));
    ctx.done(done, "/ui/knowledge")
}

#[derive(Debug, Deserialize)]
pub(crate) struct AskForm {
    title: String,
    #[serde(default)]
    body: String,
}

pub(crate) async fn ask(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<AskForm>,
) -> Response {
    let request = AskRequest {
        title: form.title,
        body: form.body.replace("\r\n", "\n"),
    };
    let done = api::ask(State(dash.app.clone()), ApiJson(request))
        .await
        .map(|_| "Question asked".to_owned());
    ctx.done(done, "/ui/knowledge")
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnswerForm {
    body: String,
}

pub(crate) async fn answer(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let request = AnswerRequest {
        body: form.body.replace("\r\n", "\n"),
        guest: None,
    };
    let done = api::answer(State(dash.app.clone()), Path(id), ApiJson(request))
        .await
        .map(|_| "Answer posted".to_owned());
    ctx.done(done, "/ui/knowledge")
}

#[derive(Debug, Deserialize)]
pub(crate) struct AcceptForm {
    answer: String,
}

pub(crate) async fn accept(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let request = AcceptRequest {
        answer: form.answer,
    };
    let done = api::accept(State(dash.app.clone()), Path(id), ApiJson(request))
        .await
        .map(|_| "Marked as the answer that helped".to_owned());
    ctx.done(done, "/ui/knowledge")
}
