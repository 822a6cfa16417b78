//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each fuzz target under libFuzzer for a
//! bounded time, on the stable toolchain, and prints the executions per target.
//!
//! The targets are bolero tests (`bolero::check!`) in `crates/<crate>/fuzz/targets.rs`, a
//! `#[cfg(test)]` module of the crate, so they reach private parsers without widening any API,
//! and `cargo test` runs each on its seed corpus (`fuzz/__fuzz__/fuzz__<target>/corpus/`) and
//! random inputs. Here the crate's unit-test binary is built with SanitizerCoverage
//! (`-Cpasses=sancov-module`, stable flags; no sanitizer, which would need nightly) and bolero's
//! libFuzzer engine (`--cfg fuzzing_libfuzzer`), then started on one test, as cargo-bolero does
//! with `--sanitizer NONE`, but building only the library's tests (cargo-bolero builds every
//! test target of the package, and the integration tests, which do not link libFuzzer, fail to
//! link with these flags).
//!
//! The working corpus grows in `target/fuzz/corpus/<target>/` (seeded from the committed
//! corpus), crashes land in `target/fuzz/crashes/<target>/`, libFuzzer's output in
//! `target/fuzz/logs/<target>.log`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bench::repo;
use crate::bins::target_dir;

/// Every fuzz target: the test's name in `fuzz/targets.rs` and its package.
pub const TARGETS: &[(&str, &str)] = &[
    ("services_json", "ops-kit"),
    ("prometheus_answer", "ops-kit"),
    ("metrics_line", "ops-metrics"),
    ("day_file", "ops-metrics"),
    ("rollup_file", "ops-metrics"),
    ("incident_line", "ops-metrics"),
    ("board_json", "ops-board"),
    ("alert_rate", "ops-alert"),
    ("recovery_json", "ops-recovery"),
    ("telegram_answer", "ops-alert"),
    ("outbox", "ops-alert"),
    ("plugin_output", "ops-health"),
    ("resolv_conf", "ops-health"),
    ("dns_answer", "ops-health"),
    ("condition", "ops-health"),
    ("http_request", "ops-serve"),
    ("job_state", "ops-jobs"),
    ("cron_expression", "ops-jobs"),
];

/// The flags cargo-bolero passes for its libFuzzer engine without a sanitizer.
const RUSTFLAGS: &[&str] = &[
    "--cfg fuzzing",
    "--cfg fuzzing_libfuzzer",
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
];

/// One input running longer than this is a hang (libFuzzer reports it as a failure).
const TIMEOUT_SECONDS: u32 = 10;

/// The committed seed corpus of a target.
pub fn seed_corpus(name: &str, package: &str) -> PathBuf {
    repo().join("crates").join(package).join("fuzz/__fuzz__").join(format!("fuzz__{name}")).join("corpus")
}

#[derive(Debug)]
struct Options {
    budget: Budget,
    targets: Vec<(&'static str, &'static str)>,
}

/// How long each target runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// For this many seconds (a search: different on every run).
    Seconds(u32),
    /// For this many executions from a fixed seed: what CI uses. The mutations follow the seed;
    /// which inputs are kept also follows coverage, which Rust's randomized hashing can shift a
    /// little between runs, so the inputs are nearly, not exactly, the same every time.
    Runs(u64),
}

impl Budget {
    fn libfuzzer_args(self) -> Vec<String> {
        match self {
            Self::Seconds(s) => vec![format!("-max_total_time={s}")],
            Self::Runs(n) => vec![format!("-runs={n}"), "-seed=1".to_owned()],
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Seconds(s) => format!("{s} s each"),
            Self::Runs(n) => format!("{n} runs each, seed 1"),
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut budget = Budget::Seconds(60);
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a number")?;
                budget = Budget::Seconds(
                    v.parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or(format!("--seconds {v}: not a positive number"))?,
                );
            }
            "--runs" => {
                let v = it.next().ok_or("--runs needs a number")?;
                budget = Budget::Runs(
                    v.parse().ok().filter(|s| *s > 0).ok_or(format!("--runs {v}: not a positive number"))?,
                );
            }
            name if !name.starts_with('-') => names.push(name.to_owned()),
            other => return Err(format!("unknown option {other}\n{}", help())),
        }
    }
    let mut targets = Vec::new();
    for name in &names {
        let t =
            TARGETS.iter().find(|(n, _)| n == name).ok_or(format!("no fuzz target {name:?}\n{}", help()))?;
        targets.push(*t);
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    Ok(Options { budget, targets })
}

