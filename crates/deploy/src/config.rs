//! The service a `serverless.yml` describes, checked, with the Framework's
//! resource names: what `rayo deploy` makes the server hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::variables::{self, Options};
use crate::yaml::{Document, join};

/// A problem in the project, naming the file and line it comes from.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    /// The configuration file, as given.
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

/// A service, variables resolved.
#[derive(Debug, Clone)]
pub struct Service {
    /// `service`.
    pub name: String,
    /// The stage deployed to.
    pub stage: String,
    /// The region.
    pub region: String,
    /// The directory holding the configuration file.
    pub dir: PathBuf,
    /// The configuration file, as given.
    pub file: String,
    /// Functions, in file order.
    pub functions: Vec<Function>,
    /// `layers`.
    pub layers: Vec<Layer>,
    /// Queues declared under `resources.Resources`.
    pub queues: Vec<Queue>,
    /// `package.patterns`.
    pub patterns: Vec<String>,
    /// `provider.logRetentionInDays`.
    pub log_retention_days: Option<u32>,
    /// `provider.httpApi.cors`: the API's `corsConfiguration` (apigatewayv2's
    /// camelCase shape), if any.
    pub http_api_cors: Option<Value>,
    /// `custom.pythonRequirements.layer`: requirements go into a layer.
    pub requirements_layer: bool,
    /// Things skipped (unsupported resources), to print.
    pub warnings: Vec<String>,
    document: Document,
}

/// One function.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// The key under `functions`.
    pub key: String,
    /// `<service>-<stage>-<key>` unless `name` is set.
    pub name: String,
    /// `module.function`.
    pub handler: String,
    /// Runtime.
    pub runtime: String,
    /// MemorySize in MB.
    pub memory_size: u32,
    /// Timeout in seconds.
    pub timeout: u32,
    /// Provider's environment merged with the function's.
    pub environment: BTreeMap<String, String>,
    /// Description.
    pub description: String,
    /// Layers, in order.
    pub layers: Vec<LayerRef>,
    /// Reserved concurrency.
    pub reserved_concurrency: Option<u32>,
    /// Triggers.
    pub events: Vec<Event>,
    /// The function's own `package.patterns`, after the service's.
    pub patterns: Vec<String>,
}

/// A layer a function uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    /// A layer version ARN.
    Arn(String),
    /// A layer of this service, by its key under `layers`.
    Local(String),
}

/// A layer of this service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The key under `layers`.
    pub key: String,
    /// The layer's name: `name`, or the key.
    pub name: String,
    /// Its directory, relative to the service.
    pub path: PathBuf,
    /// `compatibleRuntimes`.
    pub compatible_runtimes: Vec<String>,
    /// `description`.
    pub description: String,
}

/// An SQS queue from `resources.Resources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Its logical id.
    pub logical_id: String,
    /// `QueueName`, or `<service>-<stage>-<logical id>`.
    pub name: String,
    /// The other properties, as SQS attributes.
    pub attributes: BTreeMap<String, String>,
}

/// One trigger of a function.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An HTTP API route; `route_key` is `GET /path` or `$default`;
    /// `payload` is `2.0` for `httpApi` and `1.0` for `http`.
    Http {
        /// The route key.
        route_key: String,
        /// Payload format.
        payload: &'static str,
        /// Path of the event in the document, for errors.
        path: String,
    },
    /// A scheduled rule.
    Schedule {
        /// `rate(…)` or `cron(…)`.
        expression: String,
        /// `enabled`.
        enabled: bool,
        /// `input`, as JSON text.
        input: Option<String>,
        /// Path of the expression in the document.
        path: String,
    },
    /// Bucket notifications.
    S3 {
        /// Bucket name.
        bucket: String,
        /// `s3:ObjectCreated:*` and the like.
        event: String,
        /// `rules: [{prefix}]`.
        prefix: Option<String>,
        /// `rules: [{suffix}]`.
        suffix: Option<String>,
        /// `existing: true`: the bucket is not the service's.
        existing: bool,
        /// Path of the event in the document.
        path: String,
    },
    /// An SQS event source mapping.
    Sqs {
        /// The queue.
        queue: QueueRef,
        /// `batchSize`.
        batch_size: u32,
        /// `maximumBatchingWindow`, seconds.
        maximum_batching_window: u32,
        /// `functionResponseType: ReportBatchItemFailures`.
        report_batch_item_failures: bool,
        /// `enabled`.
        enabled: bool,
        /// Path of the event in the document.
        path: String,
    },
}

