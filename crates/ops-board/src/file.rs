//! The board file on disk: every change one read-modify-write under the board's lock.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ops_state::{AppendOptions, SetAside, StateError, StateFile, append_lines};
use time::OffsetDateTime;

use crate::{Board, BoardError, Edit, NewTask, Task};

/// Where a board lives and how it is locked.
///
/// [`BoardFile::new`] gives the Python kit's names; the public fields may be changed.
///
/// A `BoardFile` remembers the last board it wrote. When the next change finds the file
/// byte for byte as it left it (compared under the lock, so any other writer in between is
/// seen), it reuses that board instead of parsing the file again: a long-running program
/// making many changes parses the board once. Clones share what they remember.
#[derive(Clone)]
pub struct BoardFile {
    /// `board.json`, its lock (`board.lock` beside it, the Python kit's lock file, taken with
    /// flock(2)), the mode it is written with and the lock timeout (30 s, as the Python kit).
    pub state: StateFile,
    /// Where archived tasks go, one JSON line each: `board-archive.jsonl` beside the board.
    pub archive: PathBuf,
    last_written: Arc<Mutex<Option<Written>>>,
}

/// The last board a [`BoardFile`] wrote, and its bytes.
struct Written {
    bytes: Vec<u8>,
    board: Board,
}

impl fmt::Debug for BoardFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoardFile")
            .field("state", &self.state)
            .field("archive", &self.archive)
            .finish_non_exhaustive()
    }
}

/// A board as read, and whether it came from the backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The board (the Python kit's empty board when there is no file yet).
    pub board: Board,
    /// Set when board.json did not parse and this board is its backup: tell the user.
    pub fallback: Option<Fallback>,
}

/// board.json did not parse, so its backup was read instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The corrupt file (left untouched).
    pub corrupt: PathBuf,
    /// The backup that was read.
    pub backup: PathBuf,
    /// Why the file did not parse, with line and column.
    pub reason: String,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is corrupt ({}); showing its backup {} instead; changes are refused until it is recovered",
            self.corrupt.display(),
            self.reason,
            self.backup.display()
        )
    }
}

