//! The report in the Prometheus text format, for node_exporter's textfile collector.

use crate::UptimeReport;
use crate::prometheus::{Family, render};
use crate::scan::BadKind;

/// Gauges per service and window (label `window="7d"`, `"2026-10"` for a month,
/// `"2026-10-01..2026-10-15"` for a range): uptime ratio, checks, failures,
/// average latency, latency percentiles (label `percentile="50|95|99"`) of successful checks, incidents, longest outage,
/// time-based uptime ratio and last check time; and the skipped lines per kind.
pub fn prometheus(r: &UptimeReport) -> String {
    let window = r.window.label();
    let gauge = Family::gauge;
    let mut ratio = gauge(
        "agent_ops_uptime_ratio",
        "Share of up checks among up and down checks in the window (0 to 1).",
    );
    let mut checks = gauge("agent_ops_uptime_checks", "Up and down checks in the window.");
    let mut failures = gauge("agent_ops_uptime_failures", "Down checks in the window.");
    let mut avg = gauge(
        "agent_ops_uptime_latency_average_seconds",
        "Average check latency in the window, over every line of the service (as the seed computes it).",
    );
    let mut quantiles = gauge(
        "agent_ops_uptime_latency_seconds",
        "Latency percentiles (nearest rank) of the successful checks in the window; where a day came from its rollup, the bound of a histogram bucket.",
    );
    let mut incidents =
        gauge("agent_ops_uptime_incidents", "Runs of consecutive failed checks in the window.");
    let mut longest =
        gauge("agent_ops_uptime_longest_outage_seconds", "The longest run of failed checks in the window.");
    let mut time_ratio = gauge(
        "agent_ops_uptime_time_ratio",
        "Share of time up between the first and last check of the window (0 to 1).",
    );
    let mut last = gauge(
        "agent_ops_uptime_last_check_timestamp_seconds",
        "Unix time of the latest check in the window.",
    );
    let mut bad = gauge(
        "agent_ops_uptime_bad_lines",
        "Metrics lines skipped in the window because they cannot be counted.",
    );
    for s in &r.services {
        let labels = || vec![("service", s.name.clone()), ("window", window.clone())];
        if let Some(v) = s.uptime_ratio() {
            ratio.push(labels(), v);
        }
        checks.push(labels(), s.total_checks() as f64);
        failures.push(labels(), s.down as f64);
        if let Some(ms) = s.avg_latency_ms {
            avg.push(labels(), ms / 1000.0);
        }
        if let Some(p) = s.latency {
            // Not `quantile`: promtool keeps that label for summaries, and these are gauges.
            for (q, v) in [("50", p.p50), ("95", p.p95), ("99", p.p99)] {
                let mut l = labels();
                l.push(("percentile", q.to_owned()));
                quantiles.push(l, v / 1000.0);
            }
        }
        incidents.push(labels(), s.incidents as f64);
        longest.push(labels(), s.longest_outage.map_or(0.0, |d| d.as_secs_f64()));
        if let Some(p) = s.time_uptime_percent {
            time_ratio.push(labels(), p / 100.0);
        }
        if let Some(t) = s.last_seen {
            last.push(labels(), t.unix_timestamp() as f64 + f64::from(t.microsecond()) / 1e6);
        }
    }
    for (kind, name) in [
        (BadKind::InvalidUtf8, "invalid_utf8"),
        (BadKind::InvalidJson, "invalid_json"),
        (BadKind::TornLastLine, "torn_last_line"),
        (BadKind::NotAnObject, "not_an_object"),
        (BadKind::WrongType, "wrong_type"),
        (BadKind::TooLong, "too_long"),
    ] {
        bad.push(vec![("window", window.clone()), ("reason", name.to_owned())], r.bad.count(kind) as f64);
    }
    render(&[ratio, checks, failures, avg, quantiles, incidents, longest, time_ratio, last, bad])
}
