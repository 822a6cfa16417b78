//! The `health-check` binary as a user runs it: real loopback services, a sandboxed
//! `AGENT_OPS_HOME`, the report, the exit status and the files written.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use test_support::{Answer, closed_port};

/// A sandbox: `AGENT_OPS_HOME` in a temp dir, HOME pointing nowhere useful.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    fn config_path(&self) -> PathBuf {
        self.base().join("config/services.json")
    }

    fn write_config(&self, json: &str) {
        fs::create_dir_all(self.config_path().parent().unwrap()).unwrap();
        fs::write(self.config_path(), json).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::cargo_bin("health-check")
            .unwrap()
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base())
            .args(args)
            .output()
            .unwrap()
    }

    fn metrics_files(&self) -> Vec<PathBuf> {
        match fs::read_dir(self.base().join("metrics")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn metric_lines(&self) -> Vec<Value> {
        self.metrics_files()
            .iter()
            .flat_map(|p| {
                fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// `[OK] Web - HTTP 200 (3ms)` without the latency, which varies.
fn without_latency(line: &str) -> String {
    match line.rfind(" (") {
        Some(i) if line.ends_with("ms)") => line[..i].to_owned(),
        _ => line.to_owned(),
    }
}

#[test]
fn report_exit_status_and_metrics_as_the_seed() {
    let ok = Answer::status(200).start();
    let missing = Answer::status(404).start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = closed_port();
    let sb = Sandbox::new();
    sb.write_config(&format!(
        r#"{{"services": [
            {{"name": "Web", "type": "url", "target": "{}"}},
            {{"name": "Missing", "type": "url", "target": "{}"}},
            {{"name": "DB", "type": "port", "port": {open}}},
            {{"name": "Cache", "type": "port", "port": {closed}}}
        ], "disk_warning_gb": 0}}"#,
        ok.url(),
        missing.url()
    ));
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<String> = text.lines().map(without_latency).collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[0], "[OK] Web - HTTP 200");
    assert_eq!(lines[1], "[FAIL] Missing - HTTP 404");
    assert_eq!(lines[2], format!("[OK] DB - port {open} open"));
    assert_eq!(lines[3], format!("[FAIL] Cache - port {closed}: connection refused"));
    assert!(lines[4].starts_with("[OK] Disk Space - ") && lines[4].ends_with(" GB free"), "{}", lines[4]);
    assert_eq!(lines[5], "");
    assert_eq!(lines[6], "2 failure(s) detected.");
    assert_eq!(stderr(&out), "", "no warnings for a clean config");

    let records = sb.metric_lines();
    assert_eq!(records.len(), 5);
    let today = time::OffsetDateTime::now_utc().date();
    let file = sb.metrics_files()[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(file, format!("{today}.jsonl"));
    for (r, (name, status)) in records.iter().zip([
        ("Web", "up"),
        ("Missing", "down"),
        ("DB", "up"),
        ("Cache", "down"),
        ("Disk Space", "up"),
    ]) {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["detail", "latency_ms", "name", "status", "timestamp"]);
        assert_eq!((r["name"].as_str().unwrap(), r["status"].as_str().unwrap()), (name, status));
        assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

#[test]
fn all_passing_exits_zero_with_the_seed_summary() {
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    sb.write_config(&format!(
        r#"{{"services": [{{"name": "Web", "target": "{}"}}], "disk_warning_gb": 0}}"#,
        ok.url()
    ));
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).ends_with("\n\nAll 2 checks passed.\n"), "{}", stdout(&out));
}

#[test]
fn config_errors_exit_2_name_the_field_and_write_nothing() {
    let cases = [
        (
            r#"{"services": [{"name": "DB", "type": "port", "port": 70000}]}"#,
            "services[0] \"DB\": field `port`",
        ),
        (
            r#"{"services": [{"type": "url", "target": "http://127.0.0.1:1/"}]}"#,
            "services[0]: field `name`: is required",
        ),
        (r#"{"services": [{"name": "X", "type": "ldap"}]}"#, "unknown check type \"ldap\""),
        (
            r#"{"services": [{"name": "A", "target": "http://a/"}, {"name": "A", "target": "http://b/"}]}"#,
            "duplicate name",
        ),
        (r#"{"services": [{"name": "A", "target": 5}]}"#, "field `target`: must be a string"),
        ("{\"services\": [\n  {\"name\": \"A\"\n}", "services.json:3:1: invalid JSON"),
    ];
    for (json, expected) in cases {
        let sb = Sandbox::new();
        sb.write_config(json);
        let out = sb.run(&[]);
        assert_eq!(out.status.code(), Some(2), "{json}");
        let err = stderr(&out);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(expected), "{json}: {err}");
        assert_eq!(stdout(&out), "", "nothing printed on stdout");
        assert!(!sb.base().join("metrics").exists(), "no metrics written for {json}");
    }
}

#[test]
fn a_missing_config_says_where_and_how() {
    let sb = Sandbox::new();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&sb.config_path().display().to_string())
            && err.contains("cp examples/services.starter.json"),
        "{err}"
    );
    assert!(!sb.base().join("metrics").exists());
}

