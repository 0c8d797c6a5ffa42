//! `POST /api/import/members` and `POST /api/import/skills`: a spreadsheet's rows in one
//! durable transaction, or with `preview` a report of what would happen and no change.
//!
//! Any row that does not parse refuses the whole import (422, every bad row listed by its
//! line in the file): nothing is ever half-imported. Rows find their member by an id column
//! if it names a current member, else by name (case-insensitive); a row naming nobody adds
//! a member. Columns that mean nothing here are reported and ignored.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::api::ErrorBody;
use crdt_model::community::Community;
use crdt_model::member::{Member, Profile};
use crdt_model::ops::{ColumnUse, ImportReport, ImportRequest, RowError};
use crdt_model::skills::{SkillLevel, skill_key};
use crdt_model::{DocKind, GuildDoc};

use super::error::{ApiError, ApiJson, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, clock, new_id, now};

/// Largest CSV accepted (a 10,000-member directory is about 2 MB).
pub const MAX_CSV: usize = 16 * 1024 * 1024;

/// Bad rows named in the one-line error message; the report lists them all.
const ROWS_IN_MESSAGE: usize = 5;

/// A CSV file read into rows, with the line each starts on.
struct Sheet {
    header: Vec<String>,
    rows: Vec<Row>,
}

struct Row {
    line: u64,
    cells: Vec<String>,
}

impl Row {
    fn cell(&self, column: Option<usize>) -> &str {
        column
            .and_then(|c| self.cells.get(c))
            .map_or("", |s| s.trim())
    }
}

