//! Conditions on an HTTP response in Gatus's syntax, so that a Gatus user can copy them
//! unchanged: `[STATUS] == 200`, `[RESPONSE_TIME] < 300`, `[BODY].data[0].id == 1`,
//! `len([BODY].items) > 0`, `has([BODY].errors) == false`, `[BODY] == pat(*ok*)`,
//! `[STATUS] == any(200, 204)`, `[CERTIFICATE_EXPIRATION] > 48h`.
//!
//! A condition is parsed once, when the check is built ([`Condition::parse`]), so a typo is a
//! configuration error with its position, never a check that silently compares words. The
//! semantics are Gatus's (`config/endpoint/condition.go` and `placeholder.go`): the operator is
//! the first of ` == `, ` != `, ` <= `, ` >= `, ` > `, ` < ` found (spaces around it required);
//! placeholder names are case-insensitive; `==` and `!=` compare as Go integers when both sides
//! are one (`0x10 == 16`) and as text otherwise; `<`, `<=`, `>`, `>=` compare Go durations as
//! milliseconds (`48h`), else integers, else floats cut to integers, else 0; `pat()` is a glob
//! (`*`, `?`, `[a-z]`, `\`) and `any()` a list of texts, both only with `==` and `!=`.
//!
//! Where Gatus would answer something no one means, these differ (docs/configuration.md
//! lists them): a value that is not there (`[BODY].status` of a body without it, a body that
//! is not JSON, `null`) fails its condition whatever the operator, where Gatus would compare
//! the text `[BODY].status (INVALID)` (equal to nothing, so `!=` passed) or 0 (so `< 1`
//! passed); so does a `[BODY]` condition on a body longer than the part read; JSON numbers are
//! shown as written (Gatus shows 1234567 as `1.234567e+06`, which then equals no integer); the
//! condition is split at the first operator only (Gatus drops what follows a second one); and
//! an unknown placeholder, an unsupported one (`[IP]`, `[DNS_RCODE]`, `[DOMAIN_EXPIRATION]`,
//! `[CONTEXT]`), a malformed pattern or a word where a number is needed is refused when the
//! check is built.

use std::cell::OnceCell;
use std::fmt;

use serde_json::Value;

use crate::HealthError;

/// Conditions and patterns longer than this are refused: a pattern is matched against up to a
/// MiB of body, in time proportional to the body times the pattern's longest run without `*`.
const MAX_CONDITION_CHARS: usize = 1000;

/// Resolved values are shown in a detail cut to this many characters.
const SHOWN_CHARS: usize = 50;

/// One condition, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    text: String,
    left: Operand,
    op: Op,
    right: Operand,
}

/// What became of one condition in a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionResult {
    /// The condition as written when it held; when it failed, with the values it saw in
    /// parentheses, as Gatus shows it: `[BODY].status (DOWN) == UP`.
    pub condition: String,
    /// Whether it held.
    pub success: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Gt,
    Lt,
}

/// In Gatus's order of search.
const OPS: [(&str, Op); 6] = [
    (" == ", Op::Eq),
    (" != ", Op::Ne),
    (" <= ", Op::Le),
    (" >= ", Op::Ge),
    (" > ", Op::Gt),
    (" < ", Op::Lt),
];

