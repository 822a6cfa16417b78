//! `cargo xtask`: project automation that needs more than cargo (benchmarks against the seed
//! scripts, and later service installation). Run `cargo xtask` for the list of tasks.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

const TASKS: &str = "\
usage: cargo xtask <task>

tasks:
  help            this list
";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("help" | "--help" | "-h") => {
            print!("{TASKS}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("error: unknown task {other:?}\n\n{TASKS}");
            ExitCode::from(2)
        }
    }
}
