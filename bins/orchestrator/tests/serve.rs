//! `orchestrator --loop --listen`: a real daemon over loopback services serving its state,
//! asked with plain `TcpStream`s: every route, HEAD, 404, 405, basic auth, the refusals at
//! start, names that try to escape (in badges, JSON and the page, which headless Chromium
//! renders without running them), `/metrics` through promtool, and hostile clients. Bounds are
//! shown by facts (an answer that arrives while 500 connections are held, the server's
//! gauges), never by time.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;
use test_support::client::{self, Response, get, send};
use test_support::{FakeBotApi, FakeWebhook, HookReply, procs};

const TOKEN: &str = "123456:TEST-token-never-printed";
const PASSWORD: &str = "s3cret-never-printed";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A name as a URL path segment: everything but unreserved characters percent-encoded.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A daemon in a sandbox, with its standard output collected as it comes.
struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
}

impl Daemon {
    fn base(dir: &Path) -> PathBuf {
        dir.join("ops")
    }

    fn command(dir: &Path, config: &str) -> Command {
        let path = Self::base(dir).join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, config).unwrap();
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("orchestrator"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("AGENT_OPS_HOME", Self::base(dir));
        cmd
    }

    /// Starts `orchestrator --loop --listen 127.0.0.1:PORT` on `config` and waits until its
    /// first pass is served.
    fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Self::command(dir.path(), config)
            .args(["--loop", "--listen", &addr.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let collected = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut all = collected.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let daemon = Self { dir, child, addr, stdout };
        daemon.wait_until(|d| d.status("/healthz") == Some(200), "the first pass is served");
        daemon
    }

    /// The status of `path`, or `None` while nothing listens.
    fn status(&self, path: &str) -> Option<u16> {
        let mut s = TcpStream::connect(self.addr).ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nAuthorization: Basic {}\r\n\r\n", basic("ops", PASSWORD))
                .as_bytes(),
        )
        .ok()?;
        Some(client::read(&mut s).status)
    }

    /// Polls `ready` (a hang guard of a minute, not a measurement).
    fn wait_until(&self, ready: impl Fn(&Self) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(self) {
            assert!(Instant::now() < deadline, "never: {what}\n{}", self.stdout.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> Response {
        get(self.addr, path)
    }

    /// SIGTERM; the daemon exits 0. Returns what it printed.
    fn stop(mut self) -> (String, String) {
        procs::signal(self.child.id(), Signal::TERM);
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(status.code(), Some(0), "{err}");
        // The reader thread ends at the daemon's end of output.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.stdout.lock().unwrap().contains("orchestrator: stopped\n") {
            assert!(Instant::now() < deadline, "no last line");
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = self.stdout.lock().unwrap().clone();
        (out, err)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn basic(user: &str, password: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() { char::from(A[(n >> (18 - 6 * i)) as usize & 63]) } else { '=' });
        }
    }
    out
}

/// Names that try every way out of a badge, the JSON, the page and a terminal.
const NAMES: [&str; 6] = [
    "<script>document.documentElement.setAttribute('data-pwned','1')</script>",
    "API \"quoted\" & 'single' <b>bold</b>",
    "a/b 日本語",
    "literal %2F and + plus",
    "bell\u{7}esc\u{1b}[31mred\u{9b}",
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">",
];

/// A configuration of port services: `NAMES[0]` down (a closed port), the others up (`up`).
fn config(up: &TcpListener, extra: &str) -> String {
    let port = up.local_addr().unwrap().port();
    let services: Vec<String> = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let p = if i == 0 { test_support::closed_port() } else { port };
            format!(r#"{{"name": {}, "type": "port", "host": "127.0.0.1", "port": {p}}}"#, Value::from(*name))
        })
        .collect();
    format!(
        r#"{{"services": [{}], "disk_paths": [], "check_interval_seconds": 3600, "restart_grace_seconds": 0{extra}}}"#,
        services.join(", ")
    )
}

/// What a name looks like in a badge's title: control characters replaced.
fn in_svg(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// Every object key path of a JSON value (array items merged).
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}.{k}");
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| key_paths(v, &format!("{prefix}[]"), out)),
        _ => {}
    }
}

