//! Alertmanager as a destination, through the outbox, against loopback fakes of its API.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use ops_alert::alertmanager::{Alertmanager, AlertmanagerConfig};
use ops_alert::{
    Alert, Alerter, Delivery, Event, EventKind, Level, Notifier, Outbox, Outgoing, RateLimit, RetryPolicy,
    Secret,
};
use serde_json::{Value, json};
use test_support::{FakeWebhook, HookReply};

fn alertmanager(urls: &[String]) -> Box<dyn Notifier> {
    Box::new(
        Alertmanager::new(AlertmanagerConfig {
            urls: urls.iter().map(|u| Secret::new(u.clone())).collect(),
            labels: BTreeMap::from([("team".into(), "ops".into())]),
            instance: "host-2".into(),
            generator_url: None,
            resolve_after: Duration::from_secs(900),
            retry: RetryPolicy {
                backoff: Duration::from_millis(10),
                request_timeout: Duration::from_secs(5),
                ..RetryPolicy::default()
            },
        })
        .unwrap(),
    )
}

fn alerter(state: &Path, notifiers: Vec<Box<dyn Notifier>>) -> Alerter {
    Alerter::new(
        notifiers,
        RateLimit::new(state.join("alert-rate.json"), Duration::from_secs(300)),
        Outbox::new(state.join("alert-outbox.jsonl")),
    )
    .unwrap()
}

/// One event of the outage of `service` that began at `started`, decided at `at`.
fn outage(service: &str, kind: EventKind, started: f64, at: f64, text: &str) -> Outgoing {
    Outgoing {
        alert: Alert { level: Level::Error, topic: None, message: text.into() },
        event: Some(Event {
            key: format!("outage:{service}:{started}"),
            kind,
            at,
            started: Some(started),
            section: "Health check failures".into(),
            text: text.into(),
            labels: BTreeMap::from([
                ("alertname".into(), "AgentOpsServiceDown".into()),
                ("service".into(), service.into()),
                ("severity".into(), "error".into()),
            ]),
        }),
        destinations: vec!["alertmanager".into()],
    }
}

fn queue(a: &Alerter, items: &[Outgoing]) {
    let mut warnings = Vec::new();
    a.enqueue_to(items, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

fn closed_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// The alerts posted in `body`, by service: (endsAt, startsAt, labels).
fn alerts(body: &Value) -> Vec<(String, String, String, Value)> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["service"].as_str().unwrap().to_owned(),
                a["startsAt"].as_str().unwrap().to_owned(),
                a["endsAt"].as_str().unwrap().to_owned(),
                a["labels"].clone(),
            )
        })
        .collect()
}

/// Alertmanager down: the outage's alerts wait in the outbox; back up, the latest state of
/// each episode goes out in one request, the resolution included (endsAt: when it recovered),
/// and the outbox is empty. An HA pair with one member down still takes every alert.
#[test]
fn queued_while_down_then_the_latest_state_of_each_episode_resolutions_included() {
    let dir = tempfile::tempdir().unwrap();
    let am = FakeWebhook::start();
    let down = closed_url();
    let a = alerter(dir.path(), vec![alertmanager(&[down.clone(), am.url("am")])]);

    let t0 = 1_764_590_520.0;
    // Both members down: nothing is confirmed, everything waits.
    am.push((0..3).map(|_| HookReply::status(503)));
    queue(&a, &[outage("API", EventKind::Opened, t0, t0, "API: connection refused")]);
    let report = a.flush().unwrap();
    assert!(matches!(&report.entries[0].1, Delivery::NotSent { queued: true, .. }), "{report:?}");
    assert_eq!(report.remaining, 1);

    // More passes while it is down: a reminder for API, DB opens, API recovers.
    am.push((0..3).map(|_| HookReply::status(503)));
    queue(
        &a,
        &[
            outage("API", EventKind::Reminder, t0, t0 + 60.0, "API: still down"),
            outage("DB", EventKind::Opened, t0 + 60.0, t0 + 60.0, "DB: port closed"),
        ],
    );
    assert_eq!(a.flush().unwrap().remaining, 3);
    queue(&a, &[outage("API", EventKind::Closed, t0, t0 + 120.0, "API recovered")]);

    // Back up: one request, the latest state per episode, in order of first appearance.
    let before = am.requests().len();
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0, "{report:?}");
    let posted: Vec<_> = am.requests().into_iter().skip(before).collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].path.ends_with("/am/api/v2/alerts"), "{}", posted[0].path);
    let sent = alerts(&posted[0].body);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (api, db) = (&sent[0], &sent[1]);
    assert_eq!(api.0, "API");
    assert_eq!(
        (api.1.as_str(), api.2.as_str()),
        ("2025-12-01T12:02:00Z", "2025-12-01T12:04:00Z"),
        "resolved"
    );
    assert_eq!(
        api.3,
        json!({"alertname": "AgentOpsServiceDown", "service": "API", "severity": "error", "team": "ops", "instance": "host-2"})
    );
    assert_eq!(db.0, "DB");
    assert_eq!(db.1, "2025-12-01T12:03:00Z");
    assert!(db.2.as_str() > "2026", "an open episode ends resolve_after past the delivery: {}", db.2);

    // A note (`alert send`) is an alert of its own.
    a.send(&Alert { level: Level::Warning, topic: Some("deploy".into()), message: "deploying v2".into() })
        .unwrap();
    let last = am.requests().pop().unwrap();
    assert_eq!(last.body[0]["labels"]["alertname"], "AgentOpsMessage");
    assert_eq!(last.body[0]["annotations"]["summary"], "deploying v2");
}

