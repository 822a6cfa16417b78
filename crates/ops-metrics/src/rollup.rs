//! Rollups: for each finished UTC day, `rollups/YYYY-MM-DD.json` beside the day files holds
//! what the day adds up to for every service (a [`Day`] in a versioned JSON form), so that a
//! window of a year reads 365 small files instead of a year of lines, and outlives the day
//! files.
//!
//! A rollup is written once the day is over, from a day file read whole while it did not
//! change, and records that file's size, modification time and inode: while the day file is
//! still there and differs (a late writer appended), the rollup is stale and the day file is
//! read instead. A file in a rollup's place that does not parse as ours (corrupt, foreign, a
//! newer version, another day's) is never used, never overwritten and never deleted.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::day::{
    Acc, Cell, Cells, Counts, Day, END_HOUR, FIRST_HOUR, HOUR_US, Latencies, Source, midnight_us,
};
use crate::latency::{BOUNDS, BUCKETS, Buckets, bucket_of};
use crate::scan::{BadKind, BadLine, BadLines, CHUNK, REASONS, scan_file};
use crate::timeline::{Run, Timeline};
use crate::window::in_order;
use crate::{MetricsError, day_file};

/// The `format` of every rollup file.
const FORMAT: &str = "agent-ops metrics rollup";
/// The `version` this build writes and reads.
pub const ROLLUP_VERSION: u32 = 1;
/// No rollup is larger (a million services would be): a larger file is not read.
const MAX_BYTES: u64 = 256 << 20;
/// The days before today whose rollups [`roll_up`] checks on every run (a late writer may
/// still append to them); older ones are written when missing and checked before their day
/// file is deleted.
const RECENT_DAYS: i64 = 2;
/// How long a writer waits for another one to finish a rollup.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory of the rollups: `<dir>/rollups`.
pub fn rollup_dir(dir: &Path) -> PathBuf {
    dir.join("rollups")
}

/// The rollup of `date`: `<dir>/rollups/YYYY-MM-DD.json`.
pub fn rollup_file(dir: &Path, date: Date) -> PathBuf {
    rollup_dir(dir).join(format!("{}.json", date_text(date)))
}

fn date_text(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// Something about a rollup that a report or a run should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollupIssue {
    /// A rollup that is not ours (`why`) was ignored; the day was read from its day file.
    Ignored {
        /// The rollup file.
        rollup: PathBuf,
        /// Why it is not ours.
        why: String,
        /// The day file read instead.
        day_file: PathBuf,
    },
    /// A rollup that is not ours, and no day file: the day is missing from the report.
    Unreadable {
        /// The rollup file.
        rollup: PathBuf,
        /// Why it is not ours.
        why: String,
        /// The day left out.
        date: Date,
    },
    /// A file in a rollup's place that is not ours: neither overwritten nor deleted.
    LeftAlone {
        /// The file.
        rollup: PathBuf,
        /// Why it is not ours.
        why: String,
    },
    /// A day could not be rolled up (`why` names the file).
    NotWritten {
        /// The day.
        date: Date,
        /// What went wrong.
        why: String,
    },
    /// A day file past its retention was kept because its rollup could not be made.
    DayFileKept {
        /// The day file.
        day_file: PathBuf,
        /// What prevented the rollup.
        why: String,
    },
}

impl fmt::Display for RollupIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ignored { rollup, why, day_file } => {
                write!(f, "ignored {}: {why}; read {} instead", rollup.display(), day_file.display())
            }
            Self::Unreadable { rollup, why, date } => write!(
                f,
                "cannot use {}: {why}; its day file is gone, so {date} is missing from the report",
                rollup.display()
            ),
            Self::LeftAlone { rollup, why } => write!(f, "left {} alone: {why}", rollup.display()),
            Self::NotWritten { date, why } => write!(f, "cannot roll up {date}: {why}"),
            Self::DayFileKept { day_file, why } => {
                write!(f, "kept {} past its retention, for want of its rollup: {why}", day_file.display())
            }
        }
    }
}

