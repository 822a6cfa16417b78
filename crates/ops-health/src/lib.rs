//! ops-health owns the checks (HTTP URL with Gatus-style conditions, TCP port, process, disk
//! space, TLS certificate expiry, DNS records, ICMP ping, a command by the Nagios plugin
//! convention; and checks whose verdict the caller computes, [`ExternalCheck`], such as jobs)
//! and the runner that executes many of them at once on std threads.
//!
//! It never reads configuration files or the environment (no proxy variables either: a proxy
//! is used only when the caller passes one; a `dns` check without a server reads the system's
//! nameserver from /etc/resolv.conf, as the system resolver does), never writes metrics or state, never alerts and
//! never prints: callers build [`Probe`]s and get [`CheckResult`]s back, in the order they
//! were given. A check never fails with an error and never panics: its [`Outcome`] is up, a
//! warning (up, but past a degraded threshold), down (with a [`FailureKind`]) or unknown
//! (agent-ops could not make the check: no file descriptor, no thread, a bug), with a human
//! detail. Every check ends by its own timeout, whatever the other side does; a command's
//! whole process group is stopped at its deadline (ops-proc).
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
mod command;
mod conditions;
mod deadline;
mod disk;
mod dns;
mod dns_check;
mod http;
mod net;
mod perfdata;
mod ping;
mod process;
mod runner;
mod secret;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;
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
pub use command::{CommandCheck, KILL_GRACE, OUTPUT_LIMIT};
pub use conditions::{Condition, ConditionResult};
pub use dns_check::{DnsAnswer, DnsCheck, RecordType};
pub use http::{BODY_LIMIT, Proxy};
/// What a command check runs: an argv (no shell) or a `/bin/sh -c` line.
pub use ops_proc::Program;
pub use perfdata::PerfValue;
pub use ping::{PingCheck, PingSocket, PingStats, Rtt};
pub use process::ProcessCheck;
pub use runner::{RunOptions, run, run_all};
pub use secret::{Credential, REDACTED};

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
    /// A DNS query.
    Dns(DnsCheck),
    /// ICMP echo requests.
    Ping(PingCheck),
    /// A program by the Nagios plugin convention.
    Command(CommandCheck),
    /// A check whose verdict the caller computes (a job's, from its state file).
    External(ExternalCheck),
}

/// What an [`ExternalCheck`] computes: the outcome and its detail, or why it could not (the
/// caller's own trouble, such as a state file it cannot read: the result is
/// [`Outcome::Unknown`] with [`Unchecked::State`], never down).
pub type Judge = dyn Fn() -> Result<(Outcome, String), String> + Send + Sync;

/// A check whose verdict the caller computes, run by [`run_all`] like any other (on the pool,
/// in order, its panic caught), so that every consumer of results (records, restarts, outage
/// rules, alerts) treats it like any other check. ops-kit builds `job` checks this way: their
/// verdict is ops-jobs', which ops-health does not know.
#[derive(Clone)]
pub struct ExternalCheck {
    kind: CheckKind,
    judge: std::sync::Arc<Judge>,
}

impl ExternalCheck {
    /// A check of kind `kind` whose verdict `judge` computes.
    pub fn new(
        kind: CheckKind,
        judge: impl Fn() -> Result<(Outcome, String), String> + Send + Sync + 'static,
    ) -> Self {
        Self { kind, judge: std::sync::Arc::new(judge) }
    }

    /// Its kind.
    pub fn kind(&self) -> CheckKind {
        self.kind
    }

    pub(crate) fn run(&self, name: &str) -> CheckResult {
        match (self.judge)() {
            Ok((outcome, detail)) => CheckResult::new(name, self.kind, outcome, detail),
            Err(why) => CheckResult::failed(name, self.kind, Failure::unchecked(Unchecked::State, why)),
        }
    }
}

