//! `uptime-report`: uptime per service over the last days, from the metrics day files. With no
//! arguments it prints the seed's 7-day report byte for byte. Exit status: 0 ok, 1 a service
//! is below `--sla` (or `--service` has no metrics, or a file cannot be read), 2 usage or
//! configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::builder::PossibleValuesParser;
use ops_kit::uptime::{self, Format, Request, parse_date, parse_percent};
use ops_kit::{Env, Layout, exit};
use time::{Date, OffsetDateTime};

/// Uptime per service from ~/.agent-ops/metrics, as the seed's agent_ops_metrics.py reports it.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_METRICS_DIR, AGENT_OPS_CONFIG (for --cleanup)."
)]
struct Args {
    /// Days to report, today (UTC) included.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// Report only this service.
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// Add latency percentiles, incidents, time-based uptime, first/last seen (text format).
    #[arg(long)]
    detailed: bool,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = PossibleValuesParser::new(Format::NAMES))]
    format: String,
    /// List the services whose uptime is below PERCENT (as the weekly digest does); exit 1 if any.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    sla: Option<f64>,
    /// The window's last day, YYYY-MM-DD (UTC) [default: today].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    until: Option<Date>,
    /// Write the report to PATH atomically instead of printing it (a textfile for node_exporter,
    /// a status page for a web server).
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Instead of reporting, delete the day files older than the retention and say how many.
    #[arg(long, conflicts_with_all = ["days", "service", "detailed", "format", "sla", "until", "output"])]
    cleanup: bool,
    /// Days to keep with --cleanup [default: metrics_retention_days from services.json, or 90].
    #[arg(long, requires = "cleanup", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    retention_days: Option<u32>,
}

fn fail(e: &dyn std::fmt::Display, code: u8) -> ExitCode {
    ops_cli::finish("", &format!("error: {e}\n"), code)
}

fn main() -> ExitCode {
    if let Some(code) = ops_cli::docs_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    let env = Env::capture();
    let layout = match Layout::from_env(&env) {
        Ok(l) => l,
        Err(e) => return fail(&e, exit::USAGE),
    };
    let now = OffsetDateTime::now_utc();
    if args.cleanup {
        let keep = match args.retention_days.map_or_else(|| uptime::retention_days(&layout, &env), Ok) {
            Ok(days) => days,
            Err(e) => return fail(&e, exit::USAGE),
        };
        return match uptime::cleanup(&layout.metrics, now.date(), keep) {
            Ok(said) => ops_cli::finish(&format!("{said}\n"), "", exit::OK),
            Err(e) => fail(&e, exit::FAILED),
        };
    }
    let request = Request {
        days: args.days,
        until: args.until.unwrap_or(now.date()),
        service: args.service,
        detailed: args.detailed,
        format: Format::from_name(&args.format).unwrap_or_default(),
        sla: args.sla,
    };
    let rendered = match uptime::report(&layout.metrics, &request, now) {
        Ok(r) => r,
        Err(e) => return fail(&e, exit::FAILED),
    };
    let warnings = ops_cli::warning_lines(&rendered.warnings);
    match &args.output {
        Some(path) => match uptime::write_output(path, &rendered.body) {
            Ok(()) => ops_cli::finish("", &warnings, rendered.code),
            Err(e) => ops_cli::finish("", &format!("{warnings}error: {e}\n"), exit::FAILED),
        },
        None => ops_cli::finish(&rendered.body, &warnings, rendered.code),
    }
}
