//! The process check searches what procps-ng's `pgrep -f` searches (the first 128 KiB - 1
//! bytes of each command line), ends by its timeout however long the command lines and
//! however costly the pattern, and refuses patterns too long or complex to be bounded.

#![cfg(target_os = "linux")]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ops_health::{Check, FailureKind, HealthError, Outcome, Probe, ProcessCheck, run};

/// `sh -c 'read x' MARKER ARGS...`: a shell that waits for its standard input to end, with
/// the command line given.
struct Shell(Child);

impl Shell {
    fn start(marker: &str, args: &[String]) -> Self {
        let child = Command::new("sh")
            .args(["-c", "read x", marker])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        // Until exec completes, the child's command line is still ours: wait for the switch.
        let path = format!("/proc/{}/cmdline", child.id());
        while !std::fs::read(&path).is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes())) {
            std::thread::yield_now();
        }
        Self(child)
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn marker(what: &str) -> String {
    format!("ops-health-{what}-{}", std::process::id())
}

fn check(pattern: &str, timeout: Duration) -> ops_health::CheckResult {
    run(&Probe::new("Worker", Check::Process(ProcessCheck::new(pattern, timeout).unwrap())))
}

/// Arguments that put `needle` at byte `at` of the joined command line of a [`Shell`].
fn needle_at(marker: &str, at: usize, needle: &str) -> Vec<String> {
    let head = "sh -c read x ".len() + marker.len() + 1;
    let mut pad = at - head;
    let mut args = Vec::new();
    while pad > 100_000 {
        args.push("a".repeat(99_999));
        pad -= 100_000;
    }
    args.push(format!("{}{needle}", "a".repeat(pad)));
    args
}

#[test]
fn only_the_first_128_kib_of_a_command_line_are_searched_as_pgrep_does() {
    let near = marker("near");
    let far = marker("far");
    // "ZQZ" ends at byte 131,070 (the last one searched) in one, at 131,071 in the other.
    let _near = Shell::start(&near, &needle_at(&near, 131_068, "ZQZ"));
    let _far = Shell::start(&far, &needle_at(&far, 131_069, "ZQZ"));
    let pattern = |m: &str| format!("{m} [a ]+ZQZ");
    let found = |m: &str| check(&pattern(m), Duration::from_secs(30)).detail;
    assert_eq!(found(&near), "1 process(es) running");
    assert_eq!(found(&far), "not running");
    // The same verdicts as procps-ng's pgrep, where it is installed.
    if let Some(pgrep) = test_support::require_tool("pgrep") {
        for (m, expected) in [(&near, "1"), (&far, "0")] {
            let out = Command::new(&pgrep).args(["-fc", &pattern(m)]).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected, "pgrep -f for {m}");
        }
    }
}

#[test]
fn the_scan_ends_by_its_timeout_however_long_the_command_lines() {
    // Twenty shells with 800 KB command lines and a pattern that costs the regex engine
    // some 60 states per byte (it matches nothing): searching them all takes seconds, even
    // in a release build.
    let long = marker("long");
    let args: Vec<String> = (0..8).map(|_| "a".repeat(99_999)).collect();
    let _shells: Vec<Shell> = (0..20).map(|_| Shell::start(&long, &args)).collect();
    let r = check("a{30,90}%%", Duration::from_millis(100));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Timeout), "{r:?}");
    assert_eq!(r.detail, "the process scan timed out after 0.1s");
}

#[test]
fn patterns_too_long_or_too_complex_are_refused_up_front() {
    let reason = |p: &str| match ProcessCheck::new(p, Duration::from_secs(1)) {
        Err(HealthError::Pattern { reason, .. }) => reason,
        other => panic!("{p}: {other:?}"),
    };
    assert_eq!(reason(&"a".repeat(201)), "longer than 200 bytes");
    assert_eq!(reason(".{0,1000}X"), "too complex (it compiles to more than 8 KiB)");
    assert_eq!(reason(&format!("{}a{}", "(".repeat(40), ")".repeat(40))), "nested more than 32 levels deep");
    let e = ProcessCheck::new("celery[", Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().starts_with("invalid process pattern \"celery[\": "), "{e}");
    // A long error does not repeat a long pattern.
    let e = ProcessCheck::new(&"b".repeat(600), Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
    // What services are found by still passes.
    for ok in ["celery.*worker", "gunicorn: master \\[app\\]", "node /srv/app/server\\.js", &"x".repeat(200)]
    {
        assert!(ProcessCheck::new(ok, Duration::from_secs(1)).is_ok(), "{ok}");
    }
}
