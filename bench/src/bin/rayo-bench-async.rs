//! `cargo run --release -p rayo-bench --bin rayo-bench-async`: asynchronous
//! invocation and queue throughput, each beside rayo's own synchronous
//! warm-invoke rate measured in the same run, with the ratio:
//!
//! - accepting `InvocationType=Event` invocations (each committed to SQLite
//!   before its 202);
//! - delivering them end to end to a hello function (from the first accept
//!   until every invocation's OnSuccess record is in a queue);
//! - a send → receive → delete cycle on an SQS queue.
//!
//! The machine's speed varies from run to run; the ratios are what to compare.
//! Beside them, the server's own CPU time per invocation (user + system, read
//! from `/proc`, so Linux only) says what each path costs, whatever else the
//! machine was doing.

#![forbid(unsafe_code)]

#[path = "../support.rs"]
mod support;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use http::Method;
use serde_json::{Value, json};
use support::{HttpClient, Server, build_rayo, create_function, http_client, python_runtime, send};

/// Concurrent clients.
const CLIENTS: usize = 8;
/// Synchronous invocations for the baseline.
const SYNC_INVOKES: usize = 4000;
/// Asynchronous invocations accepted and delivered.
const ASYNC_INVOKES: usize = 10_000;
/// Send → receive → delete cycles.
const QUEUE_CYCLES: usize = 4000;

const HANDLER: &str =
    "def lambda_handler(event, context):\n    return {\"hello\": event.get(\"n\")}\n";

fn main() -> anyhow::Result<()> {
    let rayo = build_rayo()?;
    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&rayo, data_dir.path(), &["--concurrency-limit", "64"])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&server.url))
}

async fn run(url: &str) -> anyhow::Result<()> {
    let client = http_client();
    create_function(&client, url, "bench-async", &python_runtime()?, HANDLER).await?;
    let queue_url = create_queue(&client, url, "bench-delivered").await?;
    let queue_arn = "arn:aws:sqs:us-east-1:000000000000:bench-delivered";
    let config = json!({ "DestinationConfig": { "OnSuccess": { "Destination": queue_arn } } });
    let uri = format!("{url}/2019-09-25/functions/bench-async/event-invoke-config");
    let (status, body) = send(&client, Method::PUT, &uri, &[], config.to_string()).await?;
    if status != 200 {
        bail!(
            "PutFunctionEventInvokeConfig: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    // Warm up CLIENTS instances, then the baseline: synchronous warm invokes.
    let invoke_uri = Arc::new(format!(
        "{url}/2015-03-31/functions/bench-async/invocations"
    ));
    fan_out(&client, SYNC_INVOKES / 10, |client, n| {
        sync_invoke(client, invoke_uri.clone(), n)
    })
    .await?;
    let server = server_pid();
    let cpu_before = server.and_then(cpu_time);
    let started = Instant::now();
    fan_out(&client, SYNC_INVOKES, |client, n| {
        sync_invoke(client, invoke_uri.clone(), n)
    })
    .await?;
    let sync_rate = SYNC_INVOKES as f64 / started.elapsed().as_secs_f64();
    let sync_cpu = cpu_per(server, cpu_before, SYNC_INVOKES);

    // Asynchronous: accept, then wait for every OnSuccess record.
    let cpu_before = server.and_then(cpu_time);
    let started = Instant::now();
    fan_out(&client, ASYNC_INVOKES, |client, n| {
        event_invoke(client, invoke_uri.clone(), n)
    })
    .await?;
    let accepted = started.elapsed();
    let accept_rate = ASYNC_INVOKES as f64 / accepted.as_secs_f64();
    loop {
        let delivered = queue_depth(&client, url, &queue_url).await?;
        if delivered >= ASYNC_INVOKES {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {delivered} of {ASYNC_INVOKES} asynchronous invocations delivered");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery_rate = ASYNC_INVOKES as f64 / started.elapsed().as_secs_f64();
    let async_cpu = cpu_per(server, cpu_before, ASYNC_INVOKES);

    // Queue cycles on a fresh queue.
    let cycle_queue = Arc::new(create_queue(&client, url, "bench-cycles").await?);
    let sqs = Arc::new(url.to_string());
    let started = Instant::now();
    fan_out(&client, QUEUE_CYCLES, |client, n| {
        queue_cycle(client, sqs.clone(), cycle_queue.clone(), n)
    })
    .await?;
    let cycle_rate = QUEUE_CYCLES as f64 / started.elapsed().as_secs_f64();

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<58} {:>10} {:>10} {:>8}",
        "figure (per second)", "value", "baseline", "ratio"
    )?;
    let row = |out: &mut std::io::StdoutLock<'_>, name: &str, value: f64| {
        writeln!(
            out,
            "{name:<58} {value:>10.0} {sync_rate:>10.0} {:>7.2}x",
            value / sync_rate
        )
    };
    row(
        &mut out,
        &format!("synchronous warm invokes, {CLIENTS} clients (baseline)"),
        sync_rate,
    )?;
    row(
        &mut out,
        &format!("async invocations accepted (202), {CLIENTS} clients, n={ASYNC_INVOKES}"),
        accept_rate,
    )?;
    row(
        &mut out,
        &format!("async invocations delivered end to end, n={ASYNC_INVOKES}"),
        delivery_rate,
    )?;
    row(
        &mut out,
        &format!("queue send+receive+delete cycles, {CLIENTS} clients, n={QUEUE_CYCLES}"),
        cycle_rate,
    )?;
    if let (Some(sync_cpu), Some(async_cpu)) = (sync_cpu, async_cpu) {
        writeln!(
            out,
            "{:<58} {:>10.0} {:>10.0} {:>7.2}x",
            "rayo server CPU per async invocation (µs; baseline sync)",
            async_cpu,
            sync_cpu,
            async_cpu / sync_cpu
        )?;
    }
    Ok(())
}

/// The `rayo server` this benchmark started: a child of this process.
fn server_pid() -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let is_server = cmdline.split(|b| *b == 0).nth(1) == Some(b"server".as_slice());
        (parent == me && is_server).then_some(pid)
    })
}

