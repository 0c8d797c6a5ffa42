//! Sessions, RSVPs, attendance, write-ups, unconference agendas and the iCalendar export.
//!
//! Who may do what is enforced here (see `allowed`): hosts, the creator and stewards change
//! and cancel a session, schedule and move its slots; the author of a proposal (or who
//! entered it) withdraws it; a member takes back their own attendance, or one they recorded.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use crdt_model::api::{
    AgendaItem, AttendRequest, CancelRequest, CancellationView, ErrorBody, MemberRef, MoveRequest,
    NotesRequest, ProposeRequest, RsvpRequest, RsvpView, ScheduleRequest, SessionView, SlotView,
    VoteRequest,
};
use crdt_model::community::Community;
use crdt_model::session::{NewSession, Session, SessionChange};
use crdt_model::{DocKind, GuildDoc, ModelError, when};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, clock, log_change, new_id, now};
use super::{allowed, guests, ics};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `upcoming`, `past` or `all` [default: all].
    #[param(pattern = "^(upcoming|past|all)?$")]
    pub(crate) when: Option<String>,
}

/// Sessions by start time: all, upcoming or past.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    operation_id = "listSessions",
    params(ListQuery),
    responses(
        (status = 200, description = "Sessions", body = [SessionView]),
        (status = 400, description = "`when` is not upcoming, past or all", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
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
    let names = Names::read(&state).await?;
    let community = state.community().await?;
    let views = state
        .sessions()
        .await?
        .iter()
        .filter(|s| keep(s, now))
        .map(|s| view(&names, &community, s))
        .collect();
    Ok(ApiJson(views))
}

/// One session: times, hosts, RSVPs, attendance, write-up, agenda slots.
#[utoipa::path(
    get,
    path = "/api/sessions/{id}",
    tag = "sessions",
    operation_id = "showSession",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<SessionView> {
    let session = state.resolve_session(&key).await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// Schedules a session (you host it unless `hosts` says otherwise).
#[utoipa::path(
    post,
    path = "/api/sessions",
    tag = "sessions",
    operation_id = "addSession",
    request_body = NewSession,
    responses(
        (status = 201, description = "The session", body = SessionView),
        (status = 400, description = "A field is not valid, or a host is not a member", body = ErrorBody),
        (status = 404, description = "No such guest", body = ErrorBody),
        (status = 409, description = "No community yet, or a host or guest matches several", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(mut new): ApiJson<NewSession>,
) -> Result<(StatusCode, ApiJson<SessionView>), ApiError> {
    let community_id = state.community_id()?;
    let me = state.acting_member(None).await?.id;
    let mut hosts = Vec::new();
    for host in &new.hosts {
        hosts.push(state.acting_member(Some(host)).await?.id);
    }
    if hosts.is_empty() {
        hosts.push(me.clone());
    }
    new.hosts = hosts;
    new.guests = guests::resolve_all(&state, &new.guests).await?;
    let id = new_id();
    let mut session = Session::new(&id, &new)?;
    session.created_by = me;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.index(&id, DocKind::Session);
        Ok(())
    })?;
    session.write(tx.create(&id)?)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(view_of(&state, &session).await?),
    ))
}

/// A change-log entry to write with a change, in the same transaction.
struct Logged {
    action: &'static str,
    summary: String,
}

/// Reads the session `id`, lets `edit` change it, records `log` if given, commits; returns
/// the session as written.
async fn change<R>(
    state: &AppState,
    id: &str,
    log: Option<Logged>,
    edit: impl FnOnce(&mut Session) -> Result<R, ModelError>,
) -> Result<(Session, R), ApiError> {
    let community_id = state.community_id()?;
    let locked: Vec<&str> = if log.is_some() {
        vec![&community_id, id]
    } else {
        vec![id]
    };
    let mut tx = state.repo.begin(&locked).await;
    let (session, result) = Session::update(tx.doc(id)?, |s| {
        let r = edit(s)?;
        Ok((s.clone(), r))
    })?;
    if let Some(log) = log {
        let me = state.me()?;
        log_change(&mut tx, &community_id, &me, log.action, id, log.summary)?;
    }
    tx.commit().await?;
    Ok((session, result))
}

