//! The outbox as an episode-aware queue (issue 18), end to end on real files and the fake Bot
//! API: a channel that was down gets what is still true, as one message; superseded reminders
//! never go out; a message split into parts resumes by part even when more is queued meanwhile;
//! the outbox stays within its bounds through a month-long outage; and, for random outages of
//! services and of the channel, no transition is lost and no stale reminder is delivered.
#![allow(clippy::print_stderr)] // the month-long simulation prints its figures

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::{
    Alert, Alerter, Entry, Event, EventKind, Level, Notifier, Outbox, Outgoing, RateLimit, RetryPolicy,
    Secret,
};
use proptest::prelude::*;
use test_support::{FakeBotApi, Reply};

const TOKEN: &str = "123456789:AAH-outbox_Token_0123456789abcdef";
/// 2025-12-01 14:02:00 UTC.
const T: f64 = 1_764_597_720.0;

fn telegram(api: &FakeBotApi) -> Box<dyn Notifier> {
    let retry = RetryPolicy {
        attempts: 1,
        backoff: Duration::from_millis(1),
        request_timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    let config =
        TelegramConfig { api_url: api.url(), token: Secret::new(TOKEN), chat_id: "42".into(), retry };
    Box::new(Telegram::new(config).unwrap())
}

fn alerter_with(state: &Path, api: &FakeBotApi, outbox: Outbox) -> Alerter {
    let rate = RateLimit::new(state.join("alert-rate.json"), Duration::from_secs(300));
    Alerter::new(vec![telegram(api)], rate, outbox).unwrap()
}

fn alerter(state: &Path, api: &FakeBotApi) -> Alerter {
    alerter_with(state, api, Outbox::new(state.join("alert-outbox.jsonl")))
}

/// An event for `telegram`, worded as the orchestrator words its own.
fn event(key: &str, kind: EventKind, at: f64, text: &str) -> Outgoing {
    let (section, level) = match kind {
        EventKind::Opened => ("Health check failures", Level::Error),
        EventKind::Update => ("Gave up", Level::Error),
        EventKind::Reminder => ("Still down", Level::Warning),
        EventKind::Escalated { .. } => ("Escalation", Level::Error),
        EventKind::Closed => ("Recovered", Level::Recovery),
    };
    Outgoing {
        alert: Alert { level, topic: None, message: format!("{section}:\n - {text}") },
        event: Some(Event {
            key: key.into(),
            kind,
            at,
            started: None,
            section: section.into(),
            text: text.into(),
            labels: BTreeMap::from([("service".into(), key.into())]),
        }),
        destinations: vec!["telegram".into()],
    }
}

fn queue(a: &Alerter, items: &[Outgoing]) {
    let mut warnings = Vec::new();
    a.enqueue_to(items, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

fn shown(api: &FakeBotApi) -> Vec<String> {
    api.delivered().into_iter().map(|d| d.displayed).collect()
}

/// Issue 18's case: two services down, a reminder every pass, the Bot API down for ten passes,
/// one service back meanwhile. When the API is up again, one message reaches it: a digest
/// naming both outages, the recovery (with its outage, on one line), and only the newest
/// reminder.
#[test]
fn a_channel_back_from_an_outage_gets_one_digest_of_what_is_still_true() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), &api);
    api.set_default(Reply::server_error());
    queue(
        &a,
        &[
            event("API", EventKind::Opened, T, "API: HTTP 503"),
            event("DB", EventKind::Opened, T, "DB: refused"),
        ],
    );
    a.flush().unwrap();
    for pass in 1..=10u32 {
        let at = T + 2.0 * f64::from(pass);
        let mut items =
            vec![event("API", EventKind::Reminder, at, &format!("API: HTTP 503 (down for {}s)", 2 * pass))];
        match pass {
            1..=4 => items.push(event(
                "DB",
                EventKind::Reminder,
                at,
                &format!("DB: refused (down for {}s)", 2 * pass),
            )),
            5 => items.push(event(
                "DB",
                EventKind::Closed,
                at,
                "DB was down 10s (refused), recovered at 14:02 UTC",
            )),
            _ => {}
        }
        queue(&a, &items);
        let report = a.flush().unwrap();
        assert!(report.entries.iter().all(|(_, d)| !d.is_sent()), "the API is down");
    }
    let lines = fs::read_to_string(dir.path().join("alert-outbox.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "two opened, DB's recovery, API's newest reminder: {lines}");
    assert_eq!(api.delivered().len(), 0);

    api.set_default(Reply::Emulate);
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    assert_eq!(report.messages.len(), 1, "{:#?}", report.messages);
    assert_eq!(
        shown(&api),
        ["[ERROR] Agent Ops Alert\n\nDigest of 17 queued alerts since 14:02 UTC\n\n\
          Health check failures:\n - 14:02 API: HTTP 503\n\n\
          Recovered:\n - 14:02 DB was down 10s (refused), recovered at 14:02 UTC\n\n\
          Still down:\n - 14:02 API: HTTP 503 (down for 20s)"]
    );
}

/// Once a part of a folded message went out, the fold is frozen: what is queued afterwards
/// (even a newer reminder of an episode in it) follows as its own message, and the parts
/// already delivered are not sent again.
#[test]
fn a_folded_message_resumes_by_part_whatever_is_queued_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), &api);
    let long = "x".repeat(60);
    let items: Vec<Outgoing> = (0..100)
        .map(|i| event(&format!("svc{i:03}"), EventKind::Reminder, T, &format!("svc{i:03}: {long}")))
        .collect();
    queue(&a, &items);
    api.push([Reply::Emulate, Reply::server_error()]);
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 1, "frozen into one note");
    assert_eq!(api.delivered().len(), 1);
    assert!(shown(&api)[0].starts_with("[WARNING] Agent Ops Alert (1/2)\n\nStill down:\n - svc000: "));
    let outbox = a.outbox().entries().unwrap();
    assert_eq!((outbox[0].parts_sent, outbox[0].event.is_none()), (1, true), "{:?}", outbox[0]);

    queue(&a, &[event("svc050", EventKind::Reminder, T + 60.0, "svc050: newer")]);
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    let shown = shown(&api);
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(shown[1].starts_with("[WARNING] Agent Ops Alert (2/2)\n\n"), "{}", shown[1]);
    assert!(shown[1].ends_with(&format!("svc099: {long}")));
    assert_eq!(shown[2], "[WARNING] Agent Ops Alert\n\nStill down:\n - svc050: newer");
}

