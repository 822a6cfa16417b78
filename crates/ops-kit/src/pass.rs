//! The orchestrator pass: what the seed's orchestrator script meant to be. Check everything
//! once, concurrently; restart what fell over and has a `restart_command`; wait, re-check only
//! those; record one metrics line per check; remember each service between passes and alert
//! without storms; then housekeeping: stalled tasks, investigation tasks, metrics retention,
//! log rotation, and a heartbeat so someone notices when the monitor itself dies.
//!
//! A problem in one step (a state file that cannot be written, Telegram down) is logged and
//! reported, and the pass goes on: the monitor must still work when everything around it is
//! broken. Only another pass holding the lock stops it before it starts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use ops_alert::{Admission, Alert, Alerter, Delivery, Level};
use ops_board::{NewTask, Priority, StalledQuery};
use ops_health::{Check, CheckResult, Probe, UrlCheck};
use ops_metrics::Status;
use ops_metrics::render::human_duration;
use ops_recovery::{Decision, Policy, RestartRun, RestartSpec, RunOutcome};
use ops_state::timestamp::unix_seconds;
use ops_state::{StateError, StateFile, with_lock};
use serde_json::json;
use time::OffsetDateTime;

use crate::maintenance::{Quiet, Silences, active_silences, quiet};
use crate::outage::{Memory, Notice, Observation, Rules, Seen, observe};
use crate::{Config, Env, Layout, Service, health, logs};

/// The lock a pass holds from start to end (a second pass exits at once).
pub const PASS_LOCK: &str = "orchestrator.lock";
/// Per-service memory between passes.
pub const MEMORY_FILE: &str = "outages.json";
/// The seed's `{service: bool}` of the last pass.
pub const LAST_STATUS_FILE: &str = "last-status.json";
/// The seed's restart bookkeeping.
pub const RECOVERY_FILE: &str = "recovery.json";
/// Silences set with `orchestrator silence`.
pub const SILENCES_FILE: &str = "silences.json";
/// Stalled tasks already alerted: `{task_id: unix_seconds}`.
pub const STALLED_FILE: &str = "stalled-alerts.json";
/// When the last pass ran and how it went.
pub const HEARTBEAT_FILE: &str = "heartbeat.json";
/// The orchestrator's log, in `logs/`.
pub const LOG_FILE: &str = "orchestrator.log";

/// Where the seed's recovery script looked for restart tools; appended to `PATH`.
const SYSTEM_PATH: &str = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/sbin:/usr/sbin";

/// How a pass runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassOptions {
    /// Restart nothing, send nothing, write nothing: say what would be done.
    pub dry_run: bool,
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

/// What happened to a service's restart in this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStep {
    /// The command ran; `recovered` is the re-check's verdict.
    Ran {
        /// Which attempt it was.
        attempt: u32,
        /// How the command ended, with its output tail.
        run: RestartRun,
        /// The re-check after the grace period passed.
        recovered: bool,
    },
    /// Too soon after the last attempt.
    Cooldown {
        /// Seconds until the next attempt is allowed.
        remaining_seconds: f64,
    },
    /// Every allowed attempt was used.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
    /// Dry run: it would have been restarted (if the policy allows).
    WouldRestart,
    /// The recovery state could not be read or written, so nothing was run.
    Skipped(String),
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
    /// Up at the end of the pass (after a verified restart, if any).
    pub fn up(&self) -> bool {
        self.recheck.as_ref().map_or(self.check.outcome.is_up(), |r| r.outcome.is_up())
    }
}

/// An alert of this pass and what became of it.
#[derive(Debug, Clone)]
pub struct AlertReport {
    /// The alert.
    pub alert: Alert,
    /// `sent`, `queued: <reason>`, `failed: <reason>`, `not sent: <reason>`, `dry run`.
    pub result: String,
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
    /// What it did, as written to `logs/orchestrator.log`.
    pub log: Vec<String>,
    /// Problems that did not stop it.
    pub warnings: Vec<String>,
}

/// Services still failing at the end of a pass, those in maintenance left out.
fn failing(services: &[ServiceReport]) -> impl Iterator<Item = &ServiceReport> {
    services.iter().filter(|s| !s.up() && s.quiet.is_none())
}

