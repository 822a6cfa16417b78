//! `job` as cron and systemd run it: real commands, real signals, a sandboxed `AGENT_OPS_HOME`,
//! and the files it leaves. Nothing waits by the clock: a test polls the files it reads, and its
//! own end is the proof that nothing hung.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use test_support::procs::{self, Signal};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_job"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base())
            .stdin(Stdio::null());
        cmd
    }

    fn job(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    fn services(&self, services: &str) {
        let path = self.base().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, format!(r#"{{"services": [{services}], "disk_paths": []}}"#)).unwrap();
    }

    fn state(&self, job: &str) -> Value {
        serde_json::from_slice(&fs::read(self.state_path(job)).unwrap()).unwrap()
    }

    fn state_path(&self, job: &str) -> PathBuf {
        self.base().join(format!("state/jobs/{job}.json"))
    }

    fn log(&self, job: &str) -> String {
        fs::read_to_string(self.base().join(format!("logs/job-{job}.log"))).unwrap_or_default()
    }

    /// Polls until `f` holds (the test's own end is the proof it did not hang).
    fn until(what: &str, f: impl Fn() -> bool) {
        let mut n = 0u64;
        while !f() {
            n += 1;
            assert!(n < 2_000_000, "never: {what}");
            std::thread::yield_now();
        }
    }

    fn runs(&self, job: &str) -> Vec<Value> {
        fs::read(self.state_path(job))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["runs"].as_array().cloned())
            .unwrap_or_default()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A number no other process on the machine has in its command line.
fn marker(tag: u32) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}.{}{nanos}", 6000 + tag, std::process::id())
}

fn metrics_lines(base: &Path) -> Vec<Value> {
    let Ok(entries) = fs::read_dir(base.join("metrics")) else { return Vec::new() };
    let mut lines = Vec::new();
    for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "jsonl")) {
        for line in fs::read_to_string(e.path()).unwrap().lines() {
            lines.push(serde_json::from_str(line).unwrap());
        }
    }
    lines
}