#[test]
fn unknown_keys_warn_on_stderr_and_the_run_goes_on() {
    let sb = Sandbox::new();
    sb.write_config(r#"{"services": [], "disk_warning_gb": 0, "stalled_task_hour": 3}"#);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("warning: ") && err.contains("did you mean `stalled_task_hours`?"), "{err}");
}

#[test]
fn only_selects_checks_and_rejects_unknown_names() {
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    sb.write_config(&format!(
        r#"{{"services": [{{"name": "Web", "target": "{}"}}, {{"name": "Down", "type": "port", "port": {}}}], "disk_warning_gb": 0}}"#,
        ok.url(),
        closed_port()
    ));
    let out = sb.run(&["--only", "Web"]);
    assert_eq!(out.status.code(), Some(0), "the failing service was not run");
    assert!(stdout(&out).starts_with("[OK] Web - HTTP 200"));
    assert!(stdout(&out).ends_with("All 1 checks passed.\n"));

    let out = sb.run(&["--only", "Web", "--only", "Disk Space"]);
    assert!(stdout(&out).ends_with("All 2 checks passed.\n"), "{}", stdout(&out));

    let out = sb.run(&["--only", "Wbe"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no check named \"Wbe\"") && stderr(&out).contains("Web, Down, Disk Space"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_output() {
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    sb.write_config(&format!(
        r#"{{"services": [{{"name": "Web", "target": "{}"}}, {{"name": "Down", "type": "port", "port": {}}}], "disk_warning_gb": 0}}"#,
        ok.url(),
        closed_port()
    ));
    let out = sb.run(&["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    let web = &v["checks"][0];
    assert_eq!(
        (web["name"].as_str(), web["type"].as_str(), web["ok"].as_bool()),
        (Some("Web"), Some("url"), Some(true))
    );
    assert_eq!(web["http_status"], 200);
    assert!(web["failure"].is_null());
    assert_eq!(v["checks"][1]["failure"], "connect");
    assert_eq!(v["checks"][1]["status"], "down");
    assert!(v["checks"][2]["disk_free_bytes"].as_u64().unwrap() > 0);
}

/// A failure behind a failing dependency (transitively, as the orchestrator judges it: through
/// a dependency that is up too) says which one, in text and JSON; the run still fails, and a
/// failing service without a failing dependency is not blocked.
#[test]
fn failures_behind_a_failing_dependency_say_so() {
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    let down = closed_port();
    sb.write_config(&format!(
        r#"{{"services": [
            {{"name": "Database", "type": "port", "port": {down}}},
            {{"name": "API port", "type": "port", "port": {down}, "depends_on": ["Database"]}},
            {{"name": "API", "type": "port", "port": {down}, "depends_on": ["API port"]}},
            {{"name": "Web", "target": "{}", "depends_on": ["Database"]}},
            {{"name": "Cache", "type": "port", "port": {down}, "depends_on": ["Web"]}},
            {{"name": "Queue", "type": "port", "port": {down}}}],
          "disk_paths": []}}"#,
        ok.url()
    ));
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<String> = text.lines().map(without_latency).collect();
    assert!(lines[0].starts_with("[FAIL] Database - ") && !lines[0].contains("blocked"), "{text}");
    assert!(lines[1].starts_with("[FAIL] API port - blocked by Database; "), "{text}");
    assert!(lines[2].starts_with("[FAIL] API - blocked by Database; "), "the root, not the middle: {text}");
    assert!(lines[3].starts_with("[OK] Web - "), "{text}");
    assert!(lines[4].starts_with("[FAIL] Cache - blocked by Database; "), "through Web: {text}");
    assert!(lines[5].starts_with("[FAIL] Queue - ") && !lines[5].contains("blocked"), "{text}");
    assert!(text.ends_with("\n5 failure(s) detected.\n"), "{text}");

    let v: Value = serde_json::from_slice(&sb.run(&["--json"]).stdout).unwrap();
    let by: Vec<Value> = v["checks"].as_array().unwrap().iter().map(|c| c["blocked_by"].clone()).collect();
    let db = serde_json::json!(["Database"]);
    let none = serde_json::json!([]);
    assert_eq!(by, [none.clone(), db.clone(), db.clone(), none.clone(), db, none]);
    // Only what ran can block: with the database left out, the API port is a failure of its own.
    let out = sb.run(&["--only", "API port"]);
    assert!(!stdout(&out).contains("blocked"), "{}", stdout(&out));
}

#[test]
fn no_metrics_writes_nothing() {
    let sb = Sandbox::new();
    sb.write_config(r#"{"services": [], "disk_warning_gb": 0}"#);
    assert_eq!(sb.run(&["--no-metrics"]).status.code(), Some(0));
    assert!(sb.metrics_files().is_empty());
}

#[test]
fn config_flag_and_environment_paths() {
    let sb = Sandbox::new();
    let elsewhere = sb.dir.path().join("elsewhere.json");
    fs::write(&elsewhere, r#"{"services": [], "disk_warning_gb": 0}"#).unwrap();
    let metrics = sb.dir.path().join("m");
    let out = Command::cargo_bin("health-check")
        .unwrap()
        .env_clear()
        .env("HOME", sb.dir.path())
        .env("AGENT_OPS_CONFIG", &elsewhere)
        .env("AGENT_OPS_METRICS_DIR", &metrics)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_dir(&metrics).unwrap().count(), 1, "metrics went to AGENT_OPS_METRICS_DIR");
    let out = sb.run(&["--config", elsewhere.to_str().unwrap(), "--no-metrics"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let sb = Sandbox::new();
    let out = sb.run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sb.run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for flag in ["--config", "--json", "--only", "--prometheus-textfile", "--no-metrics", "--fail-on-warning"]
    {
        assert!(help.contains(flag), "{flag} in --help");
    }
}

#[test]
fn prometheus_textfile_is_valid_for_promtool() {
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    sb.write_config(&format!(
        r#"{{"services": [
            {{"name": "Web \"main\" \\ site", "target": "{}"}},
            {{"name": "Down", "type": "port", "port": {}}}
        ], "disk_warning_gb": 0}}"#,
        ok.url(),
        closed_port()
    ));
    let prom = sb.dir.path().join("textfile/agent_ops.prom");
    let out = sb.run(&["--prometheus-textfile", prom.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(r#"agent_ops_probe_success{service="Web \"main\" \\ site",type="url"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"agent_ops_probe_success{service="Down",type="port"} 0"#), "{text}");
    assert!(
        text.contains(r#"agent_ops_probe_http_status_code{service="Web \"main\" \\ site",type="url"} 200"#),
        "{text}"
    );
    assert!(text.contains(r#"agent_ops_disk_free_bytes{service="Disk Space",type="disk"} "#), "{text}");
    let leftovers: Vec<_> =
        fs::read_dir(prom.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["agent_ops.prom"], "written atomically, no temp files left");

    let Some(promtool) = test_support::require_tool("promtool") else { return };
    let check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(fs::File::open(&prom).unwrap())
        .output()
        .unwrap();
    assert!(check.status.success(), "promtool: {}{}", stdout(&check), stderr(&check));
}

/// Our metrics lines are read by the Python kit's `calculate_uptime` exactly as the lines the
/// the Python kit's own `HealthChecker._save_metrics` writes for the same results.
#[test]
fn seed_calculate_uptime_reads_our_metrics_like_its_own() {
    let Some((python, seed)) = test_support::require_seed() else { return };
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    sb.write_config(&format!(
        r#"{{"services": [
            {{"name": "Web", "target": "{}"}},
            {{"name": "Café \"ü\"", "type": "port", "port": {}}},
            {{"name": "Worker", "type": "process", "process_name": "no-such-process-[x]yz"}}
        ], "disk_warning_gb": 0}}"#,
        ok.url(),
        closed_port()
    ));
    for _ in 0..3 {
        sb.run(&[]);
    }
    let ours = sb.base().join("metrics");
    let theirs = sb.dir.path().join("seed-home");
    // Rebuild each of our lines through the Python kit's own HealthResult and _save_metrics, in a
    // sandbox HOME, then compare calculate_uptime over both directories and the lines.
    let script = r#"
import json, os, sys, glob
sys.path.insert(0, sys.argv[1])
ours, home = sys.argv[2], sys.argv[3]
os.environ["HOME"] = home
import agent_ops_health as h, agent_ops_metrics as m
os.makedirs(h.METRICS_DIR, exist_ok=True)
for path in sorted(glob.glob(os.path.join(ours, "*.jsonl"))):
    for line in open(path):
        d = json.loads(line)
        r = h.HealthResult(d["name"], d["status"] == "up", d["detail"], d["latency_ms"])
        r.timestamp = d["timestamp"]
        with open(os.path.join(h.METRICS_DIR, os.path.basename(path)), "a") as f:
            f.write(json.dumps(r.to_dict()) + "\n")
seed_view = m.calculate_uptime(7)
m.METRICS_DIR = ours
our_view = m.calculate_uptime(7)
print(json.dumps({"ours": our_view, "seed": seed_view}, sort_keys=True))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&seed)
        .arg(&ours)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ours"], v["seed"]);
    let web = &v["ours"]["Web"];
    assert_eq!((web["uptime_percent"].as_f64(), web["total_checks"].as_u64()), (Some(100.0), Some(3)));
    assert_eq!(v["ours"]["Café \"ü\""]["failures"], 3);
    assert_eq!(v["ours"]["Worker"]["uptime_percent"], 0.0);

    // And the lines themselves are byte for byte what the Python kit writes.
    let read = |dir: &Path| -> Vec<String> {
        let mut files: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
            .iter()
            .flat_map(|p| fs::read_to_string(p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    };
    assert_eq!(read(&ours), read(&theirs.join(".agent-ops/metrics")));
}

/// Command checks with a warning and performance data, through the whole binary: the report,
/// the summary, the exit status with and without `--fail-on-warning`, `--json`, the metrics
/// lines, the Prometheus textfile (promtool), and a warning on stderr for bad performance data.
#[test]
fn warnings_are_up_reported_apart_and_exit_0_unless_asked() {
    let sb = Sandbox::new();
    sb.write_config(
        r#"{"services": [
            {"name": "Plain", "type": "command", "command": ["sh", "-c", "echo 'OK - fine | rta=12.5ms;100;200;0 free=2GB used=91%;90;95 procs=74 octets=1000c temp=45C'"]},
            {"name": "Slow", "type": "command", "command": "echo 'WARNING - slow | t=5s'; exit 1"},
            {"name": "Junk", "type": "command", "command": "echo \"OK - junk perf | good=1 bad=x\""}
        ], "disk_paths": []}"#,
    );
    let prom = sb.dir.path().join("agent_ops.prom");
    let out = sb.run(&["--prometheus-textfile", prom.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a warning is not a failure: {}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(without_latency).collect();
    assert_eq!(
        lines,
        [
            "[OK] Plain - OK - fine",
            "[WARN] Slow - WARNING - slow",
            "[OK] Junk - OK - junk perf",
            "",
            "All 3 checks passed, 1 warning(s)."
        ]
    );
    assert_eq!(
        stderr(&out),
        "warning: Junk: performance data ignored: \"bad=x\": the value is not a number or U\n"
    );

    let records = sb.metric_lines();
    assert_eq!(records.len(), 3);
    assert_eq!((records[1]["status"].as_str(), records[1]["state"].as_str()), (Some("up"), Some("warning")));
    assert!(records[0].get("state").is_none(), "{}", records[0]);
    assert_eq!(
        records[0]["perfdata"][0],
        serde_json::json!({"label": "rta", "value": 12.5, "uom": "ms", "warn": "100", "crit": "200", "min": 0.0})
    );
    assert_eq!(records[2]["perfdata"], serde_json::json!([{"label": "good", "value": 1.0, "uom": ""}]));

    let text = fs::read_to_string(&prom).unwrap();
    for line in [
        r#"agent_ops_probe_success{service="Slow",type="command"} 1"#,
        r#"agent_ops_probe_warning{service="Slow",type="command"} 1"#,
        r#"agent_ops_probe_warning{service="Plain",type="command"} 0"#,
        r#"agent_ops_perfdata_seconds{service="Plain",label="rta"} 0.0125"#,
        r#"agent_ops_perfdata_seconds{service="Slow",label="t"} 5"#,
        r#"agent_ops_perfdata_bytes{service="Plain",label="free"} 2147483648"#,
        r#"agent_ops_perfdata_ratio{service="Plain",label="used"} 0.91"#,
        r#"agent_ops_perfdata{service="Plain",label="procs"} 74"#,
        r#"agent_ops_perfdata{service="Plain",label="temp",uom="C"} 45"#,
        r#"agent_ops_perfdata_total{service="Plain",label="octets"} 1000"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    if let Some(promtool) = test_support::require_tool("promtool") {
        let check = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(fs::File::open(&prom).unwrap())
            .output()
            .unwrap();
        assert!(check.status.success(), "promtool: {}{}", stdout(&check), stderr(&check));
    }

    let out = sb.run(&["--json", "--no-metrics"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["passed"].as_u64(), v["failed"].as_u64(), v["warnings"].as_u64()),
        (Some(3), Some(3), Some(0), Some(1))
    );
    let slow = &v["checks"][1];
    assert_eq!(
        (
            slow["ok"].as_bool(),
            slow["state"].as_str(),
            slow["status"].as_str(),
            slow["failure"].as_null(),
            slow["warning"].as_str()
        ),
        (Some(true), Some("warning"), Some("up"), Some(()), Some("command"))
    );
    assert_eq!(v["checks"][0]["state"], "ok");
    assert_eq!(v["checks"][0]["warning"], Value::Null);
    assert_eq!(
        v["checks"][0]["perfdata"][1],
        serde_json::json!({"label": "free", "value": 2.0, "uom": "GB", "warn": null, "crit": null, "min": null, "max": null})
    );
    assert_eq!(
        v["checks"][2]["perfdata_problems"],
        serde_json::json!(["\"bad=x\": the value is not a number or U"])
    );

    let out = sb.run(&["--fail-on-warning", "--no-metrics"]);
    assert_eq!(out.status.code(), Some(1), "--fail-on-warning");
    assert!(stdout(&out).ends_with("\nAll 3 checks passed, 1 warning(s).\n"), "{}", stdout(&out));
}

/// With a failure too, both are counted; the Python kit's line when nothing warns.
#[test]
fn the_summary_counts_failures_and_warnings_apart() {
    let sb = Sandbox::new();
    sb.write_config(
        r#"{"services": [
            {"name": "Slow", "type": "command", "command": "echo 'WARNING - slow'; exit 1"},
            {"name": "Down", "type": "command", "command": "echo 'CRITICAL - down'; exit 2"}
        ], "disk_paths": []}"#,
    );
    let out = sb.run(&["--no-metrics"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).ends_with("\n\n1 failure(s) detected, 1 warning(s).\n"), "{}", stdout(&out));
    sb.write_config(
        r#"{"services": [{"name": "Down", "type": "command", "command": "exit 2"}], "disk_paths": []}"#,
    );
    let out = sb.run(&["--no-metrics", "--fail-on-warning"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).ends_with("\n\n1 failure(s) detected.\n"), "{}", stdout(&out));
}

/// The Python kit's `calculate_uptime` counts a warning as up: on our day file with warnings
/// and performance data it gives what it gives on the same results written by its own
/// `_save_metrics` (no extra keys), and the numbers the warnings-as-up rule predicts.
#[test]
fn seed_calculate_uptime_counts_our_warnings_as_up() {
    let Some((python, seed)) = test_support::require_seed() else { return };
    let sb = Sandbox::new();
    let counter = sb.dir.path().join("runs");
    // Runs 1 and 2 warn, run 3 fails, run 4 is ok: 3 up of 4 for "Flaky"; "Warn" always warns.
    sb.write_config(&format!(
        r#"{{"services": [
            {{"name": "Flaky", "type": "command", "command": "n=$(($(cat {c} 2>/dev/null || echo 0) + 1)); echo $n > {c}; case $n in 1|2) echo 'WARN | t=1s'; exit 1;; 3) echo CRIT; exit 2;; *) echo OK; exit 0;; esac"}},
            {{"name": "Warn", "type": "command", "command": ["sh", "-c", "echo 'WARNING - slow | t=2s;1;3'; exit 1"]}}
        ], "disk_paths": []}}"#,
        c = counter.display()
    ));
    for _ in 0..4 {
        sb.run(&[]);
    }
    let ours = sb.base().join("metrics");
    let theirs = sb.dir.path().join("seed-home");
    let script = r#"
import json, os, sys, glob
sys.path.insert(0, sys.argv[1])
ours, home = sys.argv[2], sys.argv[3]
os.environ["HOME"] = home
import agent_ops_health as h, agent_ops_metrics as m
os.makedirs(h.METRICS_DIR, exist_ok=True)
for path in sorted(glob.glob(os.path.join(ours, "*.jsonl"))):
    for line in open(path):
        d = json.loads(line)
        r = h.HealthResult(d["name"], d["status"] == "up", d["detail"], d["latency_ms"])
        r.timestamp = d["timestamp"]
        with open(os.path.join(h.METRICS_DIR, os.path.basename(path)), "a") as f:
            f.write(json.dumps(r.to_dict()) + "\n")
seed_view = m.calculate_uptime(7)
m.METRICS_DIR = ours
our_view = m.calculate_uptime(7)
print(json.dumps({"ours": our_view, "seed": seed_view}, sort_keys=True))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&seed)
        .arg(&ours)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ours"], v["seed"]);
    let uptime = |name: &str| {
        (
            v["ours"][name]["uptime_percent"].as_f64(),
            v["ours"][name]["failures"].as_u64(),
            v["ours"][name]["total_checks"].as_u64(),
        )
    };
    assert_eq!(uptime("Flaky"), (Some(75.0), Some(1), Some(4)));
    assert_eq!(uptime("Warn"), (Some(100.0), Some(0), Some(4)));
    assert_eq!(sb.metric_lines().iter().filter(|l| l["state"] == "warning").count(), 6);
}

#[test]
fn an_unwritable_stdout_is_an_error_not_a_panic() {
    let sb = Sandbox::new();
    sb.write_config(r#"{"services": [], "disk_warning_gb": 0}"#);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("health-check"))
        .env("AGENT_OPS_HOME", sb.base())
        .arg("--no-metrics")
        .stdout(fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: cannot write the output: "), "{}", stderr(&out));
}

#[test]
fn proxy_variables_in_the_environment_change_nothing() {
    // A health check of local services through an inherited proxy would be a false alarm:
    // the variables are ignored, only services.json's `proxy` counts.
    let ok = Answer::status(200).start();
    let sb = Sandbox::new();
    let port = ok.addr.port();
    sb.write_config(&format!(
        r#"{{"services": [{{"name": "Web", "target": "{}"}}, {{"name": "Local", "target": "http://localhost:{port}/"}}],
            "disk_paths": []}}"#,
        ok.url()
    ));
    let mut cmd = Command::cargo_bin("health-check").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.dir.path())
        .env("AGENT_OPS_HOME", sb.base());
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env(var, "http://127.0.0.1:1");
    }
    let out = cmd.arg("--no-metrics").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(without_latency).collect();
    assert_eq!(lines[..2], ["[OK] Web - HTTP 200", "[OK] Local - HTTP 200"]);

    // The configured proxy is used: this one refuses, so the check fails.
    sb.write_config(&format!(
        r#"{{"proxy": "http://127.0.0.1:{}", "services": [{{"name": "Web", "target": "{}"}}], "disk_paths": []}}"#,
        closed_port(),
        ok.url()
    ));
    let out = sb.run(&["--no-metrics"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("[FAIL] Web - "), "{}", stdout(&out));
}

