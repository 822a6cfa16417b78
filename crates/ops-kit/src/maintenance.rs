//! Maintenance: windows declared in services.json, and silences set from the command line
//! (`orchestrator silence SERVICE --for 2h`), kept in `state/silences.json`. A service in
//! either is still checked and recorded, but neither restarted nor alerted.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ops_state::StateFile;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{OffsetDateTime, Time, Weekday};

/// Which services a window covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every service (`"services": "*"`).
    All,
    /// These services.
    Services(Vec<String>),
}

/// When a window is open.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// From `start` to `end` (unix seconds).
    Once {
        /// Opening time.
        start: f64,
        /// Closing time.
        end: f64,
    },
    /// Every day (or on `days` only) from `from` to `to`, UTC; `to` before `from` crosses
    /// midnight.
    Daily {
        /// Opening time of day.
        from: Time,
        /// Closing time of day.
        to: Time,
        /// The days it opens on (all when empty).
        days: Vec<Weekday>,
    },
}

/// A maintenance window from services.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The services it covers.
    pub scope: Scope,
    /// When it is open.
    pub when: When,
    /// Why, for logs.
    pub reason: Option<String>,
}

impl Window {
    /// Whether the window covers `service` at unix time `now`.
    pub fn covers(&self, service: &str, now: f64) -> bool {
        let in_scope = match &self.scope {
            Scope::All => true,
            Scope::Services(names) => names.iter().any(|n| n == service),
        };
        in_scope && self.is_open(now)
    }

    /// Whether the window is open at unix time `now`.
    pub fn is_open(&self, now: f64) -> bool {
        match &self.when {
            When::Once { start, end } => (*start..*end).contains(&now),
            When::Daily { from, to, days } => {
                let Ok(t) = OffsetDateTime::from_unix_timestamp(now.floor() as i64) else { return false };
                let (time, day) = (t.time(), t.weekday());
                // After midnight in a window that crosses it, the window opened the day before.
                let (open, opened_on) = if from <= to {
                    (*from <= time && time < *to, day)
                } else if time >= *from {
                    (true, day)
                } else {
                    (time < *to, day.previous())
                };
                open && (days.is_empty() || days.contains(&opened_on))
            }
        }
    }
}

/// One silence set from the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Unix time it ends.
    pub until: f64,
    /// Unix time it was set.
    pub since: f64,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keys we do not know, kept on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `state/silences.json`: service name to its silence.
pub type Silences = BTreeMap<String, Silence>;

/// Why a service is quiet right now, if it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Quiet {
    /// A window from services.json.
    Window(Option<String>),
    /// A silence until this unix time.
    Silenced {
        /// When it ends.
        until: f64,
        /// Why.
        reason: Option<String>,
    },
}

impl fmt::Display for Quiet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Window(Some(reason)) => write!(f, "maintenance window ({reason})"),
            Self::Window(None) => f.write_str("maintenance window"),
            Self::Silenced { until, reason } => {
                let until = ops_state::timestamp::format_unix(*until);
                match reason {
                    Some(r) => write!(f, "silenced until {until} ({r})"),
                    None => write!(f, "silenced until {until}"),
                }
            }
        }
    }
}

/// Why `service` is quiet at `now`, if it is: a silence first, then the first open window.
pub fn quiet(service: &str, windows: &[Window], silences: &Silences, now: f64) -> Option<Quiet> {
    if let Some(s) = silences.get(service).filter(|s| s.until > now) {
        return Some(Quiet::Silenced { until: s.until, reason: s.reason.clone() });
    }
    windows.iter().find(|w| w.covers(service, now)).map(|w| Quiet::Window(w.reason.clone()))
}

/// Silences `service` until `now + length`.
pub fn silence(
    file: &StateFile,
    service: &str,
    length: Duration,
    reason: Option<String>,
    now: f64,
) -> Result<Silence, ops_state::StateError> {
    file.update(|all: &mut Silences| {
        all.retain(|_, s| s.until > now);
        let s = Silence { until: now + length.as_secs_f64(), since: now, reason, extra: Map::new() };
        all.insert(service.to_owned(), s.clone());
        Ok(s)
    })
}

/// Removes the silence on `service`; `Ok(false)` when there was none.
pub fn unsilence(file: &StateFile, service: &str, now: f64) -> Result<bool, ops_state::StateError> {
    file.update(|all: &mut Silences| {
        let had = all.remove(service).is_some_and(|s| s.until > now);
        all.retain(|_, s| s.until > now);
        Ok(had)
    })
}

