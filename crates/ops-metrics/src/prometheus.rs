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

    /// Adds one sample.
    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }
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
    fn values() {
        assert_eq!(format_value(0.012), "0.012");
        assert_eq!(format_value(1_700_000_000.0), "1700000000");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
