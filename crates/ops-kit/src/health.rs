//! The health-check pass: choose the probes, run them, record metrics, and the machine
//! formats of the results (JSON, a Prometheus textfile). The words people read are
//! `health-check`'s.

use std::path::Path;

use ops_health::{CheckResult, FailureKind, PerfValue, Probe, RunOptions, run_all};
use ops_metrics::prometheus::{Family, perfdata_families, render};
use ops_metrics::{MetricRecord, MetricsError, Perf, Status};
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

/// The metrics line of each result: up (a warning too), down, or unknown (a check agent-ops could not make).
pub fn metric_records(results: &[CheckResult]) -> Vec<MetricRecord> {
    results
        .iter()
        .map(|r| {
            // A check agent-ops could not make says nothing of the service: neither up nor down.
            let status = match r.outcome {
                o if o.is_up() => Status::Up,
                o if o.is_unknown() => Status::Unknown,
                _ => Status::Down,
            };
            metric_record(r, status)
        })
        .collect()
}

/// The metrics line of one result, with the status the caller decided (the orchestrator also
/// records `recovered` and `maintenance`); a warning adds `"state": "warning"`, a command its
/// performance data.
pub fn metric_record(r: &CheckResult, status: Status) -> MetricRecord {
    MetricRecord {
        name: r.name.clone(),
        status,
        detail: r.detail.clone(),
        latency_ms: r.latency_ms,
        timestamp: r.timestamp,
        warning: r.outcome.is_warning(),
        perfdata: r.perfdata.iter().map(perf).collect(),
    }
}

/// A performance value as the metrics store keeps it.
fn perf(p: &PerfValue) -> Perf {
    Perf {
        label: p.label.clone(),
        value: p.value,
        uom: p.uom.clone(),
        warn: p.warn.clone(),
        crit: p.crit.clone(),
        min: p.min,
        max: p.max,
    }
}

/// Appends one metrics line per result to the day file in `metrics_dir`.
pub fn record(metrics_dir: &Path, results: &[CheckResult]) -> Result<(), MetricsError> {
    ops_metrics::append(metrics_dir, &metric_records(results))
}

/// For each result, the failing dependencies (`depends_on`, transitively; the roots, not what
/// they block in turn) it is blocked by: empty unless it failed while one of them failed in
/// the same run. A dependency that was not checked in the run blocks nothing.
pub fn blocked(config: &Config, results: &[CheckResult]) -> Vec<Vec<String>> {
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    let failing: Vec<bool> = results.iter().map(|r| r.outcome.is_down()).collect();
    config
        .graph(&names)
        .blocked(&failing)
        .into_iter()
        .map(|roots| roots.unwrap_or_default().into_iter().map(|j| names[j].to_owned()).collect())
        .collect()
}

/// The results as one JSON document (`checks`, `total`, `passed`, `failed`, `warnings`). Each
/// check has a `state` (`ok`, `warning`, `failed`); a warning is `ok` and `passed` too (it is
/// up), and counted in `warnings`. `blocked` gives each check's [`blocked`] roots (`blocked_by`,
/// empty when it is not blocked); without it (`&[]`) every `blocked_by` is empty.
pub fn json_report(results: &[CheckResult], blocked: &[Vec<String>]) -> Value {
    let checks: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = json!({
                "name": r.name,
                "type": r.check_type.as_str(),
                "ok": r.outcome.is_up(),
                "state": r.outcome.level().as_str(),
                "status": r.outcome.as_str(),
                "failure": r.outcome.reason(),
                "warning": r.outcome.warning().map(FailureKind::as_str),
                "detail": r.detail,
                "latency_ms": r.latency_ms,
                "timestamp": format_utc(r.timestamp),
                "blocked_by": blocked.get(i).cloned().unwrap_or_default(),
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
            if !r.perfdata.is_empty() {
                let values: Vec<Value> = r
                    .perfdata
                    .iter()
                    .map(|p| {
                        json!({"label": p.label, "value": p.value, "uom": p.uom, "warn": p.warn,
                               "crit": p.crit, "min": p.min, "max": p.max})
                    })
                    .collect();
                v["perfdata"] = json!(values);
            }
            if !r.perfdata_problems.is_empty() {
                v["perfdata_problems"] = json!(r.perfdata_problems);
            }
            if let Some(dns) = &r.dns {
                v["dns"] = json!({
                    "server": dns.server.to_string(),
                    "rcode": dns.rcode,
                    "records": dns.records,
                    "tcp": dns.tcp,
                });
            }
            if let Some(ping) = &r.ping {
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
                v["ping"] = json!({
                    "address": ping.address.to_string(),
                    "sent": ping.sent,
                    "received": ping.received,
                    "loss_percent": ping.loss_percent(),
                    "rtt_ms": ping.rtt.map(|rtt| json!({"min": ms(rtt.min), "avg": ms(rtt.avg), "max": ms(rtt.max)})),
                    "socket": ping.socket.as_str(),
                });
            }
            if !r.conditions.is_empty() {
                v["conditions"] = r
                    .conditions
                    .iter()
                    .map(|c| json!({"condition": c.condition, "ok": c.success}))
                    .collect();
            }
            v
        })
        .collect();
    let passed = results.iter().filter(|r| r.outcome.is_up()).count();
    let warnings = results.iter().filter(|r| r.outcome.is_warning()).count();
    json!({ "checks": checks, "total": results.len(), "passed": passed, "failed": results.len() - passed,
            "warnings": warnings })
}

