//! The Telegram notifier against a fake Bot API on 127.0.0.1 that answers with Telegram's
//! shapes and parses text as Telegram does.

use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::{Alert, Failure, Level, Notifier, Problem, RetryPolicy, Secret};
use serde_json::{Value, json};
use test_support::{FakeBotApi, Hostile, Reply, closed_port};

const TOKEN: &str = "123456789:AAH-secret_Token-Value_0123456789abcdef";
const SECRET_PART: &str = "AAH-secret_Token-Value_0123456789abcdef";

fn policy(timeout: Duration) -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        request_timeout: timeout,
        backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(5),
        deadline: Duration::from_secs(60),
    }
}

fn telegram_at(api_url: &str, timeout: Duration) -> Telegram {
    Telegram::new(TelegramConfig {
        api_url: api_url.into(),
        token: Secret::new(TOKEN),
        chat_id: "-1001234567890".into(),
        retry: policy(timeout),
    })
    .unwrap()
}

fn telegram(api: &FakeBotApi) -> Telegram {
    telegram_at(&api.url(), Duration::from_secs(10))
}

fn alert(message: &str) -> Alert {
    Alert { level: Level::Error, topic: Some("api".into()), message: message.into() }
}

/// A failure's reason must never hold the token, whole or its secret half.
fn assert_clean(failure: &Failure) {
    let text = format!("{failure} {failure:?}");
    assert!(!text.contains(TOKEN) && !text.contains(SECRET_PART), "token leaked: {text}");
}

#[test]
fn success_sends_html_without_previews_to_the_chat() {
    let api = FakeBotApi::start(TOKEN);
    let receipt = telegram(&api).deliver(&alert("API down"), 0).unwrap();
    assert_eq!((receipt.parts, receipt.message_ids.as_slice()), (1, &[1][..]));
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["chat_id"], json!(-1_001_234_567_890_i64));
    assert_eq!(r.body["parse_mode"], "HTML");
    assert_eq!(r.body["link_preview_options"], json!({"is_disabled": true}));
    assert_eq!(r.body["disable_web_page_preview"], true);
    assert_eq!(r.displayed.as_deref(), Some("[ERROR] Agent Ops Alert\n\nAPI down"));
}

#[test]
fn markup_characters_are_delivered_and_displayed_as_written() {
    let api = FakeBotApi::start(TOKEN);
    let t = telegram(&api);
    let messages = [
        "my_service down",
        "Checks failed:\n- web_api_v2: HTTP 503 *critical* [prod] (eu-1) `x` <none> & more",
        "a < b > c && d &amp; e &lt;tag&gt; </b> <b> \\_ \\*",
        "[link](http://example.com/a_b) _*[]()~`>#+-=|{}.!",
    ];
    for m in messages {
        t.deliver(&alert(m), 0).unwrap();
    }
    let shown: Vec<String> = api.delivered().into_iter().map(|d| d.displayed).collect();
    let want: Vec<String> = messages.iter().map(|m| format!("[ERROR] Agent Ops Alert\n\n{m}")).collect();
    assert_eq!(shown, want);
    assert_eq!(api.requests().len(), messages.len(), "each delivered at the first attempt, in HTML mode");
}

#[test]
fn a_parse_error_is_answered_by_one_plain_text_resend() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::parse_error()]);
    let receipt = telegram(&api).deliver(&alert("a_b <c>"), 0).unwrap();
    assert_eq!(receipt.parts, 1);
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body["parse_mode"], "HTML");
    assert_eq!(requests[1].body.get("parse_mode"), None);
    assert_eq!(requests[1].body["text"], "[ERROR] Agent Ops Alert\n\na_b <c>");
    assert_eq!(api.delivered()[0].displayed, "[ERROR] Agent Ops Alert\n\na_b <c>");

    api.push([Reply::parse_error(), Reply::parse_error()]);
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!(failure.problem, Problem::Rejected, "plain text refused too: not retried again");
    assert_eq!(api.requests().len(), 4);
    assert_clean(&failure);
}

#[test]
fn a_10000_character_message_arrives_in_numbered_parts_within_the_limit() {
    let api = FakeBotApi::start(TOKEN);
    let lines: Vec<String> =
        (0..250).map(|i| format!("service_{i:03} <down> & {}", "x".repeat(18))).collect();
    let message = lines.join("\n") + "!";
    assert_eq!(message.chars().count(), 10_000);
    let receipt = telegram(&api).deliver(&alert(&message), 0).unwrap();
    assert_eq!(receipt.parts, 3);
    let delivered = api.delivered();
    assert_eq!(delivered.len(), 3);
    let mut body = Vec::new();
    for (i, d) in delivered.iter().enumerate() {
        assert!(d.displayed.encode_utf16().count() <= 4096);
        let head = format!("[ERROR] Agent Ops Alert ({}/3)\n\n", i + 1);
        body.push(d.displayed.strip_prefix(&head).expect("numbered title").to_owned());
    }
    assert_eq!(body.join("\n"), message, "split on line boundaries, nothing lost");
}

