//! Writing to the terminal without ever panicking (`print!` does when stdout is gone), and
//! without letting a service name or a server's answer drive it: text for people has its
//! control characters shown as escapes ([`ops_state::printable_lines`]); documents for
//! programs (JSON, Prometheus, HTML) are written byte for byte.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::ExitCode;

/// Writes text for people to standard output, its control characters (but newlines and tabs)
/// escaped. A reader that went away (`| head`) is not a failure, and any other failure (a full
/// disk under `> file`) is said on standard error and returned as `false`, for the caller's exit
/// code.
pub fn out(text: &str) -> bool {
    out_document(&ops_state::printable_lines(text))
}

/// Writes a document for programs (JSON, the Prometheus format, an HTML page) to standard
/// output exactly as it is; otherwise as [`out`].
pub fn out_document(text: &str) -> bool {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => true,
        Err(e) => {
            err(&format!("error: cannot write the output: {e}\n"));
            false
        }
    }
}

/// Writes `text` to standard error, control characters escaped as [`out`] does, ignoring a
/// failure: there is nowhere left to report it.
pub fn err(text: &str) {
    let _ = io::stderr().lock().write_all(ops_state::printable_lines(text).as_bytes());
}

/// Prints a command's result and turns it into the exit code: `stdout` through [`out`], `stderr`
/// through [`err`], and `code`, or 1 when the output could not be written (a success whose
/// report was lost is not a success).
pub fn finish(stdout: &str, stderr: &str, code: u8) -> ExitCode {
    let written = out(stdout);
    err(stderr);
    ExitCode::from(if written || code != 0 { code } else { crate::exit::FAILED })
}

/// [`finish`] for a document for programs (JSON ...): `stdout` is written exactly, through
/// [`out_document`].
pub fn finish_document(stdout: &str, stderr: &str, code: u8) -> ExitCode {
    let written = out_document(stdout);
    err(stderr);
    ExitCode::from(if written || code != 0 { code } else { crate::exit::FAILED })
}

/// One `warning: ...` line per item, for standard error.
pub fn warning_lines<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().fold(String::new(), |mut out, w| {
        let _ = writeln!(out, "warning: {w}");
        out
    })
}

/// What a command prints and its exit code, built whole before anything is printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printed {
    /// For standard output.
    pub stdout: String,
    /// For standard error (`error: ...`, `warning: ...`, `note: ...` lines).
    pub stderr: String,
    /// The exit code ([`crate::exit`]).
    pub code: u8,
}

impl Printed {
    /// Prints it ([`finish`]) and returns the exit code.
    pub fn finish(&self) -> ExitCode {
        finish(&self.stdout, &self.stderr, self.code)
    }
}
