//! What the orchestrator remembers about each service between passes, and the rules that turn
//! pass results into notices without storms: a failure alert after `failure_threshold`
//! consecutive failed checks, a recovery notice after `success_threshold` consecutive good
//! ones, a reminder every `reminder_interval` while down, each escalation step once when the
//! outage has lasted long enough, "gave up" once per outage. An acknowledged outage gets no
//! more reminders or escalations (its recovery notice still goes out); a blocked service (one
//! whose dependency is failing too) and a silenced one get no notice of their own while so.
//!
//! With `alert_on_warning` ([`Rules::warnings`]), a warning episode is judged the same way: a
//! run of checks that are not ok (warnings, and failures too), alerted at a warning check once
//! `failure_threshold` of them came in a row, reminded every `reminder_interval` until
//! acknowledged, and over after `success_threshold` ok checks in a row. Never escalated. An
//! outage takes over while it is alerted (no warning notice meanwhile); one that recovers into
//! a warning says so with its recovery notice (a [`Notice::Warning`] right after
//! [`Notice::Recovered`]), and an episode that ends with an outage's recovery is closed without
//! words of its own.
//!
//! Pure: no I/O, no clock. The pass feeds observations in and sends the notices out.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One service's memory, kept in `state/outages.json` (a file of our own: the Python kit's
/// `last-status.json` keeps its `{service: bool}` format beside it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Consecutive failed checks.
    #[serde(default)]
    pub failures: u32,
    /// Consecutive good checks.
    #[serde(default)]
    pub successes: u32,
    /// Unix time of the first failure of the current run of failures: the outage's start, and
    /// its key.
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
    /// Escalation steps taken in the current outage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub escalated: u32,
    /// Its opening went to Alertmanager's fallback channels (Alertmanager could not be
    /// reached): they hear of its recovery too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fell_back: bool,
    /// What the check said when the outage was alerted (the pass keeps it, for the reminders
    /// and the recovery notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Unix time of the first good check of the current run of good checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_since: Option<f64>,
    /// Unix time of the last check (the pass keeps it: a one-shot pass checks what is due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<f64>,
    /// The current warning episode (only with `alert_on_warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<WarningEpisode>,
    /// The incident of the current outage, and those over but not yet logged (the pass keeps
    /// them: [`crate::incident`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<crate::incident::Tracked>,
    /// Keys we do not know, kept on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A run of checks that are not ok, from its first to the `success_threshold`-th ok check in a
/// row (warnings count, and so do failures: an outage within it does not end it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WarningEpisode {
    /// Unix time of its first check that was not ok: its start, and its key.
    pub since: f64,
    /// Checks not ok in a row.
    #[serde(default)]
    pub not_ok: u32,
    /// Ok checks in a row.
    #[serde(default)]
    pub oks: u32,
    /// The warning was said (alone, or with an outage's recovery).
    #[serde(default)]
    pub alerted: bool,
    /// Unix time it was last said or reminded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alert: Option<f64>,
    /// What the check said when the warning was said (the pass keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Memory {
    /// Whether the last check found it failing (the state a service not due in a pass keeps).
    pub fn failing(&self) -> bool {
        self.failures > 0
    }
}

/// A service's alerting rules (the global keys of services.json, overridden per service).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Failed checks in a row before the failure alert (default 1, as the Python kit).
    pub failure_threshold: u32,
    /// Good checks in a row before the recovery notice (default 1).
    pub success_threshold: u32,
    /// Time between reminders while a service stays down; `None` turns them off.
    pub reminder_interval: Option<Duration>,
    /// The escalation steps: how long the outage must have lasted for each, in order.
    pub escalation: Vec<Duration>,
    /// Warnings are alerted too (`alert_on_warning`), by the same thresholds and reminders.
    pub warnings: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            failure_threshold: 1,
            success_threshold: 1,
            reminder_interval: Some(Duration::from_secs(3600)),
            escalation: Vec::new(),
            warnings: false,
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
    /// The check failed, and the re-check after the pass's restarts passed.
    AutoRecovered,
    /// The check could not be made (agent-ops' own failure): nothing changes and nothing is
    /// said, as if the pass had not looked at the service.
    Unknown,
    /// Not checked: its interval has not passed. Its counts stay; an outage already alerted
    /// still gets its reminders and escalations as time passes.
    NotDue,
}

