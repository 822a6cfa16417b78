//! Hostile endpoints in the configuration (a TLS server that drips its handshake a byte at a
//! time or never ends a record, HTTP servers that drip their head or their body, a server that
//! accepts and never answers) cannot hold a pass: one `orchestrator` pass returns with every
//! other service checked, the down one alerted and the heartbeat written. No time is measured:
//! the pass returning is the proof, and what it left behind is asserted.

use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use test_support::{Answer, Drip, FakeBotApi, HttpDripper, Silent, TlsDripper};

const TOKEN: &str = "123456:TEST-token-never-printed";

/// One byte every 100 ms: a dripped handshake takes minutes to finish, an endless record
/// half an hour, the dripped HTTP answers never finish.
const DRIP: Duration = Duration::from_millis(100);

#[test]
fn a_pass_is_never_held_by_hostile_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let api = FakeBotApi::start(TOKEN);
    let handshake = TlsDripper::handshake(DRIP);
    let record = TlsDripper::endless_record(DRIP);
    let head = HttpDripper::start(Drip::Head, DRIP);
    let body = HttpDripper::start(Drip::Body, DRIP);
    let silent = Silent::start();
    let web = Answer::status(200).body("ok").start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let db = listener.local_addr().unwrap().port();
    let down = test_support::closed_port();
    let services = format!(
        r#"[
        {{"name": "TLS dripper", "type": "tls", "host": "localhost", "port": {}, "tls_verify": false, "timeout_seconds": 1}},
        {{"name": "HTTPS dripper", "target": "https://localhost:{}/", "cert_warning_days": 14, "timeout_seconds": 1}},
        {{"name": "Endless record", "type": "tls", "host": "localhost", "port": {}, "timeout_seconds": 1}},
        {{"name": "Head dripper", "target": "{}", "timeout_seconds": 1}},
        {{"name": "Body dripper", "target": "{}", "body_contains": "healthy", "timeout_seconds": 1}},
        {{"name": "Silent", "target": "{}", "timeout_seconds": 1}},
        {{"name": "Web", "target": "{}", "body_contains": "ok"}},
        {{"name": "DB", "type": "port", "port": {db}}},
        {{"name": "Cache", "type": "port", "port": {down}}}
    ]"#,
        handshake.port(),
        handshake.port(),
        record.port(),
        head.url(),
        body.url(),
        silent.url(),
        web.url()
    );
    let config = format!(
        r#"{{"services": {services},
            "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 5}},
            "disk_paths": [], "restart_grace_seconds": 0}}"#,
        api.url()
    );
    fs::create_dir_all(base.join("config")).unwrap();
    fs::write(base.join("config/services.json"), config).unwrap();

    let out = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", &base)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "failures remain:\n{text}");

    // Every service was checked, each once, the healthy ones up.
    let mut statuses: Vec<(String, String)> = Vec::new();
    for day in fs::read_dir(base.join("metrics")).unwrap().flatten() {
        for line in fs::read_to_string(day.path()).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            statuses.push((v["name"].as_str().unwrap().into(), v["status"].as_str().unwrap().into()));
        }
    }
    let status = |name: &str| {
        let seen: Vec<&str> = statuses.iter().filter(|(n, _)| n == name).map(|(_, s)| s.as_str()).collect();
        assert_eq!(seen.len(), 1, "{name}: {statuses:?}");
        seen[0].to_owned()
    };
    assert_eq!((status("Web"), status("DB"), status("Cache")), ("up".into(), "up".into(), "down".into()));
    for hostile in
        ["TLS dripper", "HTTPS dripper", "Endless record", "Head dripper", "Body dripper", "Silent"]
    {
        assert_eq!(status(hostile), "down", "{hostile}");
    }

    // The heartbeat was written, naming what is failing.
    let beat: Value = serde_json::from_slice(&fs::read(base.join("state/heartbeat.json")).unwrap()).unwrap();
    assert_eq!(beat["checks"], 9, "{beat}");
    let failing: Vec<&str> =
        beat["failing"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        failing.contains(&"Cache") && !failing.contains(&"Web") && !failing.contains(&"DB"),
        "{failing:?}"
    );

    // The down service was alerted, with the hostile ones, and the healthy ones were not.
    let shown: Vec<String> = api.delivered().into_iter().map(|d| d.displayed).collect();
    let failures: Vec<&String> = shown.iter().filter(|s| s.contains("Health check failures:")).collect();
    assert_eq!(failures.len(), 1, "{shown:#?}");
    assert!(failures[0].contains("Cache") && failures[0].contains("Head dripper"), "{}", failures[0]);
    assert!(!failures[0].contains(" - Web:") && !failures[0].contains(" - DB:"), "{}", failures[0]);
    assert!(!text.contains(TOKEN));
}
