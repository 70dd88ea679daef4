//! The SQS API, in both protocols SQS speaks: JSON 1.0
//! (`X-Amz-Target: AmazonSQS.<Operation>`, what current SDKs send) and the
//! older query protocol (`Action=<Operation>` forms, answered in XML).
//! Both parse into the JSON protocol's input shapes and run the same
//! operations, a file per resource.

mod error;
mod json;
mod messages;
mod query;
mod queues;

use serde_json::Value;

use crate::ApiState;
use error::{ErrorCode, SqsError};

pub(crate) use json::handle as handle_json;
pub(crate) use query::{handle as handle_query, is_query_request};
pub use rayo_invoker::QueueNotifier;

/// The protocol a request came in, which its answer uses too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Json,
    Query,
}

/// What an operation knows of its request besides the input.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// The `Host` the client addressed, for the queue URLs it is given.
    pub(crate) host: String,
    pub(crate) protocol: Protocol,
}

/// Runs one operation on its input in the JSON protocol's shape and
/// answers in that shape.
pub(crate) async fn call(
    state: &ApiState,
    context: &RequestContext,
    operation: &str,
    input: Value,
) -> Result<Value, SqsError> {
    match operation {
        "CreateQueue" => queues::create_queue(state, context, input),
        "GetQueueUrl" => queues::get_queue_url(state, context, input),
        "ListQueues" => queues::list_queues(state, context, input),
        "DeleteQueue" => queues::delete_queue(state, input),
        "PurgeQueue" => queues::purge_queue(state, input),
        "GetQueueAttributes" => queues::get_queue_attributes(state, input),
        "SetQueueAttributes" => queues::set_queue_attributes(state, input),
        "ListDeadLetterSourceQueues" => {
            queues::list_dead_letter_source_queues(state, context, input)
        }
        "ListQueueTags" => queues::list_queue_tags(state, input),
        "TagQueue" => queues::tag_queue(state, input),
        "UntagQueue" => queues::untag_queue(state, input),
        "SendMessage" => messages::send_message(state, input),
        "SendMessageBatch" => messages::send_message_batch(state, input),
        "ReceiveMessage" => messages::receive_message(state, input).await,
        "DeleteMessage" => messages::delete_message(state, input),
        "DeleteMessageBatch" => messages::delete_message_batch(state, input),
        "ChangeMessageVisibility" => messages::change_message_visibility(state, input),
        "ChangeMessageVisibilityBatch" => messages::change_message_visibility_batch(state, input),
        _ => Err(match context.protocol {
            Protocol::Json => SqsError::new(
                ErrorCode::UnknownOperation,
                format!("Operation {operation} is not supported"),
            ),
            Protocol::Query => SqsError::new(
                ErrorCode::InvalidAction,
                format!("The action {operation} is not valid for this endpoint."),
            ),
        }),
    }
}