// The file format, version 1. Every key is required unless it says otherwise, and no other
// key is allowed: a file that does not match exactly is not ours.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    version: u32,
    #[serde(borrow)]
    date: Cow<'a, str>,
    /// The day file as it was rolled up.
    day_file: SourceV1,
    lines: u64,
    undated: u64,
    bad_lines: BadV1,
    latency_buckets_ms: Vec<u32>,
    #[serde(borrow)]
    services: Vec<ServiceV1<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceV1 {
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    inode: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BadV1 {
    invalid_utf8: u64,
    invalid_json: u64,
    torn_last_line: u64,
    not_an_object: u64,
    wrong_type: u64,
    too_long: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first: Option<FirstBadV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirstBadV1 {
    line: u64,
    kind: String,
    reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceV1<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    first_line: u64,
    up: u64,
    down: u64,
    other: u64,
    /// Whole-millisecond latencies of every line, summed.
    latency_ms: i128,
    /// Other latencies, summed in file order; only when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_float_ms: Option<f64>,
    /// The `up` checks' latencies; only when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    up_latency: Option<UpLatencyV1>,
    /// The earliest and latest timestamps (µs since the epoch); only when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen_us: Option<(i64, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeline: Option<TimelineV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hours: Option<HoursV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpLatencyV1 {
    min_ms: f64,
    max_ms: f64,
    /// The bucket of `counts[0]`; `counts` ends with the last non-empty bucket.
    first_bucket: usize,
    counts: Vec<u64>,
}

/// A run: `[down, first check, last check]`.
type RunV1 = (bool, i64, i64);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineV1 {
    head: RunV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail: Option<RunV1>,
    incidents: u64,
    longest_us: i64,
    up_us: i64,
    down_us: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursV1 {
    /// The hour of the first cell, from the day's midnight (-24 to 47).
    first: i64,
    ms: Vec<i64>,
    checks: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    float_ms: Option<Vec<f64>>,
}

/// Enough of a file to tell whether it is a rollup of ours, of any version.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    version: u64,
    #[serde(borrow)]
    date: Cow<'a, str>,
}

/// Why a file is not a rollup of `date` of any version, or `None` when it is one.
fn not_a_rollup_of(bytes: &[u8], date: Date) -> Option<String> {
    match serde_json::from_slice::<Header<'_>>(bytes) {
        Err(e) => Some(format!("not an agent-ops rollup ({e})")),
        Ok(h) if h.format != FORMAT => Some(format!("not an agent-ops rollup (format {:?})", h.format)),
        Ok(h) if h.date != date_text(date) => Some(format!("a rollup of {:?}, not of {date}", h.date)),
        Ok(_) => None,
    }
}

fn encode_run(r: Run) -> RunV1 {
    (r.down, r.start, r.last)
}

fn decode_run((down, start, last): RunV1) -> Run {
    Run { down, start, last }
}

/// The rollup of `day` (the day file of `date` as `source`), or why it cannot be written.
pub(crate) fn encode(date: Date, day: &Day, source: Source) -> Result<Vec<u8>, String> {
    let counts = day.bad.counts();
    let first = day.bad.first.as_ref().map(|b| FirstBadV1 {
        line: b.line,
        kind: b.kind.name().into(),
        reason: b.reason.into(),
    });
    let mut services = Vec::with_capacity(day.services.len());
    for (name, acc) in &day.services {
        services.push(
            encode_service(name, acc)
                .ok_or_else(|| format!("the latencies of {name:?} add up to more than a rollup can hold"))?,
        );
    }
    let file = FileV1 {
        format: FORMAT.into(),
        version: ROLLUP_VERSION,
        date: date_text(date).into(),
        day_file: SourceV1 {
            size: source.size,
            mtime: source.mtime,
            mtime_nsec: source.mtime_nsec,
            inode: source.inode,
        },
        lines: day.lines,
        undated: day.undated,
        bad_lines: BadV1 {
            invalid_utf8: counts[0],
            invalid_json: counts[1],
            torn_last_line: counts[2],
            not_an_object: counts[3],
            wrong_type: counts[4],
            too_long: counts[5],
            first,
        },
        latency_buckets_ms: BOUNDS.iter().map(|b| *b as u32).collect(),
        services,
    };
    let mut bytes = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// One service, or `None` when a sum is not finite (JSON has no infinity).
fn encode_service<'a>(name: &'a str, acc: &Acc) -> Option<ServiceV1<'a>> {
    let c = &acc.counts;
    let finite = |v: f64| v.is_finite().then_some(v);
    let latency_float_ms = if c.has_float { Some(finite(c.latency_float)?) } else { None };
    let buckets = match &acc.latency {
        Latencies::Exact(h) => h.to_buckets(),
        Latencies::Buckets(b) => (**b).clone(),
    };
    let used: Vec<usize> = (0..BUCKETS).filter(|i| buckets.counts[*i] > 0).collect();
    let up_latency = match (used.first(), used.last()) {
        (Some(&a), Some(&b)) => Some(UpLatencyV1 {
            min_ms: finite(buckets.min)?,
            max_ms: finite(buckets.max)?,
            first_bucket: a,
            counts: buckets.counts[a..=b].to_vec(),
        }),
        _ => None,
    };
    let cells = &acc.cells.cells;
    let used: Vec<usize> = (0..cells.len()).filter(|i| cells[*i].checks > 0).collect();
    let hours = match (used.first(), used.last()) {
        (Some(&a), Some(&b)) => {
            let span = &cells[a..=b];
            let floats = span.iter().any(|c| c.float_ms != 0.0);
            Some(HoursV1 {
                first: acc.cells.first + i64::try_from(a).unwrap_or(0),
                ms: span.iter().map(|c| c.ms).collect(),
                checks: span.iter().map(|c| c.checks).collect(),
                float_ms: if floats {
                    Some(span.iter().map(|c| finite(c.float_ms)).collect::<Option<Vec<f64>>>()?)
                } else {
                    None
                },
            })
        }
        _ => None,
    };
    Some(ServiceV1 {
        name: Cow::Borrowed(name),
        first_line: acc.first_line,
        up: c.up,
        down: c.down,
        other: c.other,
        latency_ms: c.latency_int,
        latency_float_ms,
        up_latency,
        seen_us: acc.min_ts.zip(acc.max_ts),
        timeline: acc.timeline.map(|t| TimelineV1 {
            head: encode_run(t.head),
            next: t.head_next,
            tail: t.tail.map(encode_run),
            incidents: t.incidents,
            longest_us: t.longest,
            up_us: t.up_us,
            down_us: t.down_us,
        }),
        hours,
    })
}

