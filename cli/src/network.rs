//! `guild invite`, `guild join`, `guild peers ...`, `guild hubs ...`

use anyhow::Result;
use clap::{Args, Subcommand};
use crdt_model::api::{
    AddPeerRequest, DeviceJoinRequest, DeviceLink, DeviceStatus, HubRequest, HubsReport,
    InitResponse, Invite, InviteInfo, InviteRequest, JoinRequest, PeerStatus, Peers, RevokeRequest,
    Revoked,
};
use crdt_model::member::Profile;

use crate::client::Client;
use crate::output::{self, say};

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

#[derive(Subcommand)]
pub enum HubsCmd {
    /// List a hub in the community document: every member's daemon dials it, and new
    /// invitations carry it (stewards only).
    Add {
        /// The hub's address with its peer id, e.g. /ip4/203.0.113.7/tcp/4717/p2p/12D3KooW...
        multiaddr: String,
    },
    /// Stop listing a hub (stewards only).
    Remove { multiaddr: String },
    /// The community's hubs, whether each is connected and holds our relay reservation, and
    /// whether this daemon is reachable from outside (the default).
    List,
}

pub fn hubs(client: &Client, cmd: Option<HubsCmd>, json: bool) -> Result<()> {
    match cmd.unwrap_or(HubsCmd::List) {
        HubsCmd::Add { multiaddr } => {
            // The daemon answers 200 instead of 201 for a hub already listed; say so rather
            // than "Listed" again.
            let listed: HubsReport = client.get("/api/hubs")?;
            if listed.hubs.iter().any(|h| h.addr == multiaddr.trim()) {
                say!(
                    "The hub {} is already listed: nothing changed",
                    multiaddr.trim()
                );
                return Ok(());
            }
            client.post::<_, serde_json::Value>(
                "/api/hubs",
                &HubRequest {
                    addr: multiaddr.clone(),
                },
            )?;
            say!("Listed the hub {multiaddr}; every member's guildd dials it once it has synced");
            Ok(())
        }
        HubsCmd::Remove { multiaddr } => {
            client.delete_with(
                "/api/hubs",
                &HubRequest {
                    addr: multiaddr.clone(),
                },
            )?;
            say!("Removed the hub {multiaddr}");
            Ok(())
        }
        HubsCmd::List => {
            let report: HubsReport = client.get("/api/hubs")?;
            if json {
                return output::json(&report);
            }
            let rows = report.hubs.iter().map(|h| {
                [
                    h.addr.clone(),
                    if h.connected {
                        "connected"
                    } else {
                        "not connected"
                    }
                    .into(),
                    if h.reserved { "yes" } else { "no" }.into(),
                    h.added_by.clone(),
                ]
            });
            let table = output::table(&["hub", "state", "relay slot", "added by"], rows);
            output::print_table(
                table,
                "No hubs: members sync when they can dial each other (a steward adds one with `guild hubs add`).",
            );
            if report.serving {
                say!("\nThis daemon is a hub.");
            } else {
                say!(
                    "\nReachable from outside: {}",
                    match report.reachability.as_str() {
                        "public" => format!("yes, at {}", report.reachable_addrs.join(", ")),
                        "private" =>
                            "no (behind a NAT or firewall): members reach you through a hub".into(),
                        _ => "not known yet (a connected hub tests it)".into(),
                    }
                );
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum DevicesCmd {
    /// Print a code that makes another laptop one of your devices.
    Link,
    /// On your other laptop (fresh data directory): become the member the code belongs to.
    Join { code: String },
    /// Your devices, and which are connected (the default).
    List,
}

pub fn devices(client: &Client, cmd: Option<DevicesCmd>, json: bool) -> Result<()> {
    match cmd.unwrap_or(DevicesCmd::List) {
        DevicesCmd::Link => {
            let link: DeviceLink = client.post("/api/devices/link", &serde_json::json!({}))?;
            if json {
                return output::json(&link);
            }
            say!("{}", link.code);
            eprintln!("On your other laptop: guild devices join <code>");
            eprintln!(
                "It holds your community's secret and your private device secret: share it with nobody."
            );
            Ok(())
        }
        DevicesCmd::Join { code } => {
            let joined: InitResponse =
                client.post("/api/devices/join", &DeviceJoinRequest { code })?;
            if json {
                return output::json(&joined);
            }
            say!(
                "This laptop is now a device of member {} in community {}",
                joined.member_id,
                joined.community_id
            );
            Ok(())
        }
        DevicesCmd::List => {
            let devices: Vec<DeviceStatus> = client.get("/api/devices")?;
            if json {
                return output::json(&devices);
            }
            let rows = devices.iter().map(|d| {
                [
                    d.peer_id.clone(),
                    d.added.clone(),
                    if d.this_device {
                        "this laptop".into()
                    } else if d.connected {
                        "connected".into()
                    } else {
                        "offline".into()
                    },
                ]
            });
            output::print_table(
                output::table(&["peer", "added", "state"], rows),
                "No devices.",
            );
            Ok(())
        }
    }
}

#[derive(Args, Default)]
pub struct NewInvite {
    /// How many daemons may join with the ticket.
    #[arg(long, default_value_t = 1)]
    pub uses: u64,
    /// When the ticket stops working: 90m, 12h, 7d, 2w or an RFC 3339 time [default: 7d]
    #[arg(long)]
    pub expires: Option<String>,
}

#[derive(Subcommand)]
pub enum InviteCmd {
    /// Every invitation, who issued it, its uses and whether it is still open.
    List,
    /// Revoke an invitation (by the id `guild invite list` shows), or every open one.
    Revoke {
        /// The invitation's id (or its first characters).
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Revoke every open invitation (stewards only).
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub fn invite(client: &Client, cmd: Option<InviteCmd>, new: NewInvite, json: bool) -> Result<()> {
    match cmd {
        None => {
            let invite: Invite = client.post(
                "/api/invites",
                &InviteRequest {
                    uses: Some(new.uses),
                    expires: new.expires,
                },
            )?;
            if json {
                return output::json(&invite);
            }
            say!("{}", invite.ticket);
            eprintln!(
                "Give this ticket to the new member: guild join <ticket> --name \"Their Name\""
            );
            eprintln!("It holds the community's secret: share it like a password.");
            Ok(())
        }
        Some(InviteCmd::List) => {
            let invites: Vec<InviteInfo> = client.get("/api/invites")?;
            if json {
                return output::json(&invites);
            }
            let rows = invites.iter().map(|i| {
                [
                    i.id.clone(),
                    i.by.name.clone(),
                    format!("{}/{}", i.used, i.uses),
                    crate::changes::when(&i.expires),
                    i.state.clone(),
                ]
            });
            output::print_table(
                output::table(&["id", "by", "used", "expires", "state"], rows),
                "No invitations.",
            );
            Ok(())
        }
        Some(InviteCmd::Revoke { id, all }) => {
            let revoked: Revoked =
                client.post("/api/invites/revoke", &RevokeRequest { id, all })?;
            if json {
                return output::json(&revoked);
            }
            match revoked.revoked.as_slice() {
                [] => say!("No open invitation to revoke"),
                ids => say!("Revoked {}", ids.join(", ")),
            }
            Ok(())
        }
    }
}

pub fn join(client: &Client, ticket: String, me: Profile, json: bool) -> Result<()> {
    let joined: InitResponse = client.post("/api/join", &JoinRequest { ticket, me })?;
    if json {
        return output::json(&joined);
    }
    say!(
        "Joined community {}; you are member {}",
        joined.community_id,
        joined.member_id
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
            if json {
                return output::json(&serde_json::json!({ "added": multiaddr }));
            }
            say!("Added {multiaddr}; guildd keeps it connected");
            Ok(())
        }
        Some(PeersCmd::Remove { multiaddr }) => {
            client.delete_with(
                "/api/peers",
                &AddPeerRequest {
                    addr: multiaddr.clone(),
                },
            )?;
            if json {
                return output::json(&serde_json::json!({ "removed": multiaddr }));
            }
            say!("Removed {multiaddr}");
            Ok(())
        }
        Some(PeersCmd::List) | None => {
            let peers: Peers = client.get("/api/peers")?;
            if json {
                return output::json(&peers);
            }
            print_peers(&peers.peers);
            if !peers.dialled.is_empty() {
                say!("\nDialled: {}", peers.dialled.join(", "));
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
            match (p.path.as_deref(), &p.via_hub) {
                (Some("relayed"), Some(hub)) => format!("relayed via {hub}"),
                (Some(path), _) => path.to_owned(),
                (None, _) => String::new(),
            },
            p.addrs.join(" "),
            p.last_sync.clone().unwrap_or_else(|| "never".into()),
        ]
    });
    let table = output::table(&["peer", "state", "path", "addresses", "last sync"], rows);
    output::print_table(table, "No peers yet.");
}
