//! The Python kit's text report, byte for byte, and the richer `--detailed` text.

use std::fmt::Write as _;

use ops_state::timestamp::format_utc;

use super::{human_duration, ms};
use crate::{ServiceStats, Span, State, UptimeReport, Window};

/// One service's line of the Python kit's report:
/// `[OK] name: 100.0% uptime (0 failures in 2016 checks, avg 145.0ms)`. A name's control
/// characters are escaped ([`ops_state::printable`]); other names are as the Python kit prints
/// them.
fn seed_line(s: &ServiceStats) -> String {
    format!(
        "[{}] {}: {}% uptime ({} failures in {} checks, avg {}ms)",
        s.indicator(),
        ops_state::printable(&s.name),
        s.uptime_text(),
        s.down,
        s.total_checks(),
        s.avg_latency_text()
    )
}

/// The first line: the Python kit's for the last days; the period otherwise, never "last N days"
/// for what is not (`2026-10 UTC`, `2026-10-01 to 2026-10-15 UTC`).
fn heading(w: &Window) -> String {
    match w.span {
        Span::Days => format!("=== Uptime Report (last {} days) ===\n", w.days),
        Span::Month | Span::Range => format!("=== Uptime Report ({w}) ===\n"),
    }
}

fn report(report: &UptimeReport, detailed: bool) -> String {
    let mut out = heading(&report.window);
    for s in &report.services {
        out.push('\n');
        out.push_str(&seed_line(s));
        if detailed {
            details(&mut out, s);
        }
    }
    out.push('\n');
    out
}

/// The Python kit's `uptime_report(days)` as `print` writes it, with its trailing newline (for a
/// month or a range of dates, the heading names the period instead).
pub fn text(r: &UptimeReport) -> String {
    report(r, false)
}

/// The Python kit's report with three more lines per service: latency percentiles, incidents and
/// time-based uptime, first and last seen and the current state.
pub fn text_detailed(r: &UptimeReport) -> String {
    report(r, true)
}

fn details(out: &mut String, s: &ServiceStats) {
    let _ = match s.latency {
        Some(p) => write!(
            out,
            "\n    latency p50 {}ms, p95 {}ms, p99 {}ms (successful checks{})",
            ms(p.p50),
            ms(p.p95),
            ms(p.p99),
            if p.approximate { "; approximate, from daily rollups" } else { "" }
        ),
        None => write!(out, "\n    latency: no successful checks"),
    };
    let plural = if s.incidents == 1 { "" } else { "s" };
    let _ = write!(out, "\n    {} incident{plural}", s.incidents);
    if let Some(longest) = s.longest_outage {
        let _ = write!(out, ", longest outage {}", human_duration(longest));
    }
    if let Some(p) = s.time_uptime_percent {
        let _ = write!(out, "; time-based uptime {p:.3}%");
    }
    match (s.first_seen, s.last_seen) {
        (Some(first), Some(last)) => {
            let _ = write!(out, "\n    first seen {}, last seen {}", format_utc(first), format_utc(last));
        }
        _ => out.push_str("\n    no timestamps"),
    }
    match (s.state, s.down_since) {
        (Some(State::Down), Some(since)) => {
            let _ = write!(out, "; down since {}", format_utc(since));
        }
        (Some(State::Up), _) => out.push_str("; now up"),
        _ => {}
    }
}

/// The weekly digest's SLA section (`weekly-digest.sh`), to print after the report: a blank
/// line, then `Services below 99.9% SLA:` and ` name: 99.5% (3 failures)` per service in the
/// the Python kit's order, or `All services above 99.9% SLA target.`
pub fn sla_text(r: &UptimeReport, target: f64) -> String {
    let below: Vec<&ServiceStats> = r.python_kit_order().into_iter().filter(|s| s.below(target)).collect();
    if below.is_empty() {
        return format!("\nAll services above {target}% SLA target.\n");
    }
    let mut out = format!("\nServices below {target}% SLA:\n");
    for s in below {
        let _ =
            writeln!(out, " {}: {}% ({} failures)", ops_state::printable(&s.name), s.uptime_text(), s.down);
    }
    out
}
