//! `board`: the ops task board from the command line. Adds, moves, edits, lists and shows
//! tasks in `~/.agent-ops/state/board.json` under the seed's lock, finds stalled tasks and
//! recovers a corrupt board. Exit 0 done, 1 failed, 2 usage error (nothing changed).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::Args;
use ops_kit::board::{self, Options};
use ops_kit::{Env, Layout, exit};

fn main() -> ExitCode {
    if let Some(code) = ops_cli::docs_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    let env = Env::capture();
    let layout = match Layout::resolve(&env, args.command.config()) {
        Ok(layout) => layout,
        Err(e) => return ops_cli::finish("", &format!("error: {e}\n"), exit::USAGE),
    };
    let options = Options { json: args.json, recover: args.recover };
    let report = board::run(&layout, &env, &args.command.into_command(), options);
    let mut stderr = ops_cli::warning_lines(&report.warnings);
    if let Some(error) = &report.error {
        stderr = format!("{stderr}error: {error}\n");
    }
    ops_cli::finish(&report.stdout, &stderr, report.code)
}
