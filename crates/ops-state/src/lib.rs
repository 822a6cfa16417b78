//! ops-state owns how agent-ops puts bytes on disk: JSON state files replaced atomically
//! under a lock, JSONL files appended one whole line at a time, every file opened without
//! following a symlink and created with a chosen mode, and the check that no other user can
//! change a directory we write in.
//!
//! It never decides *what* a file means, where it lives, or what to do when one is corrupt:
//! callers pass paths and get typed errors back. It never prints and never reads the
//! environment.
//!
//! Every JSON state change is one read-modify-write under an flock(2) on a separate lock file
//! (so the Python kit's `fcntl.flock` excludes us and we exclude it), written to a temporary
//! file in the same directory, fsynced, renamed over the old file and followed by an fsync of
//! the directory. The previous version is kept as `<file>.bak`. A file that does not parse is
//! never overwritten: [`StateFile::update`] refuses with [`StateError::Corrupt`] until the
//! caller chooses [`StateFile::set_aside_corrupt`].
//!
//! Nothing here follows a symlink at the name it writes, appends, locks or reads
//! ([`StateError::Symlink`]), or opens anything but a regular file; every file it creates is
//! created `O_EXCL` or with its mode given to open(2), so the umask applies, and a file it
//! replaces is never made more open than it was. [`check_permissions`] refuses a directory
//! another user could change.
//!
//! ```
//! use std::collections::BTreeMap;
//! use ops_state::StateFile;
//!
//! let dir = tempfile::tempdir()?;
//! let rate = StateFile::new(dir.path().join("alert-rate.json"));
//! rate.update(|state: &mut BTreeMap<String, f64>| {
//!     state.insert("health-check".into(), 1_700_000_000.5);
//!     Ok::<_, ops_state::StateError>(())
//! })?;
//! let read: Option<BTreeMap<String, f64>> = rate.read()?;
//! assert_eq!(read.unwrap()["health-check"], 1_700_000_000.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod append;
mod atomic;
mod file;
mod lock;
mod secret;
mod text;
pub mod timestamp;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use append::{AppendOptions, append_lines};
pub use atomic::write_atomic;
pub use file::{check_permissions, create_dir, lock_file, open_append, open_existing, write_new};
pub use lock::with_lock;
pub use secret::{REDACTED, Redactor, Secret};
pub use text::{printable, printable_lines};

/// How long a writer waits for a lock before giving up (the Python kit's board waits 30 s too).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The mode new state files, lock files and logs get (before the umask): only their owner
/// reads them, because they hold alert texts, restart output and what the services said.
pub const DEFAULT_MODE: u32 = 0o600;

/// The mode of new files meant for other readers too (before the umask): metrics day files,
/// as the Python kit makes them, a Prometheus textfile, a status page.
pub const PUBLIC_MODE: u32 = 0o644;

/// Everything that can go wrong while reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A system call on `path` failed (`action` says which: "read", "create", "rename" ...).
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file exists but is not valid JSON for its type; it was left untouched.
    #[error("{} is corrupt ({source}); it was left untouched{}", path.display(), backup_hint(backup.as_deref()))]
    Corrupt {
        /// The corrupt file.
        path: PathBuf,
        /// The backup that could be used instead, when one exists.
        backup: Option<PathBuf>,
        /// The parse error, with line and column.
        source: serde_json::Error,
    },
    /// Another process held the lock for longer than the timeout.
    #[error(
        "could not lock {} within {}s: another agent-ops or seed process is holding it",
        path.display(),
        waited.as_secs()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The name we were to write, append, lock or read is a symlink; it was not followed.
    #[error("refusing to follow the symlink {}", path.display())]
    Symlink {
        /// The symlink.
        path: PathBuf,
    },
    /// The name we were to write, append, lock or read is not a regular file (a directory, a
    /// named pipe that would block us ...); it was left alone.
    #[error("refusing to use {}: it is a {kind}, not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead ("directory", "named pipe", "socket", "device").
        kind: &'static str,
    },
    /// The file we were to write or append to has other hard links: it is also a file
    /// elsewhere, which we would change too; it was left alone.
    #[error("refusing to write {}: it has {links} hard links, so it is also a file elsewhere", path.display())]
    HardLinked {
        /// The file.
        path: PathBuf,
        /// How many names it has.
        links: u64,
    },
    /// A directory (or a file we trust) that another user could change: see
    /// [`check_permissions`].
    #[error("{} {problem}", path.display())]
    Insecure {
        /// The directory or file at fault (the one asked about or one above it).
        path: PathBuf,
        /// What is wrong: "is group-writable without the sticky bit (mode 0775)" ...
        problem: String,
    },
    /// A value could not be turned into JSON (a map with non-string keys, for instance).
    #[error("cannot encode {} as JSON: {source}", path.display())]
    Encode {
        /// The file that was to be written.
        path: PathBuf,
        /// serde_json's reason.
        source: serde_json::Error,
    },
}

