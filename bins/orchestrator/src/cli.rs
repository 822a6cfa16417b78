//! The orchestrator's command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ops_kit::maintenance;

/// Check every service, restart what fell over, verify, record, and alert without storms.
///
/// With no command: one pass, for cron or a timer. Exit status: 0 all healthy, 1 failures
/// remain, 2 usage or configuration error. A pass started while another runs exits 0.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG, AGENT_OPS_LOG_DIR, AGENT_OPS_METRICS_DIR, TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, TELEGRAM_API_URL."
)]
pub struct Args {
    /// The services.json to read [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run passes forever, each when a check is due (every check_interval_seconds, or a service's interval_seconds); stop on SIGTERM or SIGINT.
    #[arg(long = "loop")]
    pub run_loop: bool,
    /// With --loop: serve the status page, JSON, badges and metrics on ADDR (IP:PORT, or a port
    /// alone for 127.0.0.1) [default: http.listen in services.json].
    #[arg(long, value_name = "ADDR", requires = "run_loop", value_parser = ops_kit::serve::parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Restart nothing, send nothing, write nothing; print what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the pass (or `status`) as JSON: each service's state (up, down, blocked ...), restarts and skipped restarts, alerts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check SERVICE but neither restart nor alert it for a while.
    Silence {
        /// The service (or built-in check) name.
        service: String,
        /// How long: 90s, 15m, 2h, 1d, 1w, 1h30m (at most ten years).
        #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
        duration: Duration,
        /// Why, for the log and `orchestrator silences`.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the silences in force and the maintenance windows.
    Silences,
    /// Lift the silence on SERVICE.
    Unsilence {
        /// The service name.
        service: String,
    },
    /// Acknowledge SERVICE's current outage (or its warning, with alert_on_warning): no more reminders or escalations for it (its end is still said).
    Ack {
        /// The service name.
        service: String,
        /// What you are doing about it, shown by `orchestrator status`.
        #[arg(long)]
        note: Option<String>,
    },
    /// Every service's state, since when, restarts used and cooldown left, silences, acknowledgements, next check.
    Status,
}

fn duration(text: &str) -> Result<Duration, String> {
    maintenance::parse_duration(text).ok_or_else(|| {
        format!("{text:?} is not a duration like 90s, 15m, 2h, 1d or 1h30m (at most ten years)")
    })
}
