//! `orchestrator`: one pass that checks, recovers, verifies and alerts (cron, a systemd timer,
//! launchd), or `--loop` to run passes forever as a daemon. Exit 0 all healthy, 1 failures
//! remain, 2 usage or configuration error.

mod cli;
mod render;
mod serve;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use cli::{Args, Command};
use ops_cli::{Failure, exit};
use ops_kit::daemon::{Event, run_loop};
use ops_kit::maintenance::{self, Quiet};
use ops_kit::pass::{Mode, run_pass};
use ops_kit::{Config, ack, health, status};
use ops_state::StateFile;
use ops_state::timestamp::unix_seconds;
use time::OffsetDateTime;

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
        Some(Command::Ack { service, note }) => {
            health::select(&config, std::slice::from_ref(&service))?;
            let (acks, outages) = (StateFile::new(layout.acks()), StateFile::new(layout.outages()));
            let Some(given) = ack::acknowledge(&acks, &outages, &service, note, env.user.clone(), now)
                .map_err(Failure::failed)?
            else {
                let why = format!("{service:?} has no outage to acknowledge (see `orchestrator status`)");
                return Err(Failure::failed(why));
            };
            ops_cli::finish(&render::acked(&service, &given), "", exit::OK)
        }
        Some(Command::Status) => {
            let (services, warnings) = status::status(layout, &config, now);
            let warnings = ops_cli::warning_lines(&warnings);
            if args.json {
                ops_cli::finish_document(&render::status_json(&services), &warnings, exit::OK)
            } else {
                ops_cli::finish(&render::status(&services, now), &warnings, exit::OK)
            }
        }
        None if args.run_loop => daemon(&started, config, mode, args.listen)?,
        None if args.json => {
            let printed = render::pass_json(&run_pass(layout, env, &config, mode));
            ops_cli::finish_document(&printed.stdout, &printed.stderr, printed.code)
        }
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
        "orchestrator: a pass every {}s (or as services' intervals say); stop with SIGTERM or Ctrl-C",
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
