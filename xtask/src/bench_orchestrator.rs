//! `cargo xtask bench-orchestrator`: one pass over 50 services (10 down, with restart
//! commands) by `orchestrator` and by the Python kit's `agent-ops-orchestrator.sh`, in the same
//! hyperfine invocation, state reset before every run; the peak RSS of each; and a soak of
//! `orchestrator --loop` over 20 services, RSS after 100 and after 1,000 passes.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::bench::{self, TOKEN};

const SEED_FILES: [&str; 6] = [
    "agent_ops_health.py",
    "agent_ops_alert.py",
    "agent_ops_recovery.py",
    "agent_ops_board.py",
    "agent_ops_metrics.py",
    "agent-ops-orchestrator.sh",
];

/// services.json for both: `up` services on an open port, `down` on closed ports with a
/// restart command that exits 0 without fixing anything (the Python kit then calls it recovered).
fn config(open: SocketAddr, up: usize, down: usize, api: SocketAddr, extra: &str) -> String {
    let mut services = Vec::new();
    for i in 0..up {
        services.push(format!(r#"{{"name": "svc-{i}", "type": "port", "port": {}}}"#, open.port()));
    }
    for i in 0..down {
        services.push(format!(
            r#"{{"name": "down-{i}", "type": "port", "port": {}, "restart_command": "true", "restart_cooldown_seconds": 0}}"#,
            bench::closed_port()
        ));
    }
    let mut json = format!(
        r#"{{"services": [{}], "alerting": {{"telegram_bot_token": "{TOKEN}", "telegram_chat_id": "-100123", "telegram_api_url": "http://{api}"}}, "disk_warning_gb": 0, "restart_grace_seconds": 0"#,
        services.join(", ")
    );
    let _ = write!(json, "{extra}}}");
    json
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Peak RSS in KiB of one run of `command` (GNU time's %M), after `prepare`.
fn peak_rss(command: &str, prepare: &str, home: &Path) -> Result<u64, String> {
    let _ = Command::new("sh").arg("-c").arg(prepare).status();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "sh", "-c", command])
        .env("HOME", home)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time: {e}"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("no RSS from /usr/bin/time: {text}"))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["orchestrator"])?;
    let (open, api) = (bench::open_port(), bench::fake_bot_api());

    let home = bench::sandbox_home("orchestrator")?;
    let base = home.join(".agent-ops");
    for f in SEED_FILES {
        std::fs::copy(seed.join(f), base.join("scripts").join(f)).map_err(|e| format!("copy {f}: {e}"))?;
    }
    write(&base.join("config/services.json"), &config(open, 40, 10, api, ""))?;
    let prepare = format!("rm -rf {0}/state {0}/metrics {0}/logs && mkdir -p {0}/logs", base.display());
    let seed_cmd = format!(
        "cd {} && PYTHONPATH={} AGENT_OPS_TG_BASE=http://{api} bash scripts/agent-ops-orchestrator.sh",
        base.display(),
        seed.join("tg_redirect").display()
    );
    let ours = release.join("orchestrator").display().to_string();
    bench::hyperfine_prepared(
        "one pass over 50 services (40 up, 10 down with a restart command), state reset before each run",
        if quick { 2 } else { 10 },
        &[("HOME", &home)],
        &prepare,
        bench::Failures::Ignore,
        &[("seed agent-ops-orchestrator.sh", seed_cmd.clone()), ("agent-ops orchestrator", ours.clone())],
    )?;
    println!("\n### peak RSS of one pass (GNU time %M; the seed's figure is its largest process)\n");
    println!("| command | peak RSS |\n|:---|---:|");
    for (name, cmd) in [("seed agent-ops-orchestrator.sh", &seed_cmd), ("agent-ops orchestrator", &ours)] {
        let kib = peak_rss(cmd, &prepare, &home)?;
        println!("| `{name}` | {:.1} MiB |", kib as f64 / 1024.0);
    }

    let passes = args
        .iter()
        .position(|a| a == "--soak-passes")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 200 } else { 1000 });
    soak(&release, open, api, passes)?;
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}

/// `orchestrator --loop` as fast as it goes over 20 services (5 down, restarted, alerted):
/// RSS after a tenth of the passes and at the end.
fn soak(release: &Path, open: SocketAddr, api: SocketAddr, passes: usize) -> Result<(), String> {
    let home = bench::sandbox_home("soak")?;
    let base = home.join(".agent-ops");
    write(
        &base.join("config/services.json"),
        &config(open, 15, 5, api, r#", "check_interval_seconds": 0.001"#),
    )?;
    let mut child = Command::new(release.join("orchestrator"))
        .arg("--loop")
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start orchestrator --loop: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (mut seen, mut early, mut late, started) = (0usize, 0u64, 0u64, std::time::Instant::now());
    let mut elapsed = std::time::Duration::ZERO;
    // Read to the end (the daemon prints a last line when it stops), stopping it at `passes`.
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if !line.starts_with("pass:") {
            continue;
        }
        seen += 1;
        if seen == passes / 10 {
            early = rss_kib(pid);
        }
        if seen == passes {
            late = rss_kib(pid);
            elapsed = started.elapsed();
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    println!(
        "\n### soak: orchestrator --loop, 20 services (5 down), {passes} passes in {:.1} s\n",
        elapsed.as_secs_f64()
    );
    println!("| after pass | RSS |\n|---:|---:|");
    println!("| {} | {:.1} MiB |", passes / 10, early as f64 / 1024.0);
    println!("| {passes} | {:.1} MiB |", late as f64 / 1024.0);
    println!("\nexit status after SIGTERM: {status}");
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}
