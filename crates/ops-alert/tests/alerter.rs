//! The alerter end to end: rate limit, outbox and notifiers on real files and loopback fakes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::webhook::{Webhook, WebhookConfig};
use ops_alert::{
    Alert, Alerter, Delivery, Entry, Level, Notifier, Outbox, Problem, RateLimit, RetryPolicy, Secret,
    Verdict,
};
use serde_json::Value;
use test_support::{FakeBotApi, FakeWebhook, HookReply, Hostile, Reply};

const TOKEN: &str = "123456789:AAH-secret_Token-Value_0123456789abcdef";

fn policy(timeout: Duration) -> RetryPolicy {
    RetryPolicy { backoff: Duration::from_millis(10), request_timeout: timeout, ..RetryPolicy::default() }
}

fn telegram(api: &FakeBotApi, timeout: Duration) -> Box<dyn Notifier> {
    Box::new(
        Telegram::new(TelegramConfig {
            api_url: api.url(),
            token: Secret::new(TOKEN),
            chat_id: "-100555".into(),
            retry: policy(timeout),
        })
        .unwrap(),
    )
}

fn webhook(hook: &FakeWebhook) -> Box<dyn Notifier> {
    webhook_with(hook, policy(Duration::from_secs(10)))
}

fn webhook_with(hook: &FakeWebhook, retry: RetryPolicy) -> Box<dyn Notifier> {
    Box::new(
        Webhook::new(WebhookConfig {
            name: "chat".into(),
            url: Secret::new(hook.url("T0/B0/secretpath")),
            body: None,
            headers: vec![("Authorization".into(), Secret::new("Bearer hook-secret"))],
            max_chars: None,
            retry,
        })
        .unwrap(),
    )
}

fn alerter(state: &Path, notifiers: Vec<Box<dyn Notifier>>) -> Alerter {
    Alerter::new(
        notifiers,
        RateLimit::new(state.join("alert-rate.json"), std::time::Duration::from_secs(300)),
        Outbox::new(state.join("alert-outbox.jsonl")),
    )
    .unwrap()
}

fn alert(message: &str, topic: Option<&str>) -> Alert {
    Alert { level: Level::Error, topic: topic.map(str::to_owned), message: message.into() }
}

fn outbox_lines(state: &Path) -> Vec<Value> {
    fs::read_to_string(state.join("alert-outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// No file in `dir` may hold the token or the webhook's secrets.
fn assert_no_secrets(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [TOKEN, "secretpath", "hook-secret"] {
            assert!(!text.contains(secret), "{} holds a secret", path.display());
        }
    }
}

#[test]
fn sent_then_rate_limited_in_the_seed_format() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    let outcome = a.send(&alert("API down", Some("api"))).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Sent);
    assert!(outcome.warnings.is_empty() && outcome.earlier.is_empty(), "{outcome:?}");
    let rate: Value = serde_json::from_slice(&fs::read(dir.path().join("alert-rate.json")).unwrap()).unwrap();
    assert!(rate["api"].as_f64().unwrap() > 1.7e9, "{{topic: unix seconds}}: {rate}");
    assert!(outbox_lines(dir.path()).is_empty(), "delivered entries leave the outbox");

    let again = a.send(&alert("API still down", Some("api"))).unwrap();
    assert_eq!(again.verdict(), Verdict::RateLimited);
    let limited = again.rate_limited.unwrap();
    assert_eq!((limited.topic.as_str(), limited.limit), ("api", std::time::Duration::from_secs(300)));
    assert!(limited.ago < std::time::Duration::from_secs(300));
    assert!(a.send(&alert("no topic: never limited", None)).unwrap().verdict() == Verdict::Sent);
    assert_eq!(api.delivered().len(), 2);
}

