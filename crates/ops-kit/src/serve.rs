//! What `orchestrator --loop` serves over HTTP: the `http` settings of services.json, the
//! [`Snapshot`] (ops-serve's) built after each pass by a [`Publisher`] from the pass's report,
//! the metrics window (the status page of `uptime-report --format html`, uptime over 1, 7, 30
//! and 90 days, with the incidents of its week and the services that went stale) and the
//! outbox, and the handler of job pings ([`pings`]). The pass knows nothing of it.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ops_alert::Delivery;
use ops_health::FailureKind;
use ops_metrics::prometheus::{Family, render};
use ops_metrics::render::{self, Context};
use ops_metrics::{DayCounts, State, Window, python};
use ops_serve::{Badge, Color, PingAnswer, Pings, ServiceBadges, Snapshot};
use ops_state::timestamp::{format_utc, unix_seconds};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use crate::jobs::{HttpPingError, http_ping};
use crate::maintenance::Quiet;
use crate::pass::{AlertOutcome, PassError, PassReport, ServiceReport};
use crate::{Config, Layout, Secret, incident, uptime};

/// The `http` object of services.json.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http {
    /// Where `orchestrator --loop` listens (`http.listen`); `None`: only when `--listen` asks.
    pub listen: Option<SocketAddr>,
    /// Credentials every request must carry (`http.basic_auth`).
    pub basic_auth: Option<HttpAuth>,
    /// Serving beyond loopback without `basic_auth` is wanted (`http.public`).
    pub public: bool,
}

/// `http.basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAuth {
    /// The user name.
    pub user: String,
    /// The password; never printed.
    pub password: Secret,
}

impl Http {
    /// Whether serving on `addr` is allowed: on loopback always; beyond it only with
    /// `basic_auth` or `public: true`. The message says what to do.
    pub fn exposure(&self, addr: SocketAddr) -> Result<(), String> {
        if is_loopback(addr.ip()) || self.basic_auth.is_some() || self.public {
            return Ok(());
        }
        Err(format!(
            "{addr} is beyond loopback and no basic_auth is set: anyone who can reach it would see every \
             service; set http.basic_auth, or http.public: true to serve it to everyone"
        ))
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// An address to listen on: `127.0.0.1:9797`, `[::1]:9797`, `0.0.0.0:9797`, `localhost:9797`,
/// or a port alone, which means loopback (`9797` is `127.0.0.1:9797`).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let wrong = || {
        format!(
            "{text:?} is not an address like 127.0.0.1:9797, [::1]:9797 or 0.0.0.0:9797, or a port alone \
             (which listens on 127.0.0.1)"
        )
    };
    let addr = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        SocketAddr::from((Ipv4Addr::LOCALHOST, text.parse::<u16>().map_err(|_| wrong())?))
    } else if let Some(port) = text.strip_prefix("localhost:") {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port.parse::<u16>().map_err(|_| wrong())?))
    } else {
        text.parse::<SocketAddr>().map_err(|_| wrong())?
    };
    if addr.port() == 0 {
        return Err(format!("{text:?}: the port must be from 1 to 65535"));
    }
    Ok(addr)
}

/// Days of the status page (`uptime-report`'s default window).
pub const PAGE_DAYS: u32 = 7;
/// The uptime windows of `/api/v1/services`, in days.
pub const UPTIME_DAYS: [u32; 4] = [1, 7, 30, 90];
/// The uptime badges, in days.
pub const BADGE_DAYS: [u32; 3] = [7, 30, 90];

/// The configuration HTTP pings are checked against: the daemon's last valid one, replaced
/// after each pass ([`SharedConfig::set`]), so that a `ping_token` added to services.json works
/// once a pass has read it. Cloning it shares it.
#[derive(Debug, Clone)]
pub struct SharedConfig(Arc<Mutex<Arc<Config>>>);

impl SharedConfig {
    /// Shares `config`.
    pub fn new(config: &Config) -> Self {
        Self(Arc::new(Mutex::new(Arc::new(config.clone()))))
    }

    /// Pings are checked against `config` from now on. Never waits for a ping being recorded
    /// (it holds its own reference).
    pub fn set(&self, config: &Config) {
        let config = Arc::new(config.clone());
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = config;
    }

