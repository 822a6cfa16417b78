//! A process the system refuses resources: every check that could not be made is an
//! unknown outcome (kind `internal`, "agent-ops could not run this check: ..."), never the
//! service down, and the runner still returns. Each test runs the test binary again as a child
//! that starves itself (this process must keep its descriptors and threads for the others).

#![cfg(target_os = "linux")]
#![allow(clippy::print_stdout)] // the child reports to the parent on standard output

use std::fs::File;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use ops_health::{
    Check, CheckResult, DiskCheck, Outcome, PortCheck, Probe, ProcessCheck, RunOptions, TlsCheck, Unchecked,
    UrlCheck, run, run_all,
};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Set in the child.
const CHILD: &str = "OPS_HEALTH_STARVED_CHILD";

/// What the child prints when every assertion held.
const DONE: &str = "starved child: done";

/// Runs the test `name` again in a child of this test binary and checks it passed.
fn in_child(name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains(DONE), "the child did not run the checks:\n{text}");
}

fn unknown(r: &CheckResult, words: &str) {
    assert_eq!(r.outcome, Outcome::Unknown(Unchecked::Resources), "{r:?}");
    assert_eq!(r.detail, format!("agent-ops could not run this check: {words}"), "{r:?}");
    assert_eq!(r.to_string().split(" - ").next(), Some(format!("[FAIL] {}", r.name).as_str()));
}

#[test]
fn with_no_descriptor_left_the_checks_are_unknown_never_down() {
    if std::env::var_os(CHILD).is_none() {
        return in_child("with_no_descriptor_left_the_checks_are_unknown_never_down");
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let timeout = Duration::from_secs(5);
    let tls = cfg!(feature = "tls").then(|| {
        let mut c = TlsCheck::new("localhost");
        c.port = port;
        ("tls", Check::Tls(c))
    });
    let checks: Vec<(&str, Check)> = [
        ("port", Check::Port(PortCheck::new("127.0.0.1", port))),
        ("url", Check::Url(UrlCheck::new(format!("http://127.0.0.1:{port}/")))),
        ("process", Check::Process(ProcessCheck::new("sh|init|cargo|systemd", timeout).unwrap())),
    ]
    .into_iter()
    .chain(tls)
    .collect();
    // Take every descriptor left.
    let mut held = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        held.push(f);
    }
    let results: Vec<CheckResult> =
        checks.iter().map(|(name, c)| run(&Probe::new(*name, c.clone()))).collect();
    // A filesystem is asked without a descriptor: the disk check still answers.
    let disk = run(&Probe::new("disk", Check::Disk(DiskCheck::new("/"))));
    drop(held);
    for r in &results {
        unknown(r, "too many open files");
    }
    assert!(!disk.outcome.is_unknown(), "{disk:?}");
    // With descriptors back, the same port is up.
    assert!(run(&Probe::new("port", checks[0].1.clone())).outcome.is_up());
    println!("{DONE}");
}

#[test]
fn with_no_thread_to_start_the_runner_returns_and_lookups_are_unknown() {
    if std::env::var_os(CHILD).is_none() {
        return in_child("with_no_thread_to_start_the_runner_returns_and_lookups_are_unknown");
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut probes: Vec<Probe> = (0..20)
        .map(|i| Probe::new(format!("up-{i}"), Check::Port(PortCheck::new("127.0.0.1", port))))
        .collect();
    // A host name takes a lookup thread.
    probes.push(Probe::new("named", Check::Port(PortCheck::new("service.example", port))));
    // No new thread for this user: root is exempt from the limit, so this thread (threads
    // start with the credentials of the one that starts them) becomes nobody first.
    if rustix::process::geteuid().is_root() {
        let nobody = rustix::process::Uid::from_raw(65_534);
        rustix::thread::set_thread_res_uid(nobody, nobody, nobody).unwrap();
    }
    let old = getrlimit(Resource::Nproc);
    setrlimit(Resource::Nproc, Rlimit { current: Some(0), maximum: old.maximum }).unwrap();
    assert!(std::thread::Builder::new().spawn(|| ()).is_err(), "the limit binds");
    let results = run_all(&probes, &RunOptions::default());
    for r in &results[..20] {
        assert!(r.outcome.is_up(), "{r:?}");
    }
    let named = &results[20];
    assert_eq!(named.outcome, Outcome::Unknown(Unchecked::Resources), "{named:?}");
    assert_eq!(
        named.detail,
        "agent-ops could not run this check: cannot start a thread (resource temporarily unavailable)"
    );
    println!("{DONE}");
}
