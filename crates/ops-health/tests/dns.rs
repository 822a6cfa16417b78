//! `dns` checks against a real DNS server (dnsmasq on 127.0.0.1 and a free port, records of the
//! test's own) and against servers that misbehave on purpose: never answering, answering with
//! another id, truncating (the answer then comes over TCP), answering garbage, answering with
//! an error code; and without a server, the system's from /etc/resolv.conf. No test measures
//! time: a check that did not end would hang the test.

#![allow(clippy::print_stdout)] // the namespaced child reports to the parent on standard output

use std::time::Duration;

use ops_health::{Check, CheckResult, DnsCheck, FailureKind, Outcome, Probe, RecordType, run, run_all};
use test_support::dns::{Behaviour, Dnsmasq, FakeDns};
use test_support::netns;

fn check(server: &str, query: &str, kind: RecordType, expected: &[&str]) -> CheckResult {
    let mut c = DnsCheck::new(query, kind);
    c.server = Some(server.to_owned());
    c.expected = expected.iter().map(|s| (*s).to_owned()).collect();
    c.timeout = Duration::from_millis(1500);
    assert_eq!(c.validate(), Ok(()));
    run(&Probe::new("Resolver", Check::Dns(c)))
}

fn dnsmasq() -> Option<Dnsmasq> {
    Dnsmasq::start(&[
        "--address=/api.test/10.1.2.3",
        "--address=/api.test/10.1.2.4",
        "--address=/v6.test/fd00::53",
        "--host-record=host.test,10.1.2.5",
        "--txt-record=txt.test,v=spf1 -all",
        "--mx-host=mx.test,mail.test,10",
        "--cname=alias.test,api.test",
        "--ptr-record=3.2.1.10.in-addr.arpa,api.test",
        "--srv-host=_sip._udp.srv.test,sip.test,5060,0,5",
    ])
}

#[test]
fn records_of_every_type_from_a_real_server() {
    let Some(server) = dnsmasq() else { return };
    let s = server.server();
    let r = check(&s, "api.test", RecordType::A, &["10.1.2.3", "10.1.2.4"]);
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let dns = r.dns.as_ref().unwrap();
    let mut records = dns.records.clone();
    records.sort();
    assert_eq!(records, ["10.1.2.3", "10.1.2.4"]);
    assert_eq!((dns.rcode.as_str(), dns.tcp, dns.server), ("NOERROR", false, server.addr));
    assert!(r.detail.starts_with("A api.test: 10.1.2."), "{}", r.detail);

    let cases: &[(&str, RecordType, &[&str], &str)] = &[
        ("v6.test", RecordType::Aaaa, &["fd00:0::53"], "AAAA v6.test: fd00::53"),
        ("txt.test", RecordType::Txt, &["v=spf1 -all"], "TXT txt.test: v=spf1 -all"),
        ("mx.test", RecordType::Mx, &["mail.test.", "10 MAIL.test"], "MX mx.test: 10 mail.test"),
        ("alias.test", RecordType::Cname, &["api.test"], "CNAME alias.test: api.test"),
        ("3.2.1.10.in-addr.arpa", RecordType::Ptr, &["api.test"], "PTR 3.2.1.10.in-addr.arpa: api.test"),
        (
            "_sip._udp.srv.test",
            RecordType::Srv,
            &["sip.test", "0 5 5060 sip.test"],
            "SRV _sip._udp.srv.test: 0 5 5060 sip.test",
        ),
    ];
    for &(query, kind, expected, detail) in cases {
        let r = check(&s, query, kind, expected);
        assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, detail), "{query} {kind}: {r:?}");
    }
}

#[test]
fn nxdomain_an_empty_answer_and_a_missing_value_fail_of_kind_dns_and_say_which() {
    let Some(server) = dnsmasq() else { return };
    let s = server.server();
    let dns = Outcome::Down(FailureKind::Dns);
    let r = check(&s, "nothing.test", RecordType::A, &[]);
    assert_eq!(
        (r.outcome, r.detail.clone()),
        (dns, format!("NXDOMAIN: nothing.test does not exist (asked {s})"))
    );
    assert_eq!(r.dns.as_ref().unwrap().rcode, "NXDOMAIN");
    let r = check(&s, "host.test", RecordType::Aaaa, &[]);
    assert_eq!(
        (r.outcome, r.detail.clone()),
        (dns, format!("no AAAA record for host.test (empty answer from {s})"))
    );
    let r = check(&s, "api.test", RecordType::A, &["10.1.2.3", "10.9.9.9", "10.8.8.8"]);
    assert_eq!(r.outcome, dns);
    assert!(
        r.detail.starts_with("\"10.9.9.9\", \"10.8.8.8\" not in the A answer for api.test (got 10.1.2."),
        "{}",
        r.detail
    );
    // A name outside the server's zones, without upstream servers: refused.
    let r = check(&s, "example.org", RecordType::A, &[]);
    assert_eq!((r.outcome, r.detail.clone()), (dns, format!("REFUSED from {s} for A example.org")));
}

#[test]
fn an_answer_too_long_for_udp_is_asked_again_over_tcp() {
    let long = format!("--txt-record=big.test,{},{},{}", "a".repeat(200), "b".repeat(200), "c".repeat(200));
    let Some(server) = Dnsmasq::start(&[&long]) else { return };
    let r = check(
        &server.server(),
        "big.test",
        RecordType::Txt,
        &[&format!("{}{}{}", "a".repeat(200), "b".repeat(200), "c".repeat(200))],
    );
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    assert!(r.dns.as_ref().unwrap().tcp, "the 600-byte answer came over TCP");
}

