//! Who may use the dashboard: a browser on this machine that came in through `guild open`.
//!
//! - `guild open` asks the API (with the token) for a login link holding a one-time code:
//!   it works once, within [`CODE_TTL`]. The API token itself never appears in a URL, so
//!   nothing left in the browser's history opens the dashboard again.
//! - Visiting the link starts a session: an `HttpOnly`, `SameSite=Strict` cookie scoped to
//!   `/ui` (never sent to the API), named after the port so two daemons on one machine keep
//!   separate sessions. Sessions end after [`SESSION_TTL`] or on "Sign out".
//! - Every request must name a loopback Host and, if it sends one, a loopback Origin (the
//!   API's own guard, against DNS rebinding). Every state-changing request must also come
//!   from this very origin (cookies for 127.0.0.1 are shared by every port on it, so
//!   `SameSite` alone does not stop a page served by another local program) and carry the
//!   session's CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use crdt_model::api::DashboardLink;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::Dashboard;
use super::layout;
use crate::api::MAX_BODY;
use crate::api::error::{ApiError, ApiJson};
use crate::api::guard;

/// How long a login link works (once).
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a session lasts: a working day.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Open codes and sessions kept at most; the oldest go first.
const MAX_CODES: usize = 32;
const MAX_SESSIONS: usize = 64;
/// The form field and header that carry the CSRF token.
pub(crate) const CSRF_FIELD: &str = "_csrf";
const CSRF_HEADER: &str = "x-csrf-token";

/// One-time codes and sessions, in memory: a restart signs everyone out.
#[derive(Default)]
pub(crate) struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Code -> when it stops working.
    codes: HashMap<String, Instant>,
    sessions: HashMap<String, Entry>,
}

struct Entry {
    csrf: String,
    expires: Instant,
    /// What the last form did, shown once on the next page.
    flash: Option<Flash>,
}

/// The outcome of a form, shown once on the page it leads to.
#[derive(Clone, Debug)]
pub(crate) struct Flash {
    pub ok: bool,
    pub message: String,
}

/// The browser's session, as handlers see it (a request extension).
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub id: String,
    pub csrf: String,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn issue_code(&self, now: Instant) -> String {
        let mut inner = self.lock();
        inner.codes.retain(|_, expires| *expires > now);
        make_room(&mut inner.codes, MAX_CODES, |expires| *expires);
        let code = random_token();
        inner.codes.insert(code.clone(), now + CODE_TTL);
        code
    }

    /// Exchanges a one-time code for a new session id. A code works once, in time.
    pub fn redeem(&self, code: &str, now: Instant) -> Option<String> {
        let mut inner = self.lock();
        let expires = inner.codes.remove(code)?;
        if expires <= now {
            return None;
        }
        inner.sessions.retain(|_, s| s.expires > now);
        make_room(&mut inner.sessions, MAX_SESSIONS, |s| s.expires);
        let id = random_token();
        inner.sessions.insert(
            id.clone(),
            Entry {
                csrf: random_token(),
                expires: now + SESSION_TTL,
                flash: None,
            },
        );
        Some(id)
    }

    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let inner = self.lock();
        let entry = inner.sessions.get(id).filter(|s| s.expires > now)?;
        Some(Session {
            id: id.to_owned(),
            csrf: entry.csrf.clone(),
        })
    }

    pub fn end(&self, id: &str) {
        self.lock().sessions.remove(id);
    }

    pub fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(entry) = self.lock().sessions.get_mut(id) {
            entry.flash = Some(flash);
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().sessions.get_mut(id)?.flash.take()
    }
}

/// Drops the entries that expire first until there is room for one more.
fn make_room<V>(map: &mut HashMap<String, V>, max: usize, expires: impl Fn(&V) -> Instant) {
    while map.len() >= max {
        let Some(first) = map
            .iter()
            .min_by_key(|(_, v)| expires(v))
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        map.remove(&first);
    }
}

fn random_token() -> String {
    bs58::encode(rand::random::<[u8; 32]>()).into_string()
}

impl Dashboard {
    /// Cookies for 127.0.0.1 are shared by every port, so each daemon names its own.
    fn cookie_name(&self) -> String {
        format!("guild_session_{}", self.app.api_addr.port())
    }
}

/// A one-time link that opens the dashboard in a browser (what `guild open` opens).
#[utoipa::path(
    post,
    path = "/api/dashboard/login",
    tag = "operations",
    operation_id = "dashboardLogin",
    responses(
        (status = 200, description = "The link, good once and for a short time", body = DashboardLink),
    )
)]
pub(crate) async fn issue_link(State(dash): State<Dashboard>) -> ApiJson<DashboardLink> {
    let code = dash.sessions.issue_code(Instant::now());
    ApiJson(DashboardLink {
        url: format!("http://{}/ui/login/{code}", dash.app.api_addr),
        expires_in_secs: CODE_TTL.as_secs(),
    })
}

