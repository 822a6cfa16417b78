//! The uptime-report engine: a window of day files read for every service or one, what was
//! odd about them, and the SLA verdict, where no data is never good news. Rendering is
//! ops-metrics' (`render`); choosing a renderer is the binary's.

use std::path::Path;

use ops_metrics::{MetricsError, UptimeReport, Window, read_window};

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
