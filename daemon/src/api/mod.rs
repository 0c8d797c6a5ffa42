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
mod hubs;
mod ics;
mod import;
pub(crate) mod knowledge;
pub(crate) mod members;
mod metrics;
pub(crate) mod network;
mod openapi;
pub mod relationships;
pub(crate) mod sessions;
pub(crate) mod skills;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use community::sorted_heads;
use error::ApiError;
pub use state::{AppState, Identity, Shared};

/// Largest request body accepted (a long member profile is a few KiB).
pub const MAX_BODY: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    crate::metrics::watch_changes(&state.repo);
    let (routes, _) = routes().split_for_parts();
    routes
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

/// Every route with its OpenAPI description: a handler is routed only through `routes!`,
/// which reads its `#[utoipa::path]`, so no route can be missing from the document. One
/// `routes!` per path (the macro routes all its handlers at every path it is given).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(metrics::scrape))
        .routes(routes!(openapi::serve))
        .routes(routes!(community::status))
        .routes(routes!(community::init))
        .routes(routes!(community::community))
        .routes(routes!(members::list, members::add))
        .routes(routes!(health::new_starters))
        .routes(routes!(members::show, members::update, members::remove))
        .routes(routes!(skills::taxonomy, skills::add))
        .routes(routes!(skills::rate))
        .routes(routes!(skills::who))
        .routes(routes!(skills::matrix))
        .routes(routes!(skills::gaps))
        .routes(routes!(skills::stale))
        .routes(routes!(
            network::peers,
            network::add_peer,
            network::remove_peer
        ))
        .routes(routes!(hubs::list, hubs::add, hubs::remove))
        .routes(routes!(sessions::list, sessions::add))
        .routes(routes!(sessions::export_ics))
        .routes(routes!(sessions::show, sessions::update))
        .routes(routes!(sessions::cancel))
        .routes(routes!(sessions::rsvp))
        .routes(routes!(sessions::attend, sessions::unattend))
        .routes(routes!(sessions::notes))
        .routes(routes!(sessions::agenda, sessions::propose))
        .routes(routes!(sessions::withdraw))
        .routes(routes!(sessions::vote))
        .routes(routes!(sessions::move_slot, sessions::unschedule))
        .routes(routes!(sessions::schedule))
        .routes(routes!(council::show, council::add_term))
        .routes(routes!(council::suggest))
        .routes(routes!(council::remove_term))
        .routes(routes!(changes::log))
        .routes(routes!(knowledge::list, knowledge::add))
        .routes(routes!(
            knowledge::show,
            knowledge::update,
            knowledge::remove
        ))
        .routes(routes!(guests::list, guests::add))
        .routes(routes!(guests::show, guests::update, guests::remove))
        .routes(routes!(knowledge::questions, knowledge::ask))
        .routes(routes!(knowledge::answer))
        .routes(routes!(knowledge::accept))
        .routes(routes!(health::report))
        .routes(routes!(relationships::list, relationships::add))
        .routes(routes!(relationships::due))
        .routes(routes!(relationships::show, relationships::update))
        .routes(routes!(relationships::log))
        .routes(routes!(relationships::deposit))
        .routes(routes!(relationships::withdraw))
        .routes(routes!(network::invite))
        .routes(routes!(network::invites, network::create_invite))
        .routes(routes!(network::revoke_invites))
        .routes(routes!(network::join))
        .routes(routes!(network::devices))
        .routes(routes!(network::link_device))
        .routes(routes!(network::join_device))
        .routes(routes!(doctor::report))
        .routes(routes!(export::json))
        .routes(routes!(export::automerge))
        .routes(routes!(import::members).layer(DefaultBodyLimit::max(import::MAX_CSV)))
        .routes(routes!(import::skills).layer(DefaultBodyLimit::max(import::MAX_CSV)))
}
