//! The reader on real day files in temp dirs: bad lines of every kind, chunk boundaries,
//! the window, and the richer statistics on data whose answers are known.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ops_metrics::{BadKind, MetricRecord, State, Status, UptimeReport, Window, python, read_window, render};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

const DAY: Date = date!(2025 - 01 - 15);

fn line(name: &str, status: Status, latency_ms: u64, at: OffsetDateTime) -> String {
    let record = MetricRecord {
        name: name.into(),
        status,
        detail: "d".into(),
        latency_ms,
        timestamp: at,
        warning: false,
        perfdata: Vec::new(),
    };
    record.to_line()
}

fn write(dir: &Path, date: Date, content: impl AsRef<[u8]>) {
    std::fs::write(ops_metrics::day_file(dir, date), content).unwrap();
}

fn read(dir: &Path, days: u32) -> UptimeReport {
    read_window(dir, &Window::last_days(DAY, days)).unwrap()
}

/// Good lines for three services on `DAY`, one per 5 minutes.
fn good_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..20 {
        let at = DAY.midnight().assume_utc() + time::Duration::minutes(5 * i);
        let down = (5..8).contains(&i);
        lines.push(line(
            "api",
            if down { Status::Down } else { Status::Up },
            100 + u64::try_from(i).unwrap(),
            at,
        ));
        lines.push(line("db", Status::Up, 7, at));
        lines.push(line("Café \"ü\" 🚀", Status::Recovered, 1, at));
    }
    lines
}

#[test]
fn every_kind_of_bad_line_is_counted_and_skipped() {
    let clean = tempfile::tempdir().unwrap();
    let dirty = tempfile::tempdir().unwrap();
    let good = good_lines();
    write(clean.path(), DAY, good.join("\n") + "\n");

    let bad: [(&[u8], Option<BadKind>); 17] = [
        (b"{\"name\": \"api\", \"status\": \"up\"", Some(BadKind::InvalidJson)),
        (b"this is not json", Some(BadKind::InvalidJson)),
        (b"[\"api\", \"up\"]", Some(BadKind::NotAnObject)),
        (b"42", Some(BadKind::NotAnObject)),
        (b"null", Some(BadKind::NotAnObject)),
        (b"{\"name\": 7, \"status\": \"up\"}", Some(BadKind::WrongType)),
        (b"{\"name\": \"api\", \"status\": false}", Some(BadKind::WrongType)),
        (b"{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": null}", Some(BadKind::WrongType)),
        (b"{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": \"12\"}", Some(BadKind::WrongType)),
        (b"{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": true}", Some(BadKind::WrongType)),
        (b"{\"name\": \"api\xff\xfe\", \"status\": \"up\"}", Some(BadKind::InvalidUtf8)),
        (b"\xc3\x28", Some(BadKind::InvalidUtf8)),
        // Not bad: blank and whitespace-only lines, which the Python kit skips too.
        (b"", None),
        (b"   \t", None),
        (b"\r", None),
        (b" \x0c ", None),
        (b"", None),
    ];
    let mut content = Vec::new();
    for (i, g) in good.iter().enumerate() {
        // CRLF endings are what Python's text mode reads as plain lines: counted, not bad.
        let ending: &[u8] = if i % 3 == 0 { b"\r\n" } else { b"\n" };
        content.extend_from_slice(g.as_bytes());
        content.extend_from_slice(ending);
        if let Some((b, _)) = bad.get(i) {
            content.extend_from_slice(b);
            content.push(b'\n');
        }
    }
    content.extend_from_slice(b"{\"name\": \"api\", \"sta");
    write(dirty.path(), DAY, &content);

    let (want, got) = (read(clean.path(), 1), read(dirty.path(), 1));
    assert_eq!(render::text_detailed(&got), render::text_detailed(&want));
    assert_eq!(
        render::text(&got),
        "=== Uptime Report (last 1 days) ===\n\n\
         [CRITICAL] Café \"ü\" 🚀: 0% uptime (0 failures in 0 checks, avg 0ms)\n\
         [CRITICAL] api: 85.0% uptime (3 failures in 20 checks, avg 109.5ms)\n\
         [OK] db: 100.0% uptime (0 failures in 20 checks, avg 7.0ms)\n"
    );
    for (g, w) in got.services.iter().zip(&want.services) {
        assert_eq!(
            (g.up, g.down, g.other, g.incidents, g.latency),
            (w.up, w.down, w.other, w.incidents, w.latency)
        );
        assert_eq!(
            (g.first_seen, g.last_seen, g.longest_outage),
            (w.first_seen, w.last_seen, w.longest_outage)
        );
    }
    let expected = |kind| bad.iter().filter(|b| b.1 == Some(kind)).count() as u64;
    for kind in [BadKind::InvalidJson, BadKind::NotAnObject, BadKind::WrongType, BadKind::InvalidUtf8] {
        assert_eq!(got.bad.count(kind), expected(kind), "{kind:?}");
    }
    assert_eq!(got.bad.count(BadKind::TornLastLine), 1);
    assert_eq!(got.bad.total(), 13);
    assert_eq!(want.bad.total(), 0);
    let warning = got.bad.to_string();
    assert!(
        warning.starts_with(
            "skipped 13 bad lines in 1 file (2 invalid UTF-8, 2 invalid JSON, 1 torn last line, \
             3 not an object, 5 wrong field type); first at "
        ),
        "{warning}"
    );
    assert!(warning.ends_with("2025-01-15.jsonl:2: not valid JSON"), "{warning}");
}

