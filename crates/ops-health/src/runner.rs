//! Runs many checks at once on a bounded pool of scoped std threads.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::{Check, CheckResult, FailureKind, Probe, disk, http, net, process, tls};

/// How [`run_all`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// At most this many checks run at the same time. The default, 256, lets 256 hanging
    /// checks cost one timeout.
    pub max_concurrency: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { max_concurrency: 256 }
    }
}

/// Stack size of a check thread: checks are shallow; this keeps 256 threads cheap.
const STACK_SIZE: usize = 512 * 1024;

/// Workers started at once; more are added while checks are stuck.
const INITIAL_WORKERS: usize = 8;

/// How often the runner looks for stuck workers.
const TICK: Duration = Duration::from_millis(1);

/// Runs one check on the calling thread.
pub fn run(probe: &Probe) -> CheckResult {
    let name = probe.name.as_str();
    match &probe.check {
        Check::Url(c) => http::check_url(name, c),
        Check::Port(c) => net::check_port(name, c),
        Check::Process(c) => process::check_process(name, c),
        Check::Disk(c) => disk::check_disk(name, c),
        Check::Tls(c) => tls::check_tls(name, c),
    }
}

/// [`run`], with a panic turned into a failed result of kind [`FailureKind::Internal`]: a bug
/// in one check must not take the other results down with it.
fn run_caught(probe: &Probe) -> CheckResult {
    panic::catch_unwind(AssertUnwindSafe(|| run(probe))).unwrap_or_else(|_| {
        CheckResult::new(
            &probe.name,
            probe.check.type_name(),
            Some(FailureKind::Internal),
            "internal error: the check panicked".into(),
        )
    })
}

/// Runs every probe concurrently (at most `options.max_concurrency` at once) and returns the
/// results in the order of `probes`. Returns when the slowest check has finished, which is
/// bounded by the largest timeout when there are enough threads.
///
/// # Panics
///
/// Never: a check that panics becomes a failed result of kind [`FailureKind::Internal`].
pub fn run_all(probes: &[Probe], options: &RunOptions) -> Vec<CheckResult> {
    let workers = options.max_concurrency.clamp(1, probes.len().max(1));
    if probes.len() <= 1 || workers == 1 {
        return probes.iter().map(run_caught).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<CheckResult>>> = probes.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(probe) = probes.get(i) else { break };
            let result = run_caught(probe);
            *slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
        }
    };
    // Threads are cheap but not free: most checks finish in a fraction of a millisecond, so
    // start a few workers and double their number whenever a tick passes with work waiting and
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
        while spawned < cap {
            let claimed = next.load(Ordering::Relaxed);
            if claimed >= probes.len() {
                break;
            }
            if claimed == last {
                spawned += grow(spawned.max(1).min(cap - spawned));
            }
            last = claimed;
            thread::sleep(TICK);
        }
        work();
    });
    // The calling thread works until the queue is empty, so every slot is filled.
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).expect("every probe was run")
        })
        .collect()
}
