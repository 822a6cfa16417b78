//! Every check type against real loopback servers, real processes and real filesystems.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ops_health::{
    Check, CheckKind, CheckResult, DiskCheck, FailureKind, Outcome, PortCheck, Probe, ProcessCheck,
    RunOptions, TlsCheck, UrlCheck, run, run_all,
};
use test_support::{Answer, Silent, closed_port};

fn url(u: &str, expected: u16) -> UrlCheck {
    let mut c = UrlCheck::new(u);
    c.expected_status = expected;
    c.timeout = Duration::from_secs(5);
    c
}

fn check(name: &str, c: Check) -> CheckResult {
    run(&Probe::new(name, c))
}

#[test]
fn url_200_is_up_with_the_seed_detail() {
    let server = Answer::status(200).body("hello").start();
    let r = check("Web", Check::Url(url(&server.url(), 200)));
    assert!(r.outcome.is_up(), "{r:?}");
    assert_eq!(r.detail, "HTTP 200");
    assert_eq!(r.http_status, Some(200));
    assert_eq!(r.outcome, Outcome::Up);
    assert_eq!(r.check_type, CheckKind::Url);
}

#[test]
fn any_expected_status_can_match() {
    // The Python kit raised on every status >= 400, so an expected 404 could never match.
    let server = Answer::status(404).start();
    let r = check("Gone", Check::Url(url(&server.url(), 404)));
    assert!(r.outcome.is_up(), "{r:?}");
    assert_eq!(r.detail, "HTTP 404");
}

#[test]
fn unexpected_statuses_fail_with_the_seed_words() {
    let server = Answer::status(500).start();
    let r = check("API", Check::Url(url(&server.url(), 200)));
    assert!(!r.outcome.is_up());
    assert_eq!((r.detail.as_str(), r.outcome), ("HTTP 500", Outcome::Down(FailureKind::HttpStatus)));

    let server = Answer::status(204).start();
    let r = check("API", Check::Url(url(&server.url(), 200)));
    assert_eq!(
        (r.detail.as_str(), r.outcome),
        ("HTTP 204 (expected 200)", Outcome::Down(FailureKind::HttpStatus))
    );
}

#[test]
fn redirects_are_followed_unless_a_3xx_is_expected() {
    let target = Answer::status(200).body("moved here").start();
    let redirect = Answer::status(301).header("Location", &target.url()).start();

    let followed = check("Follow", Check::Url(url(&redirect.url(), 200)));
    assert!(followed.outcome.is_up(), "{followed:?}");
    assert_eq!(followed.http_status, Some(200));

    let seen = check("Redirect", Check::Url(url(&redirect.url(), 301)));
    assert!(seen.outcome.is_up(), "{seen:?}");
    assert_eq!(seen.detail, "HTTP 301");

    let wrong = check("Redirect", Check::Url(url(&redirect.url(), 302)));
    assert_eq!((wrong.detail.as_str(), wrong.outcome.is_up()), ("HTTP 301 (expected 302)", false));
}

#[test]
fn a_server_that_never_answers_is_a_timeout() {
    let silent = Silent::start();
    let mut c = url(&silent.url(), 200);
    c.timeout = Duration::from_millis(300);
    let r = check("Hang", Check::Url(c));
    assert!(!r.outcome.is_up());
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Timeout));
    assert_eq!(r.detail, "timed out after 0.3s");
}

#[test]
fn a_slow_answer_fails_max_latency_or_the_timeout() {
    let slow = Answer::status(200).delay(Duration::from_millis(400)).start();
    let mut c = url(&slow.url(), 200);
    c.max_latency = Some(Duration::from_millis(100));
    let r = check("Slow", Check::Url(c.clone()));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Latency), "{r:?}");
    assert_eq!(r.detail, "HTTP 200, slower than max_latency_ms 100");
    assert!(r.latency_ms >= 400, "the latency is measured: {}", r.latency_ms);

    c.max_latency = None;
    c.timeout = Duration::from_millis(100);
    assert_eq!(check("Slow", Check::Url(c)).outcome, Outcome::Down(FailureKind::Timeout));
}

