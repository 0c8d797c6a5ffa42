//! The dashboard: the community as web pages, for members who would rather look than read.
//!
//! guildd serves it on its API address, so it is reachable from this machine only, behind
//! the API's own Host/Origin guard. A browser gets in through `guild open` (see [`auth`]):
//! a one-time link that sets a session cookie, never the API token. Pages stay live: a
//! server-sent event stream (see [`events`]) tells them when a document changed, here or
//! synced in from a peer, and htmx refreshes the part of the page that shows data.
//!
//! Pages call the API's own handlers (`crate::api::*`) and the model functions those call,
//! so the dashboard and the CLI always give the same answers. Each page gathers its data in
//! one small function and renders it with maud, which escapes every piece of text: names,
//! titles and notes may come from another member's daemon.

mod assets;
pub(crate) mod auth;
mod charts;
mod events;
mod layout;
mod pages;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Redirect;
use axum::routing::{any, get, post};
use tokio::sync::watch;

use crate::api::state::AppState;
use crate::api::{MAX_BODY, guard};

/// What every dashboard handler shares.
#[derive(Clone)]
pub(crate) struct Dashboard {
    pub app: AppState,
    pub sessions: Arc<auth::Sessions>,
    /// Becomes true when the daemon stops, which ends every event stream.
    pub stop: watch::Receiver<bool>,
}

/// The dashboard's routes, to merge with the API's: pages under `/ui` (session cookie),
/// their assets and the login link target, and `POST /api/dashboard/login` (API token),
/// which `guild open` calls for a one-time link.
pub fn router(app: AppState, stop: watch::Receiver<bool>) -> Router {
    let dash = Dashboard {
        app: app.clone(),
        sessions: Arc::default(),
        stop,
    };
    use pages::*;
    let signed_in = Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/events", get(events::stream))
        .route("/ui/logout", post(auth::logout))
        .route("/ui/members", get(directory::page).post(directory::add))
        .route(
            "/ui/members/{id}",
            get(directory::member).post(directory::update),
        )
        .route("/ui/skills", get(skills::heatmap).post(skills::add_skill))
        .route("/ui/skills/matrix.csv", get(skills::csv))
        .route("/ui/skills/who", get(skills::who))
        .route("/ui/skills/rate", post(skills::rate))
        .route("/ui/sessions", get(sessions::page))
        .route("/ui/sessions.ics", get(sessions::ics))
        .route("/ui/sessions/{id}", get(sessions::session))
        .route("/ui/sessions/{id}/rsvp", post(sessions::rsvp))
        .route("/ui/sessions/{id}/attend", post(sessions::attend))
        .route("/ui/sessions/{id}/notes", post(sessions::notes))
        .route("/ui/sessions/{id}/proposals", post(sessions::propose))
        .route(
            "/ui/sessions/{id}/proposals/{proposal}/vote",
            post(sessions::vote),
        )
        .route("/ui/sessions/{id}/schedule", post(sessions::schedule))
        .route("/ui/health", get(health::page))
        .route("/ui/council", get(council::page).post(council::add_term))
        .route("/ui/knowledge", get(knowledge::page).post(knowledge::add))
        .route("/ui/questions", post(knowledge::ask))
        .route("/ui/questions/{id}/answers", post(knowledge::answer))
        .route("/ui/questions/{id}/accept", post(knowledge::accept))
        .route(
            "/ui/relationships",
            get(relationships::page).post(relationships::add),
        )
        .route("/ui/relationships/log", post(relationships::log))
        .route("/ui/relationships/ledger", post(relationships::ledger))
        .route("/ui/peers", get(peers::page).post(peers::add))
        .route("/ui/{*rest}", any(layout::not_found))
        .route_layer(from_fn_with_state(dash.clone(), auth::require_session));
    let open = Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/login/{code}", get(auth::login))
        .route("/ui/assets/{file}", get(assets::serve));
    // Outside the dashboard's own guard: an API route, answered in the API's JSON.
    let link = Router::new()
        .route("/api/dashboard/login", post(auth::issue_link))
        .route_layer(from_fn_with_state(
            guard::Token(app.token.as_str().into()),
            guard::require_local_and_token,
        ));
    signed_in
        .merge(open)
        .layer(from_fn(auth::local_only))
        .merge(link)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(dash)
}
