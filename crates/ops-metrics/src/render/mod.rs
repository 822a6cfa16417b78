//! Renderers of an [`UptimeReport`](crate::UptimeReport): the Python kit's text (and a detailed
//! variant), JSON, the Prometheus text format and a self-contained HTML status page.

mod html;
mod json;
mod prom;
mod text;

use std::time::Duration;

pub use html::html;
pub use json::json;
pub use prom::prometheus;
pub use text::{sla_text, text, text_detailed};

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
