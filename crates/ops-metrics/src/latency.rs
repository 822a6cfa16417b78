//! Latency distributions of the successful checks: exact ([`Hist`], what a day file read raw
//! gives) and in fixed buckets ([`Buckets`], what a rollup keeps), and their percentiles.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::parse::Latency;
use crate::stats::Percentiles;

/// A latency as a sortable key.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Nearest rank of `per_mille` among `total` values (1-based).
fn rank(total: u64, per_mille: u64) -> u64 {
    (u128::from(total) * u128::from(per_mille)).div_ceil(1000).max(1) as u64
}

/// An exact histogram of latencies: dense for whole milliseconds below 16 s, a map otherwise.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hist {
    dense: Vec<u64>,
    sparse: BTreeMap<Key, u64>,
}

const DENSE: i64 = 16_384;

impl Hist {
    pub fn add(&mut self, latency: Latency) {
        match latency {
            Latency::Int(v) if (0..DENSE).contains(&v) => {
                let i = usize::try_from(v).unwrap_or(0);
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, 0);
                }
                self.dense[i] += 1;
            }
            Latency::Int(v) => *self.sparse.entry(Key(v as f64)).or_default() += 1,
            Latency::Float(v) => *self.sparse.entry(Key(v)).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Self) {
        if other.dense.len() > self.dense.len() {
            self.dense.resize(other.dense.len(), 0);
        }
        for (a, b) in self.dense.iter_mut().zip(&other.dense) {
            *a = a.saturating_add(*b);
        }
        for (k, n) in &other.sparse {
            let e = self.sparse.entry(*k).or_default();
            *e = e.saturating_add(*n);
        }
    }

    /// Every distinct value and how often (not in order).
    fn values(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.dense
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(ms, n)| (ms as f64, *n))
            .chain(self.sparse.iter().map(|(k, n)| (k.0, *n)))
    }

    /// Nearest-rank percentiles; `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let mut values: Vec<(f64, u64)> = self.values().collect();
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = values.iter().fold(0u64, |t, v| t.saturating_add(v.1));
        if total == 0 {
            return None;
        }
        let at = |per_mille: u64| {
            let rank = rank(total, per_mille);
            let mut seen = 0u64;
            values
                .iter()
                .find(|(_, n)| {
                    seen = seen.saturating_add(*n);
                    seen >= rank
                })
                .map_or(f64::NAN, |v| v.0)
        };
        Some(Percentiles { p50: at(500), p95: at(950), p99: at(990), approximate: false })
    }

    /// The same values in fixed buckets.
    pub fn to_buckets(&self) -> Buckets {
        let mut b = Buckets::default();
        for (v, n) in self.values() {
            b.add(v, n);
        }
        b
    }
}

/// The upper bounds (milliseconds, inclusive) of the fixed latency buckets of a rollup: 0 (and
/// below), every millisecond to 10, then 12, 14, 16, 18, 20, 24, 28, 32, 36, 40, 45, 50, 60,
/// 70, 80, 90 and 100 times each power of ten up to 1,000,000 ms; above that, one last bucket.
/// Past 10 ms a bucket's upper bound is at most 20 % above its lower one.
pub(crate) const BOUNDS: [f64; 96] = {
    const STEPS: [u32; 17] = [12, 14, 16, 18, 20, 24, 28, 32, 36, 40, 45, 50, 60, 70, 80, 90, 100];
    let mut b = [0.0; 96];
    let mut i = 1;
    while i <= 10 {
        b[i] = i as f64;
        i += 1;
    }
    let mut decade = 1;
    while decade <= 10_000 {
        let mut s = 0;
        while s < STEPS.len() {
            b[i] = (STEPS[s] * decade) as f64;
            i += 1;
            s += 1;
        }
        decade *= 10;
    }
    b
};

/// How many buckets: one per bound and one above the last.
pub(crate) const BUCKETS: usize = BOUNDS.len() + 1;

/// The bucket holding `v`: the first whose bound is at least `v`.
pub(crate) fn bucket_of(v: f64) -> usize {
    BOUNDS.partition_point(|b| *b < v)
}

/// Latencies in the fixed buckets of [`BOUNDS`], with the smallest and largest value exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Buckets {
    pub counts: [u64; BUCKETS],
    /// The smallest value (`+inf` when empty).
    pub min: f64,
    /// The largest value (`-inf` when empty).
    pub max: f64,
}