impl PassReport {
    /// Services still failing at the end of the pass, those in maintenance left out.
    pub fn failing(&self) -> impl Iterator<Item = &ServiceReport> {
        failing(&self.services)
    }
}

/// `state/silences.json`, which the pass reads and `orchestrator silence` writes.
pub(crate) fn silences_file(layout: &Layout) -> StateFile {
    StateFile::new(layout.state.join(SILENCES_FILE))
}

/// Files of the pass, from the layout.
struct Files {
    lock: PathBuf,
    memory: StateFile,
    last_status: StateFile,
    recovery: StateFile,
    silences: StateFile,
    stalled: StateFile,
    heartbeat: PathBuf,
    log: PathBuf,
}

impl Files {
    fn new(layout: &Layout) -> Self {
        let state = |name: &str| StateFile::new(layout.state.join(name));
        Self {
            lock: layout.state.join(PASS_LOCK),
            memory: state(MEMORY_FILE),
            last_status: state(LAST_STATUS_FILE),
            recovery: state(RECOVERY_FILE),
            silences: silences_file(layout),
            stalled: state(STALLED_FILE),
            heartbeat: layout.state.join(HEARTBEAT_FILE),
            log: layout.logs.join(LOG_FILE),
        }
    }
}

/// A memory file's new content, decided in this pass and written by [`Pass::keep`] once the
/// alerts it decided are queued.
struct Keep {
    file: StateFile,
    bytes: Vec<u8>,
    what: &'static str,
}

impl Keep {
    fn new(file: StateFile, value: &impl serde::Serialize, what: &'static str) -> Option<Self> {
        let bytes = file.encode(value).ok()?;
        Some(Self { file, bytes, what })
    }
}

/// The alerts of a pass between [`Pass::queue`] and [`Pass::deliver`].
#[derive(Default)]
struct Queued {
    /// Alerts already settled: rate limited, sent directly, or not to be sent.
    settled: Vec<AlertReport>,
    /// Alerts in the outbox, with their entry ids.
    waiting: Vec<(Alert, Vec<String>)>,
    /// Whether to flush the outbox.
    flush: bool,
}

/// Runs one pass. Returns [`PassError::Busy`] at once when another pass is running.
pub fn run_pass(
    layout: &Layout,
    env: &Env,
    config: &Config,
    options: PassOptions,
) -> Result<PassReport, PassError> {
    let files = Files::new(layout);
    if options.dry_run {
        // A dry run writes nothing, not even the lock file, and may watch a running pass.
        return Ok(Pass::new(layout, env, config, options, &files).run());
    }
    let outcome =
        with_lock(&files.lock, Duration::ZERO, || Pass::new(layout, env, config, options, &files).run());
    match outcome {
        Ok(report) => Ok(report),
        Err(StateError::LockTimeout { path, .. }) => Err(PassError::Busy { lock: path }),
        Err(e) => Err(PassError::Lock(e)),
    }
}

