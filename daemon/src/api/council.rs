//! Rolling leadership: the council rota and fair suggestions for who leads next.
//!
//! Only stewards change the rota (it decides who the next stewards are), and every change
//! goes into the change log. Saying whether you are willing to lead is a profile field, not
//! a role change: see `members`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{CouncilView, ErrorBody, MemberRef, NewTermRequest, TermView};
use crdt_model::community::Community;
use crdt_model::council::{self, Suggestions, Term};
use crdt_model::lookup::{MIN_ID_PREFIX, join_names};
use crdt_model::member::Willingness;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, clock, log_change, new_id};

fn today() -> time::Date {
    clock().date()
}

/// The council rota: current, upcoming and past terms, who never led, who is willing.
#[utoipa::path(
    get,
    path = "/api/council",
    tag = "council",
    operation_id = "council",
    responses(
        (status = 200, description = "The rota", body = CouncilView),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
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

/// Adds a term to the rota (stewards only); logged.
#[utoipa::path(
    post,
    path = "/api/council",
    tag = "council",
    operation_id = "addTerm",
    request_body = NewTermRequest,
    responses(
        (status = 201, description = "The term added", body = TermView),
        (status = 400, description = "The dates are not valid, no leads, or a lead is not a member", body = ErrorBody),
        (status = 403, description = "Only stewards change the rota", body = ErrorBody),
        (status = 409, description = "No community yet, or a lead matches several members", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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

/// Takes a term off the rota (a mistake, or plans that changed; stewards only); logged.
#[utoipa::path(
    delete,
    path = "/api/council/{term}",
    tag = "council",
    operation_id = "removeTerm",
    params(("term" = String, Path, description = "A term: id, unique id prefix, or start date (`YYYY-MM-DD`)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Only stewards change the rota", body = ErrorBody),
        (status = 404, description = "No such term", body = ErrorBody),
        (status = 409, description = "No community yet, or several terms match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// How many to suggest [default: 2].
    #[param(minimum = 1, maximum = 50)]
    count: Option<usize>,
}

/// Who could lead next, fairest first: who has not led yet, who is willing.
#[utoipa::path(
    get,
    path = "/api/council/suggest",
    tag = "council",
    operation_id = "suggestLeads",
    params(SuggestQuery),
    responses(
        (status = 200, description = "Suggestions, fairest first", body = Suggestions),
        (status = 400, description = "`count` is not 1-50", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
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
