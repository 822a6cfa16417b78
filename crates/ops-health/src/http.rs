//! URL checks over ureq (blocking; rustls with the `tls` feature), with names resolved by
//! [`crate::dns`] and no proxy unless the check has one.

use std::fmt;
use std::io::{self, Read as _};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::conditions::{Condition, Facts, Subject};
use crate::deadline::{Deadline, FOREVER};
use crate::net::{io_failure, timed_out};
use crate::secret::{self, Redactor};
use crate::{
    Auth, CheckKind, CheckResult, Failure, FailureKind, HealthError, Level, Outcome, RequestBody, Unchecked,
    UrlCheck, dns, millis,
};

/// How much of a body is read, for `body_contains` and conditions on `[BODY]`: 1 MiB. A body
/// longer than this is no failure unless a condition reads the body.
pub const BODY_LIMIT: u64 = 1 << 20;

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
/// 4xx/5xx that were not expected just `HTTP 503`; with conditions, every failed one follows
/// (`HTTP 200, failed: [BODY].status (DOWN) == UP`). One deadline covers the request, the
/// body and the certificate probe. The detail has every form of the check's credentials
/// removed before it leaves here.
pub(crate) fn check_url(name: &str, check: &UrlCheck) -> CheckResult {
    let redactor = redactor(check);
    let mut result = request(name, check, &redactor);
    result.detail = redactor.redact(&result.detail);
    for c in &mut result.conditions {
        c.condition = redactor.redact(&c.condition);
    }
    result
}

/// Every credential of a URL check, in every form a server could echo.
fn redactor(check: &UrlCheck) -> Redactor {
    let mut r = Redactor::default();
    r.add_url(&check.url);
    for (_, value) in &check.headers {
        r.add_value(value.expose());
    }
    match &check.auth {
        Some(Auth::Basic { user, password }) => r.add_basic(user, password.expose()),
        Some(Auth::Bearer(token)) => r.add_value(token.expose()),
        None => {}
    }
    r
}

fn request(name: &str, check: &UrlCheck, redactor: &Redactor) -> CheckResult {
    let start = Instant::now();
    let deadline = Deadline::after(check.timeout);
    if !cfg!(feature = "tls") && check.url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
        return CheckResult::failed(name, CheckKind::Url, no_tls());
    }
    let https_host = https_host(&check.url);
    let wants_cert = https_host.is_some()
        && (check.cert_warning_days.is_some()
            || check.cert_notice_days.is_some()
            || check.conditions.iter().any(Condition::needs_certificate));
    let response = send(check, deadline);
    let response_time = start.elapsed();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            let failure = classify(&e, deadline, redactor);
            let mut result = CheckResult::failed(name, CheckKind::Url, failure);
            result.latency_ms = millis(start.elapsed());
            let cert = if wants_cert { probe_cert(https_host.as_ref(), deadline) } else { None };
            if !check.conditions.is_empty() {
                let mut facts = Facts::new(0, millis_i64(response_time), false);
                facts.cert_expiration_ms = cert_ms(cert.as_ref());
                let failed = evaluate(&mut result, check, &facts, redactor);
                if failed.is_empty() {
                    result.outcome = Outcome::Up;
                    result.detail = format!("{}, conditions met", result.detail);
                } else {
                    result.detail = format!("{}, failed: {}", result.detail, failed.join("; "));
                }
            }
            add_cert_check(&mut result, check, cert);
            return result;
        }
    };
    let status = response.status().as_u16();
    let needs_body = check.body_contains.is_some() || check.conditions.iter().any(Condition::needs_body);
    let mut body = Vec::new();
    let mut body_failure = None;
    let mut body_cut = false;
    if needs_body {
        match response.body_mut().as_reader().take(BODY_LIMIT + 1).read_to_end(&mut body) {
            Ok(_) => {
                body_cut = body.len() as u64 > BODY_LIMIT;
                body.truncate(BODY_LIMIT as usize);
            }
            Err(e) => body_failure = Some(body_failure_of(&e, deadline)),
        }
    }
    let elapsed = start.elapsed();
    drop(response);
    let cert = if wants_cert { probe_cert(https_host.as_ref(), deadline) } else { None };
    let mut result = CheckResult::new(name, CheckKind::Url, Outcome::Up, format!("HTTP {status}"));
    result.http_status = Some(status);
    result.latency_ms = millis(elapsed);
    if check.conditions.is_empty() {
        if status != check.expected_status {
            result.outcome = Outcome::Down(FailureKind::HttpStatus);
            if status < 400 {
                result.detail = format!("HTTP {status} (expected {})", check.expected_status);
            }
        }
    } else {
        let mut facts = Facts::new(status, millis_i64(response_time), true);
        facts.cert_expiration_ms = cert_ms(cert.as_ref());
        facts.body = Some(&body);
        let cut_words = format!("body longer than the {} MiB read", BODY_LIMIT >> 20);
        if body_failure.is_some() {
            facts.body_cut = Some("body not read");
        } else if body_cut {
            facts.body_cut = Some(&cut_words);
        }
        let failed = evaluate(&mut result, check, &facts, redactor);
        if !failed.is_empty() {
            result.detail = format!("HTTP {status}, failed: {}", failed.join("; "));
        }
    }
    if result.outcome.is_up() {
        if let Some(f) = body_failure {
            result.outcome = f.outcome;
            result.detail = format!("{}, reading body: {}", result.detail, f.detail);
        } else if let Some(needle) = &check.body_contains
            && !String::from_utf8_lossy(&body).contains(needle.as_str())
        {
            result.outcome = Outcome::Down(FailureKind::Content);
            result.detail = format!("{}, body does not contain {needle:?}", result.detail);
        }
    }
    judge_latency(&mut result, check, elapsed);
    add_cert_check(&mut result, check, cert);
    result
}

