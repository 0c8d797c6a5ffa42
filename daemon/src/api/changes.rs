//! The community's change log: removals, cancellations and role changes, who made them and
//! when, with names for people (`guild log`).

use axum::extract::State;
use crdt_model::api::LogView;

use super::error::{ApiJson, ApiResult};
use super::state::AppState;

/// Newest first.
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
