//! The runner with real processes: hostile commands that hang, leave children holding their
//! output, flood it, escape their group or are killed; the proof that none outlives a run is
//! the process table, and that nothing hangs is that the tests end (their deadlines are hours).

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use ops_proc::{Captured, End, Output, ProcError, Program, Spec, run};
use test_support::procs::{self, Signal};

const HOUR: Duration = Duration::from_secs(3600);

fn shell(line: &str) -> Spec {
    let mut spec = Spec::new(Program::Shell(line.into()), Output::Capture { limit: 64 * 1024 });
    spec.timeout = HOUR;
    spec.kill_grace = Duration::from_millis(200);
    spec
}

fn argv(words: &[&str]) -> Spec {
    let mut spec = shell("");
    spec.program = Program::Argv(words.iter().map(|w| (*w).to_owned()).collect());
    spec
}

/// A number of seconds no other `sleep` on the machine uses: `sleep MARKER` is findable.
fn marker(tag: u32) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}.{}{nanos}", 8000 + tag, std::process::id())
}

/// The command was reaped: no zombie of it is left in the process table.
fn reaped(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The pid may have been reused by another process, never by a zombie of ours.
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn no_survivors(marker: &str) {
    assert_eq!(procs::with_marker(marker), Vec::<u32>::new(), "no process of the group survives");
}

#[test]
fn argv_runs_without_a_shell_with_env_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    // `$HOME` and `;` mean nothing without a shell: printf gets them as they are.
    let mut spec = argv(&["printf", "%s|%s|%s", "$HOME; echo no", "two words"]);
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert_eq!(done.stdout.bytes, b"$HOME; echo no|two words|");
    assert!(reaped(done.pid));

    spec = shell("echo \"$PLUGIN_SETTING\"; pwd; echo oops >&2; exit 1");
    spec.env = vec![("PLUGIN_SETTING".into(), "a value".into())];
    spec.cwd = Some(dir.path().to_owned());
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::Exited(1));
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(String::from_utf8(done.stdout.bytes).unwrap(), format!("a value\n{}\n", cwd.display()));
    assert_eq!(done.stderr, Captured { bytes: b"oops\n".to_vec(), dropped: 0 });
}

#[test]
fn what_cannot_start_is_an_error_that_says_why() {
    let missing = run(&argv(&["/nonexistent/check_thing", "-H", "x"])).unwrap_err();
    assert!(matches!(missing, ProcError::Spawn { .. }), "{missing:?}");
    assert!(missing.to_string().starts_with("cannot run /nonexistent/check_thing: "), "{missing}");
    assert_eq!(missing.io().map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));

    assert!(matches!(run(&argv(&[])).unwrap_err(), ProcError::Empty));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    for cwd in [dir.path().join("gone"), file] {
        let mut spec = argv(&["true"]);
        spec.cwd = Some(cwd.clone());
        let e = run(&spec).unwrap_err();
        assert!(matches!(&e, ProcError::Cwd { path, .. } if path == &cwd), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!("cannot use {} as the working directory: ", cwd.display()))
        );
    }
}

#[test]
fn exit_codes_and_signals_are_told_apart() {
    assert_eq!(run(&shell("exit 137")).unwrap().end, End::Exited(137));
    assert_eq!(run(&shell("exit 3")).unwrap().end, End::Exited(3));
    assert_eq!(run(&shell("kill -9 $$")).unwrap().end, End::Signaled(9));
    assert_eq!(run(&shell("kill -SEGV $$")).unwrap().end, End::Signaled(11));
}

#[test]
fn a_command_that_never_ends_is_stopped_at_the_deadline_with_its_children() {
    let m = marker(1);
    let mut spec = shell(&format!("sleep {m}1 & sleep {m}2 & echo waiting; echo err >&2; sleep {m}3"));
    spec.timeout = Duration::from_millis(300);
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::TimedOut);
    assert_eq!(done.stdout.bytes, b"waiting\n", "output before the deadline is kept");
    assert_eq!(done.stderr.bytes, b"err\n");
    assert!(reaped(done.pid));
    no_survivors(&m);
}

#[test]
fn a_group_that_ignores_sigterm_gets_sigkill() {
    let m = marker(2);
    let mut spec = shell(&format!("trap '' TERM; sh -c \"trap '' TERM; sleep {m}\" & wait"));
    spec.timeout = Duration::from_millis(300);
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::TimedOut);
    assert!(reaped(done.pid));
    no_survivors(&m);
}

/// The classic hang: a plugin forks a child that inherits its stdout and outlives it. Reading
/// until the pipe closes would wait for the child (here an hour); the run ends when the
/// command does, and the child is terminated.
#[test]
fn a_child_holding_stdout_does_not_keep_us_reading() {
    let m = marker(3);
    let done = run(&shell(&format!("sleep {m} & echo 'OK - done | t=1s'"))).unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert_eq!(done.stdout.bytes, b"OK - done | t=1s\n");
    no_survivors(&m);

    // Also when the leftover ignores SIGTERM, and when it writes on and on meanwhile.
    let m = marker(4);
    let line =
        format!("echo first; sh -c \"trap '' TERM; while :; do echo spam; done; sleep {m}\" & sleep {m}x &");
    let done = run(&shell(&line)).unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert!(done.stdout.bytes.starts_with(b"first\n"), "{:?}", &done.stdout.bytes[..20]);
    no_survivors(&m);
}

