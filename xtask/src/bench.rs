//! What every benchmark needs: the repository and the Python kit's paths, release builds, loopback
//! servers, a sandboxed HOME, and hyperfine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the repository").to_path_buf()
}

/// The Python kit's scripts: `AGENT_OPS_SEED_DIR` or `../shared/seed/python`.
pub fn seed_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("AGENT_OPS_SEED_DIR")
        .map_or_else(|| repo().join("../shared/seed/python"), PathBuf::from);
    if dir.join("agent_ops_health.py").is_file() {
        Ok(dir.canonicalize().unwrap_or(dir))
    } else {
        Err(format!("the seed scripts are not in {} (set AGENT_OPS_SEED_DIR)", dir.display()))
    }
}

/// Builds the release binaries of `packages` and returns the release directory.
pub fn build_release(packages: &[&str]) -> Result<PathBuf, String> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(repo()).args(["build", "--release", "--quiet"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    Ok(repo().join("target/release"))
}

/// Builds the release build of an example of `package` and returns its path.
pub fn build_release_example(package: &str, example: &str) -> Result<PathBuf, String> {
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(repo())
        .args(["build", "--release", "--quiet", "-p", package, "--example", example])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release --example {example} failed"));
    }
    Ok(repo().join("target/release/examples").join(example))
}

/// A fresh sandbox HOME with `~/.agent-ops/{config,logs,metrics,scripts,state}`.
pub fn sandbox_home(name: &str) -> Result<PathBuf, String> {
    let home = std::env::temp_dir().join(format!("agent-ops-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    for sub in ["config", "logs", "metrics", "scripts", "state"] {
        std::fs::create_dir_all(home.join(".agent-ops").join(sub))
            .map_err(|e| format!("{}: {e}", home.display()))?;
    }
    Ok(home)
}

/// A listener that accepts connections and closes them when the peer does: an open port.
pub fn open_port() -> SocketAddr {
    serve(|mut stream| {
        let mut buf = [0u8; 512];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    })
}

/// A port on 127.0.0.1 that refuses connections (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(1, |a| a.port())
}

/// A listener that accepts and never answers, holding each connection until the peer leaves.
pub fn hanging_http() -> SocketAddr {
    open_port()
}

/// An HTTP server answering `200 OK` to every request.
pub fn healthy_http() -> SocketAddr {
    serve(|mut stream| {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    })
}

fn serve(handle: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// Runs hyperfine over `commands` (name, shell command) with `env` set, and prints its
/// markdown table. Commands may exit non-zero (failing checks are part of the scenario).
pub fn hyperfine(
    title: &str,
    runs: u32,
    env: &[(&str, &Path)],
    commands: &[(&str, String)],
) -> Result<(), String> {
    hyperfine_means(title, runs, env, commands).map(drop)
}

/// [`hyperfine`], returning each command's mean wall time in seconds, in order.
pub fn hyperfine_means(
    title: &str,
    runs: u32,
    env: &[(&str, &Path)],
    commands: &[(&str, String)],
) -> Result<Vec<f64>, String> {
    run_hyperfine(title, &["--ignore-failure", "--runs", &runs.to_string()], env, commands, "mean")
}

/// [`hyperfine`] without a shell in between (`--shell=none`) and every run required to succeed,
/// returning each command's median wall time in seconds, in order.
pub fn hyperfine_medians(
    title: &str,
    runs: u32,
    env: &[(&str, &Path)],
    commands: &[(&str, String)],
) -> Result<Vec<f64>, String> {
    run_hyperfine(title, &["--shell=none", "--runs", &runs.to_string()], env, commands, "median")
}

/// What a benchmark does with a command that exits non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failures {
    /// The benchmark fails: every run must succeed.
    Fail,
    /// It is timed like any other run (a pass that finds failing services exits 1).
    Ignore,
}

/// Like [`hyperfine`], but runs `prepare` before every run (to reset the state the commands
/// change).
pub fn hyperfine_prepared(
    title: &str,
    runs: u32,
    env: &[(&str, &Path)],
    prepare: &str,
    failures: Failures,
    commands: &[(&str, String)],
) -> Result<Vec<f64>, String> {
    let runs = runs.to_string();
    let mut options = vec!["--prepare", prepare, "--runs", &runs];
    if failures == Failures::Ignore {
        options.push("--ignore-failure");
    }
    run_hyperfine(title, &options, env, commands, "mean")
}

fn run_hyperfine(
    title: &str,
    options: &[&str],
    env: &[(&str, &Path)],
    commands: &[(&str, String)],
    stat: &str,
) -> Result<Vec<f64>, String> {
    println!("\n### {title}\n");
    let out = std::env::temp_dir().join(format!("agent-ops-bench-{}.md", std::process::id()));
    let json = out.with_extension("json");
    let mut cmd = Command::new("hyperfine");
    cmd.args(["--style", "basic", "--warmup", "1"])
        .args(options)
        .arg("--export-markdown")
        .arg(&out)
        .arg("--export-json")
        .arg(&json);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (name, command) in commands {
        cmd.args(["--command-name", name, command]);
    }
    let status =
        cmd.status().map_err(|e| format!("cannot run hyperfine (apt-get install hyperfine): {e}"))?;
    if !status.success() {
        return Err(format!("hyperfine failed for {title}"));
    }
    let table = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("\n{table}");
    let json = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    // Each result object has exactly one key of each statistic, in command order.
    Ok(json
        .split(&format!("\"{stat}\":"))
        .skip(1)
        .filter_map(|rest| rest.trim_start().split([',', '}']).next()?.trim().parse().ok())
        .collect())
}

/// The bot token the benchmarks use (not a secret).
pub const TOKEN: &str = "123456789:AAH-bench_token_not_a_secret";

/// A loopback Telegram Bot API that reads each request whole and answers `{"ok":true,"result":{...}}`.
pub fn fake_bot_api() -> SocketAddr {
    serve(answer)
}

fn answer(stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let reply = r#"{"ok":true,"result":{"message_id":1,"from":{"id":123456789,"is_bot":true,"first_name":"Agent Ops","username":"agent_ops_bot"},"chat":{"id":-100123,"title":"Ops","type":"supergroup"},"date":1700000000,"text":"[WARNING] Agent Ops Alert\n\nDisk low on web-1"}}"#;
    let _ = write!(
        writer,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}
