//! `health-check`: runs every check in services.json concurrently, prints the seed's report,
//! appends one metrics line per check, and exits 0 (all passed), 1 (a check failed) or 2
//! (usage or configuration error, nothing written).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ops_kit::{Config, Env, Layout, exit, health};

/// Check every service in services.json at once.
///
/// Prints one line per check ("[OK] Name - detail (12ms)" or "[FAIL] ..."), then a summary,
/// and appends the results to the metrics day file. Exit status: 0 all passed, 1 a check
/// failed, 2 usage or configuration error.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG, AGENT_OPS_METRICS_DIR."
)]
struct Args {
    /// The services.json to read [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print the results as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Run only the check with this name (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Also write Prometheus metrics to this file, atomically, for node_exporter's textfile collector.
    #[arg(long, value_name = "PATH")]
    prometheus_textfile: Option<PathBuf>,
    /// Do not append the results to the metrics files.
    #[arg(long)]
    no_metrics: bool,
}

fn main() -> ExitCode {
    if let Some(code) = ops_cli::docs_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    let env = Env::capture();
    let setup = Layout::resolve(&env, args.config.as_deref());
    let (layout, loaded) = match setup.and_then(|layout| Config::load(&layout, &env).map(|l| (layout, l))) {
        Ok(ok) => ok,
        Err(e) => return usage(&e),
    };
    for warning in &loaded.warnings {
        ops_cli::err(&format!("warning: {}: {warning}\n", layout.config.display()));
    }
    let config = loaded.config;
    let probes = match health::select(&config, &args.only) {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };

    let results = health::run(&config, &probes);
    let mut code = if results.iter().all(|r| r.outcome.is_up()) { exit::OK } else { exit::FAILED };
    let report = if args.json {
        format!("{:#}\n", health::json_report(&results))
    } else {
        health::text_report(&results)
    };
    if !ops_cli::out(&report) {
        code = exit::FAILED;
    }
    if !args.no_metrics
        && let Err(e) = health::record(&layout.metrics, &results)
    {
        ops_cli::err(&format!("error: {e}\n"));
        code = exit::FAILED;
    }
    if let Some(path) = &args.prometheus_textfile
        && let Err(e) = health::write_prometheus_textfile(path, &results)
    {
        ops_cli::err(&format!("error: {e}\n"));
        code = exit::FAILED;
    }
    ExitCode::from(code)
}

fn usage(e: &dyn std::fmt::Display) -> ExitCode {
    ops_cli::err(&format!("error: {e}\n"));
    ExitCode::from(exit::USAGE)
}