#[test]
fn undelivered_alerts_wait_in_the_outbox_and_go_out_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    api.set_default(Reply::Hang);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_millis(300))]);
    let first = a.send(&alert("first", Some("one"))).unwrap();
    assert_eq!(first.verdict(), Verdict::Queued);
    let Delivery::NotSent { failure, queued, .. } = &first.deliveries[0] else { panic!("{first:?}") };
    assert!(queued);
    assert_eq!((failure.problem, failure.attempts), (Problem::Timeout, 3));
    let lines = outbox_lines(dir.path());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "first");
    assert_eq!(lines[0]["destination"], "telegram");
    assert_eq!(lines[0]["attempts"], 3);
    assert_eq!(lines[0]["last_error"], "telegram: no answer within 0.3 s (3 attempts)");

    // Telegram is back: the next alert delivers the queued one first.
    api.set_default(Reply::Emulate);
    let second = a.send(&alert("second", Some("two"))).unwrap();
    assert_eq!(second.verdict(), Verdict::Sent);
    assert_eq!(second.earlier.len(), 1);
    assert!(second.earlier[0].1.is_sent());
    let shown: Vec<String> = api.delivered().into_iter().map(|d| d.displayed).collect();
    assert_eq!(shown, ["[ERROR] Agent Ops Alert\n\nfirst", "[ERROR] Agent Ops Alert\n\nsecond"]);
    assert!(outbox_lines(dir.path()).is_empty());

    let report = a.flush().unwrap();
    assert_eq!((report.entries.len(), report.remaining), (0, 0));
    assert_eq!(api.delivered().len(), 2, "nothing is sent twice");
    assert_no_secrets(dir.path());
}

#[test]
fn a_permanent_failure_keeps_the_alert_until_it_can_be_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::unauthorized()]);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    let outcome = a.send(&alert("x", Some("t"))).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Failed);
    assert_eq!(api.requests().len(), 1, "not retried");
    assert_eq!(outbox_lines(dir.path()).len(), 1);
    let report = a.flush().unwrap();
    assert!(report.entries[0].1.is_sent());
    assert_eq!((report.remaining, api.delivered().len()), (0, 1));
}

#[test]
fn a_failing_destination_keeps_its_entries_while_the_others_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let hook = FakeWebhook::start();
    hook.push(std::iter::repeat_n(HookReply::status(500), 6));
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10)), webhook(&hook)]);
    let outcome = a.send(&alert("one", None)).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Queued);
    assert!(outcome.deliveries[0].is_sent());
    let Delivery::NotSent { failure, .. } = &outcome.deliveries[1] else { panic!() };
    assert_eq!(failure.reason, "webhook chat answered HTTP 500: error (3 attempts)");

    // The webhook is still failing for the next alert: "two" waits behind "one", Telegram
    // gets "two" at once.
    let outcome = a.send(&alert("two", None)).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Queued);
    assert_eq!(outcome.earlier.len(), 1);
    let Delivery::NotSent { failure, .. } = &outcome.deliveries[1] else { panic!() };
    assert!(
        failure.reason.starts_with("waiting behind an earlier alert that could not be delivered: "),
        "{failure:?}"
    );
    assert_eq!(api.delivered().len(), 2);
    let queued: Vec<(String, String)> = outbox_lines(dir.path())
        .iter()
        .map(|l| (l["destination"].as_str().unwrap().to_owned(), l["message"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(queued, [("webhook:chat".into(), "one".into()), ("webhook:chat".into(), "two".into())]);

    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    assert_eq!(api.delivered().len(), 2, "telegram is not sent anything twice");
    let bodies: Vec<String> = hook
        .requests()
        .iter()
        .filter(|r| r.status == Some(200))
        .map(|r| r.body["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["one", "two"], "in order");
    assert!(hook.requests().iter().all(|r| r.header("authorization") == Some("Bearer hook-secret")));
    assert_no_secrets(dir.path());
}

#[test]
fn a_webhook_answer_that_echoes_its_secrets_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let hook = FakeWebhook::start();
    let echo = format!("no such hook {} (auth Bearer hook-secret)", hook.url("T0/B0/secretpath"));
    hook.push([HookReply::Status { status: 404, body: echo, retry_after: None }]);
    let a = alerter(dir.path(), vec![webhook(&hook)]);
    let outcome = a.send(&alert("x", None)).unwrap();
    let Delivery::NotSent { failure, .. } = &outcome.deliveries[0] else { panic!() };
    assert_eq!(failure.reason, "webhook chat answered HTTP 404: no such hook [redacted] (auth [redacted])");
    assert_no_secrets(dir.path());
}

#[test]
fn a_split_alert_resumes_from_the_outbox_without_resending_parts() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::Emulate, Reply::server_error(), Reply::server_error(), Reply::server_error()]);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    let message = "a line of the report\n".repeat(500);
    assert_eq!(a.send(&alert(&message, None)).unwrap().verdict(), Verdict::Queued);
    assert_eq!(outbox_lines(dir.path())[0]["parts_sent"], 1);
    a.flush().unwrap();
    assert_eq!(
        api.titles(),
        ["[ERROR] Agent Ops Alert (1/3)", "[ERROR] Agent Ops Alert (2/3)", "[ERROR] Agent Ops Alert (3/3)"]
    );
}