/// The example answer of docs/api.md.
fn documented_answer() -> Value {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md")).unwrap();
    let start = doc.find("```json response\n").unwrap() + "```json response\n".len();
    serde_json::from_str(&doc[start..start + doc[start..].find("```").unwrap()]).unwrap()
}

#[test]
fn the_daemon_serves_every_route_from_its_last_pass() {
    let api = FakeBotApi::start(TOKEN);
    let hook = FakeWebhook::start();
    hook.push((0..20).map(|_| HookReply::status(400)));
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let alerting = format!(
        r#", "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "42", "telegram_api_url": "{}", "timeout_seconds": 5,
            "webhooks": [{{"name": "dead", "url": "{}"}}]}}"#,
        api.url(),
        hook.url("x")
    );
    let d = Daemon::start(&config(&up, &alerting));

    let page = d.get("/");
    assert_eq!(
        (page.status, page.header("content-type").unwrap().as_str()),
        (200, "text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"60\">"), "reloads itself");
    for external in ["<script", "<img", "<link", "<iframe", "http://", "https://"] {
        assert!(!html.contains(external), "the page holds {external:?}");
    }
    assert!(html.contains("1 of 6 services down"), "{html}");
    assert!(html.contains(">API &quot;quoted&quot; &amp; 'single' &lt;b&gt;bold&lt;/b&gt;</h2>"), "{html}");
    let head = send(d.addr, b"HEAD / HTTP/1.1\r\n\r\n");
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length").unwrap(), page.body.len().to_string());

    let json = d.get("/api/v1/services");
    assert_eq!(json.header("content-type").unwrap(), "application/json");
    let doc: Value = serde_json::from_slice(&json.body).unwrap();
    let names: Vec<&str> =
        doc["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, NAMES, "every service, in configuration order, names exactly");
    let (down, fine) = (&doc["services"][0], &doc["services"][1]);
    assert_eq!((down["state"].as_str(), down["failure"].as_str()), (Some("down"), Some("connect")));
    assert_eq!(
        (fine["state"].as_str(), fine["failure"].as_str(), fine["type"].as_str()),
        (Some("up"), None, Some("port"))
    );
    assert_eq!(down["uptime_percent"]["1d"].as_f64(), Some(0.0));
    assert_eq!(fine["uptime_percent"]["90d"].as_f64(), Some(100.0));
    assert!(down["since"].is_string() && fine["since"].is_string(), "{doc:#}");
    let (mut served, mut documented) = (BTreeSet::new(), BTreeSet::new());
    key_paths(&doc, "", &mut served);
    key_paths(&documented_answer(), "", &mut documented);
    assert_eq!(served, documented, "docs/api.md shows every field, and only those");

    // Badges: every name, URL-encoded, in every form; all parse as XML with the name as title.
    let svgs = tempfile::tempdir().unwrap();
    let mut titles = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let state = if i == 0 { "down" } else { "up" };
        for (route, title) in [
            ("status.svg".to_owned(), format!("{}: {state}", in_svg(name))),
            ("uptime/7d.svg".to_owned(), format!("uptime 7d: {}", if i == 0 { "0.0%" } else { "100.0%" })),
            ("uptime/30d.svg".to_owned(), format!("uptime 30d: {}", if i == 0 { "0.0%" } else { "100.0%" })),
            ("uptime/90d.svg".to_owned(), format!("uptime 90d: {}", if i == 0 { "0.0%" } else { "100.0%" })),
        ] {
            let a = d.get(&format!("/badge/{}/{route}", encode(name)));
            assert_eq!(
                (a.status, a.header("content-type").unwrap().as_str()),
                (200, "image/svg+xml"),
                "{name} {route}"
            );
            assert!(!a.text().contains("<script") && !a.text().contains("<img") && !a.text().contains("<b>"));
            fs::write(svgs.path().join(format!("{:03}.svg", titles.len())), &a.body).unwrap();
            titles.push(title);
        }
    }
    let raw_slash = d.get("/badge/a/b%20%E6%97%A5%E6%9C%AC%E8%AA%9E/status.svg");
    assert!(raw_slash.text().contains("<title>a/b 日本語: up</title>"), "a slash may be written as it is");
    if let Some(python) = test_support::require_tool("python3") {
        let script = "import sys, json, glob, xml.dom.minidom as m\n\
            print(json.dumps([m.parse(f).getElementsByTagName('title')[0].firstChild.data \
            for f in sorted(glob.glob(sys.argv[1] + '/*.svg'))]))\n";
        let run = Command::new(python).args(["-c", script]).arg(svgs.path()).output().unwrap();
        assert!(run.status.success(), "a badge is not XML: {}", String::from_utf8_lossy(&run.stderr));
        let parsed: Vec<String> = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(parsed, titles);
    }
    for missing in [
        "/badge/nope/status.svg",
        "/badge/a/status.svg",
        "/badge/a%2Fb/status.svg",
        "/badge/Disk%20Space/status.svg",
    ] {
        assert_eq!(d.get(missing).status, 404, "{missing}");
    }
    assert_eq!(d.get(&format!("/badge/{}/uptime/1d.svg", encode(NAMES[1]))).status, 404);
    assert_eq!(d.get("/index.html").status, 404);
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let a = send(
            d.addr,
            format!("{method} /api/v1/services HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes(),
        );
        assert_eq!((a.status, a.header("allow").as_deref()), (405, Some("GET, HEAD")), "{method}");
    }

    // /metrics: the textfile's series, the daemon's own (the alert went to Telegram and
    // failed at the webhook), the server's; promtool accepts it.
    let metrics = d.get("/metrics").text();
    for sample in [
        format!("agent_ops_probe_success{{service=\"{}\",type=\"port\"}} 0\n", NAMES[0].replace('"', "\\\"")),
        "agent_ops_daemon_passes_total{result=\"ok\"} 1\n".to_owned(),
        "agent_ops_daemon_check_interval_seconds 3600\n".to_owned(),
        "agent_ops_daemon_alerts_sent_total{channel=\"telegram\"} 1\n".to_owned(),
        "agent_ops_daemon_alerts_failed_total{channel=\"webhook:dead\"} 1\n".to_owned(),
        "agent_ops_daemon_outbox_entries 1\n".to_owned(),
    ] {
        assert!(metrics.contains(&sample), "{sample}in:\n{metrics}");
    }
    assert!(metrics.contains("\nagent_ops_http_connections 1\n"));
    if let Some(promtool) = test_support::require_tool("promtool") {
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        check.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{metrics}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let health = d.get("/healthz");
    assert_eq!((health.status, health.text().starts_with("ok: the last pass finished ")), (200, true));

    let addr = d.addr;
    let (out, err) = d.stop();
    assert!(out.starts_with(&format!("orchestrator: serving the status page on http://{addr}/\n")), "{out}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
    assert!(TcpStream::connect(addr).is_err(), "stopped with the loop");
}

/// A hostile crowd against the real daemon: 500 silent connections held while another client
/// is answered, a 1 MiB header, a 1 MiB request line and one that never ends; the daemon still
/// stops cleanly with all of them open.
#[test]
fn hostile_clients_do_not_keep_the_daemon_from_answering() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let d = Daemon::start(&config(&up, ""));
    let connections = |d: &Daemon| {
        let text = d.get("/metrics").text();
        text.lines().find_map(|l| l.strip_prefix("agent_ops_http_connections ")?.parse::<u64>().ok()).unwrap()
    };
    let silent: Vec<TcpStream> = (0..500).map(|_| TcpStream::connect(d.addr).unwrap()).collect();
    d.wait_until(|d| connections(d) >= 501, "the server holds the 500 silent connections");
    let health = d.get("/healthz");
    assert_eq!(health.status, 200, "answered while 500 connections are held");
    assert!(connections(&d) >= 501, "and they are still held");

    let mut header = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
    header.resize(header.len() + (1 << 20), b'a');
    header.extend_from_slice(b"\r\n\r\n");
    let mut line = b"GET /".to_vec();
    line.resize(1 << 20, b'a');
    for (request, status) in [(header, 431), (line, 414)] {
        let mut stream = TcpStream::connect(d.addr).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let _ = writer.write_all(&request);
            let _ = writer.shutdown(std::net::Shutdown::Write);
        });
        assert_eq!(client::read(&mut stream).status, status);
        sender.join().unwrap();
    }
    let mut unended = TcpStream::connect(d.addr).unwrap();
    unended.write_all(b"GET /healthz HTTP/1.1\r\nHost: x").unwrap();
    assert_eq!(d.get("/healthz").status, 200, "answered while a head never ends");
    d.stop();
    drop((silent, unended));
}