impl fmt::Debug for ExternalCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalCheck").field("kind", &self.kind).finish_non_exhaustive()
    }
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
            Self::Dns(_) => CheckKind::Dns,
            Self::Ping(_) => CheckKind::Ping,
            Self::Command(_) => CheckKind::Command,
            Self::External(c) => c.kind,
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
    /// `dns`
    Dns,
    /// `ping`
    Ping,
    /// `command`
    Command,
    /// `job`: a cron job or agent run, judged by its runs (ops-kit and ops-jobs).
    Job,
}

impl CheckKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: &'static [CheckKind] = &[
        Self::Url,
        Self::Port,
        Self::Process,
        Self::Disk,
        Self::Tls,
        Self::Dns,
        Self::Ping,
        Self::Command,
        Self::Job,
    ];

    /// The `type` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Port => "port",
            Self::Process => "process",
            Self::Disk => "disk",
            Self::Tls => "tls",
            Self::Dns => "dns",
            Self::Ping => "ping",
            Self::Command => "command",
            Self::Job => "job",
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
/// 3xx, in which case the first response is the one compared (`follow_redirects` decides
/// when set).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UrlCheck {
    /// The URL to request.
    pub url: String,
    /// The request method, one of [`METHODS`]. Default `GET`.
    pub method: String,
    /// Request headers; the values are credentials (never shown).
    pub headers: Vec<(String, Credential)>,
    /// The request body.
    pub body: Option<RequestBody>,
    /// HTTP Basic or bearer authentication.
    pub auth: Option<Auth>,
    /// Accept any certificate (self-signed, expired, another name). The certificate's expiry
    /// is still read and judged by `cert_warning_days` and `[CERTIFICATE_EXPIRATION]`.
    pub insecure_tls: bool,
    /// Follow redirects (up to 10); `None`: unless `expected_status` is a 3xx.
    pub follow_redirects: Option<bool>,
    /// When not empty, these decide the verdict instead of `expected_status` (a caller that
    /// wants both adds `[STATUS] == N` among them). Every failed one is named in the detail.
    pub conditions: Vec<Condition>,
    /// The status that counts as up (any status, 404 and 301 included) when there are no
    /// conditions. Default 200.
    pub expected_status: u16,
    /// The whole check, from DNS to the last body byte read and the certificate check, ends
    /// within this. Default 10 s.
    pub timeout: Duration,
    /// Slower than this is a failure of kind [`FailureKind::Latency`].
    pub max_latency: Option<Duration>,
    /// Slower than this (and not slower than `max_latency`) is a warning of kind
    /// [`FailureKind::Latency`].
    pub warn_latency: Option<Duration>,
    /// The body must contain this text (the first [`BODY_LIMIT`] bytes of it are read).
    pub body_contains: Option<String>,
    /// For https URLs: also check the certificate and fail when it expires within this
    /// many days. The certificate is read on a direct connection, also when `proxy` is set.
    pub cert_warning_days: Option<f64>,
    /// For https URLs: also check the certificate, and warn when it expires within this many
    /// days (but not within `cert_warning_days`).
    pub cert_notice_days: Option<f64>,
    /// Go through this proxy; `None` (the default) connects directly. The environment's
    /// `HTTP_PROXY` and friends are never read.
    pub proxy: Option<Proxy>,
}

impl UrlCheck {
    /// A GET of `url` expecting 200 within 10 s, directly, with nothing else checked.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: "GET".to_owned(),
            headers: Vec::new(),
            body: None,
            auth: None,
            insecure_tls: false,
            follow_redirects: None,
            conditions: Vec::new(),
            expected_status: 200,
            timeout: Duration::from_secs(10),
            max_latency: None,
            warn_latency: None,
            body_contains: None,
            cert_warning_days: None,
            cert_notice_days: None,
            proxy: None,
        }
    }
}

/// The request methods a URL check may use.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A URL check's request body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestBody {
    /// Sent as it is.
    Text(String),
    /// JSON text, sent with `Content-Type: application/json` unless a header says otherwise.
    Json(String),
}

/// How a URL check authenticates; the secrets are never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Credential,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Credential),
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
/// `warning_gb` GiB (the Python kit's `disk_warning_gb`), warns at or below `notice_gb`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiskCheck {
    /// Any path on the filesystem to check.
    pub path: PathBuf,
    /// The failure threshold in GiB. Default 5.
    pub warning_gb: f64,
    /// The warning threshold in GiB; none by default.
    pub notice_gb: Option<f64>,
}

