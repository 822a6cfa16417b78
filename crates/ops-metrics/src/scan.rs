//! Reading a window of day files: in chunks (never all lines at once), one file per worker
//! thread, each file summarised on its own and the summaries joined in date order.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use time::{Date, OffsetDateTime};

use crate::parse::{self, Kind, Latency, Parsed};
use crate::stats::{DayCounts, Hist, ServiceStats, State, UptimeReport, series_hours};
use crate::timeline::Timeline;
use crate::{MetricsError, day_file, python};

/// The days a report covers: `days` UTC days ending with `until` (included), as the seed's
/// `load_metrics(days)` reads today and the `days - 1` days before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The last day, usually today (UTC).
    pub until: Date,
    /// How many days, at least 1.
    pub days: u32,
}

impl Window {
    /// The first day.
    pub fn from(&self) -> Date {
        self.until - time::Duration::days(i64::from(self.days.max(1)) - 1)
    }

    /// Every day, oldest first.
    pub fn dates(&self) -> impl Iterator<Item = Date> {
        let from = self.from();
        (0..self.days.max(1)).map(move |i| from + time::Duration::days(i64::from(i)))
    }
}

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadKind {
    /// The bytes are not UTF-8 (the seed's reader crashes on them).
    InvalidUtf8,
    /// Not JSON (the seed skips these silently).
    InvalidJson,
    /// The file's last line has no newline and does not parse: a write cut short.
    TornLastLine,
    /// JSON, but not an object (the seed crashes on them).
    NotAnObject,
    /// `name` or `status` not a string, `latency_ms` not a number (null included).
    WrongType,
    /// Longer than 16 MiB: skipped without being held in memory (no writer produces one).
    TooLong,
}

impl BadKind {
    const ALL: [Self; 6] = [
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::TornLastLine,
        Self::NotAnObject,
        Self::WrongType,
        Self::TooLong,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::InvalidJson => "invalid JSON",
            Self::TornLastLine => "torn last line",
            Self::NotAnObject => "not an object",
            Self::WrongType => "wrong field type",
            Self::TooLong => "over 16 MiB",
        }
    }
}

/// The first skipped line, to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The day file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub kind: BadKind,
    /// In words (`latency_ms is null`).
    pub reason: &'static str,
}

/// Lines skipped, by kind. Its `Display` is the one warning line a binary prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BadLines {
    counts: [u64; 6],
    /// How many files had at least one.
    pub files: usize,
    /// The first one in date and line order.
    pub first: Option<BadLine>,
}

impl BadLines {
    /// All skipped lines.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Skipped lines of one kind.
    pub fn count(&self, kind: BadKind) -> u64 {
        self.counts[kind.index()]
    }

    fn add(&mut self, kind: BadKind) {
        self.counts[kind.index()] += 1;
    }

    fn merge(&mut self, other: Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.files += other.files;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

impl fmt::Display for BadLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "skipped {total} bad line{} in {} file{} (",
            plural(total),
            self.files,
            plural(self.files as u64)
        )?;
        let kinds: Vec<String> = BadKind::ALL
            .iter()
            .filter(|k| self.count(**k) > 0)
            .map(|k| format!("{} {}", self.count(*k), k.describe()))
            .collect();
        write!(f, "{})", kinds.join(", "))?;
        if let Some(first) = &self.first {
            write!(f, "; first at {}:{}: {}", first.path.display(), first.line, first.reason)?;
        }
        Ok(())
    }
}

/// FxHash: the service-name map is hit once per line, and the names are ours, not an attacker's.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(last));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<V> = HashMap<String, V, BuildHasherDefault<Fx>>;

/// The seed's counters for one service: checks by status, latency summed over every line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    up: u64,
    down: u64,
    other: u64,
    latency_int: i128,
    latency_float: f64,
    has_float: bool,
}

impl Counts {
    fn merge(&mut self, other: &Self) {
        self.up += other.up;
        self.down += other.down;
        self.other += other.other;
        self.latency_int += other.latency_int;
        self.latency_float += other.latency_float;
        self.has_float |= other.has_float;
    }
}

/// One service in one file.
#[derive(Debug, Default)]
struct Acc {
    counts: Counts,
    first_line: u64,
    hist: Hist,
    timeline: Option<Timeline>,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    series: Vec<(f64, u64)>,
}

