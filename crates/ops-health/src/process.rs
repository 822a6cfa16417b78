//! Process checks with `pgrep -f` semantics: the pattern is a regular expression searched
//! in each process's command line (arguments joined by spaces). As procps-ng's pgrep, only
//! the first [`MATCHED_BYTES`] bytes of a command line are searched, and a process without
//! one (a kernel thread, a zombie) is matched by its name. The checker's own process never
//! counts.
//!
//! The scan ends by the check's timeout: the deadline is looked at between processes, and
//! what one process can cost is bounded by the searched prefix and by the limits on the
//! pattern ([`MAX_PATTERN_LEN`], [`MAX_COMPILED_SIZE`], [`MAX_NESTING`]), enforced when the
//! check is built.

use std::time::Duration;

use regex_lite::{Regex, RegexBuilder};

use crate::deadline::Deadline;
use crate::{CheckKind, CheckResult, Failure, FailureKind, HealthError, Outcome, Unchecked, net, secs};

/// Bytes of a command line searched: procps-ng's pgrep searches `min(ARG_MAX, 128 KiB) - 1`
/// bytes (`get_arg_max` and `strncpy(cmdsearch, ..., cmdlen - 1)` in pgrep.c), which is
/// 128 KiB - 1 on Linux.
pub(crate) const MATCHED_BYTES: usize = 128 * 1024 - 1;

/// The longest pattern accepted, in bytes.
pub(crate) const MAX_PATTERN_LEN: usize = 200;

/// The largest compiled pattern accepted (regex-lite's size limit), in bytes: enough for the
/// patterns services are found by, small enough that the costliest pattern searches one
/// 128 KiB command line in about 0.3 s (a release build; `[a-z]{200}X` is such a pattern),
/// which is thus the most a process scan can overrun its deadline by.
pub(crate) const MAX_COMPILED_SIZE: usize = 8 * 1024;

/// The deepest nesting of groups and repetitions accepted.
pub(crate) const MAX_NESTING: u32 = 32;

/// A process check. Build it with [`ProcessCheck::new`], which rejects invalid patterns.
#[derive(Debug, Clone)]
pub struct ProcessCheck {
    pattern: Regex,
    /// The scan (or the `pgrep` child, where there is no /proc) ends within this.
    timeout: Duration,
}

impl ProcessCheck {
    /// A check for processes whose command line (its first 128 KiB - 1 bytes, as procps-ng's
    /// `pgrep -f` searches) matches `pattern`, a regular expression, ending within `timeout`.
    /// Patterns longer than 200 bytes, compiling to more than 8 KiB or nested more than 32
    /// levels deep are refused: within those bounds one command line is searched in at most
    /// about 0.3 s, the most a scan can overrun its timeout by.
    pub fn new(pattern: &str, timeout: Duration) -> Result<Self, HealthError> {
        let invalid =
            |reason: String| HealthError::Pattern { pattern: pattern.chars().take(100).collect(), reason };
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(invalid(format!("longer than {MAX_PATTERN_LEN} bytes")));
        }
        let regex = RegexBuilder::new(pattern)
            .size_limit(MAX_COMPILED_SIZE)
            .nest_limit(MAX_NESTING)
            .build()
            .map_err(|e| {
                let text = e.to_string();
                invalid(if text.contains("size limit") {
                    format!("too complex (it compiles to more than {} KiB)", MAX_COMPILED_SIZE / 1024)
                } else if text.contains("nest") {
                    format!("nested more than {MAX_NESTING} levels deep")
                } else {
                    text
                })
            })?;
        Ok(Self { pattern: regex, timeout })
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// The process ids whose command line matches, excluding the calling process; `Err`
    /// when the process table could not be read, or not all of it within the timeout.
    pub fn matching_pids(&self) -> Result<Vec<u32>, String> {
        match list(self, Deadline::after(self.timeout)) {
            Scan::Done(pids) => Ok(pids),
            Scan::TimedOut(_) => Err(self.timed_out()),
            Scan::Failed(f) => Err(f.detail),
        }
    }

    fn timed_out(&self) -> String {
        format!("the process scan timed out after {}", secs(self.timeout))
    }
}

