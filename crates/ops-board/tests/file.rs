//! The board file on disk: corruption in every form, with and without a backup; unknown
//! fields; the lock timeout; archive; writers in one process that share nothing.

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ops_board::{BoardError, BoardFile, Edit, NewTask, StateError};
use serde_json::Value;

fn board_in(dir: &Path) -> BoardFile {
    BoardFile::new(dir.join("board.json")).unwrap()
}

fn ids(file: &BoardFile) -> Vec<String> {
    file.read().unwrap().board.tasks.into_iter().map(|t| t.id).collect()
}

/// Every way board.json can be broken, each a different parse failure.
const BROKEN: [(&str, &[u8]); 6] = [
    ("truncated", b"{\n  \"columns\": [\"open\"],\n  \"tasks\": [\n    {\"id\": \"task-0000"),
    ("garbage", b"\x00\xff\xfe garbage \x01"),
    ("empty", b""),
    ("array", b"[]"),
    ("string", b"\"board\""),
    ("tasks not a list", b"{\"tasks\": {\"id\": \"x\"}}"),
];

#[test]
fn a_corrupt_board_with_a_backup_is_read_from_the_backup_refused_for_changes_and_recovered() {
    for (what, bytes) in BROKEN {
        let dir = tempfile::tempdir().unwrap();
        let file = board_in(dir.path());
        let first = file.add(&NewTask::new("first")).unwrap();
        let second = file.add(&NewTask::new("second")).unwrap(); // backup: [first]
        let backup_bytes = fs::read(file.backup_path()).unwrap();
        fs::write(file.path(), bytes).unwrap();

        // Reads fall back to the backup and say so, naming both files.
        let snapshot = file.read().unwrap();
        assert_eq!(ids_of(&snapshot.board), [first.id.as_str()], "{what}");
        let warning = snapshot.fallback.expect("a fallback warning").to_string();
        assert!(
            warning.contains("board.json is corrupt") && warning.contains("board.json.bak"),
            "{what}: {warning}"
        );

        // Changes are refused; nothing is touched.
        let err = file.add(&NewTask::new("third")).unwrap_err();
        assert!(err.is_corrupt(), "{what}: {err}");
        assert!(matches!(err, BoardError::State(StateError::Corrupt { .. })), "{what}: {err}");
        assert!(err.to_string().contains("board.json"), "{what}: {err}");
        let err = file.move_task(&second.id, "done").unwrap_err();
        assert!(err.is_corrupt(), "{what}: {err}");
        assert_eq!(fs::read(file.path()).unwrap(), bytes, "{what}: left untouched");
        assert_eq!(fs::read(file.backup_path()).unwrap(), backup_bytes, "{what}: backup untouched");

        // Recover: the corrupt file is kept aside, the backup continues.
        let aside = file.recover().unwrap().expect("something to recover");
        assert!(aside.restored_from_backup, "{what}");
        assert_eq!(fs::read(&aside.moved_to).unwrap(), bytes, "{what}: nothing lost");
        let name = aside.moved_to.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("board.json.corrupt-"), "{name}");
        assert_eq!(ids(&file), [first.id.as_str()], "{what}");
        let third = file.add(&NewTask::new("third")).unwrap();
        assert_eq!(ids(&file), [first.id, third.id], "{what}");
        assert!(file.recover().unwrap().is_none(), "{what}: nothing left to recover");
    }
}

#[test]
fn a_corrupt_board_without_a_usable_backup_is_an_error_until_recovered() {
    for (what, bytes) in BROKEN {
        for backup in [None, Some(b"{\"tasks\": [".as_slice())] {
            let dir = tempfile::tempdir().unwrap();
            let file = board_in(dir.path());
            fs::write(file.path(), bytes).unwrap();
            if let Some(b) = backup {
                fs::write(file.backup_path(), b).unwrap();
            }
            let err = file.read().unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, BoardError::Unreadable { .. }), "{what}: {msg}");
            assert!(msg.contains("board.json is corrupt"), "{what}: {msg}");
            let expected =
                if backup.is_some() { "board.json.bak is corrupt too" } else { "there is no backup" };
            assert!(msg.contains(expected), "{what}: {msg}");

            assert!(file.add(&NewTask::new("x")).unwrap_err().is_corrupt(), "{what}");
            assert_eq!(fs::read(file.path()).unwrap(), bytes, "{what}");

            let aside = file.recover().unwrap().unwrap();
            assert!(!aside.restored_from_backup, "{what}");
            assert_eq!(fs::read(&aside.moved_to).unwrap(), bytes, "{what}: nothing lost");
            assert!(!file.path().exists(), "{what}");
            assert!(file.read().unwrap().board.tasks.is_empty(), "{what}: starts empty");
            let t = file.add(&NewTask::new("x")).unwrap();
            assert_eq!(ids(&file), [t.id], "{what}");
        }
    }
}

#[test]
fn recovering_twice_in_one_second_keeps_both_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = board_in(dir.path());
    fs::write(file.path(), b"one").unwrap();
    let a = file.recover().unwrap().unwrap().moved_to;
    fs::write(file.path(), b"two").unwrap();
    let b = file.recover().unwrap().unwrap().moved_to;
    assert_ne!(a, b);
    assert_eq!((fs::read(a).unwrap(), fs::read(b).unwrap()), (b"one".to_vec(), b"two".to_vec()));
}

