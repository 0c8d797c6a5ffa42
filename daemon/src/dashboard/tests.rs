//! Handler tests: every page and form through `tower::ServiceExt::oneshot`.
//!
//! The state is a real daemon (`Daemon::bind`: a redb file in a temporary directory, the
//! libp2p swarm on 127.0.0.1 port 0 with mDNS off), the cheapest honest way to get an
//! `AppState`; requests go to its router in process, not over a socket. Data is seeded
//! through the JSON API with the token, as the CLI would.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{Config, Daemon};

struct Fixture {
    _dir: tempfile::TempDir,
    daemon: Daemon,
    app: Router,
    token: String,
    /// `Host` (and so the dashboard's own origin).
    host: String,
    /// `name=value` of the session cookie.
    cookie: String,
    csrf: String,
    me: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The value of the first `name="{name}" value="..."` in a page.
fn field<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in:\n{html}"))
        + marker.len();
    let len = html[start..].find('"').unwrap();
    &html[start..start + len]
}

impl Fixture {
    /// A daemon with a community ("Product People", me "Ada") and a signed-in browser.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::bind(Config {
            data_dir: dir.path().to_path_buf(),
            api_addr: "127.0.0.1:0".parse().unwrap(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            mdns: false,
            hub: false,
        })
        .await
        .unwrap();
        let app = daemon.app();
        let token = std::fs::read_to_string(dir.path().join("api-token"))
            .unwrap()
            .trim()
            .to_owned();
        let host = daemon.api_addr.to_string();
        let mut f = Self {
            _dir: dir,
            daemon,
            app,
            token,
            host,
            cookie: String::new(),
            csrf: String::new(),
            me: String::new(),
        };
        let init = f
            .api(
                "POST",
                "/api/init",
                json!({"community": "Product People", "purpose": "Grow together", "me": {"name": "Ada", "team": "Platform"}}),
            )
            .await;
        f.me = init["member_id"].as_str().unwrap().to_owned();
        f.cookie = f.login().await;
        let overview = f.page("/ui").await;
        f.csrf = field(&overview, "_csrf").to_owned();
        f
    }

    /// A JSON API call with the token; must succeed.
    async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let answer = send(&self.app, request).await;
        assert!(
            answer.status.is_success(),
            "{method} {path}: {}",
            answer.body
        );
        serde_json::from_str(&answer.body).unwrap_or(Value::Null)
    }

    /// Gets a login link as `guild open` does, follows it, returns the session cookie.
    async fn login(&self) -> String {
        let link = self.api("POST", "/api/dashboard/login", json!({})).await;
        let url = link["url"].as_str().unwrap();
        assert!(
            !url.contains(&self.token),
            "the token must never be in a URL"
        );
        let path = url.split_once(&self.host).unwrap().1;
        let answer = send(&self.app, self.request("GET", path, None, Body::empty())).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), "/ui");
        let set = answer.headers[header::SET_COOKIE].to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
            assert!(set.contains(attribute), "{set} lacks {attribute}");
        }
        set.split(';').next().unwrap().to_owned()
    }

    fn request(&self, method: &str, path: &str, cookie: Option<&str>, body: Body) -> Request<Body> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(body).unwrap()
    }

    async fn get(&self, path: &str) -> Answer {
        send(
            &self.app,
            self.request("GET", path, Some(&self.cookie), Body::empty()),
        )
        .await
    }

    /// A page that must render (200); returns its HTML.
    async fn page(&self, path: &str) -> String {
        let answer = self.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.body);
        answer.body
    }

    /// A form as the browser sends it from a page of this dashboard (CSRF token included).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all = fields.to_vec();
        all.push(("_csrf", &self.csrf));
        self.post_raw(
            path,
            &all,
            Some(&self.cookie),
            Some(&format!("http://{}", self.host)),
        )
        .await
    }

    async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Answer {
        let mut request = self.request(
            "POST",
            path,
            cookie,
            Body::from(serde_urlencoded::to_string(fields).unwrap()),
        );
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert(header::ORIGIN, origin.parse().unwrap());
        }
        send(&self.app, request).await
    }

    /// Posts a form that must succeed: 303 back to `to`, whose page shows the flash.
    async fn submit(&self, path: &str, fields: &[(&str, &str)], to: &str) -> String {
        let answer = self.post(path, fields).await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.location(), to, "{path}");
        let page = self.page(to).await;
        assert!(
            page.contains(r#"class="flash ok""#),
            "{path} did not report success:\n{page}"
        );
        page
    }

    /// Seeds a past away day and an upcoming unconference; returns their ids.
    async fn sessions(&self) -> (String, String) {
        let past = self
            .api(
                "POST",
                "/api/sessions",
                json!({"title": "Away day", "kind": "away-day", "start": "2026-01-10T09:00:00+00:00", "end": "2026-01-10T17:00:00+00:00", "place": "Leeds"}),
            )
            .await;
        let next = self
            .api(
                "POST",
                "/api/sessions",
                json!({"title": "Winter unconference", "kind": "unconference", "start": "2099-12-05T10:00:00+01:00", "end": "2099-12-05T16:00:00+01:00", "online": "https://meet.example/w"}),
            )
            .await;
        (
            past["id"].as_str().unwrap().to_owned(),
            next["id"].as_str().unwrap().to_owned(),
        )
    }
}

