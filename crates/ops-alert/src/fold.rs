//! Events, and how the outbox folds them into messages.
//!
//! An outbox entry may carry an [`Event`]: what it is about (`key`, stable for one episode,
//! such as an outage), its [`EventKind`], when (`at`), a one-line `text` and the `section` it
//! goes under. Entries without one are notes (a user's `alert send`, an old outbox line, a
//! message frozen after some of its parts went out): delivered as themselves, in order, never
//! folded or dropped.
//!
//! The rules, per destination:
//! - **Stale**: a `Reminder` is stale once a later entry of its key is queued; an `Escalated`
//!   once a later `Escalated` or `Closed` of its key is ([`supersedes`]). A stale entry is never
//!   delivered: queueing the later entry removes it and counts it on that entry ([`absorb`]);
//!   one found at delivery leaves the outbox with the message of the entry that made it stale.
//! - **Runs**: consecutive event entries (notes break runs) become one message. In a run, an
//!   `Opened` or `Update` whose `Closed` follows in the same run is folded into the `Closed`'s
//!   line (the caller words that line to say both); a `Closed` with an empty text (recovery
//!   notices off) says nothing, and settles its key's stale entries without a request.
//! - **Sections** appear in the order of their first entry, each line under its section.
//! - **Digest**: a message that stands for alerts of [`DIGEST_PASSES`] or more batches (distinct
//!   `at`s: one pass queues one batch) says so first, "Digest of N queued alerts since 14:02
//!   UTC", and each line starts with its time.
//!
//! Transitions (`Opened`, `Closed`), `Update`s and notes are never stale and never dropped,
//! so every episode that was opened is said to have opened, and every close said, in order.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::outbox::Entry;
use crate::{Alert, Level};

/// A message that stands for alerts of this many batches (passes) or more is announced as a
/// digest.
pub const DIGEST_PASSES: u32 = 3;

/// What an outbox entry is about, when it belongs to an episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What it is about, stable for one episode (`outage:API:1764590520`); the episode ends
    /// with its [`EventKind::Closed`].
    pub key: String,
    /// Its part in the episode.
    pub kind: EventKind,
    /// When it was decided, in unix seconds; the events of one batch (a pass) share it.
    pub at: f64,
    /// When its episode began (unix seconds), when the caller knows: Alertmanager's `startsAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    /// The heading it is listed under (`Health check failures`), the caller's words.
    pub section: String,
    /// Its line; empty for an event that says nothing of its own.
    pub text: String,
    /// Labels for notifiers that route by them (Alertmanager: `alertname`, `service`,
    /// `severity` ...); unused by Telegram and webhooks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// An event's part in its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The episode began (a service went down): never dropped.
    Opened,
    /// Something happened within it that stays true (the restarts were given up): never
    /// dropped.
    Update,
    /// It still holds: stale once a later entry of its key is queued.
    Reminder,
    /// It was escalated (step `step`, from 1): stale once a later escalation or the close is
    /// queued.
    Escalated {
        /// Which step.
        step: u32,
    },
    /// The episode ended: never dropped; folds in its `Opened` and `Update`s of the same run.
    Closed,
}

/// What an entry stands for besides itself: the stale entries of its key that were taken off
/// the outbox when it was queued, or entries folded away to keep the outbox within its bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Folded {
    /// How many.
    pub count: u32,
    /// The earliest of their times (unix seconds).
    pub since: f64,
    /// How many batches they came from.
    pub passes: u32,
}

/// Whether `later` (queued after `earlier`) makes `earlier` stale: the same destination and
/// key, `earlier` a reminder, or an escalation and `later` an escalation or the close.
pub fn supersedes(later: &Entry, earlier: &Entry) -> bool {
    let (Some(l), Some(e)) = (&later.event, &earlier.event) else { return false };
    later.destination == earlier.destination
        && l.key == e.key
        && match e.kind {
            EventKind::Reminder => true,
            EventKind::Escalated { .. } => matches!(l.kind, EventKind::Escalated { .. } | EventKind::Closed),
            EventKind::Opened | EventKind::Update | EventKind::Closed => false,
        }
}

/// Takes the entries `new` makes stale out of `entries`, counting them on `new` (and keeping
/// a flood-control wait one of them carried).
pub(crate) fn absorb(entries: &mut Vec<Entry>, new: &mut Entry) {
    entries.retain(|old| {
        if !supersedes(new, old) {
            return true;
        }
        add_folded(new, old, 1);
        if new.flood_wait.is_none() {
            new.flood_wait = old.flood_wait;
        }
        false
    });
}

