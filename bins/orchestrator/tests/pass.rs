//! The orchestrator as cron runs it: real services, real restart commands, a fake Bot API on
//! 127.0.0.1, a sandboxed `AGENT_OPS_HOME`, and the files it leaves.

use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use std::process::{Command, Stdio};

use rustix::process::Signal;
use serde_json::Value;
use test_support::{FakeBotApi, procs};

const TOKEN: &str = "123456:TEST-token-never-printed";

struct Sandbox {
    dir: tempfile::TempDir,
    api: FakeBotApi,
}

impl Sandbox {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), api: FakeBotApi::start(TOKEN) }
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    /// services.json with `services` and extra top-level keys, alerting to the fake.
    fn config(&self, services: &str, extra: &str) {
        let json = format!(
            r#"{{"services": [{services}],
                "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 5}},
                "disk_paths": [], "restart_grace_seconds": 0{extra}}}"#,
            self.api.url()
        );
        let path = self.base().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, json).unwrap();
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base());
        cmd
    }

    /// Runs the orchestrator and checks the token appears in nothing it printed or wrote.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(!String::from_utf8_lossy(bytes).contains(TOKEN), "token in {what}");
        }
        for file in
            files_under(&self.base().join("state")).into_iter().chain(files_under(&self.base().join("logs")))
        {
            let text = String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned();
            assert!(!text.contains(TOKEN), "token in {}", file.display());
        }
        out
    }

    fn shown(&self) -> Vec<String> {
        self.api.delivered().into_iter().map(|d| d.displayed).collect()
    }

    fn state(&self, name: &str) -> Value {
        serde_json::from_slice(&fs::read(self.base().join("state").join(name)).unwrap()).unwrap()
    }

    fn metric_statuses(&self) -> Vec<(String, String)> {
        files_under(&self.base().join("metrics"))
            .iter()
            .flat_map(|p| fs::read_to_string(p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
            .map(|l| {
                let v: Value = serde_json::from_str(&l).unwrap();
                (v["name"].as_str().unwrap().to_owned(), v["status"].as_str().unwrap().to_owned())
            })
            .collect()
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port service the test turns on and off between passes.
struct Switch {
    port: u16,
    listener: Option<TcpListener>,
}

impl Switch {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self { port: listener.local_addr().unwrap().port(), listener: Some(listener) }
    }
    fn up(&mut self) {
        if self.listener.is_none() {
            self.listener = Some(TcpListener::bind(("127.0.0.1", self.port)).unwrap());
        }
    }
    fn down(&mut self) {
        self.listener = None;
    }
}

#[test]
fn a_killed_http_service_is_restarted_verified_and_reported_once() {
    let Some(python) = test_support::require_tool("python3") else { return };
    let sb = Sandbox::new();
    let port = free_port();
    let site = sb.dir.path().join("site");
    fs::create_dir_all(&site).unwrap();
    // The restart command starts the service in the background and waits until it answers,
    // like `systemctl restart` does.
    let start = format!(
        "cd {site} && nohup {python} -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & \
         i=0; while [ $i -lt 100 ]; do {python} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 0.2)' 2>/dev/null && exit 0; sleep 0.1; i=$((i+1)); done; exit 1",
        site = site.display(),
        python = python.display()
    );
    sb.config(
        &format!(
            r#"{{"name": "Web", "type": "url", "target": "http://127.0.0.1:{port}/", "timeout_seconds": 2,
                 "restart_command": {}, "restart_cooldown_seconds": 0}}"#,
            serde_json::to_string(&start).unwrap()
        ),
        "",
    );
    start_service(&start);

    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(sb.shown().is_empty(), "a healthy pass sends nothing: {:?}", sb.shown());

    stop_service(port);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "restarted and verified: healthy at the end\n{}", text(&out));
    assert!(text(&out).contains("RESTART: Web: attempt 1: command exited 0; recovered"), "{}", text(&out));
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "down and restarted in one pass: one message {shown:#?}");
    assert!(
        shown[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - Web: "),
        "{}",
        shown[0]
    );
    assert!(shown[0].ends_with("(restarted: recovered)"), "{}", shown[0]);
    assert!(!shown[0].contains("http.server"), "alerts never carry the restart command: {}", shown[0]);

    let recovery = sb.state("recovery.json");
    assert_eq!(recovery["Web"]["attempts"], 0, "a verified recovery resets the count");
    assert!(
        recovery["Web"]["last_success"].as_f64().unwrap()
            >= recovery["Web"]["last_attempt"].as_f64().unwrap()
    );
    assert_eq!(sb.state("last-status.json"), serde_json::json!({"Web": true}));
    assert_eq!(
        sb.metric_statuses(),
        [("Web".into(), "up".into()), ("Web".into(), "down".into()), ("Web".into(), "recovered".into())]
    );
    let log = fs::read_to_string(sb.base().join("logs/orchestrator.log")).unwrap();
    assert!(log.lines().all(|l| l.starts_with('[') && l.as_bytes()[20] == b']'), "{log}");
    assert!(
        log.contains("] === Orchestrator run starting ===")
            && log.contains("] === Orchestrator run complete")
    );

    // The next pass sees it up and says nothing more.
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sb.shown().len(), 1);
    kill_listening(port);
}

