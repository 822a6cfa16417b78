//! Properties (proptest) of what users rely on in the metrics store:
//! - for any service name (quotes, backslashes, line breaks, any Unicode), the Prometheus
//!   exposition parses and gives the name back, and promtool accepts it;
//! - for any mix of good and bad lines, the report is the report of the good lines alone.

use std::collections::BTreeSet;
use std::path::Path;

use ops_metrics::prometheus::{Family, render};
use ops_metrics::{MetricRecord, ServiceStats, Status, UptimeReport, Window, append, day_file, read_window};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use time::Date;
use time::macros::date;

const DAY: Date = date!(2025 - 01 - 15);

/// One sample line: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, String);

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

/// A strict reader of the text format (0.0.4) as we write it: `# HELP` and `# TYPE` lines,
/// then `name{label="value",...} value` lines; only a line feed ends a line, and in a label
/// value only `\\`, `\"` and `\n` are escapes (anything else after a backslash is an error,
/// as promtool says).
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    let Some(text) = text.strip_suffix('\n') else { return Err("no final line feed".into()) };
    for (n, line) in text.split('\n').enumerate() {
        let err = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (kind, name) = (words.next(), words.next());
            if !matches!(kind, Some("HELP" | "TYPE")) || !name.is_some_and(|n| is_name(n, true)) {
                return Err(err("a comment that is not HELP or TYPE"));
            }
            continue;
        }
        let name_end =
            line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(line.len());
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(err("metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            while let Some(eq) = rest.find('=').filter(|_| !rest.starts_with('}')) {
                let label = &rest[..eq];
                if !is_name(label, false) {
                    return Err(err("label name"));
                }
                rest = rest[eq + 1..].strip_prefix('"').ok_or_else(|| err("label value without a quote"))?;
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let close = loop {
                    match chars.next() {
                        None => return Err(err("unterminated label value")),
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            _ => return Err(err("invalid escape")),
                        },
                        Some((_, c)) => value.push(c),
                    }
                };
                labels.push((label.to_owned(), value));
                rest = &rest[close + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
            rest = rest.strip_prefix('}').ok_or_else(|| err("labels not closed"))?;
        }
        let value = rest.strip_prefix(' ').ok_or_else(|| err("no value"))?;
        if !(matches!(value, "NaN" | "+Inf" | "-Inf") || value.parse::<f64>().is_ok()) {
            return Err(err("value"));
        }
        samples.push((name.to_owned(), labels, value.to_owned()));
    }
    Ok(samples)
}

/// Service names of every kind: any Unicode (control characters included), and the characters
/// the format escapes or could trip over.
fn service_name() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\"\\\\\n\r\t {}=,#a-zé🚀\u{2028}\u{0}]{0,24}"]
}

fn probe_family(names: &[String]) -> Family {
    let mut family = Family::gauge("agent_ops_probe_success", "Whether the check passed (1) or failed (0).");
    for name in names {
        family.push(vec![("service", name.clone()), ("type", "url".into())], 1.0);
    }
    family
}

/// The names a report's `agent_ops_uptime_checks` samples carry.
fn exported_names(samples: &[Sample]) -> Vec<String> {
    samples
        .iter()
        .filter(|s| s.0 == "agent_ops_uptime_checks")
        .filter_map(|s| s.1.iter().find(|l| l.0 == "service").map(|l| l.1.clone()))
        .collect()
}

/// `names` written as metrics lines (one up check each) and read back as a report.
fn report_of(dir: &Path, names: &[String]) -> UptimeReport {
    let at = DAY.midnight().assume_utc();
    let records: Vec<MetricRecord> = names
        .iter()
        .map(|n| MetricRecord {
            name: n.clone(),
            status: Status::Up,
            detail: "d".into(),
            latency_ms: 5,
            timestamp: at,
            warning: false,
            perfdata: Vec::new(),
        })
        .collect();
    append(dir, &records).unwrap();
    read_window(dir, &Window::last_days(DAY, 1)).unwrap()
}

