//! Message operations: SendMessage(Batch), ReceiveMessage (with long
//! polling), DeleteMessage(Batch) and ChangeMessageVisibility(Batch).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rayo_core::queue::{
    AttributeValue, BATCH_ENTRIES_MAX, BATCH_PAYLOAD_MAX_BYTES, DELAY_SECONDS_MAX, HandleOutcome,
    MessageAttribute, MessageAttributes, NewMessage, QueueRecord, RECEIVE_MESSAGES_MAX,
    ReceiptHandle, ReceiveRequest, ReceivedMessage, VISIBILITY_TIMEOUT_MAX_SECONDS,
    WAIT_TIME_SECONDS_MAX, is_batch_entry_id, is_fifo_id, md5_hex, md5_of_message_attributes,
    message_size, sequence_number, validate_message_attributes, validate_message_body,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::error::{ErrorCode, SqsError};
use super::queues::{now_ms, parse, require_queue};
use crate::ApiState;

/// A message attribute as both protocols send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MessageAttributeInput {
    data_type: Option<String>,
    string_value: Option<String>,
    /// Base64, in JSON and in forms alike.
    binary_value: Option<String>,
}

/// The parts of a message that `SendMessage` and a batch entry share.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MessageInput {
    message_body: String,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: BTreeMap<String, MessageAttributeInput>,
    #[serde(default)]
    message_system_attributes: BTreeMap<String, MessageAttributeInput>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageInput {
    queue_url: String,
    #[serde(flatten)]
    message: MessageInput,
}

