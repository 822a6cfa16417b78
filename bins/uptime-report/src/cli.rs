//! The command line: clap definitions and argument values.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use ops_metrics::Window;
use time::{Date, Month};

/// The longest window, in days.
const MAX_DAYS: u32 = 36_500;

/// Uptime per service from ~/.agent-ops/metrics, as the Python kit's agent_ops_metrics.py reports it.
#[derive(Parser)]
#[command(
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_METRICS_DIR, AGENT_OPS_CONFIG (for --cleanup)."
)]
pub struct Args {
    /// Days to report, today (UTC) included.
    #[arg(long, default_value_t = 7, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS)))]
    pub days: u32,
    /// Report a calendar month, YYYY-MM (UTC), for an SLA statement.
    #[arg(long, value_name = "YYYY-MM", value_parser = month, conflicts_with_all = ["days", "since", "until"])]
    pub month: Option<(i32, Month)>,
    /// Report from this day, YYYY-MM-DD (UTC), to --until (default today), both included.
    #[arg(long, value_name = "DATE", value_parser = date, conflicts_with = "days")]
    pub since: Option<Date>,
    /// Report only this service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Add latency percentiles, incidents, time-based uptime, first/last seen (text format).
    #[arg(long)]
    pub detailed: bool,
    /// List the orchestrator's incidents (state/incidents.jsonl and the open ones), newest
    /// first, with the count, MTTR and time down per service (text or json).
    #[arg(long, conflicts_with_all = ["detailed", "sla"])]
    pub incidents: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// List the services whose uptime is below PERCENT (as the weekly digest does); exit 1 if
    /// any is, or if the window holds no checks at all (no data is not compliance).
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true, value_parser = percent)]
    pub sla: Option<f64>,
    /// The window's last day, YYYY-MM-DD (UTC), with --days or --since [default: today].
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub until: Option<Date>,
    /// Write the report to PATH atomically instead of printing it (a textfile for node_exporter,
    /// a status page for a web server).
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Instead of reporting, delete the day files older than the retention and say how many.
    #[arg(long, conflicts_with_all = ["days", "month", "since", "service", "detailed", "incidents", "format", "sla", "until", "output"])]
    pub cleanup: bool,
    /// Days of day files to keep with --cleanup [default: metrics_retention_days from
    /// services.json, or 90]; rollups are kept for rollup_retention_days (3650).
    #[arg(long, requires = "cleanup", value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: Option<u32>,
    /// Report the whole fleet from the Prometheus server at URL (http://prometheus:9090), which
    /// scrapes every host's agent_ops_probe_success: one line per instance and service, named
    /// INSTANCE/SERVICE, counting samples (scrapes) rather than checks (text, json or html).
    #[arg(long, value_name = "URL", conflicts_with_all = ["incidents", "cleanup", "detailed"])]
    pub prometheus_url: Option<String>,
    /// Seconds all the --prometheus-url queries may take together.
    #[arg(long, value_name = "SECONDS", requires = "prometheus_url", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// The services.json to read for --cleanup, and for which services are stale (json, html)
    /// [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl Args {
    /// The days to report: `--month`, `--since`/`--until`, or `--days` ending with `--until`.
    pub fn window(&self, today: Date) -> Result<Window, String> {
        if let Some((year, month)) = self.month {
            return Window::month(year, month)
                .ok_or_else(|| format!("--month {year}-{:02} is not a month", u8::from(month)));
        }
        let until = self.until.unwrap_or(today);
        let Some(since) = self.since else { return Ok(Window::last_days(until, self.days)) };
        let window = Window::range(since, until).ok_or_else(|| match self.until {
            Some(_) => format!("--since {since} is after --until {until}"),
            None => format!("--since {since} is after today ({until})"),
        })?;
        if window.days > MAX_DAYS {
            return Err(format!("--since {since} to {until} is {} days; at most {MAX_DAYS}", window.days));
        }
        Ok(window)
    }
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

/// A `YYYY-MM` month (`--month`).
fn month(s: &str) -> Result<(i32, Month), String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u16, |n, c| c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0')))
    };
    let parsed = (b.len() == 7 && b[4] == b'-')
        .then(|| Some((digits(0..4)?, Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?)))
        .flatten();
    parsed.map(|(y, m)| (i32::from(y), m)).ok_or_else(|| format!("{s:?} is not a month like 2026-10"))
}

/// A `YYYY-MM-DD` date (`--since`, `--until`).
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
        assert_eq!(month("2026-10"), Ok((2026, Month::October)));
        assert_eq!(month("0001-01"), Ok((1, Month::January)));
        for bad in ["2026-13", "2026-00", "2026-1", "26-10", "2026-10-01", "2026/10", "２０２６-10", ""] {
            assert!(month(bad).is_err(), "{bad}");
        }
    }
}
