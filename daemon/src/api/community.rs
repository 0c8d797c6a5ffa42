//! Status, creating the community, and reading it.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::DocKind;
use crdt_model::api::{
    CommunitySummary, DocStatus, ErrorBody, InitRequest, InitResponse, MemberRef, Status,
};
use crdt_model::community::Community;
use crdt_model::member::Member;

use super::error::{ApiError, ApiJson, ApiResult};
use super::network::{listen_addrs, peer_statuses};
use super::openapi::DiskFull;
use super::state::{AppState, new_id, now};

/// The daemon: version, addresses, its community and member, documents and peers.
///
/// Works before a community exists (`community` and `me` are then null).
#[utoipa::path(
    get,
    path = "/api/status",
    tag = "status",
    operation_id = "status",
    responses((status = 200, description = "The daemon's status", body = Status))
)]
pub async fn status(State(state): State<AppState>) -> ApiResult<Status> {
    let identity = state.identity();
    let mut community = None;
    let mut me = None;
    if identity.me.is_some() {
        let c = state.community().await?;
        let members = state.members(false).await?;
        community = Some(CommunitySummary {
            id: c.id.clone(),
            name: c.name.clone(),
            purpose: c.purpose.clone(),
            members: members.len(),
        });
        me = members
            .iter()
            .find(|m| Some(&m.id) == identity.me.as_ref())
            .map(|m| MemberRef {
                id: m.id.clone(),
                name: m.name.clone(),
            });
    }
    let mut documents = Vec::new();
    for id in state.repo.ids() {
        let doc_status = state
            .repo
            .read(&id, |doc| DocStatus {
                id: id.clone(),
                kind: DocKind::of(doc).map_or("unknown", DocKind::as_str).into(),
                heads: sorted_heads(doc),
            })
            .await;
        documents.extend(doc_status);
    }
    Ok(ApiJson(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        data_dir: state.data_dir.display().to_string(),
        api_addr: state.api_addr.to_string(),
        community,
        me,
        documents,
        peer_id: state.node.peer_id().to_string(),
        listen_addrs: listen_addrs(&state)
            .await
            .iter()
            .map(ToString::to_string)
            .collect(),
        peers: peer_statuses(&state).await,
    }))
}

pub fn sorted_heads(doc: &mut automerge::AutoCommit) -> Vec<String> {
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    heads
}

/// Creates a community, with this daemon's member as its founder and first steward.
#[utoipa::path(
    post,
    path = "/api/init",
    tag = "status",
    operation_id = "init",
    request_body = InitRequest,
    responses(
        (status = 201, description = "The new community and member ids", body = InitResponse),
        (status = 400, description = "A name or field is not valid; the first member has no buddy", body = ErrorBody),
        (status = 409, description = "This daemon already belongs to (or is joining) a community", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn init(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<InitRequest>,
) -> Result<(StatusCode, ApiJson<InitResponse>), ApiError> {
    if let Some(existing) = state.identity().community {
        // Also covers a join in progress.
        return Err(ApiError::conflict(format!(
            "this daemon already belongs to community {existing}"
        )));
    }
    let (now, today) = now();
    let community_id = new_id();
    let member_id = new_id();
    // Validate everything before touching the repo.
    let mut community = Community::new(&community_id, &req.community, &req.purpose, &now)?;
    let me = Member::new(&member_id, &req.me, &today)?;
    if req
        .me
        .buddy
        .as_deref()
        .is_some_and(|b| !b.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "the first member has nobody to be their buddy yet",
        ));
    }
    community.index(&member_id, DocKind::Member);
    community.founder = member_id.clone();
    state.node.init(community, me).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(InitResponse {
            community_id,
            member_id,
        }),
    ))
}

/// The community document: name, purpose, skills taxonomy, council, guests, change log.
#[utoipa::path(
    get,
    path = "/api/community",
    tag = "status",
    operation_id = "community",
    responses(
        (status = 200, description = "The community", body = Community),
        (status = 409, description = "No community yet, or still joining one", body = ErrorBody),
    )
)]
pub async fn community(State(state): State<AppState>) -> ApiResult<Community> {
    Ok(ApiJson(Community::clone(&*state.community().await?)))
}
