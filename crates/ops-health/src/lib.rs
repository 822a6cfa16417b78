//! ops-health owns the checks (HTTP URL, TCP port, process, disk space, TLS certificate
//! expiry) and the runner that executes many of them at once on std threads.
//!
//! It never reads configuration files or the environment (no proxy variables either: a proxy
//! is used only when the caller passes one), never writes metrics or state, never alerts and
//! never prints: callers build [`Probe`]s and get [`CheckResult`]s back, in the order they
//! were given. A check never fails with an error and never panics: its [`Outcome`] is up,
//! down (with a [`FailureKind`]) or unknown (agent-ops could not make the check: no file
//! descriptor, no thread, a bug), with a human detail. Every check ends by its own timeout,
//! whatever the other side does.
//!
//! The default feature `tls` brings the TLS stack (rustls, ring, the web roots); without it
//! `tls` checks and https URLs are [`Outcome::Unknown`] with [`Unchecked::Unsupported`].
//!
//! ```
//! use ops_health::{Check, PortCheck, Probe, RunOptions, run_all};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//! let probes = [Probe::new("Local Dev Server", Check::Port(PortCheck::new("127.0.0.1", port)))];
//! let results = run_all(&probes, &RunOptions::default());
//! assert!(results[0].outcome.is_up());
//! assert_eq!(results[0].detail, format!("port {port} open"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod budget;
mod deadline;
mod disk;
mod dns;
mod http;
mod net;
mod process;
mod runner;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The `time` crate, whose `OffsetDateTime` is in results.
pub use time;
use time::OffsetDateTime;

pub use budget::raise_nofile_limit;
pub use http::Proxy;
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

impl Probe {
    /// A probe named `name`.
    pub fn new(name: impl Into<String>, check: Check) -> Self {
        Self { name: name.into(), check }
    }
}

/// The kinds of check.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Which kind of check this is.
    pub fn kind(&self) -> CheckKind {
        match self {
            Self::Url(_) => CheckKind::Url,
            Self::Port(_) => CheckKind::Port,
            Self::Process(_) => CheckKind::Process,
            Self::Disk(_) => CheckKind::Disk,
            Self::Tls(_) => CheckKind::Tls,
        }
    }
}

/// The kind of a check, by the `type` word of services.json: the one place these words live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CheckKind {
    /// `url`
    Url,
    /// `port`
    Port,
    /// `process`
    Process,
    /// `disk`
    Disk,
    /// `tls`
    Tls,
}

impl CheckKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: &'static [CheckKind] = &[Self::Url, Self::Port, Self::Process, Self::Disk, Self::Tls];

    /// The `type` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Port => "port",
            Self::Process => "process",
            Self::Disk => "disk",
            Self::Tls => "tls",
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CheckKind {
    type Err = HealthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| HealthError::UnknownCheckKind { name: s.chars().take(100).collect() })
    }
}

/// An HTTP(S) check.
///
/// Redirects are followed (up to 10, as Python's urllib does) unless `expected_status` is a
/// 3xx, in which case the first response is the one compared.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UrlCheck {
    /// The URL to GET.
    pub url: String,
    /// The status that counts as up (any status, 404 and 301 included). Default 200.
    pub expected_status: u16,
    /// The whole check, from DNS to the last body byte read and the certificate check, ends
    /// within this. Default 10 s.
    pub timeout: Duration,
    /// Slower than this is a failure of kind [`FailureKind::Latency`].
    pub max_latency: Option<Duration>,
    /// The body must contain this text (the first 1 MiB of it is read).
    pub body_contains: Option<String>,
    /// For https URLs: also check the certificate and fail when it expires within this
    /// many days. The certificate is read on a direct connection, also when `proxy` is set.
    pub cert_warning_days: Option<f64>,
    /// Go through this proxy; `None` (the default) connects directly. The environment's
    /// `HTTP_PROXY` and friends are never read.
    pub proxy: Option<Proxy>,
}

impl UrlCheck {
    /// A GET of `url` expecting 200 within 10 s, directly, with nothing else checked.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            expected_status: 200,
            timeout: Duration::from_secs(10),
            max_latency: None,
            body_contains: None,
            cert_warning_days: None,
            proxy: None,
        }
    }
}

/// A TCP connect check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortCheck {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Name resolution and connect end within this. Default 3 s.
    pub timeout: Duration,
}

impl PortCheck {
    /// A connect to `host:port` within 3 s.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self { host: host.into(), port, timeout: Duration::from_secs(3) }
    }
}

/// A free-space check: fails when the space available to unprivileged users is at or below
/// `warning_gb` GiB (the Python kit's `disk_warning_gb`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiskCheck {
    /// Any path on the filesystem to check.
    pub path: PathBuf,
    /// The threshold in GiB. Default 5.
    pub warning_gb: f64,
}

