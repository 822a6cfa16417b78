//! `cargo xtask`: project automation that needs more than cargo: benchmarks against the seed
//! scripts (and, later, service installation). Run `cargo xtask` for the list of tasks.
//!
//! Few dependencies on purpose: std, and the tools the tasks call (cargo, hyperfine, python3).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod bench_board;
mod bench_health;

use std::fmt::Write as _;
use std::process::ExitCode;

/// A task's entry point: its arguments in, an error message out.
type Task = fn(&[String]) -> Result<(), String>;

/// Every task: name, one-line help, entry point.
const TASKS: &[(&str, &str, Task)] = &[
    (
        "bench-health",
        "health-check vs the seed's agent_ops_health.py (50 ports+hanging URLs, 50 healthy, 500 with 100 hanging) [--quick]",
        bench_health::run,
    ),
    (
        "bench-board",
        "board vs the seed's agent_ops_board.py (1,000 adds, 1 add on 10,000 tasks, 4 x 250 at once) [--quick]",
        bench_board::run,
    ),
];

fn usage() -> String {
    let mut out = String::from("usage: cargo xtask <task> [args]\n\ntasks:\n");
    for (name, help, _) in TASKS {
        let _ = writeln!(out, "  {name:<16} {help}");
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    };
    if matches!(task.as_str(), "help" | "--help" | "-h") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let Some((_, _, run)) = TASKS.iter().find(|(name, _, _)| name == task) else {
        eprintln!("error: unknown task {task:?}\n\n{}", usage());
        return ExitCode::from(2);
    };
    match run(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
