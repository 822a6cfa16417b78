//! ops-kit is the application engine: it alone knows the `~/.agent-ops` directory layout (and
//! every file name in it), the environment overrides and `services.json`, and it joins the
//! leaf crates (ops-health, ops-metrics, ops-recovery, ops-alert, ops-board, ops-jobs,
//! ops-serve, ops-state) into what the binaries run: the health-check pass, the orchestrator
//! pass and its outage rules, the job services and their pings, the incidents it decides and
//! logs, the dependency graph, acknowledgements and status, maintenance windows and silences,
//! the daemon loop and the snapshots it serves over HTTP, the alerter of an installation, and
//! the fleet's uptime report, asked of the Prometheus server that scrapes every host
//! ([`fleet`]).
//!
//! It never prints and never exits: it returns typed reports and errors, and the binaries
//! (through ops-cli) choose the words and the exit codes.
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

pub mod ack;
pub mod alert;
mod config;
pub mod daemon;
pub mod deps;
mod env;
pub mod fleet;
pub mod health;
pub mod incident;
pub mod jobs;
mod layout;
pub mod logs;
pub mod maintenance;
pub mod outage;
pub mod pass;
mod schema;
pub mod serve;
pub mod status;
pub mod uptime;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::fmt::Write as _;
use std::path::PathBuf;

pub use config::{
    AlertProxy, Alerting, Config, DEFAULT_CHECK_INTERVAL, DEFAULT_JOB_GRACE, DEFAULT_METRICS_RETENTION_DAYS,
    DEFAULT_ROLLUP_RETENTION_DAYS, DEFAULT_STALLED_TASK_AFTER, DISK_CHECK_NAME, Escalation, JobService,
    Loaded, Mcp, McpChange, Orchestration, Policy, Service, Severity, TELEGRAM, TelegramChat, Webhook,
    disk_check_name,
};
pub use env::{Env, Proxies, Secret};
pub use layout::{ConfigOrigin, Layout};
pub use schema::Problem;

fn bullets(problems: &[Problem]) -> String {
    problems.iter().fold(String::new(), |mut out, p| {
        let _ = write!(out, "\n  - {p}");
        out
    })
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
        "no configuration file at {} ({origin}); start from the starter, `mkdir -p {} && cp examples/services.starter.json {}` \
         in the agent-ops repository (`cargo xtask install-service` writes it too), or pass --config PATH",
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
    /// A directory agent-ops writes in (or the configuration it runs commands from) can be
    /// changed by another user: refused unless `AGENT_OPS_STRICT_PERMISSIONS=0`.
    #[error(
        "refusing the {what} {}: {source}, so another user could change what agent-ops reads or writes there; \
         make it writable only by its owner (chmod go-w, and owned by this user or root), or set \
         AGENT_OPS_STRICT_PERMISSIONS=0 to accept it",
        path.display()
    )]
    Insecure {
        /// "state directory", "metrics directory", "logs directory" or "configuration file".
        what: &'static str,
        /// The directory or file as the layout has it.
        path: PathBuf,
        /// Which directory (it or one above it) is at fault, and why.
        source: ops_state::StateError,
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

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
