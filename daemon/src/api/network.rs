//! Peers, invitations and joining a community.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::api::{
    AddPeerRequest, DeviceJoinRequest, DeviceLink, DeviceStatus, ErrorBody, InitResponse, Invite,
    JoinRequest, PeerStatus, Peers,
};
use crdt_model::community::Community;
use crdt_model::member::Member;
use crdt_model::{DocKind, GuildDoc};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::community::{create_member, new_device};
use super::error::{ApiError, ApiJson, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, META_COMMUNITY, META_ME, clock, new_id, now};
use crate::net::membership::{DeviceCode, Membership, Ticket, invite_hash};
use crate::net::{store_membership, stored_membership, sync};
use crdt_model::community::Invitation;

/// How long `guild join` waits for the community to arrive from the inviter.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn peer_statuses(state: &AppState) -> Vec<PeerStatus> {
    let engine = &state.network.engine;
    let ours = engine.our_heads().await;
    engine
        .report()
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
            in_sync: p.member && sync::in_sync(&p.known, &ours),
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
        })
        .collect()
}

pub async fn listen_addrs(state: &AppState) -> Vec<Multiaddr> {
    state
        .network
        .net
        .info()
        .await
        .map(|i| i.listen_addrs)
        .unwrap_or_default()
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
        dialled: state
            .network
            .peer_list()
            .iter()
            .map(ToString::to_string)
            .collect(),
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
    let removed = state
        .network
        .remove_peer(&addr)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if removed {
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
    state
        .network
        .add_peers(&[addr])
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// How long an invitation (or a device-link code) stays good.
const INVITE_DAYS: i64 = 7;

/// Opens an invitation in the community document and returns a ticket carrying its nonce.
async fn open_invitation(state: &AppState) -> Result<Ticket, ApiError> {
    let community_id = state.community_id()?;
    let me = state.me()?;
    let membership = stored_membership(state.repo.store(), Some(&community_id))
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(ApiError::not_initialised)?;
    let nonce: [u8; 32] = rand::random();
    let expires = crdt_model::when::format(clock() + time::Duration::days(INVITE_DAYS));
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.invites.insert(
            invite_hash(&nonce),
            Invitation {
                by: me.clone(),
                expires,
            },
        );
        Ok(())
    })?;
    tx.commit().await?;
    let peer_id = state.network.net.local_peer_id;
    let addrs = listen_addrs(state)
        .await
        .into_iter()
        .map(|a| a.with(Protocol::P2p(peer_id)).to_string())
        .collect();
    Ok(Ticket {
        community: community_id,
        secret: *membership.secret(),
        addrs,
        invite: nonce,
    })
}

/// Opens an invitation, good for 7 days: a ticket for `guild join`.
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
    let ticket = open_invitation(&state).await?;
    Ok(ApiJson(Invite {
        ticket: ticket.encode(),
        community_id: ticket.community.clone(),
        addrs: ticket.addrs,
    }))
}

/// Refuses to join when this daemon already belongs somewhere.
fn check_can_join(state: &AppState, community: &str) -> Result<(), ApiError> {
    let identity = state.identity();
    if let Some(me) = identity.me {
        return Err(ApiError::conflict(format!(
            "this daemon already belongs to community {} as member {me}",
            identity.community.unwrap_or_default()
        )));
    }
    if identity.community.as_ref().is_some_and(|c| c != community) {
        return Err(ApiError::conflict(
            "this daemon is already joining another community",
        ));
    }
    Ok(())
}

/// Becomes a member of the ticket's community (the secret is what lets the inviter's daemon
/// talk to us), dials the inviter, and waits until `docs` have arrived.
async fn connect_and_fetch(
    state: &AppState,
    ticket: &Ticket,
    membership: Membership,
    docs: &[&str],
) -> Result<(), ApiError> {
    let addrs: Vec<Multiaddr> = ticket.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    if addrs.is_empty() {
        return Err(ApiError::bad_request(
            "the ticket holds no address to reach the inviter",
        ));
    }
    let mut tx = state.repo.begin(&[]).await;
    tx.put_meta(META_COMMUNITY, ticket.community.as_bytes());
    store_membership(&mut tx, &membership);
    tx.commit().await?;
    state.set_community(&ticket.community);
    state.network.engine.set_membership(membership).await;
    state
        .network
        .add_peers(&addrs)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    for doc in docs {
        wait_for_doc(state, doc).await?;
    }
    Ok(())
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
    check_can_join(&state, &ticket.community)?;
    let (_, today) = now();
    let member_id = new_id();
    let mut me = Member::new(&member_id, &req.me, &today)?;
    me.buddy = None; // Chosen once the directory has arrived.
    // Keep the device secret of an earlier attempt that timed out.
    let device = stored_membership(state.repo.store(), Some(&ticket.community))
        .ok()
        .flatten()
        .and_then(|m| m.device)
        .unwrap_or_else(new_device);
    let membership = Membership::new(ticket.community.clone(), ticket.secret)
        .with_invite(Some(ticket.invite))
        .with_device(Some(device));
    connect_and_fetch(&state, &ticket, membership.clone(), &[&ticket.community]).await?;

    let community_id = ticket.community;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.index(&member_id, DocKind::Member);
        Ok(())
    })?;
    create_member(&state, &mut tx, me, &membership)?;
    tx.commit().await?;
    state.set_me(&member_id);
    Ok((
        StatusCode::CREATED,
        ApiJson(InitResponse {
            community_id,
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
    let ticket = open_invitation(&state).await?;
    let membership = stored_membership(state.repo.store(), Some(&ticket.community))
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(ApiError::not_initialised)?;
    let device = membership
        .device
        .ok_or_else(|| ApiError::internal("this daemon has no device secret"))?;
    let code = DeviceCode {
        ticket,
        member: state.me()?,
        device,
    };
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
    check_can_join(&state, &code.ticket.community)?;
    let membership = Membership::new(code.ticket.community.clone(), code.ticket.secret)
        .with_invite(Some(code.ticket.invite))
        .with_device(Some(code.device.clone()));
    connect_and_fetch(
        &state,
        &code.ticket,
        membership,
        &[&code.ticket.community, &code.member],
    )
    .await?;
    // Register this daemon among the member's devices, so every member admits it.
    let (now, _) = now();
    let mut tx = state.repo.begin(&[&code.member]).await;
    Member::update(tx.doc(&code.member)?, |m| {
        m.devices
            .insert(state.network.net.local_peer_id.to_string(), now);
        Ok(())
    })?;
    tx.put_meta(META_ME, code.member.as_bytes());
    tx.commit().await?;
    state.set_me(&code.member);
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
    let local = state.network.net.local_peer_id.to_string();
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

async fn wait_for_doc(state: &AppState, id: &str) -> Result<(), ApiError> {
    let mut changes = state.repo.subscribe();
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    while !state.repo.contains(id) {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(_) => {}
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    format!(
                        "could not fetch the community from the inviter within {}s; guildd keeps trying: run the same `guild join` again once the inviter's daemon is reachable",
                        JOIN_TIMEOUT.as_secs()
                    ),
                ));
            }
        }
    }
    Ok(())
}
