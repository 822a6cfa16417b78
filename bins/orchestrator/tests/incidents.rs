//! Incidents with real processes: the orchestrator binary over real services (a Python
//! http.server, ports the test opens and closes), a fake Bot API on 127.0.0.1 and a sandboxed
//! `AGENT_OPS_HOME`; `state/incidents.jsonl` read back as written, and through the reader and
//! renderers `uptime-report --incidents` uses (its own tests run that binary).

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;
use test_support::{FakeBotApi, procs};

const TOKEN: &str = "123456:INCIDENT-token-never-kept";

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
            .env("USER", "alice")
            .env("AGENT_OPS_HOME", self.base());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        assert!(!text(&out).contains(TOKEN));
        out
    }

    /// The lines of `state/incidents.jsonl`, parsed; the token in none of them.
    fn logged(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.base().join("state/incidents.jsonl")).unwrap_or_default();
        assert!(!text.contains(TOKEN) && !text.contains("INCIDENT-token"), "{text}");
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// What `uptime-report --incidents` reads over the last 7 days, and its table.
    fn incidents(&self) -> (ops_metrics::IncidentLog, String) {
        let env = ops_kit::Env { agent_ops_home: Some(self.base().into()), ..ops_kit::Env::default() };
        let layout = ops_kit::Layout::from_env(&env).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let window = ops_metrics::Window::last_days(now.date(), 7);
        let found = ops_kit::incident::read(&layout, &window, None).unwrap();
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let table = ops_metrics::render::incidents_text(&found.log, now);
        (found.log, table)
    }

    /// `uptime-report --incidents --format json`.
    fn report(&self) -> Value {
        let (log, _) = self.incidents();
        ops_metrics::render::incidents_json(&log, time::OffsetDateTime::now_utc())
    }

    fn outages(&self) -> Value {
        fs::read(self.base().join("state/outages.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A web server killed and brought back across passes: its first restart fails, the second
/// (a pass later) brings it back. One incident: its start, its end, the first failure's kind
/// and detail, both restarts and how they ended, alerted; `uptime-report --incidents` shows it
/// with its MTTR, as a table and as JSON.
#[test]
fn a_service_killed_and_brought_back_is_one_incident_with_its_restarts() {
    let Some(python) = test_support::require_tool("python3") else { return };
    let sb = Sandbox::new();
    let port = free_port();
    let site = sb.dir.path().join("site");
    fs::create_dir_all(&site).unwrap();
    let second = sb.dir.path().join("second-attempt");
    let start = format!(
        "cd {site} && nohup {python} -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & \
         i=0; while [ $i -lt 100 ]; do {python} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 0.2)' 2>/dev/null && exit 0; sleep 0.1; i=$((i+1)); done; exit 1",
        site = site.display(),
        python = python.display()
    );
    // The first attempt fails (and arms the second), as a broken deploy would.
    let restart = format!(
        "if [ -e {second} ]; then {start}; else touch {second}; exit 1; fi",
        second = second.display()
    );
    sb.config(
        &format!(
            r#"{{"name": "Web", "type": "url", "target": "http://127.0.0.1:{port}/", "timeout_seconds": 2,
                 "restart_command": {}, "restart_cooldown_seconds": 0}}"#,
            serde_json::to_string(&restart).unwrap()
        ),
        "",
    );
    assert!(Command::new("/bin/sh").arg("-c").arg(&start).status().unwrap().success());
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    assert!(sb.logged().is_empty());

    for pid in procs::with_marker(&format!("http.server {port}")) {
        procs::signal(pid, Signal::KILL);
    }
    wait_for("the server stops", || std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "the first restart failed: {}", text(&out));
    assert!(sb.logged().is_empty(), "still open: nothing logged");
    let open = sb.report();
    assert_eq!(open["incidents"][0]["end"], "open", "{open:#}");
    assert_eq!(open["incidents"][0]["restarts_tried"], 1);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "the second brought it back: {}", text(&out));

    let logged = sb.logged();
    assert_eq!(logged.len(), 1, "{logged:#?}");
    let i = &logged[0];
    assert_eq!(
        (i["v"].as_u64(), i["service"].as_str(), i["end"].as_str()),
        (Some(1), Some("Web"), Some("recovered"))
    );
    assert_eq!(i["kind"], "connect", "{i:#}");
    assert!(i["detail"].as_str().unwrap().contains("refused"), "{i:#}");
    assert_eq!(i["alerted"], true);
    assert_eq!(i["restarts_tried"], 2);
    let restarts: Vec<(u64, &str, bool)> = i["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["attempt"].as_u64().unwrap(), r["result"].as_str().unwrap(), r["recovered"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(restarts, [(1, "exited 1", false), (2, "exited 0", true)]);
    assert!(
        !i.to_string().contains("http.server") && !i.to_string().contains("second-attempt"),
        "never the command"
    );
    let (started, ended) = (i["started"].as_str().unwrap(), i["ended"].as_str().unwrap());
    assert!(started < ended, "{started} {ended}");
    assert!(i["duration_seconds"].as_f64().unwrap() > 0.0);

    let doc = sb.report();
    assert_eq!(doc["incidents"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(doc["incidents"][0]["end"], "recovered");
    assert_eq!(doc["services"][0]["incidents"], 1);
    assert_eq!(doc["services"][0]["mttr_seconds"], i["duration_seconds"]);
    let (_, table) = sb.incidents();
    assert!(table.starts_with("=== Incidents (last 7 days) ===\n\nSTARTED (UTC)"), "{table}");
    assert!(table.contains("  Web  ") && table.contains("2, recovered"), "{table}");
    // A pass with nothing new logs nothing more.
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    assert_eq!(sb.logged().len(), 1);
    for pid in procs::with_marker(&format!("http.server {port}")) {
        procs::signal(pid, Signal::KILL);
    }
}

/// An acknowledged outage keeps who acknowledged it and the note, cleaned of the
/// configuration's secrets (a note quoting the bot token keeps `[redacted]`).
#[test]
fn an_acknowledged_outage_keeps_its_note_without_secrets() {
    let sb = Sandbox::new();
    let port = free_port();
    sb.config(&format!(r#"{{"name": "API", "type": "port", "port": {port}}}"#), "");
    assert_eq!(sb.run(&[]).status.code(), Some(1));
    let note = format!("restoring the backup; bot {TOKEN} rotated");
    let out = sb.run(&["ack", "API", "--note", &note]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sb.run(&[]).status.code(), Some(1));
    let open = sb.report();
    assert_eq!(open["incidents"][0]["ack"]["by"], "alice", "{open:#}");
    let _api = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    let logged = sb.logged();
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0]["ack"]["by"], "alice");
    assert_eq!(logged[0]["ack"]["note"], "restoring the backup; bot [redacted] rotated");
    let (_, table) = sb.incidents();
    assert!(table.contains("acknowledged by alice: restoring the backup; bot [redacted] rotated"), "{table}");
}

/// A parent down blocks its two children: its incident lists them, theirs name it.
#[test]
fn a_parent_outage_lists_what_it_blocked() {
    let sb = Sandbox::new();
    let port = free_port();
    sb.config(
        &format!(
            r#"{{"name": "Database", "type": "port", "port": {port}}},
               {{"name": "API", "type": "port", "port": {port}, "depends_on": ["Database"]}},
               {{"name": "Worker", "type": "port", "port": {port}, "depends_on": ["API"]}}"#
        ),
        "",
    );
    let out = sb.run(&[]);
    assert!(text(&out).contains("[FAIL] Worker - blocked by Database"), "{}", text(&out));
    let _db = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    let logged = sb.logged();
    let of = |name: &str| {
        logged.iter().find(|i| i["service"] == name).unwrap_or_else(|| panic!("{name}: {logged:#?}"))
    };
    assert_eq!(of("Database")["blocked"], serde_json::json!(["API", "Worker"]));
    assert_eq!(of("Database")["blocked_by"], serde_json::json!([]));
    assert_eq!(of("Database")["alerted"], true);
    for child in ["API", "Worker"] {
        assert_eq!(of(child)["blocked_by"], serde_json::json!(["Database"]), "{child}");
        assert_eq!(of(child)["alerted"], false, "{child}: blocked, not alerted on its own");
    }
    let doc = sb.report();
    assert_eq!(doc["services"].as_array().unwrap().len(), 3, "{doc:#}");
}

/// `orchestrator --loop` killed (SIGKILL) while two services are down: their incidents are in
/// the state, shown open. One comes back and the other leaves the configuration before the
/// next pass; that pass completes both (`recovered` with the last failed check before the
/// gap, `removed`), never losing one, and a later pass logs nothing twice.
#[test]
fn a_daemon_killed_mid_outage_completes_its_incidents_later() {
    let sb = Sandbox::new();
    let (back, gone) = (free_port(), free_port());
    let services = |both: bool| {
        let back = format!(r#"{{"name": "Back", "type": "port", "port": {back}}}"#);
        let gone = format!(r#"{{"name": "Gone", "type": "port", "port": {gone}}}"#);
        if both { format!("{back}, {gone}") } else { back }
    };
    sb.config(&services(true), r#", "check_interval_seconds": 0.05"#);
    let mut daemon = sb.command().arg("--loop").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Two passes saw them down (the second kept what the first began).
    wait_for("the daemon keeps both outages", || {
        let m = sb.outages();
        ["Back", "Gone"].iter().all(|n| {
            m[n]["failures"].as_u64().unwrap_or(0) >= 2 && m[n]["incidents"][0]["started"].is_number()
        })
    });
    procs::signal(daemon.id(), Signal::KILL);
    daemon.wait().unwrap();
    assert!(sb.logged().is_empty(), "nothing is over yet");
    let open = sb.report();
    let ends: Vec<&str> =
        open["incidents"].as_array().unwrap().iter().map(|i| i["end"].as_str().unwrap()).collect();
    assert_eq!(ends, ["open", "open"], "{open:#}");
    let last_failed = sb.outages()["Back"]["incidents"][0]["last_failed"].as_f64().unwrap();

    let _back = TcpListener::bind(("127.0.0.1", back)).unwrap();
    sb.config(&services(false), r#", "check_interval_seconds": 0.05"#);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let logged = sb.logged();
    assert_eq!(logged.len(), 2, "{logged:#?}");
    let of = |name: &str| logged.iter().find(|i| i["service"] == name).unwrap();
    assert_eq!(of("Back")["end"], "recovered");
    let kept = ops_state::timestamp::parse_utc(of("Back")["last_failed"].as_str().unwrap()).unwrap();
    assert!(
        (ops_state::timestamp::unix_seconds(kept) - last_failed).abs() < 1e-3,
        "the last failed check before the gap"
    );
    assert!(of("Back")["ended"].as_str() > of("Back")["last_failed"].as_str());
    assert_eq!(of("Gone")["end"], "removed");
    assert!(sb.outages().get("Gone").is_none(), "forgotten once logged");
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    assert_eq!(sb.logged().len(), 2, "logged once");
    let doc = sb.report();
    let ends: Vec<&str> =
        doc["incidents"].as_array().unwrap().iter().map(|i| i["end"].as_str().unwrap()).collect();
    assert_eq!(ends.len(), 2, "{doc:#}");
    assert!(ends.contains(&"recovered") && ends.contains(&"removed"), "{doc:#}");
}

/// An incident that cannot be appended (something that is not a regular file sits at
/// `state/incidents.jsonl`) is said in a warning and kept in the outage memory, and the first
/// pass that can append it does: it is never lost, and logged once.
#[test]
fn an_incident_that_cannot_be_logged_waits_for_the_next_pass() {
    let sb = Sandbox::new();
    let port = free_port();
    sb.config(&format!(r#"{{"name": "API", "type": "port", "port": {port}}}"#), "");
    assert_eq!(sb.run(&[]).status.code(), Some(1));
    let log = sb.base().join("state/incidents.jsonl");
    fs::create_dir(&log).unwrap();
    let api = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("incidents not logged yet, kept for the next pass"), "{}", text(&out));
    assert!(sb.outages()["API"]["incidents"][0]["ended"].is_number(), "{:#}", sb.outages());
    fs::remove_dir(&log).unwrap();
    assert_eq!(sb.report()["incidents"][0]["end"], "recovered", "shown while it waits");
    drop(api);
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "down again: a second incident begins");
    let logged = sb.logged();
    assert_eq!(logged.len(), 1, "the first is logged now: {logged:#?}");
    assert_eq!(logged[0]["end"], "recovered");
    let open = sb.outages()["API"]["incidents"].clone();
    assert_eq!(open.as_array().map(Vec::len), Some(1), "only the new one is kept: {open:#}");
    assert!(open[0]["ended"].is_null());
}