#[test]
fn threads_sending_one_topic_at_once_deliver_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    let verdicts: Vec<Verdict> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| a.send(&alert("storm", Some("same"))).unwrap().verdict())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Sent).count(), 1, "{verdicts:?}");
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::RateLimited).count(), 7);
    assert_eq!(api.delivered().len(), 1);
}

#[test]
fn concurrent_untopical_alerts_are_each_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    std::thread::scope(|s| {
        for i in 0..6 {
            let a = &a;
            s.spawn(move || {
                assert_eq!(a.send(&alert(&format!("m{i}"), None)).unwrap().verdict(), Verdict::Sent);
            });
        }
    });
    let mut shown: Vec<String> = api.delivered().into_iter().map(|d| d.displayed).collect();
    shown.sort();
    let want: Vec<String> = (0..6).map(|i| format!("[ERROR] Agent Ops Alert\n\nm{i}")).collect();
    assert_eq!(shown, want);
}

#[test]
fn entries_for_a_destination_no_longer_configured_stay() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let outbox = Outbox::new(dir.path().join("alert-outbox.jsonl"));
    outbox.append(&[Entry::new(&alert("for slack", None), "webhook:slack")], &mut Vec::new()).unwrap();
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    let report = a.flush().unwrap();
    let Delivery::NotSent { failure, queued, .. } = &report.entries[0].1 else { panic!() };
    assert_eq!((failure.problem, *queued), (Problem::NotConfigured, true));
    assert_eq!(report.remaining, 1);
}

#[test]
fn an_outbox_held_by_another_deliverer_too_long_leaves_the_alert_queued() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let outbox = Outbox {
        delivery_timeout: Duration::from_millis(50),
        ..Outbox::new(dir.path().join("alert-outbox.jsonl"))
    };
    let a = Alerter::new(
        vec![telegram(&api, Duration::from_secs(10))],
        RateLimit::new(dir.path().join("alert-rate.json"), std::time::Duration::from_secs(300)),
        outbox.clone(),
    )
    .unwrap();
    let outcome = ops_state::with_lock(&outbox.delivery_lock_path, Duration::from_secs(1), || {
        a.send(&alert("x", Some("t"))).unwrap()
    })
    .unwrap();
    assert_eq!(outcome.verdict(), Verdict::Queued);
    let Delivery::NotSent { failure, .. } = &outcome.deliveries[0] else { panic!() };
    assert_eq!(failure.problem, Problem::Busy);
    assert_eq!(api.requests().len(), 0);
    assert_eq!(a.flush().unwrap().remaining, 0);
    assert_eq!(api.delivered().len(), 1);
}

#[test]
fn when_the_state_cannot_be_written_the_alert_is_still_sent() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let blocker = dir.path().join("state");
    fs::write(&blocker, b"not a directory").unwrap();
    let a = alerter(&blocker, vec![telegram(&api, Duration::from_secs(10))]);
    let outcome = a.send(&alert("disk full", Some("disk"))).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Sent);
    assert!(outcome.warnings[0].starts_with("could not queue the alert ("), "{:?}", outcome.warnings);
    assert_eq!(api.delivered().len(), 1);
}

#[test]
fn alert_test_delivers_directly_and_reports_failures_unqueued() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::blocked()]);
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]);
    let d = a.deliver_now(&alert("test", None));
    let Delivery::NotSent { failure, queued, .. } = &d[0] else { panic!() };
    assert_eq!((failure.problem, *queued), (Problem::Forbidden, false));
    assert!(a.deliver_now(&alert("test", None))[0].is_sent());
    assert!(!dir.path().join("alert-outbox.jsonl").exists(), "a test message is never queued");
}

