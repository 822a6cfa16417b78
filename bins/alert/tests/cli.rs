//! The `alert` binary as a user runs it, against a fake Bot API on 127.0.0.1 that answers with
//! Telegram's shapes: every "what must be shown" case of the alerting issue, and in each one
//! the token is searched for in every byte the program printed or wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};
use test_support::{FakeBotApi, FakeWebhook, Reply, closed_port, require_seed};

const TOKEN: &str = "7012345678:AAF-xK9_secretTokenValue-Q2w3E4r5T6y7";
const SECRET_HALF: &str = "AAF-xK9_secretTokenValue-Q2w3E4r5T6y7";
const CHAT: &str = "-1001122334455";
const WAIT: Duration = Duration::from_secs(20);

/// A sandbox HOME with `~/.agent-ops`, as both the Python kit and `alert` find it.
struct Sandbox {
    dir: tempfile::TempDir,
    /// Whether services.json holds the token (then it is left out of the search).
    token_in_config: bool,
}

impl Sandbox {
    /// A config pointing at `api`, the token given in the environment only.
    fn new(api: &FakeBotApi, extra_alerting: &str) -> Self {
        let sb = Self { dir: tempfile::tempdir().unwrap(), token_in_config: false };
        sb.write_config(&format!(
            r#"{{"alerting": {{"telegram_chat_id": {CHAT}, "telegram_api_url": "{}"{extra_alerting}}}}}"#,
            api.url()
        ));
        sb
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join(".agent-ops")
    }

    fn write_config(&self, json: &str) {
        let path = self.base().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, json).unwrap();
    }

    fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("alert").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path());
        if !self.token_in_config {
            cmd.env("TELEGRAM_BOT_TOKEN", TOKEN);
        }
        cmd
    }

    /// Runs `alert ARGS`, then searches its output and every file under HOME for the token.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        self.assert_no_token(&out);
        out
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let out = self.command().args(args).write_stdin(stdin.as_bytes().to_vec()).output().unwrap();
        self.assert_no_token(&out);
        out
    }

    fn assert_no_token(&self, out: &Output) {
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert_clean(what, bytes);
        }
        let config = self.base().join("config/services.json");
        for file in files_under(self.dir.path()) {
            if self.token_in_config && file == config {
                continue;
            }
            assert_clean(&file.display().to_string(), &fs::read(&file).unwrap());
        }
    }

    fn outbox(&self) -> Vec<Value> {
        fs::read_to_string(self.base().join("state/alert-outbox.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn rate_state(&self) -> Value {
        serde_json::from_slice(&fs::read(self.base().join("state/alert-rate.json")).unwrap()).unwrap()
    }
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in [TOKEN, SECRET_HALF, &TOKEN.replace(':', "%3A")] {
        assert!(!text.contains(secret), "the token is in {what}:\n{text}");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn shown(api: &FakeBotApi) -> Vec<String> {
    api.delivered().into_iter().map(|d| d.displayed).collect()
}

#[test]
fn success_is_silent_and_markup_characters_arrive_as_written() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    let message = "Checks failed:\n- my_service_v2 *prod* [eu] (db) `pg` <primary> & replica: HTTP 503\n- a_b: 1 < 2 > 0 && x";
    let out = sb.run(&["send", message, "--level", "error", "--topic", "health-check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("", ""), "silent on success, as the seed");
    assert_eq!(shown(&api), [format!("[ERROR] Agent Ops Alert\n\n{message}")]);
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "accepted at once in HTML mode: everything was escaped");
    let request = &requests[0];
    assert_eq!(request.body["parse_mode"], "HTML");
    assert_eq!(request.body["chat_id"], json!(-1_001_122_334_455_i64));
    assert_eq!(request.body["link_preview_options"]["is_disabled"], true);
    assert!(sb.rate_state()["health-check"].as_f64().is_some());
    assert!(sb.outbox().is_empty());
}

#[test]
fn every_level_has_the_seed_prefix() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    for level in ["info", "warning", "error", "recovery"] {
        assert_eq!(sb.run(&["send", "x", "--level", level]).status.code(), Some(0));
    }
    assert_eq!(sb.run(&["send", "default level"]).status.code(), Some(0));
    assert_eq!(
        api.titles(),
        [
            "[INFO] Agent Ops Alert",
            "[WARNING] Agent Ops Alert",
            "[ERROR] Agent Ops Alert",
            "[RECOVERED] Agent Ops Alert",
            "[INFO] Agent Ops Alert"
        ]
    );
}

#[test]
fn a_parse_error_is_resent_once_as_plain_text() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::parse_error()]);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["send", "db_primary <down>"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body.get("parse_mode"), None);
    assert_eq!(shown(&api), ["[INFO] Agent Ops Alert\n\ndb_primary <down>"]);
}