/// Counts `old` (and what it stood for) on `heir`; `passes` is how many batches `old` itself
/// adds.
pub(crate) fn add_folded(heir: &mut Entry, old: &Entry, passes: u32) {
    let at = old.event.as_ref().map_or(f64::INFINITY, |e| e.at);
    let before = old.folded.unwrap_or(Folded { count: 0, since: at, passes: 0 });
    let mine = heir.folded.unwrap_or(Folded { count: 0, since: at, passes: 0 });
    heir.folded = Some(Folded {
        count: mine.count.saturating_add(1).saturating_add(before.count),
        since: mine.since.min(before.since).min(at),
        passes: mine.passes.saturating_add(passes).saturating_add(before.passes),
    });
}

/// One message a destination gets for some of its waiting entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The notifier it is for.
    pub destination: String,
    /// What to send; `None` when the entries settle without saying anything.
    pub alert: Option<Alert>,
    /// The entries it settles (delivered, folded or stale), in outbox order.
    pub ids: Vec<String>,
    /// Parts of it already delivered (a note's; a folded message is frozen into a note once a
    /// part went out).
    pub parts_sent: u32,
    /// Whether it is a single note, delivered as itself.
    pub note: bool,
    /// How many queued alerts it stands for.
    pub stands_for: u32,
    /// Whether it is announced as a digest.
    pub digest: bool,
    /// The latest event of each episode it settles, in order of first appearance: what a
    /// notifier that keeps state by episode (Alertmanager) is sent instead of the words. Empty
    /// for a note.
    pub events: Vec<Event>,
}

/// The messages for `entries` (in outbox order, any destinations): for each destination in
/// order of its first entry, its messages in order.
pub fn plan(entries: &[Entry]) -> Vec<Message> {
    let mut destinations: Vec<&str> = Vec::new();
    for e in entries {
        if !destinations.contains(&e.destination.as_str()) {
            destinations.push(&e.destination);
        }
    }
    destinations
        .into_iter()
        .flat_map(|d| plan_destination(d, &entries.iter().filter(|e| e.destination == d).collect::<Vec<_>>()))
        .collect()
}

fn plan_destination(destination: &str, p: &[&Entry]) -> Vec<Message> {
    // The entry whose message settles each stale entry: the last one that supersedes it.
    let settler: Vec<Option<usize>> =
        (0..p.len()).map(|i| (i + 1..p.len()).rev().find(|&j| supersedes(p[j], p[i]))).collect();
    let mut messages = Vec::new();
    let mut i = 0;
    while i < p.len() {
        if p[i].event.is_none() {
            let e = p[i];
            messages.push(Message {
                destination: destination.to_owned(),
                alert: Some(e.alert.clone()),
                ids: vec![e.id.clone()],
                parts_sent: e.parts_sent,
                note: true,
                stands_for: 1 + e.folded.map_or(0, |f| f.count),
                digest: false,
                events: Vec::new(),
            });
            i += 1;
            continue;
        }
        let end = (i..p.len()).find(|&j| p[j].event.is_none()).unwrap_or(p.len());
        let in_run = |j: usize| (i..end).contains(&j);
        let members: Vec<usize> = (0..p.len())
            .filter(|&j| match settler[j] {
                Some(s) => in_run(s),
                None => in_run(j),
            })
            .collect();
        if !members.is_empty() {
            messages.push(fold_run(destination, p, &members, &settler));
        }
        i = end;
    }
    messages
}

