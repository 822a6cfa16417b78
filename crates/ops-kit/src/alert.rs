//! The alert pass: builds the [`Alerter`] from `services.json`, the environment and the
//! layout, and turns its typed outcomes into what `alert` prints and its exit code.
//!
//! Files, all under the layout's state directory: `alert-rate.json` (the seed's
//! `{topic: unix_seconds}`, shared with the seed's script), `alert-outbox.jsonl` (alerts not
//! yet confirmed, in order), their `.lock` files, `alert-outbox.jsonl.delivery.lock`, and
//! `alert-outbox.jsonl.bad` for outbox lines that could not be read.
//!
//! Library callers (the orchestrator) use [`alerter`] and then [`Alerter::send`] /
//! [`Alerter::flush`] for typed results; the functions returning [`Printed`] are for binaries.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::webhook::{Webhook, WebhookConfig};
use ops_alert::{
    Alert, AlertError, Alerter, Delivery, FlushReport, Level, Notifier, Outbox, Outcome, Problem, RateLimit,
    RateLimited, RetryPolicy, Verdict,
};

pub use crate::Printed;
use crate::{Config, ConfigError, Env, Layout, Loaded, exit};

/// The rate-limit file in the state directory (the seed's name).
pub const RATE_FILE: &str = "alert-rate.json";

/// The outbox in the state directory.
pub const OUTBOX_FILE: &str = "alert-outbox.jsonl";

/// Loads the configuration for alerting: as [`Config::load`], except that no services.json at
/// the default place is fine when `TELEGRAM_BOT_TOKEN` and `TELEGRAM_CHAT_ID` are both set
/// (and when they are not, the error says that either way works). A file missing where
/// `--config` or `AGENT_OPS_CONFIG` pointed is always an error.
pub fn load(layout: &Layout, env: &Env) -> Result<Loaded, ConfigError> {
    match Config::load_optional(layout, env)? {
        Some(loaded) => Ok(loaded),
        None if env.telegram_bot_token.is_some() && env.telegram_chat_id.is_some() => {
            Config::parse(&layout.config, b"{}", env)
        }
        None => Err(ConfigError::Alerting {
            message: format!(
                "there is no configuration file ({}) and TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not \
                 both set: create it with alerting.telegram_bot_token and alerting.telegram_chat_id (see \
                 examples/services.full.json), or set the two environment variables",
                layout.config_origin
            ),
            path: layout.config.clone(),
        }),
    }
}

/// The alerter of this installation: Telegram when a token and a chat id are configured,
/// every webhook, the rate limit and the outbox in the state directory.
///
/// Fails when there is no destination at all, when Telegram is half configured, or when the
/// token does not look like one; each message names the config keys and the environment
/// variables (and never the token).
pub fn alerter(config: &Config, layout: &Layout) -> Result<Alerter, ConfigError> {
    let a = &config.alerting;
    let err = |message: String| ConfigError::Alerting { path: config.path.clone(), message };
    let retry = RetryPolicy {
        request_timeout: Duration::try_from_secs_f64(a.timeout_seconds).unwrap_or(Duration::from_secs(10)),
        ..RetryPolicy::default()
    };
    let mut notifiers: Vec<Box<dyn Notifier>> = Vec::new();
    match (&a.telegram_bot_token, &a.telegram_chat_id) {
        (Some(token), Some(chat_id)) => {
            let config = TelegramConfig {
                api_url: a.telegram_api_url.clone(),
                token: token.clone(),
                chat_id: chat_id.clone(),
                retry,
            };
            notifiers.push(Box::new(Telegram::new(config).map_err(|e| err(telegram_problem(&e)))?));
        }
        (Some(_), None) => {
            return Err(err("a Telegram bot token is set but no chat id: set alerting.telegram_chat_id in \
                            services.json or the TELEGRAM_CHAT_ID environment variable"
                .into()));
        }
        (None, Some(_)) => {
            return Err(err(
                "a Telegram chat id is set but no bot token: set alerting.telegram_bot_token in \
                            services.json or the TELEGRAM_BOT_TOKEN environment variable"
                    .into(),
            ));
        }
        (None, None) => {}
    }
    for w in &a.webhooks {
        let hook = Webhook::new(WebhookConfig {
            name: w.name.clone(),
            url: w.url.clone(),
            body: w.body.clone(),
            headers: w.headers.clone(),
            max_chars: w.max_chars,
            retry,
        })
        .map_err(|e| err(format!("alerting.webhooks {:?}: {e}", w.name)))?;
        notifiers.push(Box::new(hook));
    }
    if notifiers.is_empty() {
        return Err(err("no Telegram bot token and chat id: set alerting.telegram_bot_token and \
                        alerting.telegram_chat_id in services.json, or the TELEGRAM_BOT_TOKEN and \
                        TELEGRAM_CHAT_ID environment variables (or add alerting.webhooks)"
            .into()));
    }
    let rate = RateLimit::new(layout.state.join(RATE_FILE), a.rate_limit_seconds);
    let outbox = Outbox::new(layout.state.join(OUTBOX_FILE));
    Alerter::new(notifiers, rate, outbox).map_err(|e| err(e.to_string()))
}

