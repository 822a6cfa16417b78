//! `health-check` under a low open-file limit (`ulimit -n 64` in the shell that starts it),
//! with many services that hang and many healthy ones: the runner keeps within the
//! descriptors it can afford, so no healthy service is reported anything but up, and a check
//! that could not be made would be `unknown`/`internal`, never `connect` or `timeout`.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;
use test_support::{Answer, Silent};

#[test]
fn a_low_open_file_limit_never_reports_a_healthy_service_down() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let silent = Silent::start();
    let ok = Answer::status(200).start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let mut services = Vec::new();
    // More hanging services than there are descriptors: all at once, they would take every one.
    for i in 0..70 {
        services
            .push(format!(r#"{{"name": "hang-{i}", "target": "{}", "timeout_seconds": 0.5}}"#, silent.url()));
    }
    for i in 0..60 {
        services.push(format!(r#"{{"name": "web-{i}", "target": "{}"}}"#, ok.url()));
    }
    for i in 0..40 {
        services.push(format!(r#"{{"name": "db-{i}", "type": "port", "port": {open}}}"#));
    }
    let config = format!(r#"{{"services": [{}], "disk_paths": []}}"#, services.join(",\n"));
    fs::create_dir_all(base.join("config")).unwrap();
    fs::write(base.join("config/services.json"), config).unwrap();

    let out = Command::new("sh")
        .args(["-c", r#"ulimit -n 64 && exec "$0" "$@""#])
        .arg(assert_cmd::cargo::cargo_bin("health-check"))
        .args(["--json", "--no-metrics"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", &base)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 170);
    let mut wrong = String::new();
    for c in checks {
        let (name, status, failure) = (c["name"].as_str().unwrap(), &c["status"], &c["failure"]);
        let fine = if name.starts_with("hang-") {
            (status == "down" && failure == "timeout") || (status == "unknown" && failure == "internal")
        } else {
            // Within its file budget the runner makes every check it is asked to.
            status == "up"
        };
        if !fine {
            let _ = writeln!(wrong, "{c}");
        }
    }
    assert!(wrong.is_empty(), "under ulimit -n 64:\n{wrong}");
    assert_eq!(report["passed"], 100);
}

/// A soft open-file limit below the hard one (the usual 1024 of a login shell, here 40) is
/// raised to the hard one at start, or the check budget would be (40 - open - 32) / 2 checks
/// in flight. The proof is the limit the process reports in /proc while its checks hang.
#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let silent = Silent::start();
    let services: Vec<String> = (0..3)
        .map(|i| format!(r#"{{"name": "hang-{i}", "target": "{}", "timeout_seconds": 30}}"#, silent.url()))
        .collect();
    fs::create_dir_all(base.join("config")).unwrap();
    fs::write(
        base.join("config/services.json"),
        format!(r#"{{"services": [{}], "disk_paths": []}}"#, services.join(",")),
    )
    .unwrap();
    let mut child = Command::new("sh")
        .args(["-c", r#"ulimit -S -n 40 && exec "$0" "$@""#])
        .arg(assert_cmd::cargo::cargo_bin("health-check"))
        .args(["--no-metrics"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", &base)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // While its checks hang on the silent server, the process's limits say what it did.
    let limits = format!("/proc/{}/limits", child.id());
    let mut line = None;
    while line.is_none() && child.try_wait().unwrap().is_none() {
        if silent.accepted() >= 3 {
            let text = fs::read_to_string(&limits).unwrap_or_default();
            line = text.lines().find(|l| l.starts_with("Max open files")).map(str::to_owned);
        } else {
            std::thread::yield_now();
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("health-check ended before its checks hung");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_ne!(soft, "40", "the soft limit was not raised: {line}");
    assert_eq!(soft, hard, "{line}");
}