#[test]
fn body_contains() {
    let server = Answer::status(200).body("{\"status\": \"healthy\"}").start();
    let mut c = url(&server.url(), 200);
    c.body_contains = Some("healthy".into());
    assert!(check("Body", Check::Url(c.clone())).outcome.is_up());
    c.body_contains = Some("degraded".into());
    let r = check("Body", Check::Url(c));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Content));
    assert_eq!(r.detail, "HTTP 200, body does not contain \"degraded\"");
}

#[test]
fn refused_connections() {
    let port = closed_port();
    let r = check("Down", Check::Url(url(&format!("http://127.0.0.1:{port}/"), 200)));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect), "{r:?}");

    let r = check("DB", Check::Port(PortCheck::new("127.0.0.1", port)));
    assert!(!r.outcome.is_up());
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect));
    assert_eq!(r.detail, format!("port {port}: connection refused"));
}

#[test]
fn open_port_by_name_and_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for host in ["127.0.0.1", "localhost"] {
        let r = check("DB", Check::Port(PortCheck::new(host, port)));
        assert!(r.outcome.is_up(), "{host}: {r:?}");
        assert_eq!(r.detail, format!("port {port} open"));
    }
}

/// A child process with a command line no other process has.
struct Sleeper(Child, String);

impl Sleeper {
    fn start() -> Self {
        let marker = format!("{}.{}", 100_000 + std::process::id(), rand_suffix());
        let child = Command::new("sleep").arg(&marker).spawn().expect("spawn sleep");
        // Until exec completes, the child's command line is still ours: wait for the switch.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        while std::path::Path::new("/proc/self").exists()
            && !std::fs::read(&cmdline).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
        {
            thread::yield_now();
        }
        Sleeper(child, marker)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rand_suffix() -> u32 {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    u32::try_from(n).unwrap() * 7919
        + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 7919
}

fn process(pattern: &str) -> Check {
    Check::Process(ProcessCheck::new(pattern, Duration::from_secs(5)).unwrap())
}

#[test]
fn a_running_process_is_found_by_its_command_line() {
    let sleeper = Sleeper::start();
    let pattern = format!("sleep {}", sleeper.1.replace('.', "\\."));
    let r = check("Worker", process(&pattern));
    assert!(r.outcome.is_up(), "{r:?}");
    assert_eq!(r.detail, "1 process(es) running");
    assert_eq!(r.latency_ms, 0, "the seed records no latency for processes");
}

#[test]
fn a_missing_process_is_not_running() {
    let sleeper = Sleeper::start();
    let mut child = sleeper;
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let r = check("Worker", process(&format!("sleep {}", child.1.replace('.', "\\."))));
    assert!(!r.outcome.is_up());
    assert_eq!((r.detail.as_str(), r.outcome), ("not running", Outcome::Down(FailureKind::Process)));
}

#[test]
fn invalid_process_pattern_is_rejected_up_front() {
    let err = ProcessCheck::new("celery[", Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("celery["), "{err}");
}

fn disk(path: &std::path::Path, warning_gb: f64) -> Check {
    let mut c = DiskCheck::new(path);
    c.warning_gb = warning_gb;
    Check::Disk(c)
}

#[test]
fn disk_space() {
    let dir = tempfile::tempdir().unwrap();
    let r = check("Disk Space", disk(dir.path(), 0.0));
    assert!(r.outcome.is_up(), "{r:?}");
    assert!(r.detail.ends_with(" GB free"), "{}", r.detail);
    assert!(r.disk_free_bytes.unwrap() > 0);

    let r = check("Disk Space", disk(dir.path(), 1e12));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Disk));
    assert!(r.detail.ends_with(" GB free"), "the seed's detail also when failing: {}", r.detail);

    let missing = dir.path().join("nope");
    let r = check("Disk Space", disk(&missing, 0.0));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Disk));
    assert!(r.detail.contains(&missing.display().to_string()), "{}", r.detail);
}

