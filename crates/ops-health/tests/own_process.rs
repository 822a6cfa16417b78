//! The process check never counts the checker itself. Alone in its own test binary, so no
//! other test's child can be caught between fork and exec wearing this binary's command line.

use std::time::Duration;

use ops_health::{Check, Probe, ProcessCheck, run};

#[test]
fn the_checker_never_matches_itself() {
    // This test process's own command line matches its executable's path; nothing else does.
    let exe = std::env::current_exe().unwrap();
    let own = std::fs::read("/proc/self/cmdline").map_or_else(
        |_| exe.to_string_lossy().into_owned(),
        |raw| String::from_utf8_lossy(&raw).split('\0').next().unwrap_or_default().to_owned(),
    );
    let pattern = regex_escape(&own);
    let c = ProcessCheck::new(&pattern, Duration::from_secs(5)).unwrap();
    assert!(c.matching_pids().unwrap().is_empty(), "matched itself with {pattern}");
    assert_eq!(run(&Probe::new("Me", Check::Process(c))).detail, "not running");
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
