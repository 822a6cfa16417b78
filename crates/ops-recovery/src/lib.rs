//! ops-recovery owns restarting services: the restart policy (cooldown, attempt limit, the
//! hour after which attempts are forgotten), the per-service recovery state in the Python kit's
//! `recovery.json` format, and a restart runner that cannot hang or leak processes.
//!
//! It never checks health, never alerts and never prints: the caller decides with
//! [`begin`], runs [`run_restart`], re-checks the service itself, and reports the verdict with
//! [`record_recovery`].
//!
//! ```
//! use std::time::Duration;
//! use ops_recovery::{Decision, Policy, RestartSpec, begin, record_recovery, run_restart};
//! use ops_state::StateFile;
//!
//! let dir = tempfile::tempdir()?;
//! let state = StateFile::new(dir.path().join("recovery.json"));
//! let policy = Policy::default(); // 300 s cooldown, 3 attempts
//! let now = 1_700_000_000.0;
//! assert_eq!(begin(&state, "API", &policy, now)?, Decision::Restart { attempt: 1 });
//! let run = run_restart(&RestartSpec::new("echo restarted", dir.path().join("restart-API.log")));
//! assert!(run.succeeded() && run.output_tail == "restarted\n");
//! record_recovery(&state, "API", now + 5.0)?; // the re-check saw it up: attempts reset
//! assert_eq!(begin(&state, "API", &policy, now + 10.0)?, Decision::Cooldown { remaining: Duration::from_secs(290) });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod policy;
mod runner;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

pub use policy::{Decision, Policy, RecoveryState, ServiceState, begin, record_recovery, uncount};
pub use runner::{RestartRun, RestartSpec, RunOutcome, run_restart};

/// Everything that can go wrong with recovery state (running a command never errors: its
/// failures are a [`RunOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Reading or writing `recovery.json` failed (the state error names the file).
    #[error(transparent)]
    State(#[from] ops_state::StateError),
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
