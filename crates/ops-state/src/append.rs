//! Line-atomic appends for JSONL files and logs.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::file::{lock_file, open_append};
use crate::{DEFAULT_LOCK_TIMEOUT, StateError};

/// How [`append_lines`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOptions {
    /// fsync after the write (for files where a line must survive a power cut, like an outbox).
    pub sync: bool,
    /// The mode a new file is created with (the umask applies; an existing file keeps its
    /// mode).
    pub mode: u32,
}

impl Default for AppendOptions {
    /// No fsync, [`crate::DEFAULT_MODE`].
    fn default() -> Self {
        Self { sync: false, mode: crate::DEFAULT_MODE }
    }
}

/// Appends `lines` (each one line, without its newline) to `path` in a single `write(2)`
/// of an `O_APPEND` file, so concurrent writers never interleave within a line.
///
/// If the file ends in a torn line (a crash mid-write by someone else), a newline is written
/// first so the torn line stays one bad line instead of corrupting the first new one. When the
/// write fails part way (a full disk), what it wrote is cut off again, so the file keeps its
/// whole lines. The file and its directory are created when missing. A line containing a
/// newline is refused, and so is a symlink or anything but a regular file at `path`
/// ([`StateError::Symlink`], [`StateError::NotRegular`]): nothing is appended elsewhere.
///
/// The line check and the write happen under an flock(2) on the file itself, the lock
/// that log rotation takes before it truncates (waited for up to
/// [`crate::DEFAULT_LOCK_TIMEOUT`]).
pub fn append_lines<S: AsRef<str>>(
    path: &Path,
    lines: &[S],
    options: AppendOptions,
) -> Result<(), StateError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut buf = String::with_capacity(lines.iter().map(|l| l.as_ref().len() + 1).sum::<usize>() + 1);
    for line in lines {
        let line = line.as_ref();
        if line.contains('\n') {
            return Err(StateError::io(
                "append to",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "a line must not contain a newline"),
            ));
        }
        buf.push_str(line);
        buf.push('\n');
    }
    let file = open_append(path, options.mode)?;
    // Our appenders serialize the torn-line check and the write; writers that do not lock
    // (the Python kit) still never split a line, thanks to O_APPEND and a single write.
    lock_file(&file, path, DEFAULT_LOCK_TIMEOUT, || append_locked(&file, path, buf, options))?
}

fn append_locked(
    mut file: &std::fs::File,
    path: &Path,
    mut buf: String,
    options: AppendOptions,
) -> Result<(), StateError> {
    let len = file.metadata().map_err(|e| StateError::io("stat", path, e))?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1).map_err(|e| StateError::io("read", path, e))?;
        if last[0] != b'\n' {
            buf.insert(0, '\n');
        }
    }
    if let Err((e, written)) = write_whole(&mut file, buf.as_bytes()) {
        // A full disk can take part of the lines: cut them off again (unless a writer that
        // does not lock, the Python kit, appended behind them meanwhile), so that the file still
        // ends in a whole line.
        if written > 0 && file.metadata().is_ok_and(|m| m.len() == len + written as u64) {
            let _ = file.set_len(len);
        }
        return Err(StateError::io("append to", path, e));
    }
    if options.sync {
        file.sync_data().map_err(|e| StateError::io("sync", path, e))?;
    }
    Ok(())
}

/// `write_all`, telling how many bytes were written when it fails.
fn write_whole(out: &mut impl Write, mut bytes: &[u8]) -> Result<(), (std::io::Error, usize)> {
    let mut written = 0;
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err((std::io::ErrorKind::WriteZero.into(), written)),
            Ok(n) => {
                written += n;
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, written)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn appends_whole_lines_and_repairs_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m/2025-01-15.jsonl");
        append_lines(&path, &["{\"a\":1}"], AppendOptions::default()).unwrap();
        fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"torn\":").unwrap();
        append_lines(&path, &["{\"b\":2}", "{\"c\":3}"], AppendOptions { sync: true, ..Default::default() })
            .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"torn\":\n{\"b\":2}\n{\"c\":3}\n");
    }

    #[test]
    fn refuses_embedded_newlines_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        assert!(append_lines(&path, &["ok", "bad\nline"], AppendOptions::default()).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn concurrent_appenders_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = &path;
                s.spawn(move || {
                    let line = format!("{t}").repeat(5000);
                    for _ in 0..50 {
                        append_lines(path, &[&line], AppendOptions::default()).unwrap();
                    }
                });
            }
        });
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 400);
        for line in lines {
            assert_eq!(line.len(), 5000);
            assert!(line.bytes().all(|b| b == line.as_bytes()[0]), "interleaved line");
        }
    }
}
