//! `rayo invoke NAME` or `rayo invoke -f FUNCTION` (a function of the
//! service in serverless.yml, as `sls invoke -f`): a synchronous invocation
//! through the Invoke API.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use http::Method;

use super::EXIT_FUNCTION_ERROR;
use crate::client::{Client, Endpoint, segment};
use crate::serverless::project::ProjectArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct InvokeArgs {
    /// Function name or ARN, optionally `name:qualifier`.
    #[arg(required_unless_present = "function")]
    name: Option<String>,
    /// A function of the service, by its key under `functions` in the
    /// configuration (deployed as `<service>-<stage>-<key>`).
    #[arg(long, short = 'f', conflicts_with = "name")]
    function: Option<String>,
    /// The event: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// The event as JSON text (the Framework's `--data`).
    #[arg(long, short = 'd', conflicts_with_all = ["payload", "path"])]
    data: Option<String>,
    /// The event from a JSON file (the Framework's `--path`).
    #[arg(long, short = 'p', value_name = "FILE", conflicts_with = "payload")]
    path: Option<std::path::PathBuf>,
    /// Also print the invocation's log (the last 4 KB).
    #[arg(long, short = 'l')]
    log: bool,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub(crate) async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let payload = if let Some(data) = &args.data {
        data.clone().into_bytes()
    } else if let Some(file) = &args.path {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    } else {
        match args.payload.strip_prefix('@') {
            Some(file) => std::fs::read(file).with_context(|| format!("reading {file}"))?,
            None => args.payload.clone().into_bytes(),
        }
    };
    let name = match (&args.name, &args.function) {
        (Some(name), _) => name.clone(),
        (None, Some(key)) => args.project.function_name(key)?,
        (None, None) => anyhow::bail!("name the function: NAME, or -f FUNCTION of serverless.yml"),
    };
    let path = format!("/2015-03-31/functions/{}/invocations", segment(&name));
    let mut headers = vec![("content-type", "application/json".to_string())];
    if args.log || args.endpoint.json {
        headers.push(("x-amz-log-type", "Tail".to_string()));
    }
    let reply = client
        .send(Method::POST, &path, &headers, Bytes::from(payload))
        .await?;
    if !reply.status.is_success() {
        anyhow::bail!("{}", reply.error_text());
    }
    let function_error = reply
        .headers
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let log = reply
        .headers
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .map(|raw| String::from_utf8_lossy(&raw).into_owned());
    let mut out = std::io::stdout().lock();
    if args.endpoint.json {
        let payload: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&reply.body).into_owned())
        });
        let summary = serde_json::json!({
            "StatusCode": reply.status.as_u16(),
            "FunctionError": function_error,
            "ExecutedVersion": reply.headers.get("x-amz-executed-version").and_then(|v| v.to_str().ok()),
            "Payload": payload,
            "LogResult": log,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        if args.log
            && let Some(log) = &log
        {
            write!(out, "{log}")?;
            if !log.ends_with('\n') {
                writeln!(out)?;
            }
        }
        out.write_all(&reply.body)?;
        writeln!(out)?;
    }
    match function_error {
        Some(kind) => {
            eprintln!("the function failed ({kind})");
            Ok(ExitCode::from(EXIT_FUNCTION_ERROR))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}
