//! The Python kit's timestamp format: Python's `datetime.utcnow().isoformat() + "Z"`.
//!
//! Every file the Python kit writes (metrics lines, board tasks) uses it, so it lives here, next to
//! the code that writes those files.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Formats `t` (converted to UTC) as Python's `isoformat()` + `"Z"`:
/// `2025-01-15T10:30:00.123456Z`, and `2025-01-15T10:30:00Z` when the microsecond is 0.
pub fn format_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let base =
        t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]")).unwrap_or_default();
    match t.microsecond() {
        0 => format!("{base}Z"),
        us => format!("{base}.{us:06}Z"),
    }
}

/// `t` as the Python kit's state files keep time: Unix seconds as a float (Python's `time.time()`).
pub fn unix_seconds(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// Unix seconds (the state files' floats) in the Python kit's text form, to the second; empty when
/// out of range.
pub fn format_unix(seconds: f64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds.floor() as i64).map(format_utc).unwrap_or_default()
}

/// Parses the timestamps found in the Python kit's files: `...Z`, `...+00:00` (or any offset), and naive
/// `2025-01-15T10:30:00[.ffffff]` taken as UTC, with or without a fraction. `None` when it is
/// none of those.
pub fn parse_utc(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Some(t) = parse_common(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    let fraction = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    let whole = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(naive, &fraction)
        .or_else(|_| PrimitiveDateTime::parse(naive, &whole))
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// [`parse_utc`] as microseconds since the Unix epoch (digits past the microsecond dropped),
/// the form a metrics reader counts in. The common forms never build an `OffsetDateTime`.
pub fn parse_utc_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some((secs, nanos)) = common_parts(s.as_bytes()) {
        return Some(secs * 1_000_000 + i64::from(nanos / 1000));
    }
    parse_utc(s).map(|t| t.unix_timestamp() * 1_000_000 + i64::from(t.microsecond()))
}

/// The fast path for the forms the Python kit and we write, `YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|+00:00]`,
/// without the general parsers (a metrics report parses millions of these). Anything else,
/// including every form it does not recognise, is left to the general path: `None` here only
/// means "not the common form".
fn parse_common(b: &[u8]) -> Option<OffsetDateTime> {
    let (secs, nanos) = common_parts(b)?;
    OffsetDateTime::from_unix_timestamp(secs).ok()?.replace_nanosecond(nanos).ok()
}

/// Unix seconds and nanoseconds of the common form, validated field by field.
fn common_parts(b: &[u8]) -> Option<(i64, u32)> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    }
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (mut rest, mut nanos) = (&b[19..], 0u32);
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(&tail[..digits])? * 10u32.pow(u32::try_from(9 - digits).ok()?);
        rest = &tail[digits..];
    }
    if !matches!(rest, b"" | b"Z" | b"+00:00") {
        return None;
    }
    let (year, month, day) = (i64::from(num(&b[0..4])?), num(&b[5..7])?, num(&b[8..10])?);
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm), years counted from March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * i64::from((month + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some((days * 86_400 + i64::from(hour * 3600 + minute * 60 + second), nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(format_utc(datetime!(2025-01-15 10:30:00.123456 UTC)), "2025-01-15T10:30:00.123456Z");
        assert_eq!(format_utc(datetime!(2025-01-15 10:30:00.000001 UTC)), "2025-01-15T10:30:00.000001Z");
        assert_eq!(format_utc(datetime!(2025-01-15 10:30:00 UTC)), "2025-01-15T10:30:00Z");
        assert_eq!(format_utc(datetime!(2025-01-15 12:30:00 +02:00)), "2025-01-15T10:30:00Z");
        // Python truncates to microseconds; so do we.
        assert_eq!(format_utc(datetime!(2025-01-15 10:30:00.123456789 UTC)), "2025-01-15T10:30:00.123456Z");
    }

    #[test]
    fn parses_every_seed_form() {
        let want = datetime!(2025-01-15 10:30:00.5 UTC);
        for s in [
            "2025-01-15T10:30:00.5Z",
            "2025-01-15T10:30:00.500000Z",
            "2025-01-15T10:30:00.500000+00:00",
            "2025-01-15T12:30:00.500000+02:00",
            "2025-01-15T10:30:00.500000",
        ] {
            assert_eq!(parse_utc(s), Some(want), "{s}");
        }
        assert_eq!(parse_utc("2025-01-15T10:30:00Z"), Some(datetime!(2025-01-15 10:30:00 UTC)));
        assert_eq!(parse_utc("2025-01-15T10:30:00"), Some(datetime!(2025-01-15 10:30:00 UTC)));
        assert_eq!(parse_utc("yesterday"), None);
        assert_eq!(parse_utc(""), None);
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parsers() {
        let general = |s: &str| {
            OffsetDateTime::parse(s, &Rfc3339).ok().map(|t| t.to_offset(UtcOffset::UTC)).or_else(|| {
                let naive = s.strip_suffix('Z').unwrap_or(s);
                PrimitiveDateTime::parse(
                    naive,
                    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
                )
                .or_else(|_| {
                    PrimitiveDateTime::parse(
                        naive,
                        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
                    )
                })
                .ok()
                .map(PrimitiveDateTime::assume_utc)
            })
        };
        for s in [
            "2025-01-15T10:30:00.123456Z",
            "2025-01-15T10:30:00Z",
            "2025-01-15T10:30:00",
            "2025-01-15T10:30:00.5",
            "2025-01-15T10:30:00.123456789Z",
            "2025-01-15T10:30:00.000001+00:00",
            "2024-02-29T23:59:59.999999Z",
        ] {
            assert_eq!(parse_common(s.as_bytes()), general(s), "{s}");
            assert!(parse_common(s.as_bytes()).is_some(), "{s}");
        }
        // Not the common form: left to the general path, which decides.
        for s in [
            "2025-02-29T10:30:00Z",
            "2025-01-15T24:00:00Z",
            "2025-01-15T10:60:00Z",
            "2025-01-15T10:30:00.Z",
            "2025-01-15T10:30:00.1234567890Z",
            "2025-01-15T10:30:00+02:00",
            "2025-01-15 10:30:00Z",
            "2025-01-15T10:30:00ZZ",
            "+025-01-15T10:30:00Z",
            "2025-1-15T10:30:00Z",
        ] {
            assert_eq!(parse_common(s.as_bytes()), None, "{s}");
        }
        assert_eq!(
            parse_utc("2025-01-15T12:30:00+02:00"),
            Some(time::macros::datetime!(2025-01-15 10:30:00 UTC))
        );
    }

    #[test]
    fn the_fast_path_knows_every_day_and_micros_agree() {
        let mut day = time::macros::date!(1890 - 01 - 01);
        while day.year() < 2150 {
            let s = format!("{day}T23:59:58.000007Z");
            let want = PrimitiveDateTime::new(day, time::macros::time!(23:59:58.000007)).assume_utc();
            assert_eq!(parse_common(s.as_bytes()), Some(want), "{s}");
            assert_eq!(parse_utc_micros(&s), Some(want.unix_timestamp() * 1_000_000 + 7), "{s}");
            day = day.next_day().unwrap();
        }
        assert_eq!(parse_utc_micros(" 2025-01-15T12:30:00.5+02:00 "), Some(1_736_937_000_500_000));
        assert_eq!(parse_utc_micros("2025-01-15T10:30:00.1234569Z"), Some(1_736_937_000_123_456));
        assert_eq!(parse_utc_micros("soon"), None);
    }

    #[test]
    fn unix_seconds_both_ways() {
        let t = datetime!(2026-11-28 05:04:13.5 UTC);
        assert_eq!(unix_seconds(t), 1_795_842_253.5);
        assert_eq!(format_unix(unix_seconds(t)), "2026-11-28T05:04:13Z");
        assert_eq!(format_unix(f64::MAX), "");
    }

    #[test]
    fn round_trips() {
        for t in [datetime!(2026-11-28 05:04:13.000017 UTC), datetime!(2026-11-28 05:04:13 UTC)] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
    }
}
