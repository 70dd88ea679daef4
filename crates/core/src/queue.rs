//! Queues as SQS models them: queue attributes and their validation,
//! messages and their attributes, the MD5 digests SQS answers with, receipt
//! handles, and the [`QueueStore`] trait that `state` implements.
//!
//! The store is also what a queue poller (an event source mapping) will use:
//! [`QueueStore::receive_messages`] claims a batch for a visibility timeout,
//! [`QueueStore::delete_message`] acknowledges one message of it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use md5::{Digest, Md5};
use thiserror::Error;

use crate::arn::Region;
use crate::store::StoreError;

/// Most entries in one batch request.
pub const BATCH_ENTRIES_MAX: usize = 10;
/// Most messages one `ReceiveMessage` returns.
pub const RECEIVE_MESSAGES_MAX: u32 = 10;
/// Longest long poll, in seconds.
pub const WAIT_TIME_SECONDS_MAX: u32 = 20;
/// Longest visibility timeout, in seconds (12 hours).
pub const VISIBILITY_TIMEOUT_MAX_SECONDS: u32 = 43_200;
/// Longest delay, in seconds (15 minutes).
pub const DELAY_SECONDS_MAX: u32 = 900;
/// Largest message (body and attributes) a queue may accept, and its default.
pub const MESSAGE_SIZE_MAX_BYTES: u32 = 1_048_576;
/// Smallest `MaximumMessageSize`.
pub const MESSAGE_SIZE_MIN_BYTES: u32 = 1_024;
/// Largest sum of the messages of one `SendMessageBatch`.
pub const BATCH_PAYLOAD_MAX_BYTES: usize = 1_048_576;
/// Most message attributes on one message.
pub const MESSAGE_ATTRIBUTES_MAX: usize = 10;
/// How long a FIFO queue remembers a deduplication id.
pub const DEDUPLICATION_INTERVAL_MS: i64 = 5 * 60 * 1000;
/// A queue may be purged once per minute.
pub const PURGE_INTERVAL_MS: i64 = 60 * 1000;
/// Most queues `ListQueues` returns at once.
pub const LIST_QUEUES_MAX: usize = 1000;
/// Default visibility timeout, in seconds.
pub const VISIBILITY_TIMEOUT_DEFAULT_SECONDS: u32 = 30;
/// Default retention, in seconds (4 days).
pub const MESSAGE_RETENTION_DEFAULT_SECONDS: u32 = 345_600;
/// Shortest retention, in seconds.
pub const MESSAGE_RETENTION_MIN_SECONDS: u32 = 60;
/// Longest retention, in seconds (14 days).
pub const MESSAGE_RETENTION_MAX_SECONDS: u32 = 1_209_600;
/// Largest `maxReceiveCount` of a redrive policy.
pub const MAX_RECEIVE_COUNT_MAX: u32 = 1000;

/// A request refused the way SQS refuses it; the variant names the error
/// code, the text is SQS's message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueueError {
    /// `InvalidAttributeName`: an attribute SQS does not know, or not for
    /// this kind of queue.
    #[error("{0}")]
    InvalidAttributeName(String),
    /// `InvalidAttributeValue`: an attribute value out of range.
    #[error("{0}")]
    InvalidAttributeValue(String),
    /// `InvalidParameterValue`: a parameter SQS refuses.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `MissingParameter`: a required parameter is absent.
    #[error("{0}")]
    MissingParameter(String),
    /// `InvalidMessageContents`: characters SQS does not carry.
    #[error("{0}")]
    InvalidMessageContents(String),
}

/// The attributes `GetQueueAttributes` knows, in SQS's spelling.
pub const QUEUE_ATTRIBUTE_NAMES: &[&str] = &[
    "All",
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

/// A queue's configuration: every attribute that is set rather than computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAttributes {
    /// Default delay of new messages, in seconds (0–900).
    pub delay_seconds: u32,
    /// Largest message accepted, in bytes (1,024–1,048,576).
    pub maximum_message_size: u32,
    /// How long a message is kept, in seconds (60–1,209,600).
    pub message_retention_period: u32,
    /// Default long-poll wait of `ReceiveMessage`, in seconds (0–20).
    pub receive_message_wait_time_seconds: u32,
    /// Default visibility timeout, in seconds (0–43,200).
    pub visibility_timeout: u32,
    /// Where messages go after too many receives.
    pub redrive_policy: Option<RedrivePolicy>,
    /// Which queues may use this one as a dead-letter queue, as given.
    pub redrive_allow_policy: Option<String>,
    /// The access policy, as given.
    pub policy: Option<String>,
    /// FIFO settings; `None` for a standard queue.
    pub fifo: Option<FifoSettings>,
    /// KMS key, kept as given (rayo does not encrypt).
    pub kms_master_key_id: Option<String>,
    /// KMS data key reuse, in seconds (60–86,400).
    pub kms_data_key_reuse_period_seconds: u32,
    /// Whether SQS-managed encryption is on (kept as given).
    pub sqs_managed_sse_enabled: bool,
}

/// The settings only FIFO queues have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoSettings {
    /// Whether a message without a deduplication id is deduplicated by the
    /// SHA-256 of its body.
    pub content_based_deduplication: bool,
    /// Deduplication across the queue (`queue`) or per group (`messageGroup`).
    pub deduplication_scope: DeduplicationScope,
    /// `perQueue` or `perMessageGroupId`, kept as given.
    pub fifo_throughput_limit: String,
}

/// Where a FIFO queue looks for duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeduplicationScope {
    /// One deduplication space per queue.
    Queue,
    /// One per message group.
    MessageGroup,
}

impl DeduplicationScope {
    /// SQS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeduplicationScope::Queue => "queue",
            DeduplicationScope::MessageGroup => "messageGroup",
        }
    }
}

