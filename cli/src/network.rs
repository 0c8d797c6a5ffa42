//! `guild invite`, `guild join`, `guild peers ...`

use anyhow::Result;
use clap::Subcommand;
use crdt_model::api::{AddPeerRequest, InitResponse, Invite, JoinRequest, PeerStatus, Peers};
use crdt_model::member::Profile;

use crate::client::Client;
use crate::output;

#[derive(Subcommand)]
pub enum PeersCmd {
    /// Keep a connection to a peer's address (persisted; redialled after drops and restarts).
    Add {
        /// A libp2p multiaddr, e.g. /ip4/192.0.2.7/tcp/4717
        multiaddr: String,
    },
    /// Stop dialling an address added before.
    Remove { multiaddr: String },
    /// Connected peers, their addresses and the last sync with each (the default).
    List,
}

pub fn invite(client: &Client, json: bool) -> Result<()> {
    let invite: Invite = client.get("/api/invite")?;
    if json {
        return output::json(&invite);
    }
    println!("{}", invite.ticket);
    eprintln!("Give this ticket to the new member: guild join <ticket> --name \"Their Name\"");
    eprintln!("It holds the community's secret: share it like a password.");
    Ok(())
}

pub fn join(client: &Client, ticket: String, me: Profile, json: bool) -> Result<()> {
    let joined: InitResponse = client.post("/api/join", &JoinRequest { ticket, me })?;
    if json {
        return output::json(&joined);
    }
    println!(
        "Joined community {}; you are member {}",
        joined.community_id, joined.member_id
    );
    Ok(())
}

pub fn peers(client: &Client, cmd: Option<PeersCmd>, json: bool) -> Result<()> {
    match cmd {
        Some(PeersCmd::Add { multiaddr }) => {
            client.post::<_, serde_json::Value>(
                "/api/peers",
                &AddPeerRequest {
                    addr: multiaddr.clone(),
                },
            )?;
            println!("Added {multiaddr}; guildd keeps it connected");
            Ok(())
        }
        Some(PeersCmd::Remove { multiaddr }) => {
            client.delete_with(
                "/api/peers",
                &AddPeerRequest {
                    addr: multiaddr.clone(),
                },
            )?;
            println!("Removed {multiaddr}");
            Ok(())
        }
        Some(PeersCmd::List) | None => {
            let peers: Peers = client.get("/api/peers")?;
            if json {
                return output::json(&peers);
            }
            print_peers(&peers.peers);
            if !peers.dialled.is_empty() {
                println!("\nDialled: {}", peers.dialled.join(", "));
            }
            Ok(())
        }
    }
}

pub fn print_peers(peers: &[PeerStatus]) {
    let rows = peers.iter().map(|p| {
        [
            p.peer_id.clone(),
            if !p.connected {
                "offline".into()
            } else if !p.member {
                "not a member".into()
            } else if p.in_sync {
                "in sync".into()
            } else {
                "syncing".into()
            },
            p.addrs.join(" "),
            p.last_sync.clone().unwrap_or_else(|| "never".into()),
        ]
    });
    let table = output::table(&["peer", "state", "addresses", "last sync"], rows);
    output::print_table(table, "No peers yet.");
}