/// Changes a session: its hosts, who created it, or a steward.
///
/// Fields left out stay as they are; host changes are logged.
#[utoipa::path(
    patch,
    path = "/api/sessions/{id}",
    tag = "sessions",
    operation_id = "updateSession",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = SessionChange,
    responses(
        (status = 200, description = "The session as changed", body = SessionView),
        (status = 400, description = "A field is not valid, or a host or guest named is not one", body = ErrorBody),
        (status = 403, description = "Only its hosts, who created it, or stewards may change it", body = ErrorBody),
        (status = 404, description = "No such session or guest", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut req): ApiJson<SessionChange>,
) -> ApiResult<SessionView> {
    let current = state.resolve_session(&key).await?;
    allowed::change_session(&state, &current, &format!("change {:?}", current.title)).await?;
    let mut added = Vec::new();
    for host in &req.add_hosts {
        added.push(state.acting_member(Some(host)).await?);
    }
    let mut removed = Vec::new();
    for host in &req.remove_hosts {
        removed.push(host_id(&state, &current, host).await?);
    }
    req.add_hosts = added.iter().map(|m| m.id.clone()).collect();
    req.remove_hosts = removed.iter().map(|(id, _)| id.clone()).collect();
    req.add_guests = guests::resolve_all(&state, &req.add_guests).await?;
    let mut remove_guests = Vec::new();
    for guest in &req.remove_guests {
        // A guest from the list, or a name typed before guests were kept.
        remove_guests.push(match guests::resolve(&state, guest).await {
            Ok((id, g)) if !current.guest_speakers.contains_key(&id) => {
                return Err(ApiError::bad_request(format!(
                    "{} is not a guest speaker of {:?}",
                    g.name, current.title
                )));
            }
            Ok((id, _)) => id,
            Err(_) => guest.clone(),
        });
    }
    req.remove_guests = remove_guests;
    // Hosts are roles: changing them goes in the change log.
    let log = (!added.is_empty() || !removed.is_empty()).then(|| {
        let mut said = Vec::new();
        if !added.is_empty() {
            let names: Vec<&str> = added.iter().map(|m| m.name.as_str()).collect();
            said.push(format!("made {} a host", names.join(", ")));
        }
        if !removed.is_empty() {
            let names: Vec<&str> = removed.iter().map(|(_, n)| n.as_str()).collect();
            said.push(format!("{} no longer hosting", names.join(", ")));
        }
        Logged {
            action: "session.hosts",
            summary: format!("{} of {:?}", said.join("; "), current.title),
        }
    });
    let (session, ()) = change(&state, &current.id, log, |s| s.apply(&req)).await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// A host to remove: a current member, or the id of a host who left the community.
async fn host_id(
    state: &AppState,
    session: &Session,
    key: &str,
) -> Result<(String, String), ApiError> {
    let key = key.trim();
    let (id, name) = if session.hosts.contains_key(key) {
        let name = state
            .member_refs([&key.to_owned()])
            .await?
            .pop()
            .map_or_else(|| key.to_owned(), |m| m.name);
        (key.to_owned(), name)
    } else {
        let member = state.acting_member(Some(key)).await?;
        (member.id, member.name)
    };
    if !session.hosts.contains_key(&id) {
        return Err(ApiError::bad_request(format!(
            "{name} is not a host of {:?}",
            session.title
        )));
    }
    Ok((id, name))
}

/// Cancels a session (kept, shown as cancelled) or reinstates it; logged.
#[utoipa::path(
    put,
    path = "/api/sessions/{id}/cancelled",
    tag = "sessions",
    operation_id = "cancelSession",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = CancelRequest,
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 400, description = "Already cancelled, or not cancelled", body = ErrorBody),
        (status = 403, description = "Only its hosts, who created it, or stewards may cancel it", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<CancelRequest>,
) -> ApiResult<SessionView> {
    let current = state.resolve_session(&key).await?;
    let verb = if req.cancelled { "cancel" } else { "reinstate" };
    let me =
        allowed::change_session(&state, &current, &format!("{verb} {:?}", current.title)).await?;
    let (now, _) = now();
    let log = if req.cancelled {
        Logged {
            action: "session.cancelled",
            summary: if req.reason.trim().is_empty() {
                format!("cancelled {:?}", current.title)
            } else {
                format!("cancelled {:?}: {}", current.title, req.reason.trim())
            },
        }
    } else {
        Logged {
            action: "session.reinstated",
            summary: format!("reinstated {:?}", current.title),
        }
    };
    let (session, ()) = change(&state, &current.id, Some(log), |s| {
        if req.cancelled {
            s.cancel(&me, &now, &req.reason)
        } else {
            s.reinstate()
        }
    })
    .await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// Answers for yourself, or for a member (`member`): going, maybe or not-going.
#[utoipa::path(
    put,
    path = "/api/sessions/{id}/rsvp",
    tag = "sessions",
    operation_id = "rsvp",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = RsvpRequest,
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 400, description = "Not going, maybe or not-going; cancelled; or the member is not one", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions or members match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn rsvp(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<RsvpRequest>,
) -> ApiResult<SessionView> {
    let member = state.acting_member(req.member.as_deref()).await?;
    let id = state.resolve_session(&key).await?.id;
    let (now, _) = now();
    let (session, ()) =
        change(&state, &id, None, |s| s.rsvp(&member.id, &req.status, &now)).await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// Members and guests a request names; no one named means me.
async fn people(
    state: &AppState,
    req: &AttendRequest,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
    let mut members = Vec::new();
    if req.members.is_empty() && req.guests.is_empty() {
        let me = state.acting_member(None).await?;
        members.push((me.id, me.name));
    }
    for m in &req.members {
        let member = state.acting_member(Some(m)).await?;
        members.push((member.id, member.name));
    }
    let mut guests = Vec::new();
    for g in &req.guests {
        let (id, guest) = guests::resolve(state, g).await?;
        guests.push((id, guest.name));
    }
    Ok((members, guests))
}

/// Records who came: members and guests (nobody named means you).
#[utoipa::path(
    post,
    path = "/api/sessions/{id}/attendance",
    tag = "sessions",
    operation_id = "attend",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = AttendRequest,
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 400, description = "The session has not started or is cancelled, or someone named is not a member", body = ErrorBody),
        (status = 404, description = "No such session or guest", body = ErrorBody),
        (status = 409, description = "No community yet, or a name matches several", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn attend(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<AttendRequest>,
) -> ApiResult<SessionView> {
    let me = state.me()?;
    let (members, guests) = people(&state, &req).await?;
    let id = state.resolve_session(&key).await?.id;
    let (now, _) = now();
    let (session, ()) = change(&state, &id, None, |s| {
        s.ensure_open()?;
        if s.start_time().is_some_and(|t| t > clock()) {
            return Err(ModelError::Invalid {
                field: "attendance",
                reason: format!("{:?} has not started yet", s.title),
            });
        }
        for (member, _) in &members {
            s.record_attendance(member, &me, &now);
        }
        for (guest, _) in &guests {
            s.attend_guest(guest, &me, &now);
        }
        Ok(())
    })
    .await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// Takes back attendance entries.
///
/// One's own, ones one recorded, or (hosts, who created the session, stewards) any.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}/attendance",
    tag = "sessions",
    operation_id = "unattend",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = AttendRequest,
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 400, description = "Someone named did not come, or is not a member", body = ErrorBody),
        (status = 403, description = "You may not take back this entry (the message says who may)", body = ErrorBody),
        (status = 404, description = "No such session or guest", body = ErrorBody),
        (status = 409, description = "No community yet, or a name matches several", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn unattend(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<AttendRequest>,
) -> ApiResult<SessionView> {
    let current = state.resolve_session(&key).await?;
    let (members, guests) = people(&state, &req).await?;
    for (id, name, guest) in members
        .iter()
        .map(|(id, name)| (id, name, false))
        .chain(guests.iter().map(|(id, name)| (id, name, true)))
    {
        let recorder = current.recorded_by.get(id).map_or("", String::as_str);
        // A member may take back their own entry; a guest's is taken back by who recorded it.
        let (owners, role) = if guest {
            (vec![recorder], "who recorded it")
        } else {
            (vec![id.as_str(), recorder], "who came or recorded it")
        };
        allowed::owner_or_steward(
            &state,
            &owners,
            role,
            Some(&current),
            &format!("take back {name}'s attendance at {:?}", current.title),
        )
        .await?;
    }
    let names: Vec<&str> = members
        .iter()
        .chain(&guests)
        .map(|(_, n)| n.as_str())
        .collect();
    let log = Logged {
        action: "attendance.removed",
        summary: format!(
            "took back the attendance of {} at {:?}",
            names.join(", "),
            current.title
        ),
    };
    let (session, ()) = change(&state, &current.id, Some(log), |s| {
        for (id, name) in &members {
            s.unattend(id, name)?;
        }
        for (id, name) in &guests {
            s.unattend_guest(id, name)?;
        }
        Ok(())
    })
    .await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// The write-up: a paragraph appended, or the whole text replaced.
///
/// Edits the document's text directly (see `Session::append_notes`), so concurrent edits
/// merge.
#[utoipa::path(
    post,
    path = "/api/sessions/{id}/notes",
    tag = "sessions",
    operation_id = "notes",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = NotesRequest,
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 400, description = "Not exactly one of `append` and `set`, or the text is too long", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn notes(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<NotesRequest>,
) -> ApiResult<SessionView> {
    let id = state.resolve_session(&key).await?.id;
    let mut tx = state.repo.begin(&[&id]).await;
    let doc = tx.doc(&id)?;
    match (&req.append, &req.set) {
        (Some(text), None) => Session::append_notes(doc, text)?,
        (None, Some(text)) => Session::set_notes(doc, text)?,
        _ => {
            return Err(ApiError::bad_request("give exactly one of append or set"));
        }
    }
    let session = Session::read(doc)?;
    tx.commit().await?;
    Ok(ApiJson(view_of(&state, &session).await?))
}

/// An unconference's agenda: proposals ranked by the votes that count.
#[utoipa::path(
    get,
    path = "/api/sessions/{id}/agenda",
    tag = "agenda",
    operation_id = "agenda",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    responses(
        (status = 200, description = "Proposals, most votes first", body = [AgendaItem]),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
    )
)]
pub async fn agenda(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<Vec<AgendaItem>> {
    let session = state.resolve_session(&key).await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

async fn agenda_of(state: &AppState, session: &Session) -> Result<Vec<AgendaItem>, ApiError> {
    let names = Names::read(state).await?;
    let counted = session.counted_votes();
    Ok(session
        .agenda()
        .into_iter()
        .map(|(id, p)| AgendaItem {
            id: id.clone(),
            title: p.title.clone(),
            kind: p.proposal_kind.clone(),
            by: names.member(&p.by),
            votes: counted.get(id.as_str()).copied().unwrap_or(0),
            slot: p.slot.clone(),
        })
        .collect())
}

/// Proposes a talk, discussion or ask for help, for yourself or a member (`member`).
#[utoipa::path(
    post,
    path = "/api/sessions/{id}/agenda",
    tag = "agenda",
    operation_id = "propose",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = ProposeRequest,
    responses(
        (status = 201, description = "The agenda with the proposal", body = [AgendaItem]),
        (status = 400, description = "A field is not valid, the session is cancelled, or the presenter is a guest or not a member", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions or members match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn propose(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<ProposeRequest>,
) -> Result<(StatusCode, ApiJson<Vec<AgendaItem>>), ApiError> {
    let me = state.me()?;
    let member = guests::acting_member(&state, req.member.as_deref(), "propose").await?;
    let session = state.resolve_session(&key).await?.id;
    let (now, _) = now();
    let id = new_id();
    let (session, ()) = change(&state, &session, None, |s| {
        s.propose_for(&id, &req.title, &req.kind, &member.id, &me, &now)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(agenda_of(&state, &session).await?),
    ))
}

/// Withdraws a proposal: its presenter, who entered it, the session's hosts or stewards.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}/agenda/{proposal}",
    tag = "agenda",
    operation_id = "withdraw",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title"), ("proposal" = String, Path, description = "A proposal: id, id prefix, or unique prefix of its title")),
    responses(
        (status = 200, description = "The agenda without the proposal", body = [AgendaItem]),
        (status = 403, description = "Only its presenter, who entered it, the hosts or stewards may withdraw it", body = ErrorBody),
        (status = 404, description = "No such session or proposal", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions or proposals match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    Path((key, proposal)): Path<(String, String)>,
) -> ApiResult<Vec<AgendaItem>> {
    let current = state.resolve_session(&key).await?;
    let proposal = resolve_proposal(&current, &proposal)?;
    let p = &current.proposals[&proposal];
    allowed::owner_or_steward(
        &state,
        &[&p.by, &p.created_by],
        "who proposed it",
        Some(&current),
        &format!("withdraw {:?}", p.title),
    )
    .await?;
    let log = Logged {
        action: "proposal.withdrawn",
        summary: format!("withdrew {:?} from {:?}", p.title, current.title),
    };
    let (session, _) = change(&state, &current.id, Some(log), |s| s.withdraw(&proposal)).await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

/// Votes for a proposal (a dot), or withdraws the vote, for yourself or a member.
#[utoipa::path(
    put,
    path = "/api/sessions/{id}/agenda/{proposal}/vote",
    tag = "agenda",
    operation_id = "vote",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title"), ("proposal" = String, Path, description = "A proposal: id, id prefix, or unique prefix of its title")),
    request_body = VoteRequest,
    responses(
        (status = 200, description = "The agenda", body = [AgendaItem]),
        (status = 400, description = "No votes left, the session is cancelled, or the voter is a guest or not a member", body = ErrorBody),
        (status = 404, description = "No such session or proposal", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions or proposals match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn vote(
    State(state): State<AppState>,
    Path((key, proposal)): Path<(String, String)>,
    ApiJson(req): ApiJson<VoteRequest>,
) -> ApiResult<Vec<AgendaItem>> {
    let member = guests::acting_member(&state, req.member.as_deref(), "vote").await?;
    let current = state.resolve_session(&key).await?;
    let proposal = resolve_proposal(&current, &proposal)?;
    let me = state.me()?;
    let (now, _) = now();
    let (session, ()) = change(&state, &current.id, None, |s| {
        s.vote_for(&proposal, &member.id, &me, req.vote, &now)
    })
    .await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

/// A proposal by id, id prefix, or title prefix (ignoring case and accents).
fn resolve_proposal(session: &Session, key: &str) -> Result<String, ApiError> {
    let folded = crdt_model::text::fold(key);
    let key = key.trim();
    if session.proposals.contains_key(key) {
        return Ok(key.to_owned());
    }
    let found: Vec<&String> = session
        .proposals
        .iter()
        .filter(|(id, p)| {
            (!key.is_empty() && id.starts_with(key))
                || (!folded.is_empty() && crdt_model::text::fold(&p.title).starts_with(&folded))
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

/// The writer's time zone, if the request names one.
fn zone(tz: Option<&String>) -> Result<Option<when::Zone>, ApiError> {
    Ok(tz.map(|name| when::zone(name)).transpose()?)
}

/// Turns the best-voted proposals into timed slots in the session's rooms.
///
/// Hosts, who created the session, and stewards.
#[utoipa::path(
    post,
    path = "/api/sessions/{id}/schedule",
    tag = "agenda",
    operation_id = "schedule",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title")),
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "The agenda with its slots", body = [AgendaItem]),
        (status = 400, description = "The start, length, time zone or `top` is not valid, or nothing fits", body = ErrorBody),
        (status = 403, description = "Only its hosts, who created it, or stewards may schedule it", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult<Vec<AgendaItem>> {
    let zone = zone(req.tz.as_ref())?;
    let current = state.resolve_session(&key).await?;
    allowed::change_session(&state, &current, &format!("schedule {:?}", current.title)).await?;
    let (session, _) = change(&state, &current.id, None, |s| {
        s.schedule(req.top, &req.from, req.minutes, zone.as_ref())
    })
    .await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

/// Moves a proposal's slot by hand (swapping with the slot it lands on exactly).
#[utoipa::path(
    put,
    path = "/api/sessions/{id}/agenda/{proposal}/slot",
    tag = "agenda",
    operation_id = "moveSlot",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title"), ("proposal" = String, Path, description = "A proposal: id, id prefix, or unique prefix of its title")),
    request_body = MoveRequest,
    responses(
        (status = 200, description = "The agenda", body = [AgendaItem]),
        (status = 400, description = "The time, length, room or time zone is not valid", body = ErrorBody),
        (status = 403, description = "Only its hosts, who created it, or stewards may move slots", body = ErrorBody),
        (status = 404, description = "No such session or proposal", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions or proposals match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn move_slot(
    State(state): State<AppState>,
    Path((key, proposal)): Path<(String, String)>,
    ApiJson(req): ApiJson<MoveRequest>,
) -> ApiResult<Vec<AgendaItem>> {
    let zone = zone(req.tz.as_ref())?;
    let current = state.resolve_session(&key).await?;
    let proposal = resolve_proposal(&current, &proposal)?;
    allowed::change_session(
        &state,
        &current,
        &format!("move slots of {:?}", current.title),
    )
    .await?;
    let (session, _) = change(&state, &current.id, None, |s| {
        s.move_slot(
            &proposal,
            &req.at,
            req.minutes,
            req.room.as_deref(),
            zone.as_ref(),
        )
    })
    .await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

/// Takes a proposal's slot away; the proposal stays on the agenda.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}/agenda/{proposal}/slot",
    tag = "agenda",
    operation_id = "unschedule",
    params(("id" = String, Path, description = "A session: id, unique id prefix, or unique (prefix of a) title"), ("proposal" = String, Path, description = "A proposal: id, id prefix, or unique prefix of its title")),
    responses(
        (status = 200, description = "The agenda", body = [AgendaItem]),
        (status = 400, description = "The proposal has no slot", body = ErrorBody),
        (status = 403, description = "Only its hosts, who created it, or stewards may move slots", body = ErrorBody),
        (status = 404, description = "No such session or proposal", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions or proposals match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn unschedule(
    State(state): State<AppState>,
    Path((key, proposal)): Path<(String, String)>,
) -> ApiResult<Vec<AgendaItem>> {
    let current = state.resolve_session(&key).await?;
    let proposal = resolve_proposal(&current, &proposal)?;
    allowed::change_session(
        &state,
        &current,
        &format!("move slots of {:?}", current.title),
    )
    .await?;
    let (session, ()) = change(&state, &current.id, None, |s| s.unschedule(&proposal)).await?;
    Ok(ApiJson(agenda_of(&state, &session).await?))
}

/// Every session as iCalendar (RFC 5545): one event per session and per slot.
#[utoipa::path(
    get,
    path = "/api/sessions/export.ics",
    tag = "sessions",
    operation_id = "exportSessions",
    responses(
        (status = 200, description = "The calendar", body = String, content_type = "text/calendar"),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn export_ics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let community = state.community().await?;
    let sessions = state.sessions().await?;
    let names = Names::read(&state).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        ics::calendar(&community, &sessions, &|id| names.member(id).name),
    ))
}

/// Members' names by id, read once per answer (removed members included: they may have
/// hosted or come before they left).
struct Names(BTreeMap<String, String>);

impl Names {
    async fn read(state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(
            state
                .members(true)
                .await?
                .into_iter()
                .map(|m| (m.id, m.name))
                .collect(),
        ))
    }

    /// An unknown id (a member whose document has not arrived yet) keeps the id as its name.
    fn member(&self, id: &str) -> MemberRef {
        MemberRef {
            id: id.to_owned(),
            name: self.0.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        }
    }

    /// Sorted by name (then id), the same on every replica.
    fn members<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Vec<MemberRef> {
        let mut refs: Vec<MemberRef> = ids.into_iter().map(|id| self.member(id)).collect();
        refs.sort_by(|a, b| by_name(&a.name, &a.id, &b.name, &b.id));
        refs
    }
}

fn by_name(a: &str, a_id: &str, b: &str, b_id: &str) -> std::cmp::Ordering {
    crdt_model::text::fold(a)
        .cmp(&crdt_model::text::fold(b))
        .then_with(|| a_id.cmp(b_id))
}

async fn view_of(state: &AppState, s: &Session) -> Result<SessionView, ApiError> {
    let names = Names::read(state).await?;
    let community = state.community().await?;
    Ok(view(&names, &community, s))
}

fn view(names: &Names, community: &Community, s: &Session) -> SessionView {
    let mut speakers = guests::refs(community, s.guest_speakers.keys());
    speakers.extend(s.guests.iter().map(|name| crdt_model::api::GuestRef {
        id: String::new(),
        name: name.clone(),
        organisation: String::new(),
    }));
    let room_order = |room: &str| s.rooms.iter().position(|r| r == room).unwrap_or(0);
    let mut slots: Vec<SlotView> = s
        .proposals
        .iter()
        .filter_map(|(id, p)| {
            let slot = p.slot.as_ref()?;
            Some(SlotView {
                proposal: id.clone(),
                title: p.title.clone(),
                kind: p.proposal_kind.clone(),
                by: names.member(&p.by),
                start: slot.start.clone(),
                end: slot.end.clone(),
                room: s.room_of(slot).to_owned(),
            })
        })
        .collect();
    slots.sort_by(|a, b| {
        let at = |v: &SlotView| when::parse("slot", &v.start).ok();
        at(a)
            .cmp(&at(b))
            .then_with(|| room_order(&a.room).cmp(&room_order(&b.room)))
            .then_with(|| a.proposal.cmp(&b.proposal))
    });
    SessionView {
        id: s.id.clone(),
        title: s.title.clone(),
        kind: s.session_kind.clone(),
        start: s.start.clone(),
        end: s.end.clone(),
        place: s.place.clone(),
        online: s.online.clone(),
        hosts: names.members(s.hosts.keys()),
        guests: speakers,
        description: s.description.clone(),
        rsvps: {
            let mut rsvps: Vec<RsvpView> = s
                .rsvps
                .iter()
                .map(|(m, r)| RsvpView {
                    member: names.member(m),
                    status: r.status.clone(),
                })
                .collect();
            rsvps.sort_by(|a, b| {
                by_name(&a.member.name, &a.member.id, &b.member.name, &b.member.id)
            });
            rsvps
        },
        attendance: names.members(s.attendance.keys()),
        guest_attendance: guests::refs(community, s.guest_attendance.keys()),
        notes: s.notes.as_str().to_owned(),
        proposals: s.proposals.len(),
        created_by: (!s.created_by.is_empty()).then(|| names.member(&s.created_by)),
        cancelled: s.cancelled.as_ref().map(|c| CancellationView {
            at: c.at.clone(),
            by: names.member(&c.by),
            reason: c.reason.clone(),
        }),
        rooms: s.rooms.clone(),
        vote_budget: s.vote_budget,
        slots,
        clashes: s.clashes().iter().map(|c| s.describe_clash(c)).collect(),
    }
}
