//! Nothing ops-state writes, appends, locks or reads follows a name planted in its directory
//! (a symlink to a file or directory outside, a dangling symlink, a named pipe), and the modes
//! it gives are chosen, not forced: a replaced file is never made more open than it was.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ops_state::{AppendOptions, StateError, StateFile, append_lines, read_bytes, with_lock, write_atomic};
use test_support::plant::{Outside, Plant};

type Map = BTreeMap<String, u32>;

fn set(file: &StateFile, key: &str) -> Result<(), StateError> {
    file.update(|m: &mut Map| {
        *m.entry(key.into()).or_default() += 1;
        Ok::<_, StateError>(())
    })
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The refusal names the planted path and says why.
fn assert_refused(e: &StateError, at: &Path, kind: Plant) {
    let text = e.to_string();
    if kind.is_link() {
        assert_eq!(text, format!("refusing to follow the symlink {}", at.display()), "{kind:?}");
    } else {
        assert!(matches!(e, StateError::NotRegular { .. }), "{kind:?}: {text}");
        assert!(text.contains(&*at.to_string_lossy()) && text.contains("named pipe"), "{text}");
    }
}

/// Every writer against every plant at the name it writes: refused, naming the path.
#[test]
fn the_names_we_write_are_never_followed() {
    type Writer = fn(&Path) -> Result<(), StateError>;
    let writers: [(&str, Writer); 6] = [
        ("append_lines", |p| append_lines(p, &["{}"], AppendOptions::default())),
        ("with_lock", |p| with_lock(p, Duration::from_secs(1), || ())),
        ("write_atomic", |p| write_atomic(p, b"{}\n", 0o600)),
        ("StateFile::update", |p| set(&StateFile::new(p), "a")),
        ("StateFile::write", |p| StateFile::new(p).write(&Map::new())),
        ("read_bytes", |p| read_bytes(p).map(drop)),
    ];
    for (name, write) in writers {
        for kind in Plant::ALL {
            let dir = tempfile::tempdir().unwrap();
            let outside = Outside::new();
            let at = dir.path().join("state/x.json");
            outside.plant(kind, &at);
            let e = write(&at).expect_err(name);
            assert_refused(&e, &at, kind);
            outside.assert_untouched(&format!("{name} on {kind:?}"));
        }
    }
}

/// The names a state file's update creates beside it (its lock, backup, staged backup and
/// temporaries): a lock is refused; the others are replaced or removed, never followed.
#[test]
fn the_names_beside_a_state_file_are_never_followed() {
    let pid = std::process::id();
    let beside: [(&str, bool); 4] = [
        ("s.json.lock", true),
        ("s.json.bak", false),
        (&format!(".s.json.bak.{pid}.tmp"), false),
        (".s.json.Ab12Cd.tmp", false),
    ];
    for (name, refused) in beside {
        for kind in Plant::ALL {
            let dir = tempfile::tempdir().unwrap();
            let outside = Outside::new();
            let file = StateFile::new(dir.path().join("s.json"));
            if name != "s.json.lock" {
                set(&file, "a").unwrap();
            }
            let at = dir.path().join(name);
            outside.plant(kind, &at);
            let what = format!("update with {kind:?} at {name}");
            match set(&file, "b") {
                Err(e) if refused => assert_refused(&e, &at, kind),
                Ok(()) if !refused => {
                    let now: Map = file.read().unwrap().unwrap();
                    assert_eq!(now, Map::from([("a".into(), 1), ("b".into(), 1)]), "{what}");
                    let backup: Map = file.read_backup().unwrap().unwrap();
                    assert_eq!(backup, Map::from([("a".into(), 1)]), "{what}");
                }
                other => panic!("{what}: {other:?}"),
            }
            outside.assert_untouched(&what);
        }
    }
}

#[test]
fn a_corrupt_file_set_aside_never_follows_a_planted_name() {
    let dir = tempfile::tempdir().unwrap();
    let outside = Outside::new();
    let file = StateFile::new(dir.path().join("s.json"));
    set(&file, "a").unwrap();
    set(&file, "b").unwrap();
    fs::write(&file.path, "{broken").unwrap();
    // The names set_aside_corrupt picks in the next seconds, taken by dangling links.
    let now = time::OffsetDateTime::now_utc();
    let planted: Vec<PathBuf> = (0..3)
        .map(|s| {
            let stamp = (now + time::Duration::seconds(s))
                .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
                .unwrap();
            let at = dir.path().join(format!("s.json.corrupt-{stamp}"));
            outside.plant(Plant::Dangling, &at);
            at
        })
        .collect();
    let aside = file.set_aside_corrupt::<Map>().unwrap().unwrap();
    assert!(aside.restored_from_backup);
    assert!(!planted.contains(&aside.moved_to), "a name taken by a dangling link is not reused");
    assert_eq!(fs::read_to_string(&aside.moved_to).unwrap(), "{broken");
    for at in &planted {
        assert!(fs::symlink_metadata(at).unwrap().file_type().is_symlink(), "{} replaced", at.display());
    }
    outside.assert_untouched("set_aside_corrupt");
}

#[test]
fn new_files_are_private_and_replaced_files_never_widen() {
    let dir = tempfile::tempdir().unwrap();
    // New: the default mode (0600), given to open(2).
    let file = StateFile::new(dir.path().join("s.json"));
    set(&file, "a").unwrap();
    assert_eq!(mode(&file.path), 0o600);
    append_lines(&dir.path().join("x.jsonl"), &["{}"], AppendOptions::default()).unwrap();
    assert_eq!(mode(&dir.path().join("x.jsonl")), 0o600);
    with_lock(&dir.path().join("x.lock"), Duration::from_secs(1), || ()).unwrap();
    assert_eq!(mode(&dir.path().join("x.lock")), 0o600);

    // The user's 0600 stays 0600 even when we write the file with a wider mode.
    let public = StateFile { mode: 0o644, ..StateFile::new(dir.path().join("p.json")) };
    set(&public, "a").unwrap();
    fs::set_permissions(&public.path, fs::Permissions::from_mode(0o600)).unwrap();
    set(&public, "b").unwrap();
    assert_eq!(mode(&public.path), 0o600);
    write_atomic(&public.path, b"{}\n", 0o644).unwrap();
    assert_eq!(mode(&public.path), 0o600, "write_atomic keeps it too");
    // A user's 0640 is kept (narrower than neither), also when the umask would narrow it.
    fs::set_permissions(&public.path, fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&public.path, b"{\"a\": 1}\n", 0o644).unwrap();
    assert_eq!(mode(&public.path), 0o640);

    // A state file an older version left 0644 is 0600 after the next change, and so is the
    // backup (the previous version, hard-linked) once it is staged.
    fs::set_permissions(&file.path, fs::Permissions::from_mode(0o644)).unwrap();
    set(&file, "b").unwrap();
    assert_eq!(mode(&file.path), 0o600);
    assert_eq!(mode(&file.backup_path()), 0o600);
}
