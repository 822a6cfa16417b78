//! Log files: `[YYYY-MM-DD HH:MM:SS] message` lines (UTC), appended whole, and rotation of
//! `logs/*.log` past a size into `name.log.YYYYMMDD.gz`, keeping the newest few.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use ops_state::{AppendOptions, StateError, append_lines};
use time::OffsetDateTime;
use time::macros::format_description;

/// Appends `messages` to `path` as the Python kit's orchestrator writes its log: one
/// `[YYYY-MM-DD HH:MM:SS] message` line each (UTC). Newlines inside a message become ` | `, and
/// other control characters are escaped ([`ops_state::printable`]): a service name or a
/// restart's output cannot forge a line or drive the terminal of whoever reads the log.
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

/// Rotates every `*.log` in `dir` larger than `max_bytes`: it is renamed (new lines then go to
/// a fresh file), compressed to `<name>.log.YYYYMMDD.gz` (`-2`, `-3` ... when rotated twice a
/// day), and only the newest `keep` archives of each log are kept. When compression fails the
/// renamed file is kept as it is: nothing is lost.
pub fn rotate(dir: &Path, max_bytes: u64, keep: usize, now: OffsetDateTime) -> io::Result<Vec<Rotated>> {
    let day = now.format(format_description!("[year][month][day]")).unwrap_or_default();
    let mut rotated = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(rotated),
        Err(e) => return Err(e),
    };
    let mut logs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > max_bytes))
        .collect();
    logs.sort();
    for log in logs {
        let name = log.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let (plain, archive) = free_names(dir, &name, &day);
        fs::rename(&log, &plain)?;
        compress(&plain, &archive)?;
        fs::remove_file(&plain)?;
        File::open(dir)?.sync_all()?;
        let deleted = prune(dir, &name, keep)?;
        rotated.push(Rotated { log, archive, deleted });
    }
    Ok(rotated)
}

/// `name.YYYYMMDD` and its `.gz`, or with `-2`, `-3` ... when those exist.
fn free_names(dir: &Path, name: &str, day: &str) -> (PathBuf, PathBuf) {
    let mut n = 1;
    loop {
        let stem = if n == 1 { format!("{name}.{day}") } else { format!("{name}.{day}-{n}") };
        let (plain, archive) = (dir.join(&stem), dir.join(format!("{stem}.gz")));
        if !plain.exists() && !archive.exists() {
            return (plain, archive);
        }
        n += 1;
    }
}

fn compress(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = to.with_extension("gz.tmp");
    let result = (|| {
        let mut input = BufReader::new(File::open(from)?);
        let mut encoder = GzEncoder::new(BufWriter::new(File::create(&tmp)?), Compression::default());
        io::copy(&mut input, &mut encoder)?;
        let file = encoder.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&tmp, to)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Deletes all but the newest `keep` archives of `name` (their names sort by date).
fn prune(dir: &Path, name: &str, keep: usize) -> io::Result<Vec<PathBuf>> {
    let prefix = format!("{name}.");
    let mut archives: Vec<(String, PathBuf)> = fs::read_dir(dir)?
        .flatten()
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
        fs::remove_file(&path)?;
        deleted.push(path);
    }
    Ok(deleted)
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
            let r = rotate(dir.path(), 1024, 3, day).unwrap();
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
        assert!(!log.exists(), "a fresh log starts with the next line");
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
                "orchestrator.log.20261126-2.gz",
                "orchestrator.log.20261126.gz",
                "orchestrator.log.20261127.gz",
                "recovery.log"
            ]
        );
    }
}
