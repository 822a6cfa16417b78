//! The uptime-report engine: a window of day files read for every service or one, what was
//! odd about them, the SLA verdict, where no data is never good news, and which services are
//! stale. Rendering is ops-metrics' (`render`); choosing a renderer is the binary's.

use std::path::Path;

use ops_metrics::render::{Stale, StaleWhy};
use ops_metrics::{MetricsError, UptimeReport, Window, read_window};
use time::OffsetDateTime;

use crate::Config;

/// What was found in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The statistics, for one service when one was asked for.
    pub report: UptimeReport,
    /// One line each: rollups not used, skipped bad lines, no data at all, no data for the
    /// service asked for.
    pub warnings: Vec<String>,
    /// A service was asked for and has no metrics in the window.
    pub service_missing: bool,
}

/// Whether the services met an uptime target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sla {
    /// Every service met it.
    Met,
    /// These services are below it (in the Python kit's order).
    Below(Vec<String>),
    /// The window holds no checks: nothing shows that anything met it.
    NoData,
}

impl Found {
    /// Checks counted in the window, all services together.
    pub fn checks(&self) -> u64 {
        self.report.services.iter().map(ops_metrics::ServiceStats::total_checks).sum()
    }

    /// The verdict for `target` percent.
    pub fn sla(&self, target: f64) -> Sla {
        if self.checks() == 0 {
            return Sla::NoData;
        }
        let below: Vec<String> = self
            .report
            .python_kit_order()
            .into_iter()
            .filter(|s| s.below(target))
            .map(|s| s.name.clone())
            .collect();
        if below.is_empty() { Sla::Met } else { Sla::Below(below) }
    }
}

/// Reads `window` from `metrics_dir` (from rollups where they are current), keeping only
/// `service` when one is given. A missing directory is an empty window (nothing was recorded
/// yet, as the Python kit reads it); one that cannot be read is an error. A rollup that cannot
/// be used is a warning.
pub fn read(metrics_dir: &Path, window: &Window, service: Option<&str>) -> Result<Found, MetricsError> {
    let mut report = read_window(metrics_dir, window)?;
    let mut warnings: Vec<String> = report.issues.iter().map(ToString::to_string).collect();
    if report.bad.total() > 0 {
        warnings.push(report.bad.to_string());
    }
    let mut service_missing = false;
    if let Some(name) = service {
        report.services.retain(|s| s.name == name);
        if report.services.is_empty() {
            warnings.push(format!("no metrics for service {name:?} in {window}"));
            service_missing = true;
        }
    } else if report.services.is_empty() {
        warnings.push(format!("no metrics in {} for {window}", metrics_dir.display()));
    }
    Ok(Found { report, warnings, service_missing })
}

/// The report in the Prometheus text format (`uptime-report --format prometheus`): its
/// families, then the last performance data of its command checks, read from the day file of
/// the window's last day (none when no check of that day recorded any). A day file that cannot
/// be read for it costs the performance data only, said in `warnings`.
pub fn prometheus(metrics_dir: &Path, report: &UptimeReport, warnings: &mut Vec<String>) -> String {
    let mut text = ops_metrics::render::prometheus(report);
    match ops_metrics::last_perfdata(metrics_dir, report.window.until) {
        Ok(found) => {
            let services = found
                .iter()
                .filter(|(name, _)| report.services.iter().any(|s| &s.name == name))
                .flat_map(|(name, perf)| perf.iter().map(move |p| (name.as_str(), p)));
            let families = ops_metrics::prometheus::last_perfdata_families(&report.window.label(), services);
            text.push_str(&ops_metrics::prometheus::render(&families));
        }
        Err(e) => warnings.push(format!("performance data left out: {e}")),
    }
    text
}

/// The services of `report` to show as stale at `now` (grey, never up): those `config` no
/// longer has (its services and built-in disk checks), and those whose last check is more
/// than two of their intervals old (`interval_seconds`, else `check_interval_seconds`;
/// without a configuration, its default). A service with no dated check is not judged, nor is
/// a window that ended before today: a past period is history, not the state of things.
pub fn stale(config: Option<&Config>, report: &UptimeReport, now: OffsetDateTime) -> Vec<Stale> {
    if report.window.until < now.date() {
        return Vec::new();
    }
    let names: Option<Vec<String>> = config.map(|c| c.probes().into_iter().map(|p| p.name).collect());
    report
        .services
        .iter()
        .filter_map(|s| {
            if names.as_ref().is_some_and(|n| !n.contains(&s.name)) {
                return Some(Stale { service: s.name.clone(), why: StaleWhy::NotConfigured });
            }
            let interval = config.map_or(crate::DEFAULT_CHECK_INTERVAL, |c| {
                crate::pass::policy_of(c, &s.name).interval.unwrap_or(c.check_interval)
            });
            let silent = now - s.last_seen?;
            (silent > interval.saturating_mul(2))
                .then(|| Stale { service: s.name.clone(), why: StaleWhy::NotSeen { interval } })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ops_metrics::{MetricRecord, Status};
    use time::macros::datetime;

    use super::*;
    use crate::Env;

    /// Stale: gone from the configuration, or silent for more than two of its intervals (its
    /// own, else `check_interval_seconds`, else the default); a past window is never judged.
    #[test]
    fn stale_services_by_configuration_and_interval() {
        let dir = tempfile::tempdir().unwrap();
        let now = datetime!(2026-11-30 12:00 UTC);
        let seen = |name: &str, minutes_ago: i64| MetricRecord {
            name: name.into(),
            status: Status::Up,
            detail: String::new(),
            latency_ms: 1,
            timestamp: now - time::Duration::minutes(minutes_ago),
            warning: false,
            perfdata: Vec::new(),
        };
        let records = [
            seen("Hourly", 100),
            seen("Hourly late", 121),
            seen("Loop", 21),
            seen("Gone", 1),
            seen("Disk Space", 9),
        ];
        ops_metrics::append(dir.path(), &records).unwrap();
        let report = ops_metrics::read_window(dir.path(), &Window::last_days(now.date(), 7)).unwrap();
        let json = br#"{"services": [
            {"name": "Hourly", "type": "port", "port": 1, "interval_seconds": 3600},
            {"name": "Hourly late", "type": "port", "port": 1, "interval_seconds": 3600},
            {"name": "Loop", "type": "port", "port": 1}], "check_interval_seconds": 600}"#;
        let config = Config::parse(Path::new("s.json"), json, &Env::default()).unwrap().config;
        let stale = stale(Some(&config), &report, now);
        let words: Vec<(&str, StaleWhy)> = stale.iter().map(|s| (s.service.as_str(), s.why)).collect();
        let ten = std::time::Duration::from_secs(600);
        assert_eq!(
            words,
            [
                ("Gone", StaleWhy::NotConfigured),
                ("Hourly late", StaleWhy::NotSeen { interval: std::time::Duration::from_secs(3600) }),
                ("Loop", StaleWhy::NotSeen { interval: ten })
            ]
        );
        let without: Vec<String> = super::stale(None, &report, now).into_iter().map(|s| s.service).collect();
        assert_eq!(
            without,
            ["Hourly", "Hourly late", "Loop"],
            "5 minutes by default: Gone and the disk are fresh"
        );
        let past =
            ops_metrics::read_window(dir.path(), &Window::last_days(now.date().previous_day().unwrap(), 7))
                .unwrap();
        assert!(super::stale(Some(&config), &past, now).is_empty());
    }
}
