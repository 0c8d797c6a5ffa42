//! Scenario 4, local writes: API writes per second, each acknowledged only once durable.
//!
//! The daemon acknowledges a write after its redb transaction committed (group commit: one
//! fsync for every write waiting). After the runs the daemon is killed with SIGKILL and
//! restarted: every acknowledged write must still be there (same heads).

use std::io::{Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::json;

use crate::common::{Ctx, median};
use crate::node::{Node, str_field};
use crate::report::{Report, ms};
use crate::workload::{self, Job, Run, SKILLS};

fn rating_jobs(count: usize, members: &[String]) -> Vec<Job> {
    (0..count)
        .map(|i| {
            let mut body = json!({
                "skill": SKILLS[i % SKILLS.len()],
                "level": i % 5,
                "grow": i % 3 == 0,
            });
            if !members.is_empty() {
                body["member"] = json!(members[i % members.len()]);
            }
            Job {
                method: "PUT",
                path: "/api/skills/ratings".into(),
                body,
            }
        })
        .collect()
}

fn row(report: &mut Report, section: &str, what: &str, run: &Run, target: bool) {
    let measured = format!(
        "{:.0} writes/s (p50 {}, p99 {})",
        run.per_sec(),
        ms(run.percentile(0.5)),
        ms(run.percentile(0.99))
    );
    if target {
        report.at_least(
            section,
            what,
            measured,
            ">= 2,000/s concurrent".into(),
            run.per_sec(),
            2000.0,
        );
    } else {
        report.info(section, what, measured);
    }
}

fn figures(run: &Run) -> serde_json::Value {
    json!({
        "writes": run.writes,
        "secs": run.elapsed.as_secs_f64(),
        "per_sec": run.per_sec(),
        "p50_ms": run.percentile(0.5).as_secs_f64() * 1000.0,
        "p99_ms": run.percentile(0.99).as_secs_f64() * 1000.0,
        "max_ms": run.percentile(1.0).as_secs_f64() * 1000.0,
    })
}

/// What durability costs on this disk, whatever the daemon does: one `fdatasync` of a 4 KiB
/// overwrite, and one tiny redb commit as the daemon's store makes them (quick repair, with and
/// without two-phase commit). Medians of 30.
pub struct Floor {
    pub fsync: Duration,
    pub redb_two_phase: Duration,
    pub redb_one_phase: Duration,
}

pub fn storage_floor(dir: &Path) -> Result<Floor> {
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::File::create(dir.join("fsync-probe"))?;
    file.write_all(&[0u8; 4096])?;
    file.sync_all()?;
    let mut fsync = Vec::new();
    for _ in 0..30 {
        // Overwrite in place, as redb does (an append would also pay for the size update).
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(&[7u8; 4096])?;
        let t = Instant::now();
        file.sync_data()?;
        fsync.push(t.elapsed());
    }
    const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("probe");
    let db = redb::Database::create(dir.join("probe.redb"))?;
    let commit = |two_phase: bool| -> Result<Duration> {
        let mut times = Vec::new();
        for i in 0..30u64 {
            let t = Instant::now();
            let mut tx = db.begin_write()?;
            tx.set_quick_repair(true);
            tx.set_two_phase_commit(two_phase);
            {
                let mut table = tx.open_table(TABLE)?;
                table.insert(i, [1u8; 200].as_slice())?;
            }
            tx.commit()?;
            times.push(t.elapsed());
        }
        Ok(median(times))
    };
    let redb_two_phase = commit(true)?;
    let redb_one_phase = commit(false)?;
    Ok(Floor {
        fsync: median(fsync),
        redb_two_phase,
        redb_one_phase,
    })
}

/// The model's CPU work for one rating write, in process (what every API write pays before
/// storage): the whole `Member::update` the handler runs (hydrate, edit, reconcile, commit)
/// and `save_incremental`, on a member with 200 earlier ratings; a targeted reconcile of only
/// the rating that changes; and hydrating one member (`resolve_member` hydrates every member
/// of the community on every write). Medians of 300.
pub struct ModelCost {
    pub update: Duration,
    pub targeted: Duration,
    pub hydrate: Duration,
}

pub fn model_cost() -> Result<ModelCost> {
    use automerge::AutoCommit;
    use crdt_model::GuildDoc;
    use crdt_model::member::{Member, Profile, Rating};
    use crdt_model::skills::{SkillLevel, skill_key};
    let err = |e: crdt_model::ModelError| anyhow::anyhow!("{e}");
    let profile = Profile {
        name: Some("Model Cost".into()),
        team: Some("Bench".into()),
        ..Profile::default()
    };
    let mut doc = AutoCommit::new();
    Member::new("cost", &profile, "2025-01-01")
        .and_then(|m| m.write(&mut doc))
        .map_err(err)?;
    let level = |i: usize| SkillLevel::try_from((i % 5) as u8).map_err(err);
    let now = |i: usize| format!("2025-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60);
    let mut update = Vec::new();
    for i in 0..500 {
        let (skill, level, at) = (SKILLS[i % SKILLS.len()], level(i)?, now(i));
        let t = Instant::now();
        Member::update(&mut doc, |m| {
            m.rate(skill, level, Some(false), "cost", &at);
            Ok(())
        })
        .map_err(err)?;
        std::hint::black_box(doc.save_incremental());
        if i >= 200 {
            update.push(t.elapsed());
        }
    }
    let skills = match automerge::ReadDoc::get(&doc, automerge::ROOT, "skills")? {
        Some((_, id)) => id,
        None => anyhow::bail!("no skills map"),
    };
    let mut targeted = Vec::new();
    for i in 0..300 {
        let skill = SKILLS[i % SKILLS.len()];
        let rating = Rating {
            name: skill.into(),
            level: (i % 5) as u64,
            grow: true,
            updated: now(i + 1000),
            by: String::new(),
        };
        let t = Instant::now();
        autosurgeon::reconcile_prop(&mut doc, &skills, skill_key(skill).as_str(), &rating)?;
        doc.commit();
        std::hint::black_box(doc.save_incremental());
        targeted.push(t.elapsed());
    }
    let mut hydrate = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        std::hint::black_box(Member::read(&doc).map_err(err)?);
        hydrate.push(t.elapsed());
    }
    Ok(ModelCost {
        update: median(update),
        targeted: median(targeted),
        hydrate: median(hydrate),
    })
}

pub fn run(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let section = "4. Local writes (each acknowledged once durable)";
    let floor = storage_floor(&ctx.work.join("floor"))?;
    report.info(
        section,
        "disk floor: fdatasync / redb commit 2-phase / 1-phase",
        format!(
            "{} / {} / {}",
            ms(floor.fsync),
            ms(floor.redb_two_phase),
            ms(floor.redb_one_phase)
        ),
    );
    let cost = model_cost()?;
    report.info(
        section,
        "model CPU per rating: Member::update / targeted / hydrate 1 member",
        format!(
            "{} / {} / {} (in process)",
            ms(cost.update),
            ms(cost.targeted),
            ms(cost.hydrate)
        ),
    );
    report.figure(
        "model_cost",
        json!({
            "member_update_ms": cost.update.as_secs_f64() * 1000.0,
            "targeted_reconcile_ms": cost.targeted.as_secs_f64() * 1000.0,
            "hydrate_member_ms": cost.hydrate.as_secs_f64() * 1000.0,
        }),
    );
    report.figure(
        "storage_floor",
        json!({
            "fdatasync_ms": floor.fsync.as_secs_f64() * 1000.0,
            "redb_commit_two_phase_ms": floor.redb_two_phase.as_secs_f64() * 1000.0,
            "redb_commit_one_phase_ms": floor.redb_one_phase.as_secs_f64() * 1000.0,
        }),
    );
    let writes = ctx.writes;
    let clients = 16;
    let mut node = ctx.node("writes", "Wren Writer")?;
    node.start()?;
    node.init("Bench community")?;
    // Sixteen members to rate on behalf of, so concurrent clients write different documents.
    let people: Vec<Job> = (0..clients)
        .map(|i| Job {
            method: "POST",
            path: "/api/members".into(),
            body: json!({"name": format!("Member {i}"), "team": "Bench"}),
        })
        .collect();
    let members: Vec<String> = workload::run_jobs(&node, &people, 4)?
        .responses
        .iter()
        .map(|r| str_field(r, "id"))
        .collect::<Result<_>>()?;
    // Warm up.
    workload::run_jobs(&node, &rating_jobs(50, &[]), 1)?;

    let sequential = workload::run_jobs(&node, &rating_jobs(writes, &[]), 1)?;
    let same_doc = workload::run_jobs(&node, &rating_jobs(writes, &[]), clients)?;
    let distinct = workload::run_jobs(&node, &rating_jobs(writes * 2, &members), clients)?;

    // Durability: every acknowledged write survives SIGKILL.
    let before = node.heads()?;
    node.kill()?;
    node.start()?;
    let after = node.heads()?;
    ensure!(
        before == after,
        "acknowledged writes were lost after SIGKILL"
    );
    node.stop()?;

    row(
        report,
        section,
        "sequential, 1 client (own ratings)",
        &sequential,
        false,
    );
    row(
        report,
        section,
        &format!("{clients} clients, same document"),
        &same_doc,
        false,
    );
    row(
        report,
        section,
        &format!(
            "{clients} clients, {} documents (17-member community)",
            members.len()
        ),
        &distinct,
        true,
    );
    report.info(
        section,
        "all acknowledged writes present after SIGKILL + restart",
        "yes".into(),
    );
    report.figure(
        "writes",
        json!({
            "sequential": figures(&sequential),
            "concurrent_same_doc": figures(&same_doc),
            "concurrent_distinct_docs": figures(&distinct),
            "clients": clients,
        }),
    );
    Ok(())
}

/// The same concurrent write on a large community (the bulk scenario's sender, about 900
/// members): every rating resolves its member among all of them.
pub fn large_community(ctx: &Ctx, report: &mut Report, dir: &Path, docs: usize) -> Result<()> {
    let section = "4. Local writes (each acknowledged once durable)";
    let mut node = Node::new(&ctx.guildd, dir, "Ada Sender")?;
    node.start()?;
    let status = node.get("/api/status")?;
    let members: Vec<String> = status["documents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"] == "member")
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .take(64)
        .collect();
    let count = if ctx.quick { 50 } else { 500 };
    let run = workload::run_jobs(&node, &rating_jobs(count, &members), 16)?;
    node.stop()?;
    let n_members = status["community"]["members"].as_u64().unwrap_or(0);
    row(
        report,
        section,
        &format!("16 clients, community of {n_members} members ({docs} docs)"),
        &run,
        true,
    );
    report.figure(
        "writes_large_community",
        json!({"members": n_members, "docs": docs, "run": figures(&run)}),
    );
    Ok(())
}