fn backup_hint(backup: Option<&Path>) -> String {
    backup.map_or_else(String::new, |b| format!("; a backup exists at {}", b.display()))
}

impl StateError {
    /// [`StateError::Io`]: `action` on `path` failed with `source`.
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), source }
    }
}

/// A JSON state file: where it lives, which lock guards it, the mode it is written with.
///
/// Plain data: build it with [`StateFile::new`] and override any field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    /// The JSON file itself.
    pub path: PathBuf,
    /// The lock file taken with flock(2) around every change; never renamed or deleted.
    pub lock_path: PathBuf,
    /// The permission bits of a new file (before the umask). A write that replaces the file
    /// keeps the narrower of its mode and these, for the file and its backup alike.
    pub mode: u32,
    /// How long a change waits for the lock.
    pub lock_timeout: Duration,
    /// Keep the previous version as `<file>.bak` (a file whose old versions are of no use, like
    /// an outbox of delivered alerts, turns it off).
    pub backup: bool,
}

/// What [`StateFile::set_aside_corrupt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Where the corrupt file now is (`<file>.corrupt-<UTC timestamp>`).
    pub moved_to: PathBuf,
    /// Whether the backup was valid and became the file again.
    pub restored_from_backup: bool,
}

impl StateFile {
    /// A state file at `path`, locked through `<path>.lock`, written with [`DEFAULT_MODE`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let lock_path = sibling(&path, ".lock");
        Self { path, lock_path, mode: DEFAULT_MODE, lock_timeout: DEFAULT_LOCK_TIMEOUT, backup: true }
    }

    /// The backup of the previous version: `<path>.bak`.
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".bak")
    }

    /// Reads the file without taking the lock (a rename is atomic, so the file is always
    /// whole). `Ok(None)` when it does not exist.
    pub fn read<T: DeserializeOwned>(&self) -> Result<Option<T>, StateError> {
        self.parse(&self.path)
    }

    /// Reads the backup, `Ok(None)` when there is none.
    pub fn read_backup<T: DeserializeOwned>(&self) -> Result<Option<T>, StateError> {
        self.parse(&self.backup_path())
    }

    /// One read-modify-write under the lock. A missing file starts as `T::default()`.
    ///
    /// When `change` returns an error nothing is written. When the value serializes to the
    /// same bytes as before nothing is written either. Otherwise the new version replaces the
    /// old one atomically and the old one becomes the backup.
    ///
    /// A file that does not parse is refused with [`StateError::Corrupt`] and left as it is.
    pub fn update<T, R, E>(&self, change: impl FnOnce(&mut T) -> Result<R, E>) -> Result<R, E>
    where
        T: Default + Serialize + DeserializeOwned,
        E: From<StateError>,
    {
        self.update_bytes(|old| {
            let mut value = match old {
                Some(bytes) => self.decode(bytes)?,
                None => T::default(),
            };
            let result = change(&mut value)?;
            Ok((Some(self.encode(&value)?), result))
        })
    }

    /// [`StateFile::update`] at the level of bytes, for callers that decode and encode
    /// themselves (to reuse a value they decoded before, say). Under the lock, `change` gets
    /// the file's bytes (`None` when it does not exist) and returns the new bytes, or `None`
    /// to leave the file alone, with its result. New bytes equal to the old ones are not
    /// written; otherwise they replace the file atomically and the old version becomes the
    /// backup. Deciding that the old bytes are corrupt (and refusing) is up to `change`:
    /// [`StateFile::decode`] does it.
    pub fn update_bytes<R, E>(
        &self,
        change: impl FnOnce(Option<&[u8]>) -> Result<(Option<Vec<u8>>, R), E>,
    ) -> Result<R, E>
    where
        E: From<StateError>,
    {
        with_lock(&self.lock_path, self.lock_timeout, || {
            let old = read_bytes(&self.path)?;
            let (new, result) = change(old.as_deref())?;
            if let Some(new) = new
                && old.as_deref() != Some(new.as_slice())
            {
                self.replace(&new, old.as_deref())?;
            }
            Ok(result)
        })?
    }

    /// Proves, under the lock, that the file can still be replaced, by replacing it with its own
    /// bytes. Nothing to prove when it is missing or holds only white space. On a full or
    /// read-only disk this fails before the caller acts on something it could not record
    /// afterwards (the outbox: sending an alert it could not take off again).
    pub fn prove_writable(&self) -> Result<(), StateError> {
        with_lock(&self.lock_path, self.lock_timeout, || match read_bytes(&self.path)? {
            Some(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => self.replace(&bytes, Some(&bytes)),
            _ => Ok(()),
        })?
    }

    /// Parses bytes of this file; [`StateError::Corrupt`] (naming the file, and its backup
    /// when one exists) when they are not valid JSON for `T`.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, StateError> {
        self.decode_from(&self.path, bytes)
    }

    /// The bytes [`StateFile::update`] writes for `value`: pretty JSON with two-space
    /// indents (as Python's `json.dump(..., indent=2)`) and a final newline.
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, StateError> {
        encode(&self.path, value)
    }

    /// Writes `value` under the lock, whatever the file held before (even if corrupt, which
    /// is why this is only for callers that own the whole content, like a migration).
    pub fn write<T: Serialize>(&self, value: &T) -> Result<(), StateError> {
        let bytes = encode(&self.path, value)?;
        with_lock(&self.lock_path, self.lock_timeout, || {
            let old = read_bytes(&self.path)?;
            self.replace(&bytes, old.as_deref())
        })?
    }

    /// Moves a file that does not parse as `T` aside to `<file>.corrupt-<UTC timestamp>` and,
    /// when the backup parses, puts the backup in its place. Returns `Ok(None)` when the file
    /// is missing or valid (nothing to do).
    pub fn set_aside_corrupt<T: DeserializeOwned>(&self) -> Result<Option<SetAside>, StateError> {
        with_lock(&self.lock_path, self.lock_timeout, || {
            let Some(bytes) = read_bytes(&self.path)? else { return Ok(None) };
            if serde_json::from_slice::<T>(&bytes).is_ok() {
                return Ok(None);
            }
            let stamp = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
                .unwrap_or_default();
            let moved_to = free_name(&sibling(&self.path, &format!(".corrupt-{stamp}")));
            fs::rename(&self.path, &moved_to).map_err(|e| StateError::io("move aside", &self.path, e))?;
            let backup = self.backup_path();
            let restored = match read_bytes(&backup)? {
                Some(b) if serde_json::from_slice::<T>(&b).is_ok() => {
                    write_atomic(&self.path, &b, self.mode)?;
                    true
                }
                _ => {
                    atomic::sync_dir(&self.path)?;
                    false
                }
            };
            Ok(Some(SetAside { moved_to, restored_from_backup: restored }))
        })?
    }

    fn parse<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, StateError> {
        match read_bytes(path)? {
            Some(bytes) => self.decode_from(path, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn decode_from<T: DeserializeOwned>(&self, path: &Path, bytes: &[u8]) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|source| {
            let backup = self.backup_path();
            StateError::Corrupt {
                path: path.to_path_buf(),
                backup: (path == self.path && backup.exists()).then_some(backup),
                source,
            }
        })
    }

    /// Replaces the file; the old version (if any) becomes the backup by a hard link, so
    /// the backup costs no copy, there is no moment without a whole file, and the backup is
    /// never the same file as the current one (it is staged first and renamed into place only
    /// after the new version is).
    fn replace(&self, bytes: &[u8], old: Option<&[u8]>) -> Result<(), StateError> {
        self.remove_stale_temporaries();
        let backup = self.backup_path();
        let staged = match old {
            Some(old) if self.backup => Some(atomic::stage_backup(&self.path, &backup, old, self.mode)?),
            _ => None,
        };
        if let Err(e) = write_atomic(&self.path, bytes, self.mode) {
            if let Some(staged) = staged {
                let _ = fs::remove_file(staged);
            }
            return Err(e);
        }
        if let Some(staged) = staged {
            atomic::promote_backup(&staged, &backup);
        }
        Ok(())
    }
}

