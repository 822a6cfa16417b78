//! URL checks with a request of their own (method, headers, body, credentials) and Gatus
//! conditions, against recording servers on 127.0.0.1: what reaches the server, what the
//! conditions decide, the body cap, TLS without verification, and credentials that never
//! come back out, even from a server that echoes them.

use std::time::Duration;

use ops_health::{
    Auth, Check, CheckResult, Condition, Credential, FailureKind, Outcome, Probe, RequestBody, RunOptions,
    UrlCheck, run, run_all,
};
use test_support::echo::{Echo, Reply};

const PASSWORD: &str = "pa55:w0rd/with spaces";
const TOKEN: &str = "tok_3f9a8b7c6d5e4f3a2b1c";
const HEADER: &str = "hdr-secret-9876543210";

fn url_check(url: &str, f: impl FnOnce(&mut UrlCheck)) -> CheckResult {
    let mut c = UrlCheck::new(url);
    c.timeout = Duration::from_secs(5);
    f(&mut c);
    run(&Probe::new("API", Check::Url(c)))
}

fn conditions(list: &[&str]) -> Vec<Condition> {
    list.iter().map(|c| Condition::parse(c).unwrap()).collect()
}

fn json_server(status: u16, body: &str) -> Echo {
    Echo::start(Reply::Fixed(status, vec![("Content-Type".into(), "application/json".into())], body.into()))
}

#[test]
fn a_request_carries_its_method_headers_body_and_credentials() {
    let server = Echo::start(Reply::Fixed(201, Vec::new(), String::new()));
    let r = url_check(&server.url(), |c| {
        c.method = "POST".into();
        c.headers = vec![("X-Api-Key".into(), Credential::new(HEADER))];
        c.body = Some(RequestBody::Json(r#"{"ping":true}"#.into()));
        c.auth = Some(Auth::Basic { user: "alice".into(), password: Credential::new(PASSWORD) });
        c.expected_status = 201;
    });
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "HTTP 201"), "{r:?}");
    let request = &server.requests()[0];
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    let lower = request.to_lowercase();
    assert!(lower.contains(&format!("x-api-key: {HEADER}")), "{request}");
    assert!(lower.contains("content-type: application/json"), "{request}");
    // base64("alice:pa55:w0rd/with spaces")
    assert!(request.contains("Basic YWxpY2U6cGE1NTp3MHJkL3dpdGggc3BhY2Vz"), "{request}");
    assert!(request.ends_with("\r\n\r\n{\"ping\":true}"), "{request}");

    let r = url_check(&server.url(), |c| {
        c.method = "PUT".into();
        c.body = Some(RequestBody::Text("plain words".into()));
        c.headers = vec![("Content-Type".into(), Credential::new("text/plain"))];
        c.auth = Some(Auth::Bearer(Credential::new(TOKEN)));
        c.expected_status = 201;
    });
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let request = &server.requests()[1];
    assert!(request.starts_with("PUT / HTTP/1.1\r\n") && request.ends_with("plain words"), "{request}");
    assert!(request.contains(&format!("Bearer {TOKEN}")), "{request}");
    assert!(!request.to_lowercase().contains("application/json"), "{request}");
}

#[test]
fn conditions_decide_the_verdict_and_name_every_failure() {
    let server =
        json_server(200, r#"{"status": "UP", "items": [1, 2], "data": [{"id": 1}], "errors": null}"#);
    let ok = conditions(&[
        "[STATUS] == 200",
        "[BODY].status == UP",
        "[BODY].data[0].id == 1",
        "len([BODY].items) > 0",
        "has([BODY].missing) == false",
        "[BODY] == pat(*\"UP\"*)",
        "[STATUS] == any(200, 204)",
        "[RESPONSE_TIME] < 60000",
        "[CONNECTED] == true",
        "[CERTIFICATE_EXPIRATION] == 0",
    ]);
    let r = url_check(&server.url(), |c| {
        c.conditions = ok.clone();
        c.expected_status = 500; // conditions decide, not expected_status
    });
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "HTTP 200"), "{r:?}");
    assert_eq!(r.conditions.len(), 10);
    assert!(r.conditions.iter().all(|c| c.success));

    let r = url_check(&server.url(), |c| {
        c.conditions = conditions(&[
            "[STATUS] == 200",
            "[BODY].status == DOWN",
            "len([BODY].items) > 5",
            "[STATUS] == 204",
        ]);
    });
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Content), "{r:?}");
    assert_eq!(
        r.detail,
        "HTTP 200, failed: [BODY].status (UP) == DOWN; len([BODY].items) (2) > 5; [STATUS] (200) == 204"
    );
    assert_eq!(r.conditions.iter().map(|c| c.success).collect::<Vec<_>>(), [true, false, false, false]);
    let r = url_check(&server.url(), |c| c.conditions = conditions(&["[STATUS] == 201"]));
    assert_eq!(
        (r.outcome, r.detail.as_str()),
        (Outcome::Down(FailureKind::HttpStatus), "HTTP 200, failed: [STATUS] (200) == 201")
    );
    let r = url_check(&server.url(), |c| c.conditions = conditions(&["[RESPONSE_TIME] < 0"]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Latency), "{r:?}");
}

