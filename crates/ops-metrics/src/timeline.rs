//! The order-dependent statistics of one service (incidents, outages, time-based uptime) as a
//! summary that two consecutive stretches of checks combine into, so that day files can be
//! read in parallel and joined in date order afterwards, in constant memory per service.
//!
//! A stretch of checks is a sequence of runs (consecutive checks in the same state, up or
//! down). The summary keeps the first run, the last run and what lies between them in
//! aggregate: how many down runs (incidents) ended there and the longest. An incident lasts
//! from its first failing check to the next passing one; time between two checks counts for
//! the state of the earlier one.

/// Consecutive checks in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub down: bool,
    /// The first check of the run (µs since the epoch).
    pub start: i64,
    /// The last check of the run.
    pub last: i64,
}

/// A summary of a non-empty stretch of checks in file order. Sums saturate: timestamps far
/// apart (year 1 and year 9999 in turn) cannot overflow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub head: Run,
    /// The first check after `head`: present exactly when `tail` is.
    pub head_next: Option<i64>,
    /// The last run, when there is more than one.
    pub tail: Option<Run>,
    /// Down runs strictly between `head` and `tail` (all of them ended).
    pub incidents: u64,
    /// The longest of those, µs.
    pub longest: i64,
    /// Time up (µs), each check's state holding until the next check.
    pub up_us: i64,
    /// Time down: the downtime.
    pub down_us: i64,
}

/// What a whole window's timeline says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Down runs, including one still going on at the end.
    pub incidents: u64,
    /// The longest incident in µs (an ongoing one counts up to the last check).
    pub longest_us: Option<i64>,
    /// When the ongoing incident started, if the last check failed.
    pub down_since: Option<i64>,
    /// Microseconds up and down between the first and last check.
    pub up_us: i64,
    /// See `up_us`.
    pub down_us: i64,
}

impl Timeline {
    /// One check.
    pub fn single(at: i64, down: bool) -> Self {
        Self {
            head: Run { down, start: at, last: at },
            head_next: None,
            tail: None,
            incidents: 0,
            longest: 0,
            up_us: 0,
            down_us: 0,
        }
    }

    fn last_run(&self) -> Run {
        self.tail.unwrap_or(self.head)
    }

    /// Whether the parts fit together (a rollup file's timeline is checked before it is used).
    pub fn is_valid(&self) -> bool {
        self.head_next.is_some() == self.tail.is_some()
            && self.longest >= 0
            && self.up_us >= 0
            && self.down_us >= 0
            && (self.incidents > 0 || self.longest == 0)
    }

    fn add_gap(&mut self, from: Run, to: i64) {
        let gap = to.saturating_sub(from.last).max(0);
        if from.down {
            self.down_us = self.down_us.saturating_add(gap);
        } else {
            self.up_us = self.up_us.saturating_add(gap);
        }
    }

    /// Adds one check after the others.
    pub fn push(&mut self, at: i64, down: bool) {
        let last = self.last_run();
        self.add_gap(last, at);
        if last.down == down {
            match &mut self.tail {
                Some(t) => t.last = at,
                None => self.head.last = at,
            }
            return;
        }
        match self.tail {
            None => self.head_next = Some(at),
            Some(t) => self.close(t, at),
        }
        self.tail = Some(Run { down, start: at, last: at });
    }

    fn close(&mut self, run: Run, next: i64) {
        if run.down {
            self.incidents = self.incidents.saturating_add(1);
            self.longest = self.longest.max(next.saturating_sub(run.start));
        }
    }

    /// `self` followed by `later`.
    #[must_use]
    pub fn then(mut self, later: Self) -> Self {
        let last = self.last_run();
        self.add_gap(last, later.head.start);
        self.up_us = self.up_us.saturating_add(later.up_us);
        self.down_us = self.down_us.saturating_add(later.down_us);
        self.incidents = self.incidents.saturating_add(later.incidents);
        self.longest = self.longest.max(later.longest);
        if last.down == later.head.down {
            let joined = Run { down: last.down, start: last.start, last: later.head.last };
            match (self.tail, later.tail) {
                (None, None) => self.head = joined,
                (None, Some(t)) => {
                    self.head = joined;
                    self.head_next = later.head_next;
                    self.tail = Some(t);
                }
                (Some(_), None) => self.tail = Some(joined),
                (Some(_), Some(t)) => {
                    self.close(joined, later.head_next.unwrap_or(joined.last));
                    self.tail = Some(t);
                }
            }
        } else {
            match self.tail {
                None => self.head_next = Some(later.head.start),
                Some(t) => self.close(t, later.head.start),
            }
            self.tail = Some(match later.tail {
                None => later.head,
                Some(t) => {
                    self.close(later.head, later.head_next.unwrap_or(later.head.last));
                    t
                }
            });
        }
        self
    }

