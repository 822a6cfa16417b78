//! Soak and fault injection: `orchestrator --loop` at a short interval over 20 services
//! (steady, flapping, down for a while; restart commands that work, fail or hang; some tied by
//! `depends_on`, some checked on their own `interval_seconds`) while the fake Bot API fails a
//! random share of requests with 429, 500, held requests and connection resets, and a fake
//! Alertmanager, the second channel, answers a random share with 503. Afterwards: no panic, RSS
//! flat, every alert that was due delivered exactly once and in order (each outage opened and
//! closed, each gave-up, none for a blocked service), Alertmanager told of every outage and of
//! every resolution, the outbox empty once the fakes recovered, state files valid, no stray
//! processes.
//!
//! The alerts that were due are computed here, independently of ops-kit, from the states the
//! scripted services answered (pass by pass, the check then each re-check) and the rules of
//! docs/configuration.md ("The orchestrator", "Restarts", "Dependencies"), then compared, line
//! by line and service by service, with the messages the fake accepted (folded by the outbox:
//! one message per pass, a backlog as a digest, an opening folded into its recovery).
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

use ops_kit::deps::Graph;
use serde_json::{Value, json};
use test_support::{FakeBotApi, FakeWebhook, Fault, Faults, HookReply, Rng, procs};

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