/// What one pass saw of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent facts of one pass, not a state machine
pub struct Observation {
    /// How it fared.
    pub seen: Seen,
    /// Its last result in the pass (`Up`, or the re-check of `AutoRecovered`) is a warning.
    pub warning: bool,
    /// The restart policy gave up on it in this pass.
    pub gave_up: bool,
    /// It is in a maintenance window or silenced: never alerted.
    pub silenced: bool,
    /// It is failing and so is one of its dependencies: the failure is theirs, it gets no
    /// notice of its own (its failures still count, and its recovery is still said).
    pub blocked: bool,
    /// Its current outage was acknowledged: no reminders, no escalation.
    pub acked: bool,
    /// Its current warning episode was acknowledged: no reminders.
    pub warning_acked: bool,
}

impl Observation {
    /// `seen`, nothing else.
    pub fn of(seen: Seen) -> Self {
        Self {
            seen,
            warning: false,
            gave_up: false,
            silenced: false,
            blocked: false,
            acked: false,
            warning_acked: false,
        }
    }
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
    /// Escalation step `step` (from 1): the outage has lasted its time, unacknowledged.
    Escalated {
        /// Which step.
        step: u32,
        /// Time since the outage began.
        down_for: Duration,
    },
    /// The restart policy gave up: manual intervention required (once per outage).
    GaveUp,
    /// Back up after an alerted outage (the pass says it when `alert_on_recovery`).
    Recovered {
        /// How long the outage lasted.
        down_for: Duration,
        /// Found back by the re-check after the pass's restarts.
        at_recheck: bool,
    },
    /// A warning (`alert_on_warning`): once per warning episode, at a warning check when the
    /// threshold is reached; right after `Recovered` when an outage recovers into a warning.
    Warning,
    /// Still in warning, a reminder interval after it was last said.
    StillWarning {
        /// Time since the warning episode began.
        warning_for: Duration,
    },
    /// The warning episode is over (`success_threshold` ok checks in a row).
    WarningCleared {
        /// How long it lasted.
        lasted: Duration,
        /// The outage's `Recovered` of the same pass says it: nothing of its own to say.
        with_recovery: bool,
    },
}

impl Notice {
    /// Whether it is about the warning episode rather than the outage.
    pub fn is_warning(&self) -> bool {
        matches!(self, Self::Warning | Self::StillWarning { .. } | Self::WarningCleared { .. })
    }
}

/// What [`observe`] decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgement {
    /// The notices due, in order.
    pub notices: Vec<Notice>,
    /// The start of the outage they are about (unix seconds): the episode's key.
    pub since: Option<f64>,
    /// The start of the warning episode the warning notices are about.
    pub warning_since: Option<f64>,
}

/// Updates `memory` with this pass's observation and returns the notices due.
pub fn observe(memory: &mut Memory, seen: Observation, rules: &Rules, now: f64) -> Judgement {
    let mut j = Judgement { notices: Vec::new(), since: memory.down_since, warning_since: None };
    outage(memory, seen, rules, now, &mut j);
    if rules.warnings {
        warning(memory, seen, rules, now, &mut j);
    } else {
        memory.warning = None;
    }
    j
}

/// The outage rules.
fn outage(memory: &mut Memory, seen: Observation, rules: &Rules, now: f64, j: &mut Judgement) {
    match seen.seen {
        Seen::Unknown => {}
        Seen::NotDue => {
            if let Some(since) = memory.down_since.filter(|_| memory.alerted && memory.failing()) {
                timed(memory, seen, rules, since, now, &mut j.notices);
            }
        }
        Seen::Up => {
            memory.failures = 0;
            memory.successes += 1;
            memory.up_since.get_or_insert(now);
            if memory.successes >= rules.success_threshold.max(1) {
                end_outage(memory, seen.silenced, now, false, &mut j.notices);
            }
        }
        Seen::Down | Seen::AutoRecovered => {
            memory.successes = 0;
            memory.failures += 1;
            memory.up_since = None;
            let since = *memory.down_since.get_or_insert(now);
            j.since = Some(since);
            if !seen.silenced && !seen.blocked {
                if !memory.alerted && memory.failures >= rules.failure_threshold.max(1) {
                    memory.alerted = true;
                    memory.last_alert = Some(now);
                    j.notices.push(Notice::Down);
                    escalate(memory, seen, rules, since, now, &mut j.notices);
                } else if memory.alerted {
                    timed(memory, seen, rules, since, now, &mut j.notices);
                }
                // Said of an outage that was alerted: not before its failure alert.
                if seen.gave_up && memory.alerted && !memory.gave_up_alerted {
                    memory.gave_up_alerted = true;
                    j.notices.push(Notice::GaveUp);
                }
            }
            if seen.seen == Seen::AutoRecovered {
                // Verified by the re-check: the outage is over now.
                memory.failures = 0;
                memory.successes = 1;
                memory.up_since = Some(now);
                end_outage(memory, seen.silenced, now, true, &mut j.notices);
            }
        }
    }
}

