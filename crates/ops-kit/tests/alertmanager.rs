//! Alertmanager as a channel across passes, with the passes' clock set by the test: a service
//! really down (a closed port on 127.0.0.1), the fake Bot API for Telegram beside it, and a
//! loopback fake of Alertmanager's API that records what it is posted.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ops_kit::pass::{Clock, Mode, Options, PassReport, run_pass_with};
use ops_kit::{Config, Env, Layout};
use serde_json::Value;
use test_support::{FakeBotApi, FakeWebhook};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TOKEN: &str = "123456:ALERTMANAGER-token";

struct World {
    _dir: tempfile::TempDir,
    layout: Layout,
    env: Env,
    config: Config,
    api: FakeBotApi,
    am: FakeWebhook,
    now: Arc<AtomicI64>,
    start: i64,
    services: String,
    /// More keys of `alerting.alertmanager` (`, "fallback": [...]`).
    am_extra: String,
}

impl World {
    fn new(services: &str) -> Self {
        Self::with(services, "")
    }

    fn with(services: &str, am_extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let api = FakeBotApi::start(TOKEN);
        let am = FakeWebhook::start();
        let config = Self::config(services, am_extra, &env, &api, &am.url("am"));
        let start = OffsetDateTime::now_utc().unix_timestamp();
        let now = Arc::new(AtomicI64::new(start));
        let (services, am_extra) = (services.to_owned(), am_extra.to_owned());
        Self { _dir: dir, layout, env, config, api, am, now, start, services, am_extra }
    }

    /// The configuration with Alertmanager at `am_url`.
    fn config(services: &str, am_extra: &str, env: &Env, api: &FakeBotApi, am_url: &str) -> Config {
        let json = format!(
            r#"{{"services": [{services}], "disk_paths": [], "restart_grace_seconds": 0, "check_interval_seconds": 60,
                "stalled_task_hours": 0.01,
                "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}",
                              "timeout_seconds": 5,
                              "alertmanager": {{"urls": ["{}"], "labels": {{"team": "ops"}}, "instance": "web-1"{am_extra}}}}}}}"#,
            api.url(),
            am_url
        );
        Config::parse(Path::new("services.json"), json.as_bytes(), env).unwrap().config
    }

    /// Alertmanager moved to `url` (the outbox's entries go to the channel, wherever it is).
    fn move_alertmanager(&mut self, url: &str) {
        self.config = Self::config(&self.services, &self.am_extra, &self.env, &self.api, url);
    }

    /// A pass at `minutes` after the start, without a warning.
    fn pass_at(&self, minutes: i64) -> PassReport {
        let report = self.run_at(minutes);
        assert_eq!(report.warnings().count(), 0, "{:?}", report.log);
        report
    }

    /// A pass at `minutes` after the start.
    fn run_at(&self, minutes: i64) -> PassReport {
        self.now.store(self.start + minutes * 60, Ordering::SeqCst);
        let now = Arc::clone(&self.now);
        let clock: Clock =
            Arc::new(move || OffsetDateTime::from_unix_timestamp(now.load(Ordering::SeqCst)).unwrap());
        let options = Options { clock, ..Options::new(Mode::Real) };
        run_pass_with(&self.layout, &self.env, &self.config, &options).unwrap()
    }

    /// The alerts of each request Alertmanager got, from request `from` on.
    fn posted(&self, from: usize) -> Vec<Vec<Value>> {
        let requests = self.am.requests();
        requests[from.min(requests.len())..]
            .iter()
            .map(|r| {
                assert!(r.path.ends_with("/am/api/v2/alerts"), "{}", r.path);
                r.body.as_array().unwrap().clone()
            })
            .collect()
    }

    fn at(&self, minutes: i64) -> String {
        OffsetDateTime::from_unix_timestamp(self.start + minutes * 60).unwrap().format(&Rfc3339).unwrap()
    }
}

fn closed_port() -> u16 {
    test_support::closed_port()
}