/// A process's CPU time so far (user + system), from `/proc/<pid>/stat`,
/// whose clock ticks are the kernel's fixed `USER_HZ` of 100 per second.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The server's CPU time since `before`, in microseconds per invocation.
fn cpu_per(server: Option<u32>, before: Option<Duration>, n: usize) -> Option<f64> {
    let spent = cpu_time(server?)?.checked_sub(before?)?;
    Some(spent.as_secs_f64() * 1e6 / n as f64)
}

/// Runs `n_total` calls of `call` spread over `CLIENTS` tasks.
async fn fan_out<F, Fut>(client: &HttpClient, n_total: usize, call: F) -> anyhow::Result<()>
where
    F: Fn(HttpClient, usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut tasks = Vec::new();
    let per_client = n_total / CLIENTS;
    let calls: Vec<Vec<Fut>> = (0..CLIENTS)
        .map(|c| {
            (0..per_client)
                .map(|i| call(client.clone(), c * per_client + i))
                .collect()
        })
        .collect();
    for client_calls in calls {
        tasks.push(tokio::spawn(async move {
            for call in client_calls {
                call.await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn sync_invoke(client: HttpClient, uri: Arc<String>, n: usize) -> anyhow::Result<()> {
    let (status, _) = send(
        &client,
        Method::POST,
        &uri,
        &[],
        json!({ "n": n }).to_string(),
    )
    .await?;
    if status != 200 {
        bail!("Invoke: {status}");
    }
    Ok(())
}

async fn event_invoke(client: HttpClient, uri: Arc<String>, n: usize) -> anyhow::Result<()> {
    let headers = [("x-amz-invocation-type", "Event")];
    let (status, _) = send(
        &client,
        Method::POST,
        &uri,
        &headers,
        json!({ "n": n }).to_string(),
    )
    .await?;
    if status != 202 {
        bail!("Invoke (Event): {status}");
    }
    Ok(())
}

async fn queue_cycle(
    client: HttpClient,
    url: Arc<String>,
    queue_url: Arc<String>,
    n: usize,
) -> anyhow::Result<()> {
    sqs(
        &client,
        &url,
        "SendMessage",
        json!({ "QueueUrl": *queue_url, "MessageBody": format!("m{n}") }),
    )
    .await?;
    // Another client may take this message; every cycle takes one.
    loop {
        let received = sqs(
            &client,
            &url,
            "ReceiveMessage",
            json!({ "QueueUrl": *queue_url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 1 }),
        )
        .await?;
        if let Some(message) = received["Messages"].as_array().and_then(|m| m.first()) {
            let handle = message["ReceiptHandle"].clone();
            sqs(
                &client,
                &url,
                "DeleteMessage",
                json!({ "QueueUrl": *queue_url, "ReceiptHandle": handle }),
            )
            .await?;
            return Ok(());
        }
    }
}

async fn sqs(
    client: &HttpClient,
    url: &str,
    operation: &str,
    input: Value,
) -> anyhow::Result<Value> {
    let target = format!("AmazonSQS.{operation}");
    let headers = [
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let (status, body) = send(
        client,
        Method::POST,
        &format!("{url}/"),
        &headers,
        input.to_string(),
    )
    .await?;
    if status != 200 {
        bail!("{operation}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn create_queue(client: &HttpClient, url: &str, name: &str) -> anyhow::Result<String> {
    let created = sqs(client, url, "CreateQueue", json!({ "QueueName": name })).await?;
    Ok(created["QueueUrl"].as_str().unwrap_or_default().to_string())
}

async fn queue_depth(client: &HttpClient, url: &str, queue_url: &str) -> anyhow::Result<usize> {
    let input = json!({ "QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages"] });
    let attributes = sqs(client, url, "GetQueueAttributes", input).await?;
    Ok(attributes["Attributes"]["ApproximateNumberOfMessages"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}
