//! ops-cli holds what the agent-ops binaries share as front ends, and nothing else: one way to
//! start ([`main`]: the hidden `--generate-docs DIR`, argument parsing, a [`Failure`] printed
//! as `error: ...` with its exit code; [`start`]: the layout and services.json with its
//! warnings printed), the [`exit`] codes, writing to the terminal without ever panicking
//! ([`out`], [`err`], [`finish`]), and the words that more than one binary prints.
//!
//! It is the binaries' crate: it prints, but it decides nothing. The engine (configuration,
//! checks, the pass) is ops-kit's; what only one binary prints is that binary's. Man pages and
//! shell completions come from each binary's own clap definition (`cargo xtask man` and `cargo
//! xtask completions` run each built binary with `--generate-docs`, so the project automation
//! never links the binaries' crates).
//!
//! ```
//! use clap::{CommandFactory, Parser};
//!
//! /// Say hello.
//! #[derive(Parser)]
//! #[command(name = "hello", version)]
//! struct Args {
//!     /// Who to greet.
//!     #[arg(long)]
//!     name: Option<String>,
//! }
//!
//! let argv = ["hello", ops_cli::GENERATE_DOCS, "out"].map(std::ffi::OsString::from);
//! assert_eq!(ops_cli::docs_request(argv), Some("out".into()));
//! let dir = tempfile::tempdir()?;
//! let written = ops_cli::write_docs(Args::command(), dir.path())?;
//! assert!(written.contains(&dir.path().join("man/hello.1")));
//! assert!(written.contains(&dir.path().join("completions/hello.bash")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod docs;
mod output;
mod start;

pub use docs::{DocsError, GENERATE_DOCS, SHELLS, docs_request, write_docs};
pub use output::{Printed, err, finish, finish_document, out, out_document, warning_lines};
pub use start::{Failure, Started, main, start};

/// The exit codes every binary uses.
pub mod exit {
    /// Everything passed.
    pub const OK: u8 = 0;
    /// A check (or the operation asked for) failed.
    pub const FAILED: u8 = 1;
    /// Bad command-line usage or a configuration error; nothing was written.
    pub const USAGE: u8 = 2;
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
