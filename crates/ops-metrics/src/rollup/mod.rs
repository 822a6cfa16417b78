//! Rollups: for each finished UTC day, `rollups/YYYY-MM-DD.json` beside the day files holds
//! what the day adds up to for every service (a [`Day`] in a versioned JSON form), so that a
//! window of a year reads 365 small files instead of a year of lines, and outlives the day
//! files.
//!
//! A rollup is written once the day is over, from a day file read whole while it did not
//! change, and records that file's size, modification time and inode: while the day file is
//! still there and differs (a late writer appended), the rollup is stale and the day file is
//! read instead. A file in a rollup's place that does not parse as this version's (corrupt,
//! foreign, not a regular file, another day's, a newer version) is never used and never
//! overwritten; retention deletes only rollups of ours (of any version).

pub(crate) mod fast;
pub(crate) mod format;

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ops_state::StateError;
use time::Date;

use crate::day::{Day, Source};
use crate::scan::{CHUNK, scan_file};
use crate::window::in_order;
use crate::{MetricsError, day_file};
pub use format::ROLLUP_VERSION;
pub(crate) use format::{encode, not_a_rollup_of, parse};

/// No rollup is larger (a million services would be): a larger file is not read.
const MAX_BYTES: u64 = 256 << 20;
/// The days before today whose rollups [`roll_up`] checks on every run (a late writer may
/// still append to them); older ones are written when missing and checked before their day
/// file is deleted.
const RECENT_DAYS: i64 = 2;
/// How long a writer waits for another one to finish a rollup (which takes milliseconds).
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The directory of the rollups: `<dir>/rollups`.
pub fn rollup_dir(dir: &Path) -> PathBuf {
    dir.join("rollups")
}

/// The rollup of `date`: `<dir>/rollups/YYYY-MM-DD.json`.
pub fn rollup_file(dir: &Path, date: Date) -> PathBuf {
    rollup_dir(dir).join(format!("{}.json", date_text(date)))
}

fn date_text(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// Something about a rollup that a report or a run should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollupIssue {
    /// A rollup that is not ours (`why`) was ignored; the day was read from its day file.
    Ignored {
        /// The rollup file.
        rollup: PathBuf,
        /// Why it is not ours.
        why: String,
        /// The day file read instead.
        day_file: PathBuf,
    },
    /// A rollup that is not ours, and no day file: the day is missing from the report.
    Unreadable {
        /// The rollup file.
        rollup: PathBuf,
        /// Why it is not ours.
        why: String,
        /// The day left out.
        date: Date,
    },
    /// A file in a rollup's place that is not ours: neither overwritten nor deleted.
    LeftAlone {
        /// The file.
        rollup: PathBuf,
        /// Why it is not ours.
        why: String,
    },
    /// A day could not be rolled up (`why` names the file).
    NotWritten {
        /// The day.
        date: Date,
        /// What went wrong.
        why: String,
    },
    /// A day file past its retention was kept because its rollup could not be made.
    DayFileKept {
        /// The day file.
        day_file: PathBuf,
        /// What prevented the rollup.
        why: String,
    },
}

impl fmt::Display for RollupIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ignored { rollup, why, day_file } => {
                write!(f, "ignored {}: {why}; read {} instead", rollup.display(), day_file.display())
            }
            Self::Unreadable { rollup, why, date } => write!(
                f,
                "cannot use {}: {why}; its day file is gone, so {date} is missing from the report",
                rollup.display()
            ),
            Self::LeftAlone { rollup, why } => write!(f, "left {} alone: {why}", rollup.display()),
            Self::NotWritten { date, why } => write!(f, "cannot roll up {date}: {why}"),
            Self::DayFileKept { day_file, why } => {
                write!(f, "kept {} past its retention, for want of its rollup: {why}", day_file.display())
            }
        }
    }
}

/// What is in a rollup's place.
pub(crate) enum Loaded {
    Missing,
    Ours(Day, Source),
    /// Not a rollup of ours, and why.
    NotOurs(String),
}

