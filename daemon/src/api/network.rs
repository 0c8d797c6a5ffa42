//! Peers, invitations, joining a community and linking devices: thin handlers over
//! [`crate::node::Node`], which owns who this daemon is.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::api::{
    AddPeerRequest, DeviceJoinRequest, DeviceLink, DeviceStatus, InitResponse, Invite, InviteInfo,
    InviteRequest, JoinRequest, PeerStatus, Peers, RevokeRequest, Revoked,
};
use crdt_model::member::Member;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::error::{ApiError, ApiJson, ApiResult};
use super::state::{AppState, new_id, now};
use crate::net::membership::{DeviceCode, Ticket};
use crate::node::NodeError;

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::NotInitialised => ApiError::not_initialised(),
            NodeError::Conflict(m) => ApiError::conflict(m),
            NodeError::BadInput(m) => ApiError::bad_request(m),
            NodeError::NotFound(m) => ApiError::not_found(m),
            NodeError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            NodeError::Refused(m) => ApiError::new(StatusCode::FORBIDDEN, "refused", m),
            NodeError::Timeout(m) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", m),
            NodeError::Repo(e) => e.into(),
            NodeError::Model(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

pub async fn peer_statuses(state: &AppState) -> Vec<PeerStatus> {
    let mut peers: Vec<PeerStatus> = state
        .node
        .report()
        .await
        .peers
        .into_iter()
        .map(|p| PeerStatus {
            peer_id: p.peer.to_string(),
            connected: p.connected,
            addrs: p.addrs,
            member: p.member,
            last_sync: p.last_sync.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
            in_sync: p.in_sync,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
        })
        .collect();
    peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
    peers
}

pub async fn listen_addrs(state: &AppState) -> Vec<Multiaddr> {
    state.node.listen_addrs().await
}

pub async fn peers(State(state): State<AppState>) -> ApiResult<Peers> {
    Ok(ApiJson(Peers {
        dialled: state.node.report().await.kept,
        peers: peer_statuses(&state).await,
    }))
}

fn parse_addr(text: &str) -> Result<Multiaddr, ApiError> {
    text.trim().parse().map_err(|e| {
        ApiError::bad_request(format!(
            "{text:?} is not a multiaddr like /ip4/192.0.2.7/tcp/4717 ({e})"
        ))
    })
}

pub async fn remove_peer(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AddPeerRequest>,
) -> Result<StatusCode, ApiError> {
    let addr = parse_addr(&req.addr)?;
    if state.node.remove_peer(&addr).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "{addr} is not in the peer list"
        )))
    }
}

pub async fn add_peer(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AddPeerRequest>,
) -> Result<StatusCode, ApiError> {
    let addr = parse_addr(&req.addr)?;
    if !addr
        .iter()
        .any(|p| matches!(p, Protocol::Tcp(_) | Protocol::QuicV1))
    {
        return Err(ApiError::bad_request(format!(
            "{addr} names no TCP or QUIC port"
        )));
    }
    state.node.add_peers(&[addr]).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn invite_body(ticket: Ticket) -> Invite {
    Invite {
        ticket: ticket.encode(),
        community_id: ticket.community.clone(),
        addrs: ticket.addrs,
    }
}

/// `GET /api/invite`: a single-use invitation good for a week.
pub async fn invite(State(state): State<AppState>) -> ApiResult<Invite> {
    let ticket = state.node.invite(1, None).await?;
    Ok(ApiJson(invite_body(ticket)))
}

/// `POST /api/invites`: an invitation for `uses` daemons until `expires`.
pub async fn create_invite(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<(StatusCode, ApiJson<Invite>), ApiError> {
    let ticket = state
        .node
        .invite(req.uses.unwrap_or(1), req.expires.as_deref())
        .await?;
    Ok((StatusCode::CREATED, ApiJson(invite_body(ticket))))
}

pub async fn invites(State(state): State<AppState>) -> ApiResult<Vec<InviteInfo>> {
    Ok(ApiJson(state.node.invitations().await?))
}

pub async fn revoke_invites(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<Revoked> {
    let revoked = state.node.revoke(req.id.as_deref(), req.all).await?;
    Ok(ApiJson(Revoked { revoked }))
}

pub async fn join(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<(StatusCode, ApiJson<InitResponse>), ApiError> {
    let ticket = Ticket::decode(&req.ticket).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (_, today) = now();
    let member_id = new_id();
    let me = Member::new(&member_id, &req.me, &today)?;
    state.node.join(&ticket, me).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(InitResponse {
            community_id: ticket.community,
            member_id,
        }),
    ))
}

/// A code for another of my devices: the community ticket plus my device secret.
pub async fn link_device(State(state): State<AppState>) -> ApiResult<DeviceLink> {
    let code = state.node.link_device().await?;
    Ok(ApiJson(DeviceLink {
        code: code.encode(),
    }))
}

/// Makes this (fresh) daemon another device of the member in the code.
pub async fn join_device(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DeviceJoinRequest>,
) -> Result<(StatusCode, ApiJson<InitResponse>), ApiError> {
    let code = DeviceCode::decode(&req.code).map_err(|e| ApiError::bad_request(e.to_string()))?;
    state.node.join_device(&code).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(InitResponse {
            community_id: code.ticket.community,
            member_id: code.member,
        }),
    ))
}

/// My devices, and which are connected now.
pub async fn devices(State(state): State<AppState>) -> ApiResult<Vec<DeviceStatus>> {
    let me = state.resolve_member(&state.me()?).await?;
    let peers = peer_statuses(&state).await;
    let local = state.node.peer_id().to_string();
    Ok(ApiJson(
        me.devices
            .iter()
            .map(|(peer, added)| DeviceStatus {
                peer_id: peer.clone(),
                added: added.clone(),
                this_device: *peer == local,
                connected: peers.iter().any(|p| p.peer_id == *peer && p.connected),
            })
            .collect(),
    ))
}
