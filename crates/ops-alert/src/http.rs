//! JSON POSTs over ureq with bounded retries, and transport errors described in our own words
//! (ureq's error text can contain the URL, and the URL can contain a secret).

use std::io::Read as _;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use ureq::Agent;

use crate::{AlertError, Failure, Problem, Secret, Setting};

/// How hard a notifier tries before it gives up and the alert waits in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per message at most, counting the first (429, 5xx, timeouts and connection
    /// errors are retried; permanent errors are not).
    pub attempts: u32,
    /// How long one request may take, connection included.
    pub request_timeout: Duration,
    /// The wait before the second attempt; doubled before each further one.
    pub backoff: Duration,
    /// The longest flood-control wait (`retry_after`) waited out in a run; a longer one leaves
    /// the alert queued, and the outbox remembers it for later runs.
    pub max_retry_after: Duration,
    /// No new attempt starts after this long since the first one.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts of 10 s each (the Python kit's timeout), 0.5 s then 1 s apart, flood waits up to
    /// 30 s, nothing started after 60 s.
    fn default() -> Self {
        Self {
            attempts: 3,
            request_timeout: Duration::from_secs(10),
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
        }
    }
}

/// The most of an answer's body that is read: a Bot API answer to `sendMessage` echoes the
/// message and its entities, which fit many times over. Past it, reading stops (the answer
/// still counts: only its status decides).
pub(crate) const BODY_LIMIT: u64 = 64 * 1024;

/// An HTTP answer, whatever its status.
pub(crate) struct Answer {
    pub status: u16,
    /// At most [`BODY_LIMIT`] bytes of the body, as lossy UTF-8: what arrived before its end,
    /// the limit, an error or the request's deadline, whichever came first.
    pub body: String,
    /// The `Retry-After` header in seconds, when it is a number.
    pub retry_after: Option<f64>,
}

/// A request that got no answer, described without any URL.
pub(crate) struct TransportError {
    pub problem: Problem,
    pub detail: String,
}

/// What one attempt concluded.
pub(crate) enum Step<T> {
    /// Done.
    Done(T),
    /// Try again after `wait` (`None`: give up now, but the problem is not permanent).
    Retry { problem: Problem, reason: String, wait: Option<Duration> },
    /// Flood control: no request before `after` (see [`flood_after`]). Waited out within the
    /// policy's `max_retry_after`; otherwise the failure carries it for the outbox to remember.
    Flood { reason: String, after: Duration },
    /// Give up: retrying cannot help.
    Fail { problem: Problem, reason: String },
    /// Try again at once without counting an attempt (a changed request: plain text, new chat).
    Again,
}

/// One blocking client per notifier: statuses are values, redirects are not followed (a POST
/// must not silently become a GET elsewhere).
pub(crate) fn agent(proxy: Option<&Secret>) -> Result<Agent, AlertError> {
    // A proxy only when the caller gives one: ureq would otherwise read HTTP_PROXY and friends
    // itself, and this crate never reads the environment.
    let proxy = match proxy {
        Some(url) => Some(ureq::Proxy::new(url.expose()).map_err(|_| AlertError::Invalid {
            field: Setting::Proxy,
            message: "must be a URL like http://proxy.example:3128".into(),
        })?),
        None => None,
    };
    Ok(Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(proxy)
        .user_agent(concat!("agent-ops/", env!("CARGO_PKG_VERSION")))
        .build()
        .into())
}

/// POSTs `body` as JSON. Once the status line is in, the answer is an [`Answer`], whatever
/// happens to its body: the body of a 2xx is read only when `success_body` asks for it, and
/// any body only up to [`BODY_LIMIT`] and the request's deadline.
pub(crate) fn post_json(
    agent: &Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
    timeout: Duration,
    success_body: bool,
) -> Result<Answer, TransportError> {
    let mut request = agent.post(url).config().timeout_global(Some(timeout)).build();
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = request
        .header("Content-Type", "application/json")
        .send(&bytes[..])
        .map_err(|e| transport_error(&e, timeout))?;
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry_after_seconds);
    let body = if success_body || !(200..300).contains(&status) {
        read_some(response.body_mut())
    } else {
        String::new()
    };
    Ok(Answer { status, body, retry_after })
}

