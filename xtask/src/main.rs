//! `cargo xtask`: project automation that needs more than cargo: benchmarks against the Python kit
//! scripts, service installation, generated units, man pages and completions. Run
//! `cargo xtask` for the list of tasks.
//!
//! Few dependencies on purpose: std, and the tools the tasks call (cargo, hyperfine, python3).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod bench_alert;
mod bench_board;
mod bench_health;
mod bench_job;
mod bench_mcp;
mod bench_metrics;
mod bench_orchestrator;
mod bench_serve;
mod bins;
mod dist;
mod docgen;
mod fuzz;
mod install;
mod soak;
mod units;

use std::fmt::Write as _;
use std::process::ExitCode;

/// A task's entry point: its arguments in, an error message out.
type Task = fn(&[String]) -> Result<(), String>;

/// Every task: name, one-line help, entry point.
const TASKS: &[(&str, &str, Task)] = &[
    (
        "bench-health",
        "health-check vs the seed's agent_ops_health.py: [a] [b] [c] [d] scenarios, [e] 100 Nagios plugins (default all) [--quick]",
        bench_health::run,
    ),
    (
        "bench-alert",
        "one `alert send` vs the seed's agent_ops_alert.py, to a loopback Bot API [--quick]",
        bench_alert::run,
    ),
    (
        "gen-metrics",
        "metrics day files: --out DIR [--days 90] [--services 100] [--per-day 288]",
        bench_metrics::gen_metrics,
    ),
    (
        "bench-metrics",
        "uptime-report vs the seed's uptime_report on 90 days x 100 services x 288 checks [--quick]; --year: --days 365 from rollups [--seed-days 30]",
        bench_metrics::run,
    ),
    (
        "bench-board",
        "board vs the seed's agent_ops_board.py (1,000 adds, 1 add on 10,000 tasks, 4 x 250 at once) [--quick]",
        bench_board::run,
    ),
    (
        "bench-orchestrator",
        "one pass over 50 services (10 down) vs the seed's orchestrator script; RSS over 1,000 --loop passes [--soak-passes N] [--quick]",
        bench_orchestrator::run,
    ),
    (
        "bench-serve",
        "orchestrator --loop --listen over 100 services: RSS, 1,000 GET / from 50 clients, /healthz past 500 slow clients [--quick] [--days 90] [--passes 60] [--glibc-arenas]",
        bench_serve::run,
    ),
    (
        "bench-job",
        "what `job run` adds to a command's wall time (true, a 10 ms sleep), median, goal <= 2 ms [--quick]",
        bench_job::run,
    ),
    (
        "bench-mcp",
        "agent-ops-mcp: the latency of a status call over 100 services, and tools/list's size per tool [--quick]",
        bench_mcp::run,
    ),
    (
        "install-service",
        "build, install and enable the orchestrator under systemd or launchd (--help)",
        install::install,
    ),
    (
        "uninstall-service",
        "stop and remove the service and the binaries; keep the data (--help)",
        install::uninstall,
    ),
    (
        "soak",
        "orchestrator --loop over 20 services with Bot API faults: [--passes 1000] [--seed S] [--fault-share 0.3]",
        soak::run,
    ),
    ("dist", "regenerate dist/: the units and plists for the documented options [--check]", dist::run),
    ("man", "man pages for every binary [--out DIR] (default target/man)", docgen::man),
    ("completions", "bash, zsh and fish completions for every binary [--out DIR]", docgen::completions),
    (
        "fuzz",
        "run every fuzz target (or those named) under libFuzzer [--seconds N per target, default 60]",
        fuzz::run,
    ),
];

fn usage() -> String {
    let mut out = String::from("usage: cargo xtask <task> [args]\n\ntasks:\n");
    for (name, help, _) in TASKS {
        let _ = writeln!(out, "  {name:<20} {help}");
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    };
    if matches!(task.as_str(), "help" | "--help" | "-h") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let Some((_, _, run)) = TASKS.iter().find(|(name, _, _)| name == task) else {
        eprintln!("error: unknown task {task:?}\n\n{}", usage());
        return ExitCode::from(2);
    };
    match run(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
