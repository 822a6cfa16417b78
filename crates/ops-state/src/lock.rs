//! flock(2) on a separate lock file, with a timeout.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::StateError;

/// Runs `f` while holding an exclusive flock(2) on `lock_path` (created, with its directory,
/// when missing; never renamed or deleted, so every process locks the same inode). An
/// existing lock file that cannot be opened for writing (a read-only filesystem) is opened
/// for reading: flock does not need more.
///
/// flock is per open file description: two calls in one process exclude each other just as
/// two processes do, and the seed's `fcntl.flock` on the same file takes part too. Waits up to
/// `timeout`, then fails with [`StateError::LockTimeout`].
pub fn with_lock<R>(lock_path: &Path, timeout: Duration, f: impl FnOnce() -> R) -> Result<R, StateError> {
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| StateError::io("create directory", dir, e))?;
    }
    let file = match OpenOptions::new().create(true).truncate(false).write(true).mode(0o644).open(lock_path) {
        Ok(file) => file,
        // flock(2) needs no write access: a lock file that exists on a read-only filesystem
        // (or one we may not write) still locks, so that whoever only reads, or can go on
        // without writing, is not stopped by it.
        Err(e) if matches!(e.kind(), io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied) => {
            fs::File::open(lock_path).map_err(|_| StateError::io("open lock file", lock_path, e))?
        }
        Err(e) => return Err(StateError::io("open lock file", lock_path, e)),
    };
    let mut lock = fd_lock::RwLock::new(file);
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let _guard = loop {
        match lock.try_write() {
            Ok(guard) => break guard,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if start.elapsed() >= timeout {
                    return Err(StateError::LockTimeout { path: lock_path.to_path_buf(), waited: timeout });
                }
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(StateError::io("lock", lock_path, e)),
        }
    };
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

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
