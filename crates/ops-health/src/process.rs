//! Process checks with `pgrep -f` semantics: the pattern is a regular expression searched
//! in each process's full command line (arguments joined by spaces). The checker's own
//! process never counts.

use std::time::Duration;

use regex_lite::Regex;

use crate::{CheckResult, FailureKind};

/// A process check. Build it with [`ProcessCheck::new`], which rejects invalid patterns.
#[derive(Debug, Clone)]
pub struct ProcessCheck {
    pattern: Regex,
    /// Bounds the `pgrep` child where there is no /proc to read.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    timeout: Duration,
}

/// A process pattern that is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error("invalid process pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ProcessCheck {
    /// A check for processes whose command line matches `pattern` (a regular expression, as
    /// `pgrep -f` takes). `timeout` bounds the `pgrep` call on systems without /proc.
    pub fn new(pattern: &str, timeout: Duration) -> Result<Self, PatternError> {
        let pattern = Regex::new(pattern)
            .map_err(|e| PatternError { pattern: pattern.to_owned(), reason: e.to_string() })?;
        Ok(Self { pattern, timeout })
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// The process ids whose command line matches, excluding the calling process.
    pub fn matching_pids(&self) -> Result<Vec<u32>, String> {
        let own = std::process::id();
        Ok(list(self)?.into_iter().filter(|&pid| pid != own).collect())
    }
}

/// `2 process(es) running` or `not running`, as the seed words it.
pub(crate) fn check_process(name: &str, check: &ProcessCheck) -> CheckResult {
    match check.matching_pids() {
        Ok(pids) if !pids.is_empty() => {
            CheckResult::new(name, "process", None, format!("{} process(es) running", pids.len()))
        }
        Ok(_) => CheckResult::new(name, "process", Some(FailureKind::Process), "not running".to_owned()),
        Err(e) => CheckResult::new(name, "process", Some(FailureKind::Process), e),
    }
}

/// Linux: read /proc directly (no fork, no race with our own pgrep child).
#[cfg(target_os = "linux")]
fn list(check: &ProcessCheck) -> Result<Vec<u32>, String> {
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("cannot read /proc: {e}"))?;
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        // A process may exit between the listing and the read: it is then simply not running.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let line = if raw.is_empty() {
            // Kernel threads and zombies have no command line; pgrep then uses the name.
            match std::fs::read(entry.path().join("comm")) {
                Ok(comm) => String::from_utf8_lossy(comm.trim_ascii_end()).into_owned(),
                Err(_) => continue,
            }
        } else {
            let trimmed = raw.strip_suffix(b"\0").unwrap_or(&raw);
            String::from_utf8_lossy(trimmed).replace('\0', " ")
        };
        if check.pattern.is_match(&line) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Elsewhere (macOS, the BSDs): `pgrep -f`, bounded by the check's timeout.
#[cfg(not(target_os = "linux"))]
fn list(check: &ProcessCheck) -> Result<Vec<u32>, String> {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let mut child = Command::new("pgrep")
        .arg("-f")
        .arg(check.pattern.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run pgrep: {e}"))?;
    let deadline = Instant::now() + check.timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("pgrep timed out after {}", crate::secs(check.timeout)));
            }
            Err(e) => return Err(format!("cannot wait for pgrep: {e}")),
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("cannot read pgrep output: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect())
}
