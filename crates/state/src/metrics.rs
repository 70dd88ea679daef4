//! Per-function, per-minute invocation metrics.

use rayo_core::metrics::{DURATION_BUCKETS, FunctionMinute, MetricsStore, MinuteStats};
use rayo_core::store::StoreError;
use rusqlite::{OptionalExtension, Row, params};

use crate::db::{SqliteState, backend};

const SELECT_COLUMNS: &str = "function_name, minute_ms, outcomes, throttles, cold_starts,
    duration_buckets, duration_sum_ms, duration_max_ms, concurrent_max";

impl MetricsStore for SqliteState {
    fn add_minutes(&self, minutes: &[FunctionMinute]) -> Result<(), StoreError> {
        if minutes.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        for minute in minutes {
            let stored = transaction
                .prepare_cached(&format!(
                    "SELECT {SELECT_COLUMNS} FROM function_metrics
                     WHERE function_name = ?1 AND minute_ms = ?2"
                ))
                .and_then(|mut statement| {
                    statement
                        .query_row(params![minute.function_name, minute.minute_ms], read_row)
                        .optional()
                })
                .map_err(backend)?;
            let mut stats = match stored {
                Some(stored) => stored?.stats,
                None => MinuteStats::default(),
            };
            stats.merge(&minute.stats);
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO function_metrics (function_name, minute_ms, outcomes,
                        throttles, cold_starts, duration_buckets, duration_sum_ms,
                        duration_max_ms, concurrent_max)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        minute.function_name,
                        minute.minute_ms,
                        join_counts(&stats.outcomes),
                        stats.throttles as i64,
                        stats.cold_starts as i64,
                        join_counts(&stats.duration.counts),
                        stats.duration.sum_ms,
                        stats.duration.max_ms,
                        stats.concurrent_max,
                    ])
                })
                .map_err(backend)?;
        }
        transaction.commit().map_err(backend)
    }

    fn read_minutes(
        &self,
        function_name: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FunctionMinute>, StoreError> {
        let connection = self.connection();
        let rows = match function_name {
            Some(name) => connection
                .prepare_cached(&format!(
                    "SELECT {SELECT_COLUMNS} FROM function_metrics
                     WHERE function_name = ?1 AND minute_ms >= ?2 AND minute_ms < ?3"
                ))
                .and_then(|mut statement| {
                    statement
                        .query_map(params![name, from_ms, to_ms], read_row)?
                        .collect::<Result<Vec<_>, _>>()
                }),
            None => connection
                .prepare_cached(&format!(
                    "SELECT {SELECT_COLUMNS} FROM function_metrics
                     WHERE minute_ms >= ?1 AND minute_ms < ?2"
                ))
                .and_then(|mut statement| {
                    statement
                        .query_map(params![from_ms, to_ms], read_row)?
                        .collect::<Result<Vec<_>, _>>()
                }),
        }
        .map_err(backend)?;
        rows.into_iter().collect()
    }

    fn prune_minutes(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.connection()
            .execute(
                "DELETE FROM function_metrics WHERE minute_ms < ?1",
                [before_ms],
            )
            .map_err(backend)
    }
}

/// A row, or why its counts could not be read.
fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<FunctionMinute, StoreError>> {
    let function_name: String = row.get(0)?;
    let minute_ms: i64 = row.get(1)?;
    let outcomes: String = row.get(2)?;
    let throttles: i64 = row.get(3)?;
    let cold_starts: i64 = row.get(4)?;
    let buckets: String = row.get(5)?;
    let sum_ms: f64 = row.get(6)?;
    let max_ms: f64 = row.get(7)?;
    let concurrent_max: u32 = row.get(8)?;
    let parsed = (|| {
        let mut stats = MinuteStats {
            outcomes: split_counts::<5>(&outcomes)?,
            throttles: throttles.max(0) as u64,
            cold_starts: cold_starts.max(0) as u64,
            concurrent_max,
            ..MinuteStats::default()
        };
        stats.duration.counts = split_counts::<DURATION_BUCKETS>(&buckets)?;
        stats.duration.sum_ms = sum_ms;
        stats.duration.max_ms = max_ms;
        Ok(FunctionMinute {
            function_name: function_name.clone(),
            minute_ms,
            stats,
        })
    })();
    Ok(parsed.map_err(|error: String| {
        StoreError::Backend(format!(
            "metrics of {function_name} at {minute_ms}: {error}"
        ))
    }))
}

fn join_counts(counts: &[u64]) -> String {
    counts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn split_counts<const N: usize>(text: &str) -> Result<[u64; N], String> {
    let mut counts = [0u64; N];
    let mut n_counts = 0;
    for (idx, part) in text.split(',').enumerate() {
        let slot = counts
            .get_mut(idx)
            .ok_or_else(|| format!("more than {N} counts in {text:?}"))?;
        *slot = part
            .parse()
            .map_err(|_| format!("a count that is not a number in {text:?}"))?;
        n_counts = idx + 1;
    }
    if n_counts != N {
        return Err(format!("{n_counts} counts instead of {N} in {text:?}"));
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use rayo_core::metrics::Outcome;

    use super::*;

    fn minute(name: &str, minute_ms: i64, durations: &[f64]) -> FunctionMinute {
        let mut stats = MinuteStats::default();
        for duration in durations {
            stats.record(Outcome::Success, Some(*duration), false);
        }
        stats.record(Outcome::Timeout, Some(3_000.0), true);
        stats.throttles = 2;
        stats.concurrent_max = durations.len() as u32;
        FunctionMinute {
            function_name: name.to_string(),
            minute_ms,
            stats,
        }
    }

    fn sorted(mut minutes: Vec<FunctionMinute>) -> Vec<FunctionMinute> {
        minutes
            .sort_by(|a, b| (&a.function_name, a.minute_ms).cmp(&(&b.function_name, b.minute_ms)));
        minutes
    }

    #[test]
    fn minutes_add_up_and_read_back() {
        let state = SqliteState::open_in_memory().unwrap();
        let first = minute("f", 60_000, &[1.5, 20.0]);
        let other = minute("g", 60_000, &[7.0]);
        let later = minute("f", 120_000, &[]);
        state
            .add_minutes(&[first.clone(), other.clone(), later.clone()])
            .unwrap();
        assert_eq!(
            sorted(state.read_minutes(None, 0, 180_000).unwrap()),
            vec![first.clone(), later.clone(), other.clone()]
        );
        assert_eq!(
            state.read_minutes(Some("f"), 100_000, 180_000).unwrap(),
            vec![later.clone()]
        );

        // The same minute written again adds up.
        let more = minute("f", 60_000, &[400.0, 2.0, 9.0]);
        state.add_minutes(std::slice::from_ref(&more)).unwrap();
        let mut expected = first.stats;
        expected.merge(&more.stats);
        let read = state.read_minutes(Some("f"), 60_000, 120_000).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].stats, expected);
        assert_eq!(read[0].stats.invocations(), 7);
        assert_eq!(read[0].stats.concurrent_max, 3);

        assert_eq!(state.prune_minutes(120_000).unwrap(), 2);
        assert_eq!(state.read_minutes(None, 0, i64::MAX).unwrap(), vec![later]);
    }

    #[test]
    fn counts_round_trip() {
        assert_eq!(join_counts(&[1, 0, 25]), "1,0,25");
        assert_eq!(split_counts::<3>("1,0,25"), Ok([1, 0, 25]));
        assert!(split_counts::<3>("1,0").is_err());
        assert!(split_counts::<2>("1,0,25").is_err());
        assert!(split_counts::<1>("x").is_err());
    }
}
