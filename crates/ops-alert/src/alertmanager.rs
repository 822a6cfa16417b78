//! Prometheus Alertmanager as a destination: `POST /api/v2/alerts` on every URL of a cluster.
//!
//! Alertmanager keeps the state of alerts itself: an alert is its label set, and it stays
//! firing until its `endsAt` passes. So this notifier takes a message's events, not its words
//! ([`Notifier::takes_events`]): each event is the latest state of its episode, posted as one
//! alert whose labels are the event's (`alertname`, `service`, `severity`, `check_type` ...),
//! the configured ones and `instance`; `startsAt` is the episode's start; `endsAt` is the close
//! for a closed episode (it resolves at once) and otherwise `resolve_after` from the delivery,
//! so an alert the caller stops re-sending (a monitor that died) resolves on its own; neither
//! time is after the delivery for a closed episode, nor `startsAt` for an open one (a clock
//! that went back). The caller re-sends the open episodes at every pass.
//!
//! A note (`alert send`) is posted as an `AgentOpsMessage` alert that ends `resolve_after`
//! later. Every URL gets every alert, as Prometheus sends them to an HA cluster; a delivery
//! is confirmed when at least one of them took it (the cluster's peers gossip the rest), and
//! fails with each URL's reason otherwise.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ureq::Agent;

use crate::http::{self, RetryPolicy, Step, backoff_for, post_json};
use crate::notifier::{Failure, Notifier, Problem, Receipt, Request, Unredacted};
use crate::telegram::check_http_url;
use crate::{Alert, AlertError, Event, EventKind, Secret, Secrets, Setting};

/// The `alertname` of a note (`alert send`).
pub const MESSAGE_ALERTNAME: &str = "AgentOpsMessage";

/// An Alertmanager cluster.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// The base URL of each instance (`http://127.0.0.1:9093`); secrets (they may carry
    /// credentials).
    pub urls: Vec<Secret>,
    /// Labels added to every alert (`team`, `env` ...); an event's own labels win.
    pub labels: BTreeMap<String, String>,
    /// The `instance` label: the host this agent watches from.
    pub instance: String,
    /// The alerts' `generatorURL` (the status page, when served).
    pub generator_url: Option<String>,
    /// How long after a delivery an open episode's alert ends unless it is sent again.
    pub resolve_after: Duration,
    /// Retries and timeouts, per URL.
    pub retry: RetryPolicy,
}

/// Sends alerts to an Alertmanager cluster.
pub struct Alertmanager {
    config: AlertmanagerConfig,
    secrets: Secrets,
    agent: Agent,
}

impl std::fmt::Debug for Alertmanager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alertmanager").field("urls", &self.config.urls.len()).finish_non_exhaustive()
    }
}

