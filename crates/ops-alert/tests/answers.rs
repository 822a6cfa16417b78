//! What no answer can do: make us wait without bound, send twice, follow a redirect, or hold a
//! destination for ever. Hostile loopback servers answer with odd `Retry-After` values,
//! redirects, bytes that are not HTTP and headers too large to read.

use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::webhook::{Webhook, WebhookConfig};
use ops_alert::{Alert, AlertError, Level, Notifier, Problem, RetryPolicy, Secret};
use serde_json::json;
use test_support::{FakeBotApi, FakeWebhook, HookReply, Reply};

const TOKEN: &str = "123456789:AAH-answers_Token_0123456789abcdef";

/// No flood wait is waited out: each shows in the failure as it was taken.
fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        request_timeout: Duration::from_secs(10),
        backoff: Duration::from_millis(1),
        max_retry_after: Duration::ZERO,
        deadline: Duration::from_secs(60),
    }
}

fn hook_config(url: &str) -> WebhookConfig {
    WebhookConfig {
        name: "chat".into(),
        url: Secret::new(url),
        body: None,
        headers: vec![],
        max_chars: None,
        retry: policy(),
    }
}

fn webhook(hook: &FakeWebhook) -> Webhook {
    Webhook::new(hook_config(&hook.url("T0/B0/x"))).unwrap()
}

fn telegram(api: &FakeBotApi) -> Telegram {
    Telegram::new(TelegramConfig {
        api_url: api.url(),
        token: Secret::new(TOKEN),
        chat_id: "-100123".into(),
        retry: policy(),
    })
    .unwrap()
}

fn alert() -> Alert {
    Alert { level: Level::Error, topic: None, message: "x".into() }
}

fn status(status: u16, headers: &[(&str, &str)]) -> HookReply {
    let headers = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    HookReply::Raw { status, headers, body: String::new() }
}

/// `Retry-After` in every shape: a number is taken (at most a day), an HTTP date is the time
/// until it, anything else (negative, not finite, words, two values) is 1 s.
#[test]
fn a_retry_after_of_any_shape_is_a_bounded_wait() {
    let http_date = |offset: time::Duration| {
        let t = time::OffsetDateTime::now_utc() + offset;
        let f = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        t.format(&f).unwrap()
    };
    let in_two_hours = http_date(time::Duration::hours(2));
    let one_second = Some(Duration::from_secs(1));
    let cases: [(&str, Option<Duration>); 10] = [
        ("3600", Some(Duration::from_secs(3600))),
        ("2.5", Some(Duration::from_secs_f64(2.5))),
        ("1e300", Some(Duration::from_secs(86_400))),
        ("99999999999999999999999", Some(Duration::from_secs(86_400))),
        ("-5", one_second),
        ("NaN", one_second),
        ("inf", one_second),
        ("soon", one_second),
        ("3600, 3600", one_second),
        ("", one_second),
    ];
    for (header, want) in cases {
        let hook = FakeWebhook::start();
        hook.push([status(429, &[("Retry-After", header)])]);
        let failure = webhook(&hook).deliver(&alert(), 0).unwrap_err();
        assert_eq!((failure.problem, failure.attempts), (Problem::FloodControl, 1), "{header:?}");
        assert_eq!(failure.retry_after, want, "{header:?}");
    }
    let hook = FakeWebhook::start();
    hook.push([status(429, &[("Retry-After", &in_two_hours)])]);
    let asked = webhook(&hook).deliver(&alert(), 0).unwrap_err().retry_after.unwrap();
    assert!(asked > Duration::from_secs(7000) && asked <= Duration::from_secs(7200), "{asked:?}");
    // A date that has passed asks for no wait: retried at once, delivered.
    let hook = FakeWebhook::start();
    hook.push([status(429, &[("Retry-After", &http_date(time::Duration::hours(-2)))])]);
    webhook(&hook).deliver(&alert(), 0).unwrap();
    assert_eq!(hook.requests().len(), 2);

    // Telegram's own `retry_after`, in any shape, is bounded the same way.
    let flood = |after: serde_json::Value| Reply::Error {
        code: 429,
        description: "Too Many Requests".into(),
        parameters: Some(json!({"retry_after": after})),
    };
    for (after, want) in [
        (json!(1e300), Some(Duration::from_secs(86_400))),
        (json!(-1), one_second),
        (json!("3600"), one_second),
        (json!(null), one_second),
        (json!(30), Some(Duration::from_secs(30))),
    ] {
        let api = FakeBotApi::start(TOKEN);
        api.push([flood(after.clone())]);
        let failure = telegram(&api).deliver(&alert(), 0).unwrap_err();
        assert_eq!((failure.problem, failure.retry_after), (Problem::FloodControl, want), "{after}");
    }
}