/// An answer that is otherwise up, slower than `max_latency_ms`, fails; slower than
/// `warn_latency_ms`, warns.
fn judge_latency(result: &mut CheckResult, check: &UrlCheck, elapsed: Duration) {
    if result.outcome != Outcome::Up {
        return;
    }
    let level = Level::of(elapsed, check.warn_latency, check.max_latency, |v, t| v > t);
    let over = match level {
        Level::Ok => None,
        Level::Warning => check.warn_latency.map(|t| ("warn_latency_ms", t)),
        Level::Failed => check.max_latency.map(|t| ("max_latency_ms", t)),
    };
    if let Some((key, threshold)) = over {
        result.outcome = level.outcome(FailureKind::Latency);
        result.detail = format!("{}, slower than {key} {}", result.detail, threshold.as_millis());
    }
}

/// Evaluates every condition into `result` (keeping a failure it already has, else the kind
/// of the first failed condition) and returns the failed ones as shown.
fn evaluate(
    result: &mut CheckResult,
    check: &UrlCheck,
    facts: &Facts<'_>,
    redactor: &Redactor,
) -> Vec<String> {
    let shown = |s: &str| {
        redactor.redact(s).chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>()
    };
    let mut failed = Vec::new();
    for condition in &check.conditions {
        let r = condition.evaluate(facts, &shown);
        if !r.success {
            if result.outcome.is_up() {
                result.outcome = Outcome::Down(match condition.subject() {
                    Some(Subject::Status) => FailureKind::HttpStatus,
                    Some(Subject::ResponseTime) => FailureKind::Latency,
                    Some(Subject::Connected) => FailureKind::Connect,
                    Some(Subject::Certificate) => FailureKind::Tls,
                    Some(Subject::Body) | None => FailureKind::Content,
                });
            }
            failed.push(r.condition.clone());
        }
        result.conditions.push(r);
    }
    failed
}

fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Sends the check's request: its method, headers, authentication and body, by the deadline,
/// through its proxy, following redirects as it says.
fn send(check: &UrlCheck, deadline: Deadline) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let follow = check.follow_redirects.unwrap_or(!(300..400).contains(&check.expected_status));
    let mut builder = ureq::http::Request::builder().method(check.method.as_str()).uri(check.url.as_str());
    let mut has_content_type = false;
    for (key, value) in &check.headers {
        has_content_type |= key.eq_ignore_ascii_case("content-type");
        builder = builder.header(key.as_str(), value.expose());
    }
    match &check.auth {
        Some(Auth::Basic { user, password }) => {
            let pair = format!("{user}:{}", password.expose());
            builder = builder.header("Authorization", format!("Basic {}", secret::base64(pair.as_bytes())));
        }
        Some(Auth::Bearer(token)) => {
            builder = builder.header("Authorization", format!("Bearer {}", token.expose()));
        }
        None => {}
    }
    let invalid = |_| ureq::Error::BadUri("invalid request".into());
    let body = match &check.body {
        None => return run_request(builder.body(()).map_err(invalid)?, check, deadline, follow),
        Some(RequestBody::Text(text)) => text,
        Some(RequestBody::Json(text)) => {
            if !has_content_type {
                builder = builder.header("Content-Type", "application/json");
            }
            text
        }
    };
    run_request(builder.body(body.as_bytes()).map_err(invalid)?, check, deadline, follow)
}