impl BoardFile {
    /// The board at `path` (normally `state/board.json`), locked through `board.lock` in the
    /// same directory (the file name's stem + `.lock`), archiving to `board-archive.jsonl`.
    /// [`BoardError::NotAFile`] when `path` names no file (`""`, `/`, `..`): there would be no
    /// directory to put the lock in.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, BoardError> {
        let path = path.into();
        let Some(stem) = path.file_name().and(path.file_stem()) else {
            return Err(BoardError::NotAFile { path });
        };
        let stem = stem.to_string_lossy().into_owned();
        let lock_path = path.with_file_name(format!("{stem}.lock"));
        let archive = path.with_file_name(format!("{stem}-archive.jsonl"));
        Ok(Self {
            state: StateFile { lock_path, ..StateFile::new(path) },
            archive,
            last_written: Arc::default(),
        })
    }

    /// `board.json`.
    pub fn path(&self) -> &Path {
        &self.state.path
    }

    /// `board.json.bak`: the version before the last change.
    pub fn backup_path(&self) -> PathBuf {
        self.state.backup_path()
    }

    /// Reads the board without taking the lock (files are replaced by rename, so they are
    /// always whole). A missing file is the Python kit's empty board. When board.json does not
    /// parse, its backup is returned with a [`Fallback`] saying so; when neither parses,
    /// [`BoardError::Unreadable`].
    pub fn read(&self) -> Result<Snapshot, BoardError> {
        let source = match self.state.read::<Board>() {
            Ok(board) => return Ok(Snapshot { board: board.unwrap_or_default(), fallback: None }),
            Err(StateError::Corrupt { source, .. }) => source,
            Err(e) => return Err(e.into()),
        };
        let backup = self.backup_path();
        let backup_state = match self.state.read_backup::<Board>() {
            Ok(Some(board)) => {
                let fallback =
                    Fallback { corrupt: self.path().to_owned(), backup, reason: source.to_string() };
                return Ok(Snapshot { board, fallback: Some(fallback) });
            }
            Ok(None) => format!("there is no backup ({} does not exist)", backup.display()),
            Err(StateError::Corrupt { source, .. }) => {
                format!("its backup {} is corrupt too ({source})", backup.display())
            }
            Err(e) => return Err(e.into()),
        };
        Err(BoardError::Unreadable { path: self.path().to_owned(), reason: source.to_string(), backup_state })
    }

    /// One read-modify-write under the lock: `change` gets the board as it is now and may
    /// change it; when it returns an error nothing is written. A board.json that does not
    /// parse is refused (`StateError::Corrupt`, inside [`BoardError::State`]) and left as it is.
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut Board) -> Result<R, BoardError>,
    ) -> Result<R, BoardError> {
        self.state.update_bytes(|old| {
            let mut board = match old {
                None => Board::default(),
                Some(bytes) => match self.take_last_written(bytes) {
                    Some(board) => board,
                    None => self.state.decode(bytes)?,
                },
            };
            let result = change(&mut board)?;
            let new = self.state.encode(&board)?;
            let mut last = self.last_written.lock().unwrap_or_else(PoisonError::into_inner);
            *last = Some(Written { bytes: new.clone(), board });
            Ok((Some(new), result))
        })
    }

    /// The board this `BoardFile` last wrote, when `bytes` (read under the lock) are still
    /// exactly what it wrote. It is taken out: a change that fails leaves nothing behind.
    fn take_last_written(&self, bytes: &[u8]) -> Option<Board> {
        let mut last = self.last_written.lock().unwrap_or_else(PoisonError::into_inner);
        match last.take() {
            Some(w) if w.bytes == bytes => Some(w.board),
            _ => None,
        }
    }

    /// When board.json does not parse: moves it aside to `board.json.corrupt-<UTC time>` and
    /// puts the backup in its place when the backup parses (else the next change starts an
    /// empty board). `Ok(None)` when board.json is missing or fine: nothing to do.
    pub fn recover(&self) -> Result<Option<SetAside>, BoardError> {
        Ok(self.state.set_aside_corrupt::<Board>()?)
    }

    /// Adds a task (see [`Board::add`]); the id is checked for uniqueness under the lock.
    pub fn add(&self, new: &NewTask) -> Result<Task, BoardError> {
        self.update(|b| b.add(new, OffsetDateTime::now_utc()).cloned())
    }

    /// Moves a task, found by id or unique id prefix, to one of the board's columns.
    pub fn move_task(&self, query: &str, column: &str) -> Result<Task, BoardError> {
        self.update(|b| b.move_task(query, column, OffsetDateTime::now_utc()).cloned())
    }

    /// Edits a task, found by id or unique id prefix.
    pub fn edit(&self, query: &str, edit: &Edit) -> Result<Task, BoardError> {
        self.update(|b| b.edit(query, edit, OffsetDateTime::now_utc()).cloned())
    }

    /// Takes a task off the board after appending it, with `archivedAt`, to the archive file
    /// (fsynced first: a crash in between leaves the task in both places, never in neither).
    pub fn archive(&self, query: &str) -> Result<Task, BoardError> {
        self.update(|b| {
            let task = b.remove(query)?;
            let mut line = serde_json::to_value(&task)
                .map_err(|source| StateError::Encode { path: self.archive.clone(), source })?;
            line["archivedAt"] = ops_state::timestamp::format_utc(OffsetDateTime::now_utc()).into();
            let options = AppendOptions { sync: true, mode: self.state.mode };
            append_lines(&self.archive, &[line.to_string()], options)?;
            Ok(task)
        })
    }

    /// Deletes a task for good (the previous board.json stays as the backup until the next
    /// change).
    pub fn delete(&self, query: &str) -> Result<Task, BoardError> {
        self.update(|b| b.remove(query))
    }
}
