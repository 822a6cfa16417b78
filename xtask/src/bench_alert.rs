//! `cargo xtask bench-alert`: whole-process timings of one `alert send` and of the seed's
//! `agent_ops_alert.py send`, in the same hyperfine invocation, against a loopback Bot API
//! that answers every sendMessage with Telegram's success shape.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread;

use crate::bench::{self, hyperfine};

const TOKEN: &str = "123456789:AAH-bench_token_not_a_secret";

/// A Bot API that reads each request whole and answers `{"ok":true,"result":{...}}`.
fn fake_bot_api() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream));
        }
    });
    addr
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

fn scenario(
    title: &str,
    args: &str,
    runs: u32,
    api: SocketAddr,
    release: &Path,
    seed: &Path,
) -> Result<(), String> {
    let home = bench::sandbox_home("alert")?;
    let config = home.join(".agent-ops/config/services.json");
    let json = format!(
        r#"{{"alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "-100123", "telegram_api_url": "http://{api}"}}}}"#
    );
    std::fs::write(&config, json).map_err(|e| format!("{}: {e}", config.display()))?;
    let commands = [
        (
            "seed agent_ops_alert.py",
            format!(
                "PYTHONPATH={} AGENT_OPS_TG_BASE=http://{api} python3 {} send {args}",
                seed.join("tg_redirect").display(),
                seed.join("agent_ops_alert.py").display()
            ),
        ),
        ("agent-ops alert", format!("{} send {args}", release.join("alert").display())),
    ];
    let result = hyperfine(title, runs, &[("HOME", &home)], &commands);
    let _ = std::fs::remove_dir_all(&home);
    result
}

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["alert"])?;
    let api = fake_bot_api();
    scenario(
        "one `send` to a loopback Bot API (no topic: sent every run)",
        "'Disk low on web-1' --level warning",
        if quick { 5 } else { 30 },
        api,
        &release,
        &seed,
    )?;
    scenario(
        "one rate-limited `send` (the topic was alerted by the warm-up run: nothing is sent)",
        "'Disk low on web-1' --level warning --topic disk",
        if quick { 5 } else { 30 },
        api,
        &release,
        &seed,
    )
}
