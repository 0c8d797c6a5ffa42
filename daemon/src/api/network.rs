//! Peers, invitations, joining a community and linking devices: thin handlers over
//! [`crate::node::Node`], which owns who this daemon is.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::api::{
    AddPeerRequest, DeviceJoinRequest, DeviceLink, DeviceStatus, ErrorBody, InitResponse, Invite,
    InviteInfo, InviteRequest, JoinRequest, PeerStatus, Peers, RevokeRequest, Revoked,
};
use crdt_model::member::Member;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::error::{ApiError, ApiJson, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, new_id, now};
use crate::net::hubs::Path;
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
    let paths = state.node.net_info().await.paths;
    let mut peers: Vec<PeerStatus> = state
        .node
        .report()
        .await
        .peers
        .into_iter()
        .map(|p| PeerStatus {
            path: p
                .connected
                .then(|| paths.get(&p.peer))
                .flatten()
                .map(|path| path_name(path).to_owned()),
            via_hub: match paths.get(&p.peer) {
                Some(Path::Relayed { hub }) if p.connected => Some(hub.to_string()),
                _ => None,
            },
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

/// How `guild peers` names a path.
pub fn path_name(path: &Path) -> &'static str {
    match path {
        Path::Direct => "direct",
        Path::Relayed { .. } => "relayed",
        Path::HolePunched => "hole-punched",
    }
}

pub async fn listen_addrs(state: &AppState) -> Vec<Multiaddr> {
    state.node.listen_addrs().await
}

/// The addresses this daemon keeps dialling, and every peer it knows.
#[utoipa::path(
    get,
    path = "/api/peers",
    tag = "network",
    operation_id = "listPeers",
    responses(
        (status = 200, description = "Peers", body = Peers),
    )
)]
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

/// Stops dialling an address.
#[utoipa::path(
    delete,
    path = "/api/peers",
    tag = "network",
    operation_id = "removePeer",
    request_body = AddPeerRequest,
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not a multiaddr", body = ErrorBody),
        (status = 404, description = "Not in the peer list", body = ErrorBody),
    )
)]
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

/// Dials an address and keeps the connection alive (across networks, where mDNS does not reach).
#[utoipa::path(
    post,
    path = "/api/peers",
    tag = "network",
    operation_id = "addPeer",
    request_body = AddPeerRequest,
    responses(
        (status = 204, description = "Added"),
        (status = 400, description = "Not a multiaddr, or names no TCP or QUIC port", body = ErrorBody),
    )
)]
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

/// A single-use invitation, good for a week: a ticket for `guild join`.
///
/// The ticket holds the community secret: share it like a password.
#[utoipa::path(
    get,
    path = "/api/invite",
    tag = "network",
    operation_id = "invite",
    responses(
        (status = 200, description = "The ticket", body = Invite),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn invite(State(state): State<AppState>) -> ApiResult<Invite> {
    let ticket = state.node.invite(1, None).await?;
    Ok(ApiJson(invite_body(ticket)))
}

/// An invitation for `uses` daemons (default 1) until `expires` (default in 7 days).
#[utoipa::path(
    post,
    path = "/api/invites",
    tag = "network",
    operation_id = "createInvite",
    request_body = InviteRequest,
    responses(
        (status = 201, description = "The ticket", body = Invite),
        (status = 400, description = "`uses` or `expires` is not valid", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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

/// Every invitation: who issued it, its uses, its expiry, and whether it is still open.
#[utoipa::path(
    get,
    path = "/api/invites",
    tag = "network",
    operation_id = "listInvites",
    responses(
        (status = 200, description = "Invitations", body = [InviteInfo]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn invites(State(state): State<AppState>) -> ApiResult<Vec<InviteInfo>> {
    Ok(ApiJson(state.node.invitations().await?))
}

/// Revokes one invitation (its issuer or a steward) or every open one (`all`, stewards).
#[utoipa::path(
    post,
    path = "/api/invites/revoke",
    tag = "network",
    operation_id = "revokeInvites",
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "The ids revoked", body = Revoked),
        (status = 400, description = "Neither `id` nor `all`, or both", body = ErrorBody),
        (status = 403, description = "Not yours to revoke: you are not its issuer or a steward", body = ErrorBody),
        (status = 404, description = "No such invitation", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn revoke_invites(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<Revoked> {
    let revoked = state.node.revoke(req.id.as_deref(), req.all).await?;
    Ok(ApiJson(Revoked { revoked }))
}

/// Joins the community of a ticket: fetches it from the inviter, then adds you as a member.
#[utoipa::path(
    post,
    path = "/api/join",
    tag = "network",
    operation_id = "join",
    request_body = JoinRequest,
    responses(
        (status = 201, description = "The community and your member id", body = InitResponse),
        (status = 400, description = "The ticket or a profile field is not valid", body = ErrorBody),
        (status = 409, description = "This daemon already belongs to a community, or is joining another", body = ErrorBody),
        (status = 504, description = "The community did not arrive from the inviter within 60 s; guildd keeps trying: ask again once the inviter is reachable", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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

/// A code for another of your devices: the community ticket plus your device secret.
///
/// Share it with nobody: it makes a laptop act as you.
#[utoipa::path(
    post,
    path = "/api/devices/link",
    tag = "network",
    operation_id = "linkDevice",
    responses(
        (status = 200, description = "The code for `guild devices join`", body = DeviceLink),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn link_device(State(state): State<AppState>) -> ApiResult<DeviceLink> {
    let code = state.node.link_device().await?;
    Ok(ApiJson(DeviceLink {
        code: code.encode(),
    }))
}

/// Makes this fresh daemon another device of the member in the code.
#[utoipa::path(
    post,
    path = "/api/devices/join",
    tag = "network",
    operation_id = "joinDevice",
    request_body = DeviceJoinRequest,
    responses(
        (status = 201, description = "The community and your member id", body = InitResponse),
        (status = 400, description = "The code is not valid", body = ErrorBody),
        (status = 409, description = "This daemon already belongs to a community, or is joining another", body = ErrorBody),
        (status = 504, description = "The community did not arrive from the inviter within 60 s; guildd keeps trying: ask again once the inviter is reachable", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
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

/// Your devices, and which are connected now.
#[utoipa::path(
    get,
    path = "/api/devices",
    tag = "network",
    operation_id = "listDevices",
    responses(
        (status = 200, description = "Your devices", body = [DeviceStatus]),
        (status = 404, description = "Your member is missing (removed)", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
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
