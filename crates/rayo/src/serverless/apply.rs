//! Makes the server hold what a `Service` describes, as CloudFormation would
//! converge a stack: each resource is read first and written only when it
//! differs (code by SHA-256, configuration field by field, triggers by their
//! settings), and what the service made earlier but no longer declares is
//! deleted. Every write is logged as it is made, so a deploy that stops
//! part-way says what it applied; a rerun starts from what is there.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use base64::Engine;
use http::Method;
use rayo_deploy::{Event, LayerRef, QueueRef, Service};
use serde_json::{Value, json};

use super::api::{Api, service_tags};
use super::artifacts::{Artifacts, progress};
use super::s3::S3;
use crate::client::segment;

/// What a deploy wrote, in order, and how far it got.
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    /// One line per write call.
    pub(crate) applied: Vec<String>,
    /// The index in `STEPS` of the step under way.
    pub(crate) step: usize,
    /// Print the writes on stderr (stdout is for `--json`).
    pub(crate) to_stderr: bool,
}

/// The steps of a deploy, in order.
pub(crate) const STEPS: &[&str] = &[
    "schedule rules",
    "queues",
    "layers",
    "functions",
    "queue triggers",
    "schedule targets",
    "the HTTP API",
    "bucket notifications",
    "removal of leftovers",
];

impl ChangeLog {
    /// What was not applied, when the deploy stopped in the current step.
    pub(crate) fn not_reached(&self) -> String {
        let mut out = format!("the rest of {}", STEPS[self.step.min(STEPS.len() - 1)]);
        for step in STEPS.iter().skip(self.step + 1) {
            out.push_str(", ");
            out.push_str(step);
        }
        out
    }
}

impl ChangeLog {
    fn record(&mut self, what: String) {
        if self.to_stderr {
            eprintln!("  {what}");
        } else {
            println!("  {what}");
        }
        self.applied.push(what);
    }
}

/// The role every function gets (kept, not enforced).
fn role(service: &Service) -> String {
    format!(
        "arn:aws:iam::000000000000:role/{}-{}-{}-lambdaRole",
        service.name, service.stage, service.region
    )
}

/// The description that marks a rule as this service's.
pub(crate) fn rule_marker(service: &Service) -> String {
    format!("rayo deploy: {} ({})", service.name, service.stage)
}

/// The name of a function's `n`th schedule rule (1-based).
pub(crate) fn rule_name(service: &Service, function_key: &str, n: usize) -> String {
    let mut name = format!("{}{function_key}-schedule-{n}", service.prefix());
    name.truncate(64);
    name
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Applies `service` with its packages; the change log, complete or up to
/// the failure.
pub(crate) async fn deploy(
    api: &Api,
    service: &Service,
    artifacts: &Artifacts,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    let s3 = S3::new(&api.client, &service.region);
    log.step = 0;
    put_rules(api, service, log).await?;
    log.step += 1;
    let queue_arns = queues(api, service, log).await?;
    log.step += 1;
    let layer_arns = layers(api, service, artifacts, log).await?;
    log.step += 1;
    let function_arns = functions(api, service, artifacts, &layer_arns, log).await?;
    log.step += 1;
    mappings(api, service, &function_arns, &queue_arns, log).await?;
    log.step += 1;
    rule_targets(api, service, &function_arns, log).await?;
    log.step += 1;
    http_api(api, service, &function_arns, log).await?;
    log.step += 1;
    buckets(&s3, service, &function_arns, log).await?;
    log.step += 1;
    leftovers(api, service, log).await?;
    Ok(())
}

/// Queues of `resources.Resources`: created, or their attributes set; their ARNs.
async fn queues(
    api: &Api,
    service: &Service,
    log: &mut ChangeLog,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut arns = BTreeMap::new();
    for queue in &service.queues {
        let url = match api
            .sqs("GetQueueUrl", json!({ "QueueName": queue.name }))
            .await
        {
            Ok(found) => {
                let url = found["QueueUrl"].as_str().unwrap_or_default().to_string();
                let current = api
                    .sqs(
                        "GetQueueAttributes",
                        json!({ "QueueUrl": url, "AttributeNames": ["All"] }),
                    )
                    .await?;
                let changed: BTreeMap<&String, &String> = queue
                    .attributes
                    .iter()
                    .filter(|(k, v)| current["Attributes"][k.as_str()].as_str() != Some(v.as_str()))
                    .collect();
                if !changed.is_empty() {
                    api.sqs(
                        "SetQueueAttributes",
                        json!({ "QueueUrl": url, "Attributes": changed }),
                    )
                    .await
                    .map_err(|e| {
                        at(
                            service,
                            &format!("resources.Resources.{}", queue.logical_id),
                            e,
                        )
                    })?;
                    log.record(format!("updated queue {}", queue.name));
                }
                url
            }
            Err(error) if is_missing_queue(&error) => {
                let created = api
                    .sqs(
                        "CreateQueue",
                        json!({
                            "QueueName": queue.name,
                            "Attributes": queue.attributes,
                            "tags": service_tags(&service.name, &service.stage),
                        }),
                    )
                    .await
                    .map_err(|e| {
                        at(
                            service,
                            &format!("resources.Resources.{}", queue.logical_id),
                            e,
                        )
                    })?;
                log.record(format!("created queue {}", queue.name));
                created["QueueUrl"].as_str().unwrap_or_default().to_string()
            }
            Err(error) => return Err(error),
        };
        let attributes = api
            .sqs(
                "GetQueueAttributes",
                json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }),
            )
            .await?;
        let arn = attributes["Attributes"]["QueueArn"]
            .as_str()
            .context("GetQueueAttributes gave no QueueArn")?;
        arns.insert(queue.logical_id.clone(), arn.to_string());
    }
    Ok(arns)
}

