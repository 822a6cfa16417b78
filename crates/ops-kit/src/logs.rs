//! Log files: `[YYYY-MM-DD HH:MM:SS] message` lines (UTC), appended whole, and rotation of
//! `logs/*.log` past a size into `name.log.YYYYMMDD.gz`, keeping the newest few.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use ops_state::{
    AppendOptions, DEFAULT_LOCK_TIMEOUT, StateError, append_lines, lock_file, open_existing, write_new,
};
use time::OffsetDateTime;
use time::macros::format_description;

/// Appends `messages` to `path` as the Python kit's orchestrator writes its log: one
/// `[YYYY-MM-DD HH:MM:SS] message` line each (UTC). Newlines inside a message become ` | `, and
/// other control characters are escaped ([`ops_state::printable`]): a service name or a
/// restart's output cannot forge a line or drive the terminal of whoever reads the log. A new
/// log is created [`ops_state::DEFAULT_MODE`] (0600 before the umask): it holds alert texts and
/// restart output.
pub fn append(path: &Path, now: OffsetDateTime, messages: &[String]) -> Result<(), StateError> {
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_default();
    let lines: Vec<String> = messages
        .iter()
        .map(|m| format!("[{stamp}] {}", ops_state::printable(&m.trim_end().replace('\n', " | "))))
        .collect();
    append_lines(path, &lines, AppendOptions::default())
}

/// One log that was rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The log file.
    pub log: PathBuf,
    /// Its compressed copy.
    pub archive: PathBuf,
    /// Old archives deleted to keep only the newest.
    pub deleted: Vec<PathBuf>,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The logs rotated.
    pub rotated: Vec<Rotated>,
    /// Logs that were due and not rotated, and why (a symlink, a lock not free, a full disk).
    pub problems: Vec<String>,
}

/// Rotates every `*.log` in `dir` larger than `max_bytes` by copy then truncate, so that a
/// process holding the log open (a daemon whose stdout is its restart log) goes on writing to
/// the file everybody sees, and the size cap holds for what it writes too.
///
/// Under the flock(2) our appenders take on the log, its bytes are compressed to a new
/// `<name>.log.YYYYMMDD.gz` (`-2`, `-3` ... when rotated twice a day; created `O_EXCL`, with the
/// log's mode less the umask), which is fsynced before the log is truncated: our own lines are
/// never lost.
/// A writer that does not lock and is not `O_APPEND` would keep its offset (a sparse file); one
/// that is `O_APPEND` (the restart runner gives commands that) loses only what it writes between
/// the end of the copy and the truncation. Only the newest `keep` archives of each log are kept.
///
/// Only regular files are rotated: a `*.log` symlink is never followed (it is named in
/// `problems` when what it points to is past the size). One log that cannot be rotated does not
/// stop the others.
pub fn rotate(dir: &Path, max_bytes: u64, keep: usize, now: OffsetDateTime) -> Rotation {
    let day = now.format(format_description!("[year][month][day]")).unwrap_or_default();
    let mut done = Rotation::default();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return done,
        Err(e) => {
            done.problems.push(format!("cannot read {}: {e}", dir.display()));
            return done;
        }
    };
    let mut logs: Vec<(PathBuf, fs::FileType)> = entries
        .flatten()
        .filter(|e| Path::new(&e.file_name()).extension().is_some_and(|x| x == "log"))
        .filter_map(|e| Some((e.path(), e.file_type().ok()?)))
        .collect();
    logs.sort_by(|a, b| a.0.cmp(&b.0));
    for (log, kind) in logs {
        let due = fs::metadata(&log).is_ok_and(|m| m.is_file() && m.len() > max_bytes);
        if !due {
            continue;
        }
        if kind.is_symlink() {
            done.problems.push(format!(
                "not rotating {}: it is a symlink (only regular files are rotated; rotate what it points to)",
                log.display()
            ));
            continue;
        }
        match rotate_one(dir, &log, &day, max_bytes) {
            Ok(None) => {}
            Ok(Some(archive)) => {
                let name = log.file_name().unwrap_or_default().to_string_lossy().into_owned();
                let deleted = prune(dir, &name, keep, &mut done.problems);
                done.rotated.push(Rotated { log, archive, deleted });
            }
            Err(e) => done.problems.push(e.to_string()),
        }
    }
    done
}