/// A Telegram setting problem, named by its config key and environment variable.
fn telegram_problem(e: &AlertError) -> String {
    match e {
        AlertError::Invalid { field: "token", message } => {
            format!("alerting.telegram_bot_token (or TELEGRAM_BOT_TOKEN) {message}")
        }
        AlertError::Invalid { field: "chat_id", message } => {
            format!("alerting.telegram_chat_id (or TELEGRAM_CHAT_ID) {message}")
        }
        AlertError::Invalid { field: "api_url", message } => {
            format!("alerting.telegram_api_url (or TELEGRAM_API_URL) {message}")
        }
        other => other.to_string(),
    }
}

/// The message `alert test` sends.
pub fn test_alert() -> Alert {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty());
    let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
    Alert {
        level: Level::Info,
        topic: None,
        message: format!("Test alert from agent-ops{on}: if you can read this, alerts reach you."),
    }
}

/// The MESSAGE argument of `alert send`: itself, or for `-` all of `stdin` (invalid UTF-8
/// replaced, trailing newlines removed, so `uptime-report | alert send -` works).
pub fn message_arg(arg: String, mut stdin: impl std::io::Read) -> std::io::Result<String> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut bytes = Vec::new();
    stdin.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']).to_owned())
}

/// `alert send`: sends (or rate-limits, or queues) and says what happened. Exit 0 when sent
/// or rate limited, 1 when not delivered.
pub fn send(alerter: &Alerter, alert: &Alert) -> Printed {
    match alerter.send(alert) {
        Ok(outcome) => describe_send(&outcome, &alerter.outbox().path),
        Err(e) => failed(&format!("the alert was not sent: {e}")),
    }
}

/// The text and exit code for a send outcome: nothing on stdout when sent (as the seed), the
/// seed's line when rate limited, and on stderr each destination that did not confirm, with
/// the reason, what to change, and where the alert waits.
pub fn describe_send(outcome: &Outcome, outbox: &Path) -> Printed {
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

/// The seed's words: `Rate limited: topic 'api' sent within last 300s. Skipping.`
fn rate_limited_line(limited: &RateLimited) -> String {
    format!("Rate limited: topic '{}' sent within last {}s. Skipping.", limited.topic, number(limited.limit))
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
pub fn describe_flush(report: &FlushReport, outbox: &Path) -> Printed {
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

/// `alert test`: sends [`test_alert`] to every destination now (no rate limit, no outbox).
pub fn test(alerter: &Alerter) -> Printed {
    let mut p = Printed::default();
    let deliveries = alerter.deliver_now(&test_alert());
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

/// `alert send --dry-run` (and `alert test --dry-run` with [`test_alert`] and no rate
/// limit): the rate decision and the requests that would be made, secrets redacted. Nothing
/// is sent or written.
pub fn dry_run_send(alerter: &Alerter, alert: &Alert, rate_limited: bool) -> Printed {
    let mut p = Printed::default();
    if rate_limited {
        match alerter.rate_check(alert) {
            Ok(Some(limited)) => {
                p.stdout = format!("dry run: {}\n", rate_limited_line(&limited));
                return p;
            }
            Ok(None) => {}
            Err(e) => return failed(&format!("cannot read the rate limit: {e}")),
        }
    }
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
    for notifier in alerter.notifiers() {
        for request in notifier.preview(alert) {
            let body = serde_json::to_string_pretty(&request.body).unwrap_or_default();
            let _ = writeln!(p.stdout, "dry run: {}: POST {}\n{body}", notifier.destination(), request.url);
        }
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
