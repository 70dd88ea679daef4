//! Event source mappings (CreateEventSourceMapping): a queue that Lambda
//! polls for a function, the checks on their settings as Lambda words them,
//! and the [`EventSourceMappingStore`] trait that `state` implements.
//!
//! rayo's event sources are its own SQS queues; a poller in `invoker` runs
//! each enabled mapping.

use crate::arn::Region;
use crate::store::StoreError;
use crate::validation::ValidationError;

/// `BatchSize` when a mapping on a queue does not set one.
pub const SQS_BATCH_SIZE_DEFAULT: u32 = 10;
/// Largest `BatchSize` on a standard queue.
pub const SQS_BATCH_SIZE_MAX: u32 = 10_000;
/// Largest `BatchSize` on a FIFO queue.
pub const SQS_FIFO_BATCH_SIZE_MAX: u32 = 10;
/// Largest `BatchSize` allowed without a batching window.
pub const SQS_BATCH_SIZE_MAX_WITHOUT_WINDOW: u32 = 10;
/// Longest `MaximumBatchingWindowInSeconds`.
pub const BATCHING_WINDOW_MAX_SECONDS: u32 = 300;
/// Smallest `ScalingConfig.MaximumConcurrency`.
pub const MAXIMUM_CONCURRENCY_MIN: u32 = 2;
/// Largest `ScalingConfig.MaximumConcurrency`.
pub const MAXIMUM_CONCURRENCY_MAX: u32 = 1000;
/// The one `FunctionResponseTypes` value there is.
pub const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

/// One event source mapping: which queue feeds which function, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceMapping {
    /// The mapping's id, a UUID.
    pub uuid: String,
    /// The queue's ARN, `arn:aws:sqs:<region>:<account>:<name>`.
    pub event_source_arn: String,
    /// The function's name.
    pub function_name: String,
    /// The qualifier the mapping names the function with, if any.
    pub qualifier: Option<String>,
    /// Whether the queue is polled.
    pub enabled: bool,
    /// Most messages in one invocation's event.
    pub batch_size: u32,
    /// Seconds to gather messages before invoking, 0–300.
    pub maximum_batching_window_seconds: u32,
    /// Whether the function reports failed messages (`ReportBatchItemFailures`)
    /// rather than failing the whole batch.
    pub report_batch_item_failures: bool,
    /// Most concurrent invocations this mapping makes, when limited
    /// (`ScalingConfig.MaximumConcurrency`, 2–1000).
    pub maximum_concurrency: Option<u32>,
    /// When it was created, in milliseconds since the epoch; mappings are
    /// listed in creation order.
    pub created_ms: i64,
    /// When its settings last changed, in milliseconds since the epoch.
    pub last_modified_ms: i64,
}

impl EventSourceMapping {
    /// The queue's name, from the ARN.
    pub fn queue_name(&self) -> Option<&str> {
        crate::queue::queue_name_from_arn(&self.event_source_arn)
    }

    /// The function's ARN, qualified as the mapping names it.
    pub fn function_arn(&self, region: &Region) -> String {
        match &self.qualifier {
            Some(qualifier) => region.qualified_function_arn(&self.function_name, qualifier),
            None => region.function_arn(&self.function_name),
        }
    }

    /// The mapping's own ARN.
    pub fn arn(&self, region: &Region) -> String {
        format!(
            "arn:aws:lambda:{}:{}:event-source-mapping:{}",
            region.name, region.account_id, self.uuid
        )
    }
}

/// Which mappings `ListEventSourceMappings` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MappingFilter<'a> {
    /// Only mappings of this event source.
    pub event_source_arn: Option<&'a str>,
    /// Only mappings of this function (by name, any qualifier).
    pub function_name: Option<&'a str>,
}

