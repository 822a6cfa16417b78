//! The alerting part of services.json and the environment, and the alerter built from them.
#![allow(clippy::float_cmp)] // defaults are exact values, compared exactly

use std::path::Path;

use ops_kit::{Config, ConfigError, Env, Layout, Secret, alert};
use serde_json::json;

fn parse_with(json: &str, env: &Env) -> Result<ops_kit::Loaded, ConfigError> {
    Config::parse(Path::new("services.json"), json.as_bytes(), env)
}

fn parse(json: &str) -> Result<ops_kit::Loaded, ConfigError> {
    parse_with(json, &Env::default())
}

fn problems(json: &str) -> Vec<String> {
    match parse(json) {
        Err(ConfigError::Invalid { problems, .. }) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected validation problems, got {other}"),
        Ok(_) => panic!("expected validation problems, got a valid config"),
    }
}

fn layout() -> Layout {
    Layout::from_env(&Env { agent_ops_home: Some("/srv/ops".into()), ..Env::default() }).unwrap()
}

#[test]
fn new_alerting_fields_have_defaults() {
    let a = parse("{}").unwrap().config.alerting;
    assert_eq!(a.telegram_api_url, "https://api.telegram.org");
    assert_eq!(a.timeout, std::time::Duration::from_secs(10));
    assert!(a.webhooks.is_empty());
}

#[test]
fn the_api_url_comes_from_the_file_or_the_environment() {
    let json = r#"{"alerting": {"telegram_api_url": "http://127.0.0.1:8081", "timeout_seconds": 2.5}}"#;
    let a = parse(json).unwrap().config.alerting;
    assert_eq!(
        (a.telegram_api_url.as_str(), a.timeout),
        ("http://127.0.0.1:8081", std::time::Duration::from_millis(2500))
    );
    let env = Env::from_lookup(|k| (k == "TELEGRAM_API_URL").then(|| "https://bots.internal".into()));
    assert_eq!(env.telegram_api_url.as_deref(), Some("https://bots.internal"));
    assert_eq!(parse_with(json, &env).unwrap().config.alerting.telegram_api_url, "https://bots.internal");
    assert_eq!(
        problems(r#"{"alerting": {"telegram_api_url": "api.telegram.org"}}"#),
        [
            r#"alerting: field `telegram_api_url`: must be an http:// or https:// URL with a host, got "api.telegram.org""#
        ]
    );
    assert_eq!(
        problems(r#"{"alerting": {"timeout_seconds": 0}}"#),
        ["alerting: field `timeout_seconds`: must be greater than 0, got 0"]
    );
}

#[test]
fn webhooks_are_read_with_their_templates_and_secrets() {
    let json = r#"{"alerting": {"webhooks": [
        {"name": "slack", "url": "https://hooks.slack.com/services/T0/B0/XXX"},
        {"name": "ntfy", "url": "https://ntfy.sh/", "body": {"topic": "ops", "message": "{message}"},
         "headers": {"Authorization": "Bearer tk_secret"}, "max_chars": 4000}
    ]}}"#;
    let loaded = parse(json).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let hooks = loaded.config.alerting.webhooks;
    assert_eq!(hooks.len(), 2);
    assert_eq!(
        (hooks[0].name.as_str(), hooks[0].url.expose()),
        ("slack", "https://hooks.slack.com/services/T0/B0/XXX")
    );
    assert_eq!((hooks[0].body.as_ref(), hooks[0].max_chars), (None, None));
    assert_eq!(hooks[1].body, Some(json!({"topic": "ops", "message": "{message}"})));
    assert_eq!(hooks[1].headers, [("Authorization".to_owned(), Secret::new("Bearer tk_secret"))]);
    assert_eq!(hooks[1].max_chars, Some(4000));
    let debug = format!("{hooks:?}");
    assert!(!debug.contains("XXX") && !debug.contains("tk_secret"), "secrets never in Debug: {debug}");
}

#[test]
fn webhook_problems_name_the_webhook_and_field_but_never_the_url() {
    let p = problems(
        r#"{"alerting": {"webhooks": [
            {"url": "https://a/"},
            {"name": "x"},
            {"name": "bad", "url": "ftp://secret-host/path"},
            {"name": "dup", "url": "https://a/"},
            {"name": "dup", "url": "https://b/", "headers": {"X-Key": 5}, "max_chars": 0},
            7
        ]}}"#,
    );
    assert_eq!(
        p,
        [
            "alerting.webhooks[0]: field `name`: is required",
            "alerting.webhooks[1] \"x\": field `url`: is required",
            "alerting.webhooks[2] \"bad\": field `url`: must be an http:// or https:// URL with a host",
            "alerting.webhooks[4] \"dup\": field `headers`: the value of \"X-Key\" must be a string",
            "alerting.webhooks[4] \"dup\": field `max_chars`: must be an integer from 1 to 1000000, got 0",
            "alerting.webhooks[4] \"dup\": field `name`: duplicate name, already used by alerting.webhooks[3]",
            "alerting.webhooks[5]: must be an object like {\"name\": ..., \"url\": ...}, got a number",
        ]
    );
    assert!(!p.join("\n").contains("secret-host"));
}

