//! Rollups, on real files in temp dirs: a report from rollups equals the report from the day
//! files for every exact figure (a property over random histories), a stale rollup is never
//! used, a file that is not ours is never used, overwritten or deleted, concurrent writers
//! leave one whole file, and retention keeps every day readable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ops_metrics::{
    MetricRecord, Retention, RollupIssue, Status, UptimeReport, Window, clean_up, day_file, read_window,
    render, roll_up, rollup_file,
};
use proptest::prelude::*;
use serde_json::Value;
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

/// "Today" in these tests: rollups are written for the days before it.
const TODAY: Date = date!(2025 - 01 - 20);

fn at(date: Date, us: i64) -> OffsetDateTime {
    date.midnight().assume_utc() + Duration::microseconds(us)
}

/// One line of a day file.
#[derive(Debug, Clone)]
enum Line {
    /// What the writers write, stamped `shift_us` away from the file's own day's start.
    Record { name: &'static str, status: Status, latency_ms: u64, shift_us: i64 },
    /// A line the Python kit reads but no writer of ours produces: any status, a float, negative or
    /// missing latency, no timestamp.
    Odd { name: &'static str, status: &'static str, latency: Value, stamped: Option<i64> },
    /// A line the reader skips and counts (or, blank, skips).
    Bad(&'static [u8]),
}

const NAMES: [&str; 5] = ["api", "db", "Café \"ü\" 🚀", "x\\y", "multi\nline"];

fn line() -> impl Strategy<Value = Line> {
    let name = prop::sample::select(NAMES.to_vec());
    let status = prop::sample::select(vec![Status::Up, Status::Down, Status::Recovered, Status::Maintenance]);
    // Mostly within the day; sometimes just past midnight or the day before (a writer's file
    // is the day it writes), sometimes far away.
    let shift = prop_oneof![
        8 => 0..86_400_000_000i64,
        1 => -3_600_000_000..0i64,
        1 => 86_400_000_000..90_000_000_000i64,
        1 => prop::sample::select(vec![-5 * 86_400_000_000, 40 * 86_400_000_000, -62_000_000_000_000_000]),
    ];
    let latency = prop_oneof![8 => 0..3_000u64, 1 => 0..20u64, 1 => 900_000..2_000_000u64];
    let record = (name.clone(), status, latency, shift)
        .prop_map(|(name, status, latency_ms, shift_us)| Line::Record { name, status, latency_ms, shift_us });
    let odd_latency = prop_oneof![
        Just(Value::from(0.5)),
        Just(Value::from(12.25)),
        Just(Value::from(1e-7)),
        Just(Value::from(-5)),
        Just(Value::from(1_000_000_000_000_000_000_i64)),
        (0..100u32).prop_map(|v| Value::from(f64::from(v) / 3.0)),
        Just(Value::Null), // with the key missing: the Python kit's default 0
    ];
    let odd = (
        name,
        prop::sample::select(vec!["up", "down", "recovered", "degraded", "unknown"]),
        odd_latency,
        prop::option::of(0..86_400_000_000i64),
    )
        .prop_map(|(name, status, latency, stamped)| Line::Odd { name, status, latency, stamped });
    let bad = prop::sample::select(vec![
        &b"not json"[..],
        b"[1, 2]",
        b"{\"name\": 7}",
        b"{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": null}",
        b"{\"name\": \"api\xff\"}",
        b"   ",
        b"",
    ])
    .prop_map(Line::Bad);
    prop_oneof![6 => record, 2 => odd, 1 => bad]
}

fn bytes(date: Date, lines: &[Line], torn: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        match line {
            Line::Record { name, status, latency_ms, shift_us } => {
                let r = MetricRecord {
                    name: (*name).into(),
                    status: *status,
                    detail: "HTTP 200".into(),
                    latency_ms: *latency_ms,
                    timestamp: at(date, *shift_us),
                    warning: false,
                    perfdata: Vec::new(),
                };
                out.extend_from_slice(r.to_line().as_bytes());
            }
            Line::Odd { name, status, latency, stamped } => {
                let mut v = serde_json::json!({"name": name, "status": status});
                if !latency.is_null() {
                    v["latency_ms"] = latency.clone();
                }
                if let Some(us) = stamped {
                    v["timestamp"] = ops_state::timestamp::format_utc(at(date, *us)).into();
                }
                out.extend_from_slice(v.to_string().as_bytes());
            }
            Line::Bad(b) => out.extend_from_slice(b),
        }
        out.push(b'\n');
    }
    if torn {
        out.extend_from_slice(b"{\"name\": \"api\", \"sta");
    }
    out
}

