//! Community health, and new starters' onboarding.

use axum::extract::State;
use crdt_model::api::{ErrorBody, NewStarter};
use crdt_model::health::{self, ACTIVE_DAYS, HealthReport};

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiJson, ApiQuery, ApiResult};
use super::skills::audit_since;
use super::state::{AppState, clock};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// `YYYY-MM-DD`, not in the future: compare the skills audit with how it stood then
    /// [default: 6 months ago].
    #[param(format = Date)]
    since: Option<String>,
}

/// Is the community thriving? Sessions per month, attendance and its trend, drift, skills.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "health",
    operation_id = "health",
    params(HealthQuery),
    responses(
        (status = 200, description = "The health report", body = HealthReport),
        (status = 400, description = "`since` is not a past date", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HealthQuery>,
) -> ApiResult<HealthReport> {
    let (since, _) = audit_since(query.since.as_deref())?;
    let community = state.community().await?;
    let members = state.members(false).await?;
    let sessions = state.sessions().await?;
    let knowledge = state.knowledge().await?;
    let today = clock().date();
    Ok(ApiJson(health::report(
        &members,
        &sessions,
        &knowledge,
        &community.skill_names(),
        today,
        since,
    )))
}

/// New starters: who joined in the last 90 days, their buddy and sessions so far.
#[utoipa::path(
    get,
    path = "/api/members/new",
    tag = "members",
    operation_id = "newStarters",
    responses(
        (status = 200, description = "Members who joined in the last 90 days", body = [NewStarter]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn new_starters(State(state): State<AppState>) -> ApiResult<Vec<NewStarter>> {
    let members = state.members(false).await?;
    let sessions = state.sessions().await?;
    let since = clock().date() - time::Duration::days(ACTIVE_DAYS);
    let mut out = Vec::new();
    for m in members
        .iter()
        .filter(|m| crdt_model::when::date_of(&m.joined).is_some_and(|d| d >= since))
    {
        let buddy = match &m.buddy {
            Some(id) => state.member_refs([id]).await?.pop(),
            None => None,
        };
        out.push(NewStarter {
            member_id: m.id.clone(),
            name: m.name.clone(),
            joined: m.joined.clone(),
            buddy,
            sessions_attended: sessions
                .iter()
                .filter(|s| s.attendance.contains_key(&m.id))
                .count(),
        });
    }
    Ok(ApiJson(out))
}