/// Where each file sits and how to bucket the latency series.
struct Plan {
    files: Vec<(PathBuf, Date)>,
    window: Window,
    series_start: i64,
    series_step: i64,
    series_len: usize,
    /// The first read size ([`CHUNK`]; small in the fuzz target, to cut lines at every byte).
    chunk: usize,
}

/// One file's summary.
struct FileScan {
    index: usize,
    services: Vec<(String, Acc)>,
    bad: BadLines,
    undated: u64,
    lines: u64,
    bytes: u64,
}

struct FileReader<'p> {
    plan: &'p Plan,
    path: &'p Path,
    index: FxMap<usize>,
    accs: Vec<(String, Acc)>,
    bad: BadLines,
    undated: u64,
    line_no: u64,
}

impl FileReader<'_> {
    fn bad(&mut self, kind: BadKind, reason: &'static str) {
        self.bad.add(kind);
        if self.bad.first.is_none() {
            self.bad.first =
                Some(BadLine { path: self.path.to_path_buf(), line: self.line_no, kind, reason });
        }
    }

    /// One `\n`-separated line; `last` when it is the file's unterminated end.
    fn line(&mut self, bytes: &[u8], text: Option<&str>, last: bool) {
        self.line_no += 1;
        let text = match text {
            Some(t) => t,
            None => match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) if last => return self.bad(BadKind::TornLastLine, "no newline and invalid UTF-8"),
                Err(_) => return self.bad(BadKind::InvalidUtf8, "invalid UTF-8"),
            },
        };
        if memchr::memchr(b'\r', bytes).is_some() {
            // Python's text mode ends a line at "\r\n" and at a lone "\r" alike.
            let mut pieces = text.split('\r').peekable();
            while let Some(piece) = pieces.next() {
                self.piece(piece, last && pieces.peek().is_none());
            }
        } else {
            self.piece(text, last);
        }
    }

    fn piece(&mut self, text: &str, last: bool) {
        match parse::parse(text) {
            Parsed::Blank => {}
            Parsed::Bad(BadKind::InvalidJson, _) if last => {
                self.bad(BadKind::TornLastLine, "no newline and not valid JSON");
            }
            Parsed::Bad(kind, reason) => self.bad(kind, reason),
            Parsed::Record(f) => {
                let i = if let Some(&i) = self.index.get(f.name.as_ref()) {
                    i
                } else {
                    let i = self.accs.len();
                    self.index.insert(f.name.clone().into_owned(), i);
                    self.accs.push((f.name.into_owned(), Acc { first_line: self.line_no, ..Acc::default() }));
                    i
                };
                let plan = self.plan;
                let acc = &mut self.accs[i].1;
                let counts = &mut acc.counts;
                match f.kind {
                    Kind::Up => counts.up += 1,
                    Kind::Down => counts.down += 1,
                    Kind::Recovered | Kind::Other => counts.other += 1,
                }
                match f.latency {
                    Latency::Int(v) => counts.latency_int += i128::from(v),
                    Latency::Float(v) => {
                        counts.latency_float += v;
                        counts.has_float = true;
                    }
                }
                if f.kind == Kind::Up {
                    acc.hist.add(f.latency);
                }
                let Some(at) = f.timestamp else {
                    self.undated += 1;
                    return;
                };
                acc.min_ts = Some(acc.min_ts.map_or(at, |m| m.min(at)));
                acc.max_ts = Some(acc.max_ts.map_or(at, |m| m.max(at)));
                if f.kind == Kind::Other {
                    return;
                }
                let down = f.kind == Kind::Down;
                match &mut acc.timeline {
                    Some(t) => t.push(at, down),
                    None => acc.timeline = Some(Timeline::single(at, down)),
                }
                if f.kind == Kind::Up
                    && let Ok(slot) = usize::try_from((at - plan.series_start).div_euclid(plan.series_step))
                    && slot < plan.series_len
                {
                    if acc.series.is_empty() {
                        acc.series.resize(plan.series_len, (0.0, 0));
                    }
                    let ms = match f.latency {
                        Latency::Int(v) => v as f64,
                        Latency::Float(v) => v,
                    };
                    acc.series[slot].0 += ms;
                    acc.series[slot].1 += 1;
                }
            }
        }
    }

    /// The complete lines in `chunk` (which ends with `\n` unless `eof`).
    fn chunk(&mut self, chunk: &[u8], eof: bool) {
        let text = std::str::from_utf8(chunk).ok();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            self.line(&chunk[start..end], text.map(|t| &t[start..end]), false);
            start = end + 1;
        }
        if eof && start < chunk.len() {
            self.line(&chunk[start..], text.map(|t| &t[start..]), true);
        }
    }
}

