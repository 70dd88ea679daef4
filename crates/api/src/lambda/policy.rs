//! The resource-based policy: AddPermission, RemovePermission and GetPolicy,
//! through which S3, EventBridge and function URLs are allowed to invoke.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::store::StoreError;
use rayo_core::validation::ValidationError;
use rayo_core::{FunctionRecord, PolicyStatement, Region, limits};
use serde_json::{Map, Value, json};

use super::functions::{load_function, new_revision_id};
use super::shapes::{AddPermissionIn, parse_json};
use crate::ApiState;
use crate::error::LambdaError;

/// `POST /2015-03-31/functions/{name}/policy`
pub(crate) async fn add_permission(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: AddPermissionIn = parse_json(&body)?;
    let mut record = load_function(&state, &function_name, query.get("Qualifier"))?;
    let statement_id = input
        .statement_id
        .ok_or_else(|| null_field("statementId"))?;
    let valid_sid = !statement_id.is_empty()
        && statement_id.len() <= 100
        && statement_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_sid {
        return Err(ValidationError::constraint(
            "statementId",
            &statement_id,
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        )
        .into());
    }
    let action = input.action.ok_or_else(|| null_field("action"))?;
    let valid_action = action == "*"
        || action == "lambda:*"
        || action
            .strip_prefix("lambda:")
            .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphabetic()));
    if !valid_action {
        return Err(ValidationError::constraint(
            "action",
            &action,
            "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])",
        )
        .into());
    }
    let principal = input.principal.ok_or_else(|| null_field("principal"))?;
    if principal.is_empty() || principal.chars().any(char::is_whitespace) {
        return Err(ValidationError::constraint(
            "principal",
            &principal,
            "Member must satisfy regular expression pattern: [^\\s]+",
        )
        .into());
    }
    if let Some(revision_id) = &input.revision_id
        && *revision_id != record.config.revision_id
    {
        return Err(LambdaError::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    if record.policy.iter().any(|s| s.statement_id == statement_id) {
        return Err(LambdaError::conflict(format!(
            "The statement id ({statement_id}) provided already exists. Please provide a new statement id, or remove the existing statement."
        )));
    }
    let statement = PolicyStatement {
        statement_id,
        action,
        principal,
        source_arn: input.source_arn,
        source_account: input.source_account,
        principal_org_id: input.principal_org_id,
        function_url_auth_type: input.function_url_auth_type,
        event_source_token: input.event_source_token,
    };
    let statement_json = statement_document(&state.region, &record.config.name, &statement);
    record.policy.push(statement);
    if policy_document(&state.region, &record).len() > limits::POLICY_MAX_BYTES {
        return Err(LambdaError::new_policy_too_long());
    }
    save_policy(&state, &mut record)?;
    let out = json!({ "Statement": statement_json.to_string() });
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /2015-03-31/functions/{name}/policy`
pub(crate) async fn get_policy(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let record = load_function(&state, &function_name, query.get("Qualifier"))?;
    if record.policy.is_empty() {
        return Err(LambdaError::not_found(
            "The resource you requested does not exist.",
        ));
    }
    let out = json!({
        "Policy": policy_document(&state.region, &record),
        "RevisionId": record.policy_revision_id,
    });
    Ok(Json(out).into_response())
}

/// `DELETE /2015-03-31/functions/{name}/policy/{sid}`
pub(crate) async fn remove_permission(
    State(state): State<Arc<ApiState>>,
    Path((function_name, statement_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let mut record = load_function(&state, &function_name, query.get("Qualifier"))?;
    if let Some(revision_id) = query.get("RevisionId")
        && *revision_id != record.policy_revision_id
    {
        return Err(LambdaError::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id",
        ));
    }
    let before = record.policy.len();
    record.policy.retain(|s| s.statement_id != statement_id);
    if record.policy.len() == before {
        return Err(LambdaError::not_found(format!(
            "Statement {statement_id} is not found in resource policy."
        )));
    }
    save_policy(&state, &mut record)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn save_policy(state: &ApiState, record: &mut FunctionRecord) -> Result<(), LambdaError> {
    let previous_policy_revision =
        std::mem::replace(&mut record.policy_revision_id, new_revision_id());
    match state.functions.update_function(
        record,
        &record.config.revision_id,
        &previous_policy_revision,
    ) {
        Ok(()) => Ok(()),
        Err(StoreError::RevisionConflict(_)) => Err(LambdaError::conflict(
            "The policy was changed by another request; retry",
        )),
        Err(error) => Err(error.into()),
    }
}

/// The whole policy document as GetPolicy returns it (a JSON string).
fn policy_document(region: &Region, record: &FunctionRecord) -> String {
    let statements: Vec<Value> = record
        .policy
        .iter()
        .map(|s| statement_document(region, &record.config.name, s))
        .collect();
    json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements }).to_string()
}

/// One statement in IAM policy grammar.
fn statement_document(region: &Region, function_name: &str, statement: &PolicyStatement) -> Value {
    let principal = if statement.principal == "*" {
        json!("*")
    } else if statement.principal.len() == 12
        && statement.principal.bytes().all(|b| b.is_ascii_digit())
    {
        json!({ "AWS": format!("arn:aws:iam::{}:root", statement.principal) })
    } else if statement.principal.starts_with("arn:") {
        json!({ "AWS": statement.principal })
    } else {
        json!({ "Service": statement.principal })
    };
    let mut string_equals = Map::new();
    if let Some(account) = &statement.source_account {
        string_equals.insert("AWS:SourceAccount".to_string(), json!(account));
    }
    if let Some(org) = &statement.principal_org_id {
        string_equals.insert("aws:PrincipalOrgID".to_string(), json!(org));
    }
    if let Some(auth_type) = &statement.function_url_auth_type {
        string_equals.insert("lambda:FunctionUrlAuthType".to_string(), json!(auth_type));
    }
    if let Some(token) = &statement.event_source_token {
        string_equals.insert("lambda:EventSourceToken".to_string(), json!(token));
    }
    let mut condition = Map::new();
    if !string_equals.is_empty() {
        condition.insert("StringEquals".to_string(), Value::Object(string_equals));
    }
    if let Some(source_arn) = &statement.source_arn {
        condition.insert(
            "ArnLike".to_string(),
            json!({ "AWS:SourceArn": source_arn }),
        );
    }
    let mut out = json!({
        "Sid": statement.statement_id,
        "Effect": "Allow",
        "Principal": principal,
        "Action": statement.action,
        "Resource": region.function_arn(function_name),
    });
    if !condition.is_empty() {
        out["Condition"] = Value::Object(condition);
    }
    out
}

fn null_field(field: &str) -> LambdaError {
    LambdaError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}
