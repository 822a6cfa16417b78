//! What `alert` prints: for each command, the words on stdout and stderr and the exit code,
//! from ops-alert's typed outcomes. Every failure says why, what to change, and where the
//! alert waits.

use std::fmt::Write as _;
use std::path::Path;

use ops_alert::{Alert, Alerter, Delivery, FlushReport, Outcome, Problem, RateLimited, Verdict};
use ops_cli::{Printed, exit};

/// `alert send`: sends (or rate-limits, or queues) and says what happened. Exit 0 when sent
/// or rate limited, 1 when not delivered.
pub fn send(alerter: &Alerter, alert: &Alert) -> Printed {
    match alerter.send(alert) {
        Ok(outcome) => describe_send(&outcome, &alerter.outbox().path),
        Err(e) => failed(&format!("the alert was not sent: {e}")),
    }
}

/// The text and exit code for a send outcome: nothing on stdout when sent (as the Python kit), the
/// the Python kit's line when rate limited, and on stderr each destination that did not confirm, with
/// the reason, what to change, and where the alert waits.
fn describe_send(outcome: &Outcome, outbox: &Path) -> Printed {
    let mut p = Printed::default();
    if let Some(limited) = &outcome.rate_limited {
        p.stdout = format!("{}\n", rate_limited_line(limited));
    }
    for w in &outcome.warnings {
        let _ = writeln!(p.stderr, "warning: {w}");
    }
    let earlier_sent = outcome.earlier.iter().filter(|(_, d)| d.is_sent()).count();
    if earlier_sent > 0 {
        let _ = writeln!(p.stderr, "note: delivered {earlier_sent} earlier alert(s) from the outbox first");
    }
    for d in &outcome.deliveries {
        describe_delivery(d, outbox, &mut p.stderr);
    }
    p.code = match outcome.verdict() {
        Verdict::Sent | Verdict::RateLimited => exit::OK,
        Verdict::Queued | Verdict::Failed => exit::FAILED,
    };
    p
}

/// The Python kit's words: `Rate limited: topic 'api' sent within last 300s. Skipping.`
fn rate_limited_line(limited: &RateLimited) -> String {
    format!(
        "Rate limited: topic '{}' sent within last {}s. Skipping.",
        limited.topic,
        number(limited.limit.as_secs_f64())
    )
}

/// `300` for 300.0, `0.5` for 0.5.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x}") }
}

fn describe_delivery(d: &Delivery, outbox: &Path, out: &mut String) {
    match d {
        Delivery::Sent { destination, receipt } => {
            for notice in &receipt.notices {
                let key = if destination == "telegram" {
                    " (alerting.telegram_chat_id or TELEGRAM_CHAT_ID)"
                } else {
                    ""
                };
                let _ = writeln!(out, "warning: {destination}: {notice}{key}");
            }
        }
        Delivery::NotSent { destination, failure, queued } => {
            let hint = hint(destination, failure.problem);
            let fate = match (queued, failure.problem.is_permanent()) {
                (false, _) => "; it could not be queued either".to_owned(),
                (true, false) => format!(
                    "; queued in {}: the next `alert` or orchestrator run, or `alert flush`, delivers it",
                    outbox.display()
                ),
                (true, true) => {
                    format!("; kept in {}: `alert flush` delivers it once this is fixed", outbox.display())
                }
            };
            let _ = writeln!(out, "error: not delivered to {destination}: {}{hint}{fate}", failure.reason);
        }
    }
}

/// What the user can change for a permanent problem.
fn hint(destination: &str, problem: Problem) -> &'static str {
    let telegram = destination == "telegram";
    match problem {
        Problem::Unauthorized if telegram => {
            " (check alerting.telegram_bot_token or TELEGRAM_BOT_TOKEN, and alerting.telegram_api_url or TELEGRAM_API_URL)"
        }
        Problem::Forbidden if telegram => " (the bot was blocked or removed from the chat: add it back)",
        Problem::Rejected if telegram => " (check alerting.telegram_chat_id or TELEGRAM_CHAT_ID)",
        Problem::Unauthorized | Problem::Forbidden | Problem::Rejected => {
            " (check this webhook's url, headers and body in alerting.webhooks)"
        }
        Problem::NotConfigured => " (configure it again to deliver these alerts)",
        _ => "",
    }
}

/// `alert flush`: delivers the outbox. Exit 0 when it is empty afterwards.
pub fn flush(alerter: &Alerter) -> Printed {
    match alerter.flush() {
        Ok(report) => describe_flush(&report, &alerter.outbox().path),
        Err(e) => failed(&format!("cannot deliver the outbox: {e}")),
    }
}

