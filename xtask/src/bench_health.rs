//! `cargo xtask bench-health`: whole-process timings of `health-check` and the Python kit's
//! `agent_ops_health.py`, in the same hyperfine invocation, on loopback services; and
//! scenario `d`, the scale goal of issue 11: 2,000 checks with 500 hanging at a 2 s timeout,
//! wall time and peak RSS (`/usr/bin/time -v`), also under `ulimit -n 256`, where no healthy
//! service may be reported failing.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::bench::{self, hyperfine};

enum Svc {
    Port(SocketAddr),
    Url(SocketAddr),
    /// A URL that never answers (scenario d names it `hang-N`).
    Hang(SocketAddr),
}

fn config(services: &[Svc]) -> String {
    let mut out = String::from("{\"services\": [\n");
    for (i, s) in services.iter().enumerate() {
        let sep = if i + 1 == services.len() { "" } else { "," };
        let (name, a) = match s {
            Svc::Port(a) => {
                let _ = writeln!(
                    out,
                    "  {{\"name\": \"port-{i}\", \"type\": \"port\", \"host\": \"127.0.0.1\", \"port\": {}}}{sep}",
                    a.port()
                );
                continue;
            }
            Svc::Url(a) => ("url", a),
            Svc::Hang(a) => ("hang", a),
        };
        let _ = writeln!(
            out,
            "  {{\"name\": \"{name}-{i}\", \"type\": \"url\", \"target\": \"http://{a}/\", \"timeout_seconds\": 2}}{sep}"
        );
    }
    out.push_str("], \"disk_warning_gb\": 0}\n");
    out
}

fn scenario(
    name: &str,
    title: &str,
    services: &[Svc],
    runs: u32,
    release: &Path,
    seed: &Path,
) -> Result<(), String> {
    let home = bench::sandbox_home(name)?;
    let path = home.join(".agent-ops/config/services.json");
    std::fs::write(&path, config(services)).map_err(|e| format!("{}: {e}", path.display()))?;
    let commands = [
        ("seed agent_ops_health.py", format!("python3 {}", seed.join("agent_ops_health.py").display())),
        ("agent-ops health-check", release.join("health-check").display().to_string()),
    ];
    let result = hyperfine(title, runs, &[("HOME", &home)], &commands);
    let _ = std::fs::remove_dir_all(&home);
    result
}

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    let wanted = |s: &str| only.is_empty() || only.contains(&s);
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["health-check"])?;
    let (open, hanging, healthy) = (bench::open_port(), bench::hanging_http(), bench::healthy_http());
    let servers = Servers { open, hanging, healthy };

    if wanted("a") {
        let a: Vec<Svc> =
            (0..40).map(|_| Svc::Port(open)).chain((0..10).map(|_| Svc::Url(hanging))).collect();
        let title = "a. 50 services: 40 open ports + 10 URLs that never answer (timeout 2 s)";
        scenario("a", title, &a, if quick { 1 } else { 3 }, &release, &seed)?;
    }
    if wanted("b") {
        let b: Vec<Svc> =
            (0..25).map(|_| Svc::Port(open)).chain((0..25).map(|_| Svc::Url(healthy))).collect();
        let title = "b. 50 healthy local services: 25 open ports + 25 HTTP 200 URLs";
        scenario("b", title, &b, if quick { 3 } else { 30 }, &release, &seed)?;
    }
    if wanted("c") && !quick {
        let c: Vec<Svc> = (0..200)
            .map(|_| Svc::Port(open))
            .chain((0..200).map(|_| Svc::Url(healthy)))
            .chain((0..100).map(|_| Svc::Url(hanging)))
            .collect();
        let title =
            "c. 500 services: 200 open ports + 200 HTTP 200 URLs + 100 URLs that never answer (timeout 2 s)";
        scenario("c", title, &c, 2, &release, &seed)?;
    } else if wanted("c") {
        println!("\n(--quick leaves out scenario c: the seed needs ~200 s per run there)");
    }
    if wanted("d") {
        scale(&servers, if quick { 1 } else { 3 }, &release, &seed)?;
    }
    Ok(())
}