/// A redirect is never followed (a POST must not become a GET elsewhere, nor carry the alert to
/// another host); 303 See Other says the POST was carried out, so it is a delivery; the others
/// are permanent and not retried.
#[test]
fn redirects_are_not_followed_and_see_other_is_a_delivery() {
    for code in [301, 302, 307, 308] {
        let hook = FakeWebhook::start();
        let elsewhere = hook.url("elsewhere");
        hook.push([status(code, &[("Location", &elsewhere)])]);
        let failure = webhook(&hook).deliver(&alert(), 0).unwrap_err();
        assert_eq!((failure.problem, failure.attempts), (Problem::Rejected, 1), "{code}");
        assert_eq!(hook.requests().len(), 1, "{code}: not followed");

        let api = FakeBotApi::start(TOKEN);
        api.push([Reply::Raw { status: code, body: String::new() }]);
        let failure = telegram(&api).deliver(&alert(), 0).unwrap_err();
        assert_eq!((failure.problem, failure.attempts), (Problem::Rejected, 1), "{code}");
    }
    let hook = FakeWebhook::start();
    hook.push([status(303, &[("Location", &hook.url("result"))])]);
    webhook(&hook).deliver(&alert(), 0).unwrap();
    assert_eq!(hook.requests().len(), 1);
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::Raw { status: 303, body: String::new() }]);
    assert!(telegram(&api).deliver(&alert(), 0).unwrap().message_ids.is_empty());
    assert_eq!(api.requests().len(), 1);
}

/// A server that took the request but answers with something we cannot read (not HTTP, or
/// headers past the bound) may have delivered it and would answer the same again: it is not
/// asked again in this run.
#[test]
fn an_answer_we_cannot_read_is_not_asked_again_in_the_run() {
    let huge_header = "x".repeat(200 << 10);
    let replies = [
        HookReply::Garbage("SMTP ready\r\n\r\n".into()),
        HookReply::Garbage("HTTP/1.1 200\r\nContent-Length: x\r\n\r\n".into()),
        status(200, &[("X-Padding", &huge_header)]),
    ];
    for reply in replies {
        let hook = FakeWebhook::start();
        hook.push([reply.clone()]);
        let failure = webhook(&hook).deliver(&alert(), 0).unwrap_err();
        assert_eq!((failure.problem, failure.attempts), (Problem::Protocol, 1), "{failure:?}");
        assert!(!failure.problem.is_permanent(), "a later run tries again");
        assert_eq!(hook.requests().len(), 1);
    }
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::Garbage("\u{0}\u{1}binary".into())]);
    let failure = telegram(&api).deliver(&alert(), 0).unwrap_err();
    assert_eq!((failure.problem, failure.attempts), (Problem::Protocol, 1), "{failure:?}");
    assert_eq!(api.requests().len(), 1);
}

/// Settings a request could not carry are refused when the notifier is made, naming the
/// setting (and never its value): not at every alert.
#[test]
fn settings_no_request_could_carry_are_refused_up_front() {
    let invalid = |e: AlertError| match e {
        AlertError::Invalid { field, message } => (field, message),
        other => panic!("{other}"),
    };
    let base = hook_config("http://127.0.0.1:9/x");
    for (config, field) in [
        (WebhookConfig { url: Secret::new("http://127.0.0.1:9/a b"), ..base.clone() }, "url"),
        (WebhookConfig { url: Secret::new("http://127.0.0.1:9/\u{1b}[2J"), ..base.clone() }, "url"),
        (WebhookConfig { url: Secret::new("http://user@/x"), ..base.clone() }, "url"),
        (WebhookConfig { name: "chat\u{1b}]0;owned\u{7}".into(), ..base.clone() }, "name"),
        (
            WebhookConfig { headers: vec![("X-A".into(), Secret::new("v\r\nX-B: 1"))], ..base.clone() },
            "headers",
        ),
        (WebhookConfig { headers: vec![("X A".into(), Secret::new("v"))], ..base.clone() }, "headers"),
    ] {
        let (got, message) = invalid(Webhook::new(config).unwrap_err());
        assert_eq!(got.as_str(), field, "{message}");
        assert!(!message.contains("X-B") && !message.contains('\u{1b}'), "{message}");
    }
    let tg = TelegramConfig {
        api_url: "http://127.0.0.1:9".into(),
        token: Secret::new(TOKEN),
        chat_id: "-1".into(),
        retry: policy(),
    };
    for (config, field) in [
        (TelegramConfig { chat_id: "-1\n2".into(), ..tg.clone() }, "chat_id"),
        (TelegramConfig { api_url: "http://127.0.0.1:9/a b".into(), ..tg.clone() }, "api_url"),
        (TelegramConfig { api_url: "http://127.0.0.1:9/?q=\u{7f}".into(), ..tg.clone() }, "api_url"),
    ] {
        assert_eq!(invalid(Telegram::new(config).unwrap_err()).0.as_str(), field);
    }
}
