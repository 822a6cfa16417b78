//! ops-health owns the checks (HTTP URL, TCP port, process, disk space, TLS certificate
//! expiry) and the runner that executes many of them at once on std threads.
//!
//! It never reads configuration files or the environment, never writes metrics or state,
//! never alerts and never prints: callers build [`Probe`]s and get [`CheckResult`]s back, in
//! the order they were given. A check never fails with an error; a failure is a result with
//! `ok == false`, a [`FailureKind`] and a human detail.
//!
//! ```
//! use std::time::Duration;
//! use ops_health::{Check, PortCheck, Probe, RunOptions, run_all};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//! let probes = [Probe {
//!     name: "Local Dev Server".into(),
//!     check: Check::Port(PortCheck { host: "127.0.0.1".into(), port, timeout: Duration::from_secs(3) }),
//! }];
//! let results = run_all(&probes, &RunOptions::default());
//! assert!(results[0].ok);
//! assert_eq!(results[0].detail, format!("port {port} open"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod disk;
mod http;
mod net;
mod process;
mod runner;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

pub use process::ProcessCheck;
pub use runner::{RunOptions, run, run_all};

/// A named check.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The service name shown in results.
    pub name: String,
    /// What to check.
    pub check: Check,
}

/// The kinds of check.
#[derive(Debug, Clone)]
pub enum Check {
    /// An HTTP(S) request.
    Url(UrlCheck),
    /// A TCP connect.
    Port(PortCheck),
    /// A process whose command line matches a pattern (`pgrep -f`).
    Process(ProcessCheck),
    /// Free space on a filesystem.
    Disk(DiskCheck),
    /// A TLS certificate's expiry.
    Tls(TlsCheck),
}

impl Check {
    /// The `type` word of this check, as in services.json.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Url(_) => "url",
            Self::Port(_) => "port",
            Self::Process(_) => "process",
            Self::Disk(_) => "disk",
            Self::Tls(_) => "tls",
        }
    }
}

/// An HTTP(S) check.
///
/// Redirects are followed (up to 10, as Python's urllib does) unless `expected_status` is a
/// 3xx, in which case the first response is the one compared.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlCheck {
    /// The URL to GET.
    pub url: String,
    /// The status that counts as up (any status, 404 and 301 included).
    pub expected_status: u16,
    /// The whole request, from DNS to the last body byte read, must finish within this.
    pub timeout: Duration,
    /// Slower than this is a failure of kind [`FailureKind::Latency`].
    pub max_latency: Option<Duration>,
    /// The body must contain this text (the first 1 MiB of it is read).
    pub body_contains: Option<String>,
    /// For https URLs: also check the certificate and fail when it expires within this
    /// many days.
    pub cert_warning_days: Option<f64>,
}

/// A TCP connect check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCheck {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Name resolution and connect must finish within this.
    pub timeout: Duration,
}

/// A free-space check: fails when the space available to unprivileged users is at or below
/// `warning_gb` GiB (the seed's `disk_warning_gb`).
#[derive(Debug, Clone, PartialEq)]
pub struct DiskCheck {
    /// Any path on the filesystem to check.
    pub path: PathBuf,
    /// The threshold in GiB.
    pub warning_gb: f64,
}

/// A TLS certificate check: connects, completes a handshake and reads the server
/// certificate's expiry, even when the certificate is expired or not trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsCheck {
    /// Host name (also sent as SNI and verified against the certificate) or address.
    pub host: String,
    /// TCP port, usually 443.
    pub port: u16,
    /// Fail when the certificate expires within this many days (the seed recipe uses 14).
    pub warning_days: f64,
    /// Fail when the certificate does not verify against the public web roots. Turn off for
    /// self-signed internal services whose expiry is all you want to watch.
    pub verify: bool,
    /// Connect and handshake must finish within this.
    pub timeout: Duration,
}

