//! What the `orchestrator` binary prints for each of its commands: a pass, and the silence
//! commands. The engine is [`crate::pass`]; the daemon loop is [`crate::daemon`].

use std::fmt::Write as _;

use ops_state::timestamp::{format_unix, unix_seconds};
use time::OffsetDateTime;

use crate::maintenance::{self, When};
use crate::pass::{PassError, PassReport, RestartStep, silences_file};
use crate::{Config, Layout, Printed, exit, health};

fn now() -> f64 {
    unix_seconds(OffsetDateTime::now_utc())
}

/// The report of one pass: what it did, line by line (as in `logs/orchestrator.log`), then
/// the warnings; exit 0 when every service is up (or in maintenance), 1 when some are still
/// failing. Another pass running is not an error: exit 0, saying so.
pub fn pass_printed(result: &Result<PassReport, PassError>) -> Printed {
    let mut p = Printed::default();
    match result {
        Ok(report) => {
            // Warnings are in the log file too; on a terminal they go to stderr, once.
            for line in report.log.iter().filter(|l| !l.starts_with("WARNING: ")) {
                let _ = writeln!(p.stdout, "{line}");
            }
            for w in &report.warnings {
                let _ = writeln!(p.stderr, "warning: {w}");
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
pub fn pass_summary(result: &Result<PassReport, PassError>) -> String {
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
            for w in &r.warnings {
                let _ = write!(line, "; warning: {w}");
            }
            line
        }
        Err(e) => format!("pass skipped: {e}"),
    }
}

fn usage(message: &str) -> Printed {
    Printed { stderr: format!("error: {message}\n"), code: exit::USAGE, ..Printed::default() }
}

/// `orchestrator silence NAME --for DURATION [--reason R]`.
pub fn silence(
    layout: &Layout,
    config: &Config,
    name: &str,
    duration: &str,
    reason: Option<String>,
) -> Printed {
    if let Err(e) = health::select(config, &[name.to_owned()]) {
        return usage(&e.to_string());
    }
    let Some(seconds) = maintenance::parse_duration(duration) else {
        return usage(&format!("--for {duration:?} is not a duration like 90s, 15m, 2h, 1d or 1h30m"));
    };
    match maintenance::silence(&silences_file(layout), name, seconds, reason, now()) {
        Ok(s) => Printed {
            stdout: format!(
                "{name}: {}\n",
                maintenance::Quiet::Silenced { until: s.until, reason: s.reason }
            ),
            ..Printed::default()
        },
        Err(e) => Printed { stderr: format!("error: {e}\n"), code: exit::FAILED, ..Printed::default() },
    }
}

/// `orchestrator unsilence NAME`.
pub fn unsilence(layout: &Layout, name: &str) -> Printed {
    match maintenance::unsilence(&silences_file(layout), name, now()) {
        Ok(true) => Printed { stdout: format!("{name}: silence lifted\n"), ..Printed::default() },
        Ok(false) => Printed {
            stderr: format!("error: {name:?} is not silenced (see `orchestrator silences`)\n"),
            code: exit::FAILED,
            ..Printed::default()
        },
        Err(e) => Printed { stderr: format!("error: {e}\n"), code: exit::FAILED, ..Printed::default() },
    }
}

/// `orchestrator silences`: the silences in force and the maintenance windows of the
/// configuration, marking those open now.
pub fn silences(layout: &Layout, config: &Config) -> Printed {
    let now = now();
    let mut p = Printed::default();
    match maintenance::active_silences(&silences_file(layout), now) {
        Ok(all) if all.is_empty() => p.stdout.push_str("No active silences.\n"),
        Ok(all) => {
            for (name, s) in all {
                let quiet = maintenance::Quiet::Silenced { until: s.until, reason: s.reason };
                let _ = writeln!(p.stdout, "{name}: {quiet}");
            }
        }
        Err(e) => {
            let _ = writeln!(p.stderr, "error: {e}");
            p.code = exit::FAILED;
        }
    }
    for (i, w) in config.orchestration.maintenance.iter().enumerate() {
        let scope = match &w.scope {
            maintenance::Scope::All => "every service".to_owned(),
            maintenance::Scope::Services(names) => names.join(", "),
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
        let _ = writeln!(p.stdout, "maintenance[{i}]: {scope}: {when}{reason}{open}");
    }
    p
}
