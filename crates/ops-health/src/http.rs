//! URL checks over ureq (blocking; rustls with the `tls` feature), with names resolved by
//! [`crate::dns`] and no proxy unless the check has one.

use std::fmt;
use std::io::{self, Read as _};
use std::sync::OnceLock;
use std::time::Instant;

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::deadline::{Deadline, FOREVER};
use crate::net::{io_failure, timed_out};
use crate::{
    CheckKind, CheckResult, Failure, FailureKind, HealthError, Outcome, Unchecked, UrlCheck, dns, millis,
};

/// How much of a body `body_contains` searches.
const BODY_LIMIT: u64 = 1 << 20;

/// The largest response head (status line and headers) read: a health endpoint's is a few
/// hundred bytes, and a hanging check holds its buffer (ureq's default is 128 KiB).
const HEAD_LIMIT: usize = 16 * 1024;

/// An HTTP proxy for URL checks: `http://[user:password@]host[:port]` (and `https://` with
/// the `tls` feature). Its `Debug` shows no credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy(ureq::Proxy);

impl Proxy {
    /// Parses a proxy URL. The error never repeats the URL (it may hold a password).
    pub fn new(url: &str) -> Result<Self, HealthError> {
        let invalid = |reason: &str| HealthError::Proxy { reason: reason.to_owned() };
        let scheme_ok = url.starts_with("http://") || cfg!(feature = "tls") && url.starts_with("https://");
        if !scheme_ok {
            return Err(invalid(if cfg!(feature = "tls") {
                "must be an http:// or https:// URL (socks proxies are not supported)"
            } else {
                "must be an http:// URL (socks proxies are not supported; https:// needs the tls feature)"
            }));
        }
        let proxy =
            ureq::Proxy::new(url).map_err(|_| invalid("must be a URL like http://proxy.example:3128"))?;
        if proxy.host().is_empty() {
            return Err(invalid("must name a host, like http://proxy.example:3128"));
        }
        Ok(Self(proxy))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.0.protocol() == ureq::ProxyProtocol::Https { "https" } else { "http" };
        write!(f, "Proxy({scheme}://{}:{})", self.0.host(), self.0.port())
    }
}

/// ureq's name resolution, through the bounded lookup threads of [`crate::dns`].
#[derive(Debug)]
struct BoundedResolver;

impl Resolver for BoundedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(format!("{uri} has no host or no known scheme"));
        let authority = uri.authority().ok_or_else(bad)?;
        let port = match (authority.port_u16(), uri.scheme_str()) {
            (Some(port), _) => port,
            (None, Some("http")) => 80,
            (None, Some("https")) => 443,
            _ => return Err(bad()),
        };
        let deadline = Deadline::after((*timeout.after).min(FOREVER));
        let addrs = dns::resolve(authority.host(), port, deadline).map_err(|f| match f.outcome {
            Outcome::Down(FailureKind::Dns) => ureq::Error::HostNotFound,
            _ => ureq::Error::Io(io::Error::other(f)),
        })?;
        let mut out = self.empty();
        // ureq keeps at most 16 addresses, as its own resolver does.
        for addr in addrs.into_iter().take(16) {
            out.push(addr);
        }
        Ok(out)
    }
}

/// One agent for the process: statuses are values, not errors, connections are never
/// pooled (each check opens its own, like a first-time visitor), and no proxy unless a
/// check names one (ureq's default would read `HTTP_PROXY` and friends).
fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .proxy(None)
            // A health check reads a status line, headers and at most BODY_LIMIT of body, and
            // sends a GET: ureq's 128 KiB buffers would cost 500 hanging checks 125 MiB. The
            // input buffer is one byte more than a head may be, so a longer one is an error
            // that says so (not "no progress").
            .max_response_header_size(HEAD_LIMIT)
            .input_buffer_size(HEAD_LIMIT + 1)
            .output_buffer_size(8 * 1024)
            .user_agent(concat!("AgentOpsKit/1.0 agent-ops/", env!("CARGO_PKG_VERSION")))
            .build();
        Agent::with_parts(config, DefaultConnector::default(), BoundedResolver)
    })
}

