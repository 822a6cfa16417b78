//! `uptime-report` as a user runs it: a real process, a sandbox HOME, day files written in a
//! temp dir; the Python kit's script, promtool and Chromium where the test needs them.

use std::path::PathBuf;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use ops_metrics::{MetricRecord, Status, day_file};
use serde_json::json;
use time::{Date, OffsetDateTime};

/// A sandbox HOME with `~/.agent-ops/metrics`.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".agent-ops/metrics")).unwrap();
        Self { dir }
    }

    fn metrics(&self) -> PathBuf {
        self.dir.path().join(".agent-ops/metrics")
    }

    fn append(&self, date: Date, bytes: impl AsRef<[u8]>) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(day_file(&self.metrics(), date))
            .unwrap();
        f.write_all(bytes.as_ref()).unwrap();
    }

    fn ours(&self, args: &[&str]) -> Output {
        Command::cargo_bin("uptime-report")
            .unwrap()
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("AGENT_OPS_HOME")
            .env_remove("AGENT_OPS_METRICS_DIR")
            .env_remove("AGENT_OPS_CONFIG")
            .output()
            .unwrap()
    }
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn days_ago(n: i64) -> Date {
    today() - time::Duration::days(n)
}

fn at(date: Date, minute: i64) -> OffsetDateTime {
    date.midnight().assume_utc()
        + time::Duration::minutes(minute)
        + time::Duration::microseconds(minute * 7919 % 1_000_000)
}

fn record(name: &str, status: Status, latency_ms: u64, when: OffsetDateTime) -> String {
    let record = MetricRecord {
        name: name.into(),
        status,
        detail: "HTTP 200".into(),
        latency_ms,
        timestamp: when,
        warning: false,
        perfdata: Vec::new(),
    };
    record.to_line() + "\n"
}

/// `up` and `down` checks of `name` spread over the last `days` days, 5 minutes apart.
fn checks(home: &Home, name: &str, up: u64, down: u64, days: i64) {
    let mut per_day = vec![String::new(); usize::try_from(days).unwrap()];
    for i in 0..up + down {
        let day = i64::try_from(i).unwrap() % days;
        let status = if i < down { Status::Down } else { Status::Up };
        let minute = i64::try_from(i).unwrap() / days * 5;
        per_day[usize::try_from(day).unwrap()].push_str(&record(
            name,
            status,
            90 + i % 37,
            at(days_ago(day), minute),
        ));
    }
    for (day, lines) in per_day.iter().enumerate() {
        home.append(days_ago(i64::try_from(day).unwrap()), lines);
    }
}

/// Data the Python kit reads without crashing, with every case its report prints differently.
fn seed_data(home: &Home) {
    checks(home, "api-gateway", 210, 0, 7); // 100.0
    checks(home, "exact-99.5", 199, 1, 3); // 99.5: OK
    checks(home, "exact-95", 19, 1, 2); // 95.0: WARN
    checks(home, "tie-99.475", 3979, 21, 7); // round() on a binary tie
    checks(home, "tie-94.975", 3799, 201, 7);
    checks(home, "below-95", 18, 2, 1); // 90.0: CRITICAL
    checks(home, "Café “Zürich” \"quoted\" 'single' ü 🚀 日本", 10, 1, 2);
    checks(home, "Zeta", 3, 0, 1);
    checks(home, "alpha", 3, 0, 1);
    checks(home, "Äpfel", 3, 0, 1);
    checks(home, "multi\nline\tname", 2, 1, 1);
    checks(home, "edge-of-window", 1, 0, 7);
    let t = today();
    let raw = |v: serde_json::Value| v.to_string() + "\n";
    // Statuses the Python kit counts only in the latency average; a service with no up/down at all.
    for (status, latency) in [("recovered", 50), ("degraded", 70), ("up", 100), ("down", 3), ("recovered", 1)]
    {
        home.append(t, raw(json!({"name": "mixed", "status": status, "latency_ms": latency})));
    }
    for _ in 0..3 {
        home.append(t, raw(json!({"name": "only-recovered", "status": "recovered", "latency_ms": 50})));
    }
    // Missing fields take the Python kit's defaults; other keys and key orders are fine.
    home.append(t, raw(json!({"status": "up", "timestamp": "2025-01-15T10:30:00Z"})));
    home.append(t, raw(json!({"name": "no-status", "latency_ms": 5})));
    home.append(t, raw(json!({"name": "no-latency", "status": "down"})));
    home.append(
        t,
        "{\"latency_ms\": 12, \"host\": \"web-1\", \"status\": \"up\", \"name\": \"reordered\"}\n",
    );
    // Float latencies (exact binary fractions: any summation order gives the same sum).
    for (status, latency) in [("up", 0.5), ("up", 12.25), ("down", 3.0)] {
        home.append(t, raw(json!({"name": "float-latency", "status": status, "latency_ms": latency})));
    }
    // Averages on a rounding tie and beyond 1e16 (printed in exponent form by Python).
    for latency in [1, 0, 0, 0] {
        home.append(t, raw(json!({"name": "avg-tie", "status": "up", "latency_ms": latency})));
    }
    home.append(
        t,
        raw(json!({"name": "huge-latency", "status": "up", "latency_ms": 100_000_000_000_000_000_u64})),
    );
    home.append(t, raw(json!({"name": "negative-latency", "status": "up", "latency_ms": -5})));
    // Lines the Python kit itself skips or strips: invalid JSON, blank, padded, CRLF, a torn end.
    home.append(t, "not json at all\n\n   \n  {\"name\": \"padded\", \"status\": \"up\"}  \n");
    home.append(t, "{\"name\": \"crlf\", \"status\": \"up\", \"latency_ms\": 4}\r\n");
    home.append(
        days_ago(1),
        "{\"name\": \"crlf\", \"status\": \"down\", \"latency_ms\": 4}\r\n{\"name\": \"torn\", \"sta",
    );
    // Outside the window: too old, and tomorrow.
    home.append(days_ago(7), record("too-old", Status::Up, 1, at(days_ago(7), 0)));
    home.append(days_ago(40), record("too-old", Status::Up, 1, at(days_ago(40), 0)));
    home.append(t + time::Duration::days(1), record("tomorrow", Status::Up, 1, at(t, 0)));
}

