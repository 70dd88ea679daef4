//! Messages Lambda itself sends to queues: invocation records to SQS
//! destinations and events to dead-letter queues. A message is committed to
//! the queue store before the sender moves on, like any `SendMessage`.

use rayo_core::queue::{
    MessageAttribute, MessageAttributes, NewMessage, message_size, queue_name_from_arn,
    validate_message_body,
};
use rayo_core::store::StoreError;
use thiserror::Error;

use crate::Invoker;
use crate::dispatcher::now_ms;

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

impl Invoker {
    /// Sends one message to the queue `queue_arn` names and wakes its
    /// receivers; returns the message id. On a FIFO queue the message is
    /// its own group (`group_id`) and deduplicated by its id.
    pub(crate) fn send_to_queue(
        &self,
        queue_arn: &str,
        body: String,
        attributes: MessageAttributes,
        group_id: &str,
    ) -> Result<String, QueueSendError> {
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
            deduplication_id: fifo.then(|| message_id.clone()),
            delay_seconds: queue.attributes.delay_seconds,
        };
        self.queues
            .send_messages(queue_name, &[message], now_ms())?
            .ok_or_else(|| QueueSendError::NoSuchQueue(queue_name.to_string()))?;
        self.queue_notifier.notify(queue_name);
        Ok(message_id)
    }
}

/// A `String` message attribute.
pub(crate) fn string_attribute(data_type: &str, value: impl Into<String>) -> MessageAttribute {
    MessageAttribute {
        data_type: data_type.to_string(),
        value: rayo_core::queue::AttributeValue::String(value.into()),
    }
}