#[test]
fn a_lone_carriage_return_ends_a_line_as_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let at = DAY.midnight().assume_utc();
    let (a, b) = (line("a", Status::Up, 1, at), line("b", Status::Down, 2, at));
    write(dir.path(), DAY, format!("{a}\r{b}\n"));
    let r = read(dir.path(), 1);
    assert_eq!(
        r.services.iter().map(|s| (s.name.as_str(), s.up, s.down)).collect::<Vec<_>>(),
        [("a", 1, 0), ("b", 0, 1)]
    );
    assert_eq!(r.bad.total(), 0);
}

#[test]
fn a_complete_last_line_without_newline_counts_and_a_torn_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let at = DAY.midnight().assume_utc();
    write(dir.path(), DAY, line("a", Status::Up, 1, at));
    write(
        dir.path(),
        DAY.previous_day().unwrap(),
        format!("{}\n{{\"name\": \"a\", \"st\u{e9}", line("a", Status::Up, 1, at)),
    );
    let mut torn_utf8 = line("a", Status::Up, 1, at).into_bytes();
    torn_utf8.extend_from_slice(b"\n{\"name\": \"caf\xc3");
    write(dir.path(), date!(2025 - 01 - 13), torn_utf8);
    let r = read(dir.path(), 3);
    assert_eq!(r.services[0].up, 3);
    assert_eq!(r.bad.count(BadKind::TornLastLine), 2);
    assert_eq!(r.bad.total(), 2);
    assert_eq!(r.bad.files, 2);
}

#[test]
fn chunk_boundaries_and_a_line_longer_than_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let at = DAY.midnight().assume_utc();
    let mut content = String::new();
    for i in 0..30_000u64 {
        let _ = writeln!(content, "{}", line(&format!("svc-{}", i % 7), Status::Up, i % 1000, at));
    }
    let long = MetricRecord {
        name: "long".into(),
        status: Status::Down,
        detail: "x".repeat(3 << 20),
        latency_ms: 5,
        timestamp: at,
        warning: false,
        perfdata: Vec::new(),
    };
    content.push_str(&long.to_line());
    content.push('\n');
    assert!(content.len() > 6 << 20);
    write(dir.path(), DAY, &content);
    let r = read(dir.path(), 1);
    assert_eq!(r.lines, 30_001);
    assert_eq!(r.bytes, content.len() as u64);
    assert_eq!(r.bad.total(), 0);
    let total: u64 = r.services.iter().map(ops_metrics::ServiceStats::total_checks).sum();
    assert_eq!(total, 30_001);
    let long = r.services.iter().find(|s| s.name == "long").unwrap();
    assert_eq!((long.down, long.avg_latency_ms), (1, Some(5.0)));
}

#[test]
fn a_line_over_16_mib_is_skipped_without_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let at = DAY.midnight().assume_utc();
    let huge = "x".repeat(17 << 20);
    let (a, b) = (line("a", Status::Up, 1, at), line("b", Status::Up, 1, at));
    write(dir.path(), DAY, format!("{a}\n{huge}\n{b}\n{huge}"));
    let r = read(dir.path(), 1);
    assert_eq!(r.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r.bad.count(BadKind::TooLong), 2);
    assert_eq!(r.bad.total(), 2);
    assert_eq!(r.bad.first.as_ref().map(|f| f.line), Some(2));
}

#[test]
fn the_window_reads_only_its_days_and_only_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let at = |d: Date| d.midnight().assume_utc();
    for (d, name) in
        [(date!(2025 - 01 - 08), "too-old"), (date!(2025 - 01 - 09), "first-day"), (DAY, "today")]
    {
        write(dir.path(), d, line(name, Status::Up, 1, at(d)) + "\n");
    }
    write(dir.path(), date!(2025 - 01 - 16), line("tomorrow", Status::Up, 1, at(DAY)) + "\n");
    std::fs::create_dir(dir.path().join("2025-01-14.jsonl")).unwrap();
    std::fs::write(dir.path().join("2025-01-13.jsonl.bak"), line("backup", Status::Up, 1, at(DAY))).unwrap();
    let r = read(dir.path(), 7);
    assert_eq!(r.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["first-day", "today"]);
    assert_eq!(r.files, 2);
    assert!(
        read_window(&dir.path().join("missing"), &Window::last_days(DAY, 7)).unwrap().services.is_empty()
    );
}

