//! `cargo xtask bench-board`: the task board against the Python kit's `agent_ops_board.py`, in the
//! same hyperfine invocations, on the same sandboxed board.
//!
//! Each scenario has the Python kit's way (a Python process calling `add_task`) next to ours twice:
//! the `board` binary, one process per add, and the `add_many` example of ops-board, one
//! process calling the library in a loop as a Python program calls the Python kit's module. Every
//! one of our changes is fsynced (file and directory); the Python kit's are not.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::bench::{self, Failures, hyperfine_prepared};

/// A board of `n` tasks in the Python kit's exact layout (`json.dump(board, f, indent=2)`).
fn seed_board(n: u32) -> String {
    let mut out = String::from(
        "{\n  \"columns\": [\n    \"open\",\n    \"in-progress\",\n    \"in-review\",\n    \"done\"\n  ],\n  \"tasks\": [",
    );
    for i in 0..n {
        let id = i.wrapping_mul(2_654_435_761); // distinct for distinct i
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            out,
            "{sep}\n    {{\n      \"id\": \"task-{id:08x}\",\n      \"title\": \"Generated task {i}\",\n      \
             \"column\": \"open\",\n      \"owner\": \"ops-agent\",\n      \"priority\": \"medium\",\n      \
             \"description\": \"Made by cargo xtask bench-board\",\n      \"tags\": [\n        \"bench\"\n      ],\n      \
             \"createdAt\": \"2025-01-15T10:30:00.123456Z\",\n      \"updatedAt\": \"2025-01-15T10:30:00.123456Z\"\n    }}"
        );
    }
    out.push_str("\n  ]\n}");
    out
}

/// The Python kit's side: `python3 seed_adds.py N PREFIX` adds N tasks with `add_task` in one process.
fn seed_script(seed: &Path) -> String {
    format!(
        "import sys\nsys.path.insert(0, {seed:?})\nfrom agent_ops_board import add_task\n\
         n, prefix = int(sys.argv[1]), sys.argv[2]\nfor i in range(n):\n    add_task(f'{{prefix}} {{i}}')\n",
        seed = seed.display().to_string()
    )
}

/// How many tasks the board holds and whether their ids are unique.
fn count_tasks(board: &Path) -> Result<(usize, bool), String> {
    let text = std::fs::read_to_string(board).map_err(|e| format!("{}: {e}", board.display()))?;
    let ids: Vec<&str> = text.match_indices("\"id\": \"").map(|(i, _)| &text[i + 7..i + 20]).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    Ok((ids.len(), unique.len() == ids.len()))
}

/// Runs `command` once from a fresh board and checks that it left `expected` unique tasks.
fn verify(name: &str, command: &str, home: &Path, state: &Path, expected: usize) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(state);
    std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
    let status = Command::new("sh")
        .args(["-c", command])
        .env("HOME", home)
        .status()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let (count, unique) = count_tasks(&state.join("board.json"))?;
    if !status.success() || count != expected || !unique {
        return Err(format!(
            "{name}: {count} tasks (unique ids: {unique}), expected {expected}; exit {status}"
        ));
    }
    println!("checked: {name} left {count} tasks with unique ids");
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["board"])?;
    let add_many = bench::build_release_example("ops-board", "add_many")?;
    let home = bench::sandbox_home("board")?;
    let state = home.join(".agent-ops/state");
    let board_json = state.join("board.json");
    let script = home.join("seed_adds.py");
    std::fs::write(&script, seed_script(&seed)).map_err(|e| format!("{}: {e}", script.display()))?;
    let fixture = home.join("board-10000.json");
    std::fs::write(&fixture, seed_board(10_000)).map_err(|e| format!("{}: {e}", fixture.display()))?;

    let board = release.join("board");
    let (board, add_many, script, fixture) =
        (board.display(), add_many.display(), script.display(), fixture.display());
    let (state_d, board_d) = (state.display(), board_json.display());
    let reset = format!("rm -rf {state_d} && mkdir -p {state_d}");
    let env = [("HOME", home.as_path())];
    let runs = |full: u32| if quick { 1 } else { full };

    let sequential = [
        ("seed: add_task x 1000 in one python3", format!("python3 {script} 1000 task")),
        (
            "agent-ops: 1000 x `board add`",
            format!("for i in $(seq 1000); do {board} add \"task $i\" >/dev/null; done"),
        ),
        (
            "agent-ops: ops_board::add x 1000 in one process",
            format!("{add_many} {board_d} 1000 task >/dev/null"),
        ),
    ];
    hyperfine_prepared(
        "1,000 sequential adds on an empty board",
        runs(3),
        &env,
        &reset,
        Failures::Fail,
        &sequential,
    )?;

    let one = [
        ("seed: python3, add_task once", format!("python3 {script} 1 one")),
        ("agent-ops: board add", format!("{board} add one >/dev/null")),
        ("(python3 startup + import agent_ops_board, no add)", format!("python3 {script} 0 none")),
    ];
    let copy = format!("{reset} && cp {fixture} {board_d}");
    hyperfine_prepared("One add on a 10,000-task board", runs(10), &env, &copy, Failures::Fail, &one)?;

    let concurrent = [
        (
            "seed: 4 python3 x add_task x 250",
            format!("for w in 1 2 3 4; do python3 {script} 250 w$w & done; wait"),
        ),
        (
            "agent-ops: 4 writers x 250 `board add`",
            format!(
                "for w in 1 2 3 4; do (for i in $(seq 250); do {board} add \"w$w $i\" >/dev/null; done) & done; wait"
            ),
        ),
        (
            "agent-ops: 4 processes x ops_board::add x 250",
            format!("for w in 1 2 3 4; do {add_many} {board_d} 250 w$w >/dev/null & done; wait"),
        ),
    ];
    hyperfine_prepared(
        "4 processes x 250 concurrent adds",
        runs(3),
        &env,
        &reset,
        Failures::Fail,
        &concurrent,
    )?;
    println!();
    for (name, command) in &concurrent {
        verify(name, command, &home, &state, 1000)?;
    }
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_board_has_distinct_ids() {
        let dir = std::env::temp_dir().join(format!("bench-board-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("board.json");
        std::fs::write(&path, seed_board(10_000)).unwrap();
        assert_eq!(count_tasks(&path).unwrap(), (10_000, true));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
