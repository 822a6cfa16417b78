//! Recording runs: the wrapper (`job run`: start, the command through ops-proc, end) and pings.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use jiff::Timestamp;
use ops_proc::{End, Output, Program, Spec, Tee};
use ops_state::AppendOptions;
use rustix::fs::{FlockOperation, flock};

use crate::state::{RunRecord, Source, Status, last_lines};
use crate::{JobError, JobName, Jobs, human};

/// Bytes of a run's output that go to its log, at most; the rest is passed on, not logged.
pub const LOG_LIMIT: u64 = 4 * 1024 * 1024;

/// Exit status of `job run` for a command stopped at its timeout (as timeout(1)).
pub const EXIT_TIMED_OUT: u8 = 124;
/// Exit status of `job run` for a command that could not be started for another reason than
/// not being found (as the shell).
pub const EXIT_CANNOT_RUN: u8 = 126;
/// Exit status of `job run` for a command that was not found (as the shell).
pub const EXIT_NOT_FOUND: u8 = 127;

/// What `job run` runs and where its output goes.
#[derive(Debug)]
pub struct Wrap {
    /// The command and its arguments (no shell).
    pub argv: Vec<String>,
    /// Stop the whole process group after this long (`None`: never).
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL at the timeout.
    pub kill_grace: Duration,
    /// Signals to pass on to the command's group (see [`ops_proc::Spec::relay`]).
    pub relay: Vec<(i32, Arc<AtomicBool>)>,
    /// Where the command's stdout and stderr go on (the wrapper's own).
    pub out: Option<File>,
    /// See `out`.
    pub err: Option<File>,
    /// The job's log (`logs/job-NAME.log`): a line at start and at end, and the output between.
    pub log: Option<std::path::PathBuf>,
}

/// A run the wrapper finished.
#[derive(Debug)]
pub struct Wrapped {
    /// The run as recorded (or as it would have been, when it could not be).
    pub run: RunRecord,
    /// The exit status `job run` passes on: the command's; 128 + N for signal N; 124 at the
    /// timeout; 126 or 127 when it could not be started.
    pub exit: u8,
    /// What could not be recorded or logged (the command ran all the same). A command that could
    /// not be started is not among them: its run failed, with the reason as its note.
    pub problems: Vec<String>,
}

/// A run the wrapper began: its record and, while it lives, the lock that says so.
struct Begun {
    run: RunRecord,
    lock: Option<(File, std::path::PathBuf)>,
}

