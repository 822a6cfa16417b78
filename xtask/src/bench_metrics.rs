//! `cargo xtask gen-metrics`: realistic metrics day files (90 days x 100 services x 288 checks
//! a day by default: 2.6 M lines, about 307 MiB), and `cargo xtask bench-metrics`: the Python kit's
//! `uptime_report(days=90)` and `uptime-report --days 90` on them, checked to print the same
//! bytes, then timed in the same hyperfine run, with peak RSS and throughput.
//!
//! `cargo xtask bench-metrics --year`: a year of SLA. 365 days are generated and rolled up by
//! `uptime-report --cleanup` as they are (every 30 days), which deletes the day files past
//! `--seed-days` (30): the Python kit
//! reads day files only, and a year of them would take it minutes and gigabytes, so it gets
//! the day files of that shorter window. `uptime-report --days 365` (364 rollups and today's
//! day file) is timed in the same hyperfine run as the Python kit's `uptime_report(days=30)`,
//! after checking that ours prints the Python kit's bytes for those 30 days from the rollups.

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

/// Writes the day files, oldest first, calling `after_day` after each; returns (lines, bytes).
pub fn generate(
    shape: &Shape,
    mut after_day: impl FnMut(Date) -> Result<(), String>,
) -> Result<(u64, u64), String> {
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
                let record = MetricRecord {
                    name: s.name.clone(),
                    status,
                    detail,
                    latency_ms,
                    timestamp: at,
                    warning: false,
                    perfdata: Vec::new(),
                };
                let line = record.to_line();
                out.write_all(line.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| e.to_string())?;
                lines += 1;
                bytes += line.len() as u64 + 1;
            }
        }
        out.flush().map_err(|e| format!("{}: {e}", path.display()))?;
        drop(out);
        after_day(date)?;
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
    let (lines, bytes) = generate(&shape, |_| Ok(()))?;
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

/// `cargo xtask bench-metrics [--quick] [--days 90] [--services 100] [--per-day 288]`, or
/// `--year [--seed-days 30]` for a year from rollups.
pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let year = args.iter().any(|a| a == "--year");
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["uptime-report"])?;
    let home = bench::sandbox_home("metrics")?;
    let mut shape = shape(args, home.join(".agent-ops/metrics"))?;
    let result = if year {
        shape.days = 365;
        measure_year(&shape, flag(args, "--seed-days", 30)?, &seed, &release, &home, quick)
    } else {
        measure(&shape, &seed, &release, &home, quick)
    };
    let _ = std::fs::remove_dir_all(&home);
    result
}

/// The Python kit's report of the last `days` days, as a Python one-liner.
fn seed_script(seed: &Path, days: u32) -> String {
    format!(
        "import sys; sys.path.insert(0, {:?}); from agent_ops_metrics import uptime_report; print(uptime_report(days={days}))",
        seed.display().to_string()
    )
}

fn measure_year(
    shape: &Shape,
    seed_days: u32,
    seed: &Path,
    release: &Path,
    home: &Path,
    quick: bool,
) -> Result<(), String> {
    let ours = release.join("uptime-report");
    let ours = ours.to_str().ok_or("non-UTF-8 target path")?;
    let keep = seed_days.to_string();
    // Rolled up (and the day files past the Python kit's window deleted) every 30 days as they are
    // written, so that the year never takes 1.2 GB of disk at once.
    let mut rolling = std::time::Duration::ZERO;
    let mut cleanup = |date: Date| -> Result<(), String> {
        if (shape.until - date).whole_days() % 30 != 0 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let out = Command::new(ours)
            .args(["--cleanup", "--retention-days", &keep])
            .env("HOME", home)
            .output()
            .map_err(|e| format!("{ours}: {e}"))?;
        rolling += started.elapsed();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("uptime-report --cleanup failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    let (lines, bytes) = generate(shape, &mut cleanup)?;
    let mib = bytes as f64 / 1_048_576.0;
    println!(
        "data: {} days x {} services x {} checks/day = {lines} lines, {mib:.1} MiB of day files",
        shape.days, shape.services, shape.per_day
    );
    let rollups = shape.dir.join("rollups");
    let (count, size) = std::fs::read_dir(&rollups)
        .map_err(|e| format!("{}: {e}", rollups.display()))?
        .filter_map(Result::ok)
        .filter(|e| ops_metrics::rollup_file_date(&e.file_name().to_string_lossy()).is_some())
        .fold((0u64, 0u64), |(n, b), e| (n + 1, b + e.metadata().map_or(0, |m| m.len())));
    println!(
        "uptime-report --cleanup rolled up {count} days into {:.1} MiB of rollups in {:.2} s in all, and kept the day files of the last {seed_days} days",
        size as f64 / 1_048_576.0,
        rolling.as_secs_f64(),
    );
    let script = seed_script(seed, seed_days);
    let seed_out = stdout_of(home, "python3", &["-c", &script])?;
    let our_out = stdout_of(home, ours, &["--days", &keep])?;
    if seed_out != our_out {
        return Err(format!(
            "the reports differ:\n--- seed (day files)\n{}\n--- ours (rollups)\n{}",
            String::from_utf8_lossy(&seed_out),
            String::from_utf8_lossy(&our_out)
        ));
    }
    println!(
        "the seed (from day files) and uptime-report (from rollups) print the same {} bytes for {seed_days} days",
        our_out.len()
    );
    let seed_rss = peak_rss_kib(home, "python3", &["-c", &script])?;
    let year_rss = peak_rss_kib(home, ours, &["--days", "365"])?;
    let short_rss = peak_rss_kib(home, ours, &["--days", &keep])?;
    let commands = [
        (format!("seed uptime_report(days={seed_days}), day files"), format!("python3 -c '{script}'")),
        ("agent-ops uptime-report --days 365, rollups + today".to_owned(), format!("{ours} --days 365")),
        (
            format!("agent-ops uptime-report --days {seed_days}, rollups + today"),
            format!("{ours} --days {keep}"),
        ),
    ];
    let named: Vec<(&str, String)> = commands.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    let title = format!(
        "a year of SLA: {} services x {} checks a day, page cache warm",
        shape.services, shape.per_day
    );
    let means = hyperfine_means(&title, if quick { 3 } else { 10 }, &[("HOME", home)], &named)?;
    println!("| command | mean wall | peak RSS |\n|---|---|---|");
    for ((name, _), (mean, rss)) in commands.iter().zip(means.iter().zip([seed_rss, year_rss, short_rss])) {
        println!("| {name} | {:.1} ms | {:.1} MiB |", mean * 1000.0, rss as f64 / 1024.0);
    }
    let (wall, rss) = (means[1] * 1000.0, year_rss as f64 / 1024.0);
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "goal for --days 365: <= 50 ms ({:.1} ms, {}) and <= 32 MiB peak RSS ({rss:.1} MiB, {})",
        wall,
        met(wall <= 50.0),
        met(rss <= 32.0)
    );
    Ok(())
}

fn measure(shape: &Shape, seed: &Path, release: &Path, home: &Path, quick: bool) -> Result<(), String> {
    let (lines, bytes) = generate(shape, |_| Ok(()))?;
    let mib = bytes as f64 / 1_048_576.0;
    println!(
        "data: {} days x {} services x {} checks/day = {lines} lines, {mib:.1} MiB",
        shape.days, shape.services, shape.per_day
    );
    let days = shape.days.to_string();
    let script = seed_script(seed, shape.days);
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