/// The message of one run: `members` are the run's entries and the stale entries it settles.
fn fold_run(destination: &str, p: &[&Entry], members: &[usize], settler: &[Option<usize>]) -> Message {
    let event = |j: usize| p[j].event.as_ref().expect("members of a run are events");
    // An Opened or Update whose key is closed, with words, later in the run: part of the close.
    let closes: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&j| settler[j].is_none() && event(j).kind == EventKind::Closed && !event(j).text.is_empty())
        .collect();
    let folded_in = |j: usize| {
        matches!(event(j).kind, EventKind::Opened | EventKind::Update)
            && closes.iter().any(|&c| c > j && event(c).key == event(j).key)
    };
    let shown: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&j| settler[j].is_none() && !folded_in(j) && !event(j).text.is_empty())
        .collect();
    let mut ats: HashSet<u64> = HashSet::new();
    let mut stands_for = 0u32;
    let mut passes = 0u32;
    let mut since = f64::INFINITY;
    let mut latest = f64::NEG_INFINITY;
    for &j in members {
        let at = event(j).at;
        ats.insert(at.to_bits());
        stands_for = stands_for.saturating_add(1);
        since = since.min(at);
        latest = latest.max(at);
        if let Some(f) = p[j].folded {
            stands_for = stands_for.saturating_add(f.count);
            passes = passes.saturating_add(f.passes);
            since = since.min(f.since);
        }
    }
    let passes = passes.saturating_add(u32::try_from(ats.len()).unwrap_or(u32::MAX));
    let digest = passes >= DIGEST_PASSES && !shown.is_empty();
    let alert = (!shown.is_empty()).then(|| {
        let same_day = day(since) == day(latest);
        let mut sections: Vec<(&str, Vec<String>)> = Vec::new();
        for &j in &shown {
            let e = event(j);
            let line = if digest { format!("{} {}", clock(e.at, same_day), e.text) } else { e.text.clone() };
            match sections.iter_mut().find(|(s, _)| *s == e.section) {
                Some((_, lines)) => lines.push(line),
                None => sections.push((&e.section, vec![line])),
            }
        }
        let mut body: Vec<String> = sections
            .iter()
            .map(|(section, lines)| {
                let items: Vec<String> = lines.iter().map(|l| format!(" - {l}")).collect();
                format!("{section}:\n{}", items.join("\n"))
            })
            .collect();
        if digest {
            body.insert(
                0,
                format!("Digest of {stands_for} queued alerts since {} UTC", clock(since, same_day)),
            );
        }
        let level = shown.iter().map(|&j| p[j].alert.level).max_by_key(|l| l.rank()).unwrap_or(Level::Info);
        Alert { level, topic: None, message: body.join("\n\n") }
    });
    // The latest event of each key (members are in outbox order: a close is its key's last).
    let mut events: Vec<Event> = Vec::new();
    for &j in members {
        let e = event(j);
        match events.iter_mut().find(|x| x.key == e.key) {
            Some(x) => *x = e.clone(),
            None => events.push(e.clone()),
        }
    }
    Message {
        destination: destination.to_owned(),
        alert,
        ids: members.iter().map(|&j| p[j].id.clone()).collect(),
        parts_sent: 0,
        note: false,
        stands_for,
        digest,
        events,
    }
}