impl DiskCheck {
    /// A check of the filesystem holding `path`, failing at 5 GiB free or less.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), warning_gb: 5.0, notice_gb: None }
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
    /// Warn when the certificate expires within this many days (but not within
    /// `warning_days`); none by default.
    pub notice_days: Option<f64>,
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
            notice_days: None,
            verify: true,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What a check found.
///
/// A warning is up: the service answered, but a degraded threshold was crossed (a latency, a
/// certificate's days, free space, a plugin's exit 1). It counts as up for uptime, is never
/// restarted and never alerted as down; [`Outcome::is_up`] is true for it, and
/// [`Outcome::is_warning`] tells it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The service answered as expected.
    Up,
    /// The service answered, but degraded, and in what ([`FailureKind`] names the measure:
    /// `Latency`, `Tls`, `Disk`, `Command` ...).
    Warning(FailureKind),
    /// The service is down or answered wrongly, and why.
    Down(FailureKind),
    /// The check could not be made, for a reason of agent-ops' own: nothing is known about
    /// the service, which must not be taken for down (nor restarted for it).
    Unknown(Unchecked),
}

impl Outcome {
    /// Whether the service is up, with or without a warning.
    pub fn is_up(self) -> bool {
        matches!(self, Self::Up | Self::Warning(_))
    }

    /// Whether the service is up with a warning.
    pub fn is_warning(self) -> bool {
        matches!(self, Self::Warning(_))
    }

    /// Whether the service was found down (not merely unknown).
    pub fn is_down(self) -> bool {
        matches!(self, Self::Down(_))
    }

    /// Whether the check could not be made.
    pub fn is_unknown(self) -> bool {
        matches!(self, Self::Unknown(_))
    }

    /// Why the service is down; `None` when it is up (with or without a warning) or unknown.
    pub fn failure(self) -> Option<FailureKind> {
        match self {
            Self::Down(kind) => Some(kind),
            _ => None,
        }
    }

    /// What the warning is about; `None` unless it is one.
    pub fn warning(self) -> Option<FailureKind> {
        match self {
            Self::Warning(kind) => Some(kind),
            _ => None,
        }
    }

    /// `up` (a warning too), `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up | Self::Warning(_) => "up",
            Self::Down(_) => "down",
            Self::Unknown(_) => "unknown",
        }
    }

    /// The word for why it is not up: the [`FailureKind`]'s, or `internal` for an unknown
    /// outcome (the `failure` of JSON output); `None` when up, with or without a warning.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Up | Self::Warning(_) => None,
            Self::Down(kind) => Some(kind.as_str()),
            Self::Unknown(_) => Some("internal"),
        }
    }

    /// Ok, warning or failed (down, or unknown: a check that could not be made is not ok).
    pub fn level(self) -> Level {
        match self {
            Self::Up => Level::Ok,
            Self::Warning(_) => Level::Warning,
            Self::Down(_) | Self::Unknown(_) => Level::Failed,
        }
    }
}

/// How a check came out, in three words: ok, warning, failed (the `state` of JSON output).
///
/// It is also the judge of a measure against two thresholds, one for a warning and one for a
/// failure ([`Level::of`]), which a check turns into its outcome ([`Level::outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Up, nothing to say.
    Ok,
    /// Up, but degraded.
    Warning,
    /// Down, or not checked.
    Failed,
}

