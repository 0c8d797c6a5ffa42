//! Sessions, RSVPs, attendance, write-ups, unconference agendas and the iCalendar export.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use crdt_model::api::{
    AgendaItem, AttendRequest, NotesRequest, ProposeRequest, RsvpRequest, ScheduleRequest,
    SessionView, VoteRequest,
};
use crdt_model::community::Community;
use crdt_model::session::{NewSession, Session};
use crdt_model::{DocKind, GuildDoc, ModelError};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::ics;
use super::state::{AppState, clock, new_id, now};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// upcoming or past
    pub(crate) when: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Vec<SessionView>> {
    let now = clock();
    let keep: fn(&Session, time::OffsetDateTime) -> bool = match query.when.as_deref() {
        None | Some("") | Some("all") => |_, _| true,
        Some("upcoming") => |s, now| s.is_upcoming(now),
        Some("past") => |s, now| !s.is_upcoming(now),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "when={other:?}: use upcoming, past or all"
            )));
        }
    };
    let mut views = Vec::new();
    for session in state.sessions().await?.iter().filter(|s| keep(s, now)) {
        views.push(view(&state, session).await?);
    }
    Ok(ApiJson(views))
}

pub async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<SessionView> {
    let session = state.resolve_session(&key).await?;
    Ok(ApiJson(view(&state, &session).await?))
}

pub async fn add(
    State(state): State<AppState>,
    ApiJson(mut new): ApiJson<NewSession>,
) -> Result<(StatusCode, ApiJson<SessionView>), ApiError> {
    let community_id = state.community_id()?;
    let mut hosts = Vec::new();
    for host in &new.hosts {
        hosts.push(state.acting_member(Some(host)).await?.id);
    }
    if hosts.is_empty() {
        hosts.push(state.me()?);
    }
    new.hosts = hosts;
    let id = new_id();
    let session = Session::new(&id, &new)?;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.index(&id, DocKind::Session);
        Ok(())
    })?;
    session.write(tx.create(&id)?)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, &session).await?)))
}

/// Reads the session, lets `edit` change it, commits, returns the new view.
async fn change<R>(
    state: &AppState,
    key: &str,
    edit: impl FnOnce(&mut Session) -> Result<R, ModelError>,
) -> Result<(Session, R), ApiError> {
    let id = state.resolve_session(key).await?.id;
    let mut tx = state.repo.begin(&[&id]).await;
    let (session, result) = Session::update(tx.doc(&id)?, |s| {
        let r = edit(s)?;
        Ok((s.clone(), r))
    })?;
    tx.commit().await?;
    Ok((session, result))
}

pub async fn rsvp(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<RsvpRequest>,
) -> ApiResult<SessionView> {
    let member = state.acting_member(req.member.as_deref()).await?;
    let (now, _) = now();
    let (session, ()) = change(&state, &key, |s| s.rsvp(&member.id, &req.status, &now)).await?;
    Ok(ApiJson(view(&state, &session).await?))
}

pub async fn attend(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<AttendRequest>,
) -> ApiResult<SessionView> {
    let mut ids = Vec::new();
    if req.members.is_empty() {
        ids.push(state.acting_member(None).await?.id);
    }
    for m in &req.members {
        ids.push(state.acting_member(Some(m)).await?.id);
    }
    let (now, _) = now();
    let (session, ()) = change(&state, &key, |s| {
        if s.start_time().is_some_and(|t| t > clock()) {
            return Err(ModelError::Invalid {
                field: "attendance",
                reason: format!("{:?} has not started yet", s.title),
            });
        }
        ids.iter().for_each(|id| s.attend(id, &now));
        Ok(())
    })
    .await?;
    Ok(ApiJson(view(&state, &session).await?))
}