/// The earliest and latest instants a timestamp can name (µs), as the reader parses them.
fn timestamp_range() -> (i64, i64) {
    (midnight_us(Date::MIN), midnight_us(Date::MAX) + 24 * HOUR_US - 1)
}

/// Reads a rollup of `date` (whose day file is `day_file`): the day and the day file as it was
/// rolled up, or why the bytes are not a rollup of ours.
pub(crate) fn parse(bytes: &[u8], date: Date, day_file: &Path) -> Result<(Day, Source), String> {
    let file = match serde_json::from_slice::<FileV1<'_>>(bytes) {
        Ok(file) => file,
        Err(e) => {
            return Err(match serde_json::from_slice::<Header<'_>>(bytes) {
                Ok(h) if h.format == FORMAT && h.version > u64::from(ROLLUP_VERSION) => {
                    format!("written by a newer agent-ops (rollup version {})", h.version)
                }
                Ok(h) if h.format == FORMAT => format!("an invalid rollup ({e})"),
                _ => not_a_rollup_of(bytes, date).unwrap_or_else(|| format!("an invalid rollup ({e})")),
            });
        }
    };
    if file.format != FORMAT {
        return Err(format!("not an agent-ops rollup (format {:?})", file.format));
    }
    if file.version != ROLLUP_VERSION {
        return Err(format!("an unknown rollup version {}", file.version));
    }
    if file.date != date_text(date) {
        return Err(format!("a rollup of {:?}, not of {date}", file.date));
    }
    if !file.latency_buckets_ms.iter().map(|b| f64::from(*b)).eq(BOUNDS) {
        return Err("an invalid rollup (latency buckets other than version 1's)".into());
    }
    let invalid = |what: &str| format!("an invalid rollup ({what})");
    let b = &file.bad_lines;
    let counts =
        [b.invalid_utf8, b.invalid_json, b.torn_last_line, b.not_an_object, b.wrong_type, b.too_long];
    let first = match &b.first {
        None => None,
        Some(f) => {
            let kind = BadKind::ALL.into_iter().find(|k| k.name() == f.kind);
            let reason = REASONS.iter().find(|r| **r == f.reason);
            let (Some(kind), Some(reason)) = (kind, reason) else {
                return Err(invalid("an unknown kind of bad line"));
            };
            if f.line == 0 || f.line > file.lines || counts[kind.index()] == 0 {
                return Err(invalid("the first bad line does not fit the counts"));
            }
            Some(BadLine { path: day_file.to_path_buf(), line: f.line, kind, reason })
        }
    };
    if counts.iter().any(|n| *n > 0) != first.is_some() {
        return Err(invalid("bad lines without a first one"));
    }
    let mut names = HashSet::with_capacity(file.services.len());
    let mut services = Vec::with_capacity(file.services.len());
    for s in file.services {
        if !names.insert(s.name.clone()) {
            return Err(invalid(&format!("{:?} twice", s.name)));
        }
        let acc = decode_service(&s, file.lines).map_err(|why| invalid(&format!("{:?}: {why}", s.name)))?;
        services.push((s.name.into_owned(), acc));
    }
    let source = Source {
        size: file.day_file.size,
        mtime: file.day_file.mtime,
        mtime_nsec: file.day_file.mtime_nsec,
        inode: file.day_file.inode,
    };
    let day = Day {
        services,
        bad: BadLines::of_file(counts, first),
        undated: file.undated,
        lines: file.lines,
        bytes: source.size,
    };
    Ok((day, source))
}

