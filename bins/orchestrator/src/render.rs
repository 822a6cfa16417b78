//! What `orchestrator` prints: a pass (its log lines, then its warnings), the daemon's lines
//! (per pass, and where it serves), and the silence commands' answers.

use std::fmt::Write as _;

use ops_cli::{Printed, exit};
use ops_kit::maintenance::{Quiet, Scope, Silences, When, Window};
use ops_kit::pass::{LogLine, PassError, PassReport, RestartStep};
use ops_state::timestamp::format_unix;

/// A log line for a terminal: one line, as the log file has it.
fn one_line(text: &str) -> String {
    text.trim_end().replace('\n', " | ")
}

/// The report of one pass: what it did, line by line (as in `logs/orchestrator.log`), then
/// the warnings; exit 0 when every service is up (or in maintenance), 1 when some are still
/// failing. Another pass running is not an error: exit 0, saying so.
pub fn pass(result: &Result<PassReport, PassError>) -> Printed {
    let mut p = Printed::default();
    match result {
        Ok(report) => {
            // Warnings are in the log file too; on a terminal they go to stderr, once.
            for line in &report.log {
                match line {
                    LogLine::Note(text) => {
                        let _ = writeln!(p.stdout, "{}", one_line(text));
                    }
                    LogLine::Warning(text) => {
                        let _ = writeln!(p.stderr, "warning: {}", one_line(text));
                    }
                }
            }
            p.code = if report.failing().next().is_some() { exit::FAILED } else { exit::OK };
        }
        Err(e @ PassError::Busy { .. }) => {
            let _ = writeln!(p.stdout, "{e}; this one exits");
        }
        Err(e) => {
            let _ = writeln!(p.stderr, "error: {e}");
            p.code = exit::FAILED;
        }
    }
    p
}

/// One line for the daemon's output (a journal line per pass).
pub fn summary(result: &Result<PassReport, PassError>) -> String {
    match result {
        Ok(r) => {
            let failing: Vec<&str> = r.failing().map(|s| s.check.name.as_str()).collect();
            let restarts =
                r.services.iter().filter(|s| matches!(s.restart, Some(RestartStep::Ran { .. }))).count();
            let mut line = format!("pass: {} checks, {} failing", r.services.len(), failing.len());
            if !failing.is_empty() {
                let _ = write!(line, " ({})", failing.join(", "));
            }
            let _ = write!(line, ", {restarts} restarted, {} alerts", r.alerts.len());
            for w in r.warnings() {
                let _ = write!(line, "; warning: {}", one_line(w));
            }
            line
        }
        Err(e) => format!("pass skipped: {e}"),
    }
}

/// The daemon's line when it starts serving.
pub fn serving(addr: std::net::SocketAddr, basic_auth: bool) -> String {
    let auth = if basic_auth { " (basic auth)" } else { "" };
    format!("orchestrator: serving the status page on http://{addr}/{auth}")
}

/// `orchestrator silence`: what is now in force.
pub fn silenced(name: &str, quiet: &Quiet) -> String {
    format!("{name}: {quiet}\n")
}

/// `orchestrator silences`: the silences in force, then the maintenance windows of the
/// configuration, marking those open at `now`.
pub fn silences(silences: &Silences, windows: &[Window], now: f64) -> String {
    let mut out = String::new();
    if silences.is_empty() {
        out.push_str("No active silences.\n");
    }
    for (name, s) in silences {
        let quiet = Quiet::Silenced { until: s.until, reason: s.reason.clone() };
        let _ = writeln!(out, "{name}: {quiet}");
    }
    for (i, w) in windows.iter().enumerate() {
        let scope = match &w.scope {
            Scope::All => "every service".to_owned(),
            Scope::Services(names) => names.join(", "),
        };
        let when = match &w.when {
            When::Once { start, end } => format!("{} to {}", format_unix(*start), format_unix(*end)),
            When::Daily { from, to, days } if days.is_empty() => format!("daily {from} to {to} UTC"),
            When::Daily { from, to, days } => {
                let days: Vec<String> = days.iter().map(ToString::to_string).collect();
                format!("{} {from} to {to} UTC", days.join(", "))
            }
        };
        let open = if w.is_open(now) { " [open now]" } else { "" };
        let reason = w.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        let _ = writeln!(out, "maintenance[{i}]: {scope}: {when}{reason}{open}");
    }
    out
}
