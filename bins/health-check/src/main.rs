//! `health-check`: runs every check in services.json concurrently, prints the Python kit's
//! report, appends one metrics line per check, and exits 0 (all passed), 1 (a check failed) or
//! 2 (usage or configuration error, nothing written).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ops_cli::{Failure, exit};
use ops_health::CheckResult;
use ops_kit::health;

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
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let Args { config, json, only, prometheus_textfile, no_metrics } = args;
    let started = ops_cli::start(config.as_deref())?;
    let config = started.config()?;
    let probes = health::select(&config, &only)?;

    if probes.is_empty() {
        // Nothing checked is not "all passed": a script gating on us must not go ahead.
        let why = format!("nothing to check: {} has no services and disk_paths is []", config.path.display());
        return Err(Failure::failed(why));
    }
    let results = health::run(&config, &probes);
    let mut code = if results.iter().all(|r| r.outcome.is_up()) { exit::OK } else { exit::FAILED };
    let written = if json {
        ops_cli::out_document(&format!("{:#}\n", health::json_report(&results)))
    } else {
        ops_cli::out(&text_report(&results))
    };
    if !written {
        code = exit::FAILED;
    }
    if !no_metrics && let Err(e) = health::record(&started.layout.metrics, &results) {
        ops_cli::err(&format!("error: {e}\n"));
        code = exit::FAILED;
    }
    if let Some(path) = &prometheus_textfile
        && let Err(e) = health::write_prometheus_textfile(path, &results)
    {
        ops_cli::err(&format!("error: {e}\n"));
        code = exit::FAILED;
    }
    Ok(ExitCode::from(code))
}

/// The Python kit's report: one line per result, a blank line, then `All N checks passed.` or
/// `K failure(s) detected.`
fn text_report(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for r in results {
        // One result, one line: a name or a server's words cannot break it or drive the terminal.
        let _ = writeln!(out, "{}", ops_state::printable(&r.to_string()));
    }
    let failures = results.iter().filter(|r| !r.outcome.is_up()).count();
    if failures == 0 {
        let _ = write!(out, "\nAll {} checks passed.\n", results.len());
    } else {
        let _ = write!(out, "\n{failures} failure(s) detected.\n");
    }
    out
}
