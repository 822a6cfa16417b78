//! The fuzz target for `board.json` (bolero: `cargo xtask fuzz board_json` runs it under
//! libFuzzer; `cargo test` replays its corpus in `fuzz/__fuzz__/` and random inputs).

use std::fs;

use serde_json::Value;

use crate::{Board, BoardError, BoardFile, NewTask};

/// Task keys whose `null` is read as an empty value (a Python caller passing `owner=None`).
const NULLABLE: [&str; 6] = ["owner", "priority", "description", "tags", "createdAt", "updatedAt"];

/// Every key of `before` is in `after` with the same value, except the nullable task keys that
/// were `null` (written as "" or []).
fn kept(before: &Value, after: &Value) {
    let (Value::Object(before), Value::Object(after)) = (before, after) else { panic!("not objects") };
    for (key, value) in before {
        if key == "tasks" {
            let (Value::Array(old), Some(Value::Array(new))) = (value, after.get(key)) else {
                panic!("tasks")
            };
            assert_eq!(old.len(), new.len());
            for (old, new) in old.iter().zip(new) {
                let (Value::Object(old), Value::Object(new)) = (old, new) else { panic!("a task") };
                for (k, v) in old.iter().filter(|(k, v)| !(v.is_null() && NULLABLE.contains(&k.as_str()))) {
                    assert_eq!(new.get(k), Some(v), "task key {k:?}");
                }
            }
        } else {
            assert_eq!(after.get(key), Some(value), "key {key:?}");
        }
    }
}

/// Any board.json: one that parses is written back with every key it had (known or not) and
/// reads back as the same board; a change adds to it without touching the rest and keeps the
/// old file as the backup. One that does not parse is a typed error for reads (no backup) and
/// for changes, and is never overwritten.
#[test]
fn board_json() {
    let scratch = test_support::scratch_dir();
    bolero::check!().with_iterations(2_000).for_each(|bytes: &[u8]| {
        let parsed = serde_json::from_slice::<Board>(bytes);
        if let Ok(board) = &parsed {
            let written = serde_json::to_vec_pretty(board).unwrap();
            assert_eq!(&serde_json::from_slice::<Board>(&written).unwrap(), board);
            let before: Value = serde_json::from_slice(bytes).unwrap();
            kept(&before, &serde_json::from_slice(&written).unwrap());
        }

        let dir = tempfile::tempdir_in(scratch.path()).unwrap();
        let file = BoardFile::new(dir.path().join("board.json")).unwrap();
        fs::write(file.path(), bytes).unwrap();
        match (file.read(), &parsed) {
            (Ok(snapshot), Ok(board)) => {
                assert_eq!(&snapshot.board, board);
                assert_eq!(snapshot.fallback, None);
            }
            (Err(BoardError::Unreadable { .. }), Err(_)) => {}
            (read, parsed) => panic!("read {read:?} but the bytes parse as {parsed:?}"),
        }
        let added = file.add(&NewTask::new("fuzz"));
        let Ok(board) = parsed else {
            assert!(added.unwrap_err().is_corrupt());
            assert_eq!(fs::read(file.path()).unwrap(), bytes, "a corrupt board is never overwritten");
            return;
        };
        let task = added.unwrap();
        let after = file.read().unwrap().board;
        assert_eq!((&after.columns, &after.extra), (&board.columns, &board.extra));
        assert_eq!(after.tasks[..board.tasks.len()], board.tasks[..]);
        assert_eq!(after.tasks[board.tasks.len()..], [task]);
        assert_eq!(fs::read(file.backup_path()).unwrap(), bytes, "the previous file is the backup");
    });
}
