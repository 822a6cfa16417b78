//! What a window of metrics says about each service: the Python kit's figures, computed and rounded
//! exactly as `calculate_uptime` does, and the richer ones.

use std::time::Duration;

use time::{Date, OffsetDateTime};

use crate::python;
use crate::rollup::RollupIssue;
use crate::scan::BadLines;
use crate::window::Window;

/// The latency distribution of a service's successful checks.
///
/// Exact (nearest rank) when every day of the window was read from its day file; when a day
/// came from its rollup, which keeps latencies in fixed buckets, each figure is the upper bound
/// of the bucket holding the rank (never above the largest latency): at least the exact
/// percentile, and at most 20 % (or 1 ms) above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median, in milliseconds.
    pub p50: f64,
    /// 95th percentile (nearest rank), in milliseconds.
    pub p95: f64,
    /// 99th percentile (nearest rank), in milliseconds.
    pub p99: f64,
    /// Computed from rollups' histograms rather than from every latency.
    pub approximate: bool,
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
    /// Checks with status `down` (the Python kit's "failures").
    pub down: u64,
    /// Checks with any other status: not in the uptime, but in the Python kit's latency average.
    pub other: u64,
    /// The Python kit's `uptime_percent`: `round(up / (up + down) * 100, 2)`; `None` when there are
    /// no up or down checks (the Python kit then prints the integer `0`).
    pub uptime_percent: Option<f64>,
    /// The Python kit's `avg_latency_ms`: `round(sum of latency_ms over every line / lines, 1)`;
    /// `None` when there are no up or down checks (the Python kit prints `0`).
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
    /// [`UptimeReport::series_step`]); `None` where a slice has none. A check stamped more than
    /// a day away from its day file's date is left out.
    pub latency_series: Vec<Option<f64>>,
    /// Where the Python kit's dictionary would have this service (the order of first appearance,
    /// reading the newest day file first).
    pub(crate) python_kit_order: (u32, u64),
}

impl ServiceStats {
    /// The Python kit's `total_checks`: up + down.
    pub fn total_checks(&self) -> u64 {
        self.up + self.down
    }

    /// The unrounded uptime, `up / (up + down)`, as a ratio from 0 to 1.
    pub fn uptime_ratio(&self) -> Option<f64> {
        let total = self.total_checks();
        (total > 0).then(|| self.up as f64 / total as f64)
    }

    /// The uptime as the Python kit prints it: `100.0`, `99.93`, or `0` with no up or down checks.
    pub fn uptime_text(&self) -> String {
        self.uptime_percent.map_or_else(|| "0".into(), python::repr)
    }

    /// The average latency as the Python kit prints it: `145.0`, or `0`.
    pub fn avg_latency_text(&self) -> String {
        self.avg_latency_ms.map_or_else(|| "0".into(), python::repr)
    }

    /// The Python kit's indicator: `OK` at 99.5 % and above, `WARN` at 95 % and above, else `CRITICAL`.
    pub fn indicator(&self) -> &'static str {
        match self.uptime_percent.unwrap_or(0.0) {
            p if p >= 99.5 => "OK",
            p if p >= 95.0 => "WARN",
            _ => "CRITICAL",
        }
    }

    /// Whether the Python kit's `uptime_percent` is below `target` (the weekly digest's test).
    pub fn below(&self, target: f64) -> bool {
        self.uptime_percent.unwrap_or(0.0) < target
    }
}

/// A service's figures counted elsewhere than in day files (Prometheus samples of a fleet, say):
/// what [`ServiceStats::counted`] turns into the report's figures, rounded as the Python kit
/// rounds them, so that every renderer shows them as it shows a host's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counted {
    /// The name to show.
    pub name: String,
    /// Samples (or checks) up.
    pub up: u64,
    /// Samples (or checks) down.
    pub down: u64,
    /// The average latency of every sample, in milliseconds (unrounded).
    pub avg_latency_ms: Option<f64>,
    /// The latest state.
    pub state: Option<State>,
    /// When it was last seen.
    pub last_seen: Option<OffsetDateTime>,
    /// Per day, oldest first.
    pub daily: Vec<DayCounts>,
}

impl ServiceStats {
    /// The statistics of figures counted elsewhere: the Python kit's uptime (`round(up / (up +
    /// down) * 100, 2)`) and average (`round(avg, 1)`), `None` without up or down samples as a
    /// day file's; nothing the counts cannot tell (percentiles, incidents, time-based uptime,
    /// first seen, the latency series). `order` is its place in the Python kit's order.
    pub fn counted(c: Counted, order: u32) -> Self {
        let total = c.up.saturating_add(c.down);
        let pct = (total > 0).then(|| python::round(c.up as f64 / total as f64 * 100.0, 2));
        Self {
            name: c.name,
            up: c.up,
            down: c.down,
            other: 0,
            uptime_percent: pct,
            avg_latency_ms: c.avg_latency_ms.filter(|_| total > 0).map(|ms| python::round(ms, 1)),
            latency: None,
            incidents: 0,
            longest_outage: None,
            down_since: None,
            time_uptime_percent: None,
            first_seen: None,
            last_seen: c.last_seen,
            state: c.state,
            daily: c.daily,
            latency_series: Vec::new(),
            python_kit_order: (order, 0),
        }
    }
}

/// The statistics of every service over a window, and what was skipped on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct UptimeReport {
    /// The days read.
    pub window: Window,
    /// One entry per service name, sorted by name (as the Python kit's report is).
    pub services: Vec<ServiceStats>,
    /// Lines skipped because they cannot be counted.
    pub bad: BadLines,
    /// Lines read without a usable timestamp: counted like the Python kit counts them, but left out
    /// of incidents, time-based uptime, first/last seen and the latency series.
    pub undated: u64,
    /// Days read: each from its day file or from its rollup.
    pub files: usize,
    /// Of those, the days read from their rollup.
    pub rollups: usize,
    /// Rollups that could not be used (a day left out of the report is among them).
    pub issues: Vec<RollupIssue>,
    /// Lines of the day files (blank ones included; a rolled-up day's as it was rolled up).
    pub lines: u64,
    /// Bytes of the day files, counted the same way.
    pub bytes: u64,
}

impl UptimeReport {
    /// The services in the order the Python kit's `calculate_uptime` dictionary holds them.
    pub fn python_kit_order(&self) -> Vec<&ServiceStats> {
        let mut v: Vec<&ServiceStats> = self.services.iter().collect();
        v.sort_by_key(|s| s.python_kit_order);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_resolution() {
        assert_eq!(series_hours(1), 1);
        assert_eq!(series_hours(7), 1);
        assert_eq!(series_hours(8), 2);
        assert_eq!(series_hours(90), 13);
    }

    #[test]
    fn counted_figures_are_rounded_as_the_python_kit_rounds() {
        let c = Counted {
            name: "web1/API".into(),
            up: 2,
            down: 1,
            avg_latency_ms: Some(12.34),
            ..Counted::default()
        };
        let s = ServiceStats::counted(c, 3);
        assert_eq!((s.uptime_percent, s.avg_latency_ms, s.total_checks()), (Some(66.67), Some(12.3), 3));
        assert_eq!(
            (s.uptime_text().as_str(), s.indicator(), s.python_kit_order),
            ("66.67", "CRITICAL", (3, 0))
        );
        let none = ServiceStats::counted(Counted { avg_latency_ms: Some(5.0), ..Counted::default() }, 0);
        assert_eq!((none.uptime_percent, none.avg_latency_ms), (None, None));
    }
}