pub(crate) fn send_message(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: SendMessageInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    let message = prepare_message(&queue, input.message)?;
    let sent = state
        .queues
        .send_messages(&queue.name, std::slice::from_ref(&message), now_ms())?
        .ok_or_else(SqsError::queue_does_not_exist)?;
    state.queue_notifier.notify(&queue.name);
    let sent = sent.first().expect("one message sent, one outcome");
    let mut out = send_result(&message, &sent.message_id);
    if queue.attributes.is_fifo() {
        out["SequenceNumber"] = json!(sequence_number(sent.seq));
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatchEntry {
    id: String,
    #[serde(flatten)]
    message: MessageInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatchInput {
    queue_url: String,
    #[serde(default)]
    entries: Vec<SendMessageBatchEntry>,
}

pub(crate) fn send_message_batch(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: SendMessageBatchInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    check_batch(
        input.entries.iter().map(|e| e.id.as_str()),
        "SendMessageBatchRequestEntry",
    )?;
    let total: usize = input
        .entries
        .iter()
        .map(|e| {
            e.message.message_body.len() + input_attributes_size(&e.message.message_attributes)
        })
        .sum();
    if total > BATCH_PAYLOAD_MAX_BYTES {
        return Err(SqsError::new(
            ErrorCode::BatchRequestTooLong,
            format!(
                "Batch requests cannot be longer than {BATCH_PAYLOAD_MAX_BYTES} bytes. You have sent {total} bytes."
            ),
        ));
    }
    let mut failed = Vec::new();
    let mut accepted = Vec::new();
    for entry in input.entries {
        match prepare_message(&queue, entry.message) {
            Ok(message) => accepted.push((entry.id, message)),
            Err(error) => failed.push(failed_entry(&entry.id, &error)),
        }
    }
    let messages: Vec<NewMessage> = accepted.iter().map(|(_, m)| m.clone()).collect();
    let sent = if messages.is_empty() {
        Vec::new()
    } else {
        let sent = state
            .queues
            .send_messages(&queue.name, &messages, now_ms())?
            .ok_or_else(SqsError::queue_does_not_exist)?;
        state.queue_notifier.notify(&queue.name);
        sent
    };
    let successful: Vec<Value> = accepted
        .iter()
        .zip(&sent)
        .map(|((id, message), sent)| {
            let mut out = send_result(message, &sent.message_id);
            out["Id"] = json!(id);
            if queue.attributes.is_fifo() {
                out["SequenceNumber"] = json!(sequence_number(sent.seq));
            }
            out
        })
        .collect();
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageInput {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    max_number_of_messages: Option<i64>,
    visibility_timeout: Option<i64>,
    wait_time_seconds: Option<i64>,
}

pub(crate) async fn receive_message(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: ReceiveMessageInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    let max_messages = match input.max_number_of_messages {
        None => 1,
        Some(n) if (1..=i64::from(RECEIVE_MESSAGES_MAX)).contains(&n) => n as usize,
        Some(n) => {
            return Err(SqsError::invalid_value(
                "MaxNumberOfMessages",
                n,
                "Must be between 1 and 10, if provided.",
            ));
        }
    };
    let visibility_timeout_seconds = match input.visibility_timeout {
        None => None,
        Some(n) if (0..=i64::from(VISIBILITY_TIMEOUT_MAX_SECONDS)).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(SqsError::invalid_value(
                "VisibilityTimeout",
                n,
                "Must be >= 0 and <= 43200, if provided.",
            ));
        }
    };
    let wait_seconds = match input.wait_time_seconds {
        None => queue.attributes.receive_message_wait_time_seconds,
        Some(n) if (0..=i64::from(WAIT_TIME_SECONDS_MAX)).contains(&n) => n as u32,
        Some(n) => {
            return Err(SqsError::invalid_value(
                "WaitTimeSeconds",
                n,
                "Must be >= 0 and <= 20, if provided.",
            ));
        }
    };
    let mut system_names = input.attribute_names;
    system_names.extend(input.message_system_attribute_names);
    let selection = Selection {
        system_names,
        attribute_names: input.message_attribute_names,
    };

    let deadline = Instant::now() + Duration::from_secs(u64::from(wait_seconds));
    loop {
        // Registered before looking, so a send in between wakes this poll.
        let notified = state.queue_notifier.notified(&queue.name);
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        let request = ReceiveRequest {
            max_messages,
            visibility_timeout_seconds,
            receive_id: uuid::Uuid::new_v4().simple().to_string(),
            now_ms: now,
        };
        let received = state
            .queues
            .receive_messages(&queue.name, &request)?
            .ok_or_else(SqsError::queue_does_not_exist)?;
        for dead_letter_queue in &received.moved_to {
            state.queue_notifier.notify(dead_letter_queue);
        }
        if !received.messages.is_empty() {
            let messages: Vec<Value> = received
                .messages
                .iter()
                .map(|m| render_message(state, m, &selection))
                .collect();
            return Ok(json!({ "Messages": messages }));
        }
        let wake_at = match received.next_visible_ms {
            Some(visible_ms) => {
                let until = Duration::from_millis(u64::try_from(visible_ms - now).unwrap_or(0));
                deadline.min(Instant::now() + until)
            }
            None => deadline,
        };
        if Instant::now() >= deadline || state.queue_notifier.is_closed() {
            return Ok(json!({}));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = state.queue_notifier.closed() => {}
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageInput {
    queue_url: String,
    receipt_handle: String,
}

pub(crate) fn delete_message(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: DeleteMessageInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    delete_one(state, &queue, &input.receipt_handle)?;
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageBatchEntry {
    id: String,
    receipt_handle: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageBatchInput {
    queue_url: String,
    #[serde(default)]
    entries: Vec<DeleteMessageBatchEntry>,
}

pub(crate) fn delete_message_batch(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: DeleteMessageBatchInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    check_batch(
        input.entries.iter().map(|e| e.id.as_str()),
        "DeleteMessageBatchRequestEntry",
    )?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for entry in &input.entries {
        match delete_one(state, &queue, &entry.receipt_handle) {
            Ok(()) => successful.push(json!({ "Id": entry.id })),
            Err(error) if error.code == ErrorCode::InternalError => return Err(error),
            Err(error) => failed.push(failed_entry(&entry.id, &error)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeMessageVisibilityInput {
    queue_url: String,
    receipt_handle: String,
    visibility_timeout: i64,
}

pub(crate) fn change_message_visibility(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: ChangeMessageVisibilityInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    change_one(
        state,
        &queue,
        &input.receipt_handle,
        input.visibility_timeout,
    )?;
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeMessageVisibilityBatchEntry {
    id: String,
    receipt_handle: String,
    visibility_timeout: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeMessageVisibilityBatchInput {
    queue_url: String,
    #[serde(default)]
    entries: Vec<ChangeMessageVisibilityBatchEntry>,
}

pub(crate) fn change_message_visibility_batch(
    state: &ApiState,
    input: Value,
) -> Result<Value, SqsError> {
    let input: ChangeMessageVisibilityBatchInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    check_batch(
        input.entries.iter().map(|e| e.id.as_str()),
        "ChangeMessageVisibilityBatchRequestEntry",
    )?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for entry in &input.entries {
        let result = change_one(
            state,
            &queue,
            &entry.receipt_handle,
            entry.visibility_timeout.unwrap_or(0),
        );
        match result {
            Ok(()) => successful.push(json!({ "Id": entry.id })),
            Err(error) if error.code == ErrorCode::InternalError => return Err(error),
            Err(error) => failed.push(failed_entry(&entry.id, &error)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

/// Which attributes a receive asked to see.
#[derive(Debug, Default)]
struct Selection {
    /// Message system attributes (`All` for every one).
    system_names: Vec<String>,
    /// Message attributes: names, `All` or `.*`, and `prefix.*`.
    attribute_names: Vec<String>,
}

impl Selection {
    fn wants_system(&self, name: &str) -> bool {
        self.system_names.iter().any(|n| n == "All" || n == name)
    }

    fn wants_attribute(&self, name: &str) -> bool {
        self.attribute_names.iter().any(|pattern| {
            pattern == "All"
                || pattern == ".*"
                || pattern == name
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| prefix.ends_with('.') && name.starts_with(prefix))
        })
    }
}

/// Validates a message for `queue` and makes it ready to store.
fn prepare_message(queue: &QueueRecord, input: MessageInput) -> Result<NewMessage, SqsError> {
    validate_message_body(&input.message_body)?;
    let attributes = convert_attributes(input.message_attributes)?;
    validate_message_attributes(&attributes)?;
    let system_attributes = convert_attributes(input.message_system_attributes)?;
    for (name, attribute) in &system_attributes {
        if name != "AWSTraceHeader" || attribute.data_type != "String" {
            return Err(SqsError::invalid_parameter(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
    }
    let max_size = queue.attributes.maximum_message_size;
    if message_size(&input.message_body, &attributes) > max_size as usize {
        return Err(SqsError::invalid_parameter(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max_size} bytes."
        )));
    }
    let fifo = queue.attributes.fifo.as_ref();
    let delay_seconds = match (input.delay_seconds, fifo) {
        (None, _) => queue.attributes.delay_seconds,
        (Some(delay), Some(_)) => {
            return Err(SqsError::invalid_value(
                "DelaySeconds",
                delay,
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        (Some(delay), None) if (0..=i64::from(DELAY_SECONDS_MAX)).contains(&delay) => delay as u32,
        (Some(delay), None) => {
            return Err(SqsError::invalid_value(
                "DelaySeconds",
                delay,
                "DelaySeconds must be >= 0 and <= 900.",
            ));
        }
    };
    for (parameter, id) in [
        ("MessageGroupId", &input.message_group_id),
        ("MessageDeduplicationId", &input.message_deduplication_id),
    ] {
        if let Some(id) = id
            && !is_fifo_id(id)
        {
            return Err(SqsError::invalid_value(
                parameter,
                id,
                &format!(
                    "{parameter} can only include alphanumeric and punctuation characters. 1 to 128 in length."
                ),
            ));
        }
    }
    let deduplication_id = match fifo {
        Some(fifo) => {
            if input.message_group_id.is_none() {
                return Err(SqsError::missing_parameter("MessageGroupId"));
            }
            match input.message_deduplication_id {
                Some(id) => Some(id),
                None if fifo.content_based_deduplication => {
                    Some(hex::encode(Sha256::digest(input.message_body.as_bytes())))
                }
                None => {
                    return Err(SqsError::invalid_parameter(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ));
                }
            }
        }
        None => {
            if let Some(id) = input.message_deduplication_id {
                return Err(SqsError::invalid_value(
                    "MessageDeduplicationId",
                    id,
                    "The request includes a parameter that is not valid for this queue type.",
                ));
            }
            None
        }
    };
    Ok(NewMessage {
        message_id: uuid::Uuid::new_v4().to_string(),
        body: input.message_body,
        attributes,
        system_attributes,
        group_id: input.message_group_id,
        deduplication_id,
        delay_seconds,
    })
}

fn convert_attributes(
    inputs: BTreeMap<String, MessageAttributeInput>,
) -> Result<MessageAttributes, SqsError> {
    inputs
        .into_iter()
        .map(|(name, input)| {
            let data_type = input.data_type.unwrap_or_default();
            let value = match (input.string_value, input.binary_value) {
                (Some(text), None) => AttributeValue::String(text),
                (None, Some(encoded)) => {
                    AttributeValue::Binary(STANDARD.decode(encoded.as_bytes()).map_err(|_| {
                        SqsError::invalid_parameter(format!(
                            "The binary value of message attribute '{name}' is not valid base64."
                        ))
                    })?)
                }
                (None, None) => {
                    return Err(SqsError::invalid_parameter(format!(
                        "The message attribute '{name}' must contain a non-empty message attribute value for message attribute type '{data_type}'."
                    )));
                }
                (Some(_), Some(_)) => {
                    return Err(SqsError::invalid_parameter(format!(
                        "Message attribute '{name}' must contain exactly one of StringValue or BinaryValue."
                    )));
                }
            };
            Ok((name, MessageAttribute { data_type, value }))
        })
        .collect()
}

/// Bytes of attributes as sent, counted like [`message_size`] before they
/// are validated (binary values still in base64, which only overcounts).
fn input_attributes_size(attributes: &BTreeMap<String, MessageAttributeInput>) -> usize {
    attributes
        .iter()
        .map(|(name, a)| {
            name.len()
                + a.data_type.as_ref().map_or(0, String::len)
                + a.string_value.as_ref().map_or(0, String::len)
                + a.binary_value.as_ref().map_or(0, |b| b.len() / 4 * 3)
        })
        .sum()
}

/// What `SendMessage` answers about a stored message.
fn send_result(message: &NewMessage, message_id: &str) -> Value {
    let mut out = json!({
        "MessageId": message_id,
        "MD5OfMessageBody": md5_hex(message.body.as_bytes()),
    });
    if let Some(md5) = md5_of_message_attributes(&message.attributes) {
        out["MD5OfMessageAttributes"] = json!(md5);
    }
    if let Some(md5) = md5_of_message_attributes(&message.system_attributes) {
        out["MD5OfMessageSystemAttributes"] = json!(md5);
    }
    out
}

/// A received message in the JSON shape, with the attributes asked for.
fn render_message(state: &ApiState, received: &ReceivedMessage, selection: &Selection) -> Value {
    let message = &received.message;
    let mut out = json!({
        "MessageId": message.message_id,
        "ReceiptHandle": received.receipt_handle.encode(),
        "MD5OfBody": md5_hex(message.body.as_bytes()),
        "Body": message.body,
    });
    let mut system = serde_json::Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value
            && selection.wants_system(name)
        {
            system.insert(name.to_string(), json!(value));
        }
    };
    put("SenderId", Some(state.region.account_id.clone()));
    put("SentTimestamp", Some(message.sent_ms.to_string()));
    put(
        "ApproximateReceiveCount",
        Some(message.receive_count.to_string()),
    );
    put(
        "ApproximateFirstReceiveTimestamp",
        message.first_receive_ms.map(|ms| ms.to_string()),
    );
    if message.deduplication_id.is_some() {
        put("SequenceNumber", Some(message.sequence_number()));
    }
    put("MessageDeduplicationId", message.deduplication_id.clone());
    put("MessageGroupId", message.group_id.clone());
    put(
        "AWSTraceHeader",
        message
            .system_attributes
            .get("AWSTraceHeader")
            .and_then(|a| match &a.value {
                AttributeValue::String(s) => Some(s.clone()),
                AttributeValue::Binary(_) => None,
            }),
    );
    put(
        "DeadLetterQueueSourceArn",
        message.dead_letter_source_arn.clone(),
    );
    if !system.is_empty() {
        out["Attributes"] = Value::Object(system);
    }
    let returned: MessageAttributes = message
        .attributes
        .iter()
        .filter(|(name, _)| selection.wants_attribute(name))
        .map(|(name, attribute)| (name.clone(), attribute.clone()))
        .collect();
    // The digest covers the attributes returned, so that a client can check it.
    if let Some(md5) = md5_of_message_attributes(&returned) {
        out["MD5OfMessageAttributes"] = json!(md5);
        let attributes: serde_json::Map<String, Value> = returned
            .iter()
            .map(|(name, attribute)| {
                let value = match &attribute.value {
                    AttributeValue::String(s) => {
                        json!({ "StringValue": s, "DataType": attribute.data_type })
                    }
                    AttributeValue::Binary(b) => {
                        json!({ "BinaryValue": STANDARD.encode(b), "DataType": attribute.data_type })
                    }
                };
                (name.clone(), value)
            })
            .collect();
        out["MessageAttributes"] = Value::Object(attributes);
    }
    out
}

fn decode_handle(queue: &QueueRecord, text: &str) -> Result<ReceiptHandle, SqsError> {
    ReceiptHandle::decode(text)
        .filter(|handle| handle.queue_name == queue.name)
        .ok_or_else(|| {
            SqsError::new(
                ErrorCode::ReceiptHandleIsInvalid,
                format!("The input receipt handle \"{text}\" is not a valid receipt handle."),
            )
        })
}

fn delete_one(state: &ApiState, queue: &QueueRecord, text: &str) -> Result<(), SqsError> {
    let handle = decode_handle(queue, text)?;
    match state.queues.delete_message(&handle)? {
        // A stale handle on a standard queue succeeds without deleting, as
        // SQS may; on a FIFO queue it has expired.
        HandleOutcome::NotCurrent if queue.attributes.is_fifo() => Err(SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            "The receipt handle has expired.",
        )),
        _ => Ok(()),
    }
}

fn change_one(
    state: &ApiState,
    queue: &QueueRecord,
    text: &str,
    visibility_timeout: i64,
) -> Result<(), SqsError> {
    let handle = decode_handle(queue, text)?;
    if !(0..=i64::from(VISIBILITY_TIMEOUT_MAX_SECONDS)).contains(&visibility_timeout) {
        return Err(SqsError::invalid_value(
            "VisibilityTimeout",
            visibility_timeout,
            "Must be >= 0 and <= 43200, if provided.",
        ));
    }
    let outcome =
        state
            .queues
            .change_message_visibility(&handle, visibility_timeout as u32, now_ms())?;
    match outcome {
        HandleOutcome::Done => {
            state.queue_notifier.notify(&queue.name);
            Ok(())
        }
        HandleOutcome::NotCurrent | HandleOutcome::NotInFlight | HandleOutcome::NotFound => {
            Err(SqsError::invalid_value(
                "ReceiptHandle",
                text,
                "Message does not exist or is not available for visibility timeout change.",
            ))
        }
    }
}

/// The checks every batch request passes before any entry runs.
fn check_batch<'a>(
    ids: impl ExactSizeIterator<Item = &'a str>,
    entry_name: &str,
) -> Result<(), SqsError> {
    let n_entries = ids.len();
    if n_entries == 0 {
        return Err(SqsError::new(
            ErrorCode::EmptyBatchRequest,
            format!("There should be at least one {entry_name} in the request."),
        ));
    }
    if n_entries > BATCH_ENTRIES_MAX {
        return Err(SqsError::new(
            ErrorCode::TooManyEntriesInBatchRequest,
            format!(
                "Maximum number of entries per request are {BATCH_ENTRIES_MAX}. You have sent {n_entries}."
            ),
        ));
    }
    let mut seen = HashSet::new();
    for id in ids {
        if !is_batch_entry_id(id) {
            return Err(SqsError::new(
                ErrorCode::InvalidBatchEntryId,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(SqsError::new(
                ErrorCode::BatchEntryIdsNotDistinct,
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(())
}

fn failed_entry(id: &str, error: &SqsError) -> Value {
    json!({
        "Id": id,
        "SenderFault": error.code.sender_fault(),
        "Code": error.code.query_code(),
        "Message": error.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_selection() {
        let selection = Selection {
            system_names: vec!["SentTimestamp".to_string()],
            attribute_names: vec!["exact".to_string(), "pre.*".to_string()],
        };
        assert!(selection.wants_system("SentTimestamp"));
        assert!(!selection.wants_system("SenderId"));
        let check = |name: &str, expected: bool| {
            assert_eq!(selection.wants_attribute(name), expected, "{name}");
        };
        check("exact", true);
        check("exactly", false);
        check("pre.x", true);
        check("pre", false);
        check("prefix", false);
        let all = Selection {
            system_names: vec!["All".to_string()],
            attribute_names: vec![".*".to_string()],
        };
        assert!(all.wants_system("MessageGroupId"));
        assert!(all.wants_attribute("anything"));
        assert!(!Selection::default().wants_attribute("anything"));
    }

    #[test]
    fn batch_checks() {
        let check = |ids: &[&str], expected: Option<ErrorCode>| {
            let result = check_batch(ids.iter().copied(), "SendMessageBatchRequestEntry");
            assert_eq!(result.err().map(|e| e.code), expected, "{ids:?}");
        };
        check(&["a", "b-1", "C_2"], None);
        check(&[], Some(ErrorCode::EmptyBatchRequest));
        check(&["a"; 11], Some(ErrorCode::TooManyEntriesInBatchRequest));
        check(&["a", "a"], Some(ErrorCode::BatchEntryIdsNotDistinct));
        check(&["a.b"], Some(ErrorCode::InvalidBatchEntryId));
    }

    fn queue(fifo: bool, content_based: bool) -> QueueRecord {
        let name = if fifo { "q.fifo" } else { "q" };
        let mut requested = BTreeMap::new();
        if fifo {
            requested.insert("FifoQueue".to_string(), "true".to_string());
            requested.insert(
                "ContentBasedDeduplication".to_string(),
                content_based.to_string(),
            );
        }
        QueueRecord {
            name: name.to_string(),
            attributes: rayo_core::queue::QueueAttributes::for_new_queue(name, &requested).unwrap(),
            tags: BTreeMap::new(),
            created_ms: 0,
            last_modified_ms: 0,
        }
    }

    fn input(value: Value) -> MessageInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn messages_are_prepared_for_their_queue() {
        let standard = queue(false, false);
        let message = prepare_message(
            &standard,
            input(json!({
                "MessageBody": "hi",
                "DelaySeconds": 5,
                "MessageAttributes": {
                    "b": { "DataType": "Binary", "BinaryValue": "AAH/" },
                    "s": { "DataType": "String", "StringValue": "x" }
                }
            })),
        )
        .unwrap();
        assert_eq!(message.delay_seconds, 5);
        assert_eq!(
            message.attributes["b"].value,
            AttributeValue::Binary(vec![0, 1, 255])
        );
        assert_eq!(message.deduplication_id, None);

        let code = |queue: &QueueRecord, value: Value| {
            prepare_message(queue, input(value)).unwrap_err().code
        };
        assert_eq!(
            code(
                &standard,
                json!({ "MessageBody": "hi", "DelaySeconds": 901 })
            ),
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            code(
                &standard,
                json!({ "MessageBody": "hi", "MessageDeduplicationId": "d" })
            ),
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            code(&standard, json!({ "MessageBody": "\u{1}" })),
            ErrorCode::InvalidMessageContents
        );

        let fifo = queue(true, false);
        assert_eq!(
            code(
                &fifo,
                json!({ "MessageBody": "hi", "MessageDeduplicationId": "d" })
            ),
            ErrorCode::MissingParameter
        );
        assert_eq!(
            code(&fifo, json!({ "MessageBody": "hi", "MessageGroupId": "g" })),
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            code(
                &fifo,
                json!({ "MessageBody": "hi", "MessageGroupId": "g", "MessageDeduplicationId": "d", "DelaySeconds": 1 })
            ),
            ErrorCode::InvalidParameterValue
        );
        let content_based = queue(true, true);
        let message = prepare_message(
            &content_based,
            input(json!({ "MessageBody": "hello", "MessageGroupId": "g" })),
        )
        .unwrap();
        assert_eq!(
            message.deduplication_id.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
    }
}