fn is_missing_queue(error: &anyhow::Error) -> bool {
    let text = format!("{error:#}");
    text.contains("NonExistentQueue") || text.contains("QueueDoesNotExist")
}

/// An error of the server about the value at `path`, with its file and line.
fn at(service: &Service, path: &str, error: anyhow::Error) -> anyhow::Error {
    // An unreachable server is about no line of the file.
    if error
        .downcast_ref::<crate::client::ServerUnreachable>()
        .is_some()
    {
        return error;
    }
    anyhow::Error::new(service.error_at(path, format!("{error:#}")))
}

/// The path of the function field a server error is about (its message
/// names the parameter), else the function's own.
fn function_field(service: &Service, key: &str, error: &anyhow::Error) -> String {
    let base = format!("functions.{key}");
    let text = format!("{error:#}").to_ascii_lowercase();
    let fields = [
        ("memorysize", "memorySize"),
        ("timeout", "timeout"),
        ("runtime", "runtime"),
        ("handler", "handler"),
        ("environment", "environment"),
        ("description", "description"),
        ("layers", "layers"),
    ];
    fields
        .iter()
        .filter_map(|(needle, field)| text.find(needle).map(|at| (at, field)))
        .min()
        .map(|(_, field)| {
            let path = format!("{base}.{field}");
            // Only a field the file sets has a line of its own.
            if service.error_at(&path, "").line != service.error_at(&base, "").line {
                path
            } else {
                base.clone()
            }
        })
        .unwrap_or(base)
}

/// The schedule events of the service: (rule name, function key, event).
fn schedules(service: &Service) -> Vec<(String, String, &Event)> {
    let mut out = Vec::new();
    for function in &service.functions {
        let mut n = 0;
        for event in &function.events {
            if matches!(event, Event::Schedule { .. }) {
                n += 1;
                out.push((
                    rule_name(service, &function.key, n),
                    function.key.clone(),
                    event,
                ));
            }
        }
    }
    out
}

/// Rules first, before anything they would fire: a bad expression stops the
/// deploy with the server's ValidationException at the expression's line.
async fn put_rules(api: &Api, service: &Service, log: &mut ChangeLog) -> anyhow::Result<()> {
    for (name, _, event) in schedules(service) {
        let Event::Schedule {
            expression,
            enabled,
            path,
            ..
        } = event
        else {
            continue;
        };
        let state = if *enabled { "ENABLED" } else { "DISABLED" };
        let current = api
            .events("DescribeRule", json!({ "Name": name }))
            .await
            .ok();
        if let Some(current) = &current
            && current["ScheduleExpression"] == expression.as_str()
            && current["State"] == state
            && current["Description"] == rule_marker(service).as_str()
        {
            continue;
        }
        api.events(
            "PutRule",
            json!({
                "Name": name,
                "ScheduleExpression": expression,
                "State": state,
                "Description": rule_marker(service),
            }),
        )
        .await
        .map_err(|e| at(service, path, e))?;
        log.record(format!(
            "{} rule {name} ({expression})",
            if current.is_some() {
                "updated"
            } else {
                "created"
            }
        ));
    }
    Ok(())
}