/// A source queue's dead-letter settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// The dead-letter queue's ARN.
    pub dead_letter_target_arn: String,
    /// Receives after which a message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// Parses the JSON SQS takes: `deadLetterTargetArn` and
    /// `maxReceiveCount` (a number or a string holding one).
    pub fn parse(value: &str) -> Result<RedrivePolicy, QueueError> {
        let invalid = |reason: &str| {
            QueueError::InvalidParameterValue(format!(
                "Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
            ))
        };
        let Some(fields) = flat_json::parse_object(value) else {
            return Err(QueueError::InvalidAttributeValue(
                "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map."
                    .to_string(),
            ));
        };
        let mut arn = None;
        let mut count = None;
        for (key, field) in fields {
            match (key.as_str(), field) {
                ("deadLetterTargetArn", flat_json::Value::String(s)) => arn = Some(s),
                ("maxReceiveCount", flat_json::Value::String(s) | flat_json::Value::Number(s)) => {
                    count = Some(s)
                }
                ("deadLetterTargetArn" | "maxReceiveCount", _) => {
                    return Err(invalid(&format!("Invalid value for {key}.")));
                }
                _ => {
                    return Err(invalid(&format!(
                        "Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount]. Found: {key}."
                    )));
                }
            }
        }
        let arn = arn.ok_or_else(|| {
            invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        })?;
        let count = count.ok_or_else(|| {
            invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
        })?;
        let max_receive_count = count
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_RECEIVE_COUNT_MAX).contains(n))
            .ok_or_else(|| {
                invalid(&format!(
                    "Invalid value for maxReceiveCount: {count}, valid values are from 1 to {MAX_RECEIVE_COUNT_MAX} both inclusive."
                ))
            })?;
        if queue_name_from_arn(&arn).is_none() {
            return Err(invalid(&format!(
                "Invalid value for deadLetterTargetArn: {arn}."
            )));
        }
        Ok(RedrivePolicy {
            dead_letter_target_arn: arn,
            max_receive_count,
        })
    }

    /// The JSON `GetQueueAttributes` answers with.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"deadLetterTargetArn\":\"{}\",\"maxReceiveCount\":{}}}",
            flat_json::escape(&self.dead_letter_target_arn),
            self.max_receive_count
        )
    }

    /// The dead-letter queue's name.
    pub fn dead_letter_queue_name(&self) -> &str {
        queue_name_from_arn(&self.dead_letter_target_arn).unwrap_or_default()
    }

    /// The ARN of a source queue in the dead-letter queue's region and account.
    pub fn source_queue_arn(&self, source_queue_name: &str) -> String {
        let prefix = self
            .dead_letter_target_arn
            .rsplit_once(':')
            .map_or("", |(prefix, _)| prefix);
        format!("{prefix}:{source_queue_name}")
    }
}

impl QueueAttributes {
    /// The attributes of a new queue called `queue_name`, from the defaults
    /// and the `Attributes` of `CreateQueue`.
    pub fn for_new_queue(
        queue_name: &str,
        requested: &BTreeMap<String, String>,
    ) -> Result<QueueAttributes, QueueError> {
        let fifo = match requested.get("FifoQueue") {
            None => false,
            Some(value) => parse_bool("FifoQueue", value)?,
        };
        if !is_queue_name(queue_name, fifo) {
            return Err(QueueError::InvalidParameterValue(if fifo {
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
                    .to_string()
            } else {
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                    .to_string()
            }));
        }
        let mut attributes = QueueAttributes::defaults(fifo);
        for (name, value) in requested {
            if name == "FifoQueue" {
                if !fifo {
                    // A standard queue does not have the attribute at all.
                    return Err(unknown_attribute(name));
                }
                continue;
            }
            attributes.set(name, value)?;
        }
        Ok(attributes)
    }

    /// The defaults of a standard or FIFO queue.
    pub fn defaults(fifo: bool) -> QueueAttributes {
        QueueAttributes {
            delay_seconds: 0,
            maximum_message_size: MESSAGE_SIZE_MAX_BYTES,
            message_retention_period: MESSAGE_RETENTION_DEFAULT_SECONDS,
            receive_message_wait_time_seconds: 0,
            visibility_timeout: VISIBILITY_TIMEOUT_DEFAULT_SECONDS,
            redrive_policy: None,
            redrive_allow_policy: None,
            policy: None,
            fifo: fifo.then(|| FifoSettings {
                content_based_deduplication: false,
                deduplication_scope: DeduplicationScope::Queue,
                fifo_throughput_limit: "perQueue".to_string(),
            }),
            kms_master_key_id: None,
            kms_data_key_reuse_period_seconds: 300,
            sqs_managed_sse_enabled: true,
        }
    }

    /// Whether this is a FIFO queue.
    pub fn is_fifo(&self) -> bool {
        self.fifo.is_some()
    }

