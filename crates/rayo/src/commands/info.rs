//! `rayo info`: what is deployed of a service, as `sls info` prints it.

use std::process::ExitCode;

use crate::client::{Client, Endpoint};
use crate::serverless::api::Api;
use crate::serverless::info;
use crate::serverless::project::ProjectArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub(crate) async fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let service = args.project.load()?;
    let api = Api {
        client: Client::new(&args.endpoint),
    };
    let (summary, text) = info::gather(&api, &service).await?;
    if args.endpoint.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
