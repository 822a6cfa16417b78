//! Soak and fault injection: `orchestrator --loop` at a short interval over 20 services
//! (steady, flapping, down for a while; restart commands that work, fail or hang) while the
//! fake Bot API fails a random share of requests with 429, 500, held requests and connection
//! resets. Afterwards: no panic, RSS flat, every alert that was due delivered exactly once and
//! in order, the outbox empty once the fake recovered, state files valid, no stray processes.
//!
//! The alerts that were due are computed here, independently of ops-kit, from the states the
//! scripted services answered and the rules of docs/configuration.md ("The orchestrator" and
//! "Restarts"), then compared with the messages the fake accepted.
//!
//! Sized for CI by default (30 passes). A real soak: `cargo xtask soak --passes 2000`, or the
//! variables `AGENT_OPS_SOAK_PASSES`, `AGENT_OPS_SOAK_SEED`, `AGENT_OPS_SOAK_FAULT_SHARE`.
//! The figures are printed on stderr (`-- --nocapture` shows them).
#![allow(clippy::print_stderr)] // the figures are the soak's report

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{FakeBotApi, Fault, Faults, Rng, procs};

const TOKEN: &str = "123456:SOAK-token-never-printed";
/// Failed passes in a row before the failure alert; good ones before the recovery notice.
const FAILURE_THRESHOLD: u32 = 2;
const SUCCESS_THRESHOLD: u32 = 2;
/// The restart policy's memory (ops-recovery): attempts are forgotten after an hour without one.
const FORGET_AFTER: f64 = 3600.0;
/// How long a hanging restart may run before its process group is killed.
const RESTART_TIMEOUT: f64 = 0.2;
/// The longest the whole soak may take before the test gives up (a stuck pass).
const STUCK: Duration = Duration::from_secs(600);

/// The run's size and randomness, from the environment (defaults sized for CI).
struct Settings {
    passes: usize,
    seed: u64,
    fault_share: f64,
}

impl Settings {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        }
        Self {
            passes: var("AGENT_OPS_SOAK_PASSES", 30),
            seed: var("AGENT_OPS_SOAK_SEED", 20_260_801),
            fault_share: var("AGENT_OPS_SOAK_FAULT_SHARE", 0.3),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The services: scripted states, answered by a loopback HTTP server.
// ---------------------------------------------------------------------------------------------

/// What a service's restart command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    None,
    /// `exit 0`.
    Works,
    /// `exit 3`.
    Fails,
    /// Two `sleep`s, one in the background: killed with its group after the timeout.
    Hangs,
}

/// One service: its name, its restart command, and its state for each check request
/// (`true` = up); after the script, it is up.
struct Spec {
    name: String,
    restart: Restart,
    max_attempts: u32,
    script: Vec<bool>,
}

impl Spec {
    fn up_at(&self, request: usize) -> bool {
        self.script.get(request).copied().unwrap_or(true)
    }
}

/// Runs of `up` and `down` with lengths drawn from the ranges.
fn runs(rng: &mut Rng, len: usize, up: (usize, usize), down: (usize, usize), start_up: bool) -> Vec<bool> {
    let mut out = Vec::with_capacity(len);
    let mut state = start_up;
    while out.len() < len {
        let n = if state { rng.between(up.0, up.1) } else { rng.between(down.0, down.1) };
        out.extend(std::iter::repeat_n(state, n));
        state = !state;
    }
    out.truncate(len);
    out
}

