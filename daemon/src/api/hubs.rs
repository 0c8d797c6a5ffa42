//! The community's hubs (`guild hubs`): always-on member daemons (`guildd run --hub`) that
//! relay and introduce members who cannot reach each other directly. Listed in the
//! community document, so every member's daemon dials them; stewards add and remove them.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{ErrorBody, HubRequest, HubStatus, HubsReport};
use crdt_model::community::Community;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::error::{ApiError, ApiJson, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, log_change, now};
use crate::net::hubs::{Reachability, peer_in};

/// A hub's address as members will dial it: a multiaddr with an IP address or DNS name, a
/// TCP or QUIC port, and the hub's peer id at the end (so that nobody else can pose as it).
pub fn parse_hub(text: &str) -> Result<Multiaddr, ApiError> {
    let text = text.trim();
    let addr: Multiaddr = text.parse().map_err(|e| {
        ApiError::bad_request(format!(
            "{text:?} is not a multiaddr like /ip4/203.0.113.7/tcp/4717/p2p/12D3KooW... ({e})"
        ))
    })?;
    let host = addr.iter().any(|p| {
        matches!(
            p,
            Protocol::Ip4(_)
                | Protocol::Ip6(_)
                | Protocol::Dns(_)
                | Protocol::Dns4(_)
                | Protocol::Dns6(_)
        )
    });
    let port = addr
        .iter()
        .any(|p| matches!(p, Protocol::Tcp(_) | Protocol::QuicV1));
    if !host || !port {
        return Err(ApiError::bad_request(format!(
            "{addr} names no host and TCP or QUIC port (like /ip4/203.0.113.7/tcp/4717/p2p/12D3KooW...)"
        )));
    }
    if addr.iter().any(|p| p == Protocol::P2pCircuit) {
        return Err(ApiError::bad_request(format!(
            "{addr} is a relayed address; give the hub's own address"
        )));
    }
    if peer_in(&addr).is_none() {
        return Err(ApiError::bad_request(format!(
            "{addr} does not end with the hub's peer id (/p2p/12D3KooW...: `guild status` on the hub shows it)"
        )));
    }
    Ok(addr)
}

/// The community's hubs, whether each is connected and holds our relay reservation, and
/// whether this daemon is reachable from outside (AutoNAT).
#[utoipa::path(
    get,
    path = "/api/hubs",
    tag = "network",
    operation_id = "listHubs",
    responses(
        (status = 200, description = "Hubs and reachability", body = HubsReport),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<HubsReport> {
    let community = state.community().await?;
    let info = state.node.net_info().await;
    let reserved: Vec<String> = info.reservations.iter().map(ToString::to_string).collect();
    let connected: Vec<&Multiaddr> = info
        .hubs
        .iter()
        .filter(|(_, up)| *up)
        .map(|(a, _)| a)
        .collect();
    // Every steward's name in one read of the members, not one per hub.
    let added_by = state
        .member_refs(community.hubs.values().map(|h| &h.added_by))
        .await?;
    let mut hubs = Vec::new();
    for ((addr, hub), added_by) in community.hubs.iter().zip(added_by) {
        let peer = addr.parse::<Multiaddr>().ok().as_ref().and_then(peer_in);
        hubs.push(HubStatus {
            addr: addr.clone(),
            added_by: added_by.name,
            added: hub.added.clone(),
            connected: peer.is_some_and(|p| {
                connected.iter().any(|a| peer_in(a) == Some(p))
                    || (info.hub && p == state.node.peer_id())
            }),
            reserved: peer.is_some_and(|p| reserved.contains(&p.to_string())),
        });
    }
    let (reachability, reachable_addrs) = match info.reachability {
        Reachability::Unknown => ("unknown", Vec::new()),
        Reachability::Private => ("private", Vec::new()),
        Reachability::Public(addrs) => ("public", addrs.iter().map(ToString::to_string).collect()),
    };
    Ok(ApiJson(HubsReport {
        hubs,
        reachability: reachability.to_owned(),
        reachable_addrs,
        serving: info.hub,
    }))
}

/// Lists a hub in the community document: every member's daemon dials it, and new tickets
/// carry it. Stewards only.
#[utoipa::path(
    post,
    path = "/api/hubs",
    tag = "network",
    operation_id = "addHub",
    request_body = HubRequest,
    responses(
        (status = 201, description = "Listed"),
        (status = 200, description = "Already listed: nothing changed"),
        (status = 400, description = "Not a hub address (a multiaddr with host, port and peer id)", body = ErrorBody),
        (status = 403, description = "Not a steward", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<HubRequest>,
) -> Result<StatusCode, ApiError> {
    let addr = parse_hub(&req.addr)?.to_string();
    let community_id = state.community_id()?;
    let me = state.require_steward("add hubs").await?;
    let (at, _) = now();
    let mut tx = state.repo.begin(&[&community_id]).await;
    let added = Community::update(tx.doc(&community_id)?, |c| c.add_hub(&addr, &me, &at))?;
    if !added {
        return Ok(StatusCode::OK);
    }
    log_change(
        &mut tx,
        &community_id,
        &me,
        "hub.added",
        &addr,
        format!("added the hub {addr}"),
    )?;
    tx.commit().await?;
    Ok(StatusCode::CREATED)
}

/// Stops listing a hub: members stop dialling it. Stewards only.
#[utoipa::path(
    delete,
    path = "/api/hubs",
    tag = "network",
    operation_id = "removeHub",
    request_body = HubRequest,
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not a steward", body = ErrorBody),
        (status = 404, description = "Not one of the community's hubs", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<HubRequest>,
) -> Result<StatusCode, ApiError> {
    let addr = req.addr.trim().to_owned();
    let community_id = state.community_id()?;
    if !state.community().await?.hubs.contains_key(&addr) {
        return Err(ApiError::not_found(format!(
            "{addr} is not one of the community's hubs (`guild hubs` lists them)"
        )));
    }
    let me = state.require_steward("remove hubs").await?;
    let mut tx = state.repo.begin(&[&community_id]).await;
    Community::update(tx.doc(&community_id)?, |c| c.remove_hub(&addr).map(drop))?;
    log_change(
        &mut tx,
        &community_id,
        &me,
        "hub.removed",
        &addr,
        format!("removed the hub {addr}"),
    )?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_address_needs_a_host_a_port_and_the_hub_s_peer_id() {
        let peer = libp2p::PeerId::random();
        assert!(parse_hub(&format!("/ip4/203.0.113.7/tcp/4717/p2p/{peer}")).is_ok());
        assert!(
            parse_hub(&format!(
                " /dns4/hub.example.org/udp/4717/quic-v1/p2p/{peer} "
            ))
            .is_ok()
        );
        for (bad, why) in [
            ("hub.example.org:4717".to_owned(), "is not a multiaddr"),
            (
                "/ip4/203.0.113.7/tcp/4717".to_owned(),
                "does not end with the hub's peer id",
            ),
            (format!("/p2p/{peer}"), "names no host"),
            (
                format!("/ip4/203.0.113.7/tcp/4717/p2p/{peer}/p2p-circuit/p2p/{peer}"),
                "relayed address",
            ),
        ] {
            let err = parse_hub(&bad).unwrap_err().message;
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
