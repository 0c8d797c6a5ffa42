//! Sessions: upcoming and past with one-click RSVPs; a session's page with attendance, the
//! write-up (editable; concurrent edits merge), and for an unconference the agenda with
//! voting and the schedule; the iCalendar download.

use automerge::ChangeHash;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use crdt_model::api::{
    AgendaItem, AttendRequest, MemberRef, ProposeRequest, RsvpRequest, ScheduleRequest,
    SessionView, VoteRequest,
};
use crdt_model::session::{PROPOSAL_KINDS, Session};
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::error::{ApiError, ApiJson, ApiQuery};
use crate::api::sessions as api;
use crate::api::sorted_heads;
use crate::api::state::{AppState, clock};
use crate::dashboard::Dashboard;
use crate::dashboard::layout::{
    Ctx, Form, Nav, Page, PageError, PageResult, day, ext_link, member_link, para, txt, when,
};

const RSVPS: [(&str, &str); 3] = [
    ("going", "Going"),
    ("maybe", "Maybe"),
    ("not-going", "Not going"),
];

async fn gather_list(state: &AppState) -> Result<(Vec<SessionView>, Vec<SessionView>), ApiError> {
    let list = |when: &str| {
        api::list(
            State(state.clone()),
            ApiQuery(api::ListQuery {
                when: Some(when.to_owned()),
            }),
        )
    };
    let upcoming = list("upcoming").await?.0;
    let mut past = list("past").await?.0;
    past.reverse(); // newest first
    Ok((upcoming, past))
}

pub(crate) async fn page(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let (upcoming, past) = gather_list(&dash.app).await?;
    let me = dash.app.identity().me.unwrap_or_default();
    let live = html! {
        p { a.button href="/ui/sessions.ics" download { "Download all as a calendar (.ics)" } }
        h2 { "Upcoming" }
        @if upcoming.is_empty() { p.muted { "Nothing planned yet." } }
        @for s in &upcoming {
            section.panel {
                h3 { a href={ "/ui/sessions/" (s.id) } { (txt(&s.title)) } @if s.cancelled.is_some() { " " span.pill-bad { "cancelled" } } }
                p.muted { (s.kind) " · " (when(&s.start)) @if !s.place.is_empty() { " · " (txt(&s.place)) } }
                (rsvp_buttons(&ctx, s, &me, true))
            }
        }
        h2 { "Past" }
        @if past.is_empty() { p.muted { "None yet." } }
        ul.plain {
            @for s in &past {
                li {
                    a href={ "/ui/sessions/" (s.id) } { (txt(&s.title)) }
                    " · " span.muted { (s.kind) " · " (when(&s.start)) " · " (s.attendance.len()) " came" }
                }
            }
        }
    };
    Ok(ctx.render(Page::new("Sessions", Nav::Sessions, live)))
}

fn rsvp_buttons(ctx: &Ctx, s: &SessionView, me: &str, from_list: bool) -> Markup {
    let mine = s
        .rsvps
        .iter()
        .find(|r| r.member.id == me)
        .map(|r| r.status.as_str());
    let count = |status: &str| s.rsvps.iter().filter(|r| r.status == status).count();
    html! {
        form.rsvp method="post" action={ "/ui/sessions/" (s.id) "/rsvp" } aria-label={ "Your RSVP for " (txt(&s.title)) } {
            (ctx.csrf())
            @if from_list { input type="hidden" name="back" value="list"; }
            @for (status, label) in RSVPS {
                button.quiet type="submit" name="status" value=(status) aria-pressed=(if mine == Some(status) { "true" } else { "false" }) {
                    (label) " (" (count(status)) ")"
                }
            }
        }
    }
}

struct SessionPage {
    view: SessionView,
    session: Session,
    agenda: Vec<AgendaItem>,
    /// The write-up's document heads when this page was made: the base of an edit.
    heads: Vec<String>,
}

async fn gather_session(state: &AppState, key: &str) -> Result<SessionPage, ApiError> {
    let view = api::show(State(state.clone()), Path(key.to_owned()))
        .await?
        .0;
    let session = state.resolve_session(&view.id).await?;
    let agenda = api::agenda(State(state.clone()), Path(view.id.clone()))
        .await?
        .0;
    let heads = state
        .repo
        .read(&view.id, sorted_heads)
        .await
        .unwrap_or_default();
    Ok(SessionPage {
        view,
        session,
        agenda,
        heads,
    })
}