fn seed_report(home: &Home, days: u32) -> Option<Vec<u8>> {
    let (python, seed) = test_support::require_seed()?;
    let script = format!(
        "import sys; sys.path.insert(0, {:?}); from agent_ops_metrics import uptime_report; print(uptime_report(days={days}))",
        seed.display().to_string()
    );
    let out = Command::new(python).args(["-c", &script]).env("HOME", home.dir.path()).output().unwrap();
    assert!(out.status.success(), "seed failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(out.stdout)
}

/// The Python kit's report as ours prints it: the same bytes, but for the one name with control
/// characters, which ours shows escaped (`\n`) instead of breaking the line.
fn escaped(seed: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(seed).replace("multi\nline\tname", "multi\\nline\tname").into_bytes()
}

/// Runs `f` again if the UTC date changed while it ran (the Python kit reads the clock too).
fn on_one_day(f: impl Fn()) {
    let before = today();
    f();
    if today() != before {
        f();
    }
}

#[test]
fn the_default_report_equals_the_seeds_byte_for_byte() {
    on_one_day(|| {
        let home = Home::new();
        seed_data(&home);
        let Some(theirs) = seed_report(&home, 7) else { return };
        let theirs = escaped(&theirs);
        let ours = home.ours(&[]);
        assert_eq!(ours.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs));
        assert_eq!(ours.stdout, theirs);
        let text = String::from_utf8(ours.stdout).unwrap();
        for expected in [
            "[OK] api-gateway: 100.0% uptime (0 failures in 210 checks, avg ",
            "[OK] exact-99.5: 99.5% uptime (1 failures in 200 checks",
            "[WARN] exact-95: 95.0% uptime (1 failures in 20 checks",
            "[CRITICAL] only-recovered: 0% uptime (0 failures in 0 checks, avg 0ms)",
            "[OK] huge-latency: 100.0% uptime (0 failures in 1 checks, avg 1e+17ms)",
            "[OK] avg-tie: 100.0% uptime (0 failures in 4 checks, avg 0.2ms)",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        // The torn line on the day before: one warning on stderr, the report untouched.
        let stderr = String::from_utf8(ours.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("warning: skipped 2 bad lines in 2 files (1 invalid JSON, 1 torn last line)")
        );

        for days in [1, 3, 30] {
            let theirs = escaped(&seed_report(&home, days).unwrap());
            let ours = home.ours(&["--days", &days.to_string()]);
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs),
                "--days {days}"
            );
        }
    });
}

/// Lines with a warning (`"status": "up"` and `"state": "warning"`) and a command check's
/// performance data, as our writer writes them: the Python kit's report over them is ours byte for
/// byte, and both count a warning as up.
#[test]
fn warnings_count_as_up_for_the_seed_and_for_us() {
    on_one_day(|| {
        let home = Home::new();
        let t = today();
        let perf = |value| ops_metrics::Perf {
            label: "time".into(),
            value,
            uom: "ms".into(),
            warn: Some("100".into()),
            crit: Some("200".into()),
            min: Some(0.0),
            max: None,
        };
        let mut lines = String::new();
        for (i, (status, warning)) in
            [(Status::Up, false), (Status::Up, true), (Status::Up, true), (Status::Down, false)]
                .into_iter()
                .enumerate()
        {
            let record = MetricRecord {
                name: "plugin".into(),
                status,
                detail: "WARNING - slow".into(),
                latency_ms: 10 * (i as u64 + 1),
                timestamp: at(t, i64::try_from(i).unwrap()),
                warning,
                perfdata: vec![perf(Some(150.0)), ops_metrics::Perf { label: "u".into(), ..perf(None) }],
            };
            lines.push_str(&record.to_line());
            lines.push('\n');
        }
        assert_eq!(lines.matches("\"state\": \"warning\"").count(), 2, "{lines}");
        home.append(t, &lines);
        let ours = home.ours(&[]);
        assert_eq!(ours.status.code(), Some(0));
        let text = String::from_utf8(ours.stdout.clone()).unwrap();
        assert!(
            text.contains("[CRITICAL] plugin: 75.0% uptime (1 failures in 4 checks, avg 25.0ms)"),
            "{text}"
        );
        assert_eq!(String::from_utf8(ours.stderr).unwrap(), "", "no bad lines");
        let Some(theirs) = seed_report(&home, 7) else { return };
        assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs));
    });
}

