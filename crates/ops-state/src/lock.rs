//! flock(2) on a separate lock file, with a timeout.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::file::{create_dir, lock_file, open};
use crate::{DEFAULT_MODE, StateError};

/// Runs `f` while holding an exclusive flock(2) on `lock_path` (created `0600`, with its
/// directory, when missing; never renamed or deleted, so every process locks the same inode).
/// A symlink is refused, never followed (a planted `board.lock` link creates nothing
/// elsewhere). An existing lock file that cannot be opened for writing (a read-only
/// filesystem) is opened for reading: flock does not need more.
///
/// flock is per open file description: two calls in one process exclude each other just as
/// two processes do, and the Python kit's `fcntl.flock` on the same file takes part too. Waits up to
/// `timeout`, then fails with [`StateError::LockTimeout`].
pub fn with_lock<R>(lock_path: &Path, timeout: Duration, f: impl FnOnce() -> R) -> Result<R, StateError> {
    create_dir(crate::atomic::parent(lock_path))?;
    let action = "open lock file";
    let file =
        match open(lock_path, OpenOptions::new().create(true).write(true).mode(DEFAULT_MODE), true, action) {
            Ok(file) => file,
            // flock(2) needs no write access: a lock file that exists on a read-only filesystem
            // (or one we may not write) still locks, so that whoever only reads, or can go on
            // without writing, is not stopped by it.
            Err(StateError::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
                ) =>
            {
                open(lock_path, OpenOptions::new().read(true), false, action).map_err(|e| match e {
                    StateError::Io { .. } => StateError::io(action, lock_path, source),
                    other => other,
                })?
            }
            Err(e) => return Err(e),
        };
    lock_file(&file, lock_path, timeout, f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::thread;

    #[test]
    fn second_holder_in_the_same_process_times_out_with_the_lock_path() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("board.lock");
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let lock = lock.clone();
            thread::spawn(move || {
                with_lock(&lock, Duration::from_secs(5), || {
                    held_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
                .unwrap();
            })
        };
        held_rx.recv().unwrap();
        let err = with_lock(&lock, Duration::from_millis(50), || ()).unwrap_err();
        assert!(matches!(err, StateError::LockTimeout { .. }));
        assert!(err.to_string().contains("board.lock"), "{err}");
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        with_lock(&lock, Duration::from_millis(50), || ()).unwrap();
    }

    #[test]
    fn holders_never_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        let inside = AtomicBool::new(false);
        thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        with_lock(&lock, Duration::from_secs(30), || {
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                            thread::yield_now();
                            inside.store(false, Ordering::SeqCst);
                        })
                        .unwrap();
                    }
                });
            }
        });
    }
}
