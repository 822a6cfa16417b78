//! The board's files and their modes: a new board is private, a mode the user narrowed stays,
//! the umask the board runs under is honoured (set in a child shell), planted symlinks are
//! refused, and a state directory another user could change is a configuration error.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_support::plant::{Outside, Plant};

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn state(&self) -> PathBuf {
        self.0.path().join("state")
    }

    /// `board ARGS` under `umask`, started by `sh -c 'umask ...; exec board'`.
    fn run(&self, umask: &str, args: &[&str]) -> Output {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_board"))
            .args(args)
            .env("AGENT_OPS_HOME", self.0.path())
            .env("HOME", self.0.path())
            .env_remove("AGENT_OPS_CONFIG")
            .env_remove("AGENT_OPS_STRICT_PERMISSIONS")
            .output()
            .unwrap()
    }

    fn ok(&self, umask: &str, args: &[&str]) -> String {
        let out = self.run(umask, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Adds a task and returns its id.
    fn add(&self, umask: &str, title: &str) -> String {
        let out = self.ok(umask, &["--json", "add", title]);
        let task: serde_json::Value = serde_json::from_str(&out).unwrap();
        task["id"].as_str().unwrap().to_owned()
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_new_board_is_private_and_a_users_0600_stays_0600() {
    let home = Home::new();
    let id = home.add("022", "first");
    let state = home.state();
    assert_eq!(mode(&state.join("board.json")), 0o600);
    assert_eq!(mode(&state.join("board.lock")), 0o600);
    home.ok("022", &["archive", &id]);
    assert_eq!(mode(&state.join("board-archive.jsonl")), 0o600);
    assert_eq!(mode(&state.join("board.json.bak")), 0o600);

    // The user's 0600 stays through changes; a board an older version (or the Python kit) left
    // 0644 is made private by the next change, backup included.
    fs::set_permissions(state.join("board.json"), fs::Permissions::from_mode(0o600)).unwrap();
    home.add("022", "second");
    assert_eq!(mode(&state.join("board.json")), 0o600);
    fs::set_permissions(state.join("board.json"), fs::Permissions::from_mode(0o644)).unwrap();
    home.add("022", "third");
    assert_eq!(mode(&state.join("board.json")), 0o600);
    assert_eq!(mode(&state.join("board.json.bak")), 0o600);
    // A mode narrower than ours is the user's choice and stays.
    fs::set_permissions(state.join("board.json"), fs::Permissions::from_mode(0o400)).unwrap();
    home.add("022", "fourth");
    assert_eq!(mode(&state.join("board.json")), 0o400);
}

#[test]
fn the_board_honours_umask_077() {
    let home = Home::new();
    let id = home.add("077", "a task");
    home.ok("077", &["archive", &id]);
    home.add("077", "another");
    assert_eq!(mode(&home.state()), 0o700);
    for entry in fs::read_dir(home.state()).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{} under umask 077", path.display());
    }
}

#[test]
fn planted_board_files_are_refused_and_nothing_outside_changes() {
    for name in ["board.json", "board.lock", "board-archive.jsonl"] {
        for kind in Plant::ALL {
            let home = Home::new();
            let outside = Outside::new();
            let id = home.add("022", "to archive");
            let at = home.state().join(name);
            outside.plant(kind, &at);
            let out = home.run("022", &["archive", &id]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {kind:?}: {err}");
            let expected = if kind.is_link() {
                format!("refusing to follow the symlink {}", at.display())
            } else {
                format!("refusing to use {}: it is a named pipe, not a regular file", at.display())
            };
            assert!(err.contains(&expected), "{name} {kind:?}: {err}");
            outside.assert_untouched(&format!("board archive with {kind:?} at {name}"));
        }
    }
}

#[test]
fn a_state_directory_another_user_could_change_is_a_configuration_error() {
    let home = Home::new();
    home.add("022", "a task");
    fs::set_permissions(home.state(), fs::Permissions::from_mode(0o775)).unwrap();
    let out = home.run("022", &["list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: refusing the state directory {}: {} is group-writable without the sticky bit (mode 0775)",
            home.state().display(),
            home.state().display()
        )),
        "{err}"
    );
}
