//! The orchestrator when the system refuses it threads and processes (RLIMIT_NPROC as an
//! unprivileged user: root is not bound by it): a pass still ends, never with a panic; its
//! checks are made on the calling thread; a restart whose command could not start is said, and
//! not counted against the service's attempts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;
use test_support::{closed_port, require_tool};

/// The unprivileged user the test runs the orchestrator as (`nobody`).
const NOBODY: u32 = 65_534;

#[test]
fn a_pass_without_threads_or_processes_ends_without_a_panic_and_counts_no_attempt() {
    if rustix::process::geteuid().as_raw() != 0 {
        // Setting another user's limits needs root; elsewhere the limit would be ours, and
        // binding the test process itself would starve the test harness.
        test_support::missing("root (to run the orchestrator as nobody under RLIMIT_NPROC)");
        return;
    }
    let Some(setpriv) = require_tool("setpriv") else { return };
    if require_tool("prlimit").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let base = dir.path().join("ops");
    let port = closed_port();
    let services: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"name": "svc-{i}", "type": "port", "port": {port}, "restart_command": "true", "restart_cooldown_seconds": 0}}"#
            )
        })
        .collect();
    fs::create_dir_all(base.join("config")).unwrap();
    fs::write(
        base.join("config/services.json"),
        format!(r#"{{"services": [{}], "disk_paths": [], "restart_grace_seconds": 0}}"#, services.join(",")),
    )
    .unwrap();
    let chown = |path: &std::path::Path| {
        rustix::fs::chown(
            path,
            Some(rustix::fs::Uid::from_raw(NOBODY)),
            Some(rustix::fs::Gid::from_raw(NOBODY)),
        )
        .unwrap();
    };
    for path in
        [dir.path().to_path_buf(), base.clone(), base.join("config"), base.join("config/services.json")]
    {
        chown(&path);
    }
    let bin = assert_cmd::cargo::cargo_bin("orchestrator");
    let out = Command::new(&setpriv)
        .args(["--reuid", &NOBODY.to_string(), "--regid", &NOBODY.to_string(), "--clear-groups", "--"])
        .args(["prlimit", "--nproc=1:1", "--"])
        .arg(&bin)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", &base)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "no panic (101), no signal; failures remain:\n{text}");
    assert!(!text.contains("panicked"), "{text}");
    for i in 0..4 {
        assert!(text.contains(&format!("[FAIL] svc-{i} - port {port}: connection refused")), "{text}");
        assert!(text.contains(&format!("RESTART: svc-{i}: attempt 1: command not started")), "{text}");
    }
    let recovery: Value =
        serde_json::from_slice(&fs::read(base.join("state/recovery.json")).unwrap()).unwrap();
    for i in 0..4 {
        assert_eq!(recovery[format!("svc-{i}")]["attempts"], 0, "no process, no attempt: {recovery}");
    }
}
