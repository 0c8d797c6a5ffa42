//! Rolling leadership: the council rota and fair suggestions for who leads next.
//!
//! Only stewards change the rota (it decides who the next stewards are), and every change
//! goes into the change log. Saying whether you are willing to lead is a profile field, not
//! a role change: see `members`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{CouncilView, MemberRef, NewTermRequest, TermView};
use crdt_model::community::Community;
use crdt_model::council::{self, Suggestions, Term};
use crdt_model::lookup::{MIN_ID_PREFIX, join_names};
use crdt_model::member::Willingness;
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::state::{AppState, clock, log_change, new_id};

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
        willing: Vec::new(),
        not_now: Vec::new(),
        not_asked: Vec::new(),
    };
    for (id, term) in terms {
        let tv = term_view(&state, id, term).await?;
        if term.is_current(today) {
            view.current.push(tv);
        } else if term.is_upcoming(today) {
            view.upcoming.push(tv);
        } else {
            view.past.push(tv);
        }
    }
    for m in state.members(false).await? {
        let r = MemberRef {
            id: m.id.clone(),
            name: m.name.clone(),
        };
        if !community
            .council
            .values()
            .any(|t| t.leads.contains_key(&m.id))
        {
            view.never_led.push(r.clone());
        }
        match m.council {
            Willingness::Willing => view.willing.push(r),
            Willingness::NotNow => view.not_now.push(r),
            Willingness::NotAsked => view.not_asked.push(r),
        }
    }
    Ok(ApiJson(view))
}

async fn term_view(state: &AppState, id: &str, term: &Term) -> Result<TermView, ApiError> {
    Ok(TermView {
        id: id.to_owned(),
        start: term.start.clone(),
        end: term.end.clone(),
        leads: state.member_refs(term.leads.keys()).await?,
    })
}

fn leads_named(view: &TermView) -> String {
    let names: Vec<String> = view.leads.iter().map(|l| l.name.clone()).collect();
    join_names(&names, "and")
}

pub async fn add_term(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewTermRequest>,
) -> Result<(StatusCode, ApiJson<TermView>), ApiError> {
    let community_id = state.community_id()?;
    let me = state.require_steward("change the council rota").await?;
    let mut leads = Vec::new();
    for lead in &req.leads {
        leads.push(state.acting_member(Some(lead)).await?.id);
    }
    let term = Term::new(&req.start, &req.end, &leads)?;
    let id = new_id();
    let view = term_view(&state, &id, &term).await?;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.council.insert(id.clone(), term.clone());
        Ok(())
    })?;
    log_change(
        &mut tx,
        &community_id,
        &me,
        "council.term_added",
        &id,
        format!(
            "added a council term {} to {} led by {}",
            view.start,
            view.end,
            leads_named(&view)
        ),
    )?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Takes a term off the rota (a mistake, or plans that changed). `{term}` is its id, a
/// unique id prefix, or its start date.
pub async fn remove_term(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let community_id = state.community_id()?;
    let community = state.community().await?;
    let key = key.trim();
    let found: Vec<(&String, &Term)> = community
        .council
        .iter()
        .filter(|(id, t)| {
            id.as_str() == key
                || (key.len() >= MIN_ID_PREFIX && id.starts_with(key))
                || t.start == key
        })
        .collect();
    let (id, term) = match found.as_slice() {
        [one] => *one,
        [] => return Err(ApiError::not_found(format!("no council term {key:?}"))),
        many => {
            return Err(ApiError::conflict(format!(
                "{key:?} matches {} terms; use the term id (guild council --json)",
                many.len()
            )));
        }
    };
    let me = state.require_steward("change the council rota").await?;
    let view = term_view(&state, id, term).await?;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.council.remove(&view.id);
        Ok(())
    })?;
    log_change(
        &mut tx,
        &community_id,
        &me,
        "council.term_removed",
        &view.id,
        format!(
            "removed the council term {} to {} led by {}",
            view.start,
            view.end,
            leads_named(&view)
        ),
    )?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuggestQuery {
    count: Option<usize>,
}

pub async fn suggest(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SuggestQuery>,
) -> ApiResult<Suggestions> {
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
