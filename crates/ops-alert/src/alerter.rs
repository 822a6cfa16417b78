//! The alerter: rate limit, outbox and notifiers joined into "send this alert" and "deliver
//! what is waiting", with typed outcomes.
//!
//! How an alert goes out ([`Alerter::send`]):
//! 1. Under the rate file's lock: if its topic was alerted less than the limit ago, stop
//!    (rate limited). Otherwise append one outbox line per destination, fsync it, and only
//!    then record the topic's time. Two processes alerting the same topic at once: the
//!    second one takes the lock after the first has recorded it, and stops. Nothing is sent
//!    while the lock is held, so it is held for milliseconds.
//! 2. Under the delivery lock, deliver the outbox in order (earlier alerts first), removing
//!    each entry only after its destination confirmed it. A destination that fails keeps its
//!    entries, in order, for the next run; the others go on.
//!
//! The flush folds each destination's waiting entries into messages ([`crate::fold`]): one
//! message per run of events (one pass's alerts, or a backlog as one digest), notes as
//! themselves. A message is confirmed as one delivery, and every entry it stands for leaves the
//! outbox with it; a failure keeps them all. Telegram splits a long message into parts and
//! resumes by part: once a part of a folded message went out, the fold is frozen (its entries
//! are replaced, in the same atomic rewrite, by one note holding the message as sent), so the
//! rest follows whatever is queued meanwhile.
//!
//! A flood-control wait longer than the notifier waits is recorded on the entry (see
//! [`crate::FloodWait`]); until it has passed, no request goes to that destination, from any
//! process: its entries stay queued, and [`Alerter::deliver_now`] does not ask it either.
//!
//! So an alert is on disk before the first request is made: a crash at any point leaves it
//! in the outbox, and the next run delivers it (no loss). The one window for a duplicate is a
//! crash (or a failure to rewrite the outbox) after the destination confirmed and before the
//! entry was removed; the next run sends that entry again. That a rewrite will work is checked
//! before a non-empty outbox is delivered or queued into (by rewriting it unchanged): on a full
//! or read-only disk the waiting alerts stay queued, in order, instead of going out again on
//! every run, and new alerts are sent directly, without the outbox. A request that times out after
//! Telegram received it is also retried: the Bot API has no idempotency key, and a possible
//! duplicate is better than a lost alert.

use std::collections::{HashMap, HashSet};

use crate::fold::{self, Event, EventKind, Folded, Message};
use crate::notifier::{Delivery, Failure, Notifier, Problem, Receipt, Request};
use crate::outbox::{Entry, FloodWait, Outbox};
use crate::rate::{RateLimit, RateLimited};
use crate::{Alert, AlertError, Secrets};

/// Notifiers, the rate limit and the outbox of one installation.
#[derive(Debug)]
pub struct Alerter {
    notifiers: Vec<Box<dyn Notifier>>,
    rate: RateLimit,
    outbox: Outbox,
    clock: Clock,
    /// Every notifier's secrets: none of them is queued, recorded or sent in an alert's text.
    secrets: Secrets,
    /// Where [`Alerter::send`] and [`Alerter::enqueue`] send (`None`: every notifier); see
    /// [`Alerter::sending_to`].
    defaults: Option<Vec<String>>,
    /// Per destination, where its transitions go when it cannot be reached; see
    /// [`Alerter::falling_back`].
    fallbacks: HashMap<String, Vec<String>>,
}

/// Where the alerter reads the time, in unix seconds: the system's clock unless
/// [`Alerter::with_clock`] gave another.
struct Clock(Box<dyn Fn() -> f64 + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The short answer: what happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every destination confirmed it.
    Sent,
    /// Its topic was alerted less than the rate limit ago; nothing was sent or queued.
    RateLimited,
    /// Not delivered everywhere yet, for reasons that may pass; it waits in the outbox.
    Queued,
    /// A destination refused it in a way that retrying cannot fix (bad token, blocked bot,
    /// unknown chat), or it could not even be queued.
    Failed,
}

/// What [`Alerter::send`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Set when the topic was rate limited: then nothing was sent or queued.
    pub rate_limited: Option<RateLimited>,
    /// What happened at each destination.
    pub deliveries: Vec<Delivery>,
    /// Earlier alerts from the outbox dealt with first, in order.
    pub earlier: Vec<(Entry, Delivery)>,
    /// Things worth telling the user that did not stop the alert (a state file set aside ...).
    pub warnings: Vec<String>,
}

