//! Dependencies with real processes: a Python http.server watched by three checks tied with
//! `depends_on` (its process, its port, its URL), a parent down blocking its children, and the
//! `ack` and `status` commands, all through the orchestrator binary with a fake Bot API on
//! 127.0.0.1 and a sandboxed `AGENT_OPS_HOME`.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;
use test_support::{FakeBotApi, procs};

const TOKEN: &str = "123456:DEPS-token-never-printed";

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

    fn config(&self, services: &str) {
        let json = format!(
            r#"{{"services": [{services}],
                "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 5}},
                "disk_paths": [], "restart_grace_seconds": 0, "restart_cooldown_seconds": 0}}"#,
            self.api.url()
        );
        let path = self.base().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, json).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("USER", "alice")
            .env("AGENT_OPS_HOME", self.base())
            .args(args)
            .output()
            .unwrap();
        for bytes in [&out.stdout, &out.stderr] {
            assert!(!String::from_utf8_lossy(bytes).contains(TOKEN));
        }
        out
    }

    fn shown(&self) -> Vec<String> {
        self.api.delivered().into_iter().map(|d| d.displayed).collect()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the http.server on `port` and waits until the port refuses connections.
fn stop_server(port: u16) {
    for pid in procs::with_marker(&format!("http.server {port}")) {
        procs::signal(pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        || !procs::with_marker(&format!("http.server {port}")).is_empty()
    {
        assert!(Instant::now() < deadline, "the server on {port} did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The issue's case: one web server, three checks (its process, its port, its URL) tied with
/// `depends_on`. Killed, it is one outage: restarted once (only the process check has the
/// command; the others are blocked by it, then re-checked), one message, nothing failing at the
/// end of the pass.
#[test]
fn one_server_three_checks_is_one_outage_one_restart_one_message() {
    let Some(python) = test_support::require_tool("python3") else { return };
    let sb = Sandbox::new();
    let port = free_port();
    let site = sb.dir.path().join("site");
    fs::create_dir_all(&site).unwrap();
    let restarts = sb.dir.path().join("restarts");
    let start = format!(
        "echo restart >> {restarts} && cd {site} && nohup {python} -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & \
         i=0; while [ $i -lt 100 ]; do {python} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 0.2)' 2>/dev/null && exit 0; sleep 0.1; i=$((i+1)); done; exit 1",
        restarts = restarts.display(),
        site = site.display(),
        python = python.display()
    );
    sb.config(&format!(
        r#"{{"name": "Web process", "type": "process", "process_name": "http.server {port}", "restart_command": {}}},
           {{"name": "Web port", "type": "port", "port": {port}, "depends_on": ["Web process"]}},
           {{"name": "Web", "type": "url", "target": "http://127.0.0.1:{port}/", "timeout_seconds": 2, "depends_on": ["Web port"]}}"#,
        serde_json::to_string(&start).unwrap()
    ));
    assert!(Command::new("/bin/sh").arg("-c").arg(&start).status().unwrap().success());
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(sb.shown().is_empty());

    stop_server(port);
    let out = sb.run(&[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "zero failing after the pass:\n{t}");
    assert!(
        t.contains("[FAIL] Web port - blocked by Web process")
            && t.contains("[FAIL] Web - blocked by Web process"),
        "{t}"
    );
    assert!(t.contains("=== Orchestrator run complete: 3 checks, 0 failing ==="), "{t}");
    assert_eq!(fs::read_to_string(&restarts).unwrap().lines().count(), 2, "started once, restarted once");
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "one message: {shown:#?}");
    assert!(
        shown[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - Web process: ")
            && shown[0].ends_with("(restarted: recovered); Web port, Web recovered with it"),
        "{}",
        shown[0]
    );
    assert!(!shown[0].contains("nohup"), "never the restart command");
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sb.shown().len(), 1, "nothing more to say");
    stop_server(port);
}

/// A parent down blocks its two children: they are not restarted, have no alert of their own,
/// and the parent's one message names all three; `--json` says they are blocked. Once the
/// parent is back and a child is still down, that child is restarted and alerted on its own.
#[test]
fn a_parent_down_blocks_two_children_one_message_names_all_three() {
    let sb = Sandbox::new();
    let ran = |n: &str| sb.dir.path().join(format!("restarted-{n}"));
    let (parent, a, b) = (free_port(), test_support::closed_port(), test_support::closed_port());
    sb.config(&format!(
        r#"{{"name": "Database", "type": "port", "port": {parent}}},
           {{"name": "API", "type": "port", "port": {a}, "depends_on": ["Database"], "restart_command": "touch {}"}},
           {{"name": "Worker", "type": "port", "port": {b}, "depends_on": ["API"], "restart_command": "touch {}"}}"#,
        ran("api").display(),
        ran("worker").display()
    ));
    let out = sb.run(&["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(&str, &str)> = doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("Database", "down"), ("API", "blocked"), ("Worker", "blocked")]);
    assert_eq!(doc["services"][2]["blocked_by"], serde_json::json!(["Database"]));
    assert!(!ran("api").exists() && !ran("worker").exists(), "blocked children are not restarted");
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert!(
        shown[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - Database: port "),
        "{}",
        shown[0]
    );
    assert!(shown[0].ends_with("; blocks API, Worker"), "{}", shown[0]);
    assert_eq!(shown[0].matches("\n - ").count(), 1, "no line of their own: {}", shown[0]);

    let out = sb.run(&[]);
    assert!(text(&out).contains("[FAIL] API - blocked by Database"), "{}", text(&out));
    assert_eq!(sb.shown().len(), 1, "still one outage");

    // The parent back, the children still down: now they are their own outages.
    let _db = TcpListener::bind(("127.0.0.1", parent)).unwrap();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(ran("api").exists(), "API restarted once it is no longer blocked");
    assert!(!ran("worker").exists(), "Worker is still blocked, by API: {}", text(&out));
    let shown = sb.shown();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(
        shown[1].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - API: port ")
            && shown[1].contains("; blocks Worker\n\nRecovered:\n - Database was down "),
        "one message: API's own outage now, and the database's recovery: {}",
        shown[1]
    );
}

/// `ack` needs an outage; `status` shows who acknowledged it, the restarts and the next check.
#[test]
fn ack_and_status_say_who_acknowledged_what() {
    let sb = Sandbox::new();
    let port = test_support::closed_port();
    sb.config(&format!(
        r#"{{"name": "API", "type": "port", "port": {port}, "restart_command": "exit 3", "max_restart_attempts": 2, "interval_seconds": 600}},
           {{"name": "Web", "type": "port", "port": {port}, "depends_on": ["API"]}}"#
    ));
    let out = sb.run(&["ack", "API"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("\"API\" has no outage to acknowledge"), "{}", text(&out));
    let out = sb.run(&["ack", "Nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    sb.run(&[]);
    let out = sb.run(&["ack", "API", "--note", "restoring the backup"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).starts_with("API: outage since "), "{}", text(&out));

    let out = sb.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    let api = t.lines().find(|l| l.starts_with("API: ")).unwrap_or_default();
    assert!(api.starts_with("API: down since "), "{t}");
    for part in [
        "alerted",
        "acknowledged by alice at ",
        ": restoring the backup",
        "restarts 1 of 2 used",
        "next check ",
    ] {
        assert!(api.contains(part), "{part:?} in {api}");
    }
    assert!(t.contains("Web: blocked by API since "), "{t}");
    let out = sb.run(&["status", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["ack"]["by"], "alice");
    assert_eq!(doc[0]["ack"]["note"], "restoring the backup");
    assert_eq!(doc[0]["restarts"]["used"], 1);
    assert_eq!(doc[0]["interval_seconds"], 600.0);
    assert_eq!(doc[1]["state"], "blocked");
    assert_eq!(doc[1]["blocked_by"], serde_json::json!(["API"]));
}