/// The loopback services of a benchmark.
struct Servers {
    open: SocketAddr,
    hanging: SocketAddr,
    healthy: SocketAddr,
}

impl Servers {
    /// `hang` URLs that never answer, then healthy URLs and open ports, half and half.
    fn mix(&self, total: usize, hang: usize) -> Vec<Svc> {
        let healthy = total - hang;
        (0..hang)
            .map(|_| Svc::Hang(self.hanging))
            .chain((0..healthy / 2).map(|_| Svc::Url(self.healthy)))
            .chain((0..healthy - healthy / 2).map(|_| Svc::Port(self.open)))
            .collect()
    }
}

/// One run: wall seconds, peak RSS in MiB, and the `[FAIL]` lines of services that are not
/// `hang-N` (false failures: a healthy service reported failing, for any reason).
struct Run {
    wall: f64,
    rss_mib: f64,
    false_failures: usize,
    failed: usize,
}

/// Runs `command` (a shell command line) under `/usr/bin/time -v` with `HOME` set.
fn measure(command: &str, home: &Path) -> Result<Run, String> {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-v", "sh", "-c", command])
        .env("HOME", home)
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time (apt-get install time): {e}"))?;
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss_kib: f64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no peak RSS from /usr/bin/time: {stderr}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fails: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("[FAIL] ")).collect();
    let false_failures = fails.iter().filter(|l| !l.starts_with("hang-")).count();
    Ok(Run { wall, rss_mib: rss_kib / 1024.0, false_failures, failed: fails.len() })
}

/// d. 2,000 checks with 500 hanging at a 2 s timeout: `health-check` with the default limits
/// and under `ulimit -n 256`, then the Python kit beside it on a tenth of that (it checks one
/// service after the other: the whole config would take it some 17 minutes).
fn scale(servers: &Servers, runs: u32, release: &Path, seed: &Path) -> Result<(), String> {
    let home = bench::sandbox_home("d")?;
    let path = home.join(".agent-ops/config/services.json");
    let ours = release.join("health-check").display().to_string();
    let python = format!("python3 {}", seed.join("agent_ops_health.py").display());
    println!(
        "\n### d. scale: 2,000 checks (500 URLs that never answer, timeout 2 s; 750 HTTP 200 URLs; 750 open ports)\n"
    );
    println!(
        "| command | config | runs | wall mean (s) | wall max (s) | peak RSS max (MiB) | [FAIL] lines | false failures |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let cases = [
        ("agent-ops health-check", 2000, 500, ours.clone(), runs),
        ("agent-ops health-check, ulimit -n 256", 2000, 500, format!("ulimit -n 256 && exec {ours}"), runs),
        ("agent-ops health-check", 200, 50, ours.clone(), runs),
        ("seed agent_ops_health.py", 200, 50, python, 1),
    ];
    for (name, total, hang, command, runs) in cases {
        std::fs::write(&path, config(&servers.mix(total, hang)))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let results = (0..runs).map(|_| measure(&command, &home)).collect::<Result<Vec<Run>, String>>()?;
        let n = results.len() as f64;
        let wall_mean = results.iter().map(|r| r.wall).sum::<f64>() / n;
        let wall_max = results.iter().map(|r| r.wall).fold(0.0, f64::max);
        let rss = results.iter().map(|r| r.rss_mib).fold(0.0, f64::max);
        let failed = results.iter().map(|r| r.failed).max().unwrap_or(0);
        let false_failures: usize = results.iter().map(|r| r.false_failures).sum();
        println!(
            "| {name} | {total} checks, {hang} hanging | {runs} | {wall_mean:.2} | {wall_max:.2} | {rss:.1} | {failed} | {false_failures} |"
        );
    }
    println!(
        "\nGoal (issue 11): 2,000 checks in <= 2.5 s with peak RSS <= 64 MiB; under ulimit -n 256, zero false failures."
    );
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}
