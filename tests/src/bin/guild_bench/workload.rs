//! Realistic community edits, made through a daemon's HTTP API by concurrent clients: new
//! members and sessions, skills-audit ratings, profile updates, session notes and RSVPs.
//! Deterministic (seeded), so two runs make the same community.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::node::{Node, str_field};

pub const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Tim",
    "Margaret",
    "Linus",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Edsger",
    "Hedy",
    "John",
    "Sophie",
    "Niklaus",
    "Karen",
    "Dennis",
    "Annie",
];
pub const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Berners-Lee",
    "Hamilton",
    "Torvalds",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Dijkstra",
    "Lamarr",
    "Backus",
    "Wilson",
    "Wirth",
    "Sparck Jones",
    "Ritchie",
    "Easley",
];
pub const ROLES: &[&str] = &[
    "Product manager",
    "Senior product manager",
    "Service designer",
    "User researcher",
    "Delivery manager",
    "Service owner",
    "Head of product",
    "Content designer",
    "Data analyst",
    "Curious engineer",
];
pub const TEAMS: &[&str] = &[
    "Platform",
    "Payments",
    "Identity",
    "Data",
    "Mobile",
    "Growth",
    "Search",
    "Onboarding",
];
pub const ORGS: &[&str] = &["Digital", "Operations", "Policy", "Finance"];
pub const SKILLS: &[&str] = crdt_model::skills::DEFAULT_SKILLS;
const KINDS: &[&str] = &["meetup", "community-session", "show-and-tell", "guest-talk"];
const RSVPS: &[&str] = crdt_model::session::RSVP_STATUSES;
const WORDS: &[&str] = &[
    "we",
    "discussed",
    "the",
    "roadmap",
    "for",
    "next",
    "quarter",
    "and",
    "agreed",
    "to",
    "run",
    "discovery",
    "with",
    "users",
    "before",
    "committing",
    "stakeholders",
    "asked",
    "about",
    "pricing",
    "research",
    "showed",
    "that",
    "onboarding",
    "is",
    "confusing",
    "action",
    "share",
    "findings",
    "in",
    "show",
    "tell",
    "prioritisation",
    "framework",
    "okrs",
    "metrics",
    "retention",
    "accessibility",
    "service",
    "standard",
    "assessment",
];

