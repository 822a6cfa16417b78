//! `health-check` when its metrics directory is full or read-only (a small tmpfs mounted over
//! it), or when it may grow no file at all (`ulimit -f 0`): the report is printed whole, each
//! file that could not be written is named with the reason, the exit status is 1, and the
//! metrics and textfile written before are left as they were.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_support::disk::{Tmpfs, no_file_growth, page_of_metrics};

struct Sandbox {
    dir: tempfile::TempDir,
    /// The one service, up for the whole test: the checks alone would exit 0.
    _service: TcpListener,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let service = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = service.local_addr().unwrap().port();
        let config = dir.path().join("ops/config/services.json");
        fs::create_dir_all(config.parent().unwrap()).unwrap();
        fs::write(
            &config,
            format!(
                r#"{{"services": [{{"name": "DB", "type": "port", "port": {port}}}], "disk_paths": []}}"#
            ),
        )
        .unwrap();
        Self { dir, _service: service }
    }

    fn metrics(&self) -> PathBuf {
        self.dir.path().join("ops/metrics")
    }

    fn textfile(&self) -> PathBuf {
        self.metrics().join("agent_ops.prom")
    }

    fn run(&self, mut cmd: Command, args: &[&str]) -> Output {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.dir.path().join("ops"))
            .args(args)
            .output()
            .unwrap()
    }

    fn health_check(&self, args: &[&str]) -> Output {
        self.run(Command::new(assert_cmd::cargo::cargo_bin("health-check")), args)
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The Python kit's report for the one passing check.
fn assert_report(o: &Output) {
    let out = stdout(o);
    assert!(out.starts_with("[OK] DB - port ") && out.ends_with("\nAll 1 checks passed.\n"), "{out}");
}

/// Old metrics and an old textfile, the directory broken by `breaks`, then a run: the report,
/// exit 1, both files named after what could not be done to them and why, both left as they
/// were.
fn metrics_dir_in_trouble(breaks: impl FnOnce(&Tmpfs), day_action: &str, textfile_action: &str, why: &str) {
    let sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.metrics(), 256) else { return };
    let (day, old) = page_of_metrics(&sb.metrics(), "DB");
    let textfile = sb.textfile().display().to_string();
    let out = sb.health_check(&["--prometheus-textfile", &textfile, "--no-metrics"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let old_textfile = fs::read(sb.textfile()).unwrap();

    breaks(&disk);
    let out = sb.health_check(&["--prometheus-textfile", &textfile]);
    assert_report(&out);
    assert_eq!(out.status.code(), Some(1), "the checks passed; the disk did not");
    assert_eq!(
        stderr(&out),
        format!("error: {day_action} {}: {why}\nerror: {textfile_action} {textfile}: {why}\n", day.display())
    );
    assert_eq!(fs::read_to_string(&day).unwrap(), old, "the old lines are whole, nothing torn");
    assert_eq!(fs::read(sb.textfile()).unwrap(), old_textfile, "node_exporter still reads the old textfile");
    let names: Vec<String> = fs::read_dir(sb.metrics())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| Path::new(n).extension().is_none_or(|e| e != "tmp")), "{names:?}");
}

#[test]
fn a_full_metrics_disk_prints_the_report_names_the_files_and_exits_1() {
    metrics_dir_in_trouble(
        Tmpfs::fill,
        "cannot append to",
        "cannot write",
        "No space left on device (os error 28)",
    );
}

#[test]
fn a_read_only_metrics_directory_prints_the_report_names_the_files_and_exits_1() {
    metrics_dir_in_trouble(
        Tmpfs::read_only,
        "cannot open",
        "cannot create a temporary file to replace",
        "Read-only file system (os error 30)",
    );
}

#[test]
fn a_process_that_can_grow_no_file_prints_the_report_and_exits_1() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.metrics()).unwrap();
    let (day, old) = page_of_metrics(&sb.metrics(), "DB");
    let out = sb.run(no_file_growth(&assert_cmd::cargo::cargo_bin("health-check")), &["--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((json["passed"].as_u64(), json["failed"].as_u64()), (Some(1), Some(0)), "{json}");
    assert_eq!(out.status.code(), Some(1), "no panic, no SIGXFSZ: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("error: cannot append to {}: File too large (os error 27)\n", day.display())
    );
    assert_eq!(fs::read_to_string(&day).unwrap(), old);
}
