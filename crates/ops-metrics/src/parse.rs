//! One metrics line to the fields the statistics need, with the Python kit's defaults (`name` and
//! `status` "unknown", `latency_ms` 0 when missing) and a [`BadKind`] for lines the Python kit would
//! skip or crash on.
//!
//! Two paths give the same answer: a fast one for the objects the Python kit and we write (plain
//! strings, integer latency, keys among the five known ones, each once), which returns `None`
//! on anything else, and serde_json for everything.

use std::borrow::Cow;

use ops_state::timestamp::parse_utc_micros;
use serde_json::Value;

use crate::scan::BadKind;

/// A latency as written: an integer (what every writer produces) or any other JSON number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Latency {
    Int(i64),
    Float(f64),
}

/// What a status means for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `"up"`: counted as up by the Python kit.
    Up,
    /// `"down"`: counted as down by the Python kit.
    Down,
    /// `"recovered"`: not counted by the Python kit; ends an outage in the timeline.
    Recovered,
    /// Anything else: only in the Python kit's latency average.
    Other,
}

impl Kind {
    fn of(status: &str) -> Self {
        match status {
            "up" => Self::Up,
            "down" => Self::Down,
            "recovered" => Self::Recovered,
            _ => Self::Other,
        }
    }
}

/// The fields of a usable line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fields<'a> {
    pub name: Cow<'a, str>,
    pub kind: Kind,
    pub latency: Latency,
    /// Microseconds since the Unix epoch, when the timestamp is a string `parse_utc` reads.
    pub timestamp: Option<i64>,
}

/// What a line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed<'a> {
    Record(Fields<'a>),
    /// Empty or whitespace only: skipped by the Python kit too, not counted as bad.
    Blank,
    Bad(BadKind, &'static str),
}

/// Parses one line (without its `\n`; a lone `\r` is a line break in Python's text mode, so the
/// caller splits on it first).
pub(crate) fn parse(line: &str) -> Parsed<'_> {
    if let Some(fields) = fast(line) {
        return Parsed::Record(fields);
    }
    slow(line)
}

/// Python's `str.strip()` set: Unicode White_Space plus the separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(crate) fn slow(line: &str) -> Parsed<'_> {
    let line = line.trim_matches(is_python_space);
    if line.is_empty() {
        return Parsed::Blank;
    }
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return Parsed::Bad(BadKind::InvalidJson, "not valid JSON");
    };
    let Value::Object(mut map) = value else {
        return Parsed::Bad(BadKind::NotAnObject, "not a JSON object");
    };
    let mut text = |key: &str| match map.remove(key) {
        None => Ok(Cow::Borrowed("unknown")),
        Some(Value::String(s)) => Ok(Cow::Owned(s)),
        Some(Value::Null) if key == "name" => Err("name is null"),
        Some(_) if key == "name" => Err("name is not a string"),
        Some(Value::Null) => Err("status is null"),
        Some(_) => Err("status is not a string"),
    };
    let name = match text("name") {
        Ok(n) => n,
        Err(why) => return Parsed::Bad(BadKind::WrongType, why),
    };
    let status = match text("status") {
        Ok(s) => s,
        Err(why) => return Parsed::Bad(BadKind::WrongType, why),
    };
    let latency = match map.get("latency_ms") {
        None => Latency::Int(0),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Latency::Int(i),
            // A zero is the integer 0: serde_json reads `-0` as the float -0.0, Python (and the
            // fast path) as the integer 0; `0.0` adds the same to every sum.
            (None, Some(0.0)) => Latency::Int(0),
            (None, f) => Latency::Float(f.unwrap_or(f64::NAN)),
        },
        Some(Value::Null) => return Parsed::Bad(BadKind::WrongType, "latency_ms is null"),
        Some(_) => return Parsed::Bad(BadKind::WrongType, "latency_ms is not a number"),
    };
    let timestamp = match map.get("timestamp") {
        Some(Value::String(s)) => parse_utc_micros(s),
        _ => None,
    };
    Parsed::Record(Fields { name, kind: Kind::of(&status), latency, timestamp })
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// A string without escapes starting at `i` (the opening quote): its contents and the index
/// after the closing quote.
fn plain_string(s: &str, i: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    // The strings are short: a plain loop beats memchr's set-up here.
    let end = i + 1 + b[i + 1..].iter().position(|&c| c == b'"' || c == b'\\')?;
    (b[end] == b'"').then(|| (&s[i + 1..end], end + 1))
}