/// The bytes of the regular file at `path` (never through a symlink, never waiting on a FIFO:
/// ops-state opens it), `None` when there is nothing there, or why it cannot be read.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let mut file = match ops_state::open_existing(path, false) {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(None),
        Err(StateError::Symlink { .. }) => return Err("a symbolic link".into()),
        Err(StateError::NotRegular { kind, .. }) => return Err(format!("a {kind}, not a regular file")),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let cannot = |e: io::Error| format!("cannot read it: {e}");
    let len = file.metadata().map_err(cannot)?.len();
    // One read for the whole file, and one to see its end.
    let mut bytes = vec![0u8; usize::try_from(len.min(MAX_BYTES)).unwrap_or(0) + 1];
    let mut filled = 0;
    loop {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(cannot(e)),
        }
        if filled == bytes.len() {
            if filled as u64 > MAX_BYTES {
                return Err("larger than any rollup".into());
            }
            bytes.resize((filled * 2).min(usize::try_from(MAX_BYTES).unwrap_or(usize::MAX) + 1), 0);
        }
    }
    bytes.truncate(filled);
    Ok(Some(bytes))
}

/// The rollup of `date` in `dir`.
pub(crate) fn load(dir: &Path, date: Date) -> Loaded {
    match read_capped(&rollup_file(dir, date)) {
        Ok(None) => Loaded::Missing,
        Ok(Some(bytes)) => match parse(&bytes, date, &day_file(dir, date)) {
            Ok((day, source)) => Loaded::Ours(day, source),
            Err(why) => Loaded::NotOurs(why),
        },
        Err(why) => Loaded::NotOurs(why),
    }
}

/// Whether the file at `path` is a rollup of ours of `date` (of any version), or why not: only
/// those are ever deleted.
pub(crate) fn identify(path: &Path, date: Date) -> Result<(), String> {
    match read_capped(path)? {
        None => Err("gone".into()),
        Some(bytes) => not_a_rollup_of(&bytes, date).map_or(Ok(()), Err),
    }
}

/// What rolling up one day came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rolled {
    /// A rollup was written.
    Written,
    /// The rollup was already current (or the day file is gone).
    Current,
    /// The day file changed while it was read: not rolled up this time.
    Changed,
}

/// Writes the rollup of `day` (the day file of `date`, read as `source`) under the rollups'
/// lock, unless the day file has changed since, the same rollup is already there, or the file
/// there is not ours.
fn write(dir: &Path, date: Date, day: &Day, source: Source) -> Result<Rolled, NotRolled> {
    let path = rollup_file(dir, date);
    let not_written = |why: String| RollupIssue::NotWritten { date, why };
    let bytes = encode(date, day, source)
        .map_err(|why| NotRolled::Day(not_written(format!("{}: {why}", path.display()))))?;
    let lock = rollup_dir(dir).join("rollups.lock");
    let locked = ops_state::with_lock(&lock, LOCK_TIMEOUT, || {
        match day_file(dir, date).metadata() {
            Ok(m) if Source::of(&m) == source => {}
            _ => return Ok(Rolled::Changed),
        }
        match read_capped(&path) {
            Ok(None) => {}
            Ok(Some(old)) if old == bytes => return Ok(Rolled::Current),
            Ok(Some(old)) => {
                if let Err(why) = parse(&old, date, &day_file(dir, date)) {
                    return Err(NotRolled::Day(RollupIssue::LeftAlone { rollup: path.clone(), why }));
                }
            }
            Err(why) => return Err(NotRolled::Day(RollupIssue::LeftAlone { rollup: path.clone(), why })),
        }
        ops_state::write_atomic(&path, &bytes, ops_state::DEFAULT_MODE)
            .map(|()| Rolled::Written)
            .map_err(|e| NotRolled::Writing(not_written(e.to_string())))
    });
    locked.map_err(|e| NotRolled::Writing(not_written(e.to_string())))?
}