fn decode_service(s: &ServiceV1<'_>, lines: u64) -> Result<Acc, &'static str> {
    let checks = s.up.checked_add(s.down).and_then(|n| n.checked_add(s.other)).ok_or("counts overflow")?;
    if checks == 0 || s.first_line == 0 || s.first_line > lines {
        return Err("no checks, or a first line outside the file");
    }
    if s.latency_float_ms.is_some_and(|v| !v.is_finite()) {
        return Err("a latency sum that is not a number");
    }
    let mut buckets = Buckets::default();
    match &s.up_latency {
        None if s.up == 0 => {}
        Some(u) if s.up > 0 => {
            let last = u
                .first_bucket
                .checked_add(u.counts.len())
                .filter(|end| *end <= BUCKETS && *end > u.first_bucket);
            let (Some(end), true) = (last, u.min_ms.is_finite() && u.max_ms.is_finite()) else {
                return Err("latency buckets out of range");
            };
            buckets.counts[u.first_bucket..end].copy_from_slice(&u.counts);
            let total = u.counts.iter().try_fold(0u64, |t, n| t.checked_add(*n));
            if total != Some(s.up)
                || u.min_ms > u.max_ms
                || bucket_of(u.min_ms) != u.first_bucket
                || bucket_of(u.max_ms) != end - 1
                || u.counts.first() == Some(&0)
                || u.counts.last() == Some(&0)
            {
                return Err("latency buckets that do not fit the up checks");
            }
            (buckets.min, buckets.max) = (u.min_ms, u.max_ms);
        }
        _ => return Err("latency buckets that do not fit the up checks"),
    }
    let (earliest, latest) = timestamp_range();
    let seen = s.seen_us.filter(|(a, b)| earliest <= *a && a <= b && *b <= latest);
    if seen.is_none() && s.seen_us.is_some() {
        return Err("timestamps out of range");
    }
    let within = |t: i64| seen.is_some_and(|(a, b)| a <= t && t <= b);
    let timeline = match &s.timeline {
        None => None,
        Some(t) => {
            let timeline = Timeline {
                head: decode_run(t.head),
                head_next: t.next,
                tail: t.tail.map(decode_run),
                incidents: t.incidents,
                longest: t.longest_us,
                up_us: t.up_us,
                down_us: t.down_us,
            };
            let runs = [Some(timeline.head), timeline.tail];
            let stamps = runs.iter().flatten().flat_map(|r| [r.start, r.last]).chain(timeline.head_next);
            if !timeline.is_valid() || !stamps.into_iter().all(within) {
                return Err("a timeline that does not fit together");
            }
            Some(timeline)
        }
    };
    let cells = match &s.hours {
        None => Cells::default(),
        Some(h) => decode_hours(h, s.up, timeline.is_some())?,
    };
    Ok(Acc {
        counts: Counts {
            up: s.up,
            down: s.down,
            other: s.other,
            latency_int: s.latency_ms,
            latency_float: s.latency_float_ms.unwrap_or(0.0),
            has_float: s.latency_float_ms.is_some(),
        },
        first_line: s.first_line,
        latency: Latencies::Buckets(Box::new(buckets)),
        timeline,
        min_ts: seen.map(|s| s.0),
        max_ts: seen.map(|s| s.1),
        cells,
    })
}

fn decode_hours(h: &HoursV1, up: u64, dated: bool) -> Result<Cells, &'static str> {
    let len = h.ms.len();
    let end = i64::try_from(len).ok().and_then(|n| h.first.checked_add(n));
    let fits = dated
        && len > 0
        && h.checks.len() == len
        && h.float_ms.as_ref().is_none_or(|f| f.len() == len && f.iter().all(|v| v.is_finite()))
        && h.first >= FIRST_HOUR
        && end.is_some_and(|e| e <= END_HOUR);
    let total = h.checks.iter().try_fold(0u64, |t, n| t.checked_add(*n));
    if !fits || total.is_none_or(|t| t > up) {
        return Err("hours that do not fit the up checks");
    }
    let cells: Vec<Cell> = (0..len)
        .map(|i| Cell {
            ms: h.ms[i],
            float_ms: h.float_ms.as_ref().map_or(0.0, |f| f[i]),
            checks: h.checks[i],
        })
        .collect();
    if cells.iter().any(|c| c.checks == 0 && (c.ms != 0 || c.float_ms != 0.0)) {
        return Err("latencies in an hour without checks");
    }
    Ok(Cells { first: h.first, cells })
}