impl Outcome {
    /// The short answer.
    pub fn verdict(&self) -> Verdict {
        if self.rate_limited.is_some() {
            return Verdict::RateLimited;
        }
        let mut verdict = Verdict::Sent;
        for d in &self.deliveries {
            if let Delivery::NotSent { failure, queued, .. } = d {
                if !queued || failure.problem.is_permanent() {
                    return Verdict::Failed;
                }
                verdict = Verdict::Queued;
            }
        }
        verdict
    }
}

/// What [`Alerter::flush`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlushReport {
    /// Every entry dealt with: delivered (alone or folded into a message), failed, or left
    /// waiting behind an earlier message for the same destination that failed. Entries of a
    /// message share its delivery.
    pub entries: Vec<(Entry, Delivery)>,
    /// The messages, in the order they were dealt with, each with its delivery.
    pub messages: Vec<(Message, Delivery)>,
    /// Entries in the outbox afterwards.
    pub remaining: usize,
    /// Another process was delivering for longer than we could wait; nothing was attempted.
    pub busy: bool,
    /// Problems with the outbox file itself.
    pub warnings: Vec<String>,
}

/// What [`Alerter::enqueue`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Rate limited: nothing queued.
    RateLimited(RateLimited),
    /// Queued: one entry per destination, durably.
    Queued(Vec<Entry>),
}

/// An alert (or event) to queue for some destinations, for [`Alerter::enqueue_to`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The alert: what is sent when it is delivered alone (its event's section and line).
    pub alert: Alert,
    /// Its episode, if it has one; `None` for a note.
    pub event: Option<Event>,
    /// The notifiers it is for ([`Notifier::destination`]).
    pub destinations: Vec<String>,
}

impl Alerter {
    /// An alerter over at least one notifier. Destinations must be distinct.
    pub fn new(
        notifiers: Vec<Box<dyn Notifier>>,
        rate: RateLimit,
        outbox: Outbox,
    ) -> Result<Self, AlertError> {
        if notifiers.is_empty() {
            return Err(AlertError::NoNotifier);
        }
        let mut seen = HashSet::new();
        if let Some(dup) = notifiers.iter().map(|n| n.destination()).find(|d| !seen.insert(*d)) {
            return Err(AlertError::Invalid {
                field: crate::Setting::Name,
                message: format!("destination {dup:?} appears twice"),
            });
        }
        let system = || ops_state::timestamp::unix_seconds(time::OffsetDateTime::now_utc());
        let mut secrets = Secrets::default();
        for n in &notifiers {
            secrets.extend(n.secrets());
        }
        Ok(Self {
            notifiers,
            rate,
            outbox,
            clock: Clock(Box::new(system)),
            secrets,
            defaults: None,
            fallbacks: HashMap::new(),
        })
    }

    /// This alerter, sending the words of `destination`'s transitions (an episode opened,
    /// updated or closed; never a reminder or an escalation) and its notes directly to the `to` destinations
    /// when a flush cannot deliver them to `destination`, once each. They still wait for
    /// `destination`, which gets them when it is back: a fallback only makes sure somebody
    /// hears in the meantime (Telegram while Alertmanager is unreachable).
    #[must_use]
    pub fn falling_back(mut self, destination: &str, to: Vec<String>) -> Self {
        self.fallbacks.insert(destination.to_owned(), to);
        self
    }

    /// This alerter, reading the time (unix seconds) from `now` instead of the system's clock:
    /// for rate limits and flood-control waits.
    #[must_use]
    pub fn with_clock(mut self, now: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.clock = Clock(Box::new(now));
        self
    }

    /// This alerter, sending what [`Alerter::send`] and [`Alerter::enqueue`] get to these
    /// destinations only (the others are kept for what is queued for them by name, such as an
    /// escalation's pager). [`Alerter::deliver_now`] still asks every notifier.
    #[must_use]
    pub fn sending_to(mut self, destinations: Vec<String>) -> Self {
        self.defaults = Some(destinations);
        self
    }

    /// The notifiers [`Alerter::send`] and [`Alerter::enqueue`] send to.
    fn default_notifiers(&self) -> impl Iterator<Item = &Box<dyn Notifier>> {
        self.notifiers
            .iter()
            .filter(|n| self.defaults.as_ref().is_none_or(|d| d.iter().any(|d| d == n.destination())))
    }

