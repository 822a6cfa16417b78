//! The orchestrator pass: what the Python kit's orchestrator script meant to be. [`run_pass`]
//! reads as its phases: check every service that is due, concurrently ([`check`]); restart
//! what fell over, parents before the services that depend on them, and re-check everything
//! still failing ([`restart`]); record one metrics line per check ([`record`]); judge each
//! service against its memory and alert without storms, one message per channel ([`alerts`]);
//! stalled and investigation tasks on the board ([`tasks`]); then housekeeping: metrics
//! retention, log rotation, the heartbeat and the log ([`housekeeping`]).
//!
//! A problem in one step (a state file that cannot be written, Telegram down) is a warning in
//! the report and the log, and the pass goes on: the monitor must still work when everything
//! around it is broken. Only another pass holding the lock stops it before it starts.

mod alerts;
mod check;
mod housekeeping;
mod record;
mod restart;
mod tasks;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ops_health::{CheckResult, Outcome};
use ops_state::timestamp::unix_seconds;
use ops_state::{StateError, StateFile, with_lock};
use time::OffsetDateTime;

pub use alerts::{AlertOutcome, AlertReport, outcome_words};
pub use restart::{RestartStep, Restarted, restart_now};

use crate::deps::Graph;
use crate::maintenance::{Quiet, Silences};
use crate::outage::Memory;
use crate::{Config, Env, Layout, Policy};

/// How a pass runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Restart, record, alert.
    #[default]
    Real,
    /// Restart nothing, send nothing, write nothing: say what would be done.
    DryRun,
}

/// Where a pass reads the time: the system's clock, or a test's.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system's clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// How a pass runs, in full.
#[derive(Clone)]
pub struct Options {
    /// Real or dry.
    pub mode: Mode,
    /// Where it reads the time.
    pub clock: Clock,
    /// Run by `orchestrator --loop`: a service without `interval_seconds` is checked every
    /// `check_interval_seconds`. Otherwise (cron, a timer) it is checked every pass, as the
    /// Python kit's orchestrator did.
    pub daemon: bool,
    /// Every check is due, whatever its interval and the last check (the daemon's first pass).
    pub everything: bool,
}

impl Options {
    /// A one-shot pass in `mode`, on the system's clock.
    pub fn new(mode: Mode) -> Self {
        Self { mode, clock: system_clock(), daemon: false, everything: false }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("mode", &self.mode)
            .field("daemon", &self.daemon)
            .field("everything", &self.everything)
            .finish_non_exhaustive()
    }
}

/// Why a pass did not run.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// Another pass holds the lock (it may be a long one; this is not an error for cron).
    #[error("another orchestrator pass is running (it holds {})", lock.display())]
    Busy {
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock itself could not be taken.
    #[error(transparent)]
    Lock(StateError),
    /// The pass stopped on a bug of agent-ops (a panic); the daemon reports it and goes on.
    #[error("the pass stopped on an internal error (a bug in agent-ops); the next pass runs as usual")]
    Crashed,
}

/// One line of what a pass did, as `logs/orchestrator.log` gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// What happened.
    Note(String),
    /// A problem that did not stop the pass.
    Warning(String),
}

/// `message`, or `WARNING: message`, as the log file has them.
impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Note(text) => f.write_str(text),
            Self::Warning(text) => write!(f, "WARNING: {text}"),
        }
    }
}

/// One service (or built-in check) checked in a pass.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// The first check's result.
    pub check: CheckResult,
    /// The last re-check, after the pass's restarts.
    pub recheck: Option<CheckResult>,
    /// The restart, if the service failed and has a restart command.
    pub restart: Option<RestartStep>,
    /// Why it is neither restarted nor alerted, if it is in maintenance or silenced.
    pub quiet: Option<Quiet>,
    /// The failing dependencies it is blocked by at the end of the pass (empty: not blocked).
    pub blocked_by: Vec<String>,
}

impl ServiceReport {
    /// The outcome at the end of the pass: the last re-check's, else the check's.
    pub fn outcome(&self) -> Outcome {
        self.recheck.as_ref().unwrap_or(&self.check).outcome
    }

    /// Its state word at the end of the pass, as `--json` and the served JSON say it:
    /// `blocked` (failing behind a failing dependency), `maintenance` (failing while quiet),
    /// else the outcome's `up`, `down` or `unknown`.
    pub fn state(&self) -> &'static str {
        if !self.blocked_by.is_empty() {
            "blocked"
        } else if self.quiet.is_some() && self.outcome().is_down() {
            "maintenance"
        } else {
            self.outcome().as_str()
        }
    }

    /// Up at the end of the pass (after a verified restart, if any).
    pub fn up(&self) -> bool {
        self.outcome().is_up()
    }

    /// Found down at the end of the pass, and not in maintenance. A check that could not be
    /// made (unknown) is not failing: nothing is known about the service.
    pub fn failing(&self) -> bool {
        self.outcome().is_down() && self.quiet.is_none()
    }
}

