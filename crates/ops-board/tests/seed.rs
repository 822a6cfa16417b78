//! Side by side with the Python kit's real `agent_ops_board.py` on one board: same bytes, same lock.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ops_board::{BoardError, BoardFile, NewTask, Priority, StateError};
use serde_json::Value;

/// python3 running `code` after `import agent_ops_board as b`, with HOME = `home`.
fn seed(home: &Path, code: &str) -> Option<Command> {
    let (python, dir) = test_support::require_seed()?;
    let mut cmd = Command::new(python);
    cmd.env("HOME", home).env("PYTHONWARNINGS", "ignore").arg("-c").arg(format!(
        "import sys; sys.path.insert(0, {dir:?}); import json, agent_ops_board as b\n{code}",
        dir = dir.display().to_string()
    ));
    Some(cmd)
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn board_of(home: &Path) -> BoardFile {
    BoardFile::new(home.join(".agent-ops/state/board.json")).unwrap()
}

fn state(home: &Path) -> PathBuf {
    home.join(".agent-ops/state")
}

#[test]
fn we_write_the_seeds_bytes_and_each_reads_the_others_tasks() {
    let home = tempfile::tempdir().unwrap();
    let Some(cmd) = seed(
        home.path(),
        "t = b.add_task('Fix API timeout issue', owner='ops-agent', priority='high', tags=['ops', 'urgent'])\n\
         b.add_task('Second', description='two\\nlines')\n\
         b.move_task(t['id'], 'in-progress')\n\
         print(t['id'])",
    ) else {
        return;
    };
    let seed_id = run(cmd).trim().to_owned();
    let file = board_of(home.path());
    let seed_bytes = std::fs::read(file.path()).unwrap();

    // Read what the Python kit wrote.
    let board = file.read().unwrap().board;
    let t = board.find(&seed_id).unwrap();
    assert_eq!(
        (t.title.as_str(), t.owner.as_str(), t.priority.as_str()),
        ("Fix API timeout issue", "ops-agent", "high")
    );
    assert_eq!(
        (t.column.as_str(), t.tags.clone()),
        ("in-progress", vec!["ops".to_owned(), "urgent".to_owned()])
    );
    assert_eq!(board.tasks[1].description, "two\nlines");

    // Rewriting the same board gives the Python kit's bytes (json.dump(indent=2)) and a newline.
    file.update(|board| {
        board.columns.push("scratch".into());
        Ok(())
    })
    .unwrap();
    file.update(|board| {
        board.columns.pop();
        Ok(())
    })
    .unwrap();
    let ours = std::fs::read(file.path()).unwrap();
    assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&seed_bytes).into_owned() + "\n");

    // The Python kit reads what we add, and finds it stalled with our timestamps.
    let ours = file.add(&NewTask { priority: Priority::Critical, ..NewTask::new("From Rust") }).unwrap();
    file.move_task(&ours.id, "in-progress").unwrap();
    let Some(cmd) = seed(
        home.path(),
        "board = b.board_read()\n\
         print(json.dumps([t['id'] for t in board['tasks']]))\n\
         print(json.dumps([t['id'] for t in b.get_stalled_tasks(hours=-1)]))",
    ) else {
        return;
    };
    let out = run(cmd);
    let mut lines = out.lines().map(|l| serde_json::from_str::<Vec<String>>(l).unwrap());
    let all = lines.next().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], ours.id);
    assert_eq!(lines.next().unwrap(), [seed_id, ours.id], "the seed parses our updatedAt");
}

#[test]
fn the_seeds_lock_holds_us_off_and_we_name_the_lock_file() {
    let home = tempfile::tempdir().unwrap();
    let Some(mut cmd) = seed(
        home.path(),
        "import sys\nb.add_task('seed')\nwith b._file_lock():\n    print('held', flush=True)\n    sys.stdin.read()",
    ) else {
        return;
    };
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "held\n");

    let mut file = board_of(home.path());
    file.state.lock_timeout = Duration::from_millis(200);
    let before = std::fs::read(file.path()).unwrap();
    let err = file.add(&NewTask::new("blocked")).unwrap_err();
    assert!(matches!(err, BoardError::State(StateError::LockTimeout { .. })), "{err}");
    assert!(err.to_string().contains(&state(home.path()).join("board.lock").display().to_string()), "{err}");
    assert_eq!(std::fs::read(file.path()).unwrap(), before, "nothing written");

    child.stdin.take().unwrap().write_all(b"").unwrap(); // closing stdin releases the Python kit's lock
    assert!(child.wait().unwrap().success());
    file.add(&NewTask::new("after")).unwrap();
    let titles: Vec<Value> =
        file.read().unwrap().board.tasks.iter().map(|t| Value::from(t.title.clone())).collect();
    assert_eq!(titles, ["seed", "after"]);
}