#[test]
fn a_split_message_resumes_after_the_parts_already_sent() {
    let api = FakeBotApi::start(TOKEN);
    let message = "line\n".repeat(2000);
    api.push([Reply::Emulate, Reply::unauthorized()]);
    let failure = telegram(&api).deliver(&alert(&message), 0).unwrap_err();
    assert_eq!((failure.problem, failure.parts_sent), (Problem::Unauthorized, 1));
    assert!(failure.reason.starts_with("part 2 of 3: "), "{}", failure.reason);
    assert_clean(&failure);
    let receipt = telegram(&api).deliver(&alert(&message), failure.parts_sent).unwrap();
    assert_eq!(receipt.message_ids.len(), 2);
    assert_eq!(
        api.titles(),
        ["[ERROR] Agent Ops Alert (1/3)", "[ERROR] Agent Ops Alert (2/3)", "[ERROR] Agent Ops Alert (3/3)"]
    );
}

#[test]
fn flood_control_waits_retry_after_then_delivers() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::retry_after(1)]);
    telegram(&api).deliver(&alert("x"), 0).unwrap();
    assert_eq!(api.requests().len(), 2);
    assert_eq!(api.delivered().len(), 1);
}

#[test]
fn flood_control_beyond_the_bound_is_not_waited_for() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::retry_after(3600)]);
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!((failure.problem, failure.attempts), (Problem::FloodControl, 1));
    assert!(!failure.problem.is_permanent());
    assert_eq!(failure.reason, "telegram flood control: retry after 3600 s");
    assert_eq!(failure.retry_after, Some(Duration::from_secs(3600)), "for the outbox to remember");
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::server_error(), Reply::Raw { status: 502, body: "<html>Bad Gateway</html>".into() }]);
    let receipt = telegram(&api).deliver(&alert("x"), 0).unwrap();
    assert_eq!(receipt.parts, 1);
    assert_eq!(
        api.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(500), Some(502), Some(200)]
    );

    api.set_default(Reply::server_error());
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!((failure.problem, failure.attempts), (Problem::ServerError, 3));
    assert_eq!(failure.reason, "telegram answered 500 Internal Server Error (3 attempts)");
    assert_clean(&failure);
}

#[test]
fn a_server_that_never_answers_times_out_after_bounded_attempts() {
    let api = FakeBotApi::start(TOKEN);
    api.set_default(Reply::Hang);
    let failure = telegram_at(&api.url(), Duration::from_millis(300)).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!((failure.problem, failure.attempts), (Problem::Timeout, 3));
    assert_eq!(failure.reason, "telegram: no answer within 0.3 s (3 attempts)");
    assert_eq!(api.wait_for_requests(3, Duration::from_secs(20)).len(), 3);
    assert_clean(&failure);
}

#[test]
fn connection_errors_name_no_url() {
    let t = telegram_at(&format!("http://127.0.0.1:{}", closed_port()), Duration::from_secs(5));
    let failure = t.deliver(&alert("x"), 0).unwrap_err();
    assert_eq!((failure.problem, failure.attempts), (Problem::Connection, 3));
    assert!(failure.reason.starts_with("telegram: connection"), "{}", failure.reason);
    assert!(!failure.reason.contains("127.0.0.1") && !failure.reason.contains("/bot"), "{}", failure.reason);
    assert_clean(&failure);
}

#[test]
fn permanent_errors_are_not_retried() {
    let cases = [
        (Reply::unauthorized(), Problem::Unauthorized, "telegram rejected the bot token: 401 Unauthorized"),
        (
            Reply::blocked(),
            Problem::Forbidden,
            "telegram refused access to the chat: 403 Forbidden: bot was blocked by the user",
        ),
        (
            Reply::chat_not_found(),
            Problem::Rejected,
            "telegram refused the message: 400 Bad Request: chat not found",
        ),
        (
            Reply::error(404, "Not Found"),
            Problem::Unauthorized,
            "telegram answered 404 Not Found: the bot token or the API URL is wrong",
        ),
    ];
    for (reply, problem, reason) in cases {
        let api = FakeBotApi::start(TOKEN);
        api.push([reply]);
        let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
        assert_eq!((failure.problem, failure.reason.as_str(), failure.attempts), (problem, reason, 1));
        assert!(failure.problem.is_permanent());
        assert_eq!(api.requests().len(), 1, "{reason}: not retried");
        assert_clean(&failure);
    }
}

