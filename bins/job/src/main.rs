//! `job`: watch cron jobs and agent runs. `job run NAME -- COMMAND` runs a command as a run of a
//! job (start, end, exit status, duration and last lines of output recorded in
//! `state/jobs/NAME.json`, output passed on and logged, signals passed on, its exit status passed
//! on); `job ping` records what a script reports; `job list` and `job status` show the runs and
//! the verdict of the `job` service that watches them. The recording and the verdict are
//! ops-jobs'; the services and the layout ops-kit's.

mod cli;
mod render;

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use cli::{Args, Cmd, PingArgs, RunArgs};
use ops_cli::{Failure, Started, exit};
use ops_jobs::jiff::Timestamp;
use ops_jobs::{JobName, Jobs, Ping, PingResult, Wrap};

/// The signals `job run` passes on to the command's process group.
const RELAYED: [i32; 6] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGUSR1,
    signal_hook::consts::SIGUSR2,
];

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let started = ops_cli::start(args.config.as_deref())?;
    let jobs = Jobs::new(started.layout.jobs());
    match args.command {
        Cmd::Run(r) => wrap(&started, &jobs, r),
        Cmd::Ping(p) => ping(&started, &jobs, &p, args.json),
        Cmd::List => {
            let printed = render::list(&started, &jobs, args.json)?;
            Ok(printed.finish())
        }
        Cmd::Status { name } => {
            let printed = render::status(&started, &jobs, &job_name(&name)?, args.json)?;
            Ok(printed.finish())
        }
    }
}

fn job_name(text: &str) -> Result<JobName, Failure> {
    JobName::new(text).map_err(Failure::usage)
}

fn wrap(started: &Started, jobs: &Jobs, r: RunArgs) -> Result<ExitCode, Failure> {
    let name = job_name(&r.name)?;
    let relay = RELAYED
        .iter()
        .map(|&signal| {
            let flag = Arc::new(AtomicBool::new(false));
            // A signal that cannot be caught is simply not passed on (it keeps its default).
            let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
            (signal, flag)
        })
        .collect();
    let own = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().ok().map(File::from);
    let wrapped = jobs.wrap(
        &name,
        Wrap {
            argv: r.command,
            timeout: r.timeout,
            kill_grace: r.kill_grace,
            relay,
            out: own(io::stdout().as_fd()),
            err: own(io::stderr().as_fd()),
            log: Some(started.layout.job_log(&name)),
        },
    );
    let mut problems = wrapped.problems;
    if let Some(record) = ops_kit::jobs::metric_record(&name, &wrapped.run)
        && let Err(e) = ops_metrics::append(&started.layout.metrics, &[record])
    {
        problems.push(format!("cannot write the metrics line of job {name}: {e}"));
    }
    let mut stderr = ops_cli::warning_lines(&problems);
    if matches!(wrapped.exit, ops_jobs::EXIT_CANNOT_RUN | ops_jobs::EXIT_NOT_FOUND)
        && let Some(note) = &wrapped.run.note
    {
        let _ = writeln!(stderr, "error: job {name}: {note}");
    }
    ops_cli::err(&stderr);
    Ok(ExitCode::from(wrapped.exit))
}

fn ping(started: &Started, jobs: &Jobs, p: &PingArgs, json: bool) -> Result<ExitCode, Failure> {
    let name = job_name(&p.name)?;
    let event = match (p.start, p.fail, p.exit) {
        (true, _, _) => Ping::Start,
        (_, true, _) => Ping::End(PingResult::Fail),
        (_, _, Some(code)) => Ping::End(PingResult::Exit(code)),
        _ => Ping::End(PingResult::Ok),
    };
    let run = jobs.ping(&name, event, p.message.as_deref(), Timestamp::now()).map_err(Failure::failed)?;
    let mut warnings = Vec::new();
    if let Some(record) = ops_kit::jobs::metric_record(&name, &run)
        && let Err(e) = ops_metrics::append(&started.layout.metrics, &[record])
    {
        warnings.push(format!("cannot write the metrics line of job {name}: {e}"));
    }
    let warnings = ops_cli::warning_lines(&warnings);
    Ok(if json {
        ops_cli::finish_document(&render::run_json(&run).to_string(), &warnings, exit::OK)
    } else {
        ops_cli::finish(&render::pinged(&name, &run), &warnings, exit::OK)
    })
}