    fn now(&self) -> f64 {
        (self.clock.0)()
    }

    /// `alert` with every notifier's secrets redacted from its message and topic: a secret in
    /// an alert's text (a check's detail that quotes a URL with a token) is neither written to
    /// the outbox or the rate file nor carried to any destination.
    fn scrub(&self, alert: &Alert) -> Alert {
        Alert {
            level: alert.level,
            topic: alert.topic.as_deref().map(|t| self.secrets.redact(t)),
            message: self.secrets.redact(&alert.message),
        }
    }

    /// `event` with every notifier's secrets redacted from its words, as [`Alerter::scrub`].
    fn scrub_event(&self, event: &Event) -> Event {
        let r = |s: &str| self.secrets.redact(s);
        Event {
            key: r(&event.key),
            kind: event.kind,
            at: event.at,
            started: event.started,
            section: r(&event.section),
            text: r(&event.text),
            labels: event.labels.iter().map(|(k, v)| (r(k), r(v))).collect(),
        }
    }

    /// What each notifier would request for `alert` (see [`Notifier::preview`]), with every
    /// notifier's secrets redacted from the alert first, as `(destination, request)`: for
    /// `--dry-run`.
    pub fn preview(&self, alert: &Alert) -> Vec<(&str, Request)> {
        let alert = self.scrub(alert);
        let mut requests = Vec::new();
        for n in &self.notifiers {
            requests.extend(n.preview(&alert).into_iter().map(|r| (n.destination(), r)));
        }
        requests
    }

    /// The notifiers, in order.
    pub fn notifiers(&self) -> &[Box<dyn Notifier>] {
        &self.notifiers
    }

