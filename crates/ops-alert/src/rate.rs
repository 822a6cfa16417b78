//! Per-topic rate limiting in the Python kit's `alert-rate.json` (`{topic: unix_seconds_float}`),
//! decided under the file's lock so that two processes alerting the same topic at the same
//! moment cannot both go ahead.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ops_state::{StateError, StateFile};
use serde_json::Value;

use crate::AlertError;

/// The rate state: topic -> unix seconds of the last alert. Values that are not numbers are
/// kept as they are and ignored.
type RateState = BTreeMap<String, Value>;

/// Entries are kept at least this long (the Python kit prunes after an hour).
const MIN_RETENTION_SECS: f64 = 3600.0;

/// The rate limit of one alert file.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// `alert-rate.json` and its lock.
    pub file: StateFile,
    /// Minimum time between two alerts of the same topic.
    pub limit: Duration,
}

/// Why an alert was not sent: its topic was alerted too recently.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimited {
    /// The topic.
    pub topic: String,
    /// Time since the topic's last alert (until it, when the clock was set back).
    pub ago: Duration,
    /// The limit in force.
    pub limit: Duration,
}

/// The closure's way out of [`StateFile::update`] without writing.
enum Exit {
    Limited(RateLimited),
    Error(AlertError),
}

impl From<StateError> for Exit {
    fn from(e: StateError) -> Self {
        Self::Error(e.into())
    }
}

impl RateLimit {
    /// The rate limit kept in `path` (locked through `<path>.lock`).
    pub fn new(path: impl Into<PathBuf>, limit: Duration) -> Self {
        Self { file: StateFile::new(path), limit }
    }

    /// How long an entry is kept: the longer of the limit and one hour.
    pub fn retention(&self) -> f64 {
        self.limit.as_secs_f64().max(MIN_RETENTION_SECS)
    }

    /// Whether `topic` is limited at `now`, without taking the lock or writing (for dry runs).
    pub fn check(&self, topic: &str, now: f64) -> Result<Option<RateLimited>, AlertError> {
        let state: RateState = self.file.read()?.unwrap_or_default();
        Ok(self.limited(&state, topic, now))
    }

    /// The decision, under the lock: when `topic` was alerted less than the limit ago, returns
    /// it and writes nothing. Otherwise runs `accept` (which queues the alert durably) and only
    /// when it succeeds records `now` for the topic, pruning entries older than
    /// [`RateLimit::retention`]. An error from `accept` is returned (nothing was queued); once
    /// `accept` succeeded the result is `Ok(None)` even if the record cannot be written (with a
    /// warning), because the alert is queued and will go out.
    ///
    /// A file that stays corrupt for 20 ms (the Python kit rewrites it in place, without a lock) is
    /// set aside (see [`StateFile::set_aside_corrupt`]) with a warning, so that a damaged rate
    /// file never stops an alert.
    pub fn admit(
        &self,
        topic: &str,
        now: f64,
        warnings: &mut Vec<String>,
        accept: impl FnOnce() -> Result<(), AlertError>,
    ) -> Result<Option<RateLimited>, AlertError> {
        let mut accept = Some(accept);
        let mut accepted = false;
        for _ in 0..3 {
            let outcome = self.file.update(|state: &mut RateState| {
                if let Some(limited) = self.limited(state, topic, now) {
                    return Err(Exit::Limited(limited));
                }
                if let Some(accept) = accept.take() {
                    accept().map_err(Exit::Error)?;
                    accepted = true;
                }
                self.stamp(state, topic, now);
                Ok(())
            });
            match outcome {
                Ok(()) => return Ok(None),
                Err(Exit::Limited(limited)) => return Ok(Some(limited)),
                Err(Exit::Error(AlertError::State(StateError::Corrupt { .. }))) if accept.is_some() => {
                    // The Python kit rewrites this file in place, unlocked: what looks corrupt may be
                    // its write in progress. Give it a moment; `set_aside_corrupt` reads again
                    // and leaves a file that has become valid alone.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    let aside = self.file.set_aside_corrupt::<RateState>()?;
                    if let Some(aside) = aside {
                        warnings.push(format!(
                            "{} was corrupt: moved to {}{}",
                            self.file.path.display(),
                            aside.moved_to.display(),
                            if aside.restored_from_backup { ", the backup restored" } else { "" }
                        ));
                    }
                }
                Err(Exit::Error(e)) if accepted => {
                    // The alert is queued: it must be delivered, whatever became of the record.
                    warnings.push(format!(
                        "the alert is queued, but its topic could not be recorded ({e}); the next alert of \
                         topic {topic:?} will not be rate limited"
                    ));
                    return Ok(None);
                }
                Err(Exit::Error(e)) => return Err(e),
            }
        }
        Err(AlertError::State(StateError::Io {
            action: "repair",
            path: self.file.path.clone(),
            source: std::io::Error::other("still corrupt after setting it aside"),
        }))
    }

    /// Records `now` for `topic` (pruning entries older than [`RateLimit::retention`]) without
    /// deciding anything: for an alert that went out without the outbox.
    pub fn record(&self, topic: &str, now: f64) -> Result<(), AlertError> {
        self.file.update(|state: &mut RateState| {
            self.stamp(state, topic, now);
            Ok::<_, AlertError>(())
        })
    }

