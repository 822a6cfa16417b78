//! One metrics line per check (`recovered` for a verified re-check, `maintenance` for a quiet
//! failure), and the Python kit's `state/last-status.json`.

use std::collections::BTreeMap;

use ops_metrics::Status;
use ops_state::{StateError, StateFile};

use super::{Pass, ServiceReport};
use crate::health;

impl Pass<'_> {
    pub(super) fn record(&mut self, services: &[ServiceReport]) {
        let mut records = Vec::new();
        for s in services {
            let status = match (&s.quiet, s.check.ok) {
                (_, true) => Status::Up,
                (Some(_), false) => Status::Maintenance,
                (None, false) => Status::Down,
            };
            records.push(health::metric_record(&s.check, status));
            if let Some(r) = &s.recheck {
                records.push(health::metric_record(r, if r.ok { Status::Recovered } else { Status::Down }));
            }
        }
        if let Err(e) = ops_metrics::append(&self.layout.metrics, &records) {
            self.warn(format!("cannot record metrics: {e}"));
        }
        let last: BTreeMap<String, bool> = services.iter().map(|s| (s.check.name.clone(), s.up())).collect();
        // `update` writes only when the file changes (a pass usually leaves it as it was).
        let written = StateFile::new(self.layout.last_status()).update(|old: &mut BTreeMap<String, bool>| {
            *old = last;
            Ok::<_, StateError>(())
        });
        if let Err(e) = written {
            self.warn(format!("cannot write the last status: {e}"));
        }
    }
}
