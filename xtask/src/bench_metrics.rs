//! `cargo xtask gen-metrics`: realistic metrics day files (90 days x 100 services x 288 checks
//! a day by default: 2.6 M lines, about 307 MiB), and `cargo xtask bench-metrics`: the seed's
//! `uptime_report(days=90)` and `uptime-report --days 90` on them, checked to print the same
//! bytes, then timed in the same hyperfine run, with peak RSS and throughput.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ops_metrics::{MetricRecord, Status, day_file};
use time::{Date, Duration, OffsetDateTime};

use crate::bench::{self, hyperfine_means};

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Service {
    name: String,
    base_ms: u64,
    /// One outage starts in this many checks, on average.
    outage_every: u64,
    /// Checks left in the current outage.
    down_for: u64,
}

const KINDS: [&str; 10] =
    ["gateway", "billing", "search", "auth", "db", "cache", "queue", "web", "worker", "mail"];

/// What to generate.
pub struct Shape {
    pub dir: PathBuf,
    pub until: Date,
    pub days: u32,
    pub services: u32,
    pub per_day: u32,
}

/// The name of generated service `i` (`gateway-00-eu`, `billing-00-eu` ...).
pub fn service_name(i: u32) -> String {
    format!("{}-{:02}-eu", KINDS[i as usize % KINDS.len()], i / 10)
}

/// Writes the day files; returns (lines, bytes).
pub fn generate(shape: &Shape) -> Result<(u64, u64), String> {
    std::fs::create_dir_all(&shape.dir).map_err(|e| format!("{}: {e}", shape.dir.display()))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut services: Vec<Service> = (0..shape.services)
        .map(|i| Service {
            name: service_name(i),
            base_ms: 15 + rng.below(300),
            outage_every: match i % 25 {
                0 => 400,      // flaky
                1 | 2 => 4000, // the odd bad day
                _ => 40_000,   // almost always up
            },
            down_for: 0,
        })
        .collect();
    let (mut lines, mut bytes) = (0u64, 0u64);
    let step_us = 86_400_000_000 / i64::from(shape.per_day.max(1));
    for d in (0..shape.days).rev() {
        let date = shape.until - Duration::days(i64::from(d));
        let path = day_file(&shape.dir, date);
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let midnight = date.midnight().assume_utc();
        for round in 0..i64::from(shape.per_day) {
            // Python's isoformat() drops ".000000": one round in 16 lands on a whole second.
            let jitter =
                if rng.below(16) == 0 { 0 } else { i64::try_from(rng.below(2_000_000)).unwrap_or(0) };
            let at = midnight + Duration::microseconds(round * step_us + jitter);
            for s in &mut services {
                if s.down_for == 0 && rng.below(s.outage_every) == 0 {
                    s.down_for = 1 + rng.below(24);
                }
                let down = s.down_for > 0;
                s.down_for = s.down_for.saturating_sub(1);
                let (status, detail, latency_ms) = if down {
                    if rng.below(2) == 0 {
                        (Status::Down, "HTTP 503".to_owned(), rng.below(40))
                    } else {
                        (Status::Down, "timed out after 2s".to_owned(), 2000 + rng.below(5))
                    }
                } else {
                    let spike = if rng.below(100) == 0 { rng.below(800) } else { 0 };
                    (Status::Up, "HTTP 200".to_owned(), s.base_ms + rng.below(s.base_ms / 2 + 5) + spike)
                };
                let record = MetricRecord { name: s.name.clone(), status, detail, latency_ms, timestamp: at };
                let line = record.to_line();
                out.write_all(line.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| e.to_string())?;
                lines += 1;
                bytes += line.len() as u64 + 1;
            }
        }
        out.flush().map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok((lines, bytes))
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            args.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a value"))
        }
    }
}

fn shape(args: &[String], dir: PathBuf) -> Result<Shape, String> {
    Ok(Shape {
        dir,
        until: OffsetDateTime::now_utc().date(),
        days: flag(args, "--days", 90)?,
        services: flag(args, "--services", 100)?,
        per_day: flag(args, "--per-day", 288)?,
    })
}

