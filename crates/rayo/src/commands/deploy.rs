//! `rayo deploy`: a Serverless Framework service (`serverless.yml`) applied
//! to a running server through its public APIs, incrementally.

use std::process::ExitCode;
use std::time::Instant;

use crate::client::{Client, Endpoint};
use crate::serverless::api::Api;
use crate::serverless::apply::{self, ChangeLog};
use crate::serverless::artifacts;
use crate::serverless::info;
use crate::serverless::project::ProjectArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub(crate) async fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let service = args.project.load()?;
    let api = Api {
        client: Client::new(&args.endpoint),
    };
    let json = args.endpoint.json;
    // With --json, stdout holds the JSON summary alone.
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "Deploying {} to stage {} ({})",
        service.name, service.stage, service.region
    ));
    let artifacts = {
        let service = service.clone();
        tokio::task::spawn_blocking(move || artifacts::build(&service, None))
            .await
            .expect("packaging does not panic")?
    };
    let mut log = ChangeLog {
        to_stderr: json,
        ..ChangeLog::default()
    };
    if let Err(error) = apply::deploy(&api, &service, &artifacts, &mut log).await {
        let applied = if log.applied.is_empty() {
            "nothing".to_string()
        } else {
            log.applied.join("; ")
        };
        eprintln!(
            "deploy of {} ({}) stopped part-way.\n  applied: {applied}\n  not applied: {}\nFix the cause and run `rayo deploy` again: it continues from what is there.",
            service.name,
            service.stage,
            log.not_reached(),
        );
        return Err(error);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if log.applied.is_empty() {
        say(format!(
            "No changes: service {} ({}) is up to date; nothing was written ({elapsed:.1}s)",
            service.name, service.stage
        ));
    } else {
        say(format!(
            "Service deployed: {} change(s) applied to {} ({}) ({elapsed:.1}s)",
            log.applied.len(),
            service.name,
            service.stage
        ));
    }
    let (summary, text) = info::gather(&api, &service).await?;
    if args.endpoint.json {
        let mut summary = summary;
        summary["changes"] = serde_json::json!(log.applied);
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!();
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