impl Level {
    /// Where `value` stands: failed when it is past `failure`, else a warning when it is past
    /// `warning`, else ok; an absent threshold is never passed. `past(value, threshold)` says
    /// what past means for this measure (`>` for a latency, `<` for a certificate's days,
    /// `<=` for free space).
    ///
    /// ```
    /// use ops_health::Level;
    ///
    /// let latency = |ms: u64| Level::of(ms, Some(200), Some(1000), |v, t| v > t);
    /// assert_eq!([latency(150), latency(201), latency(1001)], [Level::Ok, Level::Warning, Level::Failed]);
    /// let free_gb = |gb: f64| Level::of(gb, Some(20.0), None, |v, t| v <= t);
    /// assert_eq!([free_gb(21.0), free_gb(20.0)], [Level::Ok, Level::Warning]);
    /// ```
    pub fn of<T: Copy>(
        value: T,
        warning: Option<T>,
        failure: Option<T>,
        past: impl Fn(T, T) -> bool,
    ) -> Self {
        if failure.is_some_and(|t| past(value, t)) {
            Self::Failed
        } else if warning.is_some_and(|t| past(value, t)) {
            Self::Warning
        } else {
            Self::Ok
        }
    }

    /// The outcome of a check at this level, `kind` naming the measure.
    pub fn outcome(self, kind: FailureKind) -> Outcome {
        match self {
            Self::Ok => Outcome::Up,
            Self::Warning => Outcome::Warning(kind),
            Self::Failed => Outcome::Down(kind),
        }
    }

    /// `ok`, `warning` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Failed => "failed",
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
    /// The system does not let agent-ops make this kind of check (no ICMP socket).
    Forbidden,
    /// A file of agent-ops' own that the check reads (a job's state file) could not be read or
    /// written.
    State,
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
    /// More echo requests went unanswered than a ping check allows.
    PacketLoss,
    /// A command check's plugin said CRITICAL (exit 2), or WARNING (exit 1) for a warning.
    Command,
    /// A command check's plugin could not judge the service: UNKNOWN (exit 3), another exit
    /// code, a signal, the deadline, or a program that cannot be run. Unlike
    /// [`Outcome::Unknown`] (agent-ops' own trouble), this is the check's verdict: the service
    /// is not known to be working, so it counts as down and alerts.
    Unknown,
    /// A job did not start within its schedule and grace.
    Late,
    /// A job's last run failed: a non-zero exit, a signal, its timeout, or no end.
    Failed,
    /// A job has been running (or its last run ran) longer than its maximum.
    TooLong,
    /// A job's last run succeeded faster than its minimum.
    TooShort,
    /// A job started again before its schedule allows.
    TooOften,
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
            Self::PacketLoss => "packet_loss",
            Self::Command => "command",
            Self::Unknown => "unknown",
            Self::Late => "late",
            Self::Failed => "failed",
            Self::TooLong => "too_long",
            Self::TooShort => "too_short",
            Self::TooOften => "too_often",
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
#[derive(Debug, Clone, PartialEq)]
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
    /// What the server answered, for DNS checks that got an answer.
    pub dns: Option<DnsAnswer>,
    /// Replies and round trips, for ping checks that sent a request.
    pub ping: Option<PingStats>,
    /// Each condition of a URL check with conditions, in order, and whether it held.
    pub conditions: Vec<ConditionResult>,
    /// A command check's performance data, in the order printed, each label once.
    pub perfdata: Vec<PerfValue>,
    /// What of a command's output was ignored, and why (bad performance data, output past the
    /// limit): for a warning beside the result, never a failure.
    pub perfdata_problems: Vec<String>,
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
            dns: None,
            ping: None,
            conditions: Vec::new(),
            perfdata: Vec::new(),
            perfdata_problems: Vec::new(),
        }
    }

    /// A result for a check that did not end up.
    pub(crate) fn failed(name: &str, check_type: CheckKind, failure: Failure) -> Self {
        Self::new(name, check_type, failure.outcome, failure.detail)
    }

    /// Records a later finding when it is worse (a warning over up, a failure over either),
    /// keeping the first of equally bad ones.
    #[cfg(feature = "tls")]
    pub(crate) fn worsen(&mut self, outcome: Outcome) {
        if outcome.level() > self.outcome.level() {
            self.outcome = outcome;
        }
    }
}