/// Down: Alertmanager gets the alert with the documented labels and its start; at every later
/// pass the same alert again (Alertmanager resolves what it is not told again), each ending
/// three intervals (at least 5 minutes) past that pass; back up, the alert with `endsAt` at the
/// recovery. Telegram gets its one message and its recovery as before.
#[test]
fn an_outage_fires_at_every_pass_then_resolves_at_the_recovery() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let w =
        World::new(&format!(r#"{{"name": "API", "type": "port", "port": {port}, "severity": "critical"}}"#));
    assert_eq!(w.config.default_channels(), ["telegram", "alertmanager"]);

    w.pass_at(0);
    let first = w.posted(0);
    assert_eq!(first.len(), 1, "{first:?}");
    let alert = &first[0][0];
    assert_eq!(
        alert["labels"],
        serde_json::json!({"alertname": "AgentOpsServiceDown", "service": "API", "severity": "critical",
                           "check_type": "port", "team": "ops", "instance": "web-1"})
    );
    assert_eq!(alert["startsAt"], w.at(0));
    assert_eq!(alert["endsAt"], w.at(5), "at least 5 minutes");
    assert!(alert["annotations"]["summary"].as_str().unwrap().starts_with("API: "), "{alert}");

    for minute in [1, 2, 3] {
        let before = w.am.requests().len();
        w.pass_at(minute);
        let again = w.posted(before);
        assert_eq!(again.len(), 1, "minute {minute}: {again:?}");
        assert_eq!(again[0].len(), 1);
        assert_eq!(
            (&again[0][0]["labels"], &again[0][0]["startsAt"]),
            (&alert["labels"], &alert["startsAt"])
        );
        assert_eq!(again[0][0]["endsAt"], w.at(minute + 5));
    }
    assert_eq!(w.api.delivered().len(), 1, "Telegram: one message for one outage");

    // Back up at minute 4.
    let up = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let before = w.am.requests().len();
    w.pass_at(4);
    let resolved = w.posted(before);
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0][0]["labels"], alert["labels"]);
    assert_eq!(resolved[0][0]["endsAt"], w.at(4), "resolved when it recovered");
    let before = w.am.requests().len();
    w.pass_at(5);
    assert!(w.posted(before).is_empty(), "nothing firing, nothing said");
    assert_eq!(w.api.delivered().len(), 2, "Telegram: the recovery");
    drop(up);
}

/// Alertmanager unreachable for a while: the alerts wait in the outbox (one per episode, not one
/// per pass), Telegram is not held up; back, the current state goes out at once, and an outage
/// that began and ended meanwhile is sent resolved.
#[test]
fn while_alertmanager_is_down_the_outbox_keeps_one_entry_per_episode() {
    let (a, b) = (closed_port(), closed_port());
    let mut w = World::new(&format!(
        r#"{{"name": "A", "type": "port", "port": {a}}}, {{"name": "B", "type": "port", "port": {b}}}"#
    ));
    let here = w.am.url("am");
    w.move_alertmanager(&format!("http://127.0.0.1:{}", closed_port()));
    w.pass_at(0);
    w.pass_at(1);
    let b_up = TcpListener::bind(("127.0.0.1", b)).unwrap();
    w.pass_at(2);
    w.pass_at(3);
    let outbox = std::fs::read_to_string(w.layout.alert_outbox()).unwrap();
    let for_am: Vec<Value> = outbox
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["destination"] == "alertmanager")
        .collect();
    let kinds: Vec<(&str, &str)> = for_am
        .iter()
        .map(|e| (e["event"]["labels"]["service"].as_str().unwrap(), e["event"]["kind"].as_str().unwrap()))
        .collect();
    // Transitions are never dropped; of the re-sendings, only the latest is kept.
    assert_eq!(kinds, [("A", "opened"), ("B", "opened"), ("B", "closed"), ("A", "reminder")], "{for_am:#?}");
    assert_eq!(w.api.delivered().len(), 2, "Telegram: one message for A and B down, one for B's recovery");
    assert!(w.am.requests().is_empty());

    // Back: everything waiting goes out in one request, with A's state of this pass.
    w.move_alertmanager(&here);
    w.pass_at(4);
    let sent = w.posted(0);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let ends = |service: &str| {
        let alert = sent[0].iter().find(|x| x["labels"]["service"] == service).unwrap();
        (alert["startsAt"].as_str().unwrap().to_owned(), alert["endsAt"].as_str().unwrap().to_owned())
    };
    assert_eq!(ends("B"), (w.at(0), w.at(2)), "B's outage, resolved when it recovered");
    assert_eq!(ends("A"), (w.at(0), w.at(9)), "A still firing, told at this pass");
    assert!(std::fs::read_to_string(w.layout.alert_outbox()).unwrap_or_default().trim().is_empty());
    drop(b_up);
}

