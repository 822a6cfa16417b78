//! State files on a disk in trouble (a small tmpfs, full or read-only, which stops root too):
//! the error names the file, the old version stays whole, nothing half-written is left, and a
//! lock that exists still locks on a read-only filesystem.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use ops_state::{AppendOptions, StateError, StateFile, append_lines, with_lock};
use test_support::disk::{FILLER, Tmpfs};

type Map = BTreeMap<String, String>;

fn set(file: &StateFile, key: &str, value: &str) -> Result<(), StateError> {
    file.update(|m: &mut Map| {
        m.insert(key.into(), value.into());
        Ok::<_, StateError>(())
    })
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != FILLER)
        .collect();
    n.sort();
    n
}

/// Two versions written, the disk broken by `breaks`, a third refused with `error` naming the
/// file; the second version and its backup are intact and no temporary file is left.
fn update_refused(breaks: impl FnOnce(&Tmpfs), error: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("state"), 64) else { return };
    let file = StateFile::new(disk.path().join("recovery.json"));
    set(&file, "a", "1").unwrap();
    set(&file, "b", "2").unwrap();
    let before = names(disk.path());
    breaks(&disk);
    let err = set(&file, "c", &"x".repeat(10_000)).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&file.path.display().to_string()) && message.contains(error), "{message}");
    assert!(
        !message.contains(".recovery.json."),
        "the user's file is named, not our temporary one: {message}"
    );
    let now: Map = file.read().unwrap().unwrap();
    assert_eq!(now, Map::from([("a".into(), "1".into()), ("b".into(), "2".into())]));
    // The backup is made before the new version is written: it may already be the current
    // version (a hard link to it), whole either way.
    let backup: Map = file.read_backup().unwrap().unwrap();
    assert!(backup == now || backup == Map::from([("a".into(), "1".into())]), "{backup:?}");
    assert_eq!(names(disk.path()), before, "nothing added, nothing half-written");
}

#[test]
fn a_full_disk_refuses_an_update_naming_the_file_and_keeps_the_old_version() {
    update_refused(Tmpfs::fill, "No space left on device");
}

#[test]
fn a_read_only_disk_refuses_an_update_naming_the_file_and_keeps_the_old_version() {
    update_refused(Tmpfs::read_only, "Read-only file system");
}

#[test]
fn an_existing_lock_file_still_locks_on_a_read_only_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("state"), 64) else { return };
    let lock = disk.path().join("orchestrator.lock");
    with_lock(&lock, Duration::ZERO, || ()).unwrap();
    disk.read_only();
    let inner = with_lock(&lock, Duration::ZERO, || with_lock(&lock, Duration::from_millis(30), || ()));
    assert!(
        matches!(inner, Ok(Err(StateError::LockTimeout { .. }))),
        "taken, and it excludes a second holder: {inner:?}"
    );
    // A lock file that does not exist cannot be created there: the error says which and why.
    let err = with_lock(&disk.path().join("new.lock"), Duration::ZERO, || ()).unwrap_err();
    assert!(err.to_string().contains("new.lock: Read-only file system"), "{err}");
}

#[test]
fn an_append_on_a_full_disk_fails_naming_the_file_and_keeps_the_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("metrics"), 64) else { return };
    let path = disk.path().join("2026-01-01.jsonl");
    // Exactly one page of whole lines, so that the next append needs a new block.
    let line = format!("{{\"n\": \"{}\"}}", "x".repeat(1014));
    assert_eq!(line.len() + 1, 1024);
    append_lines(&path, &[&line, &line, &line, &line], AppendOptions::default()).unwrap();
    disk.fill();
    let err = append_lines(&path, &["{\"n\": 5}"], AppendOptions { sync: true, ..AppendOptions::default() })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot append to {}: No space left on device (os error 28)", path.display())
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), format!("{line}\n").repeat(4));
}

#[test]
fn an_append_that_fits_only_in_part_is_cut_off_again() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("metrics"), 64) else { return };
    let path = disk.path().join("2026-01-01.jsonl");
    append_lines(&path, &["{\"n\": 1}"], AppendOptions::default()).unwrap();
    disk.fill();
    // The page holding the first line has room for about 4 KiB more: 8 KiB of lines do not fit.
    let big = format!("{{\"n\": \"{}\"}}", "y".repeat(1000));
    let err = append_lines(&path, &[big.as_str(); 8], AppendOptions::default()).unwrap_err();
    assert!(err.to_string().ends_with("No space left on device (os error 28)"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\": 1}\n", "no torn line is left behind");
    disk.free();
    append_lines(&path, &["{\"n\": 2}"], AppendOptions::default()).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\": 1}\n{\"n\": 2}\n");
}
