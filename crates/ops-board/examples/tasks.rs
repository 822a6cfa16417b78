//! Embedding ops-board: add a task per TITLE to a board in a temporary directory, start the
//! first one, and list the board column by column.
//!
//! `cargo run -p ops-board --example tasks -- TITLE...`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::process::ExitCode;

use ops_board::{BoardError, BoardFile, Filter, NewTask};

fn main() -> ExitCode {
    let titles: Vec<String> = std::env::args().skip(1).collect();
    if titles.is_empty() {
        eprintln!("usage: tasks TITLE...");
        return ExitCode::from(2);
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    match BoardFile::new(dir.path().join("board.json")).and_then(|board| fill_and_list(&board, &titles)) {
        Ok(listing) => {
            print!("{listing}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fill_and_list(board: &BoardFile, titles: &[String]) -> Result<String, BoardError> {
    let mut ids = Vec::new();
    for title in titles {
        ids.push(board.add(&NewTask::new(title.as_str()))?.id);
    }
    board.move_task(&ids[0], "in-progress")?;
    let snapshot = board.read()?;
    let mut out = String::new();
    for column in &snapshot.board.columns {
        let tasks = snapshot.board.list(&Filter { column: Some(column.clone()), ..Filter::default() })?;
        let _ = writeln!(out, "{column}:");
        for task in tasks {
            let _ = writeln!(out, "  {} {}", task.id, task.title);
        }
    }
    Ok(out)
}