/// The report as JSON without what may differ: the percentiles (bucket bounds from rollups)
/// and how many days came from rollups.
fn exact_json(r: &UptimeReport) -> Value {
    let mut v = render::json(
        r,
        &render::Context { sla: Some(99.9), ..render::Context::new(datetime!(2025-01-20 12:00 UTC)) },
    );
    v.as_object_mut().unwrap().remove("rollups_read");
    for s in v["services"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        for k in ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_percentiles_approximate"] {
            s.remove(k);
        }
    }
    v
}

/// Every exact figure of `b` equals `a`'s; `b`'s percentiles bound `a`'s (exact) ones.
fn assert_same(a: &UptimeReport, b: &UptimeReport, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(render::text(a), render::text(b), "{}: text", what);
    prop_assert_eq!(exact_json(a), exact_json(b), "{}: json", what);
    let prom = |r: &UptimeReport| {
        render::prometheus(r)
            .lines()
            .filter(|l| !l.starts_with("agent_ops_uptime_latency_seconds"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    prop_assert_eq!(prom(a), prom(b), "{}: prometheus", what);
    prop_assert_eq!(&a.bad, &b.bad, "{}", what);
    prop_assert_eq!(
        (a.undated, a.files, a.lines, a.bytes),
        (b.undated, b.files, b.lines, b.bytes),
        "{}",
        what
    );
    let order = |r: &UptimeReport| r.python_kit_order().iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    prop_assert_eq!(order(a), order(b), "{}: the Python kit's order", what);
    prop_assert_eq!(render::sla_text(a, 99.9), render::sla_text(b, 99.9), "{}", what);
    for (x, y) in a.services.iter().zip(&b.services) {
        let figures = |s: &ops_metrics::ServiceStats| {
            (
                (s.name.clone(), s.up, s.down, s.other, s.uptime_percent, s.avg_latency_ms, s.incidents),
                (s.longest_outage, s.down_since, s.time_uptime_percent, s.first_seen, s.last_seen, s.state),
                (s.daily.clone(), s.latency_series.clone()),
            )
        };
        prop_assert_eq!(figures(x), figures(y), "{}", what);
        match (x.latency, y.latency) {
            (None, None) => {}
            (Some(e), Some(p)) => {
                prop_assert!(!e.approximate);
                for (e, p) in [(e.p50, p.p50), (e.p95, p.p95), (e.p99, p.p99)] {
                    prop_assert!(p >= e, "{}: {} below the exact {}", what, p, e);
                    let bound = if e <= 0.0 { 0.0 } else { (e * 1.2).max(e + 1.0) };
                    prop_assert!(e > 1e6 || p <= bound, "{}: {} too far above {}", what, p, e);
                }
            }
            other => prop_assert!(false, "{}: percentiles {:?}", what, other),
        }
    }
    Ok(())
}

fn write_days(dir: &Path, days: &[(u8, Vec<Line>, bool)]) -> BTreeSet<Date> {
    let mut dates = BTreeSet::new();
    for (back, lines, torn) in days {
        let date = TODAY - Duration::days(i64::from(*back));
        std::fs::write(day_file(dir, date), bytes(date, lines, *torn)).unwrap();
        dates.insert(date);
    }
    dates
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random services, statuses, latencies (floats, negatives, huge ones), timestamps over
    /// random days (and beyond their day), undated and bad lines, torn ends: the report of any
    /// window read from rollups (day files there, or gone) equals the report read from the day
    /// files for every exact figure, byte for byte in every format.
    #[test]
    fn a_report_from_rollups_equals_the_report_from_the_day_files(
        days in prop::collection::vec((0..9u8, prop::collection::vec(line(), 0..40), any::<bool>()), 1..7),
        windows in prop::collection::vec((0..4u8, 1..12u32), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let dates = write_days(dir.path(), &days);
        let windows: Vec<Window> =
            windows.iter().map(|(back, n)| Window::last_days(TODAY - Duration::days(i64::from(*back)), *n)).collect();
        let raw: Vec<UptimeReport> = windows.iter().map(|w| read_window(dir.path(), w).unwrap()).collect();
        for r in &raw {
            prop_assert_eq!(r.rollups, 0);
        }

        let rolled = roll_up(dir.path(), TODAY).unwrap();
        prop_assert!(rolled.issues.is_empty(), "{:?}", rolled.issues);
        let finished: Vec<Date> = dates.iter().copied().filter(|d| *d < TODAY).collect();
        prop_assert_eq!(&rolled.written, &finished);
        prop_assert!(roll_up(dir.path(), TODAY).unwrap().written.is_empty(), "rolled up once");

        for (w, raw) in windows.iter().zip(&raw) {
            let from_rollups = read_window(dir.path(), w).unwrap();
            let expected = finished.iter().filter(|d| w.dates().any(|x| x == **d)).count();
            prop_assert_eq!(from_rollups.rollups, expected);
            assert_same(raw, &from_rollups, "rollups beside the day files")?;
        }
        for d in &finished {
            std::fs::remove_file(day_file(dir.path(), *d)).unwrap();
        }
        for (w, raw) in windows.iter().zip(&raw) {
            let gone = read_window(dir.path(), w).unwrap();
            prop_assert!(gone.issues.is_empty());
            assert_same(raw, &gone, "rollups alone")?;
        }
    }
}

fn record(name: &str, status: Status, latency_ms: u64, when: OffsetDateTime) -> String {
    MetricRecord {
        name: name.into(),
        status,
        detail: String::new(),
        latency_ms,
        timestamp: when,
        warning: false,
        perfdata: Vec::new(),
    }
    .to_line()
        + "\n"
}

/// A few days of checks of two services, today included.
fn history(dir: &Path, days: i64) {
    for back in 0..days {
        let date = TODAY - Duration::days(back);
        let mut text = String::new();
        for i in 0..48 {
            let when = at(date, i * 1_800_000_000);
            let down = (back + i) % 17 == 0;
            text += &record(
                "api",
                if down { Status::Down } else { Status::Up },
                100 + u64::try_from(i).unwrap(),
                when,
            );
            text += &record("db", Status::Up, 7, when);
        }
        std::fs::write(day_file(dir, date), text).unwrap();
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_late_append_makes_a_rollup_stale_and_it_is_never_used() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 6);
    let window = Window::last_days(TODAY, 6);
    assert_eq!(roll_up(dir.path(), TODAY).unwrap().written.len(), 5);
    let down_before = read_window(dir.path(), &window).unwrap().services[0].down;
    // A late writer appends to yesterday's file and to an older one.
    for back in [1, 4] {
        let date = TODAY - Duration::days(back);
        append(&day_file(dir.path(), date), &record("api", Status::Down, 5000, at(date, 86_399_000_000)));
    }
    let before = std::fs::read(rollup_file(dir.path(), TODAY - Duration::days(4))).unwrap();
    let report = read_window(dir.path(), &window).unwrap();
    assert_eq!(report.rollups, 3, "the two stale rollups are not used");
    let api = &report.services[0];
    assert_eq!(api.down, down_before + 2, "the late checks are counted");
    assert_eq!(render::text(&report), render::text(&raw_only(dir.path(), &window)));
    // The recent one is rolled up again at once; the older one when its day file is deleted.
    assert_eq!(roll_up(dir.path(), TODAY).unwrap().written, [TODAY - Duration::days(1)]);
    assert_eq!(std::fs::read(rollup_file(dir.path(), TODAY - Duration::days(4))).unwrap(), before);
    let done = clean_up(dir.path(), TODAY, &Retention { day_files: 2, rollups: 3650 }).unwrap();
    assert_eq!(done.rolled_up, [TODAY - Duration::days(4)]);
    assert_eq!(done.removed_day_files.len(), 4);
    assert!(done.issues.is_empty(), "{:?}", done.issues);
    let after = read_window(dir.path(), &window).unwrap();
    assert_eq!(after.rollups, 5);
    assert_eq!(render::text(&after), render::text(&report));
    assert_eq!(after.services[0].down, api.down);
}

/// The same window read with no rollups at all (in a copy of the day files).
fn raw_only(dir: &Path, window: &Window) -> UptimeReport {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    read_window(copy.path(), window).unwrap()
}

/// Files in a rollup's place that are not ours, each with the words that say why.
fn foreign() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("not json", b"hello".to_vec()),
        ("empty", Vec::new()),
        ("another format", br#"{"format": "something else", "version": 1, "date": "2025-01-18"}"#.to_vec()),
        (
            "a newer version",
            br#"{"format": "agent-ops metrics rollup", "version": 2, "date": "2025-01-18", "new": []}"#
                .to_vec(),
        ),
        ("not a rollup", br#"{"services": []}"#.to_vec()),
    ]
}

#[test]
fn a_rollup_that_is_not_ours_is_never_used_overwritten_or_deleted() {
    let day = TODAY - Duration::days(2);
    for (what, content) in foreign() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path(), 4);
        let window = Window::last_days(TODAY, 4);
        let want = read_window(dir.path(), &window).unwrap();
        let path = rollup_file(dir.path(), day);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &content).unwrap();

        let rolled = roll_up(dir.path(), TODAY).unwrap();
        assert_eq!(rolled.written.len(), 2, "{what}");
        assert!(
            matches!(&rolled.issues[..], [RollupIssue::LeftAlone { rollup, .. }] if *rollup == path),
            "{what}: {:?}",
            rolled.issues
        );
        assert_eq!(std::fs::read(&path).unwrap(), content, "{what}: overwritten");

        // Read from the day file instead, and said so.
        let got = read_window(dir.path(), &window).unwrap();
        assert_eq!(render::text(&got), render::text(&want), "{what}");
        assert_eq!(got.rollups, 2, "{what}");
        let said: Vec<String> = got.issues.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 1, "{what}: {said:?}");
        assert!(said[0].starts_with(&format!("ignored {}: ", path.display())), "{}", said[0]);
        assert!(
            said[0].ends_with(&format!("; read {} instead", day_file(dir.path(), day).display())),
            "{}",
            said[0]
        );
        if what == "a newer version" {
            assert!(said[0].contains("written by a newer agent-ops (rollup version 2)"), "{}", said[0]);
        }

        // Retention keeps the day file (its rollup cannot be made) and never deletes the file.
        let done =
            clean_up(dir.path(), TODAY + Duration::days(10), &Retention { day_files: 1, rollups: 3650 })
                .unwrap();
        assert!(day_file(dir.path(), day).exists(), "{what}: the only copy of the day was deleted");
        assert_eq!(std::fs::read(&path).unwrap(), content, "{what}");
        assert!(
            done.issues.iter().any(|i| i
                .to_string()
                .starts_with(&format!("kept {} past its retention", day_file(dir.path(), day).display()))),
            "{what}: {:?}",
            done.issues
        );

        // Without the day file, the day is missing from the report, and the report says so.
        std::fs::remove_file(day_file(dir.path(), day)).unwrap();
        let got = read_window(dir.path(), &Window::last_days(day, 1)).unwrap();
        assert!(got.services.is_empty(), "{what}: never silently trusted");
        let said: Vec<String> = got.issues.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 1);
        assert!(said[0].starts_with(&format!("cannot use {}: ", path.display())), "{}", said[0]);
        assert!(
            said[0].ends_with(&format!("; its day file is gone, so {day} is missing from the report")),
            "{}",
            said[0]
        );
        let json = render::json(&got, &render::Context::new(datetime!(2025-01-20 12:00 UTC)));
        assert_eq!(json["unreadable_days"], serde_json::json!([day.to_string()]));
        // Past its retention, with its day file gone: a newer agent-ops's rollup is ours to
        // delete; anything else is not deleted, and said so.
        let done = clean_up(dir.path(), TODAY + Duration::days(10), &Retention { day_files: 1, rollups: 1 })
            .unwrap();
        if what == "a newer version" {
            assert!(done.removed_rollups.contains(&path) && !path.exists());
            continue;
        }
        assert_eq!(std::fs::read(&path).unwrap(), content, "{what}: deleted");
        assert!(
            done.issues.iter().any(|i| matches!(i, RollupIssue::LeftAlone { rollup, .. } if *rollup == path))
        );
    }
}

