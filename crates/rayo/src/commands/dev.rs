//! `rayo dev`: deploys the service, then watches its directory and, after a
//! save, uploads the code of only the functions whose package changed
//! (UpdateFunctionCode); the others keep their warm instances. A change of
//! the configuration file redeploys the whole service, incrementally.
//!
//! The directory is polled (file sizes and modification times, every 100
//! ms): no watcher crate, and nothing missed on file systems without inotify.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use http::Method;
use serde_json::json;

use crate::client::{Client, Endpoint, segment};
use crate::serverless::api::Api;
use crate::serverless::apply::{self, ChangeLog};
use crate::serverless::artifacts;
use crate::serverless::project::ProjectArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

const POLL: Duration = Duration::from_millis(100);

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let api = Api {
        client: Client::new(&args.endpoint),
    };
    let mut service = args.project.load()?;
    let mut deployed = deploy_all(&api, &service).await?;
    let dir = service.dir.clone();
    println!(
        "watching {} for changes (Ctrl-C to stop)",
        std::fs::canonicalize(&dir).unwrap_or(dir.clone()).display()
    );
    let mut snapshot = scan(&dir);
    loop {
        tokio::time::sleep(POLL).await;
        let now = scan(&dir);
        if now == snapshot {
            continue;
        }
        // Let an editor finish writing.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let now = scan(&dir);
        let config_changed = changed_paths(&snapshot, &now)
            .iter()
            .any(|p| p.file_name() == args.project.config.file_name());
        snapshot = now;
        let started = Instant::now();
        if config_changed {
            match args.project.load() {
                Ok(reloaded) => service = reloaded,
                Err(error) => {
                    eprintln!("error: {error:#}");
                    continue;
                }
            }
            match deploy_all(&api, &service).await {
                Ok(shas) => deployed = shas,
                Err(error) => eprintln!("error: {error:#}"),
            }
            continue;
        }
        let built = {
            let service = service.clone();
            tokio::task::spawn_blocking(move || artifacts::build(&service, None))
                .await
                .expect("packaging does not panic")
        };
        let built = match built {
            Ok(built) => built,
            Err(error) => {
                eprintln!("error: {error:#}");
                continue;
            }
        };
        for function in &service.functions {
            let artifact = &built.functions[&function.key];
            if deployed.get(&function.key) == Some(&artifact.sha256) {
                continue;
            }
            let path = format!("/2015-03-31/functions/{}/code", segment(&function.name));
            let body = json!({
                "ZipFile": base64::engine::general_purpose::STANDARD.encode(&artifact.zip),
            });
            match api.call(Method::PUT, &path, Some(body)).await {
                Ok(_) => {
                    deployed.insert(function.key.clone(), artifact.sha256.clone());
                    println!(
                        "updated {} ({} bytes, {} ms after the save)",
                        function.name,
                        artifact.zip.len(),
                        started.elapsed().as_millis() + 30
                    );
                }
                Err(error) => eprintln!("error: updating {}: {error:#}", function.name),
            }
        }
    }
}

/// A full incremental deploy; the deployed code hashes by function key.
async fn deploy_all(
    api: &Api,
    service: &rayo_deploy::Service,
) -> anyhow::Result<BTreeMap<String, String>> {
    let built = {
        let service = service.clone();
        tokio::task::spawn_blocking(move || artifacts::build(&service, None))
            .await
            .expect("packaging does not panic")?
    };
    let mut log = ChangeLog::default();
    apply::deploy(api, service, &built, &mut log).await?;
    if log.applied.is_empty() {
        println!("{} ({}) is up to date", service.name, service.stage);
    }
    Ok(built
        .functions
        .iter()
        .map(|(key, artifact)| (key.clone(), artifact.sha256.clone()))
        .collect())
}

type Snapshot = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// Size and modification time of every file under `dir`, but the
/// directories no package takes from.
fn scan(dir: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if matches!(
                name.to_str(),
                Some(".serverless" | ".git" | "__pycache__" | "node_modules" | ".venv")
            ) {
                continue;
            }
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(entry.path(), (metadata.len(), metadata.modified().ok()));
            }
        }
    }
    out
}

fn changed_paths(before: &Snapshot, after: &Snapshot) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = after
        .iter()
        .filter(|(path, state)| before.get(*path) != Some(state))
        .map(|(path, _)| path.clone())
        .collect();
    out.extend(
        before
            .keys()
            .filter(|path| !after.contains_key(*path))
            .cloned(),
    );
    out
}
