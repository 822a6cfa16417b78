//! Embedding ops-cli: the shape of every agent-ops binary. `main` first answers the hidden
//! `--generate-docs DIR` (man page and completions from the clap definition below), then
//! parses its arguments and prints through `ops_cli::finish`, which never panics on a closed
//! pipe or a full disk.
//!
//! `cargo run -p ops-cli --example hello -- [--name NAME]`, or `-- --generate-docs DIR`
use std::process::ExitCode;

use clap::Parser;

/// Greet someone.
#[derive(Parser)]
#[command(name = "hello", version)]
struct Args {
    /// Who to greet.
    #[arg(long, default_value = "world")]
    name: String,
}

fn main() -> ExitCode {
    if let Some(code) = ops_cli::docs_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    ops_cli::finish(&format!("hello, {}\n", args.name), "", 0)
}