/// Runs the service's start command (it backgrounds the server and waits until it answers).
fn start_service(command: &str) {
    let status = std::process::Command::new("/bin/sh").arg("-c").arg(command).status().unwrap();
    assert!(status.success(), "the service started");
}

/// Kills the server on `port` and waits until the port refuses connections.
fn stop_service(port: u16) {
    kill_listening(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "the service on {port} did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills whatever python http.server listens on `port` (found by its command line).
fn kill_listening(port: u16) {
    for pid in procs::with_marker(&format!("http.server {port}")) {
        procs::signal(pid, Signal::KILL);
    }
}

/// Waits (polling) until no process with `marker` in its command line is alive, or panics.
fn wait_gone(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !procs::with_marker(marker).is_empty() {
        assert!(Instant::now() < deadline, "processes with {marker} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn flapping_with_thresholds_3_and_2_is_not_a_storm() {
    let sb = Sandbox::new();
    let mut svc = Switch::new();
    sb.config(
        &format!(r#"{{"name": "DB", "type": "port", "port": {}, "timeout_seconds": 1}}"#, svc.port),
        r#", "failure_threshold": 3, "success_threshold": 2, "reminder_interval_seconds": 0"#,
    );
    for i in 0..12 {
        if i % 2 == 0 {
            svc.up();
        } else {
            svc.down();
        }
        sb.run(&[]);
    }
    assert!(sb.shown().is_empty(), "up, down, up, down ... never alerts: {:?}", sb.shown());
    // Down for real: one alert after three failed passes, one notice after two good ones.
    svc.down();
    for _ in 0..5 {
        sb.run(&[]);
    }
    assert_eq!(sb.shown().len(), 1, "{:?}", sb.shown());
    assert!(sb.shown()[0].contains("Health check failures:\n - DB: port "));
    svc.up();
    sb.run(&[]);
    assert_eq!(sb.shown().len(), 1, "one good pass is not yet a recovery");
    sb.run(&[]);
    assert_eq!(sb.shown().len(), 2);
    assert!(
        sb.shown()[1].starts_with("[RECOVERED] Agent Ops Alert\n\nRecovered:\n - DB was down "),
        "{}",
        sb.shown()[1]
    );
}

#[test]
fn gave_up_is_alerted_exactly_once_per_outage() {
    let sb = Sandbox::new();
    let counter = sb.dir.path().join("restarts");
    sb.config(
        &format!(
            r#"{{"name": "Worker", "type": "port", "port": {}, "restart_command": "echo x >> {} && exit 3",
                 "max_restart_attempts": 2, "restart_cooldown_seconds": 0}}"#,
            test_support::closed_port(),
            counter.display()
        ),
        r#", "reminder_interval_seconds": 0"#,
    );
    for _ in 0..6 {
        let out = sb.run(&[]);
        assert_eq!(out.status.code(), Some(1));
    }
    assert_eq!(fs::read_to_string(&counter).unwrap().lines().count(), 2, "two attempts, then it gave up");
    let shown = sb.shown();
    let gave_up: Vec<_> = shown.iter().filter(|s| s.contains("manual intervention required")).collect();
    assert_eq!(gave_up.len(), 1, "{shown:#?}");
    assert_eq!(
        gave_up[0],
        "[ERROR] Agent Ops Alert\n\nGave up:\n - Worker failed after 2 restart attempts; manual intervention required"
    );
    assert_eq!(shown.iter().filter(|s| s.contains("Health check failures:")).count(), 1, "{shown:#?}");
    assert!(shown[0].contains("(restarted: command failed with exit code 3; still down)"), "{}", shown[0]);
}

#[test]
fn a_hanging_restart_with_children_is_killed_and_nothing_survives() {
    let sb = Sandbox::new();
    let marker = format!("{}.{}", 7000 + std::process::id() % 1000, std::process::id());
    sb.config(
        &format!(
            r#"{{"name": "Stuck", "type": "port", "port": {}, "restart_command": "sleep {marker}1 & sleep {marker}2",
                 "restart_timeout_seconds": 0.5}}"#,
            test_support::closed_port()
        ),
        "",
    );
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("RESTART: Stuck: attempt 1: command timed out and was killed ("),
        "{}",
        text(&out)
    );
    wait_gone(&format!("sleep {marker}"));
}