async fn rule_targets(
    api: &Api,
    service: &Service,
    function_arns: &BTreeMap<String, String>,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    for (name, key, event) in schedules(service) {
        let Event::Schedule { input, .. } = event else {
            continue;
        };
        let arn = &function_arns[&key];
        let mut target = json!({ "Id": format!("{key}-schedule").chars().take(64).collect::<String>(), "Arn": arn });
        if let Some(input) = input {
            target["Input"] = json!(input);
        }
        let current = api.targets(&name).await?;
        if current.len() == 1
            && current[0]["Arn"] == target["Arn"]
            && current[0]["Id"] == target["Id"]
            && current[0].get("Input").cloned().unwrap_or(Value::Null)
                == target.get("Input").cloned().unwrap_or(Value::Null)
        {
            continue;
        }
        let stale: Vec<Value> = current
            .iter()
            .filter(|t| t["Id"] != target["Id"])
            .map(|t| t["Id"].clone())
            .collect();
        if !stale.is_empty() {
            api.events("RemoveTargets", json!({ "Rule": name, "Ids": stale }))
                .await?;
        }
        let answer = api
            .events("PutTargets", json!({ "Rule": name, "Targets": [target] }))
            .await?;
        if answer["FailedEntryCount"].as_u64().unwrap_or(0) > 0 {
            anyhow::bail!("PutTargets on {name} failed: {}", answer["FailedEntries"]);
        }
        log.record(format!("set target of rule {name} to {key}"));
    }
    Ok(())
}