/// A server that holds every request until the test releases it, and records the most
/// requests it ever held at once beyond those released: the number of checks in flight.
struct Gate {
    url: String,
    held: Arc<std::sync::Mutex<Vec<TcpStream>>>,
    released: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Gate {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let released = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let (h, r, m) = (Arc::clone(&held), Arc::clone(&released), Arc::clone(&max_in_flight));
        thread::spawn(move || {
            let mut accepted = 0;
            for stream in listener.incoming().flatten() {
                accepted += 1;
                // A release is counted before its answer is written, so this never over-counts.
                m.fetch_max(accepted - r.load(Ordering::SeqCst), Ordering::SeqCst);
                h.lock().unwrap().push(stream);
            }
        });
        Gate { url, held, released, max_in_flight }
    }

    fn waiting(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Answers one held request with 200.
    fn release_one(&self) {
        let stream = self.held.lock().unwrap().pop();
        if let Some(mut stream) = stream {
            self.released.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }
}

fn gated_probes(url: &str, n: usize) -> Vec<Probe> {
    (0..n)
        .map(|i| {
            let mut c = url_check(&format!("{url}?n={i}"));
            c.timeout = Duration::from_secs(60);
            Probe::new(format!("check-{i}"), Check::Url(c))
        })
        .collect()
}

fn url_check(u: &str) -> UrlCheck {
    url(u, 200)
}

/// Runs `probes` against `gate`, releasing a request whenever `in_flight` are waiting (or
/// all that remain), until every check is done.
fn run_gated(gate: &Gate, probes: &[Probe], options: RunOptions, in_flight: usize) -> Vec<CheckResult> {
    thread::scope(|s| {
        let runner = s.spawn(|| run_all(probes, &options));
        let mut done = 0;
        while done < probes.len() {
            let remaining = probes.len() - done;
            while gate.waiting() < in_flight.min(remaining) {
                thread::yield_now();
            }
            gate.release_one();
            done += 1;
        }
        runner.join().unwrap()
    })
}

#[test]
fn all_checks_are_in_flight_at_once_and_results_keep_their_order() {
    let gate = Gate::start();
    let probes = gated_probes(&gate.url, 24);
    // Nothing is released until all 24 requests are waiting at the same time.
    let results = run_gated(&gate, &probes, RunOptions::default(), 24);
    assert_eq!(gate.max_in_flight.load(Ordering::SeqCst), 24);
    let names: Vec<_> = results.iter().map(|r| r.name.clone()).collect();
    let expected: Vec<_> = probes.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, expected);
    assert!(results.iter().all(|r| r.outcome.is_up()), "{results:?}");
}

#[test]
fn max_concurrency_bounds_the_checks_in_flight() {
    let gate = Gate::start();
    let probes = gated_probes(&gate.url, 9);
    let results = run_gated(&gate, &probes, RunOptions::with_max_concurrency(3), 3);
    assert_eq!(results.len(), 9);
    assert_eq!(gate.max_in_flight.load(Ordering::SeqCst), 3, "never more than 3 at once");
    assert!(results.iter().all(|r| r.outcome.is_up()));
}

#[test]
fn checks_that_all_time_out_each_report_it() {
    let silent = Silent::start();
    let probes: Vec<Probe> = (0..8)
        .map(|i| {
            let mut c = url_check(&silent.url());
            c.timeout = Duration::from_millis(300);
            Probe::new(format!("hang-{i}"), Check::Url(c))
        })
        .collect();
    let results = run_all(&probes, &RunOptions::default());
    assert!(results.iter().all(|r| r.outcome == Outcome::Down(FailureKind::Timeout)), "{results:?}");
}

#[test]
fn mixed_results_in_config_order() {
    let ok = Answer::status(200).start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probes = vec![
        Probe::new("a", Check::Url(url(&ok.url(), 200))),
        Probe::new("b", Check::Port(PortCheck::new("127.0.0.1", closed_port()))),
        Probe::new("c", Check::Port(PortCheck::new("127.0.0.1", port))),
        Probe::new("d", disk(&PathBuf::from("/"), 0.0)),
    ];
    let results = run_all(&probes, &RunOptions::default());
    let summary: Vec<_> = results.iter().map(|r| (r.name.as_str(), r.outcome.is_up())).collect();
    assert_eq!(summary, [("a", true), ("b", false), ("c", true), ("d", true)]);
}

// ---- TLS ----------------------------------------------------------------------------------

#[cfg(feature = "tls")]
mod tls {
    use std::io::Read;

    use super::*;

    struct TlsServer {
        port: u16,
    }