/// How a check found the service, for the warning rules.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Ok,
    Warning,
    Failed,
}

/// The warning rules: the levels of this pass's checks in order (a failed check, then its
/// re-check for `AutoRecovered`), after the outage rules have judged them.
fn warning(memory: &mut Memory, seen: Observation, rules: &Rules, now: f64, j: &mut Judgement) {
    let last = if seen.warning { Level::Warning } else { Level::Ok };
    let levels: &[Level] = match seen.seen {
        Seen::Unknown => &[],
        Seen::NotDue => {
            // Time passes for a warning said and still going on.
            let said_alone = !memory.alerted && !memory.failing();
            if let Some(w) = memory.warning.as_mut().filter(|w| said_alone && w.alerted && w.oks == 0) {
                j.warning_since = Some(w.since);
                remind(w, seen, rules, now, &mut j.notices);
            }
            &[]
        }
        Seen::Up => &[last],
        Seen::Down => &[Level::Failed],
        Seen::AutoRecovered => &[Level::Failed, last],
    };
    let recovered = j.notices.iter().any(|n| matches!(n, Notice::Recovered { .. }));
    for &level in levels {
        if level == Level::Ok {
            let Some(w) = memory.warning.as_mut() else { continue };
            w.not_ok = 0;
            w.oks += 1;
            if w.oks >= rules.success_threshold.max(1) {
                let w = memory.warning.take().unwrap_or_default();
                j.warning_since = Some(w.since);
                if w.alerted && !seen.silenced {
                    let lasted = span(w.since, now);
                    j.notices.push(Notice::WarningCleared { lasted, with_recovery: recovered });
                }
            }
            continue;
        }
        let w =
            memory.warning.get_or_insert_with(|| WarningEpisode { since: now, ..WarningEpisode::default() });
        w.not_ok += 1;
        w.oks = 0;
        j.warning_since = Some(w.since);
        // A failed check is the outage rules' to say; an outage alerted speaks for the warning.
        if level == Level::Failed || memory.alerted || seen.silenced {
            continue;
        }
        if recovered || (!w.alerted && w.not_ok >= rules.failure_threshold.max(1)) {
            w.alerted = true;
            w.last_alert = Some(now);
            j.notices.push(Notice::Warning);
        } else if w.alerted {
            remind(w, seen, rules, now, &mut j.notices);
        }
    }
}

/// The reminder due for a warning said and still going on.
fn remind(w: &mut WarningEpisode, seen: Observation, rules: &Rules, now: f64, notices: &mut Vec<Notice>) {
    if seen.silenced || seen.warning_acked {
        return;
    }
    if let Some(every) = rules.reminder_interval
        && w.last_alert.is_none_or(|t| now - t >= every.as_secs_f64())
    {
        w.last_alert = Some(now);
        notices.push(Notice::StillWarning { warning_for: span(w.since, now) });
    }
}

/// The reminder and the escalations time makes due for an alerted outage that goes on.
fn timed(
    memory: &mut Memory,
    seen: Observation,
    rules: &Rules,
    since: f64,
    now: f64,
    notices: &mut Vec<Notice>,
) {
    if seen.silenced || seen.blocked || seen.acked {
        return;
    }
    if let Some(every) = rules.reminder_interval
        && memory.last_alert.is_none_or(|t| now - t >= every.as_secs_f64())
    {
        memory.last_alert = Some(now);
        notices.push(Notice::StillDown { down_for: span(since, now) });
    }
    escalate(memory, seen, rules, since, now, notices);
}

