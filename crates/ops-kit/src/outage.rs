//! What the orchestrator remembers about each service between passes, and the rules that turn
//! pass results into notices without storms: a failure alert after `failure_threshold`
//! consecutive failed passes, a recovery notice after `success_threshold` consecutive good
//! ones, a reminder every `reminder_interval` while down, "gave up" once per outage.
//!
//! Pure: no I/O, no clock. The pass feeds observations in and sends the notices out.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One service's memory, kept in `state/outages.json` (a file of our own: the Python kit's
/// `last-status.json` keeps its `{service: bool}` format beside it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Consecutive failed passes.
    #[serde(default)]
    pub failures: u32,
    /// Consecutive good passes.
    #[serde(default)]
    pub successes: u32,
    /// Unix time of the first failure of the current run of failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_since: Option<f64>,
    /// A failure alert went out for the current outage (it stays set until the outage ends).
    #[serde(default)]
    pub alerted: bool,
    /// Unix time of the last failure alert or reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alert: Option<f64>,
    /// The "gave up" alert went out for the current outage.
    #[serde(default)]
    pub gave_up_alerted: bool,
    /// Keys we do not know, kept on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The alerting rules from services.json.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Failed passes in a row before the failure alert (default 1, as the Python kit).
    pub failure_threshold: u32,
    /// Good passes in a row before the recovery notice (default 1).
    pub success_threshold: u32,
    /// Time between reminders while a service stays down; `None` turns them off.
    pub reminder_interval: Option<Duration>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            failure_threshold: 1,
            success_threshold: 1,
            reminder_interval: Some(Duration::from_secs(3600)),
        }
    }
}

/// How a service fared in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The check passed.
    Up,
    /// The check failed (and a restart, if any, did not bring it back).
    Down,
    /// The check failed, a restart ran, and the re-check passed.
    AutoRecovered,
    /// The check could not be made (agent-ops' own failure): nothing changes and nothing is
    /// said, as if the pass had not looked at the service.
    Unknown,
}

/// What one pass saw of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// How it fared.
    pub seen: Seen,
    /// The restart policy gave up on it in this pass.
    pub gave_up: bool,
    /// It is in a maintenance window or silenced: never alerted.
    pub silenced: bool,
}

/// A notice the pass should send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Notice {
    /// The failure alert: the threshold was just reached.
    Down,
    /// Still down, a reminder interval after the last alert.
    StillDown {
        /// Time since the outage began.
        down_for: Duration,
    },
    /// Back up after an alerted outage (the pass sends it only when `alert_on_recovery`).
    Recovered {
        /// How long the outage lasted.
        down_for: Duration,
    },
    /// The restart policy gave up: manual intervention required (once per outage).
    GaveUp,
}

/// Updates `memory` with this pass's observation and returns the notices due, in order.
pub fn observe(memory: &mut Memory, seen: Observation, rules: &Rules, now: f64) -> Vec<Notice> {
    let mut notices = Vec::new();
    if seen.seen == Seen::Unknown {
        return notices;
    }
    if seen.seen == Seen::Up {
        memory.failures = 0;
        memory.successes += 1;
        if memory.successes >= rules.success_threshold.max(1) {
            end_outage(memory, seen.silenced, now, &mut notices);
        }
        return notices;
    }
    memory.successes = 0;
    memory.failures += 1;
    let since = *memory.down_since.get_or_insert(now);
    if !seen.silenced {
        if !memory.alerted && memory.failures >= rules.failure_threshold.max(1) {
            memory.alerted = true;
            memory.last_alert = Some(now);
            notices.push(Notice::Down);
        } else if memory.alerted
            && let Some(every) = rules.reminder_interval
            && memory.last_alert.is_none_or(|t| now - t >= every.as_secs_f64())
        {
            memory.last_alert = Some(now);
            notices.push(Notice::StillDown { down_for: span(since, now) });
        }
        if seen.gave_up && !memory.gave_up_alerted {
            memory.gave_up_alerted = true;
            notices.push(Notice::GaveUp);
        }
    }
    if seen.seen == Seen::AutoRecovered {
        // Verified by the re-check: the outage is over now; the pass announces the restart.
        memory.failures = 0;
        memory.successes = 1;
        clear(memory);
    }
    notices
}

