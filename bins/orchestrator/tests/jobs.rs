//! Jobs through the orchestrator as cron runs it: a `job` service's state file (as `job run` and
//! `job ping` write it) judged each pass, and the pass's outage rules applied to it with no code
//! of their own: one alert, no repeat, a recovery notice, a silence, late for a job that never
//! ran. A fake Bot API on 127.0.0.1, a sandboxed `AGENT_OPS_HOME`.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use test_support::FakeBotApi;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TOKEN: &str = "123456:TEST-token-never-printed";
const PING_TOKEN: &str = "ping-secret-0123456789abcdef";

struct Sandbox {
    dir: tempfile::TempDir,
    api: FakeBotApi,
}

impl Sandbox {
    fn new(services: &str) -> Self {
        let sb = Self { dir: tempfile::tempdir().unwrap(), api: FakeBotApi::start(TOKEN) };
        let json = format!(
            r#"{{"services": [{services}],
                "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 5}},
                "disk_paths": [], "restart_grace_seconds": 0}}"#,
            sb.api.url()
        );
        let path = sb.base().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, json).unwrap();
        sb
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base())
            .args(args)
            .output()
            .unwrap();
        let printed =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!printed.contains(PING_TOKEN), "the ping token was printed: {printed}");
        out
    }

    fn shown(&self) -> Vec<String> {
        self.api.delivered().into_iter().map(|d| d.displayed).collect()
    }

    /// Writes a job's state file as `job run` leaves it.
    fn job_state(&self, job: &str, json: &str) {
        let path = self.base().join(format!("state/jobs/{job}.json"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, json).unwrap();
    }
}

fn ago(seconds: i64) -> String {
    (OffsetDateTime::now_utc() - time::Duration::seconds(seconds)).format(&Rfc3339).unwrap()
}

fn run(id: u64, started: &str, status: &str, exit: i32) -> String {
    format!(
        r#"{{"id": {id}, "source": "run", "started": "{started}", "status": "{status}", "ended": "{started}",
            "duration_seconds": 12.0, "exit_code": {exit}}}"#
    )
}

#[test]
fn a_failed_job_is_alerted_once_and_its_recovery_noticed() {
    let sb = Sandbox::new(&format!(
        r#"{{"name": "Nightly backup", "type": "job", "job": "backup", "period_seconds": 3600, "grace_seconds": 7200, "ping_token": "{PING_TOKEN}"}}"#
    ));
    let failed = run(0, &ago(7200), "failed", 3);
    sb.job_state("backup", &format!(r#"{{"next_id": 1, "runs": [{failed}]}}"#));
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert!(
        shown[0].contains("Nightly backup: the run of ")
            && shown[0].contains(" UTC failed: exit 3 after 12s"),
        "{}",
        shown[0]
    );
    // Still failed: no second alert (reminders come after an hour).
    assert_eq!(sb.run(&[]).status.code(), Some(1));
    assert_eq!(sb.shown().len(), 1);
    // The next run, on time, succeeds: recovered, said once.
    let ok = run(1, &ago(5), "ok", 0);
    sb.job_state("backup", &format!(r#"{{"next_id": 2, "runs": [{failed}, {ok}]}}"#));
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    let shown = sb.shown();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(shown[1].contains("Nightly backup"), "{}", shown[1]);
    let metrics = fs::read_dir(sb.base().join("metrics")).unwrap().flatten().next().unwrap().path();
    let lines = fs::read_to_string(metrics).unwrap();
    assert!(lines.contains(r#""name": "Nightly backup", "status": "down""#), "{lines}");
    assert!(
        lines.contains(r#""name": "Nightly backup", "status": "recovered""#)
            || lines.contains(r#""name": "Nightly backup", "status": "up""#),
        "{lines}"
    );
}

#[test]
fn a_job_that_never_ran_is_late_and_a_silence_quiets_it() {
    let sb = Sandbox::new(
        r#"{"name": "Sync", "type": "job", "job": "sync", "period_seconds": 3600, "grace_seconds": 60}"#,
    );
    // services.json was just written: nothing is due yet.
    assert_eq!(sb.run(&[]).status.code(), Some(0));
    assert!(sb.shown().is_empty());
    assert!(!sb.base().join("state/jobs").exists(), "a check only reads");
    // services.json was written three hours ago, and nothing ran since: late.
    let config = fs::File::options().write(true).open(sb.base().join("config/services.json")).unwrap();
    config.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 3600)).unwrap();
    let out = sb.run(&["silence", "Sync", "--for", "1h"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(sb.run(&[]).status.code(), Some(0), "a silenced failure does not fail the pass");
    assert!(sb.shown().is_empty(), "silenced: not alerted");
    assert_eq!(sb.run(&["unsilence", "Sync"]).status.code(), Some(0));
    assert_eq!(sb.run(&[]).status.code(), Some(1));
    let shown = sb.shown();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert!(
        shown[0].contains("Sync: late by 2h") && shown[0].contains("no run recorded yet"),
        "{}",
        shown[0]
    );
}

#[test]
fn a_state_file_that_cannot_be_read_is_our_trouble_never_an_outage() {
    let sb = Sandbox::new(r#"{"name": "Sync", "type": "job", "job": "sync", "period_seconds": 3600}"#);
    sb.job_state("sync", "{not json");
    let out = sb.run(&[]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        printed.contains("agent-ops could not run this check") && printed.contains("sync.json is corrupt"),
        "{printed}"
    );
    assert!(sb.shown().is_empty(), "not alerted as down");
}
