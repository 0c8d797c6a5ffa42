//! The page shell (header, navigation, flash message, the live region), the pages a
//! browser sees when it is not signed in or something went wrong, and small helpers every
//! page uses to show stored text safely.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use crdt_model::text::printable;
use maud::{DOCTYPE, Markup, html};

use super::Dashboard;
use super::assets;
use super::auth::{CSRF_FIELD, Flash, Session};
use crate::api::error::ApiError;

/// The sections of the dashboard, in navigation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Directory,
    Who,
    Skills,
    Sessions,
    Health,
    Council,
    Knowledge,
    Relationships,
    Peers,
}

impl Nav {
    const ALL: [Nav; 10] = [
        Nav::Overview,
        Nav::Directory,
        Nav::Who,
        Nav::Skills,
        Nav::Sessions,
        Nav::Health,
        Nav::Council,
        Nav::Knowledge,
        Nav::Relationships,
        Nav::Peers,
    ];

    fn link(self) -> (&'static str, &'static str) {
        match self {
            Nav::Overview => ("/ui", "Overview"),
            Nav::Directory => ("/ui/members", "Directory"),
            Nav::Who => ("/ui/skills/who", "Who can help"),
            Nav::Skills => ("/ui/skills", "Skills"),
            Nav::Sessions => ("/ui/sessions", "Sessions"),
            Nav::Health => ("/ui/health", "Health"),
            Nav::Council => ("/ui/council", "Council"),
            Nav::Knowledge => ("/ui/knowledge", "Knowledge"),
            Nav::Relationships => ("/ui/relationships", "Relationships"),
            Nav::Peers => ("/ui/peers", "Peers"),
        }
    }
}

/// One page: `intro` (search forms) above the live data, `tools` (forms) beside it.
pub(crate) struct Page {
    pub title: String,
    pub nav: Nav,
    pub intro: Markup,
    /// Everything that changes when a document changes; refreshed in place.
    pub live: Markup,
    pub tools: Markup,
    /// Also refresh every few seconds (peers' state changes without a document changing).
    pub poll: bool,
}

impl Page {
    pub fn new(title: impl Into<String>, nav: Nav, live: Markup) -> Self {
        Self {
            title: title.into(),
            nav,
            intro: html! {},
            live,
            tools: html! {},
            poll: false,
        }
    }

    pub fn intro(mut self, intro: Markup) -> Self {
        self.intro = intro;
        self
    }

    pub fn tools(mut self, tools: Markup) -> Self {
        self.tools = tools;
        self
    }

    pub fn poll(mut self) -> Self {
        self.poll = true;
        self
    }
}

/// What every page needs from the request: the session, the flash message, the page's own
/// URL (to refresh the live region) and whether only the live region is wanted.
pub(crate) struct Ctx {
    pub dash: Dashboard,
    pub session: Session,
    pub flash: Option<Flash>,
    /// Path and query of this page.
    pub here: String,
    /// htmx asks for the live region only (`HX-Target: live`).
    pub live_only: bool,
    pub me: Option<String>,
    pub community: Option<String>,
}

impl FromRequestParts<Dashboard> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &Dashboard) -> Result<Self, Response> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| signed_out(StatusCode::UNAUTHORIZED, "No dashboard session."))?;
        let live_only = parts.headers.contains_key("hx-request")
            && parts
                .headers
                .get("hx-target")
                .is_some_and(|t| t.as_bytes() == b"live");
        let flash = if live_only {
            None
        } else {
            dash.sessions.take_flash(&session.id)
        };
        let state = &dash.app;
        let community = state.community().await.ok();
        let me = match (state.identity().me, &community) {
            (Some(me), Some(_)) => state
                .member_refs([&me])
                .await
                .ok()
                .and_then(|mut r| r.pop())
                .map(|r| r.name),
            _ => None,
        };
        Ok(Self {
            dash: dash.clone(),
            session,
            flash,
            here: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
            live_only,
            me,
            community: community.map(|c| c.name.clone()),
        })
    }
}

impl Ctx {
    /// The hidden field every state-changing form carries.
    pub fn csrf(&self) -> Markup {
        html! { input type="hidden" name=(CSRF_FIELD) value=(self.session.csrf); }
    }

    /// A form's outcome: remembered for the next page, then back to `to` (303), so a
    /// reload never sends the form again.
    pub fn done(&self, result: Result<String, ApiError>, to: &str) -> Response {
        let flash = match result {
            Ok(message) => Flash { ok: true, message },
            Err(e) => Flash {
                ok: false,
                message: e.message,
            },
        };
        self.dash.sessions.set_flash(&self.session.id, flash);
        Redirect::to(to).into_response()
    }