/// What is in a rollup's place.
pub(crate) enum Loaded {
    Missing,
    Ours(Day, Source),
    /// Not a rollup of ours, and why.
    NotOurs(String),
}

/// The bytes of the file at `path` (not followed if a symbolic link is all there is), `None`
/// when there is nothing there, or why it cannot be read.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match path.symlink_metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
        Ok(_) => {}
    }
    match path.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err("not a regular file".into()),
        Err(e) => return Err(format!("cannot read it: {e}")),
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err("larger than any rollup".into());
    }
    Ok(Some(bytes))
}

/// The rollup of `date` in `dir`.
pub(crate) fn load(dir: &Path, date: Date) -> Loaded {
    match read_capped(&rollup_file(dir, date)) {
        Ok(None) => Loaded::Missing,
        Ok(Some(bytes)) => match parse(&bytes, date, &day_file(dir, date)) {
            Ok((day, source)) => Loaded::Ours(day, source),
            Err(why) => Loaded::NotOurs(why),
        },
        Err(why) => Loaded::NotOurs(why),
    }
}

/// Whether the file at `path` is a rollup of ours of `date` (of any version), or why not: only
/// those are ever deleted.
pub(crate) fn identify(path: &Path, date: Date) -> Result<(), String> {
    match read_capped(path)? {
        None => Err("gone".into()),
        Some(bytes) => not_a_rollup_of(&bytes, date).map_or(Ok(()), Err),
    }
}

/// What rolling up one day came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rolled {
    /// A rollup was written.
    Written,
    /// The rollup was already current (or the day file is gone).
    Current,
    /// The day file changed while it was read: not rolled up this time.
    Changed,
}

