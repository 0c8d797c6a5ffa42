//! Members only: the services a hub offers (rendezvous, AutoNAT dial-backs) answer current
//! members' devices and nobody else.
//!
//! [`MemberGate`] is the set of peer ids the community's roster lists as devices of current
//! members, kept up to date by the sync engine (it reads the roster from the documents).
//! [`MembersOnly`] wraps a libp2p behaviour so that, on every connection, the wrapped
//! behaviour's protocols are offered for inbound streams only while the peer is in the gate.
//! The check runs for each inbound stream, not once per connection: a newcomer who joined
//! over a connection becomes a member on that same connection as soon as its member document
//! arrives, and a removed member's device loses the service at once. To a stranger the
//! protocols do not exist ("protocol not supported"). Outbound streams (ours) are never gated.
//!
//! The relay server needs no wrapper: its own rate limiters ask the same gate (see
//! `swarm::relay_config`), so a stranger's reservation or circuit is refused with relay v2's
//! own status code.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use either::Either;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::handler::{
    ConnectionEvent, ConnectionHandler, ConnectionHandlerEvent, FullyNegotiatedInbound,
    ListenUpgradeError, SendWrapper, SubstreamProtocol,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};

/// The devices of current members, shared by the swarm's gated services.
#[derive(Clone, Default)]
pub struct MemberGate(Arc<RwLock<HashSet<PeerId>>>);

impl MemberGate {
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(peer)
    }

    /// Replaces the set (the roster changed).
    pub fn set(&self, members: HashSet<PeerId>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = members;
    }
}

/// A behaviour whose inbound protocols only members reach.
pub struct MembersOnly<B> {
    inner: B,
    gate: MemberGate,
}

impl<B> MembersOnly<B> {
    pub fn new(inner: B, gate: MemberGate) -> Self {
        Self { inner, gate }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for MembersOnly<B> {
    type ConnectionHandler = Gated<THandler<B>>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )?;
        Ok(Gated::new(inner, peer, self.gate.clone()))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )?;
        Ok(Gated::new(inner, peer, self.gate.clone()))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// A connection handler that offers its inner handler's inbound protocols only while the
/// peer is a member.
pub struct Gated<H> {
    inner: H,
    peer: PeerId,
    gate: MemberGate,
}

impl<H> Gated<H> {
    fn new(inner: H, peer: PeerId, gate: MemberGate) -> Self {
        Self { inner, peer, gate }
    }
}

impl<H: ConnectionHandler> ConnectionHandler for Gated<H> {
    type FromBehaviour = H::FromBehaviour;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = Either<SendWrapper<H::InboundProtocol>, SendWrapper<DeniedUpgrade>>;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = Either<H::InboundOpenInfo, ()>;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        if self.gate.admits(&self.peer) {
            self.inner
                .listen_protocol()
                .map_upgrade(|u| Either::Left(SendWrapper(u)))
                .map_info(Either::Left)
        } else {
            SubstreamProtocol::new(Either::Right(SendWrapper(DeniedUpgrade)), Either::Right(()))
        }
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        let inner = match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol, info }) => {
                match (protocol, info) {
                    (futures::future::Either::Left(protocol), Either::Left(info)) => {
                        ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                            protocol,
                            info,
                        })
                    }
                    // A denied upgrade never completes.
                    _ => return,
                }
            }
            ConnectionEvent::ListenUpgradeError(ListenUpgradeError { info, error }) => {
                match (info, error) {
                    (Either::Left(info), Either::Left(error)) => {
                        ConnectionEvent::ListenUpgradeError(ListenUpgradeError { info, error })
                    }
                    // A stream a stranger opened and we denied: nothing for the inner handler.
                    _ => return,
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(e) => {
                ConnectionEvent::FullyNegotiatedOutbound(e)
            }
            ConnectionEvent::DialUpgradeError(e) => ConnectionEvent::DialUpgradeError(e),
            ConnectionEvent::AddressChange(e) => ConnectionEvent::AddressChange(e),
            ConnectionEvent::LocalProtocolsChange(e) => ConnectionEvent::LocalProtocolsChange(e),
            ConnectionEvent::RemoteProtocolsChange(e) => ConnectionEvent::RemoteProtocolsChange(e),
            _ => return,
        };
        self.inner.on_connection_event(inner);
    }
}
