//! Phase 3: judge each service against its memory (`state/outages.json`, the rules in
//! [`crate::outage`]), keep its incident and log the ones that ended ([`crate::incident`]),
//! word each notice as an event of its outage (one line under a heading),
//! queue the events for their channels durably, keep the memory, and deliver the outbox once:
//! the alerter folds what waits for each channel into one message.
//!
//! Outages are keyed `outage:<service>:<unix start>`. A service's events go to its `notify`
//! channels (by default every channel no escalation names); an escalation step's to that
//! step's channels; the recovery to both. A blocked service has no event of its own: the
//! line of the failing dependency blocking it names it. Alerts never carry the restart command
//! (it may hold credentials): they say that a restart ran and how it ended.

use std::collections::{BTreeMap, BTreeSet};

use ops_alert::{Alert, Alerter, Delivery, Entry, Event, EventKind, Level, Outgoing};
use ops_health::Outcome;
use ops_metrics::render::human_duration;
use ops_state::timestamp::unix_seconds;
use ops_state::{StateError, StateFile};

use super::restart::{RestartStep, note_for_alert, restart_result};
use super::{Pass, ServiceReport, Topology, policy_of};
use crate::ack::{self, Acks};
use crate::incident;
use crate::maintenance::{Quiet, quiet};
use crate::outage::{Judgement, Memory, Notice, Observation, Rules, Seen, observe};
use crate::{Escalation, Service, Severity};

/// The headings of the orchestrator's events, in the order a pass queues them.
pub const FAILURES: &str = "Health check failures";
/// Restarts given up.
pub const GAVE_UP: &str = "Gave up";
/// Escalations.
pub const ESCALATION: &str = "Escalation";
/// Warnings (`alert_on_warning`).
pub const WARNINGS: &str = "Warnings";
/// Reminders.
pub const STILL_DOWN: &str = "Still down";
/// Reminders of warnings.
pub const STILL_WARNING: &str = "Still in warning";
/// Recoveries, and warnings over.
pub const RECOVERED: &str = "Recovered";

/// A message of a pass (folded by the alerter for one or more channels) and what became of it.
#[derive(Debug, Clone)]
pub struct AlertReport {
    /// The message.
    pub alert: Alert,
    /// What became of it.
    pub outcome: AlertOutcome,
}

/// What became of a message of a pass.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AlertOutcome {
    /// Delivered from the outbox, or left in it: for each destination, what the flush did
    /// with it (`None`: not tried in this pass, it waits).
    Queued(Vec<(String, Option<Delivery>)>),
    /// It could not be queued (`error`), so it was sent directly, without the outbox.
    SentDirectly {
        /// Why it could not be queued.
        error: String,
        /// What each destination did with it.
        deliveries: Vec<Delivery>,
    },
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

/// One service's verdict in this pass.
#[derive(Debug)]
pub(super) struct Judged {
    pub name: String,
    /// Its index among the pass's checks, when it was checked.
    pub made: Option<usize>,
    pub judgement: Judgement,
    /// Its memory before this pass.
    pub before: Memory,
    /// The episodes it ends the pass in that were alerted, `(warning, start)`: an outage
    /// (`false`) and a warning episode (`true`), which Alertmanager is told of at every pass.
    pub firing: Vec<(bool, f64)>,
}

/// What the events of one service say in a pass (see [`Pass::words`]).
struct Words<'s> {
    name: &'s str,
    service: Option<&'s Service>,
    severity: Severity,
    restart: Option<&'s RestartStep>,
    /// The line of its failure: the check's detail, the restart, what it blocks.
    opened: String,
    detail: String,
    /// `; blocks A, B` (still failing because of it), or empty.
    blocks: String,
    /// `; A, B recovered with it` (`; A, B up again` when it is still down), or empty.
    with: String,
    /// What its last result of the pass said (the re-check's, after a restart).
    last_detail: String,
    key: String,
    /// Its outage's start (unix seconds; now when it is not down).
    since: f64,
    /// The key of its warning episode's events.
    warning_key: String,
    /// Its warning episode's start.
    warning_since: f64,
    labels: BTreeMap<String, String>,
    notify: Vec<String>,
}

