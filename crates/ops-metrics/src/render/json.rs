//! The report as one JSON document.

use ops_state::timestamp::format_utc;
use serde_json::{Value, json};

use super::{Context, Stale, StaleWhy};
use crate::scan::BadKind;
use crate::{RollupIssue, ServiceStats, Span, State, UptimeReport, Window};

/// A window as JSON: `days`, `from`, `until`, `span`, `label`.
pub(super) fn window(w: &Window) -> Value {
    json!({
        "days": w.days,
        "from": w.from().to_string(),
        "until": w.until.to_string(),
        "span": match w.span { Span::Days => "days", Span::Range => "range", Span::Month => "month" },
        "label": w.label(),
    })
}

/// Why a service is stale, as JSON: `service`, `reason` (`not_configured`: gone from the
/// configuration; `not_seen`: not checked for two intervals) and `interval_seconds` (the
/// interval it was expected at, or null).
pub fn stale_json(s: &Stale) -> Value {
    let (reason, interval) = match s.why {
        StaleWhy::NotConfigured => ("not_configured", None),
        StaleWhy::NotSeen { interval } => ("not_seen", Some(interval.as_secs_f64())),
    };
    json!({"service": s.service, "reason": reason, "interval_seconds": interval})
}

fn service(s: &ServiceStats, target: Option<f64>, stale: Option<&Stale>) -> Value {
    let word = match (stale, s.state) {
        (Some(_), _) => Some("stale"),
        (None, Some(State::Up)) => Some("up"),
        (None, Some(State::Down)) => Some("down"),
        (None, None) => None,
    };
    let mut v = json!({
        "name": s.name,
        "uptime_percent": s.uptime_percent.unwrap_or(0.0),
        "total_checks": s.total_checks(),
        "failures": s.down,
        "avg_latency_ms": s.avg_latency_ms.unwrap_or(0.0),
        "status": s.indicator(),
        "up_checks": s.up,
        "other_checks": s.other,
        "latency_p50_ms": s.latency.map(|p| p.p50),
        "latency_p95_ms": s.latency.map(|p| p.p95),
        "latency_p99_ms": s.latency.map(|p| p.p99),
        "latency_percentiles_approximate": s.latency.map(|p| p.approximate),
        "incidents": s.incidents,
        "longest_outage_seconds": s.longest_outage.map(|d| d.as_secs_f64()),
        "time_uptime_percent": s.time_uptime_percent,
        "first_seen": s.first_seen.map(format_utc),
        "last_seen": s.last_seen.map(format_utc),
        "state": word,
        "stale": stale.map(stale_json),
        "down_since": s.down_since.map(format_utc),
        "daily": s.daily.iter().map(|d| json!({
            "date": d.date.to_string(),
            "up": d.up,
            "down": d.down,
            "other": d.other,
            "uptime_percent": d.uptime_percent(),
        })).collect::<Vec<_>>(),
    });
    if let Some(t) = target {
        v["below_sla"] = json!(s.below(t));
    }
    v
}

/// The report as JSON: `window`, `generated_at`, `services` (sorted by name; each with the
/// the Python kit's `uptime_percent`, `total_checks`, `failures`, `avg_latency_ms`, and the richer
/// figures; `latency_percentiles_approximate` is true when a day came from a rollup, whose
/// histogram gives bucket bounds, not exact percentiles; `state` is `up`, `down` or `stale`,
/// and `stale` says why, as [`stale_json`], or is null), `bad_lines`, `undated_lines`, the days read (`files_read`, of them
/// `rollups_read`; `unreadable_days`), and `sla` when a target is given.
pub fn json(r: &UptimeReport, context: &Context<'_>) -> Value {
    let (now, sla) = (context.now, context.sla);
    let mut v = json!({
        "window": window(&r.window),
        "generated_at": format_utc(now),
        "services": r.services.iter().map(|s| service(s, sla, context.stale_of(&s.name))).collect::<Vec<_>>(),
        "bad_lines": {
            "total": r.bad.total(),
            "invalid_utf8": r.bad.count(BadKind::InvalidUtf8),
            "invalid_json": r.bad.count(BadKind::InvalidJson),
            "torn_last_line": r.bad.count(BadKind::TornLastLine),
            "not_an_object": r.bad.count(BadKind::NotAnObject),
            "wrong_type": r.bad.count(BadKind::WrongType),
            "too_long": r.bad.count(BadKind::TooLong),
        },
        "undated_lines": r.undated,
        "files_read": r.files,
        "rollups_read": r.rollups,
        "unreadable_days": r.issues.iter().filter_map(|i| match i {
            RollupIssue::Unreadable { date, .. } => Some(date.to_string()),
            _ => None,
        }).collect::<Vec<_>>(),
        "lines_read": r.lines,
    });
    if let Some(t) = sla {
        let below: Vec<&str> =
            r.python_kit_order().into_iter().filter(|s| s.below(t)).map(|s| s.name.as_str()).collect();
        v["sla"] = json!({"target_percent": t, "below": below});
    }
    v
}