/// The silences still in force at `now`.
pub fn active_silences(file: &StateFile, now: f64) -> Result<Silences, ops_state::StateError> {
    let mut all: Silences = file.read()?.unwrap_or_default();
    all.retain(|_, s| s.until > now);
    Ok(all)
}

/// Parses `90s`, `15m`, `2h`, `1d`, `1w`, `1h30m`: more than zero, at most ten years.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86_400.0,
            'w' => 604_800.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
        any = true;
    }
    if !(number.is_empty() && any && total > 0.0 && total <= crate::schema::MAX_SECONDS) {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Parses `HH:MM` (UTC).
pub fn parse_time_of_day(text: &str) -> Option<Time> {
    let (h, m) = text.trim().split_once(':')?;
    Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

/// Parses a weekday name: `mon`, `Monday`, `tue` ...
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    let days = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];
    days.iter().find(|(p, d)| t == *p || t == d.to_string().to_ascii_lowercase()).map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, time};

    fn at(t: OffsetDateTime) -> f64 {
        t.unix_timestamp() as f64
    }

    #[test]
    fn one_off_windows() {
        let w = Window {
            scope: Scope::Services(vec!["API".into()]),
            when: When::Once {
                start: at(datetime!(2026-12-01 02:00 UTC)),
                end: at(datetime!(2026-12-01 04:00 UTC)),
            },
            reason: Some("migration".into()),
        };
        assert!(w.covers("API", at(datetime!(2026-12-01 02:00 UTC))));
        assert!(w.covers("API", at(datetime!(2026-12-01 03:59 UTC))));
        assert!(!w.covers("API", at(datetime!(2026-12-01 04:00 UTC))));
        assert!(!w.covers("DB", at(datetime!(2026-12-01 03:00 UTC))));
    }

    #[test]
    fn daily_windows_across_midnight_and_on_given_days() {
        let w = Window {
            scope: Scope::All,
            when: When::Daily { from: time!(23:30), to: time!(00:30), days: vec![Weekday::Sunday] },
            reason: None,
        };
        // 2026-11-29 is a Sunday.
        assert!(w.covers("x", at(datetime!(2026-11-29 23:45 UTC))));
        assert!(w.covers("x", at(datetime!(2026-11-30 00:15 UTC))), "opened on Sunday, still open on Monday");
        assert!(!w.covers("x", at(datetime!(2026-11-30 23:45 UTC))), "Monday evening is not Sunday");
        assert!(!w.covers("x", at(datetime!(2026-11-29 00:15 UTC))), "that opened on Saturday");
        let every_day =
            Window { when: When::Daily { from: time!(03:00), to: time!(04:00), days: vec![] }, ..w };
        assert!(every_day.covers("x", at(datetime!(2026-11-28 03:30 UTC))));
        assert!(!every_day.covers("x", at(datetime!(2026-11-28 04:30 UTC))));
    }

    #[test]
    fn silences_in_a_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("silences.json"));
        silence(&file, "API", Duration::from_secs(7200), Some("deploy".into()), 1000.0).unwrap();
        silence(&file, "DB", Duration::from_secs(60), None, 1000.0).unwrap();
        let active = active_silences(&file, 1100.0).unwrap();
        assert_eq!(active.keys().collect::<Vec<_>>(), ["API"]);
        assert_eq!(
            quiet("API", &[], &active, 1100.0),
            Some(Quiet::Silenced { until: 8200.0, reason: Some("deploy".into()) })
        );
        assert!(unsilence(&file, "API", 1200.0).unwrap());
        assert!(!unsilence(&file, "API", 1200.0).unwrap());
        assert!(active_silences(&file, 1200.0).unwrap().is_empty());
    }

    #[test]
    fn durations_and_times() {
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(parse_duration("90s"), secs(90));
        assert_eq!(parse_duration("2h"), secs(7200));
        assert_eq!(parse_duration("1h30m"), secs(5400));
        assert_eq!(parse_duration("1.5d"), secs(129_600));
        assert_eq!(parse_duration("520w"), secs(520 * 604_800));
        for bad in ["", "2", "h", "2x", "-1h", "0m", "1..5h", "99999999999999999999999d", "600w"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_time_of_day("03:30"), Some(time!(03:30)));
        assert_eq!(parse_time_of_day("24:00"), None);
        assert_eq!(parse_weekday("Sunday"), Some(Weekday::Sunday));
        assert_eq!(parse_weekday("tue"), Some(Weekday::Tuesday));
        assert_eq!(parse_weekday("someday"), None);
    }
}