    fn get(&self) -> Arc<Config> {
        Arc::clone(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// ops-serve's handler of `/ping/TOKEN[/start|/fail|/CODE]`: [`http_ping`] with the current
/// configuration, `layout` and the body, at the moment it is handled (on the server's ping
/// worker, never on its thread). It answers 200 `ok`; 404 `not found` for an unknown token and
/// an unknown event alike; 500 with a sentence that names the job (never the token, nor the
/// file) when the ping cannot be recorded, and `report` is given the whole error (which names
/// the file; the daemon prints it). Nothing it answers or reports holds the path.
pub fn pings(config: SharedConfig, layout: Layout, report: impl Fn(&str) + Send + Sync + 'static) -> Pings {
    Pings::new(move |rest, body| {
        let now = ops_jobs::jiff::Timestamp::now();
        let Err(error) = http_ping(&config.get(), &layout, rest, body, now) else {
            return PingAnswer::new(200, "ok\n");
        };
        match &error {
            HttpPingError::NotFound => PingAnswer::new(404, "not found\n"),
            HttpPingError::State { job, .. } => {
                report(&error.to_string());
                // The client learns which job; the daemon's output says which file and why.
                PingAnswer::new(
                    500,
                    format!("cannot record the ping of job {job}; see the daemon's output\n"),
                )
            }
        }
    })
}

/// How a pass ended, for `agent_ops_daemon_passes_total{result}`.
const RESULTS: [&str; 4] = ["ok", "busy", "failed", "crashed"];

/// Builds the snapshots of a daemon, keeping what outlives one pass: the counters of
/// `/metrics`, since when each service is in its state, and the last pass that ran.
#[derive(Debug, Default)]
pub struct Publisher {
    passes: BTreeMap<&'static str, u64>,
    sent: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
    /// Per service: its state word and since when it is in it, as far as known.
    since: HashMap<String, (&'static str, Option<OffsetDateTime>)>,
    /// The last check of each service, kept over the passes in which it was not due.
    latest: Vec<ServiceReport>,
    /// The finished days of the longest uptime window, read once a day.
    history: Option<History>,
    last: Option<Built>,
}

/// What the finished days of the last [`UPTIME_DAYS`] say, read once a (UTC) day: a pass then
/// reads only the page's 7 days, whose today gives the rest. (Days already over do not change;
/// reading 90 of them at every pass would cost the daemon time and memory for nothing.)
#[derive(Debug)]
struct History {
    /// The day it was read.
    today: Date,
    /// Per service, its up and down checks in the days of each of [`UPTIME_DAYS`] before `today`.
    finished: HashMap<String, [(u64, u64); UPTIME_DAYS.len()]>,
    /// Per service, what the whole window said when it was read (for [`Publisher::since`]).
    facts: HashMap<String, Facts>,
}

/// What a window says of a service, for since when it is in its state.
#[derive(Debug, Clone, Copy)]
struct Facts {
    state: Option<State>,
    down_since: Option<OffsetDateTime>,
    incidents: u64,
    first_seen: Option<OffsetDateTime>,
}

impl History {
    fn read(metrics: &std::path::Path, today: Date) -> Option<Self> {
        let days = UPTIME_DAYS.iter().copied().max().unwrap_or(90);
        let found = uptime::read(metrics, &Window::last_days(today, days), None).ok()?;
        let mut history = Self { today, finished: HashMap::new(), facts: HashMap::new() };
        for s in found.report.services {
            let facts = Facts {
                state: s.state,
                down_since: s.down_since,
                incidents: s.incidents,
                first_seen: s.first_seen,
            };
            let finished = UPTIME_DAYS.map(|days| {
                let from = Window::last_days(today, days).from();
                s.daily
                    .iter()
                    .filter(|d| d.date >= from && d.date < today)
                    .fold((0, 0), |(up, down), d| (up + d.up, down + d.down))
            });
            history.facts.insert(s.name.clone(), facts);
            history.finished.insert(s.name, finished);
        }
        Some(history)
    }
}

/// What the last pass that ran left to serve.
#[derive(Debug, Clone)]
struct Built {
    finished: Instant,
    finished_at: OffsetDateTime,
    duration: Duration,
    page: Arc<str>,
    services_json: Arc<str>,
    checks: String,
    badges: Arc<HashMap<String, ServiceBadges>>,
}

impl Publisher {
    /// The snapshot to serve after `result`, the pass just run with `config`. A pass that did
    /// not run (another one held the lock, it crashed) is counted and leaves the last snapshot's
    /// page, JSON and badges as they were: `/healthz` then goes stale on its own.
    pub fn after_pass(
        &mut self,
        layout: &Layout,
        config: &Config,
        result: &Result<PassReport, PassError>,
    ) -> Snapshot {
        let outcome = match result {
            Ok(report) => {
                self.remember(config, report);
                self.last = Some(self.build(layout, config, report));
                "ok"
            }
            Err(PassError::Busy { .. }) => "busy",
            Err(PassError::Lock(_)) => "failed",
            Err(PassError::Crashed) => "crashed",
        };
        *self.passes.entry(outcome).or_default() += 1;
        let outbox = ops_alert::Outbox::new(layout.alert_outbox()).entries().ok().map(|e| e.len());
        let Some(last) = &self.last else {
            return Snapshot { metrics: self.daemon_metrics(config, outbox).into(), ..Snapshot::default() };
        };
        Snapshot {
            finished: Some(last.finished),
            fresh_for: config.check_interval.saturating_mul(2),
            page: Arc::clone(&last.page),
            services_json: Arc::clone(&last.services_json),
            metrics: format!("{}{}", last.checks, self.daemon_metrics(config, outbox)).into(),
            badges: Arc::clone(&last.badges),
        }
    }

    /// Keeps the checks `report` made and, of those it did not make because their interval had
    /// not passed, the last ones; in the configuration's order (the built-in checks after).
    fn remember(&mut self, config: &Config, report: &PassReport) {
        let mut kept: Vec<ServiceReport> = std::mem::take(&mut self.latest)
            .into_iter()
            .filter(|s| report.not_due.iter().any(|n| n.name == s.check.name))
            .chain(report.services.iter().cloned())
            .collect();
        kept.sort_by_key(|s| {
            config.services.iter().position(|c| c.name == s.check.name).unwrap_or(usize::MAX)
        });
        self.latest = kept;
    }

    fn build(&mut self, layout: &Layout, config: &Config, report: &PassReport) -> Built {
        let finished_at = OffsetDateTime::now_utc();
        let today = finished_at.date();
        for a in &report.alerts {
            let deliveries: Vec<&Delivery> = match &a.outcome {
                AlertOutcome::Queued(results) => results.iter().filter_map(|(_, d)| d.as_ref()).collect(),
                AlertOutcome::SentDirectly { deliveries, .. } => deliveries.iter().collect(),
                _ => Vec::new(),
            };
            for d in deliveries {
                let counter =
                    if matches!(d, Delivery::Sent { .. }) { &mut self.sent } else { &mut self.failed };
                *counter.entry(d.destination().to_owned()).or_default() += 1;
            }
        }
        if self.history.as_ref().is_none_or(|h| h.today != today) {
            self.history = History::read(&layout.metrics, today);
        }
        let page_window = Window::last_days(today, PAGE_DAYS);
        let week = uptime::read(&layout.metrics, &page_window, None);
        // The page's timelines and each service's recent outages; without them (an unreadable
        // log) the rest is still served.
        let incidents = incident::read(layout, &page_window, None).ok().map(|i| i.log);
        let stale =
            week.as_ref().map(|f| uptime::stale(Some(config), &f.report, finished_at)).unwrap_or_default();
        let page = match &week {
            Ok(found) => {
                let context =
                    Context { stale: &stale, incidents: incidents.as_ref(), ..Context::new(finished_at) };
                ops_metrics::render::html(&found.report, &context)
            }
            Err(e) => unreadable_page(&e.to_string()),
        };
        let last_seen = |name: &str| {
            week.iter().flat_map(|f| &f.report.services).find(|s| s.name == name).and_then(|s| s.last_seen)
        };
        let stale_json: Vec<Value> = stale
            .iter()
            .map(|st| {
                let mut v = render::stale_json(st);
                v["last_seen"] = json!(last_seen(&st.service).map(format_utc));
                v
            })
            .collect();
        let counted_today: HashMap<&str, DayCounts> = week
            .iter()
            .flat_map(|found| &found.report.services)
            .filter_map(|s| Some((s.name.as_str(), *s.daily.iter().find(|d| d.date == today)?)))
            .collect();
        // Taken for the loop (`since` needs `self`), put back after it.
        let latest = std::mem::take(&mut self.latest);
        self.since.retain(|name, _| latest.iter().any(|s| &s.check.name == name));
        let mut services = Vec::new();
        let mut badges = HashMap::new();
        for s in &latest {
            let name = s.check.name.as_str();
            let history = self.history.as_ref();
            let facts = history.and_then(|h| h.facts.get(name)).copied();
            let finished = history.and_then(|h| h.finished.get(name)).copied().unwrap_or_default();
            let uptime: Vec<(u32, Option<f64>)> = UPTIME_DAYS
                .iter()
                .zip(finished)
                .map(|(d, past)| (*d, uptime_percent(past, counted_today.get(name))))
                .collect();
            let since = self.since(s, facts);
            let mut json = service_json(s, since, &uptime);
            json["incidents"] = incidents
                .iter()
                .flat_map(|log| &log.incidents)
                .filter(|i| i.service == name)
                .map(|i| render::incident_json(i, finished_at))
                .collect();
            services.push(json);
            badges.insert(name.to_owned(), service_badges(s, &uptime));
        }
        let results: Vec<ops_health::CheckResult> =
            latest.iter().map(|s| s.recheck.as_ref().unwrap_or(&s.check).clone()).collect();
        self.latest = latest;
        let duration = (finished_at - report.started).try_into().unwrap_or(Duration::ZERO);
        let document = json!({
            "generated_at": format_utc(finished_at),
            "last_pass": {
                "started": format_utc(report.started),
                "finished": format_utc(finished_at),
                "duration_seconds": duration.as_secs_f64(),
            },
            "services": services,
            "stale": stale_json,
        });
        Built {
            finished: Instant::now(),
            finished_at,
            duration,
            page: page.into(),
            services_json: format!("{document:#}\n").into(),
            checks: crate::health::prometheus_text(&results, finished_at),
            badges: Arc::new(badges),
        }
    }

    /// Since when `s` is in the state it ended the pass in: kept while the state lasts, the
    /// check's time when this daemon saw it change; when first seen, from the metrics window
    /// (the start of an outage still going on; the first check of the window when none failed
    /// in it), else unknown. A check that could not be made changes nothing and has none.
    fn since(&mut self, s: &ServiceReport, facts: Option<Facts>) -> Option<OffsetDateTime> {
        let outcome = s.outcome();
        if outcome.is_unknown() {
            return None;
        }
        let word = outcome.as_str();
        let at = s.recheck.as_ref().unwrap_or(&s.check).timestamp;
        let since = match self.since.get(&s.check.name) {
            Some((w, since)) if *w == word => *since,
            Some(_) => Some(at),
            None if outcome.is_down() => {
                Some(facts.filter(|f| f.state == Some(State::Down)).and_then(|f| f.down_since).unwrap_or(at))
            }
            None => facts.filter(|f| f.incidents == 0).and_then(|f| f.first_seen),
        };
        self.since.insert(s.check.name.clone(), (word, since));
        since
    }

    /// The daemon's own metric families.
    fn daemon_metrics(&self, config: &Config, outbox: Option<usize>) -> String {
        let counter = |name, help| Family { name, help, kind: "counter", samples: Vec::new() };
        let mut passes =
            counter("agent_ops_daemon_passes_total", "Passes of this daemon, by how they ended (result).");
        for result in RESULTS {
            passes.push(
                vec![("result", result.to_owned())],
                self.passes.get(result).copied().unwrap_or(0) as f64,
            );
        }
        let mut duration = Family::gauge(
            "agent_ops_daemon_last_pass_duration_seconds",
            "How long the last pass that ran took.",
        );
        let mut finished = Family::gauge(
            "agent_ops_daemon_last_pass_timestamp_seconds",
            "Unix time at which the last pass that ran finished.",
        );
        if let Some(last) = &self.last {
            duration.push(Vec::new(), last.duration.as_secs_f64());
            finished.push(Vec::new(), unix_seconds(last.finished_at));
        }
        let mut interval = Family::gauge(
            "agent_ops_daemon_check_interval_seconds",
            "Time between the starts of two passes.",
        );
        interval.push(Vec::new(), config.check_interval.as_secs_f64());
        let mut waiting = Family::gauge("agent_ops_daemon_outbox_entries", "Alerts waiting in the outbox.");
        if let Some(n) = outbox {
            waiting.push(Vec::new(), n as f64);
        }
        let mut sent = counter(
            "agent_ops_daemon_alerts_sent_total",
            "Deliveries of the passes' alerts confirmed by their destination (channel).",
        );
        let mut failed = counter(
            "agent_ops_daemon_alerts_failed_total",
            "Deliveries of the passes' alerts that failed (they wait in the outbox unless said otherwise).",
        );
        for (family, counts) in [(&mut sent, &self.sent), (&mut failed, &self.failed)] {
            for (channel, n) in counts {
                family.push(vec![("channel", channel.clone())], *n as f64);
            }
        }
        render(&[passes, duration, finished, interval, waiting, sent, failed])
    }
}

/// The uptime of a window from its up and down checks before today and today's: the same
/// figure `uptime-report --days N` prints (`round(up / (up + down) * 100, 2)`), each line being
/// counted in its day file's day.
fn uptime_percent(finished: (u64, u64), today: Option<&DayCounts>) -> Option<f64> {
    let (up, down) = (finished.0 + today.map_or(0, |t| t.up), finished.1 + today.map_or(0, |t| t.down));
    (up + down > 0).then(|| python::round(up as f64 / (up + down) as f64 * 100.0, 2))
}

fn quiet_word(q: &Quiet) -> &'static str {
    match q {
        Quiet::Window(_) => "maintenance",
        Quiet::Silenced { .. } => "silenced",
    }
}

/// One service of `/api/v1/services` (docs/api.md).
fn service_json(s: &ServiceReport, since: Option<OffsetDateTime>, uptime: &[(u32, Option<f64>)]) -> Value {
    let result = s.recheck.as_ref().unwrap_or(&s.check);
    let uptime: serde_json::Map<String, Value> =
        uptime.iter().map(|(d, p)| (format!("{d}d"), json!(p))).collect();
    json!({
        "name": s.check.name,
        "type": s.check.check_type.as_str(),
        "state": s.state(),
        "warning": result.outcome.warning().map(FailureKind::as_str),
        "blocked_by": s.blocked_by,
        "quiet": s.quiet.as_ref().map(quiet_word),
        "since": since.map(format_utc),
        "detail": result.detail,
        "failure": s.outcome().reason(),
        "latency_ms": result.latency_ms,
        "checked_at": format_utc(result.timestamp),
        "uptime_percent": uptime,
    })
}

fn service_badges(s: &ServiceReport, uptime: &[(u32, Option<f64>)]) -> ServiceBadges {
    let outcome = s.outcome();
    let (message, color) = match (&s.quiet, s.state()) {
        (_, "up") if outcome.warning().is_some() => ("warning", Color::Yellow),
        (_, "up") => ("up", Color::BrightGreen),
        (Some(q), _) => (quiet_word(q), Color::Blue),
        (None, "down") => ("down", Color::Red),
        (None, "blocked") => ("blocked", Color::Red),
        (None, word) => (word, Color::LightGrey),
    };
    let status = Badge { label: s.check.name.clone(), message: message.into(), color };
    let uptime = BADGE_DAYS
        .iter()
        .map(|days| {
            let pct = uptime.iter().find(|(d, _)| d == days).and_then(|(_, p)| *p);
            let (message, color) = match pct {
                None => ("no data".to_owned(), Color::LightGrey),
                Some(p) => (
                    format!("{}%", python::repr(p)),
                    if p >= 99.5 {
                        Color::BrightGreen
                    } else if p >= 95.0 {
                        Color::Yellow
                    } else {
                        Color::Red
                    },
                ),
            };
            (*days, Badge { label: format!("uptime {days}d"), message, color })
        })
        .collect();
    ServiceBadges { status, uptime }
}

/// The page when the metrics cannot be read: the error, escaped, and a refresh.
fn unreadable_page(error: &str) -> String {
    let escaped = error.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"60\">\
         <title>agent-ops status</title></head><body><p>The metrics cannot be read: {escaped}</p></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use ops_health::{CheckKind, CheckResult, Outcome};
    use ops_metrics::{MetricRecord, Status, read_window};

    use super::*;
    use crate::Env;

    fn result(name: &str, outcome: Outcome, at: OffsetDateTime) -> CheckResult {
        let mut r = CheckResult::new(name, CheckKind::Port, outcome, "port 1 open".into());
        r.timestamp = at;
        r
    }

    fn service(name: &str, outcome: Outcome, at: OffsetDateTime) -> ServiceReport {
        ServiceReport {
            check: result(name, outcome, at),
            recheck: None,
            restart: None,
            quiet: None,
            blocked_by: Vec::new(),
        }
    }

    fn pass(services: Vec<ServiceReport>) -> PassReport {
        PassReport {
            started: OffsetDateTime::now_utc(),
            services,
            not_due: Vec::new(),
            alerts: Vec::new(),
            log: Vec::new(),
        }
    }

    /// The uptime of each window is what `uptime-report --days N` computes over the same day
    /// files; since when a service is in its state comes from the metrics when first seen and
    /// from the transitions the daemon sees after; a pass that did not run keeps the page.
    #[test]
    fn snapshots_follow_the_passes_and_the_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let json = br#"{"services": [{"name": "A", "type": "port", "port": 1}, {"name": "B", "type": "port", "port": 2}], "check_interval_seconds": 60}"#;
        let config = Config::parse(std::path::Path::new("s.json"), json, &env).unwrap().config;
        let now = OffsetDateTime::now_utc();
        let mut records = Vec::new();
        for back in 0..40i64 {
            let day = now - time::Duration::days(back);
            for (i, name) in ["A", "B"].iter().enumerate() {
                let down = (back % 3 == 0 && *name == "A") || (back == 5 && i == 1);
                records.push(MetricRecord {
                    name: (*name).into(),
                    status: if down { Status::Down } else { Status::Up },
                    detail: String::new(),
                    latency_ms: 5,
                    timestamp: day - time::Duration::minutes(10),
                    warning: false,
                    perfdata: Vec::new(),
                });
            }
        }
        for r in &records {
            ops_metrics::append(&layout.metrics, std::slice::from_ref(r)).unwrap();
        }
        let down = Outcome::Down(FailureKind::Connect);
        let mut publisher = Publisher::default();
        let snap = publisher.after_pass(
            &layout,
            &config,
            &Ok(pass(vec![service("A", down, now), service("B", Outcome::Up, now)])),
        );
        assert_eq!(snap.fresh_for, Duration::from_secs(120));
        let doc: Value = serde_json::from_str(&snap.services_json).unwrap();
        for (i, name) in ["A", "B"].iter().enumerate() {
            for days in UPTIME_DAYS {
                let seen = read_window(&layout.metrics, &Window::last_days(now.date(), days)).unwrap();
                let expected = seen.services.iter().find(|s| s.name == *name).and_then(|s| s.uptime_percent);
                assert_eq!(
                    doc["services"][i]["uptime_percent"][format!("{days}d")].as_f64(),
                    expected,
                    "{name} {days}d"
                );
            }
        }
        let a = &doc["services"][0];
        assert_eq!(
            (a["state"].as_str(), a["failure"].as_str(), a["detail"].as_str()),
            (Some("down"), Some("connect"), Some("port 1 open"))
        );
        // A was last down in the metrics on day 0 (10 minutes ago): its outage began then.
        assert_eq!(a["since"].as_str().unwrap(), format_utc(now - time::Duration::minutes(10)));
        // B had a failure in the window: when it came back is not known yet.
        assert_eq!(doc["services"][1]["since"], Value::Null);
        assert_eq!(snap.badges["A"].status.message, "down");
        assert_eq!(snap.badges["B"].uptime[&90].label, "uptime 90d");
        assert!(
            snap.page.contains("<meta http-equiv=\"refresh\" content=\"60\">")
                && snap.page.contains(">A</h2>")
        );
        assert!(
            snap.metrics.contains("agent_ops_probe_success{service=\"A\",type=\"port\"} 0\n"),
            "{}",
            snap.metrics
        );
        assert!(snap.metrics.contains("agent_ops_daemon_passes_total{result=\"ok\"} 1\n"));

        // B goes down, A comes back: both change state now.
        let later = now + time::Duration::seconds(60);
        let snap = publisher.after_pass(
            &layout,
            &config,
            &Ok(pass(vec![service("A", Outcome::Up, later), service("B", down, later)])),
        );
        let doc: Value = serde_json::from_str(&snap.services_json).unwrap();
        assert_eq!(doc["services"][0]["since"].as_str().unwrap(), format_utc(later));
        assert_eq!(doc["services"][1]["since"].as_str().unwrap(), format_utc(later));
        let page = Arc::clone(&snap.page);
        let finished = snap.finished;

        let busy = publisher.after_pass(&layout, &config, &Err(PassError::Busy { lock: "x".into() }));
        assert!(Arc::ptr_eq(&busy.page, &page) && busy.finished == finished, "the last pass's page stays");
        assert!(
            busy.metrics.contains("agent_ops_daemon_passes_total{result=\"busy\"} 1\n"),
            "{}",
            busy.metrics
        );
        assert!(busy.metrics.contains("agent_ops_daemon_passes_total{result=\"ok\"} 2\n"));
        let first = Publisher::default().after_pass(&layout, &config, &Err(PassError::Crashed));
        assert_eq!(first.finished, None, "nothing to serve before a pass ran");
    }

    /// A service of the metrics that is gone from services.json is served as stale (never as a
    /// service, never up), and an outage of the incident log is listed under its service and
    /// drawn on the page.
    #[test]
    fn stale_services_and_incidents_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let json = br#"{"services": [{"name": "A", "type": "port", "port": 1}]}"#;
        let config = Config::parse(std::path::Path::new("s.json"), json, &env).unwrap().config;
        let now = OffsetDateTime::now_utc();
        let record = |name: &str, back: i64| MetricRecord {
            name: name.into(),
            status: Status::Up,
            detail: String::new(),
            latency_ms: 5,
            timestamp: now - time::Duration::minutes(back),
            warning: false,
            perfdata: Vec::new(),
        };
        ops_metrics::append(&layout.metrics, &[record("A", 1), record("Gone <b>", 30)]).unwrap();
        let started = now - time::Duration::minutes(20);
        let outage = ops_metrics::Incident {
            service: "A".into(),
            started,
            ended: Some(started + time::Duration::minutes(5)),
            end: ops_metrics::End::Recovered,
            last_failed: None,
            kind: "connect".into(),
            detail: "connection refused".into(),
            alerted: true,
            restarts_tried: 0,
            restarts: Vec::new(),
            gave_up: false,
            quiet: Vec::new(),
            ack: None,
            blocked: Vec::new(),
            blocked_by: Vec::new(),
        };
        ops_metrics::append_incidents(&layout.incidents(), &[outage]).unwrap();
        let snap = Publisher::default().after_pass(
            &layout,
            &config,
            &Ok(pass(vec![service("A", Outcome::Up, now)])),
        );
        let doc: Value = serde_json::from_str(&snap.services_json).unwrap();
        let services: Vec<&str> =
            doc["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(services, ["A"]);
        assert_eq!(doc["stale"][0]["service"], "Gone <b>");
        assert_eq!(doc["stale"][0]["reason"], "not_configured");
        assert_eq!(
            doc["stale"][0]["last_seen"].as_str().unwrap(),
            format_utc(now - time::Duration::minutes(30))
        );
        let incidents = doc["services"][0]["incidents"].as_array().unwrap();
        assert_eq!(incidents.len(), 1);
        assert_eq!(
            (incidents[0]["kind"].as_str(), incidents[0]["end"].as_str()),
            (Some("connect"), Some("recovered"))
        );
        assert_eq!(incidents[0]["duration_seconds"], 300.0);
        assert!(!snap.page.contains("Gone <b>"), "names are escaped on the page");
        assert!(
            snap.page.contains("Gone &lt;b&gt;") && snap.page.contains("connection refused"),
            "{}",
            snap.page
        );
    }

    #[test]
    fn listen_addresses() {
        let ok = |t: &str| parse_listen(t).unwrap().to_string();
        assert_eq!(ok("9797"), "127.0.0.1:9797");
        assert_eq!(ok("localhost:9797"), "127.0.0.1:9797");
        assert_eq!(ok("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(ok("[::1]:9797"), "[::1]:9797");
        for bad in [
            "",
            ":9797",
            "0",
            "65536",
            "localhost",
            "example.com:80",
            "127.0.0.1",
            "127.0.0.1:0",
            "1.2.3.4:x",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
        let open = Http::default();
        for local in ["127.0.0.1:1", "127.8.9.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert_eq!(open.exposure(local.parse().unwrap()), Ok(()), "{local}");
        }
        for wide in ["0.0.0.0:1", "[::]:1", "192.168.1.2:1", "[::ffff:10.0.0.1]:1"] {
            let e = open.exposure(wide.parse().unwrap()).unwrap_err();
            assert!(e.contains("beyond loopback") && e.contains("http.public: true"), "{e}");
        }
        let auth = HttpAuth { user: "ops".into(), password: Secret::new("pw") };
        assert!(
            Http { basic_auth: Some(auth), ..Http::default() }.exposure("0.0.0.0:1".parse().unwrap()).is_ok()
        );
        assert!(Http { public: true, ..Http::default() }.exposure("0.0.0.0:1".parse().unwrap()).is_ok());
    }
}
