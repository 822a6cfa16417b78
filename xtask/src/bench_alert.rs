//! `cargo xtask bench-alert`: whole-process timings of one `alert send` and of the Python kit's
//! `agent_ops_alert.py send`, in the same hyperfine invocation, against a loopback Bot API
//! that answers every sendMessage with Telegram's success shape.

use std::net::SocketAddr;
use std::path::Path;

use crate::bench::{self, TOKEN, hyperfine};

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
    let api = bench::fake_bot_api();
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