    /// The whole page, or only its live region when htmx refreshes it.
    pub fn render(&self, page: Page) -> Response {
        if self.live_only {
            return page.live.into_response();
        }
        let trigger = if page.poll {
            "guild-change from:body, every 5s"
        } else {
            "guild-change from:body"
        };
        let community = self.community.as_deref().unwrap_or("Guild");
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    (head_common(&format!("{} · {}", txt(&page.title), txt(community))))
                    // No page snapshots in localStorage (they would outlive signing out):
                    // history navigation reloads instead.
                    meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"historyCacheSize":0,"refreshOnHistoryMiss":true}"#;
                    script src=(assets::url("htmx.min.js")) defer {}
                    script src=(assets::url("dashboard.js")) defer {}
                }
                body hx-boost="true" {
                    a.skip href="#content" { "Skip to content" }
                    header.top {
                        div.bar {
                            a.brand href="/ui" { (txt(community)) }
                            span.live-badge role="status" title="Updates arrive without reloading" {}
                            div.who {
                                @if let Some(me) = &self.me {
                                    span { "Signed in as " strong { (txt(me)) } }
                                }
                                form.inline method="post" action="/ui/logout" {
                                    (self.csrf())
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                    nav.main aria-label="Dashboard" {
                        ul {
                            @for nav in Nav::ALL {
                                @let (href, label) = nav.link();
                                li {
                                    a href=(href) aria-current=[(nav == page.nav).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    main #content tabindex="-1" {
                        h1 { (txt(&page.title)) }
                        @if let Some(flash) = &self.flash {
                            div.flash.ok[flash.ok].bad[!flash.ok] role=(if flash.ok { "status" } else { "alert" }) {
                                (txt(&flash.message))
                            }
                        }
                        (page.intro)
                        @if page.tools.0.is_empty() {
                            div #live hx-get=(self.here) hx-trigger=(trigger) { (page.live) }
                        } @else {
                            div.grid {
                                div #live hx-get=(self.here) hx-trigger=(trigger) { (page.live) }
                                aside { (page.tools) }
                            }
                        }
                    }
                }
            }
        };
        markup.into_response()
    }
}

/// A page's data could not be read: the API's error, as a page.
pub(crate) struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.0.status.is_server_error() {
            tracing::error!("dashboard: {}", self.0.message);
        }
        error_page(self.0.status, &self.0.message)
    }
}

impl From<axum::extract::rejection::FormRejection> for PageError {
    fn from(e: axum::extract::rejection::FormRejection) -> Self {
        Self(ApiError::bad_request(format!(
            "the form could not be read ({}); go back and check what you entered",
            e.body_text()
        )))
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// A form whose problems are shown as a dashboard page, not as plain text.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(PageError))]
pub(crate) struct Form<T>(pub T);

fn head_common(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) }
        link rel="stylesheet" href=(assets::url("dashboard.css"));
    }
}

/// A bare page for errors and for browsers that are not signed in.
fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head_common(&format!("{title} · Guild"))) }
            body {
                main #content {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut response = (status, markup).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Not possible right now",
        s if s.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    bare(
        status,
        title,
        html! {
            p.notice { (txt(message)) }
            p { a href="/ui" { "Back to the dashboard" } }
        },
    )
}

/// How to get in: `guild open` prints or opens a one-time link.
pub(crate) fn signed_out(status: StatusCode, why: &str) -> Response {
    bare(
        status,
        "Open the dashboard with guild open",
        html! {
            p { (why) }
            p { "To open the dashboard, run this in a terminal on this computer:" }
            pre { code { "guild open" } }
            p.muted {
                "It opens your browser with a link that works once, for a minute. "
                "Run " code { "guild open --print" } " to print the link instead."
            }
        },
    )
}

pub(crate) async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "There is no such page in the dashboard.",
    )
}

/// Stored single-line text, safe to show: control and invisible formatting characters
/// escaped (maud escapes the HTML).
pub(crate) fn txt(s: &str) -> Cow<'_, str> {
    printable(s, false)
}

/// Stored multi-line text (newlines kept; show inside `.prewrap`).
pub(crate) fn para(s: &str) -> Cow<'_, str> {
    printable(s, true)
}

/// A link only for http(s) URLs; anything else (`javascript:`...) is shown as text.
pub(crate) fn ext_link(url: &str, label: &str) -> Markup {
    let lower = url.trim().to_ascii_lowercase();
    html! {
        @if lower.starts_with("https://") || lower.starts_with("http://") {
            a href=(url.trim()) rel="noreferrer noopener" target="_blank" { (txt(label)) }
        } @else {
            (txt(label))
        }
    }
}

/// A member's name linking to their page.
pub(crate) fn member_link(id: &str, name: &str) -> Markup {
    html! { a href={ "/ui/members/" (id) } { (txt(name)) } }
}

/// `2026-12-05T10:00:00+01:00` as "Sat 5 Dec 2026 10:00 (+01:00)"; unreadable times as
/// they are.
pub(crate) fn when(stored: &str) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year] [hour]:[minute] ([offset_hour sign:mandatory]:[offset_minute])"
    );
    crdt_model::when::parse("time", stored)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| stored.to_owned())
}

/// The date part of a stored time or date.
pub(crate) fn day(stored: &str) -> &str {
    stored.get(..10).unwrap_or(stored)
}

/// Comma-separated input as a list (empty parts dropped).
pub(crate) fn list(input: &str) -> Vec<String> {
    input
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An optional form field: empty means "not given".
pub(crate) fn given(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A value placed in a URL's query or path.
pub(crate) fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_links() {
        let safe = ext_link("javascript:alert(1)", "x").into_string();
        assert!(!safe.contains("href"), "{safe}");
        let web = ext_link(" https://example.org/a?b=\"c\" ", "x").into_string();
        assert!(
            web.contains(r#"href="https://example.org/a?b=&quot;c&quot;""#),
            "{web}"
        );
    }

    #[test]
    fn url_values_are_encoded() {
        assert_eq!(urlencode("a b&c/d"), "a+b%26c%2Fd");
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(
            when("2026-12-05T10:00:00+01:00"),
            "Sat 5 Dec 2026 10:00 (+01:00)"
        );
        assert_eq!(when("soon"), "soon");
    }
}
