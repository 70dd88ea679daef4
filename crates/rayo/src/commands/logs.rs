//! `rayo logs NAME [--follow]` or `rayo logs -f FUNCTION [--tail]` (a
//! function of the service in serverless.yml, as `sls logs -f`): a
//! function's log group, through the Logs API.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::client::{Client, Endpoint};
use crate::serverless::project::ProjectArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// Function name.
    #[arg(required_unless_present = "function")]
    name: Option<String>,
    /// A function of the service, by its key under `functions` in the
    /// configuration (deployed as `<service>-<stage>-<key>`).
    #[arg(long, short = 'f', conflicts_with = "name")]
    function: Option<String>,
    /// Keep printing new lines as they arrive, until interrupted.
    #[arg(long, short = 't', visible_alias = "tail")]
    follow: bool,
    /// Only lines containing every term (CloudWatch's plain-term filter).
    #[arg(long)]
    filter: Option<String>,
    /// Only lines from the last N minutes.
    #[arg(long, value_name = "MINUTES")]
    since: Option<u64>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let name = match (&args.name, &args.function) {
        (Some(name), _) => name.clone(),
        (None, Some(key)) => args.project.function_name(key)?,
        (None, None) => anyhow::bail!("name the function: NAME, or -f FUNCTION of serverless.yml"),
    };
    let group = format!("/aws/lambda/{name}");
    let start_time = args.since.map(|minutes| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        now - (minutes as i64) * 60_000
    });
    let mut token: Option<String> = None;
    let mut out = std::io::stdout();
    loop {
        let mut input = json!({ "logGroupName": group });
        if let Some(start_time) = start_time {
            input["startTime"] = json!(start_time);
        }
        if let Some(filter) = &args.filter {
            input["filterPattern"] = json!(filter);
        }
        if let Some(token) = &token {
            input["nextToken"] = json!(token);
        }
        let page = match client.logs("FilterLogEvents", input).await {
            Ok(page) => page,
            Err(error) if error.to_string().starts_with("ResourceNotFoundException") => {
                if args.follow {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                anyhow::bail!("no logs yet for {name}: it has not run");
            }
            Err(error) => return Err(error),
        };
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let mut lock = out.lock();
        for event in &events {
            let message = event["message"].as_str().unwrap_or_default();
            if args.endpoint.json {
                writeln!(lock, "{event}")?;
            } else {
                writeln!(lock, "{message}")?;
            }
        }
        lock.flush()?;
        drop(lock);
        match page["nextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => {
                if !args.follow {
                    break;
                }
                // Continue after the last event seen.
                if let Some(last) = events.last().and_then(|e| e["eventId"].as_str()) {
                    token = Some(last.trim_start_matches('0').to_string());
                    if token.as_deref() == Some("") {
                        token = Some("0".to_string());
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = &mut out;
    Ok(ExitCode::SUCCESS)
}
