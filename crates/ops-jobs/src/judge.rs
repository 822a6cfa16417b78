//! The verdict on a job at a given moment: late, failed, too long, too short, too often, or
//! fine, with the words that say which and by how much.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::schedule::Schedule;
use crate::state::{JobState, RunRecord, Status};
use crate::{JobError, JobName, Jobs, human};

/// What a job is expected to do.
#[derive(Debug, Clone)]
pub struct Watch {
    /// When it runs.
    pub schedule: Schedule,
    /// How long after the due time a start may come before the job is late.
    pub grace: Duration,
    /// A successful run shorter than this is too short.
    pub min_runtime: Option<Duration>,
    /// A run longer than this (still running, or finished) is too long.
    pub max_runtime: Option<Duration>,
}

/// What is wrong with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finding {
    /// No start within the due time and the grace.
    Late,
    /// A run is still running past the maximum, or the last one took longer.
    TooLong,
    /// The last run failed: a non-zero exit, a signal, its timeout, a fail ping, or no end
    /// (its wrapper died).
    Failed,
    /// The last start came before the schedule allows, by more than its tolerance.
    TooOften,
    /// The last run succeeded faster than the minimum.
    TooShort,
}

impl Finding {
    /// The snake_case word (`late`, `failed`, `too_long`, `too_short`, `too_often`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Late => "late",
            Self::TooLong => "too_long",
            Self::Failed => "failed",
            Self::TooOften => "too_often",
            Self::TooShort => "too_short",
        }
    }
}

/// The verdict on a job at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The most urgent finding (in the order of [`Finding`]'s variants), `None` when the job is
    /// fine.
    pub finding: Option<Finding>,
    /// What it found, in words: the finding first, then the others after `; also `.
    pub detail: String,
    /// When the next start is due (from the last start, or from when watching began).
    pub next_due: Option<Timestamp>,
}

/// The verdict on `state` at `now`. `gone(run)` says whether a running wrapper run's wrapper
/// is gone (its lock free): such a run failed, never silently running for ever.
///
/// The last start decides `late` (no later start by its next due time plus the grace; with no
/// run at all, by the first due time after `state.watched_since`) and, with the start before it,
/// `too_often`; a run still running decides `too_long` past the maximum; the last run that
/// ended decides `failed`, `too_short` and `too_long`. A run in progress leaves the verdict of
/// the one before it standing.
pub fn judge(state: &JobState, watch: &Watch, now: Timestamp, gone: &dyn Fn(&RunRecord) -> bool) -> Verdict {
    let tz = watch.schedule.tz();
    let at = |t: Timestamp| show(t, tz, now);
    let runs = state.by_start();
    let mut found: Vec<(Finding, String)> = Vec::new();
    let ended = |r: &RunRecord| r.status != Status::Running || gone(r);

    // late
    let last = runs.last().copied();
    let next_due = match last {
        Some(run) => watch.schedule.next_due(run.started),
        None => state.watched_since.and_then(|since| watch.schedule.first_due(since)),
    };
    if let Some(due) = next_due
        && let Some(late) = since(due, now)
        && late > watch.grace
    {
        let what = if last.is_none() { "; no run recorded yet" } else { "" };
        found.push((Finding::Late, format!("late by {}: expected {}{what}", human(late), at(due))));
    }

    // too long, still running
    if let Some(max) = watch.max_runtime {
        for run in runs.iter().filter(|r| !ended(r)) {
            if let Some(running) = since(run.started, now)
                && running > max
            {
                found.push((
                    Finding::TooLong,
                    format!(
                        "running for {} since {}, longer than the {} allowed",
                        human(running),
                        at(run.started),
                        human(max)
                    ),
                ));
                break;
            }
        }
    }

    // the last run that ended
    if let Some(run) = runs.iter().rev().find(|r| ended(r)) {
        let of = format!("the run of {}", at(run.started));
        let took = run.duration().map(|d| format!(" after {}", human(d))).unwrap_or_default();
        match run.status {
            Status::Failed => {
                found.push((Finding::Failed, format!("{of} failed: {}{took}", run.result_words())));
            }
            Status::Lost => found.push((Finding::Failed, format!("{of} failed: {}", run.result_words()))),
            Status::Running => found.push((
                Finding::Failed,
                format!("{of} failed: no end recorded: its wrapper is gone (killed, or the host stopped)"),
            )),
            Status::Ok => {
                if let (Some(max), Some(d)) = (watch.max_runtime, run.duration())
                    && d > max
                {
                    found.push((
                        Finding::TooLong,
                        format!("{of} took {}, longer than the {} allowed", human(d), human(max)),
                    ));
                }
                if let (Some(min), Some(d)) = (watch.min_runtime, run.duration())
                    && d < min
                {
                    found.push((
                        Finding::TooShort,
                        format!("{of} succeeded in {}, less than the {} expected", human(d), human(min)),
                    ));
                }
            }
        }
    }

    // too often: the last two starts
    if let [.., before, last] = runs.as_slice()
        && let Some(earliest) = watch.schedule.earliest_next(before.started)
        && last.started < earliest
    {
        let gap = since(before.started, last.started).unwrap_or_default();
        found.push((
            Finding::TooOften,
            format!(
                "started {}, {} after the run of {}: the schedule ({}) allows the next from {}",
                at(last.started),
                human(gap),
                at(before.started),
                watch.schedule.describe(),
                at(earliest)
            ),
        ));
    }

    found.sort_by_key(|(f, _)| *f as u8);
    let detail = if found.is_empty() {
        fine(last, next_due, &at, &ended)
    } else {
        found.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>().join("; also ")
    };
    Verdict { finding: found.first().map(|(f, _)| *f), detail, next_due }
}