/// Blackbox-exporter-style metrics for node_exporter's textfile collector, labelled by
/// service (and check type), and the performance data of command checks in base units.
pub fn prometheus_text(results: &[CheckResult], now: OffsetDateTime) -> String {
    let mut success = Family::gauge(
        "agent_ops_probe_success",
        "Whether the check passed (1, a warning too) or failed (0).",
    );
    let mut warning =
        Family::gauge("agent_ops_probe_warning", "Whether the check passed with a warning (1) or not (0).");
    let mut duration =
        Family::gauge("agent_ops_probe_duration_seconds", "How long the check took, in seconds.");
    let mut status = Family::gauge("agent_ops_probe_http_status_code", "HTTP status of the final response.");
    let mut expiry = Family::gauge(
        "agent_ops_cert_expiry_timestamp_seconds",
        "Unix time at which the server certificate expires.",
    );
    let mut disk = Family::gauge("agent_ops_disk_free_bytes", "Bytes available to unprivileged users.");
    let mut loss = Family::gauge(
        "agent_ops_ping_packet_loss_ratio",
        "Share of the ping check's echo requests that got no reply (0 to 1).",
    );
    let mut rtt = Family::gauge(
        "agent_ops_ping_rtt_seconds",
        "Round trip of the ping check's replies: the shortest, average and longest (label stat).",
    );
    let mut answers =
        Family::gauge("agent_ops_dns_answer_records", "Records of the type asked for in the DNS answer.");
    let mut last_run =
        Family::gauge("agent_ops_last_run_timestamp_seconds", "Unix time of this health-check run.");
    for r in results {
        let labels = || vec![("service", r.name.clone()), ("type", r.check_type.as_str().to_owned())];
        success.push(labels(), if r.outcome.is_up() { 1.0 } else { 0.0 });
        warning.push(labels(), if r.outcome.is_warning() { 1.0 } else { 0.0 });
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
        if let Some(ping) = &r.ping {
            loss.push(labels(), ping.loss_percent() / 100.0);
            if let Some(stats) = ping.rtt {
                for (stat, d) in [("min", stats.min), ("avg", stats.avg), ("max", stats.max)] {
                    let mut l = labels();
                    l.push(("stat", stat.to_owned()));
                    rtt.push(l, d.as_secs_f64());
                }
            }
        }
        if let Some(dns) = &r.dns {
            answers.push(labels(), dns.records.len() as f64);
        }
    }
    last_run.push(Vec::new(), now.unix_timestamp() as f64);
    let perfdata: Vec<(&str, Perf)> =
        results.iter().flat_map(|r| r.perfdata.iter().map(|p| (r.name.as_str(), perf(p)))).collect();
    let mut families = vec![success, warning, duration, status, expiry, disk, loss, rtt, answers, last_run];
    families.extend(perfdata_families(perfdata.iter().map(|(name, p)| (*name, p))));
    render(&families)
}

/// Writes [`prometheus_text`] to `path` atomically (node_exporter must never read half a file),
/// a new file readable by all (0644 before the umask).
pub fn write_prometheus_textfile(path: &Path, results: &[CheckResult]) -> Result<(), StateError> {
    let text = prometheus_text(results, OffsetDateTime::now_utc());
    ops_state::write_atomic(path, text.as_bytes(), ops_state::PUBLIC_MODE)
}
