//! The directory permission check as a user meets it: a binary run over a home whose state or
//! metrics directory another user could change must stop before anything is read or written.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs `binary ARGS` over a home whose directory `dir` (`state`, `metrics`) is world-writable
/// without the sticky bit, and asserts exit 2, the error naming the directory and what is
/// wrong, and nothing written in it.
pub fn refuses_a_directory_others_can_write(binary: &Path, args: &[&str], dir: &str) {
    let home = tempfile::tempdir().expect("a temporary directory");
    let base = home.path().join("ops");
    let config = base.join("config/services.json");
    fs::create_dir_all(config.parent().expect("a parent")).expect("create the config directory");
    fs::write(&config, r#"{"services": [], "disk_paths": []}"#).expect("write services.json");
    let at = base.join(dir);
    fs::create_dir_all(&at).expect("create the directory");
    fs::set_permissions(&at, fs::Permissions::from_mode(0o757)).expect("chmod");
    let out = Command::new(binary)
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("AGENT_OPS_HOME", &base)
        .output()
        .expect("run the binary");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let shown = at.display();
    let expected = format!(
        "error: refusing the {dir} directory {shown}: {shown} is world-writable without the sticky bit (mode 0757)"
    );
    assert!(err.starts_with(&expected), "{err}");
    assert_eq!(fs::read_dir(&at).expect("read the directory").count(), 0, "nothing written");
}