/// How a scan of the process table ended; the calling process is never among the pids.
enum Scan {
    /// Every process was looked at.
    Done(Vec<u32>),
    /// The deadline passed first; what was found until then.
    TimedOut(Vec<u32>),
    /// The table could not be read (or the system refused us what reading it takes).
    Failed(Failure),
}

/// `2 process(es) running` or `not running`, as the Python kit words it. A scan cut short by the
/// deadline is up if it found the process already, and a `timeout` otherwise.
pub(crate) fn check_process(name: &str, check: &ProcessCheck) -> CheckResult {
    let (outcome, detail) = match list(check, Deadline::after(check.timeout)) {
        Scan::Done(pids) | Scan::TimedOut(pids) if !pids.is_empty() => {
            (Outcome::Up, format!("{} process(es) running", pids.len()))
        }
        Scan::Done(_) => (Outcome::Down(FailureKind::Process), "not running".to_owned()),
        Scan::TimedOut(_) => (Outcome::Down(FailureKind::Timeout), check.timed_out()),
        Scan::Failed(f) => (f.outcome, f.detail),
    };
    CheckResult::new(name, CheckKind::Process, outcome, detail)
}

/// Linux: read /proc directly (no fork, no race with our own pgrep child).
#[cfg(target_os = "linux")]
fn list(check: &ProcessCheck, deadline: Deadline) -> Scan {
    use std::fs::File;
    use std::io::Read as _;
    let entries = match std::fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(e) => return Scan::Failed(unreadable("/proc", &e)),
    };
    let own = std::process::id();
    let mut pids = Vec::new();
    let mut raw = Vec::with_capacity(4096);
    for entry in entries.flatten() {
        if deadline.passed() {
            return Scan::TimedOut(pids);
        }
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == own {
            continue;
        }
        // A process may exit between the listing and the read: it is then simply not running.
        raw.clear();
        let read = File::open(entry.path().join("cmdline"))
            .and_then(|f| f.take(MATCHED_BYTES as u64 + 1).read_to_end(&mut raw));
        match read {
            Ok(_) => {}
            // Without a descriptor no process can be looked at: not "not running".
            Err(e) if net::resource_words(&e).is_some() => return Scan::Failed(unreadable("/proc", &e)),
            Err(_) => continue,
        }
        let line = if raw.is_empty() {
            // Kernel threads and zombies have no command line; pgrep then uses the name.
            match std::fs::read(entry.path().join("comm")) {
                Ok(comm) => String::from_utf8_lossy(comm.trim_ascii_end()).into_owned(),
                Err(_) => continue,
            }
        } else {
            let trimmed = raw.strip_suffix(b"\0").unwrap_or(&raw);
            let searched = &trimmed[..trimmed.len().min(MATCHED_BYTES)];
            String::from_utf8_lossy(searched).replace('\0', " ")
        };
        if check.pattern.is_match(&line) {
            pids.push(pid);
        }
    }
    Scan::Done(pids)
}

/// `cannot read /proc: ...`, or agent-ops' own trouble when the system refused a resource.
fn unreadable(what: &str, e: &std::io::Error) -> Failure {
    match net::resource_words(e) {
        Some(words) => Failure::unchecked(Unchecked::Resources, words),
        None => Failure::down(FailureKind::Process, format!("cannot read {what}: {e}")),
    }
}

/// Elsewhere (macOS, the BSDs): `pgrep -f`, bounded by the check's deadline.
#[cfg(not(target_os = "linux"))]
fn list(check: &ProcessCheck, deadline: Deadline) -> Scan {
    use std::process::{Command, Stdio};
    let mut child = match Command::new("pgrep")
        .arg("-f")
        .arg(check.pattern.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        // pgrep that cannot run tells nothing about the service.
        Err(e) => {
            return Scan::Failed(Failure::unchecked(
                Unchecked::Resources,
                format_args!("cannot run pgrep ({})", net::os_words(&e)),
            ));
        }
    };
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if !deadline.passed() => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Scan::TimedOut(Vec::new());
            }
            Err(e) => return Scan::Failed(unreadable("the process table (pgrep)", &e)),
        }
    }
    match child.wait_with_output() {
        Ok(out) => {
            let own = std::process::id();
            let pids = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok());
            Scan::Done(pids.filter(|&pid| pid != own).collect())
        }
        Err(e) => Scan::Failed(unreadable("the process table (pgrep)", &e)),
    }
}
