//! The CloudWatch Logs API (JSON 1.1, `X-Amz-Target: Logs_20140328.*`), as
//! much of it as reading functions' logs needs: DescribeLogGroups,
//! DescribeLogStreams, GetLogEvents, FilterLogEvents, PutRetentionPolicy,
//! DeleteRetentionPolicy and DeleteLogGroup.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::logs::{LogQuery, StoredLogEvent, parse_filter_terms};
use rayo_core::store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::body::read_limited;

/// Largest request body the Logs API reads.
const REQUEST_MAX_BYTES: usize = 1024 * 1024;
/// Most events per page, as CloudWatch allows.
const EVENTS_PAGE_MAX: usize = 10_000;
/// Retention periods CloudWatch accepts, in days.
const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A Logs API error, in the JSON 1.1 protocol's shape.
#[derive(Debug)]
struct LogsError {
    error_type: &'static str,
    message: String,
}

impl LogsError {
    fn new(error_type: &'static str, message: impl Into<String>) -> LogsError {
        LogsError {
            error_type,
            message: message.into(),
        }
    }

    fn group_not_found() -> LogsError {
        LogsError::new(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }

    fn invalid(message: impl Into<String>) -> LogsError {
        LogsError::new("InvalidParameterException", message)
    }
}

impl From<StoreError> for LogsError {
    fn from(error: StoreError) -> LogsError {
        tracing::error!(%error, "log store failure");
        LogsError::new("ServiceUnavailableException", "The service is unavailable")
    }
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        let status = if self.error_type == "ServiceUnavailableException" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({ "__type": self.error_type, "message": self.message });
        (
            status,
            [("content-type", "application/x-amz-json-1.1")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Runs one Logs API operation.
pub(crate) async fn handle(state: Arc<ApiState>, operation: String, request: Request) -> Response {
    let body = match read_limited(request.into_body(), REQUEST_MAX_BYTES).await {
        Ok(Some(body)) => body,
        _ => return LogsError::invalid("request body too large or unreadable").into_response(),
    };
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let input: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return LogsError::new("SerializationException", error.to_string()).into_response();
        }
    };
    let result = match operation.as_str() {
        "DescribeLogGroups" => describe_log_groups(&state, input),
        "DescribeLogStreams" => describe_log_streams(&state, input),
        "GetLogEvents" => get_log_events(&state, input),
        "FilterLogEvents" => filter_log_events(&state, input),
        "PutRetentionPolicy" => put_retention_policy(&state, input),
        "DeleteRetentionPolicy" => delete_retention_policy(&state, input),
        "DeleteLogGroup" => delete_log_group(&state, input),
        _ => Err(LogsError::new(
            "UnknownOperationException",
            format!("Operation {operation} is not supported"),
        )),
    };
    match result {
        Ok(out) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.1")],
            out.to_string(),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, LogsError> {
    serde_json::from_value(input)
        .map_err(|e| LogsError::new("SerializationException", e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsIn {
    log_group_name_prefix: Option<String>,
    next_token: Option<String>,
    limit: Option<usize>,
}

fn describe_log_groups(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: DescribeLogGroupsIn = parse(input)?;
    let limit = page_limit(input.limit, 50)?;
    let mut groups = state.logs.describe_log_groups(
        input.log_group_name_prefix.as_deref(),
        input.next_token.as_deref(),
        limit + 1,
    )?;
    let next_token = if groups.len() > limit {
        groups.truncate(limit);
        groups.last().map(|g| g.name.clone())
    } else {
        None
    };
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            let mut out = json!({
                "logGroupName": g.name,
                "creationTime": g.creation_time_ms,
                "metricFilterCount": 0,
                "arn": format!("{}:*", group_arn(state, &g.name)),
                "logGroupArn": group_arn(state, &g.name),
                "storedBytes": g.stored_bytes,
                "logGroupClass": "STANDARD",
            });
            if let Some(days) = g.retention_days {
                out["retentionInDays"] = json!(days);
            }
            out
        })
        .collect();
    let mut out = json!({ "logGroups": groups });
    if let Some(token) = next_token {
        out["nextToken"] = json!(token);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreamsIn {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<usize>,
}

fn describe_log_streams(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: DescribeLogStreamsIn = parse(input)?;
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    let order_by_last_event = match input.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
    };
    if order_by_last_event && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let limit = page_limit(input.limit, 50)?;
    let streams = state
        .logs
        .describe_log_streams(
            &group,
            input.log_stream_name_prefix.as_deref(),
            order_by_last_event,
            input.descending.unwrap_or(false),
        )?
        .ok_or_else(LogsError::group_not_found)?;
    let start: usize = input
        .next_token
        .as_deref()
        .map(|t| {
            t.parse()
                .map_err(|_| LogsError::invalid("The specified nextToken is invalid."))
        })
        .transpose()?
        .unwrap_or(0);
    let page: Vec<Value> = streams
        .iter()
        .skip(start)
        .take(limit)
        .map(|s| {
            let mut out = json!({
                "logStreamName": s.name,
                "creationTime": s.creation_time_ms,
                "arn": format!("{}:log-stream:{}", group_arn(state, &group), s.name),
                "storedBytes": s.stored_bytes,
                "uploadSequenceToken": "1",
            });
            if let Some(first) = s.first_event_ms {
                out["firstEventTimestamp"] = json!(first);
            }
            if let Some(last) = s.last_event_ms {
                out["lastEventTimestamp"] = json!(last);
            }
            if let Some(ingestion) = s.last_ingestion_ms {
                out["lastIngestionTime"] = json!(ingestion);
            }
            out
        })
        .collect();
    let mut out = json!({ "logStreams": page });
    if start + limit < streams.len() {
        out["nextToken"] = json!((start + limit).to_string());
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsIn {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<usize>,
    start_from_head: Option<bool>,
}

fn get_log_events(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: GetLogEventsIn = parse(input)?;
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    let limit = page_limit(input.limit, EVENTS_PAGE_MAX)?;
    let streams = state
        .logs
        .describe_log_streams(&group, Some(&input.log_stream_name), false, false)?
        .ok_or_else(LogsError::group_not_found)?;
    if !streams.iter().any(|s| s.name == input.log_stream_name) {
        return Err(LogsError::new(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        ));
    }
    // Tokens are `f/<id>` (events after id) and `b/<id>` (events before id).
    let (forward, position) = match input.next_token.as_deref() {
        Some(token) => parse_event_token(token)?,
        None => (input.start_from_head.unwrap_or(false), None),
    };
    let mut query = LogQuery {
        stream_names: vec![input.log_stream_name.clone()],
        start_time_ms: input.start_time,
        end_time_ms: input.end_time,
        limit,
        newest_first: !forward,
        ..LogQuery::default()
    };
    if forward {
        query.after_event_id = position;
    } else {
        query.before_event_id = position;
    }
    let mut events = state.logs.query_log_events(&group, &query)?;
    if !forward {
        events.reverse();
    }
    let first = events.first().map(|e| e.event_id);
    let last = events.last().map(|e| e.event_id);
    // With no events, the tokens stay where they were so that a client
    // paging forward sees the same token and stops.
    let forward_token = match (last, forward, position) {
        (Some(last), _, _) => format!("f/{last:020}"),
        (None, true, Some(position)) => format!("f/{position:020}"),
        (None, _, _) => format!("f/{:020}", position.unwrap_or(0)),
    };
    let backward_token = match (first, position) {
        (Some(first), _) => format!("b/{first:020}"),
        (None, Some(position)) => format!("b/{position:020}"),
        (None, None) => format!("b/{:020}", 0),
    };
    let events: Vec<Value> = events
        .iter()
        .map(|e| json!({ "timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_time_ms }))
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": forward_token,
        "nextBackwardToken": backward_token,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsIn {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<usize>,
}

fn filter_log_events(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: FilterLogEventsIn = parse(input)?;
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive",
        ));
    }
    let limit = page_limit(input.limit, EVENTS_PAGE_MAX)?;
    let streams = state
        .logs
        .describe_log_streams(&group, None, false, false)?
        .ok_or_else(LogsError::group_not_found)?;
    let after_event_id = input
        .next_token
        .as_deref()
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| LogsError::invalid("The specified nextToken is invalid."))
        })
        .transpose()?;
    let query = LogQuery {
        stream_names: input.log_stream_names.clone().unwrap_or_default(),
        stream_prefix: input.log_stream_name_prefix.clone(),
        start_time_ms: input.start_time,
        end_time_ms: input.end_time,
        after_event_id,
        terms: parse_filter_terms(input.filter_pattern.as_deref().unwrap_or("")),
        limit: limit + 1,
        ..LogQuery::default()
    };
    let mut events: Vec<StoredLogEvent> = state.logs.query_log_events(&group, &query)?;
    let next_token = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.event_id.to_string())
    } else {
        None
    };
    let searched: Vec<Value> = streams
        .iter()
        .filter(
            |s| match (&input.log_stream_names, &input.log_stream_name_prefix) {
                (Some(names), _) => names.contains(&s.name),
                (None, Some(prefix)) => s.name.starts_with(prefix.as_str()),
                (None, None) => true,
            },
        )
        .map(|s| json!({ "logStreamName": s.name, "searchedCompletely": true }))
        .collect();
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "logStreamName": e.log_stream_name,
                "timestamp": e.timestamp_ms,
                "message": e.message,
                "ingestionTime": e.ingestion_time_ms,
                "eventId": format!("{:056}", e.event_id),
            })
        })
        .collect();
    let mut out = json!({ "events": events, "searchedLogStreams": searched });
    if let Some(token) = next_token {
        out["nextToken"] = json!(token);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetentionIn {
    log_group_name: String,
    retention_in_days: Option<u32>,
}

fn put_retention_policy(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: RetentionIn = parse(input)?;
    let days = input.retention_in_days.unwrap_or(0);
    if !RETENTION_DAYS.contains(&days) {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
        )));
    }
    if !state
        .logs
        .put_retention_policy(&input.log_group_name, Some(days))?
    {
        return Err(LogsError::group_not_found());
    }
    Ok(json!({}))
}

