//! Running a restart command: `/bin/sh -c COMMAND` in its own process group, output appended
//! to a log file, bounded by a timeout after which the whole group gets SIGTERM, then SIGKILL.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

/// How often a running command is polled.
const POLL: Duration = Duration::from_millis(10);

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
/// that puts a daemon in the background and exits is done when the shell exits.
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
    let stdout = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return not_started(format!("cannot open {}: {e}", spec.output.display())),
    };
    let stderr = match stdout.try_clone() {
        Ok(f) => f,
        Err(e) => return not_started(format!("cannot open {}: {e}", spec.output.display())),
    };
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&spec.command)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return not_started(format!("cannot run /bin/sh: {e}")),
    };
    let outcome = if let Some(status) = wait_until(&mut child, start + spec.timeout) {
        outcome_of(status)
    } else {
        terminate_group(&mut child, spec.kill_grace);
        RunOutcome::TimedOut
    };
    RestartRun { outcome, duration: start.elapsed(), output_tail: tail(&log, spec, offset) }
}

fn open_output(spec: &RestartSpec) -> Result<(File, u64), ops_state::StateError> {
    let file = ops_state::open_append(&spec.output, ops_state::DEFAULT_MODE)?;
    let offset = file.metadata().map_err(|e| ops_state::StateError::io("stat", &spec.output, e))?;
    Ok((file, offset.len()))
}

/// Polls the child until it exits or the deadline passes.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) | Err(_) => return None,
        }
    }
}

fn outcome_of(status: ExitStatus) -> RunOutcome {
    match (status.code(), status.signal()) {
        (Some(code), _) => RunOutcome::Exited(code),
        (None, Some(sig)) => RunOutcome::Signaled(sig),
        (None, None) => RunOutcome::Exited(-1),
    }
}

/// SIGTERM to the whole group, SIGKILL to what is left after `grace`, then waits (briefly)
/// until no process of the group remains.
fn terminate_group(child: &mut Child, grace: Duration) {
    let Some(pgid) = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)) else { return };
    let _ = kill_process_group(pgid, Signal::TERM);
    if !group_gone(child, pgid, Instant::now() + grace) {
        let _ = kill_process_group(pgid, Signal::KILL);
        group_gone(child, pgid, Instant::now() + Duration::from_secs(5));
    }
    let _ = child.wait();
}

/// Reaps our child and polls until the group is empty or the deadline passes.
fn group_gone(child: &mut Child, pgid: Pid, deadline: Instant) -> bool {
    loop {
        let _ = child.try_wait();
        if test_kill_process_group(pgid).is_err() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
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
