//! When a job is expected: a cron expression in an IANA time zone, or a period; the slot a
//! start counts for, and the tolerance that allows for clocks and timers.

use std::sync::OnceLock;
use std::time::Duration;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};

use crate::JobError;
use crate::cron::Cron;

/// Where the system keeps the tzdb (updated with the system); the bundled copy is used for a
/// zone it does not have (a container without tzdata).
const SYSTEM_TZDB: &str = "/usr/share/zoneinfo";

/// The time zone named `name` (IANA, like `Europe/Berlin`, or `UTC`): from the system's tzdb,
/// else from the copy built in.
pub fn zone(name: &str) -> Result<TimeZone, JobError> {
    static SYSTEM: OnceLock<TimeZoneDatabase> = OnceLock::new();
    let refuse = || JobError::Zone {
        name: ops_state::printable(&name.chars().take(100).collect::<String>()).into_owned(),
    };
    if name.is_empty() || name.len() > 100 || name.starts_with('/') || name.contains("..") {
        return Err(refuse());
    }
    let system = SYSTEM
        .get_or_init(|| TimeZoneDatabase::from_dir(SYSTEM_TZDB).unwrap_or_else(|_| TimeZoneDatabase::none()));
    system.get(name).or_else(|_| TimeZoneDatabase::bundled().get(name)).map_err(|_| refuse())
}

/// When runs are due.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron expression in a time zone.
    Cron {
        /// The expression.
        cron: Cron,
        /// Its zone, as named.
        zone: String,
        /// The zone.
        tz: TimeZone,
    },
    /// Once per period, from the last start; `zone` is for showing times.
    Every {
        /// The period.
        period: Duration,
        /// The zone times are shown in.
        zone: String,
        /// The zone.
        tz: TimeZone,
    },
}

/// The most a start may come before the time it counts for, on a cron schedule: cron fires on
/// the minute, so only clocks that disagree make a start early.
pub const CRON_TOLERANCE: Duration = Duration::from_secs(60);

impl Schedule {
    /// A cron schedule: `expression` (see [`Cron::parse`]) in the IANA zone `zone`.
    pub fn cron(expression: &str, zone_name: &str) -> Result<Self, JobError> {
        let cron = Cron::parse(expression).map_err(|e| JobError::Schedule { why: e.0 })?;
        Ok(Self::Cron { cron, zone: zone_name.to_owned(), tz: zone(zone_name)? })
    }

    /// A run every `period` (at least a second), times shown in `zone`.
    pub fn every(period: Duration, zone_name: &str) -> Result<Self, JobError> {
        if period < Duration::from_secs(1) {
            return Err(JobError::Schedule { why: "a period must be at least 1 second".into() });
        }
        Ok(Self::Every { period, zone: zone_name.to_owned(), tz: zone(zone_name)? })
    }

    /// The zone times are shown in, as named.
    pub fn zone_name(&self) -> &str {
        match self {
            Self::Cron { zone, .. } | Self::Every { zone, .. } => zone,
        }
    }

    /// The zone.
    pub fn tz(&self) -> &TimeZone {
        match self {
            Self::Cron { tz, .. } | Self::Every { tz, .. } => tz,
        }
    }

    /// `0 3 * * * in Europe/Berlin`, `every 15m`.
    pub fn describe(&self) -> String {
        match self {
            Self::Cron { cron, zone, .. } => format!("{cron} in {zone}"),
            Self::Every { period, .. } => format!("every {}", crate::human(*period)),
        }
    }

    /// How early a start may be for the slot at `slot`: on a cron schedule a tenth of the time
    /// to the following slot, at most [`CRON_TOLERANCE`]; on a period, a tenth of it (timers
    /// that fire late and then on time make shorter gaps).
    fn tolerance(&self, slot: Timestamp) -> SignedDuration {
        match self {
            Self::Cron { cron, tz, .. } => {
                let gap = cron.next_after(slot, tz).map_or(SignedDuration::ZERO, |n| n.duration_since(slot));
                (gap / 10).min(SignedDuration::try_from(CRON_TOLERANCE).unwrap_or(SignedDuration::ZERO))
            }
            Self::Every { period, .. } => {
                SignedDuration::try_from(*period / 10).unwrap_or(SignedDuration::MAX)
            }
        }
    }

    /// When the first run is due after watching began at `since`.
    pub fn first_due(&self, since: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Cron { cron, tz, .. } => cron.next_after(since, tz),
            Self::Every { period, .. } => add(since, *period),
        }
    }

    /// When the start after one at `start` is due: on a cron schedule the slot after the one
    /// `start` counts for (a start up to the tolerance before a slot counts for it); on a
    /// period, a period later.
    pub fn next_due(&self, start: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Cron { cron, tz, .. } => {
                let slot = cron.next_after(start, tz)?;
                if slot.duration_since(start) <= self.tolerance(slot) {
                    cron.next_after(slot, tz)
                } else {
                    Some(slot)
                }
            }
            Self::Every { period, .. } => add(start, *period),
        }
    }

    /// The earliest a start after one at `start` is on time: the next due time less the
    /// tolerance. A start before it is too often.
    pub fn earliest_next(&self, start: Timestamp) -> Option<Timestamp> {
        let due = self.next_due(start)?;
        due.checked_sub(self.tolerance(due)).ok()
    }
}

fn add(t: Timestamp, d: Duration) -> Option<Timestamp> {
    t.checked_add(SignedDuration::try_from(d).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_start_counts_for_its_slot_even_a_little_early() {
        let daily = Schedule::cron("0 3 * * *", "UTC").unwrap();
        assert_eq!(daily.next_due(at("2026-11-30T03:00:05Z")), Some(at("2026-12-01T03:00:00Z")));
        assert_eq!(
            daily.next_due(at("2026-11-30T02:59:30Z")),
            Some(at("2026-12-01T03:00:00Z")),
            "30 s early"
        );
        assert_eq!(
            daily.next_due(at("2026-11-30T02:58:00Z")),
            Some(at("2026-11-30T03:00:00Z")),
            "2 min early is another run"
        );
        assert_eq!(daily.earliest_next(at("2026-11-30T03:00:05Z")), Some(at("2026-12-01T02:59:00Z")));
        let minutely = Schedule::cron("* * * * *", "UTC").unwrap();
        assert_eq!(minutely.next_due(at("2026-11-30T03:00:00.2Z")), Some(at("2026-11-30T03:01:00Z")));
        assert_eq!(
            minutely.next_due(at("2026-11-30T02:59:58Z")),
            Some(at("2026-11-30T03:01:00Z")),
            "2 s of 60 is early"
        );
        assert_eq!(minutely.earliest_next(at("2026-11-30T03:00:00Z")), Some(at("2026-11-30T03:00:54Z")));
        let hourly = Schedule::every(Duration::from_secs(3600), "UTC").unwrap();
        assert_eq!(hourly.next_due(at("2026-11-30T03:10:00Z")), Some(at("2026-11-30T04:10:00Z")));
        assert_eq!(hourly.earliest_next(at("2026-11-30T03:10:00Z")), Some(at("2026-11-30T04:04:00Z")));
    }

    #[test]
    fn zones_come_from_the_system_or_the_bundle_and_nothing_else() {
        assert!(zone("Europe/Berlin").is_ok() && zone("UTC").is_ok());
        for bad in ["", "Mars/Olympus", "/etc/passwd", "../../etc/passwd", "Europe/../../x"] {
            assert!(matches!(zone(bad), Err(JobError::Zone { .. })), "{bad}");
        }
        assert!(Schedule::every(Duration::from_millis(10), "UTC").is_err());
    }
}
