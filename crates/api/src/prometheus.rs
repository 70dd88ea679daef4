//! `/metrics`: rayo's figures in the OpenMetrics text format that Prometheus
//! scrapes. Counters and the duration histogram are cumulative since the
//! server started (the recorder's totals); gauges are read at the scrape:
//! executions running, instances, SQS queues' and the async queue's depths.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use rayo_core::metrics::{DURATION_BUCKET_BOUNDS_MS, MinuteStats, Outcome};
use rayo_core::queue::QueueCounts;
use rayo_core::store::AsyncQueueCounts;
use rayo_executor::FunctionInstances;

use crate::{ApiState, LambdaError};

/// The content type of the OpenMetrics text format.
const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` (and `/_rayo/metrics`).
pub(crate) async fn scrape(State(state): State<Arc<ApiState>>) -> Response {
    let instances = state.invoker.executor().instances().await;
    let result = tokio::task::spawn_blocking(move || snapshot(&state, instances)).await;
    let snapshot = match result {
        Ok(Ok(snapshot)) => snapshot,
        Ok(Err(error)) => return error.into_response(),
        Err(error) => return LambdaError::service(error.to_string()).into_response(),
    };
    let mut registry = Registry::default();
    registry.register(
        "rayo_build",
        "The version of rayo serving",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        return LambdaError::service(error.to_string()).into_response();
    }
    ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], text).into_response()
}

/// Everything one scrape reports, gathered before encoding.
#[derive(Debug, Default)]
struct Snapshot {
    /// Per function, by name: totals since start, executions running now,
    /// and instances.
    functions: Vec<FunctionSnapshot>,
    /// Per SQS queue, by name.
    queues: Vec<(String, QueueCounts)>,
    async_queue: AsyncQueueCounts,
}

#[derive(Debug, Default)]
struct FunctionSnapshot {
    name: String,
    totals: MinuteStats,
    running: u32,
    idle_instances: u32,
    busy_instances: u32,
}

fn snapshot(state: &ApiState, instances: Vec<FunctionInstances>) -> Result<Snapshot, LambdaError> {
    // Every function that exists, has counts, or has instances.
    let mut names: BTreeSet<String> = state
        .functions
        .list_functions(None, usize::MAX)?
        .into_iter()
        .map(|record| record.config.name)
        .collect();
    let totals = state.invoker.executor().metrics().totals();
    names.extend(totals.iter().map(|t| t.function_name.clone()));
    names.extend(instances.iter().map(|i| i.function_name.clone()));
    let functions = names
        .into_iter()
        .map(|name| {
            let mut function = FunctionSnapshot {
                name,
                ..FunctionSnapshot::default()
            };
            if let Some(t) = totals.iter().find(|t| t.function_name == function.name) {
                function.totals = t.totals;
                function.running = t.running;
            }
            if let Some(i) = instances.iter().find(|i| i.function_name == function.name) {
                function.idle_instances = i.idle;
                function.busy_instances = i.busy;
            }
            function
        })
        .collect();
    let now_ms = rayo_executor::now_ms();
    let mut queues = Vec::new();
    for queue in state.queues.list_queues(None, None, usize::MAX)? {
        if let Some(counts) = state.queues.queue_counts(&queue.name, now_ms)? {
            queues.push((queue.name, counts));
        }
    }
    let async_queue = state
        .invoker
        .async_queue_counts()
        .map_err(|error| LambdaError::service(error.to_string()))?;
    Ok(Snapshot {
        functions,
        queues,
        async_queue,
    })
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "rayo_invocations",
            "Invocations that ran or failed to start, by outcome (throttled ones are rayo_throttles_total).",
            None,
            MetricType::Counter,
        )?;
        for function in &self.functions {
            for outcome in Outcome::ALL {
                let labels = [
                    ("function", function.name.as_str()),
                    ("outcome", outcome.as_str()),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&function.totals.count(outcome), None)?;
            }
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_invocation_duration",
            "How long invocations ran, as on their REPORT line.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for function in &self.functions {
            let histogram = &function.totals.duration;
            let buckets: Vec<(f64, u64)> = DURATION_BUCKET_BOUNDS_MS
                .iter()
                .map(|bound_ms| bound_ms / 1_000.0)
                .chain([f64::INFINITY])
                .zip(histogram.counts)
                .collect();
            metric
                .encode_family(&[("function", function.name.as_str())])?
                .encode_histogram::<NoLabelSet>(
                    histogram.sum_ms / 1_000.0,
                    histogram.count(),
                    &buckets,
                    None,
                )?;
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_cold_starts",
            "Invocations that started a new instance.",
            None,
            MetricType::Counter,
        )?;
        for function in &self.functions {
            metric
                .encode_family(&[("function", function.name.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&function.totals.cold_starts, None)?;
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_throttles",
            "Invocations refused by the function's reserved or the account's concurrency limit.",
            None,
            MetricType::Counter,
        )?;
        for function in &self.functions {
            metric
                .encode_family(&[("function", function.name.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&function.totals.throttles, None)?;
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_concurrent_executions",
            "Invocations of the function running now.",
            None,
            MetricType::Gauge,
        )?;
        for function in &self.functions {
            metric
                .encode_family(&[("function", function.name.as_str())])?
                .encode_gauge(&function.running)?;
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_instances",
            "The function's instances: idle (warm, waiting) or busy (running or starting).",
            None,
            MetricType::Gauge,
        )?;
        for function in &self.functions {
            for (state, count) in [
                ("idle", function.idle_instances),
                ("busy", function.busy_instances),
            ] {
                metric
                    .encode_family(&[("function", function.name.as_str()), ("state", state)])?
                    .encode_gauge(&count)?;
            }
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_queue_messages",
            "Messages in an SQS queue: visible, in flight (received, not deleted) or delayed.",
            None,
            MetricType::Gauge,
        )?;
        for (name, counts) in &self.queues {
            for (state, count) in [
                ("visible", counts.visible),
                ("in_flight", counts.not_visible),
                ("delayed", counts.delayed),
            ] {
                metric
                    .encode_family(&[("queue", name.as_str()), ("state", state)])?
                    .encode_gauge(&count)?;
            }
        }

        let mut metric = encoder.encode_descriptor(
            "rayo_async_invocations",
            "Asynchronous invocations in the durable queue: waiting (due), running, or delayed (until a retry).",
            None,
            MetricType::Gauge,
        )?;
        for (state, count) in [
            ("waiting", self.async_queue.waiting),
            ("running", self.async_queue.running),
            ("delayed", self.async_queue.delayed),
        ] {
            metric
                .encode_family(&[("state", state)])?
                .encode_gauge(&count)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_openmetrics() {
        let mut totals = MinuteStats::default();
        totals.record(Outcome::Success, Some(3.0), true);
        totals.record(Outcome::Success, Some(1_500.0), false);
        totals.record(Outcome::Timeout, Some(2_000_000.0), false);
        totals.throttles = 4;
        let snapshot = Snapshot {
            functions: vec![FunctionSnapshot {
                name: "f".to_string(),
                totals,
                running: 1,
                idle_instances: 2,
                busy_instances: 1,
            }],
            queues: vec![(
                "q".to_string(),
                QueueCounts {
                    visible: 5,
                    not_visible: 1,
                    delayed: 0,
                },
            )],
            async_queue: AsyncQueueCounts {
                waiting: 7,
                running: 0,
                delayed: 2,
            },
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(snapshot));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "# TYPE rayo_invocations counter",
            r#"rayo_invocations_total{function="f",outcome="success"} 2"#,
            r#"rayo_invocations_total{function="f",outcome="timeout"} 1"#,
            r#"rayo_invocations_total{function="f",outcome="function_error"} 0"#,
            "# TYPE rayo_invocation_duration_seconds histogram",
            "# UNIT rayo_invocation_duration_seconds seconds",
            r#"rayo_invocation_duration_seconds_count{function="f"} 3"#,
            r#"rayo_invocation_duration_seconds_bucket{le="0.005",function="f"} 1"#,
            r#"rayo_invocation_duration_seconds_bucket{le="2.0",function="f"} 2"#,
            r#"rayo_invocation_duration_seconds_bucket{le="900.0",function="f"} 2"#,
            r#"rayo_invocation_duration_seconds_bucket{le="+Inf",function="f"} 3"#,
            r#"rayo_cold_starts_total{function="f"} 1"#,
            r#"rayo_throttles_total{function="f"} 4"#,
            r#"rayo_concurrent_executions{function="f"} 1"#,
            r#"rayo_instances{function="f",state="idle"} 2"#,
            r#"rayo_queue_messages{queue="q",state="visible"} 5"#,
            r#"rayo_queue_messages{queue="q",state="in_flight"} 1"#,
            r#"rayo_async_invocations{state="delayed"} 2"#,
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
