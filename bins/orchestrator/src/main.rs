//! `orchestrator`: one pass that checks, recovers, verifies and alerts (cron, a systemd timer,
//! launchd), or `--loop` to run passes forever as a daemon. Exit 0 all healthy, 1 failures
//! remain, 2 usage or configuration error.

mod render;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ops_cli::{Failure, exit};
use ops_kit::daemon::{Event, run_loop};
use ops_kit::maintenance::{self, Quiet};
use ops_kit::pass::{Mode, run_pass};
use ops_kit::{Config, health};
use ops_state::StateFile;
use ops_state::timestamp::unix_seconds;
use time::OffsetDateTime;

/// Check every service, restart what fell over, verify, record, and alert without storms.
///
/// With no command: one pass, for cron or a timer. Exit status: 0 all healthy, 1 failures
/// remain, 2 usage or configuration error. A pass started while another runs exits 0.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG, AGENT_OPS_LOG_DIR, AGENT_OPS_METRICS_DIR, TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, TELEGRAM_API_URL."
)]
struct Args {
    /// The services.json to read [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Run passes forever, one every check_interval_seconds; stop on SIGTERM or SIGINT.
    #[arg(long = "loop")]
    run_loop: bool,
    /// With --loop: serve the status page, JSON, badges and metrics on ADDR (IP:PORT, or a port
    /// alone for 127.0.0.1) [default: http.listen in services.json].
    #[arg(long, value_name = "ADDR", requires = "run_loop", value_parser = ops_kit::serve::parse_listen)]
    listen: Option<SocketAddr>,
    /// Restart nothing, send nothing, write nothing; print what would be done.
    #[arg(long)]
    dry_run: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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
}

fn duration(text: &str) -> Result<Duration, String> {
    maintenance::parse_duration(text).ok_or_else(|| {
        format!("{text:?} is not a duration like 90s, 15m, 2h, 1d or 1h30m (at most ten years)")
    })
}

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let started = ops_cli::start(args.config.as_deref())?;
    let config = started.config()?;
    let (layout, env) = (&started.layout, &started.env);
    let silences = StateFile::new(layout.silences());
    let now = unix_seconds(OffsetDateTime::now_utc());
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Real };
    Ok(match args.command {
        Some(Command::Silence { service, duration, reason }) => {
            health::select(&config, std::slice::from_ref(&service))?;
            let s =
                maintenance::silence(&silences, &service, duration, reason, now).map_err(Failure::failed)?;
            let quiet = Quiet::Silenced { until: s.until, reason: s.reason };
            ops_cli::finish(&render::silenced(&service, &quiet), "", exit::OK)
        }
        Some(Command::Silences) => {
            let active = maintenance::active_silences(&silences, now).map_err(Failure::failed)?;
            ops_cli::finish(&render::silences(&active, &config.orchestration.maintenance, now), "", exit::OK)
        }
        Some(Command::Unsilence { service }) => {
            if !maintenance::unsilence(&silences, &service, now).map_err(Failure::failed)? {
                let why = format!("{service:?} is not silenced (see `orchestrator silences`)");
                return Err(Failure::failed(why));
            }
            ops_cli::finish(&format!("{service}: silence lifted\n"), "", exit::OK)
        }
        None if args.run_loop => daemon(&started, config, mode, args.listen)?,
        None => render::pass(&run_pass(layout, env, &config, mode)).finish(),
    })
}

/// `--loop`: passes until SIGTERM or SIGINT, a line per pass.
fn daemon(
    started: &ops_cli::Started,
    config: Config,
    mode: Mode,
    listen: Option<SocketAddr>,
) -> Result<ExitCode, Failure> {
    let mut http = serve::Http::start(&started.layout, &config, listen)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::failed(format!("cannot handle signal {signal}: {e}")))?;
    }
    say(&format!(
        "orchestrator: a pass every {}s; stop with SIGTERM or Ctrl-C",
        config.check_interval.as_secs_f64()
    ));
    run_loop(&started.layout, &started.env, config, mode, &stop, |event, config| match event {
        Event::Pass(result) => {
            http.publish(&result, config);
            say(&render::summary(&result));
        }
        Event::BadConfig(e) => ops_cli::err(&format!("error: {e} (the last valid configuration is used)\n")),
        Event::Abandoned => say("stopping: the pass in progress is left to finish on its own"),
    });
    drop(http);
    say("orchestrator: stopped");
    Ok(ExitCode::SUCCESS)
}

/// A line on stdout; a daemon whose reader went away (a closed pipe) keeps running.
fn say(line: &str) {
    ops_cli::out(&format!("{line}\n"));
}
