//! A hostile or broken client, straight over the pipes (no SDK): garbage, a 20 MB line,
//! requests that are not JSON-RPC, unknown methods and tools, arguments of the wrong type, a
//! revision we do not speak, and a client that closes its end mid-call. Every line the server
//! writes must be a JSON-RPC message, every bad request must get its error, and the server must
//! go on serving.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

const MODERN: &str = "2026-07-28";

fn home(services: &Value, allow: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &json!({"services": services, "disk_paths": [], "restart_grace_seconds": 0,
                                     "mcp": {"allow": allow}}),
    );
    dir
}

fn write_config(dir: &Path, config: &Value) {
    let path = dir.join("ops/config/services.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(config).unwrap()).unwrap();
}

struct Server {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agent-ops-mcp"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AGENT_OPS_HOME", dir.join("ops"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        Self { child, input, output }
    }

    fn send(&mut self, line: &[u8]) {
        let input = self.input.as_mut().unwrap();
        input.write_all(line).unwrap();
        input.write_all(b"\n").unwrap();
        input.flush().unwrap();
    }

    /// The next line of standard output, which must be one JSON-RPC message.
    fn receive(&mut self) -> Value {
        let mut line = String::new();
        assert!(self.output.read_line(&mut line).unwrap() > 0, "the server closed its output");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line:?}"));
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        assert!(v.get("result").is_some() != v.get("error").is_some(), "a result or an error: {v}");
        v
    }

    fn ask(&mut self, request: &Value) -> Value {
        self.send(&serde_json::to_vec(request).unwrap());
        self.receive()
    }

    fn initialize(&mut self) {
        let answer = self.ask(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}}));
        assert_eq!(answer["result"]["protocolVersion"], "2025-11-25");
        self.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    }

    /// Closes standard input and waits: the exit status and what the server said on standard
    /// error.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.input.take());
        let mut rest = String::new();
        while self.output.read_line(&mut rest).unwrap_or(0) > 0 {}
        assert!(rest.is_empty(), "nothing unasked on stdout: {rest:?}");
        let o = self.child.wait_with_output().unwrap();
        (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {answer}"))
}

fn call(id: u64, name: &str, arguments: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

fn modern(id: u64, method: &str, meta: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"_meta": meta}})
}

