//! Phase 1: every check that is due, once, concurrently, each marked quiet when a silence or a
//! maintenance window covers it; a failing check whose dependency is failing too is said to be
//! blocked by it.

use ops_health::Probe;
use ops_state::StateFile;

use super::{NotDue, Pass, ServiceReport, Topology, policy_of};
use crate::health;
use crate::maintenance::{active_silences, quiet};

/// A check is due once its interval has passed since its last one, less this share of it, so
/// that a timer firing a little early does not put a check off by a whole period.
const EARLY: f64 = 0.05;

impl Pass<'_> {
    /// Runs the probes of the configuration that are due; returns the reports and their
    /// probes (for the re-checks after restarts), the checks left for later, and the topology.
    pub(super) fn check(&mut self) -> (Vec<ServiceReport>, Vec<Probe>, Vec<NotDue>, Topology) {
        self.silences = self.silences();
        let mut due = Vec::new();
        let mut not_due = Vec::new();
        for probe in self.config.probes() {
            let own = policy_of(self.config, &probe.name).interval.filter(|_| !self.everything);
            let every = (self.daemon && !self.everything).then_some(self.config.check_interval);
            let Some(interval) = own.or(every) else {
                due.push(probe);
                continue;
            };
            let interval = interval.as_secs_f64();
            let memory = self.memory.as_ref().and_then(|m| m.get(&probe.name));
            match memory.and_then(|m| m.last_check) {
                // A clock set back makes every check due: it never waits for the clock.
                Some(last) if last <= self.now && self.now - last < interval * (1.0 - EARLY) => {
                    let failing = memory.is_some_and(crate::outage::Memory::failing);
                    not_due.push(NotDue { name: probe.name, failing, due: last + interval });
                }
                _ => due.push(probe),
            }
        }
        let results = health::run(self.config, &due);
        let windows = &self.config.orchestration.maintenance;
        let services: Vec<ServiceReport> = results
            .into_iter()
            .map(|check| {
                let quiet = quiet(&check.name, windows, &self.silences, self.now);
                ServiceReport { check, recheck: None, restart: None, quiet, blocked_by: Vec::new() }
            })
            .collect();
        let topology = self.topology(&services, &not_due);
        let blocked = topology.blocked(&services);
        self.blocked_at_check.clone_from(&blocked);
        for (p, roots) in blocked.iter().enumerate() {
            let Some(k) = topology.made[p] else { continue };
            let s = &services[k];
            let line = if roots.is_empty() {
                s.check.to_string()
            } else {
                format!("[FAIL] {} - blocked by {}", s.check.name, roots.join(", "))
            };
            self.note(match &s.quiet {
                Some(q) => format!("{line} [{q}]"),
                None => line,
            });
        }
        for n in &not_due {
            let state = if n.failing { "failing at its last check" } else { "up at its last check" };
            let due = ops_state::timestamp::format_unix(n.due);
            self.note(format!("[SKIP] {} - not due until {due} ({state})", n.name));
        }
        // What a plugin printed that could not be read is said, never a failure.
        for s in &services {
            for problem in &s.check.perfdata_problems {
                self.warn(format!("{}: performance data ignored: {problem}", s.check.name));
            }
        }
        // Our own failure (no descriptor, no thread): said once, never taken for a service down.
        let unknown: Vec<&str> =
            services.iter().filter(|s| s.check.outcome.is_unknown()).map(|s| s.check.name.as_str()).collect();
        if let Some(first) = services.iter().find(|s| s.check.outcome.is_unknown()) {
            self.warn(format!(
                "agent-ops could not check {} service(s) ({}): {}; they are neither restarted nor alerted as down",
                unknown.len(),
                unknown.join(", "),
                first.check.detail
            ));
        }
        (services, due, not_due, topology)
    }

    /// The checks of the configuration, which of them `services` made, and the dependency
    /// graph over them.
    pub(super) fn topology(&self, services: &[ServiceReport], not_due: &[NotDue]) -> Topology {
        let names: Vec<String> = self.config.probes().into_iter().map(|p| p.name).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let graph = self.config.graph(&refs);
        let made = names.iter().map(|n| services.iter().position(|s| s.check.name == *n)).collect();
        let remembered = names.iter().map(|n| not_due.iter().any(|d| d.name == *n && d.failing)).collect();
        Topology { names, graph, made, remembered }
    }

    fn silences(&mut self) -> crate::maintenance::Silences {
        match active_silences(&StateFile::new(self.layout.silences()), self.now) {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!("silences ignored: {e}"));
                crate::maintenance::Silences::new()
            }
        }
    }
}