impl Default for Buckets {
    fn default() -> Self {
        Self { counts: [0; BUCKETS], min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Buckets {
    pub fn add(&mut self, v: f64, n: u64) {
        let i = bucket_of(v);
        self.counts[i] = self.counts[i].saturating_add(n);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Self) {
        self.add_counts(0, &other.counts, other.min, other.max);
    }

    /// Adds `counts` of the buckets from `first` on (those beyond the last are ignored), whose
    /// smallest and largest values are `min` and `max`.
    pub fn add_counts(&mut self, first: usize, counts: &[u64], min: f64, max: f64) {
        for (a, b) in self.counts.iter_mut().skip(first).zip(counts) {
            *a = a.saturating_add(*b);
        }
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |t, n| t.saturating_add(*n))
    }

    /// Nearest-rank percentiles, each the upper bound of the bucket holding the rank, but never
    /// above the largest value: never below the exact percentile, and in the same bucket.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let at = |per_mille: u64| {
            let rank = rank(total, per_mille);
            let mut seen = 0u64;
            let i = self
                .counts
                .iter()
                .position(|n| {
                    seen = seen.saturating_add(*n);
                    seen >= rank
                })
                .unwrap_or(BUCKETS - 1);
            BOUNDS.get(i).map_or(self.max, |b| b.min(self.max))
        };
        Some(Percentiles { p50: at(500), p95: at(950), p99: at(990), approximate: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut h = Hist::default();
        for v in 1..=100 {
            h.add(Latency::Int(v));
        }
        let exact = |p50, p95, p99| Some(Percentiles { p50, p95, p99, approximate: false });
        assert_eq!(h.percentiles(), exact(50.0, 95.0, 99.0));
        let mut other = Hist::default();
        other.add(Latency::Float(0.5));
        other.add(Latency::Int(-1));
        other.add(Latency::Int(100_000));
        h.merge(&other);
        // 103 values: -1, 0.5, 1..=100, 100000.
        assert_eq!(h.percentiles(), exact(50.0, 96.0, 100.0));
        assert_eq!(Hist::default().percentiles(), None);
        let mut one = Hist::default();
        one.add(Latency::Int(7));
        assert_eq!(one.percentiles(), exact(7.0, 7.0, 7.0));
    }

    #[test]
    fn the_bounds_are_as_documented() {
        assert_eq!(&BOUNDS[..12], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0]);
        assert_eq!(BOUNDS[BOUNDS.len() - 1], 1_000_000.0);
        for w in BOUNDS.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
            assert!(w[1] <= 10.0 || w[1] <= w[0] * 1.2 + 1e-9, "{w:?} wider than 20 %");
        }
        assert_eq!(bucket_of(-5.0), 0);
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(0.5), 1);
        assert_eq!(bucket_of(12.0), 11);
        assert_eq!(bucket_of(12.5), 12);
        assert_eq!(bucket_of(2e6), BUCKETS - 1);
    }

    /// Bucketed percentiles are never below the exact ones, in the same bucket, and exact when
    /// every value is the same.
    #[test]
    fn bucketed_percentiles_bound_the_exact_ones() {
        let mut seed = 0x9e37_79b9_u64;
        for round in 0..300 {
            let mut h = Hist::default();
            for _ in 0..=round % 40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let v = match seed % 5 {
                    0 => Latency::Float((seed % 10_000) as f64 / 7.0),
                    1 => Latency::Int(i64::try_from(seed % 3_000_000).unwrap() - 1000),
                    _ => Latency::Int(i64::try_from(seed % 2000).unwrap()),
                };
                h.add(v);
            }
            let (e, a) = (h.percentiles().unwrap(), h.to_buckets().percentiles().unwrap());
            assert!(a.approximate && !e.approximate);
            for (e, a) in [(e.p50, a.p50), (e.p95, a.p95), (e.p99, a.p99)] {
                assert!(a >= e && bucket_of(a) == bucket_of(e), "exact {e}, from buckets {a}");
            }
        }
        let mut same = Hist::default();
        for _ in 0..5 {
            same.add(Latency::Int(137));
        }
        let p = same.to_buckets().percentiles().unwrap();
        assert_eq!((p.p50, p.p95, p.p99), (137.0, 137.0, 137.0));
    }
}
