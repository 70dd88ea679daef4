//! Messages Lambda itself sends to queues: invocation records to SQS
//! destinations and events to dead-letter queues. A message is made here,
//! with the checks `SendMessage` applies, and committed by the dispatcher
//! together with the end of the attempt that sent it.

use rayo_core::queue::{
    MessageAttribute, MessageAttributes, NewMessage, message_size, queue_name_from_arn,
    validate_message_body,
};
use rayo_core::store::StoreError;
use thiserror::Error;

use crate::Invoker;

/// Why a message could not be sent to a queue.
#[derive(Debug, Error)]
pub(crate) enum QueueSendError {
    /// The ARN does not name an SQS queue.
    #[error("{0} is not an SQS queue ARN")]
    NotAQueue(String),
    /// The queue does not exist (any more).
    #[error("the queue {0} does not exist")]
    NoSuchQueue(String),
    /// The queue refuses the message: too large, or characters SQS does not carry.
    #[error("the queue {queue} refuses the message: {reason}")]
    Refused {
        /// The queue's name.
        queue: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message for a queue, with the queue's name.
pub(crate) type QueueMessage = (String, NewMessage);

impl Invoker {
    /// Makes one message for the queue `queue_arn` names, as that queue
    /// takes it: on a FIFO queue the message is its own group (`group_id`)
    /// and deduplicated by its id. Returns the queue's name and the message.
    pub(crate) fn queue_message(
        &self,
        queue_arn: &str,
        body: String,
        attributes: MessageAttributes,
        group_id: &str,
    ) -> Result<QueueMessage, QueueSendError> {
        let queue_name = queue_name_from_arn(queue_arn)
            .ok_or_else(|| QueueSendError::NotAQueue(queue_arn.to_string()))?;
        let queue = self
            .queues
            .get_queue(queue_name)?
            .ok_or_else(|| QueueSendError::NoSuchQueue(queue_name.to_string()))?;
        let refused = |reason: String| QueueSendError::Refused {
            queue: queue_name.to_string(),
            reason,
        };
        validate_message_body(&body).map_err(|error| refused(error.to_string()))?;
        let size = message_size(&body, &attributes);
        if size > queue.attributes.maximum_message_size as usize {
            return Err(refused(format!(
                "{size} bytes, more than its MaximumMessageSize of {}",
                queue.attributes.maximum_message_size
            )));
        }
        let message_id = uuid::Uuid::new_v4().to_string();
        let fifo = queue.attributes.is_fifo();
        let message = NewMessage {
            message_id: message_id.clone(),
            body,
            attributes,
            system_attributes: MessageAttributes::new(),
            group_id: fifo.then(|| group_id.to_string()),
            deduplication_id: fifo.then_some(message_id),
            delay_seconds: queue.attributes.delay_seconds,
        };
        Ok((queue_name.to_string(), message))
    }
}

/// A `String` message attribute.
pub(crate) fn string_attribute(data_type: &str, value: impl Into<String>) -> MessageAttribute {
    MessageAttribute {
        data_type: data_type.to_string(),
        value: rayo_core::queue::AttributeValue::String(value.into()),
    }
}