/// Each escalation step whose time has come, in order, once per outage.
fn escalate(
    memory: &mut Memory,
    seen: Observation,
    rules: &Rules,
    since: f64,
    now: f64,
    notices: &mut Vec<Notice>,
) {
    if seen.acked {
        return;
    }
    while let Some(after) = rules.escalation.get(memory.escalated as usize) {
        if now - since < after.as_secs_f64() {
            break;
        }
        memory.escalated += 1;
        notices.push(Notice::Escalated { step: memory.escalated, down_for: span(since, now) });
    }
}

fn end_outage(memory: &mut Memory, silenced: bool, now: f64, at_recheck: bool, notices: &mut Vec<Notice>) {
    if memory.alerted && !silenced {
        let down_for = memory.down_since.map_or(Duration::ZERO, |t| span(t, now));
        notices.push(Notice::Recovered { down_for, at_recheck });
    }
    memory.down_since = None;
    memory.alerted = false;
    memory.last_alert = None;
    memory.gave_up_alerted = false;
    memory.escalated = 0;
    memory.fell_back = false;
    memory.detail = None;
}

/// The time from `start` to `end` (unix seconds); zero when the clock went back in between.
pub fn span(start: f64, end: f64) -> Duration {
    Duration::try_from_secs_f64((end - start).max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn back(n: u64) -> Notice {
        Notice::Recovered { down_for: secs(n), at_recheck: false }
    }

    const UP: Observation = Observation {
        seen: Seen::Up,
        warning: false,
        gave_up: false,
        silenced: false,
        blocked: false,
        acked: false,
        warning_acked: false,
    };
    const DOWN: Observation = Observation { seen: Seen::Down, ..UP };

    /// Feeds a sequence of observations, one pass a minute, and collects the notices.
    fn run(rules: &Rules, seen: &[Observation]) -> Vec<(usize, Notice)> {
        let mut m = Memory::default();
        let mut out = Vec::new();
        for (i, s) in seen.iter().enumerate() {
            for n in observe(&mut m, *s, rules, 60.0 * i as f64).notices {
                out.push((i, n));
            }
        }
        out
    }

    #[test]
    fn seed_defaults_alert_on_the_first_failure_and_recover_on_the_first_success() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        assert_eq!(run(&r, &[UP, DOWN, DOWN, UP]), [(1, Notice::Down), (3, back(120))]);
    }

    #[test]
    fn flapping_with_thresholds_3_and_2_is_not_a_storm() {
        let r =
            Rules { failure_threshold: 3, success_threshold: 2, reminder_interval: None, ..Rules::default() };
        let flapping: Vec<_> = (0..40).map(|i| if i % 2 == 0 { UP } else { DOWN }).collect();
        assert_eq!(run(&r, &flapping), [], "up, down, up, down ... never alerts");
        // Down for real: one alert; one good pass in the middle does not end the outage.
        let seen = [DOWN, DOWN, DOWN, DOWN, UP, DOWN, DOWN, UP, UP, DOWN];
        assert_eq!(run(&r, &seen), [(2, Notice::Down), (8, back(480))]);
    }

    #[test]
    fn reminders_while_down() {
        let r = Rules { reminder_interval: Some(secs(150)), ..Rules::default() };
        let seen = [DOWN; 7];
        assert_eq!(
            run(&r, &seen),
            [
                (0, Notice::Down),
                (3, Notice::StillDown { down_for: secs(180) }),
                (6, Notice::StillDown { down_for: secs(360) })
            ]
        );
    }

    #[test]
    fn gave_up_once_per_outage_and_never_before_its_failure_alert() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        let gave_up = Observation { gave_up: true, ..DOWN };
        assert_eq!(
            run(&r, &[DOWN, gave_up, gave_up, gave_up, UP, gave_up, gave_up]),
            [(0, Notice::Down), (1, Notice::GaveUp), (4, back(240)), (5, Notice::Down), (5, Notice::GaveUp)]
        );
        let r = Rules { failure_threshold: 3, ..r };
        assert_eq!(
            run(&r, &[gave_up, gave_up, UP, gave_up, gave_up, gave_up]),
            [(5, Notice::Down), (5, Notice::GaveUp)],
            "an outage below the threshold is not announced as given up either"
        );
    }

    #[test]
    fn a_recovery_found_at_the_recheck_ends_the_outage_at_once() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        let restarted = Observation { seen: Seen::AutoRecovered, ..DOWN };
        let at_recheck = |n| Notice::Recovered { down_for: secs(n), at_recheck: true };
        assert_eq!(
            run(&r, &[restarted, UP, DOWN, DOWN, restarted]),
            [(0, Notice::Down), (0, at_recheck(0)), (2, Notice::Down), (4, at_recheck(120))]
        );
        let r = Rules { failure_threshold: 3, ..r };
        assert_eq!(run(&r, &[DOWN, restarted, DOWN, DOWN]), [], "the count starts again after a restart");
    }

    #[test]
    fn silenced_services_are_never_alerted_and_old_outages_do_not_alert_again() {
        let r = Rules { reminder_interval: None, ..Rules::default() };
        let quiet = Observation { silenced: true, ..DOWN };
        let quiet_up = Observation { silenced: true, ..UP };
        // Alerted before the window, silent in it, no second failure alert after it.
        assert_eq!(run(&r, &[DOWN, quiet, quiet, DOWN, UP]), [(0, Notice::Down), (4, back(240))]);
        // Went down inside the window and is still down after it: that is worth one alert.
        assert_eq!(run(&r, &[quiet, quiet, DOWN, DOWN]), [(2, Notice::Down)]);
        // Recovered inside the window: quietly.
        assert_eq!(run(&r, &[DOWN, quiet, quiet_up, UP]), [(0, Notice::Down)]);
    }

    #[test]
    fn a_blocked_service_is_alerted_only_once_its_dependency_is_back_and_it_is_not() {
        let r = Rules { reminder_interval: Some(secs(60)), ..Rules::default() };
        let blocked = Observation { blocked: true, ..DOWN };
        assert_eq!(
            run(&r, &[blocked, blocked, blocked, DOWN, DOWN, UP]),
            [(3, Notice::Down), (4, Notice::StillDown { down_for: secs(240) }), (5, back(300))],
            "its failures counted while blocked: the outage began with the first"
        );
        assert_eq!(run(&r, &[blocked, blocked, UP]), [], "came back with its dependency: nothing to say");
        // Alerted before its dependency failed: no reminders while blocked, the recovery is said.
        assert_eq!(run(&r, &[DOWN, blocked, blocked, UP]), [(0, Notice::Down), (3, back(180))]);
    }

    #[test]
    fn escalation_steps_once_each_in_order_until_acknowledged() {
        let r = Rules { reminder_interval: None, escalation: vec![secs(120), secs(300)], ..Rules::default() };
        let esc = |step, n| Notice::Escalated { step, down_for: secs(n) };
        assert_eq!(
            run(&r, &[DOWN; 8]),
            [(0, Notice::Down), (2, esc(1, 120)), (5, esc(2, 300))],
            "each step once"
        );
        let acked = Observation { acked: true, ..DOWN };
        assert_eq!(
            run(&r, &[DOWN, acked, acked, acked, acked, acked, UP]),
            [(0, Notice::Down), (6, back(360))],
            "acknowledged before step 1: no escalation, the recovery still said"
        );
        // A long first check interval: every step due at once, in order.
        let late = Rules { failure_threshold: 1, ..r.clone() };
        let mut m = Memory::default();
        observe(&mut m, Observation::of(Seen::NotDue), &late, 0.0);
        assert_eq!(observe(&mut m, DOWN, &late, 0.0).notices, [Notice::Down]);
        assert_eq!(
            observe(&mut m, Observation::of(Seen::NotDue), &late, 400.0).notices,
            [esc(1, 400), esc(2, 400)],
            "time passes for an outage not due for a check"
        );
    }

    #[test]
    fn acknowledged_outages_get_no_reminders_and_not_due_ones_do() {
        let r = Rules { reminder_interval: Some(secs(60)), ..Rules::default() };
        let acked = Observation { acked: true, ..DOWN };
        let not_due = Observation::of(Seen::NotDue);
        assert_eq!(
            run(&r, &[DOWN, not_due, acked, acked, UP]),
            [(0, Notice::Down), (1, Notice::StillDown { down_for: secs(60) }), (4, back(240))]
        );
        assert_eq!(run(&r, &[not_due, UP, not_due]), [], "nothing known, nothing said");
    }

    fn warnings() -> Rules {
        Rules { reminder_interval: None, warnings: true, ..Rules::default() }
    }

    const WARN: Observation = Observation { warning: true, ..UP };

    fn cleared(n: u64, with_recovery: bool) -> Notice {
        Notice::WarningCleared { lasted: secs(n), with_recovery }
    }

    #[test]
    fn a_warning_is_said_once_per_episode_and_its_end_once() {
        let r = warnings();
        assert_eq!(run(&r, &[UP, WARN, WARN, WARN, UP]), [(1, Notice::Warning), (4, cleared(180, false))]);
        assert_eq!(run(&Rules { warnings: false, ..r.clone() }, &[UP, WARN, WARN, UP]), [], "not asked for");
        let r = Rules { failure_threshold: 3, success_threshold: 2, ..warnings() };
        let flapping: Vec<_> = (0..40).map(|i| if i % 2 == 0 { UP } else { WARN }).collect();
        assert_eq!(run(&r, &flapping), [], "ok, warning, ok, warning ... never alerts");
        assert_eq!(
            run(&r, &[WARN, WARN, WARN, UP, WARN, UP, UP]),
            [(2, Notice::Warning), (6, cleared(360, false))],
            "one ok check in the middle does not end it"
        );
    }

    #[test]
    fn warning_reminders_until_acknowledged() {
        let r = Rules { reminder_interval: Some(secs(120)), ..warnings() };
        let acked = Observation { warning_acked: true, ..WARN };
        let not_due = Observation::of(Seen::NotDue);
        assert_eq!(
            run(&r, &[WARN, WARN, not_due, WARN, WARN, acked, acked, acked, UP]),
            [
                (0, Notice::Warning),
                (2, Notice::StillWarning { warning_for: secs(120) }),
                (4, Notice::StillWarning { warning_for: secs(240) }),
                (8, cleared(480, false)),
            ]
        );
    }

    /// A warning that turns into an outage: the outage's alert, nothing of the warning's until
    /// it is over; its end is said by the outage's recovery. An outage that recovers into a
    /// warning: the recovery, and the warning with it, once.
    #[test]
    fn a_warning_turning_into_an_outage_and_back_is_said_once_each() {
        let r = Rules { reminder_interval: Some(secs(60)), ..warnings() };
        assert_eq!(
            run(&r, &[WARN, DOWN, DOWN, UP]),
            [
                (0, Notice::Warning),
                (1, Notice::Down),
                (2, Notice::StillDown { down_for: secs(60) }),
                (3, back(120)),
                (3, cleared(180, true))
            ]
        );
        assert_eq!(
            run(&r, &[DOWN, WARN, WARN, UP]),
            [
                (0, Notice::Down),
                (1, back(60)),
                (1, Notice::Warning),
                (2, Notice::StillWarning { warning_for: secs(120) }),
                (3, cleared(180, false))
            ]
        );
        let restarted = Observation { seen: Seen::AutoRecovered, warning: true, ..DOWN };
        let at_recheck = Notice::Recovered { down_for: secs(0), at_recheck: true };
        assert_eq!(
            run(&r, &[restarted, UP]),
            [(0, Notice::Down), (0, at_recheck), (0, Notice::Warning), (1, cleared(60, false))],
            "down, restarted into a warning, then ok"
        );
        // Thresholds 3 and 2: the failures count toward the warning; a failure below the
        // failure threshold neither says nor ends the warning.
        let r = Rules { failure_threshold: 3, success_threshold: 2, ..warnings() };
        assert_eq!(
            run(&r, &[DOWN, DOWN, WARN, DOWN, WARN, UP, UP]),
            [(2, Notice::Warning), (6, cleared(360, false))]
        );
    }

    #[test]
    fn a_silenced_warning_is_never_said() {
        let r = warnings();
        let quiet = Observation { silenced: true, ..WARN };
        let quiet_up = Observation { silenced: true, ..UP };
        assert_eq!(run(&r, &[quiet, quiet, quiet_up]), []);
        assert_eq!(run(&r, &[quiet, WARN, UP]), [(1, Notice::Warning), (2, cleared(120, false))]);
    }
}
