//! Modes and ownership as the orchestrator leaves them: every file a pass creates honours the
//! umask it runs under (set in a child shell, never in this process), state and logs are
//! private, and a directory another user could change stops the run before anything is
//! written (exit 2), unless `AGENT_OPS_STRICT_PERMISSIONS=0`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Sandbox {
    dir: tempfile::TempDir,
    _listener: TcpListener,
}

impl Sandbox {
    /// A base with a services.json of one service that is up (a port on 127.0.0.1).
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = dir.path().join("ops/config/services.json");
        fs::create_dir_all(config.parent().unwrap()).unwrap();
        let json = format!(
            r#"{{"services": [{{"name": "DB", "type": "port", "host": "127.0.0.1", "port": {port}}}],
                "disk_paths": [], "log_rotate_mb": 0.0001}}"#
        );
        fs::write(&config, json).unwrap();
        Self { dir, _listener: listener }
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    /// The orchestrator under `umask`, started by `sh -c 'umask ...; exec orchestrator'`.
    fn run(&self, umask: &str, env: &[(&str, &str)]) -> Output {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(assert_cmd::cargo::cargo_bin("orchestrator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base())
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every file and directory under `dir` with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        all.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            all.extend(modes(&path));
        }
    }
    all.sort();
    all
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_file_a_pass_creates_honours_umask_077() {
    let s = Sandbox::new();
    // Twice: the second pass replaces state files, appends to the log and rotates it.
    for _ in 0..2 {
        let out = s.run("077", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let config = s.base().join("config").display().to_string();
    let created: Vec<_> = modes(&s.base()).into_iter().filter(|(p, _)| !p.starts_with(&config)).collect();
    for name in ["state/heartbeat.json", "state/outages.json", "logs/orchestrator.log", "metrics"] {
        assert!(created.iter().any(|(p, _)| p.contains(name)), "{name} was written: {created:?}");
    }
    assert!(
        created.iter().any(|(p, _)| Path::new(p).extension().is_some_and(|x| x == "gz")),
        "a rotated log: {created:?}"
    );
    for (path, mode) in &created {
        assert_eq!(mode & 0o077, 0, "{path} is {mode:04o} under umask 077");
    }
}

#[test]
fn under_the_usual_umask_state_and_logs_are_private_and_metrics_readable() {
    let s = Sandbox::new();
    let out = s.run("022", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let base = s.base();
    for private in
        ["state/heartbeat.json", "state/outages.json", "state/orchestrator.lock", "logs/orchestrator.log"]
    {
        assert_eq!(mode(&base.join(private)), 0o600, "{private}");
    }
    let day = fs::read_dir(base.join("metrics")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(mode(&day), 0o644, "metrics day files as the seed's");
    for dir in ["state", "logs", "metrics"] {
        assert_eq!(mode(&base.join(dir)), 0o755, "{dir}");
    }
}

#[test]
fn a_directory_another_user_could_change_stops_the_run_before_it_writes() {
    let s = Sandbox::new();
    let state = s.base().join("state");
    fs::create_dir_all(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.run("022", &[]);
    assert_eq!(out.status.code(), Some(2), "a configuration error");
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        format!(
            "error: refusing the state directory {}: {} is group- and world-writable without the sticky bit \
             (mode 0777), so another user could change what agent-ops reads or writes there; make it writable \
             only by its owner (chmod go-w, and owned by this user or root), or set AGENT_OPS_STRICT_PERMISSIONS=0 \
             to accept it",
            state.display(),
            state.display()
        )
    );
    assert_eq!(fs::read_dir(&state).unwrap().count(), 0, "nothing written");
    assert!(!s.base().join("logs").exists() && !s.base().join("metrics").exists(), "nothing written");

    // The user's word relaxes it; a sticky directory like /tmp needs no word.
    let out = s.run("022", &[("AGENT_OPS_STRICT_PERMISSIONS", "0")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    fs::set_permissions(&state, fs::Permissions::from_mode(0o1777)).unwrap();
    let out = s.run("022", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