/// A refusal by every member is permanent and says each one's words; credentials in a URL
/// never show.
#[test]
fn every_member_refusing_is_a_failure_naming_each() {
    let dir = tempfile::tempdir().unwrap();
    let am = FakeWebhook::start();
    am.push([HookReply::status(400)]);
    let url = am.url("am").replace("http://", "http://ops:pa55-w0rd-here@");
    let a = alerter(dir.path(), vec![alertmanager(&[url, closed_url()])]);
    queue(&a, &[outage("API", EventKind::Opened, 1.7e9, 1.7e9, "API: down")]);
    let report = a.flush().unwrap();
    let Delivery::NotSent { failure, .. } = &report.entries[0].1 else { panic!("{report:?}") };
    assert!(failure.reason.contains("alertmanager 1 answered HTTP 400"), "{}", failure.reason);
    assert!(failure.reason.contains("alertmanager 2"), "{}", failure.reason);
    assert!(!format!("{report:?}").contains("pa55-w0rd-here"));
}

/// With a fallback, the transitions Alertmanager cannot take go to the fallback channel's words
/// at once, each once (a reminder never does); Alertmanager still gets them when it is back.
#[test]
fn transitions_fall_back_once_while_alertmanager_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let am = FakeWebhook::start();
    let chat = FakeWebhook::start();
    let hook = ops_alert::webhook::Webhook::new(ops_alert::webhook::WebhookConfig {
        name: "chat".into(),
        url: Secret::new(chat.url("chat")),
        body: None,
        headers: vec![],
        max_chars: None,
        retry: RetryPolicy::default(),
    })
    .unwrap();
    let a = alerter(dir.path(), vec![alertmanager(&[am.url("am")]), Box::new(hook)])
        .falling_back("alertmanager", vec!["webhook:chat".into()]);
    let said = || -> Vec<String> {
        chat.requests().iter().map(|r| r.body["message"].as_str().unwrap_or_default().to_owned()).collect()
    };
    let t0 = 1_764_590_520.0;
    am.push((0..3).map(|_| HookReply::status(503)));
    queue(&a, &[outage("API", EventKind::Opened, t0, t0, "API: connection refused")]);
    a.flush().unwrap();
    assert_eq!(said(), ["Health check failures:\n - API: connection refused"]);

    // Still unreachable: the reminder does not fall back, nor does the opening again.
    am.push((0..3).map(|_| HookReply::status(503)));
    queue(&a, &[outage("API", EventKind::Reminder, t0, t0 + 60.0, "API: still down")]);
    a.flush().unwrap();
    assert_eq!(said().len(), 1, "{:?}", said());

    am.push((0..3).map(|_| HookReply::status(503)));
    queue(&a, &[outage("API", EventKind::Closed, t0, t0 + 120.0, "API recovered")]);
    a.flush().unwrap();
    assert_eq!(said().len(), 2, "{:?}", said());
    assert!(said()[1].ends_with("API recovered"), "{:?}", said());

    // Back: Alertmanager gets the episode, resolved; the chat hears nothing more.
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    let last = am.requests().pop().unwrap();
    assert_eq!((last.status, last.body[0]["endsAt"].as_str()), (Some(200), Some("2025-12-01T12:04:00Z")));
    assert_eq!(said().len(), 2);
}

/// A member that fails while another takes the alert is asked once, not retried by the whole
/// policy: the delivery is confirmed by the other, and every pass would otherwise wait for the
/// failing member's retries (a hanging one: attempts × the timeout). Every member is still
/// asked once, whichever is first.
#[test]
fn a_failing_member_is_not_retried_when_another_took_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (sick, well) = (FakeWebhook::start(), FakeWebhook::start());
    sick.push((0..6).map(|_| HookReply::status(503)));
    let a = alerter(dir.path(), vec![alertmanager(&[sick.url("am"), well.url("am")])]);
    queue(&a, &[outage("API", EventKind::Opened, 1.7e9, 1.7e9, "API: down")]);
    let report = a.flush().unwrap();
    assert!(report.entries[0].1.is_sent(), "{report:?}");
    assert_eq!((sick.requests().len(), well.requests().len()), (1, 1));

    // The other way round: the failing member second still gets the alert, once.
    let b = alerter(dir.path(), vec![alertmanager(&[well.url("am"), sick.url("am")])]);
    queue(&b, &[outage("DB", EventKind::Opened, 1.7e9, 1.7e9, "DB: down")]);
    assert!(b.flush().unwrap().entries[0].1.is_sent());
    assert_eq!((sick.requests().len(), well.requests().len()), (2, 2));

    // Every member failing: each is retried by the policy, in rounds.
    sick.push((0..6).map(|_| HookReply::status(503)));
    well.push((0..3).map(|_| HookReply::status(502)));
    queue(&b, &[outage("DB", EventKind::Reminder, 1.7e9, 1.7e9 + 60.0, "DB: still down")]);
    let report = b.flush().unwrap();
    let Delivery::NotSent { failure, .. } = &report.entries[0].1 else { panic!("{report:?}") };
    assert_eq!((sick.requests().len(), well.requests().len(), failure.attempts), (5, 5, 6));
    assert!(
        failure.reason.ends_with("alertmanager 2 answered HTTP 503: error (3 attempts)"),
        "{}",
        failure.reason
    );
}
