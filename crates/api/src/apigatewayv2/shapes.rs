//! apigatewayv2 wire shapes (camelCase JSON), converted by hand from and to
//! `core`'s types, and what every resource file shares.

use std::collections::HashMap;

use rayo_core::http_trigger::{Cors, HttpApi, Integration, Route, Stage};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::error::ApiGatewayError;
use crate::ApiState;

/// The `Cors` shape of apigatewayv2.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CorsIn {
    allow_credentials: Option<bool>,
    allow_headers: Option<Vec<String>>,
    allow_methods: Option<Vec<String>>,
    allow_origins: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    max_age: Option<i64>,
}

/// Parses a JSON request body; an empty one is `{}`.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, ApiGatewayError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|error| {
        ApiGatewayError::bad_request(format!("Could not parse request body into json: {error}"))
    })
}

/// The API, or API Gateway's 404.
pub(crate) fn load_api(state: &ApiState, api_id: &str) -> Result<HttpApi, ApiGatewayError> {
    state.http_triggers.get_api(api_id)?.ok_or_else(|| {
        ApiGatewayError::not_found(
            "Api",
            format!(
                "Invalid API identifier specified {}:{api_id}",
                state.region.account_id
            ),
        )
    })
}

/// CORS settings, checked as API Gateway checks them.
pub(crate) fn checked_cors(input: CorsIn) -> Result<Cors, ApiGatewayError> {
    if let Some(max_age) = input.max_age
        && !(-1..=86_400).contains(&max_age)
    {
        return Err(ApiGatewayError::bad_request(
            "maxAge must be between -1 and 86400",
        ));
    }
    let allow_credentials = input.allow_credentials.unwrap_or(false);
    let allow_origins = input.allow_origins.unwrap_or_default();
    if allow_credentials && allow_origins.iter().any(|o| o == "*") {
        return Err(ApiGatewayError::bad_request(
            "allow-credentials is not supported when allow-origins is '*'",
        ));
    }
    Ok(Cors {
        allow_credentials,
        allow_headers: input.allow_headers.unwrap_or_default(),
        allow_methods: input.allow_methods.unwrap_or_default(),
        allow_origins,
        expose_headers: input.expose_headers.unwrap_or_default(),
        max_age: input.max_age,
    })
}

/// The `Cors` shape: only what is set.
pub(crate) fn cors_shape(cors: &Cors) -> Value {
    let mut out = json!({});
    if cors.allow_credentials {
        out["allowCredentials"] = json!(true);
    }
    for (key, values) in [
        ("allowHeaders", &cors.allow_headers),
        ("allowMethods", &cors.allow_methods),
        ("allowOrigins", &cors.allow_origins),
        ("exposeHeaders", &cors.expose_headers),
    ] {
        if !values.is_empty() {
            out[key] = json!(values);
        }
    }
    if let Some(max_age) = cors.max_age {
        out["maxAge"] = json!(max_age);
    }
    out
}

/// The `Api` shape.
pub(crate) fn api_shape(state: &ApiState, api: &HttpApi) -> Value {
    let mut out = json!({
        "apiEndpoint": state.gateway.api_endpoint(&api.api_id),
        "apiId": api.api_id,
        "apiKeySelectionExpression": rayo_core::http_trigger::API_KEY_SELECTION_EXPRESSION,
        "createdDate": timestamp(api.created_ms),
        "disableExecuteApiEndpoint": api.disable_execute_api_endpoint,
        "ipAddressType": "ipv4",
        "name": api.name,
        "protocolType": "HTTP",
        "routeSelectionExpression": rayo_core::http_trigger::ROUTE_SELECTION_EXPRESSION,
        "tags": api.tags,
    });
    if let Some(cors) = &api.cors {
        out["corsConfiguration"] = cors_shape(cors);
    }
    if let Some(description) = &api.description {
        out["description"] = json!(description);
    }
    if let Some(version) = &api.version {
        out["version"] = json!(version);
    }
    out
}

