//! A real resolver that never answers: the test binary runs itself again in new user, network
//! and mount namespaces (`unshare`), where 127.0.0.1:53 is a UDP socket that reads nothing and
//! /etc/resolv.conf (bind-mounted over) names it. There, hundreds of checks of hosts that need
//! DNS all end by their timeout, and the lookup threads left waiting on getaddrinfo stay
//! within the process-wide bound: one for every check of the same host, at most 32 in all.
//! The bound itself, with the system's lookup replaced, is unit-tested in `src/dns.rs`.

#![cfg(target_os = "linux")]
#![allow(clippy::print_stdout)] // the child reports to the parent on standard output

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use ops_health::{Check, FailureKind, Outcome, PortCheck, Probe, RunOptions, UrlCheck, run_all};
use test_support::netns;

/// What the child prints when every assertion held.
const DONE: &str = "silent resolver: all checks ended, lookup threads bounded";

#[test]
fn checks_of_hosts_behind_a_silent_resolver_end_and_leak_no_threads() {
    if netns::inside() {
        inside();
        return;
    }
    let Some(out) =
        netns::rerun_in_namespaces("checks_of_hosts_behind_a_silent_resolver_end_and_leak_no_threads")
    else {
        return;
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains(DONE), "the child did not run the checks:\n{text}");
}
/// Threads of this process named `resolve`: the lookup threads.
fn lookup_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap().flatten();
    tasks
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "resolve"))
        .count()
}

fn inside() {
    netns::loopback_up();
    // The silent resolver: a socket on the port /etc/resolv.conf names, never read; one try,
    // 30 s long, so the lookups outlive the checks by far.
    let _dns = UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53 in the new network namespace");
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n").unwrap();
    netns::bind(&resolv, Path::new("/etc/resolv.conf"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let timeout = Duration::from_millis(500);
    let port_check = |host: &str, port| {
        let mut c = PortCheck::new(host, port);
        c.timeout = timeout;
        Check::Port(c)
    };
    let mut probes: Vec<Probe> =
        (0..300).map(|i| Probe::new(format!("same-{i}"), port_check("hang.example.com", 80))).collect();
    probes.extend((0..60).map(|i| {
        let mut c = UrlCheck::new(format!("http://host-{i}.example.com/"));
        c.timeout = timeout;
        Probe::new(format!("url-{i}"), Check::Url(c))
    }));
    // Local services need no resolver.
    probes.push(Probe::new("local-ip", port_check("127.0.0.1", port)));
    probes.push(Probe::new("localhost", port_check("localhost", port)));
    let results = run_all(&probes, &RunOptions::with_max_concurrency(1024));

    for r in &results[..probes.len() - 2] {
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Timeout), "{r:?}");
        assert!(r.detail.contains("resolving ") || r.detail.contains("timed out after 0.5s"), "{r:?}");
    }
    for r in &results[probes.len() - 2..] {
        assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    }
    // The lookups still wait on getaddrinfo (30 s), each on its thread: 61 distinct hosts,
    // but no more threads than the bound, and checks of the same host shared one.
    let resolve = lookup_threads();
    assert!(resolve > 0, "the resolver answered after all? {results:?}");
    assert!(resolve <= 32, "{resolve} lookup threads");
    let shared = results[..300].iter().filter(|r| r.detail.starts_with("port 80: resolving")).count();
    println!(
        "{DONE} ({resolve} lookup threads for 361 checks, {shared} of 300 checks of one host waited on one)"
    );
}
