//! A fast path for the bytes [`encode`](super::encode) writes: the keys in their order, no
//! white space but at the end, numbers as serde_json writes them. Anything else is `None`, and
//! serde_json decides; when this answers, it answers exactly what serde_json would (the
//! `rollup_file` fuzz target holds it to that), without serde's per-key dispatch and with
//! vectors sized once.

use std::borrow::Cow;

use super::format::{
    BadV1, FileV1, FirstBadV1, HoursV1, RunV1, ServiceV1, SourceV1, TimelineV1, UpLatencyV1,
};

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `lit` if the input continues with it.
    fn eat(&mut self, lit: &[u8]) -> bool {
        let found = self.b[self.i..].starts_with(lit);
        if found {
            self.i += lit.len();
        }
        found
    }

    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// A JSON number token: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, and whether it has
    /// a fraction or an exponent.
    fn number(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        let digits = |c: &mut Self| {
            let from = c.i;
            while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
            }
            c.i - from
        };
        self.eat(b"-");
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let mut float = false;
        if self.eat(b".") {
            float = true;
            if digits(self) == 0 {
                return None;
            }
        }
        if self.eat(b"e") || self.eat(b"E") {
            float = true;
            let _ = self.eat(b"+") || self.eat(b"-");
            if digits(self) == 0 {
                return None;
            }
        }
        Some((&self.b[start..self.i], float))
    }

    /// An integer token (at most 38 digits) as an `i128`. The common case, up to 19 digits,
    /// is read in one pass without the grammar of [`Cursor::number`].
    fn integer(&mut self) -> Option<i128> {
        let rest = &self.b[self.i..];
        let (negative, digits) = match rest.split_first() {
            Some((b'-', digits)) => (true, digits),
            _ => (false, rest),
        };
        let (mut n, mut len) = (0u64, 0usize);
        for &c in digits.iter().take(19) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = n * 10 + u64::from(d);
            len += 1;
        }
        if len == 19 && digits.get(19).is_some_and(u8::is_ascii_digit) {
            return self.long_integer();
        }
        // serde_json reads `-0` as a float, `01` not at all, and `1.5` or `1e3` as floats.
        if len == 0
            || (len > 1 && digits[0] == b'0')
            || (negative && n == 0)
            || matches!(digits.get(len), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        self.i += usize::from(negative) + len;
        Some(if negative { -i128::from(n) } else { i128::from(n) })
    }

    fn long_integer(&mut self) -> Option<i128> {
        let (token, float) = self.number()?;
        let (negative, digits) = token.strip_prefix(b"-").map_or((false, token), |d| (true, d));
        if float || digits.len() > 38 {
            return None;
        }
        let n = digits.iter().fold(0i128, |n, d| n * 10 + i128::from(d - b'0'));
        Some(if negative { -n } else { n })
    }

    fn int<T: TryFrom<i128>>(&mut self) -> Option<T> {
        T::try_from(self.integer()?).ok()
    }

    fn float(&mut self) -> Option<f64> {
        let (token, _) = self.number()?;
        let v: f64 = std::str::from_utf8(token).ok()?.parse().ok()?;
        v.is_finite().then_some(v)
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.eat(b"true") { Some(true) } else { self.lit(b"false").map(|()| false) }
    }

    /// A string: borrowed when it has no escape, decoded by serde_json when it has.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.lit(b"\"")?;
        let start = self.i;
        let mut escaped = false;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        let body = self.b.get(start..self.i)?;
        self.i += 1;
        if escaped {
            serde_json::from_slice::<String>(&self.b[start - 1..self.i]).ok().map(Cow::Owned)
        } else {
            std::str::from_utf8(body).ok().map(Cow::Borrowed)
        }
    }

    /// `[item, ...]`.
    fn array<T>(&mut self, capacity: usize, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.lit(b"[")?;
        let mut v = Vec::with_capacity(capacity);
        if self.eat(b"]") {
            return Some(v);
        }
        loop {
            v.push(item(self)?);
            if self.eat(b"]") {
                return Some(v);
            }
            self.lit(b",")?;
        }
    }

    fn run(&mut self) -> Option<RunV1> {
        self.lit(b"[")?;
        let down = self.boolean()?;
        self.lit(b",")?;
        let start = self.int()?;
        self.lit(b",")?;
        let last = self.int()?;
        self.lit(b"]")?;
        Some((down, start, last))
    }

    fn source(&mut self) -> Option<SourceV1> {
        self.lit(b"{\"size\":")?;
        let size = self.int()?;
        self.lit(b",\"mtime\":")?;
        let mtime = self.int()?;
        self.lit(b",\"mtime_nsec\":")?;
        let mtime_nsec = self.int()?;
        self.lit(b",\"inode\":")?;
        let inode = self.int()?;
        self.lit(b"}")?;
        Some(SourceV1 { size, mtime, mtime_nsec, inode })
    }

    fn bad(&mut self) -> Option<BadV1> {
        let mut counts = [0u64; 6];
        for (n, key) in counts.iter_mut().zip([
            &b"{\"invalid_utf8\":"[..],
            b",\"invalid_json\":",
            b",\"torn_last_line\":",
            b",\"not_an_object\":",
            b",\"wrong_type\":",
            b",\"too_long\":",
        ]) {
            self.lit(key)?;
            *n = self.int()?;
        }
        let first = if self.eat(b",\"first\":") {
            self.lit(b"{\"line\":")?;
            let line = self.int()?;
            self.lit(b",\"kind\":")?;
            let kind = self.string()?.into_owned();
            self.lit(b",\"reason\":")?;
            let reason = self.string()?.into_owned();
            self.lit(b"}")?;
            Some(FirstBadV1 { line, kind, reason })
        } else {
            None
        };
        self.lit(b"}")?;
        let [invalid_utf8, invalid_json, torn_last_line, not_an_object, wrong_type, too_long] = counts;
        Some(BadV1 { invalid_utf8, invalid_json, torn_last_line, not_an_object, wrong_type, too_long, first })
    }

    fn up_latency(&mut self) -> Option<UpLatencyV1> {
        self.lit(b"{\"min_ms\":")?;
        let min_ms = self.float()?;
        self.lit(b",\"max_ms\":")?;
        let max_ms = self.float()?;
        self.lit(b",\"first_bucket\":")?;
        let first_bucket = self.int()?;
        self.lit(b",\"counts\":")?;
        let counts = self.array(24, Self::int)?;
        self.lit(b"}")?;
        Some(UpLatencyV1 { min_ms, max_ms, first_bucket, counts })
    }

    fn timeline(&mut self) -> Option<TimelineV1> {
        self.lit(b"{\"head\":")?;
        let head = self.run()?;
        let next = if self.eat(b",\"next\":") { Some(self.int()?) } else { None };
        let tail = if self.eat(b",\"tail\":") { Some(self.run()?) } else { None };
        self.lit(b",\"incidents\":")?;
        let incidents = self.int()?;
        self.lit(b",\"longest_us\":")?;
        let longest_us = self.int()?;
        self.lit(b",\"up_us\":")?;
        let up_us = self.int()?;
        self.lit(b",\"down_us\":")?;
        let down_us = self.int()?;
        self.lit(b"}")?;
        Some(TimelineV1 { head, next, tail, incidents, longest_us, up_us, down_us })
    }

    fn hours(&mut self) -> Option<HoursV1> {
        self.lit(b"{\"first\":")?;
        let first = self.int()?;
        self.lit(b",\"ms\":")?;
        let ms = self.array(24, Self::int)?;
        self.lit(b",\"checks\":")?;
        let checks = self.array(ms.len(), Self::int)?;
        let float_ms =
            if self.eat(b",\"float_ms\":") { Some(self.array(ms.len(), Self::float)?) } else { None };
        self.lit(b"}")?;
        Some(HoursV1 { first, ms, checks, float_ms })
    }

    fn service(&mut self) -> Option<ServiceV1<'a>> {
        self.lit(b"{\"name\":")?;
        let name = self.string()?;
        self.lit(b",\"first_line\":")?;
        let first_line = self.int()?;
        self.lit(b",\"up\":")?;
        let up = self.int()?;
        self.lit(b",\"down\":")?;
        let down = self.int()?;
        self.lit(b",\"other\":")?;
        let other = self.int()?;
        self.lit(b",\"latency_ms\":")?;
        let latency_ms = self.integer()?;
        let latency_float_ms = if self.eat(b",\"latency_float_ms\":") { Some(self.float()?) } else { None };
        let up_latency = if self.eat(b",\"up_latency\":") { Some(self.up_latency()?) } else { None };
        let seen_us = if self.eat(b",\"seen_us\":[") {
            let first = self.int()?;
            self.lit(b",")?;
            let last = self.int()?;
            self.lit(b"]")?;
            Some((first, last))
        } else {
            None
        };
        let timeline = if self.eat(b",\"timeline\":") { Some(self.timeline()?) } else { None };
        let hours = if self.eat(b",\"hours\":") { Some(self.hours()?) } else { None };
        self.lit(b"}")?;
        Some(ServiceV1 {
            name,
            first_line,
            up,
            down,
            other,
            latency_ms,
            latency_float_ms,
            up_latency,
            seen_us,
            timeline,
            hours,
        })
    }
}

