//! Phase 3: judge each service against its memory (`state/outages.json`, the rules in
//! [`crate::outage`]), word the alerts, queue them durably, keep the memory, and deliver the
//! outbox once, in order.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ops_alert::{Admission, Alert, Alerter, Delivery, Level};
use ops_health::Outcome;
use ops_metrics::render::human_duration;
use ops_state::{StateError, StateFile};

use super::restart::{RestartStep, note_for_alert};
use super::{Pass, ServiceReport};
use crate::Config;
use crate::outage::{Memory, Notice, Observation, Rules, Seen, observe};

/// An alert of a pass and what became of it.
#[derive(Debug, Clone)]
pub struct AlertReport {
    /// The alert.
    pub alert: Alert,
    /// What became of it.
    pub outcome: AlertOutcome,
}

/// What became of an alert of a pass.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AlertOutcome {
    /// It went into the outbox; for each destination, what the flush did with it (`None`:
    /// not tried in this pass, it waits).
    Queued(Vec<(String, Option<Delivery>)>),
    /// It could not be queued (`error`), so it was sent directly, without the outbox.
    SentDirectly {
        /// Why it could not be queued.
        error: String,
        /// What each destination did with it.
        deliveries: Vec<Delivery>,
    },
    /// The topic's rate limit held it back (the pass's own alerts have no topic).
    RateLimited,
    /// Alerting is not configured (no destination).
    NotConfigured,
    /// A dry run: nothing was sent.
    DryRun,
}

/// A memory file's new content, decided in this pass and written by [`Pass::keep`] once the
/// alerts it decided are queued.
pub(super) struct Keep {
    file: StateFile,
    bytes: Vec<u8>,
    what: &'static str,
}

impl Keep {
    pub(super) fn new(file: StateFile, value: &impl serde::Serialize, what: &'static str) -> Option<Self> {
        let bytes = file.encode(value).ok()?;
        Some(Self { file, bytes, what })
    }
}

/// The alerts of a pass between [`Pass::queue`] and [`Pass::deliver`].
#[derive(Default)]
pub(super) struct Queued {
    /// Alerts already settled: sent directly, or not to be sent.
    settled: Vec<AlertReport>,
    /// Alerts in the outbox, with their entry ids and destinations.
    waiting: Vec<(Alert, Vec<(String, String)>)>,
}

impl Queued {
    pub(super) fn append(&mut self, mut other: Queued) {
        self.settled.append(&mut other.settled);
        self.waiting.append(&mut other.waiting);
    }
}

