//! Phase 2: restart what fell over (through ops-recovery's policy and runner), wait the grace
//! period, and re-check what was restarted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ops_health::Probe;
use ops_metrics::render::human_duration;
use ops_recovery::{Decision, Policy, RestartRun, RestartSpec, RunOutcome};
use ops_state::StateFile;
use ops_state::timestamp::unix_seconds;

use super::{Pass, ServiceReport};
use crate::{Service, health};

/// Where the Python kit's recovery script looked for restart tools; appended to `PATH`.
const SYSTEM_PATH: &str = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/sbin:/usr/sbin";

/// What happened to a service's restart in this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStep {
    /// The command ran; `recovered` is the re-check's verdict.
    Ran {
        /// Which attempt it was.
        attempt: u32,
        /// How the command ended, with its output tail.
        run: RestartRun,
        /// The re-check after the grace period passed.
        recovered: bool,
    },
    /// Too soon after the last attempt.
    Cooldown {
        /// Time until the next attempt is allowed.
        remaining: Duration,
    },
    /// Every allowed attempt was used.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
    /// Dry run: it would have been restarted (if the policy allows).
    WouldRestart,
    /// The recovery state could not be read or written, so nothing was run.
    Skipped(String),
}

impl Pass<'_> {
    /// Restarts every failed service that has a `restart_command` and is not quiet, as its
    /// policy allows, all at once (bounded by `max_concurrency`); waits `restart_grace`; and
    /// re-checks them.
    pub(super) fn restart(&mut self, services: &mut [ServiceReport], probes: &[Probe]) {
        let by_name: BTreeMap<&str, &Service> =
            self.config.services.iter().map(|s| (s.name.as_str(), s)).collect();
        let recovery = StateFile::new(self.layout.recovery());
        let mut to_run: Vec<(usize, u32, RestartSpec)> = Vec::new();
        for (i, s) in services.iter_mut().enumerate() {
            let Some(svc) = by_name.get(s.check.name.as_str()) else { continue };
            let Some(command) = &svc.restart_command else { continue };
            // Only a service found down is restarted: never one that could not be checked.
            if !s.check.outcome.is_down() || s.quiet.is_some() {
                continue;
            }
            if self.dry() {
                s.restart = Some(RestartStep::WouldRestart);
                continue;
            }
            let policy = Policy { cooldown: svc.restart_cooldown, max_attempts: svc.max_restart_attempts };
            s.restart = Some(match ops_recovery::begin(&recovery, &svc.name, &policy, self.now) {
                Ok(Decision::Restart { attempt }) => {
                    to_run.push((i, attempt, self.restart_spec(svc, command)));
                    continue;
                }
                Ok(Decision::Cooldown { remaining }) => RestartStep::Cooldown { remaining },
                Ok(Decision::GaveUp { attempts }) => RestartStep::GaveUp { attempts },
                Err(e) => RestartStep::Skipped(e.to_string()),
            });
        }
        if !self.dry() && services.iter().any(|s| s.restart.is_some()) {
            self.note("Phase 2: Auto-recovery");
        }
        if !to_run.is_empty() {
            let specs: Vec<&RestartSpec> = to_run.iter().map(|(_, _, spec)| spec).collect();
            let runs = bounded(&specs, self.config.max_concurrency, |spec| ops_recovery::run_restart(spec));
            thread::sleep(self.config.orchestration.restart_grace);
            let again: Vec<Probe> = to_run.iter().map(|(i, _, _)| probes[*i].clone()).collect();
            let rechecks = health::run(self.config, &again);
            for (((i, attempt, _), run), recheck) in to_run.into_iter().zip(runs).zip(rechecks) {
                let recovered = recheck.outcome.is_up();
                if matches!(run.outcome, RunOutcome::NotStarted(_)) {
                    // No process could be made: that is not an attempt at the service.
                    let name = services[i].check.name.clone();
                    if let Err(e) = ops_recovery::uncount(&recovery, &name, attempt) {
                        self.warn(format!("{name}: cannot take back the restart attempt: {e}"));
                    }
                }
                if recovered {
                    let name = services[i].check.name.clone();
                    let at = unix_seconds(recheck.timestamp);
                    if let Err(e) = ops_recovery::record_recovery(&recovery, &name, at) {
                        self.warn(format!("{name}: cannot record the recovery: {e}"));
                    }
                }
                services[i].restart = Some(RestartStep::Ran { attempt, run, recovered });
                services[i].recheck = Some(recheck);
            }
        }
        self.log_restarts(services);
    }

    fn restart_spec(&self, svc: &Service, command: &str) -> RestartSpec {
        let path = match &self.env.path {
            Some(p) => format!("{}:{SYSTEM_PATH}", p.to_string_lossy()),
            None => SYSTEM_PATH.to_owned(),
        };
        RestartSpec {
            timeout: svc.restart_timeout,
            env: vec![("PATH".into(), path), ("AGENT_OPS_SERVICE".into(), svc.name.clone())],
            ..RestartSpec::new(command, self.layout.restart_log(&svc.name))
        }
    }

    fn log_restarts(&mut self, services: &[ServiceReport]) {
        for s in services {
            let Some(step) = &s.restart else { continue };
            let name = &s.check.name;
            let line = match step {
                RestartStep::Ran { attempt, run, recovered } => {
                    let how = describe_run(run);
                    let verdict = if *recovered { "recovered" } else { "still down" };
                    format!("RESTART: {name}: attempt {attempt}: {how}; {verdict}{}", tail_suffix(run))
                }
                RestartStep::Cooldown { remaining } => {
                    format!(
                        "COOLDOWN: {name}: {} until the next restart is allowed",
                        human_duration(*remaining)
                    )
                }
                RestartStep::GaveUp { attempts } => {
                    format!(
                        "MAX_ATTEMPTS: {name}: {attempts} restart attempts exhausted; manual intervention required"
                    )
                }
                RestartStep::WouldRestart => {
                    format!("DRY RUN: would restart {name} (if the restart policy allows)")
                }
                RestartStep::Skipped(e) => format!("RESTART SKIPPED: {name}: {e}"),
            };
            self.note(line);
        }
    }
}

