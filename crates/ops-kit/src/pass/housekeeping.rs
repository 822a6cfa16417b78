//! Phases 5 and 6 and the end of a pass: metrics rollups and retention, log rotation, the
//! heartbeat (a file, and a ping of `heartbeat_url`), and the log itself.

use ops_health::{Check, Probe, UrlCheck};
use ops_metrics::Retention;
use serde_json::json;
use time::OffsetDateTime;

use super::{LogLine, Pass, ServiceReport};
use crate::logs;

impl Pass<'_> {
    pub(super) fn housekeeping(&mut self) {
        if self.dry() {
            return;
        }
        self.note("Phase 5: Metrics maintenance");
        let keep = Retention {
            day_files: self.config.metrics_retention_days,
            rollups: self.config.rollup_retention_days,
        };
        match ops_metrics::clean_up(&self.layout.metrics, self.started.date(), &keep) {
            Ok(done) => {
                if !done.rolled_up.is_empty() {
                    self.note(format!("Rolled up {} finished day(s) of metrics", done.rolled_up.len()));
                }
                if !done.removed_day_files.is_empty() {
                    let (n, days) = (done.removed_day_files.len(), keep.day_files);
                    self.note(format!("Cleaned up {n} old metrics file(s) (keeping {days} days)"));
                }
                if !done.removed_rollups.is_empty() {
                    let (n, days) = (done.removed_rollups.len(), keep.rollups);
                    self.note(format!("Cleaned up {n} old rollup(s) (keeping {days} days)"));
                }
                for issue in done.issues {
                    self.warn(format!("metrics retention: {issue}"));
                }
            }
            Err(e) => self.warn(format!("metrics retention: {e}")),
        }
        let o = &self.config.orchestration;
        let rotation = logs::rotate(&self.layout.logs, o.log_rotate_bytes, o.log_keep, self.started);
        for r in rotation.rotated {
            let name = r.log.file_name().unwrap_or_default().to_string_lossy().into_owned();
            self.note(format!("Rotated {name} -> {}", r.archive.display()));
        }
        for problem in rotation.problems {
            self.warn(format!("log rotation: {problem}"));
        }
    }

    /// `state/heartbeat.json` (when the pass ran, what is failing), then the `heartbeat_url`
    /// ping, so someone notices when the monitor itself stops.
    pub(super) fn heartbeat(&mut self, services: &[ServiceReport]) {
        let finished = OffsetDateTime::now_utc();
        let names = |f: fn(&ServiceReport) -> bool| -> Vec<&str> {
            services.iter().filter(|s| f(s)).map(|s| s.check.name.as_str()).collect()
        };
        let beat = json!({
            "started": ops_state::timestamp::format_utc(self.started),
            "finished": ops_state::timestamp::format_utc(finished),
            "pid": std::process::id(),
            "checks": services.len(),
            "failing": names(ServiceReport::failing),
            "unknown": names(|s| s.outcome().is_unknown()),
        });
        let bytes = format!("{beat:#}\n");
        if let Err(e) =
            ops_state::write_atomic(&self.layout.heartbeat(), bytes.as_bytes(), ops_state::DEFAULT_MODE)
        {
            self.warn(format!("cannot write the heartbeat: {e}"));
        }
        if let Some(url) = &self.config.orchestration.heartbeat_url {
            // An HTTP GET is ops-health's job: the ping is a URL check of its own.
            let mut ping = UrlCheck::new(url.clone());
            ping.proxy.clone_from(&self.config.proxy);
            let result = ops_health::run(&Probe::new("heartbeat", Check::Url(ping)));
            if result.outcome.is_up() {
                self.note("Heartbeat ping sent");
            } else {
                self.warn(format!("heartbeat ping failed: {}", result.detail));
            }
        }
    }

    /// Appends this pass's lines to `logs/orchestrator.log`; a failure is a warning of the
    /// report (it cannot be in the log).
    pub(super) fn write_log(&mut self) {
        let lines: Vec<String> = self.log.iter().map(LogLine::to_string).collect();
        if let Err(e) = logs::append(&self.layout.orchestrator_log(), self.started, &lines) {
            self.warn(format!("cannot write the orchestrator log: {e}"));
        }
    }
}