fn end_outage(memory: &mut Memory, silenced: bool, now: f64, notices: &mut Vec<Notice>) {
    if memory.alerted && !silenced {
        notices
            .push(Notice::Recovered { down_for: memory.down_since.map_or(Duration::ZERO, |t| span(t, now)) });
    }
    clear(memory);
}

/// The time from `start` to `end` (unix seconds); zero when the clock went back in between.
fn span(start: f64, end: f64) -> Duration {
    Duration::try_from_secs_f64((end - start).max(0.0)).unwrap_or(Duration::MAX)
}

fn clear(memory: &mut Memory) {
    memory.down_since = None;
    memory.alerted = false;
    memory.last_alert = None;
    memory.gave_up_alerted = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    const UP: Observation = Observation { seen: Seen::Up, gave_up: false, silenced: false };
    const DOWN: Observation = Observation { seen: Seen::Down, ..UP };

    /// Feeds a sequence of observations, one pass a minute, and collects the notices.
    fn run(rules: Rules, seen: &[Observation]) -> Vec<(usize, Notice)> {
        let mut m = Memory::default();
        let mut out = Vec::new();
        for (i, s) in seen.iter().enumerate() {
            for n in observe(&mut m, *s, &rules, 60.0 * i as f64) {
                out.push((i, n));
            }
        }
        out
    }

    #[test]
    fn seed_defaults_alert_on_the_first_failure_and_recover_on_the_first_success() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        assert_eq!(
            run(r, &[UP, DOWN, DOWN, UP]),
            [(1, Notice::Down), (3, Notice::Recovered { down_for: secs(120) })]
        );
    }

    #[test]
    fn flapping_with_thresholds_3_and_2_is_not_a_storm() {
        let r = Rules { failure_threshold: 3, success_threshold: 2, reminder_interval: None };
        let flapping: Vec<_> = (0..40).map(|i| if i % 2 == 0 { UP } else { DOWN }).collect();
        assert_eq!(run(r, &flapping), [], "up, down, up, down ... never alerts");
        // Down for real: one alert; one good pass in the middle does not end the outage.
        let seen = [DOWN, DOWN, DOWN, DOWN, UP, DOWN, DOWN, UP, UP, DOWN];
        assert_eq!(run(r, &seen), [(2, Notice::Down), (8, Notice::Recovered { down_for: secs(480) })]);
    }

    #[test]
    fn reminders_while_down() {
        let r = Rules { reminder_interval: Some(secs(150)), ..Rules::default() };
        let seen = [DOWN; 7];
        assert_eq!(
            run(r, &seen),
            [
                (0, Notice::Down),
                (3, Notice::StillDown { down_for: secs(180) }),
                (6, Notice::StillDown { down_for: secs(360) })
            ]
        );
    }

    #[test]
    fn gave_up_once_per_outage() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        let gave_up = Observation { gave_up: true, ..DOWN };
        assert_eq!(
            run(r, &[DOWN, gave_up, gave_up, gave_up, UP, gave_up, gave_up]),
            [
                (0, Notice::Down),
                (1, Notice::GaveUp),
                (4, Notice::Recovered { down_for: secs(240) }),
                (5, Notice::Down),
                (5, Notice::GaveUp)
            ]
        );
    }

    #[test]
    fn auto_recovery_ends_the_outage_without_a_separate_recovery_notice() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        let restarted = Observation { seen: Seen::AutoRecovered, ..DOWN };
        assert_eq!(run(r, &[restarted, UP, DOWN]), [(0, Notice::Down), (2, Notice::Down)]);
        let r = Rules { failure_threshold: 3, ..r };
        assert_eq!(run(r, &[DOWN, restarted, DOWN, DOWN]), [], "the count starts again after a restart");
    }

    #[test]
    fn silenced_services_are_never_alerted_and_old_outages_do_not_alert_again() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        let quiet = Observation { silenced: true, ..DOWN };
        let quiet_up = Observation { silenced: true, ..UP };
        // Alerted before the window, silent in it, no second failure alert after it.
        assert_eq!(
            run(r, &[DOWN, quiet, quiet, DOWN, UP]),
            [(0, Notice::Down), (4, Notice::Recovered { down_for: secs(240) })]
        );
        // Went down inside the window and is still down after it: that is worth one alert.
        assert_eq!(run(r, &[quiet, quiet, DOWN, DOWN]), [(2, Notice::Down)]);
        // Recovered inside the window: quietly.
        assert_eq!(run(r, &[DOWN, quiet, quiet_up, UP]), [(0, Notice::Down)]);
    }
}