/// The queue of an `sqs` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRef {
    /// A queue ARN.
    Arn(String),
    /// A queue of `resources.Resources`, by logical id.
    Resource(String),
}

/// Python runtimes, the Framework's default first.
const DEFAULT_RUNTIME: &str = "python3.12";

impl Service {
    /// Reads `file` (resolving variables with `options`) and checks it.
    pub fn load(file: &Path, options: &Options) -> Result<Service, ConfigError> {
        let file_name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|error| ConfigError {
            file: file_name.clone(),
            line: 0,
            message: format!("cannot read it: {error}"),
        })?;
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Service::parse(&text, &file_name, &dir, options)
    }

    /// Parses `text`, the content of `file` in `dir`.
    pub fn parse(
        text: &str,
        file: &str,
        dir: &Path,
        options: &Options,
    ) -> Result<Service, ConfigError> {
        let mut document = Document::parse(text).map_err(|error| ConfigError {
            file: file.to_string(),
            line: error.line,
            message: format!("invalid YAML: {}", error.message),
        })?;
        if let Err(error) = variables::resolve(&mut document.root, options) {
            return Err(ConfigError {
                file: file.to_string(),
                line: document.line(&error.path),
                message: error.message,
            });
        }
        let reader = Reader {
            document: &document,
            file,
        };
        reader.service(dir, options)
    }

    /// The error for the value at `path`.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.document.line(path),
            message: message.into(),
        }
    }

    /// The HTTP API's name: `<stage>-<service>`, as the Framework names it.
    pub fn http_api_name(&self) -> String {
        format!("{}-{}", self.stage, self.name)
    }

    /// The prefix of every resource name of this service and stage.
    pub fn prefix(&self) -> String {
        format!("{}-{}-", self.name, self.stage)
    }

    /// Whether any function has an `http` (payload 1.0) event, so the API
    /// gets a stage named after the service's stage, as a REST API has.
    pub fn has_rest_events(&self) -> bool {
        self.functions.iter().any(|f| {
            f.events
                .iter()
                .any(|e| matches!(e, Event::Http { payload: "1.0", .. }))
        })
    }

    /// The layer holding the Python requirements, when they go in one.
    pub fn requirements_layer_name(&self) -> String {
        format!("{}-{}-python-requirements", self.name, self.stage)
    }
}

/// The Framework's logical id for a layer key: `my-libs` → `MyDashlibsLambdaLayer`.
pub fn layer_logical_id(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        match c {
            '-' => out.push_str("Dash"),
            '_' => out.push_str("Underscore"),
            c if i == 0 => out.extend(c.to_uppercase()),
            c => out.push(c),
        }
    }
    out.push_str("LambdaLayer");
    out
}

struct Reader<'a> {
    document: &'a Document,
    file: &'a str,
}

