//! The fuzz target for a plugin's output (bolero: `cargo xtask fuzz plugin_output` runs it
//! under libFuzzer; `cargo test` replays its corpus in `fuzz/__fuzz__/` and random inputs).

use crate::perfdata::{MAX_VALUES, PerfValue, parse_output, parse_perfdata};

/// A value written back in the guidelines' syntax, its label quoted with `''` for a quote.
fn write(v: &PerfValue) -> String {
    let num = |n: Option<f64>| n.map(|n| format!("{n}")).unwrap_or_default();
    let value = v.value.map_or_else(|| "U".to_owned(), |n| format!("{n}{}", v.uom));
    format!(
        "'{}'={value};{};{};{};{}",
        v.label.replace('\'', "''"),
        v.warn.as_deref().unwrap_or_default(),
        v.crit.as_deref().unwrap_or_default(),
        num(v.min),
        num(v.max)
    )
}

/// Any stdout: no panic; the text is one line without `|`; at most [`MAX_VALUES`] values, each
/// label once, non-empty, every number finite; blank performance data gives nothing, and
/// anything else gives a value or a problem; and the values, written back, parse to themselves.
#[test]
fn plugin_output() {
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let stdout = String::from_utf8_lossy(bytes);
        let out = parse_output(&stdout);
        assert!(!out.text.contains(['|', '\n']), "{:?}", out.text);
        assert!(out.perfdata.len() <= MAX_VALUES);
        for (i, v) in out.perfdata.iter().enumerate() {
            assert!(!v.label.is_empty());
            assert!(out.perfdata[..i].iter().all(|w| w.label != v.label), "{:?} twice", v.label);
            assert!([v.value, v.min, v.max].iter().flatten().all(|n| n.is_finite()), "{v:?}");
        }
        let perf = stdout.split_once('|').map(|(_, p)| p).unwrap_or_default();
        let (values, problems) = parse_perfdata(perf);
        if perf.trim().is_empty() {
            assert!(values.is_empty() && problems.is_empty());
        } else if !perf.contains(['\n', '\r']) {
            assert!(!values.is_empty() || !problems.is_empty(), "{perf:?} vanished");
        }
        let again: Vec<String> = out.perfdata.iter().map(write).collect();
        let (reparsed, problems) = parse_perfdata(&again.join(" "));
        assert!(problems.is_empty(), "{again:?}: {problems:?}");
        assert_eq!(reparsed, out.perfdata, "{again:?}");
    });
}
