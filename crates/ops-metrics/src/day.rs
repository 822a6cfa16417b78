//! One day's summary, read from its day file or from its rollup alike: what each service's
//! checks on that day add up to, in a form that joins with the other days' in date order.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use time::Date;

use crate::latency::{Buckets, Hist};
use crate::parse::Latency;
use crate::scan::BadLines;
use crate::timeline::Timeline;

/// The seed's counters for one service: checks by status, latency summed over every line.
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
/// buckets a rollup keeps.
#[derive(Debug, Clone)]
pub(crate) enum Latencies {
    Exact(Hist),
    Buckets(Box<Buckets>),
}

/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 3_600_000_000;
/// The first hour of [`Cells`], counted from the midnight that starts the file's date.
pub(crate) const FIRST_HOUR: i64 = -24;
/// Hours in [`Cells`]: from a day before the file's date to a day after it.
pub(crate) const HOURS: usize = 72;
/// The hour after the last of [`Cells`].
pub(crate) const END_HOUR: i64 = 48;

/// The successful checks of one hour, for the latency series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cell {
    /// Whole-millisecond latencies, summed exactly while they fit (what does not fit goes to
    /// `float_ms`, the same way whoever reads the file).
    pub ms: i64,
    /// Other latencies, summed in file order.
    pub float_ms: f64,
    pub checks: u64,
}

/// Successful checks' latencies by the hour they were stamped, from the day before the file's
/// date to the day after it (a writer puts a check in the file of the moment it writes, which
/// may be just past midnight); a check stamped further away is left out of the series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cells {
    /// The hour of `cells[0]`, counted from the file date's midnight.
    pub first: i64,
    /// Consecutive hours; empty, or [`HOURS`] of them while a day file is read.
    pub cells: Vec<Cell>,
}

impl Default for Cells {
    fn default() -> Self {
        Self { first: FIRST_HOUR, cells: Vec::new() }
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
        if self.cells.is_empty() {
            self.cells.resize(HOURS, Cell::default());
        }
        let cell = &mut self.cells[i];
        match latency {
            Latency::Int(v) => match cell.ms.checked_add(v) {
                Some(sum) => cell.ms = sum,
                None => cell.float_ms += v as f64,
            },
            Latency::Float(v) => cell.float_ms += v,
        }
        cell.checks = cell.checks.saturating_add(1);
    }
}

/// One service on one day.
#[derive(Debug, Clone)]
pub(crate) struct Acc {
    pub counts: Counts,
    /// The line where the service first appears in the day file (the seed's dictionary order).
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