impl Op {
    fn word(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Le => "<=",
            Self::Ge => ">=",
            Self::Gt => ">",
            Self::Lt => "<",
        }
    }

    fn is_numeric(self) -> bool {
        !matches!(self, Self::Eq | Self::Ne)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// A placeholder, perhaps inside `len()` or `has()`.
    Value { func: Func, placeholder: Placeholder, text: String },
    /// Any other word, compared as it is.
    Literal(String),
    /// `pat(...)`.
    Pattern { glob: Glob, text: String },
    /// `any(a, b)`.
    Any { options: Vec<String>, text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    None,
    Len,
    Has,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placeholder {
    Status,
    ResponseTime,
    Connected,
    CertificateExpiration,
    /// `[BODY]` with a JSON path (empty: the whole body).
    Body(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Gatus's placeholders that agent-ops does not resolve.
const UNSUPPORTED: [&str; 4] = ["[IP]", "[DNS_RCODE]", "[DOMAIN_EXPIRATION]", "[CONTEXT]"];

/// A parse error: what, and where (a character index into the condition, 0-based).
struct ParseError {
    at: usize,
    reason: String,
}

fn err<T>(at: usize, reason: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { at, reason: reason.into() })
}

impl Condition {
    /// Parses a condition. The error's position is the 1-based character where the problem is.
    pub fn parse(text: &str) -> Result<Self, HealthError> {
        Self::parse_inner(text).map_err(|e| HealthError::Condition { position: e.at + 1, reason: e.reason })
    }

    fn parse_inner(text: &str) -> Result<Self, ParseError> {
        let chars = text.chars().count();
        if chars > MAX_CONDITION_CHARS {
            return err(MAX_CONDITION_CHARS, format!("longer than {MAX_CONDITION_CHARS} characters"));
        }
        let Some((byte, word, op)) =
            OPS.iter().find_map(|&(word, op)| text.find(word).map(|byte| (byte, word, op)))
        else {
            return err(
                0,
                "no operator: write one of ==, !=, <, <=, >, >= with a space on each side \
                 (\"[STATUS] == 200\")",
            );
        };
        let op_at = char_index(text, byte);
        let left = operand(text, 0, byte, op)?;
        let right = operand(text, byte + word.len(), text.len(), op)?;
        match (&left, &right) {
            (
                Operand::Pattern { .. } | Operand::Any { .. },
                Operand::Pattern { .. } | Operand::Any { .. },
            ) => {
                return err(op_at + 1, "pat() and any() compare with a value, not with each other");
            }
            (Operand::Literal(_), Operand::Literal(_)) => {
                return err(0, "compares two fixed values: one side must be a placeholder like [STATUS]");
            }
            _ => {}
        }
        Ok(Self { text: text.to_owned(), left, op, right })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it reads the response body.
    pub(crate) fn needs_body(&self) -> bool {
        [&self.left, &self.right]
            .iter()
            .any(|o| matches!(o, Operand::Value { placeholder: Placeholder::Body(_), .. }))
    }

    /// Whether it reads the certificate's expiry.
    pub(crate) fn needs_certificate(&self) -> bool {
        [&self.left, &self.right]
            .iter()
            .any(|o| matches!(o, Operand::Value { placeholder: Placeholder::CertificateExpiration, .. }))
    }

    /// The failure word of this condition's subject: `[STATUS]` → `http_status` ...
    pub(crate) fn subject(&self) -> Option<Subject> {
        [&self.left, &self.right].iter().find_map(|o| match o {
            Operand::Value { placeholder, .. } => Some(match placeholder {
                Placeholder::Status => Subject::Status,
                Placeholder::ResponseTime => Subject::ResponseTime,
                Placeholder::Connected => Subject::Connected,
                Placeholder::CertificateExpiration => Subject::Certificate,
                Placeholder::Body(_) => Subject::Body,
            }),
            _ => None,
        })
    }

    /// Evaluates the condition; `shown` cleans a value seen in the response before it is put
    /// in the result (redaction, control characters), and is given every such value whole.
    pub(crate) fn evaluate(&self, facts: &Facts<'_>, shown: &dyn Fn(&str) -> String) -> ConditionResult {
        let left = resolve(&self.left, facts);
        let right = resolve(&self.right, facts);
        let success = match (&left, &right) {
            (Resolved::Missing(_), _) | (_, Resolved::Missing(_)) => false,
            (Resolved::Text(l), Resolved::Text(r)) => compare(self.op, &self.left, l, &self.right, r),
        };
        if success {
            return ConditionResult { condition: self.text.clone(), success };
        }
        let side = |operand: &Operand, resolved: &Resolved| -> String {
            let written = operand.text();
            let seen = match resolved {
                Resolved::Missing(why) => Some(why.clone()),
                Resolved::Text(value) => {
                    let value =
                        if self.op.is_numeric() { numeric_display(operand, value) } else { value.clone() };
                    (value != written).then(|| cut(&shown(&value), SHOWN_CHARS))
                }
            };
            match seen {
                Some(seen) => format!("{written} ({seen})"),
                None => written.to_owned(),
            }
        };
        ConditionResult {
            condition: format!(
                "{} {} {}",
                side(&self.left, &left),
                self.op.word(),
                side(&self.right, &right)
            ),
            success,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a condition is about, for the failure kind of a check whose condition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Status,
    ResponseTime,
    Connected,
    Certificate,
    Body,
}

impl Operand {
    fn text(&self) -> &str {
        match self {
            Self::Value { text, .. }
            | Self::Pattern { text, .. }
            | Self::Any { text, .. }
            | Self::Literal(text) => text,
        }
    }
}

/// The 0-based character index of byte `byte` of `text`.
fn char_index(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.chars().count())
}

/// Parses the operand in `text[from..to]` (trimmed), for operator `op`.
fn operand(text: &str, from: usize, to: usize, op: Op) -> Result<Operand, ParseError> {
    let raw = text.get(from..to).unwrap_or_default();
    let lead = raw.len() - raw.trim_start().len();
    let s = raw.trim();
    let at = char_index(text, from + lead);
    if s.is_empty() {
        return err(
            at,
            format!("nothing on the {} side of {}", if from == 0 { "left" } else { "right" }, op.word()),
        );
    }
    let inner = |prefix: &str| s.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(')'));
    for (prefix, func) in [("len(", Func::Len), ("has(", Func::Has)] {
        if let Some(arg) = inner(prefix) {
            let placeholder = placeholder(arg, at + prefix.len())?.ok_or_else(|| ParseError {
                at: at + prefix.len(),
                reason: format!("{prefix}) takes a placeholder like [BODY].items"),
            })?;
            return Ok(Operand::Value { func, placeholder, text: s.to_owned() });
        }
    }
    if let Some(pattern) = inner("pat(") {
        if op.is_numeric() {
            return err(at, format!("pat() works only with == and !=, not {}", op.word()));
        }
        let glob = Glob::parse(pattern).map_err(|(i, reason)| ParseError { at: at + 4 + i, reason })?;
        return Ok(Operand::Pattern { glob, text: s.to_owned() });
    }
    if let Some(list) = inner("any(") {
        if op.is_numeric() {
            return err(at, format!("any() works only with == and !=, not {}", op.word()));
        }
        let options = list.split(',').map(|o| o.trim().to_owned()).collect();
        return Ok(Operand::Any { options, text: s.to_owned() });
    }
    for prefix in ["len(", "has(", "pat(", "any("] {
        if s.starts_with(prefix) {
            return err(at + s.chars().count(), format!("{prefix} is not closed with )"));
        }
    }
    if let Some(placeholder) = placeholder(s, at)? {
        return Ok(Operand::Value { func: Func::None, placeholder, text: s.to_owned() });
    }
    if op.is_numeric() && number(s).is_none() {
        return err(
            at,
            format!("{s:?} is not a number or a duration like 48h, which {} compares", op.word()),
        );
    }
    Ok(Operand::Literal(s.to_owned()))
}

/// A placeholder at the start of `s`, or `None` when `s` is a plain word.
fn placeholder(s: &str, at: usize) -> Result<Option<Placeholder>, ParseError> {
    let upper = s.to_ascii_uppercase();
    for (name, p) in [
        ("[STATUS]", Placeholder::Status),
        ("[RESPONSE_TIME]", Placeholder::ResponseTime),
        ("[CONNECTED]", Placeholder::Connected),
        ("[CERTIFICATE_EXPIRATION]", Placeholder::CertificateExpiration),
    ] {
        if upper == name {
            return Ok(Some(p));
        }
    }
    if upper.starts_with("[BODY]") {
        return body_path(&s[6..], at + 6).map(|steps| Some(Placeholder::Body(steps)));
    }
    // `[WORD]...`: a placeholder we do not know, not a word to compare.
    let word_end = s.strip_prefix('[').and_then(|rest| {
        let end = rest.find(']')?;
        let name = &rest[..end];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(end + 2)
    });
    if let Some(end) = word_end {
        let name = upper[..end].to_owned();
        if UNSUPPORTED.contains(&name.as_str()) {
            return err(at, format!("{name} is a Gatus placeholder agent-ops does not support"));
        }
        return err(
            at,
            format!(
                "unknown placeholder {name} (known: [STATUS], [RESPONSE_TIME], [BODY], \
                 [CERTIFICATE_EXPIRATION], [CONNECTED])"
            ),
        );
    }
    Ok(None)
}

/// `.a.b[0][1].c` or `[0].a` after `[BODY]`.
fn body_path(path: &str, at: usize) -> Result<Vec<Step>, ParseError> {
    let chars: Vec<char> = path.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let Some(close) = chars[i..].iter().position(|&c| c == ']').map(|p| i + p) else {
                    return err(at + i, "[ is not closed with ]");
                };
                let index: String = chars[i + 1..close].iter().collect();
                match index.parse::<usize>() {
                    Ok(n) if index.bytes().all(|b| b.is_ascii_digit()) => steps.push(Step::Index(n)),
                    _ => return err(at + i + 1, format!("{index:?} is not an array index (0, 1, ...)")),
                }
                i = close + 1;
            }
            '.' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '.' || c == '[')
                    .map_or(chars.len(), |p| start + p);
                if end == start {
                    return err(at + start, "an empty key in the path");
                }
                if let Some(p) = chars[start..end].iter().position(|&c| c == ']') {
                    return err(at + start + p, "] without [");
                }
                steps.push(Step::Key(chars[start..end].iter().collect()));
                i = end;
            }
            _ => return err(at + i, "a path after [BODY] goes on with . or ["),
        }
    }
    Ok(steps)
}

