//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven over
//! WebDriver by `chromedriver` from `chromium-driver`, through fantoccini). Two daemons on
//! loopback, synced by invite and join. On the first, the browser signs in through the
//! one-time link from `guild open --print`, adds a member, rates a skill, RSVPs, proposes
//! and votes; the second daemon's dashboard, open in another window all along, shows the
//! vote and the rating without a reload. Screenshots of every page go to
//! `target/dashboard-shots/` on every run.
//!
//! Without chromium and chromedriver the test says why and skips, unless
//! `GUILD_REQUIRE_BROWSER` is set (as `.ci/run` does), when it fails instead.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use guild_tests::{Daemon, HttpRequest, free_port, wait_until};
use serde_json::{Value, json};

use crate::community::{date, day};

/// How long a synced change may take to show on the other daemon's open page.
const LIVE: Duration = Duration::from_secs(20);
/// How long a page may take to react to a click.
const REACT: Duration = Duration::from_secs(10);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver on a free loopback port, and the chromium it starts with the profile in
/// `dir`; both killed when dropped, even if the test failed before closing the browser.
struct Driver {
    child: Child,
    url: String,
    /// Chromium's `--user-data-dir`: unique to this test run, so it names our browser.
    profile: PathBuf,
}

impl Driver {
    fn start(program: &Path, dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("chromedriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: dir.join("chromium"),
        }
    }

    /// Ids of the chromium processes started with our profile.
    fn browser_pids(&self) -> Vec<String> {
        let marker = format!("--user-data-dir={}", self.profile.display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                std::fs::read(e.path().join("cmdline")).is_ok_and(|cmd| {
                    String::from_utf8_lossy(&cmd)
                        .split('\0')
                        .any(|a| a == marker)
                })
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let pids = self.browser_pids();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&pids).status();
        }
    }
}

/// A small but lively community on `ada`, so every page has something to show.
fn seed(ada: &Daemon) -> String {
    for (name, role, team) in [
        ("Katherine Johnson", "Data analyst", "Data"),
        ("Dorothy Vaughan", "Service owner", "Platform"),
        ("Mary Jackson", "Service designer", "Design"),
    ] {
        ada.guild(&["members", "add", name, "--role", role, "--team", team]);
    }
    for (member, skill, level, grow) in [
        ("Ada", "Roadmapping", "3", false),
        ("Ada", "User research", "1", true),
        ("Katherine", "Data analysis", "4", false),
        ("Katherine", "Discovery", "2", true),
        ("Dorothy", "Stakeholder management", "4", false),
        ("Dorothy", "Prioritisation", "3", false),
        ("Mary", "User research", "4", false),
        ("Mary", "Roadmapping", "1", true),
    ] {
        let mut args = vec!["skills", "rate", skill, level, "--member", member];
        if grow {
            args.push("--grow");
        }
        ada.guild(&args);
    }
    for (title, days, who) in [
        (
            "Show and tell: pricing",
            -70,
            vec!["Ada", "Katherine", "Mary"],
        ),
        ("Away day", -35, vec!["Ada", "Dorothy", "Katherine", "Mary"]),
        ("Meetup: roadmaps", -8, vec!["Ada", "Mary"]),
    ] {
        ada.guild(&[
            "sessions",
            "add",
            title,
            "--kind",
            "meetup",
            "--start",
            &day(days, 10),
            "--end",
            &day(days, 12),
            "--place",
            "Leeds",
        ]);
        let mut attend = vec!["sessions", "attend", title];
        attend.extend(who);
        ada.guild(&attend);
    }
    let created = ada.guild_json(&[
        "sessions",
        "add",
        "Winter unconference",
        "--kind",
        "unconference",
        "--start",
        &day(7, 10),
        "--end",
        &day(7, 16),
        "--online",
        "https://meet.example/winter",
    ]);
    ada.guild(&[
        "council",
        "add-term",
        "--start",
        &date(-60),
        "--end",
        &date(30),
        "--lead",
        "Ada",
        "--lead",
        "Dorothy",
    ]);
    ada.guild(&[
        "knowledge",
        "add",
        "Continuous discovery habits",
        "--url",
        "https://example.org/habits",
        "--tag",
        "discovery",
    ]);
    ada.guild(&["ask", "How do you run a pre-mortem?"]);
    ada.guild(&[
        "relationships",
        "add",
        "Sam from Sales",
        "--influence",
        "high",
        "--cadence",
        "14",
    ]);
    ada.guild(&[
        "relationships",
        "deposit",
        "sam",
        "--note",
        "reviewed the deck",
    ]);
    created["id"].as_str().unwrap().to_owned()
}

