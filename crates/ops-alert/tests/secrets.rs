//! No secret leaves ops-alert: marker secrets are planted in every setting that can hold one
//! (the token, an API URL with the token and credentials pasted into it, a webhook URL with
//! credentials, path and query secrets, header values), every path is run (send, flush, test,
//! dry run; success, 401, 429, 500, a refused connection, an invalid URL, a huge answer, and
//! servers that echo the request), and everything that comes out is searched for them: every
//! outcome, reason, notice, preview, error, `Debug` text and file in the state directory, as
//! written and percent-encoded.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::webhook::{Webhook, WebhookConfig};
use ops_alert::{Alert, Alerter, Level, Notifier, Outbox, RateLimit, RetryPolicy, Secret};
use test_support::{FakeBotApi, FakeWebhook, HookReply, Hostile, Reply, closed_port};

const TOKEN: &str = "7012345678:AAFmarkerTokenKey_0123456789-abcdefghijk";
const API_PASSWORD: &str = "apiPASSmarker1";
const HOOK_PASSWORD: &str = "hookPASSmarker2";
const HOOK_PATH_ID: &str = "T0MARKER3X";
const HOOK_PATH_KEY: &str = "hookSECRETmarker5";
const HOOK_QUERY: &str = "querySECRETmarker6";
const BEARER: &str = "headerSECRETmarker7";
const API_KEY: &str = "apikeySECRETmarker8";

/// Every marker, and the parts of the token that must not show alone.
fn markers() -> Vec<String> {
    let key = TOKEN.split_once(':').unwrap().1;
    [TOKEN, key, API_PASSWORD, HOOK_PASSWORD, HOOK_PATH_ID, HOOK_PATH_KEY, HOOK_QUERY, BEARER, API_KEY]
        .map(str::to_owned)
        .to_vec()
}

/// The forms a marker must not appear in: as written, and percent-encoded in either case.
fn forms(marker: &str) -> Vec<String> {
    let encode = |upper: bool| {
        marker
            .bytes()
            .map(|b| match b {
                b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => char::from(b).to_string(),
                b if upper => format!("%{b:02X}"),
                b => format!("%{b:02x}"),
            })
            .collect::<String>()
    };
    vec![marker.to_owned(), encode(true), encode(false)]
}

/// Fails naming the marker and where it showed.
fn assert_clean(what: &str, text: &str) {
    for marker in markers() {
        for form in forms(&marker) {
            assert!(!text.contains(&form), "{what} shows the secret {form:?}:\n{text}");
        }
    }
}

/// Every file under `dir`, with its contents.
fn assert_files_clean(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_files_clean(&path);
        } else {
            assert_clean(&path.display().to_string(), &String::from_utf8_lossy(&fs::read(&path).unwrap()));
        }
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        request_timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(1),
        max_retry_after: Duration::from_secs(1),
        deadline: Duration::from_secs(30),
    }
}

/// Telegram at `base` (a URL without a path, or any API URL).
fn telegram(api_url: &str) -> Telegram {
    Telegram::new(TelegramConfig {
        api_url: api_url.to_owned(),
        token: Secret::new(TOKEN),
        chat_id: "-100777".into(),
        retry: policy(),
    })
    .unwrap()
}

/// The API URL a user may paste: credentials, and the token with `bot` before it.
fn pasted_api_url(api: &FakeBotApi) -> String {
    api.url().replace("http://", &format!("http://apiuser:{API_PASSWORD}@")) + &format!("/bot{TOKEN}")
}

/// A webhook URL with every kind of secret: user info, path, query.
fn hook_url(host_port: &str) -> String {
    format!(
        "http://hookuser:{HOOK_PASSWORD}@{host_port}/hooks/{HOOK_PATH_ID}/B0/{HOOK_PATH_KEY}?token={HOOK_QUERY}"
    )
}

fn webhook(url: &str) -> Webhook {
    Webhook::new(WebhookConfig {
        name: "chat".into(),
        url: Secret::new(url),
        body: None,
        headers: vec![
            ("Authorization".into(), Secret::new(format!("Bearer {BEARER}"))),
            ("X-Api-Key".into(), Secret::new(API_KEY)),
        ],
        max_chars: None,
        retry: policy(),
    })
    .unwrap()
}

fn host_port(hook: &FakeWebhook) -> String {
    hook.url("").trim_start_matches("http://").split('/').next().unwrap().to_owned()
}

