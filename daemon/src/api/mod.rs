//! guildd's local HTTP API: JSON over HTTP on a loopback address, token required.

mod allowed;
mod changes;
mod community;
pub(crate) mod council;
pub mod doctor;
pub mod error;
mod export;
pub(crate) mod guard;
mod guests;
pub(crate) mod health;
mod ics;
mod import;
pub(crate) mod knowledge;
pub(crate) mod members;
mod metrics;
pub(crate) mod network;
pub mod relationships;
pub(crate) mod sessions;
pub(crate) mod skills;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post, put};

pub use community::sorted_heads;
use error::ApiError;
pub use state::{AppState, Identity, Shared};

/// Largest request body accepted (a long member profile is a few KiB).
pub const MAX_BODY: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    crate::metrics::watch_changes(&state.repo);
    Router::new()
        .route("/metrics", get(metrics::scrape))
        .route("/api/status", get(community::status))
        .route("/api/init", post(community::init))
        .route("/api/community", get(community::community))
        .route("/api/members", get(members::list).post(members::add))
        .route("/api/members/new", get(health::new_starters))
        .route(
            "/api/members/{id}",
            get(members::show)
                .patch(members::update)
                .delete(members::remove),
        )
        .route("/api/skills", get(skills::taxonomy).post(skills::add))
        .route("/api/skills/ratings", put(skills::rate))
        .route("/api/skills/who", get(skills::who))
        .route("/api/skills/matrix", get(skills::matrix))
        .route("/api/skills/gaps", get(skills::gaps))
        .route("/api/skills/stale", get(skills::stale))
        .route(
            "/api/peers",
            get(network::peers)
                .post(network::add_peer)
                .delete(network::remove_peer),
        )
        .route("/api/sessions", get(sessions::list).post(sessions::add))
        .route("/api/sessions/export.ics", get(sessions::export_ics))
        .route(
            "/api/sessions/{id}",
            get(sessions::show).patch(sessions::update),
        )
        .route("/api/sessions/{id}/cancelled", put(sessions::cancel))
        .route("/api/sessions/{id}/rsvp", put(sessions::rsvp))
        .route(
            "/api/sessions/{id}/attendance",
            post(sessions::attend).delete(sessions::unattend),
        )
        .route("/api/sessions/{id}/notes", post(sessions::notes))
        .route(
            "/api/sessions/{id}/agenda",
            get(sessions::agenda).post(sessions::propose),
        )
        .route(
            "/api/sessions/{id}/agenda/{proposal}",
            delete(sessions::withdraw),
        )
        .route(
            "/api/sessions/{id}/agenda/{proposal}/vote",
            put(sessions::vote),
        )
        .route(
            "/api/sessions/{id}/agenda/{proposal}/slot",
            put(sessions::move_slot).delete(sessions::unschedule),
        )
        .route("/api/sessions/{id}/schedule", post(sessions::schedule))
        .route("/api/council", get(council::show).post(council::add_term))
        .route("/api/council/suggest", get(council::suggest))
        .route("/api/council/{term}", delete(council::remove_term))
        .route("/api/log", get(changes::log))
        .route("/api/knowledge", get(knowledge::list).post(knowledge::add))
        .route(
            "/api/knowledge/{id}",
            get(knowledge::show)
                .patch(knowledge::update)
                .delete(knowledge::remove),
        )
        .route("/api/guests", get(guests::list).post(guests::add))
        .route(
            "/api/guests/{id}",
            get(guests::show)
                .patch(guests::update)
                .delete(guests::remove),
        )
        .route(
            "/api/questions",
            get(knowledge::questions).post(knowledge::ask),
        )
        .route("/api/questions/{id}/answers", post(knowledge::answer))
        .route("/api/questions/{id}/accepted", put(knowledge::accept))
        .route("/api/health", get(health::report))
        .route(
            "/api/relationships",
            get(relationships::list).post(relationships::add),
        )
        .route("/api/relationships/due", get(relationships::due))
        .route(
            "/api/relationships/{person}",
            get(relationships::show).patch(relationships::update),
        )
        .route("/api/relationships/{person}/log", post(relationships::log))
        .route(
            "/api/relationships/{person}/deposit",
            post(relationships::deposit),
        )
        .route(
            "/api/relationships/{person}/withdraw",
            post(relationships::withdraw),
        )
        .route("/api/invite", get(network::invite))
        .route("/api/join", post(network::join))
        .route("/api/devices", get(network::devices))
        .route("/api/devices/link", post(network::link_device))
        .route("/api/devices/join", post(network::join_device))
        .route("/api/doctor", get(doctor::report))
        .route("/api/export", get(export::json))
        .route("/api/documents/{id}/automerge", get(export::automerge))
        .route(
            "/api/import/members",
            post(import::members).layer(DefaultBodyLimit::max(import::MAX_CSV)),
        )
        .route(
            "/api/import/skills",
            post(import::skills).layer(DefaultBodyLimit::max(import::MAX_CSV)),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Last, so it wraps everything above, the fallback included.
        .layer(middleware::from_fn_with_state(
            guard::Token(state.token.as_str().into()),
            guard::require_local_and_token,
        ))
        .layer(middleware::from_fn(metrics::count_requests))
        .with_state(state)
}