    /// Sets one attribute from its `SetQueueAttributes` form.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), QueueError> {
        match name {
            "DelaySeconds" => self.delay_seconds = parse_range(name, value, 0, DELAY_SECONDS_MAX)?,
            "MaximumMessageSize" => {
                self.maximum_message_size =
                    parse_range(name, value, MESSAGE_SIZE_MIN_BYTES, MESSAGE_SIZE_MAX_BYTES)?
            }
            "MessageRetentionPeriod" => {
                self.message_retention_period = parse_range(
                    name,
                    value,
                    MESSAGE_RETENTION_MIN_SECONDS,
                    MESSAGE_RETENTION_MAX_SECONDS,
                )?
            }
            "ReceiveMessageWaitTimeSeconds" => {
                self.receive_message_wait_time_seconds =
                    parse_range(name, value, 0, WAIT_TIME_SECONDS_MAX)?
            }
            "VisibilityTimeout" => {
                self.visibility_timeout =
                    parse_range(name, value, 0, VISIBILITY_TIMEOUT_MAX_SECONDS)?
            }
            "RedrivePolicy" => {
                self.redrive_policy = if value.is_empty() {
                    None
                } else {
                    Some(RedrivePolicy::parse(value)?)
                }
            }
            "RedriveAllowPolicy" => self.redrive_allow_policy = non_empty(value),
            "Policy" => self.policy = non_empty(value),
            "KmsMasterKeyId" => self.kms_master_key_id = non_empty(value),
            "KmsDataKeyReusePeriodSeconds" => {
                self.kms_data_key_reuse_period_seconds = parse_range(name, value, 60, 86_400)?
            }
            "SqsManagedSseEnabled" => self.sqs_managed_sse_enabled = parse_bool(name, value)?,
            "ContentBasedDeduplication" => {
                let enabled = parse_bool(name, value)?;
                self.fifo_settings(name)?.content_based_deduplication = enabled;
            }
            "DeduplicationScope" => {
                let scope = match value {
                    "queue" => DeduplicationScope::Queue,
                    "messageGroup" => DeduplicationScope::MessageGroup,
                    _ => return Err(invalid_attribute_value(name)),
                };
                self.fifo_settings(name)?.deduplication_scope = scope;
            }
            "FifoThroughputLimit" => {
                if value != "perQueue" && value != "perMessageGroupId" {
                    return Err(invalid_attribute_value(name));
                }
                self.fifo_settings(name)?.fifo_throughput_limit = value.to_string();
            }
            "FifoQueue" => {
                return Err(QueueError::InvalidAttributeValue(
                    "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
                        .to_string(),
                ));
            }
            _ => return Err(unknown_attribute(name)),
        }
        Ok(())
    }

    /// Every attribute this queue has set, in SQS's string forms: what
    /// `GetQueueAttributes` answers besides the computed ones.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("DelaySeconds", self.delay_seconds.to_string()),
            ("MaximumMessageSize", self.maximum_message_size.to_string()),
            (
                "MessageRetentionPeriod",
                self.message_retention_period.to_string(),
            ),
            (
                "ReceiveMessageWaitTimeSeconds",
                self.receive_message_wait_time_seconds.to_string(),
            ),
            ("VisibilityTimeout", self.visibility_timeout.to_string()),
            (
                "SqsManagedSseEnabled",
                self.sqs_managed_sse_enabled.to_string(),
            ),
        ];
        if let Some(policy) = &self.redrive_policy {
            pairs.push(("RedrivePolicy", policy.to_json()));
        }
        if let Some(policy) = &self.redrive_allow_policy {
            pairs.push(("RedriveAllowPolicy", policy.clone()));
        }
        if let Some(policy) = &self.policy {
            pairs.push(("Policy", policy.clone()));
        }
        if let Some(key) = &self.kms_master_key_id {
            pairs.push(("KmsMasterKeyId", key.clone()));
            pairs.push((
                "KmsDataKeyReusePeriodSeconds",
                self.kms_data_key_reuse_period_seconds.to_string(),
            ));
        }
        if let Some(fifo) = &self.fifo {
            pairs.push(("FifoQueue", "true".to_string()));
            pairs.push((
                "ContentBasedDeduplication",
                fifo.content_based_deduplication.to_string(),
            ));
            pairs.push((
                "DeduplicationScope",
                fifo.deduplication_scope.as_str().to_string(),
            ));
            pairs.push(("FifoThroughputLimit", fifo.fifo_throughput_limit.clone()));
        }
        pairs
    }

    /// Reads attributes back from [`QueueAttributes::to_pairs`]'s form;
    /// names this build does not know are skipped, so a newer writer's
    /// additions do not make a queue unreadable.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<QueueAttributes, QueueError> {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let fifo = pairs.iter().any(|(n, v)| *n == "FifoQueue" && *v == "true");
        let mut attributes = QueueAttributes::defaults(fifo);
        for (name, value) in pairs {
            match attributes.set(name, value) {
                Ok(()) => {}
                Err(QueueError::InvalidAttributeName(_)) => {}
                Err(_) if name == "FifoQueue" => {}
                Err(error) => return Err(error),
            }
        }
        Ok(attributes)
    }

    /// For an idempotent `CreateQueue`: the first requested attribute whose
    /// value differs from this queue's, if any. A request that could not
    /// create a queue at all is refused with its error.
    pub fn first_difference(
        &self,
        queue_name: &str,
        requested: &BTreeMap<String, String>,
    ) -> Result<Option<String>, QueueError> {
        let wanted = QueueAttributes::for_new_queue(queue_name, requested)?;
        if wanted.is_fifo() != self.is_fifo() {
            return Ok(Some("FifoQueue".to_string()));
        }
        let current: BTreeMap<&str, String> = self.to_pairs().into_iter().collect();
        let wanted: BTreeMap<&str, String> = wanted.to_pairs().into_iter().collect();
        Ok(requested
            .keys()
            .find(|name| current.get(name.as_str()) != wanted.get(name.as_str()))
            .cloned())
    }

    fn fifo_settings(&mut self, name: &str) -> Result<&mut FifoSettings, QueueError> {
        self.fifo.as_mut().ok_or_else(|| unknown_attribute(name))
    }
}

/// The logical type of a message attribute, from its `DataType` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    /// `String` or `String.<label>`.
    String,
    /// `Number` or `Number.<label>`, carried as a string.
    Number,
    /// `Binary` or `Binary.<label>`.
    Binary,
}

impl AttributeType {
    /// The type of a `DataType` such as `Number.float`.
    pub fn of(data_type: &str) -> Option<AttributeType> {
        let base = data_type
            .split_once('.')
            .map_or(data_type, |(base, _)| base);
        match base {
            "String" => Some(AttributeType::String),
            "Number" => Some(AttributeType::Number),
            "Binary" => Some(AttributeType::Binary),
            _ => None,
        }
    }
}

/// A message attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// `StringValue`, for String and Number types.
    String(String),
    /// `BinaryValue`.
    Binary(Vec<u8>),
}

/// One message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    /// `String`, `Number`, `Binary`, optionally with a `.label`.
    pub data_type: String,
    /// The value.
    pub value: AttributeValue,
}

