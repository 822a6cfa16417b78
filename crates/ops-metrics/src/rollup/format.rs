//! The rollup file, version 1: the JSON form of a [`Day`], written by [`encode`] and read by
//! [`parse`], which trusts nothing: every key is required unless it says otherwise, no other
//! key is allowed, and the figures must fit together, or the file is not ours.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::Date;

use super::date_text;
use crate::day::{Acc, Cells, Counts, Day, END_HOUR, FIRST_HOUR, HOUR_US, Latencies, Source, midnight_us};
use crate::latency::{BOUNDS, BUCKETS, bucket_of};
use crate::scan::{BadKind, BadLine, BadLines, REASONS};
use crate::timeline::{Run, Timeline};

/// The `format` of every rollup file.
const FORMAT: &str = "agent-ops metrics rollup";
/// The `version` this build writes and reads.
pub const ROLLUP_VERSION: u32 = 1;

// The file format, version 1. Every key is required unless it says otherwise, and no other
// key is allowed: a file that does not match exactly is not ours.

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileV1<'a> {
    #[serde(borrow)]
    pub(super) format: Cow<'a, str>,
    pub(super) version: u32,
    #[serde(borrow)]
    pub(super) date: Cow<'a, str>,
    /// The day file as it was rolled up.
    pub(super) day_file: SourceV1,
    pub(super) lines: u64,
    pub(super) undated: u64,
    pub(super) bad_lines: BadV1,
    pub(super) latency_buckets_ms: Vec<u32>,
    #[serde(borrow)]
    pub(super) services: Vec<ServiceV1<'a>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceV1 {
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) mtime_nsec: i64,
    pub(super) inode: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BadV1 {
    pub(super) invalid_utf8: u64,
    pub(super) invalid_json: u64,
    pub(super) torn_last_line: u64,
    pub(super) not_an_object: u64,
    pub(super) wrong_type: u64,
    pub(super) too_long: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) first: Option<FirstBadV1>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FirstBadV1 {
    pub(super) line: u64,
    pub(super) kind: String,
    pub(super) reason: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceV1<'a> {
    #[serde(borrow)]
    pub(super) name: Cow<'a, str>,
    pub(super) first_line: u64,
    pub(super) up: u64,
    pub(super) down: u64,
    pub(super) other: u64,
    /// Whole-millisecond latencies of every line, summed.
    pub(super) latency_ms: i128,
    /// Other latencies, summed in file order; only when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) latency_float_ms: Option<f64>,
    /// The `up` checks' latencies; only when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) up_latency: Option<UpLatencyV1>,
    /// The earliest and latest timestamps (µs since the epoch); only when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) seen_us: Option<(i64, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) timeline: Option<TimelineV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) hours: Option<HoursV1>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpLatencyV1 {
    pub(super) min_ms: f64,
    pub(super) max_ms: f64,
    /// The bucket of `counts[0]`; `counts` ends with the last non-empty bucket.
    pub(super) first_bucket: usize,
    pub(super) counts: Vec<u64>,
}

/// A run: `[down, first check, last check]`.
pub(super) type RunV1 = (bool, i64, i64);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TimelineV1 {
    pub(super) head: RunV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) next: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) tail: Option<RunV1>,
    pub(super) incidents: u64,
    pub(super) longest_us: i64,
    pub(super) up_us: i64,
    pub(super) down_us: i64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HoursV1 {
    /// The hour of the first cell, from the day's midnight (-24 to 47).
    pub(super) first: i64,
    /// Whole-millisecond latencies of the successful checks, summed per hour.
    pub(super) ms: Vec<i64>,
    /// Those checks per hour; one number when every hour has as many (checks on a schedule).
    pub(super) checks: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) float_ms: Option<Vec<f64>>,
}

/// Enough of a file to tell whether it is a rollup of ours, of any version.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    format: Option<Cow<'a, str>>,
    version: Option<u64>,
    #[serde(borrow)]
    date: Option<Cow<'a, str>>,
}