/// Layers of the service: a new version whenever the content changed; the
/// ARN of each layer's current version, by key (and `""` for the
/// requirements layer).
async fn layers(
    api: &Api,
    service: &Service,
    artifacts: &Artifacts,
    log: &mut ChangeLog,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut arns = BTreeMap::new();
    let mut wanted: Vec<(
        String,
        String,
        &super::artifacts::Artifact,
        Vec<String>,
        String,
    )> = Vec::new();
    for layer in &service.layers {
        if let Some(artifact) = artifacts.layers.get(&layer.key) {
            wanted.push((
                layer.key.clone(),
                layer.name.clone(),
                artifact,
                layer.compatible_runtimes.clone(),
                layer.description.clone(),
            ));
        }
    }
    if let Some(artifact) = &artifacts.requirements_layer {
        wanted.push((
            String::new(),
            service.requirements_layer_name(),
            artifact,
            Vec::new(),
            "Python requirements".to_string(),
        ));
    }
    for (key, name, artifact, runtimes, description) in wanted {
        let base = format!("/2018-10-31/layers/{}/versions", segment(&name));
        let versions = api.rest(Method::GET, &base, None).await?;
        let latest = versions
            .as_ref()
            .and_then(|v| v["LayerVersions"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .max_by_key(|v| v["Version"].as_i64().unwrap_or(0));
        if let Some(latest) = latest {
            let version = latest["Version"].as_i64().unwrap_or(0);
            let full = api
                .rest(Method::GET, &format!("{base}/{version}"), None)
                .await?;
            if let Some(full) = full
                && full["Content"]["CodeSha256"] == artifact.sha256.as_str()
            {
                arns.insert(
                    key,
                    full["LayerVersionArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                continue;
            }
        }
        let mut body = json!({
            "Content": { "ZipFile": b64(&artifact.zip) },
            "Description": description,
        });
        if !runtimes.is_empty() {
            body["CompatibleRuntimes"] = json!(runtimes);
        }
        let published = api
            .call(Method::POST, &base, Some(body))
            .await
            .with_context(|| format!("publishing layer {name}"))?;
        let arn = published["LayerVersionArn"]
            .as_str()
            .context("PublishLayerVersion gave no LayerVersionArn")?
            .to_string();
        log.record(format!(
            "published layer {name} version {}",
            published["Version"]
        ));
        arns.insert(key, arn);
    }
    Ok(arns)
}

/// The configuration a function should have.
fn desired_configuration(
    service: &Service,
    function: &rayo_deploy::Function,
    layer_arns: &BTreeMap<String, String>,
) -> Value {
    let mut layers: Vec<String> = function
        .layers
        .iter()
        .filter_map(|l| match l {
            LayerRef::Arn(arn) => Some(arn.clone()),
            LayerRef::Local(key) => layer_arns.get(key).cloned(),
        })
        .collect();
    if let Some(arn) = layer_arns.get("")
        && function.runtime.starts_with("python")
    {
        layers.push(arn.clone());
    }
    json!({
        "Handler": function.handler,
        "Runtime": function.runtime,
        "MemorySize": function.memory_size,
        "Timeout": function.timeout,
        "Description": function.description,
        "Environment": { "Variables": function.environment },
        "Layers": layers,
        "Role": role(service),
    })
}

/// The fields of a function's configuration that differ from `desired`.
fn differences(current: &Value, desired: &Value) -> Vec<&'static str> {
    let mut out = Vec::new();
    for field in ["Handler", "Runtime", "MemorySize", "Timeout"] {
        if current[field] != desired[field] {
            out.push(field);
        }
    }
    if current["Description"].as_str().unwrap_or_default() != desired["Description"] {
        out.push("Description");
    }
    let variables = current["Environment"]["Variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if Value::Object(variables) != desired["Environment"]["Variables"] {
        out.push("Environment");
    }
    let layers: Vec<Value> = current["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["Arn"].clone())
        .collect();
    if Value::Array(layers) != desired["Layers"] {
        out.push("Layers");
    }
    out
}

/// Creates or updates each function; their ARNs by key.
async fn functions(
    api: &Api,
    service: &Service,
    artifacts: &Artifacts,
    layer_arns: &BTreeMap<String, String>,
    log: &mut ChangeLog,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut arns = BTreeMap::new();
    let bar = progress(service.functions.len() as u64, "uploading");
    for function in &service.functions {
        bar.set_message(function.name.clone());
        let artifact = &artifacts.functions[&function.key];
        let desired = desired_configuration(service, function, layer_arns);
        let path = format!("/2015-03-31/functions/{}", segment(&function.name));
        let current = api.get_function(&function.name).await?;
        let arn = match current {
            None => {
                let mut body = desired.clone();
                body["FunctionName"] = json!(function.name);
                body["Code"] = json!({ "ZipFile": b64(&artifact.zip) });
                body["Tags"] = json!(service_tags(&service.name, &service.stage));
                if body["Layers"].as_array().is_some_and(Vec::is_empty) {
                    body.as_object_mut().expect("an object").remove("Layers");
                }
                let created = api
                    .call(Method::POST, "/2015-03-31/functions", Some(body))
                    .await
                    .map_err(|e| {
                        let path = function_field(service, &function.key, &e);
                        at(service, &path, e)
                    })?;
                log.record(format!(
                    "created function {} ({} bytes)",
                    function.name,
                    artifact.zip.len()
                ));
                let arn = created["FunctionArn"].as_str().unwrap_or_default();
                if let Some(reserved) = function.reserved_concurrency {
                    set_concurrency(api, &function.name, Some(reserved)).await?;
                    log.record(format!(
                        "set reserved concurrency of {} to {reserved}",
                        function.name
                    ));
                }
                arn.to_string()
            }
            Some(current) => {
                let configuration = &current["Configuration"];
                if configuration["CodeSha256"] != artifact.sha256.as_str() {
                    api.call(
                        Method::PUT,
                        &format!("{path}/code"),
                        Some(json!({ "ZipFile": b64(&artifact.zip) })),
                    )
                    .await
                    .with_context(|| format!("updating the code of {}", function.name))?;
                    log.record(format!(
                        "updated code of {} ({} bytes)",
                        function.name,
                        artifact.zip.len()
                    ));
                }
                let changed = differences(configuration, &desired);
                if !changed.is_empty() {
                    let mut body = desired.clone();
                    if body["Layers"].as_array().is_some_and(Vec::is_empty)
                        && !changed.contains(&"Layers")
                    {
                        body.as_object_mut().expect("an object").remove("Layers");
                    }
                    api.call(Method::PUT, &format!("{path}/configuration"), Some(body))
                        .await
                        .map_err(|e| {
                            let path = function_field(service, &function.key, &e);
                            at(service, &path, e)
                        })?;
                    log.record(format!(
                        "updated configuration of {} ({})",
                        function.name,
                        changed.join(", ")
                    ));
                }
                let reserved = current["Concurrency"]["ReservedConcurrentExecutions"].as_u64();
                if reserved != function.reserved_concurrency.map(u64::from) {
                    set_concurrency(api, &function.name, function.reserved_concurrency).await?;
                    log.record(format!(
                        "set reserved concurrency of {} to {}",
                        function.name,
                        function
                            .reserved_concurrency
                            .map_or("none".to_string(), |n| n.to_string())
                    ));
                }
                configuration["FunctionArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        retention(api, service, &function.name, log).await?;
        arns.insert(function.key.clone(), arn);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(arns)
}

async fn set_concurrency(api: &Api, name: &str, reserved: Option<u32>) -> anyhow::Result<()> {
    let path = format!("/2017-10-31/functions/{}/concurrency", segment(name));
    match reserved {
        Some(n) => {
            api.call(
                Method::PUT,
                &path,
                Some(json!({ "ReservedConcurrentExecutions": n })),
            )
            .await?;
        }
        None => {
            api.rest(Method::DELETE, &path, None).await?;
        }
    }
    Ok(())
}

/// `provider.logRetentionInDays` on the function's log group, once it exists.
async fn retention(
    api: &Api,
    service: &Service,
    function: &str,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    let Some(days) = service.log_retention_days else {
        return Ok(());
    };
    let group = format!("/aws/lambda/{function}");
    let groups = api
        .client
        .logs("DescribeLogGroups", json!({ "logGroupNamePrefix": group }))
        .await?;
    let Some(current) = groups["logGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["logGroupName"] == group.as_str())
    else {
        return Ok(());
    };
    if current["retentionInDays"].as_u64() == Some(u64::from(days)) {
        return Ok(());
    }
    api.client
        .logs(
            "PutRetentionPolicy",
            json!({ "logGroupName": group, "retentionInDays": days }),
        )
        .await
        .map_err(|e| at(service, "provider.logRetentionInDays", e))?;
    log.record(format!("set retention of {group} to {days} days"));
    Ok(())
}

/// SQS event source mappings of each function.
async fn mappings(
    api: &Api,
    service: &Service,
    function_arns: &BTreeMap<String, String>,
    queue_arns: &BTreeMap<String, String>,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    for function in &service.functions {
        let mut existing = api.mappings(&function.name).await?;
        for event in &function.events {
            let Event::Sqs {
                queue,
                batch_size,
                maximum_batching_window,
                report_batch_item_failures,
                enabled,
                path,
            } = event
            else {
                continue;
            };
            let arn = match queue {
                QueueRef::Arn(arn) => arn.clone(),
                QueueRef::Resource(id) => queue_arns[id].clone(),
            };
            let response_types: Vec<&str> = if *report_batch_item_failures {
                vec!["ReportBatchItemFailures"]
            } else {
                Vec::new()
            };
            let settings = json!({
                "BatchSize": batch_size,
                "MaximumBatchingWindowInSeconds": maximum_batching_window,
                "FunctionResponseTypes": response_types,
                "Enabled": enabled,
            });
            let found = existing
                .iter()
                .position(|m| m["EventSourceArn"] == arn.as_str());
            match found {
                Some(index) => {
                    let current = existing.remove(index);
                    let current_enabled =
                        !matches!(current["State"].as_str(), Some("Disabled" | "Disabling"));
                    let current_types = current["FunctionResponseTypes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if current["BatchSize"] == *batch_size
                        && current["MaximumBatchingWindowInSeconds"]
                            .as_u64()
                            .unwrap_or(0)
                            == u64::from(*maximum_batching_window)
                        && current_types
                            == settings["FunctionResponseTypes"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                        && current_enabled == *enabled
                    {
                        continue;
                    }
                    let uuid = current["UUID"].as_str().unwrap_or_default();
                    api.call(
                        Method::PUT,
                        &format!("/2015-03-31/event-source-mappings/{uuid}"),
                        Some(settings),
                    )
                    .await
                    .map_err(|e| at(service, path, e))?;
                    log.record(format!("updated {} trigger of {}", arn, function.name));
                }
                None => {
                    let mut body = settings;
                    body["EventSourceArn"] = json!(arn);
                    body["FunctionName"] = json!(function_arns[&function.key]);
                    api.call(
                        Method::POST,
                        "/2015-03-31/event-source-mappings",
                        Some(body),
                    )
                    .await
                    .map_err(|e| at(service, path, e))?;
                    log.record(format!("created {} trigger of {}", arn, function.name));
                }
            }
        }
        for stale in existing {
            let uuid = stale["UUID"].as_str().unwrap_or_default();
            api.rest(
                Method::DELETE,
                &format!("/2015-03-31/event-source-mappings/{uuid}"),
                None,
            )
            .await?;
            log.record(format!(
                "deleted {} trigger of {}",
                stale["EventSourceArn"].as_str().unwrap_or_default(),
                function.name
            ));
        }
    }
    Ok(())
}

/// The HTTP API `<stage>-<service>`: integrations, routes and stages.
async fn http_api(
    api: &Api,
    service: &Service,
    function_arns: &BTreeMap<String, String>,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    // Route key → (function key, payload format, path in the document).
    let mut routes: BTreeMap<String, (String, &'static str, String)> = BTreeMap::new();
    for function in &service.functions {
        for event in &function.events {
            if let Event::Http {
                route_key,
                payload,
                path,
            } = event
            {
                if let Some((other, _, _)) = routes.get(route_key) {
                    return Err(service
                        .error_at(
                            path,
                            format!("route {route_key} is also the route of function {other}"),
                        )
                        .into());
                }
                routes.insert(
                    route_key.clone(),
                    (function.key.clone(), payload, path.clone()),
                );
            }
        }
    }
    let name = service.http_api_name();
    let current = api.http_api(&name).await?;
    if routes.is_empty() {
        if let Some(current) = current {
            let id = current["apiId"].as_str().unwrap_or_default();
            api.rest(Method::DELETE, &format!("/v2/apis/{id}"), None)
                .await?;
            log.record(format!("deleted HTTP API {name} ({id})"));
        }
        return Ok(());
    }
    let cors = service.http_api_cors.clone();
    let api_id = match current {
        None => {
            let mut body = json!({
                "name": name,
                "protocolType": "HTTP",
                "tags": service_tags(&service.name, &service.stage),
            });
            if let Some(cors) = &cors {
                body["corsConfiguration"] = cors.clone();
            }
            let created = api
                .call(Method::POST, "/v2/apis", Some(body))
                .await
                .map_err(|e| at(service, "provider.httpApi", e))?;
            let id = created["apiId"].as_str().unwrap_or_default().to_string();
            log.record(format!("created HTTP API {name} ({id})"));
            id
        }
        Some(current) => {
            let id = current["apiId"].as_str().unwrap_or_default().to_string();
            let current_cors = current.get("corsConfiguration").cloned();
            if !same_cors(current_cors.as_ref(), cors.as_ref()) {
                match &cors {
                    Some(cors) => {
                        api.call(
                            Method::PATCH,
                            &format!("/v2/apis/{id}"),
                            Some(json!({ "corsConfiguration": cors })),
                        )
                        .await
                        .map_err(|e| at(service, "provider.httpApi.cors", e))?;
                    }
                    None => {
                        api.rest(Method::DELETE, &format!("/v2/apis/{id}/cors"), None)
                            .await?;
                    }
                }
                log.record(format!("updated CORS of HTTP API {name}"));
            }
            id
        }
    };

    // Integrations: one per function and payload format.
    let mut integrations: BTreeMap<(String, String), String> = BTreeMap::new();
    let existing_integrations = api.api_items(&api_id, "integrations").await?;
    for integration in &existing_integrations {
        integrations.insert(
            (
                integration["integrationUri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                integration["payloadFormatVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            integration["integrationId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let mut used = BTreeSet::new();
    let existing_routes = api.api_items(&api_id, "routes").await?;
    for (route_key, (function_key, payload, path)) in &routes {
        let arn = &function_arns[function_key];
        let key = (arn.clone(), payload.to_string());
        let integration_id = match integrations.get(&key) {
            Some(id) => id.clone(),
            None => {
                let created = api
                    .call(
                        Method::POST,
                        &format!("/v2/apis/{api_id}/integrations"),
                        Some(json!({
                            "integrationType": "AWS_PROXY",
                            "integrationUri": arn,
                            "payloadFormatVersion": payload,
                        })),
                    )
                    .await
                    .map_err(|e| at(service, path, e))?;
                let id = created["integrationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                log.record(format!(
                    "created integration of {function_key} (payload {payload})"
                ));
                integrations.insert(key, id.clone());
                id
            }
        };
        used.insert(integration_id.clone());
        let target = format!("integrations/{integration_id}");
        match existing_routes
            .iter()
            .find(|r| r["routeKey"] == route_key.as_str())
        {
            Some(route) if route["target"] == target.as_str() => {}
            Some(route) => {
                let route_id = route["routeId"].as_str().unwrap_or_default();
                api.call(
                    Method::PATCH,
                    &format!("/v2/apis/{api_id}/routes/{route_id}"),
                    Some(json!({ "target": target })),
                )
                .await
                .map_err(|e| at(service, path, e))?;
                log.record(format!("pointed route {route_key} at {function_key}"));
            }
            None => {
                api.call(
                    Method::POST,
                    &format!("/v2/apis/{api_id}/routes"),
                    Some(json!({ "routeKey": route_key, "target": target })),
                )
                .await
                .map_err(|e| at(service, path, e))?;
                log.record(format!("created route {route_key} → {function_key}"));
            }
        }
    }
    for route in &existing_routes {
        let route_key = route["routeKey"].as_str().unwrap_or_default();
        if !routes.contains_key(route_key) {
            let route_id = route["routeId"].as_str().unwrap_or_default();
            api.rest(
                Method::DELETE,
                &format!("/v2/apis/{api_id}/routes/{route_id}"),
                None,
            )
            .await?;
            log.record(format!("deleted route {route_key}"));
        }
    }
    for ((uri, _), id) in &integrations {
        if !used.contains(id) {
            api.rest(
                Method::DELETE,
                &format!("/v2/apis/{api_id}/integrations/{id}"),
                None,
            )
            .await?;
            log.record(format!("deleted integration of {uri}"));
        }
    }

    // Stages: `$default` for httpApi events, one named after the stage for http ones.
    let mut stages = BTreeSet::new();
    if routes.values().any(|(_, payload, _)| *payload == "2.0") {
        stages.insert("$default".to_string());
    }
    if service.has_rest_events() {
        stages.insert(service.stage.clone());
    }
    let existing_stages = api.api_items(&api_id, "stages").await?;
    for stage in &stages {
        if !existing_stages
            .iter()
            .any(|s| s["stageName"] == stage.as_str())
        {
            api.call(
                Method::POST,
                &format!("/v2/apis/{api_id}/stages"),
                Some(json!({ "stageName": stage, "autoDeploy": true })),
            )
            .await?;
            log.record(format!("created stage {stage} of HTTP API {name}"));
        }
    }
    for stage in &existing_stages {
        let stage_name = stage["stageName"].as_str().unwrap_or_default();
        if !stages.contains(stage_name) {
            api.rest(
                Method::DELETE,
                &format!("/v2/apis/{api_id}/stages/{}", segment(stage_name)),
                None,
            )
            .await?;
            log.record(format!("deleted stage {stage_name} of HTTP API {name}"));
        }
    }
    Ok(())
}

/// Whether two CORS configurations say the same (absent lists are empty).
fn same_cors(a: Option<&Value>, b: Option<&Value>) -> bool {
    let normal = |v: Option<&Value>| -> BTreeMap<String, Value> {
        v.and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| {
                        !(v.is_null()
                            || v.as_array().is_some_and(Vec::is_empty)
                            || **v == Value::Bool(false))
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    normal(a) == normal(b)
}

/// Bucket notifications of `s3` events; buckets created unless `existing`.
async fn buckets(
    s3: &S3,
    service: &Service,
    function_arns: &BTreeMap<String, String>,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    let mut wanted: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for function in &service.functions {
        let mut n = 0;
        for event in &function.events {
            let Event::S3 {
                bucket,
                event,
                prefix,
                suffix,
                existing,
                path,
            } = event
            else {
                continue;
            };
            n += 1;
            if !s3.bucket_exists(bucket).await? {
                if *existing {
                    return Err(service
                        .error_at(
                            path,
                            format!("bucket {bucket} does not exist (existing: true)"),
                        )
                        .into());
                }
                s3.create_bucket(bucket)
                    .await
                    .map_err(|e| at(service, path, e))?;
                log.record(format!("created bucket {bucket}"));
            }
            let mut rules = Vec::new();
            if let Some(prefix) = prefix {
                rules.push(json!({ "Name": "prefix", "Value": prefix }));
            }
            if let Some(suffix) = suffix {
                rules.push(json!({ "Name": "suffix", "Value": suffix }));
            }
            wanted.entry(bucket.clone()).or_default().push(json!({
                "Id": format!("{}{}-s3-{n}", service.prefix(), function.key),
                "LambdaFunctionArn": function_arns[&function.key],
                "Events": [event],
                "Rules": rules,
            }));
        }
    }
    let prefix = service.prefix();
    for bucket in s3.list_buckets().await? {
        let current = s3.notifications(&bucket).await?;
        let (ours, others): (Vec<Value>, Vec<Value>) = current
            .into_iter()
            .partition(|c| c["Id"].as_str().unwrap_or_default().starts_with(&prefix));
        let desired = wanted.remove(&bucket).unwrap_or_default();
        if sorted(&ours) == sorted(&desired) {
            continue;
        }
        let mut all = others;
        all.extend(desired.iter().cloned());
        s3.put_notifications(&bucket, &all).await.map_err(|e| {
            match service
                .functions
                .iter()
                .flat_map(|f| &f.events)
                .find_map(|e| match e {
                    Event::S3 {
                        bucket: b, path, ..
                    } if *b == bucket => Some(path.clone()),
                    _ => None,
                }) {
                Some(path) => at(service, &path, e),
                None => e,
            }
        })?;
        log.record(format!(
            "set {} notification(s) of {} on bucket {bucket}",
            desired.len(),
            service.name
        ));
    }
    Ok(())
}

fn sorted(configurations: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = configurations.iter().map(Value::to_string).collect();
    out.sort();
    out
}

/// Functions, rules and queues of the service that it no longer declares.
async fn leftovers(api: &Api, service: &Service, log: &mut ChangeLog) -> anyhow::Result<()> {
    let declared: BTreeSet<&str> = service.functions.iter().map(|f| f.name.as_str()).collect();
    for function in api.service_functions(&service.name, &service.stage).await? {
        let name = function["Configuration"]["FunctionName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if declared.contains(name.as_str()) {
            continue;
        }
        delete_function(api, &name, log).await?;
    }
    let rules: BTreeSet<String> = schedules(service).into_iter().map(|(n, _, _)| n).collect();
    for rule in api.rules(&service.prefix()).await? {
        let name = rule["Name"].as_str().unwrap_or_default();
        if rule["Description"] == rule_marker(service).as_str() && !rules.contains(name) {
            delete_rule(api, name, log).await?;
        }
    }
    let queues: BTreeSet<&str> = service.queues.iter().map(|q| q.name.as_str()).collect();
    for (name, url) in api.service_queues(&service.name, &service.stage).await? {
        if !queues.contains(name.as_str()) {
            api.sqs("DeleteQueue", json!({ "QueueUrl": url })).await?;
            log.record(format!("deleted queue {name}"));
        }
    }
    Ok(())
}

/// Deletes a function with its event source mappings.
pub(crate) async fn delete_function(
    api: &Api,
    name: &str,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    for mapping in api.mappings(name).await? {
        let uuid = mapping["UUID"].as_str().unwrap_or_default();
        api.rest(
            Method::DELETE,
            &format!("/2015-03-31/event-source-mappings/{uuid}"),
            None,
        )
        .await?;
        log.record(format!(
            "deleted {} trigger of {name}",
            mapping["EventSourceArn"].as_str().unwrap_or_default()
        ));
    }
    api.rest(
        Method::DELETE,
        &format!("/2015-03-31/functions/{}", segment(name)),
        None,
    )
    .await?;
    log.record(format!("deleted function {name}"));
    // Its log group goes with it, as a stack's log groups go with the stack.
    match api
        .client
        .logs(
            "DeleteLogGroup",
            json!({ "logGroupName": format!("/aws/lambda/{name}") }),
        )
        .await
    {
        Ok(_) => log.record(format!("deleted log group /aws/lambda/{name}")),
        Err(error) if format!("{error:#}").contains("ResourceNotFoundException") => {}
        Err(error) => return Err(error),
    }
    Ok(())
}

/// Deletes a rule with its targets.
pub(crate) async fn delete_rule(api: &Api, name: &str, log: &mut ChangeLog) -> anyhow::Result<()> {
    let targets: Vec<Value> = api
        .targets(name)
        .await?
        .iter()
        .map(|t| t["Id"].clone())
        .collect();
    if !targets.is_empty() {
        api.events("RemoveTargets", json!({ "Rule": name, "Ids": targets }))
            .await?;
    }
    api.events("DeleteRule", json!({ "Name": name })).await?;
    log.record(format!("deleted rule {name}"));
    Ok(())
}

/// Removes every notification of the service from every bucket.
pub(crate) async fn clear_notifications(
    s3: &S3,
    prefix: &str,
    log: &mut ChangeLog,
) -> anyhow::Result<()> {
    for bucket in s3.list_buckets().await? {
        let current = s3.notifications(&bucket).await?;
        let (ours, others): (Vec<Value>, Vec<Value>) = current
            .into_iter()
            .partition(|c| c["Id"].as_str().unwrap_or_default().starts_with(prefix));
        if ours.is_empty() {
            continue;
        }
        s3.put_notifications(&bucket, &others).await?;
        log.record(format!(
            "removed {} notification(s) from bucket {bucket}",
            ours.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_differences() {
        let desired = json!({
            "Handler": "h.f", "Runtime": "python3.11", "MemorySize": 256, "Timeout": 6,
            "Description": "", "Environment": { "Variables": { "A": "1" } }, "Layers": [],
        });
        let check = |current: Value, expected: &[&str]| {
            assert_eq!(differences(&current, &desired), expected, "{current}");
        };
        let same = json!({
            "Handler": "h.f", "Runtime": "python3.11", "MemorySize": 256, "Timeout": 6,
            "Environment": { "Variables": { "A": "1" } }, "CodeSha256": "x",
        });
        check(same.clone(), &[]);
        let mut other = same.clone();
        other["Timeout"] = json!(7);
        other["Description"] = json!("d");
        check(other, &["Timeout", "Description"]);
        let mut other = same.clone();
        other["Environment"] = json!({});
        other["Layers"] = json!([{ "Arn": "arn:aws:lambda:us-east-1:0:layer:x:1" }]);
        check(other, &["Environment", "Layers"]);
    }

    #[test]
    fn cors_comparison_ignores_empty_fields() {
        let a = json!({ "allowOrigins": ["*"], "allowHeaders": [], "allowCredentials": false });
        let b = json!({ "allowOrigins": ["*"] });
        assert!(same_cors(Some(&a), Some(&b)));
        assert!(same_cors(None, Some(&json!({}))));
        assert!(!same_cors(Some(&a), None));
        assert!(!same_cors(
            Some(&a),
            Some(&json!({ "allowOrigins": ["https://x"] }))
        ));
    }
}
