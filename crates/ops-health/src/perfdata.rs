//! A plugin's output by the Nagios plugin guidelines: the first line is the text, before an
//! optional `|` and performance data; further lines are long text until a line with a `|`,
//! after which everything is performance data:
//!
//! ```text
//! TEXT | PERFDATA
//! LONG TEXT LINE 2
//! LONG TEXT LINE 3 | PERFDATA LINE 2
//! PERFDATA LINE 3
//! ```
//!
//! Performance data is a whitespace-separated list of `'label'=value[UOM];[warn];[crit];[min];[max]`:
//! the label quoted when it holds spaces (`''` is a quote in it), the value `U` when the plugin
//! could not determine it, trailing empty fields left out. Items that do not parse are skipped
//! and said in `problems`; they never fail the check.

use std::fmt;

/// The most performance values kept of one output; the rest are ignored (and said).
pub(crate) const MAX_VALUES: usize = 100;

/// The longest label kept, in bytes.
const MAX_LABEL: usize = 200;

/// The longest unit, warn or crit field kept, in bytes.
const MAX_FIELD: usize = 64;

/// One performance value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PerfValue {
    /// The label, unquoted (`''` read as `'`).
    pub label: String,
    /// The value in its unit; `None` for `U` (the plugin could not determine it).
    pub value: Option<f64>,
    /// The unit of measurement as written: empty (a count), `s`, `ms`, `us`, `%`, `B`, `KB`,
    /// `MB`, `GB`, `TB`, `c` (a continuous counter), or another word a plugin chose.
    pub uom: String,
    /// The warning range, as written (`10`, `10:20`, `@~:5` ...).
    pub warn: Option<String>,
    /// The critical range, as written.
    pub crit: Option<String>,
    /// The smallest possible value.
    pub min: Option<f64>,
    /// The largest possible value.
    pub max: Option<f64>,
}

/// What a plugin printed: the detail, and its performance data.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PluginOutput {
    /// The first line's text before `|`, trimmed.
    pub text: String,
    /// The performance values that parsed, in order, each label once.
    pub perfdata: Vec<PerfValue>,
    /// What was ignored, and why (empty when all was well).
    pub problems: Vec<String>,
}

/// Splits a plugin's stdout into its text and performance data, and parses the latter.
pub(crate) fn parse_output(stdout: &str) -> PluginOutput {
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    let (text, mut perf) = match first.split_once('|') {
        Some((text, perf)) => (text, perf.to_owned()),
        None => (first, String::new()),
    };
    // Long text until the first line with a `|`; from there on, performance data.
    for line in lines.by_ref() {
        if let Some((_, rest)) = line.split_once('|') {
            perf.push(' ');
            perf.push_str(rest);
            break;
        }
    }
    for line in lines {
        perf.push(' ');
        perf.push_str(line);
    }
    let (perfdata, problems) = parse_perfdata(&perf);
    PluginOutput { text: text.trim().to_owned(), perfdata, problems }
}

/// Why an item was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    Unterminated,
    NoEquals,
    EmptyLabel,
    LongLabel,
    Duplicate,
    Value,
    Unit,
    Fields,
    Range,
    MinMax,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unterminated => "the quoted label has no closing quote",
            Self::NoEquals => "no `=` after the label",
            Self::EmptyLabel => "the label is empty",
            Self::LongLabel => "the label is longer than 200 bytes",
            Self::Duplicate => "the label was already given",
            Self::Value => "the value is not a number or U",
            Self::Unit => "the unit is not a word of at most 64 bytes without digits",
            Self::Fields => "more than value;warn;crit;min;max",
            Self::Range => "warn or crit is longer than 64 bytes",
            Self::MinMax => "min or max is not a number",
        })
    }
}

