//! ops-kit is the composition layer: it alone knows the `~/.agent-ops` directory layout, the
//! environment overrides and `services.json`, and it joins the leaf crates (ops-health,
//! ops-metrics, ops-alert, ops-board, ops-state) into the passes the binaries run.
//!
//! It never prints and never exits: binaries call it, print what it returns and map its
//! errors to exit codes with [`exit`].
//!
//! ```
//! use ops_kit::{Config, Env, Layout};
//!
//! let dir = tempfile::tempdir()?;
//! let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
//! let layout = Layout::from_env(&env)?;
//! std::fs::create_dir_all(layout.config.parent().unwrap())?;
//! std::fs::write(&layout.config, r#"{"services": [{"name": "DB", "type": "port", "port": 5432}]}"#)?;
//! let loaded = Config::load(&layout, &env)?;
//! assert_eq!(loaded.config.services[0].name, "DB");
//! assert_eq!(loaded.config.probes().len(), 2, "the service and the built-in disk check");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod alert;
pub mod board;
mod config;
pub mod daemon;
mod env;
pub mod health;
mod layout;
pub mod logs;
pub mod maintenance;
pub mod orchestrator;
pub mod outage;
pub mod pass;
mod schema;
pub mod uptime;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::fmt::Write as _;
use std::path::PathBuf;

pub use config::{
    Alerting, Config, DEFAULT_STALLED_TASK_HOURS, DISK_CHECK_NAME, Loaded, Orchestration, Service, Webhook,
    disk_check_name,
};
pub use env::{Env, Secret};
pub use layout::{ConfigOrigin, Layout};
pub use schema::Problem;

fn bullets(problems: &[Problem]) -> String {
    problems.iter().fold(String::new(), |mut out, p| {
        let _ = write!(out, "\n  - {p}");
        out
    })
}

/// What a binary should print and exit with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printed {
    /// For standard output.
    pub stdout: String,
    /// For standard error (`error: ...`, `warning: ...`, `note: ...` lines).
    pub stderr: String,
    /// The exit code ([`exit`]).
    pub code: u8,
}

/// The exit codes every binary uses.
pub mod exit {
    /// Everything passed.
    pub const OK: u8 = 0;
    /// A check (or the operation asked for) failed.
    pub const FAILED: u8 = 1;
    /// Bad command-line usage or a configuration error; nothing was written.
    pub const USAGE: u8 = 2;
}

/// Why a configuration could not be used. Each message names the file and, for validation
/// problems, every service and field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `AGENT_OPS_HOME` nor `HOME` is set.
    #[error("cannot find the agent-ops directory: set HOME or AGENT_OPS_HOME")]
    NoHome,
    /// The configuration file does not exist.
    #[error(
        "no configuration file at {} ({origin}); create one, for example with `mkdir -p {} && cp examples/services.json {}` \
         from the agent-ops repository, or pass --config PATH",
        path.display(),
        path.parent().map(|p| p.display().to_string()).unwrap_or_default(),
        path.display()
    )]
    NotFound {
        /// Where we looked.
        path: PathBuf,
        /// Why we looked there.
        origin: ConfigOrigin,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The JSON is valid but does not describe a usable configuration.
    #[error("invalid configuration in {}:{}", path.display(), bullets(problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
    /// Alerting cannot work with these settings (no destination, a half-configured or
    /// malformed Telegram setup); the message names the config keys and environment variables.
    #[error("{}: alerting: {message}", path.display())]
    Alerting {
        /// The configuration file.
        path: PathBuf,
        /// What is missing or wrong, never a secret's value.
        message: String,
    },
    /// `--only NAME` names no check.
    #[error("no check named {name:?} in {} (checks: {})", path.display(), known.join(", "))]
    UnknownService {
        /// The name asked for.
        name: String,
        /// The configuration file.
        path: PathBuf,
        /// The names that exist.
        known: Vec<String>,
    },
}
