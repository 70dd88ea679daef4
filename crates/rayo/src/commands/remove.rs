//! `rayo remove`: deletes everything a deploy of the service and stage made
//! (functions with their triggers and log groups, rules, routes and the HTTP
//! API, queues, bucket notifications); buckets and their objects are kept.

use std::process::ExitCode;

use http::Method;
use serde_json::json;

use crate::client::{Client, Endpoint};
use crate::serverless::api::Api;
use crate::serverless::apply::{self, ChangeLog};
use crate::serverless::project::ProjectArgs;
use crate::serverless::s3::S3;

#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub(crate) async fn run(args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let service = args.project.load()?;
    let api = Api {
        client: Client::new(&args.endpoint),
    };
    println!("Removing {} from stage {}", service.name, service.stage);
    let mut log = ChangeLog::default();
    let s3 = S3::new(&api.client, &service.region);
    apply::clear_notifications(&s3, &service.prefix(), &mut log).await?;
    if let Some(http_api) = api.http_api(&service.http_api_name()).await? {
        let id = http_api["apiId"].as_str().unwrap_or_default();
        api.rest(Method::DELETE, &format!("/v2/apis/{id}"), None)
            .await?;
        log.applied.push(format!("deleted HTTP API {id}"));
        println!("  deleted HTTP API {} ({id})", service.http_api_name());
    }
    for rule in api.rules(&service.prefix()).await? {
        let name = rule["Name"].as_str().unwrap_or_default();
        if rule["Description"] == apply::rule_marker(&service).as_str() {
            apply::delete_rule(&api, name, &mut log).await?;
        }
    }
    for function in api.service_functions(&service.name, &service.stage).await? {
        let name = function["Configuration"]["FunctionName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        apply::delete_function(&api, &name, &mut log).await?;
    }
    for (name, url) in api.service_queues(&service.name, &service.stage).await? {
        api.sqs("DeleteQueue", json!({ "QueueUrl": url })).await?;
        println!("  deleted queue {name}");
        log.applied.push(name);
    }
    if log.applied.is_empty() {
        println!(
            "Nothing to remove: {} ({}) is not deployed",
            service.name, service.stage
        );
    } else {
        println!(
            "Service {} ({}) removed ({} deletion(s))",
            service.name,
            service.stage,
            log.applied.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