/// The file, when it is exactly in the form `encode` writes.
pub(crate) fn file(bytes: &[u8]) -> Option<FileV1<'_>> {
    let mut c = Cursor { b: bytes, i: 0 };
    c.lit(b"{\"format\":")?;
    let format = c.string()?;
    c.lit(b",\"version\":")?;
    let version = c.int()?;
    c.lit(b",\"date\":")?;
    let date = c.string()?;
    c.lit(b",\"day_file\":")?;
    let day_file = c.source()?;
    c.lit(b",\"lines\":")?;
    let lines = c.int()?;
    c.lit(b",\"undated\":")?;
    let undated = c.int()?;
    c.lit(b",\"bad_lines\":")?;
    let bad_lines = c.bad()?;
    c.lit(b",\"latency_buckets_ms\":")?;
    let latency_buckets_ms = c.array(crate::latency::BOUNDS.len(), Cursor::int)?;
    c.lit(b",\"services\":")?;
    let services = c.array(64, Cursor::service)?;
    c.lit(b"}")?;
    // serde_json allows white space after the value, and nothing else.
    bytes[c.i..].iter().all(|b| matches!(b, b' ' | b'\n' | b'\t' | b'\r')).then_some(FileV1 {
        format,
        version,
        date,
        day_file,
        lines,
        undated,
        bad_lines,
        latency_buckets_ms,
        services,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_serde_json_reads_them() {
        let int = |s: &str| Cursor { b: s.as_bytes(), i: 0 }.integer();
        for (text, want) in [
            ("0", Some(0)),
            ("7,", Some(7)),
            ("-7]", Some(-7)),
            ("1736897400000000", Some(1_736_897_400_000_000)),
            ("-9223372036854775808", Some(-9_223_372_036_854_775_808)),
            ("18446744073709551615", Some(18_446_744_073_709_551_615)),
            ("1000000000000000000000", Some(1_000_000_000_000_000_000_000)),
            ("-0", None),
            ("01", None),
            ("1.5", None),
            ("1e3", None),
            ("-", None),
            ("", None),
            ("123456789012345678901234567890123456789", None),
        ] {
            assert_eq!(int(text), want, "{text}");
            if let Some(n) = want {
                assert_eq!(
                    serde_json::from_str::<i128>(text.trim_end_matches([',', ']'])).ok(),
                    Some(n),
                    "{text}"
                );
            }
        }
    }
}
