//! `orchestrator --loop`: a pass whenever a check is due (every `check_interval_seconds`, or a
//! service's own `interval_seconds`), the configuration re-read before each one, and a stop
//! within a second of being asked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ops_state::timestamp::unix_seconds;
use time::OffsetDateTime;

use crate::pass::{Mode, Options, PassError, PassReport, run_pass_with};
use crate::{Config, ConfigError, Env, Layout};

/// How long a stop request waits for a pass in progress before leaving it behind (its state
/// writes are atomic, so nothing is left half-written).
const STOP_GRACE: Duration = Duration::from_millis(800);
/// How often the stop flag is looked at while waiting.
const POLL: Duration = Duration::from_millis(25);
/// The shortest time between the starts of two passes.
const MIN_WAIT: Duration = Duration::from_millis(10);

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

/// Runs passes until `stop` is set, starting the next one when the next check is due (each
/// pass checks only what is due; at most `check_interval_seconds` after the previous one, at
/// once when a pass overran). `config` is the configuration already validated by the caller,
/// used for the first pass; it is re-read from `layout.config` before every later one. `on`
/// gets each event with the configuration in use. A pass that panics is reported as
/// [`PassError::Crashed`] and the loop goes on.
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
        let fresh = std::mem::take(&mut first);
        if !fresh {
            match Config::load(layout, env) {
                Ok(loaded) => config = loaded.config,
                Err(e) => on(Event::BadConfig(e), &config),
            }
        }
        let (tx, rx) = mpsc::channel();
        let (l, e, c) = (layout.clone(), env.clone(), config.clone());
        // Its own thread, so a stop request need not wait for a slow check or restart.
        // The first pass checks everything, so that what the daemon serves is whole from the
        // start (a service checked a moment ago by another pass is not left out until it is due).
        let options = Options { daemon: true, everything: fresh, ..Options::new(mode) };
        let o = options.clone();
        let spawned = thread::Builder::new().name("pass".into()).spawn(move || {
            let _ = tx.send(run_pass_with(&l, &e, &c, &o));
        });
        let result = if spawned.is_err() {
            run_pass_with(layout, env, &config, &options)
        } else {
            match wait(&rx, stop) {
                Waited::Done(result) => result,
                Waited::Crashed => Err(PassError::Crashed),
                Waited::Abandoned => {
                    on(Event::Abandoned, &config);
                    return;
                }
            }
        };
        // Until the next check is due, on the clock the passes judge it by (a wait measured
        // from before the pass would wake a little early, when nothing is due yet); and never
        // longer than that wait on the monotonic clock, whatever the system clock does.
        let due = match &result {
            Ok(report) => report.next_due(&config),
            Err(_) => unix_seconds(OffsetDateTime::now_utc()) + config.check_interval.as_secs_f64(),
        };
        on(Event::Pass(result), &config);
        let left = || due - unix_seconds(OffsetDateTime::now_utc());
        let planned =
            Duration::try_from_secs_f64(left().max(0.0)).unwrap_or(config.check_interval).max(MIN_WAIT);
        let waiting = Instant::now();
        while !stop.load(Ordering::SeqCst)
            && waiting.elapsed() < planned
            && (left() > 0.0 || started.elapsed() < MIN_WAIT)
        {
            let remaining = planned.saturating_sub(waiting.elapsed());
            thread::sleep(
                POLL.min(remaining).min(Duration::try_from_secs_f64(left().max(0.001)).unwrap_or(POLL)),
            );
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
