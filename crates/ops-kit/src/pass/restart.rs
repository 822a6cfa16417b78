//! Phase 2: restart what fell over (through ops-recovery's policy and runner), in dependency
//! order: the failing services that are not blocked first, then, after the grace period,
//! re-check every failing service, and restart the ones that are no longer blocked but still
//! down; until no service is left to restart.

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

use super::{Pass, ServiceReport, Topology, policy_of};
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
    /// Restarts every failing service that has a `restart_command`, is not quiet and is not
    /// blocked by a failing dependency, as its policy allows, all at once (bounded by
    /// `max_concurrency`); waits the longest `restart_grace` among them; re-checks every
    /// service still failing; and goes on with the services that are now unblocked but still
    /// down, each restarted at most once per pass.
    pub(super) fn restart(&mut self, services: &mut [ServiceReport], probes: &[Probe], topology: &Topology) {
        let by_name: BTreeMap<&str, &Service> =
            self.config.services.iter().map(|s| (s.name.as_str(), s)).collect();
        let recovery = StateFile::new(self.layout.recovery());
        let mut considered = vec![false; services.len()];
        let mut announced = false;
        loop {
            let blocked = topology.blocked(services);
            let mut to_run: Vec<(usize, u32, RestartSpec)> = Vec::new();
            for (p, roots) in blocked.iter().enumerate() {
                let Some(k) = topology.made[p] else { continue };
                let s = &mut services[k];
                let Some(svc) = by_name.get(s.check.name.as_str()) else { continue };
                let Some(command) = &svc.restart_command else { continue };
                // Only a service found down is restarted: never one that could not be checked,
                // nor one whose failure is its dependency's.
                if considered[k] || !s.outcome().is_down() || s.quiet.is_some() || !roots.is_empty() {
                    continue;
                }
                considered[k] = true;
                if self.dry() {
                    s.restart = Some(RestartStep::WouldRestart);
                    continue;
                }
                let policy =
                    Policy { cooldown: svc.restart_cooldown, max_attempts: svc.max_restart_attempts };
                s.restart = Some(match ops_recovery::begin(&recovery, &svc.name, &policy, self.now) {
                    Ok(Decision::Restart { attempt }) => {
                        to_run.push((k, attempt, self.restart_spec(svc, command)));
                        continue;
                    }
                    Ok(Decision::Cooldown { remaining }) => RestartStep::Cooldown { remaining },
                    Ok(Decision::GaveUp { attempts }) => RestartStep::GaveUp { attempts },
                    Err(e) => RestartStep::Skipped(e.to_string()),
                });
            }
            if !announced && !self.dry() && services.iter().any(|s| s.restart.is_some()) {
                announced = true;
                self.note("Phase 2: Auto-recovery");
            }
            if to_run.is_empty() {
                break;
            }
            let specs: Vec<&RestartSpec> = to_run.iter().map(|(_, _, spec)| spec).collect();
            let runs = bounded(&specs, self.config.max_concurrency, |spec| ops_recovery::run_restart(spec));
            let grace = to_run
                .iter()
                .map(|(k, _, _)| policy_of(self.config, &services[*k].check.name).restart_grace)
                .max()
                .unwrap_or_default();
            thread::sleep(grace);
            // Every service still failing is checked again: one restart can fix several checks
            // (a process, its port, its URL).
            let again: Vec<usize> =
                (0..services.len()).filter(|&k| services[k].outcome().is_down()).collect();
            let probes_again: Vec<Probe> = again.iter().map(|&k| probes[k].clone()).collect();
            let rechecks = health::run(self.config, &probes_again);
            for (k, recheck) in again.into_iter().zip(rechecks) {
                services[k].recheck = Some(recheck);
            }
            for ((k, attempt, _), run) in to_run.into_iter().zip(runs) {
                let name = services[k].check.name.clone();
                let recovered = services[k].up();
                if matches!(run.outcome, RunOutcome::NotStarted(_)) {
                    // No process could be made: that is not an attempt at the service.
                    if let Err(e) = ops_recovery::uncount(&recovery, &name, attempt) {
                        self.warn(format!("{name}: cannot take back the restart attempt: {e}"));
                    }
                }
                if recovered {
                    let at = services[k].recheck.as_ref().map_or(self.now, |r| unix_seconds(r.timestamp));
                    if let Err(e) = ops_recovery::record_recovery(&recovery, &name, at) {
                        self.warn(format!("{name}: cannot record the recovery: {e}"));
                    }
                }
                services[k].restart = Some(RestartStep::Ran { attempt, run, recovered });
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
            env_remove: crate::env::SECRET_VARIABLES.iter().map(|&v| v.to_owned()).collect(),
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
                    format!("COOLDOWN: {name}: restart in cooldown, {} left", human_duration(*remaining))
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

/// How a restart ended, in the words an incident keeps: `exited 0`, `exited 3`, `killed by
/// signal 9`, `timed out`, `not started` (never the command, its output or the reason a process
/// could not start, which may name files).
pub(super) fn restart_result(run: &RestartRun) -> String {
    match &run.outcome {
        RunOutcome::Exited(code) => format!("exited {code}"),
        RunOutcome::Signaled(sig) => format!("killed by signal {sig}"),
        RunOutcome::TimedOut => "timed out".into(),
        RunOutcome::NotStarted(_) => "not started".into(),
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