#[test]
fn a_10000_character_report_from_stdin_is_split_into_numbered_parts() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    let lines: Vec<String> =
        (0..250).map(|i| format!("service_{i:03} <down> & {}", "x".repeat(18))).collect();
    let report = lines.join("\n") + "!";
    assert_eq!(report.chars().count(), 10_000);
    let out = sb.run_with_stdin(&["send", "-", "--topic", "daily"], &format!("{report}\n"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let parts = shown(&api);
    assert_eq!(parts.len(), 3);
    let mut body = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.encode_utf16().count() <= 4096);
        body.push(p.strip_prefix(&format!("[INFO] Agent Ops Alert ({}/3)\n\n", i + 1)).unwrap().to_owned());
    }
    assert_eq!(body.join("\n"), report);
}

#[test]
fn flood_control_is_waited_out() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::retry_after(1)]);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["send", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [Some(429), Some(200)]);
}

#[test]
fn a_server_error_then_success_delivers_once() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::server_error()]);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["send", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [Some(500), Some(200)]);
    assert_eq!(api.delivered().len(), 1);
}

#[test]
fn a_server_that_never_answers_queues_the_alert_and_flush_delivers_it_once() {
    let api = FakeBotApi::start(TOKEN);
    api.set_default(Reply::Hang);
    let sb = Sandbox::new(&api, r#", "timeout_seconds": 0.3"#);
    let out = sb.run(&["send", "API down", "--level", "error", "--topic", "api"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: not delivered to telegram: telegram: no answer within 0.3 s (3 attempts); queued in "
        ),
        "{err}"
    );
    assert!(err.contains("alert-outbox.jsonl") && err.contains("`alert flush`"), "{err}");
    assert_eq!(api.wait_for_requests(3, WAIT).len(), 3, "bounded retries");
    let queued = sb.outbox();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0]["message"].as_str(), queued[0]["level"].as_str()),
        (Some("API down"), Some("error"))
    );

    api.set_default(Reply::Emulate);
    let out = sb.run(&["flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Delivered 1 queued alert(s).\n");
    let out = sb.run(&["flush"]);
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "The outbox is empty.\n"));
    assert_eq!(shown(&api), ["[ERROR] Agent Ops Alert\n\nAPI down"], "delivered exactly once");
    assert!(sb.outbox().is_empty());
}

#[test]
fn queued_alerts_go_out_before_a_new_one() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, r#", "timeout_seconds": 5"#);
    api.push([Reply::server_error(), Reply::server_error(), Reply::server_error()]);
    assert_eq!(sb.run(&["send", "first"]).status.code(), Some(1));
    let out = sb.run(&["send", "second"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "note: delivered 1 earlier alert(s) from the outbox first\n");
    assert_eq!(shown(&api), ["[INFO] Agent Ops Alert\n\nfirst", "[INFO] Agent Ops Alert\n\nsecond"]);
}