pub(crate) async fn session(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(key): Path<String>,
) -> PageResult {
    let p = gather_session(&dash.app, &key).await?;
    let me = dash.app.identity().me.unwrap_or_default();
    let s = &p.view;
    let now = clock();
    let started = p.session.start_time().is_some_and(|t| t <= now);
    let unconference = p.session.session_kind == "unconference";
    let is_host = p.session.hosts.contains_key(&me);
    let who = |status: &str| -> Vec<&MemberRef> {
        s.rsvps
            .iter()
            .filter(|r| r.status == status)
            .map(|r| &r.member)
            .collect()
    };
    let live = html! {
        @if let Some(c) = &s.cancelled {
            p.notice role="status" {
                strong { "Cancelled" } " by " (member_link(&c.by.id, &c.by.name)) " on " (day(&c.at))
                @if !c.reason.is_empty() { ": " (txt(&c.reason)) }
            }
        }
        section.panel {
            dl {
                dt { "What" } dd { (s.kind) }
                dt { "When" } dd { (when(&s.start)) " to " (when(&s.end)) }
                @if !s.place.is_empty() { dt { "Where" } dd { (txt(&s.place)) } }
                @if !s.online.is_empty() { dt { "Online" } dd { (ext_link(&s.online, &s.online)) } }
                dt { "Hosts" } dd { @for (i, h) in s.hosts.iter().enumerate() { @if i > 0 { ", " } (member_link(&h.id, &h.name)) } }
                @if !s.guests.is_empty() { dt { "Guests" } dd { @for g in &s.guests { span.tag { (txt(&g.name)) @if !g.organisation.is_empty() { ", " (txt(&g.organisation)) } } } } }
            }
            @if !s.description.is_empty() { p.prewrap { (para(&s.description)) } }
        }
        h2 { "Who is coming" }
        (rsvp_buttons(&ctx, s, &me, false))
        @for (status, label) in RSVPS {
            @let people = who(status);
            @if !people.is_empty() {
                p { strong { (label) ": " } @for (i, m) in people.iter().enumerate() { @if i > 0 { ", " } (member_link(&m.id, &m.name)) } }
            }
        }
        h2 { "Attendance" }
        @if s.attendance.is_empty() {
            p.muted { "Nobody recorded yet." }
        } @else {
            p { (s.attendance.len()) " came: "
                @for (i, m) in s.attendance.iter().enumerate() { @if i > 0 { ", " } (member_link(&m.id, &m.name)) } }
        }
        @if started && !s.attendance.iter().any(|m| m.id == me) {
            form method="post" action={ "/ui/sessions/" (s.id) "/attend" } {
                (ctx.csrf())
                button type="submit" { "I was there" }
            }
        }
        @if unconference {
            h2 { "Agenda" }
            p.hint {
                "Proposals ranked by votes. One vote per person per proposal"
                @if s.vote_budget > 0 { "; each member's first " (s.vote_budget) " votes count" }
                "."
            }
            @if p.agenda.is_empty() {
                p.muted { "No proposals yet: propose a talk, a discussion or an ask for help." }
            } @else {
                ol.plain #agenda {
                    @for item in &p.agenda {
                        @let voted = p.session.proposals.get(&item.id).is_some_and(|pr| pr.votes.contains_key(&me));
                        li {
                            strong { (txt(&item.title)) }
                            span.muted { " · " (item.kind) " · by " (txt(&item.by.name)) }
                            " · " span.votes { (item.votes) (if item.votes == 1 { " vote" } else { " votes" }) }
                            " "
                            form.inline method="post" action={ "/ui/sessions/" (s.id) "/proposals/" (item.id) "/vote" } {
                                (ctx.csrf())
                                @if voted {
                                    input type="hidden" name="vote" value="false";
                                    button.quiet type="submit" aria-pressed="true" aria-label={ "Withdraw your vote for " (txt(&item.title)) } { "Voted ✓" }
                                } @else {
                                    input type="hidden" name="vote" value="true";
                                    button.quiet type="submit" aria-label={ "Vote for " (txt(&item.title)) } { "Vote" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Schedule" }
            @if s.slots.is_empty() {
                p.muted { "Not scheduled yet: the hosts turn the top proposals into slots." }
            } @else {
                @let rooms = s.slots.iter().any(|slot| !slot.room.is_empty());
                table {
                    thead { tr { th { "When" } @if rooms { th { "Room" } } th { "What" } th { "Who" } } }
                    tbody {
                        @for slot in &s.slots {
                            tr {
                                td { (when(&slot.start)) }
                                @if rooms { td { (txt(&slot.room)) } }
                                td { (txt(&slot.title)) }
                                td { (member_link(&slot.by.id, &slot.by.name)) }
                            }
                        }
                    }
                }
                @for clash in &s.clashes { p.notice { (txt(clash)) } }
            }
        }
        h2 { "Write-up" }
        @if s.notes.is_empty() { p.muted { "Nothing written yet." } } @else { div.panel.prewrap #notes { (para(&s.notes)) } }
    };
    let tools = html! {
        @if unconference {
            section.panel {
                h2 { "Propose" }
                form.stack method="post" action={ "/ui/sessions/" (s.id) "/proposals" } {
                    (ctx.csrf())
                    label { "Title" input name="title" required; }
                    label { "Kind"
                        select name="kind" { @for k in PROPOSAL_KINDS { option value=(k) { (k) } } }
                    }
                    div { button type="submit" { "Propose" } }
                }
            }
            @if is_host {
                section.panel {
                    h2 { "Schedule the top proposals" }
                    form.stack method="post" action={ "/ui/sessions/" (s.id) "/schedule" } {
                        (ctx.csrf())
                        label { "How many" input type="number" name="top" min="1" max="100" value=(p.agenda.len().max(1)); }
                        label { "First slot starts at" span.hint { "on the session's day, in its time zone" }
                            input type="time" name="from" required value=(start_hhmm(&p.session)); }
                        label { "Minutes each" input type="number" name="minutes" min="1" max="1440" value="30"; }
                        div { button type="submit" { "Schedule" } }
                    }
                }
            }
        }
        section.panel {
            h2 { "Edit the write-up" }
            p.hint { "Others may edit at the same time, here or on their own laptop: your changes merge with theirs." }
            form.stack method="post" action={ "/ui/sessions/" (s.id) "/notes" } {
                (ctx.csrf())
                input type="hidden" name="base" value=(p.heads.join(","));
                label { "Write-up" textarea name="text" rows="10" {
                    // HTML drops a newline right after <textarea>: this one, not the text's.
                    "\n" (para(&s.notes))
                } }
                div { button type="submit" { "Save write-up" } }
            }
        }
    };
    Ok(ctx.render(Page::new(s.title.clone(), Nav::Sessions, live).tools(tools)))
}

fn start_hhmm(session: &Session) -> String {
    session
        .start_time()
        .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
        .unwrap_or_default()
}

fn session_url(id: &str) -> String {
    format!("/ui/sessions/{id}")
}

#[derive(Debug, Deserialize)]
pub(crate) struct RsvpForm {
    status: String,
    back: Option<String>,
}

pub(crate) async fn rsvp(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<RsvpForm>,
) -> Response {
    let request = RsvpRequest {
        status: form.status,
        member: None,
    };
    let done = api::rsvp(State(dash.app.clone()), Path(id.clone()), ApiJson(request))
        .await
        .map(|ApiJson(s)| format!("RSVP saved for {}", s.title));
    let to = match form.back.as_deref() {
        Some("list") => "/ui/sessions".to_owned(),
        _ => session_url(&id),
    };
    ctx.done(done, &to)
}

pub(crate) async fn attend(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
) -> Response {
    let request = AttendRequest {
        members: Vec::new(),
        guests: Vec::new(),
    };
    let done = api::attend(State(dash.app.clone()), Path(id.clone()), ApiJson(request))
        .await
        .map(|_| "Recorded that you came".to_owned());
    ctx.done(done, &session_url(&id))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProposeForm {
    title: String,
    kind: String,
}

pub(crate) async fn propose(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<ProposeForm>,
) -> Response {
    let request = ProposeRequest {
        title: form.title.clone(),
        kind: form.kind,
        member: None,
    };
    let done = api::propose(State(dash.app.clone()), Path(id.clone()), ApiJson(request))
        .await
        .map(|_| format!("Proposed {}", form.title.trim()));
    ctx.done(done, &session_url(&id))
}

#[derive(Debug, Deserialize)]
pub(crate) struct VoteForm {
    vote: bool,
}

pub(crate) async fn vote(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path((id, proposal)): Path<(String, String)>,
    Form(form): Form<VoteForm>,
) -> Response {
    let request = VoteRequest {
        vote: form.vote,
        member: None,
    };
    let done = api::vote(
        State(dash.app.clone()),
        Path((id.clone(), proposal)),
        ApiJson(request),
    )
    .await
    .map(|_| {
        if form.vote {
            "Vote counted".to_owned()
        } else {
            "Vote withdrawn".to_owned()
        }
    });
    ctx.done(done, &session_url(&id))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScheduleForm {
    top: usize,
    /// `HH:MM` on the session's day, in the session's own offset.
    from: String,
    minutes: u32,
}

pub(crate) async fn schedule(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Response {
    let done = async {
        // The form asks for a clock time on the session's day, in the session's own offset
        // (the model reads a clock time alone as on the session's day).
        let session = dash.app.resolve_session(&id).await?;
        let request = ScheduleRequest {
            top: Some(form.top),
            from: form.from,
            minutes: form.minutes,
            tz: session.start_time().map(|t| offset_name(t.offset())),
        };
        api::schedule(State(dash.app.clone()), Path(id.clone()), ApiJson(request)).await?;
        Ok("Scheduled".to_owned())
    }
    .await;
    ctx.done(done, &session_url(&id))
}

/// `+01:00`: an offset as the model's `when::zone` reads it.
fn offset_name(offset: time::UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

#[derive(Debug, Deserialize)]
pub(crate) struct NotesForm {
    /// The heads the editor started from, comma-separated.
    base: String,
    text: String,
}

pub(crate) async fn notes(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<NotesForm>,
) -> Response {
    let done = save_notes(&dash.app, &id, &form.base, &form.text)
        .await
        .map(|()| "Write-up saved".to_owned());
    ctx.done(done, &session_url(&id))
}

/// Saves an edited write-up so that concurrent edits merge: the edit is made on the
/// document as it was when the editor opened (`base`), then merged, so words others added
/// meanwhile (here or on another daemon) are kept, as Automerge keeps both sides of any
/// concurrent text edit. Replacing the text as it is now would delete them.
async fn save_notes(state: &AppState, key: &str, base: &str, text: &str) -> Result<(), ApiError> {
    // Browsers send line breaks as CRLF.
    let text = text.replace("\r\n", "\n");
    let id = state.resolve_session(key).await?.id;
    let base: Vec<ChangeHash> = base
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()
        .filter(|heads: &Vec<ChangeHash>| !heads.is_empty())
        .ok_or_else(|| ApiError::bad_request("the write-up form is damaged; reload the page"))?;
    let mut tx = state.repo.begin(&[&id]).await;
    let doc = tx.doc(&id)?;
    let mut edit = doc.fork_at(&base).map_err(|_| {
        ApiError::conflict("this page's copy of the write-up is unknown here; reload the page")
    })?;
    Session::set_notes(&mut edit, &text)?;
    doc.merge(&mut edit)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    tx.commit().await?;
    Ok(())
}

/// `GET /ui/sessions.ics`: the same calendar as `guild sessions export --ics`.
pub(crate) async fn ics(State(dash): State<Dashboard>) -> Result<Response, PageError> {
    let calendar = api::export_ics(State(dash.app.clone())).await?;
    let mut response = calendar.into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"guild-sessions.ics\""),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_named_as_the_model_reads_them() {
        let offset = |h, m| time::UtcOffset::from_hms(h, m, 0).unwrap();
        assert_eq!(offset_name(offset(1, 0)), "+01:00");
        assert_eq!(offset_name(offset(-5, -30)), "-05:30");
        assert_eq!(offset_name(offset(0, 0)), "+00:00");
        for name in ["+01:00", "-05:30"] {
            assert!(crdt_model::when::zone(name).is_ok(), "{name}");
        }
    }
}
