//! `agent-ops-mcp`: a Model Context Protocol server over stdio, for agents that operate the
//! services agent-ops watches. It reads (status, checks, uptime, the board, logs) and makes the
//! changes services.json's `mcp.allow` lists; every answer is redacted of every secret, and
//! standard output carries protocol messages only. Exit 0 when standard input ends, 2 on a
//! usage error or an installation another user could change.

mod render;
mod resources;
mod schema;
mod server;
mod tools;
mod wire;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ops_cli::Failure;

/// Serve agent-ops to an MCP client over standard input and output.
///
/// An MCP client starts it (`{"command": "agent-ops-mcp"}`) and speaks JSON-RPC, one message a
/// line: protocol 2026-07-28 (every request carries its version), or 2025-11-25 and 2025-06-18
/// after `initialize`. Tools read status, run checks, report uptime, read the board and tail
/// logs; changes (board, silence, ack, alert, restart) are off until services.json's
/// mcp.allow lists them. Logs go to standard error. Exit status: 0 when the client closes
/// standard input, 1 when standard output fails, 2 usage error or an installation another user
/// could change.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG, AGENT_OPS_LOG_DIR, AGENT_OPS_METRICS_DIR, TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, TELEGRAM_API_URL."
)]
struct Args {
    /// The services.json to read [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let Args { config } = args;
    let started = ops_cli::start(config.as_deref())?;
    // A configuration that cannot be read is said on every call, not here: the client gets a
    // server that tells the agent what is wrong rather than one that died at start.
    match ops_kit::Config::load(&started.layout, &started.env) {
        Ok(loaded) => ops_cli::err(&loaded.warning_lines()),
        Err(e) => ops_cli::err(&format!("warning: {e}\n")),
    }
    let mut server = server::Server::new(started.layout, started.env);
    match server.serve(io::stdin().lock(), io::stdout().lock()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::failed(format!("cannot write to standard output: {e}"))),
    }
}