#[test]
fn unknown_alerting_and_webhook_keys_are_warnings_with_suggestions() {
    let json = r#"{"alerting": {"telegram_api_ulr": "x", "webhooks": [{"name": "a", "url": "https://a/", "max_char": 9}]}}"#;
    let warnings: Vec<String> = parse(json).unwrap().warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "alerting.webhooks[0] \"a\": field `max_char`: is not a known field (did you mean `max_chars`?); it is ignored",
            "alerting: field `telegram_api_ulr`: is not a known field (did you mean `telegram_api_url`?); it is ignored",
        ]
    );
}

#[test]
fn the_alerter_needs_a_destination_and_says_where_to_set_one() {
    let err = |json: &str| alert::alerter(&parse(json).unwrap().config, &layout()).unwrap_err().to_string();
    let none = err("{}");
    for name in [
        "alerting.telegram_bot_token",
        "alerting.telegram_chat_id",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_CHAT_ID",
        "alerting.webhooks",
    ] {
        assert!(none.contains(name), "{name}: {none}");
    }
    assert!(none.starts_with("services.json: alerting: "), "{none}");
    let no_chat = err(r#"{"alerting": {"telegram_bot_token": "1:a"}}"#);
    assert!(
        no_chat.contains("alerting.telegram_chat_id") && no_chat.contains("TELEGRAM_CHAT_ID"),
        "{no_chat}"
    );
    let no_token = err(r#"{"alerting": {"telegram_chat_id": 5}}"#);
    assert!(
        no_token.contains("alerting.telegram_bot_token") && no_token.contains("TELEGRAM_BOT_TOKEN"),
        "{no_token}"
    );
    let placeholder =
        err(r#"{"alerting": {"telegram_bot_token": "YOUR_BOT_TOKEN", "telegram_chat_id": "YOUR_CHAT_ID"}}"#);
    assert!(
        placeholder.contains("does not look like a bot token") && !placeholder.contains("YOUR_BOT_TOKEN"),
        "{placeholder}"
    );
}

#[test]
fn the_alerter_keeps_its_files_in_the_state_directory() {
    let json = r#"{"alerting": {"telegram_bot_token": "1:abc", "telegram_chat_id": -100, "rate_limit_seconds": 60,
                  "webhooks": [{"name": "mm", "url": "https://chat.example/hooks/x"}]}}"#;
    let a = alert::alerter(&parse(json).unwrap().config, &layout()).unwrap();
    let destinations: Vec<&str> = a.notifiers().iter().map(|n| n.destination()).collect();
    assert_eq!(destinations, ["telegram", "webhook:mm"]);
    assert_eq!(a.outbox().path, Path::new("/srv/ops/state/alert-outbox.jsonl"));
    assert_eq!(a.rate().file.path, Path::new("/srv/ops/state/alert-rate.json"));
    assert_eq!(a.rate().limit, std::time::Duration::from_secs(60));
    let hooks_only = r#"{"alerting": {"webhooks": [{"name": "mm", "url": "https://chat.example/hooks/x"}]}}"#;
    assert_eq!(alert::alerter(&parse(hooks_only).unwrap().config, &layout()).unwrap().notifiers().len(), 1);
}

#[test]
fn without_services_json_the_environment_is_enough_for_alerting() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
    let layout = Layout::from_env(&env).unwrap();
    let err = alert::load(&layout, &env).unwrap_err().to_string();
    for name in
        ["alerting.telegram_bot_token", "alerting.telegram_chat_id", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"]
    {
        assert!(err.contains(name), "{name}: {err}");
    }
    let start = format!("{}: alerting: there is no configuration file", layout.config.display());
    assert!(err.starts_with(&start), "{err}");
    env.telegram_bot_token = Some(Secret::new("1:abc"));
    assert!(
        matches!(alert::load(&layout, &env), Err(ConfigError::Alerting { .. })),
        "a chat id is needed too"
    );
    env.telegram_chat_id = Some("42".into());
    let loaded = alert::load(&layout, &env).unwrap();
    assert_eq!(loaded.config.alerting.telegram_chat_id.as_deref(), Some("42"));
}

/// The ```json blocks of a markdown file.
fn json_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_webhook_recipes_in_the_docs_parse_and_fill_every_placeholder() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/alerting.md");
    let blocks = json_blocks(&std::fs::read_to_string(path).unwrap());
    assert_eq!(blocks.len(), 4, "Slack, Discord, Mattermost, ntfy");
    let sample = ops_alert::Alert {
        level: ops_alert::Level::Error,
        topic: Some("api".into()),
        message: "my_service <down> & out".into(),
    };
    for (block, name) in blocks.iter().zip(["slack", "discord", "mattermost", "ntfy"]) {
        let loaded = parse(block).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
        let a = alert::alerter(&loaded.config, &layout()).unwrap();
        assert_eq!(a.notifiers()[0].destination(), format!("webhook:{name}"));
        let body = a.notifiers()[0].preview(&sample)[0].body.to_string();
        assert!(body.contains("my_service"), "{name}: {body}");
        assert!(
            !body.contains("{text") && !body.contains("{message") && !body.contains("{level"),
            "{name}: {body}"
        );
    }
}
