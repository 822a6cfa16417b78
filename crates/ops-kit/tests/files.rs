//! Every file agent-ops writes under its directories, against names planted there (symlinks to
//! a private file or a directory outside, dangling symlinks, named pipes): each writer refuses,
//! naming the path, and nothing outside changes or appears. Log rotation copies then
//! truncates, so a live writer keeps writing to the file everybody sees.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use ops_alert::{Alert, Level};
use ops_board::{BoardFile, NewTask};
use ops_kit::logs::{self, Rotation};
use ops_kit::pass::{Mode, run_pass};
use ops_kit::{Config, Env, Layout};
use ops_metrics::{MetricRecord, Status};
use test_support::plant::{Outside, Plant};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-28 05:04:13 UTC);

fn refusal(at: &Path, kind: Plant) -> String {
    if kind.is_link() {
        format!("refusing to follow the symlink {}", at.display())
    } else {
        format!("refusing to use {}: it is a named pipe, not a regular file", at.display())
    }
}

fn layout(base: &Path) -> (Layout, Env) {
    let env = Env { agent_ops_home: Some(base.into()), ..Env::default() };
    (Layout::from_env(&env).unwrap(), env)
}

/// One writer: the name it writes (relative to the base), what to do before the plant, and the
/// write itself, whose error (or warnings) must carry the refusal.
struct Writer {
    name: &'static str,
    at: &'static str,
    before: fn(&Path),
    write: fn(&Path) -> String,
}

fn board(base: &Path) -> BoardFile {
    BoardFile::new(base.join("state/board.json")).unwrap()
}