    /// Records `now` for `topic`, pruning the entries older than [`RateLimit::retention`].
    fn stamp(&self, state: &mut RateState, topic: &str, now: f64) {
        let retention = self.retention();
        state.retain(|_, v| v.as_f64().is_none_or(|t| now - t < retention));
        state.insert(topic.to_owned(), Value::from(now));
    }

    /// `|now - last| < limit`: the Python kit's rule, except that an entry far in the future (the
    /// clock was set back) does not silence its topic for ever.
    fn limited(&self, state: &RateState, topic: &str, now: f64) -> Option<RateLimited> {
        let last = state.get(topic)?.as_f64()?;
        let ago = now - last;
        (ago.abs() < self.limit.as_secs_f64()).then(|| RateLimited {
            topic: topic.to_owned(),
            ago: Duration::try_from_secs_f64(ago.abs()).unwrap_or(Duration::ZERO),
            limit: self.limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[allow(clippy::unnecessary_wraps)] // the shape `admit` takes
    fn ok() -> Result<(), AlertError> {
        Ok(())
    }

    #[test]
    fn limits_records_and_prunes_after_the_longer_of_limit_and_an_hour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-rate.json");
        fs::write(&path, r#"{"old": 1000.0, "recent": 5000.5, "weird": "x"}"#).unwrap();
        let rate = RateLimit::new(&path, Duration::from_secs(7200));
        let mut w = Vec::new();
        assert_eq!(rate.admit("api", 8000.0, &mut w, ok).unwrap(), None);
        let state: RateState = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        // 8000 - 1000 = 7000 < 7200: kept, because the limit is longer than an hour.
        assert_eq!(state.keys().collect::<Vec<_>>(), ["api", "old", "recent", "weird"]);
        assert_eq!(state["api"], 8000.0);
        let limited = rate.admit("api", 8100.0, &mut w, ok).unwrap().unwrap();
        assert_eq!((limited.ago, limited.limit), (Duration::from_secs(100), Duration::from_secs(7200)));
        assert_eq!(rate.check("api", 8100.0).unwrap(), Some(limited));
        assert_eq!(rate.admit("other", 8201.0 + 7200.0, &mut w, ok).unwrap(), None);
        let state: RateState = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(state.keys().collect::<Vec<_>>(), ["other", "weird"]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_limited_topic_writes_nothing_and_a_failed_accept_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-rate.json");
        let seed_bytes = "{\n  \"api\": 1000.25\n}"; // json.dump(indent=2), no newline
        fs::write(&path, seed_bytes).unwrap();
        let rate = RateLimit::new(&path, Duration::from_secs_f64(300.0));
        assert!(rate.admit("api", 1100.0, &mut Vec::new(), ok).unwrap().is_some());
        assert_eq!(fs::read_to_string(&path).unwrap(), seed_bytes);
        let failed = rate.admit("db", 1100.0, &mut Vec::new(), || Err(AlertError::NoNotifier));
        assert!(matches!(failed, Err(AlertError::NoNotifier)));
        assert_eq!(fs::read_to_string(&path).unwrap(), seed_bytes);
    }

    #[test]
    fn a_queued_alert_is_admitted_even_when_its_record_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-rate.json");
        let rate = RateLimit::new(&path, Duration::from_secs_f64(300.0));
        let mut warnings = Vec::new();
        // The old version is staged as the backup first: a directory where it is staged makes
        // the write fail before anything is replaced.
        rate.admit("a", 10.0, &mut warnings, ok).unwrap();
        let staged = dir.path().join(format!(".alert-rate.json.bak.{}.tmp", std::process::id()));
        fs::create_dir_all(staged.join("x")).unwrap();
        let admitted = rate.admit("b", 20.0, &mut warnings, ok).unwrap();
        assert_eq!(admitted, None);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("the alert is queued, but its topic could not be recorded ("),
            "{warnings:?}"
        );
        assert!(rate.check("b", 21.0).unwrap().is_none(), "not recorded");
    }

    #[test]
    fn a_clock_set_back_far_does_not_silence_a_topic() {
        let dir = tempfile::tempdir().unwrap();
        let rate = RateLimit::new(dir.path().join("r.json"), Duration::from_secs_f64(300.0));
        assert_eq!(rate.admit("t", 100_000.0, &mut Vec::new(), ok).unwrap(), None);
        assert!(rate.check("t", 99_900.0).unwrap().is_some(), "a small step back still limits");
        assert_eq!(rate.check("t", 50_000.0).unwrap(), None);
    }

    #[test]
    fn a_corrupt_file_is_set_aside_with_a_warning_and_the_alert_goes_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-rate.json");
        fs::write(&path, "{\"api\": 10").unwrap();
        let rate = RateLimit::new(&path, Duration::from_secs_f64(300.0));
        let mut warnings = Vec::new();
        assert_eq!(rate.admit("api", 20.0, &mut warnings, ok).unwrap(), None);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("alert-rate.json was corrupt: moved to"), "{warnings:?}");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n.starts_with("alert-rate.json.corrupt-")), "{names:?}");
    }

    #[test]
    fn concurrent_admissions_of_one_topic_admit_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        let rate = RateLimit::new(dir.path().join("alert-rate.json"), Duration::from_secs_f64(300.0));
        let accepted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    rate.admit("same", 1_700_000_000.0, &mut Vec::new(), || {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(accepted.into_inner(), 1);
    }
}
