//! Retention: deleting day files older than the number of days to keep.

use std::io;
use std::path::{Path, PathBuf};

use time::{Date, Month};

use crate::MetricsError;

/// The date of a day file named exactly `YYYY-MM-DD.jsonl` (a real date), or `None`.
pub fn day_file_date(file_name: &str) -> Option<Date> {
    let b = file_name.as_bytes();
    if b.len() != 16 || &b[10..] != b".jsonl" || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u16, |n, c| c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0')))
    };
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    Date::from_calendar_date(i32::from(num(0..4)?), month, u8::try_from(num(8..10)?).ok()?).ok()
}

/// Deletes the regular files in `dir` named exactly like a day file (`YYYY-MM-DD.jsonl`) whose
/// date is `keep_days` or more days before `today`, so that the `keep_days` days ending with
/// today remain (what `--days keep_days` reads). Nothing else is touched: not other names, not
/// directories, not symbolic links. Returns the deleted paths, oldest first. A missing `dir`
/// has nothing to delete.
pub fn remove_old_day_files(dir: &Path, today: Date, keep_days: u32) -> Result<Vec<PathBuf>, MetricsError> {
    let cutoff = today - time::Duration::days(i64::from(keep_days));
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(MetricsError::Read { path: dir.to_path_buf(), source }),
    };
    let mut old = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MetricsError::Read { path: dir.to_path_buf(), source })?;
        let Some(date) = entry.file_name().to_str().and_then(day_file_date) else { continue };
        if date <= cutoff && entry.file_type().is_ok_and(|t| t.is_file()) {
            old.push((date, entry.path()));
        }
    }
    old.sort();
    let mut removed = Vec::with_capacity(old.len());
    for (_, path) in old {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(MetricsError::Remove { path, source }),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn only_exact_day_file_names() {
        assert_eq!(day_file_date("2025-01-15.jsonl"), Some(date!(2025 - 01 - 15)));
        for name in [
            "2025-1-15.jsonl",
            "2025-02-30.jsonl",
            "2025-13-01.jsonl",
            "2025-01-15.jsonl.bak",
            "x2025-01-15.jsonl",
            "2025-01-15.json",
            "2025-01-15.JSONL",
            "+025-01-15.jsonl",
            "2025_01_15.jsonl",
        ] {
            assert_eq!(day_file_date(name), None, "{name}");
        }
    }
}