/// A sentence of session notes, 60 to 160 characters.
pub fn sentence(rng: &mut StdRng) -> String {
    let target = rng.random_range(60..160);
    let mut s = String::new();
    while s.len() < target {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    let mut chars = s.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

pub fn person(rng: &mut StdRng, i: usize) -> Value {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    let interests: Vec<&str> = (0..rng.random_range(1..4))
        .map(|_| SKILLS[rng.random_range(0..SKILLS.len())])
        .collect();
    json!({
        "name": format!("{first} {last} {i}"),
        "role": ROLES[rng.random_range(0..ROLES.len())],
        "team": TEAMS[rng.random_range(0..TEAMS.len())],
        "organisation": ORGS[rng.random_range(0..ORGS.len())],
        "interests": interests,
        "contact": format!("{}.{}{i}@example.org", first.to_lowercase(), last.to_lowercase()),
    })
}

/// One API write.
#[derive(Clone, Debug)]
pub struct Job {
    pub method: &'static str,
    pub path: String,
    pub body: Value,
}

/// What a batch of writes cost.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub writes: usize,
    pub elapsed: Duration,
    /// Per-write latencies, sorted.
    pub latencies: Vec<Duration>,
    /// Response bodies, in job order.
    pub responses: Vec<Value>,
}

impl Run {
    pub fn per_sec(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// Runs `jobs` against `node` from `clients` threads, each on its own keep-alive connection.
/// Every write is acknowledged only once durable (that is the daemon's contract).
pub fn run_jobs(node: &Node, jobs: &[Job], clients: usize) -> Result<Run> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(Duration, Value)>>> = Mutex::new(vec![None; jobs.len()]);
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..clients.max(1) {
            let mut client = node.new_client()?;
            let (next, results) = (&next, &results);
            handles.push(scope.spawn(move || -> Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else {
                        return Ok(());
                    };
                    let t = Instant::now();
                    let body = client
                        .send(job.method, &job.path, &job.body)
                        .with_context(|| format!("write {i}"))?;
                    let took = t.elapsed();
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((took, body));
                }
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        }
        Ok(())
    })?;
    let elapsed = started.elapsed();
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut latencies = Vec::with_capacity(jobs.len());
    let mut responses = Vec::with_capacity(jobs.len());
    for (took, body) in results.into_iter().flatten() {
        latencies.push(took);
        responses.push(body);
    }
    latencies.sort();
    Ok(Run {
        writes: jobs.len(),
        elapsed,
        latencies,
        responses,
    })
}

/// A community made through the API.
#[derive(Clone, Debug, Default)]
pub struct Made {
    pub members: Vec<String>,
    pub sessions: Vec<String>,
    /// API writes in all, and Automerge changes they made (member and session creations
    /// change two documents: the new one and the community's index).
    pub writes: usize,
    pub changes: usize,
    pub elapsed: Duration,
}

/// Makes about `changes` Automerge changes on `node` through its API: `members` new members
/// and `sessions` new sessions first, then ratings (55%), session notes (25%), RSVPs (10%) and
/// profile updates (10%) spread over them.
pub fn populate(
    node: &Node,
    changes: usize,
    members: usize,
    sessions: usize,
    clients: usize,
    seed: u64,
) -> Result<Made> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut creations = Vec::new();
    for i in 0..members {
        creations.push(Job {
            method: "POST",
            path: "/api/members".into(),
            body: person(&mut rng, i),
        });
    }
    for i in 0..sessions {
        let day = 1 + i % 28;
        let month = 1 + (i / 28) % 12;
        creations.push(Job {
            method: "POST",
            path: "/api/sessions".into(),
            body: json!({
                "title": format!("Community session {i}"),
                "kind": KINDS[i % KINDS.len()],
                "start": format!("2025-{month:02}-{day:02}T17:30:00+01:00"),
                "end": format!("2025-{month:02}-{day:02}T19:00:00+01:00"),
                "place": "Town hall, 3rd floor",
                "description": sentence(&mut rng),
            }),
        });
    }
    let started = Instant::now();
    let created = run_jobs(node, &creations, clients)?;
    let mut made = Made::default();
    for (job, body) in creations.iter().zip(&created.responses) {
        let id = str_field(body, "id")?;
        if job.path == "/api/members" {
            made.members.push(id);
        } else {
            made.sessions.push(id);
        }
    }
    made.writes = creations.len();
    made.changes = 2 * creations.len();

    let edits = changes.saturating_sub(made.changes);
    let mut jobs = Vec::with_capacity(edits);
    for _ in 0..edits {
        let roll = rng.random_range(0..100);
        let member = &made.members[rng.random_range(0..made.members.len())];
        let job = if roll < 55 || made.sessions.is_empty() {
            Job {
                method: "PUT",
                path: "/api/skills/ratings".into(),
                body: json!({
                    "skill": SKILLS[rng.random_range(0..SKILLS.len())],
                    "level": rng.random_range(0..5),
                    "grow": rng.random_bool(0.3),
                    "member": member,
                }),
            }
        } else if roll < 80 {
            let session = &made.sessions[rng.random_range(0..made.sessions.len())];
            Job {
                method: "POST",
                path: format!("/api/sessions/{session}/notes"),
                body: json!({ "append": sentence(&mut rng) }),
            }
        } else if roll < 90 {
            let session = &made.sessions[rng.random_range(0..made.sessions.len())];
            Job {
                method: "PUT",
                path: format!("/api/sessions/{session}/rsvp"),
                body: json!({
                    "status": RSVPS[rng.random_range(0..RSVPS.len())],
                    "member": member,
                }),
            }
        } else {
            Job {
                method: "PATCH",
                path: format!("/api/members/{member}"),
                body: json!({
                    "role": ROLES[rng.random_range(0..ROLES.len())],
                    "team": TEAMS[rng.random_range(0..TEAMS.len())],
                }),
            }
        };
        jobs.push(job);
    }
    let edited = run_jobs(node, &jobs, clients)?;
    eprintln!(
        "  {} creations at {:.0}/s, {} edits at {:.0}/s ({clients} clients)",
        creations.len(),
        created.per_sec(),
        jobs.len(),
        edited.per_sec()
    );
    made.writes += jobs.len();
    made.changes += jobs.len();
    made.elapsed = started.elapsed();
    Ok(made)
}
