//! `uptime-report` when the system refuses it threads (RLIMIT_NPROC as an unprivileged user:
//! root is not bound by it): it reads the window and rolls up the finished days on the calling
//! thread, never with a panic, and prints what it prints with threads.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use ops_metrics::{MetricRecord, Status, day_file};
use test_support::require_tool;

/// The unprivileged user the test runs uptime-report as (`nobody`).
const NOBODY: u32 = 65_534;

fn run(home: &Path, limited: Option<&Path>, args: &[&str]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("uptime-report");
    let mut cmd = match limited {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.args(["--reuid", &NOBODY.to_string(), "--regid", &NOBODY.to_string(), "--clear-groups", "--"])
                .args(["prlimit", "--nproc=1:1", "--"])
                .arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args(args).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", home).output().unwrap()
}

#[test]
fn without_threads_the_report_is_read_and_rolled_up_on_the_calling_thread() {
    if rustix::process::geteuid().as_raw() != 0 {
        test_support::missing("root (to run uptime-report as nobody under RLIMIT_NPROC)");
        return;
    }
    let Some(setpriv) = require_tool("setpriv") else { return };
    if require_tool("prlimit").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join(".agent-ops/metrics");
    fs::create_dir_all(&metrics).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    for back in 0..20 {
        let date = today - time::Duration::days(back);
        let lines: String = (0..48)
            .map(|i| {
                let status = if (back + i) % 11 == 0 { Status::Down } else { Status::Up };
                let at = date.midnight().assume_utc() + time::Duration::minutes(30 * i);
                let r = MetricRecord {
                    name: format!("svc-{}", i % 3),
                    status,
                    detail: String::new(),
                    latency_ms: 40,
                    timestamp: at,
                    warning: false,
                    perfdata: Vec::new(),
                };
                r.to_line() + "\n"
            })
            .collect();
        fs::write(day_file(&metrics, date), lines).unwrap();
    }
    // The reference, with threads, on a copy (it rolls up there, not here).
    let copy = tempfile::tempdir().unwrap();
    let copy_metrics = copy.path().join(".agent-ops/metrics");
    fs::create_dir_all(&copy_metrics).unwrap();
    for entry in fs::read_dir(&metrics).unwrap() {
        let p = entry.unwrap().path();
        fs::copy(&p, copy_metrics.join(p.file_name().unwrap())).unwrap();
    }
    let want = run(copy.path(), None, &["--days", "30", "--detailed"]);
    assert_eq!(want.status.code(), Some(0));
    // Everything owned by nobody, who may write the rollups.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = Some(rustix::fs::Uid::from_raw(NOBODY));
    let mut paths = vec![dir.path().to_path_buf(), dir.path().join(".agent-ops"), metrics.clone()];
    paths.extend(fs::read_dir(&metrics).unwrap().map(|e| e.unwrap().path()));
    for path in paths {
        rustix::fs::chown(&path, nobody, Some(rustix::fs::Gid::from_raw(NOBODY))).unwrap();
    }
    // The first run rolls up 19 days and reads them raw; the second reads the rollups.
    for _ in 0..2 {
        let got = run(dir.path(), Some(&setpriv), &["--days", "30", "--detailed"]);
        let text =
            format!("{}{}", String::from_utf8_lossy(&got.stdout), String::from_utf8_lossy(&got.stderr));
        assert_eq!(got.status.code(), Some(0), "no panic (101), no signal:\n{text}");
        assert!(!text.contains("panicked"), "{text}");
        let strip = |s: &[u8]| String::from_utf8_lossy(s).replace("; approximate, from daily rollups", "");
        let (got_text, want_text) = (strip(&got.stdout), strip(&want.stdout));
        // Percentiles from rollups are approximate: compare the exact lines.
        let exact =
            |s: &str| s.lines().filter(|l| !l.contains("latency p50")).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(exact(&got_text), exact(&want_text));
    }
    let rolled = fs::read_dir(metrics.join("rollups")).unwrap().count();
    assert_eq!(rolled, 19 + 1, "19 finished days and the lock");
    assert_eq!(
        run(dir.path(), Some(&setpriv), &["--cleanup", "--retention-days", "5"]).status.code(),
        Some(0)
    );
    assert_eq!(fs::read_dir(&metrics).unwrap().count(), 5 + 1, "five day files and the rollups");
}