/// A check a pass did not make: its interval since the last one has not passed.
#[derive(Debug, Clone, PartialEq)]
pub struct NotDue {
    /// The service.
    pub name: String,
    /// Whether its last check found it failing.
    pub failing: bool,
    /// When it is due (unix seconds).
    pub due: f64,
}

/// Everything a pass did.
#[derive(Debug, Clone)]
pub struct PassReport {
    /// When it started.
    pub started: OffsetDateTime,
    /// Every check it made, in configuration order.
    pub services: Vec<ServiceReport>,
    /// The checks it left for a later pass (not due yet).
    pub not_due: Vec<NotDue>,
    /// The messages it sent (or would send, in a dry run), with what became of them.
    pub alerts: Vec<AlertReport>,
    /// What it did, line by line, as written to `logs/orchestrator.log`.
    pub log: Vec<LogLine>,
}

impl PassReport {
    /// Services still failing at the end of the pass, those in maintenance left out.
    pub fn failing(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|s| s.failing())
    }

    /// Whether anything is known to be failing: checked in this pass, or at its last check.
    pub fn any_failing(&self) -> bool {
        self.failing().next().is_some() || self.not_due.iter().any(|n| n.failing)
    }

    /// Services agent-ops could not check in this pass (its own failure, said in a warning).
    pub fn unknown(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|s| s.outcome().is_unknown())
    }

    /// When the next check is due in `orchestrator --loop` (unix seconds): the earliest of the
    /// checks left for later and the next of each check made now.
    pub fn next_due(&self, config: &Config) -> f64 {
        let now = unix_seconds(self.started);
        let every =
            |name: &str| policy_of(config, name).interval.unwrap_or(config.check_interval).as_secs_f64();
        let made = self.services.iter().map(|s| now + every(&s.check.name));
        made.chain(self.not_due.iter().map(|n| n.due))
            .fold(now + config.check_interval.as_secs_f64(), f64::min)
    }

    /// The problems that did not stop it.
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.log.iter().filter_map(|l| match l {
            LogLine::Warning(w) => Some(w.as_str()),
            LogLine::Note(_) => None,
        })
    }
}

/// The policy of the check named `name`: its service's, or the global one for a built-in check.
pub(crate) fn policy_of(config: &Config, name: &str) -> Policy {
    config.service(name).map_or_else(|| config.default_policy(), |s| s.policy.clone())
}

/// Runs one pass, as cron or a timer does. Returns [`PassError::Busy`] at once when another
/// pass is running.
pub fn run_pass(layout: &Layout, env: &Env, config: &Config, mode: Mode) -> Result<PassReport, PassError> {
    run_pass_with(layout, env, config, &Options::new(mode))
}

/// [`run_pass`] with every option: the daemon's schedule, or a test's clock (escalations after
/// an hour without waiting one).
pub fn run_pass_with(
    layout: &Layout,
    env: &Env,
    config: &Config,
    options: &Options,
) -> Result<PassReport, PassError> {
    if options.mode == Mode::DryRun {
        // A dry run writes nothing, not even the lock file, and may watch a running pass.
        return Ok(Pass::new(layout, env, config, options).run());
    }
    let lock = layout.pass_lock();
    match with_lock(&lock, Duration::ZERO, || Pass::new(layout, env, config, options).run()) {
        Ok(report) => Ok(report),
        Err(StateError::LockTimeout { path, .. }) => Err(PassError::Busy { lock: path }),
        Err(e) => Err(PassError::Lock(e)),
    }
}

/// Every check of the configuration, whether made in this pass or not: the names in probe
/// order, the dependency graph over them, and what is known of the checks not made.
pub(crate) struct Topology {
    names: Vec<String>,
    graph: Graph,
    /// For each check, its index in the pass's `services`, when it was made.
    made: Vec<Option<usize>>,
    /// For each check not made, whether its last check found it failing.
    remembered: Vec<bool>,
}

impl Topology {
    /// Which checks are failing now: the ones made, by their latest result; the others as
    /// their last check found them.
    fn failing(&self, services: &[ServiceReport]) -> Vec<bool> {
        (0..self.names.len())
            .map(|p| match self.made[p] {
                Some(k) => services[k].outcome().is_down(),
                None => self.remembered[p],
            })
            .collect()
    }