impl StateFile {
    /// Removes the temporary files (`.<name>.*.tmp`) of writers that died mid-write (killed,
    /// or the machine lost power). Only called under the lock, when no other writer of this
    /// file can be running. Best effort: a file that cannot be removed is left.
    fn remove_stale_temporaries(&self) {
        let prefix = format!(".{}.", self.path.file_name().unwrap_or_default().to_string_lossy());
        let Ok(entries) = fs::read_dir(atomic::parent(&self.path)) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(middle) = name.strip_prefix(&prefix).and_then(|n| n.strip_suffix(".tmp")) else {
                continue;
            };
            // write_atomic's `.<name>.XXXXXX.tmp`, stage_backup's `.<name>.bak.<pid>.tmp`.
            let ours = (middle.len() == atomic::TEMP_RANDOM_CHARS
                && middle.bytes().all(|b| b.is_ascii_alphanumeric()))
                || middle
                    .strip_prefix("bak.")
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
            if ours {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn encode<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, StateError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|source| StateError::Encode { path: path.to_path_buf(), source })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The bytes of `path`; `Ok(None)` when it does not exist. A symlink is refused
/// ([`StateError::Symlink`]), never followed: a state file read through one could carry
/// another file's content into ours.
pub fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    let Some(mut file) = open_existing(path, false)? else { return Ok(None) };
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| StateError::io("read", path, e))?;
    Ok(Some(bytes))
}

