//! A stranger at a community's hub: a valid libp2p identity (fresh ed25519 key, Noise
//! handshake and all) that is no member's device, trying everything a hub offers members.
//! Used by `tests/e2e/hubs.rs`; by hand:
//!
//! ```sh
//! stranger_at_hub --hub /ip4/10.215.0.1/tcp/4717/p2p/12D3Koo... --member 12D3Koo... \
//!                 --namespace guild/<community id>
//! ```
//!
//! It connects to the hub, then at once: asks for a relay reservation, dials `--member`
//! through the hub's relay, and asks the hub's rendezvous point for every registration (in
//! `--namespace` and in all namespaces). It prints one JSON line: whether it got a
//! reservation, whether it reached the member, which peers rendezvous named, and what the hub
//! answered to each. It only dials the hub address it is given.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, SwarmBuilder, identify, noise, relay, rendezvous, tcp, yamux};
use serde_json::json;

/// How long the stranger keeps trying before it reports.
const PATIENCE: Duration = Duration::from_secs(15);

#[derive(Parser)]
struct Args {
    /// The hub's address, ending with its peer id.
    #[arg(long)]
    hub: Multiaddr,
    /// A member's peer id, to reach through the hub's relay.
    #[arg(long)]
    member: PeerId,
    /// The community's rendezvous namespace (`guild/<community id>`).
    #[arg(long)]
    namespace: String,
}

#[derive(NetworkBehaviour)]
struct Stranger {
    relay: relay::client::Behaviour,
    rendezvous: rendezvous::client::Behaviour,
    identify: identify::Behaviour,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let Some(Protocol::P2p(hub)) = args.hub.iter().last() else {
        bail!("--hub must end with /p2p/<peer id>");
    };
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| Stranger {
            relay,
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            identify: identify::Behaviour::new(identify::Config::new(
                "/guild/1".into(),
                key.public(),
            )),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(PATIENCE))
        .build();
    let me = *swarm.local_peer_id();
    swarm.dial(args.hub.clone())?;
    let namespace = rendezvous::Namespace::new(args.namespace.clone())?;
    let circuit = args.hub.clone().with(Protocol::P2pCircuit);
    let through_hub = circuit.clone().with(Protocol::P2p(args.member));

    let mut reservation: Option<Result<(), String>> = None;
    let mut reached: Option<Result<(), String>> = None;
    let mut discovered: Vec<String> = Vec::new();
    let mut discovery: Vec<String> = Vec::new();
    let mut listener = None;
    let mut asked = false;
    let deadline = tokio::time::sleep(PATIENCE);
    tokio::pin!(deadline);
    loop {
        if reservation.is_some() && reached.is_some() && discovery.len() == 2 {
            break;
        }
        let event = tokio::select! {
            event = swarm.select_next_some() => event,
            () = &mut deadline => break,
        };
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == hub && !asked => {
                asked = true;
                listener = Some(swarm.listen_on(circuit.clone())?);
                swarm.dial(through_hub.clone())?;
                let rv = &mut swarm.behaviour_mut().rendezvous;
                rv.discover(Some(namespace.clone()), None, None, hub);
                rv.discover(None, None, None, hub);
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == args.member => {
                reached = Some(Ok(()));
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } if peer == args.member => reached = Some(Err(error.to_string())),
            SwarmEvent::OutgoingConnectionError { error, .. } if !asked => {
                bail!("cannot reach the hub: {error}");
            }
            SwarmEvent::Behaviour(StrangerEvent::Relay(
                relay::client::Event::ReservationReqAccepted { .. },
            )) => reservation = Some(Ok(())),
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } if Some(listener_id) == listener => {
                reservation.get_or_insert(Err(match reason {
                    Ok(()) => "closed".into(),
                    Err(e) => e.to_string(),
                }));
            }
            SwarmEvent::Behaviour(StrangerEvent::Rendezvous(event)) => match event {
                rendezvous::client::Event::Discovered { registrations, .. } => {
                    discovered.extend(registrations.iter().map(|r| r.record.peer_id().to_string()));
                    discovery.push(format!(
                        "answered with {} registrations",
                        registrations.len()
                    ));
                }
                rendezvous::client::Event::DiscoverFailed { error, .. } => {
                    discovery.push(format!("refused: {error:?}"));
                }
                _ => {}
            },
            _ => {}
        }
    }
    let describe = |outcome: &Option<Result<(), String>>| match outcome {
        Some(Ok(())) => "granted".to_owned(),
        Some(Err(e)) => format!("refused: {e}"),
        None => "no answer".to_owned(),
    };
    println!(
        "{}",
        json!({
            "peer_id": me.to_string(),
            "reserved": matches!(reservation, Some(Ok(()))),
            "reservation": describe(&reservation),
            "reached_member": matches!(reached, Some(Ok(()))),
            "circuit": describe(&reached),
            "discovered": discovered,
            "discovery": discovery,
        })
    );
    Ok(())
}
