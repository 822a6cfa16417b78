//! Jobs in the engine: the `job` check (a probe whose verdict is ops-jobs'), the metrics line
//! of a run, and the core of HTTP pings (`POST /ping/TOKEN[/start|/fail|/CODE]`), which the
//! daemon's HTTP server calls.

use std::path::Path;
use std::time::Duration;

use ops_health::{CheckKind, ExternalCheck, FailureKind, Outcome};
use ops_jobs::jiff::Timestamp;
use ops_jobs::{Finding, JobName, Jobs, Ping, PingResult, RunRecord, Status};
use ops_metrics::{MetricRecord, Status as MetricStatus};
use time::OffsetDateTime;

use crate::config::JobService;
use crate::{Config, Layout};

/// The failure kind of a finding: the words live in ops-health, the verdict in ops-jobs.
pub fn failure_kind(finding: Finding) -> FailureKind {
    match finding {
        Finding::Late => FailureKind::Late,
        Finding::Failed => FailureKind::Failed,
        Finding::TooLong => FailureKind::TooLong,
        Finding::TooShort => FailureKind::TooShort,
        Finding::TooOften => FailureKind::TooOften,
    }
}

/// The check of a `job` service: the verdict of ops-jobs on the job's state file in `dir`
/// (`state/jobs/`; `None` when there is no agent-ops directory) now; the file is only read. A state file that cannot
/// be read or written is agent-ops' trouble: unknown, never down.
pub(crate) fn external_check(dir: Option<&Path>, service: &JobService) -> ExternalCheck {
    let jobs = dir.map(Jobs::new);
    let (name, watch, since) = (service.name.clone(), service.watch.clone(), service.expected_since);
    ExternalCheck::new(CheckKind::Job, move || {
        let Some(jobs) = &jobs else {
            return Err("cannot find the agent-ops directory (set HOME or AGENT_OPS_HOME)".into());
        };
        let verdict = jobs.judge(&name, &watch, Timestamp::now(), since).map_err(|e| e.to_string())?;
        let outcome = verdict.finding.map_or(Outcome::Up, |f| Outcome::Down(failure_kind(f)));
        Ok((outcome, verdict.detail))
    })
}

/// The name a job's runs have in the metrics: `job:NAME`, beside the `job` service's own checks
/// (so `uptime-report` shows a job's runs, their success and their durations as latency).
pub fn metric_name(job: &JobName) -> String {
    format!("job:{job}")
}

/// The metrics line of a run that ended: up for a success, down otherwise, its duration as the
/// latency; `None` for a run still running.
pub fn metric_record(job: &JobName, run: &RunRecord) -> Option<MetricRecord> {
    let status = match run.status {
        Status::Running => return None,
        Status::Ok => MetricStatus::Up,
        Status::Failed | Status::Lost => MetricStatus::Down,
    };
    let ended = run.ended.unwrap_or(run.started);
    let timestamp = OffsetDateTime::from_unix_timestamp_nanos(ended.as_nanosecond())
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let detail = match run.duration() {
        Some(d) => format!("{} after {}", run.result_words(), ops_jobs::human(d)),
        None => run.result_words(),
    };
    Some(MetricRecord {
        name: metric_name(job),
        status,
        detail,
        latency_ms: run.duration().map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        timestamp,
        warning: false,
        perfdata: Vec::new(),
    })
}

/// The `job` services of a configuration.
pub fn services(config: &Config) -> impl Iterator<Item = (&str, &JobService)> {
    config.services.iter().filter_map(|s| Some((s.name.as_str(), s.job.as_ref()?)))
}

/// How long an HTTP ping waits for its job's state-file lock: less than the daemon server's
/// write deadline (ops-serve's `write_timeout`, 10 s), so that a lock another process holds is
/// a 500 its client receives, and the one ping worker is held that long at most, not
/// [`ops_state::DEFAULT_LOCK_TIMEOUT`] (30 s) for each ping queued behind it.
pub const PING_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an HTTP ping was not recorded. No message holds the token.
#[derive(Debug, thiserror::Error)]
pub enum HttpPingError {
    /// No `job` service has this token, or the path is not `TOKEN[/start|/fail|/CODE]`: the
    /// route answers 404 (a wrong token and a wrong path look the same to a guesser).
    #[error("no job has this ping token, or the path is not /ping/TOKEN[/start|/fail|/CODE]")]
    NotFound,
    /// The ping could not be recorded (the route answers 500); names the file, never the token.
    #[error("cannot record the ping of job {job}: {source}")]
    State {
        /// The job.
        job: JobName,
        /// What went wrong.
        source: ops_jobs::JobError,
    },
}

/// An HTTP ping that was recorded.
#[derive(Debug, Clone)]
pub struct HttpPinged {
    /// The `job` service whose token it was.
    pub service: String,
    /// The job.
    pub job: JobName,
    /// The run as recorded.
    pub run: RunRecord,
}

