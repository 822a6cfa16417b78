//! Command checks with real plugins (Debian's monitoring-plugins-basic, against loopback
//! servers and real filesystems) and hostile scripts of our own: one that never ends, one that
//! leaves a child holding its stdout, one that floods, bad performance data, odd exit codes and
//! signals. That a check ends is proven by the test ending: the deadlines are an hour, except
//! where the deadline itself is under test.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use ops_health::{
    Check, CheckKind, CheckResult, CommandCheck, FailureKind, Outcome, PerfValue, Probe, Program, run,
};
use test_support::procs::{self, Signal};
use test_support::{Answer, closed_port, require_plugin};

const HOUR: Duration = Duration::from_secs(3600);

fn command(program: Program) -> CommandCheck {
    let mut c = CommandCheck::new(program);
    c.timeout = HOUR;
    c
}

fn argv(words: &[&str]) -> CommandCheck {
    command(Program::Argv(words.iter().map(|w| (*w).to_owned()).collect()))
}

fn shell(line: &str) -> CommandCheck {
    command(Program::Shell(line.into()))
}

fn check(c: CommandCheck) -> CheckResult {
    let r = run(&Probe::new("Plugin", Check::Command(c)));
    assert_eq!(r.check_type, CheckKind::Command);
    r
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn perf<'a>(r: &'a CheckResult, label: &str) -> &'a PerfValue {
    r.perfdata.iter().find(|p| p.label == label).unwrap_or_else(|| panic!("no {label:?} in {:?}", r.perfdata))
}

/// A number of seconds no other `sleep` on the machine uses: `sleep MARKER` is findable.
fn marker(tag: u32) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}.{}{nanos}", 7000 + tag, std::process::id())
}

#[test]
fn check_dummy_says_each_state_by_its_exit_code() {
    let Some(dummy) = require_plugin("check_dummy") else { return };
    let cases = [
        ("0", Outcome::Up, "OK: all good"),
        ("1", Outcome::Warning(FailureKind::Command), "WARNING: all good"),
        ("2", Outcome::Down(FailureKind::Command), "CRITICAL: all good"),
        ("3", Outcome::Down(FailureKind::Unknown), "UNKNOWN: all good"),
    ];
    for (code, outcome, detail) in cases {
        let r = check(argv(&[path(&dummy), code, "all good"]));
        assert_eq!((r.outcome, r.detail.as_str()), (outcome, detail), "{r:?}");
        assert!(r.perfdata.is_empty() && r.perfdata_problems.is_empty(), "{r:?}");
    }
    let r = check(argv(&[path(&dummy), "1", "slow disk"]));
    assert_eq!(r.to_string(), format!("[WARN] Plugin - WARNING: slow disk{}", latency(&r)));
    // check_dummy refuses other codes itself, with UNKNOWN.
    let r = check(argv(&[path(&dummy), "7"]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown), "{r:?}");
}

fn latency(r: &CheckResult) -> String {
    if r.latency_ms == 0 { String::new() } else { format!(" ({}ms)", r.latency_ms) }
}

#[test]
fn check_tcp_against_a_loopback_port() {
    let Some(tcp) = require_plugin("check_tcp") else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let r = check(argv(&[path(&tcp), "-H", "127.0.0.1", "-p", &port]));
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    assert!(r.detail.starts_with("TCP OK - "), "{}", r.detail);
    let time = perf(&r, "time");
    assert_eq!(time.uom, "s");
    assert!(time.value.is_some_and(|t| t >= 0.0), "{time:?}");

    let closed = closed_port().to_string();
    let r = check(argv(&[path(&tcp), "-H", "127.0.0.1", "-p", &closed]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Command), "{r:?}");
    assert!(r.detail.contains("Connection refused"), "{}", r.detail);
}

#[test]
fn check_http_against_a_loopback_server() {
    let Some(http) = require_plugin("check_http") else { return };
    let ok = Answer::status(200).body("hello").start();
    let port = ok.addr.port().to_string();
    let r = check(argv(&[path(&http), "-I", "127.0.0.1", "-p", &port, "-u", "/"]));
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    assert!(r.detail.starts_with("HTTP OK: HTTP/1.1 200"), "{}", r.detail);
    assert_eq!(perf(&r, "time").uom, "s");
    assert_eq!(perf(&r, "size").uom, "B");

    let broken = Answer::status(500).start();
    let port = broken.addr.port().to_string();
    let r = check(argv(&[path(&http), "-I", "127.0.0.1", "-p", &port]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Command), "{r:?}");
    assert!(r.detail.starts_with("HTTP CRITICAL"), "{}", r.detail);
}

#[test]
fn check_disk_and_check_procs_report_performance_data() {
    let (Some(disk), Some(procs)) = (require_plugin("check_disk"), require_plugin("check_procs")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Warn below 0 % free: never; the byte counts are what matters here.
    let r = check(argv(&[path(&disk), "-w", "0%", "-c", "0%", "-p", path(dir.path())]));
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let used = r.perfdata.first().expect("check_disk prints the space used");
    assert_eq!(used.uom, "B", "{used:?}");
    assert!(used.max.is_some_and(|m| m > 0.0), "{used:?}");

    let r = check(argv(&[path(&procs)]));
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    assert!(perf(&r, "procs").value.is_some_and(|n| n >= 1.0), "{r:?}");
    // A threshold that is already passed: a warning.
    let r = check(argv(&[path(&procs), "-w", "0"]));
    assert_eq!(r.outcome, Outcome::Warning(FailureKind::Command), "{r:?}");
    assert!(r.detail.starts_with("PROCS WARNING"), "{}", r.detail);
}

#[test]
fn a_string_runs_in_the_shell_an_array_without_one() {
    let r = check(shell("echo \"OK - $((1 + 1)) | 'two words'=2;;;0 time=12ms\""));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "OK - 2"));
    assert_eq!((perf(&r, "two words").value, perf(&r, "time").uom.as_str()), (Some(2.0), "ms"));
    let r = check(argv(&["echo", "OK - $((1 + 1)); exit 2"]));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "OK - $((1 + 1)); exit 2"));
}