#[test]
fn silenced_services_are_checked_and_recorded_but_neither_restarted_nor_alerted() {
    let sb = Sandbox::new();
    let ran = sb.dir.path().join("ran");
    sb.config(
        &format!(
            r#"{{"name": "API", "type": "port", "port": {}, "restart_command": "touch {}"}}"#,
            test_support::closed_port(),
            ran.display()
        ),
        "",
    );
    let out = sb.run(&["silence", "API", "--for", "2h", "--reason", "deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).starts_with("API: silenced until "), "{}", text(&out));
    let out = sb.run(&["silences"]);
    assert!(text(&out).contains("API: silenced until ") && text(&out).contains("(deploy)"), "{}", text(&out));

    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "a silenced failure does not fail the pass\n{}", text(&out));
    assert!(!ran.exists(), "not restarted");
    assert!(sb.shown().is_empty(), "not alerted");
    assert_eq!(sb.metric_statuses(), [("API".into(), "maintenance".into())], "recorded, not counted as down");

    let out = sb.run(&["unsilence", "API"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sb.run(&["unsilence", "API"]);
    assert_eq!(out.status.code(), Some(1));
    let out = sb.run(&["silence", "Nope", "--for", "1h"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no check named \"Nope\""), "{}", text(&out));
    let out = sb.run(&["silence", "API", "--for", "soon"]);
    assert_eq!(out.status.code(), Some(2));

    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(ran.exists(), "restarted once the silence is lifted");
    assert_eq!(sb.shown().len(), 1);
}

#[test]
fn a_maintenance_window_in_the_config_is_quiet_too() {
    let sb = Sandbox::new();
    sb.config(
        &format!(r#"{{"name": "API", "type": "port", "port": {}}}"#, test_support::closed_port()),
        r#", "maintenance": [{"services": "*", "start": "2000-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z", "reason": "forever"}]"#,
    );
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("[maintenance window (forever)]"), "{}", text(&out));
    assert!(sb.shown().is_empty());
}

#[test]
fn dry_run_restarts_sends_and_writes_nothing() {
    let sb = Sandbox::new();
    let ran = sb.dir.path().join("ran");
    sb.config(
        &format!(
            r#"{{"name": "API", "type": "port", "port": {}, "restart_command": "touch {}"}}"#,
            test_support::closed_port(),
            ran.display()
        ),
        "",
    );
    let out = sb.run(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("DRY RUN: would restart API"), "{t}");
    let line = t
        .lines()
        .find(|l| l.starts_with("ALERT error: Health check failures: | - API: port "))
        .unwrap_or_default();
    assert!(line.ends_with(" -> dry run"), "{t}");
    assert!(!ran.exists());
    assert!(sb.api.requests().is_empty());
    assert!(files_under(&sb.base().join("state")).is_empty(), "{:?}", files_under(&sb.base().join("state")));
    assert!(files_under(&sb.base().join("metrics")).is_empty());
    assert!(files_under(&sb.base().join("logs")).is_empty());
}

#[test]
fn a_second_pass_while_one_runs_exits_0_and_says_so() {
    let sb = Sandbox::new();
    sb.config("", "");
    let lock = sb.base().join("state/orchestrator.lock");
    ops_state::with_lock(&lock, Duration::from_secs(5), || {
        let out = sb.run(&[]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out).contains("another orchestrator pass is running"), "{}", text(&out));
    })
    .unwrap();
}

#[test]
fn heartbeat_file_and_ping() {
    let sb = Sandbox::new();
    let hook = test_support::FakeWebhook::start();
    sb.config("", &format!(r#", "heartbeat_url": "{}""#, hook.url("ping/abc")));
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let beat = sb.state("heartbeat.json");
    assert_eq!(beat["checks"], 0);
    assert!(beat["finished"].as_str().unwrap().ends_with('Z'));
    let requests = hook.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/hooks/ping/abc");
}

#[test]
fn big_logs_are_rotated_into_valid_gzip() {
    let sb = Sandbox::new();
    sb.config("", r#", "log_rotate_mb": 0.01"#);
    let logs = sb.base().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let content = "[2026-11-28 05:04:13] an old line\n".repeat(1000);
    fs::write(logs.join("cron.log"), &content).unwrap();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let archive = files_under(&logs)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("cron.log."))
        .expect("an archive");
    assert!(archive.to_string_lossy().ends_with(".gz"));
    let mut back = String::new();
    flate2::read::GzDecoder::new(fs::File::open(&archive).unwrap()).read_to_string(&mut back).unwrap();
    assert_eq!(back, content);
    assert_eq!(fs::read(logs.join("cron.log")).unwrap(), b"", "copied, then truncated in place");
}

#[test]
fn config_errors_exit_2() {
    let sb = Sandbox::new();
    sb.config(r#"{"name": "X", "type": "port"}"#, r#", "failure_threshold": 0"#);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("field `port`: is required") && t.contains("field `failure_threshold`"), "{t}");
    assert!(!sb.base().join("state").exists() && !sb.base().join("metrics").exists());
}

#[test]
fn the_loop_stops_cleanly_on_sigterm_even_during_a_long_restart() {
    let sb = Sandbox::new();
    let marker = format!("{}.{}", 6000 + std::process::id() % 1000, std::process::id());
    sb.config(
        &format!(
            r#"{{"name": "Slow", "type": "port", "port": {}, "restart_command": "sleep {marker}", "restart_timeout_seconds": 60}}"#,
            test_support::closed_port()
        ),
        r#", "check_interval_seconds": 3600"#,
    );
    let mut child = sb.command().arg("--loop").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait until the pass is inside the restart (its command is running).
    let deadline = Instant::now() + Duration::from_secs(30);
    while procs::with_marker(&format!("sleep {marker}")).is_empty() {
        assert!(Instant::now() < deadline, "the restart never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    procs::signal(child.id(), Signal::TERM);
    // The restart would take a minute; the loop leaves it and exits.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the loop did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(
        out.contains("stopping: the pass in progress is left to finish on its own")
            && out.ends_with("orchestrator: stopped\n"),
        "{out}"
    );
    for p in procs::with_marker(&format!("sleep {marker}")) {
        procs::signal(p, Signal::KILL);
    }
}

#[test]
fn the_loop_runs_passes_until_sigterm() {
    let sb = Sandbox::new();
    sb.config("", r#", "check_interval_seconds": 0.05"#);
    let mut child = sb.command().arg("--loop").stdout(Stdio::piped()).spawn().unwrap();
    let heartbeat = sb.base().join("state/heartbeat.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Three passes: the log has three "complete" lines.
    let passes = || {
        fs::read_to_string(sb.base().join("logs/orchestrator.log"))
            .map_or(0, |l| l.matches("=== Orchestrator run complete").count())
    };
    while passes() < 3 || !heartbeat.exists() {
        assert!(Instant::now() < deadline, "fewer than 3 passes");
        std::thread::sleep(Duration::from_millis(20));
    }
    procs::signal(child.id(), Signal::TERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.lines().filter(|l| l.starts_with("pass: 0 checks, 0 failing")).count() >= 3, "{out}");
}

#[test]
fn stalled_tasks_are_alerted_once_in_the_seed_words() {
    let sb = Sandbox::new();
    sb.config("", r#", "reminder_interval_seconds": 0"#);
    let old = (time::OffsetDateTime::now_utc() - time::Duration::hours(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let board = format!(
        r#"{{"columns": ["open", "in-progress", "in-review", "done"], "tasks": [
            {{"id": "task-00000001", "title": "Fix the flaky backup job", "column": "in-progress", "owner": "alice", "priority": "high", "description": "", "tags": [], "createdAt": "{old}", "updatedAt": "{old}"}},
            {{"id": "task-00000002", "title": "Fresh", "column": "in-progress", "owner": "", "priority": "low", "description": "", "tags": [], "createdAt": "2999-01-01T00:00:00Z", "updatedAt": "2999-01-01T00:00:00Z"}}
        ]}}"#
    );
    fs::create_dir_all(sb.base().join("state")).unwrap();
    fs::write(sb.base().join("state/board.json"), board).unwrap();
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    assert_eq!(
        sb.shown(),
        [
            "[WARNING] Agent Ops Alert\n\nStalled tasks (>24h in progress):\n - alice: Fix the flaky backup job"
        ]
    );
    sb.run(&[]);
    assert_eq!(sb.shown().len(), 1, "not again every pass");
}

#[test]
fn an_investigation_task_is_opened_once_per_service() {
    let sb = Sandbox::new();
    let mut svc = Switch::new();
    sb.config(
        &format!(r#"{{"name": "API", "type": "port", "port": {}}}"#, svc.port),
        r#", "create_tasks_for_failures": true, "reminder_interval_seconds": 0"#,
    );
    let titles = || -> Vec<String> {
        let board: Value =
            serde_json::from_slice(&fs::read(sb.base().join("state/board.json")).unwrap()).unwrap();
        board["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect()
    };
    svc.down();
    let out = sb.run(&[]);
    assert!(text(&out).contains("Opened task task-"), "{}", text(&out));
    assert_eq!(titles(), ["Investigate: API is down"]);
    sb.run(&[]);
    svc.up();
    sb.run(&[]);
    svc.down();
    sb.run(&[]);
    assert_eq!(titles(), ["Investigate: API is down"], "never twice while one is open");
    let board: Value =
        serde_json::from_slice(&fs::read(sb.base().join("state/board.json")).unwrap()).unwrap();
    assert_eq!(board["tasks"][0]["owner"], "ops-agent");
    assert_eq!(board["tasks"][0]["priority"], "high");
}

#[test]
fn a_loop_stopped_after_its_pass_judged_an_alert_due_still_delivers_it() {
    let sb = Sandbox::new();
    sb.config(
        &format!(r#"{{"name": "API", "type": "port", "port": {}}}"#, test_support::closed_port()),
        r#", "check_interval_seconds": 3600, "reminder_interval_seconds": 0"#,
    );
    // A board, so that the pass keeps its stalled-task memory. The test holds that memory's
    // lock: the pass stops there, after it judged the failure alert due, before delivering it.
    let state = sb.base().join("state");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("board.json"), r#"{"columns": ["open", "in-progress", "done"], "tasks": []}"#)
        .unwrap();
    let lock = state.join("stalled-alerts.json.lock");
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        ops_state::with_lock(&lock, Duration::from_secs(5), || {
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
    });
    held_rx.recv().unwrap();

    let mut child = sb.command().arg("--loop").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let alerted = || {
        fs::read(state.join("outages.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|m| m["API"]["alerted"] == true)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !alerted() {
        assert!(Instant::now() < deadline, "the pass never judged the alert due");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Stopped now (the pass is left behind after a grace period), the alert must not be lost.
    procs::signal(child.id(), Signal::TERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains("stopping: the pass in progress is left to finish on its own"), "{out}");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(sb.shown().is_empty(), "not delivered before the stop");

    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "delivered by the next pass, once: {shown:?}\n{}", text(&out));
    assert!(shown[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - API: "), "{shown:?}");
}

/// Whether `bytes` hold a control character a terminal would act on: C0 but newline and tab,
/// DEL, or C1 (U+0080..U+009F, two bytes in UTF-8).
fn drives_a_terminal(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .chars()
        .any(|c| c != '\n' && c != '\t' && (c.is_ascii_control() || ('\u{80}'..='\u{9f}').contains(&c)))
}

/// Names (from the config) and details (from servers and commands) with ESC, OSC, CSI, C1,
/// carriage returns and newlines are shown, never obeyed, on the console and in the log, and
/// a name with a newline cannot forge a line.
#[test]
fn control_characters_in_names_and_output_never_reach_a_terminal_or_the_log() {
    let sb = Sandbox::new();
    let names = [
        "esc\u{1b}[31mred",
        "osc\u{1b}]0;owned\u{7}title",
        "csi\u{9b}2J",
        "forged\n[OK] Fake - fine",
        "cr\rover",
    ];
    let port = test_support::closed_port();
    let services: Vec<String> = names
        .iter()
        .map(|n| {
            serde_json::json!({"name": n, "type": "port", "port": port,
                "restart_command": "printf '\\033[2J\\033]0;x\\007out\\n'; exit 1"})
            .to_string()
        })
        .collect();
    sb.config(&services.join(","), "");
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!drives_a_terminal(bytes), "{what}: {:?}", String::from_utf8_lossy(bytes));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.lines().any(|l| l.starts_with("[OK] Fake")), "a forged line: {stdout}");
    assert!(stdout.contains("[FAIL] esc\\x1b[31mred - port "), "{stdout}");
    let log = fs::read(sb.base().join("logs/orchestrator.log")).unwrap();
    assert!(!drives_a_terminal(&log), "{:?}", String::from_utf8_lossy(&log));
    assert!(!String::from_utf8_lossy(&log).lines().any(|l| l.contains("] [OK] Fake")));
    // The alert keeps the names as they are (Telegram shows them as text).
    assert!(sb.shown().iter().any(|m| m.contains("forged\n[OK] Fake - fine")), "{:?}", sb.shown());
}

/// Restart commands and check plugins never inherit the bot token: what a plugin prints is a
/// detail, recorded and logged, and a restart script has no need of it.
#[test]
fn restart_commands_and_plugins_never_see_the_bot_token() {
    let sb = Sandbox::new();
    let seen = sb.dir.path().join("restart-saw");
    let services = [
        serde_json::json!({"name": "Plugin", "type": "command",
            "command": "echo \"token=${TELEGRAM_BOT_TOKEN:-none}\"; exit 2"}),
        serde_json::json!({"name": "API", "type": "port", "port": test_support::closed_port(),
            "restart_command": format!("echo \"token=${{TELEGRAM_BOT_TOKEN:-none}}\" > {}", seen.display())}),
    ];
    sb.config(&services.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), "");
    let out = sb.command().env("TELEGRAM_BOT_TOKEN", TOKEN).output().unwrap();
    let t = text(&out);
    assert!(t.contains("[FAIL] Plugin - token=none"), "{t}");
    assert_eq!(fs::read_to_string(&seen).unwrap(), "token=none\n");
    assert!(!t.contains(TOKEN), "{t}");
}

/// Phase 5 rolls up every finished day (once) before retention deletes its day file, and keeps
/// the rollup: the history of a day outlives its day file.
#[test]
fn a_pass_rolls_up_finished_days_before_retention_deletes_their_day_files() {
    let sb = Sandbox::new();
    sb.config("", r#", "metrics_retention_days": 30"#);
    let metrics = sb.base().join("metrics");
    fs::create_dir_all(&metrics).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let days: Vec<time::Date> = [2, 100].iter().map(|back| today - time::Duration::days(*back)).collect();
    for day in &days {
        let line = format!(
            "{{\"name\": \"API\", \"status\": \"up\", \"detail\": \"\", \"latency_ms\": 5, \"timestamp\": \"{day}T12:00:00Z\"}}\n"
        );
        fs::write(metrics.join(format!("{day}.jsonl")), line).unwrap();
    }
    let out = sb.run(&[]);
    let log = fs::read_to_string(sb.base().join("logs/orchestrator.log")).unwrap();
    assert!(log.contains("Rolled up 2 finished day(s) of metrics"), "{log}\n{}", text(&out));
    assert!(log.contains("Cleaned up 1 old metrics file(s) (keeping 30 days)"), "{log}");
    for day in &days {
        let rollup = fs::read_to_string(metrics.join(format!("rollups/{day}.json"))).unwrap();
        assert!(rollup.starts_with(&format!(
            "{{\"format\":\"agent-ops metrics rollup\",\"version\":1,\"date\":\"{day}\""
        )));
    }
    assert!(
        metrics.join(format!("{}.jsonl", days[0])).exists()
            && !metrics.join(format!("{}.jsonl", days[1])).exists()
    );
    sb.run(&[]);
    let log = fs::read_to_string(sb.base().join("logs/orchestrator.log")).unwrap();
    assert_eq!(log.matches("Rolled up").count(), 1, "rolled up once: {log}");
}

/// `alert_on_warning` through real passes of a plugin whose level the test sets: the warning
/// once, its reminder, no reminder once acknowledged, the outage it turns into, the recovery
/// into the warning said on one line, and its end once. A service without the key is never
/// alerted for its warnings.
#[test]
fn warnings_are_alerted_once_per_episode_with_alert_on_warning_only() {
    let sb = Sandbox::new();
    let level = sb.dir.path().join("level");
    let quiet = sb.dir.path().join("quiet-level");
    let plugin = |file: &Path| format!("read l < {}; echo \"level $l\"; exit $l", file.display());
    let services = [
        serde_json::json!({"name": "Plugin", "type": "command", "command": plugin(&level),
            "alert_on_warning": true, "reminder_interval_seconds": 0.001}),
        serde_json::json!({"name": "Quiet", "type": "command", "command": plugin(&quiet)}),
    ];
    sb.config(&services.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), "");
    fs::write(&quiet, "1\n").unwrap();
    let pass = |l: u8| {
        fs::write(&level, format!("{l}\n")).unwrap();
        let out = sb.run(&[]);
        assert_eq!(out.status.code(), Some(i32::from(l == 2)), "{}", text(&out));
    };
    let new_since = |before: usize| sb.shown()[before..].to_vec();

    pass(0);
    assert!(sb.shown().is_empty(), "{:?}", sb.shown());
    pass(1);
    assert_eq!(new_since(0), ["[WARNING] Agent Ops Alert\n\nWarnings:\n - Plugin: level 1"]);
    pass(1);
    let shown = new_since(1);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "[WARNING] Agent Ops Alert\n\nStill in warning:\n - Plugin: level 1 (in warning for "
        )
    );

    let out = sb.run(&["ack", "Plugin", "--note", "looking"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).starts_with("Plugin: warning since "), "{}", text(&out));
    pass(1);
    assert_eq!(sb.shown().len(), 2, "acknowledged: no reminder");

    pass(2);
    assert_eq!(new_since(2), ["[ERROR] Agent Ops Alert\n\nHealth check failures:\n - Plugin: level 2"]);
    pass(1);
    let shown = new_since(3);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("[RECOVERED] Agent Ops Alert\n\nRecovered:\n - Plugin was down ")
            && shown[0].ends_with(" UTC; in warning: level 1"),
        "the recovery says the warning, once: {}",
        shown[0]
    );
    pass(1);
    assert_eq!(sb.shown().len(), 4, "still acknowledged: {:?}", sb.shown());
    pass(0);
    let shown = new_since(4);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "[RECOVERED] Agent Ops Alert\n\nRecovered:\n - Plugin is no longer in warning after "
        ) && shown[0].contains(" (level 1), at "),
        "{}",
        shown[0]
    );
    assert!(sb.shown().iter().all(|m| !m.contains("Quiet")), "no alert_on_warning, no warning alert");
}