struct Browser {
    client: Client,
    shots: PathBuf,
    taken: usize,
    /// Daemon logs, shown when a wait times out.
    logs: Vec<PathBuf>,
}

impl Browser {
    async fn shot(&mut self, name: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(
            self.shots.join(format!("{:02}-{name}.png", self.taken)),
            png,
        )
        .unwrap();
    }

    /// Goes to `url` and waits until its page listens for changes.
    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.until_live().await;
    }

    /// Waits until the page's text satisfies `ready`; panics with the text on timeout.
    async fn until(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let text = match self.client.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ready(&text) {
                return;
            }
            if Instant::now() >= deadline {
                let logs: String = self
                    .logs
                    .iter()
                    .map(|log| {
                        let all = std::fs::read_to_string(log).unwrap_or_default();
                        let tail: Vec<&str> = all.lines().rev().take(40).collect();
                        format!(
                            "--- {} (end) ---\n{}\n",
                            log.display(),
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; the page shows:\n{text}\n{logs}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page is listening for changes (its event stream is open).
    async fn until_live(&self) {
        let deadline = Instant::now() + REACT;
        while self
            .client
            .find(Locator::Css(r#"html[data-live="on"]"#))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the page never went live");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `act` on the element `css`, again if a live refresh replaced the element
    /// meanwhile (a stale element), until [`REACT`] has passed.
    async fn on<F, Fut>(&self, css: &str, act: F)
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + REACT;
        loop {
            let result = match self.client.find(Locator::Css(css)).await {
                Ok(element) => act(element).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!("{css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        self.on(css, |field| async move {
            field.clear().await?;
            field.send_keys(text).await
        })
        .await;
    }

    async fn choose(&self, css: &str, value: &str) {
        self.on(
            css,
            |select| async move { select.select_by_value(value).await },
        )
        .await;
    }

    async fn click(&self, css: &str) {
        self.on(css, |element| async move { element.click().await })
            .await;
    }

    async fn sign_in(&self, daemon: &Daemon) {
        let link = daemon.guild(&["open", "--print"]);
        self.open(link.trim()).await;
        self.until("the overview", REACT, |t| t.contains("Coming up"))
            .await;
    }
}

#[test]
fn guild_open_gives_a_one_time_link_and_prints_it_without_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Daemon::start(dir.path());
    ada.guild(&["init", "--community", "Product People", "--name", "Ada"]);
    let link = ada.guild(&["open", "--print"]);
    let link = link.trim();
    let prefix = format!("http://{}/ui/login/", ada.api_addr());
    assert!(link.starts_with(&prefix), "{link}");
    assert!(
        !link.contains(&ada.token()),
        "the API token must never be in a URL"
    );
    let path = &link[prefix.len() - "/ui/login/".len()..];
    let (first, _) = ada.http(&HttpRequest::new("GET", path, None));
    assert_eq!(first, 303, "the link signs in once");
    let (again, _) = ada.http(&HttpRequest::new("GET", path, None));
    assert_eq!(again, 401, "and only once");

    // No browser to start (nothing on PATH): the link is printed instead.
    let out = Command::new(guild_tests::bin("guild"))
        .arg("--data-dir")
        .arg(&ada.dir)
        .arg("open")
        .env("PATH", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Could not start a browser") && stdout.contains(&prefix),
        "{stdout}"
    );
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    ) else {
        let why = "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)";
        assert!(
            std::env::var_os("GUILD_REQUIRE_BROWSER").is_none(),
            "GUILD_REQUIRE_BROWSER is set but {why}"
        );
        eprintln!("skipped the_dashboard_works_in_a_real_browser: {why}");
        return;
    };
    let started = Instant::now();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ada = Daemon::start(dir_a.path());
    ada.guild(&[
        "init",
        "--community",
        "Product People",
        "--name",
        "Ada",
        "--role",
        "Head of product",
        "--team",
        "Platform",
    ]);
    let session = seed(&ada);
    let bea = Daemon::start(dir_b.path());
    let ticket = ada.guild(&["invite"]);
    bea.guild(&["join", ticket.trim(), "--name", "Bea", "--team", "Payments"]);
    wait_until(
        "Bea's daemon to hold the unconference",
        Duration::from_secs(30),
        || {
            bea.guild_output(&["sessions", "show", &session])
                .status
                .success()
        },
    );
    let seeded = started.elapsed();

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-shots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(&chromedriver, profile.path());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-default-apps",
                    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    // Nothing may leave this machine: anything not on loopback goes to a
                    // closed local port (loopback itself bypasses the proxy).
                    "--proxy-server=http://127.0.0.1:9",
                    format!("--user-data-dir={}", driver.profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("cannot start chromium through chromedriver: {e}"));
        let mut b = Browser {
            client,
            shots: shots.clone(),
            taken: 0,
            logs: vec![ada.dir.join("test-daemon.log"), bea.dir.join("test-daemon.log")],
        };
        let outcome = AssertUnwindSafe(scenario(&mut b, &ada, &bea, &session))
            .catch_unwind()
            .await;
        // Close the browser even when the scenario failed.
        let _ = b.client.close().await;
        let vote_seen = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        eprintln!(
            "dashboard browser test: {:.1} s in all ({:.1} s seeding two daemons); the vote showed on the other daemon's open page {:.2} s after the click; screenshots in {}",
            started.elapsed().as_secs_f64(),
            seeded.as_secs_f64(),
            vote_seen.as_secs_f64(),
            shots.display()
        );
    });
    drop(driver);
}

/// What a member does on Ada's dashboard, and what Bea's shows meanwhile. Returns how long
/// the vote took to show on Bea's open page.
async fn scenario(b: &mut Browser, ada: &Daemon, bea: &Daemon, session: &str) -> Duration {
    let ada_url = format!("http://{}", ada.api_addr());
    let bea_url = format!("http://{}", bea.api_addr());
    let ada_window = b.client.window().await.unwrap();

    // Bea's dashboard, open on the unconference and on "who can help with Discovery"
    // before anything happens on Ada's side.
    let bea_session = b.client.new_window(false).await.unwrap().handle;
    b.client
        .switch_to_window(bea_session.clone())
        .await
        .unwrap();
    b.sign_in(bea).await;
    b.open(&format!("{bea_url}/ui/sessions/{session}")).await;
    b.until("Bea's unconference page", REACT, |t| {
        t.contains("No proposals yet")
    })
    .await;
    let bea_who = b.client.new_window(false).await.unwrap().handle;
    b.client.switch_to_window(bea_who.clone()).await.unwrap();
    b.open(&format!("{bea_url}/ui/skills/who?skill=Discovery"))
        .await;
    b.until("Bea's who-can-help page", REACT, |t| {
        t.contains("Who can help with Discovery")
    })
    .await;

    // Ada signs in through the one-time link; the session cookie is out of scripts' reach.
    b.client.switch_to_window(ada_window.clone()).await.unwrap();
    b.sign_in(ada).await;
    let cookies = b
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert_eq!(
        cookies,
        Value::String(String::new()),
        "the session cookie is HttpOnly"
    );
    b.shot("overview").await;

    // Add a member.
    b.open(&format!("{ada_url}/ui/members")).await;
    b.fill(
        r#"form[method="post"][action="/ui/members"] input[name="name"]"#,
        "Grace Hopper",
    )
    .await;
    b.fill(
        r#"form[method="post"][action="/ui/members"] input[name="team"]"#,
        "Payments",
    )
    .await;
    b.fill(
        r#"form[method="post"][action="/ui/members"] input[name="interests"]"#,
        "Discovery, pricing",
    )
    .await;
    b.click(r#"form[method="post"][action="/ui/members"] button[type="submit"]"#)
        .await;
    b.until("the member to be added", REACT, |t| {
        t.contains("Added Grace Hopper")
    })
    .await;
    b.shot("directory").await;

    // Rate a skill, from "who can help".
    b.open(&format!("{ada_url}/ui/skills/who?skill=Discovery"))
        .await;
    b.choose(
        r#"form[action="/ui/skills/rate"] select[name="level"]"#,
        "4",
    )
    .await;
    b.click(r#"form[action="/ui/skills/rate"] button[type="submit"]"#)
        .await;
    b.until("the rating", REACT, |t| {
        t.contains("Rated Discovery: 4 (can teach)")
    })
    .await;
    b.shot("who-can-help").await;

    // RSVP with one click.
    b.open(&format!("{ada_url}/ui/sessions")).await;
    b.click(&format!(
        r#"form[action="/ui/sessions/{session}/rsvp"] button[value="going"]"#
    ))
    .await;
    b.until("the RSVP", REACT, |t| {
        t.contains("RSVP saved for Winter unconference")
    })
    .await;
    assert!(
        b.client
            .find(Locator::Css(
                r#"button[value="going"][aria-pressed="true"]"#
            ))
            .await
            .is_ok()
    );
    b.shot("sessions").await;

    // Propose, then vote.
    b.open(&format!("{ada_url}/ui/sessions/{session}")).await;
    b.fill(
        r#"form[action$="/proposals"] input[name="title"]"#,
        "Roadmaps without dates",
    )
    .await;
    b.choose(r#"form[action$="/proposals"] select[name="kind"]"#, "talk")
        .await;
    b.click(r#"form[action$="/proposals"] button[type="submit"]"#)
        .await;
    b.until("the proposal", REACT, |t| {
        t.contains("Proposed Roadmaps without dates")
    })
    .await;
    let voted_at = Instant::now();
    b.click("#agenda form button").await;
    b.until("the vote", REACT, |t| {
        t.contains("1 vote") && t.contains("Voted ✓")
    })
    .await;
    b.shot("session").await;

    // Bea's windows show the vote and the rating, live.
    b.client.switch_to_window(bea_session).await.unwrap();
    b.until("the vote on Bea's open page", LIVE, |t| {
        t.contains("Roadmaps without dates") && t.contains("1 vote")
    })
    .await;
    let vote_seen = voted_at.elapsed();
    b.shot("bea-session-live").await;
    b.client.switch_to_window(bea_who).await.unwrap();
    b.until("Ada's rating on Bea's open page", LIVE, |t| {
        t.contains("Ada") && t.contains("4 (can teach)")
    })
    .await;
    b.shot("bea-who-live").await;
    b.open(&format!("{bea_url}/ui/members")).await;
    b.until("Grace on Bea's directory", LIVE, |t| {
        t.contains("Grace Hopper")
    })
    .await;

    // Every other page, for the record; and one at phone width.
    b.client.switch_to_window(ada_window).await.unwrap();
    for (path, name, shows) in [
        ("/ui/skills", "skills-heatmap", "Strengths"),
        ("/ui/health", "health", "Sessions per month"),
        ("/ui/council", "council", "Suggested for the next term"),
        ("/ui/knowledge", "knowledge", "How do you run a pre-mortem?"),
        ("/ui/relationships", "relationships", "Sam from Sales"),
        ("/ui/peers", "peers", "connected"),
    ] {
        b.open(&format!("{ada_url}{path}")).await;
        b.until(name, REACT, |t| t.contains(shows)).await;
        b.shot(name).await;
    }
    b.client.set_window_size(390, 844).await.unwrap();
    b.open(&format!("{ada_url}/ui/sessions/{session}")).await;
    b.until("the session at phone width", REACT, |t| {
        t.contains("Roadmaps without dates")
    })
    .await;
    b.shot("session-phone").await;
    vote_seen
}
