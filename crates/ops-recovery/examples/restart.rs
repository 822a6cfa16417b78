//! Embedding ops-recovery: ask the policy whether SERVICE may be restarted now (the attempt
//! is recorded in STATE_FILE before the command runs), run COMMAND with the runner that cannot
//! hang, and record the verdict. A real caller re-checks the service before `finish`; here the
//! command's exit status stands in for that re-check.
//!
//! `cargo run -p ops-recovery --example restart -- STATE_FILE SERVICE COMMAND`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use ops_recovery::{Decision, Policy, RecoveryError, RestartSpec, begin, record_recovery, run_restart};
use ops_state::StateFile;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, service, command] = args.as_slice() else {
        eprintln!("usage: restart STATE_FILE SERVICE COMMAND");
        return ExitCode::from(2);
    };
    match restart(Path::new(path), service, command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn restart(path: &Path, service: &str, command: &str) -> Result<bool, RecoveryError> {
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let state = StateFile::new(path);
    match begin(&state, service, &Policy::default(), now())? {
        Decision::Restart { attempt } => {
            let log = ops_state::sibling(path, ".restart.log"); // the commands' output, appended
            let run = run_restart(&RestartSpec::new(command, &log));
            println!(
                "attempt {attempt}: {:?} after {:?}; output in {}",
                run.outcome,
                run.duration,
                log.display()
            );
            print!("{}", run.output_tail);
            // A real caller re-checks the service; here the command's success stands in for it.
            if run.succeeded() {
                record_recovery(&state, service, now())?;
            }
            Ok(run.succeeded())
        }
        Decision::Cooldown { remaining } => {
            println!("cooldown: the next attempt is allowed in {:.0} s", remaining.as_secs_f64());
            Ok(false)
        }
        Decision::GaveUp { attempts } => {
            println!("gave up after {attempts} attempts within the hour: restart it by hand");
            Ok(false)
        }
    }
}