/// An outbox line written before events existed is a note: delivered as it is, in order, and
/// never folded with the events around it.
#[test]
fn old_outbox_lines_still_deliver_as_notes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), &api);
    queue(&a, &[event("API", EventKind::Opened, T, "API: HTTP 503")]);
    let old = r#"{"id":"1736937000000000001-4242-1","queued_at":"2025-01-15T10:30:00.123456Z","destination":"telegram","level":"error","topic":"api","message":"an old line","parts_sent":0,"attempts":0}"#;
    let path = dir.path().join("alert-outbox.jsonl");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(old);
    text.push('\n');
    fs::write(&path, text).unwrap();
    queue(
        &a,
        &[event("API", EventKind::Closed, T + 60.0, "API was down 1m (HTTP 503), recovered at 14:03 UTC")],
    );
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    assert_eq!(
        shown(&api),
        [
            "[ERROR] Agent Ops Alert\n\nHealth check failures:\n - API: HTTP 503",
            "[ERROR] Agent Ops Alert\n\nan old line",
            "[RECOVERED] Agent Ops Alert\n\nRecovered:\n - API was down 1m (HTTP 503), recovered at 14:03 UTC",
        ]
    );
}

/// Past its bound the outbox folds away its oldest reminders, never a transition or a note:
/// those are kept (and the warning says so) even when they alone pass it.
#[test]
fn the_bound_never_costs_a_transition_or_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let outbox = Outbox { max_entries: 4, ..Outbox::new(dir.path().join("alert-outbox.jsonl")) };
    let a = alerter_with(dir.path(), &api, outbox);
    api.set_default(Reply::server_error());
    queue(&a, &[event("A", EventKind::Opened, T, "A: down"), event("B", EventKind::Opened, T, "B: down")]);
    queue(
        &a,
        &[
            event("A", EventKind::Reminder, T + 1.0, "A: still"),
            event("B", EventKind::Reminder, T + 1.0, "B: still"),
        ],
    );
    let mut warnings = Vec::new();
    a.enqueue_to(&[event("C", EventKind::Opened, T + 2.0, "C: down")], &mut warnings).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("its 1 oldest reminder(s) were folded away"), "{warnings:?}");
    let mut warnings = Vec::new();
    for i in 0..3 {
        let note = Outgoing {
            alert: Alert { level: Level::Info, topic: None, message: format!("typed by a user {i}") },
            event: None,
            destinations: vec!["telegram".into()],
        };
        a.enqueue_to(&[note], &mut warnings).unwrap();
    }
    assert!(warnings[0].contains("its 1 oldest reminder(s) were folded away"), "{warnings:?}");
    assert!(
        warnings[1].contains("is never dropped") && warnings[2].contains("is never dropped"),
        "{warnings:?}"
    );
    let entries: Vec<Entry> = a.outbox().entries().unwrap();
    let kinds: Vec<Option<EventKind>> = entries.iter().map(|e| e.event.as_ref().map(|e| e.kind)).collect();
    assert_eq!(
        kinds,
        [Some(EventKind::Opened), Some(EventKind::Opened), Some(EventKind::Opened), None, None, None],
        "every reminder folded away, every transition and note kept"
    );
    api.set_default(Reply::Emulate);
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    let shown = shown(&api);
    assert_eq!(shown.len(), 4);
    assert_eq!(
        shown[0],
        "[ERROR] Agent Ops Alert\n\nDigest of 5 queued alerts since 14:02 UTC\n\nHealth check failures:\n - 14:02 A: down\n - 14:02 B: down\n - 14:02 C: down",
        "the two reminders are counted"
    );
}

