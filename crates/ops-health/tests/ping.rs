//! `ping` checks against 127.0.0.1 and ::1, and, in a network namespace of the test's own
//! (`unshare`, see test-support's `netns`), through each kind of socket and against hosts that
//! cannot answer: an unreachable route, a loopback that ignores echo requests, a loopback that
//! is down, and a process the system allows no ICMP socket. Nothing leaves the loopback.

#![cfg(target_os = "linux")]
#![allow(clippy::print_stdout)] // the child reports to the parent on standard output

use std::time::Duration;

use ops_health::{
    Check, CheckResult, FailureKind, Outcome, PingCheck, PingSocket, Probe, Unchecked, run, run_all,
};
use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
use test_support::netns;

fn ping(host: &str, count: u16, timeout: Duration) -> CheckResult {
    let mut c = PingCheck::new(host);
    c.count = count;
    c.timeout = timeout;
    run(&Probe::new("Gateway", Check::Ping(c)))
}

fn up(r: &CheckResult, address: &str, socket: PingSocket) {
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    let stats = r.ping.as_ref().unwrap();
    assert_eq!(
        (stats.address.to_string().as_str(), stats.sent, stats.received, stats.socket),
        (address, 3, 3, socket),
        "{r:?}"
    );
    let rtt = stats.rtt.unwrap();
    assert!(rtt.min <= rtt.avg && rtt.avg <= rtt.max, "{rtt:?}");
    assert!(
        r.detail.starts_with(&format!("{address}: 3/3 replies, 0% packet loss, rtt min/avg/max ")),
        "{}",
        r.detail
    );
    assert!(r.detail.ends_with(" ms"), "{}", r.detail);
}

/// Runs `test` again in new namespaces and checks that it said `done`.
fn in_namespaces(test: &str, done: &str) {
    let Some(out) = netns::rerun_in_namespaces(test) else { return };
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed:\n{said}");
    assert!(said.contains(done), "the child did not run the checks:\n{said}");
}

#[test]
fn the_loopback_answers_over_ipv4_and_ipv6() {
    let r = ping("127.0.0.1", 3, Duration::from_secs(2));
    if r.outcome == Outcome::Unknown(Unchecked::Forbidden) {
        test_support::missing(&format!("an ICMP socket for this user ({})", r.detail));
        return;
    }
    let socket = r.ping.as_ref().map_or(PingSocket::Raw, |p| p.socket);
    up(&r, "127.0.0.1", socket);
    up(&ping("::1", 3, Duration::from_secs(2)), "::1", socket);
    up(&ping("localhost", 3, Duration::from_secs(2)), "127.0.0.1", socket);
    // Many at once, each through its own socket, see only their own replies.
    let probes: Vec<Probe> = (0..20)
        .map(|i| {
            let mut c = PingCheck::new(if i % 2 == 0 { "127.0.0.1" } else { "::1" });
            c.timeout = Duration::from_secs(2);
            Probe::new(format!("p{i}"), Check::Ping(c))
        })
        .collect();
    for r in run_all(&probes, &ops_health::RunOptions::default()) {
        assert_eq!(r.outcome, Outcome::Up, "{r:?}");
        assert_eq!(r.ping.as_ref().unwrap().received, 3);
    }
}

const SOCKETS: &str = "ping sockets: datagram and raw both answered";

#[test]
fn each_kind_of_socket_in_a_namespace() {
    if !netns::inside() {
        return in_namespaces("each_kind_of_socket_in_a_namespace", SOCKETS);
    }
    netns::loopback_up();
    // A new network namespace allows no group the datagram socket: raw it is (the namespace's
    // root has CAP_NET_RAW there).
    up(&ping("127.0.0.1", 3, Duration::from_secs(2)), "127.0.0.1", PingSocket::Raw);
    up(&ping("::1", 3, Duration::from_secs(2)), "::1", PingSocket::Raw);
    netns::sysctl("net/ipv4/ping_group_range", "0 0");
    up(&ping("127.0.0.1", 3, Duration::from_secs(2)), "127.0.0.1", PingSocket::Datagram);
    up(&ping("::1", 3, Duration::from_secs(2)), "::1", PingSocket::Datagram);
    println!("{SOCKETS}");
}