#[test]
fn incidents_outages_and_time_uptime_across_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = datetime!(2025-01-14 23:00:00 UTC);
    // Every 10 minutes from 23:00 on the 14th: down from 23:40 to 00:20 (across midnight),
    // and down again at the end, from 00:50.
    let states = [false, false, false, false, true, true, true, true, false, false, false, true, true];
    let (mut day14, mut day15) = (String::new(), String::new());
    for (i, down) in (0u8..).zip(states) {
        let at = t0 + time::Duration::minutes(10 * i64::from(i));
        let l = line("api", if down { Status::Down } else { Status::Up }, 10 * (u64::from(i) + 1), at) + "\n";
        if at.date() == DAY { day15.push_str(&l) } else { day14.push_str(&l) }
    }
    // A "recovered" line ends nothing here (the service is already up), and an undated line
    // counts for the Python kit's figures only.
    day15.push_str("{\"name\": \"api\", \"status\": \"weird\", \"latency_ms\": 999}\n");
    write(dir.path(), date!(2025 - 01 - 14), day14);
    write(dir.path(), DAY, day15);
    let r = read(dir.path(), 2);
    let s = &r.services[0];
    assert_eq!((s.up, s.down, s.other), (7, 6, 1));
    assert_eq!(s.incidents, 2);
    assert_eq!(s.longest_outage, Some(Duration::from_secs(40 * 60)));
    assert_eq!(s.down_since, Some(datetime!(2025-01-15 00:50:00 UTC)));
    assert_eq!(s.state, Some(State::Down));
    // 120 minutes between the first and last check; down 40 + 10 of them.
    assert_eq!(s.time_uptime_percent, Some(70.0 / 120.0 * 100.0));
    assert_eq!(s.first_seen, Some(t0));
    assert_eq!(s.last_seen, Some(datetime!(2025-01-15 01:00:00 UTC)));
    assert_eq!(r.undated, 1);
    // Successful latencies: 10, 20, 30, 40, 90, 100, 110.
    let p = s.latency.unwrap();
    assert_eq!((p.p50, p.p95, p.p99), (40.0, 110.0, 110.0));
    assert_eq!(
        s.daily.iter().map(|d| (d.date, d.up, d.down, d.other)).collect::<Vec<_>>(),
        [(date!(2025 - 01 - 14), 4, 2, 0), (DAY, 3, 4, 1)]
    );
    // Two days: hourly points; 23:00 on the 14th holds 10..40 (avg 25), 00:00 on the 15th 90..110.
    assert_eq!(s.latency_series.len(), 48);
    assert_eq!(s.latency_series[23], Some(25.0));
    assert_eq!(s.latency_series[24], Some(100.0));
    assert_eq!(s.latency_series.iter().flatten().count(), 2);
    // The Python kit's figures: 7 of 13, latency averaged over all 14 lines.
    assert_eq!(s.uptime_percent, Some(53.85));
    assert_eq!(s.avg_latency_ms, Some(python::round(f64::from(10 * (1..=13).sum::<u32>() + 999) / 14.0, 1)));
}

#[test]
fn python_kit_order_is_first_appearance_newest_day_first() {
    let dir = tempfile::tempdir().unwrap();
    let at = DAY.midnight().assume_utc();
    write(dir.path(), DAY, [line("b", Status::Up, 1, at), line("c", Status::Up, 1, at)].join("\n"));
    write(
        dir.path(),
        date!(2025 - 01 - 14),
        [line("a", Status::Up, 1, at), line("c", Status::Up, 1, at)].join("\n"),
    );
    let r = read(dir.path(), 7);
    assert_eq!(r.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(r.python_kit_order().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
}

/// `python::round` and `python::repr` against python3 itself on the numbers the report prints:
/// every uptime `up / total * 100` for totals up to 400, and averages `sum / count`.
#[test]
fn number_formatting_matches_python() {
    let Some(python3) = test_support::require_tool("python3") else { return };
    let script = "
for total in range(1, 401):
    for up in range(total + 1):
        print(repr(round((up / total) * 100, 2)))
for count in range(1, 60):
    for s in range(0, 3000, 7):
        print(repr(round(s / count, 1)))
";
    let out = Command::new(python3).args(["-c", script]).output().unwrap();
    assert!(out.status.success());
    let theirs = String::from_utf8(out.stdout).unwrap();
    let mut ours = String::new();
    for total in 1..=400u32 {
        for up in 0..=total {
            let _ = writeln!(
                ours,
                "{}",
                python::repr(python::round(f64::from(up) / f64::from(total) * 100.0, 2))
            );
        }
    }
    for count in 1..60u32 {
        for s in (0..3000u32).step_by(7) {
            let _ = writeln!(ours, "{}", python::repr(python::round(f64::from(s) / f64::from(count), 1)));
        }
    }
    assert_eq!(ours.lines().count(), theirs.lines().count());
    for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        assert_eq!(a, b, "line {i}");
    }
}
