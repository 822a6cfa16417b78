//! How every file we write is opened: never through a symlink, only a regular file, a new
//! file created with its mode given to open(2) (so the umask applies), and the check that no
//! other user can change a directory we write in (ssh's StrictModes).
//!
//! Every file agent-ops writes is a single name directly in its directory, so `O_NOFOLLOW` on
//! that name is all `openat2`'s `RESOLVE_NO_SYMLINKS`/`RESOLVE_BENEATH` would add, and the
//! directory's own path may hold symlinks the user chose (metrics on another disk): what keeps
//! a directory from being swapped is [`check_permissions`], not the open.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::OFlags;

use crate::StateError;

/// The mode of directories we create (before the umask): nobody else may add or swap names.
pub(crate) const DIR_MODE: u32 = 0o755;

/// Opens `path` with `options`, never through a symlink (`O_NOFOLLOW`) and never blocking on a
/// FIFO someone put there (`O_NONBLOCK`, cleared once the file is known to be regular), and
/// refuses anything but a regular file; one opened to `write` must have no other hard link
/// (a link to a file elsewhere is a way out of the directory as much as a symlink is).
/// `action` names what failed in an I/O error.
pub(crate) fn open(
    path: &Path,
    options: &mut OpenOptions,
    write: bool,
    action: &'static str,
) -> Result<File, StateError> {
    let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK).bits().cast_signed();
    let file = options.custom_flags(flags).open(path).map_err(|e| refusal(path, e, action))?;
    let meta = file.metadata().map_err(|e| StateError::io("stat", path, e))?;
    if !meta.is_file() {
        return Err(StateError::NotRegular { path: path.to_path_buf(), kind: kind(&meta) });
    }
    if write && meta.nlink() > 1 {
        return Err(StateError::HardLinked { path: path.to_path_buf(), links: meta.nlink() });
    }
    let blocking = rustix::fs::fcntl_getfl(&file)
        .and_then(|flags| rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK));
    blocking.map_err(|e| StateError::io(action, path, e.into()))?;
    Ok(file)
}

/// The error for an open that failed: a symlink or a file that is not regular is said so
/// (`O_NOFOLLOW` gives ELOOP, a FIFO without reader ENXIO, a directory EISDIR).
fn refusal(path: &Path, e: io::Error, action: &'static str) -> StateError {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => StateError::Symlink { path: path.to_path_buf() },
        Ok(m) if !m.is_file() => StateError::NotRegular { path: path.to_path_buf(), kind: kind(&m) },
        _ => StateError::io(action, path, e),
    }
}

fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "named pipe"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else if t.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}

/// Opens `path` for appending (and reading), created with `mode` (the umask applies) when
/// missing, with its directory: the way every log, day file and JSONL file is opened. A
/// symlink, anything but a regular file, or a file with another hard link is refused, naming
/// the path.
pub fn open_append(path: &Path, mode: u32) -> Result<File, StateError> {
    create_dir(crate::atomic::parent(path))?;
    open(path, OpenOptions::new().read(true).append(true).create(true).mode(mode), true, "open")
}