#[test]
fn unknown_fields_survive_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = board_in(dir.path());
    fs::write(
        file.path(),
        r#"{"columns": ["open", "in-progress", "done"], "tasks": [
            {"id": "task-0000000a", "title": "keep me", "column": "open", "owner": "", "priority": "low",
             "description": "", "tags": [], "createdAt": "2025-01-15T10:30:00Z", "updatedAt": "2025-01-15T10:30:00Z",
             "links": {"pr": 12, "ci": [1.5, null, true]}, "estimate": "2h"}
        ], "schemaVersion": 3, "owners": {"ops": ["ann"]}}"#,
    )
    .unwrap();
    file.add(&NewTask::new("another")).unwrap();
    file.move_task("0000000a", "in-progress").unwrap();
    file.edit("task-0000000a", &Edit { title: Some("kept".into()), ..Edit::default() }).unwrap();
    let v: Value = serde_json::from_slice(&fs::read(file.path()).unwrap()).unwrap();
    assert_eq!(v["schemaVersion"], 3);
    assert_eq!(v["owners"]["ops"][0], "ann");
    assert_eq!(v["columns"], serde_json::json!(["open", "in-progress", "done"]));
    let t = &v["tasks"][0];
    assert_eq!((t["title"].as_str(), t["column"].as_str()), (Some("kept"), Some("in-progress")));
    assert_eq!(t["links"], serde_json::json!({"pr": 12, "ci": [1.5, null, true]}));
    assert_eq!(t["estimate"], "2h");
    assert_eq!(v["tasks"].as_array().unwrap().len(), 2);
}

#[test]
fn a_held_lock_times_out_with_an_error_naming_the_lock_file_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = board_in(dir.path());
    file.add(&NewTask::new("before")).unwrap();
    let before = fs::read(file.path()).unwrap();
    file.state.lock_timeout = Duration::from_millis(100);
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let lock = file.state.lock_path.clone();
    let holder = thread::spawn(move || {
        ops_state::with_lock(&lock, Duration::from_secs(5), || {
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
    });
    held_rx.recv().unwrap();
    let err = file.add(&NewTask::new("blocked")).unwrap_err();
    assert!(matches!(err, BoardError::State(StateError::LockTimeout { .. })), "{err}");
    assert!(err.to_string().contains("board.lock"), "{err}");
    assert_eq!(fs::read(file.path()).unwrap(), before);
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    file.add(&NewTask::new("after")).unwrap();
    assert_eq!(ids(&file).len(), 2);
}

#[test]
fn a_path_that_names_no_file_is_refused() {
    // There is no BoardFile to use, so no `.lock` can appear in the current directory.
    for path in ["", "/", "..", "state/..", "."] {
        let err = BoardFile::new(path).err().unwrap_or_else(|| panic!("{path:?} was accepted"));
        assert!(err.to_string().contains("does not name a board file"), "{err}");
    }
}

#[test]
fn the_lock_is_the_seeds_board_lock_and_waits_30_seconds() {
    let file = BoardFile::new("/srv/ops/state/board.json").unwrap();
    assert_eq!(file.state.lock_path, Path::new("/srv/ops/state/board.lock"));
    assert_eq!(file.backup_path(), Path::new("/srv/ops/state/board.json.bak"));
    assert_eq!(file.archive, Path::new("/srv/ops/state/board-archive.jsonl"));
    assert_eq!(file.state.lock_timeout, Duration::from_secs(30));
}

#[test]
fn archive_appends_the_task_before_removing_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = board_in(dir.path());
    let keep = file.add(&NewTask::new("keep")).unwrap();
    let old = file.add(&NewTask { tags: vec!["x".into()], ..NewTask::new("old") }).unwrap();
    let archived = file.archive(&old.id).unwrap();
    assert_eq!(archived, old);
    assert_eq!(ids(&file), [keep.id.as_str()]);
    let text = fs::read_to_string(&file.archive).unwrap();
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!((line["id"].as_str(), line["tags"][0].as_str()), (Some(old.id.as_str()), Some("x")));
    assert!(line["archivedAt"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert!(matches!(file.archive(&old.id), Err(BoardError::NoSuchTask { .. })));
    file.delete(&keep.id[..8]).unwrap();
    assert!(ids(&file).is_empty());
    assert_eq!(fs::read_to_string(&file.archive).unwrap().lines().count(), 1, "delete does not archive");
}

#[test]
fn writers_in_one_process_see_each_other_and_outside_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (board_in(dir.path()), board_in(dir.path()));
    let one = a.add(&NewTask::new("one")).unwrap();
    let two = b.add(&NewTask::new("two")).unwrap();
    let three = a.add(&NewTask::new("three")).unwrap(); // a's last board is stale: b wrote in between
    assert_eq!(ids(&a), [one.id.clone(), two.id.clone(), three.id.clone()]);
    // Someone else rewrites the file: the next change starts from what is on disk.
    let mut board = a.read().unwrap().board;
    board.tasks.remove(0);
    fs::write(a.path(), serde_json::to_vec_pretty(&board).unwrap()).unwrap();
    let four = a.add(&NewTask::new("four")).unwrap();
    assert_eq!(ids(&a), [two.id, three.id, four.id]);
    // A change that fails leaves nothing half-remembered.
    assert!(a.move_task("task-zzzz", "done").is_err());
    a.move_task(&one.id, "done").unwrap_err();
    let five = a.add(&NewTask::new("five")).unwrap();
    assert_eq!(ids(&b).last(), Some(&five.id));
}

#[test]
fn threads_adding_at_once_lose_nothing_and_never_repeat_an_id() {
    let dir = tempfile::tempdir().unwrap();
    thread::scope(|s| {
        for t in 0..4 {
            let file = board_in(dir.path());
            s.spawn(move || {
                for i in 0..25 {
                    file.add(&NewTask::new(format!("t{t} #{i}"))).unwrap();
                }
            });
        }
    });
    let mut all = ids(&board_in(dir.path()));
    assert_eq!(all.len(), 100);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100);
}

fn ids_of(board: &ops_board::Board) -> Vec<String> {
    board.tasks.iter().map(|t| t.id.clone()).collect()
}
