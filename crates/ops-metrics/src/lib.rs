//! ops-metrics owns the metrics store: one JSONL file per UTC day (`YYYY-MM-DD.jsonl`) holding
//! one [`MetricRecord`] per line with the Python kit's keys (`name, status, detail, latency_ms,
//! timestamp`); a rollup per finished day (`rollups/YYYY-MM-DD.json`, [`roll_up`]), the day's
//! figures per service in a small versioned file that outlives the day file; reading a window
//! of days into uptime statistics ([`read_window`]), from rollups where they are current and
//! day files otherwise, exactly as the Python kit's `calculate_uptime` computes them and more;
//! retention of both kinds of file ([`clean_up`]); the incident log, one JSON line per outage
//! once it is over ([`append_incidents`], [`read_incidents`]); and rendering reports
//! ([`render`]: the Python kit's text, JSON, the Prometheus text format, an HTML status page,
//! the incidents as a table and JSON).
//!
//! It never runs checks and never knows where the metrics directory is: callers pass the
//! directory (and the incident log's path) and the dates; what an incident's words mean is
//! theirs. It never prints. A bad line in a day file is skipped and counted,
//! never an error.
//!
//! ```
//! use ops_metrics::{MetricRecord, Status, Window, append, read_window, render};
//!
//! let dir = tempfile::tempdir()?;
//! let at = time::macros::datetime!(2025-01-15 10:30:00.123456 UTC);
//! let record = MetricRecord {
//!     name: "API".into(),
//!     status: Status::Up,
//!     detail: "HTTP 200".into(),
//!     latency_ms: 12,
//!     timestamp: at,
//!     warning: false,
//!     perfdata: Vec::new(),
//! };
//! append(dir.path(), &[record])?;
//! let line = std::fs::read_to_string(dir.path().join("2025-01-15.jsonl"))?;
//! assert_eq!(
//!     line,
//!     r#"{"name": "API", "status": "up", "detail": "HTTP 200", "latency_ms": 12, "timestamp": "2025-01-15T10:30:00.123456Z"}"#
//!         .to_owned() + "\n"
//! );
//! std::fs::write(dir.path().join("2025-01-14.jsonl"), "{\"name\": \"API\", \"latency_ms\": null}\n")?;
//!
//! let report = read_window(dir.path(), &Window::last_days(at.date(), 7))?;
//! assert_eq!(
//!     render::text(&report),
//!     "=== Uptime Report (last 7 days) ===\n\n[OK] API: 100.0% uptime (0 failures in 1 checks, avg 12.0ms)\n"
//! );
//! assert_eq!(report.bad.total(), 1);
//! assert!(report.bad.to_string().ends_with(":1: latency_ms is null"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod day;
mod incident;
mod latency;
mod parse;
pub mod prometheus;
pub mod python;
mod record;
pub mod render;
mod retention;
mod rollup;
mod scan;
mod stats;
mod timeline;
mod window;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::path::PathBuf;

pub use incident::{
    End, INCIDENT_VERSION, Incident, IncidentAck, IncidentLog, IncidentStats, MAX_INCIDENT_LINE,
    MAX_RESTARTS, Restart, append_incidents, read_incidents,
};
pub use record::{MetricRecord, Perf, Status, append, day_file, last_perfdata};
pub use retention::{Cleanup, Retention, clean_up, day_file_date, rollup_file_date};
pub use rollup::{ROLLUP_VERSION, RolledUp, RollupIssue, roll_up, rollup_dir, rollup_file};
pub use scan::{BadKind, BadLine, BadLines};
pub use stats::{Counted, DayCounts, Percentiles, ServiceStats, State, UptimeReport};
pub use window::{Span, Window, read_window};

/// Everything that can go wrong in the metrics store.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Writing a day file or the incident log failed, or a file was refused (a symlink, not a
    /// regular file): the state error names the file.
    #[error(transparent)]
    Write(#[from] ops_state::StateError),
    /// A day file or the metrics directory exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An old day file could not be deleted.
    #[error("cannot delete {}: {source}", path.display())]
    Remove {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