fn alerter(state: &Path, notifiers: Vec<Box<dyn Notifier>>) -> Alerter {
    Alerter::new(
        notifiers,
        RateLimit::new(state.join("alert-rate.json"), std::time::Duration::ZERO),
        Outbox::new(state.join("alert-outbox.jsonl")),
    )
    .unwrap()
}

fn alert(message: &str) -> Alert {
    Alert { level: Level::Error, topic: Some("t".into()), message: message.into() }
}

/// Runs send, flush, test and the previews of `a` and returns everything they said.
fn everything_said(a: &Alerter) -> String {
    let mut said = String::new();
    for n in a.notifiers() {
        let _ = writeln!(said, "{n:?} {:?}", n.preview(&alert("dry run")));
    }
    let _ = writeln!(said, "{:?}", a.send(&alert("first")));
    let _ = writeln!(said, "{:?}", a.flush());
    let _ = writeln!(said, "{:?}", a.deliver_now(&alert("test")));
    let _ = writeln!(said, "{a:?}");
    said
}

/// Every kind of answer, from servers that echo everything they received, at Telegram with a
/// pasted API URL (which gives 404s) and with a clean one, and at a webhook with secrets
/// everywhere.
#[test]
fn no_answer_shows_a_secret() {
    let telegram_replies = [
        Reply::Echo(400),
        Reply::Echo(401),
        Reply::Echo(403),
        Reply::Echo(404),
        Reply::Echo(429),
        Reply::Echo(500),
        Reply::Echo(200),
        Reply::retry_after(3600),
        Reply::Accept(Hostile::Huge(1 << 20)),
        Reply::Raw { status: 502, body: format!("<html>{}</html>", "x".repeat(1 << 20)) },
        Reply::Reset,
        Reply::Emulate,
    ];
    let hook_replies = [
        HookReply::Echo(400),
        HookReply::Echo(401),
        HookReply::Echo(403),
        HookReply::Echo(404),
        HookReply::Echo(429),
        HookReply::Echo(500),
        HookReply::Echo(302),
        HookReply::Status { status: 429, body: "slow down".into(), retry_after: Some(3600) },
        HookReply::Accept(Hostile::Huge(1 << 20)),
        HookReply::status(200),
    ];
    for (i, (reply, hook_reply)) in telegram_replies.iter().zip(hook_replies.iter().cycle()).enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let api = FakeBotApi::start(TOKEN);
        let hook = FakeWebhook::start();
        api.set_default(reply.clone());
        hook.push(std::iter::repeat_n(hook_reply.clone(), 20));
        let api_url = if i % 2 == 0 { api.url() } else { pasted_api_url(&api) };
        let a = alerter(
            dir.path(),
            vec![Box::new(telegram(&api_url)), Box::new(webhook(&hook_url(&host_port(&hook))))],
        );
        let said = everything_said(&a);
        assert_clean(&format!("{reply:?} / {hook_reply:?}"), &said);
        assert_files_clean(dir.path());
        // The servers did get the secrets: the test would see them if they came back.
        let echoed = format!("{:?} {:?}", api.requests(), hook.requests());
        assert!(echoed.contains(TOKEN) && echoed.contains(BEARER) && echoed.contains(HOOK_QUERY), "{echoed}");
    }
}

