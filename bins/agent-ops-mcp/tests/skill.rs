//! The agent skill cannot drift: every command of `docs/agent-skill.md` and `SKILL.md` (each
//! line of their ```sh blocks) runs against a real installation (a service up, one down after a
//! real orchestrator pass, a board, alerts to a fake Bot API) and must not be refused (exit 2)
//! or crash, and what it prints with `--json` must be JSON; the MCP client configuration (the
//! ```json mcp-client block) must start a server that answers `initialize`.
//!
//! The binaries are the workspace's own in the target directory (`cargo test --workspace`
//! builds them all); one missing or older than the sources falls under test-support's
//! skip-or-fail rule, as cargo cannot build them from inside its own test run.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde_json::{Value, json};
use test_support::FakeBotApi;

const TOKEN: &str = "123456:skill-test-token";
const BINARIES: [&str; 7] =
    ["health-check", "orchestrator", "uptime-report", "board", "alert", "agent-ops-mcp", "xtask"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The newest modification time under `dir` (what a binary is built from: `src/`).
fn newest_under(dir: &Path, newest: &mut SystemTime) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            newest_under(&path, newest);
        } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
            *newest = (*newest).max(modified);
        }
    }
}

/// The newest change to what the package `name` is built from: its `src/` and `Cargo.toml`,
/// and those of every package of the workspace it depends on (`cargo metadata`, which reads
/// the manifests only).
fn newest_source(metadata: &Value, name: &str) -> SystemTime {
    let packages = metadata["packages"].as_array().unwrap();
    let mut newest = SystemTime::UNIX_EPOCH;
    let (mut todo, mut seen) = (vec![name.to_owned()], Vec::new());
    while let Some(name) = todo.pop() {
        let Some(package) = packages.iter().find(|p| p["name"] == name.as_str()) else { continue };
        if seen.contains(&name) {
            continue;
        }
        let dir = Path::new(package["manifest_path"].as_str().unwrap()).parent().unwrap().to_path_buf();
        newest_under(&dir.join("src"), &mut newest);
        if let Ok(modified) = dir.join("Cargo.toml").metadata().and_then(|m| m.modified()) {
            newest = newest.max(modified);
        }
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["path"].is_string() && dep["kind"].is_null() {
                todo.push(dep["name"].as_str().unwrap().to_owned());
            }
        }
        seen.push(name);
    }
    newest
}

/// The directory holding every binary, each built after the last change to the sources.
fn binaries() -> Option<PathBuf> {
    let dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let o = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&o.stderr));
    let metadata: Value = serde_json::from_slice(&o.stdout).unwrap();
    for name in BINARIES {
        let bin = dir.join(name);
        let built = bin.metadata().and_then(|m| m.modified()).ok();
        if built.is_none_or(|t| t < newest_source(&metadata, name)) {
            test_support::missing(&format!(
                "an up-to-date {} (`cargo build --workspace --bins`, or `cargo test --workspace`, builds it)",
                bin.display()
            ));
            return None;
        }
    }
    Some(dir)
}

/// The lines of the ```sh blocks, and the ```json mcp-client blocks, of a markdown file.
fn blocks(path: &Path) -> (Vec<String>, Vec<String>) {
    let text = fs::read_to_string(path).unwrap();
    let (mut commands, mut clients) = (Vec::new(), Vec::new());
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some((info, body)), Some("")) => {
                match info.as_str() {
                    "sh" => commands.extend(body.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned)),
                    "json mcp-client" => clients.push(body.clone()),
                    _ => {}
                }
                open = None;
            }
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    (commands, clients)
}

/// A home with `API` down (a closed port) and `DB` up, alerting to a fake Bot API, a board
/// with `task-1a2b3c4d`, and one orchestrator pass behind it.
struct Sandbox {
    dir: tempfile::TempDir,
    bin: PathBuf,
    _db: TcpListener,
    _api: FakeBotApi,
}

