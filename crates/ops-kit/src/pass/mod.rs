//! The orchestrator pass: what the Python kit's orchestrator script meant to be. [`run_pass`]
//! reads as its phases: check everything once, concurrently ([`check`]); restart what fell over
//! and re-check ([`restart`]); record one metrics line per check ([`record`]); judge each
//! service against its memory and alert without storms ([`alerts`]); stalled and
//! investigation tasks on the board ([`tasks`]); then housekeeping: metrics retention, log
//! rotation, the heartbeat and the log ([`housekeeping`]).
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

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ops_health::{CheckResult, Outcome};
use ops_state::timestamp::unix_seconds;
use ops_state::{StateError, with_lock};
use time::OffsetDateTime;

pub use alerts::{AlertOutcome, AlertReport};
pub use restart::RestartStep;

use crate::maintenance::Quiet;
use crate::{Config, Env, Layout};

/// How a pass runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Restart, record, alert.
    #[default]
    Real,
    /// Restart nothing, send nothing, write nothing: say what would be done.
    DryRun,
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

/// One service (or built-in check) in a pass.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// The first check's result.
    pub check: CheckResult,
    /// The re-check after a restart.
    pub recheck: Option<CheckResult>,
    /// The restart, if the service failed and has a restart command.
    pub restart: Option<RestartStep>,
    /// Why it is neither restarted nor alerted, if it is in maintenance or silenced.
    pub quiet: Option<Quiet>,
}

impl ServiceReport {
    /// The outcome at the end of the pass: the re-check's after a restart, else the check's.
    pub fn outcome(&self) -> Outcome {
        self.recheck.as_ref().unwrap_or(&self.check).outcome
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

/// Everything a pass did.
#[derive(Debug, Clone)]
pub struct PassReport {
    /// When it started.
    pub started: OffsetDateTime,
    /// Every check, in configuration order.
    pub services: Vec<ServiceReport>,
    /// The alerts it sent (or would send, in a dry run).
    pub alerts: Vec<AlertReport>,
    /// What it did, line by line, as written to `logs/orchestrator.log`.
    pub log: Vec<LogLine>,
}

impl PassReport {
    /// Services still failing at the end of the pass, those in maintenance left out.
    pub fn failing(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|s| s.failing())
    }

    /// Services agent-ops could not check in this pass (its own failure, said in a warning).
    pub fn unknown(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|s| s.outcome().is_unknown())
    }

    /// The problems that did not stop it.
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.log.iter().filter_map(|l| match l {
            LogLine::Warning(w) => Some(w.as_str()),
            LogLine::Note(_) => None,
        })
    }
}

/// Runs one pass. Returns [`PassError::Busy`] at once when another pass is running.
pub fn run_pass(layout: &Layout, env: &Env, config: &Config, mode: Mode) -> Result<PassReport, PassError> {
    if mode == Mode::DryRun {
        // A dry run writes nothing, not even the lock file, and may watch a running pass.
        return Ok(Pass::new(layout, env, config, mode).run());
    }
    let lock = layout.pass_lock();
    match with_lock(&lock, Duration::ZERO, || Pass::new(layout, env, config, mode).run()) {
        Ok(report) => Ok(report),
        Err(StateError::LockTimeout { path, .. }) => Err(PassError::Busy { lock: path }),
        Err(e) => Err(PassError::Lock(e)),
    }
}

/// One pass in progress: what it works on and what it has said so far.
struct Pass<'a> {
    layout: &'a Layout,
    env: &'a Env,
    config: &'a Config,
    mode: Mode,
    started: OffsetDateTime,
    /// `started` as unix seconds, the clock of the state files.
    now: f64,
    log: Vec<LogLine>,
}

impl<'a> Pass<'a> {
    fn new(layout: &'a Layout, env: &'a Env, config: &'a Config, mode: Mode) -> Self {
        let started = OffsetDateTime::now_utc();
        Self { layout, env, config, mode, started, now: unix_seconds(started), log: Vec::new() }
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

    fn run(mut self) -> PassReport {
        self.note(if self.dry() {
            "=== Orchestrator dry run starting ==="
        } else {
            "=== Orchestrator run starting ==="
        });
        let alerter = self.alerter();

        self.note("Phase 1: Health checks");
        let (mut services, probes) = self.check();

        self.restart(&mut services, &probes);

        if !self.dry() {
            self.record(&services);
        }

        let (notices, memory) = self.judge(&services);
        let service_alerts = alerts::compose(self.config, &services, &notices);
        if !service_alerts.is_empty() {
            self.note("Phase 3: Alerting");
        }
        let mut queued = self.queue(service_alerts, alerter.as_ref());

        let (stalled, stalled_memory) = self.stalled_tasks();
        queued.append(self.queue(stalled.into_iter().collect(), alerter.as_ref()));

        // What was decided is kept only once its alerts are queued: a pass stopped before (a
        // crash, or a daemon stopped mid-pass) leaves the old memory, and the next pass decides,
        // and alerts, again. A duplicate is better than a lost alert.
        if !self.dry() {
            self.keep(memory);
            self.keep(stalled_memory);
        }
        let alerts = self.deliver(queued, alerter.as_ref());
        self.open_tasks(&services, &notices);

        self.housekeeping();
        let failing = services.iter().filter(|s| s.failing()).count();
        self.note(format!("=== Orchestrator run complete: {} checks, {failing} failing ===", services.len()));
        if !self.dry() {
            self.heartbeat(&services);
            self.write_log();
        }
        PassReport { started: self.started, services, alerts, log: self.log }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use ops_health::{CheckKind, Unchecked};

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
        let mut pass = Pass::new(&layout, &env, &config, Mode::Real);
        let mut services =
            vec![ServiceReport { check: unknown("API"), recheck: None, restart: None, quiet: None }];
        pass.restart(&mut services, &config.probes());
        assert!(services[0].restart.is_none() && !ran.exists(), "not restarted");
        pass.record(&services);
        let (notices, memory) = pass.judge(&services);
        assert!(notices.is_empty(), "{notices:?}");
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
}