/// Destinations that cannot be reached at all: a refused connection, a URL that is not
/// valid, a host that does not resolve.
#[test]
fn no_transport_error_shows_a_secret() {
    let closed = format!("127.0.0.1:{}", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let a = alerter(
        dir.path(),
        vec![
            Box::new(telegram(&format!("http://apiuser:{API_PASSWORD}@{closed}/bot{TOKEN}"))),
            Box::new(webhook(&hook_url(&closed))),
        ],
    );
    let said = everything_said(&a);
    assert!(said.contains("connection refused"), "{said}");
    assert_clean("a refused connection", &said);
    assert_files_clean(dir.path());

    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://no-such-host.invalid/hooks/{HOOK_PATH_KEY}?token={HOOK_QUERY}");
    let a = alerter(dir.path(), vec![Box::new(webhook(&url))]);
    assert_clean(&url, &everything_said(&a));
    assert_files_clean(dir.path());
}

/// Settings refused at construction, and state errors, name no secret.
#[test]
fn no_error_shows_a_secret() {
    let mut said = String::new();
    let bad_token = TelegramConfig {
        api_url: "http://127.0.0.1:1".into(),
        token: Secret::new(format!("{TOKEN}/x")),
        chat_id: "1".into(),
        retry: policy(),
    };
    let _ = writeln!(said, "{bad_token:?} {}", Telegram::new(bad_token.clone()).unwrap_err());
    let bad_api = TelegramConfig {
        api_url: format!("ftp://user:{API_PASSWORD}@x/bot{TOKEN}"),
        token: Secret::new(TOKEN),
        ..bad_token
    };
    let _ = writeln!(said, "{bad_api:?} {}", Telegram::new(bad_api.clone()).unwrap_err());
    let bad_hook = WebhookConfig {
        name: "x".into(),
        url: Secret::new(format!("hooks.example/{HOOK_PATH_KEY}")),
        body: None,
        headers: vec![("Authorization".into(), Secret::new(BEARER))],
        max_chars: None,
        retry: policy(),
    };
    let _ = writeln!(said, "{bad_hook:?} {}", Webhook::new(bad_hook.clone()).unwrap_err());
    // URLs that are not valid, and header values HTTP cannot carry, are refused here.
    let closed = format!("127.0.0.1:{}", closed_port());
    for url in [
        format!("http://{closed}/hooks/{HOOK_PATH_KEY} {HOOK_QUERY}"),
        format!("http://{closed}/hooks/{HOOK_PATH_KEY}?x=\u{7f}{HOOK_QUERY}"),
        format!("http://{HOOK_PASSWORD}@/{HOOK_PATH_KEY}"),
    ] {
        let config = WebhookConfig { url: Secret::new(url), ..bad_hook.clone() };
        let _ = writeln!(said, "{}", Webhook::new(config).unwrap_err());
    }
    for value in [format!("Bearer {BEARER}\r\nX-Evil: 1"), format!("{API_KEY}\u{7f}")] {
        let config = WebhookConfig {
            url: Secret::new(format!("http://{closed}/")),
            headers: vec![("X-Api-Key".into(), Secret::new(value))],
            ..bad_hook.clone()
        };
        let _ = writeln!(said, "{}", Webhook::new(config).unwrap_err());
    }
    let bad_endpoint = TelegramConfig {
        api_url: format!("http://{closed}/a b/bot{TOKEN}"),
        token: Secret::new(TOKEN),
        ..bad_api
    };
    let _ = writeln!(said, "{bad_endpoint:?} {}", Telegram::new(bad_endpoint.clone()).unwrap_err());
    // The outbox's directory is a file: every state operation fails.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("state"), "a file").unwrap();
    let a = alerter(
        &dir.path().join("state"),
        vec![Box::new(telegram(&format!("http://127.0.0.1:{}", closed_port())))],
    );
    let _ = writeln!(said, "{:?} {:?}", a.flush().map_err(|e| e.to_string()), a.send(&alert("x")));
    assert_clean("errors", &said);
}

/// An alert whose text holds secrets (a check's detail quoting a URL with a token, say) is
/// not the way around: no destination receives them, and neither the outbox nor the rate file
/// keeps them.
#[test]
fn no_secret_is_carried_in_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start(TOKEN);
    let hook = FakeWebhook::start();
    hook.push([HookReply::status(500), HookReply::status(500)]);
    let a = alerter(
        dir.path(),
        vec![Box::new(telegram(&pasted_api_url(&api))), Box::new(webhook(&hook_url(&host_port(&hook))))],
    );
    let text: Vec<String> = markers().iter().flat_map(|m| forms(m)).collect();
    let message = format!("check failed: {} and {}", text.join(" | "), hook_url(&host_port(&hook)));
    let secret_topic = Alert { topic: Some(format!("topic {BEARER}")), ..alert(&message) };
    let mut said = format!("{:?}", a.send(&secret_topic));
    assert_files_clean(dir.path());
    let _ = writeln!(said, "{:?}", a.flush());
    let _ = writeln!(said, "{:?}", a.deliver_now(&alert(&message)));
    let _ = writeln!(said, "{:?}", a.rate_check(&secret_topic));
    let _ = writeln!(said, "{:?}", a.preview(&secret_topic));
    assert_clean("what was said", &said);
    let received: Vec<String> =
        api.requests().into_iter().chain(hook.requests()).map(|r| r.body.to_string()).collect();
    // Telegram (404: the pasted URL) once each for send, flush and test; the webhook twice
    // (500s) for send, then once each for flush and test.
    assert_eq!(received.len(), 3 + 4, "every request was made: {received:?}");
    assert_clean("what the destinations received", &received.join("\n"));
    assert_files_clean(dir.path());
}