/// One service: its name, its restart command, its dependencies and own interval (a multiple of
/// the loop's), and its state for each check request (`true` = up); after the script, it is up.
struct Spec {
    name: String,
    restart: Restart,
    max_attempts: u32,
    script: Vec<bool>,
    depends_on: Vec<usize>,
    interval: Option<f64>,
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

/// The 20 services of the soak, their scripts `len` requests long, with their dependencies
/// (`svcNN` is index NN - 1) and intervals.
fn services(seed: u64, len: usize) -> Vec<Spec> {
    let mut rng = Rng::new(seed);
    let mut specs = Vec::new();
    let mut add = |restart: Restart, max_attempts: u32, script: Vec<bool>| {
        let name = format!("svc{:02}", specs.len() + 1);
        specs.push(Spec { name, restart, max_attempts, script, depends_on: Vec::new(), interval: None });
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
    // The graph: a coin flip under another, a chain of outages (the last also under one checked
    // every other pass), a working restart under another, a hanging one under a failing one,
    // the one always down under a hanging one.
    for (child, parents) in
        [(4, vec![3]), (7, vec![6]), (8, vec![7, 9]), (11, vec![10]), (16, vec![13]), (19, vec![18])]
    {
        specs[child].depends_on = parents;
    }
    for (i, every) in [(5, 3.0), (9, 2.0), (12, 2.0)] {
        specs[i].interval = Some(every);
    }
    specs
}

/// One check request a service answered.
#[derive(Debug, Clone, Copy)]
struct Hit {
    up: bool,
    /// Seconds since the server started.
    at: f64,
}

/// What the server saw, in order: check requests and heartbeat pings (the end of each pass).
#[derive(Debug, Clone)]
enum Seen {
    Hit(usize, Hit),
    Beat(String),
}

/// The loopback server behind every service (`GET /s/<index>`) and the heartbeat
/// (`GET /beat/<phase>`): answers 200 or 503 from each service's script, logs every request.
struct Services {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Services {
    fn start(specs: &Arc<Vec<Spec>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (specs, l) = (Arc::clone(specs), Arc::clone(&log));
        let born = Instant::now();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (specs, log) = (Arc::clone(&specs), Arc::clone(&l));
                thread::spawn(move || {
                    let _ = answer(stream, &specs, &log, born);
                });
            }
        });
        Self { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn beats(&self, phase: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|s| matches!(s, Seen::Beat(p) if p == phase)).count()
    }

    fn log(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

fn answer(
    mut stream: TcpStream,
    specs: &[Spec],
    log: &Mutex<Vec<Seen>>,
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
        let mut log = log.lock().unwrap();
        let asked = log.iter().filter(|s| matches!(s, Seen::Hit(j, _) if *j == i)).count();
        let up = specs[i].up_at(asked);
        log.push(Seen::Hit(i, Hit { up, at: born.elapsed().as_secs_f64() }));
        if up { 200 } else { 503 }
    } else if let Some(phase) = path.strip_prefix("/beat/") {
        log.lock().unwrap().push(Seen::Beat(phase.to_owned()));
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

/// What the failure line says about a service's restart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Note {
    /// No restart.
    None,
    /// The command ran and the re-check passed.
    Recovered,
    /// Not restarted, but up again at the re-check after other restarts.
    Back,
    /// The command ran and exited with this code; the re-check failed.
    Exited(i32),
    /// The command hung and was killed; the re-check failed.
    TimedOut,
    /// Every allowed attempt was used.
    Exhausted,
}

/// A line of an alert, as far as the rules decide it (details and durations left out).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Line {
    /// Under "Health check failures": the outage opened; what it blocks, what came back with it.
    Opened { note: Note, blocks: Vec<String>, with: Vec<String> },
    /// The same, down and back in one pass (a restart or a re-check found it up).
    OpenedAndClosed { note: Note, blocks: Vec<String>, with: Vec<String> },
    /// Under "Gave up".
    GaveUp(u32),
    /// Under "Recovered": the outage closed (an opening or gave-up of it folded in when it
    /// waited in the same message).
    Closed { gave_up: bool, restarted: bool, with: Vec<String> },
    /// Anything else (a test failure).
    Other(String),
}

/// One service's memory in the model.
#[derive(Debug, Default, Clone)]
struct Model {
    failures: u32,
    successes: u32,
    open: bool,
    alerted: bool,
    gave_up_alerted: bool,
    attempts: u32,
    last_attempt: Option<f64>,
}

/// The passes as the server saw them: for each pass (ended by a heartbeat), each service's
/// requests in order (the check, then each re-check; none when it was not due).
fn passes(log: &[Seen], n: usize) -> Vec<Vec<Vec<Hit>>> {
    let mut out = Vec::new();
    let mut current = vec![Vec::new(); n];
    for s in log {
        match s {
            Seen::Hit(i, hit) => current[*i].push(*hit),
            Seen::Beat(_) => out.push(std::mem::replace(&mut current, vec![Vec::new(); n])),
        }
    }
    assert!(current.iter().all(Vec::is_empty), "requests after the last pass: {current:?}");
    out
}

/// The lines due, per service, in order, replaying the passes with the documented rules.
fn expected(specs: &[Spec], log: &[Seen]) -> (usize, Vec<Vec<Line>>) {
    let n = specs.len();
    let graph = Graph::new(specs.iter().map(|s| s.depends_on.clone()).collect()).unwrap();
    let mut models = vec![Model::default(); n];
    let mut due: Vec<Vec<Line>> = vec![Vec::new(); n];
    let passes = passes(log, n);
    for (p, hits) in passes.iter().enumerate() {
        let checked: Vec<bool> = hits.iter().map(|h| !h.is_empty()).collect();
        let failing: Vec<bool> =
            (0..n).map(|i| if checked[i] { !hits[i][0].up } else { models[i].failures > 0 }).collect();
        let at_check = graph.blocked(&failing);
        let r = restarts(specs, &graph, &mut models, hits, failing, p);
        let blocked_now = graph.blocked(&r.failing);
        let names = |f: &dyn Fn(usize) -> bool| -> Vec<String> {
            (0..n).filter(|&c| f(c)).map(|c| specs[c].name.clone()).collect()
        };
        for i in (0..n).filter(|&i| checked[i]) {
            // Not due: no reminders or escalations in the soak, nothing to say.
            let seen = Pass {
                first_down: !hits[i][0].up,
                back: !hits[i][0].up && !r.failing[i],
                blocked: blocked_now[i].is_some() || (at_check[i].is_some() && !r.failing[i]),
                blocks: names(&|c| blocked_now[c].as_ref().is_some_and(|b| b.contains(&i))),
                with: names(&|c| !r.failing[c] && at_check[c].as_ref().is_some_and(|b| b.contains(&i))),
                note: match &r.note[i] {
                    Note::None if !hits[i][0].up && !r.failing[i] => Note::Back,
                    note => note.clone(),
                },
                gave_up: r.gave_up[i],
                ran: r.ran[i],
            };
            judge(&mut models[i], &seen, &mut due[i]);
        }
    }
    (passes.len(), due)
}

/// What one pass's restarts did, in the model.
struct Restarts {
    /// Each service's state at the end of the pass.
    failing: Vec<bool>,
    note: Vec<Note>,
    /// Attempts, when the policy gave up.
    gave_up: Vec<Option<u32>>,
    ran: Vec<bool>,
}

/// Restarts, parents first: each round restarts the failing services no failing dependency
/// blocks (as the policy allows); then every failing service is checked again.
fn restarts(
    specs: &[Spec],
    graph: &Graph,
    models: &mut [Model],
    hits: &[Vec<Hit>],
    mut failing: Vec<bool>,
    pass: usize,
) -> Restarts {
    let n = specs.len();
    let checked: Vec<bool> = hits.iter().map(|h| !h.is_empty()).collect();
    let mut used = checked.iter().map(|&c| usize::from(c)).collect::<Vec<_>>();
    let mut considered = vec![false; n];
    let mut r = Restarts {
        failing: Vec::new(),
        note: vec![Note::None; n],
        gave_up: vec![None; n],
        ran: vec![false; n],
    };
    loop {
        let blocked = graph.blocked(&failing);
        let mut run = Vec::new();
        for i in 0..n {
            if !checked[i]
                || !failing[i]
                || blocked[i].is_some()
                || specs[i].restart == Restart::None
                || considered[i]
            {
                continue;
            }
            considered[i] = true;
            let m = &mut models[i];
            let now = hits[i][0].at;
            let attempts = match m.last_attempt {
                Some(t) if now - t <= FORGET_AFTER => m.attempts,
                _ => 0,
            };
            if attempts >= specs[i].max_attempts {
                r.note[i] = Note::Exhausted;
                r.gave_up[i] = Some(attempts);
            } else {
                m.attempts = attempts + 1;
                m.last_attempt = Some(now);
                run.push(i);
            }
        }
        if run.is_empty() {
            break;
        }
        let again: Vec<usize> = (0..n).filter(|&i| checked[i] && failing[i]).collect();
        for i in again {
            let recheck = *hits[i]
                .get(used[i])
                .unwrap_or_else(|| panic!("{}: no re-check in pass {pass}", specs[i].name));
            used[i] += 1;
            failing[i] = !recheck.up;
        }
        for i in run {
            r.ran[i] = true;
            r.note[i] = match (failing[i], specs[i].restart) {
                (false, _) => {
                    models[i].attempts = 0;
                    Note::Recovered
                }
                (true, Restart::Works) => Note::Exited(0),
                (true, Restart::Fails) => Note::Exited(3),
                (true, _) => Note::TimedOut,
            };
        }
    }
    for i in 0..n {
        assert_eq!(used[i], hits[i].len(), "{}: requests left over in pass {pass}", specs[i].name);
    }
    r.failing = failing;
    r
}

/// What a pass made of one service, in the model.
#[allow(clippy::struct_excessive_bools)] // independent facts of one pass
struct Pass {
    first_down: bool,
    /// Down at its check, up at the end of the pass.
    back: bool,
    blocked: bool,
    blocks: Vec<String>,
    with: Vec<String>,
    note: Note,
    gave_up: Option<u32>,
    ran: bool,
}

/// The rules (thresholds 2 and 2, no reminders): the lines one pass makes due for a service.
fn judge(m: &mut Model, s: &Pass, due: &mut Vec<Line>) {
    if !s.first_down {
        m.failures = 0;
        m.successes += 1;
        if m.open && m.successes >= SUCCESS_THRESHOLD {
            if m.alerted {
                due.push(Line::Closed { gave_up: m.gave_up_alerted, restarted: false, with: Vec::new() });
            }
            m.open = false;
            m.alerted = false;
            m.gave_up_alerted = false;
        }
        return;
    }
    m.successes = 0;
    m.failures += 1;
    m.open = true;
    let mut opened_now = false;
    if !s.blocked {
        if !m.alerted && m.failures >= FAILURE_THRESHOLD {
            m.alerted = true;
            opened_now = true;
            if !s.back {
                due.push(Line::Opened {
                    note: s.note.clone(),
                    blocks: s.blocks.clone(),
                    with: s.with.clone(),
                });
            }
        }
        if let Some(attempts) = s.gave_up
            && m.alerted
            && !m.gave_up_alerted
        {
            m.gave_up_alerted = true;
            // Down and back in this pass: said by the failure's own line.
            if !(s.back && opened_now) {
                due.push(Line::GaveUp(attempts));
            }
        }
    }
    if s.back {
        if opened_now {
            due.push(Line::OpenedAndClosed {
                note: s.note.clone(),
                blocks: s.blocks.clone(),
                with: s.with.clone(),
            });
        } else if m.alerted {
            due.push(Line::Closed { gave_up: m.gave_up_alerted, restarted: s.ran, with: s.with.clone() });
        }
        m.failures = 0;
        m.successes = 1;
        m.open = false;
        m.alerted = false;
        m.gave_up_alerted = false;
    }
}

/// The service and line of each line of a delivered message (a digest's times taken off).
fn parse(displayed: &str) -> Vec<(String, Line)> {
    let Some((_title, body)) = displayed.split_once("\n\n") else {
        return vec![(String::new(), Line::Other(displayed.into()))];
    };
    let mut out = Vec::new();
    let mut section = "";
    for raw in body.lines() {
        if let Some(heading) = raw.strip_suffix(':').filter(|_| !raw.starts_with(' ')) {
            section = heading;
            continue;
        }
        let Some(mut text) = raw.strip_prefix(" - ") else { continue };
        // A digest's line starts with its time: `14:02 ` (or `2025-12-01 14:02 `).
        if let Some((time, rest)) = text.split_once(' ')
            && time.len() == 5
            && time.as_bytes()[2] == b':'
        {
            text = rest;
        } else if text.len() > 17 && text.as_bytes()[4] == b'-' && text.as_bytes()[13] == b':' {
            text = &text[17..];
        }
        out.push(parse_line(section, text));
    }
    out
}

/// `; blocks A, B` and `; A, B recovered with it` (or `up again`) at the end of a line.
fn suffixes(text: &str) -> (Vec<String>, Vec<String>) {
    let list = |s: &str| s.split(", ").map(str::to_owned).collect::<Vec<_>>();
    let mut blocks = Vec::new();
    let mut with = Vec::new();
    for part in text.split("; ").skip(1) {
        if let Some(names) = part.strip_prefix("blocks ") {
            blocks = list(names);
        } else if let Some(names) =
            part.strip_suffix(" recovered with it").or_else(|| part.strip_suffix(" up again"))
        {
            with = list(names);
        }
    }
    (blocks, with)
}

fn parse_line(section: &str, text: &str) -> (String, Line) {
    let other = || (String::new(), Line::Other(format!("{section}: {text}")));
    match section {
        "Health check failures" => {
            let Some((name, rest)) = text.split_once(": ") else { return other() };
            let back = rest.contains("(up again at the re-check)");
            let note = if rest.contains("(restarted: recovered)") {
                Note::Recovered
            } else if rest.contains("(restarts exhausted)") {
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
            } else if back {
                Note::Back
            } else {
                Note::None
            };
            let (blocks, with) = suffixes(rest);
            let line = if note == Note::Recovered || back {
                Line::OpenedAndClosed { note, blocks, with }
            } else {
                Line::Opened { note, blocks, with }
            };
            (name.to_owned(), line)
        }
        "Gave up" => {
            let Some((name, tail)) = text.split_once(" failed after ") else { return other() };
            let Some(n) = tail.split_whitespace().next().and_then(|n| n.parse().ok()) else { return other() };
            (name.to_owned(), Line::GaveUp(n))
        }
        "Recovered" => {
            let Some((name, rest)) = text.split_once(" was down ") else { return other() };
            let (_, with) = suffixes(rest);
            let line = Line::Closed {
                gave_up: rest.contains("; its restarts had been given up"),
                restarted: rest.contains(", restarted and recovered at "),
                with,
            };
            (name.to_owned(), line)
        }
        _ => other(),
    }
}

/// What a message shows of a run of due lines: an opening (or a gave-up) is folded into the
/// recovery of its outage when that follows in the same message.
fn folded(chunk: &[Line]) -> Vec<Line> {
    let mut shown: Vec<Line> = Vec::new();
    let mut episode_start = 0;
    for l in chunk {
        if matches!(l, Line::Closed { .. }) {
            shown.truncate(episode_start);
        }
        shown.push(l.clone());
        if matches!(l, Line::Closed { .. } | Line::OpenedAndClosed { .. }) {
            episode_start = shown.len();
        }
    }
    shown.sort();
    shown
}

/// What one service's messages said, against what was due: each message (in delivery order)
/// must show the next run of due lines, folded, in any order (a message lists its lines by
/// heading). Returns the due lines never shown, the shown lines that were not due, and how
/// many messages repeated the one before.
fn compare(due: &[Line], messages: &[Vec<Line>]) -> (Vec<Line>, Vec<Line>, usize) {
    let mut i = 0;
    let mut surplus = Vec::new();
    let mut duplicates = 0;
    let mut previous: Option<Vec<Line>> = None;
    for shown in messages {
        let mut shown = shown.clone();
        shown.sort();
        match (1..=due.len() - i.min(due.len())).find(|&k| folded(&due[i..i + k]) == shown) {
            Some(k) => {
                i += k;
                previous = Some(shown);
            }
            None if previous.as_ref() == Some(&shown) => duplicates += 1,
            None => surplus.extend(shown),
        }
    }
    (due[i..].to_vec(), surplus, duplicates)
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
    (api, am): (&FakeBotApi, &FakeWebhook),
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
            if !s.depends_on.is_empty() {
                v["depends_on"] = json!(s.depends_on.iter().map(|&j| specs[j].name.clone()).collect::<Vec<_>>());
            }
            if let Some(every) = s.interval {
                v["interval_seconds"] = json!(every * interval);
            }
            v
        })
        .collect();
    json!({
        "services": list,
        // Firing alerts end an hour after each sending: longer than the soak, so an alert that
        // ends before the soak does was sent resolved.
        "alerting": {"telegram_bot_token": TOKEN, "telegram_chat_id": "42", "telegram_api_url": api.url(), "timeout_seconds": 0.5,
                     "alertmanager": {"urls": [am.url("am")], "instance": "soak", "resolve_timeout_seconds": 3600}},
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
    (api, am): (&FakeBotApi, &FakeWebhook),
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
    am.clear();
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
    /// Lines due, and delivered, over all services.
    due: usize,
    delivered: usize,
    messages: usize,
    digests: usize,
    /// Delivered lines that repeat one already delivered (a resend).
    duplicates: usize,
    missing: Vec<(String, Line)>,
    surplus: Vec<(String, Line)>,
    due_by_kind: BTreeMap<&'static str, usize>,
}

fn tally(specs: &[Spec], services: &Services, api: &FakeBotApi) -> Tally {
    let (passes, due) = expected(specs, &services.log());
    let delivered_messages = joined(&api.delivered().into_iter().map(|d| d.displayed).collect::<Vec<_>>());
    // For each service, the lines of each message that named it.
    let mut delivered: BTreeMap<String, Vec<Vec<Line>>> = BTreeMap::new();
    let mut surplus = Vec::new();
    for d in &delivered_messages {
        let mut of_this: BTreeMap<String, Vec<Line>> = BTreeMap::new();
        for (name, line) in parse(d) {
            if specs.iter().any(|s| s.name == name) {
                of_this.entry(name).or_default().push(line);
            } else {
                surplus.push((name, line));
            }
        }
        for (name, lines) in of_this {
            delivered.entry(name).or_default().push(lines);
        }
    }
    let mut missing = Vec::new();
    let mut due_by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut duplicates = 0;
    for (spec, want) in specs.iter().zip(&due) {
        for l in want {
            let kind = match l {
                Line::Opened { .. } => "opened",
                Line::OpenedAndClosed { .. } => "down and back in one pass",
                Line::GaveUp(_) => "gave up",
                Line::Closed { .. } => "recovered",
                Line::Other(_) => "other",
            };
            *due_by_kind.entry(kind).or_default() += 1;
        }
        let got = delivered.get(&spec.name).cloned().unwrap_or_default();
        let (m, extra, repeated) = compare(want, &got);
        duplicates += repeated;
        missing.extend(m.into_iter().map(|l| (spec.name.clone(), l)));
        surplus.extend(extra.into_iter().map(|l| (spec.name.clone(), l)));
    }
    Tally {
        passes,
        due: due.iter().map(Vec::len).sum(),
        delivered: delivered.values().flatten().map(Vec::len).sum(),
        messages: delivered_messages.len(),
        digests: delivered_messages.iter().filter(|d| d.contains("\n\nDigest of ")).count(),
        duplicates,
        missing,
        surplus,
        due_by_kind,
    }
}

/// What Alertmanager was told, against the outages the rules say were alerted.
struct Told {
    /// Services whose outages or resolutions Alertmanager did not get as due.
    wrong: Vec<String>,
    figures: String,
}

/// For each service, the outages Alertmanager accepted (by `startsAt`) must be those alerted
/// (each opening due), and those that closed must have reached it resolved (an alert ending
/// before the soak did; a firing one ends an hour after it was sent).
fn alertmanager_told(
    specs: &[Spec],
    services: &Services,
    am: &FakeWebhook,
    started: time::OffsetDateTime,
) -> Told {
    use time::format_description::well_known::Rfc3339;
    let (_, due) = expected(specs, &services.log());
    let requests = am.requests();
    let accepted: Vec<&Value> = requests
        .iter()
        .filter(|r| r.status == Some(200))
        .flat_map(|r| r.body.as_array().into_iter().flatten())
        .collect();
    let refused = requests.iter().filter(|r| r.status != Some(200)).count();
    let end = time::OffsetDateTime::now_utc();
    let mut wrong = Vec::new();
    let (mut outages, mut resolutions) = (0, 0);
    for (spec, lines) in specs.iter().zip(&due) {
        let opened =
            lines.iter().filter(|l| matches!(l, Line::Opened { .. } | Line::OpenedAndClosed { .. })).count();
        let closed =
            lines.iter().filter(|l| matches!(l, Line::Closed { .. } | Line::OpenedAndClosed { .. })).count();
        let mut by_start: BTreeMap<String, bool> = BTreeMap::new();
        for a in accepted.iter().filter(|a| a["labels"]["service"] == spec.name.as_str()) {
            let ends =
                time::OffsetDateTime::parse(a["endsAt"].as_str().unwrap_or_default(), &Rfc3339).unwrap();
            let resolved = ends >= started && ends <= end;
            *by_start.entry(a["startsAt"].as_str().unwrap_or_default().to_owned()).or_default() |= resolved;
        }
        let got_resolved = by_start.values().filter(|r| **r).count();
        outages += by_start.len();
        resolutions += got_resolved;
        if by_start.len() != opened || got_resolved != closed {
            wrong.push(format!(
                "{}: {opened} outage(s) alerted and {closed} closed; Alertmanager got {} and {got_resolved} resolved",
                spec.name,
                by_start.len()
            ));
        }
    }
    let figures = format!(
        "soak: Alertmanager: {} requests ({refused} refused with 503), {} alerts accepted: {outages} outages, {resolutions} resolutions, {} wrong",
        requests.len(),
        accepted.len(),
        wrong.len()
    );
    Told { wrong, figures }
}

/// The messages as sent: the numbered parts of a long one (`Agent Ops Alert (2/3)`), which
/// Telegram receives one after the other, joined again on the line breaks they were split on.
fn joined(displayed: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for d in displayed {
        let (title, body) = d.split_once("\n\n").unwrap_or((d.as_str(), ""));
        let numbered = title.strip_suffix(')').and_then(|t| t.rsplit_once(" (")).and_then(|(head, n)| {
            n.split_once('/').map(|(i, of)| (head, i.parse::<usize>().ok(), of.parse::<usize>().ok()))
        });
        match numbered {
            Some((head, Some(i), Some(n))) => {
                parts.push(body.to_owned());
                if i == n {
                    out.push(format!("{head}\n\n{}", parts.join("\n")));
                    parts.clear();
                }
            }
            _ => out.push(d.clone()),
        }
    }
    assert!(parts.is_empty(), "a message whose last part never came: {parts:?}");
    out
}

/// The soak's figures, for the closing note.
fn figures(settings: &Settings, run: &Run, t: &Tally, requests: usize) -> String {
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
        "soak: alert lines due {}, delivered {} in {} messages ({} digests), duplicated messages {}, missing {}, unexpected {}",
        t.due,
        t.delivered,
        t.messages,
        t.digests,
        t.duplicates,
        t.missing.len(),
        t.surplus.len()
    );
    let _ = writeln!(f, "soak: due by kind {:?}", t.due_by_kind);
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

/// The schedule: every pass checks something (but the last, whose configuration made every
/// interval an hour); the services without an interval of their own share
/// `check_interval_seconds`, so each pass checks all of them or none; a service with its own
/// interval is left out of some passes. (When exactly a check is due is tested with a test
/// clock, in ops-kit's tests/escalation.rs: here the requests reach the server a variable time
/// after their pass starts.)
fn check_intervals(specs: &[Spec], log: &[Seen]) {
    let mut passes = passes(log, specs.len());
    let last = passes.pop().unwrap_or_default();
    assert!(last.iter().all(Vec::is_empty), "nothing is due in the last pass: {last:?}");
    let (own, shared): (Vec<usize>, Vec<usize>) =
        (0..specs.len()).partition(|&i| specs[i].interval.is_some());
    for (p, hits) in passes.iter().enumerate() {
        assert!(hits.iter().any(|h| !h.is_empty()), "pass {p} checked nothing");
        let checked = shared.iter().filter(|&&i| !hits[i].is_empty()).count();
        assert!(
            checked == 0 || checked == shared.len(),
            "pass {p} checked {checked} of {} shared services",
            shared.len()
        );
    }
    for i in own {
        let checks = passes.iter().filter(|p| !p[i].is_empty()).count();
        assert!(
            checks > 0 && checks < passes.len(),
            "{} was checked in {checks} of {} passes",
            specs[i].name,
            passes.len()
        );
    }
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
    // Alertmanager down at random: a 503 for a share of its requests until the fakes recover.
    let am = FakeWebhook::start();
    let mut rng = Rng::new(settings.seed ^ 0xA1E7);
    am.push(
        (0..settings.passes * 4)
            .map(|_| HookReply::status(if rng.chance(settings.fault_share) { 503 } else { 200 })),
    );
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ops");
    let config_path = base.join("config/services.json");
    fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    let marker = format!("{}.{}", 5000 + std::process::id() % 1000, std::process::id());
    let write = |interval: f64, phase: &str| {
        write_config(&config_path, &config(&specs, &services, (&api, &am), &marker, interval, phase));
    };
    let soak_started = time::OffsetDateTime::now_utc();
    let run = run_loop(&settings, &base, &services, (&api, &am), write);

    let t = tally(&specs, &services, &api);
    let told = alertmanager_told(&specs, &services, &am, soak_started);
    eprintln!("{}", told.figures);
    let figures = figures(&settings, &run, &t, api.requests().len());
    eprint!("{figures}");

    let (stdout, stderr) = (&run.stdout, &run.stderr);
    assert_eq!(run.status.code(), Some(0), "the loop stopped cleanly on SIGTERM\n{figures}\n{stderr:#?}");
    assert!(
        stdout.iter().any(|l| l == "orchestrator: stopped")
            && !stdout.iter().any(|l| l.starts_with("stopping: the pass in progress")),
        "stopped between passes: {stdout:#?}"
    );
    assert!(!stderr.iter().any(|l| l.contains("panicked")), "{stderr:#?}");
    assert_eq!(t.passes, run.total, "every pass heard of\n{figures}");
    assert_eq!(pass_lines(stdout), run.total);
    assert!(run.injected.values().sum::<usize>() > 0 || settings.fault_share == 0.0, "faults were injected");
    assert_eq!(t.duplicates, 0, "duplicates: {:#?}\n{figures}", t.surplus);
    assert!(
        t.missing.is_empty() && t.surplus.is_empty(),
        "missing: {:#?}\nsurplus: {:#?}\n{figures}",
        t.missing,
        t.surplus
    );
    assert!(t.messages <= t.passes, "at most one message per pass\n{figures}");
    assert!(told.wrong.is_empty(), "Alertmanager: {:#?}\n{}", told.wrong, told.figures);
    check_intervals(&specs, &services.log());
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
