//! Properties of what goes to Telegram, for any message (proptest): every part is valid for
//! the parse mode it is sent in (Telegram's strict HTML parser, or none), at most 4096 UTF-16
//! units once the entities are parsed, and the parts, read in order, show exactly the message.
//! The parsers are test-support's, which behave like Telegram's.

use std::time::Duration;

use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::text::{TELEGRAM_MAX_LEN, TITLE, telegram_parts, utf16_len};
use ops_alert::{Alert, Level, Notifier, RetryPolicy, Secret};
use proptest::prelude::*;
use test_support::{FakeBotApi, html_to_text};

const TOKEN: &str = "123456789:AAH-property_Token_0123456789abcdef";

fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

/// Messages of every shape: any Unicode, markup characters of every parse mode, line breaks,
/// and runs long enough to be split (characters of one, two and three bytes, and emoji, which
/// are two UTF-16 units).
fn message() -> impl Strategy<Value = String> {
    let run = (prop::sample::select(vec!['x', ' ', '\n', 'é', '中', '🚨', '<', '&', '>']), 1..5000usize)
        .prop_map(|(c, n)| std::iter::repeat_n(c, n).collect::<String>());
    let piece =
        prop_oneof![any::<String>(), "[<>&\"'_*`\\[\\]()~|#\\\\ \n]{0,40}", "([a-z_]{1,12} ){0,30}\n", run,];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// The title line of part `i` (1-based) of `n`, and the blank line after it.
fn header(level: Level, i: usize, n: usize) -> String {
    let numbering = if n == 1 { String::new() } else { format!(" ({i}/{n})") };
    format!("{} {TITLE}{numbering}\n\n", level.prefix())
}

/// Whether `text` is `bodies` in order, each boundary either a line break the split was made
/// on or nothing (a line too long for one message was cut there).
fn joins(bodies: &[String], text: &str) -> bool {
    match bodies {
        [] => text.is_empty(),
        [last] => text == last,
        [first, rest @ ..] => text.strip_prefix(first.as_str()).is_some_and(|after| {
            joins(rest, after) || after.strip_prefix('\n').is_some_and(|after| joins(rest, after))
        }),
    }
}

/// What a reader of the chat sees, part by part: valid, within the limit, titled, and together
/// exactly the message.
fn check_displayed(level: Level, message: &str, displayed: &[String]) -> Result<(), TestCaseError> {
    let n = displayed.len();
    prop_assert!(n >= 1);
    let mut bodies = Vec::new();
    for (i, text) in displayed.iter().enumerate() {
        prop_assert!(
            utf16_len(text) <= TELEGRAM_MAX_LEN,
            "part {} is {} UTF-16 units",
            i + 1,
            utf16_len(text)
        );
        let head = header(level, i + 1, n);
        let body = text.strip_prefix(&head);
        prop_assert!(body.is_some(), "part {} does not start with {head:?}", i + 1);
        bodies.push(body.unwrap_or_default().to_owned());
    }
    prop_assert!(joins(&bodies, message), "the parts do not show the message: {bodies:?}");
    Ok(())
}

proptest! {
    /// The parts as built: the HTML parses (Telegram's strict rules) to exactly the plain text,
    /// which is what the plain-text fallback sends.
    #[test]
    fn every_part_is_valid_html_within_the_limit_and_together_they_show_the_message(
        level in level(),
        message in message(),
    ) {
        let alert = Alert { level, topic: None, message: message.clone() };
        let parts = telegram_parts(&alert);
        for part in &parts {
            let shown = html_to_text(&part.html);
            prop_assert_eq!(shown.as_deref(), Ok(part.plain.as_str()), "{:?}", part.html);
        }
        let displayed: Vec<String> = parts.into_iter().map(|p| p.plain).collect();
        check_displayed(level, &message, &displayed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// What is really sent, through the notifier to a fake Bot API that parses each request's
    /// text in its parse mode and enforces the limit as Telegram does.
    #[test]
    fn what_the_bot_api_receives_is_accepted_and_shows_the_message(level in level(), message in message()) {
        let api = FakeBotApi::start(TOKEN);
        let telegram = Telegram::new(TelegramConfig {
            api_url: api.url(),
            token: Secret::new(TOKEN),
            chat_id: "-1001234567890".into(),
            retry: RetryPolicy { request_timeout: Duration::from_secs(10), ..RetryPolicy::default() },
        })
        .unwrap();
        let alert = Alert { level, topic: None, message: message.clone() };
        let receipt = telegram.deliver(&alert, 0);
        prop_assert!(receipt.is_ok(), "{:?}", receipt);
        let delivered = api.delivered();
        prop_assert!(delivered.iter().all(|d| d.parse_mode.as_deref() == Some("HTML")), "no plain-text fallback was needed");
        let displayed: Vec<String> = delivered.into_iter().map(|d| d.displayed).collect();
        check_displayed(level, &message, &displayed)?;
    }
}
