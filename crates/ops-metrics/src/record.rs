//! The metrics line and the daily file it is appended to.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ops_state::{AppendOptions, append_lines, timestamp};
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::{MetricsError, python};

/// A check outcome as the Python kit's uptime calculator counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check passed.
    Up,
    /// The check failed.
    Down,
    /// The service was down and came back after a restart (the Python kit's shell scripts write it).
    Recovered,
    /// The check failed during maintenance or a silence: recorded, not counted against uptime
    /// (the Python kit's calculator counts only `up` and `down`).
    Maintenance,
    /// The check could not be made (agent-ops ran out of file descriptors, say): nothing is
    /// known about the service, so neither reader counts it as up or down.
    Unknown,
}

impl Status {
    /// The word written to the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Recovered => "recovered",
            Self::Maintenance => "maintenance",
            Self::Unknown => "unknown",
        }
    }
}

/// One line of a metrics file.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord {
    /// The service name.
    pub name: String,
    /// Up, down or recovered.
    pub status: Status,
    /// The human detail (`HTTP 200`, `port 5432 open` ...).
    pub detail: String,
    /// Whole milliseconds the check took (0 where the Python kit records none).
    pub latency_ms: u64,
    /// When the check finished; written in UTC as the Python kit does.
    pub timestamp: OffsetDateTime,
    /// The check passed with a warning: written as `"state": "warning"` after the Python kit's
    /// keys, with `status` `up` (which every reader counts as up; the key is for those that
    /// want to know). Nothing is added when false.
    pub warning: bool,
    /// A command check's performance data, written as `"perfdata": [...]` after the Python
    /// kit's keys when there is any.
    pub perfdata: Vec<Perf>,
}

/// One performance value of a command check, as a metrics line keeps it: `{"label": ...,
/// "value": ..., "uom": ...}` and `warn`, `crit`, `min`, `max` when the plugin gave them.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    /// The plugin's label.
    pub label: String,
    /// The value in `uom`; `None` (JSON `null`) when the plugin said `U`.
    pub value: Option<f64>,
    /// The unit as the plugin wrote it (`s`, `ms`, `%`, `B`, `KB`, `c` ...; empty for a count).
    pub uom: String,
    /// The warning range, as written.
    pub warn: Option<String>,
    /// The critical range, as written.
    pub crit: Option<String>,
    /// The smallest possible value.
    pub min: Option<f64>,
    /// The largest possible value.
    pub max: Option<f64>,
}

impl MetricRecord {
    /// The record as one JSON line, byte for byte as Python's `json.dumps` writes it
    /// (`", "` and `": "` separators, non-ASCII escaped as `\uXXXX`, floats as `repr`).
    pub fn to_line(&self) -> String {
        let mut line = String::with_capacity(128 + self.name.len() + self.detail.len());
        line.push_str("{\"name\": ");
        push_json_str(&mut line, &self.name);
        line.push_str(", \"status\": \"");
        line.push_str(self.status.as_str());
        line.push_str("\", \"detail\": ");
        push_json_str(&mut line, &self.detail);
        let _ = write!(line, ", \"latency_ms\": {}, \"timestamp\": \"", self.latency_ms);
        line.push_str(&timestamp::format_utc(self.timestamp));
        line.push('"');
        if self.warning {
            line.push_str(", \"state\": \"warning\"");
        }
        if !self.perfdata.is_empty() {
            line.push_str(", \"perfdata\": [");
            for (i, p) in self.perfdata.iter().enumerate() {
                line.push_str(if i == 0 { "{" } else { ", {" });
                push_perf(&mut line, p);
                line.push('}');
            }
            line.push(']');
        }
        line.push('}');
        line
    }
}

fn push_perf(line: &mut String, p: &Perf) {
    let number = |n: Option<f64>| n.filter(|n| n.is_finite()).map_or_else(|| "null".to_owned(), python::repr);
    line.push_str("\"label\": ");
    push_json_str(line, &p.label);
    let _ = write!(line, ", \"value\": {}, \"uom\": ", number(p.value));
    push_json_str(line, &p.uom);
    for (key, text) in [("warn", &p.warn), ("crit", &p.crit)] {
        if let Some(text) = text {
            let _ = write!(line, ", \"{key}\": ");
            push_json_str(line, text);
        }
    }
    for (key, n) in [("min", p.min), ("max", p.max)] {
        if n.is_some() {
            let _ = write!(line, ", \"{key}\": {}", number(n));
        }
    }
}

/// Python's `json.dumps` string encoding with its default `ensure_ascii=True`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