/// 50 services down for 30 days with hourly reminders while the channel is down (a failed flush
/// once a day): the outbox never passes its bounds, with the default bounds and with a bound
/// that folds reminders away; afterwards one digest stands for all 36,000 alerts.
#[test]
fn the_outbox_stays_within_its_bounds_through_a_month_long_outage() {
    for max_entries in [ops_alert::DEFAULT_MAX_ENTRIES, 60] {
        let dir = tempfile::tempdir().unwrap();
        let api = FakeBotApi::start(TOKEN);
        let path = dir.path().join("alert-outbox.jsonl");
        let a = alerter_with(dir.path(), &api, Outbox { max_entries, ..Outbox::new(&path) });
        api.set_default(Reply::server_error());
        let names: Vec<String> = (0..50).map(|i| format!("service-{i:02}")).collect();
        let (mut most_entries, mut most_bytes, mut warned) = (0, 0, 0);
        for hour in 0..30 * 24 {
            let at = T + 3600.0 * f64::from(hour);
            let items: Vec<Outgoing> = names
                .iter()
                .map(|n| match hour {
                    0 => event(n, EventKind::Opened, at, &format!("{n}: HTTP 503")),
                    _ => event(n, EventKind::Reminder, at, &format!("{n}: HTTP 503 (down for {hour}h)")),
                })
                .collect();
            let mut warnings = Vec::new();
            a.enqueue_to(&items, &mut warnings).unwrap();
            warned += warnings.len();
            if hour % 24 == 23 {
                assert!(a.flush().unwrap().entries.iter().all(|(_, d)| !d.is_sent()));
            }
            let bytes = fs::metadata(&path).unwrap().len();
            let entries = fs::read_to_string(&path).unwrap().lines().count();
            assert!(
                entries <= max_entries && bytes <= ops_alert::DEFAULT_MAX_BYTES,
                "hour {hour}: {entries} entries, {bytes} bytes"
            );
            most_entries = most_entries.max(entries);
            most_bytes = most_bytes.max(bytes);
        }
        api.set_default(Reply::Emulate);
        let report = a.flush().unwrap();
        assert_eq!(report.remaining, 0);
        assert_eq!(report.messages.len(), 1);
        let message = &report.messages[0].0;
        assert_eq!((message.stands_for, message.digest), (36_000, true));
        let parts = api.delivered().len();
        let text = shown(&api).concat();
        for n in &names {
            assert!(text.contains(&format!("{n}: HTTP 503\n")), "every outage is named: {n}");
            // With room for them, every newest reminder is there; past the bound the oldest
            // were folded away (and counted).
            let reminder = text.contains(&format!("{n}: HTTP 503 (down for 719h)"));
            assert!(reminder || max_entries < 100, "{n}");
        }
        eprintln!(
            "month-long outage, 50 services, hourly reminders, max_entries {max_entries}: at most {most_entries} entries \
             and {most_bytes} bytes in the outbox ({warned} bound warnings); then 1 digest of {} alerts in {parts} \
             Telegram part(s)",
            message.stands_for
        );
    }
}

/// A pass of the model: which services are down, and whether the channel answers.
#[derive(Debug, Clone)]
struct Step {
    down: Vec<bool>,
    channel_up: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    (1usize..=4).prop_flat_map(|services| {
        prop::collection::vec(
            (prop::collection::vec(prop::bool::weighted(0.4), services), prop::bool::weighted(0.5))
                .prop_map(|(down, channel_up)| Step { down, channel_up }),
            1..30,
        )
    })
}

/// One delivered line: what it says, the pass whose flush delivered it, and which message.
#[derive(Debug)]
struct Line {
    text: String,
    flush: usize,
    message: usize,
}