    /// A TLS server on 127.0.0.1 with a self-signed certificate for `localhost` valid from
    /// `from_days` to `until_days` relative to now; it answers any HTTP request with 200.
    fn tls_server(from_days: i64, until_days: i64) -> TlsServer {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(until_days) + time::Duration::hours(1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], key_der)
                .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = Arc::clone(&config);
                thread::spawn(move || serve_tls(config, stream));
            }
        });
        TlsServer { port }
    }

    fn serve_tls(config: Arc<rustls::ServerConfig>, mut sock: TcpStream) {
        let Ok(mut conn) = rustls::ServerConnection::new(config) else { return };
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }

    fn tls(port: u16, verify: bool) -> Check {
        let mut c = TlsCheck::new("localhost");
        c.port = port;
        c.verify = verify;
        c.timeout = Duration::from_secs(5);
        Check::Tls(c)
    }

    #[test]
    fn self_signed_certificate_reports_its_expiry_and_fails_verification() {
        let server = tls_server(-1, 90);
        let r = check("Cert", tls(server.port, true));
        assert!(!r.outcome.is_up());
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls));
        let cert = r.cert.clone().expect("the certificate was read");
        assert_eq!(cert.days_left, 90);
        assert!(cert.untrusted.is_some());
        assert!(
            r.detail.starts_with("certificate not trusted (unknown issuer, self-signed?), expires "),
            "{}",
            r.detail
        );
        assert!(r.detail.ends_with("(90 days)"), "{}", r.detail);
    }

    #[test]
    fn without_verification_only_the_expiry_counts() {
        let server = tls_server(-1, 90);
        let r = check("Cert", tls(server.port, false));
        assert!(r.outcome.is_up(), "{r:?}");
        assert!(r.detail.starts_with("certificate valid for 90 days (expires "), "{}", r.detail);
    }

    #[test]
    fn a_certificate_near_expiry_is_a_warning_failure() {
        let server = tls_server(-60, 5);
        let r = check("Cert", tls(server.port, false));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls));
        assert!(r.detail.starts_with("certificate expires in 5 days ("), "{}", r.detail);
    }

    #[test]
    fn an_expired_certificate_still_reports_its_date() {
        let server = tls_server(-90, -3);
        let r = check("Cert", tls(server.port, false));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls));
        assert!(r.detail.starts_with("certificate expired 2 day(s) ago ("), "{}", r.detail);
        assert!(r.cert.unwrap().days_left < 0);
    }

    #[test]
    fn tls_on_a_closed_port_is_a_connect_failure() {
        let r = check("Cert", tls(closed_port(), true));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect));
        assert!(r.cert.is_none());
    }

    #[test]
    fn tls_against_a_plain_http_server_is_a_tls_failure() {
        // A plain HTTP server that speaks first, like one answering garbage with a 400.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let r = check("Cert", tls(port, true));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls), "{r:?}");
        assert!(r.detail.starts_with("tls handshake failed"), "{}", r.detail);
    }

    #[test]
    fn https_url_with_an_untrusted_certificate_is_a_tls_failure() {
        let server = tls_server(-1, 90);
        let r = check("Secure", Check::Url(url(&format!("https://localhost:{}/", server.port), 200)));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls), "{r:?}");
        assert!(r.detail.starts_with("tls: "), "{}", r.detail);
    }

    #[test]
    fn https_url_with_cert_warning_days_reports_the_certificate_even_when_untrusted() {
        let server = tls_server(-1, 90);
        let mut c = url(&format!("https://localhost:{}/", server.port), 200);
        c.cert_warning_days = Some(14.0);
        let r = check("Secure", Check::Url(c));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Tls), "{r:?}");
        assert_eq!(r.cert.as_ref().map(|c| c.days_left), Some(90));
        assert!(r.detail.starts_with("tls: "), "{}", r.detail);
        assert!(
            r.detail.contains(", certificate not trusted (unknown issuer, self-signed?), expires "),
            "{}",
            r.detail
        );
    }

    #[test]
    fn huge_timeouts_never_panic_and_change_nothing() {
        let ok = Answer::status(200).body("healthy").start();
        let tls_server = tls_server(-1, 90);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        for huge in [Duration::MAX, Duration::from_secs(u64::MAX / 2), Duration::new(u64::MAX, 999_999_999)] {
            let mut u = url(&ok.url(), 200);
            u.timeout = huge;
            u.max_latency = Some(huge);
            u.body_contains = Some("healthy".into());
            let mut p = PortCheck::new("localhost", port);
            p.timeout = huge;
            let mut t = TlsCheck::new("localhost");
            (t.port, t.verify, t.timeout) = (tls_server.port, false, huge);
            let mut s = url(&format!("https://localhost:{}/", tls_server.port), 200);
            (s.timeout, s.cert_warning_days) = (huge, Some(14.0));
            let probes = vec![
                Probe::new("url", Check::Url(u)),
                Probe::new("port", Check::Port(p)),
                Probe::new("tls", Check::Tls(t)),
                Probe::new("https", Check::Url(s)),
                Probe::new("process", Check::Process(ProcessCheck::new("no such [p]rocess", huge).unwrap())),
            ];
            let results = run_all(&probes, &RunOptions::default());
            let outcomes: Vec<_> = results.iter().map(|r| (r.name.as_str(), r.outcome)).collect();
            assert_eq!(
                outcomes,
                [
                    ("url", Outcome::Up),
                    ("port", Outcome::Up),
                    ("tls", Outcome::Up),
                    ("https", Outcome::Down(FailureKind::Tls)),
                    ("process", Outcome::Down(FailureKind::Process)),
                ],
                "{results:#?}"
            );
            assert!(results[3].detail.contains("certificate not trusted"), "{}", results[3].detail);
        }
    }
}

