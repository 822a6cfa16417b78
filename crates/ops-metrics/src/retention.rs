//! Retention: rolling up finished days, then deleting day files and rollups older than the
//! days to keep. Only files with the exact names we write are ever deleted, a day file only
//! once its rollup is current (unless that rollup would be past its own retention), and a
//! rollup only when it is ours and its day file is gone.

use std::io;
use std::path::{Path, PathBuf};

use time::{Date, Month};

use crate::MetricsError;
use crate::rollup::{self, NotRolled, Rolled, RolledUp, RollupIssue, roll_day, roll_up, rollup_dir};

/// The date in a file name made exactly of a real date and `ext` (`2025-01-15.jsonl`).
fn named_date(file_name: &str, ext: &str) -> Option<Date> {
    let b = file_name.as_bytes();
    if b.len() != 10 + ext.len() || &b[10..] != ext.as_bytes() || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u16, |n, c| c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0')))
    };
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    Date::from_calendar_date(i32::from(num(0..4)?), month, u8::try_from(num(8..10)?).ok()?).ok()
}

/// The date of a day file named exactly `YYYY-MM-DD.jsonl` (a real date), or `None`.
pub fn day_file_date(file_name: &str) -> Option<Date> {
    named_date(file_name, ".jsonl")
}

/// The date of a rollup named exactly `YYYY-MM-DD.json` (a real date), or `None`.
pub fn rollup_file_date(file_name: &str) -> Option<Date> {
    named_date(file_name, ".json")
}

/// How many days of each kind of file to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days of day files (`metrics_retention_days`).
    pub day_files: u32,
    /// Days of rollups (`rollup_retention_days`).
    pub rollups: u32,
}

/// What [`clean_up`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// The days rolled up, in the order they were.
    pub rolled_up: Vec<Date>,
    /// Day files deleted, oldest first.
    pub removed_day_files: Vec<PathBuf>,
    /// Rollups deleted, oldest first.
    pub removed_rollups: Vec<PathBuf>,
    /// What was not done, each naming its file.
    pub issues: Vec<RollupIssue>,
}

/// The regular files (not symbolic links, not directories) in `dir` named by `date_of` with a
/// date on or before `cutoff`, oldest first.
fn old_files(
    dir: &Path,
    cutoff: Date,
    date_of: fn(&str) -> Option<Date>,
) -> Result<Vec<(Date, PathBuf)>, MetricsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(MetricsError::Read { path: dir.to_path_buf(), source }),
    };
    let mut old = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MetricsError::Read { path: dir.to_path_buf(), source })?;
        let Some(date) = entry.file_name().to_str().and_then(date_of) else { continue };
        if date <= cutoff && entry.file_type().is_ok_and(|t| t.is_file()) {
            old.push((date, entry.path()));
        }
    }
    old.sort();
    Ok(old)
}

fn remove(path: PathBuf, removed: &mut Vec<PathBuf>) -> Result<(), MetricsError> {
    match std::fs::remove_file(&path) {
        Ok(()) => removed.push(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(MetricsError::Remove { path, source }),
    }
    Ok(())
}

fn days_before(today: Date, days: u32) -> Date {
    today.checked_sub(time::Duration::days(i64::from(days))).unwrap_or(Date::MIN)
}

/// Rolls up the finished days ([`roll_up`]), then deletes, in `dir`, the day files whose date is
/// `keep.day_files` or more days before `today` (so that the `keep.day_files` days ending with
/// today remain, what `--days keep.day_files` reads), and in its `rollups/` the rollups
/// `keep.rollups` or more days before `today`. A day file is deleted only once its rollup is
/// current, or when that rollup would itself be past its retention; when the rollup cannot be
/// made the day file is kept, with an issue. A rollup is deleted only when it is ours (any
/// version) and its day file is gone (while it is there, the rollup would only be made again).
/// Only regular files named exactly `YYYY-MM-DD.jsonl` and `YYYY-MM-DD.json` are touched:
/// not other names, not directories, not symbolic links, not the lock. A missing `dir` has
/// nothing to clean.
pub fn clean_up(dir: &Path, today: Date, keep: &Retention) -> Result<Cleanup, MetricsError> {
    let RolledUp { written, issues } = roll_up(dir, today)?;
    let mut done = Cleanup { rolled_up: written, issues, ..Cleanup::default() };
    let rollup_cutoff = days_before(today, keep.rollups);
    // Once a rollup cannot be written (the disk, the lock), the older days are not tried.
    let mut cannot_write: Option<String> = None;
    for (date, path) in old_files(dir, days_before(today, keep.day_files), day_file_date)? {
        if date > rollup_cutoff {
            let why = match cannot_write.clone().map_or_else(|| Ok(roll_day(dir, date)), Err) {
                Ok(Ok(Rolled::Written)) => {
                    done.rolled_up.push(date);
                    None
                }
                Ok(Ok(Rolled::Current)) => None,
                Ok(Ok(Rolled::Changed)) => Some("it changed while it was read".to_owned()),
                Ok(Err(NotRolled::Day(issue))) => Some(issue.to_string()),
                Ok(Err(NotRolled::Writing(issue))) => {
                    cannot_write = Some(issue.to_string());
                    cannot_write.clone()
                }
                Err(why) => Some(why),
            };
            if let Some(why) = why {
                done.issues.push(RollupIssue::DayFileKept { day_file: path, why });
                continue;
            }
        }
        remove(path, &mut done.removed_day_files)?;
    }
    for (date, path) in old_files(&rollup_dir(dir), rollup_cutoff, rollup_file_date)? {
        if crate::day_file(dir, date).symlink_metadata().is_ok() {
            continue;
        }
        match rollup::identify(&path, date) {
            Ok(()) => remove(path, &mut done.removed_rollups)?,
            Err(why) => done.issues.push(RollupIssue::LeftAlone { rollup: path, why }),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn only_exact_names() {
        assert_eq!(day_file_date("2025-01-15.jsonl"), Some(date!(2025 - 01 - 15)));
        assert_eq!(rollup_file_date("2025-01-15.json"), Some(date!(2025 - 01 - 15)));
        assert_eq!(rollup_file_date("2025-01-15.jsonl"), None);
        assert_eq!(day_file_date("2025-01-15.json"), None);
        for name in [
            "2025-1-15.jsonl",
            "2025-02-30.jsonl",
            "2025-13-01.jsonl",
            "2025-01-15.jsonl.bak",
            "x2025-01-15.jsonl",
            "2025-01-15.JSONL",
            "+025-01-15.jsonl",
            "2025_01_15.jsonl",
        ] {
            assert_eq!(day_file_date(name), None, "{name}");
            assert_eq!(rollup_file_date(&name.replace(".jsonl", ".json")), None, "{name}");
        }
    }
}
