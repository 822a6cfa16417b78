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
