//! URL checks over ureq (blocking, rustls).

use std::io::Read as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::http::Uri;

use crate::net::io_failure;
use crate::{CheckResult, FailureKind, UrlCheck, millis, secs, tls};

/// How much of a body `body_contains` searches.
const BODY_LIMIT: u64 = 1 << 20;

/// One agent for the process: statuses are values, not errors, and connections are never
/// pooled, so each check opens its own connection like a first-time visitor.
fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // A health check reads a status line, headers and at most BODY_LIMIT of body:
            // ureq's 128 KiB buffers per connection cost page faults for nothing.
            .input_buffer_size(64 * 1024)
            .output_buffer_size(16 * 1024)
            .user_agent(concat!("AgentOpsKit/1.0 agent-ops/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
}

/// The URL check. Details follow the seed: `HTTP 200`, `HTTP 201 (expected 200)`, and for
/// 4xx/5xx that were not expected just `HTTP 503`.
pub(crate) fn check_url(name: &str, check: &UrlCheck) -> CheckResult {
    let start = Instant::now();
    let follow = !(300..400).contains(&check.expected_status);
    let response = agent()
        .get(&check.url)
        .config()
        .timeout_global(Some(check.timeout))
        .max_redirects(if follow { 10 } else { 0 })
        .build()
        .call();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            let (kind, detail) = classify(&e, check.timeout);
            let mut result = CheckResult::new(name, "url", Some(kind), detail);
            result.latency_ms = millis(start.elapsed());
            add_cert_check(&mut result, check, start.elapsed());
            return result;
        }
    };
    let status = response.status().as_u16();
    let mut failure = None;
    let mut detail = if status == check.expected_status {
        format!("HTTP {status}")
    } else {
        failure = Some(FailureKind::HttpStatus);
        if status >= 400 {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} (expected {})", check.expected_status)
        }
    };
    if let (None, Some(needle)) = (failure, &check.body_contains) {
        let mut body = Vec::new();
        match response.body_mut().as_reader().take(BODY_LIMIT).read_to_end(&mut body) {
            Ok(_) if String::from_utf8_lossy(&body).contains(needle.as_str()) => {}
            Ok(_) => {
                failure = Some(FailureKind::Content);
                detail = format!("{detail}, body does not contain {needle:?}");
            }
            Err(e) => {
                let f = io_failure(&e, check.timeout);
                failure = Some(f.kind);
                detail = format!("{detail}, reading body: {}", f.detail);
            }
        }
    }
    let elapsed = start.elapsed();
    drop(response);
    if let (None, Some(max)) = (failure, check.max_latency)
        && elapsed > max
    {
        failure = Some(FailureKind::Latency);
        detail = format!("{detail}, slower than max_latency_ms {}", max.as_millis());
    }
    let mut result = CheckResult::new(name, "url", failure, detail);
    result.http_status = Some(status);
    result.latency_ms = millis(elapsed);
    add_cert_check(&mut result, check, elapsed);
    result
}

/// For https URLs with `cert_warning_days`: the certificate's expiry too, even when the
/// request itself failed (an untrusted or expired certificate still has a date to report).
fn add_cert_check(result: &mut CheckResult, check: &UrlCheck, elapsed: Duration) {
    if let Some(days) = check.cert_warning_days
        && let Ok(uri) = check.url.parse::<Uri>()
        && uri.scheme_str() == Some("https")
        && let Some(host) = uri.host()
    {
        let left = check.timeout.saturating_sub(elapsed).max(Duration::from_millis(100));
        tls::add_cert_check(result, host, uri.port_u16().unwrap_or(443), days, left);
    }
}

fn classify(e: &ureq::Error, timeout: Duration) -> (FailureKind, String) {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => (FailureKind::Timeout, format!("timed out after {}", secs(timeout))),
        E::HostNotFound => (FailureKind::Dns, "cannot resolve host".into()),
        E::ConnectionFailed => (FailureKind::Connect, "connection failed".into()),
        E::Io(io) => {
            let f = io_failure(io, timeout);
            (f.kind, f.detail)
        }
        E::Tls(msg) => (FailureKind::Tls, format!("tls: {msg}")),
        E::Rustls(err) => (FailureKind::Tls, format!("tls: {err}")),
        E::TooManyRedirects => (FailureKind::HttpStatus, "too many redirects".into()),
        E::RedirectFailed => (FailureKind::HttpStatus, "redirect failed".into()),
        E::BadUri(_) | E::Http(_) => (FailureKind::Protocol, "invalid URL".into()),
        other => (FailureKind::Protocol, truncate(&other.to_string(), 100)),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