/// The text and exit code for a flush: how many were delivered, and for each destination
/// that failed, why and how many wait.
fn describe_flush(report: &FlushReport, outbox: &Path) -> Printed {
    let mut p = Printed::default();
    for w in &report.warnings {
        let _ = writeln!(p.stderr, "warning: {w}");
    }
    if report.busy {
        let _ = writeln!(
            p.stderr,
            "error: another agent-ops process kept delivering the outbox for longer than we could wait; \
             {} alert(s) wait in {}",
            report.remaining,
            outbox.display()
        );
        p.code = exit::FAILED;
        return p;
    }
    let sent = report.entries.iter().filter(|(_, d)| d.is_sent()).count();
    if sent > 0 {
        let _ = writeln!(p.stdout, "Delivered {sent} queued alert(s).");
    }
    let mut reported: Vec<&str> = Vec::new();
    for (_, d) in &report.entries {
        match d {
            Delivery::Sent { destination, receipt } => {
                for notice in &receipt.notices {
                    let _ = writeln!(p.stderr, "warning: {destination}: {notice}");
                }
            }
            Delivery::NotSent { destination, failure, .. } if !reported.contains(&destination.as_str()) => {
                reported.push(destination);
                let waiting = report
                    .entries
                    .iter()
                    .filter(|(e, d)| !d.is_sent() && e.destination == *destination)
                    .count();
                let _ = writeln!(
                    p.stderr,
                    "error: {waiting} alert(s) not delivered to {destination}: {}{}",
                    failure.reason,
                    hint(destination, failure.problem)
                );
            }
            Delivery::NotSent { .. } => {}
        }
    }
    if report.remaining == 0 {
        if sent == 0 {
            let _ = writeln!(p.stdout, "The outbox is empty.");
        }
        p.code = exit::OK;
    } else {
        let _ = writeln!(p.stderr, "{} alert(s) wait in {}", report.remaining, outbox.display());
        p.code = exit::FAILED;
    }
    p
}

/// `alert test`: sends `alert` to every destination now (no rate limit, no outbox).
pub fn test(alerter: &Alerter, alert: &Alert) -> Printed {
    let mut p = Printed::default();
    let deliveries = alerter.deliver_now(alert);
    for d in &deliveries {
        match d {
            Delivery::Sent { destination, receipt } => {
                let ids: Vec<String> = receipt.message_ids.iter().map(ToString::to_string).collect();
                let ids =
                    if ids.is_empty() { String::new() } else { format!(" (message {})", ids.join(", ")) };
                let _ = writeln!(p.stdout, "{destination}: test alert delivered{ids}");
                for notice in &receipt.notices {
                    let _ = writeln!(p.stderr, "warning: {destination}: {notice}");
                }
            }
            Delivery::NotSent { destination, failure, .. } => {
                let _ = writeln!(
                    p.stderr,
                    "error: {destination}: {}{}",
                    failure.reason,
                    hint(destination, failure.problem)
                );
            }
        }
    }
    p.code = if deliveries.iter().all(Delivery::is_sent) { exit::OK } else { exit::FAILED };
    p
}

/// `alert send --dry-run`: the rate decision, then what [`dry_run_test`] shows. Nothing is
/// sent or written.
pub fn dry_run_send(alerter: &Alerter, alert: &Alert) -> Printed {
    match alerter.rate_check(alert) {
        Ok(Some(limited)) => {
            Printed { stdout: format!("dry run: {}\n", rate_limited_line(&limited)), ..Printed::default() }
        }
        Ok(None) => dry_run_test(alerter, alert),
        Err(e) => failed(&format!("cannot read the rate limit: {e}")),
    }
}

/// `alert test --dry-run` (no rate limit): the queued alerts that would go first and the
/// requests that would be made, secrets redacted. Nothing is sent or written.
pub fn dry_run_test(alerter: &Alerter, alert: &Alert) -> Printed {
    let mut p = Printed::default();
    match alerter.outbox().entries() {
        Ok(entries) if !entries.is_empty() => {
            let _ = writeln!(
                p.stdout,
                "dry run: {} queued alert(s) in {} would be delivered first",
                entries.len(),
                alerter.outbox().path.display()
            );
        }
        Ok(_) => {}
        Err(e) => return failed(&format!("cannot read the outbox: {e}")),
    }
    for (destination, request) in alerter.preview(alert) {
        let body = serde_json::to_string_pretty(&request.body).unwrap_or_default();
        let _ = writeln!(p.stdout, "dry run: {destination}: POST {}\n{body}", request.url);
    }
    p
}

/// `alert flush --dry-run`: what waits in the outbox.
pub fn dry_run_flush(alerter: &Alerter) -> Printed {
    let outbox = alerter.outbox();
    let entries = match outbox.entries() {
        Ok(e) => e,
        Err(e) => return failed(&format!("cannot read the outbox: {e}")),
    };
    let mut p = Printed::default();
    let _ = writeln!(p.stdout, "dry run: {} alert(s) wait in {}", entries.len(), outbox.path.display());
    for e in &entries {
        let first_line = e.alert.message.lines().next().unwrap_or_default();
        let _ = write!(p.stdout, "- {} {} [{}] {first_line}", e.queued_at, e.destination, e.alert.level);
        if let Some(err) = &e.last_error {
            let _ = write!(p.stdout, " (attempts {}, last error: {err})", e.attempts);
        }
        p.stdout.push('\n');
    }
    p
}

fn failed(message: &str) -> Printed {
    Printed { stdout: String::new(), stderr: format!("error: {message}\n"), code: exit::FAILED }
}