fn pass_warnings(base: &Path) -> String {
    let (layout, env) = layout(base);
    let config = Config::parse(Path::new("services.json"), br#"{"services": [], "disk_paths": []}"#, &env)
        .unwrap()
        .config;
    match run_pass(&layout, &env, &config, Mode::Real) {
        Ok(report) => report.warnings().collect::<Vec<_>>().join("\n"),
        Err(e) => e.to_string(),
    }
}

fn err<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

const WRITERS: &[Writer] = &[
    Writer {
        name: "metrics day file",
        at: "metrics/2026-11-28.jsonl",
        before: |_| {},
        write: |base| {
            let record = MetricRecord {
                name: "API".into(),
                status: Status::Up,
                detail: "HTTP 200".into(),
                latency_ms: 1,
                timestamp: NOW,
                warning: false,
                perfdata: Vec::new(),
            };
            err(ops_metrics::append(&base.join("metrics"), &[record]))
        },
    },
    Writer {
        name: "board.json",
        at: "state/board.json",
        before: |_| {},
        write: |b| err(board(b).add(&NewTask::new("x"))),
    },
    Writer {
        name: "board.lock",
        at: "state/board.lock",
        before: |_| {},
        write: |b| err(board(b).add(&NewTask::new("x"))),
    },
    Writer {
        name: "board.json.bak read as the fallback",
        at: "state/board.json.bak",
        before: |b| {
            fs::create_dir_all(b.join("state"))
                .and_then(|()| fs::write(b.join("state/board.json"), "{"))
                .unwrap();
        },
        write: |b| err(board(b).read()),
    },
    Writer {
        name: "board-archive.jsonl",
        at: "state/board-archive.jsonl",
        before: |b| drop(board(b).add(&NewTask::new("to archive")).unwrap()),
        write: |b| {
            let board = board(b);
            let id = board.read().unwrap().board.tasks[0].id.clone();
            let result = err(board.archive(&id));
            assert_eq!(board.read().unwrap().board.tasks.len(), 1, "a task not archived stays on the board");
            result
        },
    },
    Writer {
        name: "alert outbox",
        at: "state/alert-outbox.jsonl",
        before: |_| {},
        write: |b| err(outbox(b).append(&[entry()], &mut Vec::new())),
    },
    Writer {
        name: "alert outbox lock",
        at: "state/alert-outbox.jsonl.lock",
        before: |_| {},
        write: |b| err(outbox(b).append(&[entry()], &mut Vec::new())),
    },
    Writer { name: "heartbeat", at: "state/heartbeat.json", before: |_| {}, write: pass_warnings },
    Writer { name: "orchestrator.log", at: "logs/orchestrator.log", before: |_| {}, write: pass_warnings },
    Writer { name: "the pass lock", at: "state/orchestrator.lock", before: |_| {}, write: pass_warnings },
    Writer { name: "outages.json", at: "state/outages.json", before: |_| {}, write: pass_warnings },
    Writer {
        name: "incidents.jsonl",
        at: "state/incidents.jsonl",
        // An outage of a service no longer configured: its incident ends, and is logged.
        before: |b| {
            fs::create_dir_all(b.join("state")).unwrap();
            fs::write(b.join("state/outages.json"), r#"{"API": {"failures": 1, "down_since": 1.0}}"#)
                .unwrap();
        },
        write: pass_warnings,
    },
    Writer {
        name: "acknowledgements",
        at: "state/acks.json",
        before: |b| {
            fs::create_dir_all(b.join("state")).unwrap();
            fs::write(b.join("state/outages.json"), r#"{"API": {"failures": 1, "down_since": 1.0}}"#)
                .unwrap();
        },
        write: |b| {
            let (acks, outages) = (
                ops_state::StateFile::new(b.join("state/acks.json")),
                ops_state::StateFile::new(b.join("state/outages.json")),
            );
            err(ops_kit::ack::acknowledge(&acks, &outages, "API", None, None, 2.0))
        },
    },
];

fn outbox(base: &Path) -> ops_alert::Outbox {
    ops_alert::Outbox::new(base.join("state/alert-outbox.jsonl"))
}

fn entry() -> ops_alert::Entry {
    ops_alert::Entry::new(
        &Alert { level: Level::Error, topic: None, message: "API is down".into() },
        "telegram",
    )
}

#[test]
fn every_writer_refuses_a_planted_name_and_touches_nothing_outside() {
    for w in WRITERS {
        for kind in Plant::ALL {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("ops");
            let outside = Outside::new();
            (w.before)(&base);
            let at = base.join(w.at);
            outside.plant(kind, &at);
            let said = (w.write)(&base);
            assert!(said.contains(&refusal(&at, kind)), "{} with {kind:?}: {said:?}", w.name);
            outside.assert_untouched(&format!("{} with {kind:?}", w.name));
        }
    }
}

fn big_log(path: &Path, tag: &str) -> String {
    let content = format!("[2026-11-28 05:04:13] {tag} a line of the log\n").repeat(200);
    fs::write(path, &content).unwrap();
    content
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(fs::File::open(path).unwrap()),
        &mut text,
    )
    .unwrap();
    text
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    n.sort();
    n
}

/// Names planted where rotation creates files: the archive's name (taken, so the next is
/// used), the old `.gz.tmp` name, and a name of our temporary pattern (swept): none is
/// followed, the log is still archived whole.
#[test]
fn rotation_never_follows_a_planted_name() {
    for planted in ["x.log.20261128.gz", "x.log.20261128.gz.tmp", ".x.log.20261128.gz.Ab12Cd.tmp"] {
        for kind in Plant::ALL {
            let dir = tempfile::tempdir().unwrap();
            let outside = Outside::new();
            let log = dir.path().join("x.log");
            let content = big_log(&log, "x");
            outside.plant(kind, &dir.path().join(planted));
            let Rotation { rotated, problems } = logs::rotate(dir.path(), 1024, 5, NOW);
            let what = format!("{kind:?} at {planted}");
            assert_eq!(problems, Vec::<String>::new(), "{what}");
            assert_eq!(rotated.len(), 1, "{what}");
            let archive = &rotated[0].archive;
            assert_ne!(archive, &dir.path().join(planted), "{what}");
            assert_eq!(gunzip(archive), content, "{what}");
            assert_eq!(fs::read(&log).unwrap(), b"", "{what}");
            outside.assert_untouched(&what);
        }
    }
}

/// A `*.log` symlink (to a private file outside, past the size) is not rotated: no archive
/// holds its content, it is named in the problems, the file behind it is untouched.
#[test]
fn a_log_that_is_a_symlink_is_never_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let outside = Outside::new();
    let big = tempfile::tempdir().unwrap();
    let private = big.path().join("private.log");
    let content = big_log(&private, "private");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("secret.log");
    symlink(&private, &link).unwrap();
    outside.plant(Plant::LinkToFile, &dir.path().join("small.log"));
    let Rotation { rotated, problems } = logs::rotate(dir.path(), 100, 5, NOW);
    assert_eq!(rotated, []);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!("not rotating {}: it is a symlink", link.display())),
        "{problems:?}"
    );
    assert_eq!(names(dir.path()), ["secret.log", "small.log"], "no archive");
    assert_eq!(fs::read_to_string(&private).unwrap(), content);
    outside.assert_untouched("rotation of *.log symlinks");
}

