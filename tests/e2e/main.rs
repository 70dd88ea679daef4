//! End-to-end tests: every test starts a real `rayo server` (see the
//! `rayo_tests` harness) and drives it with real clients: boto3 and the aws
//! CLI from the shared virtualenv, and the `rayo` binary's own commands.
//! Functions are real Python packages run by the host's Python 3.11.
//!
//! Build the server first: `cargo build -p rayo`, then
//! `cargo nextest run -p rayo-tests`.

mod async_invoke;
mod aws_cli;
mod concurrency;
mod console;
mod deploy;
mod event_sources;
mod failures;
mod functions;
mod http;
mod layers;
mod lifecycle;
mod logs;
mod metrics;
mod nothing_lost;
mod packages;
mod permissions;
mod provided;
mod provisioned;
mod python_runtime;
mod queues;
mod rayo_cli;
mod runtimes;
mod rust_runtime;
mod s3;
mod sandbox;
mod schedules;
mod validation;
mod versions;
