//! The seed's timestamp format: Python's `datetime.utcnow().isoformat() + "Z"`.
//!
//! Every file the seed writes (metrics lines, board tasks) uses it, so it lives here, next to
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

/// Parses the timestamps found in seed files: `...Z`, `...+00:00` (or any offset), and naive
/// `2025-01-15T10:30:00[.ffffff]` taken as UTC, with or without a fraction. `None` when it is
/// none of those.
pub fn parse_utc(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
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
    fn round_trips() {
        for t in [datetime!(2026-11-28 05:04:13.000017 UTC), datetime!(2026-11-28 05:04:13 UTC)] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
    }
}