/// A message's attributes by name, in the order SQS digests them.
pub type MessageAttributes = BTreeMap<String, MessageAttribute>;

/// Checks a message body: non-empty, and only the characters SQS carries.
pub fn validate_message_body(body: &str) -> Result<(), QueueError> {
    if body.is_empty() {
        return Err(QueueError::MissingParameter(
            "The request must contain the parameter MessageBody.".to_string(),
        ));
    }
    if !is_valid_message_text(body) {
        return Err(QueueError::InvalidMessageContents(
            INVALID_CHARACTERS.to_string(),
        ));
    }
    Ok(())
}

/// Checks message attributes: count, names, types and values.
pub fn validate_message_attributes(attributes: &MessageAttributes) -> Result<(), QueueError> {
    let invalid = |message: String| QueueError::InvalidParameterValue(message);
    if attributes.len() > MESSAGE_ATTRIBUTES_MAX {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MESSAGE_ATTRIBUTES_MAX}].",
            attributes.len()
        )));
    }
    for (name, attribute) in attributes {
        validate_message_attribute_name(name)?;
        let data_type = &attribute.data_type;
        if data_type.is_empty() {
            return Err(invalid(format!(
                "The message attribute '{name}' must contain a non-empty message attribute type."
            )));
        }
        if data_type.len() > 256 {
            return Err(invalid(format!(
                "Message attribute type of '{name}' must be shorter than 256 bytes."
            )));
        }
        let Some(kind) = AttributeType::of(data_type) else {
            return Err(invalid(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
            )));
        };
        let empty = || {
            invalid(format!(
                "The message attribute '{name}' must contain a non-empty message attribute value for message attribute type '{data_type}'."
            ))
        };
        match (kind, &attribute.value) {
            (AttributeType::Binary, AttributeValue::Binary(bytes)) => {
                if bytes.is_empty() {
                    return Err(empty());
                }
            }
            (AttributeType::String | AttributeType::Number, AttributeValue::String(text)) => {
                if text.is_empty() {
                    return Err(empty());
                }
                if !is_valid_message_text(text) {
                    return Err(invalid(INVALID_CHARACTERS.to_string()));
                }
                if kind == AttributeType::Number && !is_number(text) {
                    return Err(invalid(format!(
                        "Can't cast the value of message (user) attribute '{name}' to a number."
                    )));
                }
            }
            _ => return Err(empty()),
        }
    }
    Ok(())
}

/// Checks a message attribute's name: up to 256 of `[A-Za-z0-9_.-]`, no
/// `AWS.` or `Amazon.` prefix, no leading, trailing or doubled period.
pub fn validate_message_attribute_name(name: &str) -> Result<(), QueueError> {
    let invalid = |message: String| Err(QueueError::InvalidParameterValue(message));
    if name.is_empty() {
        return invalid("The request must contain non-empty message attribute names.".to_string());
    }
    if name.len() > 256 {
        return invalid(format!(
            "Message (user) attribute name '{name}' must be shorter than 256 bytes."
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return invalid(format!(
            "Invalid non-alphanumeric character '#x{:X}' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
            bad as u32
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return invalid(format!(
            "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. These strings are reserved for internal use. Found: {name}."
        ));
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return invalid(format!(
            "Message (user) attribute name '{name}' can't start or end with a period, or contain two periods in a row."
        ));
    }
    Ok(())
}

/// A message's size as SQS counts it against `MaximumMessageSize`: the
/// body's bytes plus each attribute's name, type and value.
pub fn message_size(body: &str, attributes: &MessageAttributes) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(name, attribute)| {
                name.len()
                    + attribute.data_type.len()
                    + match &attribute.value {
                        AttributeValue::String(s) => s.len(),
                        AttributeValue::Binary(b) => b.len(),
                    }
            })
            .sum::<usize>()
}

/// Lowercase hex MD5 of `bytes`: SQS's `MD5OfMessageBody`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// SQS's `MD5OfMessageAttributes` (and `MD5OfMessageSystemAttributes`):
/// over the attributes sorted by name, each encoded as its name, its data
/// type, one transport byte (1 for String and Number, 2 for Binary) and its
/// value, every string and value prefixed with its length as four
/// big-endian bytes. `None` for no attributes, where SQS omits the digest.
pub fn md5_of_message_attributes(attributes: &MessageAttributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    Some(attributes_digest(attributes))
}

/// Whether `name` is a valid queue name: 1–80 of `[A-Za-z0-9_-]`, with the
/// `.fifo` suffix (counted in the 80) exactly for FIFO queues.
pub fn is_queue_name(name: &str, fifo: bool) -> bool {
    let base = match name.strip_suffix(".fifo") {
        Some(base) if fifo => base,
        None if !fifo => name,
        _ => return false,
    };
    !base.is_empty()
        && name.len() <= 80
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `id` is a valid batch entry id: 1–80 of `[A-Za-z0-9_-]`.
pub fn is_batch_entry_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `id` is a valid `MessageGroupId` or `MessageDeduplicationId`:
/// 1–128 alphanumeric or punctuation characters.
pub fn is_fifo_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A queue's ARN: `arn:aws:sqs:<region>:<account>:<name>`.
pub fn queue_arn(region: &Region, queue_name: &str) -> String {
    format!(
        "arn:aws:sqs:{}:{}:{}",
        region.name, region.account_id, queue_name
    )
}

/// The queue name at the end of an SQS queue ARN.
pub fn queue_name_from_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sqs", _region, _account, name]
            if partition.starts_with("aws") && !name.is_empty() =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// A queue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// The queue's name, `.fifo` suffix included.
    pub name: String,
    /// Its configuration.
    pub attributes: QueueAttributes,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
    /// When its attributes last changed, in milliseconds since the epoch.
    pub last_modified_ms: i64,
}

/// A message to add to a queue, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its id, a UUID chosen by the caller.
    pub message_id: String,
    /// The body.
    pub body: String,
    /// Message attributes.
    pub attributes: MessageAttributes,
    /// Message system attributes (`AWSTraceHeader`).
    pub system_attributes: MessageAttributes,
    /// `MessageGroupId`, required on FIFO queues.
    pub group_id: Option<String>,
    /// `MessageDeduplicationId`, given or derived from the body; FIFO only.
    pub deduplication_id: Option<String>,
    /// Seconds before it can be received.
    pub delay_seconds: u32,
}

/// The outcome of adding one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message's id; for a duplicate, the original's.
    pub message_id: String,
    /// Its position in the store, which orders a FIFO queue.
    pub seq: i64,
    /// Whether it was a duplicate within the deduplication interval, and
    /// so not added again.
    pub duplicate: bool,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its position in the store; increases with every message sent.
    pub seq: i64,
    /// The id given to the sender.
    pub message_id: String,
    /// The body.
    pub body: String,
    /// Message attributes.
    pub attributes: MessageAttributes,
    /// Message system attributes.
    pub system_attributes: MessageAttributes,
    /// `MessageGroupId`.
    pub group_id: Option<String>,
    /// `MessageDeduplicationId`.
    pub deduplication_id: Option<String>,
    /// When it was sent, in milliseconds since the epoch.
    pub sent_ms: i64,
    /// How often it has been received, this receive included.
    pub receive_count: u32,
    /// When it was first received.
    pub first_receive_ms: Option<i64>,
    /// The queue it was moved from, when it came through a redrive policy.
    pub dead_letter_source_arn: Option<String>,
}

