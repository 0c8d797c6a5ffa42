//! `GET /api/export` (every shared document as readable JSON) and
//! `GET /api/documents/{id}/automerge` (one document's `save()` bytes, for Automerge tools).
//!
//! Private documents (your relationships) only when asked with `?private=true`. Secrets
//! (the community secret, device secrets, the identity key, the API token) live outside
//! documents, so no export can contain them.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use crdt_model::DocKind;
use crdt_model::api::ErrorBody;
use crdt_model::automerge::AutoSerde;
use crdt_model::ops::{EXPORT_FORMAT, EXPORT_VERSION, Export, ExportedDoc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::community::sorted_heads;
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::state::{AppState, now};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Include this member's private relationships.
    #[serde(default)]
    private: bool,
}

/// Private to this member: only on their own devices, exported only when asked.
fn is_private(kind: Option<DocKind>) -> bool {
    kind == Some(DocKind::Relationships)
}

/// Every shared document as readable JSON (your relationships only with `private=true`).
#[utoipa::path(
    get,
    path = "/api/export",
    tag = "operations",
    operation_id = "export",
    params(ExportQuery),
    responses(
        (status = 200, description = "The export", body = Export),
    )
)]
pub async fn json(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Export> {
    let mut documents = Vec::new();
    for id in state.repo.ids() {
        let read = state
            .repo
            .read(&id, |doc| {
                let kind = DocKind::of(doc);
                if is_private(kind) && !query.private {
                    return Ok(None);
                }
                let content = serde_json::to_value(AutoSerde::from(&*doc))?;
                Ok::<_, serde_json::Error>(Some(ExportedDoc {
                    id: id.clone(),
                    kind: kind.map_or("unknown", DocKind::as_str).into(),
                    heads: sorted_heads(doc),
                    content,
                }))
            })
            .await;
        if let Some(doc) = read
            .transpose()
            .map_err(|e| ApiError::internal(e.to_string()))?
        {
            documents.extend(doc);
        }
    }
    // The community first (it indexes the rest), then by kind and id.
    documents.sort_by(|a, b| {
        (a.kind != "community", &a.kind, &a.id).cmp(&(b.kind != "community", &b.kind, &b.id))
    });
    Ok(ApiJson(Export {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        exported_at: now().0,
        guildd_version: env!("CARGO_PKG_VERSION").into(),
        community_id: state.identity().community,
        private: query.private,
        documents,
    }))
}

/// One document's Automerge `save()` bytes, for Automerge tools.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/automerge",
    tag = "operations",
    operation_id = "exportAutomerge",
    params(("id" = String, Path, description = "A document id (see `GET /api/status`)"), ExportQuery),
    responses(
        (status = 200, description = "The document's bytes", body = [u8], content_type = "application/octet-stream"),
        (status = 403, description = "The document is private; ask with `private=true` (code `private`)", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody),
    )
)]
pub async fn automerge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let saved = state
        .repo
        .read(&id, |doc| {
            (!is_private(DocKind::of(doc)) || query.private).then(|| doc.save())
        })
        .await;
    match saved {
        Some(Some(bytes)) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        Some(None) => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "private",
            format!("document {id} is private; ask with ?private=true"),
        )),
        None => Err(ApiError::not_found(format!("no document {id}"))),
    }
}
