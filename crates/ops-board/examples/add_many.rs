//! Embedding ops-board: add N tasks to a board, one locked, fsynced change each, and print
//! each new id as soon as its change is on disk.
//!
//! `cargo run --release -p ops-board --example add_many -- BOARD_JSON N [TITLE_PREFIX]`
//!
//! `cargo xtask bench-board` uses it as the in-process counterpart of a Python loop over the
//! the Python kit's `add_task`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::process::ExitCode;

use ops_board::{BoardFile, NewTask};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(Ok(n))) = (args.first(), args.get(1).map(|n| n.parse::<u32>())) else {
        eprintln!("usage: add_many BOARD_JSON N [TITLE_PREFIX]");
        return ExitCode::from(2);
    };
    let prefix = args.get(2).map_or("task", String::as_str);
    let board = match BoardFile::new(path) {
        Ok(board) => board,
        Err(e) => {
            eprintln!("add_many: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    for i in 0..n {
        match board.add(&NewTask::new(format!("{prefix} {i}"))) {
            Ok(task) => {
                let _ = writeln!(out, "{}", task.id);
                let _ = out.flush();
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