/// Why a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The host name did not resolve.
    Dns,
    /// The connection was refused or could not be made.
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// The HTTP status was not the expected one (or there were too many redirects).
    HttpStatus,
    /// The response body did not contain the expected text.
    Content,
    /// The answer came, but slower than `max_latency_ms`.
    Latency,
    /// The HTTP response was malformed.
    Protocol,
    /// TLS failed: handshake, untrusted certificate, or a certificate near or past expiry.
    Tls,
    /// No matching process, or the process table could not be read.
    Process,
    /// Free space below the threshold, or the filesystem could not be queried.
    Disk,
    /// A bug in agent-ops stopped the check (it is reported, never hidden).
    Internal,
}

impl FailureKind {
    /// The snake_case word used in JSON output and Prometheus labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::HttpStatus => "http_status",
            Self::Content => "content",
            Self::Latency => "latency",
            Self::Protocol => "protocol",
            Self::Tls => "tls",
            Self::Process => "process",
            Self::Disk => "disk",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was learned about a server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate's notAfter.
    pub not_after: OffsetDateTime,
    /// Whole days from the check to notAfter, rounded down (negative once expired), as the
    /// seed's recipe computes it.
    pub days_left: i64,
    /// `None` when the certificate verified; otherwise why not (self-signed, expired,
    /// wrong name ...).
    pub untrusted: Option<String>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The probe's name.
    pub name: String,
    /// The probe's check type (`url`, `port` ...).
    pub check_type: &'static str,
    /// Whether the check passed.
    pub ok: bool,
    /// Why it failed; `None` when it passed.
    pub failure: Option<FailureKind>,
    /// The human detail, in the seed's words where the seed has them (`HTTP 200`,
    /// `port 5432 open`, `2 process(es) running`, `41.3 GB free`).
    pub detail: String,
    /// Whole milliseconds the check took; 0 for process and disk checks, as in the seed.
    pub latency_ms: u64,
    /// When the check finished.
    pub timestamp: OffsetDateTime,
    /// The HTTP status of the final response, for URL checks that got one.
    pub http_status: Option<u16>,
    /// The server certificate, for TLS checks and https URL checks with a cert warning.
    pub cert: Option<CertInfo>,
    /// Bytes available to unprivileged users, for disk checks.
    pub disk_free_bytes: Option<u64>,
}

impl CheckResult {
    /// A result with the given outcome and no measurements; the timestamp is now.
    pub fn new(name: &str, check_type: &'static str, failure: Option<FailureKind>, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            check_type,
            ok: failure.is_none(),
            failure,
            detail,
            latency_ms: 0,
            timestamp: OffsetDateTime::now_utc(),
            http_status: None,
            cert: None,
            disk_free_bytes: None,
        }
    }

    /// Marks the result failed with `kind`, keeping the first failure's kind.
    pub(crate) fn fail(&mut self, kind: FailureKind) {
        self.ok = false;
        self.failure.get_or_insert(kind);
    }
}

/// The seed's line: `[OK] Name - detail (12ms)` or `[FAIL] ...`; the detail and latency
/// parts are left out when empty or zero, exactly as the seed does.
impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", if self.ok { "OK" } else { "FAIL" }, self.name)?;
        if !self.detail.is_empty() {
            write!(f, " - {}", self.detail)?;
        }
        if self.latency_ms != 0 {
            write!(f, " ({}ms)", self.latency_ms)?;
        }
        Ok(())
    }
}

/// Whole milliseconds, truncated, as the seed's `int((time.time() - start) * 1000)`.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Seconds for details: `2s`, `2.5s`.
pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{s:.0}s") } else { format!("{s}s") }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_the_seed() {
        let mut r = CheckResult::new("API", "url", None, "HTTP 200".into());
        r.latency_ms = 12;
        assert_eq!(r.to_string(), "[OK] API - HTTP 200 (12ms)");
        r.latency_ms = 0;
        assert_eq!(r.to_string(), "[OK] API - HTTP 200");
        let r = CheckResult::new("Worker", "process", Some(FailureKind::Process), "not running".into());
        assert_eq!(r.to_string(), "[FAIL] Worker - not running");
        let r = CheckResult::new("X", "port", Some(FailureKind::Connect), String::new());
        assert_eq!(r.to_string(), "[FAIL] X");
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(secs(Duration::from_secs(2)), "2s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5s");
    }
}