/// The Python part of the Python kit's `extras/weekly-digest.sh`, run as the script runs it.
fn weekly_digest(home: &Home) -> Option<Vec<u8>> {
    let (python, seed) = test_support::require_seed()?;
    let script = std::fs::read_to_string(seed.join("extras/weekly-digest.sh")).unwrap();
    let start = script.find("python3 -c \"").unwrap() + "python3 -c \"".len();
    let end = start + script[start..].find("\n\")").unwrap();
    let code = script[start..end].replace("\\\"", "\"");
    let out = Command::new(python)
        .args(["-c", &code])
        .current_dir(&seed)
        .env("HOME", home.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(out.stdout)
}

#[test]
fn sla_prints_the_weekly_digest_and_fails_below_the_target() {
    on_one_day(|| {
        let home = Home::new();
        seed_data(&home);
        let Some(theirs) = weekly_digest(&home) else { return };
        let theirs = escaped(&theirs);
        let ours = home.ours(&["--sla", "99.9"]);
        assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs));
        assert_eq!(ours.status.code(), Some(1));

        let healthy = Home::new();
        checks(&healthy, "api", 1000, 1, 7);
        checks(&healthy, "db", 50, 0, 2);
        let theirs = weekly_digest(&healthy).unwrap();
        let ours = healthy.ours(&["--sla", "99.9"]);
        assert!(String::from_utf8_lossy(&ours.stdout).ends_with("\nAll services above 99.9% SLA target.\n"));
        assert_eq!(ours.stdout, theirs);
        assert_eq!(ours.status.code(), Some(0));
    });
}

#[test]
fn bad_lines_are_skipped_with_one_warning_and_the_rest_matches_the_seed() {
    on_one_day(|| {
        let (clean, dirty) = (Home::new(), Home::new());
        for home in [&clean, &dirty] {
            checks(home, "api", 300, 4, 3);
            checks(home, "db", 100, 0, 2);
        }
        let t = today();
        for bad in [
            &b"{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": null}\n"[..],
            b"{\"name\": \"api\", \"status\": \"up\", \"latency_ms\": \"slow\"}\n",
            b"{\"name\": [\"api\"], \"status\": \"up\"}\n",
            b"[1, 2, 3]\n",
            b"\"just a string\"\n",
            b"{\"name\": \"api\xff\", \"status\": \"down\"}\n",
            b"{broken\n",
        ] {
            dirty.append(t, bad);
        }
        dirty.append(days_ago(1), "{\"name\": \"db\", \"status\": \"do");
        let ours = dirty.ours(&[]);
        assert_eq!(ours.status.code(), Some(0));
        let stderr = String::from_utf8(ours.stderr).unwrap();
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [format!(
                "warning: skipped 8 bad lines in 2 files (1 invalid UTF-8, 1 invalid JSON, 1 torn last line, \
                 2 not an object, 3 wrong field type); first at {}:152: no newline and not valid JSON",
                day_file(&dirty.metrics(), days_ago(1)).display()
            )]
        );
        let Some(theirs) = seed_report(&clean, 7) else { return };
        assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs));
    });
}

