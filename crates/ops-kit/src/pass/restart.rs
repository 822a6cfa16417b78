//! Phase 2: restart what fell over (through ops-recovery's policy and runner), in dependency
//! order: the failing services that are not blocked first, then, after the grace period,
//! re-check every failing service, and restart the ones that are no longer blocked but still
//! down; until no service is left to restart.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ops_health::{CheckResult, Probe};
use ops_metrics::render::human_duration;
use ops_recovery::{Decision, Policy, RestartRun, RestartSpec, RunOutcome};
use ops_state::StateFile;
use ops_state::timestamp::unix_seconds;
use time::OffsetDateTime;

use super::{Pass, ServiceReport, Topology, policy_of};
use crate::{Config, Env, Layout, Service, health};

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
                let (recovered, problems) =
                    settle(&recovery, &name, attempt, &run, services[k].recheck.as_ref(), self.now);
                for problem in problems {
                    self.warn(problem);
                }
                services[k].restart = Some(RestartStep::Ran { attempt, run, recovered });
            }
        }
        self.log_restarts(services);
    }

    fn restart_spec(&self, svc: &Service, command: &str) -> RestartSpec {
        restart_spec(self.layout, self.env, svc, command)
    }

    fn log_restarts(&mut self, services: &[ServiceReport]) {
        for s in services {
            let Some(step) = &s.restart else { continue };
            self.note(restart_line(&s.check.name, step));
        }
    }
}

/// How a service's restart command runs, in a pass or on request: `/bin/sh -c` with the
/// service's timeout, its restart log, a `PATH` that also has the system's tool directories,
/// `AGENT_OPS_SERVICE`, and none of the secret environment variables.
fn restart_spec(layout: &Layout, env: &Env, svc: &Service, command: &str) -> RestartSpec {
    let path = match &env.path {
        Some(p) => format!("{}:{SYSTEM_PATH}", p.to_string_lossy()),
        None => SYSTEM_PATH.to_owned(),
    };
    RestartSpec {
        timeout: svc.restart_timeout,
        env: vec![("PATH".into(), path), ("AGENT_OPS_SERVICE".into(), svc.name.clone())],
        env_remove: crate::env::SECRET_VARIABLES.iter().map(|&v| v.to_owned()).collect(),
        ..RestartSpec::new(command, layout.restart_log(&svc.name))
    }
}

/// After a restart ran and its service was re-checked: an attempt whose command could not even
/// be started is taken back (no process could be made: the system's refusal, not the
/// service's), and a recovery the re-check verified is recorded. Whether it recovered, and the
/// state files that could not be written.
fn settle(
    recovery: &StateFile,
    name: &str,
    attempt: u32,
    run: &RestartRun,
    recheck: Option<&CheckResult>,
    now: f64,
) -> (bool, Vec<String>) {
    let mut problems = Vec::new();
    let recovered = recheck.is_some_and(|r| r.outcome.is_up());
    if matches!(run.outcome, RunOutcome::NotStarted(_))
        && let Err(e) = ops_recovery::uncount(recovery, name, attempt)
    {
        problems.push(format!("{name}: cannot take back the restart attempt: {e}"));
    }
    if recovered {
        let at = recheck.map_or(now, |r| unix_seconds(r.timestamp));
        if let Err(e) = ops_recovery::record_recovery(recovery, name, at) {
            problems.push(format!("{name}: cannot record the recovery: {e}"));
        }
    }
    (recovered, problems)
}

/// A restart asked for outside a pass (by `agent-ops-mcp`): what the policy said or the command
/// did, the re-check, and what could not be written.
#[derive(Debug, Clone)]
pub struct Restarted {
    /// Ran (with the re-check's verdict), or refused by the policy (cooldown, attempt limit),
    /// or skipped (the restart state could not be read or written).
    pub step: RestartStep,
    /// The service's check after the grace period, when the command ran.
    pub recheck: Option<CheckResult>,
    /// State files or the log that could not be written.
    pub warnings: Vec<String>,
}

/// Restarts `service` now with its `restart_command`, as a pass would: under the same policy
/// (the attempt recorded before the command runs, in `recovery.json`'s lock, so a pass and this
/// never both restart it), the same command environment and log, then waits its
/// `restart_grace`, re-checks it and records a verified recovery. The log line, in the pass's
/// words, goes to `logs/orchestrator.log` with `by` before it. Never any other command: the
/// caller gives the service, and the command is its configuration's.
pub fn restart_now(layout: &Layout, env: &Env, config: &Config, service: &Service, by: &str) -> Restarted {
    let recovery = StateFile::new(layout.recovery());
    let now = unix_seconds(OffsetDateTime::now_utc());
    let policy = Policy { cooldown: service.restart_cooldown, max_attempts: service.max_restart_attempts };
    let mut done = Restarted { step: RestartStep::WouldRestart, recheck: None, warnings: Vec::new() };
    let Some(command) = &service.restart_command else {
        done.step = RestartStep::Skipped(format!("{} has no restart_command", service.name));
        return done;
    };
    done.step = match ops_recovery::begin(&recovery, &service.name, &policy, now) {
        Ok(Decision::Restart { attempt }) => {
            let run = ops_recovery::run_restart(&restart_spec(layout, env, service, command));
            thread::sleep(service.policy.restart_grace);
            done.recheck = health::run(config, &[service.probe()]).pop();
            let (recovered, problems) =
                settle(&recovery, &service.name, attempt, &run, done.recheck.as_ref(), now);
            done.warnings = problems;
            RestartStep::Ran { attempt, run, recovered }
        }
        Ok(Decision::Cooldown { remaining }) => RestartStep::Cooldown { remaining },
        Ok(Decision::GaveUp { attempts }) => RestartStep::GaveUp { attempts },
        Err(e) => RestartStep::Skipped(e.to_string()),
    };
    let line = format!("{by}: {}", restart_line(&service.name, &done.step));
    if let Err(e) = crate::logs::append(&layout.orchestrator_log(), OffsetDateTime::now_utc(), &[line]) {
        done.warnings.push(format!("cannot write the log: {e}"));
    }
    done
}

/// The log line of a restart step, as the orchestrator's log has it.
fn restart_line(name: &str, step: &RestartStep) -> String {
    match step {
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
        RestartStep::WouldRestart => format!("DRY RUN: would restart {name} (if the restart policy allows)"),
        RestartStep::Skipped(e) => format!("RESTART SKIPPED: {name}: {e}"),
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
