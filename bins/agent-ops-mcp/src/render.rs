//! The server's words: the short text that goes with each tool's structured answer (a line or
//! a few; the structure is in `structuredContent`), and what a change did.

use std::fmt::Write as _;
use std::path::Path;

use ops_alert::{Delivery, Outcome, Verdict};
use ops_board::{Stalled, StalledQuery, Task};
use ops_health::CheckResult;
use ops_kit::maintenance::Silence;
use ops_kit::pass::{RestartStep, Restarted};
use ops_kit::status::{ServiceStatus, State};
use ops_kit::uptime::{Found, Sla};
use ops_metrics::IncidentLog;
use ops_metrics::render::human_duration;
use ops_state::timestamp::{format_unix, unix_seconds};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// How many items a text names before it says "and N more".
const NAMED: usize = 10;

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = items.collect();
    let mut out = all.iter().take(NAMED).copied().collect::<Vec<_>>().join(", ");
    if all.len() > NAMED {
        let _ = write!(out, " and {} more", all.len() - NAMED);
    }
    out
}

fn warnings_line(out: &mut String, warnings: &[String]) {
    for w in warnings.iter().take(NAMED) {
        let _ = write!(out, "\nwarning: {w}");
    }
}

/// `status`: counts by state, then the services that are not up.
pub fn status(services: &[ServiceStatus], warnings: &[String]) -> String {
    let count = |s: &str| services.iter().filter(|x| x.state.as_str() == s).count();
    let mut out = format!(
        "{} checks: {} up, {} down, {} blocked, {} unknown",
        services.len(),
        count("up"),
        count("down"),
        count("blocked"),
        count("unknown")
    );
    for s in services.iter().filter(|s| matches!(s.state, State::Down | State::Blocked { .. })).take(NAMED) {
        let _ = write!(out, "\n{}: {}", s.name, s.state.as_str());
        if let State::Blocked { by } = &s.state {
            let _ = write!(out, " by {}", by.join(", "));
        }
        if let Some(since) = s.since {
            let _ = write!(out, " since {}", format_unix(since));
        }
        if let Some(q) = &s.quiet {
            let _ = write!(out, "; {q}");
        }
        if s.ack.is_some() {
            out.push_str("; acknowledged");
        }
    }
    warnings_line(&mut out, warnings);
    out
}

/// `check`: the verdict, then each check that did not pass.
pub fn check(results: &[CheckResult]) -> String {
    let failed: Vec<&CheckResult> = results.iter().filter(|r| !r.outcome.is_up()).collect();
    let warned = results.iter().filter(|r| r.outcome.is_warning()).count();
    let mut out = if failed.is_empty() {
        format!("All {} checks passed", results.len())
    } else {
        format!("{} of {} checks failed", failed.len(), results.len())
    };
    if warned > 0 {
        let _ = write!(out, ", {warned} with a warning");
    }
    for r in failed.iter().take(NAMED) {
        let _ = write!(out, "\n{}: {}", r.name, r.detail);
    }
    out
}

/// `incidents`: how many, the open ones, then the newest.
pub fn incidents(log: &IncidentLog, now: OffsetDateTime) -> String {
    let open: Vec<&str> =
        log.incidents.iter().filter(|i| i.ended.is_none()).map(|i| i.service.as_str()).collect();
    let mut out = format!("{} incident(s) over {}", log.incidents.len(), log.window.label());
    if !open.is_empty() {
        let _ = write!(out, "; open now: {}", names(open.into_iter()));
    }
    for i in log.incidents.iter().take(NAMED) {
        let _ = write!(
            out,
            "\n{}: {} from {} for {}",
            i.service,
            i.kind,
            format_unix(unix_seconds(i.started)),
            human_duration(i.duration(now))
        );
    }
    if log.incidents.len() > NAMED {
        let _ = write!(out, "\n... and {} more", log.incidents.len() - NAMED);
    }
    out
}

/// `uptime`: each service's uptime, and the SLA's verdict when one was asked for.
pub fn uptime(found: &Found, sla: Option<f64>) -> String {
    let r = &found.report;
    let mut out = format!("Uptime over {}:", r.window.label());
    for s in r.python_kit_order().into_iter().take(NAMED) {
        let _ = write!(out, "\n{}: {}% of {} checks", s.name, s.uptime_text(), s.total_checks());
    }
    if r.services.len() > NAMED {
        let _ = write!(out, "\n... and {} more services", r.services.len() - NAMED);
    }
    if let Some(target) = sla {
        match found.sla(target) {
            Sla::Met => {
                let _ = write!(out, "\nEvery service met {target}%");
            }
            Sla::Below(below) => {
                let _ = write!(out, "\nBelow {target}%: {}", names(below.iter().map(String::as_str)));
            }
            Sla::NoData => {
                let _ =
                    write!(out, "\nNo checks in the window: nothing shows that any service met {target}%");
            }
        }
    }
    warnings_line(&mut out, &found.warnings);
    out
}

