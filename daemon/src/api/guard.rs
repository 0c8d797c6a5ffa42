//! Who may talk to the API: only local programs that can read the token file.
//!
//! - `Authorization: Bearer <token>` on every route, compared in constant time;
//! - a `Host` (and `Origin`, if sent) naming a loopback address, so a web page cannot reach
//!   the daemon through DNS rebinding: its requests carry the attacker's host name.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;

pub async fn require_local_and_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(e) = check(&state.token, request.headers()) {
        return e.into_response();
    }
    next.run(request).await
}

/// The `Host` (and `Origin`, if sent) name a loopback address. The dashboard checks this
/// too, before its own session cookie.
pub(crate) fn check_local(headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_authority(host) {
        return Err(forbidden(format!(
            "Host {host:?} is not a loopback address"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
        if !is_loopback_authority(authority) {
            return Err(forbidden(format!(
                "Origin {origin:?} is not a loopback address"
            )));
        }
    }
    Ok(())
}

fn check(token: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    check_local(headers)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if presented.is_empty() || !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API token (it is in the data directory's api-token file)",
        ));
    }
    Ok(())
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// `localhost`, `127.0.0.1`, `[::1]`, each with an optional port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_authorities() {
        for ok in [
            "localhost",
            "127.0.0.1:8080",
            "[::1]:1",
            "LOCALHOST:9",
            "127.0.0.2",
        ] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1:80",
            "[::2]",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
    }
}
