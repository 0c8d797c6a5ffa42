//! Rolling leadership: the council rota and fair suggestions for who leads next.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{CouncilView, NewTermRequest, TermView};
use crdt_model::community::Community;
use crdt_model::council::{self, Suggestion, Term};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::state::{AppState, clock, new_id};

fn today() -> time::Date {
    clock().date()
}

pub async fn show(State(state): State<AppState>) -> ApiResult<CouncilView> {
    let community = state.community().await?;
    let today = today();
    let mut terms: Vec<(&String, &Term)> = community.council.iter().collect();
    terms.sort_by(|a, b| a.1.start.cmp(&b.1.start).then_with(|| a.0.cmp(b.0)));
    let mut view = CouncilView {
        current: Vec::new(),
        upcoming: Vec::new(),
        past: Vec::new(),
        never_led: Vec::new(),
    };
    for (id, term) in terms {
        let tv = TermView {
            id: id.clone(),
            start: term.start.clone(),
            end: term.end.clone(),
            leads: state.member_refs(term.leads.keys()).await?,
        };
        if term.is_current(today) {
            view.current.push(tv);
        } else if term.is_upcoming(today) {
            view.upcoming.push(tv);
        } else {
            view.past.push(tv);
        }
    }
    let members = state.members(false).await?;
    let never: Vec<String> = members
        .iter()
        .filter(|m| {
            !community
                .council
                .values()
                .any(|t| t.leads.contains_key(&m.id))
        })
        .map(|m| m.id.clone())
        .collect();
    view.never_led = state.member_refs(never.iter()).await?;
    Ok(ApiJson(view))
}

pub async fn add_term(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewTermRequest>,
) -> Result<(StatusCode, ApiJson<TermView>), ApiError> {
    let community_id = state.community_id()?;
    let mut leads = Vec::new();
    for lead in &req.leads {
        leads.push(state.acting_member(Some(lead)).await?.id);
    }
    let term = Term::new(&req.start, &req.end, &leads)?;
    let id = new_id();
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.council.insert(id.clone(), term.clone());
        Ok(())
    })?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(TermView {
            id,
            start: term.start,
            end: term.end,
            leads: state.member_refs(term.leads.keys()).await?,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuggestQuery {
    count: Option<usize>,
}

pub async fn suggest(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SuggestQuery>,
) -> ApiResult<Vec<Suggestion>> {
    let count = query.count.unwrap_or(2);
    if count == 0 || count > 50 {
        return Err(ApiError::bad_request("count must be between 1 and 50"));
    }
    let community = state.community().await?;
    let members = state.members(false).await?;
    let sessions = state.sessions().await?;
    let terms: Vec<Term> = community.council.values().cloned().collect();
    Ok(ApiJson(council::suggest(
        &terms,
        &members,
        &sessions,
        today(),
        count,
    )))
}
