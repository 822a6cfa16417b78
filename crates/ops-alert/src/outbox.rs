//! The outbox: `alert-outbox.jsonl`, one alert for one destination per line, in order.
//!
//! Every change happens under a short flock on `<outbox>.lock` and replaces the file
//! atomically (fsynced): appending takes the entries a new one makes stale off it (see
//! [`crate::fold`]) and keeps it within its bounds. Delivery is serialised by a second lock,
//! `<outbox>.delivery.lock`, held for as long as one process delivers, so that two processes
//! never send the same entry.
//!
//! **Bounds** ([`Outbox::max_entries`], [`Outbox::max_bytes`]): past either, the oldest
//! reminders and escalations are folded away (counted on the next entry of their destination,
//! and so said in its message); `Opened`, `Update` and `Closed` events and notes are never
//! dropped, so the outbox can pass its bounds only with those.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ops_state::{AppendOptions, StateError, StateFile, append_lines, sibling, with_lock};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::fold::{self, Event, EventKind, Folded};
use crate::{Alert, AlertError};

/// [`Outbox::max_entries`] by default.
pub const DEFAULT_MAX_ENTRIES: usize = 1000;
/// [`Outbox::max_bytes`] by default: 1 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;

/// One alert waiting for one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique: `<unix nanoseconds>-<pid>-<counter>`.
    pub id: String,
    /// When it was queued, in the Python kit's timestamp format.
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
    /// Flood control's wait for its destination, when a request for it was answered with one
    /// longer than the run could wait: no request to the destination until it has passed. One
    /// that does not parse (a hand edit) is ignored rather than costing the alert.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub flood_wait: Option<FloodWait>,
    /// The episode it belongs to, if any (see [`crate::fold`]); without one (an older line, or
    /// one whose event does not parse) it is a note, delivered as its `message`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub event: Option<Event>,
    /// The entries it stands for besides itself, taken off the outbox before delivery.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub folded: Option<Folded>,
    /// Its destination could not be reached and its words went to the destination's fallback
    /// channels instead (once); it still waits for its own destination.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fell_back: bool,
}

/// `Some` when the value is a `T`, `None` for anything else: a field added to outbox lines
/// that does not parse (a hand edit) costs the line nothing.
fn lenient<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(serde_json::Value::deserialize(d)?).ok())
}

/// A flood-control wait, remembered: `retry_after` seconds from `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloodWait {
    /// When it was asked for, in unix seconds.
    pub at: i64,
    /// How long it asked for, in seconds.
    pub retry_after: u64,
}