impl StoredMessage {
    /// The `SequenceNumber` of a FIFO message.
    pub fn sequence_number(&self) -> String {
        sequence_number(self.seq)
    }
}

/// The `SequenceNumber` SQS gives a FIFO message stored at `seq`.
pub fn sequence_number(seq: i64) -> String {
    format!("{seq:020}")
}

/// Identifies one receive of one message: the queue, the message and the
/// random id of the receive. Only the latest receive's handle acts on the
/// message. Its text form is opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// The queue.
    pub queue_name: String,
    /// The message's position in the store.
    pub seq: i64,
    /// The random id of the receive that handed the message out.
    pub receive_id: String,
}

impl ReceiptHandle {
    /// The handle's text form.
    pub fn encode(&self) -> String {
        hex(format!("{}\n{}\n{}", self.receive_id, self.seq, self.queue_name).as_bytes())
    }

    /// Reads a handle from its text form; `None` if it is not one.
    pub fn decode(text: &str) -> Option<ReceiptHandle> {
        let bytes = unhex(text)?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, '\n');
        let receive_id = parts.next()?.to_string();
        let seq = parts.next()?.parse().ok()?;
        let queue_name = parts.next()?.to_string();
        if receive_id.is_empty() || queue_name.is_empty() {
            return None;
        }
        Some(ReceiptHandle {
            queue_name,
            seq,
            receive_id,
        })
    }
}

/// What to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRequest {
    /// Most messages to hand out.
    pub max_messages: usize,
    /// Seconds the messages stay invisible; `None` for the queue's default.
    pub visibility_timeout_seconds: Option<u32>,
    /// A random id for this receive, unguessable: it makes the receipt
    /// handles.
    pub receive_id: String,
    /// The time of the receive, in milliseconds since the epoch.
    pub now_ms: i64,
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The message, its receive count including this receive.
    pub message: StoredMessage,
    /// The handle that deletes it or changes its visibility.
    pub receipt_handle: ReceiptHandle,
}

/// The outcome of a receive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// The messages handed out, now invisible for their timeout.
    pub messages: Vec<ReceivedMessage>,
    /// When the next invisible or delayed message becomes visible, so a
    /// long poll knows when to look again.
    pub next_visible_ms: Option<i64>,
    /// Dead-letter queues that messages were moved to by this receive.
    pub moved_to: Vec<String>,
}

/// A queue's message counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Messages available to receive.
    pub visible: u64,
    /// Messages received and not yet deleted nor visible again.
    pub not_visible: u64,
    /// Messages not yet available because of a delay.
    pub delayed: u64,
}

/// What became of a delete or visibility change addressed by receipt handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleOutcome {
    /// Done.
    Done,
    /// The message was received again since; the handle is stale and the
    /// message was left alone.
    NotCurrent,
    /// The handle is current but the message is no longer in flight.
    NotInFlight,
    /// No such message (it was deleted, or the queue was).
    NotFound,
}

/// What became of a purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeOutcome {
    /// Every message is gone.
    Purged,
    /// The queue was purged less than a minute ago.
    InProgress,
    /// No such queue.
    NotFound,
}