    /// The window's figures.
    pub fn outcome(&self) -> Outcome {
        let mut incidents = self.incidents;
        let mut longest = (self.incidents > 0).then_some(self.longest);
        let mut count = |duration: i64| {
            incidents = incidents.saturating_add(1);
            longest = Some(longest.unwrap_or(0).max(duration.max(0)));
        };
        let last = self.last_run();
        if self.head.down {
            count(self.head_next.unwrap_or(self.head.last).saturating_sub(self.head.start));
        }
        if let Some(t) = self.tail.filter(|t| t.down) {
            count(t.last.saturating_sub(t.start));
        }
        Outcome {
            incidents,
            longest_us: longest,
            down_since: last.down.then_some(last.start),
            up_us: self.up_us,
            down_us: self.down_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(checks: &[(i64, bool)]) -> Timeline {
        let mut t = Timeline::single(checks[0].0, checks[0].1);
        for &(at, down) in &checks[1..] {
            t.push(at, down);
        }
        t
    }

    /// The same figures computed the obvious way, over the whole list.
    fn naive(checks: &[(i64, bool)]) -> Outcome {
        let (mut incidents, mut longest, mut up, mut down) = (0, None::<i64>, 0, 0);
        let mut i = 0;
        while i < checks.len() {
            if i > 0 {
                let gap = checks[i].0 - checks[i - 1].0;
                if checks[i - 1].1 { down += gap } else { up += gap }
            }
            if checks[i].1 && (i == 0 || !checks[i - 1].1) {
                let end = checks[i..].iter().find(|c| !c.1).map_or(checks.last().unwrap().0, |c| c.0);
                incidents += 1;
                longest = Some(longest.unwrap_or(0).max(end - checks[i].0));
            }
            i += 1;
        }
        let last = checks.last().unwrap();
        let down_since = last.1.then(|| checks.iter().rev().take_while(|c| c.1).last().unwrap().0);
        Outcome { incidents, longest_us: longest, down_since, up_us: up, down_us: down }
    }

    #[test]
    fn an_outage_in_the_middle() {
        let checks = [(0, false), (10, true), (20, true), (30, false), (40, false)];
        let o = build(&checks).outcome();
        assert_eq!(
            o,
            Outcome { incidents: 1, longest_us: Some(20), down_since: None, up_us: 20, down_us: 20 }
        );
    }

    #[test]
    fn ongoing_and_leading_outages() {
        let o = build(&[(0, true), (5, false), (10, true), (12, true)]).outcome();
        assert_eq!(
            o,
            Outcome { incidents: 2, longest_us: Some(5), down_since: Some(10), up_us: 5, down_us: 7 }
        );
        let o = build(&[(3, false)]).outcome();
        assert_eq!(o, Outcome { incidents: 0, longest_us: None, down_since: None, up_us: 0, down_us: 0 });
    }

    /// Timestamps of year 1 and year 9999 in turn: the time sums saturate instead of
    /// overflowing (a panic with overflow checks, nonsense without).
    #[test]
    fn timestamps_far_apart_do_not_overflow_the_sums() {
        let (early, late) = (-62_135_596_800_000_000, 253_402_300_799_000_000);
        let checks: Vec<(i64, bool)> =
            (0..200).map(|i| (if i % 2 == 0 { early } else { late }, i % 4 == 0)).collect();
        let o = build(&checks).outcome();
        assert_eq!((o.up_us, o.down_us), (i64::MAX, i64::MAX));
        assert_eq!(o.incidents, 50);
        let joined = build(&checks[..100]).then(build(&checks[100..])).outcome();
        assert_eq!(joined, o);
    }

    /// Every split of many sequences into consecutive stretches joins to the naive answer.
    #[test]
    fn joining_stretches_equals_the_whole() {
        let mut seed = 0x2545_f491_u64;
        for round in 0..400 {
            let len = 1 + round % 23;
            let mut at = 0;
            let checks: Vec<(i64, bool)> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    at += i64::try_from(seed % 7).unwrap();
                    (at, seed.is_multiple_of(3))
                })
                .collect();
            let want = naive(&checks);
            assert_eq!(build(&checks).outcome(), want, "{checks:?}");
            for cut1 in 1..len {
                for cut2 in cut1..len {
                    let parts = [&checks[..cut1], &checks[cut1..cut2], &checks[cut2..]];
                    let joined = parts
                        .iter()
                        .filter(|p| !p.is_empty())
                        .map(|p| build(p))
                        .reduce(Timeline::then)
                        .unwrap();
                    assert_eq!(joined.outcome(), want, "{checks:?} cut at {cut1}, {cut2}");
                }
            }
        }
    }
}
