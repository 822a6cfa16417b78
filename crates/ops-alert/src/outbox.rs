//! The outbox: `alert-outbox.jsonl`, one alert for one destination per line, in order.
//!
//! Every change happens under a short flock on `<outbox>.lock`: appends are one whole-line
//! `write(2)` followed by fsync; removals and updates replace the file atomically. Delivery
//! is serialised by a second lock, `<outbox>.delivery.lock`, held for as long as one process
//! delivers, so that two processes never send the same entry.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ops_state::{AppendOptions, StateError, StateFile, append_lines, sibling, with_lock};
use serde::{Deserialize, Serialize};

use crate::{Alert, AlertError};

/// One alert waiting for one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique: `<unix nanoseconds>-<pid>-<counter>`.
    pub id: String,
    /// When it was queued, in the seed's timestamp format.
    pub queued_at: String,
    /// The notifier it is for (`telegram`, `webhook:slack`).
    pub destination: String,
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Parts of a split message already delivered.
    #[serde(default)]
    pub parts_sent: u32,
    /// Requests made for it so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Entry {
    /// A new entry for `alert` at `destination`, with a fresh id.
    pub fn new(alert: &Alert, destination: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = time::OffsetDateTime::now_utc();
        Self {
            id: format!(
                "{}-{}-{}",
                now.unix_timestamp_nanos(),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            queued_at: ops_state::timestamp::format_utc(now),
            destination: destination.to_owned(),
            alert: alert.clone(),
            parts_sent: 0,
            attempts: 0,
            last_error: None,
        }
    }
}

/// Where the outbox lives and how long its locks are waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    /// The JSONL file.
    pub path: PathBuf,
    /// Guards every read and change of the file (held briefly).
    pub lock_path: PathBuf,
    /// Held by the process delivering the outbox.
    pub delivery_lock_path: PathBuf,
    /// How long a change waits for `lock_path`.
    pub lock_timeout: Duration,
    /// How long a process waits for another one's delivery to finish.
    pub delivery_timeout: Duration,
    /// The mode of the file.
    pub mode: u32,
}