#[test]
fn without_a_response_conditions_see_status_0_and_not_connected() {
    let port = test_support::closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let r = url_check(&url, |c| c.conditions = conditions(&["[STATUS] == 200", "[CONNECTED] == true"]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect), "{r:?}");
    assert_eq!(r.detail, "connection refused, failed: [STATUS] (0) == 200; [CONNECTED] (false) == true");
    let r = url_check(&url, |c| c.conditions = conditions(&["[CONNECTED] == false"]));
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "connection refused, conditions met"));
}

#[test]
fn the_body_cap_fails_only_a_condition_that_needs_the_body() {
    let big = format!("{{\"status\": \"UP\", \"pad\": \"{}\"}}", "x".repeat(2 << 20));
    let server = json_server(200, &big);
    let r = url_check(&server.url(), |c| c.conditions = conditions(&["[STATUS] == 200"]));
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let r =
        url_check(&server.url(), |c| c.conditions = conditions(&["[STATUS] == 200", "[BODY].status == UP"]));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Content));
    assert_eq!(r.detail, "HTTP 200, failed: [BODY].status (body longer than the 1 MiB read) == UP");
}

#[test]
fn a_redirect_is_seen_when_not_followed() {
    let server =
        Echo::start(Reply::Fixed(302, vec![("Location".into(), "/elsewhere".into())], String::new()));
    let r = url_check(&server.url(), |c| {
        c.follow_redirects = Some(false);
        c.conditions = conditions(&["[STATUS] == 302"]);
    });
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "HTTP 302"), "{r:?}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_hostile_body_cannot_overflow_the_check_threads_stack() {
    let deep = format!("{{\"a\": {}{}}}", "[".repeat(200_000), "]".repeat(200_000));
    let server = json_server(200, &deep);
    let probes: Vec<Probe> = (0..4)
        .map(|i| {
            let mut c = UrlCheck::new(server.url());
            c.conditions = conditions(&["[BODY].a[0] == 1", "len([BODY]) > 1", "has([BODY].a) == true"]);
            Probe::new(format!("deep-{i}"), Check::Url(c))
        })
        .collect();
    for r in run_all(&probes, &RunOptions::default()) {
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Content), "{r:?}");
        assert!(
            r.detail.starts_with(
                "HTTP 200, failed: [BODY].a[0] (INVALID, not JSON) == 1; has([BODY].a) (false) == true"
            ),
            "{}",
            r.detail
        );
    }
}