/// Why a day was not rolled up.
pub(crate) enum NotRolled {
    /// Something about this day (its day file, the file in its rollup's place).
    Day(RollupIssue),
    /// Rollups cannot be written (the lock, a full or read-only disk): the next days would fail
    /// the same way.
    Writing(RollupIssue),
}

/// Rolls up the finished day `date` unless its rollup is current: reads the day file and
/// writes its rollup.
pub(crate) fn roll_day(dir: &Path, date: Date) -> Result<Rolled, NotRolled> {
    let path = day_file(dir, date);
    let source = match path.metadata() {
        Ok(m) if m.is_file() => Source::of(&m),
        _ => return Ok(Rolled::Current),
    };
    match load(dir, date) {
        Loaded::Ours(_, rolled) if rolled == source => return Ok(Rolled::Current),
        Loaded::NotOurs(why) => {
            return Err(NotRolled::Day(RollupIssue::LeftAlone { rollup: rollup_file(dir, date), why }));
        }
        Loaded::Ours(..) | Loaded::Missing => {}
    }
    let (day, read_as) = scan_file(&path, date, CHUNK)
        .map_err(|e| NotRolled::Day(RollupIssue::NotWritten { date, why: e.to_string() }))?;
    match read_as {
        Some(source) => write(dir, date, &day, source),
        None => Ok(Rolled::Changed),
    }
}

/// The dates of the regular day files in `dir` (symbolic links followed, as a report reads
/// them) before `today`, oldest first.
fn finished_days(dir: &Path, today: Date) -> Result<Vec<Date>, MetricsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(MetricsError::Read { path: dir.to_path_buf(), source }),
    };
    let mut days = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MetricsError::Read { path: dir.to_path_buf(), source })?;
        let Some(date) = entry.file_name().to_str().and_then(crate::day_file_date) else { continue };
        if date < today && entry.path().metadata().is_ok_and(|m| m.is_file()) {
            days.push(date);
        }
    }
    days.sort_unstable();
    Ok(days)
}

/// What [`roll_up`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolledUp {
    /// The days rolled up, oldest first.
    pub written: Vec<Date>,
    /// What could not be done, each naming its file.
    pub issues: Vec<RollupIssue>,
}

/// Writes the rollup of every finished day (before `today`, UTC) that has a day file in `dir`
/// and no rollup yet, and of the last two finished days whose rollup is not current (a late
/// writer may have appended to them). Idempotent: a rollup is written from a day file read
/// whole while it did not change, under the rollups' lock, and only when the same bytes are
/// not already there; a file in a rollup's place that is not ours is left alone. Fails only
/// when `dir` cannot be read; a day that cannot be rolled up is an issue, and the first
/// rollup that cannot be written (the disk, the lock) ends the run.
pub fn roll_up(dir: &Path, today: Date) -> Result<RolledUp, MetricsError> {
    let recent = today.checked_sub(time::Duration::days(RECENT_DAYS)).unwrap_or(Date::MIN);
    let todo: Vec<Date> = finished_days(dir, today)?
        .into_iter()
        .filter(|d| *d >= recent || rollup_file(dir, *d).symlink_metadata().is_err())
        .collect();
    let mut done = RolledUp::default();
    in_order(
        todo.len(),
        |i| roll_day(dir, todo[i]),
        |i, rolled| match rolled {
            Ok(Rolled::Written) => {
                done.written.push(todo[i]);
                true
            }
            Ok(Rolled::Current | Rolled::Changed) => true,
            Err(NotRolled::Day(issue)) => {
                done.issues.push(issue);
                true
            }
            // The next days would fail the same way (and wait for the lock each): the next
            // run tries again.
            Err(NotRolled::Writing(RollupIssue::NotWritten { date, why })) if i + 1 < todo.len() => {
                let left = todo.len() - i - 1;
                let why = format!("{why} ({left} more finished day(s) not rolled up yet)");
                done.issues.push(RollupIssue::NotWritten { date, why });
                false
            }
            Err(NotRolled::Writing(issue)) => {
                done.issues.push(issue);
                false
            }
        },
    );
    Ok(done)
}
