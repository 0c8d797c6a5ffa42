//! Who may talk to the API: only local programs that can read the token file.
//!
//! - `Authorization: Bearer <token>` on every route, compared in constant time;
//! - exactly one `Host` (and at most one `Origin`), naming a loopback address, so a web page
//!   cannot reach the daemon through DNS rebinding: its requests carry the attacker's host
//!   name. A second header is refused even if the first is loopback, since a proxy or a
//!   browser might honour the other one;
//! - a request target in absolute form (`GET http://host/...`) must name a loopback host
//!   too: HTTP says that authority replaces the `Host` header.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The API token, as the guard's state.
#[derive(Clone)]
pub struct Token(pub Arc<str>);

pub async fn require_local_and_token(
    State(token): State<Token>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(e) = check(&token.0, request.uri(), request.headers()) {
        return e.into_response();
    }
    next.run(request).await
}

/// The `Host`, the request target and the `Origin` (if sent) name a loopback address.
/// The dashboard checks this too, before its own session cookie.
pub(crate) fn check_local(uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = single(headers, &header::HOST)?.unwrap_or_default();
    if !is_loopback_authority(host) {
        return Err(forbidden(format!(
            "Host {host:?} is not a loopback address"
        )));
    }
    if let Some(authority) = uri.authority()
        && !is_loopback_authority(authority.as_str())
    {
        return Err(forbidden(format!(
            "the request target names {:?}, not a loopback address",
            authority.as_str()
        )));
    }
    if let Some(origin) = single(headers, &header::ORIGIN)? {
        let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
        if !is_loopback_authority(authority) {
            return Err(forbidden(format!(
                "Origin {origin:?} is not a loopback address"
            )));
        }
    }
    Ok(())
}

fn check(token: &str, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    check_local(uri, headers)?;
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

/// The value of a header that may appear at most once (unreadable text counts as empty).
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(forbidden(format!("more than one {name} header")));
    }
    Ok(first.map(|v| v.to_str().unwrap_or_default()))
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
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::middleware;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

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

    /// A route behind the guard, as the API wires it.
    fn guarded() -> Router {
        Router::new()
            .route("/api/status", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(
                Token(TOKEN.into()),
                require_local_and_token,
            ))
    }

    async fn status_of(request: Request<Body>) -> (StatusCode, String) {
        let response = guarded().oneshot(request).await.unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut builder = Request::get(uri).header("authorization", format!("Bearer {TOKEN}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn one_loopback_host_and_the_token_pass() {
        let (status, body) = status_of(request(
            "/api/status",
            &[
                ("host", "127.0.0.1:4000"),
                ("origin", "http://localhost:4000"),
            ],
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Issue 16.7: a second Host or Origin header was accepted when the first was loopback.
    #[tokio::test]
    async fn a_second_host_or_origin_is_refused_even_after_a_loopback_one() {
        let cases: [&[(&str, &str)]; 3] = [
            &[("host", "127.0.0.1"), ("host", "evil.example")],
            &[("host", "127.0.0.1"), ("host", "127.0.0.1")],
            &[
                ("host", "127.0.0.1"),
                ("origin", "http://127.0.0.1"),
                ("origin", "http://evil.example"),
            ],
        ];
        for headers in cases {
            let (status, body) = status_of(request("/api/status", headers)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
            assert!(body.contains("more than one"), "{body}");
        }
    }

    // Issue 16.7: an absolute-form target naming another host was served.
    #[tokio::test]
    async fn an_absolute_target_naming_another_host_is_refused() {
        let (status, body) = status_of(request(
            "http://evil.example/api/status",
            &[("host", "127.0.0.1")],
        ))
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("evil.example"), "{body}");
        let (status, body) = status_of(request(
            "http://127.0.0.1:9/api/status",
            &[("host", "127.0.0.1")],
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn a_wrong_token_is_refused() {
        let request = Request::get("/api/status")
            .header("host", "127.0.0.1")
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap();
        assert_eq!(status_of(request).await.0, StatusCode::UNAUTHORIZED);
    }
}
