//! `GET /metrics`, and counting every API request for it.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use crate::metrics::{self, Snapshot};

/// Prometheus metrics (OpenMetrics text): documents, peers, bytes, API requests.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    )
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let report = state.node.report().await;
    let text = metrics::render(&Snapshot {
        documents: state.repo.ids().len(),
        peers: report.peers,
        traffic: report.traffic,
        strikes: report.strikes,
        bans: report.bans,
    });
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// Counts each request by method, route template and status (refused ones included).
pub async fn count_requests(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    // `/api/members/{id}` is written `/api/members/:id`: braces inside a label value trip
    // up simple text-format parsers.
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || "unmatched".to_owned(),
        |p| p.as_str().replace('{', ":").replace('}', ""),
    );
    let response = next.run(request).await;
    metrics::api_request(&method, &route, response.status().as_u16());
    response
}