    /// For each check, the names of the failing roots blocking it now (empty: not blocked).
    fn blocked(&self, services: &[ServiceReport]) -> Vec<Vec<String>> {
        self.graph
            .blocked(&self.failing(services))
            .into_iter()
            .map(|roots| roots.unwrap_or_default().into_iter().map(|r| self.names[r].clone()).collect())
            .collect()
    }
}

/// One pass in progress: what it works on and what it has said so far.
struct Pass<'a> {
    layout: &'a Layout,
    env: &'a Env,
    config: &'a Config,
    mode: Mode,
    clock: Clock,
    daemon: bool,
    /// Every check is due ([`Options::everything`]).
    everything: bool,
    started: OffsetDateTime,
    /// `started` as unix seconds, the clock of the state files.
    now: f64,
    /// The outage memory as this pass found it (`None`: unreadable, not kept).
    memory: Option<BTreeMap<String, Memory>>,
    silences: Silences,
    /// For each check (in probe order), the roots blocking it when it was checked.
    blocked_at_check: Vec<Vec<String>>,
    log: Vec<LogLine>,
}

impl<'a> Pass<'a> {
    fn new(layout: &'a Layout, env: &'a Env, config: &'a Config, options: &Options) -> Self {
        let started = (options.clock)();
        Self {
            layout,
            env,
            config,
            mode: options.mode,
            clock: Arc::clone(&options.clock),
            daemon: options.daemon,
            everything: options.everything,
            started,
            now: unix_seconds(started),
            memory: None,
            silences: Silences::new(),
            blocked_at_check: Vec::new(),
            log: Vec::new(),
        }
    }

    fn dry(&self) -> bool {
        self.mode == Mode::DryRun
    }

    fn note(&mut self, line: impl Into<String>) {
        self.log.push(LogLine::Note(line.into()));
    }

    fn warn(&mut self, line: impl Into<String>) {
        self.log.push(LogLine::Warning(line.into()));
    }

    /// The outage memory, read once at the start; unreadable, it is neither used nor kept.
    fn read_memory(&mut self) {
        match StateFile::new(self.layout.outages()).read::<BTreeMap<String, Memory>>() {
            Ok(m) => self.memory = Some(m.unwrap_or_default()),
            Err(e) => self.warn(format!("outage memory not kept, alerts judged on this pass alone: {e}")),
        }
    }