/// Header names compare ignoring case, `_`, `-` and repeated spaces: "Full_Name" is
/// "full name".
fn normal(header: &str) -> String {
    header
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn read_sheet(text: &str, report: &mut ImportReport) -> Result<Sheet, ApiError> {
    // Spreadsheets write a byte-order mark, and in some locales `;` or tabs between fields.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if !first_line.contains(',') && first_line.contains(';') {
        b';'
    } else if !first_line.contains(',') && first_line.contains('\t') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(ApiError::bad_request(
            "the file is empty: its first line must be a header row naming the columns",
        ));
    }
    // The csv crate does not count blank lines; count them from the byte offset instead, so
    // line numbers match what an editor shows.
    let line_of = |position: Option<&csv::Position>| {
        position.map_or(0, |p| {
            // The position is where the reader started: blank lines before the record
            // included.
            let from = usize::try_from(p.byte()).unwrap_or(usize::MAX);
            let start = text.get(from..).map_or(from, |rest| {
                from + (rest.len() - rest.trim_start_matches(['\r', '\n']).len())
            });
            text.get(..start)
                .map_or(p.line(), |b| b.matches('\n').count() as u64 + 1)
        })
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = line_of(record.position());
                let cells: Vec<String> = record.iter().map(str::to_owned).collect();
                if cells.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                report.rows += 1;
                if cells.len() > header.len()
                    && cells[header.len()..].iter().any(|c| !c.trim().is_empty())
                {
                    report.errors.push(RowError {
                        line,
                        message: format!(
                            "{} values, but the header names {} columns",
                            cells.len(),
                            header.len()
                        ),
                    });
                    continue;
                }
                rows.push(Row { line, cells });
            }
            Err(e) => {
                report.rows += 1;
                report.errors.push(RowError {
                    line: line_of(e.position()),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(Sheet { header, rows })
}

/// Which member a row is about.
#[derive(Clone)]
enum Target {
    Existing(Box<Member>),
    New(String),
}

impl Target {
    fn id(&self) -> &str {
        match self {
            Self::Existing(m) => &m.id,
            Self::New(id) => id,
        }
    }
}

/// Finds rows' members: by an id naming a current member, else by unique name.
struct Directory {
    current: Vec<Member>,
    /// Target id -> line of the row that claimed it, to refuse a member twice.
    claimed: HashMap<String, u64>,
    /// New members' names (lowercase) -> their new ids, so later rows can name them.
    new_names: HashMap<String, String>,
}

impl Directory {
    fn new(current: Vec<Member>) -> Self {
        Self {
            current,
            claimed: HashMap::new(),
            new_names: HashMap::new(),
        }
    }

    /// The member a row with this id and name is about (a new one if nobody matches).
    fn target(&mut self, line: u64, id: &str, name: &str) -> Result<Target, String> {
        let by_id = (!id.is_empty())
            .then(|| self.current.iter().find(|m| m.id == id))
            .flatten();
        let target = match by_id {
            Some(member) => Target::Existing(Box::new(member.clone())),
            None if name.is_empty() => return Err("the name is empty".into()),
            None => {
                let lower = name.to_lowercase();
                let same: Vec<&Member> = self
                    .current
                    .iter()
                    .filter(|m| m.name.to_lowercase() == lower)
                    .collect();
                match same.as_slice() {
                    [one] => Target::Existing(Box::new((*one).clone())),
                    [] => match self.new_names.get(&lower) {
                        Some(id) => Target::New(id.clone()),
                        None => {
                            let id = new_id();
                            self.new_names.insert(lower, id.clone());
                            Target::New(id)
                        }
                    },
                    many => {
                        return Err(format!(
                            "{} members are called {name:?}; add a member_id column to say which",
                            many.len()
                        ));
                    }
                }
            }
        };
        if let Some(first) = self.claimed.insert(target.id().to_owned(), line) {
            self.claimed.insert(target.id().to_owned(), first);
            return Err(format!("this member is already on line {first}"));
        }
        Ok(target)
    }

    /// A buddy named by id or name: a current member or one this file adds.
    fn buddy(&self, key: &str) -> Result<String, String> {
        if let Some(m) = self.current.iter().find(|m| m.id == key) {
            return Ok(m.id.clone());
        }
        let lower = key.to_lowercase();
        let same: Vec<&Member> = self
            .current
            .iter()
            .filter(|m| m.name.to_lowercase() == lower)
            .collect();
        match (same.as_slice(), self.new_names.get(&lower)) {
            ([one], None) => Ok(one.id.clone()),
            ([], Some(id)) => Ok(id.clone()),
            ([], None) => Err(format!(
                "buddy {key:?} is not a member, nor added by this file"
            )),
            _ => Err(format!("buddy {key:?} names more than one member")),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum MemberField {
    Id,
    Name,
    Role,
    Team,
    Organisation,
    Interests,
    Contact,
    Joined,
    Buddy,
}

/// Each field and the column names it is recognised by (compared by [`normal`]).
const MEMBER_COLUMNS: &[(MemberField, &str, &[&str])] = &[
    (MemberField::Id, "member id", &["member id", "id"]),
    (
        MemberField::Name,
        "name",
        &["name", "full name", "member", "person"],
    ),
    (
        MemberField::Role,
        "role",
        &["role", "job title", "title", "job"],
    ),
    (MemberField::Team, "team", &["team", "squad", "department"]),
    (
        MemberField::Organisation,
        "organisation",
        &["organisation", "organization", "org", "company"],
    ),
    (
        MemberField::Interests,
        "interests",
        &["interests", "interest"],
    ),
    (
        MemberField::Contact,
        "contact",
        &["contact", "email", "e mail", "slack"],
    ),
    (
        MemberField::Joined,
        "joined",
        &[
            "joined",
            "join date",
            "joined on",
            "date joined",
            "start date",
        ],
    ),
    (MemberField::Buddy, "buddy", &["buddy", "onboarding buddy"]),
];

fn member_field(header: &str) -> Option<(MemberField, &'static str)> {
    let header = normal(header);
    MEMBER_COLUMNS
        .iter()
        .find(|(_, _, names)| names.contains(&header.as_str()))
        .map(|(field, name, _)| (*field, *name))
}

/// Which column holds each member field.
#[derive(Default)]
struct MemberColumns(HashMap<MemberField, usize>);

impl MemberColumns {
    /// Column `i` holds `field`; two columns for one field are refused.
    fn claim(
        &mut self,
        (field, name): (MemberField, &'static str),
        i: usize,
        header: &[String],
        report: &mut ImportReport,
    ) -> Result<(), ApiError> {
        if let Some(other) = self.0.insert(field, i) {
            return Err(ApiError::bad_request(format!(
                "columns {:?} and {:?} both mean {name}; keep one",
                header[other], header[i]
            )));
        }
        report.columns.push(ColumnUse {
            column: header[i].clone(),
            field: name.into(),
        });
        Ok(())
    }

    /// Rows must say who they are about.
    fn require_name(&self) -> Result<(), ApiError> {
        if self.0.contains_key(&MemberField::Name) || self.0.contains_key(&MemberField::Id) {
            return Ok(());
        }
        Err(ApiError::bad_request(
            "no name column: the header row must name one (name, full name, member, member_id...)",
        ))
    }

    fn get(&self, field: MemberField) -> Option<usize> {
        self.0.get(&field).copied()
    }
}

/// Imports members from a CSV spreadsheet: all rows in one transaction, or none.
///
/// With `preview`, a report of what would happen and no change. Rows find their member by id, else by name; a row naming nobody adds a member.
#[utoipa::path(
    post,
    path = "/api/import/members",
    tag = "operations",
    operation_id = "importMembers",
    request_body = ImportRequest,
    responses(
        (status = 200, description = "What was (or, previewed, would be) imported", body = ImportReport),
        (status = 400, description = "The CSV or its header is not valid", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 422, description = "Rows do not parse, so nothing was imported (code `import_rejected`; `details` is the report, every bad row by line); or the JSON does not fit `ImportRequest`", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn members(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<ImportReport> {
    let community_id = state.community_id()?;
    let mut report = ImportReport {
        preview: req.preview,
        ..ImportReport::default()
    };
    let sheet = read_sheet(&req.csv, &mut report)?;
    let mut columns = MemberColumns::default();
    for (i, h) in sheet.header.iter().enumerate() {
        match member_field(h) {
            Some(field) => columns.claim(field, i, &sheet.header, &mut report)?,
            None => report.unknown_columns.push(h.clone()),
        }
    }
    columns.require_name()?;
    let col = |f: MemberField| columns.get(f);
    let (_, today) = now();
    let me = state.me()?;
    let steward = state.community().await?.is_steward(&me, clock().date());
    let mut directory = Directory::new(state.members(false).await?);

    // First every row's member, so buddies may name people further down the file.
    let mut targets = Vec::new();
    for row in &sheet.rows {
        let name = row.cell(col(MemberField::Name));
        match directory.target(row.line, row.cell(col(MemberField::Id)), name) {
            Ok(target) => targets.push((row, target)),
            Err(message) => report.errors.push(RowError {
                line: row.line,
                message,
            }),
        }
    }
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for (row, target) in targets {
        let text = |f: MemberField| Some(row.cell(col(f))).filter(|v| !v.is_empty());
        let mut profile = Profile {
            name: text(MemberField::Name).map(str::to_owned),
            role: text(MemberField::Role).map(str::to_owned),
            team: text(MemberField::Team).map(str::to_owned),
            organisation: text(MemberField::Organisation).map(str::to_owned),
            interests: text(MemberField::Interests).map(split_list),
            contact: text(MemberField::Contact).map(str::to_owned),
            joined: text(MemberField::Joined).map(str::to_owned),
            ..Profile::default()
        };
        let planned = text(MemberField::Buddy)
            .map(|b| directory.buddy(b))
            .transpose()
            .and_then(|buddy| {
                profile.buddy = buddy;
                match &target {
                    Target::New(id) => Member::new(id, &profile, &today)
                        .map(|mut m| {
                            m.added_by = me.clone();
                            report.created.push(m.name.clone());
                            creates.push(m);
                        })
                        .map_err(|e| e.to_string()),
                    // The same rule as `guild members update` (see `Member::editable_by`).
                    Target::Existing(member) if !member.editable_by(&me, steward) => Err(format!(
                        "{} is already a member; only they, whoever added them or a steward \
                         may change their profile",
                        member.name
                    )),
                    Target::Existing(member) => {
                        let mut changed = member.clone();
                        changed.apply(&profile).map_err(|e| e.to_string())?;
                        if changed == *member {
                            report.unchanged += 1;
                        } else {
                            report.updated.push(changed.name.clone());
                            updates.push((member.id.clone(), profile.clone()));
                        }
                        Ok(())
                    }
                }
            });
        if let Err(message) = planned {
            report.errors.push(RowError {
                line: row.line,
                message,
            });
        }
    }
    let commit = async {
        let mut ids = vec![community_id.as_str()];
        ids.extend(updates.iter().map(|(id, _)| id.as_str()));
        let mut tx = state.repo.begin(&ids).await;
        Community::update(tx.doc(&community_id)?, |c| {
            for member in &creates {
                c.index(&member.id, DocKind::Member);
            }
            Ok(())
        })?;
        for member in &creates {
            member.write(tx.create(&member.id)?)?;
        }
        for (id, profile) in &updates {
            Member::update(tx.doc(id)?, |m| m.apply(profile))?;
        }
        tx.commit().await?;
        Ok::<_, ApiError>(())
    };
    finish(report, commit).await
}

/// "Discovery; Pricing" or "Discovery, Pricing".
fn split_list(cell: &str) -> Vec<String> {
    let separator = if cell.contains(';') { ';' } else { ',' };
    cell.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Refuses an import with bad rows; otherwise commits it (unless it is a preview).
async fn finish(
    mut report: ImportReport,
    commit: impl Future<Output = Result<(), ApiError>>,
) -> ApiResult<ImportReport> {
    report.errors.sort_by_key(|e| e.line);
    if !report.errors.is_empty() && !report.preview {
        let mut listed: Vec<String> = report
            .errors
            .iter()
            .take(ROWS_IN_MESSAGE)
            .map(|e| format!("line {}: {}", e.line, e.message))
            .collect();
        if report.errors.len() > ROWS_IN_MESSAGE {
            listed.push(format!(
                "and {} more",
                report.errors.len() - ROWS_IN_MESSAGE
            ));
        }
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "import_rejected",
            format!(
                "{} of {} rows do not parse, so nothing was imported: {}",
                report.errors.len(),
                report.rows,
                listed.join("; ")
            ),
        )
        .with_details(&report));
    }
    if !report.preview {
        commit.await?;
        report.applied = true;
    }
    Ok(ApiJson(report))
}

/// A column of a skills matrix.
#[derive(Clone, Debug, PartialEq)]
enum SkillColumn {
    /// The member's id, name or team.
    Member,
    /// When the row's ratings were made (`YYYY-MM-DD` or RFC 3339); default now.
    Rated,
    /// A level 0-4 or its label, for the skill (taxonomy spelling), maybe with `+` to grow.
    Level(String),
    /// "wants to grow" marks for the skill.
    Grow(String),
    /// A member field that a skills matrix does not set.
    Ignored,
}

/// `"Discovery (grow)"` -> `"Discovery"`.
fn grow_column(header: &str) -> Option<&str> {
    let cut = header.len().checked_sub("(grow)".len())?;
    (header.is_char_boundary(cut) && header[cut..].eq_ignore_ascii_case("(grow)"))
        .then(|| header[..cut].trim())
}

/// Reads "yes" / "no" style grow marks.
fn grow_mark(cell: &str) -> Result<bool, String> {
    match normal(cell).as_str() {
        "" | "no" | "n" | "false" | "0" | "-" => Ok(false),
        "yes" | "y" | "true" | "1" | "x" | "grow" | "✓" | "✔" => Ok(true),
        other => Err(format!(
            "{other:?} is not a grow mark; use yes or leave it empty"
        )),
    }
}

/// A level cell: empty (or `-`) for no rating; a `+` after the level marks "grow".
fn level_cell(cell: &str) -> Result<Option<(SkillLevel, bool)>, String> {
    let cell = cell.trim();
    if cell.is_empty() || cell == "-" {
        return Ok(None);
    }
    let (level, grow) = match cell.strip_suffix('+') {
        Some(level) => (level, true),
        None => (cell, false),
    };
    SkillLevel::parse(level)
        .map(|l| Some((l, grow)))
        .map_err(|e| e.to_string())
}

/// One rating to set.
struct Rate {
    skill: String,
    level: SkillLevel,
    grow: bool,
}

/// Imports a skills matrix from a CSV spreadsheet (stewards only): all rows, or none.
///
/// Ratings are recorded as made by you, on the members' behalf.
#[utoipa::path(
    post,
    path = "/api/import/skills",
    tag = "operations",
    operation_id = "importSkills",
    request_body = ImportRequest,
    responses(
        (status = 200, description = "What was (or, previewed, would be) imported", body = ImportReport),
        (status = 400, description = "The CSV or its header is not valid", body = ErrorBody),
        (status = 403, description = "Only stewards import a skills matrix", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
        (status = 422, description = "Rows do not parse, so nothing was imported (code `import_rejected`; `details` is the report, every bad row by line); or the JSON does not fit `ImportRequest`", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn skills(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<ImportReport> {
    let community_id = state.community_id()?;
    // A skills matrix rates everyone on their behalf: a steward's job, like a removal.
    let me = state.require_steward("import a skills matrix").await?;
    let community = state.community().await?;
    let mut report = ImportReport {
        preview: req.preview,
        ..ImportReport::default()
    };
    let sheet = read_sheet(&req.csv, &mut report)?;

    // Columns: member identity, a rating date, then one level (and grow) column per skill.
    let mut taxonomy = Community::clone(&community);
    let mut columns = Vec::new();
    let mut member_columns = MemberColumns::default();
    for (i, h) in sheet.header.iter().enumerate() {
        let column = match member_field(h) {
            Some(field @ (MemberField::Id | MemberField::Name | MemberField::Team, _)) => {
                member_columns.claim(field, i, &sheet.header, &mut report)?;
                SkillColumn::Member
            }
            Some(_) => {
                report.unknown_columns.push(h.clone());
                SkillColumn::Ignored
            }
            None if ["rated", "rated on", "updated", "date"].contains(&normal(h).as_str()) => {
                report.columns.push(ColumnUse {
                    column: h.clone(),
                    field: "rated".into(),
                });
                SkillColumn::Rated
            }
            None => {
                let (skill, grow) = match grow_column(h) {
                    Some(skill) => (skill, true),
                    None => (h.as_str(), false),
                };
                let skill = match taxonomy.resolve_skill(skill) {
                    Ok(known) => known,
                    Err(_) => {
                        let added = taxonomy
                            .add_skill(skill)
                            .map_err(|e| ApiError::bad_request(format!("column {h:?}: {e}")))?;
                        report.new_skills.push(added.clone());
                        added
                    }
                };
                report.columns.push(ColumnUse {
                    column: h.clone(),
                    field: format!("{}: {skill}", if grow { "grow" } else { "skill" }),
                });
                if grow {
                    SkillColumn::Grow(skill)
                } else {
                    SkillColumn::Level(skill)
                }
            }
        };
        columns.push(column);
    }
    member_columns.require_name()?;
    let col = |f: MemberField| member_columns.get(f);
    let (now_rfc3339, today) = now();
    let mut directory = Directory::new(state.members(false).await?);
    let mut creates: Vec<(Member, Vec<Rate>)> = Vec::new();
    let mut updates: Vec<(String, Vec<Rate>, String)> = Vec::new();
    for row in &sheet.rows {
        let planned = directory
            .target(
                row.line,
                row.cell(col(MemberField::Id)),
                row.cell(col(MemberField::Name)),
            )
            .and_then(|target| {
                let (rates, when) = row_ratings(row, &columns, &target, &now_rfc3339)?;
                Ok((target, rates, when))
            });
        match planned {
            Err(message) => report.errors.push(RowError {
                line: row.line,
                message,
            }),
            Ok((Target::New(id), rates, when)) => {
                let profile = Profile {
                    name: Some(row.cell(col(MemberField::Name)).to_owned()),
                    team: Some(row.cell(col(MemberField::Team)).to_owned()),
                    ..Profile::default()
                };
                match Member::new(&id, &profile, &today) {
                    Ok(mut member) => {
                        report.created.push(member.name.clone());
                        report.ratings += rates.len();
                        member.added_by = me.clone();
                        rate_all(&mut member, &rates, &me, &when);
                        creates.push((member, rates));
                    }
                    Err(e) => report.errors.push(RowError {
                        line: row.line,
                        message: e.to_string(),
                    }),
                }
            }
            Ok((Target::Existing(member), rates, when)) => {
                if rates.is_empty() {
                    report.unchanged += 1;
                } else {
                    report.updated.push(member.name.clone());
                    report.ratings += rates.len();
                    updates.push((member.id, rates, when));
                }
            }
        }
    }
    let new_skills = report.new_skills.clone();
    let commit = async {
        let mut ids = vec![community_id.as_str()];
        ids.extend(updates.iter().map(|(id, _, _)| id.as_str()));
        let mut tx = state.repo.begin(&ids).await;
        Community::update(tx.doc(&community_id)?, |c| {
            for skill in &new_skills {
                c.add_skill(skill)?;
            }
            for (member, _) in &creates {
                c.index(&member.id, DocKind::Member);
            }
            Ok(())
        })
        .map_err(|e| match e {
            crdt_model::ModelError::DuplicateSkill(_) => {
                ApiError::conflict(format!("{e} (added meanwhile); run the import again"))
            }
            e => e.into(),
        })?;
        for (member, _) in &creates {
            member.write(tx.create(&member.id)?)?;
        }
        for (id, rates, when) in &updates {
            Member::update(tx.doc(id)?, |m| {
                rate_all(m, rates, &me, when);
                Ok(())
            })?;
        }
        tx.commit().await?;
        Ok::<_, ApiError>(())
    };
    finish(report, commit).await
}

/// Imported ratings are the importer's, on the members' behalf: they never count as the
/// members' own activity (see `health`).
fn rate_all(member: &mut Member, rates: &[Rate], by: &str, when: &str) {
    for rate in rates {
        member.rate(&rate.skill, rate.level, Some(rate.grow), by, when);
    }
}

/// The ratings a row changes (unchanged ones left out), and when they were made.
fn row_ratings(
    row: &Row,
    columns: &[SkillColumn],
    target: &Target,
    now: &str,
) -> Result<(Vec<Rate>, String), String> {
    // Per skill: the level cell (level, `+` grow mark) and the grow column.
    type Cells = (Option<(SkillLevel, bool)>, Option<bool>);
    let mut levels: BTreeMap<&str, Cells> = BTreeMap::new();
    let mut when = now.to_owned();
    for (i, column) in columns.iter().enumerate() {
        let cell = row.cell(Some(i));
        match column {
            SkillColumn::Level(skill) => {
                let level = level_cell(cell).map_err(|e| format!("{skill}: {e}"))?;
                levels.entry(skill).or_default().0 = level;
            }
            SkillColumn::Grow(skill) => {
                let grow = grow_mark(cell).map_err(|e| format!("{skill} (grow): {e}"))?;
                levels.entry(skill).or_default().1 = Some(grow);
            }
            SkillColumn::Rated if !cell.is_empty() => when = rating_time(cell)?,
            _ => {}
        }
    }
    let existing = match target {
        Target::Existing(member) => Some(member),
        Target::New(_) => None,
    };
    let mut rates = Vec::new();
    for (skill, (level, grow_column)) in levels {
        let before = existing.and_then(|m| m.skills.get(&skill_key(skill)));
        let before_level = before.and_then(|r| r.level());
        let grow = match (level, grow_column) {
            (Some((_, true)), _) => Some(true),
            (_, Some(grow)) => Some(grow),
            _ => None,
        };
        let (level, grow) = match (level.map(|(l, _)| l), grow) {
            (None, None) => continue,
            // A grow mark alone keeps the level rated before (none if never rated).
            (None, Some(grow)) => match before_level {
                Some(l) => (l, grow),
                None if grow => (SkillLevel::None, true),
                None => continue,
            },
            // A level alone keeps the grow mark made before.
            (Some(l), None) => (l, before.is_some_and(|r| r.grow)),
            (Some(l), Some(grow)) => (l, grow),
        };
        if before_level == Some(level) && before.is_some_and(|r| r.grow == grow) {
            continue;
        }
        rates.push(Rate {
            skill: skill.to_owned(),
            level,
            grow,
        });
    }
    Ok((rates, when))
}

/// A rating date as written in a spreadsheet: `2026-03-01` or RFC 3339.
fn rating_time(cell: &str) -> Result<String, String> {
    if crdt_model::when::parse("rated", cell).is_ok() {
        return Ok(cell.to_owned());
    }
    crdt_model::text::date("rated", cell)
        .map(|day| format!("{day}T00:00:00Z"))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_spreadsheets_write_them() {
        assert_eq!(grow_column("Discovery (grow)"), Some("Discovery"));
        assert_eq!(grow_column("discovery (GROW)"), Some("discovery"));
        assert_eq!(grow_column("Discovery"), None);
        assert_eq!(
            level_cell(" 3 "),
            Ok(Some((SkillLevel::Experienced, false)))
        );
        assert_eq!(
            level_cell("can-teach+"),
            Ok(Some((SkillLevel::CanTeach, true)))
        );
        assert_eq!(level_cell("-"), Ok(None));
        assert!(level_cell("7").unwrap_err().contains("not a level"));
        assert_eq!(grow_mark("Yes"), Ok(true));
        assert_eq!(grow_mark(""), Ok(false));
        assert!(grow_mark("maybe").is_err());
        assert_eq!(
            split_list("Discovery; Pricing, tiers"),
            ["Discovery", "Pricing, tiers"]
        );
        assert_eq!(normal(" Full_Name "), "full name");
        assert_eq!(rating_time("2026-03-01").unwrap(), "2026-03-01T00:00:00Z");
        assert!(rating_time("March").is_err());
    }

    #[test]
    fn rows_keep_their_line_numbers_and_bad_rows_are_listed() {
        let mut report = ImportReport::default();
        let csv = "\u{feff}Name;Team\nAda;Platform\n\n\"Bea\nBee\";Data\nCy;Ops;extra\n";
        let sheet = read_sheet(csv, &mut report).unwrap();
        assert_eq!(sheet.header, ["Name", "Team"]);
        let lines: Vec<u64> = sheet.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
        assert_eq!(report.rows, 3);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].line, 6);
    }
}