/// The alerts of a pass between [`Pass::queue`] and [`Pass::deliver`].
#[derive(Default)]
pub(super) struct Queued {
    /// Messages already settled: sent directly, or not to be sent.
    settled: Vec<AlertReport>,
    /// The entries queued in the outbox.
    entries: Vec<Entry>,
}

impl Words<'_> {
    /// An event of its outage (or, `warning`, of its warning episode): its key, its start and
    /// its labels, `alertname` by what it is about.
    fn event(&self, warning: bool, kind: EventKind, section: &str, text: String, now: f64) -> Event {
        let job = self.service.is_some_and(|s| s.job.is_some());
        let alertname = match (job, warning) {
            (false, false) => "AgentOpsServiceDown",
            (false, true) => "AgentOpsServiceWarning",
            (true, false) => "AgentOpsJobDown",
            (true, true) => "AgentOpsJobWarning",
        };
        let mut labels = self.labels.clone();
        labels.insert("alertname".to_owned(), alertname.to_owned());
        Event {
            key: if warning { self.warning_key.clone() } else { self.key.clone() },
            kind,
            at: now,
            started: Some(if warning { self.warning_since } else { self.since }),
            section: section.to_owned(),
            text,
            labels,
        }
    }
}

impl Pass<'_> {
    /// The alerter of this installation, or a warning and none.
    pub(super) fn alerter(&mut self) -> Option<Alerter> {
        match crate::alert::alerter(self.config, self.layout) {
            Ok(a) => {
                let clock = std::sync::Arc::clone(&self.clock);
                Some(a.with_clock(move || ops_state::timestamp::unix_seconds(clock())))
            }
            Err(e) => {
                self.warn(format!("alerts are off: {e}"));
                None
            }
        }
    }

    /// Judges every service by its memory and returns each one's notices, and the memory to
    /// keep ([`Pass::keep`] writes it once the alerts are queued). When the memory could not
    /// be read, the notices are judged from this pass alone and it is not kept.
    pub(super) fn judge(
        &mut self,
        services: &[ServiceReport],
        not_due: &[super::NotDue],
        topology: &Topology,
    ) -> (Vec<Judged>, Option<Keep>) {
        let mut memory = self.memory.clone().unwrap_or_default();
        let acks = match ack::read_current(&StateFile::new(self.layout.acks()), &memory) {
            Ok(acks) => acks,
            Err(e) => {
                self.warn(format!("acknowledgements ignored: {e}"));
                Acks::new()
            }
        };
        // Blocked: by a failing dependency now, or when checked if it came back with it (its
        // failure was the dependency's). Down and no longer blocked, it is its own outage.
        let failing = topology.failing(services);
        let blocked: Vec<bool> = topology
            .blocked(services)
            .iter()
            .enumerate()
            .map(|(p, now)| {
                !now.is_empty()
                    || (!failing[p] && self.blocked_at_check.get(p).is_some_and(|b| !b.is_empty()))
            })
            .collect();
        let roots = topology.blocked(services);
        let secrets = self.config.secrets();
        let mut judged = Vec::new();
        for (p, name) in topology.names.iter().enumerate() {
            let made = topology.made[p];
            let policy = policy_of(self.config, name);
            let escalation =
                self.config.service(name).map(|s| s.escalation.iter().map(|e| e.after).collect());
            let rules = Rules {
                failure_threshold: policy.failure_threshold,
                success_threshold: policy.success_threshold,
                reminder_interval: policy.reminder_interval,
                escalation: escalation.unwrap_or_default(),
                warnings: policy.alert_on_warning,
            };
            let m = memory.entry(name.clone()).or_default();
            // An acknowledgement is of the outage, or of the warning episode, it began with.
            let ack = acks.get(name).map(|a| Some(a.outage));
            let acked = ack.is_some_and(|a| a == m.down_since);
            let warning_acked = ack.is_some_and(|a| a == m.warning.as_ref().map(|w| w.since));
            let observation = match made {
                Some(k) => {
                    let s = &services[k];
                    Observation {
                        seen: seen(s),
                        warning: s.outcome().is_warning(),
                        gave_up: matches!(s.restart, Some(RestartStep::GaveUp { .. })),
                        silenced: s.quiet.is_some(),
                        blocked: blocked[p],
                        acked,
                        warning_acked,
                    }
                }
                None if not_due.iter().any(|n| n.name == *name) => Observation {
                    silenced: quiet(name, &self.config.orchestration.maintenance, &self.silences, self.now)
                        .is_some(),
                    blocked: blocked[p],
                    acked,
                    warning_acked,
                    ..Observation::of(Seen::NotDue)
                },
                None => Observation::of(Seen::Unknown),
            };
            let before = m.clone();
            let judgement = observe(m, observation, &rules, self.now);
            if let Some(k) = made.filter(|&k| !services[k].check.outcome.is_unknown()) {
                m.last_check = Some(self.now);
                if judgement.notices.contains(&Notice::Down) && m.down_since.is_some() {
                    m.detail = Some(services[k].check.detail.clone());
                }
                if let Some(w) = m.warning.as_mut().filter(|_| judgement.notices.contains(&Notice::Warning)) {
                    w.detail = Some(last_result(&services[k]).detail.clone());
                }
            }
            let facts = match made {
                Some(k) => self.facts(&services[k], name, &topology.names, &roots, p),
                None => incident::Facts::default(),
            };
            incident::track(m, judgement.since, facts, acks.get(name), &secrets, self.now);
            judged.push(Judged { name: name.clone(), made, judgement, before, firing: firing(m) });
        }
        // A service gone from the configuration: forgotten, but an incident still open ends
        // as removed and waits to be logged.
        for (_, m) in memory.iter_mut().filter(|(name, _)| !topology.names.contains(*name)) {
            if m.down_since.is_some() && !m.incidents.iter().any(|t| t.ended.is_none()) {
                incident::track(m, m.down_since, incident::Facts::default(), None, &secrets, self.now);
            }
            incident::removed(m, self.now);
            *m = Memory { incidents: std::mem::take(&mut m.incidents), ..Memory::default() };
        }
        if !self.dry() && self.memory.is_some() {
            self.log_incidents(&mut memory);
        }
        memory.retain(|name, m| topology.names.contains(name) || !m.incidents.is_empty());
        let keep = self
            .memory
            .is_some()
            .then(|| Keep::new(StateFile::new(self.layout.outages()), &memory, "outage memory"));
        (judged, keep.flatten())
    }

    /// What this pass learned of a checked service, for its incident.
    fn facts(
        &self,
        s: &ServiceReport,
        name: &str,
        names: &[String],
        roots: &[Vec<String>],
        p: usize,
    ) -> incident::Facts {
        let last = last_result(s);
        let failed = s.check.outcome.failure().map(|kind| {
            let at =
                s.recheck.as_ref().filter(|r| r.outcome.is_down()).map_or(s.check.timestamp, |r| r.timestamp);
            (kind.as_str().to_owned(), s.check.detail.clone(), unix_seconds(at))
        });
        let restart = match &s.restart {
            Some(RestartStep::Ran { attempt, run, recovered }) => Some(incident::TrackedRestart {
                at: self.now,
                attempt: *attempt,
                result: restart_result(run),
                recovered: *recovered,
            }),
            _ => None,
        };
        incident::Facts {
            failed,
            back_at: last.outcome.is_up().then(|| unix_seconds(last.timestamp)),
            restart,
            gave_up: matches!(s.restart, Some(RestartStep::GaveUp { .. })),
            quiet: s.quiet.as_ref().map(|q| match q {
                Quiet::Window(_) => "maintenance",
                Quiet::Silenced { .. } => "silenced",
            }),
            blocks: names
                .iter()
                .zip(roots)
                .filter(|(_, r)| r.iter().any(|root| root == name))
                .map(|(n, _)| n.clone())
                .collect(),
            blocked_by: roots.get(p).cloned().unwrap_or_default(),
        }
    }

    /// Appends the incidents that are over to `state/incidents.jsonl` and forgets them; when
    /// the append fails they stay in the memory for the next pass (a warning says so).
    fn log_incidents(&mut self, memory: &mut BTreeMap<String, Memory>) {
        let over = incident::over(memory);
        let logged = over.is_empty()
            || match ops_metrics::append_incidents(&self.layout.incidents(), &over) {
                Ok(()) => true,
                Err(e) => {
                    self.warn(format!("incidents not logged yet, kept for the next pass: {e}"));
                    false
                }
            };
        let dropped = incident::forget(memory, logged);
        if dropped > 0 {
            self.warn(format!(
                "{dropped} incident(s) left unlogged: more than {} were waiting for one service",
                incident::MAX_PENDING
            ));
        }
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

    /// The channels' destinations for `names` (configuration channel names).
    pub(super) fn destinations(&self, names: &[String]) -> Vec<String> {
        names.iter().filter_map(|n| self.config.alerting.destination(n)).collect()
    }

    /// The destinations of a service's events: its `notify` channels, or the default ones.
    fn notify(&self, service: Option<&Service>) -> Vec<String> {
        match service.and_then(|s| s.notify.as_ref()) {
            Some(names) => self.destinations(names),
            None => self.destinations(&self.config.default_channels()),
        }
    }

    /// The events of this pass's notices, worded, with their destinations, in the order of
    /// their headings (one pass, one message per channel, its headings always in this order).
    pub(super) fn compose(
        &self,
        services: &[ServiceReport],
        judged: &[Judged],
        topology: &Topology,
    ) -> Vec<Outgoing> {
        let blocked_now = topology.blocked(services);
        let failing_now = topology.failing(services);
        let mut items = Vec::new();
        for j in judged.iter().filter(|j| !j.judgement.notices.is_empty()) {
            let w = self.words(j, services, topology, &blocked_now, &failing_now);
            let mut escalated = j.before.escalated;
            // Down and back in one pass: the failure's line says it all (how the restart ended);
            // a gave-up or an escalation of an outage already over would only be noise.
            let notices = &j.judgement.notices;
            let over = notices.contains(&Notice::Down)
                && notices.iter().any(|n| matches!(n, Notice::Recovered { .. }));
            for notice in notices {
                if over && matches!(notice, Notice::GaveUp | Notice::Escalated { .. }) {
                    continue;
                }
                let (kind, section, level, text, destinations) =
                    self.event_of(&w, j, *notice, &mut escalated);
                let alert = Alert { level, topic: None, message: format!("{section}:\n - {text}") };
                let warning = notice.is_warning();
                items.push(Outgoing {
                    alert,
                    event: Some(w.event(warning, kind, section, text, self.now)),
                    destinations,
                });
            }
        }
        items.extend(self.still_firing(services, judged, topology, (&blocked_now, &failing_now), &items));
        let order = [FAILURES, GAVE_UP, ESCALATION, WARNINGS, STILL_DOWN, STILL_WARNING, RECOVERED];
        let rank = |it: &Outgoing| {
            it.event.as_ref().and_then(|e| order.iter().position(|s| *s == e.section)).unwrap_or(order.len())
        };
        items.sort_by_key(rank);
        items
    }

    /// Alertmanager forgets an alert that is not sent again: each episode still firing at the
    /// end of the pass that has no event for it in `items` is said again, to it alone.
    fn still_firing(
        &self,
        services: &[ServiceReport],
        judged: &[Judged],
        topology: &Topology,
        (blocked_now, failing_now): (&[Vec<String>], &[bool]),
        items: &[Outgoing],
    ) -> Vec<Outgoing> {
        let Some(am) = self.config.alerting.destination(crate::config::ALERTMANAGER) else {
            return Vec::new();
        };
        let mut more = Vec::new();
        for j in judged.iter().filter(|j| !j.firing.is_empty()) {
            let w = self.words(j, services, topology, blocked_now, failing_now);
            if !w.notify.contains(&am) {
                continue;
            }
            for &(warning, since) in &j.firing {
                let key = if warning { &w.warning_key } else { &w.key };
                let said = items.iter().any(|it| {
                    it.destinations.contains(&am) && it.event.as_ref().is_some_and(|e| &e.key == key)
                });
                if said {
                    continue;
                }
                let lasted = human_duration(
                    std::time::Duration::try_from_secs_f64(self.now - since).unwrap_or_default(),
                );
                let (section, text) = if warning {
                    (STILL_WARNING, format!("{}: {} (in warning for {lasted})", w.name, w.last_detail))
                } else {
                    (STILL_DOWN, format!("{}: {} (down for {lasted}){}", w.name, w.detail, w.blocks))
                };
                let alert =
                    Alert { level: Level::Warning, topic: None, message: format!("{section}:\n - {text}") };
                let event = w.event(warning, EventKind::Reminder, section, text, self.now);
                more.push(Outgoing { alert, event: Some(event), destinations: vec![am.clone()] });
            }
        }
        more
    }

    /// What the events of one service say in this pass.
    fn words<'s>(
        &'s self,
        j: &'s Judged,
        services: &'s [ServiceReport],
        topology: &Topology,
        blocked_now: &[Vec<String>],
        failing_now: &[bool],
    ) -> Words<'s> {
        let name = &j.name;
        let service = self.config.service(name);
        let severity = service.map(|s| s.severity).unwrap_or_default();
        let report = j.made.map(|k| &services[k]);
        let detail =
            report.map_or_else(|| j.before.detail.clone().unwrap_or_default(), |s| s.check.detail.clone());
        let last_detail = report.map_or_else(
            || j.before.warning.as_ref().and_then(|w| w.detail.clone()).unwrap_or_default(),
            |s| last_result(s).detail.clone(),
        );
        let since = j.judgement.since.unwrap_or(self.now);
        let warning_since = j.judgement.warning_since.unwrap_or(self.now);
        // What this service blocks (still failing), and what came back with it.
        let dependents = |still: bool| -> Vec<&str> {
            let names = topology.names.iter().enumerate();
            names
                .filter(|(p, _)| {
                    if still {
                        blocked_now[*p].contains(name)
                    } else {
                        !failing_now[*p]
                            && self.blocked_at_check.get(*p).is_some_and(|roots| roots.contains(name))
                    }
                })
                .map(|(_, n)| n.as_str())
                .collect()
        };
        let list = |names: Vec<&str>, before: &str, after: &str| {
            if names.is_empty() { String::new() } else { format!("; {before}{}{after}", names.join(", ")) }
        };
        let blocks = list(dependents(true), "blocks ", "");
        let back = report.is_some_and(ServiceReport::up);
        let with = list(dependents(false), "", if back { " recovered with it" } else { " up again" });
        let check_type = service.map_or(ops_health::CheckKind::Disk, |s| s.check.kind());
        let restart = report.and_then(|s| s.restart.as_ref());
        let mut note = note_for_alert(restart);
        if report.is_some_and(|s| seen(s) == Seen::AutoRecovered)
            && !matches!(restart, Some(RestartStep::Ran { .. }))
        {
            // Not restarted itself, up again at the re-check after other services' restarts.
            note.push_str(" (up again at the re-check)");
        }
        Words {
            name,
            service,
            severity,
            restart,
            opened: format!("{name}: {detail}{note}{blocks}{with}"),
            detail,
            blocks,
            with,
            last_detail,
            key: format!("outage:{name}:{}", since.floor() as i64),
            since,
            warning_key: format!("warning:{name}:{}", warning_since.floor() as i64),
            warning_since,
            // The same at every pass of an episode (checked or not): Alertmanager knows an
            // alert by its labels.
            labels: BTreeMap::from([
                ("service".to_owned(), name.clone()),
                ("severity".to_owned(), severity.as_str().to_owned()),
                ("check_type".to_owned(), check_type.as_str().to_owned()),
            ]),
            notify: self.notify(service),
        }
    }

    /// Where an outage's recovery goes: its channels, those its escalation reached, and
    /// Alertmanager's fallback channels when its opening went there.
    fn recovery_destinations(
        &self,
        w: &Words<'_>,
        j: &Judged,
        steps: &[Escalation],
        escalated: u32,
    ) -> Vec<String> {
        let mut destinations = w.notify.clone();
        let fallback: Vec<String> = match &self.config.alerting.alertmanager {
            Some(am) if j.before.fell_back => am.fallback.clone(),
            _ => Vec::new(),
        };
        let escalations = steps.iter().take(escalated as usize).flat_map(|s| self.destinations(&s.notify));
        for d in escalations.chain(self.destinations(&fallback)) {
            if !destinations.contains(&d) {
                destinations.push(d);
            }
        }
        destinations
    }

    /// One notice as an event: its kind, heading, level, line and destinations.
    fn event_of(
        &self,
        w: &Words<'_>,
        j: &Judged,
        notice: Notice,
        escalated: &mut u32,
    ) -> (EventKind, &'static str, Level, String, Vec<String>) {
        let (name, detail, blocks) = (w.name, &w.detail, &w.blocks);
        let level = level(w.severity);
        let steps = w.service.map_or(&[][..], |s| s.escalation.as_slice());
        let notices = &j.judgement.notices;
        let worded_recovery = policy_of(self.config, name).alert_on_recovery;
        // An outage that recovered into a warning: its recovery line says the warning.
        let in_warning = if notices.contains(&Notice::Warning) {
            format!("; in warning: {}", w.last_detail)
        } else {
            String::new()
        };
        let at = ops_state::timestamp::format_unix(self.now);
        let clock = at.get(11..16).unwrap_or_default();
        let reminder = if w.severity == Severity::Info { Level::Info } else { Level::Warning };
        match notice {
            Notice::Down => (EventKind::Opened, FAILURES, level, w.opened.clone(), w.notify.clone()),
            Notice::StillDown { down_for } => {
                let text = format!("{name}: {detail} (down for {}){blocks}", human_duration(down_for));
                (EventKind::Reminder, STILL_DOWN, reminder, text, w.notify.clone())
            }
            Notice::Warning => {
                let recovered = notices.iter().any(|n| matches!(n, Notice::Recovered { .. }));
                // Said on the recovery's line, when the recovery is worded.
                let text = if recovered && worded_recovery {
                    String::new()
                } else {
                    format!("{name}: {}", w.last_detail)
                };
                (EventKind::Opened, WARNINGS, Level::Warning, text, w.notify.clone())
            }
            Notice::StillWarning { warning_for } => {
                let text =
                    format!("{name}: {} (in warning for {})", w.last_detail, human_duration(warning_for));
                (EventKind::Reminder, STILL_WARNING, reminder, text, w.notify.clone())
            }
            Notice::WarningCleared { lasted, with_recovery } => {
                let text = if with_recovery || !worded_recovery {
                    String::new()
                } else {
                    let was = j.before.warning.as_ref().and_then(|w| w.detail.as_deref());
                    let was = was.map(|d| format!(" ({d})")).unwrap_or_default();
                    format!(
                        "{name} is no longer in warning after {}{was}, at {clock} UTC",
                        human_duration(lasted)
                    )
                };
                (EventKind::Closed, RECOVERED, Level::Recovery, text, w.notify.clone())
            }
            Notice::Escalated { step, down_for } => {
                let channels = steps.get(step as usize - 1).map(|s| s.notify.clone()).unwrap_or_default();
                *escalated = (*escalated).max(step);
                let text = format!(
                    "{name}: down for {}, not acknowledged ({detail}); escalation {step} of {}",
                    human_duration(down_for),
                    steps.len()
                );
                (EventKind::Escalated { step }, ESCALATION, level, text, self.destinations(&channels))
            }
            Notice::GaveUp => {
                let attempts = match w.restart {
                    Some(RestartStep::GaveUp { attempts }) => *attempts,
                    _ => 0,
                };
                let text =
                    format!("{name} failed after {attempts} restart attempts; manual intervention required");
                (EventKind::Update, GAVE_UP, level, text, w.notify.clone())
            }
            Notice::Recovered { down_for, at_recheck } => {
                let destinations = self.recovery_destinations(w, j, steps, *escalated);
                if !worded_recovery {
                    return (EventKind::Closed, RECOVERED, Level::Recovery, String::new(), destinations);
                }
                if notices.contains(&Notice::Down) {
                    // Down and back in one pass: the failure's own line says it all.
                    let text = format!("{}{in_warning}", w.opened);
                    return (EventKind::Closed, FAILURES, level, text, destinations);
                }
                let was = j.before.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                let restarted = at_recheck && matches!(w.restart, Some(RestartStep::Ran { .. }));
                let how = if restarted { "restarted and recovered" } else { "recovered" };
                // Given up before, or in this pass (that event is then folded into this line).
                let given_up = j.before.gave_up_alerted || notices.contains(&Notice::GaveUp);
                let gave_up = if given_up { "; its restarts had been given up" } else { "" };
                let text = format!(
                    "{name} was down {}{was}, {how} at {clock} UTC{gave_up}{}{in_warning}",
                    human_duration(down_for),
                    w.with
                );
                (EventKind::Closed, RECOVERED, Level::Recovery, text, destinations)
            }
        }
    }

    /// Queues every event (fsynced), or sends them directly (folded per destination) when they
    /// cannot be queued; nothing queued is delivered yet ([`Pass::deliver`] does, after the
    /// memory is kept).
    pub(super) fn queue(&mut self, items: &[Outgoing], alerter: Option<&Alerter>) -> Queued {
        let mut queued = Queued::default();
        if items.is_empty() {
            return queued;
        }
        let local: Vec<Entry> = items
            .iter()
            .flat_map(|it| {
                it.destinations.iter().map(|d| Entry { event: it.event.clone(), ..Entry::new(&it.alert, d) })
            })
            .collect();
        let Some(alerter) = alerter else {
            queued.settled =
                reports(ops_alert::fold::plan(&local).into_iter().map(|m| (m, AlertOutcome::NotConfigured)));
            return queued;
        };
        if self.dry() {
            let messages = alerter.preview_messages(&local).unwrap_or_else(|_| ops_alert::fold::plan(&local));
            queued.settled = reports(messages.into_iter().map(|m| (m, AlertOutcome::DryRun)));
            return queued;
        }
        let mut warnings = Vec::new();
        match alerter.enqueue_to(items, &mut warnings) {
            Ok(entries) => queued.entries = entries,
            Err(e) => {
                let error = e.to_string();
                let sent = ops_alert::fold::plan(&local).into_iter().map(|m| {
                    let delivery = alerter.deliver_message_now(&m);
                    let outcome = AlertOutcome::SentDirectly {
                        error: error.clone(),
                        deliveries: delivery.into_iter().collect(),
                    };
                    (m, outcome)
                });
                queued.settled = reports(sent);
            }
        }
        for w in warnings {
            self.warn(w);
        }
        queued
    }

    /// Delivers the outbox, in order, with one flush: what earlier runs left in it, then what
    /// [`Pass::queue`] queued, folded per destination; and says what became of each message.
    /// Marks in the outage memory the outages whose opening went to Alertmanager's fallback
    /// channels in `report`, so that their recovery goes there too.
    fn remember_fallbacks(&mut self, report: &ops_alert::FlushReport) {
        let Some(am) = &self.config.alerting.alertmanager else { return };
        let fallbacks = self.destinations(&am.fallback);
        let opened: Vec<&str> = report
            .messages
            .iter()
            .filter(|(m, d)| fallbacks.contains(&m.destination) && d.is_sent())
            .flat_map(|(m, _)| m.events.iter())
            .filter(|e| e.kind == EventKind::Opened)
            .map(|e| e.key.as_str())
            .collect();
        if opened.is_empty() {
            return;
        }
        let written =
            StateFile::new(self.layout.outages()).update(|memory: &mut BTreeMap<String, Memory>| {
                for (name, m) in memory.iter_mut() {
                    let key = m.down_since.map(|since| format!("outage:{name}:{}", since.floor() as i64));
                    if key.is_some_and(|k| opened.contains(&k.as_str())) {
                        m.fell_back = true;
                    }
                }
                Ok::<_, ops_state::StateError>(())
            });
        if let Err(e) = written {
            self.warn(format!("outage memory not kept: {e}"));
        }
    }

    pub(super) fn deliver(&mut self, queued: Queued, alerter: Option<&Alerter>) -> Vec<AlertReport> {
        let Queued { settled, entries } = queued;
        let mut out = settled;
        if let Some(alerter) = alerter.filter(|_| !self.dry()) {
            let flushed = match alerter.flush() {
                Ok(report) => {
                    for w in &report.warnings {
                        self.warn(w.clone());
                    }
                    Some(report)
                }
                Err(e) => {
                    self.warn(format!("cannot deliver the alerts: {e}"));
                    None
                }
            };
            if let Some(report) = &flushed {
                self.remember_fallbacks(report);
            }
            let handled: BTreeSet<&str> =
                flushed.iter().flat_map(|r| r.entries.iter().map(|(e, _)| e.id.as_str())).collect();
            let delivered =
                flushed.iter().flat_map(|r| r.messages.iter()).map(|(m, d)| (m.clone(), d.clone()));
            out.extend(reports_of_deliveries(delivered));
            // What this pass queued and the flush did not get to (another process delivering).
            let waiting: Vec<Entry> =
                entries.into_iter().filter(|e| !handled.contains(e.id.as_str())).collect();
            out.extend(reports(ops_alert::fold::plan(&waiting).into_iter().map(|m| {
                let outcome = AlertOutcome::Queued(vec![(m.destination.clone(), None)]);
                (m, outcome)
            })));
        }
        for r in &out {
            // The whole message on one line: which services, not only the heading.
            let message: Vec<&str> =
                r.alert.message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let line = format!(
                "ALERT {}: {} -> {}",
                r.alert.level.as_str(),
                message.join(" | "),
                outcome_words(&r.outcome)
            );
            self.note(line);
        }
        out
    }
}

