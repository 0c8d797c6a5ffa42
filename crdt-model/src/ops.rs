//! API types for looking after a daemon: export, import, doctor. Shared by `guildd` and
//! `guild` so the two cannot drift.

use serde::{Deserialize, Serialize};

/// `format` of an export file.
pub const EXPORT_FORMAT: &str = "guild-export";
/// `version` of the export format; raised when its shape changes incompatibly.
pub const EXPORT_VERSION: u32 = 1;

/// `guild export`: every shared document (and, if asked, the private one) as readable JSON.
/// Never holds the community secret, device secrets or keys: those are not in documents.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Export {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// [`EXPORT_VERSION`] when written.
    pub version: u32,
    /// RFC 3339, the exporting daemon's clock.
    pub exported_at: String,
    /// Version of the guildd that wrote it.
    pub guildd_version: String,
    pub community_id: Option<String>,
    /// Includes the exporting member's private relationships.
    pub private: bool,
    pub documents: Vec<ExportedDoc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedDoc {
    pub id: String,
    /// community, member, session, knowledge or relationships.
    pub kind: String,
    /// Automerge heads the content was read at.
    pub heads: Vec<String>,
    /// The document's current content, as Automerge maps it to JSON.
    pub content: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    /// The CSV file's text, header row first.
    pub csv: String,
    /// Report what would happen and change nothing.
    #[serde(default)]
    pub preview: bool,
}

/// What an import did, or (preview) would do. An import with any bad row changes nothing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub preview: bool,
    /// True once everything in it is durable.
    pub applied: bool,
    /// Data rows read (blank lines not counted).
    pub rows: usize,
    /// How each recognised column was read.
    pub columns: Vec<ColumnUse>,
    /// Columns that mean nothing here; their values are ignored.
    pub unknown_columns: Vec<String>,
    /// Members added (names).
    pub created: Vec<String>,
    /// Members changed (names).
    pub updated: Vec<String>,
    /// Rows that matched a member and changed nothing.
    pub unchanged: usize,
    /// Ratings set (skills import).
    pub ratings: usize,
    /// Skills added to the taxonomy (skills import).
    pub new_skills: Vec<String>,
    /// Rows that do not parse, by line number in the file.
    pub errors: Vec<RowError>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnUse {
    pub column: String,
    /// The field it fills, e.g. `role`, or `skill: Discovery`, `grow: Discovery`.
    pub field: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// 1-based line in the file where the row starts (the header is line 1).
    pub line: u64,
    pub message: String,
}

/// `guild doctor`: what was checked and what to do about each problem.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// Short name: daemon, data-dir, store, clock, listening, mdns, peers...
    pub name: String,
    pub status: CheckStatus,
    /// What was found, in one line.
    pub detail: String,
    /// What to do, when something is wrong.
    pub fix: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CheckStatus {
    Ok,
    /// Works, but not as well as it could.
    Warn,
    /// Broken: the fix says what to do.
    Fail,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Warn,
            fix: Some(fix.into()),
            ..Self::ok(name, detail)
        }
    }

    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Fail,
            fix: Some(fix.into()),
            ..Self::ok(name, detail)
        }
    }
}
