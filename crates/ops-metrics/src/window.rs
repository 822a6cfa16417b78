//! Reading a window of days: each day from its rollup when that is current, from its day file
//! otherwise, on a few threads, and the days joined in date order.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::Duration;

use time::{Date, Month, OffsetDateTime};

use crate::day::{Acc, Counts, Day, HOUR_US, Latencies, Source, midnight_us};
use crate::latency::{Buckets, Hist};
use crate::rollup::{self, Loaded, RollupIssue};
use crate::scan::{BadLines, CHUNK, FxMap, scan_file};
use crate::stats::{DayCounts, ServiceStats, State, UptimeReport, series_hours};
use crate::timeline::Timeline;
use crate::{MetricsError, day_file, python};

/// What kind of period a [`Window`] is, for the words a report puts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The last `days` days up to `until`, as the Python kit's report says ("last 7 days").
    Days,
    /// From one date to another, both included.
    Range,
    /// A calendar month.
    Month,
}

/// The days a report covers: `days` UTC days ending with `until` (included), as the Python kit's
/// `load_metrics(days)` reads today and the `days - 1` days before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The last day, usually today (UTC).
    pub until: Date,
    /// How many days, at least 1.
    pub days: u32,
    /// What the days are called.
    pub span: Span,
}

impl Window {
    /// The last `days` days ending with `until`.
    pub fn last_days(until: Date, days: u32) -> Self {
        Self { until, days, span: Span::Days }
    }

    /// From `since` to `until`, both included; `None` when `since` is after `until`.
    pub fn range(since: Date, until: Date) -> Option<Self> {
        let days = u32::try_from((until - since).whole_days() + 1).ok().filter(|d| *d >= 1)?;
        Some(Self { until, days, span: Span::Range })
    }

    /// The calendar month `month` of `year`.
    pub fn month(year: i32, month: Month) -> Option<Self> {
        let first = Date::from_calendar_date(year, month, 1).ok()?;
        let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
        Some(Self { span: Span::Month, ..Self::range(first, last)? })
    }

    /// The first day.
    pub fn from(&self) -> Date {
        self.until.checked_sub(time::Duration::days(i64::from(self.days.max(1)) - 1)).unwrap_or(Date::MIN)
    }

    /// Every day, oldest first.
    pub fn dates(&self) -> impl Iterator<Item = Date> {
        let (from, until) = (self.from(), self.until);
        (0..self.days.max(1))
            .map_while(move |i| from.checked_add(time::Duration::days(i64::from(i))).filter(|d| *d <= until))
    }

    /// A short label: `7d`, `2026-10`, `2026-10-01..2026-10-15` (the Prometheus `window`).
    pub fn label(&self) -> String {
        match self.span {
            Span::Days => format!("{}d", self.days),
            Span::Month => format!("{:04}-{:02}", self.until.year(), u8::from(self.until.month())),
            Span::Range => format!("{}..{}", self.from(), self.until),
        }
    }
}

/// The window in words, to follow "in": `the last 7 days`, `2026-10 UTC`,
/// `2026-10-01 to 2026-10-15 UTC`.
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Span::Days => write!(f, "the last {} days", self.days),
            Span::Month => write!(f, "{} UTC", self.label()),
            Span::Range => write!(f, "{} to {} UTC", self.from(), self.until),
        }
    }
}

