//! The tee with real processes: output passed on as it comes and logged whole lines at a time,
//! bounded; readers that stop reading or go away; signals relayed to the whole group. Nothing
//! here waits by the clock: a test polls the files it reads, and its own end is the proof that
//! nothing hung (the deadlines are hours unless a deadline is what is shown).

use std::fs::{self, File, OpenOptions};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ops_proc::{End, Output, Program, Spec, Tee, run};
use test_support::procs;

const HOUR: Duration = Duration::from_secs(3600);

fn append(path: &Path) -> File {
    OpenOptions::new().create(true).append(true).open(path).unwrap()
}

fn tee(dir: &Path, log_limit: u64, tail: usize) -> Tee {
    Tee {
        out: Some(append(&dir.join("out"))),
        err: Some(append(&dir.join("err"))),
        log: Some(append(&dir.join("log"))),
        log_limit,
        tail,
    }
}

fn shell(line: &str, tee: Tee) -> Spec {
    let mut spec = Spec::new(Program::Shell(line.into()), Output::Tee(tee));
    spec.timeout = HOUR;
    spec.kill_grace = Duration::from_millis(200);
    spec
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A number no other process on the machine has in its command line.
fn marker(tag: u32) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}.{}{nanos}", 7000 + tag, std::process::id())
}

#[test]
fn output_goes_on_to_both_streams_and_whole_lines_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let done = run(&shell("echo one; echo two >&2; printf 'three'; exit 4", tee(dir.path(), 1 << 20, 1024)))
        .unwrap();
    assert_eq!(done.end, End::Exited(4));
    assert_eq!(read(&dir.path().join("out")), "one\nthree");
    assert_eq!(read(&dir.path().join("err")), "two\n");
    let log = read(&dir.path().join("log"));
    // Every line is whole, the last one ended for it; the order of the two streams is the
    // order they were read.
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["one", "three", "two"], "{log:?}");
    assert!(log.ends_with('\n'));
    assert_eq!(done.unlogged, 0);
    let tail = String::from_utf8(done.tail).unwrap();
    assert!(tail.contains("one\n") && tail.contains("two\n") && tail.contains("three"), "{tail:?}");
    assert!(done.stdout.bytes.is_empty() && done.stderr.bytes.is_empty(), "a tee captures nothing");
}

#[test]
fn the_log_stops_at_its_limit_on_a_line_boundary_and_the_tail_keeps_the_end() {
    let dir = tempfile::tempdir().unwrap();
    // 100 000 lines of 8 bytes: far past the log's 1000 bytes and the tail's 64.
    let done = run(&shell("seq 100000 199999 | sed 's/^/x/'", tee(dir.path(), 1000, 64))).unwrap();
    assert_eq!(done.end, End::Exited(0));
    let log = read(&dir.path().join("log"));
    assert!(log.len() <= 1000, "{}", log.len());
    assert!(log.ends_with('\n') && log.lines().all(|l| l.len() == 7 && l.starts_with('x')), "{log:?}");
    assert_eq!(done.unlogged, 800_000 - log.len() as u64);
    assert_eq!(read(&dir.path().join("out")).len(), 800_000, "passed on whole");
    assert_eq!(done.tail.len(), 64);
    assert!(String::from_utf8(done.tail).unwrap().ends_with("x199998\nx199999\n"));
}

#[test]
fn a_line_longer_than_the_line_buffer_is_logged_in_parts_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let done =
        run(&shell("head -c 50000 /dev/zero | tr '\\0' a; echo; echo end", tee(dir.path(), 1 << 20, 16)))
            .unwrap();
    assert_eq!(done.end, End::Exited(0));
    assert_eq!(read(&dir.path().join("log")), format!("{}\nend\n", "a".repeat(50_000)));
}