fn help() -> String {
    let mut out = String::from(
        "usage: cargo xtask fuzz [--seconds N | --runs N] [TARGET...]\n  \
         --seconds N   search each target for N seconds (default 60)\n  \
         --runs N      run each target N times from a fixed seed (CI)\n\ntargets:\n",
    );
    for (name, package) in TARGETS {
        let _ = writeln!(out, "  {name:<18} {package}");
    }
    out
}

/// What one run did.
struct Run {
    name: &'static str,
    package: &'static str,
    executions: Option<u64>,
    per_second: Option<u64>,
    new_units: Option<u64>,
    corpus: usize,
    failure: Option<String>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{}", help());
        return Ok(());
    }
    let options = parse(args)?;
    let root = target_dir().join("fuzz");
    if root.to_string_lossy().contains(char::is_whitespace) {
        // bolero hands libFuzzer its arguments as one space-separated variable.
        return Err(format!("{}: the fuzz directory must not contain spaces", root.display()));
    }
    let packages: BTreeSet<&str> = options.targets.iter().map(|t| t.1).collect();
    let mut binaries = Vec::new();
    for package in packages {
        eprintln!("== building {package}'s fuzz targets (libFuzzer, SanitizerCoverage)");
        binaries.push((package, build(package, &root.join("build"))?));
    }
    let mut runs = Vec::new();
    for &(name, package) in &options.targets {
        let exe = &binaries.iter().find(|b| b.0 == package).expect("built above").1;
        eprintln!("== fuzzing {name} ({package}): {}", options.budget.describe());
        runs.push(fuzz(name, package, exe, &root, options.budget)?);
    }
    println!("{}", table(&runs, options.budget));
    let failed: Vec<&Run> = runs.iter().filter(|r| r.failure.is_some()).collect();
    println!("fuzz: {} passed, {} failed", runs.len() - failed.len(), failed.len());
    if failed.is_empty() {
        return Ok(());
    }
    let mut message = String::from("fuzzing found failures:\n");
    for r in failed {
        let _ = writeln!(message, "  {}: {}", r.name, r.failure.as_deref().unwrap_or_default());
    }
    message.push_str(
        "replay one in `cargo test` by copying it into crates/<package>/fuzz/__fuzz__/fuzz__<target>/crashes/, \
         then fix it and add a named regression test",
    );
    Err(message)
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc").arg("-vV").output().map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV printed no host triple".to_owned())
}