/// `f` over every item, at most `max` at once, results in order. A thread that cannot be
/// started (a process or thread limit) leaves its share to the others, and the calling thread
/// works too, so every item is done even when no thread can start: slower, never skipped,
/// never a panic.
fn bounded<T: Sync, R: Send>(items: &[T], max: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    thread::scope(|scope| {
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                *slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
            }
        };
        for _ in 1..max.min(items.len()) {
            if thread::Builder::new().name("restart".into()).spawn_scoped(scope, work).is_err() {
                break;
            }
        }
        work();
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
        .map(|r| r.expect("the calling thread works until every item is taken"))
        .collect()
}

fn describe_run(run: &RestartRun) -> String {
    match &run.outcome {
        RunOutcome::Exited(0) => "command exited 0".into(),
        RunOutcome::Exited(code) => format!("command failed with exit code {code}"),
        RunOutcome::Signaled(sig) => format!("command killed by signal {sig}"),
        RunOutcome::TimedOut => {
            format!("command timed out and was killed ({:.1}s in all)", run.duration.as_secs_f64())
        }
        RunOutcome::NotStarted(why) => format!("command not started: {why}"),
    }
}

fn tail_suffix(run: &RestartRun) -> String {
    let tail = run.output_tail.trim();
    if tail.is_empty() || run.outcome == RunOutcome::Exited(0) {
        return String::new();
    }
    let last: Vec<&str> = tail.lines().rev().take(3).collect();
    format!(" (output: {})", last.into_iter().rev().collect::<Vec<_>>().join(" | "))
}

/// The restart sentence of a failure alert: ` (restarted: recovered)` ...
pub(super) fn note_for_alert(step: Option<&RestartStep>) -> String {
    match step {
        Some(RestartStep::Ran { recovered: true, .. }) => " (restarted: recovered)".into(),
        Some(RestartStep::Ran { run, .. }) if matches!(run.outcome, RunOutcome::NotStarted(_)) => {
            format!(" (restart not possible: {})", describe_run(run))
        }
        Some(RestartStep::Ran { run, recovered: false, .. }) => {
            format!(" (restarted: {}; still down)", describe_run(run))
        }
        Some(RestartStep::Cooldown { remaining }) => {
            format!(" (restart cooldown: {} left)", human_duration(*remaining))
        }
        Some(RestartStep::GaveUp { .. }) => " (restarts exhausted)".into(),
        Some(RestartStep::WouldRestart | RestartStep::Skipped(_)) | None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_runs_everything_in_order_even_with_one_thread() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(bounded(&items, 1, |x| x * 2), (0..50).map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(bounded(&items, 8, |x| x + 1), (1..51).collect::<Vec<_>>());
        assert!(bounded(&[] as &[u32], 8, |x| *x).is_empty());
    }

    #[test]
    fn never_more_than_max_at_once() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u32> = (0..40).collect();
        bounded(&items, 3, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            thread::yield_now();
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert!(peak.load(Ordering::SeqCst) <= 3);
    }
}
