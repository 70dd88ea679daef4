//! The metrics the web console charts, as JSON: one function's figures per
//! step over a range (`/functions/{name}?range=1h|3h|1d`) and every
//! function's totals over a range (`/summary?range=…`), from the minutes
//! stored and those still in memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rayo_core::metrics::{FunctionMinute, MinuteStats};
use serde::{Deserialize, Serialize};

use crate::{ApiState, LambdaError};

/// The console's metrics routes, mounted at `/_rayo/console/api/metrics`.
pub(crate) fn console_routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/functions/{name}", get(function_metrics))
        .route("/summary", get(summary))
}

/// A range the console offers, and the width of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    OneHour,
    ThreeHours,
    OneDay,
}

impl Range {
    fn parse(text: Option<&str>) -> Result<Range, LambdaError> {
        match text {
            None | Some("1h") => Ok(Range::OneHour),
            Some("3h") => Ok(Range::ThreeHours),
            Some("1d") => Ok(Range::OneDay),
            Some(other) => Err(LambdaError::invalid_parameter(format!(
                "range must be one of 1h, 3h or 1d, got '{other}'"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Range::OneHour => "1h",
            Range::ThreeHours => "3h",
            Range::OneDay => "1d",
        }
    }

    fn step_seconds(self) -> i64 {
        match self {
            Range::OneHour | Range::ThreeHours => 60,
            Range::OneDay => 300,
        }
    }

    fn n_steps(self) -> i64 {
        let seconds = match self {
            Range::OneHour => 3_600,
            Range::ThreeHours => 3 * 3_600,
            Range::OneDay => 86_400,
        };
        seconds / self.step_seconds()
    }

    /// The steps' starts (ms) ending with the step that holds `now_ms`.
    fn steps(self, now_ms: i64) -> Steps {
        let step_ms = self.step_seconds() * 1_000;
        let last = now_ms.div_euclid(step_ms) * step_ms;
        Steps {
            first_ms: last - (self.n_steps() - 1) * step_ms,
            step_ms,
            n_steps: self.n_steps() as usize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Steps {
    first_ms: i64,
    step_ms: i64,
    n_steps: usize,
}

impl Steps {
    fn end_ms(self) -> i64 {
        self.first_ms + self.step_ms * self.n_steps as i64
    }

    /// Merges minutes into their steps, one entry per step.
    fn bucket(self, minutes: &[FunctionMinute]) -> Vec<MinuteStats> {
        let mut steps = vec![MinuteStats::default(); self.n_steps];
        for minute in minutes {
            if minute.minute_ms < self.first_ms {
                continue;
            }
            let idx = ((minute.minute_ms - self.first_ms) / self.step_ms) as usize;
            if let Some(step) = steps.get_mut(idx) {
                step.merge(&minute.stats);
            }
        }
        steps
    }
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    range: Option<String>,
}

#[derive(Debug, Serialize)]
struct FunctionMetrics {
    function: String,
    range: &'static str,
    step_seconds: i64,
    points: Vec<Point>,
}

#[derive(Debug, Serialize, PartialEq)]
struct Point {
    time: i64,
    invocations: u64,
    errors: u64,
    throttles: u64,
    cold_starts: u64,
    success_rate: Option<f64>,
    duration_p50_ms: Option<f64>,
    duration_p99_ms: Option<f64>,
    duration_max_ms: Option<f64>,
    concurrent_max: u32,
}

impl Point {
    fn new(time: i64, stats: &MinuteStats) -> Point {
        let has_durations = stats.duration.count() > 0;
        Point {
            time,
            invocations: stats.invocations(),
            errors: stats.errors(),
            throttles: stats.throttles,
            cold_starts: stats.cold_starts,
            success_rate: stats.success_rate().map(round),
            duration_p50_ms: stats.duration.quantile_ms(0.5).map(round),
            duration_p99_ms: stats.duration.quantile_ms(0.99).map(round),
            duration_max_ms: has_durations.then(|| round(stats.duration.max_ms)),
            concurrent_max: stats.concurrent_max,
        }
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    functions: Vec<FunctionSummary>,
}

#[derive(Debug, Serialize)]
struct FunctionSummary {
    name: String,
    invocations: u64,
    errors: u64,
    throttles: u64,
}

/// `GET /functions/{name}?range=`: one point per step over the range.
async fn function_metrics(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let range = match Range::parse(query.range.as_deref()) {
        Ok(range) => range,
        Err(error) => return error.into_response(),
    };
    let result = tokio::task::spawn_blocking(move || {
        if state.functions.get_function(&name)?.is_none() {
            return Err(LambdaError::function_not_found(
                &state.region.function_arn(&name),
            ));
        }
        let steps = range.steps(rayo_executor::now_ms());
        let minutes = state.invoker.executor().metrics().minutes(
            Some(&name),
            steps.first_ms,
            steps.end_ms(),
        )?;
        let points = steps
            .bucket(&minutes)
            .iter()
            .enumerate()
            .map(|(idx, stats)| Point::new(steps.first_ms + steps.step_ms * idx as i64, stats))
            .collect();
        Ok(FunctionMetrics {
            function: name,
            range: range.as_str(),
            step_seconds: range.step_seconds(),
            points,
        })
    })
    .await;
    match result {
        Ok(Ok(metrics)) => Json(metrics).into_response(),
        Ok(Err(error)) => error.into_response(),
        Err(error) => LambdaError::service(error.to_string()).into_response(),
    }
}

/// `GET /summary?range=`: every function's totals over the range.
async fn summary(State(state): State<Arc<ApiState>>, Query(query): Query<RangeQuery>) -> Response {
    let range = match Range::parse(query.range.as_deref()) {
        Ok(range) => range,
        Err(error) => return error.into_response(),
    };
    let result = tokio::task::spawn_blocking(move || -> Result<Summary, LambdaError> {
        let steps = range.steps(rayo_executor::now_ms());
        let minutes =
            state
                .invoker
                .executor()
                .metrics()
                .minutes(None, steps.first_ms, steps.end_ms())?;
        let mut by_function: BTreeMap<String, MinuteStats> = state
            .functions
            .list_functions(None, usize::MAX)?
            .into_iter()
            .map(|record| (record.config.name, MinuteStats::default()))
            .collect();
        for minute in &minutes {
            // Deleted functions' minutes stay until pruned; they are not listed.
            if let Some(stats) = by_function.get_mut(&minute.function_name) {
                stats.merge(&minute.stats);
            }
        }
        Ok(Summary {
            functions: by_function
                .into_iter()
                .map(|(name, stats)| FunctionSummary {
                    name,
                    invocations: stats.invocations(),
                    errors: stats.errors(),
                    throttles: stats.throttles,
                })
                .collect(),
        })
    })
    .await;
    match result {
        Ok(Ok(summary)) => Json(summary).into_response(),
        Ok(Err(error)) => error.into_response(),
        Err(error) => LambdaError::service(error.to_string()).into_response(),
    }
}

/// Three decimals are plenty for a chart, and keep the JSON short.
fn round(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use rayo_core::metrics::Outcome;

    use super::*;

    #[test]
    fn ranges() {
        fn check(text: Option<&str>, expected: Option<(&str, i64, i64)>) {
            let got = Range::parse(text)
                .ok()
                .map(|range| (range.as_str(), range.step_seconds(), range.n_steps()));
            assert_eq!(got, expected, "{text:?}");
        }
        check(None, Some(("1h", 60, 60)));
        check(Some("1h"), Some(("1h", 60, 60)));
        check(Some("3h"), Some(("3h", 60, 180)));
        check(Some("1d"), Some(("1d", 300, 288)));
        check(Some("2h"), None);
        check(Some(""), None);
        check(Some("1H"), None);
    }

    #[test]
    fn steps_end_with_the_current_one() {
        let now = 1_700_000_123_456;
        let steps = Range::OneHour.steps(now);
        assert_eq!(steps.step_ms, 60_000);
        assert_eq!(steps.first_ms + 59 * 60_000, 1_700_000_100_000);
        assert_eq!(steps.end_ms(), 1_700_000_160_000);
        let steps = Range::OneDay.steps(now);
        assert_eq!(steps.n_steps, 288);
        assert_eq!(steps.end_ms() - steps.step_ms, 1_700_000_100_000);
        assert!(steps.end_ms() > now && steps.first_ms > now - 86_400_000);
    }

    #[test]
    fn minutes_merge_into_steps() {
        let steps = Steps {
            first_ms: 600_000,
            step_ms: 300_000,
            n_steps: 3,
        };
        let minute = |minute_ms: i64, outcome: Outcome, duration_ms: f64| {
            let mut stats = MinuteStats::default();
            stats.record(outcome, Some(duration_ms), false);
            FunctionMinute {
                function_name: "f".to_string(),
                minute_ms,
                stats,
            }
        };
        let minutes = [
            // Before the range, and past it: left out.
            minute(540_000, Outcome::Success, 1.0),
            minute(1_500_000, Outcome::Success, 1.0),
            minute(600_000, Outcome::Success, 10.0),
            minute(840_000, Outcome::FunctionError, 30.0),
            // The same minute twice (stored and pending) adds up.
            minute(1_200_000, Outcome::Success, 4.0),
            minute(1_200_000, Outcome::Success, 4.0),
        ];
        let buckets = steps.bucket(&minutes);
        let points: Vec<Point> = buckets
            .iter()
            .enumerate()
            .map(|(idx, stats)| Point::new(600_000 + 300_000 * idx as i64, stats))
            .collect();
        assert_eq!(points[0].invocations, 2);
        assert_eq!(points[0].errors, 1);
        assert_eq!(points[0].success_rate, Some(50.0));
        assert_eq!(points[0].duration_max_ms, Some(30.0));
        assert_eq!(points[1].invocations, 0);
        assert_eq!(points[1].success_rate, None);
        assert_eq!(points[1].duration_p50_ms, None);
        assert_eq!(points[1].duration_max_ms, None);
        assert_eq!(points[2].time, 1_200_000);
        assert_eq!(points[2].invocations, 2);
        assert_eq!(points[2].duration_p99_ms, Some(4.0));
    }
}