/// Parses a list of performance data items: the good ones, and a line per problem.
pub(crate) fn parse_perfdata(text: &str) -> (Vec<PerfValue>, Vec<String>) {
    let mut values: Vec<PerfValue> = Vec::new();
    let mut problems = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if values.len() == MAX_VALUES {
            problems.push(format!("more than {MAX_VALUES} performance values: the rest is ignored"));
            break;
        }
        let (item, after, outcome) = next_item(rest);
        rest = after;
        match outcome {
            Ok(v) if values.iter().any(|w| w.label == v.label) => {
                problems.push(problem(item, Bad::Duplicate));
            }
            Ok(v) => values.push(v),
            Err(Bad::Unterminated) => {
                problems.push(problem(item, Bad::Unterminated));
                break;
            }
            Err(why) => problems.push(problem(item, why)),
        }
    }
    (values, problems)
}

/// `'x=abc': the value is not a number or U`, the item cut to 60 characters.
fn problem(item: &str, why: Bad) -> String {
    let shown: String = item.chars().take(60).collect();
    let more = if shown.len() < item.len() { "..." } else { "" };
    format!("{shown:?}{more}: {why}")
}

/// The next item of `s` (which starts with a non-space): its text, what follows it, and the
/// value or why not.
fn next_item(s: &str) -> (&str, &str, Result<PerfValue, Bad>) {
    let (label, after_label) = match label(s) {
        Ok(ok) => ok,
        Err(why) => {
            let end = if why == Bad::Unterminated { s.len() } else { token_end(s) };
            return (&s[..end], &s[end..], Err(why));
        }
    };
    let end = after_label.find(char::is_whitespace).unwrap_or(after_label.len());
    let fields = &after_label[..end];
    let item_len = s.len() - after_label.len() + end;
    let value = fields_of(label, fields);
    (&s[..item_len], &after_label[end..], value)
}

/// Where the token at the start of `s` ends (the next whitespace).
fn token_end(s: &str) -> usize {
    s.find(char::is_whitespace).unwrap_or(s.len())
}

/// The label and what follows its `=`.
fn label(s: &str) -> Result<(String, &str), Bad> {
    let (label, rest) = if let Some(quoted) = s.strip_prefix('\'') {
        let mut label = String::new();
        let mut chars = quoted.char_indices();
        loop {
            match chars.next() {
                None => return Err(Bad::Unterminated),
                Some((i, '\'')) => {
                    if quoted[i + 1..].starts_with('\'') {
                        label.push('\'');
                        chars.next();
                    } else {
                        break (label, &quoted[i + 1..]);
                    }
                }
                Some((_, c)) => label.push(c),
            }
        }
    } else {
        let end = s.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(s.len());
        (s[..end].to_owned(), &s[end..])
    };
    let rest = rest.strip_prefix('=').ok_or(Bad::NoEquals)?;
    if label.is_empty() {
        return Err(Bad::EmptyLabel);
    }
    if label.len() > MAX_LABEL {
        return Err(Bad::LongLabel);
    }
    Ok((label, rest))
}

/// `value[UOM];[warn];[crit];[min];[max]`.
fn fields_of(label: String, fields: &str) -> Result<PerfValue, Bad> {
    let mut parts = fields.split(';');
    let first = parts.next().unwrap_or_default();
    let (value, uom) = if first == "U" {
        (None, String::new())
    } else {
        let (n, uom) = number(first).ok_or(Bad::Value)?;
        // No digit in a unit: `5E0` would be read back as 5 with an exponent, not 5 of `E0`.
        if uom.len() > MAX_FIELD
            || uom.contains(|c: char| c.is_ascii_digit())
            || uom.starts_with(['.', '+', '-'])
        {
            return Err(Bad::Unit);
        }
        (Some(n), uom.to_owned())
    };
    let mut field = || parts.next().filter(|f| !f.is_empty());
    let range = |f: Option<&str>| match f {
        Some(r) if r.len() > MAX_FIELD => Err(Bad::Range),
        r => Ok(r.map(str::to_owned)),
    };
    let warn = range(field())?;
    let crit = range(field())?;
    // min and max: a number, in the value's unit when one is written.
    let bound = |f: Option<&str>| match f {
        None => Ok(None),
        Some(f) => match number(f) {
            Some((n, unit)) if unit.is_empty() || unit == uom => Ok(Some(n)),
            _ => Err(Bad::MinMax),
        },
    };
    let min = bound(field())?;
    let max = bound(field())?;
    if parts.next().is_some() {
        return Err(Bad::Fields);
    }
    Ok(PerfValue { label, value, uom, warn, crit, min, max })
}