/// The URL check. Details follow the Python kit: `HTTP 200`, `HTTP 201 (expected 200)`, and for
/// 4xx/5xx that were not expected just `HTTP 503`. One deadline covers the request, the
/// body and the certificate probe.
pub(crate) fn check_url(name: &str, check: &UrlCheck) -> CheckResult {
    let start = Instant::now();
    let deadline = Deadline::after(check.timeout);
    if !cfg!(feature = "tls") && check.url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
        return CheckResult::failed(name, CheckKind::Url, no_tls());
    }
    let follow = !(300..400).contains(&check.expected_status);
    let response = agent()
        .get(&check.url)
        .config()
        .timeout_global(Some(deadline.left()))
        .max_redirects(if follow { 10 } else { 0 })
        .proxy(check.proxy.as_ref().map(|p| p.0.clone()))
        .build()
        .call();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            let mut result = CheckResult::failed(name, CheckKind::Url, classify(&e, deadline));
            result.latency_ms = millis(start.elapsed());
            add_cert_check(&mut result, check, deadline);
            return result;
        }
    };
    let status = response.status().as_u16();
    let mut outcome = Outcome::Up;
    let mut detail = if status == check.expected_status {
        format!("HTTP {status}")
    } else {
        outcome = Outcome::Down(FailureKind::HttpStatus);
        if status >= 400 {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} (expected {})", check.expected_status)
        }
    };
    if let (Outcome::Up, Some(needle)) = (outcome, &check.body_contains) {
        let mut body = Vec::new();
        match response.body_mut().as_reader().take(BODY_LIMIT).read_to_end(&mut body) {
            Ok(_) if String::from_utf8_lossy(&body).contains(needle.as_str()) => {}
            Ok(_) => {
                outcome = Outcome::Down(FailureKind::Content);
                detail = format!("{detail}, body does not contain {needle:?}");
            }
            Err(e) => {
                let f = body_failure(&e, deadline);
                outcome = f.outcome;
                detail = format!("{detail}, reading body: {}", f.detail);
            }
        }
    }
    let elapsed = start.elapsed();
    drop(response);
    if let (Outcome::Up, Some(max)) = (outcome, check.max_latency)
        && elapsed > max
    {
        outcome = Outcome::Down(FailureKind::Latency);
        detail = format!("{detail}, slower than max_latency_ms {}", max.as_millis());
    }
    let mut result = CheckResult::new(name, CheckKind::Url, outcome, detail);
    result.http_status = Some(status);
    result.latency_ms = millis(elapsed);
    add_cert_check(&mut result, check, deadline);
    result
}

/// ureq's body reader reports its errors as `io::Error`s wrapping a `ureq::Error`.
fn body_failure(e: &io::Error, deadline: Deadline) -> Failure {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()) {
        Some(inner) => classify(inner, deadline),
        None => io_failure(e, deadline),
    }
}

/// For https URLs with `cert_warning_days`: the certificate's expiry too, even when the
/// request itself failed (an untrusted or expired certificate still has a date to report),
/// in what is left of the check's deadline.
#[cfg(feature = "tls")]
fn add_cert_check(result: &mut CheckResult, check: &UrlCheck, deadline: Deadline) {
    if let Some(days) = check.cert_warning_days
        && let Ok(uri) = check.url.parse::<Uri>()
        && uri.scheme_str() == Some("https")
        && let Some(host) = uri.host()
    {
        crate::tls::add_cert_check(result, host, uri.port_u16().unwrap_or(443), days, deadline);
    }
}

#[cfg(not(feature = "tls"))]
fn add_cert_check(_: &mut CheckResult, _: &UrlCheck, _: Deadline) {}

/// An https URL in a build without TLS.
fn no_tls() -> Failure {
    Failure::unchecked(Unchecked::Unsupported, "https needs agent-ops built with the `tls` feature")
}

fn classify(e: &ureq::Error, deadline: Deadline) -> Failure {
    use ureq::Error as E;
    let down = |kind, detail: String| Failure::down(kind, detail);
    match e {
        E::Timeout(_) => timed_out(deadline),
        E::HostNotFound => down(FailureKind::Dns, "cannot resolve host".into()),
        E::ConnectionFailed => down(FailureKind::Connect, "connection failed".into()),
        E::Io(io) => io_failure(io, deadline),
        E::Tls(msg) => down(FailureKind::Tls, format!("tls: {msg}")),
        #[cfg(feature = "tls")]
        E::Rustls(err) => down(FailureKind::Tls, format!("tls: {err}")),
        E::TlsRequired => no_tls(),
        E::TooManyRedirects => down(FailureKind::HttpStatus, "too many redirects".into()),
        E::RedirectFailed => down(FailureKind::HttpStatus, "redirect failed".into()),
        E::BadUri(_) | E::Http(_) => down(FailureKind::Protocol, "invalid URL".into()),
        E::LargeResponseHeader(..) => {
            down(FailureKind::Protocol, format!("response head larger than {} KiB", HEAD_LIMIT / 1024))
        }
        other => down(FailureKind::Protocol, truncate(&other.to_string(), 100)),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_parsed_up_front_and_never_echoed() {
        let p = Proxy::new("http://user:s3cret@proxy.example:3128").unwrap();
        let shown = format!("{p:?}");
        assert_eq!(shown, "Proxy(http://proxy.example:3128)");
        for bad in ["socks5://s3cret@proxy.example:1080", "proxy.example:3128", "ftp://s3cret@x", "http://"] {
            let e = Proxy::new(bad).unwrap_err();
            assert!(!e.to_string().contains("s3cret"), "{e}");
            assert!(matches!(e, HealthError::Proxy { .. }), "{bad}: {e}");
        }
    }
}
