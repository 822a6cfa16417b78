//! Phase 1: every check once, concurrently, each marked quiet when a silence or a maintenance
//! window covers it.

use ops_health::Probe;
use ops_state::StateFile;

use super::{Pass, ServiceReport};
use crate::health;
use crate::maintenance::{Silences, active_silences, quiet};

impl Pass<'_> {
    /// Runs every probe of the configuration; returns the reports and the probes (for the
    /// re-checks after restarts).
    pub(super) fn check(&mut self) -> (Vec<ServiceReport>, Vec<Probe>) {
        let probes = self.config.probes();
        let results = health::run(self.config, &probes);
        let silences = self.silences();
        let windows = &self.config.orchestration.maintenance;
        let services: Vec<ServiceReport> = results
            .into_iter()
            .map(|check| {
                let quiet = quiet(&check.name, windows, &silences, self.now);
                ServiceReport { check, recheck: None, restart: None, quiet }
            })
            .collect();
        for s in &services {
            let line = s.check.to_string();
            self.note(match &s.quiet {
                Some(q) => format!("{line} [{q}]"),
                None => line,
            });
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
        (services, probes)
    }

    fn silences(&mut self) -> Silences {
        match active_silences(&StateFile::new(self.layout.silences()), self.now) {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!("silences ignored: {e}"));
                Silences::new()
            }
        }
    }
}
