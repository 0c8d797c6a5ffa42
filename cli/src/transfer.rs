//! `guild export` and `guild import`: moving a community's data in and out, to backups,
//! Automerge tools and spreadsheets.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use crdt_model::api::Status;
use crdt_model::ops::{Export, ImportReport, ImportRequest};

use crate::client::{Client, Failure};
use crate::output::{self, say};

#[derive(Args)]
pub struct ExportArgs {
    /// Include your private relationships (otherwise they never leave your devices).
    #[arg(long)]
    private: bool,
    /// Write the JSON into FILE (readable by you only) instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "automerge")]
    out: Option<PathBuf>,
    /// Write each document's Automerge bytes (`save()`) into DIR instead, for other
    /// Automerge tools, with an index.json naming each file's document.
    #[arg(long, value_name = "DIR")]
    automerge: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file (`-` reads standard input). Its first line names the columns.
    file: PathBuf,
    /// Show what would change, and change nothing.
    #[arg(long)]
    preview: bool,
    /// What the file holds [default: guessed from its name (members*.csv, skills*.csv), else
    /// from its columns]
    #[arg(long = "as", value_enum, value_name = "KIND")]
    kind: Option<Kind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A member directory: name, role, team, organisation, interests, contact, joined, buddy.
    Members,
    /// A skills matrix as `guild skills matrix --csv` writes it: members by skills.
    Skills,
}

pub fn export(client: &Client, args: ExportArgs, json: bool) -> Result<()> {
    let private = if args.private { "true" } else { "false" };
    if let Some(dir) = args.automerge {
        return export_automerge(client, &dir, args.private, json);
    }
    let export: Export = client.get_query("/api/export", &[("private", private)])?;
    let Some(path) = args.out else {
        return output::json(&export);
    };
    let mut text = serde_json::to_vec_pretty(&export)?;
    text.push(b'\n');
    write_private(&path, &text)?;
    if json {
        return output::json(&serde_json::json!({
            "file": path,
            "documents": export.documents.len(),
            "private": export.private,
        }));
    }
    say!(
        "Exported {} documents{} to {}",
        export.documents.len(),
        if export.private {
            ", your private relationships included,"
        } else {
            ""
        },
        path.display()
    );
    Ok(())
}

fn export_automerge(client: &Client, dir: &Path, private: bool, json: bool) -> Result<()> {
    create_private_dir(dir)?;
    let status: Status = client.get("/api/status")?;
    let mut index = Vec::new();
    for doc in &status.documents {
        if doc.kind == "relationships" && !private {
            continue;
        }
        let bytes = client.get_bytes(
            &format!("/api/documents/{}/automerge", doc.id),
            &[("private", if private { "true" } else { "false" })],
        )?;
        let file = format!("{}-{}.automerge", doc.kind, doc.id);
        write_private(&dir.join(&file), &bytes)?;
        index.push(serde_json::json!({
            "id": doc.id,
            "kind": doc.kind,
            "heads": doc.heads,
            "file": file,
        }));
    }
    let count = index.len();
    let mut text = serde_json::to_vec_pretty(&serde_json::json!({ "documents": index }))?;
    text.push(b'\n');
    write_private(&dir.join("index.json"), &text)?;
    if json {
        return output::json(&serde_json::json!({ "dir": dir, "documents": count }));
    }
    say!(
        "Wrote {count} Automerge documents to {} (index.json names each)",
        dir.display()
    );
    Ok(())
}

pub fn import(client: &Client, args: ImportArgs, json: bool) -> Result<()> {
    let csv = read_input(&args.file)?;
    let kind = match args.kind {
        Some(kind) => kind,
        None => guess_kind(&args.file, &csv)?,
    };
    let path = match kind {
        Kind::Members => "/api/import/members",
        Kind::Skills => "/api/import/skills",
    };
    let request = ImportRequest {
        csv,
        preview: args.preview,
    };
    let report: ImportReport = match client.post(path, &request) {
        Ok(report) => report,
        Err(e) => {
            // A refused import lists every bad row on stdout; the error stays one line.
            if !json
                && let Some(Failure::Refused {
                    details: Some(details),
                    ..
                }) = e.downcast_ref::<Failure>()
                && let Ok(report) = serde_json::from_value::<ImportReport>(details.clone())
            {
                print_report(kind, &report);
            }
            return Err(e);
        }
    };
    if json {
        return output::json(&report);
    }
    print_report(kind, &report);
    Ok(())
}

fn read_input(file: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => bail!(
            "{} is not UTF-8 text (byte {}); save it from your spreadsheet as \"CSV UTF-8\"",
            file.display(),
            e.utf8_error().valid_up_to()
        ),
    }
}

/// members*.csv and skills*.csv say what they are; otherwise a skills matrix has grow
/// columns.
fn guess_kind(file: &Path, csv: &str) -> Result<Kind> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.contains("skill") {
        return Ok(Kind::Skills);
    }
    if name.contains("member") || name.contains("people") {
        return Ok(Kind::Members);
    }
    let header = csv.lines().next().unwrap_or_default().to_lowercase();
    if header.contains("(grow)") {
        return Ok(Kind::Skills);
    }
    bail!(
        "cannot tell whether {} holds members or a skills matrix; say --as members or --as skills",
        file.display()
    )
}

fn print_report(kind: Kind, report: &ImportReport) {
    if !report.columns.is_empty() {
        // A matrix has dozens of skill columns: count those, name the others.
        let skills = report
            .columns
            .iter()
            .filter(|c| c.field.starts_with("skill: "))
            .count();
        let grows = report
            .columns
            .iter()
            .filter(|c| c.field.starts_with("grow: "))
            .count();
        let mut columns: Vec<String> = report
            .columns
            .iter()
            .filter(|c| !c.field.starts_with("skill: ") && !c.field.starts_with("grow: "))
            .map(|c| format!("{} -> {}", c.column, c.field))
            .collect();
        if skills + grows > 0 {
            columns.push(format!("{skills} skills, {grows} grow columns"));
        }
        say!("Columns: {}", columns.join(", "));
    }
    if !report.unknown_columns.is_empty() {
        say!(
            "Unknown columns (ignored): {}",
            report.unknown_columns.join(", ")
        );
    }
    if !report.new_skills.is_empty() {
        say!("New skills: {}", report.new_skills.join(", "));
    }
    let mut counts = format!(
        "{} {}: {} new {}, {} updated, {} unchanged",
        report.rows,
        if report.rows == 1 { "row" } else { "rows" },
        report.created.len(),
        if report.created.len() == 1 {
            "member"
        } else {
            "members"
        },
        report.updated.len(),
        report.unchanged
    );
    if kind == Kind::Skills {
        counts.push_str(&format!(", {} ratings", report.ratings));
    }
    say!("{counts}");
    if !report.errors.is_empty() {
        say!(
            "{} {} not parse:",
            report.errors.len(),
            if report.errors.len() == 1 {
                "row does"
            } else {
                "rows do"
            }
        );
        for e in &report.errors {
            say!("  line {}: {}", e.line, e.message);
        }
    }
    if report.applied {
        say!("Imported.");
    } else if report.preview {
        say!("Preview: nothing changed. Run again without --preview to import.");
    } else {
        say!("Nothing was imported.");
    }
}

/// Writes a file only its owner can read (it holds community data), atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict permissions of {}", dir.display()))?;
    }
    Ok(())
}
