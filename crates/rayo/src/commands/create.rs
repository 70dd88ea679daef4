//! `rayo create --template aws-python3 --path DIR`: a new service, as
//! `sls create -t aws-python3` writes it, deployable as it is.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// The template; `aws-python3` (also `aws-python`).
    #[arg(long, short = 't')]
    template: String,
    /// The directory to create (default: the current one).
    #[arg(long, short = 'p', value_name = "DIR", default_value = ".")]
    path: PathBuf,
    /// The service's name (default: the directory's name).
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// The runtime (default: the newest python3.X this host has).
    #[arg(long)]
    runtime: Option<String>,
}

const HANDLER: &str = r#"import json


def hello(event, context):
    body = {
        "message": "Go Serverless! Your function executed successfully!",
        "input": event,
    }

    response = {"statusCode": 200, "body": json.dumps(body)}

    return response
"#;

const GITIGNORE: &str = "# Distribution / packaging
.Python
env/
build/
develop-eggs/
dist/
downloads/
eggs/
.eggs/
lib/
lib64/
parts/
sdist/
var/
*.egg-info/
.installed.cfg
*.egg

# Serverless directories
.serverless
";

pub(crate) fn run(args: CreateArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.template.as_str(), "aws-python3" | "aws-python") {
        bail!(
            "template {:?} is not available: rayo creates aws-python3",
            args.template
        );
    }
    let dir = &args.path;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => std::path::absolute(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "service".to_string()),
    };
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        bail!(
            "service name {name:?} must start with a letter and hold only letters, digits and hyphens (give one with --name)"
        );
    }
    if dir.join("serverless.yml").exists() {
        bail!("{} already holds a serverless.yml", dir.display());
    }
    let runtime = args.runtime.clone().unwrap_or_else(host_runtime);
    let config = format!(
        "service: {name}\nframeworkVersion: '3'\n\nprovider:\n  name: aws\n  runtime: {runtime}\n\nfunctions:\n  hello:\n    handler: handler.hello\n"
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, content) in [
        ("handler.py", HANDLER),
        ("serverless.yml", config.as_str()),
        (".gitignore", GITIGNORE),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "Service {name} created in {} from template {}: handler.py, serverless.yml, .gitignore",
        dir.display(),
        args.template
    );
    Ok(ExitCode::SUCCESS)
}

/// The newest `python3.X` on this host, as a Lambda runtime name.
fn host_runtime() -> String {
    (9..=14)
        .rev()
        .map(|minor| format!("python3.{minor}"))
        .find(|python| {
            Command::new(python)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| "python3.12".to_string())
}
