//! The health-check pass: choose the probes, run them, record metrics, and the machine
//! formats of the results (JSON, a Prometheus textfile). The words people read are
//! `health-check`'s.

use std::path::Path;

use ops_health::{CheckResult, Probe, RunOptions, run_all};
use ops_metrics::prometheus::{Family, render};
use ops_metrics::{MetricRecord, MetricsError, Status};
use ops_state::StateError;
use ops_state::timestamp::format_utc;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{Config, ConfigError};

/// The probes to run: all of them, or those named in `only` (in configuration order).
pub fn select(config: &Config, only: &[String]) -> Result<Vec<Probe>, ConfigError> {
    let probes = config.probes();
    if only.is_empty() {
        return Ok(probes);
    }
    if let Some(missing) = only.iter().find(|name| !probes.iter().any(|p| &p.name == *name)) {
        return Err(ConfigError::UnknownService {
            name: missing.clone(),
            path: config.path.clone(),
            known: probes.iter().map(|p| p.name.clone()).collect(),
        });
    }
    Ok(probes.into_iter().filter(|p| only.contains(&p.name)).collect())
}

/// Raises the process's soft open-file limit to its hard limit (the binaries do it once at
/// start, so the check budget is not the 1024 of a default soft limit). See ops-health.
pub use ops_health::raise_nofile_limit;

/// Runs `probes` concurrently, bounded by the configuration's `max_concurrency`.
pub fn run(config: &Config, probes: &[Probe]) -> Vec<CheckResult> {
    run_all(probes, &RunOptions::with_max_concurrency(config.max_concurrency))
}

/// The metrics line of each result: up or down.
pub fn metric_records(results: &[CheckResult]) -> Vec<MetricRecord> {
    results
        .iter()
        .map(|r| metric_record(r, if r.outcome.is_up() { Status::Up } else { Status::Down }))
        .collect()
}

/// The metrics line of one result, with the status the caller decided (the orchestrator also
/// records `recovered` and `maintenance`).
pub fn metric_record(r: &CheckResult, status: Status) -> MetricRecord {
    MetricRecord {
        name: r.name.clone(),
        status,
        detail: r.detail.clone(),
        latency_ms: r.latency_ms,
        timestamp: r.timestamp,
    }
}

/// Appends one metrics line per result to the day file in `metrics_dir`.
pub fn record(metrics_dir: &Path, results: &[CheckResult]) -> Result<(), MetricsError> {
    ops_metrics::append(metrics_dir, &metric_records(results))
}

/// The results as one JSON document (`checks`, `total`, `passed`, `failed`).
pub fn json_report(results: &[CheckResult]) -> Value {
    let checks: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut v = json!({
                "name": r.name,
                "type": r.check_type.as_str(),
                "ok": r.outcome.is_up(),
                "status": r.outcome.as_str(),
                "failure": r.outcome.reason(),
                "detail": r.detail,
                "latency_ms": r.latency_ms,
                "timestamp": format_utc(r.timestamp),
            });
            if let Some(status) = r.http_status {
                v["http_status"] = json!(status);
            }
            if let Some(cert) = &r.cert {
                v["cert"] = json!({
                    "not_after": format_utc(cert.not_after),
                    "days_left": cert.days_left,
                    "trusted": cert.untrusted.is_none(),
                    "untrusted_reason": cert.untrusted,
                });
            }
            if let Some(free) = r.disk_free_bytes {
                v["disk_free_bytes"] = json!(free);
            }
            v
        })
        .collect();
    let passed = results.iter().filter(|r| r.outcome.is_up()).count();
    json!({ "checks": checks, "total": results.len(), "passed": passed, "failed": results.len() - passed })
}

/// Blackbox-exporter-style metrics for node_exporter's textfile collector, labelled by
/// service (and check type).
pub fn prometheus_text(results: &[CheckResult], now: OffsetDateTime) -> String {
    let mut success = Family::gauge("agent_ops_probe_success", "Whether the check passed (1) or failed (0).");
    let mut duration =
        Family::gauge("agent_ops_probe_duration_seconds", "How long the check took, in seconds.");
    let mut status = Family::gauge("agent_ops_probe_http_status_code", "HTTP status of the final response.");
    let mut expiry = Family::gauge(
        "agent_ops_cert_expiry_timestamp_seconds",
        "Unix time at which the server certificate expires.",
    );
    let mut disk = Family::gauge("agent_ops_disk_free_bytes", "Bytes available to unprivileged users.");
    let mut last_run =
        Family::gauge("agent_ops_last_run_timestamp_seconds", "Unix time of this health-check run.");
    for r in results {
        let labels = || vec![("service", r.name.clone()), ("type", r.check_type.as_str().to_owned())];
        success.push(labels(), if r.outcome.is_up() { 1.0 } else { 0.0 });
        duration.push(labels(), r.latency_ms as f64 / 1000.0);
        if let Some(code) = r.http_status {
            status.push(labels(), f64::from(code));
        }
        if let Some(cert) = &r.cert {
            expiry.push(labels(), cert.not_after.unix_timestamp() as f64);
        }
        if let Some(free) = r.disk_free_bytes {
            disk.push(labels(), free as f64);
        }
    }
    last_run.push(Vec::new(), now.unix_timestamp() as f64);
    render(&[success, duration, status, expiry, disk, last_run])
}

/// Writes [`prometheus_text`] to `path` atomically (node_exporter must never read half a file),
/// a new file readable by all (0644 before the umask).
pub fn write_prometheus_textfile(path: &Path, results: &[CheckResult]) -> Result<(), StateError> {
    let text = prometheus_text(results, OffsetDateTime::now_utc());
    ops_state::write_atomic(path, text.as_bytes(), ops_state::PUBLIC_MODE)
}
