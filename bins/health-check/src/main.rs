//! `health-check`: runs every check in services.json concurrently, prints the seed's report,
//! appends one metrics line per check, and exits 0 (all passed), 1 (a check failed) or 2
//! (usage or configuration error, nothing written).
#![allow(clippy::print_stdout, clippy::print_stderr)]

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
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    for warning in &loaded.warnings {
        eprintln!("warning: {}: {warning}", layout.config.display());
    }
    let config = loaded.config;
    let probes = match health::select(&config, &args.only) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };

    let results = health::run(&config, &probes);
    let mut code = if results.iter().all(|r| r.ok) { exit::OK } else { exit::FAILED };
    if args.json {
        println!("{:#}", health::json_report(&results));
    } else {
        print!("{}", health::text_report(&results));
    }
    if !args.no_metrics
        && let Err(e) = health::record(&layout.metrics, &results)
    {
        eprintln!("error: {e}");
        code = exit::FAILED;
    }
    if let Some(path) = &args.prometheus_textfile
        && let Err(e) = health::write_prometheus_textfile(path, &results)
    {
        eprintln!("error: {e}");
        code = exit::FAILED;
    }
    ExitCode::from(code)
}