#[test]
fn a_run_passes_output_and_exit_status_through_and_records_it_everywhere() {
    let home = Home::new();
    let out = home.job(&["run", "backup", "--", "sh", "-c", "echo dumped; echo 'disk slow' >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "dumped\n");
    assert_eq!(text(&out.stderr), "disk slow\n");
    let state = home.state("backup");
    let run = &state["runs"][0];
    assert_eq!(
        (run["status"].as_str(), run["exit_code"].as_i64(), run["source"].as_str()),
        (Some("failed"), Some(3), Some("run"))
    );
    assert!(run["output"].as_str().unwrap().contains("dumped") && run["duration_seconds"].is_f64());
    let log = home.log("backup");
    assert!(
        log.contains("job backup: run 0 started")
            && log.contains("\ndumped\n")
            && log.contains("disk slow\n"),
        "{log}"
    );
    assert!(log.contains("job backup: run 0 ended: exit 3 after"), "{log}");
    let metrics = metrics_lines(&home.base());
    assert_eq!(metrics.len(), 1);
    assert_eq!(
        (metrics[0]["name"].as_str(), metrics[0]["status"].as_str()),
        (Some("job:backup"), Some("down"))
    );
    // A success, and nothing left behind but the state, its backup and its lock.
    assert_eq!(home.job(&["run", "backup", "--", "true"]).status.code(), Some(0));
    let mut files: Vec<String> = fs::read_dir(home.base().join("state/jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["backup.json", "backup.json.bak", "backup.json.lock"]);
}

#[test]
fn what_cannot_start_is_127_or_126_and_a_failed_run() {
    let home = Home::new();
    let out = home.job(&["run", "x", "--", "/nonexistent/backup.sh"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).starts_with("error: job x: cannot run /nonexistent/backup.sh: "),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable.sh");
    fs::write(&script, "#!/bin/sh\n").unwrap();
    assert_eq!(home.job(&["run", "x", "--", script.to_str().unwrap()]).status.code(), Some(126));
    let runs = home.runs("x");
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["status"] == "failed" && r["note"].is_string()));
}

#[test]
fn names_that_are_not_file_names_are_refused_before_anything_runs() {
    let home = Home::new();
    let m = marker(1);
    for bad in ["a/b", "../x", "x\ny", "evil\u{1b}[2J", "Backup", "", ".hidden", "a.b", "_x", &"a".repeat(65)]
    {
        let out = home.job(&["run", bad, "--", "sh", "-c", &format!("echo {m} > /dev/null")]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = text(&out.stderr);
        assert!(err.starts_with("error: invalid job name"), "{err}");
        assert!(
            !err.contains('\u{1b}') && !err[..err.len() - 1].contains('\n'),
            "a control character reached the terminal: {err:?}"
        );
        assert_eq!(home.job(&["ping", bad]).status.code(), Some(2));
    }
    assert!(!home.base().join("state/jobs").exists(), "nothing was written");
    assert!(!home.base().join("logs").exists());
}

#[test]
fn the_timeout_kills_the_whole_group_and_nothing_is_left_running() {
    let home = Home::new();
    let m = marker(2);
    let out = home.job(&[
        "run",
        "hang",
        "--timeout",
        "300ms",
        "--kill-grace",
        "200ms",
        "--",
        "sh",
        "-c",
        &format!("sleep {m}1 & sh -c 'trap \"\" TERM; sleep {m}2' & echo started; wait"),
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(text(&out.stdout), "started\n");
    assert_eq!(
        procs::with_marker(&m),
        Vec::<u32>::new(),
        "the group is gone, the child that ignored SIGTERM too"
    );
    let run = &home.runs("hang")[0];
    assert_eq!((run["status"].as_str(), run["timed_out"].as_bool()), (Some("failed"), Some(true)));
}

#[test]
fn signals_to_the_wrapper_reach_the_commands_group_and_its_status_comes_back() {
    let home = Home::new();
    let m = marker(3);
    for (signal, number) in [(Signal::TERM, 15), (Signal::INT, 2), (Signal::HUP, 1)] {
        let script = format!("trap 'echo got {number}; exit 7' {number}; sleep {m} & echo ready; wait; wait");
        let mut child = home.spawn(&["run", "sig", "--", "sh", "-c", &script]);
        Home::until("ready", || {
            home.log("sig").matches("ready").count() > home.log("sig").matches("got ").count()
        });
        procs::signal(child.id(), signal);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(7), "the command decided, and its status came back");
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert_eq!(out, format!("ready\ngot {number}\n"));
        assert_eq!(procs::with_marker(&m), Vec::<u32>::new(), "its child got the signal too");
    }
    // A command that does not trap it dies of it: 128 + N, as the shell says.
    let mut child = home.spawn(&["run", "sig", "--", "sh", "-c", &format!("echo ready; exec sleep {m}")]);
    Home::until("ready", || home.log("sig").matches("ready").count() == 4);
    procs::signal(child.id(), Signal::TERM);
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert_eq!(home.runs("sig").last().unwrap()["signal"].as_i64(), Some(15));
}

#[test]
fn a_wrapper_killed_mid_run_leaves_a_run_that_is_judged_failed_then_recorded_lost() {
    let home = Home::new();
    home.services(r#"{"name": "Sync", "type": "job", "job": "sync", "period_seconds": 3600}"#);
    let m = marker(4);
    let mut wrapper =
        home.spawn(&["run", "sync", "--", "sh", "-c", &format!("echo working; exec sleep {m}")]);
    Home::until("the run is recorded", || {
        home.runs("sync").first().is_some_and(|r| r["status"] == "running")
    });
    Home::until("the command runs", || !procs::with_marker(&m).is_empty());
    // While the wrapper lives, the run is running and the job is fine.
    let status = home.job(&["status", "sync", "--json"]);
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((status.status.code(), v["verdict"].as_str()), (Some(0), Some("ok")), "{v}");
    procs::signal(wrapper.id(), Signal::KILL);
    wrapper.wait().unwrap();
    // Killed with SIGKILL, the wrapper recorded nothing more: the run is still "running" in the
    // file, and judged failed because its lock is free.
    assert_eq!(home.runs("sync")[0]["status"], "running");
    let status = home.job(&["status", "sync", "--json"]);
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status.status.code(), Some(1));
    assert_eq!(v["verdict"], "failed");
    assert!(v["detail"].as_str().unwrap().contains("failed: no end recorded: its wrapper is gone"), "{v}");
    // The command itself ran on (nothing could stop it with its wrapper): stopped here.
    for pid in procs::with_marker(&m) {
        procs::signal(pid, Signal::KILL);
    }
    // The next run records the lost one as such, and its own end.
    assert_eq!(home.job(&["run", "sync", "--", "true"]).status.code(), Some(0));
    let runs = home.runs("sync");
    assert_eq!((runs[0]["status"].as_str(), runs[1]["status"].as_str()), (Some("lost"), Some("ok")));
    assert!(!home.base().join("state/jobs/sync.run-0.lock").exists(), "its lock file was swept");
}

#[test]
fn concurrent_runs_of_one_job_are_all_recorded_and_too_often() {
    let home = Home::new();
    home.services(
        r#"{"name": "Scrape", "type": "job", "job": "scrape", "schedule": "0 * * * *", "tz": "UTC"}"#,
    );
    let gate = home.dir.path().join("gate");
    let wait = format!("while [ ! -e {} ]; do sleep 0.01; done", gate.display());
    let children: Vec<Child> =
        (0..4).map(|_| home.spawn(&["run", "scrape", "--", "sh", "-c", &wait])).collect();
    Home::until("all four are running", || {
        home.runs("scrape").iter().filter(|r| r["status"] == "running").count() == 4
    });
    fs::write(&gate, "").unwrap();
    for mut child in children {
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
    let runs = home.runs("scrape");
    let mut ids: Vec<i64> = runs.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2, 3]);
    assert!(runs.iter().all(|r| r["status"] == "ok"));
    let status = home.job(&["status", "scrape"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(text(&status.stdout).contains("verdict:  too_often: started"), "{}", text(&status.stdout));
}

#[test]
fn a_state_file_planted_as_a_symlink_is_refused_and_the_command_still_runs() {
    let home = Home::new();
    let jobs = home.base().join("state/jobs");
    fs::create_dir_all(&jobs).unwrap();
    let target = home.dir.path().join("precious");
    fs::write(&target, "do not touch").unwrap();
    std::os::unix::fs::symlink(&target, jobs.join("backup.json")).unwrap();
    let out = home.job(&["run", "backup", "--", "sh", "-c", "echo ran; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "the backup ran, its status came back");
    assert_eq!(text(&out.stdout), "ran\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: cannot record the start of job backup: refusing to follow the symlink"),
        "{err}"
    );
    assert!(
        err.contains("warning: cannot record the end of job backup: refusing to follow the symlink"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "do not touch");
    let out = home.job(&["ping", "backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: refusing to follow the symlink"));
}

#[test]
fn pings_in_healthchecks_shapes_and_list_status_with_their_verdicts() {
    let home = Home::new();
    home.services(
        r#"{"name": "Report", "type": "job", "job": "report", "period_seconds": 3600, "min_runtime_seconds": 30},
           {"name": "Digest", "type": "job", "job": "digest", "schedule": "0 8 * * mon", "tz": "Europe/Berlin"}"#,
    );
    assert_eq!(text(&home.job(&["ping", "report", "--start"]).stdout), "job report: run 0 started\n");
    let out = home.job(&["ping", "report", "--exit", "0", "--message", "sent 4 mails"]);
    assert!(text(&out.stdout).starts_with("job report: run 0 ok: exit 0 after"), "{}", text(&out.stdout));
    let out = home.job(&["ping", "report", "--fail", "--json"]);
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((run["id"].as_i64(), run["status"].as_str()), (Some(1), Some("failed")));
    assert_eq!(
        home.job(&["ping", "report", "--start", "--fail"]).status.code(),
        Some(2),
        "one event at a time"
    );
    let list = home.job(&["list"]);
    assert_eq!(list.status.code(), Some(1), "report failed");
    let shown = text(&list.stdout);
    assert!(shown.starts_with("JOB     LAST RUN"), "{shown}");
    assert!(shown.contains("digest  -") && shown.contains("report: the run of"), "{shown}");
    let list: Value = serde_json::from_slice(&home.job(&["list", "--json"]).stdout).unwrap();
    let verdicts: Vec<(&str, &str)> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["job"].as_str().unwrap(), j["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(verdicts, [("digest", "ok"), ("report", "failed")]);
    // Status of a job nobody recorded nor watches is an error; of a watched one, its schedule.
    assert_eq!(home.job(&["status", "nobody"]).status.code(), Some(1));
    let digest = text(&home.job(&["status", "digest"]).stdout);
    assert!(
        digest.contains("schedule: 0 8 * * mon in Europe/Berlin, grace 5m")
            && digest.contains("No runs recorded."),
        "{digest}"
    );
}
