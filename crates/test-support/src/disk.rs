//! Disk trouble that really fails writes, root's included (tests run as root, and `chmod`
//! stops nobody there):
//!
//! - [`Tmpfs`]: a small tmpfs mounted over one directory, then filled to the last block
//!   (`ENOSPC`) or remounted read-only (`EROFS`). It needs the right to mount (root with
//!   `CAP_SYS_ADMIN`); without it the test is skipped by [`crate::missing`]'s rule.
//! - [`no_file_growth`]: a command run with `ulimit -f 0` and `SIGXFSZ` ignored, so that every
//!   write that would grow a file fails with `EFBIG` ("File too large") in that process only,
//!   as on a disk that is full everywhere. Any user can do this.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::mount::{MountFlags, UnmountFlags, mount, mount_remount, unmount};

/// The file [`Tmpfs::fill`] takes the free space with.
pub const FILLER: &str = ".disk-filler";

/// A tmpfs mounted over a directory for the life of the value (lazily unmounted on drop, so
/// the directory shows its old content again).
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts an empty tmpfs of `size_kib` KiB over `dir` (created when missing). `None`, after
    /// [`crate::missing`], when this process may not mount.
    pub fn mount(dir: &Path, size_kib: u64) -> Option<Self> {
        fs::create_dir_all(dir).expect("create the mount point");
        let options = std::ffi::CString::new(format!("size={size_kib}k,mode=0755")).expect("options");
        match mount("tmpfs", dir, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, options.as_c_str()) {
            Ok(()) => Some(Self { dir: dir.to_path_buf() }),
            Err(e) if e == rustix::io::Errno::PERM || e == rustix::io::Errno::ACCESS => {
                crate::missing(&format!(
                    "the right to mount a tmpfs (root with CAP_SYS_ADMIN; mount said: {e}) for the disk-trouble test"
                ));
                None
            }
            Err(e) => panic!("mount a tmpfs on {}: {e}", dir.display()),
        }
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes every free block with [`FILLER`], then checks that a one-byte write to a new
    /// file fails with `ENOSPC`.
    pub fn fill(&self) {
        let mut filler = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(FILLER))
            .expect("create the filler");
        let block = [0u8; 4096];
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) => break,
                Err(e) => panic!("fill {}: {e}", self.dir.display()),
            }
        }
        let err = probe(&self.dir).expect_err("a write on a full tmpfs must fail");
        assert_eq!(err.raw_os_error(), Some(rustix::io::Errno::NOSPC.raw_os_error()), "{err}");
    }

    /// Gives back the space [`Tmpfs::fill`] took.
    pub fn free(&self) {
        fs::remove_file(self.dir.join(FILLER)).expect("remove the filler");
        // The kernel gives the pages back as the inode goes; under heavy load (the whole test
        // suite on two cores) that can trail the unlink for a moment: poll for it, bounded.
        let mut last = None;
        for _ in 0..200 {
            match probe(&self.dir) {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("a write after freeing the space still fails: {last:?}");
    }

    /// Remounts it read-only, then checks that a write fails with `EROFS`, even for root.
    pub fn read_only(&self) {
        self.remount(MountFlags::RDONLY);
        let err = probe(&self.dir).expect_err("a write on a read-only tmpfs must fail");
        assert_eq!(err.raw_os_error(), Some(rustix::io::Errno::ROFS.raw_os_error()), "{err}");
    }

    /// Remounts it writable.
    pub fn writable(&self) {
        self.remount(MountFlags::empty());
        probe(&self.dir).expect("a write after remounting read-write");
    }

    fn remount(&self, flags: MountFlags) {
        mount_remount(&self.dir, flags | MountFlags::NOSUID | MountFlags::NODEV, "")
            .unwrap_or_else(|e| panic!("remount {}: {e}", self.dir.display()));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = unmount(&self.dir, UnmountFlags::DETACH);
    }
}

/// Writes today's (UTC) metrics day file in `dir`, `YYYY-MM-DD.jsonl`, holding exactly one page
/// (4 KiB) of whole, valid lines for `service`, so that on a full [`Tmpfs`] the next append
/// needs a block that is not there (an append that fits in the last page's slack would
/// succeed, on a real disk too). Returns the file and its content.
pub fn page_of_metrics(dir: &Path, service: &str) -> (PathBuf, String) {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
        .expect("format a timestamp");
    let name = serde_json::to_string(service).expect("a JSON string");
    let mut lines = String::new();
    for _ in 0..4 {
        let head = format!(r#"{{"name": {name}, "status": "up", "detail": ""#);
        let tail = format!(r#"", "latency_ms": 0, "timestamp": "{stamp}"}}"#);
        let pad = 1023usize.checked_sub(head.len() + tail.len()).expect("a short service name");
        lines.push_str(&head);
        lines.push_str(&"x".repeat(pad));
        lines.push_str(&tail);
        lines.push('\n');
    }
    assert_eq!(lines.len(), 4096);
    let day = dir.join(format!("{}.jsonl", now.date()));
    fs::write(&day, &lines).expect("write the day file");
    (day, lines)
}

/// Creates a file with one byte in `dir` and removes it again.
fn probe(dir: &Path) -> io::Result<()> {
    let path = dir.join(".disk-probe");
    let result = File::create(&path).and_then(|mut f| f.write_all(b"x").and_then(|()| f.sync_all()));
    let _ = fs::remove_file(&path);
    result
}

/// `program` run through `/bin/sh` with `ulimit -f 0` and `SIGXFSZ` ignored (an ignored signal
/// stays ignored across `exec`): every write that would make a file longer fails with `EFBIG`,
/// in that process and its children only. Add arguments and environment as usual.
pub fn no_file_growth(program: &Path) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg("ulimit -f 0 && trap '' XFSZ && exec \"$0\" \"$@\"").arg(program);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_growth_fails_writes_with_efbig_and_no_signal() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let out = no_file_growth(Path::new("/bin/sh"))
            .arg("-c")
            .arg(format!("printf x > {}; echo $?", target.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "0", "the write failed");
        assert_eq!(fs::metadata(&target).map_or(0, |m| m.len()), 0);
    }

    #[test]
    fn a_tmpfs_fills_up_and_turns_read_only_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let Some(disk) = Tmpfs::mount(&dir.path().join("m"), 64) else { return };
        fs::write(disk.path().join("old"), b"kept").unwrap();
        disk.fill();
        assert!(fs::write(disk.path().join("new"), b"x").is_err());
        disk.free();
        disk.read_only();
        assert!(fs::write(disk.path().join("old"), b"overwritten").is_err());
        assert_eq!(fs::read(disk.path().join("old")).unwrap(), b"kept");
        disk.writable();
        fs::write(disk.path().join("new"), b"x").unwrap();
        drop(disk);
        assert!(!dir.path().join("m/old").exists(), "unmounted: the directory is empty again");
    }
}