/// A name with ESC, OSC, C1 or a newline is shown escaped in the report (one result, one line),
/// and exactly as written in `--json` and the metrics.
#[test]
fn control_characters_in_names_are_shown_never_obeyed() {
    let sb = Sandbox::new();
    let name = "evil\u{1b}]0;owned\u{7}\u{9b}2J\n[OK] Fake - fine";
    let service = serde_json::json!({"name": name, "type": "port", "port": closed_port()});
    sb.write_config(&format!(r#"{{"services": [{service}], "disk_paths": []}}"#));
    let out = sb.run(&[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.chars().any(|c| c != '\n' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))),
        "{stdout:?}"
    );
    assert_eq!(stdout.lines().count(), 3, "one line, a blank one, the summary: {stdout}");
    assert!(
        stdout.starts_with("[FAIL] evil\\x1b]0;owned\\x07\\u{9b}2J\\n[OK] Fake - fine - port "),
        "{stdout}"
    );
    let json: Value = serde_json::from_slice(&sb.run(&["--json", "--no-metrics"]).stdout).unwrap();
    assert_eq!(json["checks"][0]["name"], name);
    assert_eq!(sb.metric_lines()[0]["name"], name);
}

/// Checking nothing is not "all passed": no services and no disk paths is exit 1, said plainly.
#[test]
fn nothing_to_check_is_not_success() {
    let sb = Sandbox::new();
    sb.write_config(r#"{"services": [], "disk_paths": []}"#);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to check") && err.contains("services.json"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("passed"));
    assert!(sb.metrics_files().is_empty());
}