/// Queues and their messages. Sending commits a message before returning;
/// visibility is kept as an absolute time, so it survives restarts.
pub trait QueueStore: Send + Sync + std::fmt::Debug {
    /// Adds a queue; when one of that name exists, returns it unchanged.
    fn create_queue(&self, queue: &QueueRecord) -> Result<Option<QueueRecord>, StoreError>;
    /// Reads a queue.
    fn get_queue(&self, name: &str) -> Result<Option<QueueRecord>, StoreError>;
    /// Queues whose name starts with `prefix`, ordered by name, after `after`.
    fn list_queues(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueueRecord>, StoreError>;
    /// Replaces a queue's attributes; returns whether it exists.
    fn set_queue_attributes(
        &self,
        name: &str,
        attributes: &QueueAttributes,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Replaces a queue's tags; returns whether it exists.
    fn set_queue_tags(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError>;
    /// Deletes a queue and its messages; returns whether it existed.
    fn delete_queue(&self, name: &str) -> Result<bool, StoreError>;
    /// Deletes every message of a queue, at most once a minute.
    fn purge_queue(&self, name: &str, now_ms: i64) -> Result<PurgeOutcome, StoreError>;
    /// A queue's message counts; `None` when it does not exist.
    fn queue_counts(&self, name: &str, now_ms: i64) -> Result<Option<QueueCounts>, StoreError>;
    /// Adds messages in one transaction, deduplicating on a FIFO queue;
    /// `None` when the queue does not exist.
    fn send_messages(
        &self,
        queue_name: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<Option<Vec<SentMessage>>, StoreError>;
    /// Claims up to `max_messages` visible messages, making them invisible
    /// for the visibility timeout: in order on a FIFO queue, never from a
    /// message group that has a message in flight. Messages received more
    /// often than the redrive policy allows move to the dead-letter queue
    /// instead; messages past the retention period are deleted. `None` when
    /// the queue does not exist.
    fn receive_messages(
        &self,
        queue_name: &str,
        request: &ReceiveRequest,
    ) -> Result<Option<Received>, StoreError>;
    /// Deletes the message a handle names, if the handle is its latest.
    fn delete_message(&self, handle: &ReceiptHandle) -> Result<HandleOutcome, StoreError>;
    /// Makes the message a current handle names visible again in
    /// `visibility_timeout_seconds`.
    fn change_message_visibility(
        &self,
        handle: &ReceiptHandle,
        visibility_timeout_seconds: u32,
        now_ms: i64,
    ) -> Result<HandleOutcome, StoreError>;
}

const INVALID_CHARACTERS: &str = "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF";

fn attributes_digest(attributes: &MessageAttributes) -> String {
    fn put(hasher: &mut Md5, bytes: &[u8]) {
        hasher.update((bytes.len() as u32).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Md5::new();
    for (name, attribute) in attributes {
        put(&mut hasher, name.as_bytes());
        put(&mut hasher, attribute.data_type.as_bytes());
        match &attribute.value {
            AttributeValue::String(s) => {
                hasher.update([1]);
                put(&mut hasher, s.as_bytes());
            }
            AttributeValue::Binary(b) => {
                hasher.update([2]);
                put(&mut hasher, b);
            }
        }
    }
    hex(&hasher.finalize())
}

fn is_valid_message_text(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    })
}

fn is_number(text: &str) -> bool {
    let digits = text.trim_start_matches(['-', '+']);
    digits
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && text.parse::<f64>().is_ok_and(f64::is_finite)
}

fn parse_range(name: &str, value: &str, min: u32, max: u32) -> Result<u32, QueueError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid_attribute_value(name))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, QueueError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid_attribute_value(name)),
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn invalid_attribute_value(name: &str) -> QueueError {
    QueueError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
}

fn unknown_attribute(name: &str) -> QueueError {
    QueueError::InvalidAttributeName(format!("Unknown Attribute {name}."))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Just enough JSON for a redrive policy: one object of scalar values.
mod flat_json {
    /// A scalar JSON value; numbers keep their text.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum Value {
        String(String),
        Number(String),
        Other,
    }

    /// The members of a JSON object whose values are all scalars; `None`
    /// for anything else.
    pub(super) fn parse_object(text: &str) -> Option<Vec<(String, Value)>> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        parser.skip_space();
        parser.expect('{')?;
        let mut members = Vec::new();
        parser.skip_space();
        if parser.peek() == Some('}') {
            parser.at += 1;
        } else {
            loop {
                parser.skip_space();
                let key = parser.string()?;
                parser.skip_space();
                parser.expect(':')?;
                parser.skip_space();
                let value = parser.value()?;
                members.push((key, value));
                parser.skip_space();
                match parser.next()? {
                    ',' => continue,
                    '}' => break,
                    _ => return None,
                }
            }
        }
        parser.skip_space();
        (parser.at == parser.chars.len()).then_some(members)
    }

    /// `text` escaped for a JSON string.
    pub(super) fn escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out
    }

    struct Parser {
        chars: Vec<char>,
        at: usize,
    }

    impl Parser {
        fn peek(&self) -> Option<char> {
            self.chars.get(self.at).copied()
        }

        fn next(&mut self) -> Option<char> {
            let c = self.peek()?;
            self.at += 1;
            Some(c)
        }

        fn expect(&mut self, wanted: char) -> Option<()> {
            (self.next()? == wanted).then_some(())
        }

        fn skip_space(&mut self) {
            while self.peek().is_some_and(char::is_whitespace) {
                self.at += 1;
            }
        }

        fn value(&mut self) -> Option<Value> {
            match self.peek()? {
                '"' => self.string().map(Value::String),
                '-' | '0'..='9' => {
                    let start = self.at;
                    while self.peek().is_some_and(|c| {
                        c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')
                    }) {
                        self.at += 1;
                    }
                    Some(Value::Number(self.chars[start..self.at].iter().collect()))
                }
                _ => {
                    for word in ["true", "false", "null"] {
                        let end = self.at + word.len();
                        if end <= self.chars.len()
                            && self.chars[self.at..end].iter().copied().eq(word.chars())
                        {
                            self.at = end;
                            return Some(Value::Other);
                        }
                    }
                    None
                }
            }
        }

