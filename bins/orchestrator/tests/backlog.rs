//! Issue 18's scenario, in real time, as an operator met it: `orchestrator --loop` every
//! second, two services down, a reminder every 2 s, the Telegram API unreachable (connections
//! reset) for 20 s, then back. Prints how many messages reach Telegram once it is back, and
//! what they say. A measurement, not a check (it takes half a minute of real time):
//! `cargo test -p orchestrator --test backlog -- --ignored --nocapture`. It uses only the
//! binary and the fake Bot API, so the same file measures an older build too.
#![allow(clippy::print_stderr)] // the figures are the measurement's report

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{FakeBotApi, Reply, procs};

const TOKEN: &str = "123456:BACKLOG-token";

#[test]
#[ignore = "a measurement in real time (half a minute): run with --ignored --nocapture"]
fn two_services_down_and_telegram_unreachable_for_20_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let api = FakeBotApi::start(TOKEN);
    let (a, b) = (test_support::closed_port(), test_support::closed_port());
    let config = format!(
        r#"{{"services": [{{"name": "API", "type": "port", "port": {a}}}, {{"name": "DB", "type": "port", "port": {b}}}],
            "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 1}},
            "disk_paths": [], "check_interval_seconds": 1, "reminder_interval_seconds": 2}}"#,
        api.url()
    );
    fs::create_dir_all(base.join("config")).unwrap();
    fs::write(base.join("config/services.json"), config).unwrap();
    api.set_default(Reply::Reset);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"))
        .arg("--loop")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", &base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed_requests = api.requests().len();
    api.set_default(Reply::Emulate);
    let back = Instant::now();
    let outbox = base.join("state/alert-outbox.jsonl");
    // The backlog is delivered once the outbox is empty again.
    while api.delivered().is_empty() || !fs::read_to_string(&outbox).unwrap_or_default().trim().is_empty() {
        assert!(back.elapsed() < Duration::from_secs(120), "the outbox never emptied");
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = api.delivered();
    procs::signal(child.id(), rustix::process::Signal::TERM);
    child.wait().unwrap();
    eprintln!(
        "issue 18 scenario: {failed_requests} requests while Telegram was unreachable; once it was back, the backlog \
         reached it as {} Telegram message(s), in {:.1}s",
        delivered.len(),
        back.elapsed().as_secs_f64()
    );
    for d in &delivered {
        let lines: Vec<&str> = d.displayed.lines().take(8).collect();
        eprintln!("--- {}", lines.join(" | "));
    }
}