/// A JSON integer of at most 18 digits starting at `i`, followed by a space, `,` or `}`.
fn integer(b: &[u8], mut i: usize) -> Option<(i64, usize)> {
    let negative = b.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let start = i;
    let mut n: i64 = 0;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i - start == 18 {
            return None; // a 19th digit could overflow: serde_json decides
        }
        n = n * 10 + i64::from(d - b'0');
        i += 1;
    }
    let digits = i - start;
    if digits == 0 || (digits > 1 && b[start] == b'0') || !matches!(b.get(i), Some(b' ' | b',' | b'}')) {
        return None;
    }
    Some((if negative { -n } else { n }, i))
}

/// Whether `b` holds a byte below 0x20 (never allowed raw in JSON strings; the fast path also
/// leaves tabs and line breaks between tokens to serde_json). Written without an early exit
/// per byte so that it compiles to vector instructions.
fn has_control(b: &[u8]) -> bool {
    b.chunks(32).any(|chunk| chunk.iter().fold(0u8, |seen, &c| seen | u8::from(c < 0x20)) != 0)
}

/// The common shape, or `None` to let serde_json decide.
pub(crate) fn fast(line: &str) -> Option<Fields<'_>> {
    let b = line.as_bytes();
    if b.first() != Some(&b'{') || b.last() != Some(&b'}') || has_control(b) {
        return None;
    }
    let (mut name, mut status, mut latency, mut timestamp) = (None, None, None, None);
    let mut seen = 0u8;
    let mut i = 1;
    loop {
        let (key, next) = plain_string(line, skip_spaces(b, i))?;
        i = skip_spaces(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_spaces(b, i + 1);
        let bit = match key {
            "name" => 1,
            "status" => 2,
            "detail" => 4,
            "latency_ms" => 8,
            "timestamp" => 16,
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        if bit == 8 {
            let (n, next) = integer(b, i)?;
            latency = Some(n);
            i = next;
        } else {
            let (value, next) = plain_string(line, i)?;
            match bit {
                1 => name = Some(value),
                2 => status = Some(value),
                16 => timestamp = Some(value),
                _ => {}
            }
            i = next;
        }
        i = skip_spaces(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if i + 1 == b.len() => break,
            _ => return None,
        }
    }
    Some(Fields {
        name: Cow::Borrowed(name.unwrap_or("unknown")),
        kind: Kind::of(status.unwrap_or("unknown")),
        latency: Latency::Int(latency.unwrap_or(0)),
        timestamp: timestamp.and_then(parse_utc_micros),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"name": "API", "status": "up", "detail": "HTTP 200", "latency_ms": 145, "timestamp": "2025-01-15T10:30:00.123456Z"}"#;

    fn record(name: &str, kind: Kind, latency: Latency, timestamp: Option<i64>) -> Parsed<'static> {
        Parsed::Record(Fields { name: Cow::Owned(name.into()), kind, latency, timestamp })
    }

    #[test]
    fn the_common_line_takes_the_fast_path() {
        let want = record("API", Kind::Up, Latency::Int(145), Some(1_736_937_000_123_456));
        assert!(fast(LINE).is_some());
        assert_eq!(parse(LINE), want);
        assert_eq!(slow(LINE), want);
    }

    /// Every line here must give the same result on both paths, whichever the fast one takes.
    #[test]
    fn both_paths_agree() {
        for line in [
            LINE,
            r#"{"latency_ms": -3, "name": "a", "status": "down"}"#,
            r#"{"name":"a","status":"recovered","latency_ms":0,"timestamp":"2025-01-15T10:30:00"}"#,
            r#"{"name": "a", "latency_ms": 0}"#,
            r#"{"name": "a", "status": "up", "timestamp": "yesterday"}"#,
            r#"{"name": "Café ☕", "status": "weird"}"#,
        ] {
            assert_eq!(fast(line).map(Parsed::Record), Some(slow(line)), "{line}");
        }
        // Shapes the fast path leaves to serde_json.
        for line in [
            r#"{"name": "a\"b", "status": "up"}"#,
            r#"{"name": "a", "name": "b"}"#,
            r#"{"name": "a", "latency_ms": 1.5}"#,
            r#"{"name": "a", "latency_ms": 1e3}"#,
            r#"{"name": "a", "latency_ms": 012}"#,
            r#"{"name": "a", "latency_ms": 1234567890123456789}"#,
            r#"{"name": "a", "extra": 1}"#,
            r#"{"name": "a", "status": "up", "timestamp": 5}"#,
            "{\"name\": \"a\",\t\"status\": \"up\"}",
            r#" {"name": "a"}"#,
            "{}",
        ] {
            assert_eq!(fast(line), None, "{line}");
        }
    }

    /// Found by the `metrics_line` fuzz target: serde_json reads `-0` as the float -0.0, which
    /// made the slow path disagree with the fast one (and a percentile print as `-0`).
    #[test]
    fn negative_zero_latency_is_the_integer_zero_on_both_paths() {
        let want = record("unknown", Kind::Other, Latency::Int(0), None);
        assert_eq!(slow(r#"{"latency_ms":-0}"#), want);
        assert_eq!(parse(r#"{"latency_ms":-0}"#), want);
        assert_eq!(parse(r#"{"latency_ms": -0, "extra": 1}"#), want);
        assert_eq!(fast(r#"{"latency_ms": -0}"#).map(Parsed::Record), Some(want));
    }

    /// Found by the `metrics_line` fuzz target: the fast path multiplied before counting
    /// digits, so a 19-digit latency overflowed (a panic where overflow checks are on).
    #[test]
    fn a_nineteen_digit_latency_does_not_overflow_the_fast_path() {
        let line = r#"{"latency_ms":9223372036854780000}"#;
        assert_eq!(fast(line), None);
        assert_eq!(
            parse(line),
            record("unknown", Kind::Other, Latency::Float(9_223_372_036_854_780_000.0), None)
        );
        let line = r#"{"latency_ms": 999999999999999999}"#;
        assert_eq!(parse(line), record("unknown", Kind::Other, Latency::Int(999_999_999_999_999_999), None));
        assert!(fast(line).is_some(), "18 digits still take the fast path");
    }

    /// A warning and a command's performance data are keys after the Python kit's five: the
    /// line is read as the `up` it says, by serde_json (the fast path knows only the five).
    #[test]
    fn extra_keys_of_a_warning_are_ignored() {
        let line = r#"{"name": "Disk", "status": "up", "detail": "WARNING", "latency_ms": 12, "timestamp": "2025-01-15T10:30:00Z", "state": "warning", "perfdata": [{"label": "used", "value": 91.0, "uom": "%"}]}"#;
        assert_eq!(fast(line), None);
        assert_eq!(parse(line), record("Disk", Kind::Up, Latency::Int(12), Some(1_736_937_000_000_000)));
    }

    #[test]
    fn defaults_like_the_seed() {
        assert_eq!(parse("{}"), record("unknown", Kind::Other, Latency::Int(0), None));
        assert_eq!(parse(r#"{"name": "a", "name": "b"}"#), record("b", Kind::Other, Latency::Int(0), None));
        assert_eq!(
            parse(r#"{"name": "a", "latency_ms": 1.5}"#),
            record("a", Kind::Other, Latency::Float(1.5), None)
        );
        assert_eq!(
            parse("  {\"name\": \"a\"}\u{a0}\u{1f} "),
            record("a", Kind::Other, Latency::Int(0), None)
        );
        assert_eq!(parse(" \u{c} "), Parsed::Blank);
        assert_eq!(parse(""), Parsed::Blank);
    }

    #[test]
    fn bad_lines() {
        for (line, kind, why) in [
            ("{\"name\": \"a\"", BadKind::InvalidJson, "not valid JSON"),
            ("nonsense", BadKind::InvalidJson, "not valid JSON"),
            ("{\"name\": \"a\u{1}\"}", BadKind::InvalidJson, "not valid JSON"),
            (r#"{"name": "a", "latency_ms": NaN}"#, BadKind::InvalidJson, "not valid JSON"),
            ("[1, 2]", BadKind::NotAnObject, "not a JSON object"),
            ("\"up\"", BadKind::NotAnObject, "not a JSON object"),
            ("null", BadKind::NotAnObject, "not a JSON object"),
            (r#"{"name": 5}"#, BadKind::WrongType, "name is not a string"),
            (r#"{"name": null}"#, BadKind::WrongType, "name is null"),
            (r#"{"name": "a", "status": true}"#, BadKind::WrongType, "status is not a string"),
            (r#"{"name": "a", "latency_ms": null}"#, BadKind::WrongType, "latency_ms is null"),
            (r#"{"name": "a", "latency_ms": "12"}"#, BadKind::WrongType, "latency_ms is not a number"),
            (r#"{"name": "a", "latency_ms": false}"#, BadKind::WrongType, "latency_ms is not a number"),
        ] {
            assert_eq!(parse(line), Parsed::Bad(kind, why), "{line}");
        }
    }
}
