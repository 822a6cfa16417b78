//! The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and
//! `# TYPE` once per family, label values escaped, samples grouped under their family.

use std::fmt::Write as _;

/// A metric family being written: name, help text, type, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The metric name, e.g. `agent_ops_probe_success`.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    /// `(labels, value)` pairs; labels are `(name, value)`.
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    /// A gauge family with no samples yet.
    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Self { name, help, kind: "gauge", samples: Vec::new() }
    }

    /// A counter family with no samples yet.
    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Self { name, help, kind: "counter", samples: Vec::new() }
    }

    /// Adds one sample.
    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }
}

/// The base unit a plugin's unit of measurement is exported in, and the factor to it.
fn base_unit(uom: &str) -> (usize, f64) {
    const KIB: f64 = 1024.0;
    match uom {
        "" => (COUNT, 1.0),
        "s" => (SECONDS, 1.0),
        "ms" => (SECONDS, 1e-3),
        "us" => (SECONDS, 1e-6),
        "ns" => (SECONDS, 1e-9),
        "%" => (RATIO, 0.01),
        "B" => (BYTES, 1.0),
        "KB" | "kB" | "KiB" => (BYTES, KIB),
        "MB" | "MiB" => (BYTES, KIB * KIB),
        "GB" | "GiB" => (BYTES, KIB * KIB * KIB),
        "TB" | "TiB" => (BYTES, KIB * KIB * KIB * KIB),
        "c" => (COUNTER, 1.0),
        _ => (OTHER, 1.0),
    }
}

const COUNT: usize = 0;
const SECONDS: usize = 1;
const BYTES: usize = 2;
const RATIO: usize = 3;
const COUNTER: usize = 4;
/// A unit the guidelines do not define: the count family, with a `uom` label.
const OTHER: usize = 5;

/// The performance data of command checks as metric families, `(service, value)` pairs in,
/// labelled by service and the plugin's label, each value in the base unit Prometheus names
/// ask for: seconds (`s`, `ms`, `us`, `ns`), bytes (`B`, and `KB`, `MB`, `GB`, `TB` as
/// multiples of 1024, which is what the Nagios plugins meant by them; `KiB` ... too), a ratio
/// for `%` (0 to 1), a counter for `c`; a count without a unit, and any other unit as written
/// with a `uom` label. Values the plugin said it could not determine (`U`) are left out.
pub fn perfdata_families<'a>(samples: impl IntoIterator<Item = (&'a str, &'a crate::Perf)>) -> Vec<Family> {
    let families = vec![
        Family::gauge(
            "agent_ops_perfdata",
            "A command check's performance value: a count, or in the unit its uom label says.",
        ),
        Family::gauge("agent_ops_perfdata_seconds", "A command check's performance value in seconds."),
        Family::gauge(
            "agent_ops_perfdata_bytes",
            "A command check's performance value in bytes (KB, MB, GB, TB as powers of 1024).",
        ),
        Family::gauge("agent_ops_perfdata_ratio", "A command check's percentage as a ratio (0 to 1)."),
        Family::counter("agent_ops_perfdata_total", "A command check's continuous counter (unit c)."),
    ];
    fill(families, samples, &[])
}

/// The last performance data of a window's services, for `uptime-report --format prometheus`:
/// as [`perfdata_families`], under names of their own (`agent_ops_uptime_perfdata` ...: a
/// textfile of the report beside health-check's must not repeat its families with other
/// labels) and labelled by `window` too.
pub fn last_perfdata_families<'a>(
    window: &str,
    samples: impl IntoIterator<Item = (&'a str, &'a crate::Perf)>,
) -> Vec<Family> {
    let families = vec![
        Family::gauge(
            "agent_ops_uptime_perfdata",
            "A command check's last performance value in the window: a count, or in the unit its uom label says.",
        ),
        Family::gauge(
            "agent_ops_uptime_perfdata_seconds",
            "A command check's last performance value in the window, in seconds.",
        ),
        Family::gauge(
            "agent_ops_uptime_perfdata_bytes",
            "A command check's last performance value in the window, in bytes (KB, MB, GB, TB as powers of 1024).",
        ),
        Family::gauge(
            "agent_ops_uptime_perfdata_ratio",
            "A command check's last percentage in the window, as a ratio (0 to 1).",
        ),
        Family::gauge(
            "agent_ops_uptime_perfdata_counter",
            "A command check's last continuous counter value in the window (unit c).",
        ),
    ];
    fill(families, samples, &[("window", window.to_owned())])
}