/// A finite decimal number at the start of `s` (`-12`, `0.5`, `.5`, `1e-3`), and the rest.
fn number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let int_end = digits(i);
    let mut end = int_end;
    let mut seen = int_end > i;
    if b.get(end) == Some(&b'.') {
        let frac_end = digits(end + 1);
        seen |= frac_end > end + 1;
        end = frac_end;
    }
    if !seen {
        return None;
    }
    // An exponent only when digits follow it (`5e` is 5 of unit `e`).
    if matches!(b.get(end), Some(b'e' | b'E')) {
        i = end + 1 + usize::from(matches!(b.get(end + 1), Some(b'-' | b'+')));
        let exp_end = digits(i);
        if exp_end > i {
            end = exp_end;
        }
    }
    let n: f64 = s[..end].parse().ok()?;
    n.is_finite().then(|| (if n == 0.0 { 0.0 } else { n }, &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(label: &str, value: Option<f64>, uom: &str) -> PerfValue {
        PerfValue {
            label: label.into(),
            value,
            uom: uom.into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }

    /// What the Debian plugins print (monitoring-plugins 2.3).
    #[test]
    fn real_plugin_lines() {
        let out = parse_output(
            "LOAD OK - total load average: 2.63, 2.24, 1.75|load1=2.630;5.000;9.000;0; load5=2.240;5.000;9.000;0; \n",
        );
        assert_eq!(out.text, "LOAD OK - total load average: 2.63, 2.24, 1.75");
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.perfdata.len(), 2);
        let load1 = &out.perfdata[0];
        assert_eq!((load1.label.as_str(), load1.value, load1.uom.as_str()), ("load1", Some(2.63), ""));
        assert_eq!((load1.warn.as_deref(), load1.crit.as_deref()), (Some("5.000"), Some("9.000")));
        assert_eq!((load1.min, load1.max), (Some(0.0), None));

        let out = parse_output(
            "DISK OK - free space: / 15306MiB (16% inode=96%);| /=81522589696B;243497277849;257024904396;0;270552530944\n",
        );
        assert_eq!(out.text, "DISK OK - free space: / 15306MiB (16% inode=96%);");
        assert_eq!(out.perfdata[0].label, "/");
        assert_eq!((out.perfdata[0].value, out.perfdata[0].uom.as_str()), (Some(81_522_589_696.0), "B"));
        assert_eq!(out.perfdata[0].max, Some(270_552_530_944.0));

        let out = parse_output(
            "HTTP OK: HTTP/1.1 200 OK - 123 bytes in 0.001 second response time |time=0.000512s;;;0.000000;10.000000 size=123B;;;0\n",
        );
        assert_eq!(
            out.perfdata[0],
            PerfValue { min: Some(0.0), max: Some(10.0), ..value("time", Some(0.000_512), "s") }
        );
        assert_eq!(out.perfdata[1], PerfValue { min: Some(0.0), ..value("size", Some(123.0), "B") });
    }

    #[test]
    fn quoted_labels_unknown_values_and_long_output() {
        let out = parse_output(
            "OK - it's fine | 'free space'=10% 'it''s'=U;1;2 'a=b'=-1.5e3ms\nline 2\nline 3 | more=1c\n'last one'=5\n",
        );
        assert_eq!(out.text, "OK - it's fine");
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let got: Vec<(&str, Option<f64>, &str)> =
            out.perfdata.iter().map(|p| (p.label.as_str(), p.value, p.uom.as_str())).collect();
        assert_eq!(
            got,
            [
                ("free space", Some(10.0), "%"),
                ("it's", None, ""),
                ("a=b", Some(-1500.0), "ms"),
                ("more", Some(1.0), "c"),
                ("last one", Some(5.0), ""),
            ]
        );
        assert_eq!(out.perfdata[1].warn.as_deref(), Some("1"));
        // A `|` in the long text before the perfdata line is not looked for twice.
        let out = parse_output("OK\nno bar here\nstill none\n");
        assert!(out.perfdata.is_empty() && out.problems.is_empty());
        assert_eq!(parse_output("").text, "");
        assert_eq!(parse_output("  spaced out  \r\n").text, "spaced out");
    }

    /// Bad items are skipped one by one and said; the good ones around them are kept.
    #[test]
    fn bad_items_are_skipped_and_said() {
        let (values, problems) = parse_perfdata(
            "good=1 noequals bad=abc =5 'x'y=1 unit=5.5.5 nan=NaN inf=1e999 many=1;2;3;4;5;6 mm=1;;;zero;2 good=2 ok=3s;;;0s;10",
        );
        let labels: Vec<&str> = values.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(labels, ["good", "ok"]);
        assert_eq!(values[1].max, Some(10.0));
        assert_eq!(
            problems,
            [
                "\"noequals\": no `=` after the label",
                "\"bad=abc\": the value is not a number or U",
                "\"=5\": the label is empty",
                "\"'x'y=1\": no `=` after the label",
                "\"unit=5.5.5\": the unit is not a word of at most 64 bytes without digits",
                "\"nan=NaN\": the value is not a number or U",
                "\"inf=1e999\": the value is not a number or U",
                "\"many=1;2;3;4;5;6\": more than value;warn;crit;min;max",
                "\"mm=1;;;zero;2\": min or max is not a number",
                "\"good=2\": the label was already given",
            ]
        );
        let (values, problems) = parse_perfdata("a=1 'unterminated=2 b=3");
        assert_eq!(values.len(), 1);
        assert_eq!(problems, ["\"'unterminated=2 b=3\": the quoted label has no closing quote"]);
    }

    /// Found by the `plugin_output` fuzz target: `0E0E0` was 0 (`0E0`) of unit `E0`, which
    /// written back (`0E0`) reads as 0 without a unit. A unit has no digits.
    #[test]
    fn a_unit_with_digits_is_bad() {
        let (values, problems) = parse_perfdata("a=0E0E0 b=5e c=1e-3e d=2m3");
        assert_eq!(values.len(), 2, "{values:?}");
        assert_eq!(
            (values[0].label.as_str(), values[0].value, values[0].uom.as_str()),
            ("b", Some(5.0), "e")
        );
        assert_eq!(
            (values[1].label.as_str(), values[1].value, values[1].uom.as_str()),
            ("c", Some(0.001), "e")
        );
        assert_eq!(
            problems,
            [
                "\"a=0E0E0\": the unit is not a word of at most 64 bytes without digits",
                "\"d=2m3\": the unit is not a word of at most 64 bytes without digits"
            ]
        );
    }

    #[test]
    fn at_most_a_hundred_values() {
        let many = (0..150).map(|i| format!("v{i}=1")).collect::<Vec<_>>().join(" ");
        let (values, problems) = parse_perfdata(&many);
        assert_eq!(values.len(), MAX_VALUES);
        assert_eq!(problems, ["more than 100 performance values: the rest is ignored"]);
    }

    #[test]
    fn numbers() {
        assert_eq!(number("12"), Some((12.0, "")));
        assert_eq!(number("-0.5ms"), Some((-0.5, "ms")));
        assert_eq!(number(".5%"), Some((0.5, "%")));
        assert_eq!(number("5e"), Some((5.0, "e")));
        assert_eq!(number("5e-3s"), Some((0.005, "s")));
        assert_eq!(number("-0"), Some((0.0, "")));
        for bad in ["", "-", ".", "e5", "U", "inf", "NaN", "1e400", ",5"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }
}
