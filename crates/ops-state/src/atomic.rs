//! Whole-file replacement: temp file in the same directory, fsync, rename, fsync the directory.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::StateError;

/// How many random characters the temporary files of [`write_atomic`] have in their names
/// (`.<name>.XXXXXX.tmp`), so that stale ones can be recognised.
pub(crate) const TEMP_RANDOM_CHARS: usize = 6;

/// Replaces `path` with `bytes` so that any reader sees either the old or the new content,
/// never a mix, and the new content survives a power cut once this returns.
///
/// The file gets exactly `mode` (temporary files are created 0600). The parent directory is
/// created when missing.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let dir = parent(path);
    fs::create_dir_all(dir).map_err(|e| StateError::io("create directory", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", path.file_name().unwrap_or_default().to_string_lossy()))
        .rand_bytes(TEMP_RANDOM_CHARS)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| StateError::io("create a temporary file to replace", path, without_temp_path(e)))?;
    let write = |f: &mut File| -> io::Result<()> {
        f.write_all(bytes)?;
        f.set_permissions(Permissions::from_mode(mode))?;
        f.sync_all()
    };
    // Errors name the file being replaced: the temporary file is ours, not the user's.
    write(tmp.as_file_mut()).map_err(|e| StateError::io("write", path, e))?;
    tmp.persist(path).map_err(|e| StateError::io("rename into", path, e.error))?;
    sync_dir(path)
}

/// tempfile's error names the temporary file (`<os error> at path "/dir/.x.json.AbCdEf.tmp"`);
/// the caller names the file being replaced instead, so keep the operating system's words.
fn without_temp_path(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.rfind(" at path \"") {
        Some(end) => io::Error::new(e.kind(), text[..end].to_owned()),
        None => e,
    }
}

/// Stages the current version of `path` as the next backup without copying: a hard link under
/// a temporary name beside `backup` (a copy where hard links are not supported). The caller
/// replaces `path`, then [`promote_backup`]s the staged file, so `backup` and `path` are never
/// the same file, not even after a crash in between (the seed's `shutil.copy2` refuses to copy
/// a file onto itself).
pub(crate) fn stage_backup(path: &Path, backup: &Path) -> Result<PathBuf, StateError> {
    let tmp = backup.with_file_name(format!(
        ".{}.{}.tmp",
        backup.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(path, &tmp).is_err() {
        fs::copy(path, &tmp).map_err(|e| StateError::io("back up", path, e))?;
    }
    Ok(tmp)
}

/// Renames a staged backup over `backup`. Best effort: the new version is already in place,
/// and a staged file left behind is swept by the next write.
pub(crate) fn promote_backup(staged: &Path, backup: &Path) {
    let _ = fs::rename(staged, backup);
}

/// fsyncs the directory holding `path`, so that a rename in it is durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StateError> {
    let dir = parent(path);
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StateError::io("sync directory", dir, e))
}

pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_missing_directories_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.prom");
        write_atomic(&path, b"x 1\n", 0o644).unwrap();
        write_atomic(&path, b"x 2\n", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x 2\n");
        let names: Vec<_> =
            fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["out.prom"]);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn a_temporary_file_that_cannot_be_created_is_reported_for_the_file_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let e = tempfile::Builder::new().tempfile_in(&missing).unwrap_err();
        assert!(e.to_string().contains(" at path "), "{e}");
        let clean = without_temp_path(e);
        assert_eq!(clean.to_string(), "No such file or directory (os error 2)");
        assert_eq!(clean.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let err = write_atomic(&blocker.join("x.json"), b"{}", 0o644).unwrap_err();
        assert!(err.to_string().contains("file"), "{err}");
    }
}
