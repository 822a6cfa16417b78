//! Runs many checks at once on a bounded pool of scoped std threads.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::{
    Check, CheckResult, Failure, Probe, Unchecked, budget, command, disk, dns_check, http, net, ping, process,
};

/// How [`run_all`] runs.
///
/// At most `max_concurrency` checks are in flight, and never more than the process's file
/// descriptors afford: `(soft RLIMIT_NOFILE - descriptors open when run_all starts -
/// reserved_fds) / 2` (a check holds its socket and at most one more descriptor for its name
/// lookup), at least 1. Under a low limit (`ulimit -n 256`) checks then wait for each other
/// instead of failing for want of a descriptor. A check that still meets the system's refusal
/// (EMFILE and the like) is [`Outcome::Unknown`](crate::Outcome::Unknown), never down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    /// At most this many checks run at the same time. The default, 1024, lets a thousand
    /// hanging checks cost one timeout (threads are only started while checks hang).
    pub max_concurrency: usize,
    /// File descriptors left to the caller while checks run (its state files, logs, an
    /// outbox ...). Default 32.
    pub reserved_fds: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { max_concurrency: 1024, reserved_fds: 32 }
    }
}

impl RunOptions {
    /// The default options with `max_concurrency` set.
    pub fn with_max_concurrency(max_concurrency: usize) -> Self {
        Self { max_concurrency, ..Self::default() }
    }

    /// How many checks may be in flight now: `max_concurrency`, bounded by the descriptors.
    fn in_flight(&self) -> usize {
        let affordable = budget::affordable_checks(self.reserved_fds).unwrap_or(usize::MAX);
        self.max_concurrency.min(affordable).max(1)
    }
}

/// Stack size of a check thread: checks are shallow; this keeps 256 threads cheap.
const STACK_SIZE: usize = 512 * 1024;

/// Workers started at once; more are added while checks are stuck.
const INITIAL_WORKERS: usize = 8;

/// How often the runner looks for stuck workers.
const TICK: Duration = Duration::from_millis(1);

/// No check started for this long: every worker is stuck, so as many again are started.
/// Shorter, and checks that are merely slow under load (a thousand threads starting) make
/// the pool grow for nothing: each thread costs some 60 KiB of memory.
const STALLED: Duration = Duration::from_millis(10);

/// Runs one check on the calling thread. It cannot panic: a check that panics (a bug)
/// becomes an [`Outcome::Unknown`](crate::Outcome::Unknown) result.
pub fn run(probe: &Probe) -> CheckResult {
    panic::catch_unwind(AssertUnwindSafe(|| run_check(probe))).unwrap_or_else(|_| {
        CheckResult::failed(
            &probe.name,
            probe.check.kind(),
            Failure::unchecked(Unchecked::Panic, "internal error, the check panicked (a bug in agent-ops)"),
        )
    })
}

fn run_check(probe: &Probe) -> CheckResult {
    let name = probe.name.as_str();
    match &probe.check {
        Check::Url(c) => http::check_url(name, c),
        Check::Port(c) => net::check_port(name, c),
        Check::Process(c) => process::check_process(name, c),
        Check::Disk(c) => disk::check_disk(name, c),
        Check::Dns(c) => dns_check::check_dns(name, c),
        Check::Ping(c) => ping::check_ping(name, c),
        Check::Command(c) => command::check_command(name, c),
        Check::External(c) => c.run(name),
        #[cfg(feature = "tls")]
        Check::Tls(c) => crate::tls::check_tls(name, c),
        #[cfg(not(feature = "tls"))]
        Check::Tls(_) => CheckResult::failed(
            name,
            crate::CheckKind::Tls,
            Failure::unchecked(
                Unchecked::Unsupported,
                "tls checks need agent-ops built with the `tls` feature",
            ),
        ),
    }
}

/// Runs every probe concurrently (see [`RunOptions`] for how many at once) and returns the
/// results in the order of `probes`. Returns when the slowest check has finished, which is
/// bounded by the largest timeout when there are enough threads. It cannot panic.
pub fn run_all(probes: &[Probe], options: &RunOptions) -> Vec<CheckResult> {
    let workers = options.in_flight().min(probes.len().max(1));
    if probes.len() <= 1 || workers == 1 {
        return probes.iter().map(run).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<CheckResult>>> = probes.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(probe) = probes.get(i) else { break };
            let result = run(probe);
            *slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
        }
    };
    // Threads are cheap but not free: most checks finish in a fraction of a millisecond, so
    // start a few workers and double their number whenever 10 ms pass with work waiting and
    // no check started (every worker is stuck on a slow check). The calling thread is the last
    // worker, so at most `workers` checks are ever in flight.
    thread::scope(|scope| {
        // A thread that cannot be started leaves its share to the others.
        let grow = |count: usize| {
            (0..count)
                .filter(|_| {
                    thread::Builder::new()
                        .name("check".into())
                        .stack_size(STACK_SIZE)
                        .spawn_scoped(scope, work)
                        .is_ok()
                })
                .count()
        };
        let cap = workers - 1;
        let mut spawned = grow(INITIAL_WORKERS.min(cap));
        let mut last = usize::MAX;
        let mut stalled = Instant::now();
        while spawned < cap {
            let claimed = next.load(Ordering::Relaxed);
            if claimed >= probes.len() {
                break;
            }
            if claimed != last {
                (last, stalled) = (claimed, Instant::now());
            } else if stalled.elapsed() >= STALLED {
                let added = grow(spawned.max(1).min(cap - spawned));
                if added == 0 {
                    // The system gives no more threads: the calling thread works with those
                    // that started (never waiting here for threads that cannot come).
                    break;
                }
                spawned += added;
                stalled = Instant::now();
            }
            thread::sleep(TICK);
        }
        work();
    });
    // The calling thread works until the queue is empty, so every slot is filled.
    slots
        .into_iter()
        .zip(probes)
        .map(|(slot, probe)| {
            slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).unwrap_or_else(|| {
                let f = Failure::unchecked(Unchecked::Panic, "internal error, the check was not run");
                CheckResult::failed(&probe.name, probe.check.kind(), f)
            })
        })
        .collect()
}
