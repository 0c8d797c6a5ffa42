//! The member directory.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::community::Community;
use crdt_model::member::{Member, Profile};
use crdt_model::{DocKind, GuildDoc};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::state::{AppState, new_id, now};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    team: Option<String>,
    interest: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Vec<Member>> {
    let team = query.team.map(|t| t.trim().to_lowercase());
    let members = state
        .members(false)
        .await?
        .into_iter()
        .filter(|m| team.as_ref().is_none_or(|t| &m.team.to_lowercase() == t))
        .filter(|m| query.interest.as_ref().is_none_or(|i| m.has_interest(i)))
        .collect();
    Ok(ApiJson(members))
}

pub async fn show(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Member> {
    Ok(ApiJson(state.resolve_member(&key).await?))
}

pub async fn add(
    State(state): State<AppState>,
    ApiJson(mut profile): ApiJson<Profile>,
) -> Result<(StatusCode, ApiJson<Member>), ApiError> {
    let community_id = state.community_id()?;
    let (_, today) = now();
    resolve_buddy(&state, &mut profile).await?;
    let id = new_id();
    let member = Member::new(&id, &profile, &today)?;

    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.index(&id, DocKind::Member);
        Ok(())
    })?;
    member.write(tx.create(&id)?)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(member)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut profile): ApiJson<Profile>,
) -> ApiResult<Member> {
    let id = state.resolve_member(&key).await?.id;
    resolve_buddy(&state, &mut profile).await?;
    let mut tx = state.repo.begin(&[&id]).await;
    let member = Member::update(tx.doc(&id)?, |m| {
        m.apply(&profile)?;
        Ok(m.clone())
    })?;
    tx.commit().await?;
    Ok(ApiJson(member))
}

pub async fn remove(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let member = state.resolve_member(&key).await?;
    if state.identity().me.as_deref() == Some(member.id.as_str()) {
        return Err(ApiError::conflict(
            "you cannot remove yourself; another member can remove you",
        ));
    }
    let mut tx = state.repo.begin(&[&member.id]).await;
    Member::update(tx.doc(&member.id)?, |m| {
        m.removed = true;
        Ok(())
    })?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
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
