//! Queue operations: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue,
//! PurgeQueue, GetQueueAttributes, SetQueueAttributes,
//! ListDeadLetterSourceQueues, ListQueueTags, TagQueue and UntagQueue; and
//! how a `QueueUrl` names a queue.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rayo_core::queue::{
    LIST_QUEUES_MAX, PurgeOutcome, QUEUE_ATTRIBUTE_NAMES, QueueAttributes, QueueRecord, queue_arn,
    queue_name_from_arn,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::RequestContext;
use super::error::{ErrorCode, SqsError};
use crate::ApiState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueInput {
    queue_name: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags")]
    tags: BTreeMap<String, String>,
}

pub(crate) fn create_queue(
    state: &ApiState,
    context: &RequestContext,
    input: Value,
) -> Result<Value, SqsError> {
    let input: CreateQueueInput = parse(input)?;
    let name = input.queue_name;
    let attributes = QueueAttributes::for_new_queue(&name, &input.attributes)?;
    check_redrive_target(state, &attributes)?;
    check_tags(&input.tags)?;
    let now = now_ms();
    let record = QueueRecord {
        name: name.clone(),
        attributes,
        tags: input.tags,
        created_ms: now,
        last_modified_ms: now,
    };
    if let Some(existing) = state.queues.create_queue(&record)? {
        // Creating an existing queue is idempotent while the attributes
        // asked for are the ones it has.
        if let Some(attribute) = existing
            .attributes
            .first_difference(&name, &input.attributes)?
        {
            return Err(SqsError::new(
                ErrorCode::QueueNameExists,
                format!(
                    "A queue already exists with the same name and a different value for attribute {attribute}"
                ),
            ));
        }
    }
    Ok(json!({ "QueueUrl": queue_url(state, context, &name) }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueUrlInput {
    queue_name: String,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    queue_owner_aws_account_id: Option<String>,
}

pub(crate) fn get_queue_url(
    state: &ApiState,
    context: &RequestContext,
    input: Value,
) -> Result<Value, SqsError> {
    let input: GetQueueUrlInput = parse(input)?;
    if input
        .queue_owner_aws_account_id
        .as_deref()
        .is_some_and(|account| account != state.region.account_id)
    {
        return Err(SqsError::queue_does_not_exist());
    }
    let queue = state
        .queues
        .get_queue(&input.queue_name)?
        .ok_or_else(SqsError::queue_does_not_exist)?;
    Ok(json!({ "QueueUrl": queue_url(state, context, &queue.name) }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesInput {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub(crate) fn list_queues(
    state: &ApiState,
    context: &RequestContext,
    input: Value,
) -> Result<Value, SqsError> {
    let input: ListQueuesInput = parse(input)?;
    let limit = match input.max_results {
        None => LIST_QUEUES_MAX,
        Some(n) if (1..=LIST_QUEUES_MAX as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(SqsError::invalid_value(
                "MaxResults",
                n,
                "MaxResults must be an integer between 1 and 1000.",
            ));
        }
    };
    let after = input.next_token.as_deref().map(decode_token).transpose()?;
    let prefix = input.queue_name_prefix.as_deref().filter(|p| !p.is_empty());
    let mut queues = state
        .queues
        .list_queues(prefix, after.as_deref(), limit + 1)?;
    // A token only when the caller pages, as SQS does.
    let more = queues.len() > limit;
    queues.truncate(limit);
    let mut out = json!({});
    if !queues.is_empty() {
        let urls: Vec<String> = queues
            .iter()
            .map(|q| queue_url(state, context, &q.name))
            .collect();
        out["QueueUrls"] = json!(urls);
    }
    if more && input.max_results.is_some() {
        let last = &queues.last().expect("more than limit > 0 queues").name;
        out["NextToken"] = json!(URL_SAFE_NO_PAD.encode(last));
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlInput {
    queue_url: String,
}

pub(crate) fn delete_queue(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: QueueUrlInput = parse(input)?;
    let name = queue_name_from_url(state, &input.queue_url)?;
    if !state.queues.delete_queue(&name)? {
        return Err(SqsError::queue_does_not_exist());
    }
    state.queue_notifier.forget(&name);
    Ok(json!({}))
}

pub(crate) fn purge_queue(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: QueueUrlInput = parse(input)?;
    let name = queue_name_from_url(state, &input.queue_url)?;
    match state.queues.purge_queue(&name, now_ms())? {
        PurgeOutcome::Purged => Ok(json!({})),
        PurgeOutcome::NotFound => Err(SqsError::queue_does_not_exist()),
        PurgeOutcome::InProgress => Err(SqsError::new(
            ErrorCode::PurgeQueueInProgress,
            format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesInput {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
}

pub(crate) fn get_queue_attributes(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: GetQueueAttributesInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    if let Some(unknown) = input
        .attribute_names
        .iter()
        .find(|name| !QUEUE_ATTRIBUTE_NAMES.contains(&name.as_str()))
    {
        return Err(SqsError::new(
            ErrorCode::InvalidAttributeName,
            format!("Unknown Attribute {unknown}."),
        ));
    }
    if input.attribute_names.is_empty() {
        return Ok(json!({}));
    }
    let all = input.attribute_names.iter().any(|name| name == "All");
    let wanted = |name: &str| all || input.attribute_names.iter().any(|n| n == name);
    let mut attributes = serde_json::Map::new();
    let count_names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ];
    if count_names.iter().any(|name| wanted(name)) {
        let counts = state
            .queues
            .queue_counts(&queue.name, now_ms())?
            .ok_or_else(SqsError::queue_does_not_exist)?;
        let values = [counts.visible, counts.not_visible, counts.delayed];
        for (name, count) in count_names.into_iter().zip(values) {
            if wanted(name) {
                attributes.insert(name.to_string(), json!(count.to_string()));
            }
        }
    }
    let computed = [
        ("CreatedTimestamp", (queue.created_ms / 1000).to_string()),
        (
            "LastModifiedTimestamp",
            (queue.last_modified_ms / 1000).to_string(),
        ),
        ("QueueArn", queue_arn(&state.region, &queue.name)),
    ];
    for (name, value) in computed {
        if wanted(name) {
            attributes.insert(name.to_string(), json!(value));
        }
    }
    for (name, value) in queue.attributes.to_pairs() {
        if wanted(name) {
            attributes.insert(name.to_string(), json!(value));
        }
    }
    Ok(json!({ "Attributes": attributes }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetQueueAttributesInput {
    queue_url: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

pub(crate) fn set_queue_attributes(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: SetQueueAttributesInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    let mut attributes = queue.attributes.clone();
    for (name, value) in &input.attributes {
        attributes.set(name, value)?;
    }
    check_redrive_target(state, &attributes)?;
    if !state
        .queues
        .set_queue_attributes(&queue.name, &attributes, now_ms())?
    {
        return Err(SqsError::queue_does_not_exist());
    }
    // A shorter wait or visibility may let a long poll answer sooner.
    state.queue_notifier.notify(&queue.name);
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListDeadLetterSourceQueuesInput {
    queue_url: String,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub(crate) fn list_dead_letter_source_queues(
    state: &ApiState,
    context: &RequestContext,
    input: Value,
) -> Result<Value, SqsError> {
    let input: ListDeadLetterSourceQueuesInput = parse(input)?;
    let dead_letter_queue = require_queue(state, &input.queue_url)?;
    let arn = queue_arn(&state.region, &dead_letter_queue.name);
    let limit = match input.max_results {
        None => LIST_QUEUES_MAX,
        Some(n) if (1..=LIST_QUEUES_MAX as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(SqsError::invalid_value(
                "MaxResults",
                n,
                "MaxResults must be an integer between 1 and 1000.",
            ));
        }
    };
    let after = input.next_token.as_deref().map(decode_token).transpose()?;
    let mut sources: Vec<QueueRecord> = state
        .queues
        .list_queues(None, after.as_deref(), usize::MAX)?
        .into_iter()
        .filter(|queue| {
            queue
                .attributes
                .redrive_policy
                .as_ref()
                .is_some_and(|policy| policy.dead_letter_target_arn == arn)
        })
        .collect();
    let more = sources.len() > limit;
    sources.truncate(limit);
    let urls: Vec<String> = sources
        .iter()
        .map(|q| queue_url(state, context, &q.name))
        .collect();
    let mut out = json!({ "queueUrls": urls });
    if more && input.max_results.is_some() {
        let last = &sources.last().expect("more than limit > 0 queues").name;
        out["NextToken"] = json!(URL_SAFE_NO_PAD.encode(last));
    }
    Ok(out)
}

pub(crate) fn list_queue_tags(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: QueueUrlInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    if queue.tags.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Tags": queue.tags }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagQueueInput {
    queue_url: String,
    // The query protocol's `Tag.N.Key` arrives as CreateQueue's `tags`.
    #[serde(default, alias = "tags")]
    tags: BTreeMap<String, String>,
}

pub(crate) fn tag_queue(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: TagQueueInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    let mut tags = queue.tags;
    tags.extend(input.tags);
    check_tags(&tags)?;
    if !state.queues.set_queue_tags(&queue.name, &tags)? {
        return Err(SqsError::queue_does_not_exist());
    }
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagQueueInput {
    queue_url: String,
    #[serde(default)]
    tag_keys: Vec<String>,
}

pub(crate) fn untag_queue(state: &ApiState, input: Value) -> Result<Value, SqsError> {
    let input: UntagQueueInput = parse(input)?;
    let queue = require_queue(state, &input.queue_url)?;
    let mut tags = queue.tags;
    for key in &input.tag_keys {
        tags.remove(key);
    }
    if !state.queues.set_queue_tags(&queue.name, &tags)? {
        return Err(SqsError::queue_does_not_exist());
    }
    Ok(json!({}))
}

/// Parses an operation's input; a missing member is SQS's
/// `MissingParameter`, anything else malformed `InvalidParameterValue`.
pub(crate) fn parse<T: DeserializeOwned>(input: Value) -> Result<T, SqsError> {
    serde_json::from_value(input).map_err(|error| {
        let text = error.to_string();
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, _)) => SqsError::missing_parameter(field),
            None => SqsError::invalid_parameter(format!("Invalid request: {text}")),
        }
    })
}

/// The URL of a queue, on the host the client addressed.
pub(crate) fn queue_url(state: &ApiState, context: &RequestContext, name: &str) -> String {
    format!(
        "http://{}/{}/{}",
        context.host, state.region.account_id, name
    )
}

/// The queue a `QueueUrl` names: its path is `/<account>/<queue>`, whatever
/// the host (clients keep URLs across restarts and host names).
pub(crate) fn queue_name_from_url(state: &ApiState, url: &str) -> Result<String, SqsError> {
    parse_queue_url(&state.region.account_id, url)
}

fn parse_queue_url(account_id: &str, url: &str) -> Result<String, SqsError> {
    let invalid = || {
        SqsError::new(
            ErrorCode::InvalidAddress,
            format!("The address {url} is not valid for this endpoint."),
        )
    };
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).ok_or_else(invalid)?,
        None if url.starts_with('/') => url,
        None => return Err(invalid()),
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let [.., account, name] = segments.as_slice() else {
        return Err(invalid());
    };
    if name.is_empty() || account.is_empty() {
        return Err(invalid());
    }
    if *account != account_id {
        return Err(SqsError::queue_does_not_exist());
    }
    Ok(name.to_string())
}

/// The queue a `QueueUrl` names, which must exist.
pub(crate) fn require_queue(state: &ApiState, url: &str) -> Result<QueueRecord, SqsError> {
    let name = queue_name_from_url(state, url)?;
    state
        .queues
        .get_queue(&name)?
        .ok_or_else(SqsError::queue_does_not_exist)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A redrive policy must name an existing queue of the same kind, in this
/// region and account.
fn check_redrive_target(state: &ApiState, attributes: &QueueAttributes) -> Result<(), SqsError> {
    let Some(policy) = &attributes.redrive_policy else {
        return Ok(());
    };
    let invalid = |reason: &str| SqsError::invalid_value("RedrivePolicy", policy.to_json(), reason);
    let target = queue_name_from_arn(&policy.dead_letter_target_arn)
        .filter(|name| queue_arn(&state.region, name) == policy.dead_letter_target_arn)
        .ok_or_else(|| invalid("Dead letter target does not exist."))?;
    let target = state
        .queues
        .get_queue(target)?
        .ok_or_else(|| invalid("Dead letter target does not exist."))?;
    if target.attributes.is_fifo() != attributes.is_fifo() {
        return Err(invalid(
            "Dead-letter queue must be same type of queue as the source.",
        ));
    }
    Ok(())
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    if tags.len() > 50 {
        return Err(SqsError::invalid_parameter(
            "Too many tags added for queue. Maximum is 50.",
        ));
    }
    if let Some((key, _)) = tags
        .iter()
        .find(|(key, value)| key.is_empty() || key.len() > 128 || value.len() > 256)
    {
        return Err(SqsError::invalid_parameter(format!(
            "Tag key '{key}' or its value is too long or empty."
        )));
    }
    Ok(())
}

fn decode_token(token: &str) -> Result<String, SqsError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| SqsError::invalid_parameter("Invalid NextToken value."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_members_are_missing_parameters() {
        let error = parse::<QueueUrlInput>(json!({})).unwrap_err();
        assert_eq!(error.code, ErrorCode::MissingParameter);
        assert_eq!(
            error.message,
            "The request must contain the parameter QueueUrl."
        );
        let error = parse::<QueueUrlInput>(json!({ "QueueUrl": 5 })).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn tokens_round_trip() {
        let token = URL_SAFE_NO_PAD.encode("queue-name");
        assert_eq!(decode_token(&token).unwrap(), "queue-name");
        assert!(decode_token("***").is_err());
    }

    #[test]
    fn queue_urls_name_queues_by_path() {
        let check = |url: &str, expected: Result<&str, ErrorCode>| {
            let actual = parse_queue_url("000000000000", url);
            assert_eq!(actual.as_deref().map_err(|e| e.code), expected, "{url}");
        };
        check("http://localhost:4566/000000000000/q", Ok("q"));
        check(
            "https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo",
            Ok("q.fifo"),
        );
        check("http://127.0.0.1:9/queue/us-east-1/000000000000/q", Ok("q"));
        check("/000000000000/q", Ok("q"));
        check("http://h/000000000000/q?Action=x", Ok("q"));
        check("http://h/111111111111/q", Err(ErrorCode::QueueDoesNotExist));
        check("q", Err(ErrorCode::InvalidAddress));
        check("http://h", Err(ErrorCode::InvalidAddress));
        check("http://h/q", Err(ErrorCode::InvalidAddress));
    }
}