/// One pass in progress.
struct Pass<'a> {
    layout: &'a Layout,
    env: &'a Env,
    config: &'a Config,
    options: PassOptions,
    files: &'a Files,
    started: OffsetDateTime,
    log: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Pass<'a> {
    fn new(
        layout: &'a Layout,
        env: &'a Env,
        config: &'a Config,
        options: PassOptions,
        files: &'a Files,
    ) -> Self {
        let started = OffsetDateTime::now_utc();
        Self { layout, env, config, options, files, started, log: Vec::new(), warnings: Vec::new() }
    }

    fn note(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }

    fn warn(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.log.push(format!("WARNING: {line}"));
        self.warnings.push(line);
    }

    fn run(mut self) -> PassReport {
        let dry = self.options.dry_run;
        self.note(if dry {
            "=== Orchestrator dry run starting ==="
        } else {
            "=== Orchestrator run starting ==="
        });
        let now = unix_seconds(self.started);
        let alerter = match crate::alert::alerter(self.config, self.layout) {
            Ok(a) => Some(a),
            Err(e) => {
                self.warn(format!("alerts are off: {e}"));
                None
            }
        };

        // Phase 1: every check once, concurrently.
        self.note("Phase 1: Health checks");
        let probes = self.config.probes();
        let results = health::run(self.config, &probes);
        let silences = self.silences(now);
        let mut services: Vec<ServiceReport> = results
            .into_iter()
            .map(|check| {
                let quiet = quiet(&check.name, &self.config.orchestration.maintenance, &silences, now);
                ServiceReport { check, recheck: None, restart: None, quiet }
            })
            .collect();
        for s in &services {
            let line = s.check.to_string();
            self.note(match &s.quiet {
                Some(q) => format!("{line} [{q}]"),
                None => line,
            });
        }

        // Phase 2: restart what fell over, wait, re-check those.
        self.recover(&mut services, &probes, now);

        // Phase 3: record, remember, alert.
        if !dry {
            self.record(&services);
        }
        let (notices, memory) = self.judge(&services, now);
        let mut alerts = compose(self.config, &services, &notices);
        let (stalled, stalled_memory) = self.stalled_tasks(now);
        alerts.extend(stalled);
        let queued = self.queue(alerts, alerter.as_ref());
        // What was decided is kept only once its alerts are queued: a pass stopped before
        // (a crash, or a daemon stopped mid-pass) leaves the old memory, and the next pass
        // decides, and alerts, again. A duplicate is better than a lost alert.
        if !dry {
            self.keep(memory);
            self.keep(stalled_memory);
        }
        let alerts = self.deliver(queued, alerter.as_ref());
        self.open_tasks(&services, &notices);

        // Housekeeping.
        if !dry {
            self.clean_metrics();
            self.rotate_logs();
        }
        let report_failing = failing(&services).count();
        self.note(format!(
            "=== Orchestrator run complete: {} checks, {report_failing} failing ===",
            services.len()
        ));
        if !dry {
            self.heartbeat(&services);
            if let Err(e) = logs::append(&self.files.log, self.started, &self.log) {
                self.warnings.push(format!("cannot write the orchestrator log: {e}"));
            }
        }
        PassReport { started: self.started, services, alerts, log: self.log, warnings: self.warnings }
    }

    fn silences(&mut self, now: f64) -> Silences {
        match active_silences(&self.files.silences, now) {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!("silences ignored: {e}"));
                Silences::new()
            }
        }
    }

    fn recover(&mut self, services: &mut [ServiceReport], probes: &[Probe], now: f64) {
        let by_name: BTreeMap<&str, &Service> =
            self.config.services.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut to_run: Vec<(usize, u32, RestartSpec)> = Vec::new();
        for (i, s) in services.iter_mut().enumerate() {
            let Some(svc) = by_name.get(s.check.name.as_str()) else { continue };
            let Some(command) = &svc.restart_command else { continue };
            if s.check.outcome.is_up() || s.quiet.is_some() {
                continue;
            }
            if self.options.dry_run {
                s.restart = Some(RestartStep::WouldRestart);
                continue;
            }
            let policy = Policy {
                cooldown: Duration::try_from_secs_f64(svc.restart_cooldown_seconds).unwrap_or_default(),
                max_attempts: svc.max_restart_attempts,
            };
            s.restart = Some(match ops_recovery::begin(&self.files.recovery, &svc.name, &policy, now) {
                Ok(Decision::Restart { attempt }) => {
                    to_run.push((i, attempt, self.restart_spec(svc, command)));
                    continue;
                }
                Ok(Decision::Cooldown { remaining_seconds }) => RestartStep::Cooldown { remaining_seconds },
                Ok(Decision::GaveUp { attempts }) => RestartStep::GaveUp { attempts },
                Err(e) => RestartStep::Skipped(e.to_string()),
            });
        }
        if self.options.dry_run || !services.iter().any(|s| s.restart.is_some()) && to_run.is_empty() {
            self.log_restarts(services);
            return;
        }
        self.note("Phase 2: Auto-recovery");
        // Restarts run at once: ten stuck restart commands cost one timeout, not ten.
        let runs: Vec<RestartRun> = thread::scope(|scope| {
            let handles: Vec<_> =
                to_run.iter().map(|(_, _, spec)| scope.spawn(|| ops_recovery::run_restart(spec))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| panicked_run())).collect()
        });
        if !to_run.is_empty() {
            thread::sleep(
                Duration::try_from_secs_f64(self.config.orchestration.restart_grace_seconds)
                    .unwrap_or_default(),
            );
            let again: Vec<Probe> = to_run.iter().map(|(i, _, _)| probes[*i].clone()).collect();
            let rechecks = health::run(self.config, &again);
            for (((i, attempt, _), run), recheck) in to_run.into_iter().zip(runs).zip(rechecks) {
                let recovered = recheck.outcome.is_up();
                let name = services[i].check.name.clone();
                if let Err(e) = ops_recovery::finish(
                    &self.files.recovery,
                    &name,
                    recovered,
                    unix_seconds(recheck.timestamp),
                ) {
                    self.warn(format!("{name}: cannot record the restart: {e}"));
                }
                services[i].restart = Some(RestartStep::Ran { attempt, run, recovered });
                services[i].recheck = Some(recheck);
            }
        }
        self.log_restarts(services);
    }

    fn restart_spec(&self, svc: &Service, command: &str) -> RestartSpec {
        let path = match &self.env.path {
            Some(p) => format!("{}:{SYSTEM_PATH}", p.to_string_lossy()),
            None => SYSTEM_PATH.to_owned(),
        };
        RestartSpec {
            timeout: Duration::try_from_secs_f64(svc.restart_timeout_seconds)
                .unwrap_or(Duration::from_secs(30)),
            env: vec![("PATH".into(), path), ("AGENT_OPS_SERVICE".into(), svc.name.clone())],
            ..RestartSpec::new(command, self.layout.logs.join(restart_log_name(&svc.name)))
        }
    }

    fn log_restarts(&mut self, services: &[ServiceReport]) {
        for s in services {
            let Some(step) = &s.restart else { continue };
            let name = &s.check.name;
            let line = match step {
                RestartStep::Ran { attempt, run, recovered } => {
                    let how = describe_run(run);
                    let verdict = if *recovered { "recovered" } else { "still down" };
                    format!("RESTART: {name}: attempt {attempt}: {how}; {verdict}{}", tail_suffix(run))
                }
                RestartStep::Cooldown { remaining_seconds } => {
                    format!(
                        "COOLDOWN: {name}: {} until the next restart is allowed",
                        human_duration(seconds(*remaining_seconds))
                    )
                }
                RestartStep::GaveUp { attempts } => {
                    format!(
                        "MAX_ATTEMPTS: {name}: {attempts} restart attempts exhausted; manual intervention required"
                    )
                }
                RestartStep::WouldRestart => {
                    format!("DRY RUN: would restart {name} (if the restart policy allows)")
                }
                RestartStep::Skipped(e) => format!("RESTART SKIPPED: {name}: {e}"),
            };
            self.note(line);
        }
    }

    fn record(&mut self, services: &[ServiceReport]) {
        let mut records = Vec::new();
        for s in services {
            let status = match (&s.quiet, s.check.outcome.is_up()) {
                (_, true) => Status::Up,
                (Some(_), false) => Status::Maintenance,
                (None, false) => Status::Down,
            };
            records.push(health::metric_record(&s.check, status));
            if let Some(r) = &s.recheck {
                records.push(health::metric_record(
                    r,
                    if r.outcome.is_up() { Status::Recovered } else { Status::Down },
                ));
            }
        }
        if let Err(e) = ops_metrics::append(&self.layout.metrics, &records) {
            self.warn(format!("cannot record metrics: {e}"));
        }
        let last: BTreeMap<String, bool> = services.iter().map(|s| (s.check.name.clone(), s.up())).collect();
        // `update` writes only when the file changes (a pass usually leaves it as it was).
        let written = self.files.last_status.update(|old: &mut BTreeMap<String, bool>| {
            *old = last;
            Ok::<_, StateError>(())
        });
        if let Err(e) = written {
            self.warn(format!("cannot write the last status: {e}"));
        }
    }

    /// Judges every service by its memory and returns the notices due, by service index, and
    /// the memory to keep ([`Pass::keep`] writes it once the alerts are queued). When the
    /// memory cannot be read, the notices are judged from this pass alone and it is not kept.
    fn judge(&mut self, services: &[ServiceReport], now: f64) -> (Vec<(usize, Notice)>, Option<Keep>) {
        let rules = Rules {
            failure_threshold: self.config.orchestration.failure_threshold,
            success_threshold: self.config.orchestration.success_threshold,
            reminder_interval_seconds: self.config.orchestration.reminder_interval_seconds,
        };
        let (mut memory, readable) = match self.files.memory.read::<BTreeMap<String, Memory>>() {
            Ok(m) => (m.unwrap_or_default(), true),
            Err(e) => {
                self.warn(format!("outage memory not kept, alerts judged on this pass alone: {e}"));
                (BTreeMap::new(), false)
            }
        };
        let mut notices: Vec<(usize, Notice)> = Vec::new();
        for (i, s) in services.iter().enumerate() {
            let seen = match (s.check.outcome.is_up(), s.recheck.as_ref().map(|r| r.outcome.is_up())) {
                (true, _) => Seen::Up,
                (false, Some(true)) => Seen::AutoRecovered,
                (false, _) => Seen::Down,
            };
            let gave_up = matches!(s.restart, Some(RestartStep::GaveUp { .. }));
            let observation = Observation { seen, gave_up, silenced: s.quiet.is_some() };
            let m = memory.entry(s.check.name.clone()).or_default();
            notices.extend(observe(m, observation, &rules, now).into_iter().map(|n| (i, n)));
        }
        // Forget services that are gone from the configuration.
        memory.retain(|name, _| services.iter().any(|s| &s.check.name == name));
        let keep = readable.then(|| Keep::new(self.files.memory.clone(), &memory, "outage memory"));
        (notices, keep.flatten())
    }

    /// Writes a memory decided in this pass; a failure is a warning (the next pass decides
    /// from the old memory again).
    fn keep(&mut self, keep: Option<Keep>) {
        let Some(Keep { file, bytes, what }) = keep else { return };
        // Under the lock; a file that became corrupt meanwhile is refused, never overwritten.
        let written = file.update_bytes(|old| {
            if let Some(old) = old {
                file.decode::<serde::de::IgnoredAny>(old)?;
            }
            Ok::<_, StateError>((Some(bytes), ()))
        });
        if let Err(e) = written {
            self.warn(format!("{what} not kept: {e}"));
        }
    }

    /// Tasks stalled in progress for longer than `stalled_task_hours`: each is alerted once
    /// (and again every reminder interval while it stays stalled), not every pass.
    /// Returns the alert and the memory of alerted tasks to keep once it is queued.
    fn stalled_tasks(&mut self, now: f64) -> (Option<Alert>, Option<Keep>) {
        let board = crate::board::board_file(self.layout);
        if !board.path().exists() {
            return (None, None);
        }
        let snapshot = match board.read() {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!("stalled tasks not checked: {e}"));
                return (None, None);
            }
        };
        if let Some(fallback) = &snapshot.fallback {
            self.warn(fallback.to_string());
        }
        let hours = self.config.stalled_task_hours;
        let stalled = snapshot.board.stalled(&StalledQuery::in_progress(hours), self.started);
        self.note(format!("Phase 4: Stalled task check: {} stalled task(s)", stalled.tasks.len()));
        let remind = self.config.orchestration.reminder_interval_seconds;
        let mut due = Vec::new();
        let mut update = |seen: &mut BTreeMap<String, f64>| {
            seen.retain(|id, _| stalled.tasks.iter().any(|t| &t.task.id == id));
            for t in &stalled.tasks {
                let last = seen.get(&t.task.id).copied();
                if last.is_none_or(|at| remind > 0.0 && now - at >= remind) {
                    seen.insert(t.task.id.clone(), now);
                    due.push(t);
                }
            }
        };
        let file = self.files.stalled.clone();
        let keep = match file.read::<BTreeMap<String, f64>>() {
            Ok(seen) => {
                let mut seen = seen.unwrap_or_default();
                update(&mut seen);
                Keep::new(file, &seen, "stalled-task memory")
            }
            Err(e) => {
                update(&mut BTreeMap::new());
                self.warn(format!("stalled-task memory not kept: {e}"));
                None
            }
        };
        if due.is_empty() {
            return (None, keep);
        }
        // The seed's text: ` - owner: title` (60 characters of it) under one heading.
        let mut text = format!("Stalled tasks (>{hours}h in progress):");
        for t in due {
            let owner = if t.task.owner.is_empty() { "?" } else { t.task.owner.as_str() };
            let title: String = t.task.title.chars().take(60).collect();
            let _ = write!(text, "\n - {owner}: {title}");
        }
        (Some(Alert { level: Level::Warning, topic: None, message: text }), keep)
    }

    /// `create_tasks_for_failures`: an investigation task for each service that just went
    /// down, unless one with the same title is still open (seed recipe 5, with a stable title).
    fn open_tasks(&mut self, services: &[ServiceReport], notices: &[(usize, Notice)]) {
        let down: Vec<&ServiceReport> =
            notices.iter().filter(|(_, n)| *n == Notice::Down).map(|(i, _)| &services[*i]).collect();
        if down.is_empty() || !self.config.orchestration.create_tasks_for_failures {
            return;
        }
        let tasks: Vec<NewTask> = down
            .iter()
            .map(|s| NewTask {
                owner: "ops-agent".into(),
                priority: Priority::High,
                description: format!("{} reported: {}", s.check.name, s.check.detail),
                tags: vec!["auto-generated".into(), "ops".into(), "outage".into()],
                ..NewTask::new(investigate_title(&s.check.name))
            })
            .collect();
        if self.options.dry_run {
            for t in &tasks {
                self.note(format!("DRY RUN: would open the task {:?} (unless it is open already)", t.title));
            }
            return;
        }
        let now = self.started;
        let added = crate::board::board_file(self.layout).update(|board| {
            let mut added = Vec::new();
            for t in &tasks {
                if !board.tasks.iter().any(|open| open.title == t.title && open.column != "done") {
                    added.push(board.add(t, now)?.id.clone());
                }
            }
            Ok(added)
        });
        match added {
            Ok(ids) => {
                for id in ids {
                    self.note(format!("Opened task {id}"));
                }
            }
            Err(e) => self.warn(format!("investigation tasks not opened: {e}")),
        }
    }

    /// Queues every alert (fsynced), or sends it directly when it cannot be queued; nothing
    /// queued is delivered yet ([`Pass::deliver`], which also delivers what earlier runs left
    /// in the outbox, first, even when this pass queued nothing).
    fn queue(&mut self, alerts: Vec<Alert>, alerter: Option<&Alerter>) -> Queued {
        let mut queued = Queued { flush: alerter.is_some() && !self.options.dry_run, ..Queued::default() };
        if alerts.is_empty() {
            return queued;
        }
        self.note("Phase 3: Alerting");
        let Some(alerter) = alerter.filter(|_| !self.options.dry_run) else {
            let why = if self.options.dry_run {
                "dry run".to_owned()
            } else {
                "not sent: alerting is not configured".to_owned()
            };
            for alert in alerts {
                self.note(format!("ALERT ({why}): {}", first_line(&alert.message)));
                queued.settled.push(AlertReport { alert, result: why.clone() });
            }
            return queued;
        };
        for alert in alerts {
            let mut warnings = Vec::new();
            match alerter.enqueue(&alert, &mut warnings) {
                Ok(Admission::Queued(entries)) => {
                    queued.waiting.push((alert, entries.into_iter().map(|e| e.id).collect::<Vec<_>>()));
                }
                Ok(Admission::RateLimited(_)) => {
                    queued.settled.push(AlertReport { alert, result: "rate limited".into() });
                }
                Err(e) => {
                    let deliveries = alerter.deliver_now(&alert);
                    let result =
                        format!("not queued ({e}); sent directly: {}", deliveries_result(&deliveries));
                    queued.settled.push(AlertReport { alert, result });
                }
            }
            for w in warnings {
                self.warn(w);
            }
        }
        queued
    }

    /// Delivers the outbox, in order, with one flush: what earlier runs left in it, then what
    /// [`Pass::queue`] queued.
    fn deliver(&mut self, queued: Queued, alerter: Option<&Alerter>) -> Vec<AlertReport> {
        let Queued { mut settled, waiting, flush } = queued;
        let Some(alerter) = alerter.filter(|_| flush) else { return settled };
        let (entries, flush_warning) = match alerter.flush() {
            Ok(report) => (report.entries, report.warnings),
            Err(e) => (Vec::new(), vec![format!("cannot deliver the alerts: {e}")]),
        };
        for w in flush_warning {
            self.warn(w);
        }
        let ours: Vec<&String> = waiting.iter().flat_map(|(_, ids)| ids).collect();
        for (entry, delivery) in entries.iter().filter(|(e, _)| !ours.contains(&&e.id)) {
            self.note(format!("Outbox: alert {} -> {}", entry.id, delivery_result(delivery)));
        }
        for (alert, alert_ids) in waiting {
            let results: Vec<String> = alert_ids
                .iter()
                .map(|id| {
                    entries
                        .iter()
                        .find(|(e, _)| &e.id == id)
                        .map_or_else(|| "queued".to_owned(), |(_, d)| delivery_result(d))
                })
                .collect();
            settled.push(AlertReport { alert, result: results.join(", ") });
        }
        for r in &settled {
            let line =
                format!("ALERT {}: {} -> {}", r.alert.level.name(), first_line(&r.alert.message), r.result);
            self.note(line);
        }
        settled
    }

    fn clean_metrics(&mut self) {
        let keep = self.config.metrics_retention_days;
        match ops_metrics::remove_old_day_files(&self.layout.metrics, self.started.date(), keep) {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => {
                self.note(format!("Cleaned up {} old metrics file(s) (keeping {keep} days)", removed.len()));
            }
            Err(e) => self.warn(format!("metrics retention: {e}")),
        }
    }

    fn rotate_logs(&mut self) {
        let max = (self.config.orchestration.log_rotate_mb * 1024.0 * 1024.0) as u64;
        match logs::rotate(&self.layout.logs, max, self.config.orchestration.log_keep, self.started) {
            Ok(rotated) => {
                for r in rotated {
                    let name = r.log.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    self.note(format!("Rotated {name} -> {}", r.archive.display()));
                }
            }
            Err(e) => self.warn(format!("log rotation: {e}")),
        }
    }

    fn heartbeat(&mut self, services: &[ServiceReport]) {
        let finished = OffsetDateTime::now_utc();
        let failing: Vec<&str> = failing(services).map(|s| s.check.name.as_str()).collect();
        let beat = json!({
            "started": ops_state::timestamp::format_utc(self.started),
            "finished": ops_state::timestamp::format_utc(finished),
            "pid": std::process::id(),
            "checks": services.len(),
            "failing": failing,
        });
        let bytes = format!("{beat:#}\n");
        if let Err(e) =
            ops_state::write_atomic(&self.files.heartbeat, bytes.as_bytes(), ops_state::DEFAULT_MODE)
        {
            self.warn(format!("cannot write the heartbeat: {e}"));
        }
        if let Some(url) = &self.config.orchestration.heartbeat_url {
            // An HTTP GET is ops-health's job: the ping is a URL check of its own.
            let mut ping = UrlCheck::new(url.clone());
            ping.proxy.clone_from(&self.config.proxy);
            let result = ops_health::run(&Probe::new("heartbeat", Check::Url(ping)));
            if result.outcome.is_up() {
                self.note("Heartbeat ping sent");
            } else {
                self.warn(format!("heartbeat ping failed: {}", result.detail));
            }
        }
    }
}

