//! A directory another user could change (as ssh's StrictModes judges it) is a configuration
//! error before anything is read or written: exit 2, naming the directory and what is wrong.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Arguments that would otherwise run normally.
const ARGS: &[&str] = &["--dry-run", "send", "hello"];

#[test]
fn a_state_directory_others_can_write_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let config = base.join("config/services.json");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, r#"{"services": [], "disk_paths": []}"#).unwrap();
    let at = base.join("state");
    fs::create_dir_all(&at).unwrap();
    fs::set_permissions(&at, fs::Permissions::from_mode(0o757)).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("alert"))
        .args(ARGS)
        .env_clear()
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", &base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: refusing the state directory {}: {} is world-writable without the sticky bit (mode 0757)",
            at.display(),
            at.display()
        )),
        "{err}"
    );
    assert_eq!(fs::read_dir(&at).unwrap().count(), 0, "nothing written");
}
