//! The `rayo` binary: the server and the client commands that drive it
//! through its public APIs.

#![forbid(unsafe_code)]

mod client;
mod commands;
mod serverless;

/// mimalloc rather than glibc's allocator: the server allocates and frees
/// many small buffers per request across threads, where glibc's spends a
/// sixth of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A self-hosted serverless platform with AWS Lambda's programming model and wire protocols.
#[derive(Debug, Parser)]
#[command(name = "rayo", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: every API on one port, state under one data directory.
    Server(commands::server::ServerArgs),
    /// Create, update, inspect, list and delete functions.
    #[command(subcommand)]
    Function(commands::function::FunctionCommand),
    /// Invoke a function synchronously and print its response.
    Invoke(commands::invoke::InvokeArgs),
    /// Print a function's logs, optionally following new lines.
    Logs(commands::logs::LogsArgs),
    /// Deploy a Serverless Framework service (serverless.yml), incrementally.
    Deploy(commands::deploy::DeployArgs),
    /// Remove everything a deploy of the service and stage made.
    Remove(commands::remove::RemoveArgs),
    /// Show what is deployed of the service: endpoints, functions, layers.
    Info(commands::info::InfoArgs),
    /// Write a new service from a template (handler, serverless.yml, .gitignore).
    Create(commands::create::CreateArgs),
    /// Deploy, then watch the service and upload the code of each edited function.
    Dev(commands::dev::DevArgs),
}

fn main() -> ExitCode {
    // A sandboxed instance starts as this binary re-executed; it must take
    // over before anything else runs (no threads, no open files).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "__sandbox-init")
    {
        rayo_sandbox::init_main();
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the Tokio runtime starts on any Linux host");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => commands::server::run(args).await,
            Command::Function(command) => commands::function::run(command).await,
            Command::Invoke(args) => commands::invoke::run(args).await,
            Command::Logs(args) => commands::logs::run(args).await,
            Command::Deploy(args) => commands::deploy::run(args).await,
            Command::Remove(args) => commands::remove::run(args).await,
            Command::Info(args) => commands::info::run(args).await,
            Command::Create(args) => commands::create::run(args),
            Command::Dev(args) => commands::dev::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<client::ServerUnreachable>().is_some() {
                ExitCode::from(commands::EXIT_UNREACHABLE)
            } else {
                ExitCode::from(commands::EXIT_FAILURE)
            }
        }
    }
}
