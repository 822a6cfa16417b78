//! What a window of metrics says about each service: the seed's figures, computed and rounded
//! exactly as `calculate_uptime` does, and the richer ones.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use time::{Date, OffsetDateTime};

use crate::parse::Latency;
use crate::python;
use crate::scan::{BadLines, Window};

/// The latency distribution of a service's successful checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median, in milliseconds.
    pub p50: f64,
    /// 95th percentile (nearest rank), in milliseconds.
    pub p95: f64,
    /// 99th percentile (nearest rank), in milliseconds.
    pub p99: f64,
}

/// The checks of one service on one day (the day file's date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounts {
    /// The UTC date.
    pub date: Date,
    /// Checks with status `up`.
    pub up: u64,
    /// Checks with status `down`.
    pub down: u64,
    /// Checks with any other status (`recovered` ...).
    pub other: u64,
}

impl DayCounts {
    /// `up / (up + down)` as a percentage, unrounded; `None` without up or down checks.
    pub fn uptime_percent(&self) -> Option<f64> {
        let total = self.up + self.down;
        (total > 0).then(|| self.up as f64 / total as f64 * 100.0)
    }
}

/// Whether a service's latest check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The latest dated check was `up` or `recovered`.
    Up,
    /// The latest dated check was `down`.
    Down,
}

/// Everything the window says about one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStats {
    /// The service name, as written in the metrics lines (`unknown` when a line had none).
    pub name: String,
    /// Checks with status `up`.
    pub up: u64,
    /// Checks with status `down` (the seed's "failures").
    pub down: u64,
    /// Checks with any other status: not in the uptime, but in the seed's latency average.
    pub other: u64,
    /// The seed's `uptime_percent`: `round(up / (up + down) * 100, 2)`; `None` when there are
    /// no up or down checks (the seed then prints the integer `0`).
    pub uptime_percent: Option<f64>,
    /// The seed's `avg_latency_ms`: `round(sum of latency_ms over every line / lines, 1)`;
    /// `None` when there are no up or down checks (the seed prints `0`).
    pub avg_latency_ms: Option<f64>,
    /// Latency percentiles over the `up` checks.
    pub latency: Option<Percentiles>,
    /// Runs of consecutive failed checks, in time order (`recovered` ends one), including one
    /// still going on.
    pub incidents: u64,
    /// The longest incident: from its first failed check to the next passing one (or to the
    /// last check, if it is still going on).
    pub longest_outage: Option<Duration>,
    /// When the ongoing incident began, if the latest check failed.
    pub down_since: Option<OffsetDateTime>,
    /// The share of time up between the first and the last check, each check's state holding
    /// until the next one; `None` with fewer than two dated checks.
    pub time_uptime_percent: Option<f64>,
    /// The earliest timestamp.
    pub first_seen: Option<OffsetDateTime>,
    /// The latest timestamp.
    pub last_seen: Option<OffsetDateTime>,
    /// The latest check's state; `None` when no line had a usable timestamp.
    pub state: Option<State>,
    /// Per day with a day file holding this service, oldest first.
    pub daily: Vec<DayCounts>,
    /// Average latency of `up` checks per equal slice of the window (see
    /// [`UptimeReport::series_step`]); `None` where a slice has none.
    pub latency_series: Vec<Option<f64>>,
    /// Where the seed's dictionary would have this service (the order of first appearance,
    /// reading the newest day file first).
    pub(crate) seed_order: (u32, u64),
}

impl ServiceStats {
    /// The seed's `total_checks`: up + down.
    pub fn total_checks(&self) -> u64 {
        self.up + self.down
    }

    /// The unrounded uptime, `up / (up + down)`, as a ratio from 0 to 1.
    pub fn uptime_ratio(&self) -> Option<f64> {
        let total = self.total_checks();
        (total > 0).then(|| self.up as f64 / total as f64)
    }

    /// The uptime as the seed prints it: `100.0`, `99.93`, or `0` with no up or down checks.
    pub fn uptime_text(&self) -> String {
        self.uptime_percent.map_or_else(|| "0".into(), python::repr)
    }

    /// The average latency as the seed prints it: `145.0`, or `0`.
    pub fn avg_latency_text(&self) -> String {
        self.avg_latency_ms.map_or_else(|| "0".into(), python::repr)
    }