impl Outbox {
    /// The outbox at `path`, with `<path>.lock` and `<path>.delivery.lock`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            lock_path: sibling(&path, ".lock"),
            delivery_lock_path: sibling(&path, ".delivery.lock"),
            path,
            lock_timeout: ops_state::DEFAULT_LOCK_TIMEOUT,
            delivery_timeout: Duration::from_secs(120),
            mode: ops_state::DEFAULT_MODE,
        }
    }

    /// Where lines that do not parse are moved: `<path>.bad`.
    pub fn bad_lines_path(&self) -> PathBuf {
        sibling(&self.path, ".bad")
    }

    /// Appends `entries` durably (fsync) before returning.
    pub fn append(&self, entries: &[Entry]) -> Result<(), AlertError> {
        let lines = entries.iter().map(|e| self.encode(e)).collect::<Result<Vec<_>, _>>()?;
        with_lock(&self.lock_path, self.lock_timeout, || {
            append_lines(&self.path, &lines, AppendOptions { sync: true, mode: self.mode })
        })??;
        Ok(())
    }

    /// The entries in order. Lines that do not parse are skipped here (and set aside by the
    /// next change). Writes nothing, not even a lock file, when there is no outbox.
    pub fn entries(&self) -> Result<Vec<Entry>, AlertError> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        with_lock(&self.lock_path, self.lock_timeout, || self.read().map(|(entries, _)| entries))?
    }

    /// The outbox as an ops-state file: replaced atomically under `<outbox>.lock`, temporary
    /// files of writers that died swept first, no `.bak` (old versions hold delivered alerts).
    fn state(&self) -> StateFile {
        StateFile {
            path: self.path.clone(),
            lock_path: self.lock_path.clone(),
            mode: self.mode,
            lock_timeout: self.lock_timeout,
            backup: false,
        }
    }

    /// One change under the lock: `change` edits the entries; the file is replaced atomically
    /// when they differ. Lines that do not parse are appended to [`Outbox::bad_lines_path`]
    /// first (fsynced), never dropped, and reported in `warnings`.
    pub(crate) fn modify<R>(
        &self,
        warnings: &mut Vec<String>,
        change: impl FnOnce(&mut Vec<Entry>) -> R,
    ) -> Result<R, AlertError> {
        self.state().update_bytes(|old| {
            let (mut entries, bad) = parse(old.unwrap_or_default());
            let result = change(&mut entries);
            if !bad.is_empty() {
                let bad_path = self.bad_lines_path();
                append_lines(&bad_path, &bad, AppendOptions { sync: true, mode: self.mode })?;
                warnings.push(format!(
                    "{} had {} unreadable line(s); moved to {}",
                    self.path.display(),
                    bad.len(),
                    bad_path.display()
                ));
            }
            let mut bytes = Vec::new();
            for e in &entries {
                bytes.extend_from_slice(self.encode(e)?.as_bytes());
                bytes.push(b'\n');
            }
            // Unchanged entries and no bad line give the same bytes, which are not rewritten.
            let write = old.is_some() || !bytes.is_empty();
            Ok((write.then_some(bytes), result))
        })
    }

    /// Checks that the file can still be replaced, which is what taking a delivered entry off
    /// it takes ([`StateFile::prove_writable`]). Nothing to check when it is missing or empty
    /// (an entry appended to an empty outbox comes off again without needing any space). On a
    /// full or read-only disk this fails before anything is sent that could not be taken off
    /// afterwards, and would go out again on every run.
    pub(crate) fn check_rewritable(&self) -> Result<(), AlertError> {
        Ok(self.state().prove_writable()?)
    }

    /// Runs `f` holding the delivery lock; `Ok(None)` when another process held it for longer
    /// than [`Outbox::delivery_timeout`].
    pub(crate) fn delivering<R>(&self, f: impl FnOnce() -> R) -> Result<Option<R>, AlertError> {
        match with_lock(&self.delivery_lock_path, self.delivery_timeout, f) {
            Ok(r) => Ok(Some(r)),
            Err(StateError::LockTimeout { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads and parses the file (the caller holds the lock): entries and unparseable lines.
    fn read(&self) -> Result<(Vec<Entry>, Vec<String>), AlertError> {
        Ok(parse(&ops_state::read_bytes(&self.path)?.unwrap_or_default()))
    }

    fn encode(&self, entry: &Entry) -> Result<String, AlertError> {
        serde_json::to_string(entry).map_err(|source| AlertError::Encode { path: self.path.clone(), source })
    }
}

/// The entries of the outbox's bytes, and the lines that do not parse.
fn parse(bytes: &[u8]) -> (Vec<Entry>, Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            Err(_) => bad.push(line.to_owned()),
        }
    }
    (entries, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;
    use std::{fs, io};

    fn alert(message: &str) -> Alert {
        Alert { level: Level::Error, topic: Some("t".into()), message: message.into() }
    }

    #[test]
    fn entries_round_trip_in_order_as_single_lines() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("alert-outbox.jsonl"));
        let a = Entry::new(&alert("first\nline two"), "telegram");
        let b = Entry::new(&alert("second"), "webhook:x");
        assert_ne!(a.id, b.id);
        outbox.append(&[a.clone(), b.clone()]).unwrap();
        let text = fs::read_to_string(&outbox.path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(&format!(
            "{{\"id\":\"{}\",\"queued_at\":\"{}\",\"destination\":\"telegram\",\"level\":\"error\",\"topic\":\"t\",\"message\":\"first\\nline two\",\"parts_sent\":0,\"attempts\":0}}\n",
            a.id, a.queued_at
        )), "{text}");
        assert_eq!(outbox.entries().unwrap(), [a, b]);
    }

    #[test]
    fn modify_replaces_atomically_and_sets_bad_lines_aside() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("alert-outbox.jsonl"));
        let a = Entry::new(&alert("a"), "telegram");
        outbox.append(std::slice::from_ref(&a)).unwrap();
        let mut f = fs::OpenOptions::new().append(true).open(&outbox.path).unwrap();
        io::Write::write_all(&mut f, b"{\"torn\": tr\n").unwrap();
        let b = Entry::new(&alert("b"), "telegram");
        outbox.append(std::slice::from_ref(&b)).unwrap();
        assert_eq!(outbox.entries().unwrap(), [a.clone(), b.clone()], "a bad line is skipped");

        let mut warnings = Vec::new();
        outbox.modify(&mut warnings, |v| v.retain(|e| e.id != a.id)).unwrap();
        assert_eq!(outbox.entries().unwrap(), [b]);
        assert_eq!(fs::read_to_string(outbox.bad_lines_path()).unwrap(), "{\"torn\": tr\n");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("1 unreadable line(s)"), "{warnings:?}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn delivering_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let outbox =
            Outbox { delivery_timeout: Duration::from_millis(20), ..Outbox::new(dir.path().join("o.jsonl")) };
        let inner = outbox.delivering(|| outbox.delivering(|| ()).unwrap()).unwrap();
        assert_eq!(inner, Some(None), "the inner attempt timed out while the outer held the lock");
    }
}