/// Copies `log` compressed to a new archive and truncates it, under the appenders' lock.
/// `Ok(None)` when it is gone or no longer past the size (someone rotated it meanwhile).
fn rotate_one(dir: &Path, log: &Path, day: &str, max_bytes: u64) -> Result<Option<PathBuf>, StateError> {
    let Some(file) = open_existing(log, true)? else { return Ok(None) };
    let stat = |f: &File| f.metadata().map_err(|e| StateError::io("stat", log, e));
    let mode = stat(&file)?.permissions().mode() & 0o777;
    let name = log.file_name().unwrap_or_default().to_string_lossy().into_owned();
    lock_file(&file, log, DEFAULT_LOCK_TIMEOUT, || {
        if stat(&file)?.len() <= max_bytes {
            return Ok(None);
        }
        remove_stale_temporaries(dir, &name);
        let names = (1..).map(|n| match n {
            1 => dir.join(format!("{name}.{day}.gz")),
            n => dir.join(format!("{name}.{day}-{n}.gz")),
        });
        let archive = write_new(names, mode, |out| {
            let mut encoder = GzEncoder::new(BufWriter::new(out), Compression::default());
            io::copy(&mut &file, &mut encoder)?;
            encoder.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
            Ok(())
        })?;
        file.set_len(0).map_err(|e| StateError::io("truncate", log, e))?;
        Ok(Some(archive))
    })?
}

/// Removes the temporary archives (`.<name>.YYYYMMDD.gz.XXXXXX.tmp`) of a rotation that was
/// killed. Called under the log's lock, which every rotation of it holds. Best effort.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix) && file.ends_with(".tmp") && file.contains(".gz.") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Deletes all but the newest `keep` archives of `name` (their names sort by date); only
/// regular files are archives.
fn prune(dir: &Path, name: &str, keep: usize, problems: &mut Vec<String>) -> Vec<PathBuf> {
    let prefix = format!("{name}.");
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!("cannot read {}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut archives: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let date = file.strip_prefix(&prefix)?.strip_suffix(".gz")?;
            let (day, n) = date.split_once('-').unwrap_or((date, "1"));
            let ok = day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u32>().is_ok();
            ok.then(|| (format!("{day}-{:06}", n.parse::<u32>().unwrap_or(1)), e.path()))
        })
        .collect();
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for (_, path) in archives.into_iter().take(excess) {
        match fs::remove_file(&path) {
            Ok(()) => deleted.push(path),
            Err(e) => problems.push(format!("cannot delete {}: {e}", path.display())),
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use time::macros::datetime;

    #[test]
    fn lines_in_the_seed_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orchestrator.log");
        append(
            &path,
            datetime!(2026-11-28 05:04:13.5 UTC),
            &["=== Orchestrator run starting ===".into(), "a\nb".into()],
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[2026-11-28 05:04:13] === Orchestrator run starting ===\n[2026-11-28 05:04:13] a | b\n"
        );
    }

    #[test]
    fn rotation_compresses_keeps_the_newest_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("orchestrator.log");
        let small = dir.path().join("recovery.log");
        fs::write(&small, "small\n").unwrap();
        let content = "[2026-11-28 05:04:13] a line of the log\n".repeat(2000);
        let mut archives = Vec::new();
        for (i, day) in [
            datetime!(2026-11-25 01:00 UTC),
            datetime!(2026-11-26 01:00 UTC),
            datetime!(2026-11-26 02:00 UTC),
            datetime!(2026-11-27 01:00 UTC),
        ]
        .into_iter()
        .enumerate()
        {
            fs::write(&log, format!("{i}\n{content}")).unwrap();
            let Rotation { rotated: r, problems } = rotate(dir.path(), 1024, 3, day);
            assert_eq!(problems, Vec::<String>::new());
            assert_eq!(r.len(), 1, "only the big log");
            archives.push(r[0].archive.clone());
            if i == 3 {
                assert_eq!(r[0].deleted, [archives[0].clone()], "the oldest goes");
            }
        }
        let names: Vec<_> =
            archives.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "orchestrator.log.20261125.gz",
                "orchestrator.log.20261126.gz",
                "orchestrator.log.20261126-2.gz",
                "orchestrator.log.20261127.gz"
            ]
        );
        assert_eq!(fs::read(&log).unwrap(), b"", "the same file goes on, empty");
        assert_eq!(fs::read_to_string(&small).unwrap(), "small\n");
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&archives[3]).unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, format!("3\n{content}"), "a valid gzip with every line");
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "orchestrator.log",
                "orchestrator.log.20261126-2.gz",
                "orchestrator.log.20261126.gz",
                "orchestrator.log.20261127.gz",
                "recovery.log"
            ]
        );
    }
}