impl DiskCheck {
    /// A check of the filesystem holding `path`, failing at 5 GiB free or less.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), warning_gb: 5.0 }
    }
}

/// A TLS certificate check: connects, completes a handshake and reads the server
/// certificate's expiry, even when the certificate is expired or not trusted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TlsCheck {
    /// Host name (also sent as SNI and verified against the certificate) or address.
    pub host: String,
    /// TCP port. Default 443.
    pub port: u16,
    /// Fail when the certificate expires within this many days. Default 14.
    pub warning_days: f64,
    /// Fail when the certificate does not verify against the public web roots (default).
    /// Turn off for self-signed internal services whose expiry is all you want to watch.
    pub verify: bool,
    /// Connect and handshake end within this. Default 10 s.
    pub timeout: Duration,
}

impl TlsCheck {
    /// A check of `host:443`, verified, warning 14 days ahead, within 10 s.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 443,
            warning_days: 14.0,
            verify: true,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The service answered as expected.
    Up,
    /// The service is down or answered wrongly, and why.
    Down(FailureKind),
    /// The check could not be made, for a reason of agent-ops' own: nothing is known about
    /// the service, which must not be taken for down (nor restarted for it).
    Unknown(Unchecked),
}

impl Outcome {
    /// Whether the service is up.
    pub fn is_up(self) -> bool {
        self == Self::Up
    }

    /// Whether the service was found down (not merely unknown).
    pub fn is_down(self) -> bool {
        matches!(self, Self::Down(_))
    }

    /// Whether the check could not be made.
    pub fn is_unknown(self) -> bool {
        matches!(self, Self::Unknown(_))
    }

    /// Why the service is down; `None` when it is up or unknown.
    pub fn failure(self) -> Option<FailureKind> {
        match self {
            Self::Down(kind) => Some(kind),
            _ => None,
        }
    }

    /// `up`, `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down(_) => "down",
            Self::Unknown(_) => "unknown",
        }
    }

    /// The word for why it is not up: the [`FailureKind`]'s, or `internal` for an unknown
    /// outcome (the `failure` of JSON output); `None` when up.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Up => None,
            Self::Down(kind) => Some(kind.as_str()),
            Self::Unknown(_) => Some("internal"),
        }
    }
}

/// Why a check could not be made. None of these says anything about the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unchecked {
    /// The system refused agent-ops a resource the check needed: a file descriptor
    /// (EMFILE, ENFILE), a thread, memory, socket buffers, a local port.
    Resources,
    /// A bug in agent-ops stopped the check (it is reported, never hidden).
    Panic,
    /// This build cannot make the check (the `tls` feature is off).
    Unsupported,
}

/// Why a service is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// the Python kit's recipe computes it.
    pub days_left: i64,
    /// `None` when the certificate verified; otherwise why not (self-signed, expired,
    /// wrong name ...).
    pub untrusted: Option<String>,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckResult {
    /// The probe's name.
    pub name: String,
    /// The probe's check kind.
    pub check_type: CheckKind,
    /// Up, down (and why), or unknown.
    pub outcome: Outcome,
    /// The human detail, in the Python kit's words where the Python kit has them (`HTTP 200`,
    /// `port 5432 open`, `2 process(es) running`, `41.3 GB free`).
    pub detail: String,
    /// Whole milliseconds the check took; 0 for process and disk checks, as in the Python kit.
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
    pub fn new(name: &str, check_type: CheckKind, outcome: Outcome, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            check_type,
            outcome,
            detail,
            latency_ms: 0,
            timestamp: OffsetDateTime::now_utc(),
            http_status: None,
            cert: None,
            disk_free_bytes: None,
        }
    }

    /// A result for a check that did not end up.
    pub(crate) fn failed(name: &str, check_type: CheckKind, failure: Failure) -> Self {
        Self::new(name, check_type, failure.outcome, failure.detail)
    }

    /// Records a later finding, keeping the first one that was not up.
    #[cfg(feature = "tls")]
    pub(crate) fn worsen(&mut self, outcome: Outcome) {
        if self.outcome.is_up() {
            self.outcome = outcome;
        }
    }
}

/// The Python kit's line: `[OK] Name - detail (12ms)` or `[FAIL] ...`; the detail and latency
/// parts are left out when empty or zero, exactly as the Python kit does. An unknown outcome is a
/// `[FAIL]` line too (scripts that look for `[FAIL]`, or for lines that are not `[OK]`, must
/// not miss a check that could not be made), whose detail says it is agent-ops' trouble:
/// `[FAIL] API - agent-ops could not run this check: too many open files`.
impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", if self.outcome.is_up() { "OK" } else { "FAIL" }, self.name)?;
        if !self.detail.is_empty() {
            write!(f, " - {}", self.detail)?;
        }
        if self.latency_ms != 0 {
            write!(f, " ({}ms)", self.latency_ms)?;
        }
        Ok(())
    }
}

