//! The invocation metrics recorder. Every invocation's outcome is counted in
//! memory, per function and per minute, under one short-held lock; a
//! flusher writes the minutes gathered to the [`MetricsStore`] every few
//! seconds in one transaction, and at shutdown. Cumulative totals since the
//! server started (Prometheus' counters) stay in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayo_core::metrics::{FunctionMinute, MetricsStore, MinuteStats, Outcome, minute_of};
use rayo_core::store::StoreError;
use tokio::sync::oneshot;

/// Records invocations and reads them back, per function and minute.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

/// What the recorder knows of one function since the server started.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTotals {
    /// The function's name.
    pub function_name: String,
    /// Everything counted since the server started (`concurrent_max` is the
    /// most at once since then).
    pub totals: MinuteStats,
    /// Executions running now.
    pub running: u32,
}

/// How often the flusher writes and prunes.
#[derive(Debug, Clone, Copy)]
pub struct FlushOptions {
    /// How often the minutes gathered are written.
    pub flush_interval: Duration,
    /// How long stored minutes are kept.
    pub retention: Duration,
    /// How often minutes past the retention are removed.
    pub prune_interval: Duration,
}

/// The running flusher; [`MetricsFlusher::shutdown`] writes what is left.
#[derive(Debug)]
pub struct MetricsFlusher {
    metrics: Metrics,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn MetricsStore>,
    live: Mutex<Live>,
    /// Held by a flush from taking the pending minutes until they are
    /// written, and by a read from looking at them until it has read the
    /// store: a read sees every minute once, never twice or not at all.
    flush_gate: Mutex<()>,
}

#[derive(Debug, Default)]
struct Live {
    functions: HashMap<String, FunctionLive>,
}

#[derive(Debug, Default)]
struct FunctionLive {
    totals: MinuteStats,
    running: u32,
    /// Minutes not yet written to the store.
    pending: BTreeMap<i64, MinuteStats>,
}

impl FunctionLive {
    fn minute(&mut self, minute_ms: i64) -> &mut MinuteStats {
        self.pending.entry(minute_ms).or_default()
    }
}