/// A span of seconds (never negative) for [`human_duration`].
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

fn panicked_run() -> RestartRun {
    RestartRun {
        outcome: RunOutcome::NotStarted("internal error: the restart thread panicked".into()),
        duration: Duration::ZERO,
        output_tail: String::new(),
    }
}

/// The stable title of a service's investigation task (the seed's recipe put the uptime in
/// it, so every pass opened a new one).
pub fn investigate_title(service: &str) -> String {
    format!("Investigate: {service} is down")
}

/// `restart-<name>.log` with the name made safe for a file name.
pub fn restart_log_name(service: &str) -> String {
    let slug: String = service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    format!("restart-{}.log", slug.trim_matches('-'))
}

fn describe_run(run: &RestartRun) -> String {
    match &run.outcome {
        RunOutcome::Exited(0) => "command exited 0".into(),
        RunOutcome::Exited(code) => format!("command failed with exit code {code}"),
        RunOutcome::Signaled(sig) => format!("command killed by signal {sig}"),
        RunOutcome::TimedOut => {
            format!("command timed out and was killed ({:.1}s in all)", run.duration.as_secs_f64())
        }
        RunOutcome::NotStarted(why) => format!("command not started: {why}"),
    }
}

fn tail_suffix(run: &RestartRun) -> String {
    let tail = run.output_tail.trim();
    if tail.is_empty() || run.outcome == RunOutcome::Exited(0) {
        return String::new();
    }
    let last: Vec<&str> = tail.lines().rev().take(3).collect();
    format!(" (output: {})", last.into_iter().rev().collect::<Vec<_>>().join(" | "))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn delivery_result(d: &Delivery) -> String {
    match d {
        Delivery::Sent { destination, .. } => format!("sent to {destination}"),
        Delivery::NotSent { destination, failure, queued: true } => {
            format!("queued for {destination} ({})", failure.reason)
        }
        Delivery::NotSent { destination, failure, queued: false } => {
            format!("failed for {destination} ({})", failure.reason)
        }
    }
}

fn deliveries_result(ds: &[Delivery]) -> String {
    ds.iter().map(delivery_result).collect::<Vec<_>>().join(", ")
}

/// The messages of a pass: one failure alert listing every service that just went down, one
/// reminder listing those still down, one per auto-recovery and per "gave up", one recovery
/// notice listing those back up.
fn compose(config: &Config, services: &[ServiceReport], notices: &[(usize, Notice)]) -> Vec<Alert> {
    let on_recovery = config.alerting.alert_on_recovery;
    let command = |name: &str| {
        config.services.iter().find(|s| s.name == name).and_then(|s| s.restart_command.as_deref())
    };
    let mut down = String::new();
    let mut still = String::new();
    let mut back = Vec::new();
    let mut alerts = Vec::new();
    for (i, notice) in notices {
        let s = &services[*i];
        let name = &s.check.name;
        match notice {
            Notice::Down => {
                let _ = writeln!(down, " - {name}: {}{}", s.check.detail, restart_note(s));
            }
            Notice::StillDown { down_for } => {
                let _ = writeln!(
                    still,
                    " - {name}: {} (down for {})",
                    s.check.detail,
                    human_duration(seconds(*down_for))
                );
            }
            Notice::Recovered { down_for } => {
                back.push(format!("{name} (down for {})", human_duration(seconds(*down_for))));
            }
            Notice::GaveUp => {
                let attempts = match s.restart {
                    Some(RestartStep::GaveUp { attempts }) => attempts,
                    _ => 0,
                };
                alerts.push(alert(
                    Level::Error,
                    format!("CRITICAL: {name} failed after {attempts} restart attempts.\nManual intervention required."),
                ));
            }
        }
    }
    let mut out = Vec::new();
    if !down.is_empty() {
        out.push(alert(Level::Error, format!("Health check failures:\n{}", down.trim_end())));
    }
    for s in services {
        if let (Some(RestartStep::Ran { recovered: true, .. }), Some(cmd)) =
            (&s.restart, command(&s.check.name))
        {
            out.push(alert(Level::Info, format!("Auto-recovered: {}\nRestart command: {cmd}", s.check.name)));
        }
    }
    out.append(&mut alerts);
    if !still.is_empty() {
        out.push(alert(Level::Warning, format!("Still down:\n{}", still.trim_end())));
    }
    if on_recovery && !back.is_empty() {
        let text = if back.len() == 1 {
            format!("{} has recovered.", back[0])
        } else {
            format!("Recovered:\n - {}", back.join("\n - "))
        };
        out.push(alert(Level::Recovery, text));
    }
    out
}

fn restart_note(s: &ServiceReport) -> String {
    match &s.restart {
        Some(RestartStep::Ran { recovered: true, .. }) => " (restarted: recovered)".into(),
        Some(RestartStep::Ran { run, recovered: false, .. }) => {
            format!(" (restarted: {}; still down)", describe_run(run))
        }
        Some(RestartStep::Cooldown { remaining_seconds }) => {
            format!(" (restart cooldown: {} left)", human_duration(seconds(*remaining_seconds)))
        }
        Some(RestartStep::GaveUp { .. }) => " (restarts exhausted)".into(),
        Some(RestartStep::WouldRestart | RestartStep::Skipped(_)) | None => String::new(),
    }
}

fn alert(level: Level, message: String) -> Alert {
    Alert { level, topic: None, message }
}
