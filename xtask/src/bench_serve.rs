//! `cargo xtask bench-serve`: `orchestrator --loop --listen` over 100 services with a history of
//! metrics (90 days x 288 checks a day by default, as bench-metrics writes them): the daemon's
//! RSS with the server on; 1,000 requests for `/` from 50 concurrent clients; `/healthz` for
//! another client while 500 slow clients hold connections (silent ones, and ones that never
//! read their answer). The Python kit has no server: what `/` replaces is running its
//! `uptime_report` over the page's 7 days, timed in the same run beside `uptime-report --format
//! html`, the page the daemon serves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{self, hyperfine_means};
use crate::bench_metrics::{self, Shape};

const SERVICES: u32 = 100;
/// Seconds between passes: short, so that many passes (and snapshots) happen in a run.
const INTERVAL: u32 = 5;

fn flag(args: &[String], name: &str, default: u32) -> Result<u32, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            args.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        }
    }
}

/// One GET on a fresh connection: status, body length, and how long it took.
fn fetch(addr: SocketAddr, path: &str) -> Result<(u16, usize, Duration), String> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let took = started.elapsed();
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no whole head")? + 4;
    let status = std::str::from_utf8(&bytes[9..12]).ok().and_then(|s| s.parse().ok()).ok_or("no status")?;
    Ok((status, bytes.len() - head, took))
}

fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    };
    (kib("VmRSS:").unwrap_or(0.0) / 1024.0, kib("VmHWM:").unwrap_or(0.0) / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `cargo xtask bench-serve [--quick] [--days 90] [--per-day 288]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["orchestrator", "uptime-report"])?;
    let home = bench::sandbox_home("serve")?;
    let result = measure(args, quick, &seed, &release, &home);
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn measure(args: &[String], quick: bool, seed: &Path, release: &Path, home: &Path) -> Result<(), String> {
    let base = home.join(".agent-ops");
    let shape = Shape {
        dir: base.join("metrics"),
        until: time::OffsetDateTime::now_utc().date(),
        days: flag(args, "--days", if quick { 7 } else { 90 })?,
        services: SERVICES,
        per_day: flag(args, "--per-day", 288)?,
    };
    let (lines, bytes) = bench_metrics::generate(&shape, |_| Ok(()))?;
    println!(
        "data: {} days x {SERVICES} services x {} checks/day = {lines} lines, {:.1} MiB",
        shape.days,
        shape.per_day,
        bytes as f64 / 1_048_576.0
    );
    let open = bench::open_port();
    let listen = SocketAddr::from(([127, 0, 0, 1], bench::closed_port()));
    let services: Vec<String> = (0..SERVICES)
        .map(|i| {
            format!(
                r#"{{"name": "{}", "type": "port", "port": {}}}"#,
                bench_metrics::service_name(i),
                open.port()
            )
        })
        .collect();
    let config = format!(
        r#"{{"services": [{}], "disk_paths": [], "check_interval_seconds": {INTERVAL}, "http": {{"listen": "{listen}"}}}}"#,
        services.join(", ")
    );
    std::fs::write(base.join("config/services.json"), config).map_err(|e| e.to_string())?;
    // As the shipped systemd unit runs it (`--glibc-arenas` leaves glibc's default, for comparison).
    let arenas = !args.iter().any(|a| a == "--glibc-arenas");
    if arenas {
        println!("the daemon runs with MALLOC_ARENA_MAX=2, as the shipped systemd unit runs it");
    }
    let mut daemon = Command::new(release.join("orchestrator"));
    if arenas {
        daemon.env("MALLOC_ARENA_MAX", "2");
    }
    let mut daemon = daemon
        .arg("--loop")
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start orchestrator --loop: {e}"))?;
    let result = against(args, &mut daemon, listen, &shape, seed, release, home);
    let _ = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    let _ = daemon.wait();
    result
}

fn against(
    args: &[String],
    daemon: &mut Child,
    addr: SocketAddr,
    shape: &Shape,
    seed: &Path,
    release: &Path,
    home: &Path,
) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let pid = daemon.id();
    let started = Instant::now();
    while !matches!(fetch(addr, "/healthz"), Ok((200, _, _))) {
        if let Some(status) = daemon.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("the daemon stopped: {status}"));
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err("the daemon served nothing within 5 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "first pass served {:.1} s after start (the metrics window read included)",
        started.elapsed().as_secs_f64()
    );
    let (status, page_len, _) = fetch(addr, "/")?;
    let (_, json_len, _) = fetch(addr, "/api/v1/services")?;
    println!("`/`: {status}, {page_len} bytes; `/api/v1/services`: {json_len} bytes");
    let (rss_idle, _) = rss(pid);

    let (took, rss_load, hwm_load) = load(addr, pid, page_len)?;
    slow_clients(addr, pid)?;
    let (rss_end, hwm_end) = rss(pid);
    println!("\n### daemon RSS, 100 services, server on\n");
    println!("| when | RSS | peak RSS so far |\n|:---|---:|---:|");
    println!("| served, idle | {rss_idle:.1} MiB | |");
    println!("| after the 1,000 requests | {rss_load:.1} MiB | {hwm_load:.1} MiB |");
    println!("| after the slow clients | {rss_end:.1} MiB | {hwm_end:.1} MiB |");
    let passes = flag(args, "--passes", if quick { 6 } else { 60 })?;
    let (low, high, last, hwm) = over_passes(addr, pid, passes)?;
    println!(
        "| over {passes} more passes ({INTERVAL} s apart), sampled after each | {low:.1} to {high:.1} MiB, {last:.1} MiB at the end | {hwm:.1} MiB |"
    );

    versus_seed(quick, shape, seed, release, home, &took)?;
    Ok(())
}

/// 1,000 requests for `/` from 50 clients at once, each on a fresh connection: the latencies
/// (sorted), and the daemon's RSS and peak RSS after them.
fn load(addr: SocketAddr, pid: u32, page_len: usize) -> Result<(Vec<Duration>, f64, f64), String> {
    let (clients, each) = (50, 20);
    let load_started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| std::thread::spawn(move || (0..each).map(|_| fetch(addr, "/")).collect::<Vec<_>>()))
        .collect();
    let mut took = Vec::new();
    for w in workers {
        for r in w.join().map_err(|_| "a client panicked")? {
            let (status, len, t) = r?;
            if status != 200 || len != page_len {
                return Err(format!("a request for / got {status} with {len} bytes"));
            }
            took.push(t);
        }
    }
    let wall = load_started.elapsed();
    took.sort();
    let (rss_load, hwm_load) = rss(pid);
    println!(
        "\n### 1,000 requests for `/` ({page_len} bytes) from 50 concurrent clients, one connection each\n"
    );
    println!("| wall | requests/s | p50 | p99 | max |\n|---:|---:|---:|---:|---:|");
    println!(
        "| {:.3} s | {:.0} | {} | {} | {} |",
        wall.as_secs_f64(),
        f64::from(clients * each) / wall.as_secs_f64(),
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.99)),
        ms(*took.last().unwrap_or(&Duration::ZERO))
    );

    Ok((took, rss_load, hwm_load))
}

/// 500 slow clients hold connections while another one asks for `/healthz`, 50 times.
fn slow_clients(addr: SocketAddr, pid: u32) -> Result<(), String> {
    let mut slow_rows = Vec::new();
    for (what, request) in [
        ("500 clients that send half a request and wait", &b"GET / HTTP/1.1\r\nHost: slow\r\n"[..]),
        ("500 clients that ask for `/` and never read the answer", &b"GET / HTTP/1.1\r\n\r\n"[..]),
    ] {
        let mut held = Vec::new();
        for _ in 0..500 {
            let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
            s.write_all(request).map_err(|e| e.to_string())?;
            held.push(s);
        }
        let mut health = Vec::new();
        for _ in 0..50 {
            let (status, _, t) = fetch(addr, "/healthz")?;
            if status != 200 {
                return Err(format!("/healthz answered {status} with 500 slow clients"));
            }
            health.push(t);
        }
        health.sort();
        let (rss_now, _) = rss(pid);
        slow_rows.push(format!(
            "| {what} | {} | {} | {rss_now:.1} MiB |",
            ms(percentile(&health, 0.5)),
            ms(*health.last().unwrap_or(&Duration::ZERO))
        ));
        drop(held);
    }
    println!("\n### `/healthz` for another client while 500 slow clients hold connections (50 requests)\n");
    println!("| slow clients | p50 | max | daemon RSS |\n|:---|---:|---:|---:|");
    for row in slow_rows {
        println!("{row}");
    }
    Ok(())
}

/// The seed has no server: its uptime_report over the page's 7 days is what `/` replaces.
fn versus_seed(
    quick: bool,
    shape: &Shape,
    seed: &Path,
    release: &Path,
    home: &Path,
    took: &[Duration],
) -> Result<(), String> {
    let script = format!(
        "import sys; sys.path.insert(0, {:?}); from agent_ops_metrics import uptime_report; print(uptime_report(days=7))",
        seed.display().to_string()
    );
    let ours = release.join("uptime-report").display().to_string();
    let commands = [
        ("seed agent_ops_metrics.uptime_report(days=7)", format!("python3 -c '{script}'")),
        ("agent-ops uptime-report --days 7 --format html", format!("{ours} --days 7 --format html")),
    ];
    let means = hyperfine_means(
        &format!("the page's 7 days ({} days of files on disk), page cache warm", shape.days),
        if quick { 2 } else { 5 },
        &[("HOME", home)],
        &commands,
    )?;
    println!("| what | mean |\n|:---|---:|");
    for ((name, _), mean) in commands.iter().zip(&means) {
        println!("| {name} | {:.1} ms |", mean * 1000.0);
    }
    println!("| one GET / from the daemon (p50 under 50 clients) | {} |", ms(percentile(took, 0.5)));
    Ok(())
}

/// Passes that ran so far, from `/metrics`.
fn passes_done(addr: SocketAddr) -> Result<u64, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix("agent_ops_daemon_passes_total{result=\"ok\"} ")?.parse().ok())
        .ok_or_else(|| "no pass count in /metrics".into())
}

/// The daemon's RSS after each of `passes` more passes: lowest, highest, last, and the peak.
fn over_passes(addr: SocketAddr, pid: u32, passes: u32) -> Result<(f64, f64, f64, f64), String> {
    let (mut low, mut high, mut last) = (f64::MAX, 0.0f64, 0.0);
    let mut seen = passes_done(addr)?;
    let end = seen + u64::from(passes);
    while seen < end {
        std::thread::sleep(Duration::from_millis(200));
        let now = passes_done(addr)?;
        if now > seen {
            seen = now;
            last = rss(pid).0;
            low = low.min(last);
            high = high.max(last);
        }
    }
    Ok((low, high, last, rss(pid).1))
}
