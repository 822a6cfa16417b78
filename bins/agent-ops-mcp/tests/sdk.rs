//! agent-ops-mcp driven by the official MCP Python SDK (`tests/mcp_client.py`), as an agent's
//! client drives it, against a real home: services on 127.0.0.1 (a port, an HTTP server, a
//! closed port, a command check with a restart command), a real orchestrator pass before (its
//! metrics, outage memory, log and alerts to a fake Bot API and webhook), and a board with a
//! stalled task. Each client first finds every change refused, then (mcp.allow listing them
//! all) makes each change; both times a planted bot token, webhook path and header value must
//! appear in nothing the client received, though the restart log and the board hold them.
//!
//! The SDK is found as `$AGENT_OPS_MCP_PYTHON`, else `target/ci-tools/mcp-venv/bin/python`
//! (where `.ci/run` installs it), under test-support's skip-or-fail rule.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use ops_kit::pass::{Mode, run_pass};
use ops_kit::{Config, Env, Layout};
use serde_json::Value;
use test_support::echo::{Echo, Reply};
use test_support::{FakeBotApi, FakeWebhook};
use time::OffsetDateTime;

const TOKEN: &str = "123456:PLANTED-bot-token-never-shown";
const HOOK_PATH: &str = "T0PLANTED/B0PLANTED/planted-webhook-path-secret";
const HOOK_HEADER: &str = "Bearer planted-webhook-header-secret";

/// A Python with the MCP SDK and jsonschema, or `None` after the skip-or-fail rule.
fn mcp_python() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("AGENT_OPS_MCP_PYTHON")
        .map_or_else(|| repo.join("target/ci-tools/mcp-venv/bin/python"), PathBuf::from);
    let works = Command::new(&python)
        .args(["-c", "import mcp, jsonschema; from mcp import Client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        Some(python)
    } else {
        test_support::missing(&format!(
            "the official MCP Python SDK (`mcp` from PyPI, 2.x) at {} (set AGENT_OPS_MCP_PYTHON, or run .ci/run's venv step)",
            python.display()
        ));
        None
    }
}

/// An installation with real services.
struct Home {
    dir: tempfile::TempDir,
    db: TcpListener,
    web: Echo,
    cache_port: u16,
    api: FakeBotApi,
    hook: FakeWebhook,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let home = Self {
            dir,
            db: TcpListener::bind("127.0.0.1:0").unwrap(),
            web: Echo::start(Reply::Fixed(200, Vec::new(), "ok".into())),
            cache_port,
            api: FakeBotApi::start(TOKEN),
            hook: FakeWebhook::start(),
        };
        home.config(&[]);
        home
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("ops")
    }

    fn worker_up(&self) -> PathBuf {
        self.dir.path().join("worker.up")
    }

    /// services.json with `allow` in mcp.allow.
    fn config(&self, allow: &[&str]) {
        let up = self.worker_up();
        let json = serde_json::json!({
            "services": [
                {"name": "DB", "type": "port", "host": "127.0.0.1", "port": self.db.local_addr().unwrap().port()},
                {"name": "Web", "target": self.web.url(), "timeout_seconds": 5},
                {"name": "Cache", "type": "port", "host": "127.0.0.1", "port": self.cache_port, "timeout_seconds": 2},
                {"name": "Worker", "type": "command",
                 "command": format!("test -f {0} && echo OK || {{ echo CRITICAL: no {0}; exit 2; }}", up.display()),
                 "restart_command": format!("echo restarting worker with {TOKEN}; touch {}", up.display())},
            ],
            "alerting": {"telegram_bot_token": TOKEN, "telegram_chat_id": "42", "telegram_api_url": self.api.url(),
                         "timeout_seconds": 5,
                         "webhooks": [{"name": "hook", "url": self.hook.url(HOOK_PATH), "headers": {"Authorization": HOOK_HEADER}}]},
            "disk_paths": [],
            "restart_grace_seconds": 0,
            "mcp": {"allow": allow},
        });
        let path = self.base().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    }

    /// A board with a task in progress for three days, and one real orchestrator pass (Worker
    /// up then); then Worker goes down.
    fn prepare(&self) {
        let state = self.base().join("state");
        fs::create_dir_all(&state).unwrap();
        let old = ops_state::timestamp::format_utc(OffsetDateTime::now_utc() - time::Duration::days(3));
        let board = serde_json::json!({
            "columns": ["open", "in-progress", "in-review", "done"],
            "tasks": [{"id": "task-0a1b2c3d", "title": "Old work", "column": "in-progress", "owner": "", "priority": "medium",
                       "description": "", "tags": [], "createdAt": old, "updatedAt": old}]});
        fs::write(state.join("board.json"), serde_json::to_vec(&board).unwrap()).unwrap();
        fs::write(self.worker_up(), "").unwrap();
        let env = Env { agent_ops_home: Some(self.base().into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        let config = Config::load(&layout, &env).unwrap().config;
        let report = run_pass(&layout, &env, &config, Mode::Real).unwrap();
        let failing: Vec<&str> = report.failing().map(|s| s.check.name.as_str()).collect();
        assert_eq!(failing, ["Cache"], "{:?}", report.log);
        fs::remove_file(self.worker_up()).unwrap();
    }

    /// Runs the client; its transcript (and the server's standard error, which the SDK passes
    /// on) must hold no planted secret.
    fn client(&self, python: &Path, phase: &str, mode: &str) -> String {
        let o = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py"))
            .args([Path::new(env!("CARGO_BIN_EXE_agent-ops-mcp")), &self.base()])
            .args([phase, mode])
            .env("PLANTED_TOKEN", TOKEN)
            .output()
            .unwrap();
        let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && out.contains("\nOK\n"), "{phase} ({mode}):\n{out}");
        for secret in [TOKEN, HOOK_PATH, HOOK_HEADER, "planted-webhook-header-secret", "PLANTED-bot-token"] {
            assert!(!out.contains(secret), "{phase} ({mode}): {secret:?} reached the client:\n{out}");
        }
        assert!(out.contains("[redacted]"), "something was redacted");
        out
    }

    fn state(&self, name: &str) -> Value {
        serde_json::from_slice(&fs::read(self.base().join("state").join(name)).unwrap()).unwrap()
    }
}

