//! guildd's local HTTP API: JSON over HTTP on a loopback address, token required.

mod community;
pub mod error;
mod guard;
mod members;
mod network;
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
        .route("/api/invite", get(network::invite))
        .route("/api/join", post(network::join))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Last, so it wraps everything above, the fallback included.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_local_and_token,
        ))
        .with_state(state)
}
