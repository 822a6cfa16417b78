//! `cargo xtask bench-job`: what `job run` adds to a command's wall time, against the command run
//! bare, in the same hyperfine invocation (no shell in between): `true`, and a 10 ms sleep. The
//! goal is at most 2 ms (median); each run records its start and end (two locked, fsynced state
//! writes), a log line each, and a metrics line.

use crate::bench;

/// The most `job run` may add, in milliseconds (median).
const GOAL_MS: f64 = 2.0;

pub fn run(args: &[String]) -> Result<(), String> {
    let runs = if args.iter().any(|a| a == "--quick") { 50 } else { 500 };
    let release = bench::build_release(&["job"])?;
    let home = bench::sandbox_home("job")?;
    let base = home.join(".agent-ops");
    let job = release.join("job");
    let (true_bin, sleep_bin) = ("/bin/true", "/bin/sleep");
    let commands = [
        ("true", true_bin.to_owned()),
        ("job run -- true", format!("{} run bench -- {true_bin}", job.display())),
        ("sleep 0.01", format!("{sleep_bin} 0.01")),
        ("job run -- sleep 0.01", format!("{} run bench -- {sleep_bin} 0.01", job.display())),
    ];
    let medians = bench::hyperfine_medians(
        "job run vs the bare command (median)",
        runs,
        &[("HOME", &home), ("AGENT_OPS_HOME", &base)],
        &commands,
    )?;
    let [plain_true, job_true, plain_sleep, job_sleep] = medians.as_slice() else {
        return Err(format!("hyperfine gave {} medians, expected 4", medians.len()));
    };
    let added = [(job_true - plain_true) * 1000.0, (job_sleep - plain_sleep) * 1000.0];
    println!(
        "job run adds {:.2} ms to `true` and {:.2} ms to a 10 ms sleep (median; goal <= {GOAL_MS} ms)",
        added[0], added[1]
    );
    let _ = std::fs::remove_dir_all(&home);
    if added.iter().any(|ms| *ms > GOAL_MS) {
        return Err(format!("job run adds more than {GOAL_MS} ms"));
    }
    Ok(())
}