#[test]
fn bad_messages_get_their_error_and_the_server_goes_on() {
    let dir = home(&json!([{"name": "DB", "type": "port", "port": 9}]), &[]);
    let mut s = Server::start(dir.path());
    // Lines that are not JSON-RPC requests: each answered with an error whose id is null.
    for (line, code) in [
        (&b"garbage"[..], -32700),
        (b"\xff\xfe{\"a\": 1}", -32700),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"", -32700),
        (b"[]", -32600),
        (b"[{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"}]", -32600),
        (b"42", -32600),
        (b"\"ping\"", -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": null, \"method\": \"ping\"}", -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 1.5, \"method\": \"ping\"}", -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": {}, \"method\": \"ping\"}", -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": true, \"method\": \"ping\"}", -32600),
    ] {
        s.send(line);
        let answer = s.receive();
        assert_eq!(error_code(&answer), code, "{}: {answer}", String::from_utf8_lossy(line));
        assert_eq!(answer["id"], Value::Null);
    }
    // Requests with an id that are wrong: the error carries the id.
    for (request, code) in [
        (json!({"jsonrpc": "1.0", "id": 2, "method": "ping"}), -32600),
        (json!({"jsonrpc": "2.0", "id": 3, "method": 5}), -32600),
        (json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}), -32600), // not initialized
        (json!({"jsonrpc": "2.0", "id": "five", "method": "server/discover"}), -32602), // no _meta
        (json!({"jsonrpc": "2.0", "id": 6, "method": "ping", "params": [1]}), -32602),
    ] {
        let answer = s.ask(&request);
        assert_eq!(error_code(&answer), code, "{request}: {answer}");
        assert_eq!(answer["id"], request["id"]);
    }
    // Nothing is answered to notifications, responses or empty lines: the next answer is ping's.
    s.send(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#);
    s.send(br#"{"jsonrpc":"2.0","method":"no/such/notification"}"#);
    s.send(br#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
    s.send(b"   ");
    assert_eq!(s.ask(&json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}))["id"], "p");

    s.initialize();
    for (request, code) in [
        (json!({"jsonrpc": "2.0", "id": 10, "method": "no/such/method"}), -32601),
        (json!({"jsonrpc": "2.0", "id": 11, "method": "prompts/list"}), -32601),
        (json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {}}), -32602),
        (call(13, "no_such_tool", &json!({})), -32602),
        (
            json!({"jsonrpc": "2.0", "id": 14, "method": "tools/call", "params": {"name": "status", "arguments": "x"}}),
            -32602,
        ),
        (json!({"jsonrpc": "2.0", "id": 15, "method": "tools/list", "params": {"cursor": "next"}}), -32602),
        (
            json!({"jsonrpc": "2.0", "id": 16, "method": "resources/read", "params": {"uri": "file:///etc/passwd"}}),
            -32002,
        ),
        (json!({"jsonrpc": "2.0", "id": 17, "method": "resources/read", "params": {}}), -32602),
    ] {
        let answer = s.ask(&request);
        assert_eq!(error_code(&answer), code, "{request}: {answer}");
        assert_eq!(answer["id"], request["id"]);
    }
    // Arguments of the wrong type are the tool's error, naming the field.
    for (name, arguments, field) in [
        ("uptime", json!({"days": "7"}), "`days`"),
        ("uptime", json!({"days": -1}), "`days`"),
        ("check", json!({"names": "DB"}), "`names`"),
        ("check", json!({"names": [1]}), "`names[0]`"),
        ("logs_tail", json!({"lines": 1e9}), "`lines`"),
        ("board_show", json!({}), "`id`"),
        ("status", json!({"verbose": true}), "`verbose`"),
    ] {
        let answer = s.ask(&call(20, name, &arguments));
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(answer["result"]["isError"] == true && text.contains(field), "{name} {arguments}: {answer}");
    }
    // The modern revision: an unknown version names the ones served; a request without its
    // capabilities is malformed; a resource that is not there is invalid params.
    let answer = s.ask(&modern(
        30,
        "tools/list",
        &json!({"io.modelcontextprotocol/protocolVersion": "2099-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}),
    ));
    assert_eq!(error_code(&answer), -32022);
    assert_eq!(
        answer["error"]["data"],
        json!({"supported": [MODERN, "2025-11-25", "2025-06-18"], "requested": "2099-01-01"})
    );
    let answer =
        s.ask(&modern(31, "tools/list", &json!({"io.modelcontextprotocol/protocolVersion": MODERN})));
    assert_eq!(error_code(&answer), -32602, "{answer}");
    let meta = json!({"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}});
    let answer = s.ask(&json!({"jsonrpc": "2.0", "id": 32, "method": "resources/read", "params": {"uri": "x:y", "_meta": meta}}));
    assert_eq!(error_code(&answer), -32602, "{answer}");
    let answer = s.ask(&modern(33, "tools/list", &meta));
    assert_eq!(answer["result"]["resultType"], "complete");
    assert!(
        answer["result"]["ttlMs"].as_u64().is_some() && answer["result"]["cacheScope"] == "public",
        "{answer}"
    );
    let (status, stderr) = s.finish();
    assert!(status.success() && !stderr.contains("panicked"), "{status}: {stderr}");
}

/// The server's peak resident memory, in bytes (`VmHWM`, Linux).
fn peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

#[test]
fn a_20_mb_message_is_refused_without_being_held_and_the_server_goes_on() {
    let dir = home(&json!([]), &["board"]);
    let mut s = Server::start(dir.path());
    s.initialize();
    let huge = "a".repeat(20 * 1024 * 1024);
    let line = serde_json::to_vec(&call(1, "board_add", &json!({"title": huge}))).unwrap();
    s.send(&line);
    let answer = s.receive();
    assert_eq!(error_code(&answer), -32600, "{}", &answer.to_string()[..200.min(answer.to_string().len())]);
    let said = answer["error"]["message"].as_str().unwrap();
    assert!(said.contains(&line.len().to_string()) && said.contains("at most 1048576 bytes"), "{said}");
    // Held whole, 20 MiB would be in the peak; read in bounded pieces, it never is.
    if let Some(peak) = peak_memory(s.child.id()) {
        assert!(peak < 20 * 1024 * 1024, "peak resident memory {peak} bytes: the line was held");
    }
    assert!(s.ask(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))["result"].is_object());
    // A line just under the bound is read whole: its argument is refused by the tool's schema.
    let big = call(3, "board_add", &json!({"title": "b".repeat(1000 * 1000)}));
    let answer = s.ask(&big);
    assert!(answer["result"]["isError"] == true, "{}", &answer.to_string()[..300]);
    assert!(!dir.path().join("ops/state/board.json").exists(), "nothing was added");
    let (status, stderr) = s.finish();
    assert!(status.success(), "{status}: {stderr}");
}

fn worker_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("worker.up");
    let config = json!({"services": [{"name": "Worker", "type": "command",
        "command": format!("test -f {}", up.display()), "restart_command": format!("touch {}", up.display())}],
        "disk_paths": [], "restart_grace_seconds": 0, "mcp": {"allow": ["restart"]}});
    write_config(dir.path(), &config);
    (dir, up)
}

#[test]
fn a_client_that_closes_stdin_mid_call_still_gets_the_answer_and_the_restart_is_recorded() {
    let (dir, up) = worker_home();
    let mut s = Server::start(dir.path());
    s.initialize();
    s.send(&serde_json::to_vec(&call(1, "restart", &json!({"service": "Worker"}))).unwrap());
    drop(s.input.take()); // the client is gone before the call is done
    let answer = s.receive();
    assert_eq!(answer["result"]["structuredContent"]["step"], "ran", "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["recovered"], true, "{answer}");
    let (status, stderr) = s.finish();
    assert!(status.success() && !stderr.contains("panicked"), "{status}: {stderr}");
    assert!(up.exists());
    let recovery: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ops/state/recovery.json")).unwrap()).unwrap();
    assert!(
        recovery["Worker"]["last_attempt"].as_f64() > Some(0.0)
            && recovery["Worker"]["last_success"].is_number(),
        "{recovery}"
    );
}

#[test]
fn a_client_that_stops_reading_mid_call_ends_the_server_quietly() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts (the kernel does), never answers
    let port = silent.local_addr().unwrap().port();
    let dir = home(
        &json!([{"name": "Slow", "target": format!("http://127.0.0.1:{port}/"), "timeout_seconds": 1}]),
        &[],
    );
    let mut s = Server::start(dir.path());
    s.initialize();
    s.send(&serde_json::to_vec(&call(1, "check", &json!({}))).unwrap());
    let Server { mut child, input, output } = s;
    drop(output); // nobody reads the answer
    drop(input);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success() && !stderr.contains("panicked"), "{status}: {stderr}");
    drop(silent);
}

#[test]
fn a_broken_configuration_is_each_tools_answer_and_changes_stay_off() {
    let (dir, up) = worker_home();
    std::fs::write(dir.path().join("ops/config/services.json"), b"{\"services\": [").unwrap();
    let mut s = Server::start(dir.path());
    s.initialize();
    let answer = s.ask(&call(1, "status", &json!({})));
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        answer["result"]["isError"] == true
            && text.contains("services.json")
            && text.contains("invalid JSON"),
        "{answer}"
    );
    let answer = s.ask(&call(2, "restart", &json!({"service": "Worker"})));
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(answer["result"]["isError"] == true && text.contains("\"restart\""), "{answer}");
    assert!(!up.exists(), "no restart without a configuration that allows it");
    assert!(
        s.ask(&call(3, "board_list", &json!({})))["result"]["isError"] == false,
        "the board needs no configuration"
    );
    let (status, stderr) = s.finish();
    assert!(status.success() && stderr.contains("warning: ") && stderr.contains("invalid JSON"), "{stderr}");
}