/// The 20 services of the soak, their scripts `len` requests long.
fn services(seed: u64, len: usize) -> Vec<Spec> {
    let mut rng = Rng::new(seed);
    let mut specs = Vec::new();
    let mut add = |restart: Restart, max_attempts: u32, script: Vec<bool>| {
        let name = format!("svc{:02}", specs.len() + 1);
        specs.push(Spec { name, restart, max_attempts, script });
    };
    add(Restart::None, 3, vec![true; len]);
    // Flapping: strictly alternating (never alerts with thresholds 2 and 2), and at random.
    add(Restart::None, 3, (0..len).map(|i| i % 2 == 0).collect());
    add(Restart::None, 3, (0..len).map(|i| i % 2 == 1).collect());
    for _ in 0..3 {
        let script = (0..len).map(|_| rng.chance(0.5)).collect();
        add(Restart::None, 3, script);
    }
    // Outages without a restart command.
    for _ in 0..4 {
        let script = runs(&mut rng, len, (2, 8), (1, 7), true);
        add(Restart::None, 3, script);
    }
    // Restarts that work (short outages: the re-check often finds them back).
    for _ in 0..3 {
        let script = runs(&mut rng, len, (2, 6), (1, 3), true);
        add(Restart::Works, 3, script);
    }
    // Restarts that fail, and long outages: the policy gives up.
    for _ in 0..3 {
        let start_up = rng.chance(0.5);
        let script = runs(&mut rng, len, (2, 6), (3, 12), start_up);
        add(Restart::Fails, 2, script);
    }
    // Restarts that hang.
    for _ in 0..3 {
        let script = runs(&mut rng, len, (2, 6), (1, 6), true);
        add(Restart::Hangs, 3, script);
    }
    // Down for the whole script.
    add(Restart::Fails, 2, vec![false; len]);
    assert_eq!(specs.len(), 20);
    specs
}

/// One check request a service answered.
#[derive(Debug, Clone, Copy)]
struct Hit {
    up: bool,
    /// Seconds since the server started.
    at: f64,
}

/// The loopback server behind every service (`GET /s/<index>`) and the heartbeat
/// (`GET /beat/<phase>`): answers 200 or 503 from each service's script, logs every request.
struct Services {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Vec<Hit>>>>,
    beats: Arc<Mutex<Vec<String>>>,
}

impl Services {
    fn start(specs: &Arc<Vec<Spec>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(vec![Vec::new(); specs.len()]));
        let beats = Arc::new(Mutex::new(Vec::new()));
        let (specs, h, b) = (Arc::clone(specs), Arc::clone(&hits), Arc::clone(&beats));
        let born = Instant::now();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (specs, hits, beats) = (Arc::clone(&specs), Arc::clone(&h), Arc::clone(&b));
                thread::spawn(move || {
                    let _ = answer(stream, &specs, &hits, &beats, born);
                });
            }
        });
        Self { addr, hits, beats }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn beats(&self, phase: &str) -> usize {
        self.beats.lock().unwrap().iter().filter(|b| *b == phase).count()
    }

    fn hits(&self) -> Vec<Vec<Hit>> {
        self.hits.lock().unwrap().clone()
    }
}

fn answer(
    mut stream: TcpStream,
    specs: &[Spec],
    hits: &Mutex<Vec<Vec<Hit>>>,
    beats: &Mutex<Vec<String>>,
    born: Instant,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let status = if let Some(i) = path.strip_prefix("/s/").and_then(|i| i.parse::<usize>().ok()) {
        let mut hits = hits.lock().unwrap();
        let up = specs[i].up_at(hits[i].len());
        hits[i].push(Hit { up, at: born.elapsed().as_secs_f64() });
        if up { 200 } else { 503 }
    } else if let Some(phase) = path.strip_prefix("/beat/") {
        beats.lock().unwrap().push(phase.to_owned());
        200
    } else {
        404
    };
    let reason = if status == 200 { "OK" } else { "Unavailable" };
    write!(stream, "HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")?;
    stream.flush()
}

// ---------------------------------------------------------------------------------------------
// The expected alerts: the documented rules, applied to what the services answered.
// ---------------------------------------------------------------------------------------------

/// What the failure alert says about a service's restart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Note {
    /// No restart command.
    None,
    /// The command ran and the re-check passed.
    Recovered,
    /// The command ran and exited with this code; the re-check failed.
    Exited(i32),
    /// The command hung and was killed; the re-check failed.
    TimedOut,
    /// Every allowed attempt was used.
    Exhausted,
}