impl Perf {
    /// A value as a metrics line keeps it; `None` when it is not one (no label, a value that
    /// is neither a number nor null).
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let text = |key: &str| v.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        let number = |key: &str| v.get(key).and_then(serde_json::Value::as_f64);
        let value = match v.get("value") {
            Some(serde_json::Value::Null) | None => None,
            Some(n) => Some(n.as_f64()?),
        };
        Some(Self {
            label: text("label")?,
            value,
            uom: text("uom").unwrap_or_default(),
            warn: text("warn"),
            crit: text("crit"),
            min: number("min"),
            max: number("max"),
        })
    }
}

/// The longest line [`last_perfdata`] reads; a longer one is not a line we wrote.
const MAX_PERF_LINE: usize = 64 * 1024;

/// The performance data of the last line of each service that has any in the day file of
/// `date`, in order of first appearance: the values a report gives as the latest. A missing
/// file has none; lines that do not parse are passed over, and one longer than
/// [`MAX_PERF_LINE`] is read to its end without being held. The file is opened as every file of
/// ours is read: never through a symlink, only a regular file.
pub fn last_perfdata(dir: &Path, date: Date) -> Result<Vec<(String, Vec<Perf>)>, MetricsError> {
    let path = day_file(dir, date);
    let read_error = |source| MetricsError::Read { path: path.clone(), source };
    let file = match ops_state::open_existing(&path, false) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(Vec::new()),
        Err(ops_state::StateError::Io { source, .. }) => return Err(read_error(source)),
        Err(refused) => return Err(MetricsError::Write(refused)),
    };
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut found: Vec<(String, Vec<Perf>)> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let (complete, too_long) =
            crate::scan::read_line(&mut reader, &mut line, MAX_PERF_LINE).map_err(read_error)?;
        if line.is_empty() && !complete {
            break;
        }
        if too_long || !line.windows(11).any(|w| w == b"\"perfdata\":") {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else { continue };
        let (Some(name), Some(list)) = (v["name"].as_str(), v["perfdata"].as_array()) else { continue };
        let perf: Vec<Perf> = list.iter().filter_map(Perf::from_json).collect();
        match found.iter_mut().find(|(n, _)| n == name) {
            Some((_, kept)) => *kept = perf,
            None => found.push((name.to_owned(), perf)),
        }
    }
    Ok(found)
}

/// The day file for `date`: `<dir>/YYYY-MM-DD.jsonl`.
pub fn day_file(dir: &Path, date: Date) -> PathBuf {
    dir.join(format!("{:04}-{:02}-{:02}.jsonl", date.year(), u8::from(date.month()), date.day()))
}

