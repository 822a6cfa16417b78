//! Embedding ops-health: check that a TCP port answers, print the result in the Python kit's words
//! and exit 0 when it is open, 1 when it is not.
//!
//! `cargo run -p ops-health --example check_port -- HOST PORT [TIMEOUT_SECS]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use ops_health::{Check, PortCheck, Probe, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let timeout = args.get(2).map_or(Ok(3.0), |t| t.parse::<f64>());
    let (Some(host), Some(Ok(port)), Ok(timeout)) = (args.first(), args.get(1).map(|p| p.parse()), timeout)
    else {
        eprintln!("usage: check_port HOST PORT [TIMEOUT_SECS]");
        return ExitCode::from(2);
    };
    let Ok(timeout) = Duration::try_from_secs_f64(timeout) else {
        eprintln!("error: the timeout must be a number of seconds, 0 or more");
        return ExitCode::from(2);
    };
    let mut check = PortCheck::new(host.clone(), port);
    check.timeout = timeout;
    let result = run(&Probe::new(format!("{host}:{port}"), Check::Port(check)));
    println!("{result}");
    if result.outcome.is_up() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
