//! `cargo xtask soak`: the soak and fault-injection test of `orchestrator --loop`
//! (bins/orchestrator/tests/soak.rs) at the size of a real soak. CI runs the same test with
//! 30 passes; this runs it with as many as asked and prints its figures.

use std::process::Command;

use crate::bench::repo;

const USAGE: &str = "usage: cargo xtask soak [--passes N] [--seed S] [--fault-share F]\n\
                     (defaults: 1000 passes, the test's seed, 0.3 of the Bot API requests failing)";

/// Runs the soak test with `AGENT_OPS_SOAK_*` set from the arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut env: Vec<(&str, String)> = vec![("AGENT_OPS_SOAK_PASSES", "1000".into())];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let var = match arg.as_str() {
            "--passes" => "AGENT_OPS_SOAK_PASSES",
            "--seed" => "AGENT_OPS_SOAK_SEED",
            "--fault-share" => "AGENT_OPS_SOAK_FAULT_SHARE",
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        let value = it.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
        let valid = match var {
            "AGENT_OPS_SOAK_FAULT_SHARE" => value.parse::<f64>().is_ok_and(|f| (0.0..=1.0).contains(&f)),
            _ => value.parse::<u64>().is_ok_and(|n| n > 0 || var == "AGENT_OPS_SOAK_SEED"),
        };
        if !valid {
            return Err(format!("{arg} {value:?}: not a valid value\n{USAGE}"));
        }
        env.retain(|(k, _)| *k != var);
        env.push((var, value.clone()));
    }
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(repo())
        .args(["test", "-p", "orchestrator", "--test", "soak", "--", "--nocapture"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("the soak failed (its figures and assertions are above)".into())
    }
}
