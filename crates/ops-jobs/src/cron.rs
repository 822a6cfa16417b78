//! Cron expressions: five fields (minute, hour, day of month, month, day of week) with `*`,
//! lists, ranges, steps and the English names, as Vixie cron and cronie read them, and the
//! instants they are due in an IANA time zone, DST included.

use std::fmt;

use jiff::civil::{Date, DateTime, date};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// The longest expression accepted, in bytes.
const MAX_LEN: usize = 200;

/// How far a civil time can be from the instant it names after an offset change: every DST
/// rule of the tzdb moves the clock by at most 2 hours.
const MARGIN: SignedDuration = SignedDuration::from_hours(3);

/// How far ahead a match is looked for. A valid expression matches within it: a day of the
/// month in one of its months comes every year (29 February within 8), and when a stepped
/// day-of-month field (`*/N`, which counts as `*`) must meet a day of the week, a date falls on
/// each weekday within 28 years (29 February within 40).
const HORIZON_YEARS: i16 = 50;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// The day-of-month or day-of-week field starts with `*`: then a day must match both (the
    /// other alone, in effect); when neither does, either (Vixie cron's rule).
    dom_star: bool,
    dow_star: bool,
    /// The minute or hour field starts with `*`: its times recur through a repeated hour
    /// (a DST fold) at both of their instants; a fixed time is due once, at the first.
    repeats_in_fold: bool,
    text: String,
}

/// Why an expression was refused; `Display` says so in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field's rules: its name, its range, the names it accepts (numbered from `min`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day of month", min: 1, max: 31, names: &[] },
    Field { name: "month", min: 1, max: 12, names: &MONTHS },
    // 7 is Sunday too, as in every cron.
    Field { name: "day of week", min: 0, max: 7, names: &DAYS },
];

impl Cron {
    /// Parses `text`: five fields separated by spaces, or one of `@yearly` (`@annually`),
    /// `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let err = |m: String| CronError(m);
        if text.len() > MAX_LEN {
            return Err(err(format!("is longer than {MAX_LEN} bytes")));
        }
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => {
                return Err(err(format!(
                    "{:?} is not a schedule (known: @yearly, @monthly, @weekly, @daily, @hourly)",
                    ops_state::printable(t)
                )));
            }
            t => t,
        };
        let fields: Vec<&str> = expanded.split_ascii_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "must have 5 fields (minute hour day-of-month month day-of-week), got {}",
                fields.len()
            )));
        }
        let mut sets = [0u64; 5];
        for (i, (field, rule)) in fields.iter().zip(&FIELDS).enumerate() {
            sets[i] = parse_field(field, rule)
                .map_err(|m| err(format!("{} field {:?}: {m}", rule.name, ops_state::printable(field))))?;
        }
        // Sunday is 0 and 7.
        let weekdays = (sets[4] | (sets[4] >> 7)) as u8 & 0x7f;
        let cron = Self {
            minutes: sets[0],
            hours: sets[1] as u32,
            days: sets[2] as u32,
            months: sets[3] as u16,
            weekdays,
            dom_star: fields[2].starts_with('*'),
            dow_star: fields[4].starts_with('*'),
            repeats_in_fold: fields[0].starts_with('*') || fields[1].starts_with('*'),
            text: text.trim().to_owned(),
        };
        if cron.dow_star && !cron.dom_star {
            // Only the days of the month decide: one must exist in one of the months.
            let exists = (1..=12u8).filter(|m| cron.months & (1 << m) != 0).any(|m| {
                let longest = date(2024, m.cast_signed(), 1).days_in_month() as u32;
                (1..=longest).any(|d| cron.days & (1 << d) != 0)
            });
            if !exists {
                return Err(err(
                    "never matches: none of its days of the month is in one of its months".into()
                ));
            }
        }
        Ok(cron)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.dom_star, self.dow_star) {
            (false, false) => dom || dow,
            _ => dom && dow,
        }
    }

    /// The first civil minute at or after `from` (whole minutes) that matches, within the
    /// horizon.
    fn civil_at_or_after(&self, from: DateTime) -> Option<DateTime> {
        let limit = from.date().year().saturating_add(HORIZON_YEARS);
        let (mut day, mut hour, mut minute) = (from.date(), from.hour() as u32, from.minute() as u32);
        let next_day = |d: Date| d.tomorrow().ok();
        loop {
            if day.year() > limit {
                return None;
            }
            if self.months & (1 << day.month()) == 0 {
                day = day.last_of_month().tomorrow().ok()?;
                (hour, minute) = (0, 0);
                continue;
            }
            if !self.day_matches(day) {
                day = next_day(day)?;
                (hour, minute) = (0, 0);
                continue;
            }
            let Some(h) = next_bit(u64::from(self.hours), hour, 23) else {
                day = next_day(day)?;
                (hour, minute) = (0, 0);
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 0);
            }
            match next_bit(self.minutes, minute, 59) {
                Some(m) => return day.to_datetime(jiff::civil::time(hour as i8, m as i8, 0, 0)).into(),
                None if hour < 23 => (hour, minute) = (hour + 1, 0),
                None => {
                    day = next_day(day)?;
                    (hour, minute) = (0, 0);
                }
            }
        }
    }

    /// The first instant strictly after `t` at which the expression is due in `tz`.
    ///
    /// A time in an hour the clock skips (spring forward) is due at the change, when the clock
    /// jumps past it; a time that occurs twice (fall back) is due at its first instant, and at
    /// its second too when the minute or hour field starts with `*` (Vixie cron's and cronie's
    /// rules: a job at a fixed time runs once, one that repeats every minute or hour goes on).
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(t).checked_sub(MARGIN).ok()?;
        let mut civil = start.with().second(0).subsec_nanosecond(0).build().ok()?;
        let mut best: Option<(Timestamp, DateTime)> = None;
        loop {
            civil = self.civil_at_or_after(civil)?;
            if let Some((_, at)) = best
                && civil > at.checked_add(MARGIN).ok()?
            {
                return best.map(|(b, _)| b);
            }
            for instant in self.instants(civil, tz).into_iter().flatten() {
                if instant > t && best.is_none_or(|(b, _)| instant < b) {
                    best = Some((instant, civil));
                }
            }
            civil = civil.checked_add(SignedDuration::from_mins(1)).ok()?;
        }
    }

    /// The instants of civil time `c` in `tz`: none, one (the change, for a time in a gap) or,
    /// in a fold, the first, and the second when the job repeats through it.
    fn instants(&self, c: DateTime, tz: &TimeZone) -> [Option<Timestamp>; 2] {
        let ambiguous = tz.to_ambiguous_timestamp(c);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => [offset.to_timestamp(c).ok(), None],
            AmbiguousOffset::Gap { after, .. } => {
                // Read with the later offset, `c` names an instant before the change; the first
                // transition after it is the change itself.
                let change =
                    after.to_timestamp(c).ok().and_then(|t| tz.following(t).next()).map(|tr| tr.timestamp());
                [change, None]
            }
            AmbiguousOffset::Fold { before, after } => {
                let first = before.to_timestamp(c).ok();
                let second = after.to_timestamp(c).ok().filter(|_| self.repeats_in_fold);
                [first, second]
            }
        }
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The lowest set bit of `set` at or above `from`, up to `max`.
fn next_bit(set: u64, from: u32, max: u32) -> Option<u32> {
    (from..=max).find(|b| set & (1 << b) != 0)
}