#[test]
fn unauthorized_is_not_retried_and_names_the_settings() {
    let api = FakeBotApi::start(TOKEN);
    api.push([Reply::unauthorized()]);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["send", "x", "--topic", "t"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(api.requests().len(), 1, "401 is not retried");
    let err = stderr(&out);
    assert!(err.contains("telegram rejected the bot token: 401 Unauthorized"), "{err}");
    assert!(err.contains("alerting.telegram_bot_token or TELEGRAM_BOT_TOKEN"), "{err}");
    assert!(err.contains("kept in") && err.contains("`alert flush` delivers it once this is fixed"), "{err}");
    assert_eq!(sb.outbox().len(), 1, "kept until it can be delivered");
}

#[test]
fn a_wrong_token_in_the_config_file_is_never_shown() {
    let api = FakeBotApi::start("1:the-right-one");
    let mut sb = Sandbox::new(&api, "");
    sb.token_in_config = true;
    sb.write_config(&format!(
        r#"{{"alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "{CHAT}", "telegram_api_url": "{}"}}}}"#,
        api.url()
    ));
    for args in
        [&["send", "x"][..], &["test"], &["flush"], &["send", "--dry-run", "x"], &["flush", "--dry-run"]]
    {
        let out = sb.run(args);
        let dry_run = args.contains(&"--dry-run");
        assert_eq!(
            out.status.code(),
            Some(i32::from(!dry_run)),
            "{args:?}: a dry run succeeds, the wrong token fails"
        );
    }
}

#[test]
fn a_server_that_echoes_the_token_has_it_redacted_in_output_and_outbox() {
    let api = FakeBotApi::start(TOKEN);
    let echo = Reply::error(502, &format!("Bad Gateway: upstream failed for POST /bot{TOKEN}/sendMessage"));
    api.push([echo.clone(), echo.clone(), echo]);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["send", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("upstream failed for POST /bot[redacted]/sendMessage (3 attempts)"),
        "{}",
        stderr(&out)
    );
    let queued = sb.outbox();
    assert!(queued[0]["last_error"].as_str().unwrap().contains("/bot[redacted]/"), "{queued:?}");
}

#[test]
fn connection_refused_queues_without_naming_the_url() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    sb.write_config(&format!(
        r#"{{"alerting": {{"telegram_chat_id": {CHAT}, "telegram_api_url": "http://127.0.0.1:{}"}}}}"#,
        closed_port()
    ));
    let out = sb.run(&["send", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("telegram: connection refused (3 attempts); queued in"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("/bot"), "{}", stderr(&out));
}

#[test]
fn the_rate_limit_prints_the_seed_line_and_sends_nothing() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    assert_eq!(sb.run(&["send", "down", "--topic", "api"]).status.code(), Some(0));
    let out = sb.run(&["send", "still down", "--topic", "api"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "Rate limited: topic 'api' sent within last 300s. Skipping.\n");
    assert_eq!(api.requests().len(), 1);
}

#[test]
fn processes_sending_one_topic_at_once_deliver_exactly_one_message() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    let bin = assert_cmd::cargo::cargo_bin("alert");
    let children: Vec<_> = (0..8)
        .map(|i| {
            StdCommand::new(&bin)
                .env_clear()
                .env("HOME", sb.dir.path())
                .env("TELEGRAM_BOT_TOKEN", TOKEN)
                .args(["send", &format!("storm {i}"), "--topic", "same", "--level", "error"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        sb.assert_no_token(out);
    }
    let limited = outputs.iter().filter(|o| stdout(o).starts_with("Rate limited: topic 'same'")).count();
    assert_eq!(limited, 7);
    assert_eq!(api.delivered().len(), 1, "exactly one delivery");
    assert_eq!(api.requests().len(), 1);
}

#[test]
fn a_migrated_group_still_gets_the_alert_and_the_user_is_told() {
    let api = FakeBotApi::start(TOKEN);
    api.migrate_chat(CHAT, -1_009_876_543_210);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["send", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("warning: telegram: the Telegram group -1001122334455 became a supergroup"),
        "{err}"
    );
    assert!(
        err.contains("-1009876543210") && err.contains("alerting.telegram_chat_id or TELEGRAM_CHAT_ID"),
        "{err}"
    );
    assert_eq!(api.delivered()[0].chat_id, json!(-1_009_876_543_210_i64));
}

#[test]
fn missing_settings_exit_2_naming_config_keys_and_environment_variables() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    let run_without_token = |config: &str| {
        sb.write_config(config);
        let out = Command::cargo_bin("alert")
            .unwrap()
            .env_clear()
            .env("HOME", sb.dir.path())
            .args(["send", "x"])
            .output()
            .unwrap();
        sb.assert_no_token(&out);
        (out.status.code(), stderr(&out))
    };
    let (code, err) = run_without_token("{}");
    assert_eq!(code, Some(2));
    for name in
        ["alerting.telegram_bot_token", "alerting.telegram_chat_id", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"]
    {
        assert!(err.contains(name), "{name} in {err}");
    }
    let (code, err) = run_without_token(r#"{"alerting": {"telegram_bot_token": "1:a"}}"#);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no chat id: set alerting.telegram_chat_id in services.json or the TELEGRAM_CHAT_ID"),
        "{err}"
    );
    let (code, err) = run_without_token(
        r#"{"alerting": {"telegram_bot_token": "YOUR_BOT_TOKEN", "telegram_chat_id": "YOUR_CHAT_ID"}}"#,
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("alerting.telegram_bot_token (or TELEGRAM_BOT_TOKEN) does not look like a bot token"),
        "{err}"
    );
    assert!(!err.contains("YOUR_BOT_TOKEN"), "{err}");
    assert_eq!(api.requests().len(), 0);

    sb.write_config(&format!(
        r#"{{"alerting": {{"telegram_chat_id": {CHAT}, "telegram_api_url": "{}"}}}}"#,
        api.url()
    ));
    for args in [&["send", "x", "--level", "critical"][..], &["send"], &["explode"], &[]] {
        let out = sb.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn dry_run_sends_and_writes_nothing_and_redacts_the_token() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["--dry-run", "send", "a_b <c>", "--topic", "t", "--level", "warning"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("dry run: telegram: POST {}/bot[redacted]/sendMessage\n{{", api.url())),
        "{text}"
    );
    assert!(text.contains(r#""text": "[WARNING] <b>Agent Ops Alert</b>\n\na_b &lt;c&gt;""#), "{text}");
    assert_eq!(api.requests().len(), 0);
    assert!(!sb.base().join("state").exists(), "nothing written");
    let out = sb.run(&["test", "--dry-run"]);
    assert!(stdout(&out).contains("Test alert from agent-ops"), "{}", stdout(&out));
    assert_eq!(api.requests().len(), 0);
}

#[test]
fn alert_test_sends_now_and_reports_each_destination() {
    let api = FakeBotApi::start(TOKEN);
    let sb = Sandbox::new(&api, "");
    let out = sb.run(&["test"]);
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "telegram: test alert delivered (message 1)\n")
    );
    api.push([Reply::blocked()]);
    let out = sb.run(&["test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("403 Forbidden: bot was blocked by the user"), "{}", stderr(&out));
    assert!(sb.outbox().is_empty(), "a test alert is never queued");
}

#[test]
fn environment_alone_is_enough_and_overrides_the_api_url() {
    let api = FakeBotApi::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("alert")
        .unwrap()
        .env_clear()
        .env("HOME", dir.path())
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_CHAT_ID", "@ops_alerts")
        .env("TELEGRAM_API_URL", api.url())
        .args(["send", "from the environment"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.delivered()[0].chat_id, json!("@ops_alerts"));
}

#[test]
fn webhooks_receive_the_alert_too_and_their_urls_stay_secret() {
    let api = FakeBotApi::start(TOKEN);
    let hook = FakeWebhook::start();
    let url = hook.url("T01/B02/hooksecret");
    let sb = Sandbox::new(
        &api,
        &format!(
            r#", "webhooks": [{{"name": "discord", "url": "{url}", "body": {{"content": "{{text}}"}}, "max_chars": 2000}}]"#
        ),
    );
    let out = sb.run(&["send", "disk <low>", "--level", "warning"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = hook.wait_for_requests(1, WAIT);
    assert_eq!(got[0].body, json!({"content": "[WARNING] Agent Ops Alert\n\ndisk <low>"}));
    let out = sb.run(&["send", "--dry-run", "x"]);
    assert!(
        stdout(&out).contains("dry run: webhook:discord: POST [webhook discord URL [redacted]]"),
        "{}",
        stdout(&out)
    );
    hook.push(std::iter::repeat_n(test_support::HookReply::status(404), 1));
    let out = sb.run(&["send", "y"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: not delivered to webhook:discord: webhook discord answered HTTP 404: error"),
        "{err}"
    );
    assert!(!err.contains("hooksecret") && !stdout(&out).contains("hooksecret"), "{err}");
    for file in files_under(&sb.base().join("state")) {
        assert!(!fs::read_to_string(&file).unwrap().contains("hooksecret"), "{}", file.display());
    }
}

// -- The Python kit: interop and the bug we do not copy --------------------------------------------

/// Runs the Python kit's `agent_ops_alert.py ARGS` in `sb`'s HOME, pointed at `api`.
fn seed_alert(sb: &Sandbox, api: &FakeBotApi, args: &[&str]) -> Option<Output> {
    let (python, seed) = require_seed()?;
    let out = StdCommand::new(python)
        .arg(seed.join("agent_ops_alert.py"))
        .args(args)
        .env_clear()
        .env("HOME", sb.dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PYTHONPATH", seed.join("tg_redirect"))
        .env("AGENT_OPS_TG_BASE", api.url())
        .output()
        .unwrap();
    Some(out)
}

/// A sandbox whose services.json holds the token, as the Python kit needs.
fn seed_sandbox(api: &FakeBotApi) -> Sandbox {
    let mut sb = Sandbox::new(api, "");
    sb.token_in_config = true;
    sb.write_config(&format!(
        r#"{{"alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "{CHAT}", "telegram_api_url": "{}", "rate_limit_seconds": 300}}}}"#,
        api.url()
    ));
    sb
}

#[test]
fn a_rate_limit_recorded_by_the_seed_is_honoured_and_the_other_way_round() {
    let api = FakeBotApi::start(TOKEN);
    let sb = seed_sandbox(&api);
    let Some(seed_out) = seed_alert(&sb, &api, &["send", "from the seed", "--topic", "by-seed"]) else {
        return;
    };
    assert_eq!(seed_out.status.code(), Some(0), "{}", stderr(&seed_out));
    assert_eq!(api.delivered().len(), 1);
    let out = sb.run(&["send", "from us", "--topic", "by-seed"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "Rate limited: topic 'by-seed' sent within last 300s. Skipping.\n");
    assert_eq!(api.delivered().len(), 1, "the seed's record was honoured");

    let out = sb.run(&["send", "from us", "--topic", "by-us"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.delivered().len(), 2);
    let seed_out = seed_alert(&sb, &api, &["send", "from the seed", "--topic", "by-us"]).unwrap();
    assert_eq!(seed_out.status.code(), Some(0));
    assert_eq!(stdout(&seed_out), "Rate limited: topic 'by-us' sent within last 300s. Skipping.\n");
    assert_eq!(api.delivered().len(), 2, "our record was honoured by the seed");
    let rate = sb.rate_state();
    assert!(rate["by-seed"].is_f64() && rate["by-us"].is_f64(), "{rate}");
}

#[test]
fn the_seed_loses_an_underscore_alert_that_we_deliver() {
    let api = FakeBotApi::start(TOKEN);
    let sb = seed_sandbox(&api);
    let Some(seed_out) = seed_alert(&sb, &api, &["send", "my_service down", "--level", "error"]) else {
        return;
    };
    assert_eq!(seed_out.status.code(), Some(1), "the seed's legacy Markdown is refused");
    assert!(stderr(&seed_out).contains("can't parse entities"), "{}", stderr(&seed_out));
    assert_eq!(api.delivered().len(), 0);
    let out = sb.run(&["send", "my_service down", "--level", "error"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(shown(&api), ["[ERROR] Agent Ops Alert\n\nmy_service down"]);
}

/// Alerts use a proxy only as services.json or the proxy variables say (as the Python kit's
/// urllib did), per destination; `"proxy": null` goes directly whatever the environment says,
/// and no_proxy is honoured. The proxy here is a closed port, so "through the proxy" is "not
/// delivered"; its password is never shown.
#[test]
fn alerts_use_a_proxy_only_as_configured_or_as_the_proxy_variables_say() {
    let api = FakeBotApi::start(TOKEN);
    let proxy = format!("http://user:Pr0xyPassw0rdValue@127.0.0.1:{}", closed_port());
    let through = |sb: &Sandbox, env: &[(&str, &str)]| {
        let mut cmd = sb.command();
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.args(["send", "via proxy?"]).output().unwrap();
        sb.assert_no_token(&out);
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("Pr0xyPassw0rdValue"), "the proxy's password: {text}");
        out.status.code()
    };
    // No proxy key: the environment's variable is used (and fails here, so it was used) ...
    let sb = Sandbox::new(&api, "");
    assert_eq!(through(&sb, &[("http_proxy", &proxy)]), Some(1));
    assert_eq!(through(&sb, &[("ALL_PROXY", &proxy)]), Some(1));
    // ... unless no_proxy names the host; an https variable does not apply to an http URL.
    assert_eq!(through(&sb, &[("http_proxy", &proxy), ("no_proxy", "localhost,127.0.0.1")]), Some(0));
    assert_eq!(through(&sb, &[("https_proxy", &proxy)]), Some(0));
    // `"proxy": null`: directly, whatever the environment says.
    let direct = Sandbox::new(&api, r#", "proxy": null"#);
    assert_eq!(through(&direct, &[("http_proxy", &proxy)]), Some(0));
    // An explicit proxy is used, with no variable set.
    let explicit = Sandbox::new(&api, &format!(r#", "proxy": "{proxy}""#));
    assert_eq!(through(&explicit, &[]), Some(1));
    // The three direct runs delivered their own and, first, the two that the runs through the
    // proxy queued (one outbox per home: the first sandbox's).
    assert_eq!(api.delivered().len(), 5);
}
