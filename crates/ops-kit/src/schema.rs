//! A small walker over a `serde_json::Value` that reads typed fields and collects every
//! problem, each naming its place (`services[2] "API"`) and field, instead of stopping at
//! the first one as a derived deserializer would.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

/// The largest number of seconds a duration key takes: ten years. Larger values are surely
/// mistakes, and would overflow the clock arithmetic of whatever uses them.
pub const MAX_SECONDS: f64 = 10.0 * 365.0 * 86_400.0;

/// The lower bound of a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Min {
    /// `min` itself is allowed.
    AtLeast(f64),
    /// Only values greater than `min`.
    Above(f64),
}

impl Min {
    fn admits(self, x: f64) -> bool {
        match self {
            Self::AtLeast(min) => x >= min,
            Self::Above(min) => x > min,
        }
    }
}

impl fmt::Display for Min {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtLeast(min) => write!(f, "at least {min}"),
            Self::Above(min) => write!(f, "greater than {min}"),
        }
    }
}

/// One thing wrong (or suspicious) in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `services[2] "API"`, `alerting`, or empty for the top level.
    pub place: String,
    /// The field, when the problem is about one.
    pub field: Option<String>,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = if self.place.is_empty() { "top level" } else { &self.place };
        match &self.field {
            Some(field) => write!(f, "{place}: field `{field}`: {}", self.message),
            None => write!(f, "{place}: {}", self.message),
        }
    }
}

/// Problems found so far: errors stop the load, warnings are reported and ignored.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Every key the reader asked for, as `section.key` (`services.target`,
    /// `alerting.webhooks.url`, `timeout_seconds` at the top level): what the parser accepts,
    /// which the documentation test holds against docs/configuration.md and the full example.
    pub asked: BTreeSet<String>,
}

/// A JSON object being read: remembers which keys were asked for, so the rest can be
/// reported as unknown.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    pub place: String,
    /// The kind of object, for [`Report::asked`]: `services`, `alerting.webhooks`, or empty.
    section: &'static str,
    used: Vec<&'static str>,
}