/// What can go wrong building a check. Checks themselves never fail with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// A process pattern that is not a valid regular expression, or too long or complex to
    /// be matched within a check's timeout.
    #[error("invalid process pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as given (its first 100 characters).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A proxy URL that cannot be used (its text is not repeated: it may hold a password).
    #[error("invalid proxy: {reason}")]
    Proxy {
        /// What is wrong with it.
        reason: String,
    },
    /// A check type that does not exist.
    #[error("unknown check type {name:?} (known: {})", known_kinds())]
    UnknownCheckKind {
        /// The word as given (its first 100 characters).
        name: String,
    },
}

fn known_kinds() -> String {
    CheckKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// A check that did not end up: its outcome (never up) and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub outcome: Outcome,
    pub detail: String,
}

impl Failure {
    pub(crate) fn down(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self { outcome: Outcome::Down(kind), detail: detail.into() }
    }

    /// agent-ops' own trouble: `agent-ops could not run this check: <why>`.
    pub(crate) fn unchecked(why: Unchecked, words: impl fmt::Display) -> Self {
        Self {
            outcome: Outcome::Unknown(why),
            detail: format!("agent-ops could not run this check: {words}"),
        }
    }

    /// A thread that could not be started.
    pub(crate) fn no_thread(e: &std::io::Error) -> Self {
        Self::unchecked(Unchecked::Resources, format_args!("cannot start a thread ({})", net::os_words(e)))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Carried through ureq inside an `io::Error`, so its classification survives.
impl std::error::Error for Failure {}

/// Whole milliseconds, truncated, as the Python kit's `int((time.time() - start) * 1000)`.
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
        let mut r = CheckResult::new("API", CheckKind::Url, Outcome::Up, "HTTP 200".into());
        r.latency_ms = 12;
        assert_eq!(r.to_string(), "[OK] API - HTTP 200 (12ms)");
        r.latency_ms = 0;
        assert_eq!(r.to_string(), "[OK] API - HTTP 200");
        let r = CheckResult::new(
            "Worker",
            CheckKind::Process,
            Outcome::Down(FailureKind::Process),
            "not running".into(),
        );
        assert_eq!(r.to_string(), "[FAIL] Worker - not running");
        let r = CheckResult::new("X", CheckKind::Port, Outcome::Down(FailureKind::Connect), String::new());
        assert_eq!(r.to_string(), "[FAIL] X");
        let f = Failure::unchecked(Unchecked::Resources, "too many open files");
        let r = CheckResult::failed("DB", CheckKind::Port, f);
        assert_eq!(r.to_string(), "[FAIL] DB - agent-ops could not run this check: too many open files");
    }

    #[test]
    fn one_field_says_up_down_or_unknown() {
        let up = Outcome::Up;
        assert!(up.is_up() && !up.is_down() && !up.is_unknown());
        assert_eq!((up.as_str(), up.reason(), up.failure()), ("up", None, None));
        let down = Outcome::Down(FailureKind::Timeout);
        assert!(!down.is_up() && down.is_down() && !down.is_unknown());
        assert_eq!(
            (down.as_str(), down.reason(), down.failure()),
            ("down", Some("timeout"), Some(FailureKind::Timeout))
        );
        let unknown = Outcome::Unknown(Unchecked::Resources);
        assert!(!unknown.is_up() && !unknown.is_down() && unknown.is_unknown());
        assert_eq!(
            (unknown.as_str(), unknown.reason(), unknown.failure()),
            ("unknown", Some("internal"), None)
        );
    }

    #[test]
    #[cfg(feature = "tls")]
    fn a_later_finding_never_hides_the_first() {
        let mut r = CheckResult::new("API", CheckKind::Url, Outcome::Up, "HTTP 200".into());
        r.worsen(Outcome::Down(FailureKind::Tls));
        r.worsen(Outcome::Down(FailureKind::Timeout));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls));
    }

    #[test]
    fn check_kinds_round_trip_through_their_words() {
        for kind in CheckKind::ALL {
            assert_eq!(kind.as_str().parse::<CheckKind>(), Ok(*kind));
        }
        let e = "ping".parse::<CheckKind>().unwrap_err();
        assert_eq!(e.to_string(), "unknown check type \"ping\" (known: url, port, process, disk, tls)");
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(secs(Duration::from_secs(2)), "2s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5s");
    }
}