/// Opens an existing regular file for reading (`write`: and writing, when it has no other hard
/// link), never through a symlink; `Ok(None)` when it does not exist.
pub fn open_existing(path: &Path, write: bool) -> Result<Option<File>, StateError> {
    match open(path, OpenOptions::new().read(true).write(write), write, "open") {
        Ok(file) => Ok(Some(file)),
        Err(StateError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates a new file for writing, `O_EXCL` (nothing at `path` is followed or reused), with
/// `mode` given to open(2) so the umask applies.
pub(crate) fn create_new(path: &Path, mode: u32) -> Result<File, StateError> {
    open(path, OpenOptions::new().write(true).create_new(true).mode(mode), true, "create")
}

/// Creates `dir` and its missing parents, each `0755` before the umask (never group- or
/// world-writable, so that [`check_permissions`] accepts what we made ourselves).
pub fn create_dir(dir: &Path) -> Result<(), StateError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| StateError::io("create directory", dir, e))
}

/// Runs `f` while holding an exclusive flock(2) on `file` (whose name is `path`, for errors),
/// waiting up to `timeout` ([`StateError::LockTimeout`]). The lock our appenders take on the
/// file they append to, and that log rotation takes before it truncates.
pub fn lock_file<R>(
    file: &File,
    path: &Path,
    timeout: Duration,
    f: impl FnOnce() -> R,
) -> Result<R, StateError> {
    let mut lock = fd_lock::RwLock::new(file);
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let _guard = loop {
        match lock.try_write() {
            Ok(guard) => break guard,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if start.elapsed() >= timeout {
                    return Err(StateError::LockTimeout { path: path.to_path_buf(), waited: timeout });
                }
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(StateError::io("lock", path, e)),
        }
    };
    Ok(f())
}

/// Refuses `path` (a directory we write in, or a file we trust) when a user other than us could
/// change it, as ssh's StrictModes does: it, or a directory above it, is owned by someone other
/// than us or root, or is group- or world-writable (a directory with the sticky bit, like
/// `/tmp`, is fine: others cannot rename or delete what is ours there). Both the path as given
/// and the path its symlinks lead to are walked up to `/`, so a directory the user made a
/// symlink (metrics on another disk) is judged where it really is. Parts that do not exist yet
/// are skipped (they will be created by us, `0755` before the umask).
pub fn check_permissions(path: &Path) -> Result<(), StateError> {
    let me = rustix::process::geteuid().as_raw();
    let given = std::path::absolute(path).map_err(|e| StateError::io("resolve", path, e))?;
    let mut existing = None;
    for dir in given.ancestors() {
        // What cannot be looked at cannot be judged here; using it will fail and say why.
        let Ok(meta) = fs::metadata(dir) else { continue };
        check_one(dir, &meta, me)?;
        existing.get_or_insert(dir);
    }
    let Some(real) = existing.and_then(|dir| fs::canonicalize(dir).ok()) else { return Ok(()) };
    for dir in real.ancestors() {
        if let Ok(meta) = fs::metadata(dir) {
            check_one(dir, &meta, me)?;
        }
    }
    Ok(())
}

fn check_one(path: &Path, meta: &Metadata, me: u32) -> Result<(), StateError> {
    let insecure = |problem: String| StateError::Insecure { path: path.to_path_buf(), problem };
    let owner = meta.uid();
    if owner != me && owner != 0 {
        return Err(insecure(format!("is owned by uid {owner}, not by this user (uid {me}) or root")));
    }
    let mode = meta.mode();
    let sticky = meta.is_dir() && mode & 0o1000 != 0;
    let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        _ if sticky => return Ok(()),
        (true, true) => "group- and world-writable",
        (true, false) => "group-writable",
        (false, true) => "world-writable",
        (false, false) => return Ok(()),
    };
    let sticky_note = if meta.is_dir() { " without the sticky bit" } else { "" };
    Err(insecure(format!("is {who}{sticky_note} (mode {:04o})", mode & 0o7777)))
}