#[test]
fn concurrent_tees_of_one_log_never_split_a_line() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for c in ['p', 'q', 'r'] {
            let dir = dir.path();
            s.spawn(move || {
                let line = format!("yes {} | head -n 3000", c.to_string().repeat(300));
                let done = run(&shell(&line, tee(dir, 1 << 30, 0))).unwrap();
                assert_eq!(done.end, End::Exited(0));
            });
        }
    });
    let log = read(&dir.path().join("log"));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 9000);
    for line in lines {
        assert_eq!(line.len(), 300, "a split line");
        assert!(line.bytes().all(|b| b == line.as_bytes()[0]), "interleaved: {line}");
    }
}

#[test]
fn a_reader_that_went_away_stops_the_passing_on_not_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut t = tee(dir.path(), 1 << 20, 0);
    t.out = Some(File::from(OwnedFd::from(writer)));
    let done = run(&shell("seq 1 20000", t)).unwrap();
    assert_eq!(done.end, End::Exited(0), "the command never sees our broken pipe");
    assert_eq!(read(&dir.path().join("log")).lines().count(), 20_000);
}

#[test]
fn a_reader_that_stops_reading_holds_the_command_back_but_not_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (_reader, writer) = std::io::pipe().unwrap();
    let mut t = tee(dir.path(), 1 << 30, 0);
    t.out = Some(File::from(OwnedFd::from(writer)));
    let m = marker(1);
    // Endless output into a pipe nobody reads, and a child that would outlive it.
    let mut spec = shell(&format!("sleep {m} & yes"), t);
    spec.timeout = Duration::from_millis(300);
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::TimedOut);
    assert_eq!(procs::with_marker(&m), Vec::<u32>::new(), "the group is gone");
    // The pipe's capacity went on; the command was held back, not the log made endless.
    let logged = fs::metadata(dir.path().join("log")).unwrap().len();
    assert!(logged < 64 << 20, "{logged}");
}

#[test]
fn relayed_signals_reach_the_whole_group_and_the_command_decides() {
    let dir = tempfile::tempdir().unwrap();
    let term = Arc::new(AtomicBool::new(false));
    let m = marker(2);
    // The command traps TERM (its child does not): it reports, and exits 3 once its child is gone.
    let line =
        format!("trap 'echo got TERM' TERM; sleep {m} & echo ready; wait; wait; echo child gone; exit 3");
    let mut spec = shell(&line, tee(dir.path(), 1 << 20, 1024));
    spec.relay = vec![(15, term.clone())];
    let out = dir.path().join("out");
    let done = std::thread::scope(|s| {
        let runner = s.spawn(|| run(&spec).unwrap());
        // The signal is raised as a handler would: once the command is ready for it.
        while !read(&out).contains("ready") {
            std::thread::yield_now();
        }
        term.store(true, std::sync::atomic::Ordering::SeqCst);
        runner.join().unwrap()
    });
    assert_eq!(done.end, End::Exited(3));
    assert_eq!(read(&out), "ready\ngot TERM\nchild gone\n");
    assert_eq!(procs::with_marker(&m), Vec::<u32>::new());
    assert!(!term.load(std::sync::atomic::Ordering::SeqCst), "the flag was taken");
}

#[test]
fn a_signal_raised_before_the_start_is_passed_on_once_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let int = Arc::new(AtomicBool::new(true));
    let mut spec = shell("exec sleep 3600", tee(dir.path(), 0, 0));
    spec.relay = vec![(2, int)];
    assert_eq!(run(&spec).unwrap().end, End::Signaled(2));
}

#[test]
fn nowhere_to_pass_on_is_fine() {
    let mut spec = Spec::new(
        Program::Shell("echo hi; echo there >&2".into()),
        Output::Tee(Tee { out: None, err: None, log: None, log_limit: 0, tail: 100 }),
    );
    spec.timeout = HOUR;
    let done = run(&spec).unwrap();
    assert_eq!(done.end, End::Exited(0));
    let mut tail = String::from_utf8(done.tail).unwrap().lines().map(str::to_owned).collect::<Vec<_>>();
    tail.sort();
    assert_eq!(tail, ["hi", "there"]);
    assert_eq!(done.unlogged, 9, "nothing could be logged");
}