/// A `*.log` that is a hard link to a file elsewhere (same filesystem) is not truncated: that
/// would truncate the other file too.
#[test]
fn a_log_hard_linked_to_a_file_elsewhere_is_never_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let logs_dir = dir.path().join("logs");
    fs::create_dir(&logs_dir).unwrap();
    let elsewhere = dir.path().join("elsewhere.txt");
    let content = big_log(&elsewhere, "elsewhere");
    let log = logs_dir.join("linked.log");
    fs::hard_link(&elsewhere, &log).unwrap();
    let Rotation { rotated, problems } = logs::rotate(&logs_dir, 100, 5, NOW);
    assert_eq!(rotated, []);
    assert_eq!(
        problems,
        [format!("refusing to write {}: it has 2 hard links, so it is also a file elsewhere", log.display())]
    );
    assert_eq!(fs::read_to_string(&elsewhere).unwrap(), content);
    assert_eq!(names(&logs_dir), ["linked.log"], "no archive");
}

#[test]
fn an_archive_has_the_mode_of_its_log_and_the_log_keeps_its_mode() {
    for mode in [0o600, 0o640, 0o644] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        big_log(&log, "x");
        fs::set_permissions(&log, fs::Permissions::from_mode(mode)).unwrap();
        let ino = fs::metadata(&log).unwrap().ino();
        let Rotation { rotated, .. } = logs::rotate(dir.path(), 1024, 5, NOW);
        let archive = fs::metadata(&rotated[0].archive).unwrap();
        assert_eq!(archive.permissions().mode() & 0o777, mode);
        let after = fs::metadata(&log).unwrap();
        assert_eq!((after.ino(), after.permissions().mode() & 0o777), (ino, mode), "the same file, its mode");
    }
}

/// Allocated bytes of the regular files in `dir` (what `du` counts).
fn du(dir: &Path) -> u64 {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().blocks() * 512).sum()
}

/// A daemon started by a restart command keeps its stdout on `logs/restart-api.log` (opened by
/// the restart runner, `O_APPEND`). Rotation copies and truncates: the lines it writes after
/// the rotation land in the visible log from its start, its descriptor still names that file
/// (not a deleted one), and the directory's disk use stays within the cap.
#[cfg(target_os = "linux")]
#[test]
fn rotation_under_a_live_writer_keeps_it_writing_to_the_visible_file() {
    let dir = tempfile::tempdir().unwrap();
    let logs_dir = dir.path().join("logs");
    let log = logs_dir.join("restart-api.log");
    let (control, done) = (dir.path().join("control"), dir.path().join("done"));
    test_support::plant::fifo(&control);
    test_support::plant::fifo(&done);
    let marker = format!("live-writer-{}-{}", std::process::id(), NOW.unix_timestamp());
    // The daemon: for each `N TAG` read from the control pipe, N lines on its stdout, then TAG
    // into the `done` pipe (after its lines are written).
    let daemon = format!(
        "( : {marker}; exec 3<>'{}'; while read -r n tag <&3; do i=0; \
         while [ $i -lt $n ]; do echo \"$tag line $i of the daemon's output\"; i=$((i+1)); done; \
         echo \"$tag\" > '{}'; done ) & echo started",
        control.display(),
        done.display()
    );
    let run = ops_recovery::run_restart(&ops_recovery::RestartSpec::new(daemon, &log));
    assert!(run.succeeded(), "{run:?}");
    let pids = test_support::procs::with_marker(&marker);
    let _kill = KillOnDrop(pids.clone());
    assert_eq!(pids.len(), 1, "the daemon runs: {pids:?}");
    let tell = fs::OpenOptions::new().write(true).open(&control).unwrap();

    let batch = |tag: &str, lines: u32| {
        writeln!(&tell, "{lines} {tag}").unwrap();
        assert_eq!(fs::read_to_string(&done).unwrap(), format!("{tag}\n"), "the daemon wrote its lines");
        fs::read_to_string(&log).unwrap()
    };
    let before = batch("before", 400);
    let max = 4096;
    assert!(before.len() > max * 2);
    let Rotation { rotated, problems } = logs::rotate(&logs_dir, max as u64, 2, NOW);
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(gunzip(&rotated[0].archive), before, "the archive holds every line before");

    let after = batch("after", 20);
    assert!(after.starts_with("after line 0 "), "written from the start of the visible file: {after:?}");
    assert!(!after.contains("before"), "{after:?}");
    let fd = fs::read_link(format!("/proc/{}/fd/1", pids[0])).unwrap();
    assert_eq!(fd, log, "the daemon writes to the visible log, not a deleted file");
    assert!(du(&logs_dir) <= 3 * max as u64, "disk use within the cap: {} bytes", du(&logs_dir));
}

/// Kills the daemon of a test however the test ends.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            test_support::procs::signal(pid, test_support::procs::Signal::KILL);
        }
    }
}

#[test]
fn logs_are_private_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/orchestrator.log");
    logs::append(&log, NOW, &["=== run ===".into()]).unwrap();
    assert_eq!(fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);
}