    /// The seed's indicator: `OK` at 99.5 % and above, `WARN` at 95 % and above, else `CRITICAL`.
    pub fn indicator(&self) -> &'static str {
        match self.uptime_percent.unwrap_or(0.0) {
            p if p >= 99.5 => "OK",
            p if p >= 95.0 => "WARN",
            _ => "CRITICAL",
        }
    }

    /// Whether the seed's `uptime_percent` is below `target` (the weekly digest's test).
    pub fn below(&self, target: f64) -> bool {
        self.uptime_percent.unwrap_or(0.0) < target
    }
}

/// The statistics of every service over a window, and what was skipped on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct UptimeReport {
    /// The days read.
    pub window: Window,
    /// One entry per service name, sorted by name (as the seed's report is).
    pub services: Vec<ServiceStats>,
    /// Lines skipped because they cannot be counted.
    pub bad: BadLines,
    /// Lines read without a usable timestamp: counted like the seed counts them, but left out
    /// of incidents, time-based uptime, first/last seen and the latency series.
    pub undated: u64,
    /// Day files read.
    pub files: usize,
    /// Lines read (blank ones included).
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
}

impl UptimeReport {
    /// The services in the order the seed's `calculate_uptime` dictionary holds them.
    pub fn seed_order(&self) -> Vec<&ServiceStats> {
        let mut v: Vec<&ServiceStats> = self.services.iter().collect();
        v.sort_by_key(|s| s.seed_order);
        v
    }

    /// The width of one point of [`ServiceStats::latency_series`].
    pub fn series_step(&self) -> Duration {
        Duration::from_secs(3600 * u64::from(series_hours(self.window.days)))
    }
}

/// Hours per latency-series point: about a week's worth of hourly points, whatever the window.
pub(crate) fn series_hours(days: u32) -> u32 {
    (days * 24).div_ceil(168).max(1)
}

/// A latency as a sortable key.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// An exact histogram of latencies: dense for whole milliseconds below 16 s, a map otherwise.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hist {
    dense: Vec<u64>,
    sparse: BTreeMap<Key, u64>,
}

const DENSE: i64 = 16_384;

impl Hist {
    pub fn add(&mut self, latency: Latency) {
        match latency {
            Latency::Int(v) if (0..DENSE).contains(&v) => {
                let i = usize::try_from(v).unwrap_or(0);
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, 0);
                }
                self.dense[i] += 1;
            }
            Latency::Int(v) => *self.sparse.entry(Key(v as f64)).or_default() += 1,
            Latency::Float(v) => *self.sparse.entry(Key(v)).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Self) {
        if other.dense.len() > self.dense.len() {
            self.dense.resize(other.dense.len(), 0);
        }
        for (a, b) in self.dense.iter_mut().zip(&other.dense) {
            *a += b;
        }
        for (k, n) in &other.sparse {
            *self.sparse.entry(*k).or_default() += n;
        }
    }

    /// Nearest-rank percentiles; `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let mut values: Vec<(f64, u64)> = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(ms, n)| (ms as f64, *n))
            .chain(self.sparse.iter().map(|(k, n)| (k.0, *n)))
            .collect();
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = values.iter().map(|v| v.1).sum();
        if total == 0 {
            return None;
        }
        let at = |per_mille: u64| {
            let rank = (total * per_mille).div_ceil(1000).max(1);
            let mut seen = 0;
            values
                .iter()
                .find(|(_, n)| {
                    seen += n;
                    seen >= rank
                })
                .map_or(f64::NAN, |v| v.0)
        };
        Some(Percentiles { p50: at(500), p95: at(950), p99: at(990) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut h = Hist::default();
        for v in 1..=100 {
            h.add(Latency::Int(v));
        }
        assert_eq!(h.percentiles(), Some(Percentiles { p50: 50.0, p95: 95.0, p99: 99.0 }));
        let mut other = Hist::default();
        other.add(Latency::Float(0.5));
        other.add(Latency::Int(-1));
        other.add(Latency::Int(100_000));
        h.merge(&other);
        // 103 values: -1, 0.5, 1..=100, 100000.
        assert_eq!(h.percentiles(), Some(Percentiles { p50: 50.0, p95: 96.0, p99: 100.0 }));
        assert_eq!(Hist::default().percentiles(), None);
        let mut one = Hist::default();
        one.add(Latency::Int(7));
        assert_eq!(one.percentiles(), Some(Percentiles { p50: 7.0, p95: 7.0, p99: 7.0 }));
    }

    #[test]
    fn series_resolution() {
        assert_eq!(series_hours(1), 1);
        assert_eq!(series_hours(7), 1);
        assert_eq!(series_hours(8), 2);
        assert_eq!(series_hours(90), 13);
    }
}