#[test]
fn an_alert_sent_without_the_outbox_is_not_said_to_be_queued() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    // The outbox cannot be written (its directory is a file). The rate file can be locked and
    // read but not replaced: where its old version is staged as the backup, a directory that is
    // not empty is in the way.
    fs::write(dir.path().join("blocked"), b"a file").unwrap();
    fs::write(dir.path().join("alert-rate.json"), b"{}").unwrap();
    fs::create_dir_all(dir.path().join(format!(".alert-rate.json.bak.{}.tmp/x", std::process::id())))
        .unwrap();
    let a = Alerter::new(
        vec![telegram(&api, Duration::from_secs(10))],
        RateLimit::new(dir.path().join("alert-rate.json"), std::time::Duration::from_secs(300)),
        Outbox::new(dir.path().join("blocked/alert-outbox.jsonl")),
    )
    .unwrap();
    let outcome = a.send(&alert("disk full", Some("disk"))).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Sent);
    assert_eq!(api.delivered().len(), 1);
    assert_eq!(outcome.warnings.len(), 2, "{:?}", outcome.warnings);
    assert!(outcome.warnings[0].starts_with("could not queue the alert ("), "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[1].starts_with("could not record the alert's topic (")
            && outcome.warnings[1].ends_with("); the next alert of topic \"disk\" will not be rate limited"),
        "{:?}",
        outcome.warnings
    );
    assert!(
        !outcome.warnings.iter().any(|w| w.contains("queued, but")),
        "it was not queued: {:?}",
        outcome.warnings
    );
}

/// A success answer that is huge, endless, dripping or not JSON is one delivery: the alert
/// goes out once, at Telegram and at a webhook, and leaves the outbox; a later flush sends
/// nothing.
#[test]
fn a_hostile_success_answer_is_delivered_once_and_leaves_the_outbox() {
    for how in [Hostile::Huge(4 << 20), Hostile::Endless, Hostile::Drip, Hostile::NotJson] {
        let dir = tempfile::tempdir().unwrap();
        let api = FakeBotApi::start(TOKEN);
        let hook = FakeWebhook::start();
        api.push([Reply::Accept(how)]);
        hook.push([HookReply::Accept(how)]);
        let web = webhook_with(&hook, policy(Duration::from_millis(500)));
        let a = alerter(dir.path(), vec![telegram(&api, Duration::from_millis(500)), web]);
        let outcome = a.send(&alert("once", Some("t"))).unwrap();
        assert_eq!(outcome.verdict(), Verdict::Sent, "{how:?}: {outcome:?}");
        assert!(outbox_lines(dir.path()).is_empty(), "{how:?}");
        let report = a.flush().unwrap();
        assert_eq!((report.entries.len(), report.remaining), (0, 0), "{how:?}");
        assert_eq!((api.requests().len(), api.delivered().len()), (1, 1), "{how:?}");
        assert_eq!(hook.requests().len(), 1, "{how:?}");
    }
}

/// A clock the test sets: unix seconds, starting at the real time.
fn test_clock() -> (Arc<AtomicU64>, impl Fn() -> f64 + Send + Sync + 'static) {
    let now = ops_state::timestamp::unix_seconds(time::OffsetDateTime::now_utc());
    let shared = Arc::new(AtomicU64::new(now.to_bits()));
    let read = Arc::clone(&shared);
    (shared, move || f64::from_bits(read.load(Ordering::SeqCst)))
}

fn set(clock: &AtomicU64, unix_seconds: f64) {
    clock.store(unix_seconds.to_bits(), Ordering::SeqCst);
}

fn not_sent(d: &Delivery) -> &ops_alert::Failure {
    let Delivery::NotSent { failure, .. } = d else { panic!("{d:?}") };
    failure
}