/// Up to [`BODY_LIMIT`] bytes of `body`: a read error (a timeout at the request's deadline, a
/// connection closed early) ends it, keeping what arrived. Dropping the response afterwards
/// closes the connection, so an endless body is never drained.
fn read_some(body: &mut ureq::Body) -> String {
    let mut bytes = Vec::new();
    let _ = body.with_config().reader().take(BODY_LIMIT).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A `Retry-After` header's seconds: a finite, non-negative number, or an HTTP date (the
/// seconds until then by the system's clock, 0 when it has passed); `None` for anything else.
pub(crate) fn retry_after_seconds(header: &str) -> Option<f64> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<f64>() {
        return Some(seconds).filter(|s| s.is_finite() && *s >= 0.0);
    }
    let date = OffsetDateTime::parse(header, &Rfc2822).ok()?;
    Some((date - OffsetDateTime::now_utc()).as_seconds_f64().max(0.0))
}

/// ureq's error as a problem and words of our own. Only variants whose text we know carries
/// no URL are shown; the caller redacts secrets from the result anyway.
fn transport_error(e: &ureq::Error, timeout: Duration) -> TransportError {
    use ureq::Error as E;
    let (problem, detail) = match e {
        E::Timeout(_) => (Problem::Timeout, format!("no answer within {}", seconds(timeout))),
        E::HostNotFound => (Problem::Connection, "cannot resolve the host name".to_owned()),
        E::ConnectionFailed => (Problem::Connection, "connection failed".to_owned()),
        E::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            (Problem::Timeout, format!("no answer within {}", seconds(timeout)))
        }
        E::Io(io) => (Problem::Connection, io_words(io)),
        E::Tls(msg) => (Problem::Connection, format!("tls: {msg}")),
        E::Rustls(err) => (Problem::Connection, format!("tls: {err}")),
        E::BadUri(_) | E::Http(_) => (Problem::Rejected, "the URL is not valid".to_owned()),
        E::Protocol(_) => (Problem::Protocol, "the server's answer is not valid HTTP".to_owned()),
        E::LargeResponseHeader(..) => {
            (Problem::Protocol, "the server's answer headers are too large".to_owned())
        }
        _ => (Problem::Connection, "request failed".to_owned()),
    };
    TransportError { problem, detail }
}

/// An I/O error's kind in words, without the OS text (which never holds a URL, but words of
/// our own read better than "os error 111").
fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset => "connection reset by the server".to_owned(),
        K::ConnectionAborted => "connection aborted".to_owned(),
        K::UnexpectedEof => "the server closed the connection without answering".to_owned(),
        K::BrokenPipe => "the server closed the connection".to_owned(),
        K::AddrNotAvailable | K::NetworkUnreachable | K::HostUnreachable => "network unreachable".to_owned(),
        K::PermissionDenied => "permission denied".to_owned(),
        other => format!("connection error: {other}").to_lowercase(),
    }
}

/// `10 s`, `0.5 s`.
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{s:.0} s") } else { format!("{s} s") }
}

