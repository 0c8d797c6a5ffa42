//! The member directory.
//!
//! Who may do what: any member may add someone; a member's profile may be changed by the
//! member, by a steward, and by whoever added them while they do not run Guild themselves;
//! only stewards remove members, and every removal goes into the change log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::api::{ErrorBody, MemberSaved};
use crdt_model::community::Community;
use crdt_model::member::{Member, Profile};
use crdt_model::{DocKind, GuildDoc, text};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, log_change, new_id, now};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this team, whatever the case and accents.
    team: Option<String>,
    /// Only members with this interest, whatever the case and accents.
    interest: Option<String>,
}

/// The member directory, optionally by team or interest.
#[utoipa::path(
    get,
    path = "/api/members",
    tag = "members",
    operation_id = "listMembers",
    params(ListQuery),
    responses(
        (status = 200, description = "Current members", body = [Member]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Vec<Member>> {
    let team = query.team.as_deref().map(text::fold);
    let members = state
        .members(false)
        .await?
        .into_iter()
        .filter(|m| team.as_ref().is_none_or(|t| &text::fold(&m.team) == t))
        .filter(|m| query.interest.as_ref().is_none_or(|i| m.has_interest(i)))
        .collect();
    Ok(ApiJson(members))
}

/// One member's profile and skills.
#[utoipa::path(
    get,
    path = "/api/members/{id}",
    tag = "members",
    operation_id = "showMember",
    params(("id" = String, Path, description = "A member: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    responses(
        (status = 200, description = "The member", body = Member),
        (status = 400, description = "The member is empty", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "No community yet, or several members match", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Member> {
    Ok(ApiJson(state.resolve_member(&key).await?))
}

/// Adds someone to the directory (any member may).
#[utoipa::path(
    post,
    path = "/api/members",
    tag = "members",
    operation_id = "addMember",
    request_body(content = Profile, description = "The profile; `name` is required. The buddy may be an id, id prefix or name."),
    responses(
        (status = 201, description = "The member added, with a warning if the name is already in use", body = MemberSaved),
        (status = 400, description = "A field is not valid, or the buddy is not a member", body = ErrorBody),
        (status = 409, description = "No community yet, or the buddy matches several members", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(mut profile): ApiJson<Profile>,
) -> Result<(StatusCode, ApiJson<MemberSaved>), ApiError> {
    let community_id = state.community_id()?;
    let me = state.me()?;
    let (_, today) = now();
    resolve_buddy(&state, &mut profile).await?;
    let id = new_id();
    let mut member = Member::new(&id, &profile, &today)?;
    member.added_by = me;
    let warnings = name_in_use(&state, &member).await?;

    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.index(&id, DocKind::Member);
        Ok(())
    })?;
    member.write(tx.create(&id)?)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(MemberSaved { member, warnings }),
    ))
}

/// Changes a profile: the member, a steward, or who added them while they do not run Guild.
///
/// Fields left out stay as they are.
#[utoipa::path(
    patch,
    path = "/api/members/{id}",
    tag = "members",
    operation_id = "updateMember",
    params(("id" = String, Path, description = "A member: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    request_body = Profile,
    responses(
        (status = 200, description = "The member as changed, with a warning if the new name is already in use", body = MemberSaved),
        (status = 400, description = "A field is not valid, or the buddy is not a member", body = ErrorBody),
        (status = 403, description = "You may not change this profile (the message says who may)", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "No community yet, or several members match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut profile): ApiJson<Profile>,
) -> ApiResult<MemberSaved> {
    let target = state.resolve_member(&key).await?;
    state.require_editor(&target, "change").await?;
    resolve_buddy(&state, &mut profile).await?;
    // Validate before writing, so a refused change writes nothing at all.
    let mut preview = target.clone();
    preview.apply(&profile)?;
    let warnings = if preview.name == target.name {
        Vec::new()
    } else {
        name_in_use(&state, &preview).await?
    };
    let id = target.id;
    let mut tx = state.repo.begin(&[&id]).await;
    let member = Member::update(tx.doc(&id)?, |m| {
        m.apply(&profile)?;
        Ok(m.clone())
    })?;
    tx.commit().await?;
    Ok(ApiJson(MemberSaved { member, warnings }))
}

/// Removes a member (stewards only); kept in the change log.
#[utoipa::path(
    delete,
    path = "/api/members/{id}",
    tag = "members",
    operation_id = "removeMember",
    params(("id" = String, Path, description = "A member: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The member is empty", body = ErrorBody),
        (status = 403, description = "Only stewards remove members", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "No community yet, several members match, or you would remove yourself", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let member = state.resolve_member(&key).await?;
    let me = state.require_steward("remove members").await?;
    if me == member.id {
        return Err(ApiError::conflict(
            "you cannot remove yourself; another steward can remove you",
        ));
    }
    let community_id = state.community_id()?;
    let mut tx = state.repo.begin(&[&community_id, &member.id]).await;
    Member::update(tx.doc(&member.id)?, |m| {
        m.removed = true;
        Ok(())
    })?;
    log_change(
        &mut tx,
        &community_id,
        &me,
        "member.removed",
        &member.id,
        format!("removed {}", member.name),
    )?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A warning when someone else in the directory already goes by `member`'s name (whatever
/// its case and accents): two "Sam Lee"s are fine, but whoever types the name next should
/// know to use an id or a fuller name.
async fn name_in_use(state: &AppState, member: &Member) -> Result<Vec<String>, ApiError> {
    let name = text::fold(&member.name);
    let others: Vec<Member> = state
        .members(false)
        .await?
        .into_iter()
        .filter(|m| m.id != member.id && text::fold(&m.name) == name)
        .collect();
    Ok(others
        .iter()
        .map(|other| {
            format!(
                "{} (id {}) is already called {:?}; tell them apart by id or a fuller name",
                if others.len() == 1 {
                    "another member"
                } else {
                    "a member"
                },
                other.id,
                other.name
            )
        })
        .collect())
}

/// The buddy may be given as id, id prefix or name; store the id of a current member.
async fn resolve_buddy(state: &AppState, profile: &mut Profile) -> Result<(), ApiError> {
    if let Some(buddy) = profile.buddy.as_deref().filter(|b| !b.trim().is_empty()) {
        let found = state.resolve_member(buddy).await.map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                ApiError::bad_request(format!("buddy: {}", e.message))
            } else {
                e
            }
        })?;
        profile.buddy = Some(found.id);
    }
    Ok(())
}