/// `/healthz` is 503 once a pass has not finished within two intervals: the second pass hangs on
/// a service that never answers.
#[test]
fn healthz_is_503_when_passes_stop_finishing() {
    // Answers the first request, then holds every later one.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (i, stream) in server.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            if i == 0 {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ =
                    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            } else {
                held.push(stream);
            }
        }
    });
    let config = format!(
        r#"{{"services": [{{"name": "Hangs", "target": "http://127.0.0.1:{port}/", "timeout_seconds": 120}}],
            "disk_paths": [], "check_interval_seconds": 1}}"#
    );
    let d = Daemon::start(&config);
    d.wait_until(|d| d.status("/healthz") == Some(503), "healthz turns stale");
    let a = d.get("/healthz");
    assert!(
        a.text().starts_with("stale: the last pass finished ") && a.text().ends_with("s ago, more than 2s\n"),
        "{}",
        a.text()
    );
    assert_eq!(d.get("/api/v1/services").status, 200, "the last pass is still served");
    let (out, _) = d.stop();
    assert!(out.contains("stopping: the pass in progress is left to finish on its own"), "{out}");
}

#[test]
fn basic_auth_guards_every_route_and_the_password_is_never_shown() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = format!(r#", "http": {{"basic_auth": {{"user": "ops", "password": "{PASSWORD}"}}}}"#);
    let d = Daemon::start(&config(&up, &http));
    let with = |path: &str, auth: Option<String>| {
        let header = auth.map(|a| format!("Authorization: Basic {a}\r\n")).unwrap_or_default();
        send(d.addr, format!("GET {path} HTTP/1.1\r\n{header}\r\n").as_bytes())
    };
    for path in
        ["/", "/api/v1/services", "/metrics", "/healthz", &format!("/badge/{}/status.svg", encode(NAMES[1]))]
    {
        for wrong in [
            None,
            Some(basic("ops", "wrong")),
            Some(basic("root", PASSWORD)),
            Some(basic("ops", &PASSWORD[1..])),
        ] {
            let a = with(path, wrong);
            assert_eq!(a.status, 401, "{path}");
            assert_eq!(a.header("www-authenticate").unwrap(), "Basic realm=\"agent-ops\", charset=\"UTF-8\"");
            assert!(!a.head.contains(PASSWORD) && !a.text().contains(PASSWORD));
        }
        assert_eq!(with(path, Some(basic("ops", PASSWORD))).status, 200, "{path}");
    }
    // The files before stopping: the sandbox goes with the daemon.
    let base = Daemon::base(d.dir.path());
    let mut files = Vec::new();
    files_under(&base, &base.join("config/services.json"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("logs/orchestrator.log")), "{files:?}");
    for file in files {
        let bytes = fs::read(&file).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(PASSWORD), "{}", file.display());
    }
    let (out, err) = d.stop();
    assert!(out.contains("(basic auth)") && !out.contains(PASSWORD) && !err.contains(PASSWORD), "{out}{err}");
}