/// Appends `records` to the day file of their UTC date, one whole line each, creating the
/// directory and files as needed (new day files [`ops_state::PUBLIC_MODE`], 0644 before the
/// umask, as the Python kit's). A day file that is a symlink or not a regular file is refused, never
/// followed.
pub fn append(dir: &Path, records: &[MetricRecord]) -> Result<(), MetricsError> {
    let mut by_day: BTreeMap<Date, Vec<String>> = BTreeMap::new();
    for r in records {
        let day = r.timestamp.to_offset(time::UtcOffset::UTC).date();
        by_day.entry(day).or_default().push(r.to_line());
    }
    for (day, lines) in by_day {
        append_lines(
            &day_file(dir, day),
            &lines,
            AppendOptions { sync: false, mode: ops_state::PUBLIC_MODE },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(name: &str, detail: &str, at: OffsetDateTime) -> MetricRecord {
        MetricRecord {
            name: name.into(),
            status: Status::Down,
            detail: detail.into(),
            latency_ms: 0,
            timestamp: at,
            warning: false,
            perfdata: Vec::new(),
        }
    }

    /// A warning and performance data are keys after the Python kit's five, as `json.dumps`
    /// writes them; without them the line is the Python kit's.
    #[test]
    fn the_last_perfdata_of_each_service_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let at = datetime!(2026-11-30 10:00 UTC);
        let mut first = record("Disk", "WARNING", at);
        first.perfdata = vec![Perf {
            label: "used".into(),
            value: Some(80.0),
            uom: "%".into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
        }];
        let mut last = record("Disk", "WARNING", at + time::Duration::minutes(5));
        last.perfdata = vec![Perf {
            label: "used".into(),
            value: Some(91.0),
            uom: "%".into(),
            warn: Some("90".into()),
            crit: None,
            min: Some(0.0),
            max: Some(100.0),
        }];
        append(dir.path(), &[first, record("Web", "HTTP 200", at), last.clone()]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(day_file(dir.path(), at.date()))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"perfdata\": not json\n"))
            .unwrap();
        assert_eq!(
            last_perfdata(dir.path(), at.date()).unwrap(),
            [("Disk".to_owned(), last.perfdata.clone())]
        );
        assert!(last_perfdata(dir.path(), at.date().previous_day().unwrap()).unwrap().is_empty());

        // A line past the bound (with perfdata in it) is passed over, the lines after it read.
        let huge =
            format!("{{\"name\": \"Disk\", \"perfdata\": [], \"x\": \"{}\"}}\n", "y".repeat(MAX_PERF_LINE));
        let mut after = last.clone();
        after.name = "Raid".into();
        std::fs::OpenOptions::new()
            .append(true)
            .open(day_file(dir.path(), at.date()))
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, format!("{huge}{}\n", after.to_line()).as_bytes())
            })
            .unwrap();
        let names: Vec<String> =
            last_perfdata(dir.path(), at.date()).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Disk", "Raid"]);

        // A day file that is a symlink is refused, never followed.
        let other = tempfile::tempdir().unwrap();
        let date = at.date().next_day().unwrap();
        std::os::unix::fs::symlink(day_file(dir.path(), at.date()), day_file(other.path(), date)).unwrap();
        assert!(last_perfdata(other.path(), date).is_err());
    }

    #[test]
    fn a_warning_and_perfdata_are_extra_keys() {
        let mut r = record("Disk", "WARNING - 91% used", datetime!(2025-01-15 10:30:00 UTC));
        r.status = Status::Up;
        r.warning = true;
        let p = |label: &str, value, uom: &str| Perf {
            label: label.into(),
            value,
            uom: uom.into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
        };
        r.perfdata = vec![
            Perf {
                warn: Some("90".into()),
                crit: Some("@95:".into()),
                min: Some(0.0),
                max: Some(100.0),
                ..p("used", Some(91.0), "%")
            },
            p("it's \"q\"", None, ""),
            p("t", Some(0.000_01), "s"),
            p("big", Some(81_522_589_696.0), "B"),
        ];
        assert_eq!(
            r.to_line(),
            r#"{"name": "Disk", "status": "up", "detail": "WARNING - 91% used", "latency_ms": 0, "timestamp": "2025-01-15T10:30:00Z", "state": "warning", "perfdata": [{"label": "used", "value": 91.0, "uom": "%", "warn": "90", "crit": "@95:", "min": 0.0, "max": 100.0}, {"label": "it's \"q\"", "value": null, "uom": ""}, {"label": "t", "value": 1e-05, "uom": "s"}, {"label": "big", "value": 81522589696.0, "uom": "B"}]}"#
        );
        let back: serde_json::Value = serde_json::from_str(&r.to_line()).unwrap();
        assert_eq!(back["perfdata"][1]["label"], "it's \"q\"");
        r.warning = false;
        r.perfdata.clear();
        assert!(r.to_line().ends_with(r#""timestamp": "2025-01-15T10:30:00Z"}"#));
    }

    #[test]
    fn line_escapes_like_python_json_dumps() {
        let r = record("Café \"ü\" 🚀", "a\\b\nc\u{1}", datetime!(2025-01-15 10:30:00 UTC));
        assert_eq!(
            r.to_line(),
            r#"{"name": "Caf\u00e9 \"\u00fc\" \ud83d\ude80", "status": "down", "detail": "a\\b\nc\u0001", "latency_ms": 0, "timestamp": "2025-01-15T10:30:00Z"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&r.to_line()).unwrap();
        assert_eq!(back["name"], "Café \"ü\" 🚀");
        assert_eq!(back["detail"], "a\\b\nc\u{1}");
    }

    #[test]
    fn records_go_to_the_file_of_their_utc_day() {
        let dir = tempfile::tempdir().unwrap();
        append(
            dir.path(),
            &[
                record("a", "", datetime!(2025-01-15 23:59:59.999 UTC)),
                record("b", "", datetime!(2025-01-16 01:00:00 +02:00)),
                record("c", "", datetime!(2025-01-16 00:00:00 UTC)),
            ],
        )
        .unwrap();
        let day15 = std::fs::read_to_string(dir.path().join("2025-01-15.jsonl")).unwrap();
        let day16 = std::fs::read_to_string(dir.path().join("2025-01-16.jsonl")).unwrap();
        assert_eq!(day15.lines().count(), 2, "{day15}");
        assert_eq!(day16.lines().count(), 1, "{day16}");
    }
}
