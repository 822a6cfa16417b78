//! Whole-file replacement: temp file in the same directory, fsync, rename, fsync the directory.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::StateError;
use crate::file::{create_dir, create_new, open_existing};

/// How many random characters the temporary files of [`write_atomic`] have in their names
/// (`.<name>.XXXXXX.tmp`), so that stale ones can be recognised.
pub(crate) const TEMP_RANDOM_CHARS: usize = 6;

/// Replaces `path` with `bytes` so that any reader sees either the old or the new content,
/// never a mix, and the new content survives a power cut once this returns.
///
/// A new file gets `mode` through open(2), so the umask applies; a file that is replaced keeps
/// the narrower of its own mode and `mode` (a mode the user narrowed stays, one we would widen
/// is not). A symlink (or anything but a regular file) at `path` is refused, never followed or
/// replaced. The bytes go to a temporary file created `O_EXCL` beside `path`, so a name planted
/// there is never followed either. The parent directory is created when missing.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let dir = parent(path);
    create_dir(dir)?;
    let kept = existing_mode(path)?.map(|old| old & mode);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", path.file_name().unwrap_or_default().to_string_lossy()))
        .rand_bytes(TEMP_RANDOM_CHARS)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(kept.unwrap_or(mode)))
        .tempfile_in(dir)
        .map_err(|e| StateError::io("create a temporary file to replace", path, without_temp_path(e)))?;
    let write = |f: &mut File| -> io::Result<()> {
        f.write_all(bytes)?;
        if let Some(kept) = kept {
            // The umask narrowed the temporary file; a replaced file keeps its own mode.
            f.set_permissions(Permissions::from_mode(kept))?;
        }
        f.sync_all()
    };
    // Errors name the file being replaced: the temporary file is ours, not the user's.
    write(tmp.as_file_mut()).map_err(|e| StateError::io("write", path, e))?;
    tmp.persist(path).map_err(|e| StateError::io("rename into", path, e.error))?;
    sync_dir(path)
}

/// The permission bits of the regular file at `path`, `None` when there is none; a symlink
/// or another kind of file is refused (by the same no-follow open as every write).
pub(crate) fn existing_mode(path: &Path) -> Result<Option<u32>, StateError> {
    let Some(file) = open_existing(path, false)? else { return Ok(None) };
    let meta = file.metadata().map_err(|e| StateError::io("stat", path, e))?;
    Ok(Some(meta.permissions().mode() & 0o777))
}

/// tempfile's error names the temporary file (`<os error> at path "/dir/.x.json.AbCdEf.tmp"`);
/// the caller names the file being replaced instead, so keep the operating system's words.
pub(crate) fn without_temp_path(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.rfind(" at path \"") {
        Some(end) => io::Error::new(e.kind(), text[..end].to_owned()),
        None => e,
    }
}

/// Stages the current version of `path` (whose bytes are `old`) as the next backup without
/// copying: a hard link under a temporary name beside `backup` (where hard links are not
/// supported, a new file created `O_EXCL` holding `old`). The staged backup gets the narrower
/// of its mode and `mode`, as the new version does. The caller replaces `path`, then
/// [`promote_backup`]s the staged file, so `backup` and `path` are never the same file, not
/// even after a crash in between (the Python kit's `shutil.copy2` refuses to copy a file onto
/// itself).
pub(crate) fn stage_backup(path: &Path, backup: &Path, old: &[u8], mode: u32) -> Result<PathBuf, StateError> {
    let tmp = backup.with_file_name(format!(
        ".{}.{}.tmp",
        backup.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    // A leftover of ours, or whatever was planted there: the name goes, nothing is followed.
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(path, &tmp).is_err() {
        // Errors name the file backed up, not our temporary name.
        let mut copy = create_new(&tmp, mode).map_err(|e| match e {
            StateError::Io { source, .. } => StateError::io("back up", path, source),
            other => other,
        })?;
        if let Err(e) = copy.write_all(old) {
            let _ = fs::remove_file(&tmp);
            return Err(StateError::io("back up", path, e));
        }
        return Ok(tmp);
    }
    // linkat(2) links the name itself, never what a symlink points to: check what we linked.
    let staged = open_existing(&tmp, false).and_then(|f| {
        let f = f.ok_or_else(|| StateError::io("back up", path, io::ErrorKind::NotFound.into()))?;
        let old_mode =
            f.metadata().map_err(|e| StateError::io("stat", &tmp, e))?.permissions().mode() & 0o777;
        if old_mode & !mode != 0 {
            f.set_permissions(Permissions::from_mode(old_mode & mode))
                .map_err(|e| StateError::io("back up", path, e))?;
        }
        Ok(())
    });
    if let Err(e) = staged {
        let _ = fs::remove_file(&tmp);
        return Err(e);
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
