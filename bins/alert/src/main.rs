//! `alert`: sends an alert to Telegram (and any configured webhooks) with per-topic rate
//! limiting and a durable outbox, as the Python kit's `agent_ops_alert.py send` does, without
//! ever losing the alert or printing the token. Exit 0 sent or rate limited, 1 not delivered,
//! 2 usage or configuration error.

mod render;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use ops_alert::{Alert, Level};
use ops_cli::Failure;

/// The most `alert send -` reads from standard input: 64 KiB, sixteen Telegram messages.
/// Longer input is cut, and the alert says so.
const STDIN_LIMIT: u64 = 64 * 1024;

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
    /// Send MESSAGE; `-` reads it from standard input (at most 64 KiB; `uptime-report | alert send - --topic daily`).
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
    /// Deliver the alerts waiting in the outbox, in order, folded per destination (--dry-run: show the messages).
    Flush,
    /// Send a test alert to every destination now (no rate limit, no outbox).
    Test,
}

fn level_parser() -> impl TypedValueParser<Value = Level> {
    PossibleValuesParser::new(Level::ALL.map(Level::as_str)).map(|s| s.parse().unwrap_or_default())
}

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let started = ops_cli::start(args.config.as_deref())?;
    let loaded = ops_kit::alert::load(&started.layout, &started.env)?;
    ops_cli::err(&loaded.warning_lines());
    let alerter = ops_kit::alert::alerter(&loaded.config, &started.layout)?;
    let printed = match args.command {
        Command::Send { message, level, topic } => {
            let message = message_arg(message, std::io::stdin().lock())
                .map_err(|e| Failure::usage(format!("cannot read the message from standard input: {e}")))?;
            let alert = Alert { level, topic, message };
            if args.dry_run { render::dry_run_send(&alerter, &alert) } else { render::send(&alerter, &alert) }
        }
        Command::Flush if args.dry_run => render::dry_run_flush(&alerter),
        Command::Flush => render::flush(&alerter),
        Command::Test if args.dry_run => render::dry_run_test(&alerter, &test_alert()),
        Command::Test => render::test(&alerter, &test_alert()),
    };
    Ok(printed.finish())
}

/// The MESSAGE argument of `alert send`: itself, or for `-` standard input, at most
/// [`STDIN_LIMIT`] bytes of it (invalid UTF-8 replaced, trailing newlines removed, and a last
/// line saying that it was cut when it was).
fn message_arg(arg: String, stdin: impl Read) -> std::io::Result<String> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut bytes = Vec::new();
    stdin.take(STDIN_LIMIT + 1).read_to_end(&mut bytes)?;
    let cut = bytes.len() as u64 > STDIN_LIMIT;
    bytes.truncate(STDIN_LIMIT as usize);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        // A character cut in half is one replacement character; drop it.
        text.truncate(text.trim_end_matches('\u{fffd}').len());
        text.push_str("\n[cut: standard input was longer than 64 KiB]");
    }
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// The message `alert test` sends.
fn test_alert() -> Alert {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty());
    let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
    Alert {
        level: Level::Info,
        topic: None,
        message: format!("Test alert from agent-ops{on}: if you can read this, alerts reach you."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_input_is_read_up_to_the_limit_and_said_to_be_cut() {
        assert_eq!(message_arg("hello".into(), &b"ignored"[..]).unwrap(), "hello");
        assert_eq!(message_arg("-".into(), &b"line one\nline two\n\n"[..]).unwrap(), "line one\nline two");
        assert_eq!(message_arg("-".into(), &b"bad \xff byte"[..]).unwrap(), "bad \u{fffd} byte");
        let limit = usize::try_from(STDIN_LIMIT).unwrap();
        let exact = "a".repeat(limit);
        assert_eq!(message_arg("-".into(), exact.as_bytes()).unwrap(), exact, "exactly the limit is not cut");
        let long = "é".repeat(limit); // two bytes each: the limit falls in the middle of one
        let text = message_arg("-".into(), long.as_bytes()).unwrap();
        assert!(
            text.ends_with("\n[cut: standard input was longer than 64 KiB]"),
            "{}",
            &text[text.len() - 80..]
        );
        assert!(!text.contains('\u{fffd}'), "no half character");
        assert!(text.len() <= limit + 60);
    }
}
