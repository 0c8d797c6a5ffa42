//! Large stores made fast: histories built in process with the model's own types (documents
//! created by `crdt_model` exactly as the API creates them, then one Automerge change per edit,
//! each the operations the model's write makes for that edit) and written into a stopped
//! daemon's redb file with the daemon's own store. Building a
//! 100,000-change history through the API would take many minutes at the write rates this
//! benchmark measures, and measure the API rather than sync.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc};
use crdt_model::community::Community;
use crdt_model::member::{Member, Profile, Rating};
use crdt_model::session::{NewSession, Rsvp, Session};
use crdt_model::skills::{SkillLevel, skill_key};
use crdt_model::{DocId, DocKind, GuildDoc};
use guild_daemon::store::{Op, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::node::wait_released;
use crate::workload::{FIRST, LAST, ROLES, SKILLS, TEAMS, sentence};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn load(store: &Store, id: &str) -> Result<AutoCommit> {
    let stored = store
        .load(id)?
        .with_context(|| format!("{id} is not stored"))?;
    guild_daemon::repo::load_stored(&stored).map_err(|e| anyhow!("{e}"))
}

/// A time `i` seconds into 2025, as the model stores times.
fn at(i: u64) -> String {
    let t = time::macros::datetime!(2025-01-01 09:00 UTC) + Duration::from_secs(i);
    crdt_model::when::format(t)
}

fn err(e: crdt_model::ModelError) -> anyhow::Error {
    anyhow!("{e}")
}

/// Adds `changes` skills-audit ratings, one change each, to member `id` in the stopped
/// daemon's store at `dir`. Returns the document as stored (compressed `save()`).
pub fn ratings_history(dir: &Path, id: &str, changes: usize, seed: u64) -> Result<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let path = dir.join("guild.redb");
    let saved;
    {
        let store = Store::open(&path)?;
        let mut doc = load(&store, id)?;
        for i in 0..changes {
            rate(&mut rng, &mut doc, &at(i as u64 * 3600))?;
        }
        saved = doc.save();
        runtime()?.block_on(store.write(vec![Op::Compact {
            doc: id.to_owned(),
            base: saved.clone(),
            upto: u64::MAX,
        }]))?;
    }
    wait_released(dir)?;
    Ok(saved)
}

/// What [`big_store`] made.
#[derive(Clone, Copy, Debug, Default)]
pub struct BigStore {
    pub members: usize,
    pub sessions: usize,
    pub changes: usize,
    pub file_bytes: u64,
    pub took: Duration,
}

/// Fills the stopped daemon's store at `dir` (community `community`) until its file holds
/// `target` bytes: members with a history of profile edits and ratings, sessions with RSVPs
/// and notes typed sentence by sentence, every one listed in the community's index.
pub fn big_store(dir: &Path, community: &str, target: u64, seed: u64) -> Result<BigStore> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let path = dir.join("guild.redb");
    let mut made = BigStore::default();
    {
        let store = Store::open(&path)?;
        let rt = runtime()?;
        let mut index = load(&store, community)?;
        let mut member_ids: Vec<String> = Vec::new();
        let mut clock = 0u64;
        // redb's file shrinks when it is closed: aim the open file's size a little higher.
        while std::fs::metadata(&path)?.len() < target + target / 2 {
            let mut ops = Vec::new();
            let mut listed = Vec::new();
            for _ in 0..50 {
                let id = DocId::from_random(rng.random()).to_string();
                let doc = if made.members > 20 && rng.random_bool(0.5) {
                    listed.push((id.clone(), DocKind::Session));
                    made.sessions += 1;
                    session(&mut rng, &id, &member_ids, &mut clock, &mut made.changes)?
                } else {
                    listed.push((id.clone(), DocKind::Member));
                    made.members += 1;
                    member_ids.push(id.clone());
                    member(&mut rng, &id, &mut clock, &mut made.changes)?
                };
                ops.push(Op::Compact {
                    doc: id,
                    base: doc,
                    upto: 0,
                });
            }
            Community::update(&mut index, |c| {
                for (id, kind) in &listed {
                    c.index(id, *kind);
                }
                Ok(())
            })
            .map_err(err)?;
            made.changes += 1;
            ops.push(Op::Compact {
                doc: community.to_owned(),
                base: index.save(),
                upto: u64::MAX,
            });
            rt.block_on(store.write(ops))?;
        }
    }
    wait_released(dir)?;
    made.file_bytes = std::fs::metadata(&path)?.len();
    made.took = started.elapsed();
    Ok(made)
}

