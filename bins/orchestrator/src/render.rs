//! What `orchestrator` prints: a pass (its log lines, then its warnings; or `--json`), the
//! daemon's lines (per pass, and where it serves), `status`, and the silence and ack commands'
//! answers.

use std::fmt::Write as _;

use ops_cli::{Printed, exit};
use ops_kit::ack::Ack;
use ops_kit::maintenance::{Quiet, Scope, Silences, When, Window};
use ops_kit::pass::{AlertOutcome, LogLine, PassError, PassReport, RestartStep, ServiceReport};
use ops_kit::status::{ServiceStatus, State};
use ops_metrics::render::human_duration;
use ops_recovery::RunOutcome;
use ops_state::timestamp::format_unix;
use serde_json::{Value, json};

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
            p.code = if report.any_failing() { exit::FAILED } else { exit::OK };
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

/// A pass as JSON (`orchestrator --json`): every check with its state (`up`, `down`, `blocked`,
/// `unknown`, `maintenance`), re-check, restart (skipped ones included) and what it blocks;
/// the checks not due; the messages and what became of them; the warnings. Exit codes as
/// [`pass`].
pub fn pass_json(result: &Result<PassReport, PassError>) -> Printed {
    let mut p = Printed::default();
    let report = match result {
        Ok(report) => report,
        Err(e @ PassError::Busy { .. }) => {
            p.stdout = format!("{:#}\n", json!({"busy": e.to_string()}));
            return p;
        }
        Err(e) => {
            let _ = writeln!(p.stderr, "error: {e}");
            p.code = exit::FAILED;
            return p;
        }
    };
    let services: Vec<Value> = report.services.iter().map(service_json).collect();
    let not_due: Vec<Value> = report
        .not_due
        .iter()
        .map(|n| json!({"name": n.name, "failing": n.failing, "due": format_unix(n.due)}))
        .collect();
    let alerts: Vec<Value> = report
        .alerts
        .iter()
        .map(|a| {
            let destinations: Vec<Value> = match &a.outcome {
                AlertOutcome::Queued(list) => list
                    .iter()
                    .map(|(d, delivery)| json!({"destination": d, "delivered": delivery.as_ref().is_some_and(ops_alert::Delivery::is_sent)}))
                    .collect(),
                _ => Vec::new(),
            };
            json!({"level": a.alert.level.as_str(), "message": a.alert.message, "outcome": ops_kit::pass::outcome_words(&a.outcome), "destinations": destinations})
        })
        .collect();
    let doc = json!({
        "started": ops_state::timestamp::format_utc(report.started),
        "services": services,
        "not_due": not_due,
        "alerts": alerts,
        "warnings": report.warnings().collect::<Vec<_>>(),
    });
    p.stdout = format!("{doc:#}\n");
    p.code = if report.any_failing() { exit::FAILED } else { exit::OK };
    p
}

fn service_json(s: &ServiceReport) -> Value {
    let restart = s.restart.as_ref().map(|step| match step {
        RestartStep::Ran { attempt, run, recovered } => json!({
            "step": "ran", "attempt": attempt, "recovered": recovered,
            "outcome": match &run.outcome {
                RunOutcome::Exited(code) => format!("exited {code}"),
                RunOutcome::Signaled(sig) => format!("killed by signal {sig}"),
                RunOutcome::TimedOut => "timed out".to_owned(),
                RunOutcome::NotStarted(why) => format!("not started: {why}"),
            },
        }),
        RestartStep::Cooldown { remaining } => json!({
            "step": "skipped", "why": "cooldown", "cooldown_left_seconds": remaining.as_secs_f64(),
            "text": format!("restart in cooldown, {} left", human_duration(*remaining)),
        }),
        RestartStep::GaveUp { attempts } => json!({
            "step": "skipped", "why": "attempt limit", "attempts": attempts,
            "text": format!("{attempts} restart attempts exhausted; manual intervention required"),
        }),
        RestartStep::WouldRestart => json!({"step": "would restart"}),
        RestartStep::Skipped(why) => json!({"step": "skipped", "why": why}),
    });
    json!({
        "name": s.check.name,
        "type": s.check.check_type.as_str(),
        "state": s.state(),
        "detail": s.check.detail,
        "blocked_by": s.blocked_by,
        "recheck": s.recheck.as_ref().map(|r| json!({"status": r.outcome.as_str(), "detail": r.detail})),
        "restart": restart,
        "quiet": s.quiet.as_ref().map(ToString::to_string),
    })
}

/// `orchestrator ack`: what was acknowledged.
pub fn acked(name: &str, ack: &Ack) -> String {
    let (what, end) = if ack.warning { ("warning", "end") } else { ("outage", "recovery") };
    format!(
        "{name}: {what} since {} acknowledged; no more reminders or escalations for it (its {end} is still said)\n",
        format_unix(ack.outage)
    )
}

/// `orchestrator status`: one line per check.
pub fn status(services: &[ServiceStatus], now: f64) -> String {
    let mut out = String::new();
    for s in services {
        let mut line = format!("{}: ", s.name);
        match &s.state {
            State::Blocked { by } => {
                let _ = write!(line, "blocked by {}", by.join(", "));
            }
            state => line.push_str(state.as_str()),
        }
        if let Some(since) = s.since {
            let _ = write!(line, " since {} ({})", format_unix(since), ago(now - since));
        }
        let mut notes: Vec<String> = Vec::new();
        if s.alerted {
            notes.push("alerted".into());
        }
        if s.escalated.0 > 0 {
            notes.push(format!("escalation {} of {}", s.escalated.0, s.escalated.1));
        }
        if let Some(a) = &s.ack {
            let by = a.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            let note = a.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
            notes.push(format!("acknowledged{by} at {}{note}", format_unix(a.at)));
        }
        if let Some(r) = &s.restarts {
            let mut t = format!("restarts {} of {} used", r.used, r.max);
            if let Some(left) = r.cooldown_left {
                let _ = write!(t, ", cooldown {} left", human_duration(left));
            }
            notes.push(t);
        }
        if let Some(q) = &s.quiet {
            notes.push(q.to_string());
        }
        notes.push(match s.next_check() {
            Some(next) if next > now => format!("next check {}", format_unix(next)),
            Some(_) => "next check with the next pass".into(),
            None => "checked every pass".into(),
        });
        let _ = writeln!(out, "{line}; {}", notes.join("; "));
    }
    if services.is_empty() {
        out.push_str("No checks configured.\n");
    }
    out
}

/// `orchestrator status --json`: ops-kit's document, which `agent-ops-mcp` serves too.
pub fn status_json(services: &[ServiceStatus]) -> String {
    format!("{:#}\n", ops_kit::status::json(services))
}

/// `12m`, `3h 4m`: a time ago, never negative.
fn ago(seconds: f64) -> String {
    human_duration(std::time::Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default())
}