const CHUNK: usize = 1 << 20;
/// A line longer than this is skipped as [`BadKind::TooLong`] rather than held in memory.
const MAX_LINE: usize = 16 << 20;

fn scan_file(plan: &Plan, index: usize) -> Result<FileScan, MetricsError> {
    let path = &plan.files[index].0;
    let read_error = |source: io::Error| MetricsError::Read { path: path.clone(), source };
    let mut file = File::open(path).map_err(read_error)?;
    let mut reader = FileReader {
        plan,
        path,
        index: FxMap::default(),
        accs: Vec::new(),
        bad: BadLines::default(),
        undated: 0,
        line_no: 0,
    };
    let mut buf = vec![0u8; plan.chunk.max(1)];
    let (mut filled, mut bytes) = (0usize, 0u64);
    // Inside a line longer than MAX_LINE, already counted: drop bytes up to its newline.
    let mut skipping = false;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_LINE {
                if !skipping {
                    reader.line_no += 1;
                    reader.bad(BadKind::TooLong, "line longer than 16 MiB");
                    skipping = true;
                }
                filled = 0;
            } else {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        bytes += n as u64;
        filled += n;
        if n == 0 {
            if !skipping {
                reader.chunk(&buf[..filled], true);
            }
            break;
        }
        if skipping {
            let Some(newline) = memchr::memchr(b'\n', &buf[..filled]) else {
                filled = 0;
                continue;
            };
            buf.copy_within(newline + 1..filled, 0);
            filled -= newline + 1;
            skipping = false;
        }
        if filled < buf.len() / 2 {
            continue; // fewer, larger chunks
        }
        if let Some(end) = memchr::memrchr(b'\n', &buf[..filled]) {
            reader.chunk(&buf[..=end], false);
            buf.copy_within(end + 1..filled, 0);
            filled -= end + 1;
        }
    }
    if reader.bad.total() > 0 {
        reader.bad.files = 1;
    }
    Ok(FileScan {
        index,
        services: reader.accs,
        bad: reader.bad,
        undated: reader.undated,
        lines: reader.line_no,
        bytes,
    })
}

/// One service over the whole window, while the files come in.
#[derive(Default)]
struct Global {
    counts: Counts,
    seed_order: (u32, u64),
    hist: Hist,
    timelines: Vec<(usize, Timeline)>,
    daily: Vec<DayCounts>,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    series: Vec<(f64, u64)>,
}

fn micros_to_time(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok()
}

impl Global {
    fn finish(mut self, name: String) -> ServiceStats {
        let c = self.counts;
        let total = c.up + c.down;
        let count = total + c.other;
        let (uptime_percent, avg_latency_ms) = if total > 0 {
            let sum = if c.has_float { c.latency_int as f64 + c.latency_float } else { c.latency_int as f64 };
            let pct = c.up as f64 / total as f64 * 100.0;
            (Some(python::round(pct, 2)), Some(python::round(sum / count as f64, 1)))
        } else {
            (None, None)
        };
        self.timelines.sort_by_key(|t| t.0);
        let outcome = self.timelines.into_iter().map(|t| t.1).reduce(Timeline::then).map(|t| t.outcome());
        self.daily.sort_by_key(|d| d.date);
        let time_uptime_percent = outcome
            .filter(|o| o.up_us + o.down_us > 0)
            .map(|o| o.up_us as f64 / (o.up_us + o.down_us) as f64 * 100.0);
        ServiceStats {
            name,
            up: c.up,
            down: c.down,
            other: c.other,
            uptime_percent,
            avg_latency_ms,
            latency: self.hist.percentiles(),
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
            latency_series: self.series.into_iter().map(|(sum, n)| (n > 0).then(|| sum / n as f64)).collect(),
            seed_order: self.seed_order,
        }
    }
}

/// Reads the day files of `window` in `dir` (those that exist and are regular files) and
/// computes every service's statistics. Bad lines are skipped and counted in
/// [`UptimeReport::bad`]; only an unreadable file is an error.
pub fn read_window(dir: &Path, window: &Window) -> Result<UptimeReport, MetricsError> {
    read_window_in_chunks(dir, *window, CHUNK)
}