fn both_phases(mode: &str) {
    let Some(python) = mcp_python() else { return };
    let home = Home::new();
    home.prepare();
    let refused = home.client(&python, "refused", mode);
    assert!(!home.worker_up().exists(), "nothing was restarted while restarts were off");
    assert!(
        !home.base().join("state/silences.json").exists() && !home.base().join("state/acks.json").exists()
    );
    // What every tool's schemas cost a client's context: bounded, each under 2 KiB.
    let sizes: Value = refused
        .lines()
        .find_map(|l| serde_json::from_str(l).ok().filter(|v: &Value| v["what"] == "schema-sizes"))
        .unwrap();
    for tool in sizes["sizes"].as_array().unwrap() {
        assert!(
            tool["input_bytes"].as_u64() < Some(2048) && tool["output_bytes"].as_u64() < Some(2048),
            "{tool}"
        );
    }

    home.config(&["board", "silence", "ack", "alert", "restart"]);
    let alerts_before = home.api.delivered().len();
    home.client(&python, "allowed", mode);
    assert!(home.worker_up().exists(), "the restart command ran");
    let restart_log = fs::read_to_string(home.base().join("logs/restart-worker.log")).unwrap();
    assert!(restart_log.contains(TOKEN), "the log held the token that logs_tail redacted");
    let board = fs::read_to_string(home.base().join("state/board.json")).unwrap();
    assert!(
        board.contains(TOKEN) && board.contains("Investigate Cache"),
        "the board held what board_show redacted"
    );
    let recovery = home.state("recovery.json");
    assert_eq!(recovery["Worker"]["attempts"], 0, "a verified recovery resets the count: {recovery}");
    assert!(recovery["Worker"]["last_success"].is_number(), "{recovery}");
    assert_eq!(home.state("acks.json")["Cache"]["note"], "restarting the cache host");
    let silences = home.state("silences.json");
    assert!(silences.as_object().unwrap().is_empty(), "silenced, then lifted: {silences}");
    let sent: Vec<String> =
        home.api.delivered().into_iter().skip(alerts_before).map(|d| d.displayed).collect();
    assert_eq!(sent.iter().filter(|t| t.contains("agent here")).count(), 1, "{sent:?}");
    assert!(!sent.iter().any(|t| t.contains("agent again")), "rate limited by topic: {sent:?}");
}

#[test]
fn a_modern_client_finds_changes_refused_then_makes_each_once_allowed() {
    both_phases("modern");
}

#[test]
fn a_legacy_client_finds_changes_refused_then_makes_each_once_allowed() {
    both_phases("legacy");
}
