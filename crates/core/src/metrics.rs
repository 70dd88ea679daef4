//! Invocation metrics: what one function did in one minute, merged into any
//! range of minutes, and the store that keeps the minutes.
//!
//! Durations go into fixed buckets, the same for every minute, so that any
//! set of minutes adds up bucket by bucket into the histogram of its whole
//! range, from which percentiles are estimated.

use crate::store::StoreError;

/// Upper bounds (inclusive, milliseconds) of the duration buckets; one more
/// bucket past the last bound takes everything longer. Stored minutes keep
/// their counts in this order: changing the bounds needs a migration.
pub const DURATION_BUCKET_BOUNDS_MS: [f64; 19] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0,
    20_000.0, 50_000.0, 100_000.0, 200_000.0, 500_000.0, 900_000.0,
];

/// The number of duration buckets: one per bound and the overflow bucket.
pub const DURATION_BUCKETS: usize = DURATION_BUCKET_BOUNDS_MS.len() + 1;

/// Milliseconds in a minute, the granularity of stored metrics.
pub const MINUTE_MS: i64 = 60_000;

/// How an invocation that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The function returned a response.
    Success,
    /// The function raised or returned an error (`Unhandled`).
    FunctionError,
    /// The invocation ran past the function's timeout.
    Timeout,
    /// The runtime failed: it exited, failed its init, or sent a response
    /// too large to return.
    RuntimeError,
    /// No instance could be started (the runtime or the sandbox is missing).
    PlatformError,
}

impl Outcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Success,
        Outcome::FunctionError,
        Outcome::Timeout,
        Outcome::RuntimeError,
        Outcome::PlatformError,
    ];

    /// The label value that names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::FunctionError => "function_error",
            Outcome::Timeout => "timeout",
            Outcome::RuntimeError => "runtime_error",
            Outcome::PlatformError => "platform_error",
        }
    }

    /// Whether it counts as an error.
    pub fn is_error(self) -> bool {
        self != Outcome::Success
    }

    /// Its position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Durations in fixed buckets, with their sum and maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationHistogram {
    /// Durations per bucket (not cumulative), in the order of
    /// [`DURATION_BUCKET_BOUNDS_MS`], the overflow bucket last.
    pub counts: [u64; DURATION_BUCKETS],
    /// The sum of all durations, in milliseconds.
    pub sum_ms: f64,
    /// The longest duration, in milliseconds (0 when empty).
    pub max_ms: f64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        DurationHistogram {
            counts: [0; DURATION_BUCKETS],
            sum_ms: 0.0,
            max_ms: 0.0,
        }
    }
}

impl DurationHistogram {
    /// Adds one duration.
    pub fn observe(&mut self, duration_ms: f64) {
        let duration_ms = if duration_ms.is_finite() {
            duration_ms.max(0.0)
        } else {
            0.0
        };
        self.counts[bucket_index(duration_ms)] += 1;
        self.sum_ms += duration_ms;
        self.max_ms = self.max_ms.max(duration_ms);
    }

    /// Adds another histogram's durations.
    pub fn merge(&mut self, other: &DurationHistogram) {
        for (count, other) in self.counts.iter_mut().zip(other.counts) {
            *count += other;
        }
        self.sum_ms += other.sum_ms;
        self.max_ms = self.max_ms.max(other.max_ms);
    }

    /// The number of durations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// An estimate of the `quantile` (0 to 1) of the durations, in
    /// milliseconds: the bucket holding that rank is found, and the value
    /// interpolated linearly within the bucket, which is capped at the
    /// maximum seen. `None` when there are no durations.
    pub fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let quantile = quantile.clamp(0.0, 1.0);
        // The rank of the wanted duration, 1-based: the median of 4 is the
        // 2nd. The small allowance keeps 0.99 × 100 from rounding up to 100.
        let rank = (quantile * total as f64 - 1e-9).ceil().max(1.0);
        let mut below = 0u64;
        for (idx, count) in self.counts.iter().copied().enumerate() {
            if count == 0 {
                continue;
            }
            if (below + count) as f64 >= rank {
                let lower = if idx == 0 {
                    0.0
                } else {
                    DURATION_BUCKET_BOUNDS_MS[idx - 1]
                };
                let upper = DURATION_BUCKET_BOUNDS_MS
                    .get(idx)
                    .copied()
                    .unwrap_or(self.max_ms)
                    .min(self.max_ms);
                if upper <= lower {
                    return Some(upper.max(0.0));
                }
                let within = (rank - below as f64) / count as f64;
                return Some(lower + (upper - lower) * within);
            }
            below += count;
        }
        Some(self.max_ms)
    }
}

