//! The EventBridge API (JSON 1.1, `X-Amz-Target: AWSEvents.*`), as much of it
//! as schedules need: PutRule, DescribeRule, ListRules, EnableRule,
//! DisableRule, DeleteRule, PutTargets, RemoveTargets and ListTargetsByRule,
//! on the default event bus. Rules with an `EventPattern` are stored but
//! match nothing yet. Resource policies are not enforced: a function needs no
//! AddPermission for `events.amazonaws.com` to be a target.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::rule::{
    DEFAULT_EVENT_BUS, DeleteRuleOutcome, PutTargetsOutcome, Rule, RuleState, RuleTarget,
    validate_rule_name, validate_target_id,
};
use rayo_core::schedule::Schedule;
use rayo_core::store::StoreError;
use rayo_core::validation::ValidationError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::body::read_limited;

/// Largest request body the EventBridge API reads.
const REQUEST_MAX_BYTES: usize = 1024 * 1024;
/// Most rules or targets per page, as EventBridge allows.
const PAGE_MAX: usize = 100;
/// Longest `ScheduleExpression`.
const SCHEDULE_EXPRESSION_MAX: usize = 256;
/// Longest `EventPattern`.
const EVENT_PATTERN_MAX: usize = 4096;
/// Longest `Description`.
const DESCRIPTION_MAX: usize = 512;
/// Longest target `Input`.
const INPUT_MAX: usize = 8192;
/// Most targets in one PutTargets or ids in one RemoveTargets.
const TARGETS_PER_REQUEST_MAX: usize = 100;

/// An EventBridge API error, in the JSON 1.1 protocol's shape.
#[derive(Debug)]
struct EventsError {
    error_type: &'static str,
    message: String,
}

impl EventsError {
    fn new(error_type: &'static str, message: impl Into<String>) -> EventsError {
        EventsError {
            error_type,
            message: message.into(),
        }
    }

    fn validation(message: impl Into<String>) -> EventsError {
        EventsError::new("ValidationException", message)
    }

    fn rule_not_found(name: &str) -> EventsError {
        EventsError::new(
            "ResourceNotFoundException",
            format!("Rule {name} does not exist on EventBus {DEFAULT_EVENT_BUS}."),
        )
    }
}

impl From<ValidationError> for EventsError {
    fn from(error: ValidationError) -> EventsError {
        EventsError::validation(error.to_string())
    }
}

impl From<StoreError> for EventsError {
    fn from(error: StoreError) -> EventsError {
        tracing::error!(%error, "rule store failure");
        EventsError::new("InternalException", "An internal error occurred.")
    }
}