fn fine(
    last: Option<&RunRecord>,
    next_due: Option<Timestamp>,
    at: &dyn Fn(Timestamp) -> String,
    ended: &dyn Fn(&RunRecord) -> bool,
) -> String {
    let next = next_due.map(|t| format!("; next due {}", at(t))).unwrap_or_default();
    match last {
        None => format!("no run recorded yet{next}"),
        Some(run) if !ended(run) => format!("running since {}{next}", at(run.started)),
        Some(run) => {
            let took = run.duration().map(|d| format!(" in {}", human(d))).unwrap_or_default();
            format!("last run {}: {}{took}{next}", at(run.started), run.result_words())
        }
    }
}

/// How long from `t` to `now`, when `t` is before it.
fn since(t: Timestamp, now: Timestamp) -> Option<Duration> {
    Duration::try_from(now.duration_since(t)).ok()
}

/// A time in the schedule's zone: `03:00 Europe/Berlin` on the day of `now` there, with the
/// date otherwise.
pub fn show(t: Timestamp, tz: &TimeZone, now: Timestamp) -> String {
    let (z, today) = (t.to_zoned_datetime(tz.clone()), now.to_zoned_datetime(tz.clone()).date());
    let name = tz.iana_name().unwrap_or("UTC");
    if z.date() == today {
        format!("{} {name}", z.strftime("%H:%M"))
    } else {
        format!("{} {name}", z.strftime("%Y-%m-%d %H:%M"))
    }
}

impl Jobs {
    /// The verdict on job `name` at `now`, from its state file, which is only read. `since` is
    /// when the caller began to expect runs (agent-ops: when services.json was last written):
    /// a job with no run recorded is late once the first due time after it and the grace have
    /// passed (the state file's `watched_since`, the first run or ping, comes first).
    pub fn judge(
        &self,
        name: &JobName,
        watch: &Watch,
        now: Timestamp,
        since: Option<Timestamp>,
    ) -> Result<Verdict, JobError> {
        let mut state = self.read(name)?.unwrap_or_default();
        state.watched_since = state.watched_since.or(since);
        let gone = |run: &RunRecord| {
            run.source == crate::Source::Run && self.wrapper_gone(name, run.id) && {
                // Its lock is free: it ended meanwhile (the wrapper records the end before it
                // lets go) unless the file still says running.
                self.read(name)
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.runs.iter().any(|r| r.id == run.id && r.status == Status::Running))
            }
        };
        Ok(judge(&state, watch, now, &gone))
    }
}
