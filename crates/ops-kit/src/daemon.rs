//! `orchestrator --loop`: a pass every `check_interval_seconds`, the configuration re-read
//! before each one, and a stop within a second of being asked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::pass::{Mode, PassError, PassReport, run_pass};
use crate::{Config, ConfigError, Env, Layout};

/// How long a stop request waits for a pass in progress before leaving it behind (its state
/// writes are atomic, so nothing is left half-written).
const STOP_GRACE: Duration = Duration::from_millis(800);
/// How often the stop flag is looked at while waiting.
const POLL: Duration = Duration::from_millis(25);

/// What the loop tells its caller after each pass.
#[derive(Debug)]
pub enum Event {
    /// A pass ran (or found another one running).
    Pass(Result<PassReport, PassError>),
    /// The configuration became invalid; the last good one is used until it is fixed.
    BadConfig(ConfigError),
    /// A stop was requested while a pass was running and it was left to finish on its own.
    Abandoned,
}

/// Runs passes until `stop` is set, starting one every `check_interval_seconds` (from the
/// start of the previous one; at once when a pass overran). `config` is the configuration
/// already validated by the caller, used for the first pass; it is re-read from
/// `layout.config` before every later one. `on` gets each event with the configuration in use.
/// A pass that panics is reported as [`PassError::Crashed`] and the loop goes on.
pub fn run_loop(
    layout: &Layout,
    env: &Env,
    mut config: Config,
    mode: Mode,
    stop: &AtomicBool,
    mut on: impl FnMut(Event, &Config),
) {
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        if !std::mem::take(&mut first) {
            match Config::load(layout, env) {
                Ok(loaded) => config = loaded.config,
                Err(e) => on(Event::BadConfig(e), &config),
            }
        }
        let (tx, rx) = mpsc::channel();
        let (l, e, c) = (layout.clone(), env.clone(), config.clone());
        // Its own thread, so a stop request need not wait for a slow check or restart.
        let spawned = thread::Builder::new().name("pass".into()).spawn(move || {
            let _ = tx.send(run_pass(&l, &e, &c, mode));
        });
        if spawned.is_err() {
            on(Event::Pass(run_pass(layout, env, &config, mode)), &config);
        } else {
            match wait(&rx, stop) {
                Waited::Done(result) => on(Event::Pass(result), &config),
                Waited::Crashed => on(Event::Pass(Err(PassError::Crashed)), &config),
                Waited::Abandoned => {
                    on(Event::Abandoned, &config);
                    return;
                }
            }
        }
        let interval = config.check_interval;
        while !stop.load(Ordering::SeqCst) && started.elapsed() < interval {
            thread::sleep(POLL.min(interval.saturating_sub(started.elapsed())));
        }
    }
}

/// How waiting for a pass ended.
enum Waited<T> {
    /// It finished.
    Done(T),
    /// Its thread ended without an answer: it panicked.
    Crashed,
    /// A stop was requested and it did not finish within [`STOP_GRACE`].
    Abandoned,
}

fn wait<T>(rx: &mpsc::Receiver<T>, stop: &AtomicBool) -> Waited<T> {
    let mut stop_seen: Option<Instant> = None;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(v) => return Waited::Done(v),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Waited::Crashed,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stop.load(Ordering::SeqCst) {
            let since = *stop_seen.get_or_insert_with(Instant::now);
            if since.elapsed() >= STOP_GRACE {
                return Waited::Abandoned;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_thread_that_dies_is_a_crash_not_a_stop() {
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            let _keep = tx;
            panic!("a bug in a pass");
        })
        .join()
        .unwrap_err();
        assert!(matches!(wait(&rx, &stop), Waited::Crashed));
        let (tx, rx) = mpsc::channel();
        tx.send(7).unwrap();
        assert!(matches!(wait(&rx, &stop), Waited::Done(7)));
        let (_tx, rx) = mpsc::channel::<()>();
        stop.store(true, Ordering::SeqCst);
        assert!(matches!(wait(&rx, &stop), Waited::Abandoned));
    }
}