/// What a condition is evaluated against.
pub(crate) struct Facts<'a> {
    /// The final status; 0 when there was no response.
    pub status: u16,
    /// Milliseconds until the response head arrived (or the request failed).
    pub response_time_ms: i64,
    /// Whether a response arrived.
    pub connected: bool,
    /// Milliseconds until the certificate expires (negative when expired), 0 when there is
    /// none (plain http, or it could not be read).
    pub cert_expiration_ms: i64,
    /// The body read (`None`: not read).
    pub body: Option<&'a [u8]>,
    /// Whether the body was longer than what was read.
    pub body_cut: Option<&'a str>,
    json: OnceCell<Option<Value>>,
}

impl Facts<'_> {
    pub(crate) fn new(status: u16, response_time_ms: i64, connected: bool) -> Self {
        Self {
            status,
            response_time_ms,
            connected,
            cert_expiration_ms: 0,
            body: None,
            body_cut: None,
            json: OnceCell::new(),
        }
    }

    fn json(&self) -> Option<&Value> {
        self.json.get_or_init(|| serde_json::from_slice(self.body.unwrap_or_default()).ok()).as_ref()
    }
}

enum Resolved {
    Text(String),
    /// Not there: why, shown in parentheses.
    Missing(String),
}

fn resolve(operand: &Operand, facts: &Facts<'_>) -> Resolved {
    let Operand::Value { func, placeholder, .. } = operand else {
        return Resolved::Text(operand.text().to_owned());
    };
    let plain = |value: String| {
        Resolved::Text(match func {
            Func::None => value,
            Func::Len => value.len().to_string(),
            Func::Has => (!value.is_empty()).to_string(),
        })
    };
    match placeholder {
        Placeholder::Status => plain(facts.status.to_string()),
        Placeholder::ResponseTime => plain(facts.response_time_ms.to_string()),
        Placeholder::Connected => plain(facts.connected.to_string()),
        Placeholder::CertificateExpiration => plain(facts.cert_expiration_ms.to_string()),
        Placeholder::Body(steps) => {
            if let Some(why) = facts.body_cut {
                return Resolved::Missing(why.to_owned());
            }
            let body = facts.body.unwrap_or_default();
            if steps.is_empty() {
                let text = String::from_utf8_lossy(body);
                return Resolved::Text(match func {
                    Func::None => text.trim().to_owned(),
                    Func::Has => (!text.trim().is_empty()).to_string(),
                    Func::Len => match facts.json() {
                        Some(Value::Array(items)) if is_array_text(body) => items.len().to_string(),
                        _ => text.len().to_string(),
                    },
                });
            }
            let found = facts.json().and_then(|json| walk(json, steps)).filter(|v| !v.is_null());
            match (func, found) {
                (Func::Has, found) => Resolved::Text(found.is_some().to_string()),
                (_, None) => Resolved::Missing(
                    if facts.json().is_some() { "INVALID" } else { "INVALID, not JSON" }.to_owned(),
                ),
                (Func::Len, Some(Value::Array(items))) => Resolved::Text(items.len().to_string()),
                (Func::Len, Some(v)) => Resolved::Text(text_of(v).len().to_string()),
                (_, Some(v)) => Resolved::Text(text_of(v)),
            }
        }
    }
}