#[test]
fn service_detailed_json_and_output_file() {
    let home = Home::new();
    checks(&home, "api", 95, 5, 1);
    checks(&home, "db", 10, 0, 1);
    let out = home.ours(&["--service", "api", "--detailed"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "=== Uptime Report (last 7 days) ===",
            "",
            "[WARN] api: 95.0% uptime (5 failures in 100 checks, avg 106.6ms)"
        ]
    );
    assert!(lines[3].starts_with("    latency p50 "), "{text}");
    assert_eq!(lines[4], "    1 incident, longest outage 25m 0s; time-based uptime 94.949%", "{text}");
    assert!(lines[5].starts_with("    first seen ") && lines[5].ends_with("; now up"), "{text}");
    assert_eq!(lines.len(), 6);

    let missing = home.ours(&["--service", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("no metrics for service \"nope\" in the last 7 days")
    );

    let out = home.ours(&["--format", "json", "--sla", "99"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["window"]["days"], 7);
    assert_eq!(v["services"][0]["name"], "api");
    assert_eq!(v["services"][0]["uptime_percent"], 95.0);
    assert_eq!(v["services"][0]["total_checks"], 100);
    assert_eq!(v["services"][0]["failures"], 5);
    assert_eq!(v["services"][0]["incidents"], 1);
    assert_eq!(v["services"][0]["below_sla"], true);
    assert_eq!(v["services"][1]["below_sla"], false);
    assert_eq!(v["sla"]["below"], json!(["api"]));

    let file = home.dir.path().join("report.json");
    let out = home.ours(&["--format", "json", "--output", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["services"].as_array().unwrap().len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    let home = Home::new();
    for args in [
        &["--days", "0"][..],
        &["--format", "xml"],
        &["--sla", "101"],
        &["--sla", "high"],
        &["--until", "yesterday"],
        &["--retention-days", "30"],
        &["--cleanup", "--days", "3"],
        &["--cleanup", "--retention-days", "0"],
        &["--frobnicate"],
        &["--days", "-3"],
        &["--sla", "-1"],
        &["--cleanup", "--retention-days", "-5"],
        &["--month", "2026-13"],
        &["--month", "2026-1"],
        &["--month", "October"],
        &["--month", "2026-10", "--days", "3"],
        &["--month", "2026-10", "--since", "2026-10-01"],
        &["--month", "2026-10", "--until", "2026-10-05"],
        &["--since", "2026-10-01", "--days", "3"],
        &["--since", "2026-10-05", "--until", "2026-10-01"],
        &["--since", "9999-12-31"],
        &["--since", "1900-01-01", "--until", "2026-01-01"],
        &["--since", "2026-02-30"],
        &["--cleanup", "--month", "2026-10"],
        &["--cleanup", "--since", "2026-10-01"],
    ] {
        let out = home.ours(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("unexpected argument '-3'")
                && !err.contains("unexpected argument '-1'")
                && !err.contains("unexpected argument '-5'"),
            "a negative number is a bad value, not an option: {err}"
        );
    }
    assert_eq!(home.ours(&["--help"]).status.code(), Some(0));
    let err = |args: &[&str]| String::from_utf8(home.ours(args).stderr).unwrap();
    assert_eq!(
        err(&["--since", "2026-10-05", "--until", "2026-10-01"]),
        "error: --since 2026-10-05 is after --until 2026-10-01\n"
    );
    assert!(err(&["--since", "9999-12-31"]).starts_with("error: --since 9999-12-31 is after today ("));
    assert_eq!(
        err(&["--since", "1900-01-01", "--until", "2026-01-01"]),
        "error: --since 1900-01-01 to 2026-01-01 is 46022 days; at most 36500\n"
    );
}

/// No data, unreadable data, or a window without checks is never compliance.
#[test]
fn an_sla_over_no_data_fails_and_says_why() {
    let home = Home::new();
    // An empty metrics directory, then none at all.
    for _ in 0..2 {
        let out = home.ours(&["--sla", "99.9"]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nothing shows that any service met the 99.9% SLA"), "{err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("All services above"), "{err}");
        std::fs::remove_dir(home.metrics()).unwrap_or_default();
    }
    // Lines that cannot be counted are not checks either.
    std::fs::create_dir_all(home.metrics()).unwrap();
    home.append(today(), "not json\n{\"name\": 3}\n");
    assert_eq!(home.ours(&["--sla", "99.9"]).status.code(), Some(1));
    // Old data outside the window does not count for it.
    checks(&home, "api", 100, 0, 1);
    std::fs::rename(day_file(&home.metrics(), today()), day_file(&home.metrics(), days_ago(30))).unwrap();
    assert_eq!(home.ours(&["--sla", "99.9"]).status.code(), Some(1));
    assert_eq!(home.ours(&["--sla", "99.9", "--days", "31"]).status.code(), Some(0));
    // A metrics "directory" that is a file cannot be read: an error, for every format.
    std::fs::remove_dir_all(home.metrics()).unwrap();
    std::fs::write(home.metrics(), "").unwrap();
    for format in ["text", "json", "prometheus", "html"] {
        let out = home.ours(&["--format", format]);
        assert_eq!(out.status.code(), Some(1), "{format}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a directory") && err.contains(".agent-ops/metrics"), "{err}");
    }
}

#[test]
fn cleanup_deletes_only_old_day_files() {
    let home = Home::new();
    let dir = home.metrics();
    let names = |days: &[i64]| days.iter().map(|d| day_file(&dir, days_ago(*d))).collect::<Vec<_>>();
    let keep_files = names(&[0, 1, 29, 89, -1]);
    let old_files = names(&[90, 91, 400]);
    for p in keep_files.iter().chain(&old_files) {
        std::fs::write(p, "{}\n").unwrap();
    }
    let outside = home.dir.path().join("outside.jsonl");
    std::fs::write(&outside, "keep me\n").unwrap();
    let others = [
        "notes.txt",
        "2020-1-5.jsonl",
        "backup-2020-01-01.jsonl",
        "2020-01-01.jsonl.bak",
        "2020-02-30.jsonl",
        "2020-01-01.JSONL",
    ];
    for name in others {
        std::fs::write(dir.join(name), "x").unwrap();
    }
    std::fs::create_dir(dir.join("2020-01-02.jsonl")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("2020-01-03.jsonl")).unwrap();

    let out = home.ours(&["--cleanup", "--retention-days", "90"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Cleaned up 3 old metrics file(s) (keeping 90 days)\n"
    );
    assert!(old_files.iter().all(|p| !p.exists()));
    assert!(keep_files.iter().all(|p| p.exists()));
    assert!(others.iter().all(|n| dir.join(n).exists()));
    assert!(dir.join("2020-01-02.jsonl").is_dir());
    assert!(dir.join("2020-01-03.jsonl").symlink_metadata().is_ok());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me\n");

    // The retention from services.json; a broken services.json deletes nothing.
    let config = home.dir.path().join(".agent-ops/config/services.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "{\"services\": [], \"metrics_retention_days\": 30").unwrap();
    let out = home.ours(&["--cleanup"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(keep_files.iter().all(|p| p.exists()));
    std::fs::write(&config, "{\"services\": [], \"metrics_retention_days\": 30}").unwrap();
    let out = home.ours(&["--cleanup"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Cleaned up 1 old metrics file(s) (keeping 30 days)\n"
    );
    assert!(!keep_files[3].exists() && keep_files[2].exists());
    let out = home.ours(&["--cleanup"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Cleaned up 0 old metrics file(s) (keeping 30 days)\n"
    );

    // Every day file was rolled up before it was deleted; the rollups of days whose day file
    // is gone go after rollup_retention_days.
    let rollup = |d: i64| dir.join(format!("rollups/{}.json", days_ago(d)));
    assert!([1, 29, 89, 90, 91, 400].iter().all(|d| rollup(*d).is_file()));
    std::fs::write(
        &config,
        "{\"services\": [], \"metrics_retention_days\": 30, \"rollup_retention_days\": 60}",
    )
    .unwrap();
    let out = home.ours(&["--cleanup"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Cleaned up 0 old metrics file(s) (keeping 30 days)\nCleaned up 4 old rollup(s) (keeping 60 days)\n"
    );
    assert!(
        [1, 29].iter().all(|d| rollup(*d).is_file())
            && [89, 90, 91, 400].iter().all(|d| !rollup(*d).exists())
    );
    // A day whose rollup cannot be written is kept past its retention, said, and exit 1.
    std::fs::remove_file(rollup(29)).unwrap();
    std::fs::create_dir(rollup(29)).unwrap();
    let out = home.ours(&["--cleanup", "--retention-days", "10"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(keep_files[2].exists(), "the only copy of that day was deleted");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "warning: kept {} past its retention, for want of its rollup: left {} alone: a directory, not a regular file",
            keep_files[2].display(),
            rollup(29).display()
        )),
        "{err}"
    );
}

#[test]
fn prometheus_output_passes_promtool() {
    let home = Home::new();
    checks(&home, "api", 95, 5, 3);
    checks(&home, "db \"primary\"\\ \n replica", 10, 0, 1);
    home.append(today(), "{\"name\": \"only-recovered\", \"status\": \"recovered\"}\nnot json\n");
    // A command check's performance data: its last line of the window's last day is given.
    let perf = |used: f64, minute: i64| {
        let ts = ops_state::timestamp::format_utc(at(today(), minute));
        format!(
            "{{\"name\": \"raid\", \"status\": \"up\", \"detail\": \"OK\", \"latency_ms\": 3, \"timestamp\": \"{ts}\", \"perfdata\": [{{\"label\": \"used\", \"value\": {used}, \"uom\": \"%\"}}, {{\"label\": \"time\", \"value\": 12.0, \"uom\": \"ms\"}}, {{\"label\": \"odd\", \"value\": 2.0, \"uom\": \"widgets\"}}]}}\n"
        )
    };
    home.append(today(), perf(80.0, 0) + &perf(91.0, 1));
    let out = home.ours(&["--format", "prometheus"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("agent_ops_uptime_ratio{service=\"api\",window=\"7d\"} 0.95\n"), "{text}");
    assert!(text.contains("agent_ops_uptime_failures{service=\"api\",window=\"7d\"} 5\n"));
    assert!(text.contains(
        "agent_ops_uptime_checks{service=\"db \\\"primary\\\"\\\\ \\n replica\",window=\"7d\"} 10\n"
    ));
    assert!(text.contains("agent_ops_uptime_bad_lines{window=\"7d\",reason=\"invalid_json\"} 1\n"));
    assert!(
        text.contains(
            "agent_ops_uptime_perfdata_ratio{service=\"raid\",label=\"used\",window=\"7d\"} 0.91\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "agent_ops_uptime_perfdata_seconds{service=\"raid\",label=\"time\",window=\"7d\"} 0.012\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "agent_ops_uptime_perfdata{service=\"raid\",label=\"odd\",window=\"7d\",uom=\"widgets\"} 2\n"
        ),
        "{text}"
    );
    let only_api =
        String::from_utf8(home.ours(&["--format", "prometheus", "--service", "api"]).stdout).unwrap();
    assert!(!only_api.contains("perfdata"), "{only_api}");
    let Some(promtool) = test_support::require_tool("promtool") else { return };
    let file = home.dir.path().join("uptime.prom");
    std::fs::write(&file, &text).unwrap();
    let check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// An incident of the log, as the orchestrator appends it.
fn incident(service: &str, detail: &str, started: OffsetDateTime, minutes: i64) -> ops_metrics::Incident {
    ops_metrics::Incident {
        service: service.into(),
        started,
        ended: Some(started + time::Duration::minutes(minutes)),
        end: ops_metrics::End::Recovered,
        last_failed: None,
        kind: "http_status".into(),
        detail: detail.into(),
        alerted: true,
        restarts_tried: 1,
        restarts: vec![ops_metrics::Restart {
            at: started,
            attempt: 1,
            result: "exited 0".into(),
            recovered: true,
        }],
        gave_up: false,
        quiet: vec![],
        ack: Some(ops_metrics::IncidentAck {
            at: started,
            by: Some("alice".into()),
            note: Some("secret plan".into()),
        }),
        blocked: vec![],
        blocked_by: vec![],
    }
}

/// The metrics, configuration, incident log and outage memory of the status page test.
fn fill_status_home(home: &Home, names: &[&str; 6]) -> Vec<ops_metrics::Incident> {
    let now = OffsetDateTime::now_utc();
    // Every service checked every 5 minutes for the last hour (checkout-api down for the last
    // three), but the Japanese one, last checked three days ago.
    for name in *names {
        for i in 0..12i64 {
            let when = now
                - time::Duration::minutes(60 - 5 * i)
                - time::Duration::days(if name == names[4] { 3 } else { 0 });
            let status = if name == "checkout-api" && i >= 9 { Status::Down } else { Status::Up };
            home.append(when.date(), record(name, status, 40 + i.unsigned_abs(), when));
        }
    }
    // The configuration no longer has "Tom & Jerry".
    let services: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.starts_with("Tom"))
        .map(|(i, n)| json!({"name": n, "type": "port", "port": 10_000 + i}))
        .collect();
    let config = home.dir.path().join(".agent-ops/config/services.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, json!({"services": services, "disk_paths": []}).to_string()).unwrap();
    let state = home.dir.path().join(".agent-ops/state");
    std::fs::create_dir_all(&state).unwrap();
    let logged = [
        incident(
            names[0],
            "<script>document.documentElement.setAttribute('data-pwned','3')</script>",
            now - time::Duration::days(2),
            12,
        ),
        incident(names[1], "HTTP 503 & \"worse\"", now - time::Duration::hours(30), 3),
        incident("checkout-api", "HTTP 502", now - time::Duration::days(5), 45),
    ];
    let lines: String = logged.iter().map(|i| i.to_line() + "\n").collect();
    std::fs::write(state.join("incidents.jsonl"), lines).unwrap();
    let since = (now - time::Duration::minutes(15)).unix_timestamp();
    std::fs::write(
        state.join("outages.json"),
        json!({"checkout-api": {"failures": 3, "down_since": since, "alerted": true,
            "incidents": [{"started": since, "kind": "connect", "detail": "port 10005: <b>refused</b>"}]}})
        .to_string(),
    )
    .unwrap();

    logged.to_vec()
}

/// The status page with a configuration and incidents, as the daemon's host has them: names
/// that try to inject markup, a service down, one no longer configured and one not checked for
/// three days (both grey, "last seen", never up nor in the banner), and incidents drawn under
/// the bars (from the log, and one still open in the outage memory), every word escaped.
/// Chromium renders it, finds every service and incident in the DOM, and runs no script.
#[test]
fn the_status_page_renders_in_chromium_and_runs_no_injected_script() {
    let home = Home::new();
    let names = [
        "<script>alert(1)</script>",
        "<script>document.documentElement.setAttribute('data-pwned','1')</script>",
        "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">",
        "Tom & Jerry \"quoted\" 'single'",
        "日本語サービス",
        "checkout-api",
    ];
    let logged = fill_status_home(&home, &names);
    let page = home.dir.path().join("status.html");
    let out = home.ours(&["--format", "html", "--sla", "99.9", "--output", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "below the SLA: {}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "<img", "<link", "<iframe", "url(", "@import", "http://", "https://"] {
        assert!(!html.contains(external), "the page holds {external:?}");
    }
    assert!(html.contains("1 of 4 services down"), "the stale ones are not counted: {html}");
    assert!(html.contains("6 services · 1 down · 2 stale"), "{html}");
    assert_eq!(html.matches("<section class=\"card stale\"").count(), 2, "{html}");
    assert!(html.contains("Stale · last seen 3d 0h ago · expected every 5m 0s"), "{html}");
    assert!(html.contains(" · no longer in the configuration"), "{html}");
    assert_eq!(html.matches("<rect class=\"inc").count(), 4, "three logged, one open: {html}");
    assert!(html.contains("<rect class=\"inc open\""), "{html}");
    assert!(!html.contains("secret plan") && !html.contains("alice"), "who acknowledged stays off the page");
    let json = home.ours(&["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let state_of = |name: &str| {
        let s = doc["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
        (s["state"].as_str().unwrap().to_owned(), s["stale"]["reason"].as_str().map(str::to_owned))
    };
    assert_eq!(state_of(names[3]), ("stale".to_owned(), Some("not_configured".to_owned())));
    assert_eq!(state_of(names[4]), ("stale".to_owned(), Some("not_seen".to_owned())));
    assert_eq!(state_of("checkout-api"), ("down".to_owned(), None));
    assert_eq!(state_of(names[0]), ("up".to_owned(), None));
    let text = home.ours(&[]);
    assert!(!String::from_utf8_lossy(&text.stdout).contains("stale"), "the Python kit's report is unchanged");

    let Some(browser) = test_support::require_tool("chromium") else { return };
    let url = format!("file://{}", page.display());
    let dom = test_support::chromium(&browser, &home.dir.path().join("profile-dom"), &["--dump-dom", &url]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(
        dom.contains("<section class=\"card down\"") && dom.contains("<section class=\"card stale\""),
        "{dom}"
    );
    for name in names {
        assert!(dom.contains(&format!(">{}</h2>", escape_text(name))), "{name} is not in the DOM:\n{dom}");
    }
    for detail in logged.iter().map(|i| i.detail.as_str()).chain(["port 10005: <b>refused</b>"]) {
        assert!(dom.contains(&escape_text(detail)), "the incident {detail:?} is not in the DOM:\n{dom}");
    }
    assert_eq!(dom.matches("<rect class=\"inc").count(), 4, "{dom}");
    // The injected scripts would set this attribute on <html>; in the DOM it only appears as text.
    let html_tag = &dom[dom.find("<html").unwrap()..];
    let html_tag = &html_tag[..html_tag.find('>').unwrap()];
    assert_eq!(html_tag, "<html lang=\"en\"", "an injected script ran");
    assert!(!dom.contains("<script") && !dom.contains("<img"), "a name became an element");

    let shot = home.dir.path().join("status.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    let run = test_support::chromium(
        &browser,
        &home.dir.path().join("profile-shot"),
        &["--window-size=1600,1000", &shot_arg, &url],
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (width, height) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1600, 1000));
    assert!(png.len() > 20_000, "a blank page compresses to almost nothing: {} bytes", png.len());
    if let Some(keep) = std::env::var_os("UPTIME_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// A service name with ESC, OSC or C1 in the metrics is shown escaped in every text report;
/// JSON keeps it exactly.
#[test]
fn control_characters_in_names_never_reach_the_terminal() {
    let home = Home::new();
    let name = "evil\u{1b}]0;owned\u{7}\u{9b}2J";
    checks(&home, name, 3, 1, 1);
    for args in [&[][..], &["--detailed"], &["--sla", "99"]] {
        let out = home.ours(args);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.chars().any(|c| c != '\n' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))),
            "{args:?}: {text:?}"
        );
        assert!(text.contains("evil\\x1b]0;owned\\x07\\u{9b}2J"), "{args:?}: {text}");
    }
    let json: serde_json::Value = serde_json::from_slice(&home.ours(&["--format", "json"]).stdout).unwrap();
    assert!(json.to_string().contains("owned"), "{json}");
}

/// `--month` and `--since`/`--until` report calendar periods (UTC) for SLA statements: the
/// heading names the period, never "last N days", and the figures are those of exactly its
/// days, whether they come from rollups or from day files.
#[test]
fn a_month_and_a_range_of_dates_name_their_period() {
    let home = Home::new();
    // Three days in October 2026 and the first day of November, each with its own figures.
    for (day, up, down) in [(30, 10, 0), (31, 8, 2), (1, 5, 5)] {
        let month = if day == 1 { time::Month::November } else { time::Month::October };
        let date = Date::from_calendar_date(2026, month, day).unwrap();
        for i in 0..up + down {
            let status = if i < down { Status::Down } else { Status::Up };
            home.append(date, record("api", status, 100, at(date, 5 * i64::from(i))));
        }
    }
    let month = home.ours(&["--month", "2026-10"]);
    assert_eq!(month.status.code(), Some(0), "{}", String::from_utf8_lossy(&month.stderr));
    assert_eq!(
        String::from_utf8(month.stdout).unwrap(),
        "=== Uptime Report (2026-10 UTC) ===\n\n[CRITICAL] api: 90.0% uptime (2 failures in 20 checks, avg 100.0ms)\n"
    );
    let range = home.ours(&["--since", "2026-10-31", "--until", "2026-11-01"]);
    assert_eq!(
        String::from_utf8(range.stdout).unwrap(),
        "=== Uptime Report (2026-10-31 to 2026-11-01 UTC) ===\n\n[CRITICAL] api: 65.0% uptime (7 failures in 20 checks, avg 100.0ms)\n"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&home.ours(&["--month", "2026-10", "--format", "json"]).stdout).unwrap();
    assert_eq!(
        json["window"],
        json!({"days": 31, "from": "2026-10-01", "until": "2026-10-31", "span": "month", "label": "2026-10"})
    );
    assert_eq!(json["rollups_read"], 2, "the finished days were rolled up by the first run");
    let prom =
        String::from_utf8(home.ours(&["--month", "2026-10", "--format", "prometheus"]).stdout).unwrap();
    assert!(prom.contains("agent_ops_uptime_checks{service=\"api\",window=\"2026-10\"} 20\n"), "{prom}");
    let html = String::from_utf8(home.ours(&["--month", "2026-10", "--format", "html"]).stdout).unwrap();
    assert!(html.contains("<b>2026-10</b> UTC · 2026-10-01 to 2026-10-31"), "{html}");
    // No data in the month: nothing shows the SLA was met.
    let empty = home.ours(&["--month", "2026-09", "--sla", "99"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no metrics in "));
    assert!(String::from_utf8_lossy(&empty.stderr).contains(" for 2026-09 UTC"));
    let missing = home.ours(&["--month", "2026-10", "--service", "db"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no metrics for service \"db\" in 2026-10 UTC")
    );
}

fn rollup_names(home: &Home) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.metrics().join("rollups"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The Python kit's report, byte for byte, from rollups: once from rollups beside the day files,
/// and once the day files of the finished days are gone (the Python kit read them while they
/// were there).
#[test]
fn the_default_report_from_rollups_equals_the_seeds_after_the_day_files_are_gone() {
    on_one_day(|| {
        let home = Home::new();
        seed_data(&home);
        let Some(theirs) = seed_report(&home, 7) else { return };
        let theirs = escaped(&theirs);
        let json = |home: &Home| {
            let out = home.ours(&["--format", "json", "--days", "7"]);
            let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v.as_object_mut().unwrap().remove("generated_at");
            v.as_object_mut().unwrap().remove("rollups_read");
            for s in v["services"].as_array_mut().unwrap() {
                for k in
                    ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_percentiles_approximate"]
                {
                    s.as_object_mut().unwrap().remove(k);
                }
            }
            v
        };
        let raw_json = {
            // The same day files with no rollups: a copy where nothing was rolled up yet.
            let copy = Home::new();
            for entry in std::fs::read_dir(home.metrics()).unwrap() {
                let p = entry.unwrap().path();
                std::fs::copy(&p, copy.metrics().join(p.file_name().unwrap())).unwrap();
            }
            json(&copy)
        };
        let first = home.ours(&[]);
        assert_eq!(first.stdout, theirs, "the run that rolls up");
        // Six finished days of the window, and the two older ones.
        assert_eq!(rollup_names(&home).len(), 8 + 1, "{:?}", rollup_names(&home));
        let again = home.ours(&[]);
        assert_eq!(String::from_utf8_lossy(&again.stdout), String::from_utf8_lossy(&theirs), "from rollups");
        assert_eq!(again.stderr, first.stderr, "the same warning, naming the same day file");
        for back in 1..60 {
            let _ = std::fs::remove_file(day_file(&home.metrics(), days_ago(back)));
        }
        let gone = home.ours(&[]);
        assert_eq!(String::from_utf8_lossy(&gone.stdout), String::from_utf8_lossy(&theirs), "day files gone");
        assert_eq!(gone.stderr, first.stderr);
        assert_eq!(json(&home), raw_json);
        let detailed = String::from_utf8(home.ours(&["--detailed"]).stdout).unwrap();
        assert!(detailed.contains("(successful checks; approximate, from daily rollups)"), "{detailed}");
    });
}

/// Several uptime-report processes at once roll up the same days: one whole file per day, the
/// same bytes as one process alone writes, and nothing else left behind.
#[test]
fn concurrent_runs_roll_up_each_day_once() {
    let home = Home::new();
    checks(&home, "api", 2000, 20, 6);
    checks(&home, "db", 500, 0, 6);
    let runs: Vec<std::process::Child> = (0..4)
        .map(|_| {
            Command::cargo_bin("uptime-report")
                .unwrap()
                .env("HOME", home.dir.path())
                .env_remove("AGENT_OPS_HOME")
                .env_remove("AGENT_OPS_METRICS_DIR")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = runs.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, outputs[0].stdout);
    }
    let mut want: Vec<String> = (1..6).map(|b| format!("{}.json", days_ago(b))).collect();
    want.push("rollups.lock".into());
    want.sort();
    assert_eq!(rollup_names(&home), want);
    let before: Vec<Vec<u8>> = (1..6)
        .map(|b| std::fs::read(home.metrics().join(format!("rollups/{}.json", days_ago(b)))).unwrap())
        .collect();
    for bytes in &before {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(v["version"], 1);
    }
    // Removed and made again by one process: the same bytes.
    std::fs::remove_dir_all(home.metrics().join("rollups")).unwrap();
    assert_eq!(home.ours(&[]).stdout, outputs[0].stdout);
    for (b, bytes) in (1..6).zip(&before) {
        assert_eq!(
            &std::fs::read(home.metrics().join(format!("rollups/{}.json", days_ago(b)))).unwrap(),
            bytes
        );
    }
}

/// A rollup that is not ours, with its day file gone: the report leaves the day out and says
/// so, and an SLA over that window is not met.
#[test]
fn an_unreadable_day_is_said_and_fails_an_sla() {
    let home = Home::new();
    checks(&home, "api", 100, 0, 3);
    assert_eq!(home.ours(&[]).status.code(), Some(0));
    let rollup = home.metrics().join(format!("rollups/{}.json", days_ago(2)));
    std::fs::write(&rollup, "{\"format\": \"someone else's\"}").unwrap();
    std::fs::remove_file(day_file(&home.metrics(), days_ago(2))).unwrap();
    let out = home.ours(&["--sla", "99"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "warning: cannot use {}: not an agent-ops rollup (format \"someone else's\"); its day file is gone, so {} is missing from the report",
            rollup.display(),
            days_ago(2)
        )),
        "{err}"
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains("All services above 99% SLA target."));
    assert_eq!(std::fs::read_to_string(&rollup).unwrap(), "{\"format\": \"someone else's\"}", "left alone");
    // Without --sla the report is printed, with the warning, and succeeds.
    assert_eq!(home.ours(&[]).status.code(), Some(0));
}

/// `--incidents`: the log's incidents and the open one of the outage memory, newest first, in
/// the window asked for, as a table (control characters escaped) and as JSON; `--service`
/// keeps one service's; a line that is not an incident is skipped with a warning; html and
/// prometheus are usage errors; and the default report does not change.
#[test]
fn incidents_newest_first_with_mttr_per_service() {
    let home = Home::new();
    let now = OffsetDateTime::now_utc();
    checks(&home, "API", 10, 1, 2);
    let before = home.ours(&[]);
    let state = home.dir.path().join(".agent-ops/state");
    std::fs::create_dir_all(&state).unwrap();
    let old = incident("API", "HTTP 500", now - time::Duration::days(20), 30);
    let api = incident("API", "HTTP 503", now - time::Duration::days(2), 10);
    let evil = incident("evil\u{1b}]0;owned\u{7}", "bad\u{9b}2J", now - time::Duration::days(1), 20);
    let lines: String = [&old, &api, &evil].iter().map(|i| i.to_line() + "\n").collect();
    std::fs::write(state.join("incidents.jsonl"), lines + "not an incident\n").unwrap();
    let since = (now - time::Duration::minutes(5)).unix_timestamp();
    std::fs::write(
        state.join("outages.json"),
        json!({"API": {"failures": 1, "down_since": since, "incidents": [{"started": since, "kind": "connect", "detail": "refused"}]}})
            .to_string(),
    )
    .unwrap();

    let out = home.ours(&["--incidents"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("incidents.jsonl: 1 line(s) that are not incidents skipped (the first is line 4)"),
        "{stderr}"
    );
    assert!(
        !text.chars().any(|c| c != '\n' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))),
        "{text:?}"
    );
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "=== Incidents (last 7 days) ===");
    assert!(rows[2].starts_with("STARTED (UTC)     SERVICE"), "{text}");
    assert!(
        rows[3].contains("  API  ") && rows[3].contains("(open)") && rows[3].contains("refused (connect)"),
        "{text}"
    );
    assert!(rows[4].contains("evil\\x1b]0;owned\\x07") && rows[4].contains("bad\\u{9b}2J"), "{text}");
    assert!(rows[5].contains("  API  ") && rows[5].contains("HTTP 503 (http_status)"), "{text}");
    assert!(rows[5].contains("1, recovered  acknowledged by alice: secret plan"), "{text}");
    assert_eq!(rows.len(), 10, "20 days ago is outside the window: {text}");
    assert!(
        rows[8].starts_with("API ") && rows[8].contains(" 2 ") && rows[8].contains("10m 0s"),
        "MTTR of the one over: {text}"
    );

    let doc: serde_json::Value =
        serde_json::from_slice(&home.ours(&["--incidents", "--format", "json", "--days", "30"]).stdout)
            .unwrap();
    let services: Vec<&str> =
        doc["incidents"].as_array().unwrap().iter().map(|i| i["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["API", "evil\u{1b}]0;owned\u{7}", "API", "API"], "{doc:#}");
    assert_eq!(doc["incidents"][0]["end"], "open");
    assert_eq!(doc["services"][0]["name"], "API");
    assert_eq!(
        (doc["services"][0]["incidents"].as_u64(), doc["services"][0]["open"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(doc["services"][0]["mttr_seconds"], 1200.0, "(10m + 30m) / 2");
    assert_eq!(doc["bad_lines"], 1);

    let one: serde_json::Value = serde_json::from_slice(
        &home.ours(&["--incidents", "--format", "json", "--service", "API", "--days", "1"]).stdout,
    )
    .unwrap();
    assert_eq!(one["incidents"].as_array().unwrap().len(), 1, "{one:#}");
    for format in ["html", "prometheus"] {
        assert_eq!(home.ours(&["--incidents", "--format", format]).status.code(), Some(2), "{format}");
    }
    assert_eq!(home.ours(&["--incidents", "--sla", "99"]).status.code(), Some(2));
    let after = home.ours(&[]);
    assert_eq!(after.stdout, before.stdout, "the Python kit's report does not change");
}
