//! Names planted where agent-ops writes: symlinks to a file outside the directory, dangling
//! symlinks, symlinks to a directory, and named pipes (which block a plain open for writing).
//! Each test plants every [`Plant`] at the name a writer uses, runs the writer, and checks with
//! [`Outside::assert_untouched`] that nothing outside changed or appeared.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// What can be planted at a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// A symlink to a file outside (mode 0600, with content).
    LinkToFile,
    /// A symlink to a name outside that does not exist.
    Dangling,
    /// A symlink to a directory outside.
    LinkToDir,
    /// A named pipe with no reader.
    Fifo,
}

impl Plant {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::LinkToFile, Self::Dangling, Self::LinkToDir, Self::Fifo];

    /// Whether it is a symlink (whose refusal says "refusing to follow the symlink").
    pub fn is_link(self) -> bool {
        self != Self::Fifo
    }
}

/// A directory outside the one written to, with a private file in it.
pub struct Outside {
    dir: tempfile::TempDir,
}

/// The content of the outside file.
pub const SECRET: &str = "outside: private content\n";

impl Default for Outside {
    fn default() -> Self {
        Self::new()
    }
}

impl Outside {
    /// A new outside directory holding `secret` (mode 0600).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let secret = dir.path().join("secret");
        fs::write(&secret, SECRET).expect("write the outside file");
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::create_dir(dir.path().join("subdir")).expect("outside subdir");
        Self { dir }
    }

    /// The private file outside.
    pub fn file(&self) -> PathBuf {
        self.dir.path().join("secret")
    }

    /// A name outside that does not exist (a dangling link's target).
    pub fn missing(&self) -> PathBuf {
        self.dir.path().join("missing")
    }

    /// Plants `kind` at `at` (its directory is created).
    pub fn plant(&self, kind: Plant, at: &Path) {
        fs::create_dir_all(at.parent().expect("a parent")).expect("create the parent");
        let _ = fs::remove_file(at);
        match kind {
            Plant::LinkToFile => symlink(self.file(), at),
            Plant::Dangling => symlink(self.missing(), at),
            Plant::LinkToDir => symlink(self.dir.path().join("subdir"), at),
            Plant::Fifo => {
                fifo(at);
                Ok(())
            }
        }
        .unwrap_or_else(|e| panic!("plant {kind:?} at {}: {e}", at.display()));
    }

    /// Panics unless the outside file has its content and mode, and nothing else appeared.
    pub fn assert_untouched(&self, what: &str) {
        let file = self.file();
        assert_eq!(
            fs::read_to_string(&file).expect("read the outside file"),
            SECRET,
            "{what}: changed the file outside"
        );
        let mode = fs::metadata(&file).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "{what}: changed the mode of the file outside");
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .expect("list outside")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secret", "subdir"], "{what}: created something outside");
        let inside = fs::read_dir(self.dir.path().join("subdir")).expect("list outside subdir").count();
        assert_eq!(inside, 0, "{what}: created something in the directory outside");
    }
}

/// Makes a named pipe (mode 0600) at `at`.
pub fn fifo(at: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, at, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", at.display()));
}
