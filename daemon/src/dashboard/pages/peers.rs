//! Peers: who is connected, directly or through a relay, when each last synced, and for
//! each document whether the peer holds exactly what we hold.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::response::Response;
use crdt_model::DocKind;
use crdt_model::api::{AddPeerRequest, PeerStatus, Peers};
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::error::{ApiError, ApiJson};
use crate::api::network as api;
use crate::api::state::{AppState, clock};
use crate::dashboard::Dashboard;
use crate::dashboard::layout::{Ctx, Form, Nav, Page, PageResult, txt};

/// Where one peer stands on one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DocSync {
    Same,
    Differs,
    Unknown,
}

struct PeerDocs {
    peers: Peers,
    /// Peer id -> (document label, state), for peers we know heads of.
    docs: HashMap<String, Vec<(String, DocSync)>>,
    me: String,
    listening: Vec<String>,
}

async fn gather(state: &AppState) -> Result<PeerDocs, ApiError> {
    let peers = api::peers(State(state.clone())).await?.0;
    let labels = doc_labels(state).await?;
    let report = state.node.report().await;
    let ours = &report.ours;
    let docs = report
        .peers
        .into_iter()
        .filter(|r| r.member)
        .map(|r| {
            let mut docs: Vec<(String, DocSync)> = ours
                .iter()
                .map(|(doc, heads)| {
                    let sync = match r.known.get(doc) {
                        Some(theirs) if theirs == heads => DocSync::Same,
                        Some(_) => DocSync::Differs,
                        None => DocSync::Unknown,
                    };
                    let label = labels.get(doc).cloned().unwrap_or_else(|| doc.clone());
                    (label, sync)
                })
                .collect();
            docs.sort();
            (r.peer.to_string(), docs)
        })
        .collect();
    Ok(PeerDocs {
        peers,
        docs,
        me: state.node.peer_id().to_string(),
        listening: api::listen_addrs(state)
            .await
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

/// A name for every document people would recognise: "session: Away day".
async fn doc_labels(state: &AppState) -> Result<BTreeMap<String, String>, ApiError> {
    let community = state.community().await?;
    let mut labels: BTreeMap<String, String> = community
        .docs
        .iter()
        .map(|(id, entry)| (id.clone(), entry.kind.clone()))
        .collect();
    labels.insert(
        community.id.clone(),
        format!("community: {}", community.name),
    );
    for m in state.members(true).await? {
        labels.insert(m.id.clone(), format!("member: {}", m.name));
    }
    for s in state.sessions().await? {
        labels.insert(s.id.clone(), format!("session: {}", s.title));
    }
    for id in state.repo.ids() {
        if !labels.contains_key(&id)
            && state.repo.read(&id, |doc| DocKind::of(doc)).await.flatten()
                == Some(DocKind::Relationships)
        {
            labels.insert(id, "your relationships (private)".into());
        }
    }
    Ok(labels)
}

pub(crate) async fn page(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let p = gather(&dash.app).await?;
    let live = html! {
        p.muted { "This daemon: " code { (p.me) } }
        @if p.peers.peers.is_empty() {
            p.muted { "No peers yet. Members on the same network are found automatically; add another's address below." }
        }
        @for peer in &p.peers.peers {
            (peer_panel(peer, p.docs.get(&peer.peer_id)))
        }
        h2 { "Listening on" }
        ul.plain { @for a in &p.listening { li { code { (txt(a)) } } } }
        @if !p.peers.dialled.is_empty() {
            h2 { "Addresses kept connected" }
            ul.plain { @for a in &p.peers.dialled { li { code { (txt(a)) } } } }
        }
    };
    let tools = html! {
        section.panel {
            h2 { "Add a peer address" }
            p.hint { "Another member's address, kept connected across networks." }
            form.stack method="post" action="/ui/peers" {
                (ctx.csrf())
                label { "Address" input name="addr" required placeholder="/ip4/192.0.2.7/tcp/4717"; }
                div { button type="submit" { "Add" } }
            }
        }
    };
    Ok(ctx.render(Page::new("Peers", Nav::Peers, live).tools(tools).poll()))
}

fn peer_panel(peer: &PeerStatus, docs: Option<&Vec<(String, DocSync)>>) -> Markup {
    let relayed = peer.addrs.iter().any(|a| a.contains("/p2p-circuit"));
    html! {
        section.panel.peer {
            h3 { code { (peer.peer_id) } }
            p {
                @if peer.connected { span.pill-ok { "connected" } } @else { span.pill-bad { "not connected" } }
                @if peer.connected { " · " (if relayed { "through a relay" } else { "direct" }) }
                " · " @if peer.member { "member" } @else { "not (yet) proved a member" }
                " · " @if peer.in_sync { span.pill-ok { "in sync" } } @else { "syncing or behind" }
            }
            p.muted {
                "last sync: " (peer.last_sync.as_deref().map_or_else(|| "never".to_owned(), ago))
                " · sent " (bytes(peer.bytes_sent)) ", received " (bytes(peer.bytes_received))
            }
            @if !peer.addrs.is_empty() { p.muted { @for a in &peer.addrs { code { (txt(a)) } " " } } }
            @if let Some(docs) = docs {
                details {
                    summary { "Documents: " (docs.iter().filter(|(_, s)| *s == DocSync::Same).count()) " of " (docs.len()) " the same" }
                    ul.plain {
                        @for (label, sync) in docs {
                            li { (txt(label)) " · "
                                @match sync {
                                    DocSync::Same => span.pill-ok { "same" },
                                    DocSync::Differs => span.pill-bad { "differs" },
                                    DocSync::Unknown => span.muted { "not known yet" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// "12 s ago", "5 min ago", or the time itself.
fn ago(rfc3339: &str) -> String {
    let Ok(t) = crdt_model::when::parse("time", rfc3339) else {
        return rfc3339.to_owned();
    };
    let secs = (clock() - t).whole_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        _ => rfc3339.to_owned(),
    }
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PeerForm {
    addr: String,
}

pub(crate) async fn add(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<PeerForm>,
) -> Response {
    let request = AddPeerRequest {
        addr: form.addr.clone(),
    };
    let done = api::add_peer(State(dash.app.clone()), ApiJson(request))
        .await
        .map(|_| format!("Added {}; guildd keeps it connected", form.addr.trim()));
    ctx.done(done, "/ui/peers")
}