/// Flood control asking for longer than a run waits is remembered in the outbox: no process
/// (a later send, flush or test, or another alerter over the same files) asks the API again
/// before it has passed, and once it has, the alerts go out in order.
#[test]
fn a_long_flood_wait_is_remembered_and_nothing_is_asked_until_it_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::retry_after(3600)]);
    let (clock, now) = test_clock();
    let start = f64::from_bits(clock.load(Ordering::SeqCst));
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]).with_clock(now);
    let outcome = a.send(&alert("first", Some("one"))).unwrap();
    assert_eq!(outcome.verdict(), Verdict::Queued);
    let failure = not_sent(&outcome.deliveries[0]);
    assert_eq!((failure.problem, failure.attempts), (Problem::FloodControl, 1));
    // The wait is remembered from the whole second it began (`flood_wait.at`, checked below).
    let until =
        time::OffsetDateTime::from_unix_timestamp(((start.floor() + 3600.0) / 60.0).ceil() as i64 * 60)
            .unwrap();
    let day = if until.date() == time::OffsetDateTime::from_unix_timestamp(start as i64).unwrap().date() {
        String::new()
    } else {
        format!("{} ", until.date())
    };
    let words = format!("until {day}{:02}:{:02} UTC", until.hour(), until.minute());
    assert_eq!(failure.reason, format!("telegram flood control: retry after 3600 s, {words}"));
    let line = &outbox_lines(dir.path())[0];
    assert_eq!(line["flood_wait"]["at"], start.floor() as i64, "{line}");
    assert_eq!(line["flood_wait"]["retry_after"], 3600, "{line}");
    let mode = fs::metadata(dir.path().join("alert-outbox.jsonl")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(api.requests().len(), 1);

    // Another process, later in the hour: nothing is asked, whatever it does.
    let (clock2, now2) = test_clock();
    set(&clock2, start + 3599.0);
    let b = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]).with_clock(now2);
    let report = b.flush().unwrap();
    let held = not_sent(&report.entries[0].1);
    assert_eq!((held.problem, held.attempts), (Problem::FloodControl, 0));
    assert_eq!(held.reason, format!("telegram flood control: retry after 3600 s, {words}"));
    let second = b.send(&alert("second", Some("two"))).unwrap();
    assert_eq!(second.verdict(), Verdict::Queued);
    assert_eq!(not_sent(&second.deliveries[0]).reason, held.reason);
    assert_eq!(not_sent(&b.deliver_now(&alert("test", None))[0]).reason, held.reason);
    assert_eq!(api.requests().len(), 1, "no request while flood control holds");
    assert_eq!(b.flush().unwrap().remaining, 2);

    // Once it has passed, both go out, in order.
    set(&clock, start + 3601.0);
    let report = a.flush().unwrap();
    assert_eq!(report.remaining, 0);
    let shown: Vec<String> = api.delivered().into_iter().map(|d| d.displayed).collect();
    assert_eq!(shown, ["[ERROR] Agent Ops Alert\n\nfirst", "[ERROR] Agent Ops Alert\n\nsecond"]);
    assert_eq!(api.requests().len(), 3);
}

/// A clock set back before the wait was recorded ends it (the next request learns again), and
/// no wait, whatever the server asked or the file says, holds a destination for over a day.
#[test]
fn a_flood_wait_never_holds_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::retry_after(3600)]);
    let (clock, now) = test_clock();
    let start = f64::from_bits(clock.load(Ordering::SeqCst));
    let a = alerter(dir.path(), vec![telegram(&api, Duration::from_secs(10))]).with_clock(now);
    assert_eq!(a.send(&alert("x", None)).unwrap().verdict(), Verdict::Queued);
    set(&clock, start - 365.0 * 86400.0);
    assert_eq!(a.flush().unwrap().remaining, 0, "the clock went back a year: asked again");
    assert_eq!(api.requests().len(), 2);

    // A hostile answer asks for 1e300 seconds: taken as a day.
    let hook = FakeWebhook::start();
    hook.push([HookReply::Raw {
        status: 429,
        headers: vec![("Retry-After".into(), "1e300".into())],
        body: String::new(),
    }]);
    set(&clock, start);
    let a = alerter(dir.path(), vec![webhook(&hook)]).with_clock({
        let c = Arc::clone(&clock);
        move || f64::from_bits(c.load(Ordering::SeqCst))
    });
    let outcome = a.send(&alert("y", None)).unwrap();
    assert!(not_sent(&outcome.deliveries[0]).reason.contains("retry after 86400 s"), "{outcome:?}");
    assert_eq!(outbox_lines(dir.path())[0]["flood_wait"]["retry_after"], 86400);
    // A file edited to wait for ever is read as a day.
    let path = dir.path().join("alert-outbox.jsonl");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("\"retry_after\":86400", "\"retry_after\":18446744073709551615");
    fs::write(&path, text).unwrap();
    set(&clock, start + 86399.0);
    assert_eq!(a.flush().unwrap().remaining, 1);
    assert_eq!(hook.requests().len(), 1);
    set(&clock, start + 86401.0);
    assert_eq!(a.flush().unwrap().remaining, 0);
    assert_eq!(hook.requests().len(), 2);
}