/// Writes a new file under the first name of `names` that is free, never replacing or following
/// anything already there: the bytes go to a temporary file beside it (a random name created
/// `O_EXCL`, `mode` given to open(2) so the umask applies), are fsynced, and the file is given
/// its name without clobbering (renameat2 `RENAME_NOREPLACE`, or a hard link). A name that is
/// taken meanwhile moves on to the next. Returns the name used.
///
/// The temporary file is `.<first name>.XXXXXX.tmp`; one left by a writer that was killed is
/// the caller's to sweep.
pub fn write_new(
    mut names: impl Iterator<Item = PathBuf>,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<PathBuf, StateError> {
    use std::os::unix::fs::PermissionsExt;
    let Some(mut name) = names.next() else {
        return Err(StateError::io("create", Path::new(""), io::ErrorKind::InvalidInput.into()));
    };
    let dir = crate::atomic::parent(&name).to_path_buf();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.file_name().unwrap_or_default().to_string_lossy()))
        .rand_bytes(crate::atomic::TEMP_RANDOM_CHARS)
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .map_err(|e| {
            StateError::io("create a temporary file for", &name, crate::atomic::without_temp_path(e))
        })?;
    let file = tmp.as_file_mut();
    write(file).and_then(|()| file.sync_all()).map_err(|e| StateError::io("write", &name, e))?;
    loop {
        match tmp.persist_noclobber(&name) {
            Ok(_) => break,
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                tmp = e.file;
                name = names.next().ok_or_else(|| StateError::io("create", &name, e.error))?;
            }
            Err(e) => return Err(StateError::io("create", &name, e.error)),
        }
    }
    crate::atomic::sync_dir(&name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_symlink_a_fifo_and_a_directory_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "secret\n").unwrap();
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let dangling = dir.path().join("dangling.log");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let fifo = dir.path().join("fifo.log");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        let subdir = dir.path().join("dir.log");
        fs::create_dir(&subdir).unwrap();

        for path in [&link, &dangling] {
            let e = open_append(path, 0o600).unwrap_err();
            assert!(matches!(e, StateError::Symlink { .. }), "{e}");
            assert_eq!(e.to_string(), format!("refusing to follow the symlink {}", path.display()));
            let e = open_existing(path, true).unwrap_err();
            assert!(matches!(e, StateError::Symlink { .. }), "{e}");
        }
        // A FIFO without a reader would block a plain open(2) for writing forever.
        for (path, what) in [(&fifo, "named pipe"), (&subdir, "directory")] {
            let e = open_append(path, 0o600).unwrap_err();
            assert!(e.to_string().contains(what) && e.to_string().contains(&*path.to_string_lossy()), "{e}");
            assert!(open_existing(path, false).is_err());
        }
        assert_eq!(fs::read_to_string(&outside).unwrap(), "secret\n");
        assert!(!dir.path().join("nowhere").exists(), "the dangling link created nothing");
        assert!(open_existing(&dir.path().join("missing"), true).unwrap().is_none());
    }

    #[test]
    fn a_file_hard_linked_from_outside_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "secret\n").unwrap();
        let inside = dir.path().join("logs/x.log");
        fs::create_dir(dir.path().join("logs")).unwrap();
        fs::hard_link(&outside, &inside).unwrap();
        let e = open_append(&inside, 0o600).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "refusing to write {}: it has 2 hard links, so it is also a file elsewhere",
                inside.display()
            )
        );
        assert!(open_existing(&inside, true).is_err());
        assert!(open_existing(&inside, false).unwrap().is_some(), "reading it is harmless");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "secret\n");
    }

    #[test]
    fn new_files_get_their_mode_through_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/x.log");
        open_append(&path, 0o600).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()) & 0o022, 0, "directories we make are not group-writable");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        open_append(&path, 0o600).unwrap();
        assert_eq!(mode(&path), 0o640, "an existing file keeps its mode");
    }

    #[test]
    fn write_new_never_replaces_and_skips_taken_names() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "keep\n").unwrap();
        let first = dir.path().join("x.gz");
        std::os::unix::fs::symlink(&outside, &first).unwrap();
        let names = (1..).map(|n| dir.path().join(if n == 1 { "x.gz".into() } else { format!("x-{n}.gz") }));
        let used = write_new(names, 0o640, |f| io::Write::write_all(f, b"new\n")).unwrap();
        assert_eq!(used, dir.path().join("x-2.gz"));
        assert_eq!(fs::read_to_string(&used).unwrap(), "new\n");
        assert_eq!(mode(&used), 0o640 & !0o022 & 0o640);
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep\n");
        assert!(fs::symlink_metadata(&first).unwrap().file_type().is_symlink(), "the link is left alone");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
    }

    #[test]
    fn directories_others_can_write_are_refused_and_sticky_ones_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        check_permissions(&state).unwrap();
        check_permissions(&state.join("not/yet")).unwrap();
        for (bits, says) in [
            (0o775, "group-writable without the sticky bit (mode 0775)"),
            (0o757, "world-writable without the sticky bit (mode 0757)"),
            (0o777, "group- and world-writable without the sticky bit (mode 0777)"),
        ] {
            fs::set_permissions(&state, fs::Permissions::from_mode(bits)).unwrap();
            let e = check_permissions(&state.join("sub")).unwrap_err();
            assert_eq!(e.to_string(), format!("{} is {says}", state.display()));
        }
        fs::set_permissions(&state, fs::Permissions::from_mode(0o1777)).unwrap();
        check_permissions(&state).unwrap();
        // An ancestor counts as much as the directory itself.
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o770)).unwrap();
        let e = check_permissions(&state).unwrap_err();
        assert!(e.to_string().starts_with(&format!("{} is group-writable", dir.path().display())), "{e}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        // A file others may write (a configuration) is refused too; no sticky excuse for files.
        let file = state.join("services.json");
        fs::write(&file, "{}").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o1666)).unwrap();
        let e = check_permissions(&file).unwrap_err();
        assert!(e.to_string().ends_with("is group- and world-writable (mode 1666)"), "{e}");
    }

    #[test]
    fn a_symlinked_directory_is_judged_where_it_leads() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk");
        let metrics = disk.join("metrics");
        fs::create_dir_all(&metrics).unwrap();
        let base = dir.path().join("base");
        fs::create_dir(&base).unwrap();
        let link = base.join("metrics");
        std::os::unix::fs::symlink(&metrics, &link).unwrap();
        check_permissions(&link).unwrap();
        open_append(&link.join("2025-01-15.jsonl"), 0o644).unwrap();
        fs::set_permissions(&disk, fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_permissions(&link).unwrap_err();
        assert!(e.to_string().starts_with(&disk.display().to_string()), "{e}");
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        if !rustix::process::geteuid().is_root() {
            // Only root can give a directory away; the check itself is the same comparison.
            test_support::missing("root (to give a directory to another user)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        std::os::unix::fs::chown(&state, Some(65534), None).unwrap();
        let e = check_permissions(&state).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is owned by uid 65534, not by this user (uid 0) or root", state.display())
        );
    }
}