/// Why a file is not a rollup of `date` of any version, or `None` when it is one.
pub(crate) fn not_a_rollup_of(bytes: &[u8], date: Date) -> Option<String> {
    match serde_json::from_slice::<Header<'_>>(bytes) {
        Err(e) => Some(format!("not an agent-ops rollup ({e})")),
        Ok(h) if h.format.as_deref() != Some(FORMAT) => Some(match h.format {
            Some(f) => format!("not an agent-ops rollup (format {f:?})"),
            None => "not an agent-ops rollup (no format)".into(),
        }),
        Ok(h) if h.date.as_deref() != Some(date_text(date).as_str()) => {
            Some(format!("a rollup of {:?}, not of {date}", h.date.unwrap_or_default()))
        }
        Ok(Header { version: None, .. }) => Some("not an agent-ops rollup (no version)".into()),
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

/// The first and last index of a non-zero count.
fn non_zero(counts: &[u64]) -> Option<(usize, usize)> {
    Some((counts.iter().position(|n| *n > 0)?, counts.iter().rposition(|n| *n > 0)?))
}

/// One service, or `None` when a sum is not finite (JSON has no infinity).
fn encode_service<'a>(name: &'a str, acc: &Acc) -> Option<ServiceV1<'a>> {
    let c = &acc.counts;
    let finite = |v: f64| v.is_finite().then_some(v);
    let latency_float_ms = if c.has_float { Some(finite(c.latency_float)?) } else { None };
    let buckets = acc.latency.to_buckets();
    let used = non_zero(&buckets.counts);
    let up_latency = match used {
        Some((a, b)) => Some(UpLatencyV1 {
            min_ms: finite(buckets.min)?,
            max_ms: finite(buckets.max)?,
            first_bucket: a,
            counts: buckets.counts[a..=b].to_vec(),
        }),
        None => None,
    };
    let cells = &acc.cells;
    let hours = match non_zero(&cells.checks) {
        Some((a, b)) => {
            let floats: Vec<f64> = (a..=b).map(|i| cells.float(i)).collect();
            Some(HoursV1 {
                first: cells.first + i64::try_from(a).unwrap_or(0),
                ms: cells.ms[a..=b].to_vec(),
                checks: match &cells.checks[a..=b] {
                    [one, rest @ ..] if rest.iter().all(|n| n == one) => vec![*one],
                    every => every.to_vec(),
                },
                float_ms: if floats.iter().any(|v| *v != 0.0) {
                    Some(floats.into_iter().map(finite).collect::<Option<Vec<f64>>>()?)
                } else {
                    None
                },
            })
        }
        None => None,
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
    let file = match super::fast::file(bytes).map_or_else(|| serde_json::from_slice::<FileV1<'_>>(bytes), Ok)
    {
        Ok(file) => file,
        Err(e) => {
            return Err(match serde_json::from_slice::<Header<'_>>(bytes) {
                Ok(Header { format: Some(f), version: Some(v), .. })
                    if f == FORMAT && v > u64::from(ROLLUP_VERSION) =>
                {
                    format!("written by a newer agent-ops (rollup version {v})")
                }
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
    if let Some(twice) = file.services.iter().find(|s| !names.insert(s.name.as_ref())) {
        return Err(invalid(&format!("{:?} twice", twice.name)));
    }
    let mut services = Vec::with_capacity(file.services.len());
    for s in file.services {
        let name = s.name.clone();
        let acc = decode_service(s, file.lines).map_err(|why| invalid(&format!("{name:?}: {why}")))?;
        services.push((name.into_owned(), acc));
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

fn decode_service(s: ServiceV1<'_>, lines: u64) -> Result<Acc, &'static str> {
    let checks = s.up.checked_add(s.down).and_then(|n| n.checked_add(s.other)).ok_or("counts overflow")?;
    if checks == 0 || s.first_line == 0 || s.first_line > lines {
        return Err("no checks, or a first line outside the file");
    }
    if s.latency_float_ms.is_some_and(|v| !v.is_finite()) {
        return Err("a latency sum that is not a number");
    }
    let latency = match s.up_latency {
        None if s.up == 0 => Latencies::Buckets { first: 0, counts: Vec::new(), min: 0.0, max: 0.0 },
        Some(u) if s.up > 0 => {
            let last = u.first_bucket.checked_add(u.counts.len()).filter(|end| *end <= BUCKETS);
            let total = u.counts.iter().try_fold(0u64, |t, n| t.checked_add(*n));
            let fits = last.is_some_and(|end| {
                u.min_ms.is_finite()
                    && u.max_ms.is_finite()
                    && u.min_ms <= u.max_ms
                    && bucket_of(u.min_ms) == u.first_bucket
                    && bucket_of(u.max_ms) + 1 == end
            });
            if !fits || total != Some(s.up) || u.counts.first() == Some(&0) || u.counts.last() == Some(&0) {
                return Err("latency buckets that do not fit the up checks");
            }
            Latencies::Buckets { first: u.first_bucket, counts: u.counts, min: u.min_ms, max: u.max_ms }
        }
        _ => return Err("latency buckets that do not fit the up checks"),
    };
    let (earliest, latest) = timestamp_range();
    let seen = s.seen_us.filter(|(a, b)| earliest <= *a && a <= b && *b <= latest);
    if seen.is_none() && s.seen_us.is_some() {
        return Err("timestamps out of range");
    }
    let within = |t: i64| seen.is_some_and(|(a, b)| a <= t && t <= b);
    let timeline = match s.timeline {
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
    let cells = match s.hours {
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
        latency,
        timeline,
        min_ts: seen.map(|s| s.0),
        max_ts: seen.map(|s| s.1),
        cells,
    })
}

fn decode_hours(h: HoursV1, up: u64, dated: bool) -> Result<Cells, &'static str> {
    let len = h.ms.len();
    let end = i64::try_from(len).ok().and_then(|n| h.first.checked_add(n));
    let float_ms = h.float_ms.unwrap_or_default();
    // One count for every hour (as the writer writes it), or one per hour.
    let checks = match h.checks[..] {
        [one] if len > 1 => vec![one; len],
        _ => h.checks,
    };
    let fits = dated
        && len > 0
        && checks.len() == len
        && (float_ms.is_empty() || float_ms.len() == len)
        && float_ms.iter().all(|v| v.is_finite())
        && h.first >= FIRST_HOUR
        && end.is_some_and(|e| e <= END_HOUR);
    let total = checks.iter().try_fold(0u64, |t, n| t.checked_add(*n));
    if !fits || total.is_none_or(|t| t > up) {
        return Err("hours that do not fit the up checks");
    }
    let cells = Cells { first: h.first, ms: h.ms, float_ms, checks };
    if (0..len).any(|i| cells.checks[i] == 0 && (cells.ms[i] != 0 || cells.float(i) != 0.0)) {
        return Err("latencies in an hour without checks");
    }
    Ok(cells)
}
