//! Name resolution by a deadline, on a bounded number of threads.
//!
//! The system resolver (getaddrinfo) cannot be interrupted, so a lookup runs on a thread of
//! its own and a check stops waiting for it at its deadline; the thread finishes when the
//! resolver gives up. Against a resolver that never answers, such threads would pile up with
//! every check, so they are bounded process-wide: at most [`LOOKUP_THREADS`] run at once, and
//! identical lookups in flight share one thread (500 checks of one hanging host cost one).
//! A lookup that finds every thread busy waits for one within its own deadline, then fails
//! with kind `timeout`, saying why. Addresses and `localhost` (RFC 6761: always the loopback)
//! need no lookup, so local services are checked whatever the resolver does.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

use crate::deadline::Deadline;
use crate::{Failure, FailureKind, Unchecked, net, secs};

/// Lookup threads alive at once, process-wide.
pub(crate) const LOOKUP_THREADS: usize = 32;

/// The system's lookup: what getaddrinfo answers.
type Lookup = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// Resolves `host` by `deadline` through the process's lookup threads.
pub(crate) fn resolve(host: &str, port: u16, deadline: Deadline) -> Result<Vec<SocketAddr>, Failure> {
    static LOOKUPS: OnceLock<Arc<Lookups>> = OnceLock::new();
    LOOKUPS.get_or_init(|| Lookups::new(LOOKUP_THREADS, system_lookup)).resolve(host, port, deadline)
}

/// The answer of one lookup, shared by every check that asked for it.
type Answer = Result<Vec<SocketAddr>, Failure>;

/// One lookup in flight.
#[derive(Default)]
struct Flight {
    answer: Mutex<Option<Answer>>,
    done: Condvar,
}

impl Flight {
    fn finish(&self, answer: Answer) {
        *lock(&self.answer) = Some(answer);
        self.done.notify_all();
    }

    fn wait(&self, deadline: Deadline) -> Option<Answer> {
        let mut answer = lock(&self.answer);
        loop {
            if let Some(a) = answer.as_ref() {
                return Some(a.clone());
            }
            let left = deadline.left();
            if left.is_zero() {
                return None;
            }
            answer = self.done.wait_timeout(answer, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[derive(Default)]
struct State {
    flights: HashMap<(String, u16), Arc<Flight>>,
    threads: usize,
}

pub(crate) struct Lookups {
    state: Mutex<State>,
    /// Signalled when a lookup thread ends.
    freed: Condvar,
    budget: usize,
    lookup: Lookup,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lookups {
    fn new(budget: usize, lookup: Lookup) -> Arc<Self> {
        Arc::new(Self { state: Mutex::default(), freed: Condvar::new(), budget: budget.max(1), lookup })
    }

    fn resolve(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        deadline: Deadline,
    ) -> Result<Vec<SocketAddr>, Failure> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if host.eq_ignore_ascii_case("localhost") {
            return Ok(vec![
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ]);
        }
        let timed_out = |why: &str| {
            Failure::down(
                FailureKind::Timeout,
                format!("resolving {host} timed out after {}{why}", secs(deadline.timeout())),
            )
        };
        let key = (host.to_owned(), port);
        let mut state = lock(&self.state);
        let flight = loop {
            if let Some(flight) = state.flights.get(&key) {
                break Arc::clone(flight);
            }
            if state.threads < self.budget {
                state.threads += 1;
                let flight = Arc::new(Flight::default());
                state.flights.insert(key.clone(), Arc::clone(&flight));
                drop(state);
                self.start(&key, &flight);
                break flight;
            }
            let left = deadline.left();
            if left.is_zero() {
                return Err(timed_out(&format!(
                    " (all {} lookup threads were waiting for the resolver)",
                    self.budget
                )));
            }
            state = self.freed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        };
        flight.wait(deadline).unwrap_or_else(|| Err(timed_out("")))
    }

    /// Starts the thread of a new flight; a thread that cannot start ends the flight at once.
    fn start(self: &Arc<Self>, key: &(String, u16), flight: &Arc<Flight>) {
        let (me, mine, host) = (Arc::clone(self), Arc::clone(flight), key.clone());
        let started = thread::Builder::new().name("resolve".into()).spawn(move || {
            let answer = match (me.lookup)(&host.0, host.1) {
                Ok(addrs) if !addrs.is_empty() => Ok(addrs),
                Err(e) if net::resource_words(&e).is_some() => {
                    Err(Failure::unchecked(Unchecked::Resources, net::os_words(&e)))
                }
                _ => Err(Failure::down(FailureKind::Dns, format!("cannot resolve host {}", host.0))),
            };
            mine.finish(answer);
            me.end(&host, &mine);
        });
        if let Err(e) = started {
            flight.finish(Err(Failure::no_thread(&e)));
            self.end(key, flight);
        }
    }

    /// A flight is over: forget it and free its thread.
    fn end(&self, key: &(String, u16), flight: &Arc<Flight>) {
        let mut state = lock(&self.state);
        if state.flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            state.flights.remove(key);
        }
        state.threads -= 1;
        drop(state);
        self.freed.notify_all();
    }
}

/// The bounds with the system's lookup replaced by one that hangs until the test opens a
/// gate: the real-resolver test is `tests/silent_resolver.rs`.
#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::Outcome;

    /// A lookup that blocks until opened, counting its calls.
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        calls: AtomicUsize,
    }

    impl Gate {
        const fn new() -> Self {
            Self { open: Mutex::new(false), opened: Condvar::new(), calls: AtomicUsize::new(0) }
        }

        fn pass(&self, port: u16) -> Vec<SocketAddr> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut open = lock(&self.open);
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
            vec![SocketAddr::from(([127, 0, 0, 1], port))]
        }

        fn release(&self) {
            *lock(&self.open) = true;
            self.opened.notify_all();
        }
    }

