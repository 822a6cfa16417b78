//! One metrics line per check (`recovered` for a verified re-check, `maintenance` for a quiet
//! failure), and the Python kit's `state/last-status.json`.

use std::collections::BTreeMap;

use ops_health::Outcome;
use ops_metrics::Status;
use ops_state::{StateError, StateFile};

use super::{Pass, ServiceReport};
use crate::health;

impl Pass<'_> {
    pub(super) fn record(&mut self, services: &[ServiceReport]) {
        let mut records = Vec::new();
        for s in services {
            // A warning is up (its line says `"state": "warning"` besides).
            let status = match (s.check.outcome, &s.quiet) {
                (o, _) if o.is_up() => Status::Up,
                (Outcome::Down(_), Some(_)) => Status::Maintenance,
                (Outcome::Down(_), None) => Status::Down,
                _ => Status::Unknown,
            };
            records.push(health::metric_record(&s.check, status));
            if let Some(r) = &s.recheck {
                let status = match r.outcome {
                    o if o.is_up() => Status::Recovered,
                    Outcome::Down(_) => Status::Down,
                    _ => Status::Unknown,
                };
                records.push(health::metric_record(r, status));
            }
        }
        if let Err(e) = ops_metrics::append(&self.layout.metrics, &records) {
            self.warn(format!("cannot record metrics: {e}"));
        }
        // `update` writes only when the file changes (a pass usually leaves it as it was). A
        // service that could not be checked, or was not due, keeps what was known of it.
        let names: Vec<String> = self.config.probes().into_iter().map(|p| p.name).collect();
        let written = StateFile::new(self.layout.last_status()).update(|old: &mut BTreeMap<String, bool>| {
            let mut last = BTreeMap::new();
            for name in &names {
                let known = match services.iter().find(|s| s.check.name == *name) {
                    Some(s) if !s.outcome().is_unknown() => Some(s.up()),
                    _ => old.get(name).copied(),
                };
                if let Some(up) = known {
                    last.insert(name.clone(), up);
                }
            }
            *old = last;
            Ok::<_, StateError>(())
        });
        if let Err(e) = written {
            self.warn(format!("cannot write the last status: {e}"));
        }
    }
}