/// Writes the rollup of `day` (the day file of `date`, read as `source`) under the rollups'
/// lock, unless the day file has changed since, the same rollup is already there, or the file
/// there is not ours.
fn write(dir: &Path, date: Date, day: &Day, source: Source) -> Result<Rolled, RollupIssue> {
    let path = rollup_file(dir, date);
    let not_written = |why: String| RollupIssue::NotWritten { date, why };
    let bytes = encode(date, day, source).map_err(|why| not_written(format!("{}: {why}", path.display())))?;
    let lock = rollup_dir(dir).join("rollups.lock");
    let locked = ops_state::with_lock(&lock, LOCK_TIMEOUT, || {
        match day_file(dir, date).metadata() {
            Ok(m) if Source::of(&m) == source => {}
            _ => return Ok(Rolled::Changed),
        }
        match read_capped(&path) {
            Ok(None) => {}
            Ok(Some(old)) if old == bytes => return Ok(Rolled::Current),
            Ok(Some(old)) => {
                if let Err(why) = parse(&old, date, &day_file(dir, date)) {
                    return Err(RollupIssue::LeftAlone { rollup: path.clone(), why });
                }
            }
            Err(why) => return Err(RollupIssue::LeftAlone { rollup: path.clone(), why }),
        }
        ops_state::write_atomic(&path, &bytes, ops_state::DEFAULT_MODE)
            .map(|()| Rolled::Written)
            .map_err(|e| not_written(e.to_string()))
    });
    locked.map_err(|e| not_written(e.to_string()))?
}

/// Rolls up the finished day `date` unless its rollup is current: reads the day file and
/// writes its rollup.
pub(crate) fn roll_day(dir: &Path, date: Date) -> Result<Rolled, RollupIssue> {
    let path = day_file(dir, date);
    let source = match path.metadata() {
        Ok(m) if m.is_file() => Source::of(&m),
        _ => return Ok(Rolled::Current),
    };
    match load(dir, date) {
        Loaded::Ours(_, rolled) if rolled == source => return Ok(Rolled::Current),
        Loaded::NotOurs(why) => return Err(RollupIssue::LeftAlone { rollup: rollup_file(dir, date), why }),
        Loaded::Ours(..) | Loaded::Missing => {}
    }
    let (day, read_as) =
        scan_file(&path, date, CHUNK).map_err(|e| RollupIssue::NotWritten { date, why: e.to_string() })?;
    match read_as {
        Some(source) => write(dir, date, &day, source),
        None => Ok(Rolled::Changed),
    }
}

/// The dates of the regular day files in `dir` (symbolic links followed, as a report reads
/// them) before `today`, oldest first.
fn finished_days(dir: &Path, today: Date) -> Result<Vec<Date>, MetricsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(MetricsError::Read { path: dir.to_path_buf(), source }),
    };
    let mut days = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MetricsError::Read { path: dir.to_path_buf(), source })?;
        let Some(date) = entry.file_name().to_str().and_then(crate::day_file_date) else { continue };
        if date < today && entry.path().metadata().is_ok_and(|m| m.is_file()) {
            days.push(date);
        }
    }
    days.sort_unstable();
    Ok(days)
}

/// What [`roll_up`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolledUp {
    /// The days rolled up, oldest first.
    pub written: Vec<Date>,
    /// What could not be done, each naming its file.
    pub issues: Vec<RollupIssue>,
}

/// Writes the rollup of every finished day (before `today`, UTC) that has a day file in `dir`
/// and no rollup yet, and of the last two finished days whose rollup is not current (a late
/// writer may have appended to them). Idempotent: a rollup is written from a day file read
/// whole while it did not change, under the rollups' lock, and only when the same bytes are
/// not already there; a file in a rollup's place that is not ours is left alone. Fails only
/// when `dir` cannot be read; a day that cannot be rolled up is an issue.
pub fn roll_up(dir: &Path, today: Date) -> Result<RolledUp, MetricsError> {
    let recent = today.checked_sub(time::Duration::days(RECENT_DAYS)).unwrap_or(Date::MIN);
    let todo: Vec<Date> = finished_days(dir, today)?
        .into_iter()
        .filter(|d| *d >= recent || rollup_file(dir, *d).symlink_metadata().is_err())
        .collect();
    let mut done = RolledUp::default();
    in_order(
        todo.len(),
        |i| roll_day(dir, todo[i]),
        |i, rolled| {
            match rolled {
                Ok(Rolled::Written) => done.written.push(todo[i]),
                Ok(Rolled::Current | Rolled::Changed) => {}
                Err(issue) => done.issues.push(issue),
            }
            true
        },
    );
    Ok(done)
}