/// Gatus counts the items of a body that is a JSON array only when it starts with `[` and
/// ends with `]` exactly.
fn is_array_text(body: &[u8]) -> bool {
    body.first() == Some(&b'[') && body.last() == Some(&b']')
}

fn walk<'v>(mut value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        value = match (step, value) {
            (Step::Key(k), Value::Object(map)) => map.get(k)?,
            (Step::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// A JSON value as a condition compares it: strings as they are, numbers as written (whole
/// numbers without a fraction), objects as minified JSON, arrays as Go prints them (`[a b]`).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(_) => v.to_string(),
        other => go_text(other),
    }
}

/// Go's `%v` of a decoded JSON value (for arrays and what is inside them).
fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            format!(
                "map[{}]",
                map.iter().map(|(k, v)| format!("{k}:{}", go_text(v))).collect::<Vec<_>>().join(" ")
            )
        }
    }
}

fn compare(op: Op, lo: &Operand, l: &str, ro: &Operand, r: &str) -> bool {
    match op {
        Op::Eq => equal(lo, l, ro, r),
        Op::Ne => !equal(lo, l, ro, r),
        _ => {
            let (a, b) = (number(l).unwrap_or(0), number(r).unwrap_or(0));
            match op {
                Op::Le => a <= b,
                Op::Ge => a >= b,
                Op::Gt => a > b,
                _ => a < b,
            }
        }
    }
}

/// Gatus's `isEqual`: a pattern or a list on either side, else Go integers, else text.
fn equal(lo: &Operand, l: &str, ro: &Operand, r: &str) -> bool {
    match (lo, ro) {
        (Operand::Pattern { glob, .. }, _) => glob.matches(r),
        (_, Operand::Pattern { glob, .. }) => glob.matches(l),
        (Operand::Any { options, .. }, _) => options.iter().any(|o| o == r),
        (_, Operand::Any { options, .. }) => options.iter().any(|o| o == l),
        _ => match (go_int(l), go_int(r)) {
            (Some(a), Some(b)) => a == b,
            _ => l == r,
        },
    }
}

/// A value on a numeric side shown as Gatus shows it: durations for `[CERTIFICATE_EXPIRATION]`
/// and next to a duration, the integer compared otherwise.
fn numeric_display(operand: &Operand, value: &str) -> String {
    let n = number(value).unwrap_or(0);
    let as_duration = match operand {
        Operand::Value { placeholder: Placeholder::CertificateExpiration, func: Func::None, .. } => true,
        Operand::Literal(text) => go_duration_ms(text).is_some(),
        _ => false,
    };
    if as_duration { duration_text(n) } else { n.to_string() }
}

/// `336h`, `1h30m`, `1h0m15s`, `-2h`, `0s`: milliseconds in Go's duration words, whole seconds.
fn duration_text(ms: i64) -> String {
    let secs = ms / 1000;
    let sign = if secs < 0 { "-" } else { "" };
    let secs = secs.unsigned_abs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{sign}{s}s"),
        (0, m, 0) => format!("{sign}{m}m"),
        (0, m, s) => format!("{sign}{m}m{s}s"),
        (h, 0, 0) => format!("{sign}{h}h"),
        (h, m, 0) => format!("{sign}{h}h{m}m"),
        (h, m, s) => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// A value as `<`, `<=`, `>`, `>=` read it: a non-zero Go duration in milliseconds, else a Go
/// integer, else a float cut to an integer; `None` when it is none of these (Gatus: 0).
pub(crate) fn number(s: &str) -> Option<i64> {
    if let Some(ms) = go_duration_ms(s) {
        return Some(ms);
    }
    if let Some(i) = go_int(s) {
        return Some(i);
    }
    s.parse::<f64>().ok().map(|f| f as i64)
}

/// Go's `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`, `0o`, `0b` or a leading `0`
/// (octal) or decimal digits, with `_` allowed between digits.
pub(crate) fn go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits, prefixed) = match lower.as_deref() {
        Some("0x") => (16, &body[2..], true),
        Some("0o") => (8, &body[2..], true),
        Some("0b") => (2, &body[2..], true),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..], true),
        _ => (10, body, false),
    };
    // Underscores: only between digits, or right after a base prefix.
    let bytes = digits.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let before_ok = if i == 0 { prefixed } else { bytes[i - 1] != b'_' };
            if !before_ok || i + 1 == bytes.len() {
                return None;
            }
        }
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || clean.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude).or((magnitude == 1 << 63).then_some(i64::MIN))
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `time.ParseDuration` in whole milliseconds (cut toward zero), `None` when `s` is not
/// a duration or is zero (Gatus then reads it as a number).
pub(crate) fn go_duration_ms(s: &str) -> Option<i64> {
    let (negative, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_end];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        nanos += number.parse::<f64>().ok()? * scale;
    }
    // Go refuses durations past about 292 years.
    if nanos > 9.223_372_036_854_775e18 {
        return None;
    }
    let ms = (nanos / 1e6).trunc() as i64;
    let ms = if negative { -ms } else { ms };
    (nanos != 0.0).then_some(ms)
}