/// One field: a comma-separated list of `*`, `N`, `N-M`, each optionally `/STEP`.
fn parse_field(text: &str, rule: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| format!("step {step:?} is not a number"))?;
                if step == 0 {
                    return Err("a step must be at least 1".into());
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (rule.min, if rule.names == DAYS { 6 } else { rule.max })
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, rule)?, value(b, rule)?);
            if a > b {
                return Err(format!("the range {range:?} runs backwards"));
            }
            (a, b)
        } else {
            if step != 1 {
                return Err(format!(
                    "a step needs a range or `*` before it, like \"*/{step}\" or \"{range}-{}/{step}\"",
                    rule.max
                ));
            }
            let v = value(range, rule)?;
            (v, v)
        };
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v = v.saturating_add(step);
        }
    }
    Ok(set)
}

/// A number or a name of the field, within its range.
fn value(text: &str, rule: &Field) -> Result<u32, String> {
    if let Some(i) = rule.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        // Months are numbered from 1, days of the week from 0.
        return Ok(i as u32 + rule.min.min(1) * u32::from(rule.names == MONTHS));
    }
    let v: u32 = match text.parse() {
        Ok(v) if !text.starts_with('+') => v,
        _ if text.is_empty() => return Err("a value is missing".into()),
        _ => {
            return Err(format!(
                "{:?} is not a number{}",
                ops_state::printable(text),
                if rule.names.is_empty() { "" } else { " or a name" }
            ));
        }
    };
    if v < rule.min || v > rule.max {
        return Err(format!("{v} is out of range ({}-{})", rule.min, rule.max));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        crate::schedule::zone(name).unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The next `n` instants after `from`.
    fn series(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let cron = Cron::parse(expr).unwrap();
        let tz = tz(zone);
        let mut t = at(from);
        (0..n)
            .map(|_| {
                t = cron.next_after(t, &tz).unwrap();
                t.to_zoned_datetime(tz.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
            })
            .collect()
    }

    #[test]
    fn fields_names_ranges_and_steps() {
        assert_eq!(
            series("*/20 9-10 * * mon-fri", "UTC", "2026-11-27T08:00:00Z", 7),
            [
                "2026-11-27 09:00 UTC",
                "2026-11-27 09:20 UTC",
                "2026-11-27 09:40 UTC",
                "2026-11-27 10:00 UTC",
                "2026-11-27 10:20 UTC",
                "2026-11-27 10:40 UTC",
                "2026-11-30 09:00 UTC"
            ]
        );
        assert_eq!(
            series("0 0 1 JAN,jul *", "UTC", "2026-03-01T00:00:00Z", 2),
            ["2026-07-01 00:00 UTC", "2027-01-01 00:00 UTC"]
        );
        assert_eq!(series("@hourly", "UTC", "2026-03-01T00:00:00Z", 1), ["2026-03-01 01:00 UTC"]);
        assert_eq!(
            series("5 4 * * 7", "UTC", "2026-11-30T00:00:00Z", 1),
            ["2026-12-06 04:05 UTC"],
            "7 is Sunday"
        );
        assert_eq!(
            series("1-10/3 0 1 1 *", "UTC", "2026-01-01T00:00:00Z", 4),
            ["2026-01-01 00:01 UTC", "2026-01-01 00:04 UTC", "2026-01-01 00:07 UTC", "2026-01-01 00:10 UTC"]
        );
        // Day of month and day of week both restricted: either (the 13th, or any Friday).
        assert_eq!(
            series("0 12 13 * fri", "UTC", "2026-11-10T00:00:00Z", 3),
            ["2026-11-13 12:00 UTC", "2026-11-20 12:00 UTC", "2026-11-27 12:00 UTC"]
        );
        // `*/2` counts as `*`: then both must match (even days that are Mondays).
        assert_eq!(
            series("0 0 */2 * mon", "UTC", "2026-11-01T00:00:00Z", 2),
            ["2026-11-09 00:00 UTC", "2026-11-23 00:00 UTC"]
        );
        // 29 February comes back in a leap year.
        assert_eq!(series("0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", 1), ["2028-02-29 00:00 UTC"]);
        // A stepped day of month (`*/N` counts as `*`) and a day of the week must meet: rare dates.
        assert_eq!(series("0 0 */31 2 mon", "UTC", "2026-03-01T00:00:00Z", 1), ["2027-02-01 00:00 UTC"]);
        assert_eq!(series("0 0 */28 2 sun", "UTC", "2026-03-01T00:00:00Z", 1), ["2032-02-01 00:00 UTC"]);
        // Strictly after: a time exactly on a slot gets the next one.
        assert_eq!(series("0 3 * * *", "UTC", "2026-11-30T03:00:00Z", 1), ["2026-12-01 03:00 UTC"]);
    }

    #[test]
    fn what_is_not_a_schedule_is_refused_with_its_field() {
        let why = |s: &str| Cron::parse(s).unwrap_err().to_string();
        assert_eq!(why("* * * *"), "must have 5 fields (minute hour day-of-month month day-of-week), got 4");
        assert_eq!(
            why("0 0 0 * * *"),
            "must have 5 fields (minute hour day-of-month month day-of-week), got 6"
        );
        assert_eq!(why("60 * * * *"), "minute field \"60\": 60 is out of range (0-59)");
        assert_eq!(why("* 5-2 * * *"), "hour field \"5-2\": the range \"5-2\" runs backwards");
        assert_eq!(why("*/0 * * * *"), "minute field \"*/0\": a step must be at least 1");
        assert_eq!(why("* * * foo *"), "month field \"foo\": \"foo\" is not a number or a name");
        assert_eq!(why("0 0 30 2 *"), "never matches: none of its days of the month is in one of its months");
        assert!(why("5/10 * * * *").starts_with("minute field \"5/10\": a step needs a range"));
        assert_eq!(
            why("@reboot"),
            "\"@reboot\" is not a schedule (known: @yearly, @monthly, @weekly, @daily, @hourly)"
        );
        assert!(why(&"1,".repeat(150)).starts_with("is longer than"));
        assert!(why("* * * * \u{1b}[2J").contains("\\x1b[2J"), "control characters are shown escaped");
        assert_eq!(why("+5 * * * *"), "minute field \"+5\": \"+5\" is not a number");
        assert_eq!(why(", * * * *"), "minute field \",\": a value is missing");
    }

    #[test]
    fn spring_forward_a_skipped_time_is_due_at_the_change() {
        // Europe/Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
            ["2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"]
        );
        // Every 15 minutes goes on through the change, the skipped ones once, at the change.
        assert_eq!(
            series("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:40:00Z", 4),
            [
                "2026-03-29 01:45 CET",
                "2026-03-29 03:00 CEST",
                "2026-03-29 03:15 CEST",
                "2026-03-29 03:30 CEST"
            ]
        );
        // New York, 8 March 2026: 02:00 EST becomes 03:00 EDT.
        assert_eq!(
            series("0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08 03:00 EDT", "2026-03-09 02:00 EDT"]
        );
    }

    #[test]
    fn fall_back_a_fixed_time_is_due_once_a_repeating_one_twice() {
        // Europe/Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"]
        );
        assert_eq!(
            series("30 * * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", 4),
            [
                "2026-10-25 01:30 CEST",
                "2026-10-25 02:30 CEST",
                "2026-10-25 02:30 CET",
                "2026-10-25 03:30 CET"
            ]
        );
        // Asked from inside the repeated hour, the first 02:30 has passed and is not due again.
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", 1),
            ["2026-10-26 02:30 CET"]
        );
        // A zone of half-hour steps (Lord Howe moves its clock by 30 minutes).
        assert_eq!(
            series("15 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", 2),
            ["2026-04-05 01:15 +11", "2026-04-06 01:15 +1030"]
        );
    }
}
