//! `GET /api/doctor`: what the daemon can check about itself (the store, the clock, where
//! it listens, mDNS, peers), each with what to do when something is wrong. `guild doctor`
//! adds what only the CLI can see (is the daemon running, the data directory's permissions).

use std::sync::OnceLock;

use axum::extract::State;
use crdt_model::ops::{Check, DoctorReport};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{ApiJson, ApiResult};
use super::network::listen_addrs;
use super::state::{AppState, clock};

/// Timestamps written by other members this far ahead of our clock mean one of the two
/// clocks is wrong (seconds).
const CLOCK_TOLERANCE: i64 = 5 * 60;
/// Less free space than this and writes may soon be refused.
const LOW_DISK: u64 = 200 * 1024 * 1024;

/// Whether mDNS discovery was asked for; set once by `guildd` at start.
static MDNS: OnceLock<bool> = OnceLock::new();

/// Records whether this process runs mDNS discovery (for the doctor's report).
pub fn record_mdns(enabled: bool) {
    let _ = MDNS.set(enabled);
}

/// What the daemon can check about itself, each with what to do when something is wrong.
///
/// The store, free disk space, the clock, where it listens, mDNS, peers.
#[utoipa::path(
    get,
    path = "/api/doctor",
    tag = "operations",
    operation_id = "doctor",
    responses(
        (status = 200, description = "The checks", body = DoctorReport),
    )
)]
pub async fn report(State(state): State<AppState>) -> ApiResult<DoctorReport> {
    let listening = listen_addrs(&state).await;
    Ok(ApiJson(DoctorReport {
        checks: vec![
            store(&state).await,
            disk(&state),
            clock_check(&state).await,
            listening_check(&listening),
            mdns(&listening),
            peers(&state).await,
            reachability(&state).await,
        ],
    }))
}

async fn store(state: &AppState) -> Check {
    let ids = state.repo.ids();
    let mut broken = Vec::new();
    for id in &ids {
        // Loads it if it was not loaded yet; a document that does not load stops the
        // daemon (it logs why), as it would when loaded in the background after start.
        if state.repo.read(id, |_| ()).await.is_none() && state.repo.contains(id) {
            broken.push(id.clone());
        }
    }
    if broken.is_empty() {
        Check::ok(
            "store",
            format!(
                "{} documents, every one loads; every page was checked at start",
                ids.len()
            ),
        )
    } else {
        Check::fail(
            "store",
            format!("documents that do not load: {}", broken.join(", ")),
            "see guildd's log for why; restore guild.redb from a backup, or move the data directory aside and join again to re-sync from a peer",
        )
    }
}

fn disk(state: &AppState) -> Check {
    match rustix::fs::statvfs(&state.data_dir) {
        Ok(fs) => {
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            let mib = free / (1024 * 1024);
            if free < LOW_DISK {
                Check::warn(
                    "disk",
                    format!("{mib} MiB free for {}", state.data_dir.display()),
                    "free some space: when the disk is full guildd refuses changes",
                )
            } else {
                Check::ok("disk", format!("{mib} MiB free"))
            }
        }
        Err(e) => Check::warn(
            "disk",
            format!("cannot tell the free space ({e})"),
            "check the data directory's file system",
        ),
    }
}

/// Other members' clocks are only knowable through what they wrote: the times they stamp
/// on ratings and RSVPs. One far in our future means their clock or ours is wrong.
async fn clock_check(state: &AppState) -> Check {
    let now = clock();
    let Ok(members) = state.members(true).await else {
        return Check::ok("clock", "no community yet: nothing to compare with");
    };
    let me = state.identity().me;
    let mut stamps: Vec<(String, OffsetDateTime)> = Vec::new();
    for member in members.iter().filter(|m| Some(&m.id) != me.as_ref()) {
        for rating in member.skills.values() {
            if let Ok(at) = OffsetDateTime::parse(&rating.updated, &Rfc3339) {
                stamps.push((format!("{}'s rating of {}", member.name, rating.name), at));
            }
        }
    }
    for session in state.sessions().await.unwrap_or_default() {
        for (who, rsvp) in &session.rsvps {
            if Some(who) != me.as_ref()
                && let Ok(at) = OffsetDateTime::parse(&rsvp.at, &Rfc3339)
            {
                let name = members
                    .iter()
                    .find(|m| &m.id == who)
                    .map_or(who.as_str(), |m| m.name.as_str());
                stamps.push((format!("{name}'s RSVP to {}", session.title), at));
            }
        }
    }
    let Some((what, latest)) = stamps.iter().max_by_key(|(_, at)| *at) else {
        return Check::ok(
            "clock",
            "nothing written by other members yet to compare with",
        );
    };
    let ahead = (*latest - now).whole_seconds();
    if ahead > CLOCK_TOLERANCE {
        Check::warn(
            "clock",
            format!(
                "{what} is dated {}, {} ahead of this machine's clock ({})",
                latest.format(&Rfc3339).unwrap_or_default(),
                human(ahead),
                now.format(&Rfc3339).unwrap_or_default()
            ),
            "one of the two clocks is wrong: check this one (timedatectl, or System Settings > Date & Time) and ask them to check theirs",
        )
    } else {
        Check::ok(
            "clock",
            format!(
                "none of {} times written by other members is ahead of this clock",
                stamps.len()
            ),
        )
    }
}

/// A duration as people say it, rounded: "3 hours" for 2 h 59 min.
fn human(seconds: i64) -> String {
    let round = |unit: i64| (seconds + unit / 2) / unit;
    match seconds {
        s if s >= 2 * 86_400 => format!("{} days", round(86_400)),
        s if s >= 2 * 3_600 => format!("{} hours", round(3_600)),
        _ => format!("{} minutes", round(60)),
    }
}

fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

fn listening_check(listening: &[Multiaddr]) -> Check {
    let shown = || {
        listening
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if listening.is_empty() {
        Check::fail(
            "listening",
            "guildd listens on no address, so no peer can reach it",
            "another program may hold port 4717: see guildd's log, and restart it with another port (guildd run --listen /ip4/0.0.0.0/tcp/4718)",
        )
    } else if listening.iter().all(is_loopback) {
        Check::warn(
            "listening",
            format!("only on loopback ({})", shown()),
            "other laptops cannot connect: restart guildd without --listen, or with --listen /ip4/0.0.0.0/tcp/4717",
        )
    } else {
        Check::ok("listening", shown())
    }
}

fn mdns(listening: &[Multiaddr]) -> Check {
    match MDNS.get() {
        None => Check::ok("mdns", "unknown (not started by guildd)"),
        Some(false) => Check::warn(
            "mdns",
            "off (--no-mdns): members on your local network do not find this daemon by themselves",
            "restart guildd without --no-mdns, or add peers by address with `guild peers add`",
        ),
        Some(true) if listening.iter().all(is_loopback) => Check::warn(
            "mdns",
            "on, but guildd listens on no network interface besides loopback",
            "connect to a network (Wi-Fi, Ethernet); mDNS finds members on the same one",
        ),
        Some(true) => Check::ok(
            "mdns",
            "on: members on the same local network find each other",
        ),
    }
}

async fn peers(state: &AppState) -> Check {
    let everything = state.node.report().await;
    let report = &everything.peers;
    let connected: Vec<&String> = report
        .iter()
        .filter(|p| p.connected)
        .flat_map(|p| &p.addrs)
        .collect();
    let unreachable: Vec<&str> = everything
        .kept
        .iter()
        .map(String::as_str)
        .filter(|addr| !connected.iter().any(|c| c.starts_with(addr)))
        .collect();
    let members = report.iter().filter(|p| p.connected && p.member).count();
    if !unreachable.is_empty() {
        return Check::warn(
            "peers",
            format!(
                "{members} connected; cannot reach {}",
                unreachable.join(", ")
            ),
            "is that member's guildd running, and its port open to you? `guild peers remove ADDR` stops trying an address that is gone",
        );
    }
    if members == 0 && state.identity().community.is_some() {
        return Check::warn(
            "peers",
            "no member connected: your changes wait here until you meet one",
            "at a meetup mDNS finds them; across networks add one with `guild peers add /ip4/ADDRESS/tcp/4717`",
        );
    }
    Check::ok("peers", format!("{members} members connected"))
}

/// Whether others can reach this daemon (AutoNAT, asked of the community's hubs), and the
/// relay reservations that stand in when they cannot.
async fn reachability(state: &AppState) -> Check {
    let info = state.node.net_info().await;
    let hubs = state
        .community()
        .await
        .map(|c| c.hubs.len())
        .unwrap_or_default();
    reachability_check(&info, hubs)
}

fn reachability_check(info: &crate::net::swarm::NetInfo, hubs: usize) -> Check {
    use crate::net::hubs::Reachability;
    const NAME: &str = "reachability";
    if info.hub {
        return Check::ok(
            NAME,
            "this daemon is a hub: members reserve relay slots and meet each other here",
        );
    }
    let reserved: Vec<String> = info.reservations.iter().map(ToString::to_string).collect();
    let connected = info.hubs.iter().filter(|(_, up)| *up).count();
    match (&info.reachability, hubs) {
        (Reachability::Public(addrs), _) => Check::ok(
            NAME,
            format!(
                "reachable from outside at {} (a hub dialled back)",
                addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (_, 0) => Check::ok(
            NAME,
            "the community has no hub: members sync when they can dial each other (LAN, `guild peers add`)",
        ),
        (_, _) if !reserved.is_empty() => Check::ok(
            NAME,
            format!(
                "{}; members reach this daemon through the relay of {}",
                match info.reachability {
                    Reachability::Private =>
                        "not reachable from outside (behind a NAT or firewall)",
                    _ => "reachability not known yet",
                },
                reserved.join(", ")
            ),
        ),
        (_, _) if connected == 0 => Check::warn(
            NAME,
            format!("no relay reservation: none of the community's {hubs} hubs is connected"),
            "is a hub's guildd running (`guildd run --hub`) and its port open to you? `guild hubs` shows which ones are listed",
        ),
        (Reachability::Private, _) => Check::warn(
            NAME,
            "not reachable from outside, and no hub holds a relay reservation for this daemon yet",
            "wait a few seconds and ask again; if it stays so, the hub may refuse us (is this device still a member?)",
        ),
        (_, _) => Check::ok(
            NAME,
            "reachability not tested yet: a connected hub will test it within seconds",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_only_on_loopback_is_a_warning_and_nowhere_a_failure() {
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/4717".parse().unwrap();
        let lan: Multiaddr = "/ip4/192.168.1.5/tcp/4717".parse().unwrap();
        assert_eq!(
            listening_check(&[]).status,
            crdt_model::ops::CheckStatus::Fail
        );
        assert_eq!(
            listening_check(std::slice::from_ref(&local)).status,
            crdt_model::ops::CheckStatus::Warn
        );
        assert_eq!(
            listening_check(&[local, lan]).status,
            crdt_model::ops::CheckStatus::Ok
        );
        assert_eq!(human(3 * 3600 - 60), "3 hours");
        assert_eq!(human(10 * 60 + 29), "10 minutes");
    }
}