/// A glob as Go's `filepath.Match` reads it, with `/` removed from pattern and text as Gatus
/// does: `*` any run of characters, `?` one character, `[a-z]` and `[^a-z]` classes, `\x` the
/// character x.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    One,
    Char(char),
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Star | Self::One => true,
            Self::Char(x) => *x == c,
            Self::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

impl Glob {
    /// Parses a pattern; the error is the character index (in the pattern) and why.
    fn parse(pattern: &str) -> Result<Self, (usize, String)> {
        // `/` goes, and so does a `\\` before it (the text has no `/` left to match).
        let mut chars: Vec<(usize, char)> = Vec::new();
        let mut raw = pattern.chars().enumerate().peekable();
        while let Some((i, c)) = raw.next() {
            match (c, raw.peek()) {
                ('/', _) => {}
                ('\\', Some(&(_, '/'))) => {
                    raw.next();
                }
                ('\\', Some(&next)) => {
                    chars.push((i, c));
                    chars.push(next);
                    raw.next();
                }
                _ => chars.push((i, c)),
            }
        }
        let mut tokens = Vec::new();
        let mut i = 0;
        let escaped = |i: usize| -> Result<(char, usize), (usize, String)> {
            match chars.get(i + 1) {
                Some(&(_, c)) => Ok((c, i + 2)),
                None => Err((chars[i].0, "\\ at the end of the pattern escapes nothing".to_owned())),
            }
        };
        while i < chars.len() {
            let (at, c) = chars[i];
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::One);
                    i += 1;
                }
                '\\' => {
                    let (c, next) = escaped(i)?;
                    tokens.push(Token::Char(c));
                    i = next;
                }
                '[' => {
                    i += 1;
                    let negated = chars.get(i).is_some_and(|&(_, c)| c == '^');
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let Some(&(_, c)) = chars.get(i) else {
                            return Err((at, "[ is not closed with ]".to_owned()));
                        };
                        if c == ']' && !ranges.is_empty() {
                            i += 1;
                            break;
                        }
                        let (lo, next) = match c {
                            '\\' => escaped(i)?,
                            '-' | ']' => {
                                return Err((chars[i].0, format!("{c} where a character is expected")));
                            }
                            c => (c, i + 1),
                        };
                        i = next;
                        let mut hi = lo;
                        if chars.get(i).is_some_and(|&(_, c)| c == '-') {
                            let (h, next) = match chars.get(i + 1) {
                                Some(&(_, '\\')) => escaped(i + 1)?,
                                Some(&(_, c)) if c != ']' => (c, i + 2),
                                _ => return Err((chars[i].0, "a range without its end".to_owned())),
                            };
                            hi = h;
                            i = next;
                        }
                        if hi < lo {
                            return Err((at, format!("the range {lo}-{hi} is backwards")));
                        }
                        ranges.push((lo, hi));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
            }
        }
        Ok(Self { tokens })
    }

    /// Whether the whole of `text` (without its `/`) matches. Each run of tokens between stars
    /// is matched at its leftmost place (a later place never helps a star), so the time is the
    /// text's length times the longest run.
    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().filter(|&c| c != '/').collect();
        let runs: Vec<&[Token]> = self.tokens.split(|t| *t == Token::Star).collect();
        let fits = |run: &[Token], at: usize| {
            text.get(at..at + run.len()).is_some_and(|s| run.iter().zip(s).all(|(t, &c)| t.matches(c)))
        };
        if runs.len() == 1 {
            return text.len() == runs[0].len() && fits(runs[0], 0);
        }
        let (first, last) = (runs[0], runs[runs.len() - 1]);
        if text.len() < first.len() + last.len() || !fits(first, 0) || !fits(last, text.len() - last.len()) {
            return false;
        }
        let end = text.len() - last.len();
        let mut at = first.len();
        for run in &runs[1..runs.len() - 1] {
            match (at..=end.saturating_sub(run.len())).find(|&p| p + run.len() <= end && fits(run, p)) {
                Some(p) => at = p + run.len(),
                None => return false,
            }
        }
        true
    }
}