fn at_time(at: f64) -> OffsetDateTime {
    // `as` saturates; an absurd time is shown as the epoch rather than failing.
    OffsetDateTime::from_unix_timestamp(at.floor() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn day(at: f64) -> time::Date {
    at_time(at).date()
}

/// `14:02`, or `2026-12-01 14:02` when a message spans more than one day.
fn clock(at: f64, same_day: bool) -> String {
    let t = at_time(at);
    if same_day {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-12-01 14:02:00 UTC.
    const T: f64 = 1_764_597_720.0;

    fn event(key: &str, kind: EventKind, at: f64, section: &str, text: &str) -> Entry {
        let level = match kind {
            EventKind::Closed => Level::Recovery,
            EventKind::Reminder => Level::Warning,
            _ => Level::Error,
        };
        let alert = Alert { level, topic: None, message: format!("{section}:\n - {text}") };
        let mut e = Entry::new(&alert, "telegram");
        e.event = Some(Event {
            key: key.into(),
            kind,
            at,
            started: None,
            section: section.into(),
            text: text.into(),
            labels: BTreeMap::new(),
        });
        e
    }

    fn opened(key: &str, at: f64) -> Entry {
        event(key, EventKind::Opened, at, "Health check failures", &format!("{key}: HTTP 503"))
    }

    fn reminder(key: &str, at: f64) -> Entry {
        event(key, EventKind::Reminder, at, "Still down", &format!("{key}: HTTP 503 (down for {}s)", at - T))
    }

    fn closed(key: &str, at: f64) -> Entry {
        event(key, EventKind::Closed, at, "Recovered", &format!("{key} was down (HTTP 503), recovered"))
    }

    fn note(text: &str) -> Entry {
        Entry::new(&Alert { level: Level::Info, topic: Some("t".into()), message: text.into() }, "telegram")
    }

    fn texts(entries: &[Entry]) -> Vec<Option<String>> {
        plan(entries).into_iter().map(|m| m.alert.map(|a| format!("{} {}", a.level, a.message))).collect()
    }

    #[test]
    fn one_pass_is_one_message_with_sections_in_order() {
        let entries = [opened("API", T), opened("DB", T), reminder("Web", T), closed("Cache", T)];
        assert_eq!(
            texts(&entries),
            [Some(
                "error Health check failures:\n - API: HTTP 503\n - DB: HTTP 503\n\nStill down:\n - Web: HTTP 503 (down for 0s)\n\n\
                 Recovered:\n - Cache was down (HTTP 503), recovered"
                    .into()
            )]
        );
        let m = &plan(&entries)[0];
        assert_eq!((m.ids.len(), m.stands_for, m.digest, m.note), (4, 4, false, false));
    }

    #[test]
    fn stale_reminders_are_dropped_and_leave_with_what_made_them_stale() {
        let entries =
            [opened("API", T), reminder("API", T + 60.0), note("hello"), reminder("API", T + 120.0)];
        let messages = plan(&entries);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].alert.as_ref().unwrap().message, "Health check failures:\n - API: HTTP 503");
        assert_eq!(messages[0].ids, [entries[0].id.clone()], "the stale reminder is not this message's");
        assert_eq!(messages[1].ids, [entries[2].id.clone()]);
        assert!(messages[1].note);
        assert_eq!(
            messages[2].alert.as_ref().unwrap().message,
            "Still down:\n - API: HTTP 503 (down for 120s)"
        );
        assert_eq!(messages[2].ids, [entries[1].id.clone(), entries[3].id.clone()]);
    }

    #[test]
    fn an_opened_and_its_close_in_one_run_are_one_line() {
        let entries = [opened("API", T), reminder("API", T + 60.0), closed("API", T + 120.0)];
        let messages = plan(&entries);
        assert_eq!(messages.len(), 1);
        let alert = messages[0].alert.as_ref().unwrap();
        assert_eq!(
            alert.message,
            "Digest of 3 queued alerts since 14:02 UTC\n\nRecovered:\n - 14:04 API was down (HTTP 503), recovered",
            "three passes' alerts: a digest"
        );
        assert_eq!(alert.level, Level::Recovery);
        assert_eq!(messages[0].ids.len(), 3);
        // Separated by a note, both are said, in order.
        let entries = [opened("API", T), note("n"), closed("API", T + 120.0)];
        assert_eq!(plan(&entries).len(), 3);
    }

    #[test]
    fn a_silent_close_keeps_the_opened_and_settles_the_rest_without_a_request() {
        let mut quiet = closed("API", T + 120.0);
        quiet.event.as_mut().unwrap().text.clear();
        let entries = [opened("API", T), reminder("API", T + 60.0), quiet.clone()];
        assert_eq!(
            texts(&entries),
            [Some("error Digest of 3 queued alerts since 14:02 UTC\n\nHealth check failures:\n - 14:02 API: HTTP 503".into())]
        );
        let entries = [reminder("API", T + 60.0), quiet];
        let messages = plan(&entries);
        assert_eq!((messages.len(), messages[0].alert.is_none(), messages[0].ids.len()), (1, true, 2));
    }

    #[test]
    fn escalations_are_stale_only_by_a_later_escalation_or_the_close() {
        let esc = |step, at| {
            event("API", EventKind::Escalated { step }, at, "Escalation", &format!("API: step {step}"))
        };
        let entries = [esc(1, T), reminder("API", T + 60.0), esc(2, T + 60.0)];
        assert_eq!(
            texts(&entries),
            [Some("error Escalation:\n - API: step 2".into())],
            "the reminder is stale too (a later entry of its key)"
        );
        let entries = [esc(1, T), reminder("API", T + 60.0)];
        assert_eq!(
            texts(&entries),
            [Some(
                "error Escalation:\n - API: step 1\n\nStill down:\n - API: HTTP 503 (down for 60s)".into()
            )]
        );
    }

    #[test]
    fn a_backlog_of_three_passes_is_a_digest_with_times() {
        let entries = [
            opened("API", T),
            reminder("API", T + 3600.0),
            opened("DB", T + 7200.0),
            reminder("API", T + 7200.0),
        ];
        let messages = plan(&entries);
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert!(m.digest);
        assert_eq!(
            m.alert.as_ref().unwrap().message,
            "Digest of 4 queued alerts since 14:02 UTC\n\nHealth check failures:\n - 14:02 API: HTTP 503\n - 16:02 DB: HTTP 503\n\n\
             Still down:\n - 16:02 API: HTTP 503 (down for 7200s)"
        );
    }

    #[test]
    fn absorbed_entries_count_and_a_digest_across_days_shows_dates() {
        let mut all = vec![opened("API", T)];
        for h in 1..=30 {
            let mut r = reminder("API", T + 3600.0 * f64::from(h));
            absorb(&mut all, &mut r);
            all.push(r);
        }
        assert_eq!(all.len(), 2, "one reminder: the newest");
        assert_eq!(all[1].folded, Some(Folded { count: 29, since: T + 3600.0, passes: 29 }));
        let m = &plan(&all)[0];
        assert_eq!((m.stands_for, m.digest), (31, true));
        let text = &m.alert.as_ref().unwrap().message;
        assert!(text.starts_with("Digest of 31 queued alerts since 2025-12-01 14:02 UTC\n\n"), "{text}");
        assert!(text.contains(" - 2025-12-02 20:02 API: HTTP 503 (down for 108000s)"), "{text}");
    }

    #[test]
    fn destinations_are_planned_apart() {
        let mut slack = opened("API", T);
        slack.destination = "webhook:slack".into();
        let entries = [opened("API", T), slack, reminder("API", T + 1.0)];
        let messages = plan(&entries);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].destination, "telegram");
        assert_eq!(messages[0].ids.len(), 2);
        assert_eq!(messages[1].destination, "webhook:slack");
    }
}