/// The window's day files that exist. A missing directory holds none (nothing was recorded
/// yet); a directory that cannot be read, or that is not a directory, is an error: "cannot
/// look" must never read as "nothing happened".
fn day_files(dir: &Path, window: Window) -> Result<Vec<(PathBuf, Date)>, MetricsError> {
    let unreadable = |path: &Path, source| MetricsError::Read { path: path.to_path_buf(), source };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(unreadable(dir, io::Error::new(io::ErrorKind::NotADirectory, "not a directory")));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(dir, e)),
    }
    let mut files = Vec::new();
    for date in window.dates() {
        let path = day_file(dir, date);
        match path.metadata() {
            Ok(m) if m.is_file() => files.push((path, date)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(unreadable(&path, e)),
        }
    }
    Ok(files)
}

/// [`read_window`] reading `chunk` bytes at a time at first (the buffer grows for longer lines).
pub(crate) fn read_window_in_chunks(
    dir: &Path,
    window: Window,
    chunk: usize,
) -> Result<UptimeReport, MetricsError> {
    let files = day_files(dir, window)?;
    let step = i64::from(series_hours(window.days)) * 3_600_000_000;
    let start = window.from().midnight().assume_utc();
    let series_start = start.unix_timestamp() * 1_000_000;
    let plan = Plan {
        window,
        series_start,
        series_step: step,
        series_len: usize::try_from((window.days.max(1) * 24).div_ceil(series_hours(window.days)))
            .unwrap_or(1),
        files,
        chunk,
    };
    let threads = thread::available_parallelism().map_or(1, usize::from).min(plan.files.len()).max(1);
    let mut report = UptimeReport {
        window,
        services: Vec::new(),
        bad: BadLines::default(),
        undated: 0,
        files: plan.files.len(),
        lines: 0,
        bytes: 0,
    };
    let mut globals: FxMap<Global> = FxMap::default();
    let mut bad_files: Vec<(usize, BadLines)> = Vec::new();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<Result<FileScan, MetricsError>>(threads);
    let mut failure = None;
    thread::scope(|s| {
        for _ in 0..threads {
            let (tx, next, plan) = (tx.clone(), &next, &plan);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.files.len() || tx.send(scan_file(plan, i)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for result in rx {
            match result {
                Ok(scan) => merge(&plan, &mut globals, &mut report, &mut bad_files, scan),
                Err(e) => {
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    bad_files.sort_by_key(|b| b.0);
    for (_, b) in bad_files {
        report.bad.merge(b);
    }
    report.services = globals.into_iter().map(|(name, g)| g.finish(name)).collect();
    report.services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(report)
}

fn merge(
    plan: &Plan,
    globals: &mut FxMap<Global>,
    report: &mut UptimeReport,
    bad_files: &mut Vec<(usize, BadLines)>,
    scan: FileScan,
) {
    let date = plan.files[scan.index].1;
    // The seed reads the newest file first.
    let rank = u32::try_from((plan.window.until - date).whole_days()).unwrap_or(u32::MAX);
    report.lines += scan.lines;
    report.bytes += scan.bytes;
    report.undated += scan.undated;
    if scan.bad.total() > 0 {
        bad_files.push((scan.index, scan.bad));
    }
    for (name, acc) in scan.services {
        let g = globals
            .entry(name)
            .or_insert_with(|| Global { seed_order: (u32::MAX, u64::MAX), ..Global::default() });
        g.counts.merge(&acc.counts);
        g.seed_order = g.seed_order.min((rank, acc.first_line));
        g.hist.merge(&acc.hist);
        if let Some(t) = acc.timeline {
            g.timelines.push((scan.index, t));
        }
        let Counts { up, down, other, .. } = acc.counts;
        g.daily.push(DayCounts { date, up, down, other });
        g.min_ts = match (g.min_ts, acc.min_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        g.max_ts = g.max_ts.max(acc.max_ts);
        if !acc.series.is_empty() {
            if g.series.is_empty() {
                g.series.resize(plan.series_len, (0.0, 0));
            }
            for (a, b) in g.series.iter_mut().zip(acc.series) {
                a.0 += b.0;
                a.1 += b.1;
            }
        }
    }
}