/// Runs `work(i)` for every `i` in `0..n` on up to as many threads as there are cores (on the
/// calling thread when none can be started) and hands the results to `take` in the order of
/// `i`, holding at most a few finished results that wait for their turn (memory stays bounded
/// when one item is slow). `take` returning `false` stops the work.
pub(crate) fn in_order<T: Send>(
    n: usize,
    work: impl Fn(usize) -> T + Sync,
    mut take: impl FnMut(usize, T) -> bool,
) {
    struct Turn {
        next: usize,
        done: usize,
        stop: bool,
    }
    if n == 0 {
        return;
    }
    let threads = thread::available_parallelism().map_or(1, usize::from).min(n);
    let ahead = threads * 4;
    let turn = Mutex::new(Turn { next: 0, done: 0, stop: false });
    let moved = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, T)>();
    thread::scope(|s| {
        let mut spawned = 0;
        for _ in 0..threads {
            let (tx, turn, moved, work) = (tx.clone(), &turn, &moved, &work);
            let worker = move || {
                loop {
                    let i = {
                        let mut t = turn.lock().unwrap_or_else(PoisonError::into_inner);
                        while !t.stop && t.next < n && t.next >= t.done + ahead {
                            t = moved.wait(t).unwrap_or_else(PoisonError::into_inner);
                        }
                        if t.stop || t.next >= n {
                            break;
                        }
                        t.next += 1;
                        t.next - 1
                    };
                    if tx.send((i, work(i))).is_err() {
                        break;
                    }
                }
            };
            // A system that refuses threads (RLIMIT_NPROC) gets fewer workers, or none.
            spawned += usize::from(thread::Builder::new().spawn_scoped(s, worker).is_ok());
        }
        if spawned == 0 {
            drop(tx);
            for i in 0..n {
                if !take(i, work(i)) {
                    break;
                }
            }
            return;
        }
        drop(tx);
        let (mut waiting, mut expected, mut stopped) = (BTreeMap::new(), 0, false);
        for (i, result) in rx {
            if stopped {
                continue;
            }
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&expected) {
                stopped = !take(expected, result);
                expected += 1;
                let mut t = turn.lock().unwrap_or_else(PoisonError::into_inner);
                t.done = expected;
                t.stop |= stopped;
                drop(t);
                moved.notify_all();
                if stopped {
                    waiting.clear();
                    break;
                }
            }
        }
    });
}

/// One day of the window.
enum Got {
    /// No day file and no rollup.
    Nothing,
    /// A rollup that is not ours and no day file: the day cannot be read.
    Unreadable(RollupIssue),
    Day {
        day: Day,
        from_rollup: bool,
        issue: Option<RollupIssue>,
    },
}

/// Reads one day: its rollup when it is ours and current (the day file unchanged since, or
/// gone), its day file otherwise.
fn read_day(dir: &Path, date: Date, chunk: usize) -> Result<Got, MetricsError> {
    let path = day_file(dir, date);
    let source = match path.metadata() {
        Ok(m) if m.is_file() => Some(Source::of(&m)),
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(MetricsError::Read { path, source }),
    };
    let issue = match rollup::load(dir, date) {
        Loaded::Ours(day, rolled) if source.is_none_or(|s| s == rolled) => {
            return Ok(Got::Day { day, from_rollup: true, issue: None });
        }
        // None, or stale: the day file changed since.
        Loaded::Missing | Loaded::Ours(..) => None,
        Loaded::NotOurs(why) => {
            let rollup = rollup::rollup_file(dir, date);
            if source.is_none() {
                return Ok(Got::Unreadable(RollupIssue::Unreadable { rollup, why, date }));
            }
            Some(RollupIssue::Ignored { rollup, why, day_file: path.clone() })
        }
    };
    if source.is_none() {
        return Ok(Got::Nothing);
    }
    let (day, _) = scan_file(&path, date, chunk)?;
    Ok(Got::Day { day, from_rollup: false, issue })
}

/// Sums of the successful checks' latencies in one point of the series.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    ms: i128,
    float_ms: f64,
    checks: u64,
}

/// How the window's latency series is cut.
struct Series {
    start: i64,
    step: i64,
    len: usize,
}

/// One service over the whole window, the days joined in date order.
struct Global {
    counts: Counts,
    python_kit_order: (u32, u64),
    /// Every latency, while every day came from its day file.
    exact: Hist,
    /// From the first rolled-up day on: every latency so far in buckets.
    buckets: Option<Buckets>,
    timeline: Option<Timeline>,
    daily: Vec<DayCounts>,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    /// The points of the latency series from `series_first` on that have checks so far (the
    /// days of a part touch only a few).
    series_first: usize,
    series: Vec<Slot>,
}

fn micros_to_time(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok()
}

impl Global {
    fn new() -> Self {
        Self {
            counts: Counts::default(),
            python_kit_order: (u32::MAX, u64::MAX),
            exact: Hist::default(),
            buckets: None,
            timeline: None,
            daily: Vec::new(),
            min_ts: None,
            max_ts: None,
            series_first: 0,
            series: Vec::new(),
        }
    }

