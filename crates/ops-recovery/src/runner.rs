//! Running a restart command: `/bin/sh -c COMMAND` in its own process group, output appended
//! to a log file, bounded by a timeout after which the whole group gets SIGTERM, then SIGKILL.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ops_proc::{End, Output, Program, Spec};

/// A restart to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartSpec {
    /// The shell command (run by `/bin/sh -c`).
    pub command: String,
    /// The file its stdout and stderr are appended to (`O_APPEND`, so a daemon the command
    /// starts in the background keeps writing at the end of the visible file after a
    /// copy-and-truncate rotation; never into a pipe that would break or block us). Created
    /// [`ops_state::DEFAULT_MODE`] (0600 before the umask); a symlink or anything but a regular
    /// file there is refused and the command is not run.
    pub output: PathBuf,
    /// After this long the command's process group is terminated (`restart_timeout_seconds`,
    /// default 30).
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Extra environment variables (e.g. a PATH that also has /usr/sbin under cron).
    pub env: Vec<(String, String)>,
    /// Variables taken out of the inherited environment (secrets the command must not see).
    pub env_remove: Vec<String>,
    /// How much of the end of this run's output to keep for the log.
    pub tail_bytes: usize,
}

impl RestartSpec {
    /// `command`, appending its output to `output`, with a 30 s timeout, 5 s kill grace and
    /// a 2 KiB output tail.
    pub fn new(command: impl Into<String>, output: impl Into<PathBuf>) -> Self {
        Self {
            command: command.into(),
            output: output.into(),
            timeout: Duration::from_secs(30),
            kill_grace: Duration::from_secs(5),
            env: Vec::new(),
            env_remove: Vec::new(),
            tail_bytes: 2048,
        }
    }
}

/// How a restart command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The shell exited with this code.
    Exited(i32),
    /// The shell was killed by this signal (not by us).
    Signaled(i32),
    /// It ran past the timeout; its whole process group was terminated.
    TimedOut,
    /// It could not be started (the reason says why: missing shell, unwritable output file).
    NotStarted(String),
}

/// The result of [`run_restart`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRun {
    /// How it ended.
    pub outcome: RunOutcome,
    /// How long it took.
    pub duration: Duration,
    /// The end of what this run wrote (lossy UTF-8, at most `tail_bytes`).
    pub output_tail: String,
}

impl RestartRun {
    /// Whether the command exited 0 (which does not mean the service is back: re-check it).
    pub fn succeeded(&self) -> bool {
        self.outcome == RunOutcome::Exited(0)
    }
}

/// Runs the restart command and waits for the shell, not for everything it started: a command
/// that puts a daemon in the background and exits is done when the shell exits. The process
/// handling (its own group, the deadline, SIGTERM then SIGKILL to the group) is ops-proc's.
pub fn run_restart(spec: &RestartSpec) -> RestartRun {
    let start = Instant::now();
    let not_started = |why: String| RestartRun {
        outcome: RunOutcome::NotStarted(why),
        duration: start.elapsed(),
        output_tail: String::new(),
    };
    let (log, offset) = match open_output(spec) {
        Ok(ok) => ok,
        Err(e @ ops_state::StateError::Io { .. }) => {
            return not_started(format!("cannot open {}: {e}", spec.output.display()));
        }
        // "refusing to follow the symlink <output>", "refusing to use <output>: ..."
        Err(e) => return not_started(e.to_string()),
    };
    let output = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return not_started(format!("cannot open {}: {e}", spec.output.display())),
    };
    let mut command = Spec::new(Program::Shell(spec.command.clone()), Output::Append(output));
    command.env.clone_from(&spec.env);
    command.env_remove.clone_from(&spec.env_remove);
    command.timeout = spec.timeout;
    command.kill_grace = spec.kill_grace;
    let outcome = match ops_proc::run(&command) {
        Ok(run) => match run.end {
            End::Exited(code) => RunOutcome::Exited(code),
            End::Signaled(signal) => RunOutcome::Signaled(signal),
            End::TimedOut => RunOutcome::TimedOut,
        },
        // "cannot run /bin/sh: ..."
        Err(e) => return not_started(e.to_string()),
    };
    RestartRun { outcome, duration: start.elapsed(), output_tail: tail(&log, spec, offset) }
}

fn open_output(spec: &RestartSpec) -> Result<(File, u64), ops_state::StateError> {
    let file = ops_state::open_append(&spec.output, ops_state::DEFAULT_MODE)?;
    let offset = file.metadata().map_err(|e| ops_state::StateError::io("stat", &spec.output, e))?;
    Ok((file, offset.len()))
}

/// The end of what this run appended to the output file, read through the descriptor it was
/// opened with (never the name again, which could have been swapped meanwhile).
fn tail(log: &File, spec: &RestartSpec, offset: u64) -> String {
    let len = log.metadata().map_or(offset, |m| m.len());
    let start = offset.min(len).max(len.saturating_sub(spec.tail_bytes as u64));
    let mut buf = vec![0; usize::try_from(len - start).unwrap_or(0)];
    match log.read_exact_at(&mut buf, start) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => String::new(),
    }
}
