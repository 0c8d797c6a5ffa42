//! Peers, invitations and joining a community.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::api::{AddPeerRequest, InitResponse, Invite, JoinRequest, PeerStatus, Peers};
use crdt_model::community::Community;
use crdt_model::member::Member;
use crdt_model::{DocKind, GuildDoc};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::error::{ApiError, ApiJson, ApiResult};
use super::state::{AppState, META_COMMUNITY, META_ME, new_id, now};
use crate::net::membership::{Membership, Ticket};
use crate::net::{META_SECRET, sync};

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

pub async fn invite(State(state): State<AppState>) -> ApiResult<Invite> {
    let community = state.community_id()?;
    let secret = stored_secret(&state)?;
    let peer_id = state.network.net.local_peer_id;
    let addrs: Vec<String> = listen_addrs(&state)
        .await
        .into_iter()
        .map(|a| a.with(Protocol::P2p(peer_id)).to_string())
        .collect();
    let ticket = Ticket {
        community: community.clone(),
        secret,
        addrs: addrs.clone(),
    };
    Ok(ApiJson(Invite {
        ticket: ticket.encode(),
        community_id: community,
        addrs,
    }))
}

fn stored_secret(state: &AppState) -> Result<[u8; 32], ApiError> {
    let bytes = state
        .repo
        .store()
        .meta(META_SECRET)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(ApiError::not_initialised)?;
    bytes
        .try_into()
        .map_err(|_| ApiError::internal("the stored community secret is damaged"))
}

pub async fn join(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<(StatusCode, ApiJson<InitResponse>), ApiError> {
    let identity = state.identity();
    if let Some(me) = identity.me {
        return Err(ApiError::conflict(format!(
            "this daemon already belongs to community {} as member {me}",
            identity.community.unwrap_or_default()
        )));
    }
    let ticket = Ticket::decode(&req.ticket).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if identity
        .community
        .as_ref()
        .is_some_and(|c| *c != ticket.community)
    {
        return Err(ApiError::conflict(
            "this daemon is already joining another community",
        ));
    }
    let (_, today) = now();
    let member_id = new_id();
    let mut me = Member::new(&member_id, &req.me, &today)?;
    me.buddy = None; // Chosen once the directory has arrived.
    let addrs: Vec<Multiaddr> = ticket.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    if addrs.is_empty() {
        return Err(ApiError::bad_request(
            "the ticket holds no address to reach the inviter",
        ));
    }

    // Become a member first: the secret is what lets the inviter's daemon talk to us.
    let mut tx = state.repo.begin(&[]).await;
    tx.put_meta(META_COMMUNITY, ticket.community.as_bytes());
    tx.put_meta(META_SECRET, &ticket.secret);
    tx.commit().await?;
    state.set_community(&ticket.community);
    state
        .network
        .engine
        .set_membership(Membership::new(ticket.community.clone(), ticket.secret))
        .await;
    state
        .network
        .add_peers(&addrs)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;

    wait_for_doc(&state, &ticket.community).await?;

    let community_id = ticket.community;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| {
        c.index(&member_id, DocKind::Member);
        Ok(())
    })?;
    me.write(tx.create(&member_id)?)?;
    tx.put_meta(META_ME, member_id.as_bytes());
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