/// An alert, as far as the rules decide it (the check details and durations are left out).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Msg {
    /// "Health check failures:" listing the services that just went down.
    Down(Vec<(String, Note)>),
    /// "Auto-recovered: NAME" after a verified restart.
    AutoRecovered(String),
    /// "CRITICAL: NAME failed after N restart attempts."
    GaveUp(String, u32),
    /// The recovery notice listing the services back up.
    Recovered(Vec<String>),
    /// Anything else (a test failure).
    Other(String),
}

/// One service's memory in the model.
#[derive(Debug, Default, Clone)]
struct Model {
    failures: u32,
    successes: u32,
    alerted: bool,
    gave_up_alerted: bool,
    attempts: u32,
    last_attempt: Option<f64>,
}

/// Replays the passes from the services' request logs: each pass checks every service once
/// and re-checks the ones it restarted. Returns the number of passes and the alerts due, in
/// the order the orchestrator sends them.
fn expected(specs: &[Spec], hits: &[Vec<Hit>]) -> (usize, Vec<Msg>) {
    let mut models = vec![Model::default(); specs.len()];
    let mut next = vec![0usize; specs.len()];
    let mut out = Vec::new();
    let mut passes = 0;
    while next[0] < hits[0].len() {
        passes += 1;
        let mut down = Vec::new();
        let mut auto = Vec::new();
        let mut gave_up = Vec::new();
        let mut back = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let m = &mut models[i];
            let first =
                *hits[i].get(next[i]).unwrap_or_else(|| panic!("{}: no check in pass {passes}", spec.name));
            next[i] += 1;
            if first.up {
                m.failures = 0;
                m.successes += 1;
                if m.successes >= SUCCESS_THRESHOLD {
                    if m.alerted {
                        back.push(spec.name.clone());
                    }
                    m.alerted = false;
                    m.gave_up_alerted = false;
                }
                continue;
            }
            // Restarts: cooldown 0; attempts forgotten after an hour without one; reset by a
            // verified recovery only.
            let mut note = Note::None;
            let mut recovered = false;
            let mut exhausted = None;
            if spec.restart != Restart::None {
                let attempts = match m.last_attempt {
                    Some(t) if first.at - t <= FORGET_AFTER => m.attempts,
                    _ => 0,
                };
                if attempts >= spec.max_attempts {
                    note = Note::Exhausted;
                    exhausted = Some(attempts);
                } else {
                    m.attempts = attempts + 1;
                    m.last_attempt = Some(first.at);
                    let recheck = *hits[i]
                        .get(next[i])
                        .unwrap_or_else(|| panic!("{}: no re-check in pass {passes}", spec.name));
                    next[i] += 1;
                    recovered = recheck.up;
                    note = match (recovered, spec.restart) {
                        (true, _) => Note::Recovered,
                        (false, Restart::Works) => Note::Exited(0),
                        (false, Restart::Fails) => Note::Exited(3),
                        (false, _) => Note::TimedOut,
                    };
                    if recovered {
                        m.attempts = 0;
                        auto.push(spec.name.clone());
                    }
                }
            }
            m.successes = 0;
            m.failures += 1;
            if !m.alerted && m.failures >= FAILURE_THRESHOLD {
                m.alerted = true;
                down.push((spec.name.clone(), note));
            }
            if let Some(attempts) = exhausted
                && !m.gave_up_alerted
            {
                m.gave_up_alerted = true;
                gave_up.push(Msg::GaveUp(spec.name.clone(), attempts));
            }
            if recovered {
                // A verified restart ends the outage at once.
                m.failures = 0;
                m.successes = 1;
                m.alerted = false;
                m.gave_up_alerted = false;
            }
        }
        if !down.is_empty() {
            out.push(Msg::Down(down));
        }
        out.extend(auto.into_iter().map(Msg::AutoRecovered));
        out.extend(gave_up);
        if !back.is_empty() {
            out.push(Msg::Recovered(back));
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        assert_eq!(next[i], hits[i].len(), "{}: checks left over after {passes} passes", spec.name);
    }
    (passes, out)
}