/// The core of `POST /ping/TOKEN[/start|/fail|/CODE]`: `rest` is the path after `/ping/`,
/// `body` the request's body (its first 2 KiB are the run's message, as `job ping --message`).
/// The token is compared with every `job` service's `ping_token` in constant time; the ping is
/// recorded as `job ping` records it (and an end gets its metrics line), at `now`, waiting for
/// the job's state-file lock up to [`PING_LOCK_TIMEOUT`].
///
/// The route must not log or echo the path: it holds the secret ([`redact_ping_path`] gives
/// what may be logged).
pub fn http_ping(
    config: &Config,
    layout: &Layout,
    rest: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<HttpPinged, HttpPingError> {
    let (token, event) = rest.split_once('/').unwrap_or((rest, ""));
    let ping = match event {
        "" => Ping::End(PingResult::Ok),
        "start" => Ping::Start,
        "fail" => Ping::End(PingResult::Fail),
        // An exit status, written as a number is (`3`; not `+3` or `03`).
        code => match code.parse::<u8>() {
            Ok(c) if c.to_string() == code => Ping::End(PingResult::Exit(i32::from(c))),
            _ => return Err(HttpPingError::NotFound),
        },
    };
    // Every token is compared, whatever matched first: the time taken says nothing of which.
    let mut found = None;
    for (service, job) in services(config) {
        if let Some(secret) = &job.ping_token
            && constant_time_eq(secret.expose().as_bytes(), token.as_bytes())
        {
            found = found.or(Some((service, job)));
        }
    }
    let (service, job) = found.ok_or(HttpPingError::NotFound)?;
    let text = String::from_utf8_lossy(&body[..body.len().min(ops_jobs::OUTPUT_KEPT)]).into_owned();
    let message = (!text.trim().is_empty()).then_some(text);
    let jobs = Jobs::new(layout.jobs()).with_lock_timeout(PING_LOCK_TIMEOUT);
    let run = jobs
        .ping(&job.name, ping, message.as_deref(), now)
        .map_err(|source| HttpPingError::State { job: job.name.clone(), source })?;
    if let Some(record) = metric_record(&job.name, &run) {
        // The ping is recorded; a metrics line that cannot be written is not its failure.
        let _ = ops_metrics::append(&layout.metrics, &[record]);
    }
    Ok(HttpPinged { service: service.to_owned(), job: job.name.clone(), run })
}

/// `path` with the token of a `/ping/TOKEN...` path replaced by `[redacted]`, for a log line.
/// `path` is as the request wrote it: a first segment that percent-decodes to `ping`
/// (`/%70ing/TOKEN`) is a ping too, as the server decodes a path before it routes it.
pub fn redact_ping_path(path: &str) -> String {
    let Some((first, rest)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return path.to_owned();
    };
    if !is_ping_segment(first) {
        return path.to_owned();
    }
    match rest.split_once('/') {
        Some((_, event)) => format!("/ping/[redacted]/{event}"),
        None => "/ping/[redacted]".to_owned(),
    }
}

/// Whether a raw path segment percent-decodes to `ping`.
fn is_ping_segment(segment: &str) -> bool {
    let (mut decoded, mut bytes) = (Vec::with_capacity(4), segment.bytes());
    while let Some(b) = bytes.next() {
        if decoded.len() == 4 {
            return false;
        }
        decoded.push(if b == b'%' {
            let hex = |b: Option<u8>| char::from(b.unwrap_or(b'x')).to_digit(16);
            match (hex(bytes.next()), hex(bytes.next())) {
                (Some(hi), Some(lo)) => u8::try_from(hi * 16 + lo).unwrap_or(0),
                _ => return false,
            }
        } else {
            b
        });
    }
    decoded == b"ping"
}

/// Equal bytes, in a time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_paths_are_redacted_and_tokens_compared_whole() {
        assert_eq!(redact_ping_path("/ping/s3cr3t-t0ken-abcdefgh/start"), "/ping/[redacted]/start");
        assert_eq!(redact_ping_path("/ping/s3cr3t-t0ken-abcdefgh"), "/ping/[redacted]");
        assert_eq!(redact_ping_path("/status"), "/status");
        // The server decodes the path before it routes: an escaped `/ping/` is a ping too.
        for escaped in [
            "/%70ing/s3cr3t-t0ken-abcdefgh",
            "/p%69ng/s3cr3t-t0ken-abcdefgh",
            "/%70%69%6E%67/s3cr3t-t0ken-abcdefgh",
        ] {
            assert_eq!(redact_ping_path(escaped), "/ping/[redacted]", "{escaped}");
        }
        assert_eq!(redact_ping_path("/%70ing/s3cr3t-t0ken-abcdefgh/fail"), "/ping/[redacted]/fail");
        assert_eq!(redact_ping_path("/pingX/a"), "/pingX/a");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(
            !constant_time_eq(b"abc", b"abd")
                && !constant_time_eq(b"abc", b"ab")
                && !constant_time_eq(b"ab", b"abc")
        );
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn a_ping_gives_up_on_a_held_lock_before_its_client_is_closed() {
        assert!(PING_LOCK_TIMEOUT < ops_serve::Options::default().write_timeout);
    }
}