const UNREACHABLE: &str = "ping: unreachable, silent and down loopbacks all failed as they should";

#[test]
fn hosts_that_cannot_answer_in_a_namespace() {
    if !netns::inside() {
        return in_namespaces("hosts_that_cannot_answer_in_a_namespace", UNREACHABLE);
    }
    // The loopback is down: no route at all.
    let r = ping("127.0.0.1", 2, Duration::from_millis(500));
    assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect), "{r:?}");
    assert_eq!(r.detail, "127.0.0.1: 0/2 replies, 100% packet loss (network is unreachable)");

    netns::loopback_up();
    netns::route_unreachable(std::net::Ipv4Addr::new(127, 0, 0, 3));
    // Raw first: a new namespace allows no group the datagram socket, and once allowed (the
    // only group mapped here is 0) it cannot be taken back.
    for raw in [true, false] {
        if !raw {
            netns::sysctl("net/ipv4/ping_group_range", "0 0");
        }
        // An unreachable route: the system refuses at once.
        netns::sysctl("net/ipv4/icmp_echo_ignore_all", "0");
        let r = ping("127.0.0.3", 3, Duration::from_millis(600));
        assert_eq!(r.outcome, Outcome::Down(FailureKind::Connect), "{r:?}");
        assert_eq!(r.detail, "127.0.0.3: 0/3 replies, 100% packet loss (no route to host)");
        // A host that ignores echo requests: every request lost, the check ends by its timeout.
        netns::sysctl("net/ipv4/icmp_echo_ignore_all", "1");
        netns::sysctl("net/ipv6/icmp/echo_ignore_all", "1");
        for host in ["127.0.0.1", "::1"] {
            let r = ping(host, 3, Duration::from_millis(600));
            assert_eq!(r.outcome, Outcome::Down(FailureKind::PacketLoss), "{r:?}");
            assert_eq!(r.detail, format!("{host}: 0/3 replies, 100% packet loss"));
            assert_eq!(
                r.ping.as_ref().unwrap().socket,
                if raw { PingSocket::Raw } else { PingSocket::Datagram }
            );
        }
        netns::sysctl("net/ipv6/icmp/echo_ignore_all", "0");
    }
    println!("{UNREACHABLE}");
}

const FORBIDDEN: &str = "ping: without any ICMP socket, unknown, never down";

#[test]
fn no_icmp_socket_is_unknown_not_down() {
    if !netns::inside() {
        return in_namespaces("no_icmp_socket_is_unknown_not_down", FORBIDDEN);
    }
    netns::loopback_up();
    // A new network namespace allows no group the datagram socket; this thread (and the check threads it starts) loses CAP_NET_RAW.
    let mut caps = capabilities(None).unwrap();
    caps.effective.remove(CapabilitySet::NET_RAW);
    caps.permitted.remove(CapabilitySet::NET_RAW);
    set_capabilities(None, caps).unwrap();
    let probes: Vec<Probe> = ["127.0.0.1", "::1", "127.0.0.1"]
        .iter()
        .map(|h| Probe::new(*h, Check::Ping(PingCheck::new(*h))))
        .collect();
    for r in run_all(&probes, &ops_health::RunOptions::default()) {
        assert_eq!(r.outcome, Outcome::Unknown(Unchecked::Forbidden), "{r:?}");
        assert!(
            r.detail.starts_with("agent-ops could not run this check: cannot ping here: the system allows neither an ICMP datagram socket (permission denied; net.ipv4.ping_group_range must include one of this process's groups) nor a raw socket (operation not permitted; needs root or CAP_NET_RAW)"),
            "{}",
            r.detail
        );
        assert_eq!(r.outcome.reason(), Some("internal"));
    }
    println!("{FORBIDDEN}");
}