/// `3600 s`: whole seconds, rounded up (a wait is never shown shorter than it is).
pub(crate) fn seconds_up(d: Duration) -> String {
    format!("{} s", d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// Runs `attempt` until it is done, fails for good, or `policy` says stop. Each call gets the
/// 1-based attempt number. The returned failure's reason says how many attempts were made.
pub(crate) fn with_retries<T>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut(u32) -> Step<T>,
) -> Result<(T, u32), Failure> {
    let start = Instant::now();
    let mut made = 0u32;
    loop {
        made += 1;
        let (problem, reason, wait, retry_after) = match attempt(made) {
            Step::Done(value) => return Ok((value, made)),
            Step::Again => {
                made -= 1;
                continue;
            }
            Step::Fail { problem, reason } => return Err(Failure::new(problem, reason, made)),
            Step::Retry { problem, reason, wait } => (problem, reason, wait, None),
            Step::Flood { reason, after } => {
                let wait = Some(after).filter(|w| *w <= policy.max_retry_after);
                (Problem::FloodControl, reason, wait, Some(after))
            }
        };
        let give_up =
            |reason: String| Failure { problem, reason, attempts: made, parts_sent: 0, retry_after };
        let Some(wait) = wait else { return Err(give_up(reason)) };
        let out_of_time = start.elapsed() + wait >= policy.deadline;
        if made >= policy.attempts || out_of_time {
            let tries = if made == 1 { "1 attempt".to_owned() } else { format!("{made} attempts") };
            return Err(give_up(format!("{reason} ({tries})")));
        }
        thread::sleep(wait);
    }
}

/// The step after a transport error: a try again after the backoff, unless the error is
/// permanent (a URL that is not valid), when retrying cannot help, or the server did answer
/// but not in HTTP we can read: it took the request, maybe delivered it, and would answer the
/// same way again, so it is not asked again in this run.
pub(crate) fn transport_step<T>(
    e: &TransportError,
    policy: &RetryPolicy,
    attempt: u32,
    who: &str,
) -> Step<T> {
    let reason = format!("{who}: {}", e.detail);
    match e.problem {
        p if p.is_permanent() => Step::Fail { problem: p, reason },
        Problem::Protocol => Step::Retry { problem: Problem::Protocol, reason, wait: None },
        p => Step::Retry { problem: p, reason, wait: Some(backoff_for(policy, attempt)) },
    }
}

/// The longest flood-control wait taken from a server: a longer `retry_after` (a hostile or
/// broken server's `1e300`) is taken as this, so that no answer stops a destination for ever.
pub(crate) const MAX_FLOOD_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The wait a 429 asked for: `asked` seconds when it is a finite number, not negative, at most
/// [`MAX_FLOOD_WAIT`]; 1 s when it asked for nothing usable.
pub(crate) fn flood_after(asked: Option<f64>) -> Duration {
    let asked = asked.filter(|s| s.is_finite() && *s >= 0.0).unwrap_or(1.0);
    Duration::try_from_secs_f64(asked).map_or(MAX_FLOOD_WAIT, |d| d.min(MAX_FLOOD_WAIT))
}

/// The wait before the next attempt after a transient failure: the backoff of this attempt.
pub(crate) fn backoff_for(policy: &RetryPolicy, attempt: u32) -> Duration {
    policy.backoff.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> RetryPolicy {
        RetryPolicy { backoff: Duration::from_millis(1), ..RetryPolicy::default() }
    }

    #[test]
    fn retries_transient_problems_up_to_the_attempt_limit() {
        let mut calls = 0;
        let err = with_retries::<()>(&quick(), |n| {
            calls += 1;
            Step::Retry {
                problem: Problem::ServerError,
                reason: "HTTP 500".into(),
                wait: Some(backoff_for(&quick(), n)),
            }
        })
        .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(
            (err.problem, err.reason.as_str(), err.attempts),
            (Problem::ServerError, "HTTP 500 (3 attempts)", 3)
        );
    }

    #[test]
    fn permanent_problems_are_not_retried_and_again_is_free() {
        let mut calls = 0;
        let err = with_retries::<()>(&quick(), |_| {
            calls += 1;
            if calls == 1 {
                Step::Again
            } else {
                Step::Fail { problem: Problem::Unauthorized, reason: "401".into() }
            }
        })
        .unwrap_err();
        assert_eq!((calls, err.attempts), (2, 1));
    }

    #[test]
    fn a_wait_past_the_deadline_is_not_taken() {
        let policy = RetryPolicy { deadline: Duration::from_secs(5), ..quick() };
        let err = with_retries::<()>(&policy, |_| Step::Retry {
            problem: Problem::FloodControl,
            reason: "flood".into(),
            wait: Some(Duration::from_secs(10)),
        })
        .unwrap_err();
        assert_eq!((err.attempts, err.reason.as_str()), (1, "flood (1 attempt)"));
        let ok = with_retries(&policy, |n| {
            if n < 2 {
                Step::Retry { problem: Problem::Timeout, reason: String::new(), wait: Some(Duration::ZERO) }
            } else {
                Step::Done(n)
            }
        });
        assert_eq!(ok.unwrap(), (2, 2));
    }

    #[test]
    fn backoff_doubles() {
        let p = RetryPolicy::default();
        assert_eq!(
            [backoff_for(&p, 1), backoff_for(&p, 2), backoff_for(&p, 3)].map(|d| d.as_millis()),
            [500, 1000, 2000]
        );
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
    }
}