/// The Python kit's line: `[OK] Name - detail (12ms)` or `[FAIL] ...`; the detail and latency
/// parts are left out when empty or zero, exactly as the Python kit does. A warning is
/// `[WARN] ...`. An unknown outcome is a `[FAIL]` line too (scripts that look for `[FAIL]`, or
/// for lines that are not `[OK]`, must not miss a check that could not be made), whose detail
/// says it is agent-ops' trouble: `[FAIL] API - agent-ops could not run this check: too many
/// open files`.
impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.outcome.level() {
            Level::Ok => "OK",
            Level::Warning => "WARN",
            Level::Failed => "FAIL",
        };
        write!(f, "[{tag}] {}", self.name)?;
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
    /// A condition of a URL check that does not parse.
    #[error("invalid condition at character {position}: {reason}")]
    Condition {
        /// Where the problem is: a 1-based character index into the condition.
        position: usize,
        /// What is wrong.
        reason: String,
    },
    /// A value a check cannot use, by the name of its field (`record_type`, `server` ...).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
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
        let mut r = CheckResult::new(
            "API",
            CheckKind::Url,
            Outcome::Warning(FailureKind::Latency),
            "HTTP 200, slower than warn_latency_ms 200".into(),
        );
        r.latency_ms = 250;
        assert_eq!(r.to_string(), "[WARN] API - HTTP 200, slower than warn_latency_ms 200 (250ms)");
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
        // A warning is up: counted as up, never a failure, and says what it is about.
        let warning = Outcome::Warning(FailureKind::Disk);
        assert!(warning.is_up() && warning.is_warning() && !warning.is_down() && !warning.is_unknown());
        assert_eq!(
            (warning.as_str(), warning.reason(), warning.failure(), warning.warning()),
            ("up", None, None, Some(FailureKind::Disk))
        );
        let levels = [up, warning, down, unknown].map(|o| o.level().as_str());
        assert_eq!(levels, ["ok", "warning", "failed", "failed"]);
        assert!(!up.is_warning() && up.warning().is_none() && down.warning().is_none());
    }

    #[test]
    fn levels_judge_a_measure_against_two_thresholds() {
        let free = |gb: f64| Level::of(gb, Some(20.0), Some(5.0), |v, t| v <= t);
        assert_eq!(
            [free(30.0), free(20.0), free(5.0), free(0.0)],
            [Level::Ok, Level::Warning, Level::Failed, Level::Failed]
        );
        // A warning threshold past the failure one is reached by failures first.
        let odd = |gb: f64| Level::of(gb, Some(5.0), Some(20.0), |v, t| v <= t);
        assert_eq!([odd(30.0), odd(10.0), odd(1.0)], [Level::Ok, Level::Failed, Level::Failed]);
        assert_eq!(Level::of(1, None, None, |v, t| v > t), Level::Ok);
        assert_eq!(Level::Warning.outcome(FailureKind::Latency), Outcome::Warning(FailureKind::Latency));
        assert_eq!(Level::Failed.outcome(FailureKind::Latency), Outcome::Down(FailureKind::Latency));
        assert_eq!(Level::Ok.outcome(FailureKind::Latency), Outcome::Up);
    }

    #[test]
    #[cfg(feature = "tls")]
    fn a_later_finding_never_hides_the_first() {
        let mut r = CheckResult::new("API", CheckKind::Url, Outcome::Up, "HTTP 200".into());
        r.worsen(Outcome::Warning(FailureKind::Latency));
        r.worsen(Outcome::Up);
        r.worsen(Outcome::Warning(FailureKind::Tls));
        assert_eq!(r.outcome, Outcome::Warning(FailureKind::Latency), "a warning over up, the first kept");
        r.worsen(Outcome::Down(FailureKind::Tls));
        r.worsen(Outcome::Down(FailureKind::Timeout));
        r.worsen(Outcome::Warning(FailureKind::Latency));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls));
    }

    #[test]
    fn check_kinds_round_trip_through_their_words() {
        for kind in CheckKind::ALL {
            assert_eq!(kind.as_str().parse::<CheckKind>(), Ok(*kind));
        }
        let e = "icmp".parse::<CheckKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown check type \"icmp\" (known: url, port, process, disk, tls, dns, ping, command, job)"
        );
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(secs(Duration::from_secs(2)), "2s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5s");
    }
}