// ---- any input ----------------------------------------------------------------------------

#[test]
fn odd_inputs_are_results_never_panics() {
    let silent = Silent::start();
    let mut probes = Vec::new();
    for target in
        ["", "not a url", "http://", "https://[::1", "http://:80/", "ftp://127.0.0.1/", "http://\u{1b}[31m/"]
    {
        probes.push(Probe::new(format!("url {target:?}"), Check::Url(url(target, 200))));
    }
    for host in ["", " ", "\u{0}", "[::1", "a..b", &"x".repeat(300)] {
        let mut p = PortCheck::new(host, 80);
        p.timeout = Duration::from_millis(300);
        probes.push(Probe::new(format!("port {host:?}"), Check::Port(p)));
        if cfg!(feature = "tls") {
            let mut t = TlsCheck::new(host);
            t.timeout = Duration::from_millis(300);
            probes.push(Probe::new(format!("tls {host:?}"), Check::Tls(t)));
        }
    }
    let mut zero = PortCheck::new("127.0.0.1", 0);
    zero.timeout = Duration::ZERO;
    probes.push(Probe::new("port 0, no time", Check::Port(zero)));
    let mut zero = url(&silent.url(), 200);
    zero.timeout = Duration::ZERO;
    probes.push(Probe::new("url, no time", Check::Url(zero)));
    for gb in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        probes.push(Probe::new("disk", disk(&PathBuf::from("/"), gb)));
    }
    let results = run_all(&probes, &RunOptions::default());
    assert_eq!(results.len(), probes.len());
    for r in &results {
        assert_ne!(r.outcome, Outcome::Unknown(ops_health::Unchecked::Panic), "{r:?}");
        // Without the tls feature an https URL is unsupported rather than down.
        let unsupported =
            !cfg!(feature = "tls") && r.outcome == Outcome::Unknown(ops_health::Unchecked::Unsupported);
        if !r.name.starts_with("disk") {
            assert!(r.outcome.is_down() || unsupported, "{r:?}");
        }
    }
}

#[test]
fn a_response_head_over_16_kib_says_so() {
    let big = Answer::status(200).header("X-Big", &"a".repeat(17 * 1024)).start();
    let r = check("Big", Check::Url(url(&big.url(), 200)));
    assert_eq!(
        (r.outcome, r.detail.as_str()),
        (Outcome::Down(FailureKind::Protocol), "response head larger than 16 KiB")
    );
    let fits = Answer::status(200).header("X-Big", &"a".repeat(15 * 1024)).start();
    assert_eq!(check("Fits", Check::Url(url(&fits.url(), 200))).outcome, Outcome::Up);
}