fn delete_retention_policy(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: RetentionIn = parse(input)?;
    if !state
        .logs
        .put_retention_policy(&input.log_group_name, None)?
    {
        return Err(LogsError::group_not_found());
    }
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteLogGroupIn {
    log_group_name: String,
}

fn delete_log_group(state: &ApiState, input: Value) -> Result<Value, LogsError> {
    let input: DeleteLogGroupIn = parse(input)?;
    if !state.logs.delete_log_group(&input.log_group_name)? {
        return Err(LogsError::group_not_found());
    }
    Ok(json!({}))
}

fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(name), _) => Ok(name),
        (None, Some(identifier)) => Ok(identifier
            .rsplit_once(":log-group:")
            .map(|(_, rest)| rest.trim_end_matches(":*").to_string())
            .unwrap_or(identifier)),
        (None, None) => Err(LogsError::invalid(
            "Either logGroupName or logGroupIdentifier must be specified",
        )),
    }
}

fn page_limit(limit: Option<usize>, max: usize) -> Result<usize, LogsError> {
    match limit {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}

fn parse_event_token(token: &str) -> Result<(bool, Option<i64>), LogsError> {
    let invalid = || LogsError::invalid("The specified nextToken is invalid.");
    let (direction, position) = token.split_once('/').ok_or_else(invalid)?;
    let position: i64 = position.parse().map_err(|_| invalid())?;
    match direction {
        "f" => Ok((true, Some(position))),
        "b" => Ok((false, Some(position))),
        _ => Err(invalid()),
    }
}

fn group_arn(state: &ApiState, group: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{}",
        state.region.name, state.region.account_id, group
    )
}