/// What is in a rollup's place need not be a file: a directory, a FIFO (which must not block
/// the reader), a link to a device or to nothing. None is read as a rollup, replaced or
/// deleted, and the report reads the day file.
#[test]
fn a_rollup_that_is_not_a_regular_file_is_never_read_or_replaced() {
    type Make = fn(&Path);
    let day = TODAY - Duration::days(1);
    let kinds: [(&str, Make); 4] = [
        ("a directory", |p| std::fs::create_dir(p).unwrap()),
        ("a fifo", |p| {
            rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o644)).unwrap();
        }),
        ("a link to a device", |p| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ("a link to nothing", |p| std::os::unix::fs::symlink("/nonexistent/rollup.json", p).unwrap()),
    ];
    for (what, make) in kinds {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path(), 2);
        let path = rollup_file(dir.path(), day);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        make(&path);
        let kind = |p: &Path| p.symlink_metadata().unwrap().file_type();
        let before = kind(&path);
        let rolled = roll_up(dir.path(), TODAY).unwrap();
        assert!(rolled.written.is_empty(), "{what}");
        assert!(matches!(&rolled.issues[..], [RollupIssue::LeftAlone { .. }]), "{what}: {:?}", rolled.issues);
        let report = read_window(dir.path(), &Window::last_days(TODAY, 2)).unwrap();
        assert_eq!((report.files, report.rollups), (2, 0), "{what}");
        let done = clean_up(dir.path(), TODAY, &Retention { day_files: 1, rollups: 3650 }).unwrap();
        assert!(done.removed_day_files.is_empty(), "{what}");
        assert_eq!(kind(&path), before, "{what}: replaced");
    }
}