#[test]
fn env_and_cwd_reach_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = shell("echo \"OK - $PLUGIN_TARGET in $(pwd)\"");
    c.env = vec![("PLUGIN_TARGET".into(), "db.internal".into())];
    c.cwd = Some(dir.path().to_owned());
    let r = check(c);
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(r.detail, format!("OK - db.internal in {}", cwd.display()));

    let mut c = argv(&["true"]);
    c.cwd = Some(dir.path().join("gone"));
    let r = check(c);
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown), "{r:?}");
    assert!(
        r.detail.starts_with(&format!(
            "cannot use {} as the working directory",
            dir.path().join("gone").display()
        ))
    );
}

#[test]
fn a_program_that_cannot_run_is_unknown() {
    let r = check(argv(&["/nonexistent/check_thing"]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown), "{r:?}");
    assert!(r.detail.starts_with("cannot run /nonexistent/check_thing: "), "{}", r.detail);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable");
    fs::write(&script, "#!/bin/sh\necho OK\n").unwrap();
    let r = check(argv(&[path(&script)]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown), "{r:?}");
    // `/bin/sh -c` reports its own 127 for a missing command.
    let r = check(shell("check_that_does_not_exist_anywhere"));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown), "{r:?}");
    assert!(r.detail.starts_with("exit code 127: "), "{}", r.detail);
}

#[test]
fn odd_endings_are_unknown_with_what_was_said() {
    let r = check(shell("echo 'half an answer | x=1'; exit 137"));
    assert_eq!(
        (r.outcome, r.detail.as_str()),
        (Outcome::Down(FailureKind::Unknown), "exit code 137: half an answer")
    );
    assert_eq!(r.perfdata.len(), 0, "an answer that did not end well brings no performance data");
    let r = check(shell("echo 'UNKNOWN - cannot tell'; exit 3"));
    assert_eq!(
        (r.outcome, r.detail.as_str()),
        (Outcome::Down(FailureKind::Unknown), "UNKNOWN - cannot tell")
    );
    let r = check(shell("echo 'about to die'; kill -KILL $$"));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown));
    assert_eq!(r.detail, "killed by signal 9: about to die");
    let r = check(shell("exit 0"));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "no output, exit code 0"));
    // Nothing on stdout: the first line of stderr says it.
    let r = check(shell("echo '  ' ; echo 'password file unreadable' >&2; exit 2"));
    assert_eq!(r.detail, "password file unreadable");
}

#[test]
fn a_plugin_that_never_ends_is_stopped_at_its_deadline_with_its_children() {
    let m = marker(1);
    let mut c = shell(&format!("sleep {m}1 & echo 'still thinking'; sleep {m}2"));
    c.timeout = Duration::from_millis(300);
    let r = check(c);
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Unknown), "{r:?}");
    assert_eq!(r.detail, "timed out after 0.3s, the plugin was stopped");
    assert_eq!(procs::with_marker(&m), Vec::<u32>::new(), "no process of the plugin survives");
}

#[test]
fn a_child_holding_stdout_does_not_hold_the_check() {
    let m = marker(2);
    let r = check(shell(&format!("sleep {m} & echo 'OK - forked | t=1s'")));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "OK - forked"));
    assert_eq!(perf(&r, "t").value, Some(1.0));
    assert_eq!(procs::with_marker(&m), Vec::<u32>::new(), "the leftover is stopped");
}

#[test]
fn megabytes_of_output_are_capped() {
    let r =
        check(shell("echo 'OK - chatty | a=1'; head -c 5000000 /dev/zero | tr '\\0' x; echo; echo '| b=2'"));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "OK - chatty"));
    assert_eq!(r.perfdata.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(r.perfdata_problems.len(), 1, "{:?}", r.perfdata_problems);
    assert!(r.perfdata_problems[0].starts_with("the output past 64 KiB ("), "{:?}", r.perfdata_problems);
    // A first line of megabytes becomes a short detail.
    let r = check(shell("head -c 3000000 /dev/zero | tr '\\0' y; echo ' | c=1'"));
    assert_eq!(r.outcome, Outcome::Up);
    assert_eq!(r.detail, format!("{}...", "y".repeat(1000)));
    // And stderr floods are read and dropped too.
    let r = check(shell("head -c 3000000 /dev/zero >&2; echo 'OK - quiet on stdout'"));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "OK - quiet on stdout"));
}

#[test]
fn bad_performance_data_is_ignored_with_a_problem_never_a_failure() {
    let r = check(shell("echo \"OK - fine | good=1 bad=abc 'open=1\""));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "OK - fine"));
    assert_eq!(r.perfdata.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(), ["good"]);
    assert_eq!(
        r.perfdata_problems,
        ["\"bad=abc\": the value is not a number or U", "\"'open=1\": the quoted label has no closing quote"]
    );
}

#[test]
fn leftovers_of_a_plugin_are_stopped_even_when_they_ignore_sigterm() {
    let m = marker(3);
    let r = check(shell(&format!("sh -c \"trap '' TERM; sleep {m}\" & echo 'OK - done'")));
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let left = procs::with_marker(&m);
    for pid in &left {
        procs::signal(*pid, Signal::KILL);
    }
    assert_eq!(left, Vec::<u32>::new(), "SIGKILL reached the leftover");
}