impl Reader<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self.document.line(path),
            message: message.into(),
        }
    }

    fn get(&self, path: &str) -> Option<&Value> {
        let pointer = format!("/{}", path.replace('.', "/"));
        self.document
            .root
            .pointer(&pointer)
            .filter(|v| !v.is_null())
    }

    fn string(&self, path: &str) -> Result<Option<String>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(self.error(path, format!("{path} must be a string"))),
        }
    }

    fn number(&self, path: &str) -> Result<Option<u32>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(path, format!("{path} must be a whole number"))),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.error(path, format!("{path} must be a whole number"))),
            Some(_) => Err(self.error(path, format!("{path} must be a whole number"))),
        }
    }

    fn boolean(&self, path: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(self.error(path, format!("{path} must be true or false"))),
        }
    }

    fn environment(&self, path: &str) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut out = BTreeMap::new();
        match self.get(path) {
            None => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let value = match value {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        Value::Number(_) | Value::Bool(_) => value.to_string(),
                        _ => {
                            return Err(self.error(
                                &join(path, key),
                                format!("environment variable {key} must be a string"),
                            ));
                        }
                    };
                    out.insert(key.clone(), value);
                }
            }
            Some(_) => return Err(self.error(path, format!("{path} must be a mapping"))),
        }
        Ok(out)
    }

    fn patterns(&self, path: &str) -> Result<Vec<String>, ConfigError> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str().map(str::to_string).ok_or_else(|| {
                        self.error(&join(path, &i.to_string()), "a pattern must be a string")
                    })
                })
                .collect(),
            Some(_) => Err(self.error(path, format!("{path} must be a list of globs"))),
        }
    }

    fn service(&self, dir: &Path, options: &Options) -> Result<Service, ConfigError> {
        let root = &self.document.root;
        if !root.is_object() {
            return Err(self.error("", "the configuration must be a mapping"));
        }
        let name = match self.get("service") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(map)) => map
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| self.error("service", "service.name must be a string"))?,
            _ => return Err(self.error("service", "`service` (the service's name) is missing")),
        };
        if name.is_empty()
            || !name.starts_with(|c: char| c.is_ascii_alphabetic())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(self.error(
                "service",
                format!(
                    "service name {name:?} must start with a letter and hold only letters, digits and hyphens"
                ),
            ));
        }
        if let Some(provider) = self.string("provider.name")?
            && provider != "aws"
        {
            return Err(self.error(
                "provider.name",
                format!("provider {provider:?} is not supported: rayo deploys `aws` services"),
            ));
        }
        let stage = match &options.stage {
            Some(stage) => stage.clone(),
            None => self
                .string("provider.stage")?
                .unwrap_or_else(|| "dev".into()),
        };
        let region = match &options.region {
            Some(region) => region.clone(),
            None => self
                .string("provider.region")?
                .unwrap_or_else(|| "us-east-1".into()),
        };
        let runtime = self
            .string("provider.runtime")?
            .unwrap_or_else(|| DEFAULT_RUNTIME.into());
        let memory_size = self.number("provider.memorySize")?.unwrap_or(1024);
        let timeout = self.number("provider.timeout")?.unwrap_or(6);
        let environment = self.environment("provider.environment")?;
        let patterns = self.patterns("package.patterns")?;
        let http_api_cors = self.cors()?;
        let requirements_layer = self
            .boolean("custom.pythonRequirements.layer")?
            .unwrap_or(false);

        let mut service = Service {
            name: name.clone(),
            stage: stage.clone(),
            region,
            dir: dir.to_path_buf(),
            file: self.file.to_string(),
            functions: Vec::new(),
            layers: Vec::new(),
            queues: Vec::new(),
            patterns,
            log_retention_days: self.number("provider.logRetentionInDays")?,
            http_api_cors,
            requirements_layer,
            warnings: Vec::new(),
            document: self.document.clone(),
        };
        self.layers(&mut service)?;
        self.resources(&mut service)?;

        let defaults = Function {
            key: String::new(),
            name: String::new(),
            handler: String::new(),
            runtime,
            memory_size,
            timeout,
            environment,
            description: String::new(),
            layers: Vec::new(),
            reserved_concurrency: None,
            events: Vec::new(),
            patterns: Vec::new(),
        };
        match self.get("functions") {
            None => {}
            Some(Value::Object(functions)) => {
                for key in functions.keys() {
                    let function = self.function(key, &defaults, &service)?;
                    service.functions.push(function);
                }
            }
            Some(_) => return Err(self.error("functions", "functions must be a mapping")),
        }
        Ok(service)
    }

    fn cors(&self) -> Result<Option<Value>, ConfigError> {
        let path = "provider.httpApi.cors";
        Ok(match self.get(path) {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(serde_json::json!({
                "allowOrigins": ["*"],
                "allowHeaders": ["Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key",
                                 "X-Amz-Security-Token", "X-Amz-User-Agent", "X-Amzn-Trace-Id"],
                "allowMethods": ["OPTIONS", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
            })),
            Some(Value::Object(map)) => {
                let mut out = serde_json::Map::new();
                for (from, to) in [
                    ("allowedOrigins", "allowOrigins"),
                    ("allowedHeaders", "allowHeaders"),
                    ("allowedMethods", "allowMethods"),
                    ("exposedResponseHeaders", "exposeHeaders"),
                ] {
                    if let Some(value) = map.get(from) {
                        out.insert(to.into(), value.clone());
                    }
                }
                if let Some(value) = map.get("allowCredentials") {
                    out.insert("allowCredentials".into(), value.clone());
                }
                if let Some(value) = map.get("maxAge") {
                    out.insert("maxAge".into(), value.clone());
                }
                Some(Value::Object(out))
            }
            Some(_) => return Err(self.error(path, "cors must be true or a mapping")),
        })
    }

    fn layers(&self, service: &mut Service) -> Result<(), ConfigError> {
        let Some(layers) = self.get("layers") else {
            return Ok(());
        };
        let Value::Object(layers) = layers else {
            return Err(self.error("layers", "layers must be a mapping"));
        };
        for key in layers.keys() {
            let base = format!("layers.{key}");
            let path = self
                .string(&format!("{base}.path"))?
                .ok_or_else(|| self.error(&base, format!("layer {key} needs a `path`")))?;
            if !service.dir.join(&path).is_dir() {
                return Err(self.error(
                    &format!("{base}.path"),
                    format!("layer {key}: directory {path} does not exist"),
                ));
            }
            let compatible_runtimes = match self.get(&format!("{base}.compatibleRuntimes")) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            service.layers.push(Layer {
                key: key.clone(),
                name: self
                    .string(&format!("{base}.name"))?
                    .unwrap_or_else(|| key.clone()),
                path: PathBuf::from(path),
                compatible_runtimes,
                description: self
                    .string(&format!("{base}.description"))?
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn resources(&self, service: &mut Service) -> Result<(), ConfigError> {
        let Some(Value::Object(resources)) = self.get("resources.Resources") else {
            return Ok(());
        };
        for (logical_id, resource) in resources {
            let base = format!("resources.Resources.{logical_id}");
            let kind = resource
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind != "AWS::SQS::Queue" {
                service.warnings.push(format!(
                    "{}:{}: resource {logical_id} ({kind}) is not deployed: rayo creates AWS::SQS::Queue resources only",
                    self.file,
                    self.document.line(&base)
                ));
                continue;
            }
            let mut attributes = BTreeMap::new();
            let mut name = None;
            if let Some(Value::Object(properties)) = resource.get("Properties") {
                for (key, value) in properties {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(_) | Value::Bool(_) => value.to_string(),
                        _ => {
                            service.warnings.push(format!(
                                "{}:{}: {logical_id}.{key} is not supported and was left out",
                                self.file,
                                self.document.line(&format!("{base}.Properties.{key}"))
                            ));
                            continue;
                        }
                    };
                    match key.as_str() {
                        "QueueName" => name = Some(text),
                        "Tags" => {}
                        _ => {
                            attributes.insert(key.clone(), text);
                        }
                    }
                }
            }
            let name = name.unwrap_or_else(|| {
                let mut name = format!("{}{logical_id}", service.prefix());
                name.truncate(80);
                name
            });
            service.queues.push(Queue {
                logical_id: logical_id.clone(),
                name,
                attributes,
            });
        }
        Ok(())
    }

    fn function(
        &self,
        key: &str,
        defaults: &Function,
        service: &Service,
    ) -> Result<Function, ConfigError> {
        let base = format!("functions.{key}");
        if !matches!(self.get(&base), Some(Value::Object(_))) {
            return Err(self.error(&base, format!("function {key} must be a mapping")));
        }
        let handler = self
            .string(&format!("{base}.handler"))?
            .ok_or_else(|| self.error(&base, format!("function {key} has no `handler`")))?;
        let runtime = self
            .string(&format!("{base}.runtime"))?
            .unwrap_or_else(|| defaults.runtime.clone());
        if runtime.starts_with("python") {
            let Some((module, _)) = handler.rsplit_once('.') else {
                return Err(self.error(
                    &format!("{base}.handler"),
                    format!("handler {handler:?} must be module.function"),
                ));
            };
            let file = format!("{module}.py");
            if !service.dir.join(&file).is_file() {
                return Err(self.error(
                    &format!("{base}.handler"),
                    format!("handler {handler:?} of function {key}: file {file} does not exist"),
                ));
            }
        }
        let mut environment = defaults.environment.clone();
        environment.extend(self.environment(&format!("{base}.environment"))?);
        let name = self
            .string(&format!("{base}.name"))?
            .unwrap_or_else(|| format!("{}{key}", service.prefix()));
        let layers = self.function_layers(&base, service)?;
        let mut events = Vec::new();
        match self.get(&format!("{base}.events")) {
            None => {}
            Some(Value::Array(items)) => {
                for (i, event) in items.iter().enumerate() {
                    let path = format!("{base}.events.{i}");
                    events.push(self.event(&path, event, service)?);
                }
            }
            Some(_) => {
                return Err(self.error(
                    &format!("{base}.events"),
                    "events must be a list".to_string(),
                ));
            }
        }
        Ok(Function {
            key: key.to_string(),
            name,
            handler,
            runtime,
            memory_size: self
                .number(&format!("{base}.memorySize"))?
                .unwrap_or(defaults.memory_size),
            timeout: self
                .number(&format!("{base}.timeout"))?
                .unwrap_or(defaults.timeout),
            environment,
            description: self
                .string(&format!("{base}.description"))?
                .unwrap_or_default(),
            layers,
            reserved_concurrency: self.number(&format!("{base}.reservedConcurrency"))?,
            events,
            patterns: self.patterns(&format!("{base}.package.patterns"))?,
        })
    }

    fn function_layers(&self, base: &str, service: &Service) -> Result<Vec<LayerRef>, ConfigError> {
        let path = format!("{base}.layers");
        let Some(value) = self.get(&path) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(self.error(&path, "layers must be a list"));
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}.{i}");
            let reference = match item {
                Value::String(arn) if arn.starts_with("arn:") => LayerRef::Arn(arn.clone()),
                Value::Object(map) if map.contains_key("Ref") => {
                    let logical_id = map["Ref"].as_str().unwrap_or_default();
                    let layer = service
                        .layers
                        .iter()
                        .find(|l| layer_logical_id(&l.key) == logical_id)
                        .ok_or_else(|| {
                            self.error(
                                &item_path,
                                format!("{logical_id} names no layer of this service's `layers`"),
                            )
                        })?;
                    LayerRef::Local(layer.key.clone())
                }
                _ => {
                    return Err(self.error(
                        &item_path,
                        "a layer is a layer version ARN or {Ref: <Name>LambdaLayer}",
                    ));
                }
            };
            out.push(reference);
        }
        Ok(out)
    }

    fn event(&self, path: &str, event: &Value, service: &Service) -> Result<Event, ConfigError> {
        let Value::Object(map) = event else {
            return Err(self.error(path, "an event must be a mapping such as `httpApi: …`"));
        };
        let Some((kind, body)) = map.iter().next().filter(|_| map.len() == 1) else {
            return Err(self.error(path, "an event must have exactly one type"));
        };
        let body_path = join(path, kind);
        match kind.as_str() {
            "httpApi" => self.http_event(&body_path, body, "2.0"),
            "http" => self.http_event(&body_path, body, "1.0"),
            "schedule" => self.schedule_event(&body_path, body),
            "s3" => self.s3_event(&body_path, body),
            "sqs" => self.sqs_event(&body_path, body, service),
            other => Err(self.error(
                path,
                format!(
                    "unknown event type '{other}' (rayo deploys httpApi, http, schedule, s3 and sqs events)"
                ),
            )),
        }
    }

    fn http_event(
        &self,
        path: &str,
        body: &Value,
        payload: &'static str,
    ) -> Result<Event, ConfigError> {
        let (method, route) = match body {
            Value::String(s) if s.trim() == "*" => {
                return Ok(Event::Http {
                    route_key: "$default".into(),
                    payload,
                    path: path.to_string(),
                });
            }
            Value::String(s) => match s.trim().split_once(char::is_whitespace) {
                Some((method, route)) => (method.to_string(), route.trim().to_string()),
                None => {
                    return Err(self.error(path, format!("{s:?} must be `METHOD /path` or `*`")));
                }
            },
            Value::Object(map) => {
                let method = map.get("method").and_then(Value::as_str).unwrap_or("*");
                let route = map.get("path").and_then(Value::as_str).ok_or_else(|| {
                    self.error(path, "an HTTP event needs a `path` (and a `method`)")
                })?;
                (method.to_string(), route.to_string())
            }
            _ => return Err(self.error(path, "an HTTP event is `METHOD /path` or a mapping")),
        };
        let method = match method.to_ascii_uppercase().as_str() {
            "*" | "ANY" => "ANY".to_string(),
            m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m.to_string(),
            other => return Err(self.error(path, format!("unknown HTTP method {other:?}"))),
        };
        let route = if route.starts_with('/') {
            route
        } else {
            format!("/{route}")
        };
        Ok(Event::Http {
            route_key: format!("{method} {route}"),
            payload,
            path: path.to_string(),
        })
    }

    fn schedule_event(&self, path: &str, body: &Value) -> Result<Event, ConfigError> {
        let (expression, expression_path, enabled, input) = match body {
            Value::String(s) => (s.clone(), path.to_string(), true, None),
            Value::Object(map) => {
                let rate_path = join(path, "rate");
                let expression = match map.get("rate") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(items)) if items.len() == 1 => items[0]
                        .as_str()
                        .ok_or_else(|| self.error(&rate_path, "rate must be a string"))?
                        .to_string(),
                    Some(Value::Array(_)) => {
                        return Err(self.error(
                            &rate_path,
                            "rayo takes one expression per schedule event: write one event per rate",
                        ));
                    }
                    _ => return Err(self.error(path, "a schedule needs a `rate`")),
                };
                let enabled = self.boolean(&join(path, "enabled"))?.unwrap_or(true);
                let input = match map.get("input") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                let expression_path = match map.get("rate") {
                    Some(Value::Array(_)) => join(&rate_path, "0"),
                    _ => rate_path,
                };
                (expression, expression_path, enabled, input)
            }
            _ => return Err(self.error(path, "a schedule is an expression or a mapping")),
        };
        Ok(Event::Schedule {
            expression,
            enabled,
            input,
            path: expression_path,
        })
    }

    fn s3_event(&self, path: &str, body: &Value) -> Result<Event, ConfigError> {
        let (bucket, map) = match body {
            Value::String(s) => (s.clone(), serde_json::Map::new()),
            Value::Object(map) => (
                map.get("bucket")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.error(path, "an s3 event needs a `bucket` name"))?
                    .to_string(),
                map.clone(),
            ),
            _ => return Err(self.error(path, "an s3 event is a bucket name or a mapping")),
        };
        let mut prefix = None;
        let mut suffix = None;
        if let Some(Value::Array(rules)) = map.get("rules") {
            for rule in rules {
                if let Some(p) = rule.get("prefix").and_then(Value::as_str) {
                    prefix = Some(p.to_string());
                }
                if let Some(s) = rule.get("suffix").and_then(Value::as_str) {
                    suffix = Some(s.to_string());
                }
            }
        }
        Ok(Event::S3 {
            bucket,
            event: map
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or("s3:ObjectCreated:*")
                .to_string(),
            prefix,
            suffix,
            existing: self.boolean(&join(path, "existing"))?.unwrap_or(false),
            path: path.to_string(),
        })
    }

    fn sqs_event(&self, path: &str, body: &Value, service: &Service) -> Result<Event, ConfigError> {
        let arn_path = join(path, "arn");
        let (arn, arn_path) = match body {
            Value::String(_) => (body, path.to_string()),
            Value::Object(map) => (
                map.get("arn")
                    .ok_or_else(|| self.error(path, "an sqs event needs an `arn`"))?,
                arn_path,
            ),
            _ => return Err(self.error(path, "an sqs event is a queue ARN or a mapping")),
        };
        let queue = match arn {
            Value::String(arn) if arn.starts_with("arn:") => QueueRef::Arn(arn.clone()),
            Value::Object(map) => {
                let logical_id = match map.get("Fn::GetAtt") {
                    Some(Value::Array(parts)) if parts.len() == 2 && parts[1] == "Arn" => {
                        parts[0].as_str().unwrap_or_default().to_string()
                    }
                    Some(Value::String(s)) if s.ends_with(".Arn") => {
                        s.trim_end_matches(".Arn").to_string()
                    }
                    _ => {
                        return Err(self.error(
                            &arn_path,
                            "a queue reference is `Fn::GetAtt: [LogicalId, Arn]`",
                        ));
                    }
                };
                if !service.queues.iter().any(|q| q.logical_id == logical_id) {
                    return Err(self.error(
                        &arn_path,
                        format!("{logical_id} is not an AWS::SQS::Queue of resources.Resources"),
                    ));
                }
                QueueRef::Resource(logical_id)
            }
            _ => return Err(self.error(&arn_path, "arn must be a queue ARN or Fn::GetAtt")),
        };
        Ok(Event::Sqs {
            queue,
            batch_size: self.number(&join(path, "batchSize"))?.unwrap_or(10),
            maximum_batching_window: self
                .number(&join(path, "maximumBatchingWindow"))?
                .unwrap_or(0),
            report_batch_item_failures: self
                .string(&join(path, "functionResponseType"))?
                .is_some_and(|t| t == "ReportBatchItemFailures"),
            enabled: self.boolean(&join(path, "enabled"))?.unwrap_or(true),
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Service, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rayo-deploy-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("handler.py"), "def hello(e, c): pass\n").expect("write");
        Service::parse(text, "serverless.yml", &dir, &Options::default())
    }

    const BASE: &str = "service: demo\nprovider:\n  name: aws\n  runtime: python3.11\n  stage: ${opt:stage, 'dev'}\n";

    #[test]
    fn events_of_every_kind() {
        let text = format!(
            "{BASE}functions:\n  hello:\n    handler: handler.hello\n    events:\n      - httpApi: 'GET /sum'\n      - httpApi: '*'\n      - http:\n          method: post\n          path: items/{{id}}\n      - schedule: rate(1 minute)\n      - schedule:\n          rate: cron(0 12 * * ? *)\n          enabled: false\n          input:\n            a: 1\n      - s3:\n          bucket: photos\n          event: s3:ObjectCreated:*\n          rules:\n            - prefix: in/\n            - suffix: .jpg\n      - sqs:\n          arn:\n            Fn::GetAtt: [Jobs, Arn]\n          batchSize: 5\n          functionResponseType: ReportBatchItemFailures\nresources:\n  Resources:\n    Jobs:\n      Type: AWS::SQS::Queue\n      Properties:\n        VisibilityTimeout: 60\n"
        );
        let service = parse(&text).expect("valid");
        assert_eq!(service.stage, "dev");
        let function = &service.functions[0];
        assert_eq!(function.name, "demo-dev-hello");
        assert_eq!(function.runtime, "python3.11");
        let kinds: Vec<String> = function
            .events
            .iter()
            .map(|e| match e {
                Event::Http {
                    route_key, payload, ..
                } => format!("{payload} {route_key}"),
                Event::Schedule {
                    expression,
                    enabled,
                    input,
                    ..
                } => format!("{expression} {enabled} {input:?}"),
                Event::S3 {
                    bucket,
                    prefix,
                    suffix,
                    ..
                } => format!("{bucket} {prefix:?} {suffix:?}"),
                Event::Sqs {
                    queue,
                    batch_size,
                    report_batch_item_failures,
                    ..
                } => format!("{queue:?} {batch_size} {report_batch_item_failures}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "2.0 GET /sum",
                "2.0 $default",
                "1.0 POST /items/{id}",
                "rate(1 minute) true None",
                "cron(0 12 * * ? *) false Some(\"{\\\"a\\\":1}\")",
                "photos Some(\"in/\") Some(\".jpg\")",
                "Resource(\"Jobs\") 5 true",
            ]
        );
        assert_eq!(service.queues[0].name, "demo-dev-Jobs");
        assert_eq!(service.queues[0].attributes["VisibilityTimeout"], "60");
        assert!(service.has_rest_events());
    }

    #[test]
    fn errors_name_their_line() {
        let check = |text: String, line: u32, needle: &str| {
            let error = parse(&text).unwrap_err();
            assert_eq!(error.line, line, "{error}");
            assert!(error.to_string().contains(needle), "{error}");
            assert!(error.to_string().starts_with("serverless.yml:"), "{error}");
        };
        check(
            format!(
                "{BASE}functions:\n  hello:\n    handler: handler.hello\n    events:\n      - websocket: $connect\n"
            ),
            10,
            "unknown event type 'websocket'",
        );
        check(
            format!("{BASE}functions:\n  hello:\n    handler: missing.hello\n"),
            8,
            "file missing.py does not exist",
        );
        check(
            format!(
                "{BASE}functions:\n  hello:\n    handler: handler.hello\n    environment:\n      X: ${{env:RAYO_NOT_SET_X}}\n"
            ),
            10,
            "cannot resolve variable",
        );
        check(
            format!(
                "{BASE}functions:\n  hello:\n    handler: handler.hello\n    events:\n      - sqs:\n          arn:\n            Fn::GetAtt: [Nope, Arn]\n"
            ),
            12,
            "Nope is not an AWS::SQS::Queue",
        );
        check(
            "service: demo\nprovider: [a\n".to_string(),
            2,
            "invalid YAML: unclosed bracket",
        );
    }

    #[test]
    fn short_forms_layers_and_overrides() {
        let text = format!(
            "{BASE}  environment:\n    A: provider\n    B: provider\nlayers:\n  my-libs:\n    path: .\nfunctions:\n  hello:\n    handler: handler.hello\n    name: custom-name\n    memorySize: 512\n    environment:\n      B: function\n    layers:\n      - Ref: MyDashlibsLambdaLayer\n      - arn:aws:lambda:us-east-1:000000000000:layer:x:3\n    events:\n      - http: get hello\n      - httpApi:\n          method: '*'\n          path: /any/{{proxy+}}\n      - sqs: arn:aws:sqs:us-east-1:000000000000:q\n      - s3: photos\n"
        );
        let options = Options {
            stage: Some("prod".into()),
            ..Options::default()
        };
        let dir = std::env::temp_dir().join(format!("rayo-deploy-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("handler.py"), "").expect("write");
        let service = Service::parse(&text, "serverless.yml", &dir, &options).expect("valid");
        assert_eq!(service.stage, "prod");
        assert_eq!(service.http_api_name(), "prod-demo");
        let function = &service.functions[0];
        assert_eq!(function.name, "custom-name");
        assert_eq!(function.memory_size, 512);
        assert_eq!(function.timeout, 6);
        assert_eq!(function.environment["A"], "provider");
        assert_eq!(function.environment["B"], "function");
        assert_eq!(
            function.layers,
            [
                LayerRef::Local("my-libs".into()),
                LayerRef::Arn("arn:aws:lambda:us-east-1:000000000000:layer:x:3".into())
            ]
        );
        assert!(
            matches!(&function.events[0], Event::Http { route_key, payload: "1.0", .. } if route_key == "GET /hello")
        );
        assert!(
            matches!(&function.events[1], Event::Http { route_key, payload: "2.0", .. } if route_key == "ANY /any/{proxy+}")
        );
        assert!(
            matches!(&function.events[2], Event::Sqs { queue: QueueRef::Arn(arn), batch_size: 10, .. } if arn.ends_with(":q"))
        );
        assert!(
            matches!(&function.events[3], Event::S3 { bucket, event, existing: false, .. } if bucket == "photos" && event == "s3:ObjectCreated:*")
        );
    }

    #[test]
    fn layer_logical_ids() {
        assert_eq!(layer_logical_id("common"), "CommonLambdaLayer");
        assert_eq!(
            layer_logical_id("my-libs_x"),
            "MyDashlibsUnderscorexLambdaLayer"
        );
    }
}