/// `families` (count, seconds, bytes, ratio, counter) with a sample per value of `samples`.
fn fill<'a>(
    mut families: Vec<Family>,
    samples: impl IntoIterator<Item = (&'a str, &'a crate::Perf)>,
    extra: &[(&'static str, String)],
) -> Vec<Family> {
    for (service, p) in samples {
        let Some(value) = p.value.filter(|v| v.is_finite()) else { continue };
        let (family, factor) = base_unit(&p.uom);
        let mut labels = vec![("service", service.to_owned()), ("label", p.label.clone())];
        labels.extend(extra.iter().cloned());
        if family == OTHER {
            labels.push(("uom", p.uom.clone()));
        }
        let family = if family == OTHER { COUNT } else { family };
        families[family].push(labels, value * factor);
    }
    families
}

/// Renders `families` (those without samples are left out).
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for family in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in &family.samples {
            out.push_str(family.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (name, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{name}=\"{}\"", escape_label_value(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(*value));
        }
    }
    out
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, `NaN` and `+Inf`/`-Inf` as Prometheus spells them.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_escaped_labels() {
        let mut up = Family::gauge("agent_ops_probe_success", "Whether the check passed.");
        up.push(vec![("service", "a \"b\"\\\nc".into())], 1.0);
        up.push(vec![("service", "d".into())], 0.0);
        let empty = Family::gauge("agent_ops_unused", "Nothing.");
        assert_eq!(
            render(&[up, empty]),
            "# HELP agent_ops_probe_success Whether the check passed.\n\
             # TYPE agent_ops_probe_success gauge\n\
             agent_ops_probe_success{service=\"a \\\"b\\\"\\\\\\nc\"} 1\n\
             agent_ops_probe_success{service=\"d\"} 0\n"
        );
    }

    #[test]
    fn perfdata_in_base_units() {
        let p = |label: &str, value: Option<f64>, uom: &str| crate::Perf {
            label: label.into(),
            value,
            uom: uom.into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
        };
        let values = [
            p("time", Some(250.0), "ms"),
            p("rta", Some(12.0), "us"),
            p("free", Some(2.0), "GB"),
            p("used", Some(91.0), "%"),
            p("procs", Some(74.0), ""),
            p("octets", Some(1e12), "c"),
            p("temp", Some(45.5), "C"),
            p("unknown", None, "s"),
        ];
        let text = render(&perfdata_families(values.iter().map(|v| ("Box", v))));
        assert_eq!(
            text,
            "# HELP agent_ops_perfdata A command check's performance value: a count, or in the unit its uom label says.\n\
             # TYPE agent_ops_perfdata gauge\n\
             agent_ops_perfdata{service=\"Box\",label=\"procs\"} 74\n\
             agent_ops_perfdata{service=\"Box\",label=\"temp\",uom=\"C\"} 45.5\n\
             # HELP agent_ops_perfdata_seconds A command check's performance value in seconds.\n\
             # TYPE agent_ops_perfdata_seconds gauge\n\
             agent_ops_perfdata_seconds{service=\"Box\",label=\"time\"} 0.25\n\
             agent_ops_perfdata_seconds{service=\"Box\",label=\"rta\"} 0.000012\n\
             # HELP agent_ops_perfdata_bytes A command check's performance value in bytes (KB, MB, GB, TB as powers of 1024).\n\
             # TYPE agent_ops_perfdata_bytes gauge\n\
             agent_ops_perfdata_bytes{service=\"Box\",label=\"free\"} 2147483648\n\
             # HELP agent_ops_perfdata_ratio A command check's percentage as a ratio (0 to 1).\n\
             # TYPE agent_ops_perfdata_ratio gauge\n\
             agent_ops_perfdata_ratio{service=\"Box\",label=\"used\"} 0.91\n\
             # HELP agent_ops_perfdata_total A command check's continuous counter (unit c).\n\
             # TYPE agent_ops_perfdata_total counter\n\
             agent_ops_perfdata_total{service=\"Box\",label=\"octets\"} 1000000000000\n"
        );
    }

    #[test]
    fn values() {
        assert_eq!(format_value(0.012), "0.012");
        assert_eq!(format_value(1_700_000_000.0), "1700000000");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