/// Builds `package`'s unit-test binary for libFuzzer and returns its path. `--target` keeps the
/// flags off build scripts and proc macros, which run on the host and must not be instrumented.
fn build(package: &str, target_dir: &Path) -> Result<PathBuf, String> {
    let mut flags = RUSTFLAGS.join(" ");
    if let Ok(extra) = std::env::var("RUSTFLAGS") {
        flags = format!("{flags} {extra}");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo())
        .env("RUSTFLAGS", flags)
        .args(["test", "--profile", "fuzz", "--lib", "--no-run", "--message-format=json-render-diagnostics"])
        .args(["--target", &host_triple()?, "--package", package])
        .arg("--target-dir")
        .arg(target_dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building {package}'s fuzz targets failed"));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"test\":true"))
        .find_map(|l| json_string(l, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo built no test binary for {package}"))
}

/// The string value of `"key":"..."` in one line of cargo's JSON (paths: no escapes but `\\`
/// and `\"`).
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

fn fuzz(
    name: &'static str,
    package: &'static str,
    exe: &Path,
    root: &Path,
    budget: Budget,
) -> Result<Run, String> {
    let corpus = root.join("corpus").join(name);
    let crashes = root.join("crashes").join(name);
    let logs = root.join("logs");
    for dir in [&corpus, &crashes, &logs] {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let seeds = seed_corpus(name, package);
    let entries = fs::read_dir(&seeds).map_err(|e| format!("{}: {e}", seeds.display()))?;
    for entry in entries.filter_map(Result::ok) {
        fs::copy(entry.path(), corpus.join(entry.file_name()))
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
    }
    let log_path = logs.join(format!("{name}.log"));
    let log = fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let test = format!("fuzz::{name}");
    let mut libfuzzer_args = vec![
        corpus.display().to_string(),
        crashes.display().to_string(),
        format!("-artifact_prefix={}/", crashes.display()),
        format!("-timeout={TIMEOUT_SECONDS}"),
        "-print_final_stats=1".to_owned(),
    ];
    libfuzzer_args.extend(budget.libfuzzer_args());
    let status = Command::new(exe)
        .current_dir(repo().join("crates").join(package))
        .args([test.as_str(), "--exact", "--nocapture", "--quiet", "--test-threads", "1"])
        .env("BOLERO_TEST_NAME", &test)
        .env("BOLERO_LIBTEST_HARNESS", "1")
        .env("BOLERO_LIBFUZZER_ARGS", libfuzzer_args.join(" "))
        .stdout(log)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    let stat = |key: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{key}:")).and_then(|v| v.trim().parse().ok()))
    };
    let failure = (!status.success()).then(|| {
        let artifact =
            output.lines().find_map(|l| l.split("Test unit written to ").nth(1)).unwrap_or("no input saved");
        format!("{status}; input: {artifact}; log: {}", log_path.display())
    });
    Ok(Run {
        name,
        package,
        executions: stat("number_of_executed_units"),
        per_second: stat("average_exec_per_sec"),
        new_units: stat("new_units_added"),
        corpus: fs::read_dir(&corpus).map_or(0, Iterator::count),
        failure,
    })
}

fn table(runs: &[Run], budget: Budget) -> String {
    let mut out = format!(
        "\n{:<16} {:<13} {:>12} {:>9} {:>6} {:>7}  result ({})\n",
        "target",
        "package",
        "executions",
        "exec/s",
        "new",
        "corpus",
        budget.describe()
    );
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    for r in runs {
        let _ = writeln!(
            out,
            "{:<16} {:<13} {:>12} {:>9} {:>6} {:>7}  {}",
            r.name,
            r.package,
            n(r.executions),
            n(r.per_second),
            n(r.new_units),
            r.corpus,
            if r.failure.is_some() { "FAILED" } else { "ok" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bolero tests in each crate's `fuzz/targets.rs`.
    fn declared() -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for entry in fs::read_dir(repo().join("crates")).unwrap().filter_map(Result::ok) {
            let Ok(text) = fs::read_to_string(entry.path().join("fuzz/targets.rs")) else { continue };
            let package = entry.file_name().to_string_lossy().into_owned();
            let mut after_attribute = false;
            for line in text.lines() {
                if line.trim() == "#[test]" {
                    after_attribute = true;
                } else if after_attribute && let Some(rest) = line.strip_prefix("fn ") {
                    let name = rest.split('(').next().unwrap_or_default().to_owned();
                    found.insert((name, package.clone()));
                    after_attribute = false;
                }
            }
        }
        found
    }

    #[test]
    fn every_fuzz_target_is_listed_and_seeded() {
        let listed: BTreeSet<(String, String)> =
            TARGETS.iter().map(|(n, p)| ((*n).to_owned(), (*p).to_owned())).collect();
        assert_eq!(declared(), listed, "TARGETS must list exactly the tests in crates/*/fuzz/targets.rs");
        for (name, package) in TARGETS {
            let seeds = fs::read_dir(seed_corpus(name, package)).map_or(0, Iterator::count);
            assert!(seeds >= 3, "{name}: {seeds} seed inputs; give it real inputs of its format");
        }
    }

    #[test]
    fn options() {
        let o = parse(&["--seconds".into(), "5".into(), "outbox".into()]).unwrap();
        assert_eq!((o.budget, o.targets), (Budget::Seconds(5), vec![("outbox", "ops-alert")]));
        let o = parse(&["--runs".into(), "1000".into()]).unwrap();
        assert_eq!(o.budget, Budget::Runs(1000));
        assert_eq!(o.budget.libfuzzer_args(), ["-runs=1000", "-seed=1"]);
        assert_eq!(parse(&[]).unwrap().targets.len(), TARGETS.len());
        assert!(parse(&["nope".into()]).unwrap_err().starts_with("no fuzz target \"nope\""));
        assert!(parse(&["--seconds".into(), "0".into()]).is_err());
    }

    #[test]
    fn reads_cargo_json() {
        let line = r#"{"reason":"compiler-artifact","profile":{"test":true},"executable":"/r/a\\b\"c","fresh":true}"#;
        assert_eq!(json_string(line, "executable").unwrap(), r#"/r/a\b"c"#);
        assert_eq!(json_string(line, "missing"), None);
    }
}