impl IntoResponse for EventsError {
    fn into_response(self) -> Response {
        let status = if self.error_type == "InternalException" {
            StatusCode::INTERNAL_SERVER_ERROR
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

/// Runs one EventBridge API operation.
pub(crate) async fn handle(state: Arc<ApiState>, operation: String, request: Request) -> Response {
    let body = match read_limited(request.into_body(), REQUEST_MAX_BYTES).await {
        Ok(Some(body)) => body,
        _ => {
            return EventsError::validation("request body too large or unreadable").into_response();
        }
    };
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let input: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return EventsError::new("SerializationException", error.to_string()).into_response();
        }
    };
    let result = match operation.as_str() {
        "PutRule" => put_rule(&state, input),
        "DescribeRule" => describe_rule(&state, input),
        "ListRules" => list_rules(&state, input),
        "EnableRule" => set_rule_state(&state, input, RuleState::Enabled),
        "DisableRule" => set_rule_state(&state, input, RuleState::Disabled),
        "DeleteRule" => delete_rule(&state, input),
        "PutTargets" => put_targets(&state, input),
        "RemoveTargets" => remove_targets(&state, input),
        "ListTargetsByRule" => list_targets_by_rule(&state, input),
        _ => Err(EventsError::new(
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

fn parse<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, EventsError> {
    serde_json::from_value(input)
        .map_err(|e| EventsError::new("SerializationException", e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRuleIn {
    name: Option<String>,
    schedule_expression: Option<String>,
    event_pattern: Option<String>,
    state: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
    event_bus_name: Option<String>,
}

fn put_rule(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: PutRuleIn = parse(input)?;
    let name = rule_name("name", input.name)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    if input.schedule_expression.is_none() && input.event_pattern.is_none() {
        return Err(EventsError::validation(
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        ));
    }
    if let Some(expression) = &input.schedule_expression {
        check_length("scheduleExpression", expression, SCHEDULE_EXPRESSION_MAX)?;
        Schedule::parse(expression).map_err(|reason| {
            EventsError::validation(format!(
                "Parameter ScheduleExpression is not valid. Reason: {reason}"
            ))
        })?;
    }
    if let Some(pattern) = &input.event_pattern {
        check_length("eventPattern", pattern, EVENT_PATTERN_MAX)?;
        match serde_json::from_str::<Value>(pattern) {
            Ok(Value::Object(_)) => {}
            Ok(_) => {
                return Err(EventsError::new(
                    "InvalidEventPatternException",
                    "Event pattern is not valid. Reason: Filter is not an object",
                ));
            }
            Err(error) => {
                return Err(EventsError::new(
                    "InvalidEventPatternException",
                    format!("Event pattern is not valid. Reason: {error}"),
                ));
            }
        }
    }
    let rule_state = match input.state.as_deref() {
        None => RuleState::Enabled,
        Some(text) => RuleState::parse(text).ok_or_else(|| {
            ValidationError::constraint(
                "state",
                text,
                "Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]",
            )
        })?,
    };
    if let Some(description) = &input.description {
        check_length("description", description, DESCRIPTION_MAX)?;
    }
    let rule = Rule {
        name,
        schedule_expression: input.schedule_expression,
        event_pattern: input.event_pattern,
        state: rule_state,
        description: input.description,
        role_arn: input.role_arn,
    };
    state.rules.put_rule(&rule)?;
    state.rules_changed.notify_one();
    Ok(json!({ "RuleArn": state.region.rule_arn(&rule.name) }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameIn {
    name: Option<String>,
    event_bus_name: Option<String>,
}

fn describe_rule(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: NameIn = parse(input)?;
    let name = rule_name("name", input.name)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    let rule = state
        .rules
        .get_rule(&name)?
        .ok_or_else(|| EventsError::rule_not_found(&name))?;
    let mut out = rule_shape(state, &rule);
    out["CreatedBy"] = json!(state.region.account_id);
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRulesIn {
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn list_rules(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: ListRulesIn = parse(input)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    let limit = page_limit(input.limit)?;
    // The token is the name of the last rule of the previous page.
    let mut rules = state.rules.list_rules(
        input.name_prefix.as_deref(),
        input.next_token.as_deref(),
        limit + 1,
    )?;
    let next_token = if rules.len() > limit {
        rules.truncate(limit);
        rules.last().map(|r| r.name.clone())
    } else {
        None
    };
    let rules: Vec<Value> = rules.iter().map(|r| rule_shape(state, r)).collect();
    let mut out = json!({ "Rules": rules });
    if let Some(token) = next_token {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}

fn set_rule_state(
    state: &ApiState,
    input: Value,
    rule_state: RuleState,
) -> Result<Value, EventsError> {
    let input: NameIn = parse(input)?;
    let name = rule_name("name", input.name)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    if !state.rules.set_rule_state(&name, rule_state)? {
        return Err(EventsError::rule_not_found(&name));
    }
    state.rules_changed.notify_one();
    Ok(json!({}))
}

fn delete_rule(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: NameIn = parse(input)?;
    let name = rule_name("name", input.name)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    match state.rules.delete_rule(&name)? {
        // Deleting a rule that is not there succeeds, as EventBridge's does.
        DeleteRuleOutcome::Deleted | DeleteRuleOutcome::NotFound => {
            state.rules_changed.notify_one();
            Ok(json!({}))
        }
        DeleteRuleOutcome::HasTargets => Err(EventsError::validation(
            "Rule can't be deleted since it has targets.",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTargetsIn {
    rule: Option<String>,
    event_bus_name: Option<String>,
    targets: Option<Vec<TargetIn>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetIn {
    id: Option<String>,
    arn: Option<String>,
    input: Option<String>,
    input_path: Option<String>,
    input_transformer: Option<Value>,
}

fn put_targets(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: PutTargetsIn = parse(input)?;
    let rule = rule_name("rule", input.rule)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    let targets = input.targets.unwrap_or_default();
    check_count("targets", targets.len())?;
    let mut accepted = Vec::new();
    let mut failed = Vec::new();
    for (index, target) in targets.into_iter().enumerate() {
        let member = |field: &str| format!("targets.{}.member.{field}", index + 1);
        let id = target
            .id
            .ok_or_else(|| not_null(&member("id")))
            .and_then(|id| {
                validate_target_id(&member("id"), &id)
                    .map(|()| id)
                    .map_err(Into::into)
            })?;
        let arn = target.arn.ok_or_else(|| not_null(&member("arn")))?;
        check_length(&member("arn"), &arn, 1600)?;
        if let Some(text) = &target.input {
            check_length(&member("input"), text, INPUT_MAX)?;
            if serde_json::from_str::<Value>(text).is_err() {
                return Err(EventsError::validation(format!(
                    "Input for target {id} is not a valid JSON text."
                )));
            }
        }
        let transforms_input = target.input_path.is_some() || target.input_transformer.is_some();
        let target = RuleTarget {
            id,
            arn,
            input: target.input,
        };
        match deliverable(target, transforms_input) {
            Ok(target) => accepted.push(target),
            Err((id, message)) => failed.push(json!({
                "TargetId": id,
                "ErrorCode": "ValidationException",
                "ErrorMessage": message,
            })),
        }
    }
    match state.rules.put_targets(&rule, &accepted)? {
        PutTargetsOutcome::Done => {}
        PutTargetsOutcome::RuleNotFound => return Err(EventsError::rule_not_found(&rule)),
        PutTargetsOutcome::TooManyTargets => {
            return Err(EventsError::new(
                "LimitExceededException",
                "The requested resource exceeds the maximum number allowed.",
            ));
        }
    }
    Ok(json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
}

/// Targets rayo cannot deliver to are refused one by one, in `FailedEntries`,
/// rather than stored and silently never reached.
fn deliverable(target: RuleTarget, transforms_input: bool) -> Result<RuleTarget, (String, String)> {
    if target.function().is_none() {
        let message = format!(
            "rayo delivers only to Lambda functions (arn:aws:lambda:<region>:<account>:function:<name>), not to {}",
            target.arn
        );
        return Err((target.id, message));
    }
    if transforms_input {
        let message = "rayo does not support InputPath or InputTransformer yet".to_string();
        return Err((target.id, message));
    }
    Ok(target)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveTargetsIn {
    rule: Option<String>,
    event_bus_name: Option<String>,
    ids: Option<Vec<String>>,
}

fn remove_targets(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: RemoveTargetsIn = parse(input)?;
    let rule = rule_name("rule", input.rule)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    let ids = input.ids.unwrap_or_default();
    check_count("ids", ids.len())?;
    if !state.rules.remove_targets(&rule, &ids)? {
        return Err(EventsError::rule_not_found(&rule));
    }
    Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTargetsIn {
    rule: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn list_targets_by_rule(state: &ApiState, input: Value) -> Result<Value, EventsError> {
    let input: ListTargetsIn = parse(input)?;
    let rule = rule_name("rule", input.rule)?;
    check_event_bus(input.event_bus_name.as_deref())?;
    let limit = page_limit(input.limit)?;
    let targets = state
        .rules
        .list_targets(&rule)?
        .ok_or_else(|| EventsError::rule_not_found(&rule))?;
    // The token is the index of the first target of the next page.
    let start: usize = match input.next_token.as_deref() {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| EventsError::validation("The specified nextToken is invalid."))?,
    };
    let page: Vec<Value> = targets
        .iter()
        .skip(start)
        .take(limit)
        .map(|target| {
            let mut out = json!({ "Id": target.id, "Arn": target.arn });
            if let Some(input) = &target.input {
                out["Input"] = json!(input);
            }
            out
        })
        .collect();
    let mut out = json!({ "Targets": page });
    if start + limit < targets.len() {
        out["NextToken"] = json!((start + limit).to_string());
    }
    Ok(out)
}

/// A rule as DescribeRule and ListRules show it.
fn rule_shape(state: &ApiState, rule: &Rule) -> Value {
    let mut out = json!({
        "Name": rule.name,
        "Arn": state.region.rule_arn(&rule.name),
        "State": rule.state.as_str(),
        "EventBusName": DEFAULT_EVENT_BUS,
    });
    let optional = [
        ("ScheduleExpression", &rule.schedule_expression),
        ("EventPattern", &rule.event_pattern),
        ("Description", &rule.description),
        ("RoleArn", &rule.role_arn),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out[key] = json!(value);
        }
    }
    out
}

fn rule_name(field: &str, name: Option<String>) -> Result<String, EventsError> {
    let name = name.ok_or_else(|| not_null(field))?;
    validate_rule_name(field, &name)?;
    Ok(name)
}

fn not_null(field: &str) -> EventsError {
    EventsError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

/// Only the default bus exists, by name or by ARN.
fn check_event_bus(name: Option<&str>) -> Result<(), EventsError> {
    match name {
        None | Some(DEFAULT_EVENT_BUS) => Ok(()),
        Some(arn) if arn.starts_with("arn:") && arn.ends_with(":event-bus/default") => Ok(()),
        Some(other) => Err(EventsError::new(
            "ResourceNotFoundException",
            format!("Event bus {other} does not exist."),
        )),
    }
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), EventsError> {
    if value.chars().count() > max {
        return Err(ValidationError::constraint(
            field,
            value,
            &format!("Member must have length less than or equal to {max}"),
        )
        .into());
    }
    Ok(())
}

fn check_count(field: &str, n: usize) -> Result<(), EventsError> {
    if n == 0 || n > TARGETS_PER_REQUEST_MAX {
        return Err(EventsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length less than or equal to {TARGETS_PER_REQUEST_MAX} and greater than or equal to 1"
        )));
    }
    Ok(())
}

fn page_limit(limit: Option<i64>) -> Result<usize, EventsError> {
    match limit {
        None => Ok(PAGE_MAX),
        Some(n) if (1..=PAGE_MAX as i64).contains(&n) => Ok(n as usize),
        Some(n) => Err(EventsError::validation(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {PAGE_MAX}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_default_bus_exists() {
        for bus in [
            None,
            Some("default"),
            Some("arn:aws:events:us-east-1:000000000000:event-bus/default"),
        ] {
            assert!(check_event_bus(bus).is_ok(), "{bus:?}");
        }
        let error = check_event_bus(Some("orders")).unwrap_err();
        assert_eq!(error.error_type, "ResourceNotFoundException");
        assert_eq!(error.message, "Event bus orders does not exist.");
    }

    #[test]
    fn only_lambda_targets_without_transforms_are_deliverable() {
        let target = |arn: &str| RuleTarget {
            id: "t".to_string(),
            arn: arn.to_string(),
            input: None,
        };
        let lambda = "arn:aws:lambda:us-east-1:000000000000:function:f";
        assert!(deliverable(target(lambda), false).is_ok());
        let (id, message) = deliverable(target(lambda), true).unwrap_err();
        assert_eq!(id, "t");
        assert!(message.contains("InputPath"), "{message}");
        let (_, message) =
            deliverable(target("arn:aws:sqs:us-east-1:000000000000:q"), false).unwrap_err();
        assert!(message.contains("Lambda functions"), "{message}");
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None).unwrap(), 100);
        assert_eq!(page_limit(Some(7)).unwrap(), 7);
        for bad in [0, 101, -1] {
            let error = page_limit(Some(bad)).unwrap_err();
            assert_eq!(error.error_type, "ValidationException");
        }
    }
}