/// Whether `name` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
/// (reserved).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl Alertmanager {
    /// Checks the settings: at least one `http(s)://` base URL (no query or fragment), label
    /// names Prometheus accepts.
    pub fn new(config: AlertmanagerConfig) -> Result<Self, AlertError> {
        let invalid = |field, message: String| Err(AlertError::Invalid { field, message });
        if config.urls.is_empty() {
            return invalid(Setting::Url, "must list at least one Alertmanager URL".into());
        }
        let mut secrets = Secrets::default();
        for url in &config.urls {
            check_http_url(Setting::Url, url.expose())?;
            if url.expose().contains(['?', '#']) {
                // `/api/v2/alerts` would land in the query or fragment: a request to `/`.
                return invalid(
                    Setting::Url,
                    "must be a base URL, without a query (?) or fragment (#): /api/v2/alerts is added to it"
                        .into(),
                );
            }
            secrets.add_url_parts(url.expose(), false);
        }
        if let Some(bad) = config.labels.keys().find(|k| !is_label_name(k)) {
            return invalid(
                Setting::Labels,
                format!(
                    "{bad:?} is not a label name (letters, digits and _, not starting with a digit or __)"
                ),
            );
        }
        if config.instance.trim().is_empty() {
            return invalid(Setting::Instance, "must not be empty".into());
        }
        Ok(Self { config, secrets, agent: http::agent(None)? })
    }

    /// The same notifier, its requests going through the HTTP proxy at `url`.
    pub fn with_proxy(mut self, url: &Secret) -> Result<Self, AlertError> {
        self.agent = http::agent(Some(url))?;
        self.secrets.add_url_parts(url.expose(), false);
        Ok(self)
    }

    /// The body for `events`, delivered at `now` (unix seconds).
    pub fn render_events(&self, events: &[Event], now: f64) -> Value {
        let alerts: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut labels = self.config.labels.clone();
                labels.extend(
                    e.labels.iter().filter(|(k, _)| is_label_name(k)).map(|(k, v)| (k.clone(), v.clone())),
                );
                labels.insert("instance".into(), self.config.instance.clone());
                // Never after the delivery: a clock that went back since the episode began
                // (or closed) must neither end an open episode at its start, which has not come
                // yet, nor keep a closed one firing until then.
                let (ends, latest_start) = if e.kind == EventKind::Closed {
                    (e.at.min(now), e.at.min(now))
                } else {
                    (now + self.config.resolve_after.as_secs_f64(), now)
                };
                let starts = e.started.unwrap_or(e.at).min(latest_start);
                let summary = if e.text.is_empty() { e.section.clone() } else { e.text.clone() };
                self.alert(&labels, &summary, &format!("{}: {summary}", e.section), starts, ends)
            })
            .collect();
        Value::Array(alerts)
    }

    /// The body for a note.
    pub fn render_note(&self, alert: &Alert, now: f64) -> Value {
        let mut labels = self.config.labels.clone();
        labels.insert("alertname".into(), MESSAGE_ALERTNAME.into());
        labels.insert("severity".into(), alert.level.as_str().into());
        if let Some(topic) = &alert.topic {
            labels.insert("topic".into(), topic.clone());
        }
        labels.insert("instance".into(), self.config.instance.clone());
        let summary = alert.message.lines().next().unwrap_or_default();
        let ends = now + self.config.resolve_after.as_secs_f64();
        Value::Array(vec![self.alert(&labels, summary, &alert.message, now, ends)])
    }

    fn alert(
        &self,
        labels: &BTreeMap<String, String>,
        summary: &str,
        description: &str,
        starts: f64,
        ends: f64,
    ) -> Value {
        let mut alert = json!({
            "labels": labels,
            "annotations": {"summary": summary, "description": description},
            "startsAt": rfc3339(starts),
            "endsAt": rfc3339(ends.max(starts)),
        });
        if let Some(url) = &self.config.generator_url {
            alert["generatorURL"] = json!(url);
        }
        alert
    }

    /// Posts `body` to every URL; confirmed when one of them took it. The members are asked in
    /// rounds, each once per round: a round in which one took it ends the delivery, so a member
    /// that fails (or hangs) while another accepts costs one request, not the whole retry
    /// policy at every pass. Otherwise the members that may yet answer are asked again after the
    /// backoff, within the policy's attempts and deadline.
    fn post(&self, body: &Value) -> Result<Receipt, Failure> {
        let policy = &self.config.retry;
        let start = Instant::now();
        let count = self.config.urls.len();
        // Per member: the requests made and its last failure.
        let mut made = vec![0u32; count];
        let mut last: Vec<Option<(Problem, String, bool)>> = vec![None; count];
        let mut asked: Vec<usize> = (0..count).collect();
        for round in 1..=policy.attempts.max(1) {
            let mut delivered = false;
            let mut again = Vec::new();
            let mut wait = Duration::ZERO;
            for &i in &asked {
                made[i] += 1;
                match self.attempt(i, body, round) {
                    Step::Done(()) => delivered = true,
                    Step::Retry { problem, reason, wait: Some(w) } => {
                        last[i] = Some((problem, reason, true));
                        again.push(i);
                        wait = wait.max(w);
                    }
                    Step::Retry { problem, reason, wait: None } | Step::Fail { problem, reason } => {
                        last[i] = Some((problem, reason, false));
                    }
                    // Never made by `attempt`.
                    Step::Flood { reason, .. } => last[i] = Some((Problem::FloodControl, reason, false)),
                    Step::Again => {}
                }
            }
            if delivered {
                return Ok(Receipt { parts: 1, ..Receipt::default() });
            }
            if again.is_empty() || round >= policy.attempts || start.elapsed() + wait >= policy.deadline {
                break;
            }
            thread::sleep(wait);
            asked = again;
        }
        let failures: Vec<(Problem, String)> = last
            .into_iter()
            .zip(&made)
            .filter_map(|(l, &n)| {
                let (problem, reason, retried) = l?;
                // As `with_retries` says it: how many requests a member that may yet answer got.
                let reason = match (retried, n) {
                    (false, _) => reason,
                    (true, 1) => format!("{reason} (1 attempt)"),
                    (true, n) => format!("{reason} ({n} attempts)"),
                };
                Some((problem, reason))
            })
            .collect();
        // Every URL failed: permanent only when every one of them said so.
        let permanent = failures.iter().all(|f| f.0.is_permanent());
        let problem = match failures.iter().find(|f| f.0.is_permanent() == permanent) {
            Some(f) => f.0,
            None => Problem::Connection,
        };
        let reason = failures.iter().map(|f| f.1.clone()).collect::<Vec<_>>().join("; ");
        Err(Failure::new(problem, reason, made.iter().sum()))
    }

    /// One request of `body` to member `i`, its `attempt`th.
    fn attempt(&self, i: usize, body: &Value, attempt: u32) -> Step<()> {
        let policy = &self.config.retry;
        let who = format!("alertmanager {}", i + 1);
        let endpoint = format!("{}/api/v2/alerts", self.config.urls[i].expose().trim_end_matches('/'));
        let answer = match post_json(&self.agent, &endpoint, &[], body, policy.request_timeout, false) {
            Ok(a) => a,
            Err(e) => return http::transport_step(&e, policy, attempt, &who),
        };
        let said = self.secrets.quote(&answer.body, 200);
        let quoted = if said.is_empty() {
            format!("HTTP {}", answer.status)
        } else {
            format!("HTTP {}: {said}", answer.status)
        };
        let reason = format!("{who} answered {quoted}");
        match answer.status {
            200..=299 => Step::Done(()),
            500..=599 | 429 => Step::Retry {
                problem: Problem::ServerError,
                reason,
                wait: Some(backoff_for(policy, attempt)),
            },
            401 => Step::Fail { problem: Problem::Unauthorized, reason },
            403 => Step::Fail { problem: Problem::Forbidden, reason },
            _ => Step::Fail { problem: Problem::Rejected, reason },
        }
    }
}