/// The lines of a delivered message (digest times taken off), by section.
fn lines_of(displayed: &str) -> Vec<String> {
    let body = displayed.split_once("\n\n").map_or("", |(_, b)| b);
    body.lines()
        .filter_map(|l| l.strip_prefix(" - "))
        .map(|l| match l.split_once(' ') {
            Some((time, rest)) if time.len() == 5 && time.as_bytes()[2] == b':' => rest.to_owned(),
            _ => l.to_owned(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For any up/down sequences of a few services (a reminder every pass while down) and any
    /// outages of the channel: every outage that opened is said to have opened and every
    /// recovery said, each exactly once and in order; no reminder is delivered once a newer
    /// entry of its outage was queued; each flush sends at most one message; and once the
    /// channel is back for good, nothing is left.
    #[test]
    fn no_transition_is_lost_and_no_stale_reminder_is_delivered(steps in steps()) {
        let dir = tempfile::tempdir().unwrap();
        let api = FakeBotApi::start(TOKEN);
        let a = alerter(dir.path(), &api);
        let n = steps[0].down.len();
        let mut open: Vec<Option<usize>> = vec![None; n];
        let mut transitions: Vec<String> = Vec::new();
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        let mut lines: Vec<Line> = Vec::new();
        let mut messages = 0;
        let mut all = steps.clone();
        all.push(Step { down: vec![false; n], channel_up: true });
        for (pass, step) in all.iter().enumerate() {
            let at = T + 60.0 * pass as f64;
            let mut items = Vec::new();
            for (s, &down) in step.down.iter().enumerate() {
                match (open[s], down) {
                    (None, true) => {
                        open[s] = Some(pass);
                        let text = format!("s{s} opened@{pass}");
                        transitions.push(text.clone());
                        items.push(event(&format!("s{s}:{pass}"), EventKind::Opened, at, &text));
                    }
                    (Some(since), true) => {
                        let text = format!("s{s} still@{pass}");
                        latest.insert(format!("s{s}:{since}"), text.clone());
                        items.push(event(&format!("s{s}:{since}"), EventKind::Reminder, at, &text));
                    }
                    (Some(since), false) => {
                        open[s] = None;
                        let text = format!("s{s} closed@{pass} opened@{since}");
                        transitions.push(text.clone());
                        latest.insert(format!("s{s}:{since}"), text.clone());
                        items.push(event(&format!("s{s}:{since}"), EventKind::Closed, at, &text));
                    }
                    (None, false) => {}
                }
            }
            queue(&a, &items);
            api.set_default(if step.channel_up { Reply::Emulate } else { Reply::server_error() });
            let before = api.delivered().len();
            let report = a.flush().unwrap();
            let delivered = api.delivered();
            prop_assert!(delivered.len() - before <= 1, "one message per flush: {:?}", &delivered[before..]);
            for d in &delivered[before..] {
                messages += 1;
                for text in lines_of(&d.displayed) {
                    // A reminder goes out only while it is the newest entry of its outage.
                    if text.contains(" still@") {
                        prop_assert!(latest.values().any(|l| *l == text), "stale reminder {text:?} at pass {pass}");
                        prop_assert!(text.ends_with(&format!("@{pass}")), "stale reminder {text:?} at pass {pass}");
                    }
                    lines.push(Line { text, flush: pass, message: messages });
                }
            }
            if step.channel_up {
                prop_assert_eq!(report.remaining, 0);
            }
        }
        // Every transition once, in order (an opening folded into its close is said by it).
        let said: Vec<&Line> = lines.iter().filter(|l| !l.text.contains(" still@")).collect();
        let mut position = Vec::new();
        for t in &transitions {
            let mut found: Vec<&&Line> = said.iter().filter(|l| l.text == *t).collect();
            if found.is_empty() && !t.contains(" closed@") {
                // An opening folded into its close: `sN closed@Q opened@P`.
                let (service, opened) = t.split_once(' ').unwrap_or_default();
                found = said
                    .iter()
                    .filter(|l| l.text.starts_with(&format!("{service} closed@")) && l.text.ends_with(&format!(" {opened}")))
                    .collect();
            }
            prop_assert_eq!(found.len(), 1, "{} said {} times: {:?}", t, found.len(), said);
            position.push((found[0].message, found[0].flush));
        }
        prop_assert!(position.windows(2).all(|w| w[0] <= w[1]), "out of order: {:?} {:?}", transitions, position);
        prop_assert!(a.outbox().entries().unwrap().is_empty());
    }
}

/// An event's words pass the one redaction like an alert's message: a secret in a line, a
/// section or a label is neither written to the outbox nor sent.
#[test]
fn secrets_in_events_are_redacted_before_they_are_queued() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), &api);
    let mut item = event("API", EventKind::Opened, T, &format!("API: GET /bot{TOKEN}/x failed"));
    if let Some(e) = item.event.as_mut() {
        e.section = format!("Failures {TOKEN}");
        e.labels.insert("url".into(), format!("https://x/{TOKEN}"));
    }
    queue(&a, &[item]);
    let file = fs::read_to_string(dir.path().join("alert-outbox.jsonl")).unwrap();
    assert!(!file.contains(TOKEN) && !file.contains("AAH-outbox_Token"), "{file}");
    a.flush().unwrap();
    let shown = shown(&api);
    assert_eq!(
        shown,
        ["[ERROR] Agent Ops Alert\n\nFailures [redacted]:\n - API: GET /bot[redacted]/x failed"]
    );
}