    fn run(mut self) -> PassReport {
        self.note(if self.dry() {
            "=== Orchestrator dry run starting ==="
        } else {
            "=== Orchestrator run starting ==="
        });
        let alerter = self.alerter();
        self.read_memory();

        self.note("Phase 1: Health checks");
        let (mut services, probes, not_due, topology) = self.check();

        self.restart(&mut services, &probes, &topology);
        for (p, roots) in topology.blocked(&services).into_iter().enumerate() {
            if let Some(k) = topology.made[p] {
                services[k].blocked_by = roots;
            }
        }

        if !self.dry() {
            self.record(&services);
        }

        let (judged, memory) = self.judge(&services, &not_due, &topology);
        let mut items = self.compose(&services, &judged, &topology);
        if !items.is_empty() {
            self.note("Phase 3: Alerting");
        }
        let (stalled, stalled_memory) = self.stalled_tasks();
        items.extend(stalled);
        let queued = self.queue(&items, alerter.as_ref());

        // What was decided is kept only once its alerts are queued: a pass stopped before (a
        // crash, or a daemon stopped mid-pass) leaves the old memory, and the next pass decides,
        // and alerts, again. A duplicate is better than a lost alert.
        if !self.dry() {
            self.keep(memory);
            self.keep(stalled_memory);
        }
        let alerts = self.deliver(queued, alerter.as_ref());
        self.open_tasks(&services, &judged);

        self.housekeeping();
        let failing = services.iter().filter(|s| s.failing()).count();
        let later = if not_due.is_empty() { String::new() } else { format!(", {} not due", not_due.len()) };
        self.note(format!(
            "=== Orchestrator run complete: {} checks, {failing} failing{later} ===",
            services.len()
        ));
        if !self.dry() {
            self.heartbeat(&services);
            self.write_log();
        }
        PassReport { started: self.started, services, not_due, alerts, log: self.log }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use ops_health::{CheckKind, FailureKind, Unchecked};

    use super::*;

    /// A result agent-ops could not produce (no descriptor left): nothing about the service.
    fn unknown(name: &str) -> CheckResult {
        let detail = "agent-ops could not run this check: too many open files".to_owned();
        CheckResult::new(name, CheckKind::Port, Outcome::Unknown(Unchecked::Resources), detail)
    }

    /// A check agent-ops could not make is never taken for the service down: no restart, no
    /// down alert, no change to the outage memory, metrics say `unknown` (counted by neither
    /// reader), last-status keeps what was known, and one warning says so.
    #[test]
    fn an_unknown_result_is_never_a_service_down() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let ran = dir.path().join("restarted");
        let json = format!(
            r#"{{"services": [{{"name": "API", "type": "port", "port": 9, "restart_command": "touch {}"}}],
                "disk_paths": []}}"#,
            ran.display()
        );
        let config = Config::parse(Path::new("s.json"), json.as_bytes(), &env).unwrap().config;
        std::fs::create_dir_all(&layout.state).unwrap();
        std::fs::write(layout.last_status(), r#"{"API": true}"#).unwrap();
        let mut pass = Pass::new(&layout, &env, &config, &Options::new(Mode::Real));
        pass.read_memory();
        let services = vec![ServiceReport {
            check: unknown("API"),
            recheck: None,
            restart: None,
            quiet: None,
            blocked_by: vec![],
        }];
        let topology = pass.topology(&services, &[]);
        let mut services = services;
        pass.restart(&mut services, &config.probes(), &topology);
        assert!(services[0].restart.is_none() && !ran.exists(), "not restarted");
        pass.record(&services);
        let (judged, memory) = pass.judge(&services, &[], &topology);
        assert!(judged.iter().all(|j| j.judgement.notices.is_empty()), "{judged:?}");
        pass.keep(memory);
        assert!(!services[0].failing());
        let day =
            std::fs::read_to_string(ops_metrics::day_file(&layout.metrics, pass.started.date())).unwrap();
        assert!(day.contains(r#""status": "unknown""#), "{day}");
        let last: BTreeMap<String, bool> =
            serde_json::from_slice(&std::fs::read(layout.last_status()).unwrap()).unwrap();
        assert!(last["API"], "what was known stays");
        let outages = std::fs::read_to_string(layout.outages()).unwrap();
        assert!(!outages.contains("down_since"), "{outages}");
    }

    /// A warning is up: not restarted, not alerted as down, recorded `up` (with its state) and
    /// kept as up in last-status; and a service that was down and comes back with a warning
    /// has recovered.
    #[test]
    fn a_warning_is_up_for_every_phase() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let ran = dir.path().join("restarted");
        let json = format!(
            r#"{{"services": [{{"name": "API", "type": "port", "port": 9, "restart_command": "touch {}"}}],
                "disk_paths": []}}"#,
            ran.display()
        );
        let config = Config::parse(Path::new("s.json"), json.as_bytes(), &env).unwrap().config;
        std::fs::create_dir_all(&layout.state).unwrap();
        let detail = "HTTP 200, slower than warn_latency_ms 200".to_owned();
        let warning =
            CheckResult::new("API", CheckKind::Port, Outcome::Warning(FailureKind::Latency), detail);
        // The memory says it was down: a warning ends the outage like any up.
        std::fs::write(
            layout.outages(),
            r#"{"API": {"down_since": 1000.0, "alerted": true, "failures": 3}}"#,
        )
        .unwrap();
        let mut pass = Pass::new(&layout, &env, &config, &Options::new(Mode::Real));
        pass.read_memory();
        let mut services = vec![ServiceReport {
            check: warning,
            recheck: None,
            restart: None,
            quiet: None,
            blocked_by: vec![],
        }];
        let topology = pass.topology(&services, &[]);
        pass.restart(&mut services, &config.probes(), &topology);
        assert!(services[0].restart.is_none() && !ran.exists(), "not restarted");
        assert!(services[0].up() && !services[0].failing());
        pass.record(&services);
        let (judged, memory) = pass.judge(&services, &[], &topology);
        pass.keep(memory);
        let notices = &judged[0].judgement.notices;
        assert!(
            matches!(notices.as_slice(), [crate::outage::Notice::Recovered { .. }]),
            "a warning is seen up: {notices:?}"
        );
        let day =
            std::fs::read_to_string(ops_metrics::day_file(&layout.metrics, pass.started.date())).unwrap();
        assert!(day.contains(r#""status": "up""#) && day.contains(r#""state": "warning""#), "{day}");
        let last: BTreeMap<String, bool> =
            serde_json::from_slice(&std::fs::read(layout.last_status()).unwrap()).unwrap();
        assert!(last["API"]);
        let outages = std::fs::read_to_string(layout.outages()).unwrap();
        assert!(!outages.contains("down_since"), "the outage ended: {outages}");
    }
}
