//! `orchestrator`: one pass that checks, recovers, verifies and alerts (cron, a systemd timer,
//! launchd), or `--loop` to run passes forever as a daemon. Exit 0 all healthy, 1 failures
//! remain, 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use ops_kit::daemon::{Event, run_loop};
use ops_kit::pass::{PassOptions, run_pass};
use ops_kit::{Config, Env, Layout, Printed, exit, orchestrator};

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
        /// How long: 90s, 15m, 2h, 1d, 1h30m.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
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

fn main() -> ExitCode {
    if let Some(code) = ops_cli::docs_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    let env = Env::capture();
    let setup = Layout::resolve(&env, args.config.as_deref());
    let (layout, loaded) = match setup.and_then(|l| Config::load(&l, &env).map(|c| (l, c))) {
        Ok(ok) => ok,
        Err(e) => return ops_cli::finish("", &format!("error: {e}\n"), exit::USAGE),
    };
    for warning in &loaded.warnings {
        ops_cli::err(&format!("warning: {}: {warning}\n", layout.config.display()));
    }
    let config = loaded.config;
    let options = PassOptions { dry_run: args.dry_run };
    match args.command {
        Some(Command::Silence { service, duration, reason }) => {
            print(&orchestrator::silence(&layout, &config, &service, &duration, reason))
        }
        Some(Command::Silences) => print(&orchestrator::silences(&layout, &config)),
        Some(Command::Unsilence { service }) => print(&orchestrator::unsilence(&layout, &service)),
        None if args.run_loop => {
            let stop = Arc::new(AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
                    return ops_cli::finish(
                        "",
                        &format!("error: cannot handle signal {signal}: {e}\n"),
                        exit::FAILED,
                    );
                }
            }
            say(&format!(
                "orchestrator: a pass every {}s; stop with SIGTERM or Ctrl-C",
                config.check_interval_seconds
            ));
            run_loop(&layout, &env, config, options, &stop, |event| match event {
                Event::Pass(result) => say(&orchestrator::pass_summary(&result)),
                Event::BadConfig(e) => {
                    ops_cli::err(&format!("error: {e} (the last valid configuration is used)\n"));
                }
                Event::Abandoned => say("stopping: the pass in progress is left to finish on its own"),
            });
            say("orchestrator: stopped");
            ExitCode::SUCCESS
        }
        None => print(&orchestrator::pass_printed(&run_pass(&layout, &env, &config, options))),
    }
}

/// A line on stdout; a daemon whose reader went away (a closed pipe) keeps running.
fn say(line: &str) {
    ops_cli::out(&format!("{line}\n"));
}

fn print(p: &Printed) -> ExitCode {
    ops_cli::finish(&p.stdout, &p.stderr, p.code)
}