pub async fn notes(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<NotesRequest>,
) -> ApiResult<SessionView> {
    let (session, ()) = change(&state, &key, |s| match (&req.append, &req.set) {
        (Some(text), None) => s.notes_append(text),
        (None, Some(text)) => s.notes_set(text),
        _ => Err(ModelError::Invalid {
            field: "notes",
            reason: "give exactly one of append or set".into(),
        }),
    })
    .await?;
    Ok(ApiJson(view(&state, &session).await?))
}

pub async fn agenda(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<Vec<AgendaItem>> {
    let session = state.resolve_session(&key).await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

async fn agenda_of(state: &AppState, session: &Session) -> Result<Vec<AgendaItem>, ApiError> {
    let ranked = session.agenda();
    let authors = state.member_refs(ranked.iter().map(|(_, p)| &p.by)).await?;
    Ok(ranked
        .into_iter()
        .zip(authors)
        .map(|((id, p), by)| AgendaItem {
            id: id.clone(),
            title: p.title.clone(),
            kind: p.proposal_kind.clone(),
            by,
            votes: p.votes.len(),
            slot: p.slot.clone(),
        })
        .collect())
}

pub async fn propose(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<ProposeRequest>,
) -> Result<(StatusCode, ApiJson<Vec<AgendaItem>>), ApiError> {
    let member = state.acting_member(req.member.as_deref()).await?;
    let (now, _) = now();
    let id = new_id();
    let (session, ()) = change(&state, &key, |s| {
        s.propose(&id, &req.title, &req.kind, &member.id, &now)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(agenda_of(&state, &session).await?),
    ))
}

pub async fn vote(
    State(state): State<AppState>,
    Path((key, proposal)): Path<(String, String)>,
    ApiJson(req): ApiJson<VoteRequest>,
) -> ApiResult<Vec<AgendaItem>> {
    let member = state.acting_member(req.member.as_deref()).await?;
    let current = state.resolve_session(&key).await?;
    let proposal = resolve_proposal(&current, &proposal)?;
    let (session, ()) = change(&state, &current.id, |s| {
        s.vote(&proposal, &member.id, req.vote)
    })
    .await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

/// A proposal by id, id prefix, or title prefix, case-insensitive.
fn resolve_proposal(session: &Session, key: &str) -> Result<String, ApiError> {
    let lower = key.trim().to_lowercase();
    let found: Vec<&String> = session
        .proposals
        .iter()
        .filter(|(id, p)| {
            **id == key || id.starts_with(key) || p.title.to_lowercase().starts_with(&lower)
        })
        .map(|(id, _)| id)
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::not_found(format!(
            "no proposal {key:?} in {:?}",
            session.title
        ))),
        _ => Err(ApiError::conflict(format!(
            "{key:?} matches several proposals; use the id"
        ))),
    }
}

pub async fn schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult<Vec<AgendaItem>> {
    let me = state.me()?;
    let current = state.resolve_session(&key).await?;
    if !current.hosts.contains_key(&me) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "only the hosts of {:?} can schedule its agenda",
                current.title
            ),
        ));
    }
    let (session, _) = change(&state, &current.id, |s| {
        s.schedule(req.top, &req.from, req.minutes)
    })
    .await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

pub async fn export_ics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let community = state.community().await?;
    let sessions = state.sessions().await?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        ics::calendar(&community.name, &sessions),
    ))
}

async fn view(state: &AppState, s: &Session) -> Result<SessionView, ApiError> {
    Ok(SessionView {
        id: s.id.clone(),
        title: s.title.clone(),
        kind: s.session_kind.clone(),
        start: s.start.clone(),
        end: s.end.clone(),
        place: s.place.clone(),
        online: s.online.clone(),
        hosts: state.member_refs(s.hosts.keys()).await?,
        guests: s.guests.clone(),
        description: s.description.clone(),
        rsvps: s
            .rsvps
            .iter()
            .map(|(m, r)| (m.clone(), r.status.clone()))
            .collect(),
        attendance: state.member_refs(s.attendance.keys()).await?,
        notes: s.notes.as_str().to_owned(),
        proposals: s.proposals.len(),
    })
}
