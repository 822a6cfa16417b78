//! Peers that accept and then drip their answer a byte at a time, or never end it: every
//! check still ends by its own deadline, with kind `timeout`. No test here measures time:
//! a check that did not end would hang the test, and the kind and detail show which wait
//! ended it.

#![cfg(feature = "tls")]

use std::time::Duration;

use ops_health::{Check, CheckResult, FailureKind, Outcome, Probe, TlsCheck, UrlCheck, run};
use test_support::{Drip, HttpDripper, Silent, TlsDripper};

/// One byte every 10 ms: a dripped TLS handshake needs about 15 s, a per-read socket
/// timeout of 300 ms never fires.
const DRIP: Duration = Duration::from_millis(10);

const TIMEOUT: Duration = Duration::from_millis(300);

fn tls(port: u16) -> CheckResult {
    let mut c = TlsCheck::new("localhost");
    c.port = port;
    c.verify = false;
    c.timeout = TIMEOUT;
    run(&Probe::new("Cert", Check::Tls(c)))
}

fn url(u: &str, f: impl FnOnce(&mut UrlCheck)) -> CheckResult {
    let mut c = UrlCheck::new(u);
    c.timeout = TIMEOUT;
    f(&mut c);
    run(&Probe::new("Web", Check::Url(c)))
}

fn timed_out(r: &CheckResult) {
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Timeout), "{r:?}");
    assert!(r.cert.is_none(), "the handshake never finished: {r:?}");
}

#[test]
fn a_tls_check_ends_by_its_deadline_against_a_dripped_handshake() {
    let dripper = TlsDripper::handshake(DRIP);
    let r = tls(dripper.port());
    timed_out(&r);
    assert_eq!(r.detail, "timed out after 0.3s");
    assert_eq!(dripper.accepted(), 1);
}

#[test]
fn a_tls_check_ends_by_its_deadline_against_an_endless_record() {
    let dripper = TlsDripper::endless_record(DRIP);
    let r = tls(dripper.port());
    timed_out(&r);
    assert_eq!(r.detail, "timed out after 0.3s");
}

#[test]
fn a_tls_check_ends_by_its_deadline_against_silence() {
    let silent = Silent::start();
    let r = tls(silent.addr.port());
    timed_out(&r);
    assert_eq!(r.detail, "timed out after 0.3s");
}

#[test]
fn the_certificate_probe_of_an_https_check_shares_the_checks_deadline() {
    // The request times out on the dripped handshake; the certificate probe that follows
    // has nothing left of the deadline (it used to start afresh with at least 100 ms and
    // per-read timeouts, and read the dripped certificate to the end).
    let dripper = TlsDripper::handshake(DRIP);
    let r = url(&format!("https://localhost:{}/", dripper.port()), |c| c.cert_warning_days = Some(14.0));
    timed_out(&r);
    assert_eq!(r.detail, "timed out after 0.3s, certificate check failed: timed out after 0.3s");
}

#[test]
fn an_https_check_ends_by_its_deadline_against_an_endless_record() {
    let dripper = TlsDripper::endless_record(DRIP);
    let r = url(&format!("https://localhost:{}/", dripper.port()), |c| c.cert_warning_days = Some(14.0));
    timed_out(&r);
    assert!(r.detail.starts_with("timed out after 0.3s"), "{}", r.detail);
}

#[test]
fn ureqs_global_timeout_bounds_a_dripped_status_line_and_headers() {
    let dripper = HttpDripper::start(Drip::Head, DRIP);
    let r = url(&dripper.url(), |_| {});
    timed_out(&r);
    assert_eq!(r.detail, "timed out after 0.3s");
    assert_eq!(r.http_status, None);
}

#[test]
fn ureqs_global_timeout_bounds_a_dripped_body() {
    let dripper = HttpDripper::start(Drip::Body, DRIP);
    let r = url(&dripper.url(), |c| c.body_contains = Some("healthy".into()));
    timed_out(&r);
    assert_eq!(r.detail, "HTTP 200, reading body: timed out after 0.3s");
    assert_eq!(r.http_status, Some(200));
}
