//! Knowledge: resources, guidelines and rituals; questions and answers.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_model::api::{
    AcceptRequest, AnswerRequest, AskRequest, EntryView, ErrorBody, QuestionView,
};
use crdt_model::community::Community;
use crdt_model::knowledge::{Entry, EntryChange, Knowledge, NewEntry, Question};
use crdt_model::{DocKind, GuildDoc, ModelError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, log_change, new_id, now};
use super::{allowed, guests};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Text to find in the title, body, URL or tags, whatever the case.
    pub(crate) q: Option<String>,
    /// Only entries with this tag.
    pub(crate) tag: Option<String>,
    /// Only `resource`, `guideline` or `ritual`.
    pub(crate) kind: Option<String>,
}

/// The knowledge base, newest first: search words, a tag, a kind.
#[utoipa::path(
    get,
    path = "/api/knowledge",
    tag = "knowledge",
    operation_id = "listKnowledge",
    params(ListQuery),
    responses(
        (status = 200, description = "Entries, newest first", body = [EntryView]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Vec<EntryView>> {
    let names = Names::read(&state).await?;
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
        .map(|(id, entry)| names.entry(id, entry))
        .collect();
    out.sort_by(|a, b| b.entry.at.cmp(&a.entry.at).then_with(|| a.id.cmp(&b.id)));
    Ok(ApiJson(out))
}

/// One entry.
#[utoipa::path(
    get,
    path = "/api/knowledge/{id}",
    tag = "knowledge",
    operation_id = "showKnowledge",
    params(("id" = String, Path, description = "An entry: id, unique id prefix, or unique (prefix of a) title")),
    responses(
        (status = 200, description = "The entry", body = EntryView),
        (status = 404, description = "No such entry", body = ErrorBody),
        (status = 409, description = "No community yet, or several entries match", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<EntryView> {
    let (id, entry) = resolve_entry(&state, &key).await?;
    Ok(ApiJson(Names::read(&state).await?.entry(id, entry)))
}

/// Changes an entry: who shared it, or a steward.
#[utoipa::path(
    patch,
    path = "/api/knowledge/{id}",
    tag = "knowledge",
    operation_id = "updateKnowledge",
    params(("id" = String, Path, description = "An entry: id, unique id prefix, or unique (prefix of a) title")),
    request_body = EntryChange,
    responses(
        (status = 200, description = "The entry as changed", body = EntryView),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 403, description = "Only who shared it, or stewards, may change it", body = ErrorBody),
        (status = 404, description = "No such entry or session", body = ErrorBody),
        (status = 409, description = "No community yet, or several entries or sessions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut change): ApiJson<EntryChange>,
) -> ApiResult<EntryView> {
    let (id, current) = resolve_entry(&state, &key).await?;
    allowed::owner_or_steward(
        &state,
        &[&current.shared_by],
        "who shared it",
        None,
        &format!("change {:?}", current.title),
    )
    .await?;
    if let Some(session) = change.session.as_deref().filter(|s| !s.trim().is_empty()) {
        change.session = Some(state.resolve_session(session).await?.id);
    }
    let entry = change_doc_with(&state, &id, None, |k| k.update_entry(&id, &change)).await?;
    Ok(ApiJson(Names::read(&state).await?.entry(id, entry)))
}

/// Removes an entry: who shared it, or a steward. Logged.
#[utoipa::path(
    delete,
    path = "/api/knowledge/{id}",
    tag = "knowledge",
    operation_id = "removeKnowledge",
    params(("id" = String, Path, description = "An entry: id, unique id prefix, or unique (prefix of a) title")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Only who shared it, or stewards, may remove it", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody),
        (status = 409, description = "No community yet, or several entries match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (id, current) = resolve_entry(&state, &key).await?;
    let me = allowed::owner_or_steward(
        &state,
        &[&current.shared_by],
        "who shared it",
        None,
        &format!("remove {:?}", current.title),
    )
    .await?;
    let log = (
        me,
        format!("removed {:?} from the knowledge base", current.title),
    );
    change_doc_with(&state, &id, Some(log), |k| k.remove_entry(&id).map(drop)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An entry by id, unique id prefix (4+ characters) or unique title (prefix), ignoring
/// case and accents.
async fn resolve_entry(state: &AppState, key: &str) -> Result<(String, Entry), ApiError> {
    let key = key.trim();
    let entries: Vec<(String, Entry)> = state
        .knowledge()
        .await?
        .into_iter()
        .flat_map(|k| k.entries.into_iter())
        .collect();
    if let Some(exact) = entries.iter().find(|(id, _)| id == key) {
        return Ok(exact.clone());
    }
    let folded = crdt_model::text::fold(key);
    let mut found: Vec<&(String, Entry)> = entries
        .iter()
        .filter(|(id, e)| {
            (key.len() >= 4 && id.starts_with(key)) || crdt_model::text::fold(&e.title) == folded
        })
        .collect();
    if found.is_empty() && !folded.is_empty() {
        found = entries
            .iter()
            .filter(|(_, e)| crdt_model::text::fold(&e.title).starts_with(&folded))
            .collect();
    }
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::not_found(format!("no knowledge entry {key:?}"))),
        many => Err(ApiError::conflict(format!(
            "{key:?} matches {} entries; use the id",
            many.len()
        ))),
    }
}

/// Changes the knowledge document that holds `entry` (there may be two after a merge of
/// two communities' first entries), logging `log` (who, summary) in the same transaction.
async fn change_doc_with<R>(
    state: &AppState,
    entry: &str,
    log: Option<(String, String)>,
    edit: impl FnOnce(&mut Knowledge) -> Result<R, ModelError>,
) -> Result<R, ApiError> {
    let doc_id = state
        .knowledge()
        .await?
        .into_iter()
        .find(|k| k.entries.contains_key(entry))
        .map(|k| k.id)
        .ok_or_else(|| ApiError::not_found(format!("no knowledge entry {entry:?}")))?;
    let community_id = state.community_id()?;
    let mut tx = state.repo.begin(&[&community_id, &doc_id]).await;
    let result = Knowledge::update(tx.doc(&doc_id)?, edit)?;
    if let Some((by, summary)) = log {
        log_change(
            &mut tx,
            &community_id,
            &by,
            "knowledge.removed",
            entry,
            summary,
        )?;
    }
    tx.commit().await?;
    Ok(result)
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

/// Shares a resource, guideline or ritual, perhaps from a session.
#[utoipa::path(
    post,
    path = "/api/knowledge",
    tag = "knowledge",
    operation_id = "addKnowledge",
    request_body = NewEntry,
    responses(
        (status = 201, description = "The entry", body = EntryView),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "No community yet, or several sessions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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
    let view = Names::read(&state).await?.entry(id, entry);
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Questions with their answers, newest first.
#[utoipa::path(
    get,
    path = "/api/questions",
    tag = "questions",
    operation_id = "listQuestions",
    responses(
        (status = 200, description = "Questions, newest first", body = [QuestionView]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn questions(State(state): State<AppState>) -> ApiResult<Vec<QuestionView>> {
    let names = Names::read(&state).await?;
    let mut out: Vec<QuestionView> = state
        .knowledge()
        .await?
        .into_iter()
        .flat_map(|k| k.questions.into_iter())
        .map(|(id, question)| names.question(id, question))
        .collect();
    out.sort_by(|a, b| {
        b.question
            .at
            .cmp(&a.question.at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(ApiJson(out))
}

/// Asks the community a question.
#[utoipa::path(
    post,
    path = "/api/questions",
    tag = "questions",
    operation_id = "ask",
    request_body = AskRequest,
    responses(
        (status = 201, description = "The question", body = QuestionView),
        (status = 400, description = "A field is not valid", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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
    let view = Names::read(&state).await?.question(id, question);
    Ok((StatusCode::CREATED, ApiJson(view)))
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

/// Answers a question, yourself or for a guest (`guest`).
#[utoipa::path(
    post,
    path = "/api/questions/{id}/answers",
    tag = "questions",
    operation_id = "answer",
    params(("id" = String, Path, description = "A question: id, unique id prefix, or unique prefix of its title")),
    request_body = AnswerRequest,
    responses(
        (status = 201, description = "The question with the answer", body = QuestionView),
        (status = 400, description = "The answer is not valid", body = ErrorBody),
        (status = 404, description = "No such question or guest", body = ErrorBody),
        (status = 409, description = "No community yet, or several questions or guests match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn answer(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> Result<(StatusCode, ApiJson<QuestionView>), ApiError> {
    let me = state.acting_member(None).await?;
    let guest = match req.guest.as_deref() {
        Some(key) => Some(guests::resolve(&state, key).await?.0),
        None => None,
    };
    let question = resolve_question(&state, &key).await?;
    let (now, _) = now();
    let id = new_id();
    let q = change(&state, |k| {
        match &guest {
            Some(guest) => k.answer_as_guest(&question, &id, &req.body, guest, &me.id, &now)?,
            None => k.answer(&question, &id, &req.body, &me.id, &now)?,
        }
        Ok(k.questions[&question].clone())
    })
    .await?;
    let view = Names::read(&state).await?.question(question, q);
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Marks the answer that helped (the asker).
#[utoipa::path(
    put,
    path = "/api/questions/{id}/accepted",
    tag = "questions",
    operation_id = "accept",
    params(("id" = String, Path, description = "A question: id, unique id prefix, or unique prefix of its title")),
    request_body = AcceptRequest,
    responses(
        (status = 200, description = "The question", body = QuestionView),
        (status = 400, description = "No such answer, or you did not ask the question", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 409, description = "No community yet, or several questions match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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
    Ok(ApiJson(Names::read(&state).await?.question(question, q)))
}

/// Names for the people in entries and questions: members, and guests marked as such.
struct Names {
    members: BTreeMap<String, String>,
    community: std::sync::Arc<Community>,
    sessions: BTreeMap<String, String>,
}

impl Names {
    async fn read(state: &AppState) -> Result<Self, ApiError> {
        Ok(Self {
            members: state
                .members(true)
                .await?
                .into_iter()
                .map(|m| (m.id, m.name))
                .collect(),
            community: state.community().await?,
            sessions: state
                .sessions()
                .await?
                .into_iter()
                .map(|s| (s.id, s.title))
                .collect(),
        })
    }

    fn member(&self, id: &str) -> String {
        self.members
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    fn entry(&self, id: String, entry: Entry) -> EntryView {
        EntryView {
            shared_by_name: self.member(&entry.shared_by),
            session_title: entry
                .session
                .as_ref()
                .and_then(|s| self.sessions.get(s).cloned()),
            id,
            entry,
        }
    }

    fn question(&self, id: String, question: Question) -> QuestionView {
        let mut names = BTreeMap::new();
        names.insert(question.asked_by.clone(), self.member(&question.asked_by));
        for a in question.answers.values() {
            let name = if a.guest {
                let guest = self.community.guest_name(&a.by).unwrap_or(&a.by);
                format!("{guest} (guest)")
            } else {
                self.member(&a.by)
            };
            names.insert(a.by.clone(), name);
        }
        QuestionView {
            id,
            question,
            names,
        }
    }
}