/// The outbox cannot be written (a full disk, here a directory in its place): the pass sends
/// directly, and Alertmanager still gets the outage's alert (not an `AgentOpsMessage` note with
/// its words), firing, then resolved at the recovery.
#[test]
fn sent_directly_when_the_outbox_cannot_be_written_alertmanager_still_gets_the_outage() {
    let port = closed_port();
    let w = World::new(&format!(r#"{{"name": "API", "type": "port", "port": {port}}}"#));
    std::fs::create_dir_all(w.layout.alert_outbox()).unwrap();
    let report = w.run_at(0);
    assert!(report.warnings().count() > 0, "the outbox's trouble is said: {:?}", report.log);
    let sent = w.posted(0);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let alert = &sent[0][0];
    assert_eq!(
        (alert["labels"]["alertname"].as_str(), alert["labels"]["service"].as_str()),
        (Some("AgentOpsServiceDown"), Some("API")),
        "{alert}"
    );
    assert_eq!((&alert["startsAt"], &alert["endsAt"]), (&w.at(0).into(), &w.at(5).into()));
    assert_eq!(w.api.delivered().len(), 1, "Telegram: its message");

    let up = TcpListener::bind(("127.0.0.1", port)).unwrap();
    w.run_at(1);
    let sent = w.posted(1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0][0]["labels"], alert["labels"]);
    assert_eq!(sent[0][0]["endsAt"], w.at(1), "resolved when it recovered");
    drop(up);
}

/// A task stalled in progress is an `AgentOpsTaskStalled` alert, told to Alertmanager at every
/// pass (Telegram hears of it once), and resolved when the task moves on.
#[test]
fn a_stalled_task_fires_while_it_is_stalled_and_resolves_when_it_moves() {
    let w = World::new("");
    let board = ops_board::BoardFile::new(w.layout.board()).unwrap();
    let task = board
        .add(&ops_board::NewTask { owner: "ops-agent".into(), ..ops_board::NewTask::new("Rotate keys") })
        .unwrap();
    board.move_task(&task.id, "in-progress").unwrap();
    let stalled = |alerts: &[Value]| -> Vec<(String, String)> {
        alerts
            .iter()
            .filter(|a| a["labels"]["alertname"] == "AgentOpsTaskStalled")
            .map(|a| {
                (a["labels"]["task"].as_str().unwrap().to_owned(), a["endsAt"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    for minute in [1, 2, 3] {
        let before = w.am.requests().len();
        w.pass_at(minute);
        let sent = w.posted(before).concat();
        assert_eq!(stalled(&sent), [(task.id.clone(), w.at(minute + 5))], "minute {minute}: {sent:?}");
    }
    assert_eq!(w.api.delivered().len(), 1, "Telegram: once");
    board.move_task(&task.id, "done").unwrap();
    let before = w.am.requests().len();
    w.pass_at(4);
    let sent = w.posted(before).concat();
    assert_eq!(stalled(&sent), [(task.id.clone(), w.at(4))], "resolved when it moved on: {sent:?}");
    let before = w.am.requests().len();
    w.pass_at(5);
    assert!(stalled(&w.posted(before).concat()).is_empty());
}

/// With Telegram as Alertmanager's fallback: an outage that opens while Alertmanager cannot be
/// reached is told to Telegram, and so is its recovery, even though Alertmanager was back by
/// then (and Telegram hears it once, not again from the fallback).
#[test]
fn an_outage_whose_opening_fell_back_has_its_recovery_told_there_too() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut w = World::with(
        &format!(r#"{{"name": "API", "type": "port", "port": {port}}}"#),
        r#", "fallback": ["telegram"]"#,
    );
    assert_eq!(w.config.default_channels(), ["alertmanager"]);
    let here = w.am.url("am");
    w.move_alertmanager(&format!("http://127.0.0.1:{}", closed_port()));
    w.pass_at(0);
    let chat = |w: &World| -> Vec<String> { w.api.delivered().into_iter().map(|d| d.displayed).collect() };
    assert_eq!(chat(&w).len(), 1, "the opening fell back: {:?}", chat(&w));
    assert!(chat(&w)[0].contains("API: "), "{:?}", chat(&w));
    w.move_alertmanager(&here);
    w.pass_at(1);
    assert_eq!(chat(&w).len(), 1, "Alertmanager is back: nothing more for Telegram");
    assert_eq!(w.posted(0).concat()[0]["labels"]["service"], "API");
    let up = TcpListener::bind(("127.0.0.1", port)).unwrap();
    w.pass_at(2);
    assert_eq!(chat(&w).len(), 2, "the recovery: {:?}", chat(&w));
    assert!(chat(&w)[1].contains("API was down"), "{:?}", chat(&w));
    w.pass_at(3);
    assert_eq!(chat(&w).len(), 2);
    drop(up);

    // Down and back while Alertmanager is away: Telegram hears the opening (fallen back) and
    // the recovery once.
    w.move_alertmanager(&format!("http://127.0.0.1:{}", closed_port()));
    drop(TcpListener::bind(("127.0.0.1", port)));
    let down = chat(&w).len();
    w.pass_at(10);
    let up = TcpListener::bind(("127.0.0.1", port)).unwrap();
    w.pass_at(11);
    let heard: Vec<String> = chat(&w).into_iter().skip(down).collect();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(heard[1].contains("API was down"), "{heard:?}");
    drop(up);
}
