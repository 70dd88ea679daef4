//! The options every project command shares (`--stage`, `--region`,
//! `--config`), and loading the service they name.

use std::path::PathBuf;

use rayo_deploy::{Options, Service};

/// Which project, stage and region.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProjectArgs {
    /// The stage (default: provider.stage, else `dev`).
    #[arg(long, short = 's')]
    pub(crate) stage: Option<String>,
    /// The region (default: provider.region, else `us-east-1`).
    #[arg(long, short = 'r')]
    pub(crate) region: Option<String>,
    /// The service's configuration file.
    #[arg(
        long,
        short = 'c',
        default_value = "serverless.yml",
        value_name = "FILE"
    )]
    pub(crate) config: PathBuf,
}

impl ProjectArgs {
    /// Reads and checks the configuration, resolving its variables.
    pub(crate) fn load(&self) -> anyhow::Result<Service> {
        let options = Options {
            stage: self.stage.clone(),
            region: self.region.clone(),
            env: std::env::vars().collect(),
        };
        let service = Service::load(&self.config, &options)?;
        for warning in &service.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(service)
    }
}

impl ProjectArgs {
    /// The deployed name of the service's function `key`.
    pub(crate) fn function_name(&self, key: &str) -> anyhow::Result<String> {
        let service = self.load()?;
        match service.functions.iter().find(|f| f.key == key) {
            Some(function) => Ok(function.name.clone()),
            None => anyhow::bail!(
                "function {key} is not in {} (it has: {})",
                self.config.display(),
                service
                    .functions
                    .iter()
                    .map(|f| f.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
