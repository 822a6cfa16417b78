//! A fleet end to end, with the real engines: three hosts (three sandboxes, each running
//! `orchestrator --loop --listen` every second over services of its own, loopback ports the test
//! opens and closes), a real Prometheus scraping their `/metrics` with the shipped rules, and a
//! real Alertmanager on the shipped `dist/alertmanager/alertmanager.yml`, whose receiver is a
//! loopback fake that records every notification. Both binaries come from Debian's `prometheus`
//! and `prometheus-alertmanager` packages (`.ci/run` unpacks them into `target/ci-tools`);
//! without them the test says it is skipped, and fails under `AGENT_OPS_REQUIRE_TOOLS=1`.
//!
//! What the test changes in the shipped files, by text substitution (each must match exactly
//! once, or the test fails): in `prometheus.yml`, the intervals (30 s scrape, 1 m evaluation)
//! become 1 s, the Alertmanager targets the test's, and the scrape configs the three daemons,
//! each target labelled with the `instance` its agent sends to Alertmanager; in
//! `agent-ops.rules.yml`, the `for: 5m` of `AgentOpsDaemonUnreachable` becomes `for: 5s`, every
//! expression and every other rule staying the shipped one; in `alertmanager.yml`, the
//! receiver's URL becomes the fake's, and `group_wait`, `group_interval` and `repeat_interval`
//! become 1 s, 1 s and 1 h.
//!
//! The scenarios, in order:
//!
//! a. a service down on host 2: one notification of `AgentOpsServiceDown` (service, instance
//!    `host-2`), while Alertmanager's API shows the inhibit rule at work on a Prometheus-side
//!    `AgentOpsProbeDown` for the same service and host (suppressed, never notified) and not on
//!    one for another host (notified); back up, one `resolved` notification. The two
//!    `AgentOpsProbeDown` carry the labels of the failing series as Prometheus scraped it, and
//!    are posted by the test: the shipped rule waits 10 minutes, and is left so.
//! b. Alertmanager killed, then a service of host 1 down: the alert waits in host 1's outbox;
//!    Alertmanager restarted on the same storage and port: the alert is notified, then its
//!    resolution.
//! c. host 3's agent killed (SIGKILL): Prometheus fires `AgentOpsDaemonUnreachable` for
//!    `host-3`. (`AgentOpsAgentSilent` is for an agent whose series are still exported but old;
//!    a killed daemon exports nothing, so it is the unreachable rule that fires.)
//! d. a silence created through `POST /api/v2/silences` (`instance="host-2"`): host 2's next
//!    outage is in Alertmanager, suppressed by it, and never notified, while host 1's outage at
//!    the same time is.
//!
//! No assertion is about time: each step waits for its condition with a generous deadline and
//! fails saying what never happened. The times it took are printed (`--nocapture`). Every
//! child process is killed when the test ends, on a panic too ([`Proc`]).
#![allow(clippy::print_stdout)] // what the receiver got and when, for the record

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::FakeWebhook;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long any one condition may take before the test fails: far above what it needs (a few
/// seconds), so a slow machine is not a failure.
const DEADLINE: Duration = Duration::from_secs(90);

fn dist(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist").join(file)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `text` with `from` replaced by `to`, where `from` occurs exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "expected `{from}` exactly once in the shipped file");
    text.replacen(from, to, 1)
}

/// One request over a fresh connection, as HTTP/1.0 so that the answer is never chunked;
/// `None` while nothing answers.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let length = body.len();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n{body}"
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.get(9..12)?.parse().ok()?, body.to_owned()))
}

/// A URL query value: everything but unreserved characters percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Polls `ready` every 50 ms until it gives a value; panics with `what` and `context()` after
/// [`DEADLINE`]. Returns the value and how long it took.
fn wait_for<T>(what: &str, context: impl Fn() -> String, ready: impl Fn() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return (v, start.elapsed());
        }
        assert!(start.elapsed() < DEADLINE, "never within {DEADLINE:?}: {what}\n{}", context());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed when this is dropped: at the end of the test, or on a panic.
struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `cmd` with its standard output and error in `log`.
    fn spawn(name: &str, mut cmd: Command, log: &Path) -> Self {
        let out = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { child }
    }

    /// SIGKILL, and wait for it to be gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of each log, for a failure's message.
fn tails(logs: &[(String, PathBuf)]) -> String {
    let mut out = String::new();
    for (name, log) in logs {
        let text = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let _ = writeln!(
            out,
            "--- {name} ({}):\n{}",
            log.display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        );
    }
    out
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A service of a host: a loopback port the test opens (up) and closes (down).
struct Service {
    port: u16,
    listener: Option<TcpListener>,
}

impl Service {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self { port: listener.local_addr().unwrap().port(), listener: Some(listener) }
    }

    fn down(&mut self) {
        self.listener = None;
    }

    fn up(&mut self) {
        self.listener = Some(TcpListener::bind(("127.0.0.1", self.port)).unwrap());
    }
}

/// A simulated host: an `AGENT_OPS_HOME` of its own and its daemon.
struct Host {
    instance: String,
    addr: SocketAddr,
    log: PathBuf,
    daemon: Proc,
}

impl Host {
    fn start(dir: &Path, instance: &str, services: &[(&str, &Service)], alertmanager: SocketAddr) -> Self {
        let home = dir.join(instance);
        let services: Vec<Value> = services
            .iter()
            .map(|(name, s)| json!({"name": name, "type": "port", "host": "127.0.0.1", "port": s.port}))
            .collect();
        let config = json!({
            "services": services, "disk_paths": [], "check_interval_seconds": 1, "restart_grace_seconds": 0,
            "alerting": {"timeout_seconds": 2,
                         "alertmanager": {"urls": [format!("http://{alertmanager}")], "instance": instance}}
        });
        fs::create_dir_all(home.join("config")).unwrap();
        fs::write(home.join("config/services.json"), config.to_string()).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AGENT_OPS_HOME", &home)
            .args(["--loop", "--listen", &addr.to_string()]);
        let log = dir.join(format!("{instance}.log"));
        let daemon = Proc::spawn(&format!("orchestrator of {instance}"), cmd, &log);
        Self { instance: instance.to_owned(), addr, log, daemon }
    }

    /// `agent_ops_daemon_outbox_entries` from its `/metrics`.
    fn outbox_entries(&self) -> Option<f64> {
        let (_, body) = http(self.addr, "GET", "/metrics", "").filter(|(s, _)| *s == 200)?;
        body.lines().find_map(|l| l.strip_prefix("agent_ops_daemon_outbox_entries ")?.trim().parse().ok())
    }
}

/// Alertmanager on the shipped configuration, at a fixed port and storage so that it can be
/// restarted as the same one.
struct Alertmanager {
    tool: PathBuf,
    dir: PathBuf,
    addr: SocketAddr,
    proc: Option<Proc>,
}

impl Alertmanager {
    fn new(tool: PathBuf, dir: &Path, receiver: &str) -> Self {
        let shipped = fs::read_to_string(dist("alertmanager/alertmanager.yml")).unwrap();
        let mut config =
            replace_once(&shipped, "url: http://127.0.0.1:5001/agent-ops", &format!("url: {receiver}"));
        for (from, to) in [
            ("group_wait: 30s", "group_wait: 1s"),
            ("group_interval: 5m", "group_interval: 1s"),
            ("repeat_interval: 4h", "repeat_interval: 1h"),
        ] {
            config = replace_once(&config, from, to);
        }
        let dir = dir.join("alertmanager");
        fs::create_dir_all(dir.join("data")).unwrap();
        fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        Self { tool, dir, addr, proc: None }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("alertmanager.log")
    }

