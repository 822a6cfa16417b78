//! The command line: clap definitions and argument values.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use time::Date;

/// Uptime per service from ~/.agent-ops/metrics, as the Python kit's agent_ops_metrics.py reports it.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_METRICS_DIR, AGENT_OPS_CONFIG (for --cleanup)."
)]
pub struct Args {
    /// Days to report, today (UTC) included.
    #[arg(long, default_value_t = 7, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: u32,
    /// Report only this service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Add latency percentiles, incidents, time-based uptime, first/last seen (text format).
    #[arg(long)]
    pub detailed: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// List the services whose uptime is below PERCENT (as the weekly digest does); exit 1 if
    /// any is, or if the window holds no checks at all (no data is not compliance).
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true, value_parser = percent)]
    pub sla: Option<f64>,
    /// The window's last day, YYYY-MM-DD (UTC) [default: today].
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub until: Option<Date>,
    /// Write the report to PATH atomically instead of printing it (a textfile for node_exporter,
    /// a status page for a web server).
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Instead of reporting, delete the day files older than the retention and say how many.
    #[arg(long, conflicts_with_all = ["days", "service", "detailed", "format", "sla", "until", "output"])]
    pub cleanup: bool,
    /// Days to keep with --cleanup [default: metrics_retention_days from services.json, or 90].
    #[arg(long, requires = "cleanup", value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: Option<u32>,
    /// The services.json to read for --cleanup [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The Python kit's text report (with --detailed, three more lines per service).
    Text,
    /// One JSON document.
    Json,
    /// The Prometheus text format, for node_exporter's textfile collector.
    Prometheus,
    /// A self-contained HTML status page.
    Html,
}

/// A percentage from 0 to 100 (`--sla`).
fn percent(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("{s:?} is not a percentage from 0 to 100"))
}

/// A `YYYY-MM-DD` date (`--until`).
fn date(s: &str) -> Result<Date, String> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{s:?} is not a date like 2025-01-15"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_values() {
        assert_eq!(percent("99.9"), Ok(99.9));
        assert_eq!(percent("100"), Ok(100.0));
        assert!(percent("100.1").is_err() && percent("-1").is_err() && percent("NaN").is_err());
        assert_eq!(date("2025-01-15"), Ok(time::macros::date!(2025 - 01 - 15)));
        assert!(date("2025-02-30").is_err() && date("15/01/2025").is_err());
    }
}
