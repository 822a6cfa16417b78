//! `board` when the state directory is full or read-only (a small tmpfs mounted over it), or
//! when it may grow no file at all (`ulimit -f 0`): a change fails with exit 1 naming
//! board.json and the reason, the board keeps its old content (and its backup), and reading
//! it still works.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use test_support::disk::{Tmpfs, no_file_growth};

struct Home(tempfile::TempDir);

impl Home {
    fn state(&self) -> PathBuf {
        self.0.path().join("state")
    }

    fn board(&self) -> PathBuf {
        self.state().join("board.json")
    }

    fn run(&self, mut cmd: Command, args: &[&str]) -> Output {
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AGENT_OPS_HOME", self.0.path())
            .env("HOME", self.0.path())
            .output()
            .unwrap()
    }

    fn board_cmd(&self, args: &[&str]) -> Output {
        self.run(Command::new(env!("CARGO_BIN_EXE_board")), args)
    }

    fn titles(&self) -> Vec<String> {
        let out = self.board_cmd(&["--json", "list"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let tasks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        tasks.iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn bytes(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}

/// Two tasks added, the directory broken by `breaks`, a third refused naming board.json with
/// `action` and `why`; the board and its backup as they were, and still listed.
fn state_dir_in_trouble(breaks: impl FnOnce(&Tmpfs), action: &str, why: &str) {
    let home = Home(tempfile::tempdir().unwrap());
    let Some(disk) = Tmpfs::mount(&home.state(), 256) else { return };
    for title in ["first", "second"] {
        assert_eq!(home.board_cmd(&["add", title]).status.code(), Some(0));
    }
    let board = bytes(&home.board());
    let backup = bytes(&home.state().join("board.json.bak"));

    breaks(&disk);
    let out = home.board_cmd(&["add", "third", "--description", &"long ".repeat(2000)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("error: {action} {}: {why}\n", home.board().display()));
    assert_eq!(bytes(&home.board()), board, "board.json is as it was");
    let backup_now = bytes(&home.state().join("board.json.bak"));
    assert!(backup_now == backup || backup_now == board, "the backup is whole");
    assert_eq!(home.titles(), ["first", "second"], "reading still works");
    let names: Vec<String> = fs::read_dir(home.state())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| Path::new(n).extension().is_none_or(|e| e != "tmp")), "{names:?}");
}

#[test]
fn a_full_state_disk_refuses_a_change_naming_the_board_and_keeps_it() {
    state_dir_in_trouble(Tmpfs::fill, "cannot write", "No space left on device (os error 28)");
}

#[test]
fn a_read_only_state_directory_refuses_a_change_naming_the_board_and_keeps_it() {
    state_dir_in_trouble(Tmpfs::read_only, "cannot back up", "Read-only file system (os error 30)");
}

#[test]
fn a_process_that_can_grow_no_file_refuses_a_change_and_keeps_the_board() {
    let home = Home(tempfile::tempdir().unwrap());
    assert_eq!(home.board_cmd(&["add", "first"]).status.code(), Some(0));
    let board = bytes(&home.board());
    let out = home.run(no_file_growth(Path::new(env!("CARGO_BIN_EXE_board"))), &["add", "second"]);
    assert_eq!(out.status.code(), Some(1), "no panic, no SIGXFSZ: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("error: cannot write {}: File too large (os error 27)\n", home.board().display())
    );
    assert_eq!(bytes(&home.board()), board);
    assert_eq!(home.titles(), ["first"]);
}