impl Metrics {
    /// A recorder writing to `store`.
    pub fn new(store: Arc<dyn MetricsStore>) -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                store,
                live: Mutex::new(Live::default()),
                flush_gate: Mutex::new(()),
            }),
        }
    }

    /// An invocation of `function_name` was refused by a concurrency limit.
    pub fn record_throttle(&self, function_name: &str) {
        self.record_throttle_at(function_name, now_ms());
    }

    /// An execution of `function_name` starts.
    pub fn execution_started(&self, function_name: &str) {
        self.execution_started_at(function_name, now_ms());
    }

    /// An execution of `function_name` ended with `outcome`, after running
    /// `duration_ms` (`None` when it never ran), having started an instance
    /// or not.
    pub fn execution_finished(
        &self,
        function_name: &str,
        outcome: Outcome,
        duration_ms: Option<f64>,
        cold_start: bool,
    ) {
        self.execution_finished_at(function_name, outcome, duration_ms, cold_start, now_ms());
    }

    /// Writes the minutes gathered to the store, in one write. On failure
    /// they stay in memory for the next try.
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.flush_at(now_ms())
    }

    fn flush_at(&self, time_ms: i64) -> Result<usize, StoreError> {
        let _gate = lock(&self.inner.flush_gate);
        let minute_ms = minute_of(time_ms);
        let minutes: Vec<FunctionMinute> = {
            let mut live = lock(&self.inner.live);
            let mut minutes = Vec::new();
            for (function_name, function) in live.functions.iter_mut() {
                // A long execution counts in every minute it spans, not only
                // in those where an execution starts.
                if function.running > 0 {
                    let running = function.running;
                    let minute = function.minute(minute_ms);
                    minute.concurrent_max = minute.concurrent_max.max(running);
                }
                for (minute_ms, stats) in std::mem::take(&mut function.pending) {
                    minutes.push(FunctionMinute {
                        function_name: function_name.clone(),
                        minute_ms,
                        stats,
                    });
                }
            }
            minutes
        };
        if let Err(error) = self.inner.store.add_minutes(&minutes) {
            let mut live = lock(&self.inner.live);
            for minute in minutes {
                let function = live.functions.entry(minute.function_name).or_default();
                function.minute(minute.minute_ms).merge(&minute.stats);
            }
            return Err(error);
        }
        Ok(minutes.len())
    }

    /// Removes stored minutes older than `retention`.
    pub fn prune(&self, retention: Duration) -> Result<usize, StoreError> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let before_ms = minute_of(now_ms().saturating_sub(retention_ms));
        self.inner.store.prune_minutes(before_ms)
    }

    /// The minutes in `[from_ms, to_ms)` of one function or of all, stored
    /// or still in memory; a minute may appear more than once (once stored,
    /// once pending), to be merged by the caller.
    pub fn minutes(
        &self,
        function_name: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FunctionMinute>, StoreError> {
        self.minutes_at(function_name, from_ms, to_ms, now_ms())
    }

    fn minutes_at(
        &self,
        function_name: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        time_ms: i64,
    ) -> Result<Vec<FunctionMinute>, StoreError> {
        let _gate = lock(&self.inner.flush_gate);
        let mut minutes = Vec::new();
        {
            let live = lock(&self.inner.live);
            for (name, function) in &live.functions {
                if function_name.is_some_and(|wanted| wanted != name) {
                    continue;
                }
                for (minute_ms, stats) in function.pending.range(from_ms..to_ms) {
                    minutes.push(FunctionMinute {
                        function_name: name.clone(),
                        minute_ms: *minute_ms,
                        stats: *stats,
                    });
                }
                // Running executions count in the current minute before the
                // flusher has put them there.
                let current_ms = minute_of(time_ms);
                if function.running > 0 && (from_ms..to_ms).contains(&current_ms) {
                    minutes.push(FunctionMinute {
                        function_name: name.clone(),
                        minute_ms: current_ms,
                        stats: MinuteStats {
                            concurrent_max: function.running,
                            ..MinuteStats::default()
                        },
                    });
                }
            }
        }
        minutes.extend(
            self.inner
                .store
                .read_minutes(function_name, from_ms, to_ms)?,
        );
        Ok(minutes)
    }

    /// Every function's totals since the server started, by name.
    pub fn totals(&self) -> Vec<FunctionTotals> {
        let live = lock(&self.inner.live);
        let mut totals: Vec<FunctionTotals> = live
            .functions
            .iter()
            .map(|(name, function)| FunctionTotals {
                function_name: name.clone(),
                totals: function.totals,
                running: function.running,
            })
            .collect();
        totals.sort_by(|a, b| a.function_name.cmp(&b.function_name));
        totals
    }

    /// Starts writing every `flush_interval` and pruning every
    /// `prune_interval` (once at start too) on the current Tokio runtime.
    pub fn start_flusher(&self, options: FlushOptions) -> MetricsFlusher {
        let (stop, mut stopped) = oneshot::channel();
        let metrics = self.clone();
        let task = tokio::spawn(async move {
            let mut flush = tokio::time::interval(options.flush_interval);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut prune = tokio::time::interval(options.prune_interval);
            prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = flush.tick() => {
                        let metrics = metrics.clone();
                        let written = tokio::task::spawn_blocking(move || metrics.flush()).await;
                        if let Ok(Err(error)) = written {
                            tracing::warn!(%error, "writing invocation metrics failed; retrying later");
                        }
                    }
                    _ = prune.tick() => {
                        let metrics = metrics.clone();
                        let retention = options.retention;
                        let pruned = tokio::task::spawn_blocking(move || metrics.prune(retention)).await;
                        match pruned {
                            Ok(Ok(n)) if n > 0 => tracing::debug!(removed = n, "pruned invocation metrics"),
                            Ok(Err(error)) => tracing::warn!(%error, "pruning invocation metrics failed"),
                            _ => {}
                        }
                    }
                }
            }
        });
        MetricsFlusher {
            metrics: self.clone(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn record_throttle_at(&self, function_name: &str, time_ms: i64) {
        self.with_function(function_name, |function| {
            function.totals.throttles += 1;
            function.minute(minute_of(time_ms)).throttles += 1;
        });
    }

    fn execution_started_at(&self, function_name: &str, time_ms: i64) {
        self.with_function(function_name, |function| {
            function.running += 1;
            let running = function.running;
            function.totals.concurrent_max = function.totals.concurrent_max.max(running);
            let minute = function.minute(minute_of(time_ms));
            minute.concurrent_max = minute.concurrent_max.max(running);
        });
    }

    fn execution_finished_at(
        &self,
        function_name: &str,
        outcome: Outcome,
        duration_ms: Option<f64>,
        cold_start: bool,
        time_ms: i64,
    ) {
        self.with_function(function_name, |function| {
            function.running = function.running.saturating_sub(1);
            function.totals.record(outcome, duration_ms, cold_start);
            function
                .minute(minute_of(time_ms))
                .record(outcome, duration_ms, cold_start);
        });
    }

    /// Runs `update` on the function's figures, under the lock; the name is
    /// copied only the first time a function is seen.
    fn with_function(&self, function_name: &str, update: impl FnOnce(&mut FunctionLive)) {
        let mut live = lock(&self.inner.live);
        match live.functions.get_mut(function_name) {
            Some(function) => update(function),
            None => update(live.functions.entry(function_name.to_string()).or_default()),
        }
    }
}

impl MetricsFlusher {
    /// Stops the flusher and writes what is left.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let metrics = self.metrics.clone();
        match tokio::task::spawn_blocking(move || metrics.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "writing invocation metrics failed"),
            Err(error) => tracing::warn!(%error, "writing invocation metrics failed"),
        }
    }
}

