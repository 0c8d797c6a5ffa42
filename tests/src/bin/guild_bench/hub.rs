//! Scenario 6, joining through a hub: a newcomer joins a populated community by dialling the
//! member who invited them, and another joins with a ticket that carries the community's hub
//! while the inviter is offline, so everything comes from the hub (`guildd run --hub`).
//!
//! On loopback nothing needs a relay: this measures what the hub adds as the newcomer's only
//! source (its admission on someone else's invitation, and the transfer from a member
//! replica), not the cost of a relayed path through NATs, which the e2e test `hubs` covers.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::common::{Ctx, wait_converged};
use crate::node::{Node, str_field};
use crate::report::{Report, bytes, ms, ratio, secs};
use crate::workload;

/// What a newcomer's join cost, from the join request until every daemon online agrees.
struct Join {
    took: Duration,
    bytes: u64,
}

fn join(newcomer: &mut Node, ticket: &str, source: &mut Node) -> Result<Join> {
    newcomer.start()?;
    let t0 = Instant::now();
    newcomer.join(ticket)?;
    eprintln!("  {}: joined in {}", newcomer.name, ms(t0.elapsed()));
    wait_converged(&mut [source, newcomer], Duration::from_secs(300))?;
    let took = t0.elapsed();
    let (sent, received) = newcomer.sync_bytes()?;
    Ok(Join {
        took,
        bytes: sent + received,
    })
}

pub fn run(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let section = "6. Joining through a hub";
    let changes = if ctx.quick { 200 } else { 2_000 };
    let mut ada = ctx.node("hub/inviter", "Ada Inviter")?;
    let mut hub = ctx.node("hub/hub", "Community Hub")?;
    hub.hub = true;

    // Ada founds a community of 40 members and 20 sessions; the hub joins as a member replica.
    ada.start()?;
    ada.init("Bench community")?;
    let made = workload::populate(&ada, changes, 40, 20, 4, 11)?;
    hub.start()?;
    let ticket = ada.ticket()?;
    hub.join(&ticket)?;
    wait_converged(&mut [&mut ada, &mut hub], Duration::from_secs(300))?;
    let docs = ada.heads()?.len();

    // Direct: the newcomer dials Ada, who invited them (the hub is not listed yet).
    let mut dan = ctx.node("hub/direct", "Dan Direct")?;
    let ticket = ada.ticket()?;
    let direct = join(&mut dan, &ticket, &mut ada)?;
    dan.stop()?;

    // Through the hub: Ada lists it, invites, and goes offline before the newcomer arrives.
    let hub_id = str_field(&hub.get("/api/status")?, "peer_id")?;
    let hub_addr = format!("{}/p2p/{hub_id}", hub.listen);
    ada.send("POST", "/api/hubs", &json!({ "addr": hub_addr }))?;
    let ticket = ada.ticket()?;
    wait_converged(&mut [&mut ada, &mut hub], Duration::from_secs(60))?;
    ada.stop()?;
    let mut hal = ctx.node("hub/via-hub", "Hal Hubbed")?;
    let via_hub = join(&mut hal, &ticket, &mut hub)?;

    report.info(
        section,
        "community the newcomer receives",
        format!(
            "{docs} docs from {} API writes (40 members, 20 sessions)",
            made.writes
        ),
    );
    report.info(
        section,
        "direct join (newcomer dials the inviter)",
        format!("{}, {}", ms(direct.took), bytes(direct.bytes)),
    );
    report.compare(
        section,
        "join through the hub (inviter offline)",
        format!("{}, {}", ms(via_hub.took), bytes(via_hub.bytes)),
        format!("direct {}", ms(direct.took)),
        ratio(secs(via_hub.took), secs(direct.took)),
    );
    report.figure(
        "hub_join",
        json!({
            "docs": docs,
            "writes": made.writes,
            "direct": {"secs": secs(direct.took), "bytes": direct.bytes},
            "via_hub": {"secs": secs(via_hub.took), "bytes": via_hub.bytes},
        }),
    );
    hal.stop()?;
    hub.stop()?;
    Ok(())
}