/// A rollup of ours for another day, or one whose figures do not fit together, is not ours
/// either: a file edited by hand or copied under another name is never trusted.
#[test]
fn a_tampered_or_misnamed_rollup_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 3);
    roll_up(dir.path(), TODAY).unwrap();
    let (d1, d2) = (TODAY - Duration::days(1), TODAY - Duration::days(2));
    let good = std::fs::read_to_string(rollup_file(dir.path(), d1)).unwrap();
    let tampered = [
        (
            "another day's",
            std::fs::read_to_string(rollup_file(dir.path(), d2)).unwrap(),
            "a rollup of \"2025-01-18\", not of 2025-01-19",
        ),
        ("more up checks", good.replacen("\"up\":", "\"up\":1", 1), "latency buckets that do not fit"),
        ("an unknown key", good.replacen("\"lines\":", "\"extra\":1,\"lines\":", 1), "unknown field `extra`"),
        (
            "a bad reason",
            good.replacen(
                "\"bad_lines\":{",
                "\"bad_lines\":{\"first\":{\"line\":1,\"kind\":\"invalid_json\",\"reason\":\"oops\"},",
                1,
            ),
            "unknown kind of bad line",
        ),
    ];
    for (what, text, why) in tampered {
        assert_ne!(text, good, "{what}: the test changed nothing");
        std::fs::write(rollup_file(dir.path(), d1), &text).unwrap();
        let got = read_window(dir.path(), &Window::last_days(d1, 1)).unwrap();
        assert_eq!(got.rollups, 0, "{what}");
        let said = got.issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(said.contains(why), "{what}: {said}");
    }
}

