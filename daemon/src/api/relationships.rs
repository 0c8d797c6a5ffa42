//! The member's private relationships: stakeholders, interactions, the social-capital
//! ledger, and who is due a reconnect. The document lives only on the member's devices.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::api::{ErrorBody, LedgerRequest, LogRequest, PersonDetail};
use crdt_model::lookup::{self, Found};
use crdt_model::relationships::{DueOrder, Person, PersonFields, Relationships, Standing};
use crdt_model::{GuildDoc, ModelError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, clock, new_id, now};

use crate::net::META_PRIVATE_DOC;

fn today() -> time::Date {
    clock().date()
}

async fn private_id(state: &AppState) -> Result<Option<String>, ApiError> {
    let stored = state
        .repo
        .store()
        .meta(META_PRIVATE_DOC)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(stored.and_then(|b| String::from_utf8(b).ok()))
}

pub(crate) async fn read(state: &AppState) -> Result<Relationships, ApiError> {
    let me = state.me()?;
    match private_id(state).await? {
        Some(id) => Ok(state
            .read_doc::<Relationships>(&id)
            .await?
            .unwrap_or_else(|| Relationships::new(&id, &me))),
        None => Ok(Relationships::new("", &me)),
    }
}

/// Changes the private document, creating it on first use.
async fn change<R>(
    state: &AppState,
    edit: impl FnOnce(&mut Relationships) -> Result<R, ModelError>,
) -> Result<R, ApiError> {
    let me = state.me()?;
    let existing = private_id(state).await?;
    let id = existing.clone().unwrap_or_else(new_id);
    let mut tx = state.repo.begin(&[&id]).await;
    let result = if state.repo.contains(&id) {
        Relationships::update(tx.doc(&id)?, edit)?
    } else {
        let mut doc = Relationships::new(&id, &me);
        let r = edit(&mut doc)?;
        doc.write(tx.create(&id)?)?;
        if existing.is_none() {
            tx.put_meta(META_PRIVATE_DOC, id.as_bytes());
        }
        r
    };
    tx.commit().await?;
    Ok(result)
}

