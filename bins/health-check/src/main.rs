//! `health-check`: runs every check in services.json concurrently, prints the Python kit's
//! report, appends one metrics line per check, and exits 0 (all passed, warnings too), 1 (a
//! check failed, or warned under `--fail-on-warning`) or 2 (usage or configuration error,
//! nothing written).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ops_cli::{Failure, exit};
use ops_health::CheckResult;
use ops_kit::health;

/// Check every service in services.json at once.
///
/// Prints one line per check ("[OK] Name - detail (12ms)", "[WARN] ..." or "[FAIL] ..."), then
/// a summary, and appends the results to the metrics day file. Exit status: 0 all passed (with
/// or without warnings), 1 a check failed (or warned, with --fail-on-warning), 2 usage or
/// configuration error.
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
    /// Exit 1 when a check passed with a warning, as when one failed.
    #[arg(long)]
    fail_on_warning: bool,
}

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let Args { config, json, only, prometheus_textfile, no_metrics, fail_on_warning } = args;
    let started = ops_cli::start(config.as_deref())?;
    let config = started.config()?;
    let probes = health::select(&config, &only)?;

    if probes.is_empty() {
        // Nothing checked is not "all passed": a script gating on us must not go ahead.
        let why = format!("nothing to check: {} has no services and disk_paths is []", config.path.display());
        return Err(Failure::failed(why));
    }
    let results = health::run(&config, &probes);
    let warned = |r: &CheckResult| fail_on_warning && r.outcome.is_warning();
    let passed = results.iter().all(|r| r.outcome.is_up() && !warned(r));
    let mut code = if passed { exit::OK } else { exit::FAILED };
    for r in &results {
        for problem in &r.perfdata_problems {
            let line = format!("warning: {}: performance data ignored: {problem}", r.name);
            ops_cli::err(&format!("{}\n", ops_state::printable(&line)));
        }
    }
    let blocked = health::blocked(&config, &results);
    let written = if json {
        ops_cli::out_document(&format!("{:#}\n", health::json_report(&results, &blocked)))
    } else {
        ops_cli::out(&text_report(&results, &blocked))
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
/// `K failure(s) detected.`, with `, W warning(s)` before the period when some checks warned.
/// A failure behind a failing dependency says so first: `[FAIL] API - blocked by Database; HTTP
/// 503 (12ms)`.
fn text_report(results: &[CheckResult], blocked: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (r, by) in results.iter().zip(blocked.iter().chain(std::iter::repeat(&Vec::new()))) {
        let line = if by.is_empty() {
            r.to_string()
        } else {
            let mut shown = r.clone();
            shown.detail = format!("blocked by {}; {}", by.join(", "), r.detail);
            shown.to_string()
        };
        // One result, one line: a name or a server's words cannot break it or drive the terminal.
        let _ = writeln!(out, "{}", ops_state::printable(&line));
    }
    let failures = results.iter().filter(|r| !r.outcome.is_up()).count();
    let warnings = match results.iter().filter(|r| r.outcome.is_warning()).count() {
        0 => String::new(),
        n => format!(", {n} warning(s)"),
    };
    if failures == 0 {
        let _ = write!(out, "\nAll {} checks passed{warnings}.\n", results.len());
    } else {
        let _ = write!(out, "\n{failures} failure(s) detected{warnings}.\n");
    }
    out
}