fn refused(config: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let out = Daemon::command(dir.path(), config).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains(PASSWORD), "{text}");
    out
}

/// Beyond loopback without basic auth is refused before anything binds, whether the address is
/// in the file or on the command line (these tests never listen beyond 127.0.0.1).
#[test]
fn listening_beyond_loopback_without_basic_auth_is_a_startup_error() {
    let plain = r#"{"services": [], "disk_paths": []}"#;
    let port = free_port();
    let out = refused(plain, &["--loop", "--listen", &format!("0.0.0.0:{port}")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: --listen: 0.0.0.0:{port} is beyond loopback and no basic_auth is set: anyone who can reach it \
             would see every service; set http.basic_auth, or http.public: true to serve it to everyone\n"
        )
    );
    assert!(out.stdout.is_empty(), "no pass ran");
    let in_file = format!(r#"{{"services": [], "disk_paths": [], "http": {{"listen": "[::]:{port}"}}}}"#);
    let out = refused(&in_file, &["--loop"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains(&format!("http: field `listen`: [::]:{port} is beyond loopback")), "{err}");
    // Every binary refuses that file, as it refuses any invalid one.
    assert_eq!(refused(&in_file, &[]).status.code(), Some(2));

    for args in [
        &["--listen", "127.0.0.1:9"][..],
        &["--loop", "--listen", ":9797"],
        &["--loop", "--listen", "example.com:80"],
        &["--loop", "--listen", "127.0.0.1:0"],
    ] {
        assert_eq!(refused(plain, args).status.code(), Some(2), "{args:?}");
    }
    // A port already taken: the daemon fails at once (exit 1), naming it.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = refused(plain, &["--loop", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(&format!("error: cannot listen on {addr}: ")));
}

/// Headless Chromium renders the served page: every service and the open incident in the DOM,
/// a screenshot that is not blank, and no injected script ran.
#[test]
fn the_served_page_renders_in_chromium_and_runs_no_injected_script() {
    let Some(browser) = test_support::require_tool("chromium") else { return };
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let d = Daemon::start(&config(&up, ""));
    let url = format!("http://{}/", d.addr);
    let chromium =
        |profile: &str, args: &[&str]| test_support::chromium(&browser, &d.dir.path().join(profile), args);
    let dom = chromium("profile-dom", &["--dump-dom", &url]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(dom.contains("<section class=\"card down\""), "{dom}");
    // The down service's outage, open since the first pass, is on its timeline and in words.
    assert_eq!(dom.matches("<ol class=\"incidents\">").count(), 1, "{dom}");
    assert!(dom.contains("aria-label=\"incidents\""), "{dom}");
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    for name in NAMES {
        // Chromium shows control characters as they are in text nodes.
        assert!(dom.contains(&format!(">{}</h2>", escape(name))), "{name:?} is not in the DOM:\n{dom}");
    }
    let html_tag = &dom[dom.find("<html").unwrap()..];
    assert_eq!(&html_tag[..html_tag.find('>').unwrap()], "<html lang=\"en\"", "an injected script ran");
    assert!(!dom.contains("<script") && !dom.contains("<img"), "a name became an element");

    let shot = d.dir.path().join("status.png");
    let run = chromium(
        "profile-shot",
        &["--window-size=1600,1000", &format!("--screenshot={}", shot.display()), &url],
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let png = fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let size = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!(size, (1600, 1000));
    assert!(png.len() > 20_000, "a blank page compresses to almost nothing: {} bytes", png.len());
    if let Some(keep) = std::env::var_os("ORCHESTRATOR_SCREENSHOT") {
        fs::copy(&shot, keep).unwrap();
    }
    d.stop();
}

/// The fenced blocks of docs/recipes.md whose info string is `lang`.
fn recipe_blocks(lang: &str) -> Vec<String> {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/recipes.md")).unwrap();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                current = Some(if info.trim() == lang { String::new() } else { "\u{0}".into() });
            }
            (Some(_), Some("")) => out.extend(current.take().filter(|b| !b.starts_with('\u{0}'))),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// `text` with `from` replaced, which must be there (a recipe that drifts fails here).
fn swap(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the recipe no longer has {from:?}:\n{text}");
    text.replace(from, to)
}

/// nginx running the TLS server block of the recipe's site, pointed at `upstream`, with the
/// certificate and key in `tmp`; and the port it listens on (127.0.0.1).
fn recipe_nginx(nginx: &Path, upstream: SocketAddr, tmp: &Path) -> (Child, u16) {
    let nginx_blocks = recipe_blocks("nginx");
    assert_eq!(nginx_blocks.len(), 1, "one nginx site in the recipe");
    let tls_server = &nginx_blocks[0][..nginx_blocks[0].find("\n}\n").unwrap() + 3];
    let port = free_port();
    let mut site = swap(tls_server, "listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"));
    let live = "/etc/letsencrypt/live/status.example.com";
    site = swap(&site, &format!("{live}/fullchain.pem"), &tmp.join("cert.pem").display().to_string());
    site = swap(&site, &format!("{live}/privkey.pem"), &tmp.join("key.pem").display().to_string());
    site = swap(&site, "http://127.0.0.1:9797", &format!("http://{upstream}"));
    let t = tmp.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {t}/nginx.pid;\nerror_log {t}/error.log;\nevents {{}}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {t}/body;\nproxy_temp_path {t}/proxy;\nfastcgi_temp_path {t}/fastcgi;\n\
         uwsgi_temp_path {t}/uwsgi;\nscgi_temp_path {t}/scgi;\n{site}}}\n"
    );
    fs::write(tmp.join("nginx.conf"), conf).unwrap();
    let mut proxy = Command::new(nginx)
        .arg("-p")
        .arg(tmp)
        .arg("-c")
        .arg(tmp.join("nginx.conf"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = proxy.try_wait().unwrap() {
            panic!(
                "nginx stopped ({status}): {}",
                fs::read_to_string(tmp.join("error.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nginx never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (proxy, port)
}

/// The reverse-proxy recipe of docs/recipes.md, for real: its nginx site (the TLS server block)
/// in front of a daemon with basic auth, a self-signed certificate instead of certbot's, every
/// route fetched over TLS by Python's client with the credentials passed through, and without
/// them refused.
#[test]
fn the_reverse_proxy_recipe_serves_the_daemon_over_tls() {
    // Debian puts nginx in /usr/sbin, which a user's PATH may lack.
    let sbin = Path::new("/usr/sbin/nginx");
    let nginx = if sbin.is_file() { Some(sbin.to_path_buf()) } else { test_support::require_tool("nginx") };
    let (Some(nginx), Some(python)) = (nginx, test_support::require_tool("python3")) else { return };
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = format!(r#", "http": {{"basic_auth": {{"user": "ops", "password": "{PASSWORD}"}}}}"#);
    let d = Daemon::start(&config(&up, &http));
    let tmp = d.dir.path().join("nginx");
    fs::create_dir_all(&tmp).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
    fs::write(tmp.join("cert.pem"), cert.pem()).unwrap();
    fs::write(tmp.join("key.pem"), key.serialize_pem()).unwrap();

    let (mut proxy, port) = recipe_nginx(&nginx, d.addr, &tmp);

    let script = "import sys, ssl, json, urllib.request, urllib.error\n\
        ctx = ssl.create_default_context(cafile=sys.argv[1])\n\
        out = []\n\
        for path, auth in [(p, a) for p in sys.argv[4:] for a in (sys.argv[3], None)]:\n\
        \x20   req = urllib.request.Request(sys.argv[2] + path, headers={'Authorization': 'Basic ' + auth} if auth else {})\n\
        \x20   try:\n\
        \x20       r = urllib.request.urlopen(req, context=ctx)\n\
        \x20       out.append([path, r.status, r.headers['Content-Type'], r.read().decode('utf-8', 'replace')])\n\
        \x20   except urllib.error.HTTPError as e:\n\
        \x20       out.append([path, e.code, e.headers['WWW-Authenticate'], ''])\n\
        print(json.dumps(out))\n";
    let badge = format!("/badge/{}/uptime/30d.svg", encode(NAMES[2]));
    let paths = ["/", "/api/v1/services", "/metrics", "/healthz", badge.as_str()];
    let run = Command::new(python)
        .args(["-c", script])
        .arg(tmp.join("cert.pem"))
        .arg(format!("https://127.0.0.1:{port}"))
        .arg(basic("ops", PASSWORD))
        .args(paths)
        .output()
        .unwrap();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let answers: Vec<(String, u16, Option<String>, String)> = serde_json::from_slice(&run.stdout).unwrap();
    let expected_types = [
        "text/html; charset=utf-8",
        "application/json",
        "text/plain; version=0.0.4; charset=utf-8",
        "text/plain; charset=utf-8",
        "image/svg+xml",
    ];
    for (i, path) in paths.iter().enumerate() {
        let (with, without) = (&answers[2 * i], &answers[2 * i + 1]);
        assert_eq!(
            (with.0.as_str(), with.1, with.2.as_deref()),
            (*path, 200, Some(expected_types[i])),
            "{with:?}"
        );
        assert_eq!(
            (without.1, without.2.as_deref()),
            (401, Some("Basic realm=\"agent-ops\", charset=\"UTF-8\"")),
            "{without:?}"
        );
    }
    assert!(answers[0].3.contains("1 of 6 services down") && answers[6].3.starts_with("ok: "));
    assert!(answers[8].3.contains("<title>uptime 30d: 100.0%</title>"));
    d.stop();
}

/// The recipe's Caddyfile is one Caddy reads: `caddy adapt` turns it into a reverse proxy to the
/// daemon's address (running it would fetch a certificate from the network).
#[test]
fn the_reverse_proxy_recipe_caddyfile_adapts() {
    let Some(caddy) = test_support::require_tool("caddy") else { return };
    let caddyfiles = recipe_blocks("caddyfile");
    assert_eq!(caddyfiles.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let file = tmp.join("Caddyfile");
    fs::write(&file, &caddyfiles[0]).unwrap();
    let adapted = Command::new(caddy)
        .args(["adapt", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", tmp)
        .env("XDG_DATA_HOME", tmp)
        .env("XDG_CONFIG_HOME", tmp)
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&adapted.stdout);
    assert!(adapted.status.success(), "caddy adapt: {}", String::from_utf8_lossy(&adapted.stderr));
    assert!(
        json.contains("\"handler\":\"reverse_proxy\"") && json.contains("\"dial\":\"127.0.0.1:9797\""),
        "{json}"
    );
    assert!(json.contains("status.example.com"), "{json}");
}

const PING_TOKEN: &str = "0123456789abcdef0123";

/// Every file under `dir` (recursively), but `skip`.
fn files_under(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, skip, out);
        } else if path != skip {
            out.push(path);
        }
    }
}

/// A job pinged over HTTP as a container would (`curl -X POST .../ping/TOKEN/start`, without
/// the basic auth every other route wants): its runs are recorded with their messages, a
/// failure as failed; a wrong token or event is 404 and writes nothing; the token is in no
/// answer, no output of the daemon and no file but services.json.
#[test]
fn jobs_are_pinged_over_http_with_their_token_alone() {
    let config = format!(
        r#"{{"services": [{{"name": "Agent", "type": "job", "job": "agent-run", "period_seconds": 900,
            "ping_token": "{PING_TOKEN}"}}],
          "disk_paths": [], "check_interval_seconds": 3600, "restart_grace_seconds": 0,
          "http": {{"basic_auth": {{"user": "ops", "password": "{PASSWORD}"}}}}}}"#
    );
    let d = Daemon::start(&config);
    let base = Daemon::base(d.dir.path());
    let state_file = base.join("state/jobs/agent-run.json");
    let state = || -> Value { serde_json::from_slice(&fs::read(&state_file).unwrap()).unwrap() };
    let mut answers = Vec::new();
    let mut post = |path: &str, body: &str| {
        let a = send(
            d.addr,
            format!("POST {path} HTTP/1.1\r\nHost: monitor\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                .as_bytes(),
        );
        answers.push(format!("{}{}", a.head, a.text()));
        (a.status, a.text())
    };

    assert_eq!(post(&format!("/ping/{PING_TOKEN}/start"), ""), (200, "ok\n".to_owned()));
    let runs = state()["runs"].clone();
    assert_eq!((runs[0]["status"].as_str(), runs[0]["source"].as_str()), (Some("running"), Some("ping")));
    assert_eq!(post(&format!("/ping/{PING_TOKEN}"), "hello"), (200, "ok\n".to_owned()));
    let runs = state()["runs"].clone();
    assert_eq!(runs.as_array().unwrap().len(), 1, "the start and its end are one run: {runs:#}");
    assert_eq!((runs[0]["status"].as_str(), runs[0]["output"].as_str()), (Some("ok"), Some("hello")));
    assert!(runs[0]["duration_seconds"].is_number(), "{runs:#}");
    assert_eq!(post(&format!("/ping/{PING_TOKEN}/fail"), "disk full"), (200, "ok\n".to_owned()));
    let runs = state()["runs"].clone();
    assert_eq!(
        (runs[1]["status"].as_str(), runs[1]["output"].as_str()),
        (Some("failed"), Some("disk full")),
        "{runs:#}"
    );

    let before = fs::read(&state_file).unwrap();
    let wrong = format!("/ping/{}0", &PING_TOKEN[..PING_TOKEN.len() - 1]);
    for path in
        [wrong.as_str(), "/ping/short", &format!("/ping/{PING_TOKEN}/07"), &format!("/ping/{PING_TOKEN}/x")]
    {
        assert_eq!(post(path, "x"), (404, "not found\n".to_owned()), "{path}");
    }
    assert_eq!(fs::read(&state_file).unwrap(), before, "nothing written for a wrong token or event");

    // Every other route still wants the credentials.
    assert_eq!(d.get("/healthz").status, 401);
    assert_eq!(d.status("/healthz"), Some(200));
    let metrics = send(
        d.addr,
        format!("GET /metrics HTTP/1.1\r\nAuthorization: Basic {}\r\n\r\n", basic("ops", PASSWORD))
            .as_bytes(),
    )
    .text();
    assert!(metrics.contains("\nagent_ops_http_pings_total{result=\"ok\"} 3\n"), "{metrics}");
    assert!(metrics.contains("\nagent_ops_http_pings_total{result=\"not_found\"} 4\n"), "{metrics}");
    answers.push(metrics);

    // The files before stopping: the sandbox goes with the daemon.
    let mut files = Vec::new();
    files_under(&base, &base.join("config/services.json"), &mut files);
    for wanted in ["state/jobs/agent-run.json", "logs/orchestrator.log"] {
        assert!(files.iter().any(|f| f.ends_with(wanted)), "no {wanted} in {files:?}");
    }
    assert!(files.iter().any(|f| f.starts_with(base.join("metrics"))), "the pings' metrics lines: {files:?}");
    for file in files {
        let bytes = fs::read(&file).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(PING_TOKEN), "{}", file.display());
    }
    let (out, err) = d.stop();
    for text in answers.iter().chain([&out, &err]) {
        assert!(!text.contains(PING_TOKEN), "the token is shown: {text}");
    }
}