/// Reads a delivered message back into what the rules decide.
fn parse(displayed: &str) -> Msg {
    let other = || Msg::Other(displayed.to_owned());
    let Some((_title, body)) = displayed.split_once("\n\n") else { return other() };
    if let Some(list) = body.strip_prefix("Health check failures:\n") {
        let mut entries = Vec::new();
        for line in list.lines() {
            let Some((name, rest)) = line.strip_prefix(" - ").and_then(|l| l.split_once(": ")) else {
                return other();
            };
            let note = if rest.ends_with("(restarted: recovered)") {
                Note::Recovered
            } else if rest.ends_with("(restarts exhausted)") {
                Note::Exhausted
            } else if rest.contains("(restarted: command timed out and was killed") {
                Note::TimedOut
            } else if let Some(code) = rest
                .split_once("(restarted: command failed with exit code ")
                .and_then(|(_, c)| c.split_once(';'))
                .and_then(|(c, _)| c.parse().ok())
            {
                Note::Exited(code)
            } else if rest.contains("(restarted: command exited 0; still down)") {
                Note::Exited(0)
            } else if rest.contains("(restart") {
                return other();
            } else {
                Note::None
            };
            entries.push((name.to_owned(), note));
        }
        return Msg::Down(entries);
    }
    if let Some(rest) = body.strip_prefix("Auto-recovered: ") {
        return Msg::AutoRecovered(rest.lines().next().unwrap_or_default().to_owned());
    }
    if let Some(rest) = body.strip_prefix("CRITICAL: ") {
        let Some((name, tail)) = rest.split_once(" failed after ") else { return other() };
        let Some(n) = tail.split_whitespace().next().and_then(|n| n.parse().ok()) else { return other() };
        return Msg::GaveUp(name.to_owned(), n);
    }
    if let Some(list) = body.strip_prefix("Recovered:\n") {
        let names =
            list.lines().map(|l| l.trim_start_matches(" - ").split(" (down for").next().unwrap_or_default());
        return Msg::Recovered(names.map(str::to_owned).collect());
    }
    if body.ends_with(" has recovered.") {
        return Msg::Recovered(vec![body.split(" (down for").next().unwrap_or_default().to_owned()]);
    }
    other()
}

/// Messages delivered more often than due, and due messages not delivered (multisets).
fn surplus_and_missing(expected: &[Msg], delivered: &[Msg]) -> (Vec<Msg>, Vec<Msg>) {
    let mut counts: BTreeMap<&Msg, i64> = BTreeMap::new();
    for m in expected {
        *counts.entry(m).or_default() += 1;
    }
    for m in delivered {
        *counts.entry(m).or_default() -= 1;
    }
    let mut surplus = Vec::new();
    let mut missing = Vec::new();
    for (m, n) in counts {
        for _ in 0..n.unsigned_abs() {
            if n < 0 { surplus.push(m.clone()) } else { missing.push(m.clone()) }
        }
    }
    (surplus, missing)
}

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

fn restart_command(restart: Restart, marker: &str) -> Option<String> {
    match restart {
        Restart::None => None,
        Restart::Works => Some("exit 0".into()),
        Restart::Fails => Some("echo cannot restart >&2; exit 3".into()),
        Restart::Hangs => Some(format!("sleep {marker}1 & sleep {marker}2")),
    }
}

