//! ops-jobs watches jobs that are not services: the nightly backup, the hourly scrape, the
//! agent run every 15 minutes. A job's runs are recorded in its state file, `NAME.json` in a
//! directory the caller gives (agent-ops' `state/jobs/`), by the wrapper ([`Jobs::wrap`]: the
//! start, the command run through ops-proc in its own process group with its output teed to
//! the caller's streams and the job's log, the end) or by pings ([`Jobs::ping`]: start, success,
//! failure, an exit code, as healthchecks.io's). Every change is one read-modify-write under the
//! file's lock (ops-state), so concurrent runs of one job are all recorded, each with its id.
//!
//! [`judge`] gives the verdict at a moment the caller passes (no clock inside): against a
//! [`Schedule`] (a five-field cron expression in an IANA time zone, DST included, or a period)
//! and a [`Watch`] (grace, shortest and longest run), a job is fine or [`Finding::Late`],
//! [`Finding::TooLong`], [`Finding::Failed`], [`Finding::TooOften`] or [`Finding::TooShort`],
//! with a detail that says by how much. A wrapper holds a lock for as long as it lives, so a
//! wrapper killed mid-run leaves a run that is judged failed, never one running for ever.
//!
//! It never reads the environment, never prints and knows nothing of services or
//! `~/.agent-ops`: the caller gives the directory, the log's path and the time.
//!
//! ```
//! use std::time::Duration;
//! use ops_jobs::{Finding, JobName, Jobs, Ping, PingResult, Schedule, Watch};
//!
//! let dir = tempfile::tempdir()?;
//! let jobs = Jobs::new(dir.path());
//! let backup = JobName::new("backup")?;
//! let watch = Watch {
//!     schedule: Schedule::cron("0 3 * * *", "Europe/Berlin")?,
//!     grace: Duration::from_secs(1800),
//!     min_runtime: Some(Duration::from_secs(60)),
//!     max_runtime: None,
//! };
//! // The nightly run started at 03:00 Berlin time (02:00 UTC) and failed 10 minutes later.
//! jobs.ping(&backup, Ping::Start, None, "2026-11-30T02:00:00Z".parse()?)?;
//! jobs.ping(&backup, Ping::End(PingResult::Exit(3)), Some("disk full"), "2026-11-30T02:10:00Z".parse()?)?;
//! let verdict = jobs.judge(&backup, &watch, "2026-11-30T08:00:00Z".parse()?, None)?;
//! assert_eq!(verdict.finding, Some(Finding::Failed));
//! assert_eq!(verdict.detail, "the run of 03:00 Europe/Berlin failed: exit 3 after 10m");
//! // No run the next night: late, once the grace has passed.
//! let verdict = jobs.judge(&backup, &watch, "2026-12-01T02:42:00Z".parse()?, None)?;
//! assert_eq!(verdict.finding, Some(Finding::Late));
//! assert!(verdict.detail.starts_with("late by 42m: expected 03:00 Europe/Berlin"), "{}", verdict.detail);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod cron;
mod judge;
mod name;
mod schedule;
mod state;
mod wrap;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::fmt::Write as _;
use std::time::Duration;

/// The `jiff` crate, whose `Timestamp` is in records and verdicts.
pub use jiff;

pub use cron::Cron;
pub use judge::{Finding, Verdict, Watch, judge, show};
pub use name::{JobName, MAX_NAME};
pub use schedule::{CRON_TOLERANCE, Schedule, zone};
pub use state::{JobState, Jobs, MAX_RUNS, OUTPUT_KEPT, RunRecord, Source, Status, last_lines, signal_name};
pub use wrap::{EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_TIMED_OUT, LOG_LIMIT, Ping, PingResult, Wrap, Wrapped};

/// What can go wrong with a job's name, schedule or state file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A name that cannot be a job's (see [`JobName`]).
    #[error("invalid job name \"{name}\": {why}")]
    Name {
        /// The name as given, control characters escaped.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A schedule that cannot be used.
    #[error("invalid schedule: {why}")]
    Schedule {
        /// What is wrong with it.
        why: String,
    },
    /// A time zone neither the system's tzdb nor the bundled one knows.
    #[error("unknown time zone \"{name}\" (an IANA name like \"Europe/Berlin\" or \"UTC\")")]
    Zone {
        /// The name as given, control characters escaped.
        name: String,
    },
    /// The state file could not be read or changed (it names the file).
    #[error(transparent)]
    State(#[from] ops_state::StateError),
}

/// A duration in at most two units: `450ms`, `12s`, `42m`, `1h5m`, `2d3h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.subsec_millis());
    }
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let Some(i) = units.iter().position(|(n, _)| s >= *n) else { return format!("{s}s") };
    let (big, big_unit) = units[i];
    let mut out = format!("{}{big_unit}", s / big);
    if let Some((small, small_unit)) = units.get(i + 1) {
        let rest = (s % big) / small;
        if rest > 0 {
            let _ = write!(out, "{rest}{small_unit}");
        }
    }
    out
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        let h = |s: u64| human(Duration::from_secs(s));
        assert_eq!(
            [h(0), h(12), h(60), h(2520), h(2537), h(3900), h(7200), h(183_600)],
            ["0ms", "12s", "1m", "42m", "42m17s", "1h5m", "2h", "2d3h"]
        );
        assert_eq!(human(Duration::from_millis(450)), "450ms");
    }
}