/// Runs a built request on the agent with the check's deadline, redirects, proxy and TLS.
fn run_request<B: ureq::AsSendBody>(
    request: ureq::http::Request<B>,
    check: &UrlCheck,
    deadline: Deadline,
    follow: bool,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let request = agent()
        .configure_request(request)
        .timeout_global(Some(deadline.left()))
        .max_redirects(if follow { 10 } else { 0 })
        .proxy(check.proxy.as_ref().map(|p| p.0.clone()));
    agent().run(tls_config(request, check.insecure_tls).build())
}

#[cfg(feature = "tls")]
fn tls_config<S: ureq::AsSendBody>(
    req: ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>>,
    insecure: bool,
) -> ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>> {
    if insecure {
        req.tls_config(ureq::tls::TlsConfig::builder().disable_verification(true).build())
    } else {
        req
    }
}

#[cfg(not(feature = "tls"))]
fn tls_config<S: ureq::AsSendBody>(
    req: ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>>,
    _: bool,
) -> ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>> {
    req
}

/// The host and port of an https URL.
fn https_host(url: &str) -> Option<(String, u16)> {
    let uri = url.parse::<Uri>().ok()?;
    (uri.scheme_str() == Some("https")).then_some(())?;
    Some((uri.host()?.to_owned(), uri.port_u16().unwrap_or(443)))
}

/// ureq's body reader reports its errors as `io::Error`s wrapping a `ureq::Error`.
fn body_failure_of(e: &io::Error, deadline: Deadline) -> Failure {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()) {
        Some(inner) => classify(inner, deadline, &Redactor::default()),
        None => io_failure(e, deadline),
    }
}

/// The certificate of an https URL, read on a direct connection in what is left of the check's
/// deadline (also when the request itself failed: an untrusted or expired certificate still
/// has a date to report).
#[cfg(feature = "tls")]
type Probed = crate::tls::Probed;
#[cfg(not(feature = "tls"))]
type Probed = ();

#[cfg(feature = "tls")]
fn probe_cert(host: Option<&(String, u16)>, deadline: Deadline) -> Option<Probed> {
    host.map(|(host, port)| crate::tls::probe(host, *port, deadline))
}

#[cfg(not(feature = "tls"))]
fn probe_cert(_: Option<&(String, u16)>, _: Deadline) -> Option<Probed> {
    None
}

/// `[CERTIFICATE_EXPIRATION]`: milliseconds to notAfter, 0 without a certificate.
#[cfg(feature = "tls")]
fn cert_ms(probed: Option<&Probed>) -> i64 {
    probed.and_then(|p| p.cert.as_ref()).map_or(0, |c| {
        let left = c.not_after - time::OffsetDateTime::now_utc();
        i64::try_from(left.whole_milliseconds()).unwrap_or(if left.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        })
    })
}

#[cfg(not(feature = "tls"))]
fn cert_ms(_: Option<&Probed>) -> i64 {
    0
}

/// With `cert_warning_days` or `cert_notice_days`: the certificate's verdict too (trust is not
/// judged with `insecure_tls`); the certificate is kept in the result either way.
#[cfg(feature = "tls")]
fn add_cert_check(result: &mut CheckResult, check: &UrlCheck, probed: Option<Probed>) {
    if let Some(probed) = probed {
        let days = crate::tls::Days { failure: check.cert_warning_days, warning: check.cert_notice_days };
        crate::tls::add_cert_check(result, probed, days, !check.insecure_tls);
    }
}

#[cfg(not(feature = "tls"))]
fn add_cert_check(_: &mut CheckResult, _: &UrlCheck, _: Option<Probed>) {}

/// An https URL in a build without TLS.
fn no_tls() -> Failure {
    Failure::unchecked(Unchecked::Unsupported, "https needs agent-ops built with the `tls` feature")
}

fn classify(e: &ureq::Error, deadline: Deadline, redactor: &Redactor) -> Failure {
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
        // The text may hold the URL: redacted before it is cut, so no half of a secret stays.
        other => down(FailureKind::Protocol, truncate(&redactor.redact(&other.to_string()), 100)),
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