/// The `Integration` shape.
pub(crate) fn integration_shape(integration: &Integration) -> Value {
    let mut out = json!({
        "connectionType": "INTERNET",
        "integrationId": integration.integration_id,
        "integrationMethod": "POST",
        "integrationType": "AWS_PROXY",
        "integrationUri": integration.integration_uri,
        "payloadFormatVersion": integration.payload_format_version.as_str(),
        "timeoutInMillis": integration.timeout_ms,
    });
    if integration.api_gateway_managed {
        out["apiGatewayManaged"] = json!(true);
    }
    if let Some(description) = &integration.description {
        out["description"] = json!(description);
    }
    out
}

/// The `Route` shape.
pub(crate) fn route_shape(route: &Route) -> Value {
    let mut out = json!({
        "apiKeyRequired": false,
        "authorizationType": "NONE",
        "routeId": route.route_id,
        "routeKey": route.route_key,
    });
    if route.api_gateway_managed {
        out["apiGatewayManaged"] = json!(true);
    }
    if let Some(target) = &route.target {
        out["target"] = json!(target);
    }
    if let Some(operation_name) = &route.operation_name {
        out["operationName"] = json!(operation_name);
    }
    out
}

/// The `Stage` shape.
pub(crate) fn stage_shape(stage: &Stage) -> Value {
    let mut out = json!({
        "autoDeploy": stage.auto_deploy,
        "createdDate": timestamp(stage.created_ms),
        "defaultRouteSettings": { "detailedMetricsEnabled": false },
        "lastUpdatedDate": timestamp(stage.last_updated_ms),
        "routeSettings": {},
        "stageName": stage.stage_name,
        "stageVariables": stage.stage_variables,
        "tags": stage.tags,
    });
    if stage.api_gateway_managed {
        out["apiGatewayManaged"] = json!(true);
    }
    if let Some(description) = &stage.description {
        out["description"] = json!(description);
    }
    if let Some(deployment_id) = &stage.deployment_id {
        out["deploymentId"] = json!(deployment_id);
    }
    if stage.auto_deploy {
        out["lastDeploymentStatusMessage"] =
            json!("Successfully deployed stage with deployment ID 'auto'");
    }
    out
}

/// A page of a Get…s answer: `items` and, when more remain, `nextToken`
/// (the offset of the next page).
pub(crate) fn page(
    items: Vec<Value>,
    query: &HashMap<String, String>,
) -> Result<Value, ApiGatewayError> {
    let start = match query.get("nextToken") {
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ApiGatewayError::bad_request("Invalid nextToken"))?,
        None => 0,
    };
    let max_results = match query.get("maxResults") {
        Some(max) => max
            .parse::<usize>()
            .ok()
            .filter(|max| (1..=500).contains(max))
            .ok_or_else(|| ApiGatewayError::bad_request("maxResults must be between 1 and 500"))?,
        None => 500,
    };
    let n_items = items.len();
    let taken: Vec<Value> = items.into_iter().skip(start).take(max_results).collect();
    let mut out = json!({ "items": taken });
    if start + max_results < n_items {
        out["nextToken"] = json!((start + max_results).to_string());
    }
    Ok(out)
}

/// A new resource id of `len` lowercase letters and digits, as API Gateway
/// makes them (10 for APIs, 7 for integrations and routes).
pub(crate) fn new_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(len);
    while id.len() < len {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            if id.len() == len {
                break;
            }
            id.push(ALPHABET[usize::from(*byte) % ALPHABET.len()] as char);
        }
    }
    id
}

/// `2024-01-02T03:04:05Z`, as API Gateway writes its dates.
pub(crate) fn timestamp(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_length_and_alphabet() {
        for len in [7, 10] {
            let id = new_id(len);
            assert_eq!(id.len(), len);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
        }
    }

    #[test]
    fn pages() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let query = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let first = page(items.clone(), &query(&[("maxResults", "2")])).unwrap();
        assert_eq!(first, json!({ "items": [0, 1], "nextToken": "2" }));
        let last = page(
            items.clone(),
            &query(&[("maxResults", "2"), ("nextToken", "4")]),
        )
        .unwrap();
        assert_eq!(last, json!({ "items": [4] }));
        assert!(page(items, &query(&[("maxResults", "0")])).is_err());
    }
}