fn config(
    specs: &[Spec],
    services: &Services,
    api: &FakeBotApi,
    marker: &str,
    interval: f64,
    phase: &str,
) -> String {
    let list: Vec<Value> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = json!({
                "name": s.name, "type": "url", "target": services.url(&format!("s/{i}")), "timeout_seconds": 5,
                "restart_cooldown_seconds": 0, "max_restart_attempts": s.max_attempts,
                "restart_timeout_seconds": RESTART_TIMEOUT,
            });
            if let Some(cmd) = restart_command(s.restart, marker) {
                v["restart_command"] = json!(cmd);
            }
            v
        })
        .collect();
    json!({
        "services": list,
        "alerting": {"telegram_bot_token": TOKEN, "telegram_chat_id": "42", "telegram_api_url": api.url(), "timeout_seconds": 0.5},
        "disk_paths": [],
        "check_interval_seconds": interval,
        "restart_grace_seconds": 0,
        "failure_threshold": FAILURE_THRESHOLD,
        "success_threshold": SUCCESS_THRESHOLD,
        "reminder_interval_seconds": 0,
        "heartbeat_url": services.url(&format!("beat/{phase}")),
    })
    .to_string()
}

/// Collects a pipe's lines on a thread (readable while it runs; join it for all of them).
fn collect(pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<String>>>, thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let reader = thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// Replaces the configuration atomically (the loop re-reads it before every pass).
fn write_config(path: &Path, json: &str) {
    let tmp = path.with_extension("json.new");
    fs::write(&tmp, json).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// The resident set size of `pid`, in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Polls `done` every 20 ms until it holds; panics naming `what` after [`STUCK`], or when the
/// orchestrator exited.
fn wait_until(child: &mut Child, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STUCK;
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the orchestrator exited ({status}) while waiting for {what}");
        }
        assert!(Instant::now() < deadline, "stuck: no {what} within {STUCK:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// What a run of the loop left for the checks.
struct Run {
    passes_with_faults: usize,
    /// Passes, counted by their heartbeat pings.
    total: usize,
    elapsed: Duration,
    status: std::process::ExitStatus,
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// (pass, VmRSS in KiB) after warm-up, and after the last pass.
    rss: Vec<(usize, u64)>,
    injected: BTreeMap<Fault, usize>,
}

/// Runs `orchestrator --loop` on `base`: `settings.passes` passes with faults, two more
/// without, then a last one after which it is stopped between passes with SIGTERM.
fn run_loop(
    settings: &Settings,
    base: &Path,
    services: &Services,
    api: &FakeBotApi,
    write: impl Fn(f64, &str),
) -> Run {
    write(0.1, "run");
    let started = Instant::now();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"))
        .arg("--loop")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", base)
        .env("AGENT_OPS_HOME", base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stdout_reader) = collect(child.stdout.take().unwrap());
    let (stderr, stderr_reader) = collect(child.stderr.take().unwrap());

    // The fault phase: RSS sampled after every pass from the third on (warm).
    let mut rss: Vec<(usize, u64)> = Vec::new();
    while services.beats("run") < settings.passes {
        let before = services.beats("run");
        wait_until(&mut child, "pass", || services.beats("run") > before);
        if before + 1 >= 3 {
            rss.push((before + 1, rss_kib(child.id())));
        }
    }
    let passes_with_faults = services.beats("run");
    // The fake recovers; once the last flood-control wait has passed (it is remembered: no
    // request goes out before), the passes deliver what waits, and two more follow.
    api.set_faults(None);
    let injected = api.injected();
    let outbox = base.join("state/alert-outbox.jsonl");
    wait_until(&mut child, "the outbox to empty", || {
        fs::read_to_string(&outbox).unwrap_or_default().trim().is_empty()
    });
    let recovered_at = services.beats("run");
    wait_until(&mut child, "passes after the recovery", || services.beats("run") >= recovered_at + 2);
    // The last pass: the new configuration (read before each pass) pings another URL and
    // waits an hour before the next pass, so the loop is stopped between passes.
    write(3600.0, "final");
    wait_until(&mut child, "the last pass", || services.beats("final") == 1);
    let total = services.beats("run") + 1;
    wait_until(&mut child, "the last pass's report", || pass_lines(&stdout.lock().unwrap()) == total);
    rss.push((total, rss_kib(child.id())));
    procs::signal(child.id(), rustix::process::Signal::TERM);
    let status = child.wait().unwrap();
    let elapsed = started.elapsed();
    stdout_reader.join().unwrap();
    stderr_reader.join().unwrap();
    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();
    Run { passes_with_faults, total, elapsed, status, stdout, stderr, rss, injected }
}

fn pass_lines(stdout: &[String]) -> usize {
    stdout.iter().filter(|l| l.starts_with("pass: ")).count()
}

/// What was due and what arrived.
struct Tally {
    passes: usize,
    due: Vec<Msg>,
    delivered: Vec<Msg>,
    duplicates: usize,
    missing: Vec<Msg>,
    surplus: Vec<Msg>,
}

fn tally(specs: &[Spec], services: &Services, api: &FakeBotApi) -> Tally {
    let (passes, due) = expected(specs, &services.hits());
    let delivered: Vec<Msg> = api.delivered().iter().map(|d| parse(&d.displayed)).collect();
    let (surplus, missing) = surplus_and_missing(&due, &delivered);
    let duplicates = surplus.iter().filter(|m| due.contains(m)).count();
    Tally { passes, due, delivered, duplicates, missing, surplus }
}

/// The soak's figures, for the closing note.
fn figures(settings: &Settings, run: &Run, t: &Tally, requests: usize, from_outbox: usize) -> String {
    let mut f = String::new();
    let _ = writeln!(f, "soak: seed {}, fault share {}", settings.seed, settings.fault_share);
    let _ = writeln!(
        f,
        "soak: {} passes ({} with faults), {:.1}s, {requests} Bot API requests",
        t.passes,
        run.passes_with_faults,
        run.elapsed.as_secs_f64()
    );
    let faults: Vec<String> =
        Fault::ALL.iter().map(|k| format!("{} {}", k.as_str(), run.injected.get(k).unwrap_or(&0))).collect();
    let _ = writeln!(
        f,
        "soak: injected faults: {} ({} in all)",
        faults.join(", "),
        run.injected.values().sum::<usize>()
    );
    let _ = writeln!(
        f,
        "soak: alerts expected {}, delivered {}, duplicates {}, missing {}, unexpected {}",
        t.due.len(),
        t.delivered.len(),
        t.duplicates,
        t.missing.len(),
        t.surplus.len() - t.duplicates
    );
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &t.due {
        let name = match m {
            Msg::Down(_) => "failures",
            Msg::AutoRecovered(_) => "auto-recovered",
            Msg::GaveUp(..) => "gave up",
            Msg::Recovered(_) => "recovered",
            Msg::Other(_) => "other",
        };
        *kinds.entry(name).or_default() += 1;
    }
    let _ = writeln!(f, "soak: expected by kind {kinds:?}");
    let _ = writeln!(f, "soak: delivered from the outbox by a later pass: {from_outbox}");
    let (first, last) = (run.rss[0], run.rss[run.rss.len() - 1]);
    let peak = run.rss.iter().map(|r| r.1).max().unwrap_or(0);
    let _ = writeln!(
        f,
        "soak: RSS after pass {} {} KiB, after pass {} {} KiB, peak {peak} KiB",
        first.0, first.1, last.0, last.1
    );
    let along: Vec<String> = (0..=4)
        .map(|q| run.rss[(run.rss.len() - 1) * q / 4])
        .map(|(pass, kib)| format!("pass {pass} {kib} KiB"))
        .collect();
    let _ = writeln!(f, "soak: RSS along the run: {}", along.join(", "));
    f
}

/// The files the run left: an empty outbox, valid JSON state, no temporaries, no token.
fn check_files(base: &Path) {
    let state = base.join("state");
    let outbox = fs::read_to_string(state.join("alert-outbox.jsonl")).unwrap_or_default();
    assert!(outbox.trim().is_empty(), "the outbox is empty once the fake recovered: {outbox}");
    assert!(!state.join("alert-outbox.jsonl.bad").exists());
    for file in files_under(&state) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(file.extension().is_none_or(|e| e != "tmp"), "a temporary file was left: {name}");
        if [".json", ".json.bak"].iter().any(|suffix| name.ends_with(suffix)) {
            let bytes = fs::read(&file).unwrap();
            assert!(serde_json::from_slice::<Value>(&bytes).is_ok(), "{name} is not valid JSON");
        }
    }
    let memory: Value = serde_json::from_slice(&fs::read(state.join("outages.json")).unwrap()).unwrap();
    assert_eq!(memory.as_object().unwrap().len(), 20);
    for file in files_under(&state).into_iter().chain(files_under(&base.join("logs"))) {
        assert!(!String::from_utf8_lossy(&fs::read(&file).unwrap()).contains(TOKEN), "{}", file.display());
    }
}

#[test]
fn soak_with_faults_delivers_every_due_alert_exactly_once() {
    let settings = Settings::from_env();
    let specs = Arc::new(services(settings.seed, settings.passes));
    let services = Services::start(&specs);
    let api = FakeBotApi::start(TOKEN);
    // 429s ask for 1 s (waited out) or 31 s (longer than the 30 s bound: remembered, and the
    // alerts wait in the outbox across passes until it has passed).
    api.set_faults(Some(Faults {
        retry_after: vec![1, 31],
        ..Faults::random(settings.seed, settings.fault_share)
    }));
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let config_path = base.join("config/services.json");
    fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    let marker = format!("{}.{}", 5000 + std::process::id() % 1000, std::process::id());
    let write = |interval: f64, phase: &str| {
        write_config(&config_path, &config(&specs, &services, &api, &marker, interval, phase));
    };
    let run = run_loop(&settings, &base, &services, &api, write);

    let t = tally(&specs, &services, &api);
    let log = fs::read_to_string(base.join("logs/orchestrator.log")).unwrap_or_default();
    let from_outbox =
        log.lines().filter(|l| l.contains("] Outbox: alert ") && l.contains(" -> sent to ")).count();
    let figures = figures(&settings, &run, &t, api.requests().len(), from_outbox);
    eprint!("{figures}");

    let (stdout, stderr) = (&run.stdout, &run.stderr);
    assert_eq!(run.status.code(), Some(0), "the loop stopped cleanly on SIGTERM\n{figures}\n{stderr:#?}");
    assert!(
        stdout.iter().any(|l| l == "orchestrator: stopped")
            && !stdout.iter().any(|l| l.starts_with("stopping: the pass in progress")),
        "stopped between passes: {stdout:#?}"
    );
    assert!(!stderr.iter().any(|l| l.contains("panicked")), "{stderr:#?}");
    assert_eq!(t.passes, run.total, "every pass checked every service once\n{figures}");
    assert_eq!(pass_lines(stdout), run.total);
    assert!(run.injected.values().sum::<usize>() > 0 || settings.fault_share == 0.0, "faults were injected");
    assert_eq!(t.duplicates, 0, "duplicates: {:#?}\n{figures}", t.surplus);
    assert!(
        t.missing.is_empty() && t.surplus.is_empty(),
        "missing: {:#?}\nsurplus: {:#?}\n{figures}",
        t.missing,
        t.surplus
    );
    assert_eq!(t.delivered, t.due, "in order\n{figures}");
    check_files(&base);
    // Hanging restarts were killed with their children.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !procs::with_marker(&format!("sleep {marker}")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "stray processes: {:?}",
            procs::with_marker(&format!("sleep {marker}"))
        );
        thread::sleep(Duration::from_millis(20));
    }
    // Memory flat: after warming up, the resident set grows by less than 8 MiB (a leak of an
    // alert, an outbox entry or a thread per pass would show over the passes).
    let (first, last) = (run.rss[0].1, run.rss[run.rss.len() - 1].1);
    assert!(last <= first + 8 * 1024, "RSS grew from {first} KiB to {last} KiB\n{figures}");
}