/// The last result of a service in the pass: the re-check's, else the check's.
/// The alerted episodes `m` is in: its outage (`false`) and its warning (`true`), with their
/// starts.
fn firing(m: &Memory) -> Vec<(bool, f64)> {
    let outage = m.down_since.filter(|_| m.alerted).map(|since| (false, since));
    let warning = m.warning.as_ref().filter(|w| w.alerted).map(|w| (true, w.since));
    outage.into_iter().chain(warning).collect()
}

fn last_result(s: &ServiceReport) -> &ops_health::CheckResult {
    s.recheck.as_ref().unwrap_or(&s.check)
}

/// How a service fared: its first check and the last re-check.
fn seen(s: &ServiceReport) -> Seen {
    match (s.check.outcome, s.recheck.as_ref().map(|r| r.outcome)) {
        // A warning is up: never alerted as down (`Outcome::is_up`).
        (o, _) if o.is_up() => Seen::Up,
        (Outcome::Down(_), Some(r)) if r.is_up() => Seen::AutoRecovered,
        (Outcome::Down(_), Some(Outcome::Down(_)) | None) => Seen::Down,
        // Nothing learned about it (its check, or the re-check, could not be made).
        _ => Seen::Unknown,
    }
}

/// The level of a service's failure alert.
fn level(severity: Severity) -> Level {
    match severity {
        Severity::Info => Level::Info,
        Severity::Warning => Level::Warning,
        Severity::Error => Level::Error,
        Severity::Critical => Level::Critical,
    }
}

