//! Knowledge: resources, guidelines and rituals; questions and answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::api::{AcceptRequest, AnswerRequest, AskRequest, EntryView, QuestionView};
use crdt_model::community::Community;
use crdt_model::knowledge::{Knowledge, NewEntry};
use crdt_model::{DocKind, GuildDoc, ModelError};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::state::{AppState, new_id, now};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub(crate) q: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) kind: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Vec<EntryView>> {
    let mut out: Vec<EntryView> = state
        .knowledge()
        .await?
        .into_iter()
        .flat_map(|k| k.entries.into_iter())
        .filter(|(_, e)| query.q.as_ref().is_none_or(|q| e.matches(q)))
        .filter(|(_, e)| query.tag.as_ref().is_none_or(|t| e.has_tag(t)))
        .filter(|(_, e)| {
            query
                .kind
                .as_ref()
                .is_none_or(|k| e.entry_kind == k.to_lowercase())
        })
        .map(|(id, entry)| EntryView { id, entry })
        .collect();
    out.sort_by(|a, b| b.entry.at.cmp(&a.entry.at).then_with(|| a.id.cmp(&b.id)));
    Ok(ApiJson(out))
}

/// Changes the community's knowledge document, creating it if the community has none yet.
async fn change<R>(
    state: &AppState,
    edit: impl FnOnce(&mut Knowledge) -> Result<R, ModelError>,
) -> Result<R, ApiError> {
    let community_id = state.community_id()?;
    let existing = state
        .community()
        .await?
        .docs_of(DocKind::Knowledge)
        .next()
        .map(str::to_owned);
    let mut tx = state.repo.begin(&[&community_id]).await;
    let result = match existing.filter(|id| state.repo.contains(id)) {
        Some(id) => {
            drop(tx);
            let mut tx = state.repo.begin(&[&id]).await;
            let r = Knowledge::update(tx.doc(&id)?, edit)?;
            tx.commit().await?;
            return Ok(r);
        }
        None => {
            let id = new_id();
            let mut knowledge = Knowledge::new(&id);
            let r = edit(&mut knowledge)?;
            Community::update(tx.doc(&community_id)?, |c| {
                c.index(&id, DocKind::Knowledge);
                Ok(())
            })?;
            knowledge.write(tx.create(&id)?)?;
            r
        }
    };
    tx.commit().await?;
    Ok(result)
}

pub async fn add(
    State(state): State<AppState>,
    ApiJson(mut new): ApiJson<NewEntry>,
) -> Result<(StatusCode, ApiJson<EntryView>), ApiError> {
    let me = state.acting_member(None).await?;
    if let Some(session) = new.session.as_deref().filter(|s| !s.trim().is_empty()) {
        new.session = Some(state.resolve_session(session).await?.id);
    }
    let (now, _) = now();
    let id = new_id();
    let entry = change(&state, |k| {
        k.add_entry(&id, &new, &me.id, &now)?;
        Ok(k.entries[&id].clone())
    })
    .await?;
    Ok((StatusCode::CREATED, ApiJson(EntryView { id, entry })))
}

pub async fn questions(State(state): State<AppState>) -> ApiResult<Vec<QuestionView>> {
    let mut out: Vec<QuestionView> = state
        .knowledge()
        .await?
        .into_iter()
        .flat_map(|k| k.questions.into_iter())
        .map(|(id, question)| QuestionView { id, question })
        .collect();
    out.sort_by(|a, b| {
        b.question
            .at
            .cmp(&a.question.at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(ApiJson(out))
}

pub async fn ask(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AskRequest>,
) -> Result<(StatusCode, ApiJson<QuestionView>), ApiError> {
    let me = state.acting_member(None).await?;
    let (now, _) = now();
    let id = new_id();
    let question = change(&state, |k| {
        k.ask(&id, &req.title, &req.body, &me.id, &now)?;
        Ok(k.questions[&id].clone())
    })
    .await?;
    Ok((StatusCode::CREATED, ApiJson(QuestionView { id, question })))
}

/// A question by id, id prefix or title prefix, case-insensitive.
async fn resolve_question(state: &AppState, key: &str) -> Result<String, ApiError> {
    let lower = key.trim().to_lowercase();
    let ids: Vec<String> = state
        .knowledge()
        .await?
        .into_iter()
        .flat_map(|k| k.questions.into_iter())
        .filter(|(id, q)| {
            id == key
                || (key.len() >= 4 && id.starts_with(key))
                || q.title.to_lowercase().starts_with(&lower)
        })
        .map(|(id, _)| id)
        .collect();
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ApiError::not_found(format!("no question {key:?}"))),
        _ => Err(ApiError::conflict(format!(
            "{key:?} matches several questions; use the id"
        ))),
    }
}

pub async fn answer(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> Result<(StatusCode, ApiJson<QuestionView>), ApiError> {
    let me = state.acting_member(None).await?;
    let question = resolve_question(&state, &key).await?;
    let (now, _) = now();
    let id = new_id();
    let q = change(&state, |k| {
        k.answer(&question, &id, &req.body, &me.id, &now)?;
        Ok(k.questions[&question].clone())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(QuestionView {
            id: question,
            question: q,
        }),
    ))
}

pub async fn accept(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> ApiResult<QuestionView> {
    let me = state.acting_member(None).await?;
    let question = resolve_question(&state, &key).await?;
    let q = change(&state, |k| {
        let answer = k
            .questions
            .get(&question)
            .and_then(|q| {
                q.answers
                    .keys()
                    .find(|id| **id == req.answer || id.starts_with(req.answer.trim()))
                    .cloned()
            })
            .unwrap_or_else(|| req.answer.clone());
        k.accept(&question, &answer, &me.id)?;
        Ok(k.questions[&question].clone())
    })
    .await?;
    Ok(ApiJson(QuestionView {
        id: question,
        question: q,
    }))
}