impl Sandbox {
    fn new(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let api = FakeBotApi::start(TOKEN);
        let base = dir.path().join(".agent-ops");
        let config = json!({
            "services": [
                {"name": "API", "type": "port", "host": "127.0.0.1", "port": closed, "timeout_seconds": 2, "restart_command": "true"},
                {"name": "DB", "type": "port", "host": "127.0.0.1", "port": db.local_addr().unwrap().port()}],
            "alerting": {"telegram_bot_token": TOKEN, "telegram_chat_id": "42", "telegram_api_url": api.url(), "timeout_seconds": 5},
            "disk_paths": [], "restart_grace_seconds": 0,
            "mcp": {"allow": ["board", "silence", "ack"]}});
        fs::create_dir_all(base.join("config")).unwrap();
        fs::create_dir_all(base.join("state")).unwrap();
        fs::write(base.join("config/services.json"), serde_json::to_vec(&config).unwrap()).unwrap();
        let board = json!({"columns": ["open", "in-progress", "in-review", "done"], "tasks": [
            {"id": "task-1a2b3c4d", "title": "Look at API", "column": "open", "owner": "", "priority": "medium",
             "description": "", "tags": [], "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}]});
        fs::write(base.join("state/board.json"), serde_json::to_vec(&board).unwrap()).unwrap();
        let sandbox = Self { dir, bin, _db: db, _api: api };
        let pass = sandbox.command("orchestrator").output().unwrap();
        assert_eq!(pass.status.code(), Some(1), "API is down: {}", String::from_utf8_lossy(&pass.stdout));
        sandbox
    }

    fn command(&self, line: &str) -> Command {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        // `cargo xtask` is the workspace's xtask binary (cargo cannot run from inside its tests).
        let line = line.replacen("cargo xtask ", &format!("{} ", self.bin.join("xtask").display()), 1);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &line])
            .current_dir(repo())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path());
        cmd
    }

    fn run(&self, file: &str, line: &str) {
        let o = self.command(line).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(matches!(o.status.code(), Some(0 | 1)), "{file}: `{line}` exited {:?}:\n{said}", o.status);
        assert!(!said.contains(TOKEN) && !said.contains("panicked"), "{file}: `{line}`:\n{said}");
        if line.contains("--json") || line.contains("--format json") {
            serde_json::from_slice::<Value>(&o.stdout)
                .unwrap_or_else(|e| panic!("{file}: `{line}` did not print JSON ({e}):\n{said}"));
        }
        if line.contains("--help") {
            assert!(o.status.success(), "{file}: `{line}`:\n{said}");
        }
    }

    /// Starts the server a client configuration names and asks it `initialize`.
    fn client(&self, file: &str, config: &str) {
        let config: Value = serde_json::from_str(config).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        let servers = config["mcpServers"].as_object().unwrap_or_else(|| panic!("{file}: no mcpServers"));
        for (name, server) in servers {
            let program = server["command"].as_str().unwrap();
            let args: Vec<&str> =
                server["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let mut child = Command::new(self.bin.join(program))
                .args(&args)
                .env_clear()
                .env("HOME", self.dir.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{file}: server {name}: {program}: {e}"));
            let mut input = child.stdin.take().unwrap();
            let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "skill-test", "version": "1"}}});
            writeln!(input, "{init}").unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{file}: {e}: {line}"));
            assert_eq!(answer["result"]["protocolVersion"], "2025-06-18", "{file}: {answer}");
            drop(input);
            assert!(child.wait().unwrap().success(), "{file}: server {name} did not exit 0");
        }
    }
}

#[test]
fn every_command_of_the_agent_skill_runs() {
    let Some(bin) = binaries() else { return };
    for (file, at_least) in [("docs/agent-skill.md", 15), ("SKILL.md", 8)] {
        let sandbox = Sandbox::new(bin.clone());
        let (commands, clients) = blocks(&repo().join(file));
        assert!(commands.len() >= at_least, "{file}: {} commands found", commands.len());
        for line in &commands {
            sandbox.run(file, line);
        }
        for config in &clients {
            sandbox.client(file, config);
        }
        if file.starts_with("docs") {
            assert_eq!(clients.len(), 1, "{file}: the MCP client configuration");
            let state = sandbox.dir.path().join(".agent-ops/state");
            let acks: Value = serde_json::from_slice(&fs::read(state.join("acks.json")).unwrap()).unwrap();
            assert!(acks["API"]["note"].is_string(), "the documented ack took: {acks}");
            let board = fs::read_to_string(state.join("board.json")).unwrap();
            assert!(board.contains("Investigate API latency"), "the documented board add took");
        }
    }
}

#[test]
fn the_skill_has_the_front_matter_agent_skills_need() {
    let text = fs::read_to_string(repo().join("SKILL.md")).unwrap();
    let front = text.strip_prefix("---\n").and_then(|t| t.split_once("\n---\n")).map(|(f, _)| f).unwrap();
    let field =
        |key: &str| front.lines().find_map(|l| l.strip_prefix(&format!("{key}: "))).unwrap_or_default();
    let name = field("name");
    assert!(
        !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "name: {name:?}"
    );
    let description = field("description");
    assert!(!description.is_empty() && description.len() <= 1024, "description: {description:?}");
}
