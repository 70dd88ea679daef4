//! The Lambda, SQS, EventBridge, API Gateway v2 and Logs calls that
//! deploys, removals and `info` make, over the client's public APIs.

use std::collections::BTreeMap;

use anyhow::Context;
use http::Method;
use serde_json::{Value, json};

use crate::client::{Client, segment};

/// rayo's public APIs, as a deploy uses them.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) client: Client,
}

/// The tag keys marking what a deploy made.
pub(crate) const SERVICE_TAG: &str = "serverless:service";
/// See `SERVICE_TAG`.
pub(crate) const STAGE_TAG: &str = "serverless:stage";

impl Api {
    /// A REST-JSON call answering JSON; `Ok(None)` on 404.
    pub(crate) async fn rest(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        let reply = self.client.rest(method, path, body).await?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        reply.json().map(Some)
    }

    /// A REST-JSON call that must succeed.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let reply = self.client.rest(method, path, body).await?;
        reply.json()
    }

    /// Every function (ListFunctions, all pages).
    pub(crate) async fn list_functions(&self) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut path = "/2015-03-31/functions/?MaxItems=50".to_string();
            if let Some(marker) = &marker {
                path.push_str(&format!("&Marker={}", segment(marker)));
            }
            let page = self.call(Method::GET, &path, None).await?;
            out.extend(page["Functions"].as_array().cloned().unwrap_or_default());
            match page["NextMarker"].as_str() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// GetFunction, or `None`.
    pub(crate) async fn get_function(&self, name: &str) -> anyhow::Result<Option<Value>> {
        self.rest(
            Method::GET,
            &format!("/2015-03-31/functions/{}", segment(name)),
            None,
        )
        .await
    }

    /// The functions a deploy of `service`/`stage` made: named with its
    /// prefix and tagged with both.
    pub(crate) async fn service_functions(
        &self,
        service: &str,
        stage: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let prefix = format!("{service}-{stage}-");
        let mut out = Vec::new();
        for function in self.list_functions().await? {
            let name = function["FunctionName"].as_str().unwrap_or_default();
            if !name.starts_with(&prefix) {
                continue;
            }
            let Some(full) = self.get_function(name).await? else {
                continue;
            };
            if full["Tags"][SERVICE_TAG] == service && full["Tags"][STAGE_TAG] == stage {
                out.push(full);
            }
        }
        Ok(out)
    }

    /// The event source mappings of a function.
    pub(crate) async fn mappings(&self, function: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!(
            "/2015-03-31/event-source-mappings/?FunctionName={}",
            segment(function)
        );
        let page = self.call(Method::GET, &path, None).await?;
        Ok(page["EventSourceMappings"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// An SQS call.
    pub(crate) async fn sqs(&self, operation: &str, input: Value) -> anyhow::Result<Value> {
        self.client.target("AmazonSQS", operation, input).await
    }

    /// An EventBridge call.
    pub(crate) async fn events(&self, operation: &str, input: Value) -> anyhow::Result<Value> {
        self.client.target("AWSEvents", operation, input).await
    }

    /// The rules whose names start with `prefix` (all pages).
    pub(crate) async fn rules(&self, prefix: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut input = json!({ "NamePrefix": prefix });
            if let Some(token) = &token {
                input["NextToken"] = json!(token);
            }
            let page = self.events("ListRules", input).await?;
            out.extend(page["Rules"].as_array().cloned().unwrap_or_default());
            match page["NextToken"].as_str() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// The targets of a rule.
    pub(crate) async fn targets(&self, rule: &str) -> anyhow::Result<Vec<Value>> {
        let page = self
            .events("ListTargetsByRule", json!({ "Rule": rule }))
            .await?;
        Ok(page["Targets"].as_array().cloned().unwrap_or_default())
    }

    /// The queues tagged for `service`/`stage`, as (name, URL).
    pub(crate) async fn service_queues(
        &self,
        service: &str,
        stage: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let listed = self.sqs("ListQueues", json!({})).await?;
        let mut out = Vec::new();
        for url in listed["QueueUrls"].as_array().into_iter().flatten() {
            let url = url.as_str().unwrap_or_default().to_string();
            let tags = self
                .sqs("ListQueueTags", json!({ "QueueUrl": url }))
                .await?;
            if tags["Tags"][SERVICE_TAG] == service && tags["Tags"][STAGE_TAG] == stage {
                let name = url.rsplit('/').next().unwrap_or_default().to_string();
                out.push((name, url));
            }
        }
        Ok(out)
    }

    /// The HTTP API named `name`, if any.
    pub(crate) async fn http_api(&self, name: &str) -> anyhow::Result<Option<Value>> {
        let apis = self.call(Method::GET, "/v2/apis", None).await?;
        Ok(apis["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|api| api["name"] == name)
            .cloned())
    }

    /// The `items` of a GET on an API's collection (`routes`, `integrations`, `stages`).
    pub(crate) async fn api_items(&self, api_id: &str, what: &str) -> anyhow::Result<Vec<Value>> {
        let page = self
            .call(Method::GET, &format!("/v2/apis/{api_id}/{what}"), None)
            .await
            .with_context(|| format!("listing the {what} of API {api_id}"))?;
        Ok(page["items"].as_array().cloned().unwrap_or_default())
    }
}

/// The tags marking what a deploy of `service`/`stage` made.
pub(crate) fn service_tags(service: &str, stage: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SERVICE_TAG.to_string(), service.to_string()),
        (STAGE_TAG.to_string(), stage.to_string()),
    ])
}
