//! The restart runner with real shells and processes, and the policy over a real state file.

use std::fs;
use std::path::Path;
use std::time::Duration;

use ops_recovery::{
    Decision, Policy, RecoveryState, RestartSpec, RunOutcome, begin, record_recovery, run_restart,
};
use ops_state::StateFile;
use rustix::process::Signal;
use test_support::procs;

fn spec(dir: &Path, command: &str) -> RestartSpec {
    RestartSpec {
        timeout: Duration::from_secs(20),
        ..RestartSpec::new(command, dir.join("logs/restart-api.log"))
    }
}

/// A number of seconds no other `sleep` on the machine uses: `sleep MARKER` is findable.
fn marker(tag: u32) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}.{}{nanos}", 9000 + tag, std::process::id())
}

#[test]
fn success_and_output_tail() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_restart(&spec(dir.path(), "echo stopping; echo started >&2"));
    assert_eq!(run.outcome, RunOutcome::Exited(0));
    assert!(run.succeeded());
    assert_eq!(run.output_tail, "stopping\nstarted\n");
    // The next run's tail is only its own output; the log keeps both.
    let run = run_restart(&spec(dir.path(), "echo again"));
    assert_eq!(run.output_tail, "again\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("logs/restart-api.log")).unwrap(),
        "stopping\nstarted\nagain\n"
    );
}

#[test]
fn failure_keeps_the_exit_code_and_the_end_of_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(
        dir.path(),
        "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done; echo 'unit not found' >&2; exit 3",
    );
    s.tail_bytes = 40;
    let run = run_restart(&s);
    assert_eq!(run.outcome, RunOutcome::Exited(3));
    assert!(!run.succeeded());
    assert!(run.output_tail.len() <= 40);
    assert!(run.output_tail.ends_with("line 499\nunit not found\n"), "{:?}", run.output_tail);
}

#[test]
fn a_command_that_starts_a_daemon_in_the_background_is_done_when_the_shell_exits() {
    // The Python kit waited for the daemon's inherited pipe to close and reported a 30 s timeout.
    let dir = tempfile::tempdir().unwrap();
    let m = marker(1);
    let run = run_restart(&spec(dir.path(), &format!("sleep {m} & echo started")));
    assert_eq!(run.outcome, RunOutcome::Exited(0), "not a timeout: {run:?}");
    assert_eq!(run.output_tail, "started\n");
    let daemons = procs::with_marker(&m);
    assert_eq!(daemons.len(), 1, "the daemon keeps running");
    for pid in daemons {
        procs::signal(pid, Signal::KILL);
    }
}

#[test]
fn a_hanging_command_and_its_children_are_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker(2);
    let mut s = spec(dir.path(), &format!("sleep {m}1 & sleep {m}2 & echo waiting; sleep {m}3"));
    s.timeout = Duration::from_millis(300);
    let run = run_restart(&s);
    assert_eq!(run.outcome, RunOutcome::TimedOut);
    assert_eq!(run.output_tail, "waiting\n");
    assert_eq!(procs::with_marker(&m), Vec::<u32>::new(), "no process of the group survives");
}

#[test]
fn children_that_ignore_sigterm_get_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker(3);
    let mut s = spec(dir.path(), &format!("trap '' TERM; sh -c \"trap '' TERM; sleep {m}\" & wait"));
    s.timeout = Duration::from_millis(300);
    s.kill_grace = Duration::from_millis(200);
    let run = run_restart(&s);
    assert_eq!(run.outcome, RunOutcome::TimedOut);
    assert_eq!(procs::with_marker(&m), Vec::<u32>::new(), "SIGKILL reached the whole group");
}

#[test]
fn environment_is_passed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "echo \"$AGENT_OPS_SERVICE\"");
    s.env = vec![("AGENT_OPS_SERVICE".into(), "API".into())];
    assert_eq!(run_restart(&s).output_tail, "API\n");
}

#[test]
fn an_unwritable_output_file_is_reported_not_run() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("logs"), "a file where a directory should be").unwrap();
    let run = run_restart(&spec(dir.path(), "touch ran"));
    let RunOutcome::NotStarted(why) = &run.outcome else { panic!("{run:?}") };
    assert!(why.contains("restart-api.log"), "{why}");
    assert!(!dir.path().join("ran").exists());
}

/// A name planted at the restart log (a symlink to a file or directory outside, a dangling
/// one, a named pipe): the command is not run, the refusal names the log, nothing outside
/// changes.
#[test]
fn a_planted_restart_log_is_refused_not_followed() {
    use test_support::plant::{Outside, Plant};
    for kind in Plant::ALL {
        let dir = tempfile::tempdir().unwrap();
        let outside = Outside::new();
        let log = dir.path().join("logs/restart-api.log");
        outside.plant(kind, &log);
        let run = run_restart(&spec(dir.path(), "echo ran; touch ran"));
        let RunOutcome::NotStarted(why) = &run.outcome else { panic!("{kind:?}: {run:?}") };
        let expected = if kind.is_link() {
            format!("refusing to follow the symlink {}", log.display())
        } else {
            format!("refusing to use {}: it is a named pipe, not a regular file", log.display())
        };
        assert_eq!(why, &expected);
        assert!(!dir.path().join("ran").exists(), "{kind:?}: the command ran");
        outside.assert_untouched(&format!("restart log {kind:?}"));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_restart_log_is_private_and_appended_with_o_append() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/restart-api.log");
    // The shell writes through the descriptor it got: /proc shows its flags.
    let run = run_restart(&spec(dir.path(), "grep '^flags' /proc/self/fdinfo/1"));
    assert_eq!(run.outcome, RunOutcome::Exited(0), "{run:?}");
    let flags = run.output_tail.trim().rsplit('\t').next().unwrap().trim();
    let flags = u32::from_str_radix(flags, 8).unwrap();
    assert_ne!(flags & 0o2000, 0, "O_APPEND on the child's stdout: {flags:o}");
    assert_eq!(fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn policy_over_the_state_file_in_the_seed_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = StateFile::new(dir.path().join("recovery.json"));
    // A file the Python kit wrote.
    fs::write(&file.path, r#"{"Worker": {"attempts": 2, "last_attempt": 1000.0}}"#).unwrap();
    let policy = Policy { cooldown: Duration::from_secs(300), max_attempts: 3 };

    assert_eq!(
        begin(&file, "Worker", &policy, 1100.0).unwrap(),
        Decision::Cooldown { remaining: Duration::from_secs(200) }
    );
    assert_eq!(begin(&file, "Worker", &policy, 1300.0).unwrap(), Decision::Restart { attempt: 3 });
    // Still down after it: nothing to record, the attempt is counted.
    assert_eq!(begin(&file, "Worker", &policy, 1600.0).unwrap(), Decision::GaveUp { attempts: 3 });
    assert_eq!(begin(&file, "Worker", &policy, 1300.0 + 3601.0).unwrap(), Decision::Restart { attempt: 1 });
    record_recovery(&file, "Worker", 5000.0).unwrap(); // verified: the count resets

    let state: RecoveryState = file.read().unwrap().unwrap();
    assert_eq!(state["Worker"].attempts, 0);
    assert_eq!(state["Worker"].last_attempt, 4901.0);
    assert_eq!(state["Worker"].last_success, Some(5000.0));
    let raw: serde_json::Value = serde_json::from_str(&fs::read_to_string(&file.path).unwrap()).unwrap();
    assert_eq!(
        raw,
        serde_json::json!({"Worker": {"attempts": 0, "last_attempt": 4901.0, "last_success": 5000.0}})
    );
}
