//! ops-board owns the task board: `board.json` in the Python kit's format (`columns`, and `tasks`
//! with `id, title, column, owner, priority, description, tags, createdAt, updatedAt`; keys it
//! does not know are kept), its changes (add, move, edit, archive, delete), queries (find by
//! id or unique id prefix, list with filters) and stalled-task detection.
//!
//! Every change is one read-modify-write under an flock(2) on `board.lock`, the Python kit's lock
//! file, so the Python kit's `agent_ops_board` and this crate can change the same board at
//! the same time; the new file is written beside the old one, fsynced and renamed over it, and
//! the old one stays as `board.json.bak` (all through [`ops_state::StateFile`]). A board.json
//! that does not parse is never overwritten: reads fall back to the backup and say so
//! ([`Fallback`]), changes are refused until [`BoardFile::recover`] moves it aside.
//!
//! It never prints, never reads the environment and never knows where `~/.agent-ops` is:
//! callers give it the board's path.
//!
//! ```
//! use ops_board::{BoardFile, NewTask, Priority, StalledQuery};
//!
//! let dir = tempfile::tempdir()?;
//! let board = BoardFile::new(dir.path().join("board.json"))?;
//! let task = board.add(&NewTask { priority: Priority::High, ..NewTask::new("Fix API timeout") })?;
//! assert!(task.id.starts_with("task-"));
//! board.move_task(&task.id[..9], "in-progress")?; // a unique id prefix is enough
//!
//! let snapshot = board.read()?;
//! assert_eq!(snapshot.board.find(&task.id)?.column, "in-progress");
//! assert!(snapshot.fallback.is_none());
//! let now = time::OffsetDateTime::now_utc() + time::Duration::hours(25);
//! let day = std::time::Duration::from_secs(24 * 3600);
//! assert_eq!(snapshot.board.stalled(&StalledQuery::in_progress(day), now).tasks.len(), 1);
//! assert!(dir.path().join("board.lock").exists(), "the Python kit's lock file");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod file;
mod model;
mod ops;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::path::PathBuf;

pub use file::{BoardFile, Fallback, Snapshot};
pub use model::{Board, DEFAULT_COLUMNS, Priority, Task};
pub use ops::{Edit, Filter, NewTask, Stalled, StalledEntry, StalledQuery, StalledReport, StalledTask};
pub use ops_state::{SetAside, StateError};

/// Everything that can go wrong with a board.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A file could not be read or written, the lock was not taken within the timeout, or a
    /// change was refused because board.json is corrupt (`StateError::Corrupt`); the state
    /// error names the file.
    #[error(transparent)]
    State(#[from] StateError),
    /// board.json does not parse and there is no backup that does, so there is nothing to read.
    #[error("{} is corrupt ({reason}) and {backup_state}; nothing can be read until it is recovered", path.display())]
    Unreadable {
        /// board.json.
        path: PathBuf,
        /// Why it does not parse.
        reason: String,
        /// What is wrong with the backup: missing or corrupt too.
        backup_state: String,
    },
    /// No task has this id or an id starting with it.
    #[error("no task has the id {query:?} or an id starting with it")]
    NoSuchTask {
        /// The id or prefix given.
        query: String,
    },
    /// More than one task id starts with this prefix.
    #[error("{query:?} is the start of {} task ids ({}); give more of the id", matches.len(), matches.join(", "))]
    AmbiguousId {
        /// The prefix given.
        query: String,
        /// The ids it matches.
        matches: Vec<String>,
    },
    /// A move (or a list filter) named a column the board does not have.
    #[error("the board has no column {column:?} (columns: {})", columns.join(", "))]
    UnknownColumn {
        /// The column given.
        column: String,
        /// The board's columns.
        columns: Vec<String>,
    },
    /// A task title was empty or only spaces.
    #[error("a task title must not be blank")]
    EmptyTitle,
    /// [`BoardFile::new`] was given a path that does not name a file (empty, `/`, `..`), so
    /// there is no board file, and no `board.lock` beside it, to use.
    #[error("{path:?} does not name a board file (like state/board.json)")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// A priority other than low, medium, high or critical was given.
    #[error("unknown priority {given:?} (priorities: low, medium, high, critical)")]
    InvalidPriority {
        /// The word given.
        given: String,
    },
}

impl BoardError {
    /// Whether this is a change refused because board.json is corrupt (recover, then retry).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::State(StateError::Corrupt { .. }) | Self::Unreadable { .. })
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
