//! Embedding ops-cli: the shape of every agent-ops binary. `ops_cli::main` first answers the
//! hidden `--generate-docs DIR` (man page and completions from the clap definition below), then
//! parses the arguments and runs `run`, whose `Failure` becomes `error: ...` and its exit code;
//! printing goes through `ops_cli::finish`, which never panics on a closed pipe or a full disk.
//!
//! `cargo run -p ops-cli --example hello -- [--name NAME]`, or `-- --generate-docs DIR`
use std::process::ExitCode;

use clap::Parser;
use ops_cli::{Failure, exit};

/// Greet someone.
#[derive(Parser)]
#[command(name = "hello", version)]
struct Args {
    /// Who to greet.
    #[arg(long, default_value = "world")]
    name: String,
}

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let Args { name } = args;
    if name.trim().is_empty() {
        return Err(Failure::usage("--name must not be blank"));
    }
    Ok(ops_cli::finish(&format!("hello, {name}\n"), "", exit::OK))
}