#[test]
fn concurrent_roll_ups_leave_one_whole_file_with_the_same_content() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 8);
    let written: Vec<Vec<Date>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| roll_up(dir.path(), TODAY).unwrap())).collect();
        handles
            .into_iter()
            .map(|h| {
                let r = h.join().unwrap();
                assert!(r.issues.is_empty(), "{:?}", r.issues);
                r.written
            })
            .collect()
    });
    // Each day written exactly once, by one of them.
    let mut all: Vec<Date> = written.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all, (1..8).rev().map(|b| TODAY - Duration::days(b)).collect::<Vec<_>>());
    let names: BTreeSet<String> = std::fs::read_dir(ops_metrics::rollup_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 7 + 1, "seven rollups and the lock, no temporary file: {names:?}");
    assert!(names.contains("rollups.lock"));
    // The same bytes as a rollup written alone.
    let alone = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, alone.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    roll_up(alone.path(), TODAY).unwrap();
    for back in 1..8 {
        let d = TODAY - Duration::days(back);
        let ours = std::fs::read_to_string(rollup_file(dir.path(), d)).unwrap();
        let theirs = std::fs::read_to_string(rollup_file(alone.path(), d)).unwrap();
        // Equal but for the day file's inode and time, which the copy changed.
        let strip = |s: &str| s[s.find("\"lines\"").unwrap()..].to_owned();
        assert_eq!(strip(&ours), strip(&theirs));
    }
}

