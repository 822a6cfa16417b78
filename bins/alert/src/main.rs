//! `alert`: sends an alert to Telegram (and any configured webhooks) with per-topic rate
//! limiting and a durable outbox, as the seed's `agent_ops_alert.py send` does, without ever
//! losing the alert or printing the token. Exit 0 sent or rate limited, 1 not delivered,
//! 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use ops_alert::{Alert, Level};
use ops_kit::{Env, Layout, alert, exit};

/// Send alerts to Telegram and webhooks, rate limited per topic, never lost.
///
/// An alert that cannot be delivered waits in state/alert-outbox.jsonl and is delivered, in
/// order, by the next `alert` or orchestrator run, or by `alert flush`. Exit status: 0 sent or
/// rate limited, 1 not delivered (the reason is printed), 2 usage or configuration error.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG, TELEGRAM_BOT_TOKEN, \
                  TELEGRAM_CHAT_ID, TELEGRAM_API_URL."
)]
struct Args {
    /// The services.json to read [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print what would be sent (token redacted); send nothing, write nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send MESSAGE; `-` reads it from standard input (`uptime-report | alert send - --topic daily`).
    Send {
        /// The text, as written: it is escaped for Telegram.
        message: String,
        /// The prefix: [INFO], [WARNING], [ERROR] or [RECOVERED].
        #[arg(long, default_value = "info", value_parser = level_parser())]
        level: Level,
        /// Alerts of one topic are sent at most once per alerting.rate_limit_seconds (default 300).
        #[arg(long)]
        topic: Option<String>,
    },
    /// Deliver the alerts waiting in the outbox, in order.
    Flush,
    /// Send a test alert to every destination now (no rate limit, no outbox).
    Test,
}

fn level_parser() -> impl TypedValueParser<Value = Level> {
    PossibleValuesParser::new(Level::ALL.map(Level::name)).map(|s| s.parse().unwrap_or_default())
}

fn main() -> ExitCode {
    if let Some(code) = ops_cli::docs_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    let env = Env::capture();
    let setup = Layout::resolve(&env, args.config.as_deref())
        .and_then(|layout| alert::load(&layout, &env).map(|loaded| (layout, loaded)));
    let (layout, loaded) = match setup {
        Ok(ok) => ok,
        Err(e) => return usage_error(&e),
    };
    for warning in &loaded.warnings {
        ops_cli::err(&format!("warning: {}: {warning}\n", layout.config.display()));
    }
    let alerter = match alert::alerter(&loaded.config, &layout) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    let printed = match args.command {
        Command::Send { message, level, topic } => {
            let message = match alert::message_arg(message, std::io::stdin()) {
                Ok(m) => m,
                Err(e) => return usage_error(&format!("cannot read the message from standard input: {e}")),
            };
            let alert = Alert { level, topic, message };
            if args.dry_run {
                alert::dry_run_send(&alerter, &alert, true)
            } else {
                alert::send(&alerter, &alert)
            }
        }
        Command::Flush if args.dry_run => alert::dry_run_flush(&alerter),
        Command::Flush => alert::flush(&alerter),
        Command::Test if args.dry_run => alert::dry_run_send(&alerter, &alert::test_alert(), false),
        Command::Test => alert::test(&alerter),
    };
    ops_cli::finish(&printed.stdout, &printed.stderr, printed.code)
}

fn usage_error(e: &dyn std::fmt::Display) -> ExitCode {
    ops_cli::finish("", &format!("error: {e}\n"), exit::USAGE)
}
