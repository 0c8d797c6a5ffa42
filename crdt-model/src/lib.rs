//! Guild's community data as Automerge documents, with typed views.
//!
//! This crate is pure: no I/O, no clocks, no randomness. Callers pass the current time and
//! fresh random bytes in, so every function here is deterministic and unit-testable.
//!
//! Documents (see `../shared/DESIGN.md`):
//! - the **community** document: name, purpose, skill taxonomy and the index of every other
//!   document, so a new member learns what to fetch;
//! - one **member** document per person: profile plus that person's skills-audit ratings.
//!   Split this way, most documents are written by one person and merges stay trivial;
//! - one **session** document per meetup, away day, unconference...;
//! - one **knowledge** document: resources, guidelines, rituals, questions and answers.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod community;
pub mod council;
mod doc;
mod error;
pub mod health;
mod id;
pub mod knowledge;
pub mod lookup;
pub mod member;
pub mod ops;
pub mod relationships;
pub mod roster;
pub mod session;
pub mod skills;
pub mod text;
pub mod when;

pub use doc::{DocKind, GuildDoc, View};
pub use error::ModelError;
pub use id::DocId;

/// Re-exported so callers use the exact Automerge this model was built against.
pub use automerge;