    /// Point `i` of the latency series, making room for it.
    fn slot(&mut self, i: usize) -> &mut Slot {
        if self.series.is_empty() {
            self.series_first = i;
        } else if i < self.series_first {
            let before = self.series_first - i;
            self.series.splice(0..0, std::iter::repeat_n(Slot::default(), before));
            self.series_first = i;
        }
        let at = i - self.series_first;
        if at >= self.series.len() {
            self.series.resize(at + 1, Slot::default());
        }
        &mut self.series[at]
    }

    fn add(&mut self, series: &Series, date: Date, rank: u32, acc: Acc) {
        self.counts.merge(&acc.counts);
        self.python_kit_order = self.python_kit_order.min((rank, acc.first_line));
        match (acc.latency, &mut self.buckets) {
            (Latencies::Exact(h), None) => self.exact.merge(&h),
            (Latencies::Exact(h), Some(b)) => b.merge(&h.to_buckets()),
            (Latencies::Buckets { first, counts, min, max }, buckets) if !counts.is_empty() => {
                let all = buckets.get_or_insert_with(|| std::mem::take(&mut self.exact).to_buckets());
                all.add_counts(first, &counts, min, max);
            }
            (Latencies::Buckets { .. }, _) => {}
        }
        self.timeline = match (self.timeline, acc.timeline) {
            (Some(a), Some(b)) => Some(a.then(b)),
            (a, b) => a.or(b),
        };
        let Counts { up, down, other, .. } = acc.counts;
        self.daily.push(DayCounts { date, up, down, other });
        self.min_ts = match (self.min_ts, acc.min_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ts = self.max_ts.max(acc.max_ts);
        // The point of each hour, counted from the window's first midnight without a division
        // per hour: points are a whole number of hours.
        let cells = &acc.cells;
        let per_point = (series.step / HOUR_US).max(1);
        let hour = (midnight_us(date) - series.start) / HOUR_US + cells.first;
        let (mut point, mut within) = (hour.div_euclid(per_point), hour.rem_euclid(per_point));
        for i in 0..cells.checks.len() {
            if let Ok(p) = usize::try_from(point)
                && p < series.len
                && cells.checks[i] > 0
            {
                let slot = self.slot(p);
                slot.ms = slot.ms.saturating_add(i128::from(cells.ms[i]));
                slot.float_ms += cells.float(i);
                slot.checks = slot.checks.saturating_add(cells.checks[i]);
            }
            within += 1;
            if within == per_point {
                (point, within) = (point + 1, 0);
            }
        }
    }

    /// `self` followed by `later` (the days after).
    fn then(&mut self, later: Self) {
        self.counts.merge(&later.counts);
        self.python_kit_order = self.python_kit_order.min(later.python_kit_order);
        match (later.buckets, &mut self.buckets) {
            (None, None) => self.exact.merge(&later.exact),
            (None, Some(all)) => all.merge(&later.exact.to_buckets()),
            (Some(b), buckets) => {
                let all = buckets.get_or_insert_with(|| std::mem::take(&mut self.exact).to_buckets());
                all.merge(&b);
            }
        }
        self.timeline = match (self.timeline, later.timeline) {
            (Some(a), Some(b)) => Some(a.then(b)),
            (a, b) => a.or(b),
        };
        self.daily.extend(later.daily);
        self.min_ts = match (self.min_ts, later.min_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ts = self.max_ts.max(later.max_ts);
        for (i, b) in (later.series_first..).zip(later.series) {
            if b.checks > 0 {
                let a = self.slot(i);
                a.ms = a.ms.saturating_add(b.ms);
                a.float_ms += b.float_ms;
                a.checks = a.checks.saturating_add(b.checks);
            }
        }
    }

    fn finish(self, name: String, series_len: usize) -> ServiceStats {
        let c = self.counts;
        let total = c.up.saturating_add(c.down);
        let count = total.saturating_add(c.other);
        let (uptime_percent, avg_latency_ms) = if total > 0 {
            let sum = if c.has_float { c.latency_int as f64 + c.latency_float } else { c.latency_int as f64 };
            let pct = c.up as f64 / total as f64 * 100.0;
            (Some(python::round(pct, 2)), Some(python::round(sum / count as f64, 1)))
        } else {
            (None, None)
        };
        let outcome = self.timeline.map(|t| t.outcome());
        let time_uptime_percent = outcome
            .filter(|o| o.up_us > 0 || o.down_us > 0)
            .map(|o| o.up_us as f64 / (i128::from(o.up_us) + i128::from(o.down_us)) as f64 * 100.0);
        let latency = match &self.buckets {
            Some(b) => b.percentiles(),
            None => self.exact.percentiles(),
        };
        ServiceStats {
            name,
            up: c.up,
            down: c.down,
            other: c.other,
            uptime_percent,
            avg_latency_ms,
            latency,
            incidents: outcome.map_or(0, |o| o.incidents),
            longest_outage: outcome
                .and_then(|o| o.longest_us)
                .map(|us| Duration::from_micros(u64::try_from(us).unwrap_or(0))),
            down_since: outcome.and_then(|o| o.down_since).and_then(micros_to_time),
            time_uptime_percent,
            first_seen: self.min_ts.and_then(micros_to_time),
            last_seen: self.max_ts.and_then(micros_to_time),
            state: outcome.map(|o| if o.down_since.is_some() { State::Down } else { State::Up }),
            daily: self.daily,
            latency_series: if self.series.is_empty() {
                Vec::new()
            } else {
                let mut points = vec![None; series_len];
                for (i, s) in (self.series_first..).zip(self.series) {
                    if let Some(p) = points.get_mut(i) {
                        *p = (s.checks > 0).then(|| (s.ms as f64 + s.float_ms) / s.checks as f64);
                    }
                }
                points
            },
            python_kit_order: self.python_kit_order,
        }
    }
}

/// Reads the days of `window` in `dir` and computes every service's statistics. A day comes
/// from its rollup (`rollups/YYYY-MM-DD.json`) when that is ours and current, from its day
/// file (when it exists and is a regular file) otherwise; a rollup that is not ours is never
/// used, and without a day file the day is left out with an issue in [`UptimeReport::issues`].
/// Bad lines are skipped and counted in [`UptimeReport::bad`]; only an unreadable day file or
/// directory is an error. Nothing is written.
pub fn read_window(dir: &Path, window: &Window) -> Result<UptimeReport, MetricsError> {
    read_window_in_chunks(dir, *window, CHUNK)
}

/// Whether `dir` holds anything: a missing directory holds nothing (nothing was recorded yet);
/// one that cannot be read, or that is not a directory, is an error: "cannot look" must never
/// read as "nothing happened".
fn exists(dir: &Path) -> Result<bool, MetricsError> {
    let unreadable = |source| MetricsError::Read { path: dir.to_path_buf(), source };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(unreadable(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(unreadable(e)),
    }
}

/// [`read_window`] reading day files `chunk` bytes at a time at first.
pub(crate) fn read_window_in_chunks(
    dir: &Path,
    window: Window,
    chunk: usize,
) -> Result<UptimeReport, MetricsError> {
    let mut report = UptimeReport {
        window,
        services: Vec::new(),
        bad: BadLines::default(),
        undated: 0,
        files: 0,
        rollups: 0,
        issues: Vec::new(),
        lines: 0,
        bytes: 0,
    };
    if !exists(dir)? {
        return Ok(report);
    }
    let dates: Vec<Date> = window.dates().collect();
    let series = Series {
        start: midnight_us(window.from()),
        step: i64::from(series_hours(window.days)) * HOUR_US,
        len: usize::try_from((window.days.max(1) * 24).div_ceil(series_hours(window.days))).unwrap_or(1),
    };
    let parts: Vec<&[Date]> = dates.chunks(DAYS_PER_PART).collect();
    let mut globals: FxMap<Global> = FxMap::default();
    let mut failure = None;
    in_order(
        parts.len(),
        |i| read_part(dir, parts[i], &window, &series, chunk),
        |_, part| {
            let part = match part {
                Ok(part) => part,
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            };
            report.files += part.files;
            report.rollups += part.rollups;
            report.issues.extend(part.issues);
            report.lines = report.lines.saturating_add(part.lines);
            report.bytes = report.bytes.saturating_add(part.bytes);
            report.undated = report.undated.saturating_add(part.undated);
            report.bad.merge(part.bad);
            for (name, later) in part.services {
                match globals.get_mut(&name) {
                    Some(g) => g.then(later),
                    None => {
                        globals.insert(name, later);
                    }
                }
            }
            true
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    report.services = globals.into_iter().map(|(name, g)| g.finish(name, series.len)).collect();
    report.services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(report)
}

/// Days read in a row by one thread and joined there, so that a day's memory is freed by the
/// thread that allocated it and the main thread joins a few parts rather than every day. The
/// number is fixed: every sum is added in the same order however the days were read.
const DAYS_PER_PART: usize = 8;

/// Consecutive days of the window, joined.
#[derive(Default)]
struct Part {
    services: FxMap<Global>,
    bad: BadLines,
    undated: u64,
    files: usize,
    rollups: usize,
    issues: Vec<RollupIssue>,
    lines: u64,
    bytes: u64,
}

fn read_part(
    dir: &Path,
    dates: &[Date],
    window: &Window,
    series: &Series,
    chunk: usize,
) -> Result<Part, MetricsError> {
    let mut part = Part::default();
    for &date in dates {
        let (day, from_rollup, issue) = match read_day(dir, date, chunk)? {
            Got::Nothing => continue,
            Got::Unreadable(issue) => {
                part.issues.push(issue);
                continue;
            }
            Got::Day { day, from_rollup, issue } => (day, from_rollup, issue),
        };
        // The Python kit reads the newest file first.
        let rank = u32::try_from((window.until - date).whole_days()).unwrap_or(u32::MAX);
        part.files += 1;
        part.rollups += usize::from(from_rollup);
        part.issues.extend(issue);
        part.lines = part.lines.saturating_add(day.lines);
        part.bytes = part.bytes.saturating_add(day.bytes);
        part.undated = part.undated.saturating_add(day.undated);
        part.bad.merge(day.bad);
        for (name, acc) in day.services {
            if let Some(g) = part.services.get_mut(&name) {
                g.add(series, date, rank, acc);
            } else {
                let mut g = Global::new();
                g.add(series, date, rank, acc);
                part.services.insert(name, g);
            }
        }
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn windows() {
        let w = Window::last_days(date!(2025 - 01 - 15), 7);
        assert_eq!((w.from(), w.dates().count(), w.label()), (date!(2025 - 01 - 09), 7, "7d".into()));
        assert_eq!(w.to_string(), "the last 7 days");
        let m = Window::month(2024, Month::February).unwrap();
        assert_eq!((m.from(), m.until, m.days), (date!(2024 - 02 - 01), date!(2024 - 02 - 29), 29));
        assert_eq!((m.label(), m.to_string()), ("2024-02".into(), "2024-02 UTC".into()));
        let r = Window::range(date!(2025 - 12 - 30), date!(2026 - 01 - 02)).unwrap();
        assert_eq!((r.days, r.label()), (4, "2025-12-30..2026-01-02".into()));
        assert_eq!(r.to_string(), "2025-12-30 to 2026-01-02 UTC");
        assert_eq!(Window::range(date!(2025 - 01 - 02), date!(2025 - 01 - 01)), None);
        assert_eq!(Window::range(date!(2025 - 01 - 02), date!(2025 - 01 - 02)).unwrap().days, 1);
        // At the edge of the calendar the window stops rather than overflows.
        let edge = Window::last_days(Date::MIN, 3);
        assert_eq!((edge.from(), edge.dates().count()), (Date::MIN, 1));
    }

    #[test]
    fn in_order_hands_results_in_order_and_stops_when_asked() {
        let mut seen = Vec::new();
        in_order(
            200,
            |i| {
                if i % 7 == 0 {
                    thread::yield_now();
                }
                i * 2
            },
            |i, v| {
                seen.push((i, v));
                true
            },
        );
        assert_eq!(seen, (0..200).map(|i| (i, i * 2)).collect::<Vec<_>>());
        let mut taken = 0;
        in_order(
            10_000,
            |i| i,
            |_, _| {
                taken += 1;
                taken < 5
            },
        );
        assert_eq!(taken, 5);
        in_order(0, |i| i, |_, _| unreachable!());
    }
}