    fn start(&mut self) {
        let mut cmd = Command::new(&self.tool);
        cmd.arg(format!("--config.file={}", self.dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", self.dir.join("data").display()))
            .arg(format!("--web.listen-address={}", self.addr))
            .arg("--cluster.listen-address=");
        self.proc = Some(Proc::spawn("alertmanager", cmd, &self.log()));
        let addr = self.addr;
        wait_for(
            "Alertmanager is ready",
            || tails(&[("alertmanager".into(), self.log())]),
            || http(addr, "GET", "/-/ready", "").filter(|(s, _)| *s == 200),
        );
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Its alerts (`GET /api/v2/alerts`, every state) whose labels include `labels`.
    fn alerts(&self, labels: &[(&str, &str)]) -> Vec<Value> {
        let Some((200, body)) = http(self.addr, "GET", "/api/v2/alerts", "") else { return Vec::new() };
        let all: Vec<Value> = serde_json::from_str(&body).unwrap();
        all.into_iter().filter(|a| labels.iter().all(|(k, v)| a["labels"][k] == *v)).collect()
    }

    /// Posts alerts as Prometheus would.
    fn post_alerts(&self, alerts: &Value) {
        let answer = http(self.addr, "POST", "/api/v2/alerts", &alerts.to_string());
        assert!(matches!(answer, Some((200, _))), "{answer:?}");
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// The receiver's notifications (webhook bodies) from index `from` on, with their index.
fn notifications(hook: &FakeWebhook, from: usize) -> Vec<(usize, Value)> {
    hook.requests().into_iter().enumerate().skip(from).map(|(i, r)| (i, r.body)).collect()
}

/// Whether notification `n` has an alert in `status` whose labels include `labels`.
fn has_alert(n: &Value, status: &str, labels: &[(&str, &str)]) -> bool {
    n["alerts"].as_array().is_some_and(|alerts| {
        alerts.iter().any(|a| a["status"] == status && labels.iter().all(|(k, v)| a["labels"][k] == *v))
    })
}

/// One line per notification: its status and each alert's name, service, instance and status.
fn summary(hook: &FakeWebhook) -> String {
    notifications(hook, 0)
        .iter()
        .map(|(i, n)| {
            let alerts: Vec<String> = n["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let l = &a["labels"];
                    format!(
                        "{}{{service={}, instance={}}} {}",
                        l["alertname"].as_str().unwrap_or("?"),
                        l["service"].as_str().unwrap_or("-"),
                        l["instance"].as_str().unwrap_or("-"),
                        a["status"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            format!("  #{i} {}: {}", n["status"].as_str().unwrap_or("?"), alerts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many notifications have an alert in `status` with `labels`.
fn count(hook: &FakeWebhook, status: &str, labels: &[(&str, &str)]) -> usize {
    notifications(hook, 0).iter().filter(|(_, n)| has_alert(n, status, labels)).count()
}

/// Waits for a notification from index `from` on with an alert in `status` with `labels`;
/// returns its index and how long it took.
fn wait_notified(
    hook: &FakeWebhook,
    from: usize,
    status: &str,
    labels: &[(&str, &str)],
    context: impl Fn() -> String,
) -> (usize, Duration) {
    wait_for(
        &format!("a notification with an alert {status} {labels:?}"),
        || format!("the receiver got:\n{}\n{}", summary(hook), context()),
        || notifications(hook, from).into_iter().find(|(_, n)| has_alert(n, status, labels)).map(|(i, _)| i),
    )
}

/// Debian's alertmanager reads its notification templates from `/usr/share/prometheus/alertmanager`
/// (its `--help` names the directory) and refuses its configuration without `default.tmpl`;
/// `.ci/run` copies them there from the package. False, after [`test_support::missing`], when
/// this build needs them and they are not there.
fn debian_templates_found(alertmanager: &Path) -> bool {
    const DIR: &str = "/usr/share/prometheus/alertmanager";
    let help = Command::new(alertmanager).arg("--help").output().unwrap();
    let help = format!("{}{}", String::from_utf8_lossy(&help.stdout), String::from_utf8_lossy(&help.stderr));
    if !help.contains(DIR) || Path::new(DIR).join("default.tmpl").is_file() {
        return true;
    }
    test_support::missing(&format!(
        "{DIR}/default.tmpl, which Debian's alertmanager reads its templates from"
    ));
    false
}

#[test]
#[allow(clippy::too_many_lines)] // one story, told in order
fn a_fleet_alerts_through_a_real_prometheus_and_alertmanager() {
    let prometheus_tool = test_support::require_tool("prometheus");
    let alertmanager_tool = test_support::require_tool("alertmanager");
    let (Some(prometheus_tool), Some(alertmanager_tool)) = (prometheus_tool, alertmanager_tool) else {
        return;
    };
    if !debian_templates_found(&alertmanager_tool) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hook = FakeWebhook::start();
    let receiver = hook.url("alertmanager");

    let mut am = Alertmanager::new(alertmanager_tool, dir, &receiver);
    am.start();

    // The hosts and their services, all up.
    let mut api = Service::new(); // host 2: scenario a
    let mut search = Service::new(); // host 2: scenario d, silenced
    let mut queue = Service::new(); // host 1: scenario b
    let mut cache = Service::new(); // host 1: scenario d, the control
    let mail = Service::new(); // host 3
    let mut hosts = vec![
        Host::start(dir, "host-1", &[("Queue", &queue), ("Cache", &cache)], am.addr),
        Host::start(dir, "host-2", &[("API", &api), ("Search", &search)], am.addr),
        Host::start(dir, "host-3", &[("Mail", &mail)], am.addr),
    ];

    // Prometheus: the shipped configuration's global section, rule_files and alerting (sent to
    // this Alertmanager), its scrape configs replaced by the three daemons (job agent-ops, as
    // shipped).
    let shipped = fs::read_to_string(dist("prometheus/prometheus.yml")).unwrap();
    let mut config =
        replace_once(&shipped, "scrape_interval: 30s", "scrape_interval: 1s\n  scrape_timeout: 1s");
    config = replace_once(&config, "evaluation_interval: 1m", "evaluation_interval: 1s");
    let shipped_alertmanagers = r#"- targets: ["10.0.0.5:9093", "10.0.0.6:9093"]"#;
    config = replace_once(&config, shipped_alertmanagers, &format!(r#"- targets: ["{}"]"#, am.addr));
    let scrape_at = config.find("\nscrape_configs:").expect("the shipped file has scrape_configs");
    assert!(
        shipped.contains("- job_name: agent-ops\n    metrics_path: /metrics\n"),
        "the shipped daemon job"
    );
    config.truncate(scrape_at);
    config.push_str(
        "\nscrape_configs:\n  - job_name: agent-ops\n    metrics_path: /metrics\n    static_configs:\n",
    );
    for h in &hosts {
        // The target's instance label is the one its agent sends: the inhibit rules match on it.
        let _ = writeln!(
            config,
            "      - targets: [\"{}\"]\n        labels: {{instance: {}}}",
            h.addr, h.instance
        );
    }
    let prom_dir = dir.join("prometheus");
    fs::create_dir_all(prom_dir.join("data")).unwrap();
    fs::write(prom_dir.join("prometheus.yml"), &config).unwrap();
    let rules = fs::read_to_string(dist("prometheus/agent-ops.rules.yml")).unwrap();
    let at = rules.find("- alert: AgentOpsDaemonUnreachable").expect("the shipped rule");
    let (before, after) = rules.split_at(at);
    let rules = format!("{before}{}", after.replacen("for: 5m", "for: 5s", 1));
    assert!(
        after.split("- alert:").nth(1).unwrap().contains("for: 5m"),
        "AgentOpsDaemonUnreachable's own for"
    );
    fs::write(prom_dir.join("agent-ops.rules.yml"), rules).unwrap();
    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = Command::new(&prometheus_tool);
    cmd.arg(format!("--config.file={}", prom_dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", prom_dir.join("data").display()))
        .arg(format!("--web.listen-address={prom_addr}"));
    let prometheus = Proc::spawn("prometheus", cmd, &prom_dir.join("prometheus.log"));

    let mut logs =
        vec![("prometheus".to_owned(), prom_dir.join("prometheus.log")), ("alertmanager".into(), am.log())];
    logs.extend(hosts.iter().map(|h| (format!("orchestrator of {}", h.instance), h.log.clone())));
    let context = || tails(&logs);
    // Ready: Prometheus has scraped all three daemons.
    let query = format!("/api/v1/query?query={}", encode("sum(up{job=\"agent-ops\"})"));
    let ((), took) = wait_for("Prometheus scrapes the three daemons", context, || {
        let (_, body) = http(prom_addr, "GET", &query, "").filter(|(s, _)| *s == 200)?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["data"]["result"][0]["value"][1] == "3").then_some(())
    });
    println!("ready: Prometheus scraped the three daemons after {took:.1?}");

    // a. API down on host 2.
    let down = [("alertname", "AgentOpsServiceDown"), ("service", "API"), ("instance", "host-2")];
    api.down();
    let (_, took) = wait_notified(&hook, 0, "firing", &down, context);
    println!("a: API down on host-2: notified after {took:.1?}");
    // The inhibit rule: Prometheus' AgentOpsProbeDown for the same service and host is muted by
    // it, one for another host is not. Its labels are those of the failing series as Prometheus
    // scraped it (so the rule is shown to match what Prometheus really has), posted by hand: the
    // shipped rule waits 10 minutes.
    let failing = format!("/api/v1/query?query={}", encode("agent_ops_probe_success{service=\"API\"} == 0"));
    let (series, took) = wait_for("Prometheus scrapes API's failed check", context, || {
        let (_, body) = http(prom_addr, "GET", &failing, "").filter(|(s, _)| *s == 200)?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let mut metric = v["data"]["result"][0]["metric"].as_object()?.clone();
        metric.remove("__name__");
        Some(metric)
    });
    println!("a: Prometheus has the failed check {series:?} after {took:.1?}");
    assert_eq!((&series["instance"], &series["job"]), (&json!("host-2"), &json!("agent-ops")), "{series:?}");
    let start = OffsetDateTime::now_utc();
    let probe = |instance: &str, end: OffsetDateTime| {
        let mut labels = series.clone();
        labels.insert("alertname".into(), json!("AgentOpsProbeDown"));
        labels.insert("severity".into(), json!("error"));
        labels.insert("instance".into(), json!(instance));
        json!({"labels": labels, "startsAt": rfc3339(start), "endsAt": rfc3339(end)})
    };
    let later = start + Duration::from_secs(3600);
    am.post_alerts(&json!([probe("host-2", later), probe("host-1", later)]));
    let probe_down =
        |instance| [("alertname", "AgentOpsProbeDown"), ("service", "API"), ("instance", instance)];
    let (state, _) = wait_for("Alertmanager has the two AgentOpsProbeDown", context, || {
        let muted = am.alerts(&probe_down("host-2")).pop()?;
        let control = am.alerts(&probe_down("host-1")).pop()?;
        Some((muted["status"].clone(), control["status"].clone()))
    });
    assert_eq!(state.0["state"], "suppressed", "{state:?}");
    assert_eq!(state.0["inhibitedBy"].as_array().map(Vec::len), Some(1), "{state:?}");
    assert_eq!(state.1["state"], "active", "{state:?}");
    wait_notified(&hook, 0, "firing", &probe_down("host-1"), context);
    // Both resolved while AgentOpsServiceDown still fires, as Prometheus would once the check
    // passes again.
    let end = OffsetDateTime::now_utc();
    am.post_alerts(&json!([probe("host-2", end), probe("host-1", end)]));
    wait_notified(&hook, 0, "resolved", &probe_down("host-1"), context);
    api.up();
    let (_, took) = wait_notified(&hook, 0, "resolved", &down, context);
    println!("a: API back up: resolved after {took:.1?}");
    assert_eq!(count(&hook, "firing", &down), 1, "one notification of the outage:\n{}", summary(&hook));
    assert_eq!(count(&hook, "resolved", &down), 1, "one of its resolution:\n{}", summary(&hook));
    assert_eq!(count(&hook, "firing", &probe_down("host-2")), 0, "muted:\n{}", summary(&hook));

    // b. Alertmanager killed, then Queue down on host 1: the alert waits in host 1's outbox.
    am.kill();
    let mark = hook.requests().len();
    queue.down();
    let (_, took) = wait_for("host-1's alert waits in its outbox", context, || {
        hosts[0].outbox_entries().filter(|n| *n > 0.0)
    });
    println!("b: Alertmanager down, Queue down on host-1: in host-1's outbox after {took:.1?}");
    let restarted = Instant::now();
    am.start();
    let ready_after = restarted.elapsed();
    let queue_down = [("alertname", "AgentOpsServiceDown"), ("service", "Queue"), ("instance", "host-1")];
    let (_, took) = wait_notified(&hook, mark, "firing", &queue_down, context);
    println!("b: Alertmanager restarted (ready after {ready_after:.1?}): Queue notified {took:.1?} later");
    queue.up();
    let (_, took) = wait_notified(&hook, mark, "resolved", &queue_down, context);
    println!("b: Queue back up: resolved after {took:.1?}");
    wait_for("host-1's outbox is empty", context, || hosts[0].outbox_entries().filter(|n| *n == 0.0));

    // c. host 3's agent killed.
    let mark = hook.requests().len();
    hosts[2].daemon.kill();
    let unreachable = [("alertname", "AgentOpsDaemonUnreachable"), ("instance", "host-3")];
    let (_, took) = wait_notified(&hook, mark, "firing", &unreachable, context);
    println!("c: host-3's agent killed: AgentOpsDaemonUnreachable notified after {took:.1?} (for: 5s)");

    // d. A silence on host 2, then an outage there and one on host 1 at the same time.
    let now = OffsetDateTime::now_utc();
    let silence = json!({
        "matchers": [{"name": "instance", "value": "host-2", "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(now), "endsAt": rfc3339(now + Duration::from_secs(3600)),
        "createdBy": "fleet.rs", "comment": "host-2 in maintenance"
    });
    let answer = http(am.addr, "POST", "/api/v2/silences", &silence.to_string());
    let Some((200, body)) = answer else { panic!("POST /api/v2/silences: {answer:?}") };
    let silence_id = serde_json::from_str::<Value>(&body).unwrap()["silenceID"].as_str().unwrap().to_owned();
    let mark = hook.requests().len();
    search.down();
    cache.down();
    let cache_down = [("alertname", "AgentOpsServiceDown"), ("service", "Cache"), ("instance", "host-1")];
    let search_down = [("alertname", "AgentOpsServiceDown"), ("service", "Search"), ("instance", "host-2")];
    let (_, took) = wait_notified(&hook, mark, "firing", &cache_down, context);
    println!("d: host-1's Cache (the control) notified after {took:.1?}");
    let (status, _) =
        wait_for("host-2's Search reaches Alertmanager", context, || am.alerts(&search_down).pop());
    assert_eq!(status["status"]["state"], "suppressed", "{status}");
    assert_eq!(status["status"]["silencedBy"], json!([silence_id]), "{status}");
    search.up();
    cache.up();
    wait_notified(&hook, mark, "resolved", &cache_down, context);
    // Search was silenced from its first alert to its resolution: never notified. So was the
    // AgentOpsProbeDown the inhibit rule muted.
    wait_for("host-2's Search resolved in Alertmanager", context, || {
        am.alerts(&search_down).iter().all(|a| a["status"]["state"] != "suppressed").then_some(())
    });
    assert_eq!(
        count(&hook, "firing", &search_down) + count(&hook, "resolved", &search_down),
        0,
        "{}",
        summary(&hook)
    );
    assert_eq!(count(&hook, "firing", &probe_down("host-2")), 0, "{}", summary(&hook));
    println!("d: host-2's Search: silenced in Alertmanager, never notified");

    println!("the receiver got {} notifications:\n{}", hook.requests().len(), summary(&hook));
    hosts.clear();
    drop(prometheus);
}