impl FloodWait {
    /// The wait of `retry_after` (rounded up to whole seconds) asked for at unix time `now`
    /// (rounded down: it may end a fraction of a second early, when the server asks for the
    /// rest).
    #[allow(clippy::cast_possible_truncation)]
    pub fn new(now: f64, retry_after: Duration) -> Self {
        // `as` saturates: a clock far out of range gives the nearest bound, never a panic.
        let at = now.floor() as i64;
        Self { at, retry_after: retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0) }
    }

    /// When it ends, in unix seconds: never more than a day after `at`, whatever the file says.
    pub fn until(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let secs = self.retry_after.min(crate::http::MAX_FLOOD_WAIT.as_secs()) as f64;
        #[allow(clippy::cast_precision_loss)]
        let at = self.at as f64;
        at + secs
    }

    /// `until 14:02 UTC` (the minute it has passed by), with the date when it is not `now`'s.
    #[allow(clippy::cast_possible_truncation)]
    pub fn until_words(&self, now: f64) -> String {
        let at = |t: f64| OffsetDateTime::from_unix_timestamp(t as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let until = at((self.until() / 60.0).ceil() * 60.0);
        let day = if until.date() == at(now).date() { String::new() } else { format!("{} ", until.date()) };
        format!("until {day}{:02}:{:02} UTC", until.hour(), until.minute())
    }

    /// Whether it still holds at `now`: from `at` until [`FloodWait::until`]. A clock set back
    /// before `at` ends it (the next request then learns again), so a clock that jumps can
    /// never hold a destination for longer than it was asked to wait.
    pub fn holds_at(&self, now: f64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let at = self.at as f64;
        at <= now && now < self.until()
    }
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
            flood_wait: None,
            fell_back: false,
            event: None,
            folded: None,
        }
    }

    /// A new entry for `alert` at `destination`, part of `event`'s episode.
    pub fn with_event(alert: &Alert, event: Event, destination: &str) -> Self {
        Self { event: Some(event), ..Self::new(alert, destination) }
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
    /// The mode of the file (and of `.bad`): 0600 by default, as it holds the alerts' texts.
    pub mode: u32,
    /// Entries past which reminders and escalations are folded away ([`DEFAULT_MAX_ENTRIES`]).
    pub max_entries: usize,
    /// Bytes past which reminders and escalations are folded away ([`DEFAULT_MAX_BYTES`]).
    pub max_bytes: u64,
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
            mode: 0o600,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Where lines that do not parse are moved: `<path>.bad`.
    pub fn bad_lines_path(&self) -> PathBuf {
        sibling(&self.path, ".bad")
    }

    /// Appends `entries` durably (the file is replaced and fsynced before this returns): each
    /// takes the entries it makes stale off the outbox, and the oldest reminders and
    /// escalations are folded away past the bounds (said in `warnings`).
    pub fn append(&self, entries: &[Entry], warnings: &mut Vec<String>) -> Result<(), AlertError> {
        let said = self.modify(warnings, |all| {
            for e in entries {
                let mut e = e.clone();
                fold::absorb(all, &mut e);
                all.push(e);
            }
            self.bound(all)
        })?;
        warnings.extend(said);
        Ok(())
    }

    /// Folds away the oldest reminders and escalations until `entries` are within the bounds;
    /// says what it did, or that only entries it never drops are left past them.
    fn bound(&self, entries: &mut Vec<Entry>) -> Option<String> {
        let sizes: Vec<u64> =
            entries.iter().map(|e| self.encode(e).map_or(0, |l| l.len() as u64 + 1)).collect();
        let mut bytes: u64 = sizes.iter().sum();
        let mut count = entries.len();
        let over = |count: usize, bytes: u64| count > self.max_entries || bytes > self.max_bytes;
        if !over(count, bytes) {
            return None;
        }
        let mut drop = vec![false; entries.len()];
        for (i, e) in entries.iter().enumerate() {
            if !over(count, bytes) {
                break;
            }
            if e.event
                .as_ref()
                .is_some_and(|ev| matches!(ev.kind, EventKind::Reminder | EventKind::Escalated { .. }))
            {
                drop[i] = true;
                count -= 1;
                bytes -= sizes[i];
            }
        }
        let dropped = drop.iter().filter(|d| **d).count();
        // Each folded entry is counted on the next one of its destination that stays (or the
        // last one before it), so its message says how many it stands for.
        for i in (0..entries.len()).filter(|&i| drop[i]) {
            let same = |j: &usize| !drop[*j] && entries[*j].destination == entries[i].destination;
            let heir = (i + 1..entries.len()).find(same).or_else(|| (0..i).rev().find(same));
            if let Some(h) = heir {
                let old = entries[i].clone();
                fold::add_folded(&mut entries[h], &old, 1);
            }
        }
        let mut i = 0;
        entries.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
        let bound = format!("its bound of {} entries or {} KiB", self.max_entries, self.max_bytes / 1024);
        Some(if over(count, bytes) {
            format!(
                "{} holds {count} entries ({} KiB), past {bound}, after folding away {dropped} reminder(s): what is                  left (outages opened and closed, given-up restarts, messages sent with `alert send`) is never dropped",
                self.path.display(),
                bytes / 1024
            )
        } else {
            format!(
                "{} reached {bound}: its {dropped} oldest reminder(s) were folded away (counted in the next message)",
                self.path.display()
            )
        })
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

/// The entries of the outbox's bytes, and the lines that do not parse. An id already taken
/// (a hand-edited or concatenated file) becomes `<id>~2`, `~3` ...: entries are settled by id,
/// so two that shared one would leave together, one of them never delivered.
fn parse(bytes: &[u8]) -> (Vec<Entry>, Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut entries: Vec<Entry> = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(line) {
            Ok(mut e) => {
                if ids.contains(&e.id) {
                    // Of len + 2 candidates, at most len are taken.
                    let n =
                        (2..=ids.len() + 2).find(|n| !ids.contains(&format!("{}~{n}", e.id))).unwrap_or(2);
                    e.id = format!("{}~{n}", e.id);
                }
                ids.insert(e.id.clone());
                entries.push(e);
            }
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
        outbox.append(&[a.clone(), b.clone()], &mut Vec::new()).unwrap();
        let text = fs::read_to_string(&outbox.path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(&format!(
            "{{\"id\":\"{}\",\"queued_at\":\"{}\",\"destination\":\"telegram\",\"level\":\"error\",\"topic\":\"t\",\"message\":\"first\\nline two\",\"parts_sent\":0,\"attempts\":0}}\n",
            a.id, a.queued_at
        )), "{text}");
        assert_eq!(outbox.entries().unwrap(), [a, b]);
    }

    #[test]
    fn old_lines_read_and_a_flood_wait_that_does_not_parse_costs_nothing() {
        let line = |extra: &str| {
            format!(
                r#"{{"id":"1","queued_at":"2025-01-15T10:30:00.123456Z","destination":"telegram","level":"error","topic":null,"message":"m"{extra}}}"#
            )
        };
        let old: Entry = serde_json::from_str(&line("")).unwrap();
        assert_eq!((old.parts_sent, old.attempts, old.last_error, old.flood_wait), (0, 0, None, None));
        for bad in [r#""x""#, "null", r#"{"at":1.5,"retry_after":3}"#, r#"{"at":1,"retry_after":-1}"#] {
            let e: Entry = serde_json::from_str(&line(&format!(r#","flood_wait":{bad}"#))).unwrap();
            assert_eq!(e.flood_wait, None, "{bad}");
        }
        let e: Entry = serde_json::from_str(&line(r#","flood_wait":{"at":100,"retry_after":60}"#)).unwrap();
        let wait = e.flood_wait.unwrap();
        assert_eq!(wait, FloodWait::new(100.7, Duration::from_millis(59_001)));
        assert!(
            !wait.holds_at(99.9) && wait.holds_at(100.0) && wait.holds_at(159.9) && !wait.holds_at(160.0)
        );
        assert!(
            serde_json::to_string(&e).unwrap().ends_with(r#","flood_wait":{"at":100,"retry_after":60}}"#)
        );
        let forever = FloodWait { at: 0, retry_after: u64::MAX };
        assert!(forever.holds_at(86_399.0) && !forever.holds_at(86_400.0), "at most a day");
    }

    /// Regression (fuzz target `outbox`): two entries with one id were settled together, so the
    /// second was never delivered.
    #[test]
    fn entries_with_a_repeated_id_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("alert-outbox.jsonl"));
        let (a, b) = (Entry::new(&alert("first"), "telegram"), Entry::new(&alert("second"), "telegram"));
        let b = Entry { id: a.id.clone(), ..b };
        let c = Entry { id: format!("{}~2", a.id), ..Entry::new(&alert("third"), "telegram") };
        let lines: String =
            [&a, &b, &c, &a].iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
        fs::write(&outbox.path, lines).unwrap();
        let ids: Vec<String> = outbox.entries().unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            [a.id.clone(), format!("{}~2", a.id), format!("{}~2~2", a.id), format!("{}~3", a.id)]
        );
        let mut warnings = Vec::new();
        outbox.modify(&mut warnings, |_| ()).unwrap();
        let kept: Vec<String> = outbox.entries().unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(kept, ids, "the new ids are written, and read back the same");
    }

    #[test]
    fn modify_replaces_atomically_and_sets_bad_lines_aside() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("alert-outbox.jsonl"));
        let a = Entry::new(&alert("a"), "telegram");
        let b = Entry::new(&alert("b"), "telegram");
        outbox.append(&[a.clone(), b.clone()], &mut Vec::new()).unwrap();
        let mut f = fs::OpenOptions::new().append(true).open(&outbox.path).unwrap();
        io::Write::write_all(&mut f, b"{\"torn\": tr\n").unwrap();
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