/// A command that moves itself into another process group (here its parent's, the test's) is
/// still stopped at the deadline, by its pid.
#[test]
fn a_command_that_leaves_its_group_is_still_stopped() {
    let Some(python) = test_support::require_tool("python3") else { return };
    let m = marker(10);
    let code = format!(
        "import os, time\nos.setpgid(0, os.getpgid(os.getppid()))\nprint('moved', flush=True)\ntime.sleep({m})"
    );
    let mut spec = argv(&[python.to_str().unwrap(), "-c", &code]);
    spec.timeout = Duration::from_millis(500);
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::TimedOut);
    assert_eq!(done.stdout.bytes, b"moved\n", "it did move");
    assert!(reaped(done.pid));
    no_survivors(&m);
}

/// A process that left the group (`setsid`) cannot be killed with it; it is not waited for
/// either: the output is drained for a moment and the run ends.
#[test]
fn a_process_that_escaped_the_group_does_not_hold_the_run() {
    let Some(setsid) = test_support::require_tool("setsid") else { return };
    let m = marker(5);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The command ends once the other process has left the group (it says so with a file).
    let line = format!(
        "{} sh -c 'touch {out}; exec sleep {m}' & while [ ! -e {out} ]; do sleep 0.01; done; echo escaped",
        setsid.display(),
        out = out.display()
    );
    let done = run(&shell(&line)).unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert_eq!(done.stdout.bytes, b"escaped\n");
    let escaped = procs::with_marker(&m);
    assert_eq!(escaped.len(), 1, "out of our reach, by design");
    for pid in escaped {
        procs::signal(pid, Signal::KILL);
    }
}

#[test]
fn megabytes_of_output_are_read_counted_and_dropped_past_the_limit() {
    // 8 MiB on stdout and 3 MiB on stderr, interleaved: the pipes never fill, so the command
    // finishes (a runner that stopped reading at the limit would leave it blocked until the
    // deadline, an hour).
    let mut spec = shell("head -c 8388608 /dev/zero & head -c 3145728 /dev/zero >&2; wait; echo end");
    spec.output = Output::Capture { limit: 1000 };
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert_eq!((done.stdout.bytes.len() as u64 + done.stdout.dropped), 8_388_608 + 4);
    assert_eq!(done.stdout.bytes.len(), 1000);
    assert_eq!((done.stderr.bytes.len(), done.stderr.dropped), (1000, 3_145_728 - 1000));

    spec.output = Output::Capture { limit: 0 };
    let done = run(&spec).unwrap();
    assert_eq!((done.stdout.bytes.len(), done.stdout.dropped), (0, 8_388_612));
}

#[test]
fn output_is_appended_to_a_file_and_background_daemons_are_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("restart.log");
    fs::File::create(&log).unwrap().write_all(b"before\n").unwrap();
    let open = || fs::OpenOptions::new().append(true).open(&log).unwrap();
    let m = marker(6);
    let mut spec = shell(&format!("sleep {m} & echo started; echo warn >&2"));
    spec.output = Output::Append(open());
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert_eq!((done.stdout, done.stderr), (Captured::default(), Captured::default()));
    assert_eq!(fs::read_to_string(&log).unwrap(), "before\nstarted\nwarn\n");
    let daemons = procs::with_marker(&m);
    assert_eq!(daemons.len(), 1, "a restarted daemon keeps running");
    for pid in daemons {
        procs::signal(pid, Signal::KILL);
    }

    // At the deadline the group is stopped all the same.
    let m = marker(7);
    let mut spec = shell(&format!("sleep {m}1 & sleep {m}2"));
    spec.output = Output::Append(open());
    spec.timeout = Duration::from_millis(200);
    assert_eq!(run(&spec).unwrap().end, End::TimedOut);
    no_survivors(&m);
}

/// Whatever the timeout, `Duration::MAX` included, the deadline is computed without overflow,
/// and a zero timeout stops the command at once.
#[test]
fn any_timeout_is_a_deadline() {
    let mut spec = shell("echo fast");
    spec.timeout = Duration::MAX;
    assert_eq!(run(&spec).unwrap().end, End::Exited(0));
    let m = marker(8);
    let mut spec = shell(&format!("sleep {m}"));
    spec.timeout = Duration::ZERO;
    assert_eq!(run(&spec).unwrap().end, End::TimedOut);
    no_survivors(&m);
}

/// A command that closes its output and runs on is still waited for (until the deadline).
#[test]
fn a_command_that_closes_its_output_is_still_waited_for() {
    let m = marker(9);
    let mut spec = shell(&format!("exec >&- 2>&-; sleep {m}"));
    spec.timeout = Duration::from_millis(300);
    assert_eq!(run(&spec).unwrap().end, End::TimedOut);
    no_survivors(&m);
    let done = run(&shell("exec >&- 2>&-; exit 2")).unwrap();
    assert_eq!(done.end, End::Exited(2));
}

/// The runner is what agent-ops' restart log relies on: the child writes through the very
/// descriptor it was given, with `O_APPEND`.
#[cfg(target_os = "linux")]
#[test]
fn the_appended_file_is_the_callers_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.log");
    let file = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
    let mut spec = shell("grep '^flags' /proc/self/fdinfo/1");
    spec.output = Output::Append(file);
    assert_eq!(run(&spec).unwrap().end, End::Exited(0));
    let text = fs::read_to_string(Path::new(&log)).unwrap();
    let flags = u32::from_str_radix(text.trim().rsplit('\t').next().unwrap().trim(), 8).unwrap();
    assert_ne!(flags & 0o2000, 0, "O_APPEND: {flags:o}");
}