/// A root object of `doc` by name.
fn object(doc: &AutoCommit, name: &str) -> Result<automerge::ObjId> {
    match doc.get(automerge::ROOT, name)? {
        Some((automerge::Value::Object(_), id)) => Ok(id),
        _ => anyhow::bail!("the document has no {name} object"),
    }
}

/// One skills-audit rating of a member: the same operations `Member::rate` then
/// `Member::update` make, written to the one rating that changes (`reconcile_prop`). Whole
/// `Member::update` costs about ten times as much per change, all of it in autosurgeon's
/// reconcile (see the writes scenario), which would make building large stores slow.
fn rate(rng: &mut StdRng, doc: &mut AutoCommit, now: &str) -> Result<()> {
    let skill = SKILLS[rng.random_range(0..SKILLS.len())];
    let level = SkillLevel::try_from(rng.random_range(0..5u8)).map_err(err)?;
    let rating = Rating {
        name: skill.into(),
        level: u64::from(u8::from(level)),
        grow: rng.random_bool(0.3),
        updated: now.into(),
        by: String::new(),
    };
    let skills = object(doc, "skills")?;
    autosurgeon::reconcile_prop(doc, &skills, skill_key(skill).as_str(), &rating)?;
    doc.commit();
    Ok(())
}

fn member(rng: &mut StdRng, id: &str, clock: &mut u64, changes: &mut usize) -> Result<Vec<u8>> {
    let i = rng.random_range(0..10_000usize);
    let profile = Profile {
        name: Some(format!(
            "{} {}",
            FIRST[i % FIRST.len()],
            LAST[(i / 7) % LAST.len()]
        )),
        role: Some(ROLES[rng.random_range(0..ROLES.len())].into()),
        team: Some(TEAMS[rng.random_range(0..TEAMS.len())].into()),
        ..Profile::default()
    };
    let mut doc = AutoCommit::new();
    Member::new(id, &profile, "2024-05-01")
        .and_then(|m| m.write(&mut doc))
        .map_err(err)?;
    *changes += 1;
    for _ in 0..rng.random_range(20..60) {
        *clock += 600;
        let now = at(*clock);
        if rng.random_range(0..10) == 0 {
            let team = TEAMS[rng.random_range(0..TEAMS.len())];
            autosurgeon::reconcile_prop(&mut doc, automerge::ROOT, "team", team)?;
            doc.commit();
        } else {
            rate(rng, &mut doc, &now)?;
        }
        *changes += 1;
    }
    Ok(doc.save())
}

fn session(
    rng: &mut StdRng,
    id: &str,
    members: &[String],
    clock: &mut u64,
    changes: &mut usize,
) -> Result<Vec<u8>> {
    let day = rng.random_range(1..29);
    let new = NewSession {
        title: format!("Session {}", rng.random_range(0..100_000)),
        kind: "community-session".into(),
        start: format!("2025-06-{day:02}T17:30:00+01:00"),
        end: format!("2025-06-{day:02}T19:00:00+01:00"),
        place: "Town hall".into(),
        hosts: vec![members[rng.random_range(0..members.len())].clone()],
        description: sentence(rng),
        ..NewSession::default()
    };
    let mut doc = AutoCommit::new();
    Session::new(id, &new)
        .and_then(|s| s.write(&mut doc))
        .map_err(err)?;
    *changes += 1;
    let rsvps = object(&doc, "rsvps")?;
    for _ in 0..rng.random_range(10..40) {
        *clock += 60;
        let who = &members[rng.random_range(0..members.len())];
        let rsvp = Rsvp {
            status: "going".into(),
            at: at(*clock),
        };
        autosurgeon::reconcile_prop(&mut doc, &rsvps, who.as_str(), &rsvp)?;
        doc.commit();
        *changes += 1;
    }
    // The write-up, a paragraph at a time: the same text splice `Session::notes_append` makes.
    let notes = object(&doc, "notes")?;
    for _ in 0..rng.random_range(30..90) {
        let mut paragraph = String::new();
        for _ in 0..rng.random_range(2..6) {
            paragraph.push_str(&sentence(rng));
            paragraph.push(' ');
        }
        paragraph.push('\n');
        let at = doc.length(&notes);
        doc.splice_text(&notes, at, 0, &paragraph)?;
        doc.commit();
        *changes += 1;
    }
    Ok(doc.save())
}
