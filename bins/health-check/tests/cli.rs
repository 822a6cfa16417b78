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
    for flag in ["--config", "--json", "--only", "--prometheus-textfile", "--no-metrics"] {
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
