//! The block `sls deploy` and `sls info` print: service, stage, region,
//! endpoints with their URLs, functions and layers, as the server has them.

use std::fmt::Write;

use http::Method;
use rayo_deploy::{Event, Service};
use serde_json::{Value, json};

use super::api::Api;
use crate::client::segment;

/// What is deployed of `service`, as JSON (`--json`) and as text.
pub(crate) async fn gather(api: &Api, service: &Service) -> anyhow::Result<(Value, String)> {
    let http_api = api.http_api(&service.http_api_name()).await?;
    let base = http_api
        .as_ref()
        .and_then(|a| a["apiEndpoint"].as_str())
        .map(str::to_string);
    let mut endpoints = Vec::new();
    if let Some(base) = &base {
        for function in &service.functions {
            for event in &function.events {
                let Event::Http {
                    route_key, payload, ..
                } = event
                else {
                    continue;
                };
                let (method, path) = match route_key.split_once(' ') {
                    Some((method, path)) => (method.to_string(), path.to_string()),
                    None => ("ANY".to_string(), "/".to_string()),
                };
                let url = if *payload == "1.0" {
                    format!("{base}/{}{path}", service.stage)
                } else {
                    format!("{base}{path}")
                };
                endpoints.push(json!({ "method": method, "url": url, "function": function.key }));
            }
        }
    }
    let mut functions = Vec::new();
    for function in &service.functions {
        let deployed = api.get_function(&function.name).await?;
        functions.push(json!({
            "key": function.key,
            "name": function.name,
            "deployed": deployed.is_some(),
            "codeSize": deployed.as_ref().map(|d| d["Configuration"]["CodeSize"].clone()),
        }));
    }
    let mut layers = Vec::new();
    for layer in &service.layers {
        let path = format!("/2018-10-31/layers/{}/versions", segment(&layer.name));
        let versions = api.rest(Method::GET, &path, None).await.ok().flatten();
        let arn = versions
            .and_then(|v| v["LayerVersions"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .max_by_key(|v| v["Version"].as_i64().unwrap_or(0))
            .map(|v| v["LayerVersionArn"].clone())
            .unwrap_or(Value::Null);
        layers.push(json!({ "key": layer.key, "arn": arn }));
    }
    let summary = json!({
        "service": service.name,
        "stage": service.stage,
        "region": service.region,
        "apiId": http_api.as_ref().map(|a| a["apiId"].clone()),
        "endpoints": endpoints,
        "functions": functions,
        "layers": layers,
    });
    let mut text = String::new();
    let _ = writeln!(text, "service: {}", service.name);
    let _ = writeln!(text, "stage: {}", service.stage);
    let _ = writeln!(text, "region: {}", service.region);
    if endpoints.is_empty() {
        let _ = writeln!(text, "endpoints: none");
    } else {
        let _ = writeln!(text, "endpoints:");
        for endpoint in &endpoints {
            let _ = writeln!(
                text,
                "  {} - {}",
                endpoint["method"].as_str().unwrap_or_default(),
                endpoint["url"].as_str().unwrap_or_default()
            );
        }
    }
    let _ = writeln!(text, "functions:");
    for function in &functions {
        let state = if function["deployed"] == true {
            String::new()
        } else {
            " (not deployed)".to_string()
        };
        let _ = writeln!(
            text,
            "  {}: {}{state}",
            function["key"].as_str().unwrap_or_default(),
            function["name"].as_str().unwrap_or_default()
        );
    }
    if !layers.is_empty() {
        let _ = writeln!(text, "layers:");
        for layer in &layers {
            let _ = writeln!(
                text,
                "  {}: {}",
                layer["key"].as_str().unwrap_or_default(),
                layer["arn"].as_str().unwrap_or("(not deployed)")
            );
        }
    }
    Ok((summary, text))
}
