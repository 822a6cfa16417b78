//! The `dns`, `ping` and conditioned `url` checks as a user runs them: `--json` fields, the
//! Prometheus textfile (checked by promtool), the metrics lines, and a credential that an
//! echoing server sends back never reaching any of them.

use std::fs;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use test_support::dns::{Behaviour, FakeDns};
use test_support::echo::{Echo, Reply};

const TOKEN: &str = "tok_kinds_0123456789abcdef";

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::cargo_bin("health-check")
        .unwrap()
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AGENT_OPS_HOME", dir.join("ops"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dns_ping_and_conditions_in_json_prometheus_and_metrics() {
    let dns = FakeDns::start(Behaviour::StrayFirst);
    let api = Echo::start(Reply::Fixed(200, Vec::new(), r#"{"status": "DOWN"}"#.into()));
    let echo = Echo::start(Reply::EchoHeader(200, "authorization"));
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("ops/config")).unwrap();
    let config = serde_json::json!({
        "services": [
            {"name": "Resolver", "type": "dns", "query": "api.test", "server": dns.server(), "expected": ["10.1.2.3"]},
            {"name": "Loopback", "type": "ping", "host": "127.0.0.1", "count": 2, "timeout_seconds": 2},
            {"name": "API", "target": api.url(), "conditions": ["[STATUS] == 200", "[BODY].status == UP"]},
            {"name": "Echo", "target": echo.url(), "bearer_token": TOKEN, "conditions": ["[BODY] == nothing"]}
        ],
        "disk_paths": []
    });
    fs::write(dir.path().join("ops/config/services.json"), config.to_string()).unwrap();
    let prom = dir.path().join("agent_ops.prom");
    let out = run(dir.path(), &["--json", "--prometheus-textfile", prom.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = &v["checks"];

    let resolver = &checks[0];
    assert_eq!(
        (resolver["type"].as_str(), resolver["ok"].as_bool()),
        (Some("dns"), Some(true)),
        "{resolver}"
    );
    assert_eq!(resolver["dns"]["records"], serde_json::json!(["10.1.2.3"]));
    assert_eq!(
        (resolver["dns"]["rcode"].as_str(), resolver["dns"]["tcp"].as_bool()),
        (Some("NOERROR"), Some(false))
    );

    let ping = &checks[1];
    let ping_ran = ping["status"] != "unknown";
    if ping_ran {
        assert_eq!(ping["ok"], true, "{ping}");
        assert_eq!((ping["ping"]["sent"].as_u64(), ping["ping"]["received"].as_u64()), (Some(2), Some(2)));
        assert_eq!(ping["ping"]["loss_percent"], 0.0);
        assert!(ping["ping"]["rtt_ms"]["avg"].as_f64().unwrap() >= 0.0);
    } else {
        assert_eq!(ping["failure"], "internal", "{ping}");
        test_support::missing("an ICMP socket for this user, so the ping fields were not checked");
    }

    let api = &checks[2];
    assert_eq!((api["ok"].as_bool(), api["failure"].as_str()), (Some(false), Some("content")));
    assert_eq!(api["detail"], "HTTP 200, failed: [BODY].status (DOWN) == UP");
    assert_eq!(
        api["conditions"],
        serde_json::json!([
            {"condition": "[STATUS] == 200", "ok": true},
            {"condition": "[BODY].status (DOWN) == UP", "ok": false}
        ])
    );
    assert_eq!(checks[3]["detail"], "HTTP 200, failed: [BODY] (Bearer [redacted]) == nothing");

    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.contains(r#"agent_ops_dns_answer_records{service="Resolver",type="dns"} 1"#), "{text}");
    if ping_ran {
        assert!(
            text.contains(r#"agent_ops_ping_packet_loss_ratio{service="Loopback",type="ping"} 0"#),
            "{text}"
        );
        for stat in ["min", "avg", "max"] {
            assert!(
                text.contains(&format!(
                    r#"agent_ops_ping_rtt_seconds{{service="Loopback",type="ping",stat="{stat}"}} "#
                )),
                "{text}"
            );
        }
    }
    let metrics: String = fs::read_dir(dir.path().join("ops/metrics"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for output in [&text, &metrics, &String::from_utf8_lossy(&out.stdout).into_owned()] {
        assert!(!output.contains(TOKEN), "the token leaked: {output}");
    }
    let Some(promtool) = test_support::require_tool("promtool") else { return };
    let check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(fs::File::open(&prom).unwrap())
        .output()
        .unwrap();
    assert!(check.status.success(), "promtool: {}", String::from_utf8_lossy(&check.stderr));
}
