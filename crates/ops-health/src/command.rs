//! Command checks by the Nagios plugin convention, run through ops-proc: exit 0 is ok, 1 a
//! warning, 2 critical (down), 3 (UNKNOWN), any other code, a signal or the deadline a failure
//! of kind `unknown`. The detail is the first line of stdout before `|`; the performance data
//! is parsed ([`crate::perfdata`]).

use std::path::PathBuf;
use std::time::Duration;

use ops_proc::{End, Output, ProcError, Program, Spec};
use rustix::io::Errno;

use crate::perfdata::parse_output;
use crate::{CheckKind, CheckResult, Failure, FailureKind, Outcome, Unchecked, millis, net, secs};

/// The bytes kept of a plugin's stdout and of its stderr: a plugin's answer is a line and some
/// performance data; what it prints beyond is read, counted and dropped.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// Between SIGTERM and SIGKILL to a plugin's process group at its deadline.
pub const KILL_GRACE: Duration = Duration::from_millis(500);

/// The longest detail, in characters: the first line of a plugin is meant to be short.
const DETAIL_LIMIT: usize = 1000;

/// A command check: a program that follows the Nagios plugin convention.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandCheck {
    /// What to run: an argv (no shell) or a `/bin/sh -c` line.
    pub program: Program,
    /// Variables added to the inherited environment.
    pub env: Vec<(String, String)>,
    /// Variables taken out of the inherited environment (secrets the plugin must not see:
    /// what it prints becomes a detail, and details are recorded and logged).
    pub env_remove: Vec<String>,
    /// The working directory; `None` keeps agent-ops'.
    pub cwd: Option<PathBuf>,
    /// The plugin's whole process group is stopped after this long (SIGTERM, then SIGKILL
    /// after [`KILL_GRACE`]). Default 10 s.
    pub timeout: Duration,
}

impl CommandCheck {
    /// `program` with a 10 s timeout, in agent-ops' environment and directory.
    pub fn new(program: Program) -> Self {
        Self { program, env: Vec::new(), env_remove: Vec::new(), cwd: None, timeout: Duration::from_secs(10) }
    }
}

pub(crate) fn check_command(name: &str, check: &CommandCheck) -> CheckResult {
    let mut spec = Spec::new(check.program.clone(), Output::Capture { limit: OUTPUT_LIMIT });
    spec.env.clone_from(&check.env);
    spec.env_remove.clone_from(&check.env_remove);
    spec.cwd.clone_from(&check.cwd);
    spec.timeout = check.timeout;
    spec.kill_grace = KILL_GRACE;
    let run = match ops_proc::run(&spec) {
        Ok(run) => run,
        Err(e) => return CheckResult::failed(name, CheckKind::Command, not_run(&e)),
    };
    let mut stdout = String::from_utf8_lossy(&run.stdout.bytes).into_owned();
    let mut problems = Vec::new();
    if run.stdout.dropped > 0 {
        // The last line may be cut in the middle of a value: it is not read.
        stdout.truncate(stdout.rfind('\n').map_or(stdout.len(), |i| i + 1));
        problems.push(format!(
            "the output past {} KiB ({} bytes) was dropped",
            OUTPUT_LIMIT / 1024,
            run.stdout.dropped
        ));
    }
    let out = parse_output(&stdout);
    problems.extend(out.problems);
    let text = if out.text.is_empty() { first_line(&run.stderr.bytes) } else { out.text };
    let (outcome, detail) = verdict(run.end, check.timeout, &text);
    let mut result = CheckResult::new(name, CheckKind::Command, outcome, shorten(detail));
    result.latency_ms = millis(run.duration);
    // A plugin that timed out or was killed may have printed half an answer.
    if matches!(run.end, End::Exited(0..=3)) {
        result.perfdata = out.perfdata;
        result.perfdata_problems = problems;
    }
    result
}

/// The outcome and detail of a plugin that ran.
fn verdict(end: End, timeout: Duration, text: &str) -> (Outcome, String) {
    let with = |words: String| if text.is_empty() { words } else { format!("{words}: {text}") };
    let said =
        |code: i32| if text.is_empty() { format!("no output, exit code {code}") } else { text.to_owned() };
    match end {
        End::Exited(0) => (Outcome::Up, said(0)),
        End::Exited(1) => (Outcome::Warning(FailureKind::Command), said(1)),
        End::Exited(2) => (Outcome::Down(FailureKind::Command), said(2)),
        End::Exited(3) => (Outcome::Down(FailureKind::Unknown), said(3)),
        End::Exited(code) => (Outcome::Down(FailureKind::Unknown), with(format!("exit code {code}"))),
        End::Signaled(signal) => {
            (Outcome::Down(FailureKind::Unknown), with(format!("killed by signal {signal}")))
        }
        End::TimedOut => (
            Outcome::Down(FailureKind::Unknown),
            format!("timed out after {}, the plugin was stopped", secs(timeout)),
        ),
    }
}

/// A plugin that could not be started: the system's refusal (no process, descriptor or
/// memory) is agent-ops' trouble; a missing or unusable program or directory is the check's
/// verdict, of kind `unknown`.
fn not_run(e: &ProcError) -> Failure {
    let refused = e.io().and_then(|io| {
        net::resource_words(io).or_else(|| {
            let fork_refused = io.raw_os_error() == Some(Errno::AGAIN.raw_os_error());
            fork_refused.then_some("cannot start a process (resource temporarily unavailable)")
        })
    });
    match refused {
        Some(words) => Failure::unchecked(Unchecked::Resources, words),
        None => Failure::down(FailureKind::Unknown, e.to_string()),
    }
}

/// The first non-blank line of `bytes`, trimmed (stderr, when stdout said nothing).
fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned()
}

/// At most [`DETAIL_LIMIT`] characters, `...` marking a cut.
fn shorten(detail: String) -> String {
    match detail.char_indices().nth(DETAIL_LIMIT) {
        Some((i, _)) => format!("{}...", &detail[..i]),
        None => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_plugin_convention() {
        let t = Duration::from_secs(10);
        assert_eq!(verdict(End::Exited(0), t, "OK - fine"), (Outcome::Up, "OK - fine".into()));
        assert_eq!(verdict(End::Exited(0), t, ""), (Outcome::Up, "no output, exit code 0".into()));
        assert_eq!(verdict(End::Exited(1), t, "W").0, Outcome::Warning(FailureKind::Command));
        assert_eq!(verdict(End::Exited(2), t, "C").0, Outcome::Down(FailureKind::Command));
        assert_eq!(verdict(End::Exited(3), t, "U"), (Outcome::Down(FailureKind::Unknown), "U".into()));
        assert_eq!(
            verdict(End::Exited(137), t, "half"),
            (Outcome::Down(FailureKind::Unknown), "exit code 137: half".into())
        );
        assert_eq!(verdict(End::Exited(-1), t, "").1, "exit code -1");
        assert_eq!(verdict(End::Signaled(9), t, "").1, "killed by signal 9");
        assert_eq!(
            verdict(End::TimedOut, Duration::from_millis(2500), "partial"),
            (Outcome::Down(FailureKind::Unknown), "timed out after 2.5s, the plugin was stopped".into())
        );
    }

    #[test]
    fn long_details_are_cut() {
        assert_eq!(shorten("é".repeat(1000)), "é".repeat(1000));
        assert_eq!(shorten("é".repeat(1001)), format!("{}...", "é".repeat(1000)));
    }
}