/// The bucket a duration falls in.
pub fn bucket_index(duration_ms: f64) -> usize {
    DURATION_BUCKET_BOUNDS_MS
        .iter()
        .position(|bound| duration_ms <= *bound)
        .unwrap_or(DURATION_BUCKET_BOUNDS_MS.len())
}

/// What one function did in one minute (or, merged, in any range).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteStats {
    /// Invocations that ran (or failed to start), per [`Outcome`], in the
    /// order of [`Outcome::ALL`]. Throttled invocations are not here.
    pub outcomes: [u64; 5],
    /// Invocations refused by a concurrency limit.
    pub throttles: u64,
    /// Invocations that had to start an instance.
    pub cold_starts: u64,
    /// Durations of the invocations that ran.
    pub duration: DurationHistogram,
    /// The most executions of the function running at once.
    pub concurrent_max: u32,
}

impl MinuteStats {
    /// Adds one invocation's outcome, and its duration when it ran.
    pub fn record(&mut self, outcome: Outcome, duration_ms: Option<f64>, cold_start: bool) {
        self.outcomes[outcome.index()] += 1;
        if let Some(duration_ms) = duration_ms {
            self.duration.observe(duration_ms);
        }
        if cold_start {
            self.cold_starts += 1;
        }
    }

    /// Adds another minute's (or range's) figures.
    pub fn merge(&mut self, other: &MinuteStats) {
        for (count, other) in self.outcomes.iter_mut().zip(other.outcomes) {
            *count += other;
        }
        self.throttles += other.throttles;
        self.cold_starts += other.cold_starts;
        self.duration.merge(&other.duration);
        self.concurrent_max = self.concurrent_max.max(other.concurrent_max);
    }

    /// Invocations of any outcome.
    pub fn invocations(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Invocations whose outcome is an error.
    pub fn errors(&self) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|outcome| outcome.is_error())
            .map(|outcome| self.outcomes[outcome.index()])
            .sum()
    }

    /// Invocations with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()]
    }

    /// The share of invocations that succeeded, in percent; `None` without
    /// invocations.
    pub fn success_rate(&self) -> Option<f64> {
        let invocations = self.invocations();
        (invocations > 0).then(|| (invocations - self.errors()) as f64 * 100.0 / invocations as f64)
    }

    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        *self == MinuteStats::default()
    }
}

/// The minute (its start, in milliseconds since the epoch) holding `time_ms`.
pub fn minute_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// One function's figures for one minute, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionMinute {
    /// The function's name.
    pub function_name: String,
    /// The minute's start, milliseconds since the epoch.
    pub minute_ms: i64,
    /// What happened.
    pub stats: MinuteStats,
}

