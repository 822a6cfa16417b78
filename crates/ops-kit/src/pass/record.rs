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
            let status = match (s.check.outcome, &s.quiet) {
                (Outcome::Up, _) => Status::Up,
                (Outcome::Down(_), Some(_)) => Status::Maintenance,
                (Outcome::Down(_), None) => Status::Down,
                _ => Status::Unknown,
            };
            records.push(health::metric_record(&s.check, status));
            if let Some(r) = &s.recheck {
                let status = match r.outcome {
                    Outcome::Up => Status::Recovered,
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
        // service that could not be checked keeps what was known of it.
        let written = StateFile::new(self.layout.last_status()).update(|old: &mut BTreeMap<String, bool>| {
            let mut last = BTreeMap::new();
            for s in services {
                let known =
                    if s.outcome().is_unknown() { old.get(&s.check.name).copied() } else { Some(s.up()) };
                if let Some(up) = known {
                    last.insert(s.check.name.clone(), up);
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
