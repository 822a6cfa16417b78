//! ops-metrics owns the metrics store: one JSONL file per UTC day (`YYYY-MM-DD.jsonl`) holding
//! one [`MetricRecord`] per line with the seed's keys (`name, status, detail, latency_ms,
//! timestamp`), and the Prometheus text exposition format that other tools read.
//!
//! It never runs checks and never knows where the metrics directory is: callers pass the
//! directory. It never prints.
//!
//! ```
//! use ops_metrics::{MetricRecord, Status, append};
//!
//! let dir = tempfile::tempdir()?;
//! let record = MetricRecord {
//!     name: "API".into(),
//!     status: Status::Up,
//!     detail: "HTTP 200".into(),
//!     latency_ms: 12,
//!     timestamp: time::macros::datetime!(2025-01-15 10:30:00.123456 UTC),
//! };
//! append(dir.path(), &[record])?;
//! let line = std::fs::read_to_string(dir.path().join("2025-01-15.jsonl"))?;
//! assert_eq!(
//!     line,
//!     r#"{"name": "API", "status": "up", "detail": "HTTP 200", "latency_ms": 12, "timestamp": "2025-01-15T10:30:00.123456Z"}"#
//!         .to_owned() + "\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod prometheus;
mod record;

pub use record::{MetricRecord, Status, append, day_file};

/// Everything that can go wrong in the metrics store.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Writing a day file failed (the state error names the file).
    #[error(transparent)]
    Write(#[from] ops_state::StateError),
}