/// Per-function, per-minute metrics.
pub trait MetricsStore: Send + Sync + std::fmt::Debug {
    /// Adds these minutes' figures to what is stored for the same function
    /// and minute (a minute may be written more than once), in one write.
    fn add_minutes(&self, minutes: &[FunctionMinute]) -> Result<(), StoreError>;
    /// The stored minutes in `[from_ms, to_ms)`, of one function or of all,
    /// in no particular order.
    fn read_minutes(
        &self,
        function_name: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FunctionMinute>, StoreError>;
    /// Removes the minutes before `before_ms`; returns how many went.
    fn prune_minutes(&self, before_ms: i64) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(durations: &[f64]) -> DurationHistogram {
        let mut histogram = DurationHistogram::default();
        for duration in durations {
            histogram.observe(*duration);
        }
        histogram
    }

    #[test]
    fn buckets() {
        fn check(duration_ms: f64, expected: usize) {
            assert_eq!(bucket_index(duration_ms), expected, "{duration_ms}");
        }
        check(0.0, 0);
        check(0.4, 0);
        check(1.0, 0);
        check(1.01, 1);
        check(7.0, 3);
        check(100.0, 6);
        check(900_000.0, 18);
        check(900_001.0, 19);
        check(f64::MAX, 19);
    }

    #[test]
    fn quantiles() {
        fn check(durations: &[f64], quantile: f64, expected: Option<f64>) {
            let got = histogram(durations).quantile_ms(quantile);
            match (got, expected) {
                (Some(got), Some(expected)) => assert!(
                    (got - expected).abs() < 1e-9,
                    "{durations:?} q{quantile}: {got} != {expected}"
                ),
                _ => assert_eq!(got, expected, "{durations:?} q{quantile}"),
            }
        }
        check(&[], 0.5, None);
        // One duration: capped at the maximum, whatever the quantile.
        check(&[30.0], 0.5, Some(30.0));
        check(&[30.0], 0.99, Some(30.0));
        check(&[30.0], 0.0, Some(30.0));
        // Four durations in (20, 50]: rank 2 of 4 is halfway up the bucket,
        // whose top is capped at the largest seen (40).
        check(&[21.0, 22.0, 23.0, 40.0], 0.5, Some(30.0));
        check(&[21.0, 22.0, 23.0, 40.0], 1.0, Some(40.0));
        // 99 fast and 1 slow: the median is in the first bucket, p99 still
        // fast, p100 the slow one.
        let mut durations = vec![0.5; 99];
        durations.push(3_000.0);
        check(&durations, 0.5, Some(50.0 / 99.0));
        check(&durations, 0.99, Some(1.0));
        check(&durations, 1.0, Some(3_000.0));
        // Past the last bound: the overflow bucket reaches up to the maximum.
        check(&[1_000_000.0, 2_000_000.0], 1.0, Some(2_000_000.0));
        check(&[1_000_000.0, 2_000_000.0], 0.5, Some(1_450_000.0));
    }

    #[test]
    fn merged_minutes_equal_one_histogram() {
        let first = [3.0, 150.0, 7.5];
        let second = [0.2, 12_000.0];
        let mut merged = histogram(&first);
        merged.merge(&histogram(&second));
        let all: Vec<f64> = first.iter().chain(&second).copied().collect();
        assert_eq!(merged, histogram(&all));
        assert_eq!(merged.count(), 5);
        assert_eq!(merged.max_ms, 12_000.0);
        assert!((merged.sum_ms - 12_160.7).abs() < 1e-9);
    }

    #[test]
    fn stats_counts_and_rates() {
        let mut minute = MinuteStats::default();
        assert!(minute.is_empty());
        assert_eq!(minute.success_rate(), None);
        minute.record(Outcome::Success, Some(10.0), true);
        minute.record(Outcome::Success, Some(12.0), false);
        minute.record(Outcome::FunctionError, Some(5.0), false);
        minute.record(Outcome::Timeout, Some(3_000.0), false);
        minute.record(Outcome::PlatformError, None, true);
        minute.throttles += 2;
        minute.concurrent_max = 3;
        assert_eq!(minute.invocations(), 5);
        assert_eq!(minute.errors(), 3);
        assert_eq!(minute.count(Outcome::Timeout), 1);
        assert_eq!(minute.cold_starts, 2);
        assert_eq!(minute.duration.count(), 4);
        assert_eq!(minute.success_rate(), Some(40.0));

        let mut other = MinuteStats::default();
        other.record(Outcome::RuntimeError, Some(1.0), true);
        other.concurrent_max = 5;
        other.throttles = 1;
        minute.merge(&other);
        assert_eq!(minute.invocations(), 6);
        assert_eq!(minute.errors(), 4);
        assert_eq!(minute.throttles, 3);
        assert_eq!(minute.cold_starts, 3);
        assert_eq!(minute.concurrent_max, 5);
    }

    #[test]
    fn minutes() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(59_999), 0);
        assert_eq!(minute_of(60_000), 60_000);
        assert_eq!(minute_of(1_700_000_123_456), 1_700_000_100_000);
        assert_eq!(minute_of(-1), -60_000);
    }
}