    fn threads(lookups: &Lookups) -> usize {
        lock(&lookups.state).threads
    }

    fn wait_idle(lookups: &Lookups) {
        while threads(lookups) > 0 {
            thread::yield_now();
        }
    }

    fn short() -> Deadline {
        Deadline::after(Duration::from_millis(200))
    }

    #[test]
    fn identical_lookups_in_flight_share_one_thread() {
        static GATE: Gate = Gate::new();
        let lookups = Lookups::new(4, |_, port| Ok(GATE.pass(port)));
        let results: Vec<_> = thread::scope(|s| {
            let handles: Vec<_> =
                (0..50).map(|_| s.spawn(|| lookups.resolve("hang.test", 80, short()))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            let f = r.as_ref().unwrap_err();
            assert_eq!(f.outcome, Outcome::Down(FailureKind::Timeout));
            assert_eq!(f.detail, "resolving hang.test timed out after 0.2s");
        }
        assert_eq!(GATE.calls.load(Ordering::SeqCst), 1, "50 checks of one host, one lookup");
        assert_eq!(threads(&lookups), 1, "the lookup goes on after its checks gave up");
        GATE.release();
        wait_idle(&lookups);
        assert_eq!(
            lookups.resolve("hang.test", 80, short()),
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], 80))])
        );
    }

    #[test]
    fn lookup_threads_never_exceed_the_budget() {
        static GATE: Gate = Gate::new();
        let lookups = Lookups::new(2, |_, port| Ok(GATE.pass(port)));
        let results: Vec<_> = thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let lookups = &lookups;
                    s.spawn(move || lookups.resolve(&format!("host{i}.test"), 80, short()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(GATE.calls.load(Ordering::SeqCst), 2, "six hosts, two threads");
        assert_eq!(threads(&lookups), 2);
        let waited = results
            .iter()
            .filter(|r| {
                r.as_ref()
                    .unwrap_err()
                    .detail
                    .ends_with("(all 2 lookup threads were waiting for the resolver)")
            })
            .count();
        assert_eq!(waited, 4, "{results:?}");
        assert!(
            results.iter().all(|r| r.as_ref().unwrap_err().outcome == Outcome::Down(FailureKind::Timeout))
        );
        GATE.release();
        wait_idle(&lookups);
    }

    #[test]
    fn a_lookup_past_the_budget_waits_for_a_thread_within_its_deadline() {
        static GATE: Gate = Gate::new();
        let lookups = Lookups::new(1, |_, port| Ok(GATE.pass(port)));
        thread::scope(|s| {
            let first = s.spawn(|| lookups.resolve("a.test", 1, Deadline::after(Duration::from_secs(600))));
            while GATE.calls.load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
            let second = s.spawn(|| lookups.resolve("b.test", 2, Deadline::after(Duration::from_secs(600))));
            GATE.release();
            assert_eq!(first.join().unwrap(), Ok(vec![SocketAddr::from(([127, 0, 0, 1], 1))]));
            assert_eq!(second.join().unwrap(), Ok(vec![SocketAddr::from(([127, 0, 0, 1], 2))]));
        });
        assert_eq!(GATE.calls.load(Ordering::SeqCst), 2);
        wait_idle(&lookups);
    }

    #[test]
    fn addresses_and_localhost_need_no_lookup() {
        static GATE: Gate = Gate::new();
        let lookups = Lookups::new(1, |_, port| Ok(GATE.pass(port)));
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "LocalHost"] {
            assert!(lookups.resolve(host, 5, short()).is_ok(), "{host}");
        }
        assert_eq!(GATE.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_systems_refusal_is_not_a_dns_failure() {
        let lookups = Lookups::new(1, |_, _| {
            Err(io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error()))
        });
        let f = lookups.resolve("a.test", 1, Deadline::after(Duration::from_secs(600))).unwrap_err();
        assert_eq!(f.outcome, Outcome::Unknown(Unchecked::Resources));
        assert_eq!(f.detail, "agent-ops could not run this check: too many open files");
        let lookups = Lookups::new(1, |_, _| Ok(Vec::new()));
        let f = lookups.resolve("a.test", 1, Deadline::after(Duration::from_secs(600))).unwrap_err();
        assert_eq!(
            (f.outcome, f.detail.as_str()),
            (Outcome::Down(FailureKind::Dns), "cannot resolve host a.test")
        );
    }
}
