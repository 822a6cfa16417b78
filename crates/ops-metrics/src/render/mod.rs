//! Renderers of an [`UptimeReport`](crate::UptimeReport): the Python kit's text (and a detailed
//! variant), JSON, the Prometheus text format and a self-contained HTML status page; and of an
//! [`IncidentLog`](crate::IncidentLog): a table and JSON.

mod html;
mod incidents;
mod json;
mod prom;
mod text;

use std::time::Duration;

pub use html::html;
pub use incidents::{incident_json, incidents_json, incidents_text};
pub use json::{json, stale_json};
pub use prom::prometheus;
pub use text::{sla_text, text, text_detailed};
use time::OffsetDateTime;

use crate::IncidentLog;

/// Why a service is stale: shown grey, "last seen 3d 4h ago", never as up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleWhy {
    /// It is no longer in the configuration.
    NotConfigured,
    /// Its last check is older than two of its intervals.
    NotSeen {
        /// The time expected between its checks.
        interval: Duration,
    },
}

/// A service of the report that is stale (the caller judges which, from its configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The service.
    pub service: String,
    /// Why.
    pub why: StaleWhy,
}

/// What the JSON and the HTML page show besides the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// When the report is made.
    pub now: OffsetDateTime,
    /// An uptime target (`--sla`), if any.
    pub sla: Option<f64>,
    /// The services to show as stale, and why.
    pub stale: &'a [Stale],
    /// The incidents of the window, for the page's timelines.
    pub incidents: Option<&'a IncidentLog>,
}

impl<'a> Context<'a> {
    /// At `now`, without a target, nothing stale, no incidents.
    pub fn new(now: OffsetDateTime) -> Self {
        Self { now, sla: None, stale: &[], incidents: None }
    }

    /// Whether, and why, `service` is stale.
    pub fn stale_of(&self, service: &str) -> Option<&'a Stale> {
        self.stale.iter().find(|s| s.service == service)
    }
}

/// `3d 4h`, `2h 5m`, `10m 0s`, `45s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        86_400.. => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        3600.. => format!("{}h {}m", s / 3600, s % 3600 / 60),
        60.. => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{s}s"),
    }
}

/// Milliseconds without a needless fraction: `140`, `12.5`.
fn ms(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(600)), "10m 0s");
        assert_eq!(human_duration(Duration::from_secs(7500)), "2h 5m");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)), "3d 4h");
        assert_eq!(ms(140.0), "140");
        assert_eq!(ms(12.54), "12.5");
    }
}