#[test]
fn retention_deletes_only_our_rollups_of_days_whose_day_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 10);
    let rollups = ops_metrics::rollup_dir(dir.path());
    let done = clean_up(dir.path(), TODAY, &Retention { day_files: 5, rollups: 3650 }).unwrap();
    assert_eq!(done.removed_day_files.len(), 5);
    assert_eq!(done.rolled_up.len(), 9);
    assert!(done.issues.is_empty(), "{:?}", done.issues);
    // Things in the rollups' directory that are not ours by name or kind.
    let outside = dir.path().join("outside.json");
    std::fs::write(&outside, "keep me").unwrap();
    for name in ["notes.txt", "2025-01-1.json", "2025-01-11.json.bak", "2025-02-30.json", "2025-01-11.JSON"] {
        std::fs::write(rollups.join(name), "x").unwrap();
    }
    std::fs::create_dir(rollups.join("2024-12-01.json")).unwrap();
    std::os::unix::fs::symlink(&outside, rollups.join("2024-12-02.json")).unwrap();
    // Rollups are kept 3 days: those of the days whose day file is gone go, the others stay
    // (they would only be made again), and so does everything else.
    let done = clean_up(dir.path(), TODAY, &Retention { day_files: 5, rollups: 3 }).unwrap();
    let gone: Vec<PathBuf> =
        (5..10).rev().map(|b| rollup_file(dir.path(), TODAY - Duration::days(b))).collect();
    assert_eq!(done.removed_rollups, gone);
    assert!(done.removed_day_files.is_empty());
    assert!(done.issues.is_empty(), "{:?}", done.issues);
    for b in 1..5 {
        assert!(rollup_file(dir.path(), TODAY - Duration::days(b)).exists());
    }
    let left: BTreeSet<String> = std::fs::read_dir(&rollups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in [
        "notes.txt",
        "2025-01-1.json",
        "2025-01-11.json.bak",
        "2025-02-30.json",
        "2025-01-11.JSON",
        "2024-12-01.json",
        "2024-12-02.json",
        "rollups.lock",
    ] {
        assert!(left.contains(name), "{name} was deleted");
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
}

/// Rollups outlive the day files: a year reads from them, once the day files are gone.
#[test]
fn a_year_reads_from_rollups_after_the_day_files_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 40);
    let window = Window::last_days(TODAY, 365);
    let want = read_window(dir.path(), &window).unwrap();
    let done = clean_up(dir.path(), TODAY, &Retention { day_files: 3, rollups: 3650 }).unwrap();
    assert_eq!(done.removed_day_files.len(), 37);
    let got = read_window(dir.path(), &window).unwrap();
    assert_eq!((got.files, got.rollups), (40, 39));
    assert_eq!(render::text(&got), render::text(&want));
    assert_eq!(exact_json(&got), exact_json(&want));
    let month = read_window(dir.path(), &Window::month(2025, time::Month::January).unwrap()).unwrap();
    assert_eq!(month.files, 20);
    assert!(render::text(&month).starts_with("=== Uptime Report (2025-01 UTC) ===\n"));
}

/// A rollup that cannot be written (a read-only or full disk under `rollups/`) is an issue
/// naming the file; the report reads the day files, retention keeps them, and once the disk
/// is repaired the rollups are written.
#[test]
fn a_rollup_that_cannot_be_written_is_an_issue_and_the_day_file_is_kept() {
    use test_support::disk::Tmpfs;
    type Step = fn(&Tmpfs);
    let cases: [(Step, Step, &str); 2] = [
        (Tmpfs::read_only, Tmpfs::writable, "Read-only file system"),
        (Tmpfs::fill, Tmpfs::free, "No space left on device"),
    ];
    for (breaks, repairs, why) in cases {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path(), 3);
        let Some(disk) = Tmpfs::mount(&ops_metrics::rollup_dir(dir.path()), 256) else { return };
        breaks(&disk);
        let rolled = roll_up(dir.path(), TODAY).unwrap();
        assert!(rolled.written.is_empty());
        // One issue: the first write fails, and the next day is not tried.
        let said: Vec<String> = rolled.issues.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("cannot roll up 2025-01-18: "), "{}", said[0]);
        assert!(said[0].contains("/rollups/") && said[0].contains(why), "{}", said[0]);
        assert!(said[0].ends_with(" (1 more finished day(s) not rolled up yet)"), "{}", said[0]);
        let report = read_window(dir.path(), &Window::last_days(TODAY, 3)).unwrap();
        assert_eq!((report.files, report.rollups), (3, 0));
        let done = clean_up(dir.path(), TODAY, &Retention { day_files: 1, rollups: 3650 }).unwrap();
        assert!(done.removed_day_files.is_empty(), "deleted a day whose rollup could not be written");
        assert_eq!(done.issues.iter().filter(|i| matches!(i, RollupIssue::DayFileKept { .. })).count(), 2);
        repairs(&disk);
        assert_eq!(roll_up(dir.path(), TODAY).unwrap().written.len(), 2);
        let done = clean_up(dir.path(), TODAY, &Retention { day_files: 1, rollups: 3650 }).unwrap();
        assert_eq!((done.removed_day_files.len(), done.issues.len()), (2, 0), "{:?}", done.issues);
    }
}