    /// The rate limit.
    pub fn rate(&self) -> &RateLimit {
        &self.rate
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Rate-limits, queues, and delivers the outbox (earlier alerts first, then this one).
    ///
    /// Errors only when the alert could neither be queued nor checked; when queueing fails (a
    /// full disk), the alert is sent directly, without the outbox's safety net, and the
    /// outcome says so.
    pub fn send(&self, alert: &Alert) -> Result<Outcome, AlertError> {
        let alert = &self.scrub(alert);
        let mut outcome = Outcome::default();
        let mine = match self.enqueue(alert, &mut outcome.warnings) {
            Ok(Admission::RateLimited(limited)) => {
                outcome.rate_limited = Some(limited);
                return Ok(outcome);
            }
            Ok(Admission::Queued(entries)) => entries,
            Err(e) => return Ok(self.send_unqueued(alert, &e, outcome)),
        };
        // `enqueue` proved the outbox writable just before it appended: no need to again.
        let report = match self.flush_from(true) {
            Ok(report) => report,
            Err(e) => {
                let failure = Failure::new(Problem::State, e.to_string(), 0);
                outcome.deliveries = mine
                    .into_iter()
                    .map(|m| Delivery::NotSent {
                        destination: m.destination,
                        failure: failure.clone(),
                        queued: true,
                    })
                    .collect();
                return Ok(outcome);
            }
        };
        let busy = report.busy;
        outcome.warnings.extend(report.warnings);
        let ids: HashSet<&str> = mine.iter().map(|m| m.id.as_str()).collect();
        let mut handled: HashMap<String, Delivery> = HashMap::new();
        for (entry, delivery) in report.entries {
            if ids.contains(entry.id.as_str()) {
                handled.insert(entry.id, delivery);
            } else {
                outcome.earlier.push((entry, delivery));
            }
        }
        let still_queued: HashSet<String> = if mine.iter().all(|m| handled.contains_key(&m.id)) {
            HashSet::new()
        } else {
            self.outbox.entries()?.into_iter().map(|e| e.id).collect()
        };
        for m in mine {
            let delivery = handled.remove(&m.id).unwrap_or_else(|| {
                if still_queued.contains(&m.id) {
                    let (problem, reason) = if busy {
                        (
                            Problem::Busy,
                            "another agent-ops process was delivering the outbox for longer than we could wait; \
                             the alert stays queued"
                                .to_owned(),
                        )
                    } else {
                        (Problem::State, "not attempted: the outbox could not be updated; the alert stays queued".to_owned())
                    };
                    let failure = Failure::new(problem, reason, 0);
                    Delivery::NotSent { destination: m.destination.clone(), failure, queued: true }
                } else {
                    // Another process delivered it while this one waited for its turn.
                    Delivery::Sent { destination: m.destination.clone(), receipt: Receipt::default() }
                }
            });
            outcome.deliveries.push(delivery);
        }
        Ok(outcome)
    }

    /// Step 1 of [`Alerter::send`] alone: the rate decision, and the alert queued (fsynced) for
    /// every destination. Deliver with [`Alerter::flush`].
    pub fn enqueue(&self, alert: &Alert, warnings: &mut Vec<String>) -> Result<Admission, AlertError> {
        let alert = &self.scrub(alert);
        let entries: Vec<Entry> =
            self.default_notifiers().map(|n| Entry::new(alert, n.destination())).collect();
        // Queueing rewrites the outbox: when it cannot be rewritten (and so an entry could not
        // be taken off once delivered), nothing is queued and callers send directly.
        let mut said = Vec::new();
        let mut queue = || self.outbox.append(&entries, &mut said);
        let limited = match alert.topic.as_deref().filter(|t| !t.is_empty()) {
            None => {
                queue()?;
                None
            }
            Some(topic) => self.rate.admit(topic, self.now(), warnings, queue)?,
        };
        warnings.append(&mut said);
        Ok(match limited {
            Some(limited) => Admission::RateLimited(limited),
            None => Admission::Queued(entries),
        })
    }

    /// Queues each of `items` for its destinations (one entry each), durably and without a
    /// rate limit, secrets redacted; an entry takes the stale entries of its episode off the
    /// outbox. Destinations that are not configured are left out and said in `warnings`.
    /// Deliver with [`Alerter::flush`].
    pub fn enqueue_to(
        &self,
        items: &[Outgoing],
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Entry>, AlertError> {
        let mut entries = Vec::new();
        let mut unknown: Vec<&str> = Vec::new();
        for item in items {
            let alert = self.scrub(&item.alert);
            let event = item.event.as_ref().map(|e| self.scrub_event(e));
            for d in &item.destinations {
                if self.notifiers.iter().any(|n| n.destination() == d) {
                    entries.push(Entry { event: event.clone(), ..Entry::new(&alert, d) });
                } else if !unknown.contains(&d.as_str()) {
                    unknown.push(d);
                }
            }
        }
        for d in unknown {
            warnings.push(format!("{d} is not configured; the alerts for it were not queued"));
        }
        if !entries.is_empty() {
            self.outbox.append(&entries, warnings)?;
        }
        Ok(entries)
    }

    /// The messages a flush would send now: the outbox's waiting entries, then `extra` (entries
    /// not queued, such as a dry run's), folded per destination. Reads only.
    pub fn preview_messages(&self, extra: &[Entry]) -> Result<Vec<Message>, AlertError> {
        let mut entries = self.outbox.entries()?;
        entries.extend(extra.iter().map(|e| Entry {
            alert: self.scrub(&e.alert),
            event: e.event.as_ref().map(|ev| self.scrub_event(ev)),
            ..e.clone()
        }));
        Ok(fold::plan(&entries))
    }

    /// Whether `alert` would be rate limited now (read only, for dry runs).
    pub fn rate_check(&self, alert: &Alert) -> Result<Option<RateLimited>, AlertError> {
        let alert = &self.scrub(alert);
        match alert.topic.as_deref().filter(|t| !t.is_empty()) {
            Some(topic) => self.rate.check(topic, self.now()),
            None => Ok(None),
        }
    }

    /// Delivers the outbox in order, one process at a time. An entry leaves the outbox only
    /// once its destination confirmed it; after a destination fails, its later entries are not
    /// attempted in this flush (they would overtake the failed one), but other destinations go
    /// on. Entries queued while the flush runs are delivered too.
    pub fn flush(&self) -> Result<FlushReport, AlertError> {
        self.flush_from(false)
    }

    /// [`Alerter::flush`]; `checked` when the caller has just proved the outbox writable.
    fn flush_from(&self, checked: bool) -> Result<FlushReport, AlertError> {
        let report = self.outbox.delivering(|| self.flush_locked(checked))?;
        match report {
            Some(report) => report,
            None => Ok(FlushReport {
                busy: true,
                remaining: self.outbox.entries()?.len(),
                ..FlushReport::default()
            }),
        }
    }

    fn flush_locked(&self, mut checked: bool) -> Result<FlushReport, AlertError> {
        let mut report = FlushReport::default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut failed: HashMap<String, Failure> = HashMap::new();
        let mut waiting: HashMap<String, Failure> = HashMap::new();
        loop {
            let snapshot = self.outbox.modify(&mut report.warnings, |entries| entries.clone())?;
            // Destinations under flood control are not asked anything until it has passed.
            for (destination, failure) in held(&snapshot, self.now()) {
                waiting.entry(destination).or_insert(failure);
            }
            // Everything left in the outbox now; what this flush did not take off stays.
            report.remaining = snapshot.len();
            let pending: Vec<Entry> = snapshot.into_iter().filter(|e| !seen.contains(&e.id)).collect();
            if pending.is_empty() {
                break;
            }
            if !std::mem::replace(&mut checked, true)
                && let Err(e) = self.outbox.check_rewritable()
            {
                // A full or read-only disk: an alert delivered now could not be taken off, and
                // every run would send it again. They wait (in order) until it can be written.
                report.warnings.push(format!(
                    "{e}; the {} alert(s) in the outbox wait until it can be written again (sent now, they \
                     could not be taken off it and would go out again on every run)",
                    pending.len()
                ));
                for entry in pending {
                    let reason = format!("not attempted: the outbox cannot be written ({e})");
                    let failure =
                        Failure { parts_sent: entry.parts_sent, ..Failure::new(Problem::State, reason, 0) };
                    let destination = entry.destination.clone();
                    report.entries.push((entry, Delivery::NotSent { destination, failure, queued: true }));
                }
                return Ok(report);
            }
            seen.extend(pending.iter().map(|e| e.id.clone()));
            for message in fold::plan(&pending) {
                if let Err(e) = self.flush_message(&message, &pending, &waiting, &mut failed, &mut report) {
                    report.warnings.push(format!(
                        "{e}; the outbox could not be updated, so an alert just delivered may be sent again by the next run"
                    ));
                    report.remaining = self.outbox.entries().map_or(0, |e| e.len());
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    /// Delivers one message and records the result in the outbox and the report, unless its
    /// destination is `waiting` out flood control or `failed` earlier in this flush.
    fn flush_message(
        &self,
        message: &Message,
        pending: &[Entry],
        waiting: &HashMap<String, Failure>,
        failed: &mut HashMap<String, Failure>,
        report: &mut FlushReport,
    ) -> Result<(), AlertError> {
        let destination = message.destination.clone();
        let ids: HashSet<&str> = message.ids.iter().map(String::as_str).collect();
        let entries: Vec<&Entry> = pending.iter().filter(|e| ids.contains(e.id.as_str())).collect();
        let settle = |report: &mut FlushReport, delivery: Delivery| {
            for e in &entries {
                report.entries.push(((*e).clone(), delivery.clone()));
            }
            report.messages.push((message.clone(), delivery));
        };
        let not_sent =
            |failure| Delivery::NotSent { destination: destination.clone(), failure, queued: true };
        let notifier = self.notifiers.iter().find(|n| n.destination() == destination);
        // A destination that keeps each episode's state is sent the events, words or not.
        let events = notifier.is_some_and(|n| n.takes_events()) && !message.events.is_empty();
        if message.alert.is_none() && !events {
            // Nothing to say (a close without words and what it made stale): settled as is.
            let result =
                self.outbox.modify(&mut report.warnings, |all| all.retain(|e| !ids.contains(e.id.as_str())));
            settle(report, Delivery::Sent { destination: destination.clone(), receipt: Receipt::default() });
            return result;
        }
        let Some(notifier) = notifier else {
            let reason = format!("{destination} is not configured any more; the alert stays in the outbox");
            settle(report, not_sent(Failure::new(Problem::NotConfigured, reason, 0)));
            return Ok(());
        };
        if let Some(wait) = waiting.get(&destination) {
            settle(report, not_sent(Failure { parts_sent: message.parts_sent, ..wait.clone() }));
            return Ok(());
        }
        if let Some(earlier) = failed.get(&destination) {
            let reason =
                format!("waiting behind an earlier alert that could not be delivered: {}", earlier.reason);
            let failure = Failure { reason, attempts: 0, parts_sent: message.parts_sent, ..earlier.clone() };
            settle(report, not_sent(failure));
            return self.fall_back(&destination, &entries, pending, report);
        }
        let delivered = match &message.alert {
            Some(alert) if !events => notifier.deliver(alert, message.parts_sent),
            _ => notifier.deliver_events(&message.events, self.now()),
        };
        match delivered {
            Ok(receipt) => {
                let result = self
                    .outbox
                    .modify(&mut report.warnings, |all| all.retain(|e| !ids.contains(e.id.as_str())));
                settle(report, Delivery::Sent { destination: destination.clone(), receipt });
                result
            }
            Err(mut failure) => {
                let now = self.now();
                let flood_wait = failure.retry_after.map(|after| FloodWait::new(now, after));
                if let Some(wait) = flood_wait {
                    failure.reason = format!("{}, {}", failure.reason, wait.until_words(now));
                }
                failed.insert(destination.clone(), failure.clone());
                let freeze = message.alert.as_ref().filter(|_| !message.note && failure.parts_sent > 0);
                let update = |all: &mut Vec<Entry>| {
                    let Some(first) = all.iter().position(|e| ids.contains(e.id.as_str())) else { return };
                    if let Some(alert) = freeze {
                        // Parts of it went out: from now on it is this message, whatever is queued.
                        let mut frozen = Entry {
                            alert: alert.clone(),
                            parts_sent: failure.parts_sent,
                            attempts: failure.attempts,
                            last_error: Some(failure.reason.clone()),
                            flood_wait,
                            event: None,
                            folded: None,
                            ..all[first].clone()
                        };
                        if message.stands_for > 1 {
                            let since = entries
                                .iter()
                                .filter_map(|e| e.event.as_ref().map(|ev| ev.at))
                                .fold(f64::INFINITY, f64::min);
                            frozen.folded = Some(Folded { count: message.stands_for - 1, since, passes: 0 });
                        }
                        all.retain(|e| !ids.contains(e.id.as_str()));
                        all.insert(first.min(all.len()), frozen);
                        return;
                    }
                    for e in all.iter_mut().filter(|e| ids.contains(e.id.as_str())) {
                        e.attempts += failure.attempts;
                        e.last_error = Some(failure.reason.clone());
                        if message.note {
                            e.parts_sent = failure.parts_sent;
                        }
                    }
                    all[first].flood_wait = flood_wait;
                };
                let result = self.outbox.modify(&mut report.warnings, update);
                settle(report, not_sent(failure));
                result.and_then(|()| self.fall_back(&destination, &entries, pending, report))
            }
        }
    }

    /// Sends the words of the transitions and notes among `entries` (for `destination`, which could not
    /// be reached) that have not fallen back yet to `destination`'s fallbacks, directly, and
    /// marks them in the outbox.
    /// An event already waiting for a fallback destination itself (the caller queued it there
    /// too: a recovery whose opening fell back) is not sent to it again.
    fn fall_back(
        &self,
        destination: &str,
        entries: &[&Entry],
        pending: &[Entry],
        report: &mut FlushReport,
    ) -> Result<(), AlertError> {
        let Some(to) = self.fallbacks.get(destination) else { return Ok(()) };
        let transitions: Vec<&Entry> = entries
            .iter()
            .copied()
            .filter(|e| !e.fell_back)
            .filter(|e| match &e.event {
                Some(ev) => {
                    matches!(ev.kind, EventKind::Opened | EventKind::Update | EventKind::Closed)
                        && !ev.text.is_empty()
                }
                None => true, // a note: a person wrote it
            })
            .collect();
        if transitions.is_empty() {
            return Ok(());
        }
        for fallback in to {
            let queued_there = |e: &Entry| {
                pending.iter().any(|p| {
                    &p.destination == fallback
                        && matches!((&p.event, &e.event), (Some(a), Some(b)) if a.key == b.key && a.kind == b.kind)
                })
            };
            let copies: Vec<Entry> = transitions
                .iter()
                .filter(|e| !queued_there(e))
                .map(|e| Entry { destination: fallback.clone(), ..(*e).clone() })
                .collect();
            for message in fold::plan(&copies) {
                if let Some(alert) = &message.alert {
                    let delivery = self.deliver_now_to(fallback, alert);
                    report.messages.push((message, delivery));
                }
            }
        }
        let ids: HashSet<&str> = transitions.iter().map(|e| e.id.as_str()).collect();
        self.outbox.modify(&mut report.warnings, |all| {
            for e in all.iter_mut().filter(|e| ids.contains(e.id.as_str())) {
                e.fell_back = true;
            }
        })
    }

    /// Delivers `alert` to every notifier now, without rate limit or outbox (for a test
    /// message, or when the outbox cannot be written).
    /// Destinations under flood control (as the outbox remembers it) are not asked.
    pub fn deliver_now(&self, alert: &Alert) -> Vec<Delivery> {
        self.notifiers.iter().map(|n| self.deliver_now_to(n.destination(), alert)).collect()
    }

    /// [`Alerter::deliver_now`] for one destination (a message folded for it).
    pub fn deliver_now_to(&self, destination: &str, alert: &Alert) -> Delivery {
        let alert = &self.scrub(alert);
        let destination = destination.to_owned();
        let Some(notifier) = self.notifiers.iter().find(|n| n.destination() == destination) else {
            let failure = Failure::new(Problem::NotConfigured, format!("{destination} is not configured"), 0);
            return Delivery::NotSent { destination, failure, queued: false };
        };
        if let Some(failure) =
            held(&self.outbox.entries().unwrap_or_default(), self.now()).remove(&destination)
        {
            return Delivery::NotSent { destination, failure, queued: false };
        }
        match notifier.deliver(alert, 0) {
            Ok(receipt) => Delivery::Sent { destination, receipt },
            Err(failure) => Delivery::NotSent { destination, failure, queued: false },
        }
    }

    /// Delivers `message` (folded from entries that could not be queued) now, without the
    /// outbox: its events to a notifier that [`Notifier::takes_events`], as a flush would, its
    /// words to the others; `None` when it has nothing for its destination.
    pub fn deliver_message_now(&self, message: &Message) -> Option<Delivery> {
        let destination = message.destination.clone();
        let notifier = self.notifiers.iter().find(|n| n.destination() == destination);
        let Some(notifier) = notifier.filter(|n| n.takes_events() && !message.events.is_empty()) else {
            return message.alert.as_ref().map(|a| self.deliver_now_to(&destination, a));
        };
        if let Some(failure) =
            held(&self.outbox.entries().unwrap_or_default(), self.now()).remove(&destination)
        {
            return Some(Delivery::NotSent { destination, failure, queued: false });
        }
        let events: Vec<Event> = message.events.iter().map(|e| self.scrub_event(e)).collect();
        Some(match notifier.deliver_events(&events, self.now()) {
            Ok(receipt) => Delivery::Sent { destination, receipt },
            Err(failure) => Delivery::NotSent { destination, failure, queued: false },
        })
    }

    /// The fallback when the alert cannot be queued: honour the rate limit if it can be read,
    /// send directly, and try to record the topic.
    fn send_unqueued(&self, alert: &Alert, error: &AlertError, mut outcome: Outcome) -> Outcome {
        outcome.warnings.push(format!("could not queue the alert ({error}); sending it without the outbox"));
        if let Ok(Some(limited)) = self.rate_check(alert) {
            outcome.rate_limited = Some(limited);
            return outcome;
        }
        outcome.deliveries =
            self.default_notifiers().map(|n| self.deliver_now_to(n.destination(), alert)).collect();
        // Not `admit`: its warning would say the alert is queued, and it is not.
        if let Some(topic) = alert.topic.as_deref().filter(|t| !t.is_empty())
            && outcome.deliveries.iter().any(Delivery::is_sent)
            && let Err(e) = self.rate.record(topic, self.now())
        {
            outcome.warnings.push(format!(
                "could not record the alert's topic ({e}); the next alert of topic {topic:?} will not be rate limited"
            ));
        }
        outcome
    }
}

/// The destinations flood control holds at `now`, with the failure to report for each: the
/// wait recorded on any of their entries.
fn held(entries: &[Entry], now: f64) -> HashMap<String, Failure> {
    let mut held = HashMap::new();
    for e in entries {
        if let Some(wait) = e.flood_wait.filter(|w| w.holds_at(now)) {
            held.entry(e.destination.clone()).or_insert_with(|| {
                let reason = format!(
                    "{} flood control: retry after {} s, {}",
                    e.destination,
                    wait.retry_after,
                    wait.until_words(now)
                );
                Failure { retry_after: None, ..Failure::new(Problem::FloodControl, reason, 0) }
            });
        }
    }
    held
}