/// The first `max` characters of `s`, with `...` when it was longer.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: u16, body: &str) -> Facts<'_> {
        let mut f = Facts::new(status, 120, status != 0);
        f.body = Some(body.as_bytes());
        f
    }

    fn eval(condition: &str, facts: &Facts<'_>) -> (bool, String) {
        let c = Condition::parse(condition).unwrap_or_else(|e| panic!("{condition}: {e}"));
        let r = c.evaluate(facts, &|s| s.to_owned());
        (r.success, r.condition)
    }

    fn parse_error(condition: &str) -> String {
        Condition::parse(condition).unwrap_err().to_string()
    }

    /// Gatus's own examples (its condition tests and README), with its verdicts and displays.
    #[test]
    #[allow(clippy::too_many_lines)] // a table of Gatus's own cases
    fn gatus_examples_give_gatus_verdicts() {
        let cases: &[(&str, u16, &str, bool, &str)] = &[
            ("[STATUS] == 200", 200, "", true, "[STATUS] == 200"),
            ("[STATUS] == 200", 500, "", false, "[STATUS] (500) == 200"),
            ("[STATUS] < 300", 404, "", false, "[STATUS] (404) < 300"),
            ("[status] <= 299", 200, "", true, "[status] <= 299"),
            ("[STATUS] > 400", 400, "", false, "[STATUS] (400) > 400"),
            ("[STATUS] == any(200, 429)", 429, "", true, ""),
            ("any(200, 429) == [STATUS]", 429, "", true, ""),
            ("[STATUS] == any(200, 429)", 404, "", false, "[STATUS] (404) == any(200, 429)"),
            ("[STATUS] == pat(4*)", 404, "", true, ""),
            ("[STATUS] == pat(4*)", 200, "", false, "[STATUS] (200) == pat(4*)"),
            ("[BODY] == test", 200, "test", true, ""),
            ("[BODY] == 123", 200, "123", true, ""),
            ("[BODY] < 124", 200, "123", true, ""),
            ("[BODY] > 123", 200, "100", false, "[BODY] (100) > 123"),
            ("[BODY].status == UP", 200, r#"{"status":"UP"}"#, true, ""),
            ("[BODY].status == UP", 200, r#"{"status":"DOWN"}"#, false, "[BODY].status (DOWN) == UP"),
            ("[BODY].data.name == john", 200, r#"{"data": {"id": 1, "name": "john"}}"#, true, ""),
            (
                "[BODY].data.name == john",
                200,
                r#"{"data": {"id": 1}}"#,
                false,
                "[BODY].data.name (INVALID) == john",
            ),
            (
                "[BODY].user.firstName != [BODY].user.lastName",
                200,
                r#"{"user": {"firstName": "john", "lastName": "doe"}}"#,
                true,
                "",
            ),
            (
                "[BODY].user.firstName == [BODY].user.lastName",
                200,
                r#"{"user": {"firstName": "john", "lastName": "doe"}}"#,
                false,
                "[BODY].user.firstName (john) == [BODY].user.lastName (doe)",
            ),
            ("[BODY][0].id == 1", 200, r#"[{"id": 1}, {"id": 2}]"#, true, ""),
            ("[BODY].data == OK", 200, r#"{"data": null}"#, false, "[BODY].data (INVALID) == OK"),
            (
                "[BODY].items[0] == OK",
                200,
                r#"{"items": [null, null]}"#,
                false,
                "[BODY].items[0] (INVALID) == OK",
            ),
            (
                "[BODY][0].name == test",
                200,
                r#"{"statusCode": 500}"#,
                false,
                "[BODY][0].name (INVALID) == test",
            ),
            ("[BODY].data.id == 1", 200, r#"{"data": {"id": 1}}"#, true, ""),
            ("[BODY].data[1].id == 2", 200, r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}"#, true, ""),
            ("[BODY].data > 0", 200, r#"{"data": "0x1"}"#, true, ""),
            ("[BODY].data == 1", 200, r#"{"data": "0x1"}"#, true, ""),
            ("[BODY].data == 12648243", 200, r#"{"data": "0xC0ff33"}"#, true, ""),
            ("[BODY].data == 2", 200, r#"{"data": "0b0010"}"#, true, ""),
            ("[BODY].data == 0b10", 200, r#"{"data": "0b0010"}"#, true, ""),
            ("[BODY].data == 2", 200, r#"{"data": "0o2"}"#, true, ""),
            ("len([BODY].data) == 3", 200, r#"{"data": "0x1"}"#, true, ""),
            ("[BODY].data.id > 5", 200, r#"{"data": {"id": 1}}"#, false, "[BODY].data.id (1) > 5"),
            ("[BODY].balance > 100", 200, r#"{"balance": "123.40000000000005"}"#, true, ""),
            ("len([BODY].data.name) == 4", 200, r#"{"data": {"name": "john"}}"#, true, ""),
            ("len([BODY]) == 3", 200, r#"[{"id": 1}, {"id": 2}, {"id": 3}]"#, true, ""),
            ("len([BODY].data) == 3", 200, r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}"#, true, ""),
            (
                "len([BODY].data) == 8",
                200,
                r#"{"name": "john.doe"}"#,
                false,
                "len([BODY].data) (INVALID) == 8",
            ),
            ("len([BODY]) == 8", 200, "john.doe", true, ""),
            ("len([BODY].age) == 2", 200, r#"{"age":18}"#, true, ""),
            ("len([BODY].adult) == 4", 200, r#"{"adult":true}"#, true, ""),
            ("len([BODY][0]) == 23", 200, r#"[{"age":18,"adult":true}]"#, true, ""),
            ("len([BODY]) == 20", 200, r#"{"name": "john.doe"}"#, true, ""),
            ("[BODY] == pat(*john*)", 200, r#"{"name": "john.doe"}"#, true, ""),
            ("[BODY].name == pat(john*)", 200, r#"{"name": "john.doe"}"#, true, ""),
            (
                "[BODY].name == pat(bob*)",
                200,
                r#"{"name": "john.doe"}"#,
                false,
                "[BODY].name (john.doe) == pat(bob*)",
            ),
            ("[BODY].data == pat(*Whatever*)", 200, r#"{"data": ["hello", "world", "Whatever"]}"#, true, ""),
            ("[BODY].name == any(john.doe, jane.doe)", 200, r#"{"name": "jane.doe"}"#, true, ""),
            (
                "[BODY].name == any(john.doe, jane.doe)",
                200,
                r#"{"name": "bob"}"#,
                false,
                "[BODY].name (bob) == any(john.doe, jane.doe)",
            ),
            ("has([BODY].errors) == false", 200, "{}", true, ""),
            (
                "has([BODY].errors) == false",
                200,
                r#"{"errors": ["1"]}"#,
                false,
                "has([BODY].errors) (true) == false",
            ),
            ("has([BODY].users) == true", 200, r#"{"users": []}"#, true, ""),
            ("[CONNECTED] == true", 200, "", true, ""),
            ("[CONNECTED] == true", 0, "", false, "[CONNECTED] (false) == true"),
        ];
        for &(condition, status, body, success, shown) in cases {
            let (ok, display) = eval(condition, &facts(status, body));
            assert_eq!(ok, success, "{condition} on {body:?}: {display}");
            let expected = if shown.is_empty() { condition } else { shown };
            assert_eq!(display, expected, "{condition} on {body:?}");
        }
    }

    #[test]
    fn certificate_expiration_and_durations() {
        let mut f = facts(200, "");
        f.cert_expiration_ms = 24 * 3600 * 1000;
        assert_eq!(
            eval("[CERTIFICATE_EXPIRATION] > 12h", &f),
            (true, "[CERTIFICATE_EXPIRATION] > 12h".into())
        );
        assert_eq!(
            eval("[CERTIFICATE_EXPIRATION] > 48h", &f),
            (false, "[CERTIFICATE_EXPIRATION] (24h) > 48h".into())
        );
        f.cert_expiration_ms = 14 * 24 * 3600 * 1000 + 10_500;
        assert_eq!(
            eval("[CERTIFICATE_EXPIRATION] > 2419200000", &f),
            (false, "[CERTIFICATE_EXPIRATION] (336h0m10s) > 2419200000".into())
        );
        f.cert_expiration_ms = -7_200_000;
        assert_eq!(eval("[CERTIFICATE_EXPIRATION] > 0", &f).1, "[CERTIFICATE_EXPIRATION] (-2h) > 0");
        assert_eq!(eval("[RESPONSE_TIME] < 1s", &f), (true, "[RESPONSE_TIME] < 1s".into()));
        assert_eq!(eval("[RESPONSE_TIME] > 1s", &f), (false, "[RESPONSE_TIME] (120) > 1s".into()));
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(90_000), "1m30s");
        assert_eq!(duration_text(3_600_000 + 10_000), "1h0m10s");
    }

    #[test]
    fn go_numbers_and_durations() {
        for (s, n) in [
            ("0x1F", 31),
            ("0o17", 15),
            ("017", 15),
            ("0b101", 5),
            ("-42", -42),
            ("+7", 7),
            ("1_000", 1000),
            ("0x_1F", 31),
        ] {
            assert_eq!(go_int(s), Some(n), "{s}");
        }
        for s in ["", "-", "0x", "_1", "1_", "1__0", "1.5", "9223372036854775808", "abc", "08", "+-1"] {
            assert_eq!(go_int(s), None, "{s}");
        }
        assert_eq!(go_int("-9223372036854775808"), Some(i64::MIN));
        for (s, ms) in [
            ("48h", 172_800_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1500),
            ("300ms", 300),
            ("-2m", -120_000),
            ("1500us", 1),
            ("2\u{b5}s", 0),
        ] {
            assert_eq!(go_duration_ms(s), if ms == 0 { Some(0) } else { Some(ms) }, "{s}");
        }
        for s in ["0", "0s", "5", "h", "1x", "1.2.3s", "", "1e3s"] {
            assert_eq!(go_duration_ms(s).filter(|&ms| ms != 0), None, "{s}");
        }
        assert_eq!(number("123.9"), Some(123));
        assert_eq!(number("potato"), None);
    }

    #[test]
    fn globs_read_as_go_reads_them() {
        let m = |p: &str, s: &str| Glob::parse(p).unwrap().matches(s);
        assert!(m("*", "") && m("*", "anything"));
        assert!(m("*ok*", "all is ok here") && !m("*ok*", "fine"));
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("[a-c]x", "bx") && !m("[^a-c]x", "bx") && m("[^a-c]x", "dx"));
        assert!(m("\\*", "*") && !m("\\*", "a"));
        assert!(m("*a*b*c", "xxaxxbxxc") && !m("*a*b*c", "xxaxxcxxb"));
        assert!(m("ab*ab", "abab") && !m("ab*ab", "aba"));
        assert!(m("10.*", "10.0.0.1"), "slashes are removed first");
        assert!(m("*/health*", "/api/health/live"));
        assert!(m("*a\\/b*", "x a/b y"), "an escaped slash goes with the slash");
        assert!(m("\\\\", "\\"), "an escaped backslash");
        for bad in ["[abc", "a\\", "[]", "[z-a]", "[a-]"] {
            assert!(Glob::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_condition_that_does_not_parse_says_where() {
        assert_eq!(
            parse_error("[STATUS]==200"),
            "invalid condition at character 1: no operator: write one of ==, !=, <, <=, >, >= with a space on each side (\"[STATUS] == 200\")"
        );
        assert_eq!(
            parse_error("[IP] == 127.0.0.1"),
            "invalid condition at character 1: [IP] is a Gatus placeholder agent-ops does not support"
        );
        assert_eq!(
            parse_error("[STATUS] == [STATSU]").split(": ").next().unwrap(),
            "invalid condition at character 13"
        );
        assert!(parse_error("[STATUS] == [STATSU]").contains("unknown placeholder [STATSU]"));
        assert!(
            parse_error("[RESPONSE_TIME] < potato")
                .starts_with("invalid condition at character 19: \"potato\" is not a number")
        );
        assert!(
            parse_error("[BODY] == pat(*[ok*)")
                .starts_with("invalid condition at character 16: [ is not closed")
        );
        assert!(parse_error("[STATUS] < pat(2*)").contains("pat() works only with == and !="));
        assert!(parse_error("len([BODY].users == 100").contains("len( is not closed with )"));
        assert!(parse_error("[BODY].a[x] == 1").contains("\"x\" is not an array index"));
        assert!(parse_error("[BODY].a..b == 1").contains("an empty key"));
        assert!(parse_error("[BODY]x == 1").contains("goes on with . or ["));
        assert!(parse_error("1 == 2").contains("one side must be a placeholder"));
        assert!(parse_error("[STATUS] == ").contains("nothing on the right side"));
        assert!(parse_error(&"x".repeat(2000)).contains("longer than 1000 characters"));
    }

    #[test]
    fn split_at_the_first_operator() {
        let (ok, _) = eval("[BODY] == pat(*a == b*)", &facts(200, "x a == b y"));
        assert!(ok);
    }

    #[test]
    fn a_cut_body_decides_no_body_condition() {
        let mut f = facts(200, r#"{"status": "UP""#);
        f.body_cut = Some("body cut at 1 MiB");
        assert_eq!(
            eval("[BODY].status == UP", &f),
            (false, "[BODY].status (body cut at 1 MiB) == UP".into())
        );
        assert!(eval("[STATUS] == 200", &f).0);
    }

    #[test]
    fn missing_values_fail_whatever_the_operator() {
        let f = facts(200, "{}");
        assert!(!eval("[BODY].status != DOWN", &f).0);
        assert!(!eval("[BODY].errors < 1", &f).0);
        assert!(!eval("[BODY].x == 1", &facts(200, "not json")).0);
        assert_eq!(eval("[BODY].x == 1", &facts(200, "not json")).1, "[BODY].x (INVALID, not JSON) == 1");
    }

    #[test]
    fn numbers_are_shown_as_written() {
        assert!(eval("[BODY].count == 1234567", &facts(200, r#"{"count": 1234567}"#)).0);
        assert!(eval("[BODY].count == 1", &facts(200, r#"{"count": 1.0}"#)).0);
        assert!(eval("[BODY].ratio == 0.5", &facts(200, r#"{"ratio": 0.5}"#)).0);
        assert!(eval("[BODY].items == [1 a true]", &facts(200, r#"{"items": [1, "a", true]}"#)).0);
        assert!(eval(r#"[BODY].o == {"a":1,"b":2}"#, &facts(200, r#"{"o": {"b": 2, "a": 1}}"#)).0);
    }

    #[test]
    fn shown_values_are_cleaned_and_cut() {
        let c = Condition::parse("[BODY] == ok").unwrap();
        let body = format!("secret-token {}", "x".repeat(100));
        let r = c.evaluate(&facts(200, &body), &|s| s.replace("secret-token", "[redacted]"));
        assert_eq!(r.condition, format!("[BODY] ([redacted] {}...) == ok", "x".repeat(39)));
    }

    /// A plain backtracking glob matcher, the oracle for the leftmost-run one.
    fn naive(tokens: &[Token], text: &[char]) -> bool {
        match tokens.split_first() {
            None => text.is_empty(),
            Some((Token::Star, rest)) => (0..=text.len()).any(|i| naive(rest, &text[i..])),
            Some((t, rest)) => text.split_first().is_some_and(|(c, tail)| t.matches(*c) && naive(rest, tail)),
        }
    }

    proptest::proptest! {
        #[test]
        fn globs_agree_with_backtracking(pattern in "[ab*?\\\\]{0,8}", text in "[ab/]{0,10}") {
            if let Ok(glob) = Glob::parse(&pattern) {
                let chars: Vec<char> = text.chars().filter(|&c| c != '/').collect();
                proptest::prop_assert_eq!(glob.matches(&text), naive(&glob.tokens, &chars), "{} on {}", pattern, text);
            }
        }

        #[test]
        fn any_text_matches_itself_escaped_and_inside_stars(text in "\\PC{0,20}", around in "\\PC{0,5}") {
            let escaped: String = text.chars().flat_map(|c| ['\\', c]).collect();
            let glob = Glob::parse(&escaped).unwrap();
            proptest::prop_assert!(glob.matches(&text));
            let inside = Glob::parse(&format!("*{escaped}*")).unwrap();
            let framed = format!("{around}{text}{around}");
            proptest::prop_assert!(inside.matches(&framed));
        }

        #[test]
        fn go_integers_in_every_base(n in proptest::num::i64::ANY) {
            let sign = if n < 0 { "-" } else { "" };
            let m = n.unsigned_abs();
            for text in [n.to_string(), format!("{sign}0x{m:x}"), format!("{sign}0o{m:o}"), format!("{sign}0b{m:b}")] {
                proptest::prop_assert_eq!(go_int(&text), Some(n), "{}", text);
            }
        }
    }
}