/// `cargo xtask gen-metrics --out DIR [--days 90] [--services 100] [--per-day 288]`.
pub fn gen_metrics(args: &[String]) -> Result<(), String> {
    let dir: PathBuf = flag(args, "--out", String::new())?.into();
    if dir.as_os_str().is_empty() {
        return Err(
            "usage: cargo xtask gen-metrics --out DIR [--days 90] [--services 100] [--per-day 288]".into()
        );
    }
    let shape = shape(args, dir)?;
    let (lines, bytes) = generate(&shape)?;
    println!(
        "wrote {lines} lines, {:.1} MiB, in {} day files ending {} to {}",
        bytes as f64 / 1_048_576.0,
        shape.days,
        shape.until,
        shape.dir.display()
    );
    Ok(())
}

/// Peak RSS (KiB) of `program args` as the kernel accounts it, via python3's getrusage.
fn peak_rss_kib(env_home: &Path, program: &str, args: &[&str]) -> Result<u64, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import resource, subprocess, sys\n\
             subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=False)\n\
             print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            program,
        ])
        .args(args)
        .env("HOME", env_home)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| format!("no RSS for {program}"))
}

fn stdout_of(home: &Path, program: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(program)
        .args(args)
        .env("HOME", home)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok(out.stdout)
}

/// `cargo xtask bench-metrics [--quick] [--days 90] [--services 100] [--per-day 288]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["uptime-report"])?;
    let home = bench::sandbox_home("metrics")?;
    let shape = shape(args, home.join(".agent-ops/metrics"))?;
    let result = measure(&shape, &seed, &release, &home, quick);
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn measure(shape: &Shape, seed: &Path, release: &Path, home: &Path, quick: bool) -> Result<(), String> {
    let (lines, bytes) = generate(shape)?;
    let mib = bytes as f64 / 1_048_576.0;
    println!(
        "data: {} days x {} services x {} checks/day = {lines} lines, {mib:.1} MiB",
        shape.days, shape.services, shape.per_day
    );
    let days = shape.days.to_string();
    let script = format!(
        "import sys; sys.path.insert(0, {:?}); from agent_ops_metrics import uptime_report; print(uptime_report(days={days}))",
        seed.display().to_string()
    );
    let ours = release.join("uptime-report");
    let ours = ours.to_str().ok_or("non-UTF-8 target path")?;
    let seed_out = stdout_of(home, "python3", &["-c", &script])?;
    let our_out = stdout_of(home, ours, &["--days", &days])?;
    if seed_out != our_out {
        return Err(format!(
            "the reports differ:\n--- seed\n{}\n--- ours\n{}",
            String::from_utf8_lossy(&seed_out),
            String::from_utf8_lossy(&our_out)
        ));
    }
    println!("the seed and uptime-report print the same {} bytes", our_out.len());
    let seed_rss = peak_rss_kib(home, "python3", &["-c", &script])?;
    let our_rss = peak_rss_kib(home, ours, &["--days", &days])?;
    let commands = [
        ("seed agent_ops_metrics.uptime_report", format!("python3 -c '{script}'")),
        ("agent-ops uptime-report", format!("{ours} --days {days}")),
    ];
    let title =
        format!("uptime report over {} days ({lines} lines, {mib:.0} MiB), page cache warm", shape.days);
    let means = hyperfine_means(&title, if quick { 2 } else { 5 }, &[("HOME", home)], &commands)?;
    println!("| command | mean wall | throughput | peak RSS |\n|---|---|---|---|");
    for ((name, _), (mean, rss)) in commands.iter().zip(means.iter().zip([seed_rss, our_rss])) {
        println!(
            "| {name} | {mean:.3} s | {:.0} MB/s ({:.0} MiB/s) | {:.1} MiB |",
            bytes as f64 / mean / 1e6,
            mib / mean,
            rss as f64 / 1024.0
        );
    }
    Ok(())
}