/// `GET /ui/login/{code}`: starts a session and goes to the overview.
pub(crate) async fn login(
    State(dash): State<Dashboard>,
    Path(code): Path<String>,
    jar: CookieJar,
) -> Response {
    let Some(id) = dash.sessions.redeem(&code, Instant::now()) else {
        return layout::signed_out(
            StatusCode::UNAUTHORIZED,
            "This login link has expired or was used already.",
        );
    };
    let cookie = Cookie::build((dash.cookie_name(), id))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .build();
    let mut response = (jar.add(cookie), Redirect::to("/ui")).into_response();
    // The code is spent, but keep it out of any Referer all the same.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `POST /ui/logout`: ends the session.
pub(crate) async fn logout(
    State(dash): State<Dashboard>,
    axum::Extension(session): axum::Extension<Session>,
    jar: CookieJar,
) -> Response {
    dash.sessions.end(&session.id);
    let gone = Cookie::build((dash.cookie_name(), "")).path("/ui").build();
    (
        jar.remove(gone),
        layout::signed_out(StatusCode::OK, "You are signed out."),
    )
        .into_response()
}

/// Every dashboard response: refuse foreign Host/Origin (the API's check), and tell the
/// browser to run nothing but our own scripts, never frame us, and cache nothing.
pub(crate) async fn local_only(request: Request, next: Next) -> Response {
    if let Err(e) = guard::check_local(request.uri(), request.headers()) {
        tracing::debug!(
            "dashboard {} {}: {}",
            request.method(),
            request.uri().path(),
            e.message
        );
        return layout::error_page(e.status, &e.message);
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let mut response = next.run(request).await;
    tracing::debug!("dashboard {method} {path}: {}", response.status());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Same-origin requests keep their Origin header (which the CSRF check reads).
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Our own scripts, styles and images only; no inline script, no framing, forms only to us.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Pages need a session; state-changing requests also need this origin and the CSRF token.
pub(crate) async fn require_session(
    State(dash): State<Dashboard>,
    jar: CookieJar,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let changes_state = !matches!(parts.method, Method::GET | Method::HEAD);
    if changes_state && let Err(e) = same_origin(&parts.headers) {
        return refuse(&parts, e);
    }
    let session = jar
        .get(&dash.cookie_name())
        .and_then(|c| dash.sessions.get(c.value(), Instant::now()));
    let Some(session) = session else {
        return signed_out(&parts);
    };
    let body = if changes_state {
        match check_csrf(&session, &parts.headers, body).await {
            Ok(body) => body,
            Err(e) => return refuse(&parts, e),
        }
    } else {
        body
    };
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

fn refuse(parts: &Parts, e: ApiError) -> Response {
    tracing::debug!(
        "dashboard {} {}: {}",
        parts.method,
        parts.uri.path(),
        e.message
    );
    layout::error_page(e.status, &e.message)
}

/// 401 with a page saying how to get in; htmx reloads the whole page to show it.
fn signed_out(parts: &Parts) -> Response {
    let mut response = layout::signed_out(
        StatusCode::UNAUTHORIZED,
        "Your dashboard session has ended, or this browser never had one.",
    );
    if parts.headers.contains_key("hx-request") {
        response
            .headers_mut()
            .insert("hx-refresh", HeaderValue::from_static("true"));
    }
    response
}

/// A state-changing request must come from a page of this very origin.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if origin.eq_ignore_ascii_case(&format!("http://{host}")) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "refused a cross-site request (Origin {origin:?} is not this dashboard)"
        )))
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

/// The token from the `X-CSRF-Token` header, else from the form body (which is read and
/// handed on unchanged).
async fn check_csrf(session: &Session, headers: &HeaderMap, body: Body) -> Result<Body, ApiError> {
    let refused = || {
        ApiError::forbidden(
            "refused a form without this session's CSRF token; reload the page and try again",
        )
    };
    let expected = session.csrf.as_bytes();
    if let Some(token) = headers.get(CSRF_HEADER) {
        return if bool::from(token.as_bytes().ct_eq(expected)) {
            Ok(body)
        } else {
            Err(refused())
        };
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the form is too large",
        )
    })?;
    let token = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
        .ok()
        .and_then(|f| f.csrf)
        .unwrap_or_default();
    if bool::from(token.as_bytes().ct_eq(expected)) {
        Ok(Body::from(bytes))
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_and_only_in_time() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let code = sessions.issue_code(t0);
        let id = sessions.redeem(&code, t0 + Duration::from_secs(1)).unwrap();
        assert!(sessions.redeem(&code, t0).is_none(), "used twice");
        assert!(sessions.get(&id, t0).is_some());

        let late = sessions.issue_code(t0);
        assert!(sessions.redeem(&late, t0 + CODE_TTL).is_none(), "expired");
        assert!(sessions.redeem("made-up", t0).is_none());
    }

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let id = sessions.redeem(&sessions.issue_code(t0), t0).unwrap();
        assert!(sessions.get(&id, t0 + SESSION_TTL).is_none());
        let id = sessions.redeem(&sessions.issue_code(t0), t0).unwrap();
        sessions.end(&id);
        assert!(sessions.get(&id, t0).is_none());
    }

    #[test]
    fn open_codes_and_sessions_are_bounded() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let first = sessions.issue_code(t0);
        for i in 1..=MAX_CODES as u64 {
            sessions.issue_code(t0 + Duration::from_millis(i));
        }
        assert!(sessions.redeem(&first, t0).is_none(), "oldest code dropped");
        for _ in 0..MAX_SESSIONS * 2 {
            sessions.redeem(&sessions.issue_code(t0), t0);
        }
        assert!(sessions.lock().sessions.len() <= MAX_SESSIONS);
    }

    #[test]
    fn only_this_origin_may_change_state() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:4000"));
        assert!(same_origin(&headers).is_err(), "no Origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:5000"),
        );
        assert!(same_origin(&headers).is_err(), "another port");
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&headers).is_err());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:4000"),
        );
        assert!(same_origin(&headers).is_ok());
    }
}