proptest! {
    #[test]
    fn label_values_are_escaped_so_the_exposition_parses_and_gives_each_name_back(
        names in prop::collection::vec(service_name(), 1..6),
    ) {
        let text = render(&[probe_family(&names)]);
        let samples = parse_exposition(&text).map_err(TestCaseError::fail)?;
        let got: Vec<&str> = samples.iter().map(|s| s.1[0].1.as_str()).collect();
        prop_assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert!(samples.iter().all(|s| s.1[1] == ("type".to_owned(), "url".to_owned()) && s.2 == "1"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The whole way: a name written in a day file, read back, exported by the uptime report.
    #[test]
    fn a_name_from_a_day_file_survives_the_uptime_report_export(
        names in prop::collection::btree_set(service_name(), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = names.into_iter().collect();
        let report = report_of(dir.path(), &names);
        let text = ops_metrics::render::prometheus(&report);
        let samples = parse_exposition(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(exported_names(&samples), names);
    }
}

/// promtool, the reference parser, on a sample of generated names in both exporters' output.
#[test]
fn promtool_accepts_any_service_name() {
    let Some(promtool) = test_support::require_tool("promtool") else { return };
    let mut runner = TestRunner::deterministic();
    let strategy = service_name();
    let names: BTreeSet<String> =
        (0..300).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    let names: Vec<String> = names.into_iter().collect();
    let dir = tempfile::tempdir().unwrap();
    let probes = dir.path().join("probes.prom");
    std::fs::write(&probes, render(&[probe_family(&names)])).unwrap();
    let metrics = dir.path().join("metrics");
    std::fs::create_dir(&metrics).unwrap();
    let uptime = dir.path().join("uptime.prom");
    let report_text = ops_metrics::render::prometheus(&report_of(&metrics, &names));
    assert_eq!(exported_names(&parse_exposition(&report_text).unwrap()), names);
    std::fs::write(&uptime, report_text).unwrap();
    for file in [&probes, &uptime] {
        let out = std::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(file).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool on {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A line the reader must skip and count (or, for blank lines, skip).
#[derive(Debug, Clone)]
enum Bad {
    /// Text that cannot be JSON.
    NotJson(String),
    /// A good line cut short (no closing brace).
    Cut(usize),
    /// JSON that is not an object.
    NotAnObject(&'static str),
    /// An object whose name, status or latency has the wrong type.
    WrongType(&'static str),
    /// A good line with a byte that is not UTF-8 in it.
    NotUtf8(usize),
    /// Only whitespace: skipped, not counted.
    Blank(String),
}

impl Bad {
    fn bytes(&self, a_good_line: &str) -> Vec<u8> {
        match self {
            Self::NotJson(s) => format!("x{s}").into_bytes(),
            Self::Cut(k) => {
                let keep = a_good_line.chars().count().saturating_sub(1);
                a_good_line.chars().take(1 + k % keep.max(1)).collect::<String>().into_bytes()
            }
            Self::NotAnObject(s) | Self::WrongType(s) => s.as_bytes().to_vec(),
            Self::NotUtf8(at) => {
                let mut b = a_good_line.as_bytes().to_vec();
                b.insert(1 + at % (b.len() - 1), 0xff);
                b
            }
            Self::Blank(s) => s.as_bytes().to_vec(),
        }
    }

    fn counted(&self) -> bool {
        !matches!(self, Self::Blank(_))
    }
}

fn bad_line() -> impl Strategy<Value = Bad> {
    prop_oneof![
        "[^\n\r]{0,40}".prop_map(Bad::NotJson),
        any::<usize>().prop_map(Bad::Cut),
        prop::sample::select(vec!["42", "null", "true", "[1, 2]", "\"up\"", "-0.5e3"])
            .prop_map(Bad::NotAnObject),
        prop::sample::select(vec![
            r#"{"name": 7, "status": "up"}"#,
            r#"{"name": null, "status": "up"}"#,
            r#"{"name": "api", "status": false}"#,
            r#"{"name": "api", "status": "up", "latency_ms": null}"#,
            r#"{"name": "api", "status": "down", "latency_ms": "12"}"#,
            r#"{"name": "db", "latency_ms": [1]}"#,
        ])
        .prop_map(Bad::WrongType),
        any::<usize>().prop_map(Bad::NotUtf8),
        "[ \t\u{c}]{0,4}".prop_map(Bad::Blank),
    ]
}

fn good_record() -> impl Strategy<Value = MetricRecord> {
    let name = prop::sample::select(vec!["api", "db", "Café \"ü\" 🚀", "x\\y"]);
    let status = prop::sample::select(vec![Status::Up, Status::Down, Status::Recovered, Status::Maintenance]);
    (name, status, 0..5_000u64, 0..86_400_000_000i64).prop_map(|(name, status, latency_ms, us)| {
        MetricRecord {
            name: name.into(),
            status,
            detail: "HTTP 200".into(),
            latency_ms,
            timestamp: DAY.midnight().assume_utc() + time::Duration::microseconds(us),
            warning: false,
            perfdata: Vec::new(),
        }
    })
}

/// Every public figure of a service (`ServiceStats` also holds where the service first
/// appeared, which moves when lines are inserted before it).
fn figures(s: &ServiceStats) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        (&s.name, s.up, s.down, s.other, s.uptime_percent, s.avg_latency_ms, s.latency, s.incidents),
        (s.longest_outage, s.down_since, s.time_uptime_percent, s.first_seen, s.last_seen, s.state),
        (&s.daily, &s.latency_series),
    )
}

proptest! {
    #[test]
    fn the_report_of_good_lines_among_bad_ones_is_the_report_of_the_good_lines(
        good in prop::collection::vec((good_record(), any::<bool>()), 0..40),
        bad in prop::collection::vec(bad_line(), 0..40),
        order in any::<u64>(),
    ) {
        let lines: Vec<(String, bool)> = good.iter().map(|(r, crlf)| (r.to_line(), *crlf)).collect();
        let end = |crlf: bool| if crlf { &b"\r\n"[..] } else { &b"\n"[..] };
        let mut clean = Vec::new();
        for (line, crlf) in &lines {
            clean.extend_from_slice(line.as_bytes());
            clean.extend_from_slice(end(*crlf));
        }
        // The bad lines go between the good ones at places chosen by `order`; the good lines
        // keep their order.
        let sample = "{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": 3}";
        let mut dirty = Vec::new();
        let mut bad_left = bad.iter();
        let mut state = order | 1;
        for (line, crlf) in &lines {
            while state % 3 == 0 && let Some(b) = bad_left.next() {
                dirty.extend_from_slice(&b.bytes(sample));
                dirty.push(b'\n');
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407) >> 1;
            }
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407) >> 1;
            dirty.extend_from_slice(line.as_bytes());
            dirty.extend_from_slice(end(*crlf));
        }
        for b in bad_left {
            dirty.extend_from_slice(&b.bytes(sample));
            dirty.push(b'\n');
        }

        let window = Window::last_days(DAY, 1);
        let read = |bytes: &[u8]| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(day_file(dir.path(), DAY), bytes).unwrap();
            read_window(dir.path(), &window).unwrap()
        };
        let (clean, dirty) = (read(&clean), read(&dirty));
        prop_assert_eq!(clean.bad.total(), 0);
        prop_assert_eq!(dirty.bad.total(), bad.iter().filter(|b| b.counted()).count() as u64);
        prop_assert_eq!(
            clean.services.iter().map(figures).collect::<Vec<_>>(),
            dirty.services.iter().map(figures).collect::<Vec<_>>()
        );
        let order = |r: &UptimeReport| r.python_kit_order().iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        prop_assert_eq!(order(&clean), order(&dirty));
        prop_assert_eq!(ops_metrics::render::text(&clean), ops_metrics::render::text(&dirty));
        prop_assert_eq!(clean.undated, dirty.undated);
    }
}