/// A person by id, unique id prefix, name or unique name prefix, whatever the case and
/// accents.
fn resolve(r: &Relationships, key: &str) -> Result<String, ApiError> {
    let people: Vec<(&String, &Person)> = r.people.iter().collect();
    match lookup::find(&people, key, |(id, _)| id, |(_, p)| &p.name) {
        Found::One((id, _)) => Ok((*id).clone()),
        Found::None => Err(ApiError::not_found(format!(
            "no person {key:?} in your relationships"
        ))),
        Found::Many(many) => Err(ApiError::conflict(format!(
            "{key:?} matches {} people ({}); use the id",
            many.len(),
            many.iter()
                .map(|(id, p)| format!("{id} {}", p.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn standing(r: &Relationships, id: &str) -> Result<Standing, ApiError> {
    r.standings(today())
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no person {id:?}")))
}

/// Your relationship map, private to your devices: each person and where it stands.
#[utoipa::path(
    get,
    path = "/api/relationships",
    tag = "relationships",
    operation_id = "listRelationships",
    responses(
        (status = 200, description = "People, with balance and when last fed", body = [Standing]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Vec<Standing>> {
    Ok(ApiJson(read(&state).await?.standings(today())))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// `neglect` (longest neglected first, the default) or `influence` (high first).
    by: Option<String>,
}

/// Who is due a reconnect, longest neglected (or highest influence) first.
#[utoipa::path(
    get,
    path = "/api/relationships/due",
    tag = "relationships",
    operation_id = "dueRelationships",
    params(DueQuery),
    responses(
        (status = 200, description = "People due a reconnect", body = [Standing]),
        (status = 400, description = "`by` is not neglect or influence", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn due(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DueQuery>,
) -> ApiResult<Vec<Standing>> {
    let order = match query.by.as_deref() {
        Some(by) => DueOrder::parse(by)?,
        None => DueOrder::default(),
    };
    Ok(ApiJson(read(&state).await?.due(today(), order)))
}

/// Adds a person to your map.
#[utoipa::path(
    post,
    path = "/api/relationships",
    tag = "relationships",
    operation_id = "addPerson",
    request_body = PersonFields,
    responses(
        (status = 201, description = "The person", body = Standing),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(fields): ApiJson<PersonFields>,
) -> Result<(StatusCode, ApiJson<Standing>), ApiError> {
    let (_, today_str) = now();
    let id = new_id();
    let r = change(&state, |r| {
        r.add_person(&id, &fields, &today_str)?;
        Ok(r.clone())
    })
    .await?;
    Ok((StatusCode::CREATED, ApiJson(standing(&r, &id)?)))
}

/// One person: where it stands, interactions and the ledger, newest first.
#[utoipa::path(
    get,
    path = "/api/relationships/{person}",
    tag = "relationships",
    operation_id = "showPerson",
    params(("person" = String, Path, description = "A person: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    responses(
        (status = 200, description = "The person", body = PersonDetail),
        (status = 404, description = "No such person in your relationships", body = ErrorBody),
        (status = 409, description = "No community yet, or several people match", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<PersonDetail> {
    let r = read(&state).await?;
    let id = resolve(&r, &key)?;
    let mut interactions: Vec<_> = r
        .interactions
        .values()
        .filter(|i| i.person == id)
        .cloned()
        .collect();
    interactions.sort_by(|a, b| b.date.cmp(&a.date));
    let mut ledger: Vec<_> = r
        .ledger
        .values()
        .filter(|l| l.person == id)
        .cloned()
        .collect();
    ledger.sort_by(|a, b| b.date.cmp(&a.date));
    Ok(ApiJson(PersonDetail {
        standing: standing(&r, &id)?,
        interactions,
        ledger,
    }))
}

/// Changes what you keep about a person; fields left out stay.
#[utoipa::path(
    patch,
    path = "/api/relationships/{person}",
    tag = "relationships",
    operation_id = "updatePerson",
    params(("person" = String, Path, description = "A person: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    request_body = PersonFields,
    responses(
        (status = 200, description = "The person", body = Standing),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 404, description = "No such person in your relationships", body = ErrorBody),
        (status = 409, description = "No community yet, or several people match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(fields): ApiJson<PersonFields>,
) -> ApiResult<Standing> {
    let id = resolve(&read(&state).await?, &key)?;
    let r = change(&state, |r| {
        r.update_person(&id, &fields)?;
        Ok(r.clone())
    })
    .await?;
    Ok(ApiJson(standing(&r, &id)?))
}

/// Logs an interaction: a coffee, a lunch, a call...
#[utoipa::path(
    post,
    path = "/api/relationships/{person}/log",
    tag = "relationships",
    operation_id = "logInteraction",
    params(("person" = String, Path, description = "A person: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    request_body = LogRequest,
    responses(
        (status = 200, description = "The person", body = Standing),
        (status = 400, description = "The kind, date or note is not valid", body = ErrorBody),
        (status = 404, description = "No such person in your relationships", body = ErrorBody),
        (status = 409, description = "No community yet, or several people match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn log(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<LogRequest>,
) -> ApiResult<Standing> {
    let person = resolve(&read(&state).await?, &key)?;
    let date = req.date.unwrap_or_else(|| now().1);
    let id = new_id();
    let r = change(&state, |r| {
        r.log(&id, &person, &date, &req.kind, &req.note)?;
        Ok(r.clone())
    })
    .await?;
    Ok(ApiJson(standing(&r, &person)?))
}

async fn ledger(state: &AppState, key: &str, req: LedgerRequest, sign: i64) -> ApiResult<Standing> {
    if req.amount <= 0 {
        return Err(ApiError::bad_request(format!(
            "amount {} must be at least 1",
            req.amount
        )));
    }
    let person = resolve(&read(state).await?, key)?;
    let date = req.date.unwrap_or_else(|| now().1);
    let id = new_id();
    let r = change(state, |r| {
        r.record(&id, &person, &date, sign * req.amount, &req.note)?;
        Ok(r.clone())
    })
    .await?;
    Ok(ApiJson(standing(&r, &person)?))
}

/// Records help you gave (a deposit in the social-capital ledger).
#[utoipa::path(
    post,
    path = "/api/relationships/{person}/deposit",
    tag = "relationships",
    operation_id = "deposit",
    params(("person" = String, Path, description = "A person: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    request_body = LedgerRequest,
    responses(
        (status = 200, description = "The person", body = Standing),
        (status = 400, description = "The amount, date or note is not valid", body = ErrorBody),
        (status = 404, description = "No such person in your relationships", body = ErrorBody),
        (status = 409, description = "No community yet, or several people match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn deposit(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<LedgerRequest>,
) -> ApiResult<Standing> {
    ledger(&state, &key, req, 1).await
}

/// Records a favour you asked (a withdrawal from the ledger).
#[utoipa::path(
    post,
    path = "/api/relationships/{person}/withdraw",
    tag = "relationships",
    operation_id = "withdrawal",
    params(("person" = String, Path, description = "A person: id, unique id prefix, or unique (prefix of a) name, whatever the case and accents")),
    request_body = LedgerRequest,
    responses(
        (status = 200, description = "The person", body = Standing),
        (status = 400, description = "The amount, date or note is not valid", body = ErrorBody),
        (status = 404, description = "No such person in your relationships", body = ErrorBody),
        (status = 409, description = "No community yet, or several people match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<LedgerRequest>,
) -> ApiResult<Standing> {
    ledger(&state, &key, req, -1).await
}
