//! The community's change log: removals, cancellations and role changes, who made them and
//! when, with names for people (`guild log`).

use axum::extract::State;
use crdt_model::api::{ErrorBody, LogView};

use super::error::{ApiJson, ApiResult};
use super::state::AppState;

/// The community's change log: removals, cancellations and role changes, newest first.
#[utoipa::path(
    get,
    path = "/api/log",
    tag = "operations",
    operation_id = "changeLog",
    responses(
        (status = 200, description = "Entries, newest first", body = [LogView]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn log(State(state): State<AppState>) -> ApiResult<Vec<LogView>> {
    let community = state.community().await?;
    let entries = community.log_newest_first();
    let authors = state
        .member_refs(entries.iter().map(|(_, e)| &e.by))
        .await?;
    Ok(ApiJson(
        entries
            .into_iter()
            .zip(authors)
            .map(|((id, e), by)| LogView {
                id: id.clone(),
                at: e.at.clone(),
                by,
                action: e.action.clone(),
                subject: e.subject.clone(),
                summary: e.summary.clone(),
            })
            .collect(),
    ))
}