/// Every page a signed-in browser can open, with something each must show.
const PAGES: &[(&str, &str)] = &[
    ("/ui", "Coming up"),
    ("/ui/members", "Add a member"),
    (
        "/ui/skills/who?skill=Discovery",
        "Who can help with Discovery",
    ),
    ("/ui/skills", "Strengths"),
    ("/ui/sessions", "Winter unconference"),
    ("/ui/health", "Sessions per month"),
    ("/ui/council", "Add a term"),
    ("/ui/knowledge", "Ask the community"),
    ("/ui/relationships", "only you see this"),
    ("/ui/peers", "This daemon"),
];

/// Every form, with fields that would be accepted.
fn forms(me: &str, session: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
    let s = |v: &str| v.to_owned();
    vec![
        (s("/ui/members"), vec![("name", s("Grace Hopper"))]),
        (format!("/ui/members/{me}"), vec![("name", s("Ada"))]),
        (s("/ui/skills"), vec![("name", s("Facilitation"))]),
        (
            s("/ui/skills/rate"),
            vec![("skill", s("Discovery")), ("level", s("4"))],
        ),
        (
            format!("/ui/sessions/{session}/rsvp"),
            vec![("status", s("going"))],
        ),
        (format!("/ui/sessions/{session}/attend"), vec![]),
        (
            format!("/ui/sessions/{session}/notes"),
            vec![("base", s("00")), ("text", s("x"))],
        ),
        (
            format!("/ui/sessions/{session}/proposals"),
            vec![("title", s("Roadmaps")), ("kind", s("talk"))],
        ),
        (
            format!("/ui/sessions/{session}/proposals/x/vote"),
            vec![("vote", s("true"))],
        ),
        (
            format!("/ui/sessions/{session}/schedule"),
            vec![("top", s("1")), ("from", s("10:30")), ("minutes", s("30"))],
        ),
        (
            s("/ui/council"),
            vec![
                ("start", s("2027-01-01")),
                ("end", s("2027-03-31")),
                ("leads", me.to_owned()),
            ],
        ),
        (
            s("/ui/knowledge"),
            vec![("kind", s("resource")), ("title", s("Habits"))],
        ),
        (s("/ui/questions"), vec![("title", s("How?"))]),
        (s("/ui/questions/x/answers"), vec![("body", s("Like this"))]),
        (s("/ui/questions/x/accept"), vec![("answer", s("y"))]),
        (s("/ui/relationships"), vec![("name", s("Sam"))]),
        (
            s("/ui/relationships/log"),
            vec![("person", s("sam")), ("kind", s("coffee"))],
        ),
        (
            s("/ui/relationships/ledger"),
            vec![
                ("person", s("sam")),
                ("direction", s("gave")),
                ("amount", s("1")),
            ],
        ),
        (s("/ui/peers"), vec![("addr", s("/ip4/127.0.0.1/tcp/9"))]),
        (s("/ui/logout"), vec![]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_with_its_content() {
    let f = Fixture::new().await;
    f.sessions().await;
    f.api(
        "PUT",
        "/api/skills/ratings",
        json!({"skill": "Discovery", "level": 4}),
    )
    .await;
    for (path, shows) in PAGES {
        let page = f.page(path).await;
        assert!(page.contains(shows), "{path} lacks {shows:?}:\n{page}");
        assert!(page.contains("Product People"), "{path}: community name");
        assert!(page.contains(r#"id="live""#), "{path}: live region");
    }
    // A live refresh gets only the data, not the page around it.
    let mut request = f.request("GET", "/ui/sessions", Some(&f.cookie), Body::empty());
    request
        .headers_mut()
        .insert("hx-request", "true".parse().unwrap());
    request
        .headers_mut()
        .insert("hx-target", "live".parse().unwrap());
    let live = send(&f.app, request).await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.body.contains("Winter unconference"));
    assert!(!live.body.contains("<html"), "{}", live.body);
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_a_local_host() {
    let f = Fixture::new().await;
    let (_, session) = f.sessions().await;
    let extra = [
        format!("/ui/members/{}", f.me),
        format!("/ui/sessions/{session}"),
        "/ui/sessions.ics".to_owned(),
        "/ui/skills/matrix.csv".to_owned(),
        "/ui/events".to_owned(),
    ];
    let paths = PAGES.iter().map(|(p, _)| (*p).to_owned()).chain(extra);
    for path in paths {
        let signed_out = send(&f.app, f.request("GET", &path, None, Body::empty())).await;
        assert_eq!(signed_out.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            signed_out.body.contains("guild open"),
            "{path}: how to get in"
        );

        let forged = format!("{}=made-up", f.cookie.split('=').next().unwrap());
        let wrong = send(
            &f.app,
            f.request("GET", &path, Some(&forged), Body::empty()),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}");

        let mut rebinding = f.request("GET", &path, Some(&f.cookie), Body::empty());
        rebinding
            .headers_mut()
            .insert(header::HOST, "evil.example".parse().unwrap());
        assert_eq!(
            send(&f.app, rebinding).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );

        let mut foreign = f.request("GET", &path, Some(&f.cookie), Body::empty());
        foreign
            .headers_mut()
            .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert_eq!(
            send(&f.app, foreign).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // The login link's target and the assets are host-guarded too.
    let mut rebinding = f.request("GET", "/ui/assets/htmx.min.js", None, Body::empty());
    rebinding
        .headers_mut()
        .insert(header::HOST, "evil.example".parse().unwrap());
    assert_eq!(send(&f.app, rebinding).await.status, StatusCode::FORBIDDEN);
    // Signed in, an unknown page is a 404 page.
    assert_eq!(f.get("/ui/nowhere").await.status, StatusCode::NOT_FOUND);
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_refuse_cross_site_requests() {
    let f = Fixture::new().await;
    let (_, session) = f.sessions().await;
    let before = f.api("GET", "/api/status", json!(null)).await["documents"].clone();
    let origin = format!("http://{}", f.host);
    let other_port = format!("http://127.0.0.1:{}", f.daemon.api_addr.port() + 1);
    for (path, fields) in forms(&f.me, &session) {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut with_token = fields.clone();
        with_token.push(("_csrf", &f.csrf));

        let no_token = f
            .post_raw(&path, &fields, Some(&f.cookie), Some(&origin))
            .await;
        assert_eq!(
            no_token.status,
            StatusCode::FORBIDDEN,
            "{path} without CSRF token"
        );
        assert!(no_token.body.contains("CSRF"), "{path}: {}", no_token.body);

        let mut wrong = fields.clone();
        wrong.push(("_csrf", "guessed"));
        let wrong = f
            .post_raw(&path, &wrong, Some(&f.cookie), Some(&origin))
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::FORBIDDEN,
            "{path} with a wrong token"
        );

        // Another program on this machine: same site, so the cookie would be sent.
        let local = f
            .post_raw(&path, &with_token, Some(&f.cookie), Some(&other_port))
            .await;
        assert_eq!(
            local.status,
            StatusCode::FORBIDDEN,
            "{path} from another port"
        );
        let foreign = f
            .post_raw(
                &path,
                &with_token,
                Some(&f.cookie),
                Some("http://evil.example"),
            )
            .await;
        assert_eq!(
            foreign.status,
            StatusCode::FORBIDDEN,
            "{path} from another site"
        );
        let no_origin = f.post_raw(&path, &with_token, Some(&f.cookie), None).await;
        assert_eq!(
            no_origin.status,
            StatusCode::FORBIDDEN,
            "{path} without Origin"
        );

        // DNS rebinding: a page whose own host name points at 127.0.0.1.
        let mut rebinding = f.request(
            "POST",
            &path,
            Some(&f.cookie),
            Body::from(serde_urlencoded::to_string(&with_token).unwrap()),
        );
        rebinding
            .headers_mut()
            .insert(header::HOST, "evil.example:80".parse().unwrap());
        rebinding
            .headers_mut()
            .insert(header::ORIGIN, "http://evil.example:80".parse().unwrap());
        let rebinding = send(&f.app, rebinding).await;
        assert_eq!(
            rebinding.status,
            StatusCode::FORBIDDEN,
            "{path} by rebinding"
        );

        let signed_out = f.post_raw(&path, &with_token, None, Some(&origin)).await;
        assert_eq!(
            signed_out.status,
            StatusCode::UNAUTHORIZED,
            "{path} signed out"
        );
    }
    // Nothing refused changed anything.
    let after = f.api("GET", "/api/status", json!(null)).await["documents"].clone();
    assert_eq!(before, after);
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_link_works_once_and_needs_the_token() {
    let f = Fixture::new().await;
    let link = f.api("POST", "/api/dashboard/login", json!({})).await;
    assert_eq!(link["expires_in_secs"], 60);
    let path = link["url"]
        .as_str()
        .unwrap()
        .split_once(&f.host)
        .unwrap()
        .1
        .to_owned();
    let first = send(&f.app, f.request("GET", &path, None, Body::empty())).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let again = send(&f.app, f.request("GET", &path, None, Body::empty())).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("expired or was used already"));

    // Asking for a link needs the API token, like every API route.
    let no_token = send(
        &f.app,
        f.request("POST", "/api/dashboard/login", None, Body::empty()),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert!(
        no_token.body.contains("\"unauthorized\""),
        "{}",
        no_token.body
    );
    // The session cookie opens no API route.
    let cookie_only = send(
        &f.app,
        f.request("GET", "/api/status", Some(&f.cookie), Body::empty()),
    )
    .await;
    assert_eq!(cookie_only.status, StatusCode::UNAUTHORIZED);

    // Signing out ends the session.
    let out = f.post("/ui/logout", &[]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.body.contains("signed out"));
    assert_eq!(f.get("/ui").await.status, StatusCode::UNAUTHORIZED);
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_locked_down_for_the_browser() {
    let f = Fixture::new().await;
    let page = f.get("/ui").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    // Our scripts and styles are served from the binary; nothing from elsewhere.
    for asset in [
        "htmx.min.js",
        "dashboard.js",
        "dashboard.css",
        "htmx.LICENSE",
    ] {
        let answer = f.get(&format!("/ui/assets/{asset}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{asset}");
        assert!(!answer.body.is_empty());
    }
    assert!(!page.body.contains("src=\"http"), "no external scripts");
    assert!(!page.body.contains("href=\"http"), "no external styles");
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_text_is_escaped() {
    // Names, titles and links may come from another member's daemon.
    let f = Fixture::new().await;
    f.api(
        "POST",
        "/api/members",
        json!({"name": "<script>alert(1)</script>", "team": "\"><img src=x onerror=alert(1)>"}),
    )
    .await;
    f.api(
        "POST",
        "/api/questions",
        json!({"title": "Why <b>bold</b>?"}),
    )
    .await;
    let directory = f.page("/ui/members").await;
    assert!(!directory.contains("<script>alert"), "{directory}");
    assert!(directory.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!directory.contains("<img src=x"));
    let knowledge = f.page("/ui/knowledge").await;
    assert!(
        knowledge.contains("Why &lt;b&gt;bold&lt;/b&gt;?"),
        "{knowledge}"
    );
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_found_added_and_edited() {
    let f = Fixture::new().await;
    f.submit(
        "/ui/members",
        &[
            ("name", "Grace Hopper"),
            ("team", "Payments"),
            ("interests", "Discovery, pricing"),
            ("buddy", &f.me),
        ],
        "/ui/members",
    )
    .await;
    let grace = f.api("GET", "/api/members/grace", json!(null)).await;
    assert_eq!(grace["interests"], json!(["Discovery", "pricing"]));
    assert_eq!(grace["buddy"], json!(f.me));
    let id = grace["id"].as_str().unwrap().to_owned();

    let found = f.page("/ui/members?q=pricing").await;
    assert!(
        found.contains("Grace Hopper") && found.contains("1 of 2 members"),
        "{found}"
    );
    let none = f.page("/ui/members?q=nobody-here").await;
    assert!(none.contains("0 of 2 members"));

    let page = f.page(&format!("/ui/members/{id}")).await;
    assert!(
        page.contains("Payments") && page.contains(">Ada</a>"),
        "buddy: {page}"
    );
    let edited = f
        .submit(
            &format!("/ui/members/{id}"),
            &[("name", "Grace Hopper"), ("team", "Data"), ("buddy", "")],
            &format!("/ui/members/{id}"),
        )
        .await;
    assert!(edited.contains("Data"));
    let grace = f
        .api("GET", &format!("/api/members/{id}"), json!(null))
        .await;
    assert_eq!(grace["team"], "Data");
    assert_eq!(grace["buddy"], Value::Null);

    // A refused form says why on the page it returns to, and changes nothing.
    let refused = f.post("/ui/members", &[("name", "  ")]).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let page = f.page("/ui/members").await;
    assert!(
        page.contains(r#"class="flash bad""#) && page.contains("name"),
        "{page}"
    );
    assert_eq!(
        f.api("GET", "/api/members", json!(null))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_are_rated_found_mapped_and_downloaded() {
    let f = Fixture::new().await;
    f.api("POST", "/api/members", json!({"name": "Bea"})).await;
    f.api(
        "PUT",
        "/api/skills/ratings",
        json!({"skill": "Discovery", "level": 1, "grow": true, "member": "Bea"}),
    )
    .await;
    let who = f
        .submit(
            "/ui/skills/rate",
            &[
                ("skill", "Discovery"),
                ("level", "4"),
                ("back", "Discovery"),
            ],
            "/ui/skills/who?skill=Discovery",
        )
        .await;
    // Ada can teach; Bea wants to learn.
    let helpers = who.split("Who wants to learn it").collect::<Vec<_>>();
    assert!(
        helpers[0].contains(">Ada</a>") && helpers[0].contains("4 (can teach)"),
        "{who}"
    );
    assert!(helpers[1].contains(">Bea</a>"), "{who}");
    let unknown = f.page("/ui/skills/who?skill=Juggling").await;
    assert!(
        unknown.contains(r#"class="notice""#) && unknown.contains("Juggling"),
        "{unknown}"
    );

    f.submit(
        "/ui/skills/rate",
        &[("skill", "Roadmapping"), ("level", "2"), ("grow", "yes")],
        "/ui/skills",
    )
    .await;
    let heatmap = f.page("/ui/skills").await;
    assert!(heatmap.contains(r#"class="level l4""#), "{heatmap}");
    assert!(heatmap.contains(r#"class="level l2 grow""#));
    // A form the browser could not have sent is refused with a page saying why.
    let garbled = f
        .post(
            "/ui/skills/rate",
            &[("skill", "Discovery"), ("level", "lots")],
        )
        .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    assert!(garbled.body.contains("could not be read") && garbled.body.contains("<html"));
    f.submit("/ui/skills", &[("name", "Facilitation")], "/ui/skills")
        .await;
    assert!(f.page("/ui/skills").await.contains("Facilitation"));

    let csv = f.get("/ui/skills/matrix.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    assert!(csv.body.starts_with("member_id,name,team,"), "{}", csv.body);
    assert!(csv.body.contains(",Ada,Platform,"));
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_take_rsvps_attendance_proposals_votes_and_a_schedule() {
    let f = Fixture::new().await;
    let (past, next) = f.sessions().await;
    let url = format!("/ui/sessions/{next}");
    f.submit(
        &format!("{url}/rsvp"),
        &[("status", "going"), ("back", "list")],
        "/ui/sessions",
    )
    .await;
    let view = f
        .api("GET", &format!("/api/sessions/{next}"), json!(null))
        .await;
    assert_eq!(
        view["rsvps"],
        json!([{"id": f.me, "name": "Ada", "status": "going"}])
    );

    f.submit(
        &format!("{url}/proposals"),
        &[("title", "Roadmaps without dates"), ("kind", "talk")],
        &url,
    )
    .await;
    let agenda = f
        .api("GET", &format!("/api/sessions/{next}/agenda"), json!(null))
        .await;
    let proposal = agenda[0]["id"].as_str().unwrap().to_owned();
    let voted = f
        .submit(
            &format!("{url}/proposals/{proposal}/vote"),
            &[("vote", "true")],
            &url,
        )
        .await;
    assert!(
        voted.contains("1 vote") && voted.contains("Voted ✓"),
        "{voted}"
    );
    f.submit(
        &format!("{url}/schedule"),
        &[("top", "1"), ("from", "10:30"), ("minutes", "45")],
        &url,
    )
    .await;
    let agenda = f
        .api("GET", &format!("/api/sessions/{next}/agenda"), json!(null))
        .await;
    assert_eq!(agenda[0]["votes"], 1);
    assert_eq!(agenda[0]["slot"]["start"], "2099-12-05T10:30:00+01:00");
    assert!(f.page(&url).await.contains("Sat 5 Dec 2099 10:30 (+01:00)"));

    // Attendance only once a session has started.
    let refused = f.post(&format!("{url}/attend"), &[]).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(f.page(&url).await.contains("has not started yet"));
    f.submit(
        &format!("/ui/sessions/{past}/attend"),
        &[],
        &format!("/ui/sessions/{past}"),
    )
    .await;
    let view = f
        .api("GET", &format!("/api/sessions/{past}"), json!(null))
        .await;
    assert_eq!(view["attendance"][0]["id"], json!(f.me));

    let ics = f.get("/ui/sessions.ics").await;
    assert_eq!(ics.status, StatusCode::OK);
    assert!(ics.body.starts_with("BEGIN:VCALENDAR") && ics.body.contains("Winter unconference"));
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_write_up_edits_merge() {
    let f = Fixture::new().await;
    let (past, _) = f.sessions().await;
    let url = format!("/ui/sessions/{past}");
    f.api(
        "POST",
        &format!("/api/sessions/{past}/notes"),
        json!({"append": "We mapped discovery."}),
    )
    .await;
    // Ada opens the editor...
    let editor = f.page(&url).await;
    let base = field(&editor, "base").to_owned();
    // ...someone else adds a line meanwhile (here the CLI; it could be another daemon)...
    f.api(
        "POST",
        &format!("/api/sessions/{past}/notes"),
        json!({"append": "Bea: next time, pricing."}),
    )
    .await;
    // ...and Ada saves her edit of the text she saw.
    f.submit(
        &format!("{url}/notes"),
        &[
            ("base", &base),
            ("text", "We mapped our discovery practice.\r\n"),
        ],
        &url,
    )
    .await;
    let notes = f
        .api("GET", &format!("/api/sessions/{past}"), json!(null))
        .await["notes"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        notes.contains("We mapped our discovery practice."),
        "{notes:?}"
    );
    assert!(
        notes.contains("Bea: next time, pricing."),
        "Bea's words lost: {notes:?}"
    );
    assert!(!notes.contains('\r'));

    let damaged = f
        .post(&format!("{url}/notes"), &[("base", "zz"), ("text", "x")])
        .await;
    assert_eq!(damaged.status, StatusCode::SEE_OTHER);
    assert!(f.page(&url).await.contains("reload the page"));
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn council_knowledge_relationships_and_peers_forms_work() {
    let f = Fixture::new().await;
    let council = f
        .submit(
            "/ui/council",
            &[
                ("start", "2026-01-01"),
                ("end", "2099-03-31"),
                ("leads", &f.me),
            ],
            "/ui/council",
        )
        .await;
    assert!(council.contains("id=\"rota\""), "timeline: {council}");
    assert!(council.contains("Suggested for the next term"));

    f.submit(
        "/ui/knowledge",
        &[
            ("kind", "ritual"),
            ("title", "We meet monthly"),
            ("tags", "cadence, rituals"),
        ],
        "/ui/knowledge",
    )
    .await;
    f.submit(
        "/ui/questions",
        &[("title", "How do you run a pre-mortem?")],
        "/ui/knowledge",
    )
    .await;
    let q = f.api("GET", "/api/questions", json!(null)).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.submit(
        &format!("/ui/questions/{q}/answers"),
        &[("body", "Imagine it failed.")],
        "/ui/knowledge",
    )
    .await;
    let a = f.api("GET", "/api/questions", json!(null)).await[0]["answers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let accepted = f
        .submit(
            &format!("/ui/questions/{q}/accept"),
            &[("answer", &a)],
            "/ui/knowledge",
        )
        .await;
    assert!(accepted.contains("Accepted: this helped"));
    let searched = f.page("/ui/knowledge?q=pre-mortem").await;
    assert!(
        searched.contains("How do you run a pre-mortem?") && !searched.contains("We meet monthly")
    );
    assert!(
        f.page("/ui/knowledge?tag=cadence")
            .await
            .contains("We meet monthly")
    );

    f.submit(
        "/ui/relationships",
        &[
            ("name", "Sam from Sales"),
            ("influence", "high"),
            ("cadence_days", "14"),
        ],
        "/ui/relationships",
    )
    .await;
    let sam = f.api("GET", "/api/relationships", json!(null)).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.submit(
        "/ui/relationships/log",
        &[("person", &sam), ("kind", "coffee"), ("note", "pricing")],
        "/ui/relationships",
    )
    .await;
    let page = f
        .submit(
            "/ui/relationships/ledger",
            &[("person", &sam), ("direction", "asked"), ("amount", "2")],
            "/ui/relationships",
        )
        .await;
    assert!(page.contains("balance with Sam from Sales is -2"), "{page}");
    assert!(page.contains("id=\"map\"") && page.contains("coffee with"));

    f.submit(
        "/ui/peers",
        &[("addr", "/ip4/127.0.0.1/tcp/9")],
        "/ui/peers",
    )
    .await;
    assert!(f.page("/ui/peers").await.contains("/ip4/127.0.0.1/tcp/9"));
    f.daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_announces_changes_and_ends_at_shutdown() {
    let f = Fixture::new().await;
    let answer = f
        .app
        .clone()
        .oneshot(f.request("GET", "/ui/events", Some(&f.cookie), Body::empty()))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = answer.into_body();
    f.api("POST", "/api/members", json!({"name": "Grace"}))
        .await;
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).into_owned();
    assert!(text.contains("event: change"), "{text:?}");
    // Shutting down ends the stream (else the server would wait for it forever).
    tokio::time::timeout(Duration::from_secs(10), f.daemon.shutdown())
        .await
        .expect("shutdown with an open event stream")
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream did not end");
}
