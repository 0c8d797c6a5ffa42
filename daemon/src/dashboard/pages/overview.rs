//! The overview: the community at a glance.

use axum::extract::State;
use crdt_model::api::{PeerStatus, SessionView};
use crdt_model::health::HealthReport;
use maud::html;

use crate::api::error::{ApiError, ApiQuery};
use crate::api::state::AppState;
use crate::api::{health, network, sessions};
use crate::dashboard::Dashboard;
use crate::dashboard::layout::{Ctx, Nav, Page, PageResult, para, txt, when};

struct Overview {
    purpose: String,
    health: HealthReport,
    upcoming: Vec<SessionView>,
    peers: Vec<PeerStatus>,
}

async fn gather(state: &AppState) -> Result<Overview, ApiError> {
    let community = state.community().await?;
    let health = health::report(State(state.clone()), ApiQuery(Default::default()))
        .await?
        .0;
    let upcoming = sessions::list(
        State(state.clone()),
        ApiQuery(sessions::ListQuery {
            when: Some("upcoming".into()),
        }),
    )
    .await?
    .0;
    Ok(Overview {
        purpose: community.purpose.clone(),
        health,
        upcoming,
        peers: network::peer_statuses(state).await,
    })
}

pub(crate) async fn page(ctx: Ctx, State(dash): State<Dashboard>) -> PageResult {
    let o = gather(&dash.app).await?;
    let connected = o.peers.iter().filter(|p| p.connected && p.member).count();
    let live = html! {
        @if !o.purpose.is_empty() { p.lead.prewrap { (para(&o.purpose)) } }
        div.cards {
            a.card href="/ui/members" { span.big { (o.health.members) } "members" }
            a.card href="/ui/health" {
                span.big { (format!("{:.0}%", o.health.active_share * 100.0)) }
                "active in the last 90 days"
            }
            a.card href="/ui/health" { span.big { (o.health.attendance_trend.direction) } "attendance trend" }
            a.card href="/ui/peers" { span.big { (connected) } "peers connected" }
        }
        h2 { "Coming up" }
        @if o.upcoming.is_empty() {
            p.muted { "No sessions planned yet." }
        } @else {
            ul.plain {
                @for s in o.upcoming.iter().take(5) {
                    li {
                        a href={ "/ui/sessions/" (s.id) } { (txt(&s.title)) }
                        " · " span.muted { (when(&s.start)) }
                        " · " (s.rsvps.iter().filter(|r| r.status == "going").count()) " going"
                    }
                }
            }
        }
    };
    Ok(ctx.render(Page::new("Overview", Nav::Overview, live)))
}
