//! The one way a binary starts and stops: `--generate-docs`, argument parsing, the layout and
//! the configuration with its warnings printed, and an error turned into `error: ...` and its
//! exit code.

use std::fmt::Display;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use ops_kit::{Config, ConfigError, Env, Layout};

use crate::{docs, exit, finish};

/// Why a binary stops early: what to say after `error: `, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The message, without the `error: ` prefix.
    pub message: String,
    /// The exit code ([`exit`]).
    pub code: u8,
}

impl Failure {
    /// A usage or configuration error: exit 2, nothing was done.
    pub fn usage(e: impl Display) -> Self {
        Self { message: e.to_string(), code: exit::USAGE }
    }

    /// The operation failed: exit 1.
    pub fn failed(e: impl Display) -> Self {
        Self { message: e.to_string(), code: exit::FAILED }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Self::usage(e)
    }
}

/// A binary's `main`: `fn main() -> ExitCode { ops_cli::main(run) }`. Answers the hidden
/// `--generate-docs DIR`, raises the soft open-file limit to the hard one (as Go's runtime and
/// most servers do: many checks at once need descriptors, and a descriptor we lack must never
/// look like a service down), parses the arguments (clap exits 2 on bad usage), runs `run`, and
/// prints a [`Failure`] as `error: ...` with its exit code.
pub fn main<A: Parser>(run: impl FnOnce(A) -> Result<ExitCode, Failure>) -> ExitCode {
    if let Some(code) = docs::docs_if_asked::<A>() {
        return code;
    }
    ops_kit::health::raise_nofile_limit();
    match run(A::parse()) {
        Ok(code) => code,
        Err(f) => finish("", &format!("error: {}\n", f.message), f.code),
    }
}

/// Where a binary runs: the environment, captured once, and the layout it implies.
#[derive(Debug, Clone)]
pub struct Started {
    /// The environment variables agent-ops reads.
    pub env: Env,
    /// The directories, and the services.json to read (`--config` when given).
    pub layout: Layout,
}

/// Captures the environment and resolves the layout, with `config` from `--config`.
pub fn start(config: Option<&Path>) -> Result<Started, Failure> {
    let env = Env::capture();
    let layout = Layout::resolve(&env, config)?;
    Ok(Started { env, layout })
}

impl Started {
    /// Loads services.json, printing its warnings (unknown keys ...) on standard error.
    pub fn config(&self) -> Result<Config, Failure> {
        let loaded = Config::load(&self.layout, &self.env)?;
        crate::err(&loaded.warning_lines());
        Ok(loaded.config)
    }

    /// [`Started::config`] for commands that work without a services.json: `None` when there
    /// is none at the default place (one missing where `--config` or `AGENT_OPS_CONFIG`
    /// pointed is an error).
    pub fn config_optional(&self) -> Result<Option<Config>, Failure> {
        let loaded = Config::load_optional(&self.layout, &self.env)?;
        Ok(loaded.map(|l| {
            crate::err(&l.warning_lines());
            l.config
        }))
    }
}
