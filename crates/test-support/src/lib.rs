//! test-support holds what several crates' tests need and nothing else: finding the external
//! tools a test uses (python3, the Python kit scripts, promtool ...) with the skip-or-fail rule, and
//! loopback servers that misbehave on purpose (silent, dripping a TLS handshake or an HTTP
//! answer a byte at a time; DNS servers that never answer, lie about the id, truncate or
//! answer garbage), and dnsmasq as a real DNS server.
//!
//! It is a dev-dependency only; no shipped crate depends on it.
//!
//! The rule for external tools: when `AGENT_OPS_REQUIRE_TOOLS=1` (CI sets it), a missing tool
//! fails the test; elsewhere the test prints plainly that it was skipped and why.
//!
//! ```no_run
//! let Some(promtool) = test_support::require_tool("promtool") else { return };
//! ```
#![allow(clippy::missing_panics_doc)]

pub mod client;
pub mod disk;
pub mod dns;
pub mod echo;
mod fake_bot_api;
mod hostile;
pub mod netns;
pub mod plant;
pub mod procs;
mod rng;
pub mod strict;

pub use fake_bot_api::{
    Delivered, FakeBotApi, FakeWebhook, Fault, Faults, HookReply, Hostile, Received, Reply, html_to_text,
    markdown_to_text,
};
pub use hostile::{Drip, HttpDripper, TlsDripper, tls_server_config};
pub use rng::Rng;

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

/// Whether CI asked for every external tool to be present.
pub fn tools_required() -> bool {
    std::env::var_os("AGENT_OPS_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}

/// Reports a missing prerequisite: panics under `AGENT_OPS_REQUIRE_TOOLS=1`, otherwise prints
/// that the test is skipped and why.
pub fn missing(what: &str) {
    assert!(!tools_required(), "{what} is required (AGENT_OPS_REQUIRE_TOOLS=1) but missing");
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let line = format!(
        "SKIPPED in {test}: {what} is missing, so the checks that need it did not run \
         (AGENT_OPS_REQUIRE_TOOLS=1 makes this a failure)\n"
    );
    // The test harness captures the process's stderr handle; /dev/stderr is the terminal or
    // CI log itself, so a skip is seen even when the test passes.
    match std::fs::OpenOptions::new().append(true).open("/dev/stderr") {
        Ok(mut err) => {
            let _ = err.write_all(line.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// The path of `tool` on `PATH`, or `None` after [`missing`].
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| is_executable(p)));
    if found.is_none() {
        missing(&format!("the `{tool}` command"));
    }
    found
}

/// A Nagios plugin of Debian's `monitoring-plugins-basic` (`/usr/lib/nagios/plugins/NAME`,
/// which `.ci/run` installs), or `None` after [`missing`].
pub fn require_plugin(name: &str) -> Option<PathBuf> {
    let path = Path::new("/usr/lib/nagios/plugins").join(name);
    if is_executable(&path) {
        return Some(path);
    }
    missing(&format!("the Nagios plugin {} (Debian's monitoring-plugins-basic)", path.display()));
    None
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A temporary directory in memory (`/dev/shm`) when the system has one, else in the usual
/// temporary directory: for tests that write thousands of small files (fuzz targets), where
/// fsync on a real disk would be most of the time.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    dir.or_else(|_| tempfile::tempdir()).expect("a temporary directory")
}

/// The Python kit's scripts (`../shared/seed/python` beside the repository, or
/// `AGENT_OPS_SEED_DIR`), together with python3; `None` after [`missing`].
pub fn require_seed() -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("AGENT_OPS_SEED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/python"),
        PathBuf::from,
    );
    if !dir.join("agent_ops_health.py").is_file() {
        missing(&format!("the seed scripts (looked in {})", dir.display()));
        return None;
    }
    let python = require_tool("python3")?;
    Some((python, dir.canonicalize().unwrap_or(dir)))
}

/// A TCP listener on 127.0.0.1 that accepts connections and never answers, holding them open
/// until dropped: the "hanging service" every timeout test needs.
pub struct Silent {
    /// Where it listens.
    pub addr: SocketAddr,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    /// Starts listening on a free port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&held);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                keep.lock().expect("lock").push(stream);
            }
        });
        Self { addr, held }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.held.lock().expect("lock").len()
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers every request the same way, after
/// reading the request head and waiting `delay`.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: std::time::Duration,
}

/// A running [`Answer`] server.
pub struct Answering {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Answering {
    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Answer {
    /// Answers with `status` and an empty body.
    pub fn status(status: u16) -> Self {
        Self { status, ..Self::default() }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: &str) -> Self {
        self.body = body.into();
        self
    }

    /// Waits this long before answering.
    #[must_use]
    pub fn delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Starts serving on a free port.
    pub fn start(self) -> Answering {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.body.len()
        );
        for (k, v) in &self.headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        let response: Arc<str> = format!("{head}\r\n{}", self.body).into();
        let delay = self.delay;
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let response = Arc::clone(&response);
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    thread::sleep(delay);
                    let _ = std::io::Write::write_all(&mut stream, response.as_bytes());
                });
            }
        });
        Answering { addr }
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs headless Chromium with the flags CI can run it with, failing if it takes more than a
/// minute (a hang, such as a blocking alert(), not a measurement).
pub fn chromium(
    chromium: &std::path::Path,
    profile: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("chromium").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within a minute (an alert() dialog blocks it)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("chromium")
}