/// JSON's name for a value's type, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>, section: &'static str, place: impl Into<String>) -> Self {
        Self { map, place: place.into(), section, used: Vec::new() }
    }

    fn error(&self, r: &mut Report, field: &str, message: String) {
        r.errors.push(Problem { place: self.place.clone(), field: Some(field.to_owned()), message });
    }

    /// The raw value of `key` (null counts as absent), marking the key as known.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Reports `key` as required when it is absent (or null); returns whether it is there.
    pub fn required(&mut self, r: &mut Report, key: &'static str) -> bool {
        if self.has(key) {
            return true;
        }
        self.used.push(key);
        self.error(r, key, "is required".into());
        false
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn string(&mut self, r: &mut Report, key: &'static str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::String(_) => {
                self.error(r, key, "must not be empty".into());
                None
            }
            other => {
                self.error(r, key, format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    }

    /// A string that may also be written as an integer (Telegram chat ids often are).
    pub fn string_or_integer(&mut self, r: &mut Report, key: &'static str) -> Option<String> {
        match self.get(key)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            other => {
                self.error(r, key, format!("must be a string or an integer, got {}", describe(other)));
                None
            }
        }
    }

    /// A number above `min` (or at least it, as [`Min`] says), or `default` when absent.
    pub fn number(&mut self, r: &mut Report, key: &'static str, min: Min, default: f64) -> f64 {
        let Some(v) = self.get(key) else { return default };
        match v.as_f64() {
            Some(x) if x.is_finite() && min.admits(x) => x,
            Some(_) => {
                self.error(r, key, format!("must be {min}, got {v}"));
                default
            }
            None => {
                self.error(r, key, format!("must be a number, got {}", describe(v)));
                default
            }
        }
    }

    /// An optional number above (or at least) `min`.
    pub fn opt_number(&mut self, r: &mut Report, key: &'static str, min: Min) -> Option<f64> {
        if !self.has(key) {
            self.used.push(key);
            return None;
        }
        Some(self.number(r, key, min, 0.0))
    }

    /// A number of seconds (`timeout_seconds`, `restart_cooldown_seconds` ...) as a
    /// [`Duration`], at most [`MAX_SECONDS`], or `default` when absent. No seconds as `f64`
    /// travel past here.
    pub fn seconds(&mut self, r: &mut Report, key: &'static str, min: Min, default: Duration) -> Duration {
        let Some(v) = self.get(key) else { return default };
        let secs = self.number(r, key, min, default.as_secs_f64());
        if secs > MAX_SECONDS {
            self.error(r, key, format!("must be at most {MAX_SECONDS} (ten years), got {v}"));
            return default;
        }
        Duration::try_from_secs_f64(secs).unwrap_or(default)
    }

    /// An optional number of seconds, as [`Obj::seconds`].
    pub fn opt_seconds(&mut self, r: &mut Report, key: &'static str, min: Min) -> Option<Duration> {
        if !self.has(key) {
            self.used.push(key);
            return None;
        }
        Some(self.seconds(r, key, min, Duration::ZERO))
    }

    /// An optional boolean.
    pub fn opt_boolean(&mut self, r: &mut Report, key: &'static str) -> Option<bool> {
        if !self.has(key) {
            self.used.push(key);
            return None;
        }
        Some(self.boolean(r, key, false))
    }

    /// A list of non-empty strings (names), each once.
    pub fn names(&mut self, r: &mut Report, key: &'static str) -> Option<Vec<String>> {
        let list = self.array(r, key)?;
        let mut names: Vec<String> = Vec::new();
        for (i, v) in list.iter().enumerate() {
            match v {
                Value::String(s) if !s.trim().is_empty() => {
                    if !names.contains(s) {
                        names.push(s.clone());
                    }
                }
                other => self.invalid(
                    r,
                    key,
                    format!("item {i} must be a name (a string), got {}", describe(other)),
                ),
            }
        }
        Some(names)
    }

    /// An integer in `min..=max`.
    pub fn integer(&mut self, r: &mut Report, key: &'static str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(key)?;
        match v.as_i64() {
            Some(x) if (min..=max).contains(&x) => Some(x),
            Some(_) => {
                self.error(r, key, format!("must be an integer from {min} to {max}, got {v}"));
                None
            }
            None if v.is_u64() => {
                self.error(r, key, format!("must be an integer from {min} to {max}, got {v}"));
                None
            }
            None => {
                self.error(r, key, format!("must be an integer from {min} to {max}, got {}", describe(v)));
                None
            }
        }
    }

    pub fn boolean(&mut self, r: &mut Report, key: &'static str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.error(r, key, format!("must be true or false, got {}", describe(other)));
                default
            }
        }
    }

    pub fn object(&mut self, r: &mut Report, key: &'static str) -> Option<&'a Map<String, Value>> {
        match self.get(key)? {
            Value::Object(m) => Some(m),
            other => {
                self.error(r, key, format!("must be an object, got {}", type_name(other)));
                None
            }
        }
    }

    pub fn array(&mut self, r: &mut Report, key: &'static str) -> Option<&'a Vec<Value>> {
        match self.get(key)? {
            Value::Array(a) => Some(a),
            other => {
                self.error(r, key, format!("must be an array, got {}", type_name(other)));
                None
            }
        }
    }

    /// Reports a field-level error from outside the typed readers.
    pub fn invalid(&self, r: &mut Report, key: &str, message: String) {
        self.error(r, key, message);
    }

    /// Warns about every key that was never asked for. `elsewhere` lists keys that are valid
    /// in this kind of object but not in this one (e.g. `port` on a url service).
    pub fn finish(self, r: &mut Report, elsewhere: &[&str], elsewhere_why: &str) {
        for key in &self.used {
            let dot = if self.section.is_empty() { "" } else { "." };
            r.asked.insert(format!("{}{dot}{key}", self.section));
        }
        for key in self.map.keys() {
            if self.used.contains(&key.as_str()) {
                continue;
            }
            let message = if elsewhere.contains(&key.as_str()) {
                format!("is not used {elsewhere_why}; it is ignored")
            } else {
                let known = self.used.iter().chain(elsewhere).copied();
                match closest(key, known) {
                    Some(s) => format!("is not a known field (did you mean `{s}`?); it is ignored"),
                    None => "is not a known field; it is ignored".into(),
                }
            };
            r.warnings.push(Problem { place: self.place.clone(), field: Some(key.clone()), message });
        }
    }
}

/// A value for messages: short ones shown as JSON, long ones by type.
fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 40 { text } else { type_name(v).to_owned() }
}

/// The known key nearest to `key`, if it is near enough to be a typo.
fn closest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let key_lower = key.to_lowercase();
    known
        .map(|k| (levenshtein(&key_lower, k), k))
        .filter(|&(d, k)| d <= (k.chars().count() / 3).max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diag + usize::from(ca != cb));
            diag = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["timeout_seconds", "target", "type", "name", "expected_status"];
        assert_eq!(closest("timeout_secnds", known.into_iter()), Some("timeout_seconds"));
        assert_eq!(closest("expected_stauts", known.into_iter()), Some("expected_status"));
        assert_eq!(closest("Name", known.into_iter()), Some("name"));
        assert_eq!(closest("colour", known.into_iter()), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
