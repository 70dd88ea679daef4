//! `rayo function create|update|get|list|delete`, through the Lambda API.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::client::{Client, Endpoint, segment};

/// Function management commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FunctionCommand {
    /// Create a function from a .zip or a directory.
    Create(CreateArgs),
    /// Update a function's code and/or configuration.
    Update(UpdateArgs),
    /// Show a function's configuration.
    Get(NameArgs),
    /// List functions.
    List(ListArgs),
    /// Delete a function.
    Delete(NameArgs),
}

/// Where a function's code comes from.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub(crate) struct CodeArgs {
    /// A .zip deployment package.
    #[arg(long, value_name = "FILE")]
    zip: Option<PathBuf>,
    /// A directory, zipped as it is.
    #[arg(long, value_name = "DIR")]
    code_dir: Option<PathBuf>,
}

/// Configuration settable at create and update.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// Handler, such as `lambda_function.lambda_handler`.
    #[arg(long)]
    handler: Option<String>,
    /// Memory in MB (128–10240).
    #[arg(long)]
    memory: Option<u32>,
    /// Timeout in seconds (1–900).
    #[arg(long)]
    timeout: Option<u32>,
    /// Environment variable KEY=VALUE; repeat for more.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    environment: Vec<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Function name.
    name: String,
    /// Runtime, such as `python3.12` or `provided.al2023`.
    #[arg(long, default_value = "python3.12")]
    runtime: String,
    /// Execution role ARN (kept, not enforced).
    #[arg(long, default_value = "arn:aws:iam::000000000000:role/lambda-role")]
    role: String,
    #[command(flatten)]
    code: CodeArgs,
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UpdateArgs {
    /// Function name.
    name: String,
    /// New runtime.
    #[arg(long)]
    runtime: Option<String>,
    #[command(flatten)]
    code: CodeArgs,
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

#[derive(Debug, clap::Args)]
pub(crate) struct NameArgs {
    /// Function name or ARN.
    name: String,
    #[command(flatten)]
    endpoint: Endpoint,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    endpoint: Endpoint,
}

pub(crate) async fn run(command: FunctionCommand) -> anyhow::Result<ExitCode> {
    match command {
        FunctionCommand::Create(args) => create(args).await,
        FunctionCommand::Update(args) => update(args).await,
        FunctionCommand::Get(args) => get(args).await,
        FunctionCommand::List(args) => list(args).await,
        FunctionCommand::Delete(args) => delete(args).await,
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let Some(zip) = read_code(&args.code)? else {
        bail!("give the code with --zip FILE or --code-dir DIR");
    };
    let mut body = json!({
        "FunctionName": args.name,
        "Runtime": args.runtime,
        "Role": args.role,
        "Handler": args.config.handler.clone().unwrap_or_else(|| "lambda_function.lambda_handler".to_string()),
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    apply_config(&mut body, &args.config)?;
    let reply = client
        .send(
            Method::POST,
            "/2015-03-31/functions",
            &json_header(),
            Bytes::from(body.to_string()),
        )
        .await?;
    let config = reply.json()?;
    print_configuration(&config, args.endpoint.json)?;
    Ok(ExitCode::SUCCESS)
}

async fn update(args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let path = format!("/2015-03-31/functions/{}", segment(&args.name));
    let mut last = None;
    if let Some(zip) = read_code(&args.code)? {
        let body = json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) });
        let reply = client
            .send(
                Method::PUT,
                &format!("{path}/code"),
                &json_header(),
                Bytes::from(body.to_string()),
            )
            .await?;
        last = Some(reply.json()?);
    }
    let mut body = json!({});
    if let Some(handler) = &args.config.handler {
        body["Handler"] = json!(handler);
    }
    if let Some(runtime) = &args.runtime {
        body["Runtime"] = json!(runtime);
    }
    apply_config(&mut body, &args.config)?;
    if body.as_object().is_some_and(|o| !o.is_empty()) {
        let reply = client
            .send(
                Method::PUT,
                &format!("{path}/configuration"),
                &json_header(),
                Bytes::from(body.to_string()),
            )
            .await?;
        last = Some(reply.json()?);
    }
    let Some(config) = last else {
        bail!("nothing to update: give --zip/--code-dir and/or configuration options");
    };
    print_configuration(&config, args.endpoint.json)?;
    Ok(ExitCode::SUCCESS)
}

async fn get(args: NameArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let path = format!("/2015-03-31/functions/{}", segment(&args.name));
    let reply = client.send(Method::GET, &path, &[], Bytes::new()).await?;
    let function = reply.json()?;
    if args.endpoint.json {
        println!("{}", serde_json::to_string_pretty(&function)?);
    } else {
        print_configuration(&function["Configuration"], false)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let mut functions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(marker) => format!("/2015-03-31/functions?Marker={}", segment(marker)),
            None => "/2015-03-31/functions".to_string(),
        };
        let page = client
            .send(Method::GET, &path, &[], Bytes::new())
            .await?
            .json()?;
        if let Some(list) = page["Functions"].as_array() {
            functions.extend(list.iter().cloned());
        }
        match page["NextMarker"].as_str() {
            Some(next) => marker = Some(next.to_string()),
            None => break,
        }
    }
    let mut out = std::io::stdout().lock();
    if args.endpoint.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({ "Functions": functions }))?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if functions.is_empty() {
        writeln!(out, "no functions")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<40} {:<16} {:>7} {:>8}  LAST MODIFIED",
        "NAME", "RUNTIME", "MEMORY", "TIMEOUT"
    )?;
    for f in &functions {
        writeln!(
            out,
            "{:<40} {:<16} {:>4} MB {:>6} s  {}",
            f["FunctionName"].as_str().unwrap_or_default(),
            f["Runtime"].as_str().unwrap_or_default(),
            f["MemorySize"],
            f["Timeout"],
            f["LastModified"].as_str().unwrap_or_default(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: NameArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.endpoint);
    let path = format!("/2015-03-31/functions/{}", segment(&args.name));
    let reply = client
        .send(Method::DELETE, &path, &[], Bytes::new())
        .await?;
    reply.json()?;
    if args.endpoint.json {
        println!("{}", json!({ "Deleted": args.name }));
    } else {
        println!("deleted {}", args.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn apply_config(body: &mut Value, config: &ConfigArgs) -> anyhow::Result<()> {
    if let Some(memory) = config.memory {
        body["MemorySize"] = json!(memory);
    }
    if let Some(timeout) = config.timeout {
        body["Timeout"] = json!(timeout);
    }
    if let Some(description) = &config.description {
        body["Description"] = json!(description);
    }
    if !config.environment.is_empty() {
        let mut variables = BTreeMap::new();
        for pair in &config.environment {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--env takes KEY=VALUE, got '{pair}'"))?;
            variables.insert(key.to_string(), value.to_string());
        }
        body["Environment"] = json!({ "Variables": variables });
    }
    Ok(())
}

fn read_code(code: &CodeArgs) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(zip) = &code.zip {
        return Ok(Some(
            std::fs::read(zip).with_context(|| format!("reading {}", zip.display()))?,
        ));
    }
    if let Some(dir) = &code.code_dir {
        return Ok(Some(zip_directory(dir)?));
    }
    Ok(None)
}

/// Zips a directory in memory, keeping unix modes so executables stay executable.
pub(crate) fn zip_directory(dir: &Path) -> anyhow::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(current) = stack.pop() {
        for entry in
            std::fs::read_dir(&current).with_context(|| format!("reading {}", current.display()))?
        {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                stack.push(entry.path());
            } else if file_type.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    for path in files {
        let name = path
            .strip_prefix(dir)
            .expect("walked paths are under the root")
            .to_string_lossy()
            .into_owned();
        let mode = std::fs::metadata(&path)?.permissions().mode();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode & 0o777);
        writer.start_file(name, options)?;
        writer.write_all(&std::fs::read(&path)?)?;
    }
    Ok(writer.finish()?.into_inner())
}

fn print_configuration(config: &Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(config)?);
        return Ok(());
    }
    let field = |name: &str| match &config[name] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    println!("{}", field("FunctionName"));
    println!("  arn           {}", field("FunctionArn"));
    println!("  runtime       {}", field("Runtime"));
    println!("  handler       {}", field("Handler"));
    println!("  memory        {} MB", field("MemorySize"));
    println!("  timeout       {} s", field("Timeout"));
    println!("  code size     {} bytes", field("CodeSize"));
    println!("  state         {}", field("State"));
    println!("  last modified {}", field("LastModified"));
    if let Some(variables) = config["Environment"]["Variables"].as_object() {
        for (key, value) in variables {
            println!(
                "  env           {key}={}",
                value.as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn json_header() -> [(&'static str, String); 1] {
    [("content-type", "application/json".to_string())]
}
