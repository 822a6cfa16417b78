//! Running a command of your own the way agent-ops runs a check plugin: its own process group,
//! 64 KiB of each stream kept, the whole group stopped at the deadline.
//!
//! `cargo run -p ops-proc --example run -- TIMEOUT_SECONDS COMMAND [ARG...]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use ops_proc::{Output, Program, Spec, run};

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let Some((timeout, argv)) = words.split_first().filter(|(_, rest)| !rest.is_empty()) else {
        eprintln!("usage: run TIMEOUT_SECONDS COMMAND [ARG...]");
        return ExitCode::from(2);
    };
    let Some(timeout) = timeout.parse().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) else {
        eprintln!("error: the timeout must be a number of seconds, got {timeout:?}");
        return ExitCode::from(2);
    };
    let mut spec = Spec::new(Program::Argv(argv.to_vec()), Output::Capture { limit: 64 * 1024 });
    spec.timeout = timeout;
    spec.kill_grace = Duration::from_secs(1);
    match run(&spec) {
        Ok(done) => {
            println!("{:?} after {:?} (pid {})", done.end, done.duration, done.pid);
            for (name, out) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
                println!("--- {name} ({} bytes kept, {} dropped)", out.bytes.len(), out.dropped);
                print!("{}", String::from_utf8_lossy(&out.bytes));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