/// One report per message text: the same message for several destinations is one report.
fn reports(messages: impl Iterator<Item = (ops_alert::Message, AlertOutcome)>) -> Vec<AlertReport> {
    let mut out: Vec<AlertReport> = Vec::new();
    for (m, outcome) in messages {
        let Some(alert) = m.alert else { continue };
        match (out.iter_mut().find(|r| r.alert == alert), &outcome) {
            (Some(AlertReport { outcome: AlertOutcome::Queued(list), .. }), AlertOutcome::Queued(more)) => {
                list.extend(more.iter().cloned());
            }
            (
                Some(AlertReport { outcome: AlertOutcome::SentDirectly { deliveries, .. }, .. }),
                AlertOutcome::SentDirectly { deliveries: more, .. },
            ) => {
                deliveries.extend(more.iter().cloned());
            }
            (Some(r), _) if matches!(r.outcome, AlertOutcome::DryRun | AlertOutcome::NotConfigured) => {}
            _ => out.push(AlertReport { alert, outcome }),
        }
    }
    out
}

fn reports_of_deliveries(
    delivered: impl Iterator<Item = (ops_alert::Message, Delivery)>,
) -> Vec<AlertReport> {
    reports(delivered.map(|(m, d)| {
        let outcome = AlertOutcome::Queued(vec![(m.destination.clone(), Some(d))]);
        (m, outcome)
    }))
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

/// The log's words for what became of a message.
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
        AlertOutcome::NotConfigured => "not sent: alerting is not configured".into(),
        AlertOutcome::DryRun => "dry run".into(),
    }
}