/// Event source mappings, kept durably.
pub trait EventSourceMappingStore: Send + Sync + std::fmt::Debug {
    /// Adds a mapping; fails with [`StoreError::AlreadyExists`] when one of
    /// the same event source and function (and qualifier) exists.
    fn create_mapping(&self, mapping: &EventSourceMapping) -> Result<(), StoreError>;
    /// Reads a mapping by UUID.
    fn get_mapping(&self, uuid: &str) -> Result<Option<EventSourceMapping>, StoreError>;
    /// Mappings that match `filter`, in creation order, after the mapping
    /// created at `after` (its creation time and UUID).
    fn list_mappings(
        &self,
        filter: &MappingFilter<'_>,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<EventSourceMapping>, StoreError>;
    /// Replaces a mapping's settings; fails with [`StoreError::NotFound`]
    /// when it is gone and [`StoreError::AlreadyExists`] when another
    /// mapping has the same event source and function.
    fn update_mapping(&self, mapping: &EventSourceMapping) -> Result<(), StoreError>;
    /// Deletes a mapping; returns whether it existed.
    fn delete_mapping(&self, uuid: &str) -> Result<bool, StoreError>;
}

/// Checks a `BatchSize` against the model's range (1–10,000).
pub fn validate_batch_size(batch_size: i64) -> Result<u32, ValidationError> {
    if batch_size < 1 {
        return Err(ValidationError::constraint(
            "batchSize",
            &batch_size.to_string(),
            "Member must have value greater than or equal to 1",
        ));
    }
    if batch_size > i64::from(SQS_BATCH_SIZE_MAX) {
        return Err(ValidationError::constraint(
            "batchSize",
            &batch_size.to_string(),
            "Member must have value less than or equal to 10000",
        ));
    }
    Ok(batch_size as u32)
}

/// Checks a `MaximumBatchingWindowInSeconds` (0–300).
pub fn validate_batching_window(seconds: i64) -> Result<u32, ValidationError> {
    if seconds < 0 {
        return Err(ValidationError::constraint(
            "maximumBatchingWindowInSeconds",
            &seconds.to_string(),
            "Member must have value greater than or equal to 0",
        ));
    }
    if seconds > i64::from(BATCHING_WINDOW_MAX_SECONDS) {
        return Err(ValidationError::constraint(
            "maximumBatchingWindowInSeconds",
            &seconds.to_string(),
            "Member must have value less than or equal to 300",
        ));
    }
    Ok(seconds as u32)
}

/// Checks a `ScalingConfig.MaximumConcurrency` (2–1000).
pub fn validate_maximum_concurrency(maximum: i64) -> Result<u32, ValidationError> {
    if !(i64::from(MAXIMUM_CONCURRENCY_MIN)..=i64::from(MAXIMUM_CONCURRENCY_MAX)).contains(&maximum)
    {
        return Err(ValidationError::constraint(
            "scalingConfig.maximumConcurrency",
            &maximum.to_string(),
            "Member must have value between 2 and 1000",
        ));
    }
    Ok(maximum as u32)
}

/// Checks `FunctionResponseTypes`: at most one, `ReportBatchItemFailures`.
/// Returns whether it is set.
pub fn validate_function_response_types(types: &[String]) -> Result<bool, ValidationError> {
    if types.len() > 1 {
        return Err(ValidationError::constraint(
            "functionResponseTypes",
            &format!("[{}]", types.join(", ")),
            "Member must have length less than or equal to 1",
        ));
    }
    match types.first() {
        None => Ok(false),
        Some(value) if value == REPORT_BATCH_ITEM_FAILURES => Ok(true),
        Some(value) => Err(ValidationError::constraint(
            "functionResponseTypes",
            &format!("[{value}]"),
            "Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]",
        )),
    }
}

/// Checks a queue mapping's batch settings together, as Lambda does: a
/// batch of more than ten needs a batching window of at least a second, and
/// a FIFO queue takes batches of at most ten and no window.
pub fn check_sqs_batching(
    batch_size: u32,
    maximum_batching_window_seconds: u32,
    fifo: bool,
) -> Result<(), ValidationError> {
    if fifo {
        if batch_size > SQS_FIFO_BATCH_SIZE_MAX {
            return Err(ValidationError::invalid(format!(
                "Batch size for FIFO SQS queues must be between 1 and {SQS_FIFO_BATCH_SIZE_MAX}"
            )));
        }
        if maximum_batching_window_seconds > 0 {
            return Err(ValidationError::invalid(
                "Batching window is not supported for FIFO queues",
            ));
        }
    }
    if batch_size > SQS_BATCH_SIZE_MAX_WITHOUT_WINDOW && maximum_batching_window_seconds == 0 {
        return Err(ValidationError::invalid(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ));
    }
    Ok(())
}

/// The region, account and queue name of an SQS queue ARN.
pub fn parse_queue_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sqs", region, account, name]
            if partition.starts_with("aws") && !name.is_empty() =>
        {
            Some((region, account, name))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batching_rules() {
        let check = |batch_size: u32, window: u32, fifo: bool, ok: bool| {
            assert_eq!(
                check_sqs_batching(batch_size, window, fifo).is_ok(),
                ok,
                "batch {batch_size}, window {window}, fifo {fifo}"
            );
        };
        check(1, 0, false, true);
        check(10, 0, false, true);
        check(11, 0, false, false);
        check(11, 1, false, true);
        check(10_000, 300, false, true);
        check(10, 0, true, true);
        check(11, 1, true, false);
        check(5, 1, true, false);
    }

    #[test]
    fn ranges() {
        assert!(validate_batch_size(0).is_err());
        assert_eq!(validate_batch_size(1), Ok(1));
        assert_eq!(validate_batch_size(10_000), Ok(10_000));
        assert!(validate_batch_size(10_001).is_err());
        assert!(validate_batching_window(-1).is_err());
        assert_eq!(validate_batching_window(300), Ok(300));
        assert!(validate_batching_window(301).is_err());
        assert!(validate_maximum_concurrency(1).is_err());
        assert_eq!(validate_maximum_concurrency(2), Ok(2));
        assert!(validate_maximum_concurrency(1001).is_err());
    }

    #[test]
    fn response_types() {
        let types = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(validate_function_response_types(&types(&[])), Ok(false));
        assert_eq!(
            validate_function_response_types(&types(&["ReportBatchItemFailures"])),
            Ok(true)
        );
        assert!(validate_function_response_types(&types(&["Other"])).is_err());
        assert!(
            validate_function_response_types(&types(&[
                "ReportBatchItemFailures",
                "ReportBatchItemFailures"
            ]))
            .is_err()
        );
    }

    #[test]
    fn arns() {
        assert_eq!(
            parse_queue_arn("arn:aws:sqs:eu-west-1:123456789012:q"),
            Some(("eu-west-1", "123456789012", "q"))
        );
        assert_eq!(
            parse_queue_arn("arn:aws:kinesis:eu-west-1:1:stream/s"),
            None
        );
        assert_eq!(parse_queue_arn("arn:aws:sqs:eu-west-1:1:"), None);
        let region = Region {
            name: "eu-west-1".to_string(),
            account_id: "123456789012".to_string(),
        };
        let mapping = EventSourceMapping {
            uuid: "6f6f2c5e-0000-4000-8000-000000000000".to_string(),
            event_source_arn: "arn:aws:sqs:eu-west-1:123456789012:q".to_string(),
            function_name: "f".to_string(),
            qualifier: None,
            enabled: true,
            batch_size: 10,
            maximum_batching_window_seconds: 0,
            report_batch_item_failures: false,
            maximum_concurrency: None,
            created_ms: 0,
            last_modified_ms: 0,
        };
        assert_eq!(mapping.queue_name(), Some("q"));
        assert_eq!(
            mapping.function_arn(&region),
            "arn:aws:lambda:eu-west-1:123456789012:function:f"
        );
        assert_eq!(
            mapping.arn(&region),
            "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:6f6f2c5e-0000-4000-8000-000000000000"
        );
    }
}
