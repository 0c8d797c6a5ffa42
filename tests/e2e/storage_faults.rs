//! Storage faults: a damaged redb file, a damaged stored document, a full disk. The daemon
//! must refuse to start or refuse the write with one clear line, and never silently drop
//! data or serve a half-written document.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use guild_tests::{Daemon, bin, free_port, poll_until};
use redb::{ReadableTable, TableDefinition};
use serde_json::Value;

// The daemon's tables (daemon/src/store.rs).
const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs_v1");
const CHANGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("changes_v1");

/// Runs `guildd run` on `dir`, which must exit at start; returns its last stderr line.
fn start_fails(dir: &Path) -> String {
    let mut child = Command::new(bin("guildd"))
        .args(["run", "--data-dir"])
        .arg(dir)
        .args(["--api-addr", "127.0.0.1:0", "--no-mdns", "--listen"])
        .arg(format!("/ip4/127.0.0.1/tcp/{}", free_port()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = poll_until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("guildd started on a damaged store");
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.trim().lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("guildd: "), "{stderr}");
    last
}

fn names(daemon: &Daemon) -> Vec<String> {
    daemon
        .guild_json(&["members", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A daemon with a small community, killed: its data directory as a crash leaves it.
fn crashed_community(dir: &Path) -> Vec<Value> {
    let mut daemon = Daemon::start(dir);
    daemon.guild(&["init", "--community", "Fragile", "--name", "Ada"]);
    for i in 0..20 {
        daemon.guild(&["members", "add", &format!("Member {i:02}")]);
    }
    let members = daemon.guild_json(&["members", "list"]);
    daemon.kill();
    members.as_array().unwrap().clone()
}

#[test]
fn a_damaged_store_file_stops_the_daemon_with_the_remedy() {
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 3] = [
        ("truncated", |b| b.truncate(b.len() / 2)),
        // Damage to free pages is harmless (and ignored): hit every page.
        ("a byte flipped in every page", |b| {
            for at in (4096 + 100..b.len()).step_by(4096) {
                b[at] ^= 0xa5;
            }
        }),
        ("header wiped", |b| b[..512].fill(0)),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        crashed_community(dir.path());
        let file = dir.path().join("guild.redb");
        let mut bytes = std::fs::read(&file).unwrap();
        damage(&mut bytes);
        std::fs::write(&file, &bytes).unwrap();
        let line = start_fails(dir.path());
        eprintln!("STORAGE ({what}): {line}");
        assert!(line.contains("is damaged"), "{what}: {line}");
        assert!(line.contains("re-sync from a peer"), "{what}: {line}");
    }
}

/// Rewrites one stored value in a stopped daemon's store, as a bad disk sector or a stray
/// write would (redb itself stays consistent: only the value is wrong).
fn tamper(dir: &Path, edit: impl FnOnce(&redb::WriteTransaction)) {
    let db = redb::Database::open(dir.join("guild.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    edit(&tx);
    tx.commit().unwrap();
}

#[test]
fn a_damaged_stored_document_is_named_with_the_remedy() {
    // A flipped byte inside a member's stored base.
    let dir = tempfile::tempdir().unwrap();
    let members = crashed_community(dir.path());
    let victim = members[3]["id"].as_str().unwrap().to_owned();
    tamper(dir.path(), |tx| {
        let mut docs = tx.open_table(DOCS).unwrap();
        let mut base = docs.get(victim.as_str()).unwrap().unwrap().value().to_vec();
        let at = base.len() / 2;
        base[at] ^= 0xff;
        docs.insert(victim.as_str(), base.as_slice()).unwrap();
    });
    let line = start_fails(dir.path());
    eprintln!("STORAGE (document base): {line}");
    assert!(
        line.contains(&format!("stored document {victim} is corrupt")),
        "{line}"
    );
    assert!(line.contains("re-sync it from a peer"), "{line}");

    // A truncated incremental change of the community document (the last one stored):
    // Automerge alone would load the rest and drop it silently.
    let dir = tempfile::tempdir().unwrap();
    crashed_community(dir.path());
    let mut community = String::new();
    tamper(dir.path(), |tx| {
        let mut changes = tx.open_table(CHANGES).unwrap();
        let (key, bytes) = {
            let last = changes
                .last()
                .unwrap()
                .expect("incremental changes are stored");
            let (k, v) = (last.0.value(), last.1.value().to_vec());
            ((k.0.to_owned(), k.1), v)
        };
        community = key.0.clone();
        changes
            .insert((key.0.as_str(), key.1), &bytes[..bytes.len() - 5])
            .unwrap();
    });
    let line = start_fails(dir.path());
    eprintln!("STORAGE (document change): {line}");
    assert!(
        line.contains(&format!("stored document {community} is corrupt")),
        "{line}"
    );
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Self> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_the_write_and_nothing_half_written_is_served() {
    let outer = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(outer.path(), "16m") else {
        eprintln!("SKIPPED full-disk test: cannot mount a tmpfs here (needs root)");
        return;
    };
    let dir = mount.0.join("data");
    let mut daemon = Daemon::start(&dir);
    daemon.guild(&["init", "--community", "Crowded", "--name", "Ada"]);
    // Fill the disk but for a little room, then write until the store runs out of it.
    let filler = mount.0.join("filler");
    let chunk = vec![0x5a_u8; 64 * 1024];
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&chunk).is_ok() {}
        // Leave a little room, so some writes are acknowledged before the disk fills.
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(256 * 1024)).unwrap();
    }
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..5_000 {
        let name = format!("Squeezed {i:04} {}", "x".repeat(150));
        let out = daemon.guild_output(&["members", "add", &name, "--json"]);
        if out.status.success() {
            acked.push(name);
        } else {
            let stderr = String::from_utf8(out.stderr).unwrap();
            refused = Some((name, stderr));
            break;
        }
    }
    let (refused_name, error) = refused.expect("the disk never filled up");
    eprintln!(
        "STORAGE (full disk): {} writes acknowledged, then: {}",
        acked.len(),
        error.trim()
    );
    let log_tail = || {
        let log = daemon.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    assert_eq!(error.trim().lines().count(), 1, "{error}\n{}", log_tail());
    // Issue 16.7: the refusal was a 500 `internal`; it is a 507 with its own code.
    let error: Value = serde_json::from_str(error.trim()).unwrap();
    assert_eq!(error["error"]["status"], 507, "{error}\n{}", log_tail());
    assert_eq!(error["error"]["code"], "disk_full", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("disk is full"),
        "{message}\n{}",
        log_tail()
    );
    // Later writes are refused too, saying why, and reads still answer.
    let (_, again) = daemon.guild_fails(&["members", "add", "Also Refused", "--json"]);
    let again: Value = serde_json::from_str(again.trim()).unwrap();
    assert_eq!(again["error"]["status"], 507, "{again}");
    let message = again["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("disk is full") || message.contains("an earlier write failed"),
        "{message}"
    );
    let listed = names(&daemon);
    assert!(!listed.contains(&refused_name), "a refused write is served");

    // Free the space and restart: every acknowledged write is there, the refused ones are
    // not, and every document loads.
    std::fs::remove_file(&filler).unwrap();
    daemon.restart();
    let listed = names(&daemon);
    for name in &acked {
        assert!(listed.contains(name), "lost acknowledged write {name}");
    }
    assert!(!listed.contains(&refused_name), "a refused write came back");
    assert!(!listed.contains(&"Also Refused".to_owned()));
    daemon.guild(&["members", "add", "Room Again"]);
    assert!(names(&daemon).contains(&"Room Again".to_owned()));
    daemon.kill();
    drop(daemon);
    drop(mount);
}

// Issue 16.4: with guild.redb gone but identity.key and api-token kept, the daemon started
// as a fresh node with the same peer id, no community and no warning.
#[test]
fn an_identity_without_its_store_refuses_to_start_until_told_to_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path());
    daemon.guild(&["init", "--community", "Lost", "--name", "Ada"]);
    let old_peer = daemon.guild_json(&["status"])["peer_id"].clone();
    daemon.kill();
    std::fs::remove_file(dir.path().join("guild.redb")).unwrap();

    let line = start_fails(dir.path());
    eprintln!("STORAGE (store deleted): {line}");
    assert!(line.contains("has an identity but no store"), "{line}");
    assert!(line.contains("restore guild.redb"), "{line}");
    assert!(line.contains("guildd run --fresh"), "{line}");
    // Refused again at the next try: nothing was created meanwhile.
    assert!(!dir.path().join("guild.redb").exists());
    assert!(start_fails(dir.path()).contains("no store"));

    // Starting over on purpose: an empty store and a new peer id.
    let out = Command::new(bin("guildd"))
        .args(["start", "--fresh", "--no-mdns", "--data-dir"])
        .arg(dir.path())
        .arg("--listen")
        .arg(format!("/ip4/127.0.0.1/tcp/{}", free_port()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let status = daemon.guild_json(&["status"]);
    assert!(status["community"].is_null(), "{status}");
    assert_ne!(status["peer_id"], old_peer);
    assert!(dir.path().join("identity.key.old").exists());
    let out = Command::new(bin("guildd"))
        .args(["stop", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

// The reverse of issue 16.4: with identity.key gone but the store kept, the daemon started
// with a new peer id and said nothing.
#[test]
fn a_store_without_its_identity_refuses_to_start_until_told_to_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path());
    daemon.guild(&["init", "--community", "Keyless", "--name", "Ada"]);
    let old_peer = daemon.guild_json(&["status"])["peer_id"].clone();
    daemon.kill();
    std::fs::remove_file(dir.path().join("identity.key")).unwrap();

    let line = start_fails(dir.path());
    assert!(line.contains("has a store but no identity"), "{line}");
    assert!(line.contains("guildd run --fresh"), "{line}");
    assert!(!dir.path().join("identity.key").exists());

    // Going on on purpose: the same community and member, a new peer id.
    let out = Command::new(bin("guildd"))
        .args(["start", "--fresh", "--no-mdns", "--data-dir"])
        .arg(dir.path())
        .arg("--listen")
        .arg(format!("/ip4/127.0.0.1/tcp/{}", free_port()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let status = daemon.guild_json(&["status"]);
    assert_eq!(status["me"]["name"], "Ada", "{status}");
    assert_ne!(status["peer_id"], old_peer);
    let out = Command::new(bin("guildd"))
        .args(["stop", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
