//! The orchestrator pass on a disk in trouble: a metrics or state directory that is full or
//! read-only (a small tmpfs mounted over it), or a process that cannot grow any file
//! (`ulimit -f 0`). The checks and the alerts go on, every problem is a warning naming its
//! file, and the state written before stays as it was.

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use test_support::FakeBotApi;
use test_support::disk::{Tmpfs, no_file_growth, page_of_metrics};

const TOKEN: &str = "123456:DISK-token-never-printed";

struct Sandbox {
    dir: tempfile::TempDir,
    api: FakeBotApi,
    /// The service: up while the listener is open.
    listener: Option<TcpListener>,
}

impl Sandbox {
    /// A configuration with one port service that has a restart command, alerting to a fake.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let api = FakeBotApi::start(TOKEN);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sb = Self { dir, api, listener: Some(listener) };
        let json = format!(
            r#"{{"services": [{{"name": "API", "type": "port", "port": {port}, "restart_command": "exit 3", "restart_cooldown_seconds": 0}}],
                "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 5}},
                "disk_paths": [], "restart_grace_seconds": 0, "reminder_interval_seconds": 0}}"#,
            sb.api.url()
        );
        fs::create_dir_all(sb.base().join("config")).unwrap();
        fs::write(sb.base().join("config/services.json"), json).unwrap();
        sb
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    fn state(&self) -> PathBuf {
        self.base().join("state")
    }

    fn metrics(&self) -> PathBuf {
        self.base().join("metrics")
    }

    fn down(&mut self) {
        self.listener = None;
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base());
    }

    fn pass(&self) -> Output {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"));
        self.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(!text(&out).contains(TOKEN));
        out
    }

    fn shown(&self) -> Vec<String> {
        self.api.delivered().into_iter().map(|d| d.displayed).collect()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The lines of every metrics day file.
fn metric_lines(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for name in files(dir).into_iter().filter(|n| Path::new(n).extension().is_some_and(|e| e == "jsonl")) {
        for line in fs::read_to_string(dir.join(name)).unwrap().lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

/// A page of old metrics, the metrics directory broken by `breaks`, the service down: the pass
/// checks, restarts, alerts, warns naming the day file with `action` and `why`, and leaves the
/// old lines whole; once repaired by `repairs`, it records again.
fn metrics_disk_in_trouble(
    breaks: impl FnOnce(&Tmpfs),
    repairs: impl FnOnce(&Tmpfs),
    action: &str,
    why: &str,
) {
    let mut sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.metrics(), 256) else { return };
    let (day, old) = page_of_metrics(&sb.metrics(), "API");
    breaks(&disk);
    sb.down();
    let out = sb.pass();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let warning = format!("warning: cannot record metrics: {action} {}/", sb.metrics().display());
    let line = t.lines().find(|l| l.starts_with(&warning)).unwrap_or_else(|| panic!("{t}"));
    assert!(line.ends_with(&format!(".jsonl: {why}")), "{line}");
    assert!(t.contains("[FAIL] API - port "), "checked: {t}");
    assert!(t.contains("RESTART: API: attempt 1: command failed with exit code 3"), "restarted: {t}");
    assert_eq!(sb.shown().len(), 1, "alerted: {t}");
    assert!(sb.shown()[0].contains("Health check failures:\n - API: "), "{:?}", sb.shown());
    assert_eq!(fs::read_to_string(&day).unwrap(), old, "the old lines are whole, nothing torn");

    repairs(&disk);
    let out = sb.pass();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("cannot record metrics"), "{}", text(&out));
    assert_eq!(metric_lines(&sb.metrics()).len(), 4 + 2, "recorded again (a check and a re-check)");
}

#[test]
fn a_full_metrics_disk_still_checks_and_alerts() {
    metrics_disk_in_trouble(
        Tmpfs::fill,
        Tmpfs::free,
        "cannot append to",
        "No space left on device (os error 28)",
    );
}

#[test]
fn a_read_only_metrics_directory_still_checks_and_alerts() {
    metrics_disk_in_trouble(
        Tmpfs::read_only,
        Tmpfs::writable,
        "cannot open",
        "Read-only file system (os error 30)",
    );
}

/// A first pass with the service up, then the state directory broken by `breaks`, then the
/// service down: the pass checks, alerts directly, warns naming the files, restarts nothing
/// (the attempt cannot be recorded), and leaves the old state as it was.
fn state_disk_in_trouble(breaks: impl FnOnce(&Tmpfs), error: &str) {
    let mut sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.state(), 256) else { return };
    let out = sb.pass();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before: Vec<(String, Vec<u8>)> = files(&sb.state())
        .into_iter()
        .map(|n| {
            let bytes = fs::read(sb.state().join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    assert_eq!(json(&sb.state().join("outages.json"))["API"]["successes"], 1);

    breaks(&disk);
    sb.down();
    let out = sb.pass();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("[FAIL] API - port "), "checked: {t}");
    assert_eq!(sb.shown().len(), 1, "alerted: {t}");
    assert!(sb.shown()[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - API: "));
    let state = sb.state();
    for (what, file) in [
        ("outage memory not kept", "outages.json"),
        ("RESTART SKIPPED: API", "recovery.json"),
        ("not queued", "alert-outbox.jsonl"),
        ("cannot write the last status", "last-status.json"),
        ("cannot write the heartbeat", "heartbeat.json"),
    ] {
        let line = t.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no {what:?} in {t}"));
        assert!(
            line.contains(&state.join(file).display().to_string()) && line.contains(error),
            "{what}: {line}"
        );
    }
    assert!(t.contains("sent directly: sent to telegram"), "{t}");
    // Everything written before is still there, byte for byte; nothing half-written was left.
    let after: Vec<(String, Vec<u8>)> = files(&sb.state())
        .into_iter()
        .filter(|n| n != test_support::disk::FILLER)
        .map(|n| {
            let bytes = fs::read(sb.state().join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    let after: BTreeMap<String, Vec<u8>> = after.into_iter().collect();
    for (name, bytes) in &before {
        assert_eq!(after.get(name), Some(bytes), "{name} is unchanged");
    }
    for (name, bytes) in after.iter().filter(|(n, _)| !before.iter().any(|(b, _)| b == *n)) {
        let backup_of = name.strip_suffix(".bak").and_then(|f| after.get(f));
        assert!(
            bytes.is_empty() || backup_of == Some(bytes),
            "{name} is new: only empty files (locks, an outbox) and backups of the current version may appear"
        );
    }
    assert_eq!(json(&sb.state().join("outages.json"))["API"]["successes"], 1);
}

#[test]
fn a_full_state_disk_still_checks_and_alerts_and_keeps_the_old_state() {
    state_disk_in_trouble(Tmpfs::fill, "No space left on device");
}

#[test]
fn a_read_only_state_directory_still_checks_and_alerts_and_keeps_the_old_state() {
    state_disk_in_trouble(Tmpfs::read_only, "Read-only file system");
}

#[test]
fn a_pass_that_can_grow_no_file_still_checks_and_alerts() {
    let mut sb = Sandbox::new();
    let out = sb.pass();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let outages = fs::read(sb.state().join("outages.json")).unwrap();
    sb.down();
    let mut cmd = no_file_growth(&assert_cmd::cargo::cargo_bin("orchestrator"));
    sb.env(&mut cmd);
    let out = cmd.output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "no panic, no signal: {t}");
    assert!(t.contains("[FAIL] API - port "), "{t}");
    assert_eq!(sb.shown().len(), 1, "alerted: {t}");
    assert!(t.contains("warning: cannot record metrics: cannot append to "), "{t}");
    assert!(t.contains("File too large"), "{t}");
    assert!(t.contains("warning: cannot write the orchestrator log: "), "{t}");
    assert_eq!(fs::read(sb.state().join("outages.json")).unwrap(), outages, "the old memory is intact");
    assert_eq!(metric_lines(&sb.metrics()).len(), 1);
}

#[test]
fn an_alert_waiting_in_the_outbox_is_not_sent_on_every_pass_while_the_state_disk_is_full() {
    let mut sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.state(), 256) else { return };
    assert_eq!(sb.pass().status.code(), Some(0));
    // Telegram fails: the failure alert waits in the outbox.
    sb.api.push(std::iter::repeat_n(test_support::Reply::server_error(), 3));
    sb.down();
    let out = sb.pass();
    let t = text(&out);
    let line = t
        .lines()
        .find(|l| l.starts_with("ALERT error: Health check failures: | - API: port "))
        .unwrap_or_default();
    assert!(
        line.contains("still down) -> queued for telegram (telegram answered 500 "),
        "the alert names the service: {t}"
    );
    assert!(sb.shown().is_empty());

    // The disk fills up. Delivered now, the alert could not be taken off the outbox, and each
    // pass would send it again: it waits instead, and each pass says why.
    disk.fill();
    for _ in 0..3 {
        let out = sb.pass();
        let t = text(&out);
        assert!(t.contains("[FAIL] API - port "), "still checked: {t}");
        assert!(
            t.contains(&format!(
                "warning: cannot write {}: No space left on device (os error 28); the 1 alert(s) in the outbox wait",
                sb.state().join("alert-outbox.jsonl").display()
            )),
            "{t}"
        );
    }
    assert!(sb.shown().is_empty(), "not sent again and again: {:?}", sb.shown());

    disk.free();
    sb.pass();
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "delivered once the disk has room: {shown:?}");
    assert!(shown[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - API: "), "{shown:?}");
}