/// Milliseconds since the epoch, by the wall clock: minutes are calendar
/// minutes.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The figures stay consistent whatever a panicking holder did: every
    // update is a few additions.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use rayo_state::SqliteState;

    use super::*;

    fn merged(minutes: Vec<FunctionMinute>) -> BTreeMap<(String, i64), MinuteStats> {
        let mut merged: BTreeMap<(String, i64), MinuteStats> = BTreeMap::new();
        for minute in minutes {
            merged
                .entry((minute.function_name, minute.minute_ms))
                .or_default()
                .merge(&minute.stats);
        }
        merged
    }

    #[test]
    fn reads_see_pending_and_stored_minutes_once() {
        let store = Arc::new(SqliteState::open_in_memory().unwrap());
        let metrics = Metrics::new(store.clone());
        let now = 1_700_000_040_000;
        let earlier = now - 120_000;
        metrics.execution_started_at("f", earlier);
        metrics.execution_finished_at("f", Outcome::Success, Some(12.0), true, earlier);
        metrics.execution_started_at("f", earlier);
        metrics.execution_started_at("f", earlier);
        metrics.execution_finished_at("f", Outcome::Timeout, Some(3_000.0), false, earlier);
        metrics.record_throttle_at("g", now);

        let before_flush = merged(
            metrics
                .minutes_at(None, earlier, now + 60_000, now)
                .unwrap(),
        );
        assert_eq!(metrics.flush_at(now).unwrap(), 3);
        let after_flush = merged(
            metrics
                .minutes_at(None, earlier, now + 60_000, now)
                .unwrap(),
        );
        assert_eq!(before_flush, after_flush);
        // Nothing left to write.
        assert_eq!(metrics.flush_at(now).unwrap(), 1);

        let f = after_flush[&("f".to_string(), earlier)];
        assert_eq!(f.invocations(), 2);
        assert_eq!(f.errors(), 1);
        assert_eq!(f.cold_starts, 1);
        assert_eq!(f.concurrent_max, 2);
        // One execution still runs: it counts in the current minute.
        assert_eq!(after_flush[&("f".to_string(), now)].concurrent_max, 1);
        assert_eq!(after_flush[&("g".to_string(), now)].throttles, 1);

        // The same minute recorded again after a flush adds up.
        metrics.execution_finished_at("f", Outcome::Success, Some(1.0), false, earlier);
        let again = merged(metrics.minutes_at(Some("f"), earlier, now, now).unwrap());
        assert_eq!(again[&("f".to_string(), earlier)].invocations(), 3);
        assert!(!again.contains_key(&("g".to_string(), now)));

        let totals = metrics.totals();
        assert_eq!(totals[0].function_name, "f");
        assert_eq!(totals[0].totals.invocations(), 3);
        assert_eq!(totals[0].running, 0);
        assert_eq!(totals[1].totals.throttles, 1);
    }
}