/// `path` with `suffix` appended to its file name: `sibling("a/board.json", ".bak")` is
/// `a/board.json.bak`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// `path`, or `path.1`, `path.2` ... whichever does not exist yet.
fn free_name(path: &Path) -> PathBuf {
    let mut candidate = path.to_path_buf();
    let mut n = 1;
    while fs::symlink_metadata(&candidate).is_ok() {
        candidate = sibling(path, &format!(".{n}"));
        n += 1;
    }
    candidate
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Map = BTreeMap<String, f64>;

    /// Found by the `alert_rate` and `recovery_json` fuzz targets: serde_json's default float
    /// parsing is not exact, so a value read and written back could come back one ULP off, and
    /// every rewrite could move the entries nobody touched. The workspace enables
    /// `float_roundtrip`.
    #[test]
    fn floats_read_and_written_back_keep_their_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        fs::write(
            &file.path,
            r#"{"a": 10000000.006238646, "b": 20000000015908251016, "c": 1795846659.6213727}"#,
        )
        .unwrap();
        let before: Map = file.read().unwrap().unwrap();
        file.update(|m: &mut Map| {
            m.insert("d".into(), 1.0);
            Ok::<_, StateError>(())
        })
        .unwrap();
        let after: Map = file.read().unwrap().unwrap();
        for (k, v) in &before {
            assert_eq!(after[k].to_bits(), v.to_bits(), "{k}");
        }
        assert_eq!(before["a"], 10_000_000.006_238_646);
        assert_eq!(before["b"], 20_000_000_015_908_251_016.0);
    }

    fn insert(file: &StateFile, key: &str, v: f64) {
        file.update(|m: &mut Map| {
            m.insert(key.into(), v);
            Ok::<_, StateError>(())
        })
        .unwrap();
    }

    #[test]
    fn missing_file_reads_as_none_and_updates_from_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        assert_eq!(file.read::<Map>().unwrap(), None);
        insert(&file, "a", 1.0);
        assert_eq!(file.read::<Map>().unwrap().unwrap(), Map::from([("a".into(), 1.0)]));
        assert!(!file.backup_path().exists(), "no backup of a file that did not exist");
    }

    #[test]
    fn previous_version_becomes_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        insert(&file, "a", 1.0);
        insert(&file, "b", 2.0);
        let backup: Map = file.read_backup().unwrap().unwrap();
        assert_eq!(backup.len(), 1);
        assert_eq!(file.read::<Map>().unwrap().unwrap().len(), 2);
    }

    #[test]
    fn the_backup_is_never_the_current_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        for i in 0..3 {
            insert(&file, &format!("k{i}"), 1.0);
        }
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_ne!(ino(&file.path), ino(&file.backup_path()));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 3, "file, backup and lock, no staged leftovers: {names:?}");
    }

    #[test]
    fn without_backup_no_bak_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile { backup: false, ..StateFile::new(dir.path().join("s.json")) };
        insert(&file, "a", 1.0);
        insert(&file, "b", 2.0);
        file.prove_writable().unwrap();
        assert!(!file.backup_path().exists());
        assert_eq!(file.read::<Map>().unwrap().unwrap().len(), 2);
    }

    #[test]
    fn unchanged_value_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        insert(&file, "a", 1.0);
        insert(&file, "a", 1.0);
        assert!(!file.backup_path().exists(), "a no-op update must not write");
    }

    #[test]
    fn update_bytes_sees_the_old_bytes_and_writes_only_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        let seen =
            file.update_bytes(|old| Ok::<_, StateError>((Some(b"{\"a\": 1}\n".to_vec()), old.is_none())));
        assert!(seen.unwrap(), "no file yet");
        let seen = file.update_bytes(|old| Ok::<_, StateError>((None, old.map(<[u8]>::to_vec))));
        assert_eq!(seen.unwrap().unwrap(), b"{\"a\": 1}\n");
        file.update_bytes(|old| Ok::<_, StateError>((old.map(<[u8]>::to_vec), ()))).unwrap();
        assert!(!file.backup_path().exists(), "None and unchanged bytes write nothing");
        file.update_bytes(|_| Ok::<_, StateError>((Some(b"{}\n".to_vec()), ()))).unwrap();
        assert_eq!(fs::read(file.backup_path()).unwrap(), b"{\"a\": 1}\n");
        assert_eq!(fs::read(&file.path).unwrap(), b"{}\n");
        let err = file.decode::<Map>(b"{\"a\": ").unwrap_err();
        assert!(matches!(&err, StateError::Corrupt { backup: Some(_), .. }), "{err}");
        assert_eq!(file.encode(&Map::from([("a".into(), 1.5)])).unwrap(), b"{\n  \"a\": 1.5\n}\n");
    }

    #[test]
    fn temporaries_of_dead_writers_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        insert(&file, "a", 1.0);
        let stale = [".s.json.Ab12Cd.tmp", ".s.json.bak.4242.tmp"];
        let kept = ["s.json.tmp", ".other.json.Ab12Cd.tmp", ".s.json.notes", ".s.json.old.Ab12Cd.tmp"];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.path().join(name), b"half").unwrap();
        }
        insert(&file, "b", 2.0);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".other.json.Ab12Cd.tmp",
                ".s.json.notes",
                ".s.json.old.Ab12Cd.tmp",
                "s.json",
                "s.json.bak",
                "s.json.lock",
                "s.json.tmp"
            ]
        );
    }

    #[test]
    fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        insert(&file, "a", 1.0);
        let err = file.update(|m: &mut Map| {
            m.clear();
            Err::<(), _>(StateError::io("test", Path::new("x"), io::Error::other("no")))
        });
        assert!(err.is_err());
        assert_eq!(file.read::<Map>().unwrap().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_file_is_refused_then_set_aside_and_restored_from_backup() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        insert(&file, "a", 1.0);
        insert(&file, "b", 2.0); // backup = {a}
        fs::write(&file.path, b"{\"a\": 1.0, \"b\"").unwrap();

        let err = file
            .update(|m: &mut Map| {
                m.clear();
                Ok::<_, StateError>(())
            })
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StateError::Corrupt { .. }), "{msg}");
        assert!(msg.contains("s.json") && msg.contains("line 1"), "{msg}");
        assert!(msg.contains("s.json.bak"), "names the backup: {msg}");
        assert_eq!(fs::read(&file.path).unwrap(), b"{\"a\": 1.0, \"b\"", "left untouched");

        let aside = file.set_aside_corrupt::<Map>().unwrap().unwrap();
        assert!(aside.restored_from_backup);
        assert_eq!(fs::read(&aside.moved_to).unwrap(), b"{\"a\": 1.0, \"b\"");
        assert!(aside.moved_to.file_name().unwrap().to_string_lossy().starts_with("s.json.corrupt-"));
        assert_eq!(file.read::<Map>().unwrap().unwrap().keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(file.set_aside_corrupt::<Map>().unwrap(), None, "valid now");
    }

    #[test]
    fn set_aside_without_backup_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        fs::write(&file.path, b"[1,2]").unwrap(); // wrong top-level type
        let aside = file.set_aside_corrupt::<Map>().unwrap().unwrap();
        assert!(!aside.restored_from_backup);
        assert!(!file.path.exists());
        insert(&file, "a", 1.0);
    }

    #[test]
    fn mode_is_explicit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile { mode: 0o640, ..StateFile::new(dir.path().join("s.json")) };
        insert(&file, "a", 1.0);
        insert(&file, "b", 1.0);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file.path), 0o640);
        assert_eq!(mode(&file.backup_path()), 0o640);
    }

    #[test]
    fn sibling_appends_to_the_file_name() {
        assert_eq!(sibling(Path::new("/a/board.json"), ".bak"), Path::new("/a/board.json.bak"));
    }
}
