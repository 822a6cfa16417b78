//! `alert` when the state directory is full or read-only (a small tmpfs mounted over it), or
//! when it may grow no file at all (`ulimit -f 0`): the outbox cannot be written, so the alert
//! is sent directly, once, and `alert` says so naming the files; the rate file written before
//! is left as it was.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use test_support::disk::{Tmpfs, no_file_growth};
use test_support::{FakeBotApi, Reply};

const TOKEN: &str = "7012345678:AAF-disk_secretTokenValue";

struct Sandbox {
    dir: tempfile::TempDir,
    api: FakeBotApi,
}

impl Sandbox {
    fn new() -> Self {
        let sb = Self { dir: tempfile::tempdir().unwrap(), api: FakeBotApi::start(TOKEN) };
        let config = sb.base().join("config/services.json");
        fs::create_dir_all(config.parent().unwrap()).unwrap();
        let json = format!(
            r#"{{"alerting": {{"telegram_chat_id": "-100123", "telegram_api_url": "{}", "timeout_seconds": 5}}}}"#,
            sb.api.url()
        );
        fs::write(config, json).unwrap();
        sb
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    fn state(&self) -> PathBuf {
        self.base().join("state")
    }

    fn run(&self, mut cmd: Command, args: &[&str]) -> Output {
        let out = cmd
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AGENT_OPS_HOME", self.base())
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .args(args)
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));
        out
    }

    fn alert(&self, args: &[&str]) -> Output {
        self.run(Command::new(assert_cmd::cargo::cargo_bin("alert")), args)
    }

    fn shown(&self) -> Vec<String> {
        self.api.delivered().into_iter().map(|d| d.displayed).collect()
    }

    fn rate(&self) -> Value {
        serde_json::from_slice(&fs::read(self.state().join("alert-rate.json")).unwrap()).unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A first alert sent normally, the state directory broken by `breaks`, a second alert: sent
/// directly and once, exit 0, the outbox and the rate file named with `why`, the rate file as
/// it was.
fn state_dir_in_trouble(breaks: impl FnOnce(&Tmpfs), outbox_action: &str, rate_action: &str, why: &str) {
    let sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.state(), 256) else { return };
    let out = sb.alert(&["send", "first", "--topic", "one"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rate = sb.rate();

    breaks(&disk);
    let out = sb.alert(&["send", "disk trouble", "--level", "error", "--topic", "two"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "delivered: {err}");
    assert_eq!(sb.shown(), ["[INFO] Agent Ops Alert\n\nfirst", "[ERROR] Agent Ops Alert\n\ndisk trouble"]);
    let outbox = sb.state().join("alert-outbox.jsonl");
    let rate_file = sb.state().join("alert-rate.json");
    assert!(
        err.contains(&format!(
            "warning: could not queue the alert ({outbox_action} {}: {why}); sending it without the outbox",
            outbox.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: could not record the alert's topic ({rate_action} {}: {why}); the next alert of topic \"two\" \
             will not be rate limited",
            rate_file.display()
        )),
        "{err}"
    );
    assert_eq!(sb.rate(), rate, "the rate file is as it was");
    assert_eq!(rate.as_object().unwrap().keys().collect::<Vec<_>>(), ["one"]);
    assert_eq!(fs::read_to_string(&outbox).unwrap_or_default(), "", "nothing half-written in the outbox");
}

#[test]
fn a_full_state_disk_sends_the_alert_directly_once() {
    state_dir_in_trouble(
        Tmpfs::fill,
        "cannot write",
        "cannot write",
        "No space left on device (os error 28)",
    );
}

#[test]
fn a_read_only_state_directory_sends_the_alert_directly_once() {
    state_dir_in_trouble(
        Tmpfs::read_only,
        "cannot create a temporary file to replace",
        "cannot back up",
        "Read-only file system (os error 30)",
    );
}

#[test]
fn a_process_that_can_grow_no_file_sends_the_alert_directly_once() {
    let sb = Sandbox::new();
    let out =
        sb.run(no_file_growth(&assert_cmd::cargo::cargo_bin("alert")), &["send", "no space", "--topic", "t"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "no panic, no SIGXFSZ: {err}");
    assert_eq!(sb.shown(), ["[INFO] Agent Ops Alert\n\nno space"]);
    assert!(
        err.contains("could not queue the alert (cannot write ") && err.contains("File too large"),
        "{err}"
    );
}

#[test]
fn alerts_waiting_in_a_full_outbox_wait_instead_of_going_out_on_every_run() {
    let sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.state(), 256) else { return };
    // Two alerts wait: the first failed 3 times, then 3 times more before the second was queued.
    sb.api.push(std::iter::repeat_n(Reply::server_error(), 6));
    assert_eq!(sb.alert(&["send", "one"]).status.code(), Some(1));
    assert_eq!(sb.alert(&["send", "two"]).status.code(), Some(1));
    let outbox = sb.state().join("alert-outbox.jsonl");
    let queued = fs::read(&outbox).unwrap();

    disk.fill();
    for _ in 0..3 {
        let out = sb.alert(&["flush"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "warning: cannot write {}: No space left on device (os error 28); the 2 alert(s) in the outbox wait \
                 until it can be written again",
                outbox.display()
            )) && err.ends_with(&format!("2 alert(s) wait in {}\n", outbox.display())),
            "{err}"
        );
    }
    // A new alert goes out directly; the waiting ones are not sent (they could not be taken off).
    let out = sb.alert(&["send", "three"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.shown(), ["[INFO] Agent Ops Alert\n\nthree"]);
    assert_eq!(fs::read(&outbox).unwrap(), queued, "the outbox is as it was");

    disk.free();
    let out = sb.alert(&["flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        sb.shown(),
        ["[INFO] Agent Ops Alert\n\nthree", "[INFO] Agent Ops Alert\n\none", "[INFO] Agent Ops Alert\n\ntwo"],
        "each exactly once"
    );
    assert_eq!(fs::read_to_string(&outbox).unwrap(), "");
}