#[test]
fn a_wrong_token_is_refused_by_the_emulation_and_never_shown() {
    let api = FakeBotApi::start("999:other");
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!(failure.problem, Problem::Unauthorized);
    assert_clean(&failure);
}

#[test]
fn an_answer_that_echoes_the_token_is_redacted_before_it_is_shortened() {
    let api = FakeBotApi::start(TOKEN);
    let echo = format!("Bad Request: no route for /bot{TOKEN}/sendMessage {}", "x".repeat(150));
    api.push([Reply::error(400, &echo)]);
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert!(failure.reason.contains("/bot[redacted]/sendMessage"), "{}", failure.reason);
    assert_clean(&failure);
    // A token cut in half by the shortening would still leak its first half.
    let cut = format!("{}{TOKEN}", "y".repeat(185));
    api.push([Reply::error(403, &cut)]);
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert!(!failure.reason.contains(&TOKEN[..15]), "{}", failure.reason);
}

#[test]
fn a_migrated_group_gets_the_alert_and_the_user_is_told() {
    let api = FakeBotApi::start(TOKEN);
    api.migrate_chat("-1001234567890", -1_009_999);
    let t = telegram(&api);
    let receipt = t.deliver(&alert("x"), 0).unwrap();
    assert_eq!(receipt.notices.len(), 1);
    assert!(receipt.notices[0].contains("-1009999"), "{:?}", receipt.notices);
    assert_eq!(api.delivered()[0].chat_id, json!(-1_009_999));
    // The next alert from this process goes straight to the new chat.
    t.deliver(&alert("y"), 0).unwrap();
    let chats: Vec<Value> = api.requests().iter().map(|r| r.body["chat_id"].clone()).collect();
    assert_eq!(chats, [json!(-1_001_234_567_890_i64), json!(-1_009_999), json!(-1_009_999)]);
}

#[test]
fn a_self_hosted_api_url_with_a_path_and_trailing_slash_works() {
    let api = FakeBotApi::start(TOKEN);
    // The fake serves at its root; a trailing slash must not give `//bot`.
    telegram_at(&format!("{}/", api.url()), Duration::from_secs(10)).deliver(&alert("x"), 0).unwrap();
    assert_eq!(api.requests()[0].path, format!("/bot{TOKEN}/sendMessage"));
}

/// Any 2xx is a delivery, counted once, whatever follows the status line: a body past the
/// read bound, one that never ends, one that drips past the deadline, one that is not JSON.
#[test]
fn a_success_is_one_delivery_whatever_its_body() {
    for how in [Hostile::Huge(4 << 20), Hostile::Endless, Hostile::Drip, Hostile::NotJson] {
        let api = FakeBotApi::start(TOKEN);
        api.push([Reply::Accept(how)]);
        let receipt = telegram_at(&api.url(), Duration::from_millis(500)).deliver(&alert("x"), 0);
        let receipt = receipt.unwrap_or_else(|f| panic!("{how:?}: {f:?}"));
        assert_eq!(receipt.parts, 1, "{how:?}");
        assert!(receipt.message_ids.is_empty(), "{how:?}: the id could not be read: {receipt:?}");
        assert_eq!((api.requests().len(), api.delivered().len()), (1, 1), "{how:?}: sent once");
    }
    // A success whose answer fits is read for its message id.
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::Accept(Hostile::Huge(32 << 10))]);
    assert_eq!(telegram(&api).deliver(&alert("x"), 0).unwrap().message_ids, [1]);
}

#[test]
fn a_success_status_that_says_ok_false_is_not_a_delivery_and_not_retried_now() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::Raw { status: 200, body: r#"{"ok":false,"description":"Bad Request: nope"}"#.into() }]);
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!((failure.problem, failure.attempts), (Problem::Protocol, 1));
    assert!(!failure.problem.is_permanent());
    assert_eq!(failure.reason, "telegram answered HTTP 200 with \"ok\": false Bad Request: nope");
}

#[test]
fn a_huge_error_answer_is_judged_by_its_status() {
    let api = FakeBotApi::start(TOKEN);
    let page = format!("<html>{}</html>", "Bad Gateway ".repeat(200_000));
    api.push([Reply::Raw { status: 502, body: page.clone() }, Reply::Raw { status: 502, body: page }]);
    let receipt = telegram(&api).deliver(&alert("x"), 0).unwrap();
    assert_eq!(receipt.message_ids, [1]);
    assert_eq!(
        api.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(502), Some(502), Some(200)]
    );
    api.set_default(Reply::Raw {
        status: 401,
        body: format!("{{\"description\": \"{}", "x".repeat(1 << 20)),
    });
    let failure = telegram(&api).deliver(&alert("x"), 0).unwrap_err();
    assert_eq!(
        (failure.problem, failure.reason.as_str()),
        (Problem::Unauthorized, "telegram rejected the bot token: HTTP 401")
    );
}