/// A server that sends back the credentials it was sent, into the detail of a failed condition
/// (its value is shown there): every form is redacted, as in `Debug`.
#[test]
fn credentials_never_come_back_out() {
    let leaks = |r: &CheckResult, extra: &str| {
        let all = format!("{r:?} {r} {extra}");
        for secret in
            [PASSWORD, TOKEN, HEADER, "YWxpY2U6cGE1NTp3MHJkL3dpdGggc3BhY2Vz", "pa55%3Aw0rd", "w0rd/with"]
        {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
    };
    for (header, auth, shown) in [
        (
            "authorization",
            Auth::Basic { user: "alice".into(), password: Credential::new(PASSWORD) },
            "Basic [redacted]",
        ),
        ("authorization", Auth::Bearer(Credential::new(TOKEN)), "Bearer [redacted]"),
        ("x-api-key", Auth::Bearer(Credential::new(TOKEN)), "[redacted]"),
    ] {
        let server = Echo::start(Reply::EchoHeader(200, header));
        let mut c = UrlCheck::new(server.url());
        c.headers = vec![("X-Api-Key".into(), Credential::new(HEADER))];
        c.auth = Some(auth);
        c.conditions = conditions(&["[BODY] == nothing", "[BODY] == pat(*nothing*)"]);
        let debug = format!("{c:?}");
        let r = run(&Probe::new("API", Check::Url(c)));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Content), "{r:?}");
        assert_eq!(
            r.detail,
            format!("HTTP 200, failed: [BODY] ({shown}) == nothing; [BODY] ({shown}) == pat(*nothing*)")
        );
        leaks(&r, &debug);
    }
    // The whole request echoed, and a password in the URL's user info too.
    let server = Echo::start(Reply::Echo(401));
    let mut c = UrlCheck::new(server.url().replace("http://", &format!("http://bob:{}@", "s3cr3t-in-url")));
    c.auth = Some(Auth::Bearer(Credential::new(TOKEN)));
    c.conditions = conditions(&["len([BODY]) == 0", "[BODY] == pat(*nothing*)"]);
    let r = run(&Probe::new("API", Check::Url(c)));
    leaks(&r, "");
    assert!(!format!("{r:?}").contains("s3cr3t-in-url"));
}

#[test]
#[cfg(feature = "tls")]
fn insecure_tls_accepts_a_self_signed_certificate_and_still_reads_its_expiry() {
    let server = Echo::start_tls(Reply::Fixed(200, Vec::new(), "ok".into()));
    let r = url_check(&server.https_url(), |_| {});
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls), "verified by default: {r:?}");
    let r = url_check(&server.https_url(), |c| {
        c.insecure_tls = true;
        c.cert_warning_days = Some(14.0);
        c.conditions = conditions(&["[STATUS] == 200", "[BODY] == ok", "[CERTIFICATE_EXPIRATION] > 48h"]);
    });
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let cert = r.cert.as_ref().expect("the certificate was read");
    assert!(cert.untrusted.is_some() && cert.days_left > 14, "{cert:?}");
    assert!(r.detail.starts_with("HTTP 200, certificate valid for "), "{}", r.detail);
    let r = url_check(&server.https_url(), |c| {
        c.insecure_tls = true;
        c.conditions = conditions(&["[CERTIFICATE_EXPIRATION] < 48h"]);
    });
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls), "{r:?}");
    assert!(r.detail.starts_with("HTTP 200, failed: [CERTIFICATE_EXPIRATION] ("), "{}", r.detail);
    assert!(r.detail.ends_with(") < 48h"), "{}", r.detail);
}

/// An https URL's certificate within `cert_notice_days` is a warning (up); within
/// `cert_warning_days` a failure, as before (the test certificate runs until 4096).
#[test]
#[cfg(feature = "tls")]
fn a_url_certificate_within_the_notice_days_is_a_warning() {
    let server = Echo::start_tls(Reply::Fixed(200, Vec::new(), "ok".into()));
    let r = url_check(&server.https_url(), |c| {
        c.insecure_tls = true;
        (c.cert_warning_days, c.cert_notice_days) = (Some(1.0), Some(1e7));
    });
    assert_eq!(r.outcome, Outcome::Warning(FailureKind::Tls), "{r:?}");
    assert!(r.detail.starts_with("HTTP 200, certificate expires in "), "{}", r.detail);
    assert!(r.to_string().starts_with("[WARN] "), "{r}");
    let r = url_check(&server.https_url(), |c| {
        c.insecure_tls = true;
        c.cert_notice_days = Some(1e7);
    });
    assert_eq!(
        r.outcome,
        Outcome::Warning(FailureKind::Tls),
        "the notice alone probes the certificate: {r:?}"
    );
    let r = url_check(&server.https_url(), |c| {
        c.insecure_tls = true;
        (c.cert_warning_days, c.cert_notice_days) = (Some(9e6), Some(1e7));
    });
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls), "{r:?}");
}
