//! One day's summary, read from its day file or from its rollup alike: what each service's
//! checks on that day add up to, in a form that joins with the other days' in date order.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use time::Date;

use crate::latency::{Buckets, Hist};
use crate::parse::Latency;
use crate::scan::BadLines;
use crate::timeline::Timeline;

/// The Python kit's counters for one service: checks by status, latency summed over every line.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Counts {
    pub up: u64,
    pub down: u64,
    pub other: u64,
    /// Whole-millisecond latencies, summed exactly.
    pub latency_int: i128,
    /// Any other latencies (no writer produces them), summed in file order.
    pub latency_float: f64,
    pub has_float: bool,
}

impl Counts {
    pub fn merge(&mut self, other: &Self) {
        self.up = self.up.saturating_add(other.up);
        self.down = self.down.saturating_add(other.down);
        self.other = self.other.saturating_add(other.other);
        self.latency_int = self.latency_int.saturating_add(other.latency_int);
        self.latency_float += other.latency_float;
        self.has_float |= other.has_float;
    }

    pub fn add_latency(&mut self, latency: Latency) {
        match latency {
            Latency::Int(v) => self.latency_int = self.latency_int.saturating_add(i128::from(v)),
            Latency::Float(v) => {
                self.latency_float += v;
                self.has_float = true;
            }
        }
    }
}

/// The latencies of the successful checks: every one (a day file read raw), or in the fixed
/// buckets of a rollup.
#[derive(Debug, Clone)]
pub(crate) enum Latencies {
    Exact(Hist),
    /// Counts per bucket from bucket `first` on, and the smallest and largest latency.
    Buckets {
        first: usize,
        counts: Vec<u64>,
        min: f64,
        max: f64,
    },
}

impl Latencies {
    /// The same latencies in buckets.
    pub fn to_buckets(&self) -> Buckets {
        match self {
            Self::Exact(h) => h.to_buckets(),
            Self::Buckets { first, counts, min, max } => {
                let mut b = Buckets::default();
                b.add_counts(*first, counts, *min, *max);
                b
            }
        }
    }
}

/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 3_600_000_000;
/// The first hour of [`Cells`], counted from the midnight that starts the file's date.
pub(crate) const FIRST_HOUR: i64 = -24;
/// Hours in [`Cells`]: from a day before the file's date to a day after it.
pub(crate) const HOURS: usize = 72;
/// The hour after the last of [`Cells`].
pub(crate) const END_HOUR: i64 = 48;

/// Successful checks' latencies by the hour they were stamped, from the day before the file's
/// date to the day after it (a writer puts a check in the file of the moment it writes, which
/// may be just past midnight); a check stamped further away is left out of the series. Per
/// hour: whole-millisecond latencies summed exactly while they fit (what does not fit goes to
/// `float_ms`, the same way whoever reads the file), other latencies summed in file order, and
/// the checks. The vectors are as long as each other (`float_ms` may be empty: all zero).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cells {
    /// The hour of the first cell, counted from the file date's midnight.
    pub first: i64,
    pub ms: Vec<i64>,
    pub float_ms: Vec<f64>,
    pub checks: Vec<u64>,
}

impl Default for Cells {
    fn default() -> Self {
        Self { first: FIRST_HOUR, ms: Vec::new(), float_ms: Vec::new(), checks: Vec::new() }
    }
}

impl Cells {
    /// Adds a check stamped `hour` hours after the file date's midnight (floored).
    pub fn add(&mut self, hour: i64, latency: Latency) {
        let Some(i) =
            hour.checked_sub(self.first).and_then(|i| usize::try_from(i).ok()).filter(|i| *i < HOURS)
        else {
            return;
        };
        if self.checks.is_empty() {
            self.ms.resize(HOURS, 0);
            self.checks.resize(HOURS, 0);
        }
        let float = match latency {
            Latency::Int(v) => match self.ms[i].checked_add(v) {
                Some(sum) => {
                    self.ms[i] = sum;
                    None
                }
                None => Some(v as f64),
            },
            Latency::Float(v) => Some(v),
        };
        if let Some(v) = float {
            if self.float_ms.is_empty() {
                self.float_ms.resize(HOURS, 0.0);
            }
            self.float_ms[i] += v;
        }
        self.checks[i] = self.checks[i].saturating_add(1);
    }

    /// The float part of hour `i`.
    pub fn float(&self, i: usize) -> f64 {
        self.float_ms.get(i).copied().unwrap_or(0.0)
    }
}

/// One service on one day.
#[derive(Debug, Clone)]
pub(crate) struct Acc {
    pub counts: Counts,
    /// The line where the service first appears in the day file (the Python kit's dictionary order).
    pub first_line: u64,
    pub latency: Latencies,
    /// The dated `up`, `down` and `recovered` checks, in file order.
    pub timeline: Option<Timeline>,
    /// The earliest and latest timestamps (µs), any status.
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    pub cells: Cells,
}

impl Acc {
    pub fn new(first_line: u64) -> Self {
        Self {
            counts: Counts::default(),
            first_line,
            latency: Latencies::Exact(Hist::default()),
            timeline: None,
            min_ts: None,
            max_ts: None,
            cells: Cells::default(),
        }
    }
}

/// One day: every service in order of first appearance, and what was skipped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Day {
    pub services: Vec<(String, Acc)>,
    /// Skipped lines; the first is named by the day file's path.
    pub bad: BadLines,
    pub undated: u64,
    pub lines: u64,
    pub bytes: u64,
}

/// What a day file was when it was summarised; a rollup is current while its day file still
/// has the same size, modification time and inode (or is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub inode: u64,
}

impl Source {
    pub fn of(m: &Metadata) -> Self {
        Self { size: m.size(), mtime: m.mtime(), mtime_nsec: m.mtime_nsec(), inode: m.ino() }
    }
}

/// Microseconds since the epoch at the midnight that starts `date` (UTC).
pub(crate) fn midnight_us(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp() * 1_000_000
}