fn rfc3339(unix: f64) -> String {
    // `as` saturates; an absurd time becomes the epoch rather than an error.
    let t =
        OffsetDateTime::from_unix_timestamp_nanos((unix * 1e9) as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

fn now() -> f64 {
    let t = OffsetDateTime::now_utc();
    t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9
}

impl Notifier for Alertmanager {
    fn destination(&self) -> &'static str {
        "alertmanager"
    }

    fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    fn takes_events(&self) -> bool {
        true
    }

    fn send(&self, alert: &Alert, _parts_sent: u32, _: Unredacted) -> Result<Receipt, Failure> {
        self.post(&self.render_note(alert, now()))
    }

    fn send_events(&self, events: &[Event], at: f64, _: Unredacted) -> Result<Receipt, Failure> {
        self.post(&self.render_events(events, at))
    }

    fn requests(&self, alert: &Alert, _: Unredacted) -> Vec<Request> {
        let body = self.render_note(alert, now());
        self.config
            .urls
            .iter()
            .map(|u| Request {
                url: format!("{}/api/v2/alerts", u.expose().trim_end_matches('/')),
                body: body.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn am() -> Alertmanager {
        Alertmanager::new(AlertmanagerConfig {
            urls: vec![Secret::new("http://user:s3cret-pass@127.0.0.1:9093/")],
            labels: BTreeMap::from([("team".into(), "ops".into()), ("service".into(), "not this".into())]),
            instance: "host-1".into(),
            generator_url: Some("http://status.example/".into()),
            resolve_after: Duration::from_secs(900),
            retry: RetryPolicy::default(),
        })
        .unwrap()
    }

    fn event(kind: EventKind, at: f64) -> Event {
        Event {
            key: "outage:API:1764590520".into(),
            kind,
            at,
            started: Some(1_764_590_520.0),
            section: "Health check failures".into(),
            text: "API: connection refused".into(),
            labels: BTreeMap::from([
                ("alertname".into(), "AgentOpsServiceDown".into()),
                ("service".into(), "API".into()),
                ("bad label".into(), "dropped".into()),
            ]),
        }
    }

    #[test]
    fn open_episodes_fire_until_resent_and_closes_resolve_at_once() {
        let a = am();
        let now = 1_764_591_000.0;
        let body =
            a.render_events(&[event(EventKind::Reminder, now), event(EventKind::Closed, now - 60.0)], now);
        let firing = &body[0];
        assert_eq!(
            firing["labels"],
            json!({"alertname": "AgentOpsServiceDown", "service": "API", "team": "ops", "instance": "host-1"})
        );
        assert_eq!(firing["startsAt"], "2025-12-01T12:02:00Z");
        assert_eq!(firing["endsAt"], "2025-12-01T12:25:00Z", "resolve_after past the delivery");
        assert_eq!(firing["annotations"]["summary"], "API: connection refused");
        assert_eq!(firing["generatorURL"], "http://status.example/");
        assert_eq!(body[1]["endsAt"], "2025-12-01T12:09:00Z", "a close ends the alert when it closed");
        let note = a.render_note(
            &Alert { level: Level::Error, topic: Some("db".into()), message: "line 1\nline 2".into() },
            now,
        );
        assert_eq!(note[0]["labels"]["alertname"], MESSAGE_ALERTNAME);
        assert_eq!(
            (note[0]["labels"]["topic"].as_str(), note[0]["annotations"]["summary"].as_str()),
            (Some("db"), Some("line 1"))
        );
    }

    /// The clock went back (by more than `resolve_after`) since the episode began or closed:
    /// an open episode still fires (its `endsAt` past the delivery, its `startsAt` not after
    /// it), and a close resolves now, not when the old clock said.
    #[test]
    fn a_clock_gone_back_neither_resolves_an_open_episode_nor_delays_a_close() {
        let a = am();
        let started = 1_764_590_520.0;
        let now = started - 3600.0;
        let body = a
            .render_events(&[event(EventKind::Reminder, now), event(EventKind::Closed, started + 60.0)], now);
        assert_eq!(
            (body[0]["startsAt"].as_str(), body[0]["endsAt"].as_str()),
            (Some("2025-12-01T11:02:00Z"), Some("2025-12-01T11:17:00Z")),
            "firing until resolve_after past the delivery"
        );
        assert_eq!(
            (body[1]["startsAt"].as_str(), body[1]["endsAt"].as_str()),
            (Some("2025-12-01T11:02:00Z"), Some("2025-12-01T11:02:00Z")),
            "resolved now"
        );
    }

    #[test]
    fn settings_are_checked_and_credentials_never_shown() {
        let a = am();
        assert!(!format!("{a:?}").contains("s3cret"));
        let preview = a.preview(&Alert { level: Level::Info, topic: None, message: "m".into() });
        assert!(!preview[0].url.contains("s3cret-pass"), "{}", preview[0].url);
        assert!(preview[0].url.ends_with("127.0.0.1:9093/api/v2/alerts"), "{}", preview[0].url);
        let with = |f: fn(&mut AlertmanagerConfig)| {
            let mut c = a.config.clone();
            f(&mut c);
            Alertmanager::new(c).unwrap_err().to_string()
        };
        assert_eq!(with(|c| c.urls.clear()), "url: must list at least one Alertmanager URL");
        assert!(with(|c| c.urls = vec![Secret::new("ftp://x")]).starts_with("url: must be an http"));
        assert!(
            with(|c| {
                c.labels.insert("2x".into(), "v".into());
            })
            .starts_with("labels: \"2x\" is not a label name")
        );
        assert_eq!(with(|c| c.instance = " ".into()), "instance: must not be empty");
        assert_eq!(
            with(|c| c.urls = vec![Secret::new("http://127.0.0.1:9093/#x")]),
            "url: must be a base URL, without a query (?) or fragment (#): /api/v2/alerts is added to it"
        );
        assert!(
            is_label_name("team_1")
                && !is_label_name("__name__")
                && !is_label_name("a-b")
                && !is_label_name("")
        );
    }
}
