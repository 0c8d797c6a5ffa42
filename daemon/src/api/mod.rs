//! guildd's local HTTP API: JSON over HTTP on a loopback address, token required.

mod community;
mod council;
pub mod error;
mod guard;
mod health;
mod ics;
mod knowledge;
mod members;
mod network;
pub mod relationships;
mod sessions;
mod skills;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post, put};

pub use community::sorted_heads;
use error::ApiError;
pub use state::{AppState, Identity, Shared};

/// Largest request body accepted (a long member profile is a few KiB).
pub const MAX_BODY: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
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
        .route(
            "/api/peers",
            get(network::peers)
                .post(network::add_peer)
                .delete(network::remove_peer),
        )
        .route("/api/sessions", get(sessions::list).post(sessions::add))
        .route("/api/sessions/export.ics", get(sessions::export_ics))
        .route("/api/sessions/{id}", get(sessions::show))
        .route("/api/sessions/{id}/rsvp", put(sessions::rsvp))
        .route("/api/sessions/{id}/attendance", post(sessions::attend))
        .route("/api/sessions/{id}/notes", post(sessions::notes))
        .route(
            "/api/sessions/{id}/agenda",
            get(sessions::agenda).post(sessions::propose),
        )
        .route(
            "/api/sessions/{id}/agenda/{proposal}/vote",
            put(sessions::vote),
        )
        .route("/api/sessions/{id}/schedule", post(sessions::schedule))
        .route("/api/council", get(council::show).post(council::add_term))
        .route("/api/council/suggest", get(council::suggest))
        .route("/api/knowledge", get(knowledge::list).post(knowledge::add))
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
        .route(
            "/api/invites",
            get(network::invites).post(network::create_invite),
        )
        .route("/api/invites/revoke", post(network::revoke_invites))
        .route("/api/join", post(network::join))
        .route("/api/devices", get(network::devices))
        .route("/api/devices/link", post(network::link_device))
        .route("/api/devices/join", post(network::join_device))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Last, so it wraps everything above, the fallback included.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_local_and_token,
        ))
        .with_state(state)
}