/// `board_list`: how many, and each task's id, column and title.
pub fn tasks(tasks: &[&Task]) -> String {
    let mut out = format!("{} task(s)", tasks.len());
    for t in tasks.iter().take(NAMED * 2) {
        let _ = write!(out, "\n{} [{}] {}", t.id, t.column, t.title);
    }
    if tasks.len() > NAMED * 2 {
        let _ = write!(out, "\n... and {} more", tasks.len() - NAMED * 2);
    }
    out
}

/// One task after `verb` (`Created`, `Moved to done` ...), or shown (no verb).
pub fn task(verb: &str, t: &Task) -> String {
    let verb = if verb.is_empty() { String::new() } else { format!("{verb}: ") };
    let owner = if t.owner.is_empty() { String::new() } else { format!(", owner {}", t.owner) };
    format!("{verb}{} [{}] {} (priority {}{owner})", t.id, t.column, t.title, t.priority)
}

/// `board_stalled`: how many, and each one's age.
pub fn stalled(found: &Stalled<'_>, query: &StalledQuery) -> String {
    let hours = query.older_than.as_secs_f64() / 3600.0;
    let mut out = format!(
        "{} stalled task(s) (in {} for more than {hours}h)",
        found.tasks.len(),
        query.columns.join(", ")
    );
    for s in found.tasks.iter().take(NAMED) {
        let _ = write!(out, "\n{} {}: {}", s.task.id, human_duration(s.age), s.task.title);
    }
    out
}

/// `logs_tail`: where, and the lines.
pub fn log_lines(path: &Path, lines: &[String]) -> String {
    let mut out = format!("{} line(s) of {}", lines.len(), path.display());
    for l in lines {
        out.push('\n');
        out.push_str(l);
    }
    out
}

/// `silence`.
pub fn silenced(service: &str, s: &Silence) -> String {
    let why = s.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    format!(
        "{service}: silenced until {}{why}: checked and recorded, neither restarted nor alerted",
        format_unix(s.until)
    )
}

/// `alert_send`: the structured outcome, its words, and whether it failed.
pub fn alert_outcome(outcome: &Outcome) -> (Value, String, bool) {
    let verdict = outcome.verdict();
    let word = match verdict {
        Verdict::Sent => "sent",
        Verdict::RateLimited => "rate limited",
        Verdict::Queued => "queued",
        Verdict::Failed => "failed",
    };
    let deliveries: Vec<Value> = outcome
        .deliveries
        .iter()
        .map(|d| match d {
            Delivery::Sent { destination, .. } => json!({"destination": destination, "sent": true}),
            Delivery::NotSent { destination, failure, queued } => {
                json!({"destination": destination, "sent": false, "queued": queued, "reason": failure.reason})
            }
        })
        .collect();
    let mut text = match (&outcome.rate_limited, verdict) {
        (Some(l), _) => format!(
            "Rate limited: topic {:?} was alerted {} ago (at most once per {}); nothing was sent",
            l.topic,
            human_duration(l.ago),
            human_duration(l.limit)
        ),
        (None, Verdict::Sent) => "Sent to every destination".to_owned(),
        (None, Verdict::Queued) => {
            "Not delivered everywhere yet; it waits in the outbox for the next run".to_owned()
        }
        (None, _) => "Not delivered".to_owned(),
    };
    for d in &outcome.deliveries {
        if let Delivery::NotSent { destination, failure, .. } = d {
            let _ = write!(text, "\n{destination}: {}", failure.reason);
        }
    }
    warnings_line(&mut text, &outcome.warnings);
    let doc = json!({"verdict": word, "deliveries": deliveries, "warnings": outcome.warnings});
    (doc, text, verdict == Verdict::Failed)
}

/// `restart`: what the policy said or the command did, and the re-check.
pub fn restarted(service: &str, done: &Restarted) -> String {
    let mut out = match &done.step {
        RestartStep::Ran { attempt, recovered, .. } => {
            let verdict = if *recovered { "recovered" } else { "still down" };
            format!("{service}: restart attempt {attempt} ran; {verdict}")
        }
        RestartStep::Cooldown { remaining } => format!(
            "{service}: not restarted: in its cooldown for {} more (restart_cooldown_seconds); check status before trying again",
            human_duration(*remaining)
        ),
        RestartStep::GaveUp { attempts } => format!(
            "{service}: not restarted: {attempts} attempts were made within the hour (max_restart_attempts); a person must look at it"
        ),
        RestartStep::WouldRestart => format!("{service}: not restarted"),
        RestartStep::Skipped(why) => format!("{service}: not restarted: {why}"),
    };
    if let Some(r) = &done.recheck {
        let _ = write!(out, "\nre-check: {}", r.detail);
    }
    warnings_line(&mut out, &done.warnings);
    out
}

/// An answer past the size bound.
pub fn too_large(tool: &str, size: usize, max: usize) -> String {
    format!(
        "{tool}: the answer is {size} bytes, more than the {max} an answer may hold; narrow the request \
         (fewer names, a column, a service, fewer lines)"
    )
}