#[test]
fn a_server_that_never_answers_ends_the_check_by_its_timeout() {
    let fake = FakeDns::start(Behaviour::Silent);
    let r = check(&fake.server(), "api.test", RecordType::A, &[]);
    assert_eq!(
        (r.outcome, r.detail.clone()),
        (Outcome::Down(FailureKind::Timeout), format!("no answer from {} within 1.5s", fake.addr))
    );
    assert!(r.dns.is_none());
}

#[test]
fn answers_with_another_id_are_ignored_not_believed() {
    let fake = FakeDns::start(Behaviour::WrongId);
    let r = check(&fake.server(), "api.test", RecordType::A, &[]);
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Timeout), "{r:?}");
    assert_eq!(
        r.detail,
        format!("no answer from {} within 1.5s (ignored 3 answer(s) to another query)", fake.addr)
    );
    assert_eq!(fake.queries().len(), 3, "the query was sent three times in the timeout");
}

#[test]
fn a_stray_answer_before_the_real_one_is_skipped() {
    let fake = FakeDns::start(Behaviour::StrayFirst);
    let r = check(&fake.server(), "api.test", RecordType::A, &["10.1.2.3"]);
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "A api.test: 10.1.2.3"), "{r:?}");
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp() {
    let fake = FakeDns::start(Behaviour::Truncating);
    let r = check(&fake.server(), "api.test", RecordType::A, &["10.1.2.4"]);
    assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Up, "A api.test: 10.1.2.3, 10.1.2.4"), "{r:?}");
    assert!(r.dns.as_ref().unwrap().tcp);
    assert_eq!(fake.tcp_queries(), 1);
}

#[test]
fn garbage_is_ignored_and_said() {
    let fake = FakeDns::start(Behaviour::Garbage);
    let r = check(&fake.server(), "api.test", RecordType::A, &[]);
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Timeout), "{r:?}");
    assert!(r.detail.ends_with("(ignored 3 message(s) that were not DNS)"), "{}", r.detail);
}

#[test]
fn servfail_fails_of_kind_dns() {
    let fake = FakeDns::start(Behaviour::Rcode(2));
    let r = check(&fake.server(), "api.test", RecordType::A, &[]);
    assert_eq!(
        (r.outcome, r.detail.clone()),
        (Outcome::Down(FailureKind::Dns), format!("SERVFAIL from {} for A api.test", fake.addr))
    );
}

#[test]
fn no_server_at_the_port_is_a_connect_failure() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = check(&format!("127.0.0.1:{port}"), "api.test", RecordType::A, &[]);
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect), "{r:?}");
    assert_eq!(r.detail, format!("no DNS server at 127.0.0.1:{port} (connection refused)"));
}

#[test]
fn every_query_has_its_own_id_and_source_port() {
    let fake = FakeDns::start(Behaviour::Rcode(2));
    let probes: Vec<Probe> = (0..8)
        .map(|i| {
            let mut c = DnsCheck::new(format!("q{i}.test"), RecordType::A);
            c.server = Some(fake.server());
            Probe::new(format!("q{i}"), Check::Dns(c))
        })
        .collect();
    let results = run_all(&probes, &ops_health::RunOptions::default());
    assert!(results.iter().all(|r| r.outcome == Outcome::Down(FailureKind::Dns)), "{results:?}");
    let queries = fake.queries();
    let ids: std::collections::HashSet<u16> = queries.iter().map(|q| q.0).collect();
    let ports: std::collections::HashSet<u16> = queries.iter().map(|q| q.1.port()).collect();
    assert_eq!(queries.len(), 8);
    assert!(ids.len() > 1 && ports.len() == 8, "{queries:?}");
}

const SYSTEM: &str = "dns: the system's nameserver from /etc/resolv.conf answered";

/// In a network namespace of its own, where dnsmasq listens on 127.0.0.1:53 and an
/// /etc/resolv.conf of the test's is mounted over the system's.
#[test]
fn without_a_server_the_first_nameserver_of_resolv_conf_is_asked() {
    if !netns::inside() {
        let Some(out) =
            netns::rerun_in_namespaces("without_a_server_the_first_nameserver_of_resolv_conf_is_asked")
        else {
            return;
        };
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains(SYSTEM), "the child failed:\n{text}");
        return;
    }
    netns::loopback_up();
    let Some(_server) = Dnsmasq::start_on(&["--address=/api.test/10.1.2.3"], Some(53)) else { return };
    let dir = tempfile::tempdir().unwrap();
    let system = |resolv_conf: &str| {
        let path = dir.path().join(format!("resolv-{}.conf", resolv_conf.len()));
        std::fs::write(&path, resolv_conf).unwrap();
        netns::bind(&path, std::path::Path::new("/etc/resolv.conf"));
        let mut c = DnsCheck::new("api.test", RecordType::A);
        c.timeout = Duration::from_secs(2);
        run(&Probe::new("System", Check::Dns(c)))
    };
    for resolv_conf in [
        "# written by the test\nsearch example.com\n; nameserver 10.0.0.1\nnameserver 127.0.0.1\nnameserver ::1\n",
        // No nameserver: glibc's default, the loopback.
        "search example.com\n",
    ] {
        let r = system(resolv_conf);
        assert_eq!(
            (r.outcome, r.detail.as_str()),
            (Outcome::Up, "A api.test: 10.1.2.3"),
            "{resolv_conf:?}: {r:?}"
        );
        assert_eq!(r.dns.unwrap().server, "127.0.0.1:53".parse().unwrap());
    }
    // A nameserver with no server behind it.
    let r = system("nameserver 127.0.0.2\n");
    assert_eq!(
        (r.outcome, r.detail.as_str()),
        (Outcome::Down(FailureKind::Connect), "no DNS server at 127.0.0.2:53 (connection refused)")
    );
    println!("{SYSTEM}");
}
