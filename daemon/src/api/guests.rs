//! Guests: people from outside the community (guest speakers, suppliers, other
//! departments), kept in the community document's guest list. They are recorded as
//! speakers, attendees and answerers without becoming members, and never vote or propose.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{ErrorBody, GuestRef, GuestView};
use crdt_model::community::{Community, Guest, GuestChange, NewGuest};
use crdt_model::member::Member;

use super::allowed;
use super::error::{ApiError, ApiJson, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, log_change, new_id, now};

/// The community's guests (not members): speakers, suppliers, visitors.
#[utoipa::path(
    get,
    path = "/api/guests",
    tag = "guests",
    operation_id = "listGuests",
    responses(
        (status = 200, description = "Current guests, by name", body = [GuestView]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Vec<GuestView>> {
    let community = state.community().await?;
    let mut guests: Vec<(&String, &Guest)> = community
        .guests
        .iter()
        .filter(|(_, g)| !g.removed)
        .collect();
    guests.sort_by(|(ia, a), (ib, b)| {
        crdt_model::text::fold(&a.name)
            .cmp(&crdt_model::text::fold(&b.name))
            .then_with(|| ia.cmp(ib))
    });
    let mut views = Vec::new();
    for (id, guest) in guests {
        views.push(view(&state, id, guest).await?);
    }
    Ok(ApiJson(views))
}

/// One guest, with the sessions they spoke at and came to.
#[utoipa::path(
    get,
    path = "/api/guests/{id}",
    tag = "guests",
    operation_id = "showGuest",
    params(("id" = String, Path, description = "A guest: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    responses(
        (status = 200, description = "The guest", body = GuestView),
        (status = 404, description = "No such guest", body = ErrorBody),
        (status = 409, description = "No community yet, or several guests match", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<GuestView> {
    let (id, guest) = resolve(&state, &key).await?;
    Ok(ApiJson(view(&state, &id, &guest).await?))
}

/// Records a guest.
#[utoipa::path(
    post,
    path = "/api/guests",
    tag = "guests",
    operation_id = "addGuest",
    request_body = NewGuest,
    responses(
        (status = 201, description = "The guest", body = GuestView),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewGuest>,
) -> Result<(StatusCode, ApiJson<GuestView>), ApiError> {
    let me = state.acting_member(None).await?.id;
    let community_id = state.community_id()?;
    let (now, _) = now();
    let id = new_id();
    let mut tx = state.repo.begin(&[&community_id]).await;
    let guest = Community::update(tx.doc(&community_id)?, |c| {
        c.add_guest(&id, &new, &me, &now)
    })?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(view(&state, &id, &guest).await?),
    ))
}

/// Changes a guest's record: who recorded them, or a steward.
#[utoipa::path(
    patch,
    path = "/api/guests/{id}",
    tag = "guests",
    operation_id = "updateGuest",
    params(("id" = String, Path, description = "A guest: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    request_body = GuestChange,
    responses(
        (status = 200, description = "The guest as changed", body = GuestView),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 403, description = "Only who recorded them, or stewards, may change a guest", body = ErrorBody),
        (status = 404, description = "No such guest", body = ErrorBody),
        (status = 409, description = "No community yet, or several guests match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(change): ApiJson<GuestChange>,
) -> ApiResult<GuestView> {
    let (id, current) = resolve(&state, &key).await?;
    allowed::owner_or_steward(
        &state,
        &[&current.added_by],
        "who recorded them",
        None,
        &format!("change the guest {}", current.name),
    )
    .await?;
    let community_id = state.community_id()?;
    let mut tx = state.repo.begin(&[&community_id]).await;
    let guest = Community::update(tx.doc(&community_id)?, |c| c.change_guest(&id, &change))?;
    tx.commit().await?;
    Ok(ApiJson(view(&state, &id, &guest).await?))
}

/// Removes a guest: who recorded them, or a steward; logged.
#[utoipa::path(
    delete,
    path = "/api/guests/{id}",
    tag = "guests",
    operation_id = "removeGuest",
    params(("id" = String, Path, description = "A guest: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Only who recorded them, or stewards, may remove a guest", body = ErrorBody),
        (status = 404, description = "No such guest", body = ErrorBody),
        (status = 409, description = "No community yet, or several guests match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (id, current) = resolve(&state, &key).await?;
    let me = allowed::owner_or_steward(
        &state,
        &[&current.added_by],
        "who recorded them",
        None,
        &format!("remove the guest {}", current.name),
    )
    .await?;
    let community_id = state.community_id()?;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| c.remove_guest(&id).map(drop))?;
    log_change(
        &mut tx,
        &community_id,
        &me,
        "guest.removed",
        &id,
        format!("removed the guest {}", current.name),
    )?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A current guest by id, unique id prefix, or unique name (prefix), ignoring case and
/// accents.
pub async fn resolve(state: &AppState, key: &str) -> Result<(String, Guest), ApiError> {
    let community = state.community().await?;
    let found = community.find_guests(key);
    match found.as_slice() {
        [(id, guest)] => Ok(((*id).clone(), (*guest).clone())),
        [] => Err(ApiError::not_found(format!(
            "no guest {:?}; record them first with guild guests add",
            key.trim()
        ))),
        many => Err(ApiError::conflict(format!(
            "{key:?} matches {} guests ({}); use the guest id",
            many.len(),
            many.iter()
                .map(|(id, g)| format!("{id} {}", g.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Guest ids for the keys people typed.
pub async fn resolve_all(state: &AppState, keys: &[String]) -> Result<Vec<String>, ApiError> {
    let mut ids = Vec::new();
    for key in keys {
        ids.push(resolve(state, key).await?.0);
    }
    Ok(ids)
}

/// Names for guest ids (removed guests included); an unknown id keeps the id as its name.
pub fn refs<'a>(community: &Community, ids: impl IntoIterator<Item = &'a String>) -> Vec<GuestRef> {
    ids.into_iter()
        .map(|id| {
            let guest = community.guests.get(id);
            GuestRef {
                id: id.clone(),
                name: guest.map_or_else(|| id.clone(), |g| g.name.clone()),
                organisation: guest.map(|g| g.organisation.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// The member a request acts for (`key`, else me), as [`AppState::acting_member`]; when
/// `key` names a guest instead, a clear refusal: guests cannot `what` (vote, propose).
pub async fn acting_member(
    state: &AppState,
    key: Option<&str>,
    what: &str,
) -> Result<Member, ApiError> {
    match state.acting_member(key).await {
        Ok(member) => Ok(member),
        Err(e) => {
            let community = state.community().await?;
            match key.map(|k| community.find_guests(k)).as_deref() {
                Some([(_, guest), ..]) => Err(ApiError::bad_request(format!(
                    "{} is a guest, not a member: guests cannot {what}",
                    guest.name
                ))),
                _ => Err(e),
            }
        }
    }
}

async fn view(state: &AppState, id: &str, guest: &Guest) -> Result<GuestView, ApiError> {
    let sessions = state.sessions().await?;
    let added_by = state
        .member_refs([&guest.added_by])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("no name for who recorded a guest"))?;
    Ok(GuestView {
        id: id.to_owned(),
        name: guest.name.clone(),
        organisation: guest.organisation.clone(),
        note: guest.note.clone(),
        added_by,
        added: guest.added.clone(),
        spoke_at: sessions
            .iter()
            .filter(|s| s.guest_speakers.contains_key(id))
            .count(),
        came_to: sessions
            .iter()
            .filter(|s| s.guest_attendance.contains_key(id))
            .count(),
    })
}
