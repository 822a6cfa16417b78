//! The uptime-report pass: read a window of day files, render it in the format asked for,
//! judge it against an SLA; and metrics retention.

use std::path::Path;

use ops_metrics::{MetricsError, Window, read_window, remove_old_day_files, render};
use time::{Date, OffsetDateTime};

use crate::{Config, ConfigError, Env, Layout, exit};

/// The seed's `cleanup_old_metrics(retention_days=90)`, and services.json's default.
pub const DEFAULT_METRICS_RETENTION_DAYS: u32 = 90;

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The seed's text report (with `detailed`, three more lines per service).
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// The Prometheus text format, for node_exporter's textfile collector.
    Prometheus,
    /// A self-contained HTML status page.
    Html,
}

impl Format {
    /// The names `--format` accepts, in order.
    pub const NAMES: [&'static str; 4] = ["text", "json", "prometheus", "html"];

    /// The format called `name` (one of [`Format::NAMES`]).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            "prometheus" => Some(Self::Prometheus),
            "html" => Some(Self::Html),
            _ => None,
        }
    }
}

/// Parses a percentage from 0 to 100 (`--sla`).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("{s:?} is not a percentage from 0 to 100"))
}

/// Parses a `YYYY-MM-DD` date (`--until`).
pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{s:?} is not a date like 2025-01-15"))
}

/// What to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Days in the window, today included (the seed's default is 7).
    pub days: u32,
    /// The window's last day (UTC), usually today.
    pub until: Date,
    /// Report only this service.
    pub service: Option<String>,
    /// More lines per service in the text report.
    pub detailed: bool,
    /// The output format.
    pub format: Format,
    /// An uptime target in percent: services below it are listed (text), flagged (JSON, HTML),
    /// and make the exit status 1.
    pub sla: Option<f64>,
}

/// A rendered report: what to write, what to warn about, and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The report, ending with a newline.
    pub body: String,
    /// One line each: skipped bad lines, an unknown service.
    pub warnings: Vec<String>,
    /// [`exit::OK`], or [`exit::FAILED`] when a service is below the SLA or `--service` names
    /// a service with no metrics in the window.
    pub code: u8,
}

/// Reads the window from `metrics_dir` and renders it; `now` stamps the JSON and HTML.
pub fn report(metrics_dir: &Path, request: &Request, now: OffsetDateTime) -> Result<Rendered, MetricsError> {
    let window = Window { until: request.until, days: request.days.max(1) };
    let mut report = read_window(metrics_dir, &window)?;
    let mut warnings = Vec::new();
    let mut code = exit::OK;
    if report.bad.total() > 0 {
        warnings.push(report.bad.to_string());
    }
    if report.undated > 0 && (request.detailed || request.format != Format::Text) {
        warnings.push(format!(
            "{} line(s) without a usable timestamp: counted, but left out of incidents, time-based uptime and the latency series",
            report.undated
        ));
    }
    if let Some(name) = &request.service {
        report.services.retain(|s| &s.name == name);
        if report.services.is_empty() {
            warnings.push(format!("no metrics for service {name:?} in the last {} days", window.days));
            code = exit::FAILED;
        }
    }
    let body = match request.format {
        Format::Text => {
            let mut text =
                if request.detailed { render::text_detailed(&report) } else { render::text(&report) };
            if let Some(target) = request.sla {
                text.push_str(&render::sla_text(&report, target));
            }
            text
        }
        Format::Json => format!("{:#}\n", render::json(&report, now, request.sla)),
        Format::Prometheus => render::prometheus(&report),
        Format::Html => render::html(&report, now, request.sla),
    };
    if request.sla.is_some_and(|target| report.services.iter().any(|s| s.below(target))) {
        code = exit::FAILED;
    }
    Ok(Rendered { body, warnings, code })
}

/// Writes a rendered report to `path` atomically (node_exporter or a web server never sees
/// half a file), readable by all (0644).
pub fn write_output(path: &Path, body: &str) -> Result<(), ops_state::StateError> {
    ops_state::write_atomic(path, body.as_bytes(), ops_state::DEFAULT_MODE)
}

/// Days of metrics to keep: `metrics_retention_days` from services.json, or the default when
/// there is no services.json at its default place. A services.json that is invalid, or
/// missing where `--config`/`AGENT_OPS_CONFIG` pointed, is an error: nothing is deleted on a
/// configuration we cannot read.
pub fn retention_days(layout: &Layout, env: &Env) -> Result<u32, ConfigError> {
    Ok(Config::load_optional(layout, env)?
        .map_or(DEFAULT_METRICS_RETENTION_DAYS, |l| l.config.metrics_retention_days))
}

/// Deletes the day files in `metrics_dir` that fall outside the `keep_days` days ending
/// `today`, and says how many: `Cleaned up 3 old metrics file(s) (keeping 90 days)`.
pub fn cleanup(metrics_dir: &Path, today: Date, keep_days: u32) -> Result<String, MetricsError> {
    let removed = remove_old_day_files(metrics_dir, today, keep_days)?;
    Ok(format!("Cleaned up {} old metrics file(s) (keeping {keep_days} days)", removed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_values() {
        assert!(Format::NAMES.iter().all(|n| Format::from_name(n).is_some()));
        assert_eq!(Format::from_name("xml"), None);
        assert_eq!(parse_percent("99.9"), Ok(99.9));
        assert_eq!(parse_percent("100"), Ok(100.0));
        assert!(
            parse_percent("100.1").is_err() && parse_percent("-1").is_err() && parse_percent("NaN").is_err()
        );
        assert_eq!(parse_date("2025-01-15"), Ok(time::macros::date!(2025 - 01 - 15)));
        assert!(parse_date("2025-02-30").is_err() && parse_date("15/01/2025").is_err());
    }

    #[test]
    fn retention_comes_from_services_json_or_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        assert_eq!(retention_days(&layout, &env).unwrap(), DEFAULT_METRICS_RETENTION_DAYS);
        std::fs::create_dir_all(layout.config.parent().unwrap()).unwrap();
        std::fs::write(&layout.config, r#"{"services": []}"#).unwrap();
        assert_eq!(retention_days(&layout, &env).unwrap(), DEFAULT_METRICS_RETENTION_DAYS);
        std::fs::write(&layout.config, r#"{"services": [], "metrics_retention_days": 30}"#).unwrap();
        assert_eq!(retention_days(&layout, &env).unwrap(), 30);
        std::fs::write(&layout.config, r#"{"services": [], "metrics_retention_days": 0}"#).unwrap();
        assert!(matches!(retention_days(&layout, &env), Err(ConfigError::Invalid { .. })));
        std::fs::write(&layout.config, "{").unwrap();
        assert!(matches!(retention_days(&layout, &env), Err(ConfigError::Syntax { .. })));
    }
}
