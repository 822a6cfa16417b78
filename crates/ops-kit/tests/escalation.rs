//! Escalation, acknowledgement and a channel's outage across passes, with the passes' clock set
//! by the test (an hour passes without waiting one): services really down (closed ports on
//! 127.0.0.1), the fake Bot API for the main chat and a fake webhook as the pager.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ops_kit::pass::{Clock, Mode, Options, PassReport, run_pass_with};
use ops_kit::{Config, Env, Layout, ack};
use ops_state::StateFile;
use test_support::{FakeBotApi, FakeWebhook, Reply};
use time::OffsetDateTime;

const TOKEN: &str = "123456:ESCALATION-token";

struct World {
    _dir: tempfile::TempDir,
    layout: Layout,
    env: Env,
    config: Config,
    api: FakeBotApi,
    pager: FakeWebhook,
    now: Arc<AtomicI64>,
    start: i64,
}

impl World {
    fn new(service: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let api = FakeBotApi::start(TOKEN);
        let pager = FakeWebhook::start();
        let json = format!(
            r#"{{"services": [{service}], "disk_paths": [], "restart_grace_seconds": 0, "reminder_interval_seconds": 3600,
                "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}",
                              "timeout_seconds": 5, "webhooks": [{{"name": "pager", "url": "{}"}}]}}}}"#,
            api.url(),
            pager.url("page")
        );
        let config = Config::parse(Path::new("services.json"), json.as_bytes(), &env).unwrap().config;
        let start = OffsetDateTime::now_utc().unix_timestamp();
        Self { _dir: dir, layout, env, config, api, pager, now: Arc::new(AtomicI64::new(start)), start }
    }

    /// A pass at `minutes` after the start.
    fn pass_at(&self, minutes: i64) -> PassReport {
        self.pass_with(minutes, |o| o)
    }

    /// A pass at `minutes` after the start, with `options` changed.
    fn pass_with(&self, minutes: i64, options: impl FnOnce(Options) -> Options) -> PassReport {
        self.now.store(self.start + minutes * 60, Ordering::SeqCst);
        let now = Arc::clone(&self.now);
        let clock: Clock =
            Arc::new(move || OffsetDateTime::from_unix_timestamp(now.load(Ordering::SeqCst)).unwrap());
        let options = options(Options { clock, ..Options::new(Mode::Real) });
        let report = run_pass_with(&self.layout, &self.env, &self.config, &options).unwrap();
        assert_eq!(report.warnings().count(), 0, "{:?}", report.log);
        report
    }

    fn chat(&self) -> Vec<String> {
        self.api.delivered().into_iter().map(|d| d.displayed).collect()
    }

    fn pages(&self) -> Vec<String> {
        self.pager
            .requests()
            .into_iter()
            .map(|r| r.body["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// After 30 minutes down the pager hears of it, once, saying it is an escalation and for how
/// long; the main chat does not get the escalation; the recovery goes to both.
#[test]
fn an_outage_is_escalated_to_the_pager_after_the_set_time_once() {
    let port = test_support::closed_port();
    let w = World::new(&format!(
        r#"{{"name": "API", "type": "port", "port": {port}, "escalation": [{{"after_minutes": 30, "notify": ["pager"]}}]}}"#
    ));
    assert_eq!(w.config.default_channels(), ["telegram"], "the pager is kept for escalations");
    w.pass_at(0);
    assert_eq!(w.chat().len(), 1);
    assert!(
        w.chat()[0].starts_with("[ERROR] Agent Ops Alert\n\nHealth check failures:\n - API: port "),
        "{:?}",
        w.chat()
    );
    w.pass_at(29);
    assert!(w.pages().is_empty(), "not yet");
    w.pass_at(31);
    assert_eq!(w.pages().len(), 1);
    assert!(
        w.pages()[0].starts_with("Escalation:\n - API: down for 31m 0s, not acknowledged (port "),
        "{:?}",
        w.pages()
    );
    assert!(w.pages()[0].ends_with("; escalation 1 of 1"), "{:?}", w.pages());
    assert_eq!(w.chat().len(), 1, "the main chat is not told of the escalation");
    w.pass_at(45);
    w.pass_at(61);
    assert_eq!(w.pages().len(), 1, "each step once");
    assert_eq!(w.chat().len(), 2);
    assert!(
        w.chat()[1].starts_with("[WARNING] Agent Ops Alert\n\nStill down:\n - API: port "),
        "{:?}",
        w.chat()
    );

    let listener = std::net::TcpListener::bind(("127.0.0.1", port));
    if listener.is_err() {
        return; // the port was taken meanwhile: the rest needs it
    }
    w.pass_at(70);
    assert_eq!(w.chat().len(), 3);
    assert!(
        w.chat()[2].starts_with("[RECOVERED] Agent Ops Alert\n\nRecovered:\n - API was down 1h 10m (port "),
        "{:?}",
        w.chat()
    );
    assert_eq!(w.pages().len(), 2, "the escalated channel hears of the recovery");
    assert!(w.pages()[1].starts_with("Recovered:\n - API was down 1h 10m"), "{:?}", w.pages());
}

/// An acknowledged outage gets no more reminders and is not escalated; its recovery is said;
/// the next outage is not acknowledged.
#[test]
fn an_ack_stops_reminders_and_escalation_until_the_outage_ends() {
    let port = test_support::closed_port();
    let w = World::new(&format!(
        r#"{{"name": "API", "type": "port", "port": {port}, "escalation": [{{"after_minutes": 90, "notify": ["pager"]}}]}}"#
    ));
    w.pass_at(0);
    w.pass_at(61);
    assert_eq!(w.chat().len(), 2, "the failure, one reminder");
    let (acks, outages) = (StateFile::new(w.layout.acks()), StateFile::new(w.layout.outages()));
    let now = (w.start + 62 * 60) as f64;
    let given =
        ack::acknowledge(&acks, &outages, "API", Some("on it".into()), Some("alice".into()), now).unwrap();
    assert!(given.is_some());
    for minutes in [122, 183, 244, 305] {
        w.pass_at(minutes);
    }
    assert_eq!(w.chat().len(), 2, "no reminder once acknowledged: {:?}", w.chat());
    assert!(w.pages().is_empty(), "no escalation once acknowledged");

    let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) else { return };
    w.pass_at(310);
    assert_eq!(w.chat().len(), 3);
    assert!(w.chat()[2].contains("Recovered:\n - API was down 5h 10m"), "{:?}", w.chat());
    assert!(w.pages().is_empty(), "never escalated: the pager is not told of the recovery");
    drop(listener);
    w.pass_at(320);
    w.pass_at(381);
    assert_eq!(w.chat().len(), 5, "a new outage, and its reminder: the ack ended with the old one");
}

/// Issue 18's case, through the pass: two services down, a reminder every 2 minutes, Telegram
/// answering only "retry after 60 s" for ten minutes (the wait is remembered, so each pass asks
/// once), one service back meanwhile. When Telegram is back, exactly one message reaches it: a
/// digest naming both outages, the recovery, and only the newest reminder.
#[test]
fn a_channel_back_from_an_outage_gets_one_message_with_what_is_still_true() {
    let (a, b) = (test_support::closed_port(), test_support::closed_port());
    let w = World::new(&format!(
        r#"{{"name": "API", "type": "port", "port": {a}, "reminder_interval_seconds": 120, "notify": ["telegram"]}},
           {{"name": "DB", "type": "port", "port": {b}, "reminder_interval_seconds": 120, "notify": ["telegram"]}}"#
    ));
    w.api.set_default(Reply::retry_after(60));
    let mut db = None;
    for minute in 0..=10 {
        if minute == 5 {
            db = std::net::TcpListener::bind(("127.0.0.1", b)).ok();
        }
        let report = w.pass_at(minute);
        assert!(
            report.alerts.iter().all(|r| ops_kit::pass::outcome_words(&r.outcome).contains("flood control")),
            "minute {minute}: {:?}",
            report.log
        );
    }
    assert!(db.is_some(), "the DB's port was taken meanwhile");
    assert!(w.chat().is_empty());
    assert_eq!(w.api.requests().len(), 11, "one request a pass: the wait is remembered");
    w.api.set_default(Reply::Emulate);
    w.pass_at(11);
    let chat = w.chat();
    assert_eq!(chat.len(), 1, "{chat:#?}");
    let text = &chat[0];
    assert!(text.starts_with("[ERROR] Agent Ops Alert\n\nDigest of 10 queued alerts since "), "{text}");
    assert!(text.contains(" API: port "), "{text}");
    assert!(text.contains("Recovered:\n - ") && text.contains(" DB was down 5m 0s (port "), "{text}");
    let reminders: Vec<&str> = text.lines().filter(|l| l.contains("(down for ")).collect();
    assert_eq!(reminders.len(), 1, "only the newest reminder: {text}");
    assert!(reminders[0].ends_with(" (down for 10m 0s)"), "{text}");
    assert!(w.layout.alert_outbox().exists());
    assert_eq!(std::fs::read_to_string(w.layout.alert_outbox()).unwrap(), "", "nothing left");
}

/// `alert send` goes where a service's alerts go by default: a channel kept for escalations
/// (the pager) does not get it; with no channel left otherwise, every channel does.
#[test]
fn alert_send_goes_to_the_default_channels() {
    let w = World::new(&format!(
        r#"{{"name": "API", "type": "port", "port": {}, "escalation": [{{"after_minutes": 30, "notify": ["pager"]}}]}}"#,
        test_support::closed_port()
    ));
    let alerter = ops_kit::alert::alerter(&w.config, &w.layout).unwrap();
    let note = ops_alert::Alert { level: ops_alert::Level::Info, topic: None, message: "deploying".into() };
    assert_eq!(alerter.send(&note).unwrap().verdict(), ops_alert::Verdict::Sent);
    assert_eq!((w.chat().len(), w.pages().len()), (1, 0), "{:?}", w.chat());
    assert_eq!(w.chat()[0], "[INFO] Agent Ops Alert\n\ndeploying");
    let mut config = w.config.clone();
    config.alerting.telegram_bot_token = None;
    assert_eq!(config.default_channels(), ["pager"], "no channel left but the pager: every channel");
}

/// A service with its own `interval_seconds` is checked by a one-shot pass only once its
/// interval has passed since its last check (a twentieth early allowed), and keeps its state in
/// between: its reminders go on while it is not checked. One without the key is checked every
/// pass.
#[test]
fn a_service_is_checked_when_its_interval_has_passed() {
    let port = test_support::closed_port();
    let w = World::new(&format!(
        r#"{{"name": "Cert", "type": "port", "port": {port}, "interval_seconds": 3600, "reminder_interval_seconds": 1800, "notify": ["telegram"]}},
           {{"name": "Web", "type": "port", "port": {port}, "notify": ["telegram"]}}"#
    ));
    let checked =
        |r: &PassReport| -> Vec<String> { r.services.iter().map(|s| s.check.name.clone()).collect() };
    assert_eq!(checked(&w.pass_at(0)), ["Cert", "Web"]);
    let r = w.pass_at(30);
    assert_eq!(checked(&r), ["Web"]);
    assert_eq!(r.not_due.len(), 1);
    assert_eq!((r.not_due[0].name.as_str(), r.not_due[0].failing), ("Cert", true));
    assert_eq!(r.not_due[0].due, (w.start + 3600) as f64);
    assert!(r.any_failing());
    assert!(
        w.chat().iter().any(|m| m.contains("Still down:\n - Cert: ")),
        "a reminder while not due: {:?}",
        w.chat()
    );
    assert_eq!(checked(&w.pass_at(56)), ["Web"], "not yet: 56 minutes");
    assert_eq!(checked(&w.pass_at(57)), ["Cert", "Web"], "57 minutes: a twentieth early");
    assert_eq!(checked(&w.pass_at(100)), ["Web"]);
    // The daemon's first pass checks everything (what it serves is whole from the start); its
    // next ones go by the intervals, as a daemon: Web every check_interval_seconds.
    let daemon = |first| move |o: Options| Options { daemon: true, everything: first, ..o };
    assert_eq!(checked(&w.pass_with(101, daemon(true))), ["Cert", "Web"]);
    assert_eq!(checked(&w.pass_with(102, daemon(false))), Vec::<String>::new());
    assert_eq!(checked(&w.pass_at(117)), ["Web"], "Cert was checked at 101");
    assert_eq!(checked(&w.pass_at(158)), ["Cert", "Web"]);
    let memory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.layout.outages()).unwrap()).unwrap();
    assert_eq!(memory["Cert"]["last_check"], (w.start + 158 * 60) as f64);
}
