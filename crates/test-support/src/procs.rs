//! Processes by command line, for tests that must prove a process runs, or that none is left.

use std::fs;

pub use rustix::process::Signal;
use rustix::process::{Pid, kill_process};

/// Live processes (zombies left out) whose command line, arguments joined by spaces, contains
/// `marker`; the calling process is never among them.
pub fn with_marker(marker: &str) -> Vec<u32> {
    let own = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == own {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        let alive = fs::read_to_string(entry.path().join("stat"))
            .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')));
        if alive && String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(marker) {
            pids.push(pid);
        }
    }
    pids
}

/// Sends `signal` to `pid`; a process already gone is not an error.
pub fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, signal);
    }
}