impl Jobs {
    /// Runs `wrap.argv` as a run of job `name`: records the start, runs the command in its own
    /// process group (output teed to the wrapper's streams and the job's log; signals relayed;
    /// stopped with its whole group at the timeout), records the end. The command runs even
    /// when the start cannot be recorded (a full disk must not stop a backup); what could not
    /// be recorded is in [`Wrapped::problems`].
    pub fn wrap(&self, name: &JobName, wrap: Wrap) -> Wrapped {
        let mut problems = Vec::new();
        let begun = match self.begin(name) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("cannot record the start of job {name}: {e}"));
                Begun { run: RunRecord::new(0, Source::Run, Timestamp::now()), lock: None }
            }
        };
        let mut run = begun.run.clone();
        let log_file = wrap.log.as_deref().and_then(|path| {
            let line = format!("job {name}: run {} started (pid {})", run.id, std::process::id());
            match log_line(path, &line).and_then(|()| ops_state::open_append(path, ops_state::DEFAULT_MODE)) {
                Ok(f) => Some(f),
                Err(e) => {
                    problems.push(format!("cannot write the log of job {name}: {e}"));
                    None
                }
            }
        });
        let mut spec = Spec::new(
            Program::Argv(wrap.argv),
            Output::Tee(Tee {
                out: wrap.out,
                err: wrap.err,
                log: log_file,
                log_limit: LOG_LIMIT,
                tail: 4 * 1024,
            }),
        );
        spec.timeout = wrap.timeout.unwrap_or(Duration::MAX);
        spec.kill_grace = wrap.kill_grace;
        spec.relay = wrap.relay;
        let exit;
        match ops_proc::run(&spec) {
            Ok(done) => {
                run.duration_seconds = Some(done.duration.as_secs_f64());
                run.output = last_lines(&done.tail);
                (run.status, exit) = match done.end {
                    End::Exited(0) => (Status::Ok, 0),
                    End::Exited(code) => {
                        run.exit_code = Some(code);
                        (Status::Failed, u8::try_from(code).unwrap_or(1))
                    }
                    End::Signaled(signal) => {
                        run.signal = Some(signal);
                        (Status::Failed, 128u8.saturating_add(u8::try_from(signal).unwrap_or(0)))
                    }
                    End::TimedOut => {
                        run.timed_out = true;
                        (Status::Failed, EXIT_TIMED_OUT)
                    }
                };
                if run.status == Status::Ok {
                    run.exit_code = Some(0);
                }
                if done.unlogged > 0 {
                    problems.push(format!(
                        "{} bytes of the output of job {name} were not logged (at most {} a run)",
                        done.unlogged,
                        human_bytes(LOG_LIMIT)
                    ));
                }
            }
            Err(e) => {
                let not_found = e.io().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound);
                exit = if not_found { EXIT_NOT_FOUND } else { EXIT_CANNOT_RUN };
                run.status = Status::Failed;
                run.note = Some(e.to_string());
                run.duration_seconds = Some(0.0);
            }
        }
        run.ended = Some(Timestamp::now());
        if let Some(path) = &wrap.log {
            let took = run.duration().map(|d| format!(" after {}", human(d))).unwrap_or_default();
            let line = format!("job {name}: run {} ended: {}{took}", run.id, run.result_words());
            if let Err(e) = log_line(path, &line) {
                problems.push(format!("cannot write the log of job {name}: {e}"));
            }
        }
        let recorded = begun.lock.is_some();
        match self.update(name, |state| {
            if !recorded {
                // The start could not be recorded: the run is recorded whole now, if it can be.
                run.id = state.take_id();
            }
            state.put(run.clone());
            Ok(())
        }) {
            Ok(()) => {}
            Err(e) => problems.push(format!("cannot record the end of job {name}: {e}")),
        }
        // The end is recorded: only now may the lock go (whoever finds it free re-reads the
        // state, and sees the end).
        if let Some((file, path)) = begun.lock {
            let _ = fs::remove_file(&path);
            drop(file);
        }
        Wrapped { run, exit, problems }
    }

    /// Records the start of a wrapper run, holding its lock from before the record exists.
    fn begin(&self, name: &JobName) -> Result<Begun, JobError> {
        self.update(name, |state| {
            let now = Timestamp::now();
            state.watched_since.get_or_insert(now);
            self.sweep(name, state);
            let id = state.take_id();
            let path = self.run_lock(name, id);
            let file = ops_state::open_append(&path, ops_state::DEFAULT_MODE)?;
            flock(&file, FlockOperation::NonBlockingLockExclusive)
                .map_err(|e| JobError::State(ops_state::StateError::io("lock", &path, e.into())))?;
            let mut run = RunRecord::new(id, Source::Run, now);
            run.pid = Some(std::process::id());
            state.put(run.clone());
            Ok(Begun { run, lock: Some((file, path)) })
        })
    }

    /// Records a ping of job `name` at `now` (`job ping`, or an HTTP ping): see [`Ping`].
    pub fn ping(
        &self,
        name: &JobName,
        ping: Ping,
        message: Option<&str>,
        now: Timestamp,
    ) -> Result<RunRecord, JobError> {
        let output = message.map(|m| last_lines(m.as_bytes())).unwrap_or_default();
        self.update(name, |state| {
            state.watched_since.get_or_insert(now);
            self.sweep(name, state);
            // The run a script started and has not ended, the newest.
            let open =
                state.runs.iter().rposition(|r| r.source == Source::Ping && r.status == Status::Running);
            let record = match ping {
                Ping::Start => {
                    if let Some(i) = open {
                        let lost = &mut state.runs[i];
                        lost.status = Status::Lost;
                        lost.note = Some("no end reported before the next start".into());
                    }
                    let mut run = RunRecord::new(state.take_id(), Source::Ping, now);
                    run.output = output;
                    run
                }
                Ping::End(result) => {
                    let mut run = match open {
                        Some(i) => state.runs.remove(i),
                        None => RunRecord::new(state.take_id(), Source::Ping, now),
                    };
                    run.ended = Some(now);
                    if run.started < now {
                        run.duration_seconds = Some(now.duration_since(run.started).as_secs_f64());
                    }
                    (run.status, run.exit_code) = match result {
                        PingResult::Ok | PingResult::Exit(0) => (Status::Ok, Some(0)),
                        PingResult::Fail => (Status::Failed, None),
                        PingResult::Exit(code) => (Status::Failed, Some(code)),
                    };
                    if !output.is_empty() {
                        run.output = output;
                    }
                    run
                }
            };
            state.put(record.clone());
            Ok(record)
        })
    }
}

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// The job started (healthchecks' `/start`); the next end ping ends this run.
    Start,
    /// The job ended: the run a start ping opened, or a run of unknown length.
    End(PingResult),
}

/// How a run ended, by a ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingResult {
    /// Success (a plain ping).
    Ok,
    /// Failure (`--fail`, healthchecks' `/fail`).
    Fail,
    /// An exit status (`--exit CODE`, healthchecks' `/CODE`): 0 is success.
    Exit(i32),
}

/// Appends one `[YYYY-MM-DD HH:MM:SS] line` (UTC) to the log, as the other logs have them.
fn log_line(path: &Path, line: &str) -> Result<(), ops_state::StateError> {
    let stamp = Timestamp::now().strftime("%Y-%m-%d %H:%M:%S");
    ops_state::append_lines(
        path,
        &[format!("[{stamp}] {}", ops_state::printable(line))],
        AppendOptions::default(),
    )
}

fn human_bytes(n: u64) -> String {
    format!("{} MiB", n / (1024 * 1024))
}