impl Pass<'_> {
    /// The alerter of this installation, or a warning and none.
    pub(super) fn alerter(&mut self) -> Option<Alerter> {
        match crate::alert::alerter(self.config, self.layout) {
            Ok(a) => Some(a),
            Err(e) => {
                self.warn(format!("alerts are off: {e}"));
                None
            }
        }
    }

    /// Judges every service by its memory and returns the notices due, by service index, and
    /// the memory to keep ([`Pass::keep`] writes it once the alerts are queued). When the
    /// memory cannot be read, the notices are judged from this pass alone and it is not kept.
    pub(super) fn judge(&mut self, services: &[ServiceReport]) -> (Vec<(usize, Notice)>, Option<Keep>) {
        let o = &self.config.orchestration;
        let rules = Rules {
            failure_threshold: o.failure_threshold,
            success_threshold: o.success_threshold,
            reminder_interval: o.reminder_interval,
        };
        let file = StateFile::new(self.layout.outages());
        let (mut memory, readable) = match file.read::<BTreeMap<String, Memory>>() {
            Ok(m) => (m.unwrap_or_default(), true),
            Err(e) => {
                self.warn(format!("outage memory not kept, alerts judged on this pass alone: {e}"));
                (BTreeMap::new(), false)
            }
        };
        let mut notices: Vec<(usize, Notice)> = Vec::new();
        for (i, s) in services.iter().enumerate() {
            let seen = match (s.check.outcome, s.recheck.as_ref().map(|r| r.outcome)) {
                (Outcome::Up, _) => Seen::Up,
                (Outcome::Down(_), Some(Outcome::Up)) => Seen::AutoRecovered,
                (Outcome::Down(_), Some(Outcome::Down(_)) | None) => Seen::Down,
                // Nothing learned about it (its check, or the re-check, could not be made).
                _ => Seen::Unknown,
            };
            let gave_up = matches!(s.restart, Some(RestartStep::GaveUp { .. }));
            let observation = Observation { seen, gave_up, silenced: s.quiet.is_some() };
            let m = memory.entry(s.check.name.clone()).or_default();
            notices.extend(observe(m, observation, &rules, self.now).into_iter().map(|n| (i, n)));
        }
        // Forget services that are gone from the configuration.
        memory.retain(|name, _| services.iter().any(|s| &s.check.name == name));
        let keep = readable.then(|| Keep::new(file, &memory, "outage memory"));
        (notices, keep.flatten())
    }

    /// Writes a memory decided in this pass; a failure is a warning (the next pass decides
    /// from the old memory again).
    pub(super) fn keep(&mut self, keep: Option<Keep>) {
        let Some(Keep { file, bytes, what }) = keep else { return };
        // Under the lock; a file that became corrupt meanwhile is refused, never overwritten.
        let written = file.update_bytes(|old| {
            if let Some(old) = old {
                file.decode::<serde::de::IgnoredAny>(old)?;
            }
            Ok::<_, StateError>((Some(bytes), ()))
        });
        if let Err(e) = written {
            self.warn(format!("{what} not kept: {e}"));
        }
    }

    /// Queues every alert (fsynced), or sends it directly when it cannot be queued; nothing
    /// queued is delivered yet ([`Pass::deliver`] does, after the memory is kept).
    pub(super) fn queue(&mut self, alerts: Vec<Alert>, alerter: Option<&Alerter>) -> Queued {
        let mut queued = Queued::default();
        let outcome = match alerter {
            _ if self.dry() => Some(AlertOutcome::DryRun),
            None => Some(AlertOutcome::NotConfigured),
            Some(_) => None,
        };
        for alert in alerts {
            let Some(alerter) = alerter.filter(|_| outcome.is_none()) else {
                let outcome = outcome.clone().unwrap_or(AlertOutcome::NotConfigured);
                queued.settled.push(AlertReport { alert, outcome });
                continue;
            };
            let mut warnings = Vec::new();
            match alerter.enqueue(&alert, &mut warnings) {
                Ok(Admission::Queued(entries)) => {
                    let ids = entries.into_iter().map(|e| (e.id, e.destination)).collect();
                    queued.waiting.push((alert, ids));
                }
                Ok(Admission::RateLimited(_)) => {
                    queued.settled.push(AlertReport { alert, outcome: AlertOutcome::RateLimited });
                }
                Err(e) => {
                    let deliveries = alerter.deliver_now(&alert);
                    let outcome = AlertOutcome::SentDirectly { error: e.to_string(), deliveries };
                    queued.settled.push(AlertReport { alert, outcome });
                }
            }
            for w in warnings {
                self.warn(w);
            }
        }
        queued
    }

    /// Delivers the outbox, in order, with one flush: what earlier runs left in it, then what
    /// [`Pass::queue`] queued; and says what became of each alert.
    pub(super) fn deliver(&mut self, queued: Queued, alerter: Option<&Alerter>) -> Vec<AlertReport> {
        let Queued { mut settled, waiting } = queued;
        let entries = match alerter.filter(|_| !self.dry()) {
            Some(alerter) => match alerter.flush() {
                Ok(report) => {
                    for w in report.warnings {
                        self.warn(w);
                    }
                    report.entries
                }
                Err(e) => {
                    self.warn(format!("cannot deliver the alerts: {e}"));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let ours = |id: &String| waiting.iter().any(|(_, ids)| ids.iter().any(|(i, _)| i == id));
        for (entry, delivery) in entries.iter().filter(|(e, _)| !ours(&e.id)) {
            self.note(format!("Outbox: alert {} -> {}", entry.id, delivery_words(delivery)));
        }
        for (alert, ids) in waiting {
            let results = ids
                .into_iter()
                .map(|(id, destination)| {
                    let delivery = entries.iter().find(|(e, _)| e.id == id).map(|(_, d)| d.clone());
                    (destination, delivery)
                })
                .collect();
            settled.push(AlertReport { alert, outcome: AlertOutcome::Queued(results) });
        }
        for r in &settled {
            // The whole message on one line: which services, not only the heading.
            let message: Vec<&str> = r.alert.message.lines().map(str::trim).collect();
            let line = format!(
                "ALERT {}: {} -> {}",
                r.alert.level.as_str(),
                message.join(" | "),
                outcome_words(&r.outcome)
            );
            self.note(line);
        }
        settled
    }
}

/// `sent to telegram`, `queued for telegram (reason)`, `failed for telegram (reason)`.
pub fn delivery_words(d: &Delivery) -> String {
    match d {
        Delivery::Sent { destination, .. } => format!("sent to {destination}"),
        Delivery::NotSent { destination, failure, queued: true } => {
            format!("queued for {destination} ({})", failure.reason)
        }
        Delivery::NotSent { destination, failure, queued: false } => {
            format!("failed for {destination} ({})", failure.reason)
        }
    }
}

/// The log's words for what became of an alert.
pub fn outcome_words(outcome: &AlertOutcome) -> String {
    match outcome {
        AlertOutcome::Queued(results) => results
            .iter()
            .map(|(destination, d)| {
                d.as_ref().map_or_else(|| format!("queued for {destination}"), delivery_words)
            })
            .collect::<Vec<_>>()
            .join(", "),
        AlertOutcome::SentDirectly { error, deliveries } => {
            let sent: Vec<String> = deliveries.iter().map(delivery_words).collect();
            format!("not queued ({error}); sent directly: {}", sent.join(", "))
        }
        AlertOutcome::RateLimited => "rate limited".into(),
        AlertOutcome::NotConfigured => "not sent: alerting is not configured".into(),
        AlertOutcome::DryRun => "dry run".into(),
    }
}

/// The messages of a pass: one failure alert listing every service that just went down, one
/// per auto-recovery and per "gave up", one reminder listing those still down, one recovery
/// notice listing those back up.
pub(super) fn compose(
    config: &Config,
    services: &[ServiceReport],
    notices: &[(usize, Notice)],
) -> Vec<Alert> {
    let command = |name: &str| {
        config.services.iter().find(|s| s.name == name).and_then(|s| s.restart_command.as_deref())
    };
    let mut down = String::new();
    let mut still = String::new();
    let mut back = Vec::new();
    let mut gave_up = Vec::new();
    for (i, notice) in notices {
        let s = &services[*i];
        let name = &s.check.name;
        match notice {
            Notice::Down => {
                let _ = writeln!(down, " - {name}: {}{}", s.check.detail, note_for_alert(s.restart.as_ref()));
            }
            Notice::StillDown { down_for } => {
                let _ =
                    writeln!(still, " - {name}: {} (down for {})", s.check.detail, human_duration(*down_for));
            }
            Notice::Recovered { down_for } => {
                back.push(format!("{name} (down for {})", human_duration(*down_for)));
            }
            Notice::GaveUp => {
                let attempts = match s.restart {
                    Some(RestartStep::GaveUp { attempts }) => attempts,
                    _ => 0,
                };
                gave_up.push(alert(
                    Level::Error,
                    format!("CRITICAL: {name} failed after {attempts} restart attempts.\nManual intervention required."),
                ));
            }
        }
    }
    let mut out = Vec::new();
    if !down.is_empty() {
        out.push(alert(Level::Error, format!("Health check failures:\n{}", down.trim_end())));
    }
    for s in services {
        if let (Some(RestartStep::Ran { recovered: true, .. }), Some(cmd)) =
            (&s.restart, command(&s.check.name))
        {
            out.push(alert(Level::Info, format!("Auto-recovered: {}\nRestart command: {cmd}", s.check.name)));
        }
    }
    out.append(&mut gave_up);
    if !still.is_empty() {
        out.push(alert(Level::Warning, format!("Still down:\n{}", still.trim_end())));
    }
    if config.alerting.alert_on_recovery && !back.is_empty() {
        let text = if back.len() == 1 {
            format!("{} has recovered.", back[0])
        } else {
            format!("Recovered:\n - {}", back.join("\n - "))
        };
        out.push(alert(Level::Recovery, text));
    }
    out
}

fn alert(level: Level, message: String) -> Alert {
    Alert { level, topic: None, message }
}