        fn string(&mut self) -> Option<String> {
            self.expect('"')?;
            let mut out = String::new();
            loop {
                match self.next()? {
                    '"' => return Some(out),
                    '\\' => match self.next()? {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let code: String =
                                (0..4).map(|_| self.next()).collect::<Option<_>>()?;
                            out.push(char::from_u32(u32::from_str_radix(&code, 16).ok()?)?);
                        }
                        _ => return None,
                    },
                    c => out.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(data_type: &str, value: &str) -> MessageAttribute {
        MessageAttribute {
            data_type: data_type.to_string(),
            value: AttributeValue::String(value.to_string()),
        }
    }

    fn binary(value: &[u8]) -> MessageAttribute {
        MessageAttribute {
            data_type: "Binary".to_string(),
            value: AttributeValue::Binary(value.to_vec()),
        }
    }

    fn attributes(pairs: &[(&str, MessageAttribute)]) -> MessageAttributes {
        pairs
            .iter()
            .map(|(name, attribute)| (name.to_string(), attribute.clone()))
            .collect()
    }

    fn requested(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // The expected digests were computed with Python's hashlib from SQS's
    // documented encoding, independently of this code.
    #[test]
    fn body_digests() {
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            md5_hex("héllo wörld ✓".as_bytes()),
            "aa0c8a307a4488bfe0cb56530da19bc3"
        );
    }

    #[test]
    fn attribute_digests() {
        let check = |pairs: &[(&str, MessageAttribute)], expected: &str| {
            assert_eq!(
                md5_of_message_attributes(&attributes(pairs)).as_deref(),
                Some(expected),
                "{pairs:?}"
            );
        };
        check(
            &[("color", string("String", "blue"))],
            "da1b33cc3cbfe8b1630921e78e6b9880",
        );
        check(
            &[
                ("zeta", string("Number", "42")),
                ("alpha", string("String", "a")),
                ("blob", binary(&[0, 1, 0xff])),
                ("custom", string("String.custom", "x y")),
            ],
            "5ccf5c4e01e8c24db5f9d4675b629ac9",
        );
        check(
            &[("n", string("Number.float", "3.14"))],
            "6b809f7f11691f83b0f8292159dc21bf",
        );
        check(
            &[(
                "AWSTraceHeader",
                string(
                    "String",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                ),
            )],
            "5ae4d5d7636402d80f4eb6d213245a88",
        );
        assert_eq!(md5_of_message_attributes(&MessageAttributes::new()), None);
    }

    #[test]
    fn queue_names() {
        let check = |name: &str, fifo: bool, expected: bool| {
            assert_eq!(is_queue_name(name, fifo), expected, "{name} fifo={fifo}");
        };
        check("orders", false, true);
        check("Orders_2-b", false, true);
        check(&"q".repeat(80), false, true);
        check(&"q".repeat(81), false, false);
        check("", false, false);
        check("a.b", false, false);
        check("orders.fifo", false, false);
        check("orders.fifo", true, true);
        check("orders", true, false);
        check(".fifo", true, false);
        check(&format!("{}.fifo", "q".repeat(75)), true, true);
        check(&format!("{}.fifo", "q".repeat(76)), true, false);
    }

    #[test]
    fn new_queue_attributes_take_defaults_and_validate() {
        let standard = QueueAttributes::for_new_queue("q", &requested(&[])).unwrap();
        assert_eq!(standard, QueueAttributes::defaults(false));
        assert_eq!(standard.visibility_timeout, 30);
        assert_eq!(standard.maximum_message_size, 1_048_576);

        let set = QueueAttributes::for_new_queue(
            "q",
            &requested(&[("VisibilityTimeout", "5"), ("DelaySeconds", "900")]),
        )
        .unwrap();
        assert_eq!((set.visibility_timeout, set.delay_seconds), (5, 900));

        let check_error = |name: &str, pairs: &[(&str, &str)], expected: QueueError| {
            assert_eq!(
                QueueAttributes::for_new_queue(name, &requested(pairs)),
                Err(expected),
                "{pairs:?}"
            );
        };
        let value = |name: &str| {
            QueueError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
        };
        check_error("q", &[("DelaySeconds", "901")], value("DelaySeconds"));
        check_error(
            "q",
            &[("VisibilityTimeout", "43201")],
            value("VisibilityTimeout"),
        );
        check_error(
            "q",
            &[("VisibilityTimeout", "-1")],
            value("VisibilityTimeout"),
        );
        check_error(
            "q",
            &[("MaximumMessageSize", "1023")],
            value("MaximumMessageSize"),
        );
        check_error(
            "q",
            &[("MessageRetentionPeriod", "59")],
            value("MessageRetentionPeriod"),
        );
        check_error(
            "q",
            &[("ReceiveMessageWaitTimeSeconds", "21")],
            value("ReceiveMessageWaitTimeSeconds"),
        );
        check_error(
            "q",
            &[("Bogus", "1")],
            QueueError::InvalidAttributeName("Unknown Attribute Bogus.".to_string()),
        );
        check_error(
            "q",
            &[("ContentBasedDeduplication", "true")],
            QueueError::InvalidAttributeName(
                "Unknown Attribute ContentBasedDeduplication.".to_string(),
            ),
        );
        check_error(
            "q",
            &[("FifoQueue", "false")],
            QueueError::InvalidAttributeName("Unknown Attribute FifoQueue.".to_string()),
        );
        assert!(matches!(
            QueueAttributes::for_new_queue("q", &requested(&[("FifoQueue", "true")])),
            Err(QueueError::InvalidParameterValue(_))
        ));
        assert!(matches!(
            QueueAttributes::for_new_queue("q.fifo", &requested(&[])),
            Err(QueueError::InvalidParameterValue(_))
        ));
    }

    #[test]
    fn fifo_attributes() {
        let fifo = QueueAttributes::for_new_queue(
            "q.fifo",
            &requested(&[
                ("FifoQueue", "true"),
                ("ContentBasedDeduplication", "true"),
                ("DeduplicationScope", "messageGroup"),
            ]),
        )
        .unwrap();
        let settings = fifo.fifo.as_ref().unwrap();
        assert!(settings.content_based_deduplication);
        assert_eq!(
            settings.deduplication_scope,
            DeduplicationScope::MessageGroup
        );
        let pairs: BTreeMap<&str, String> = fifo.to_pairs().into_iter().collect();
        assert_eq!(pairs["FifoQueue"], "true");
        assert_eq!(pairs["ContentBasedDeduplication"], "true");
        assert_eq!(pairs["DeduplicationScope"], "messageGroup");
        assert_eq!(pairs["FifoThroughputLimit"], "perQueue");
        let mut changed = fifo.clone();
        assert!(matches!(
            changed.set("FifoQueue", "false"),
            Err(QueueError::InvalidAttributeValue(_))
        ));
    }

    #[test]
    fn attributes_round_trip_through_pairs() {
        let mut attributes = QueueAttributes::defaults(true);
        attributes.set("VisibilityTimeout", "7").unwrap();
        attributes
            .set(
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq.fifo","maxReceiveCount":"3"}"#,
            )
            .unwrap();
        attributes.set("Policy", "{}").unwrap();
        let pairs = attributes.to_pairs();
        let read = QueueAttributes::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .chain([("FutureAttribute", "x")]),
        )
        .unwrap();
        assert_eq!(read, attributes);
    }

    #[test]
    fn create_queue_compares_requested_attributes() {
        let existing =
            QueueAttributes::for_new_queue("q", &requested(&[("VisibilityTimeout", "60")]))
                .unwrap();
        let check = |pairs: &[(&str, &str)], expected: Option<&str>| {
            assert_eq!(
                existing
                    .first_difference("q", &requested(pairs))
                    .unwrap()
                    .as_deref(),
                expected,
                "{pairs:?}"
            );
        };
        check(&[], None);
        check(&[("VisibilityTimeout", "60")], None);
        check(&[("DelaySeconds", "0")], None);
        check(&[("VisibilityTimeout", "61")], Some("VisibilityTimeout"));
        check(&[("DelaySeconds", "1")], Some("DelaySeconds"));
    }

    #[test]
    fn redrive_policies() {
        let policy = RedrivePolicy::parse(
            r#"{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 2}"#,
        )
        .unwrap();
        assert_eq!(policy.max_receive_count, 2);
        assert_eq!(policy.dead_letter_queue_name(), "dlq");
        assert_eq!(
            policy.source_queue_arn("src"),
            "arn:aws:sqs:us-east-1:000000000000:src"
        );
        assert_eq!(
            policy.to_json(),
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#
        );
        assert_eq!(RedrivePolicy::parse(&policy.to_json()), Ok(policy));

        let check_invalid = |text: &str| {
            assert!(RedrivePolicy::parse(text).is_err(), "{text}");
        };
        check_invalid("not json");
        check_invalid(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq"}"#);
        check_invalid(r#"{"maxReceiveCount":2}"#);
        check_invalid(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":0}"#,
        );
        check_invalid(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":1001}"#,
        );
        check_invalid(r#"{"deadLetterTargetArn":"dlq","maxReceiveCount":1}"#);
        check_invalid(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":1,"x":[1]}"#,
        );
    }

    #[test]
    fn message_bodies() {
        assert!(validate_message_body("hello\tworld\r\n✓ 😀").is_ok());
        assert!(matches!(
            validate_message_body(""),
            Err(QueueError::MissingParameter(_))
        ));
        assert!(matches!(
            validate_message_body("a\u{0}b"),
            Err(QueueError::InvalidMessageContents(_))
        ));
        assert!(matches!(
            validate_message_body("\u{fffe}"),
            Err(QueueError::InvalidMessageContents(_))
        ));
    }

    #[test]
    fn message_attribute_validation() {
        let check = |pairs: &[(&str, MessageAttribute)], ok: bool| {
            let result = validate_message_attributes(&attributes(pairs));
            assert_eq!(result.is_ok(), ok, "{pairs:?}: {result:?}");
        };
        check(&[("a", string("String", "x"))], true);
        check(&[("a.b-c_d", string("Number", "-1.5e3"))], true);
        check(&[("a", string("Number.int", "12"))], true);
        check(&[("a", binary(b"x"))], true);
        check(&[("a", string("Number", "twelve"))], false);
        check(&[("a", string("Number", "inf"))], false);
        check(&[("a", string("String", ""))], false);
        check(&[("a", string("Text", "x"))], false);
        check(&[("a", string("", "x"))], false);
        check(&[("a", binary(b""))], false);
        check(&[("AWS.x", string("String", "x"))], false);
        check(&[("amazon.x", string("String", "x"))], false);
        check(&[(".a", string("String", "x"))], false);
        check(&[("a.", string("String", "x"))], false);
        check(&[("a..b", string("String", "x"))], false);
        check(&[("a b", string("String", "x"))], false);
        let eleven: Vec<(String, MessageAttribute)> = (0..11)
            .map(|i| (format!("a{i}"), string("String", "x")))
            .collect();
        assert!(validate_message_attributes(&eleven.into_iter().collect()).is_err());
    }

    #[test]
    fn message_size_counts_attributes() {
        let attrs = attributes(&[("ab", string("String", "xyz")), ("c", binary(&[1, 2]))]);
        assert_eq!(message_size("hello", &attrs), 5 + (2 + 6 + 3) + (1 + 6 + 2));
    }

    #[test]
    fn receipt_handles_round_trip() {
        let handle = ReceiptHandle {
            queue_name: "orders.fifo".to_string(),
            seq: 42,
            receive_id: "0a1b2c".to_string(),
        };
        let text = handle.encode();
        assert!(!text.contains("orders"), "{text}");
        assert_eq!(ReceiptHandle::decode(&text), Some(handle));
        assert_eq!(ReceiptHandle::decode("garbage"), None);
        assert_eq!(ReceiptHandle::decode("zz"), None);
        assert_eq!(ReceiptHandle::decode(""), None);
    }

    #[test]
    fn ids_and_arns() {
        assert!(is_batch_entry_id("m-1_A"));
        assert!(!is_batch_entry_id("m.1"));
        assert!(!is_batch_entry_id(""));
        assert!(is_fifo_id("group!#$%"));
        assert!(!is_fifo_id("has space"));
        assert!(!is_fifo_id(&"g".repeat(129)));
        let region = Region {
            name: "eu-west-1".to_string(),
            account_id: "123456789012".to_string(),
        };
        let arn = queue_arn(&region, "q");
        assert_eq!(arn, "arn:aws:sqs:eu-west-1:123456789012:q");
        assert_eq!(queue_name_from_arn(&arn), Some("q"));
        assert_eq!(queue_name_from_arn("arn:aws:sns:eu-west-1:1:q"), None);
    }
}
