//! `cargo run --release -p rayo-bench`: warm and cold invoke latency and
//! throughput through the Invoke API, each printed beside the wall time of
//! `python3 -c pass` measured in the same run, with their ratio.
//!
//! The machine's speed varies from run to run; the ratios are what to compare.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const BASELINE_RUNS: usize = 40;
const WARM_INVOKES: usize = 2000;
const THROUGHPUT_CLIENTS: usize = 4;
const THROUGHPUT_INVOKES: usize = 4000;
const COLD_INVOKES: usize = 15;

const HANDLER: &str =
    "def lambda_handler(event, context):\n    return {\"hello\": event.get(\"name\", \"world\")}\n";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn main() -> anyhow::Result<()> {
    let rayo = build_rayo()?;
    let python = which_python()?;
    println!("rayo benchmark: {}", rayo.display());
    println!("baseline interpreter: {}", python.display());
    println!();

    let baseline = time_python_startup(&python)?;
    let data_dir = tempfile::tempdir()?;
    let mut server = Server::start(&rayo, data_dir.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run_benchmarks(&server.url, &python, baseline));
    server.stop();
    result
}

async fn run_benchmarks(url: &str, python: &Path, baseline: Duration) -> anyhow::Result<()> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let minor = python_minor(python)?;
    create_function(&client, url, "bench-hello", &format!("python3.{minor}")).await?;
    // The first call starts the instance; the rest are warm.
    invoke(&client, url, "bench-hello").await?;

    let mut warm = Vec::with_capacity(WARM_INVOKES);
    for _ in 0..WARM_INVOKES {
        let started = Instant::now();
        invoke(&client, url, "bench-hello").await?;
        warm.push(started.elapsed());
    }
    warm.sort();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..THROUGHPUT_CLIENTS {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            for _ in 0..THROUGHPUT_INVOKES / THROUGHPUT_CLIENTS {
                invoke(&client, &url, "bench-hello").await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let throughput = THROUGHPUT_INVOKES as f64 / started.elapsed().as_secs_f64();

    // A configuration change retires the warm instance: the next call is cold.
    let mut cold = Vec::with_capacity(COLD_INVOKES);
    for i in 0..COLD_INVOKES {
        update_environment(&client, url, "bench-hello", i).await?;
        let started = Instant::now();
        invoke(&client, url, "bench-hello").await?;
        cold.push(started.elapsed());
    }
    cold.sort();

    let base_ms = ms(baseline);
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "figure", "value", "baseline", "ratio"
    );
    println!(
        "{:<44} {:>7.2} ms {:>7.2} ms {:>12}",
        "python3 -c pass (median wall time)", base_ms, base_ms, "1.00"
    );
    let row = |name: &str, value: Duration| {
        println!(
            "{:<44} {:>7.2} ms {:>7.2} ms {:>11.3}x",
            name,
            ms(value),
            base_ms,
            ms(value) / base_ms
        );
    };
    row(
        &format!("warm invoke p50 (n={WARM_INVOKES})"),
        percentile(&warm, 50.0),
    );
    row(
        &format!("warm invoke p99 (n={WARM_INVOKES})"),
        percentile(&warm, 99.0),
    );
    row(
        &format!("cold invoke p50 (n={COLD_INVOKES})"),
        percentile(&cold, 50.0),
    );
    row(
        &format!("cold invoke p99 (n={COLD_INVOKES})"),
        percentile(&cold, 99.0),
    );
    // Throughput against the baseline: how many `python3 -c pass` fit in a second.
    let baseline_rate = 1000.0 / base_ms;
    println!(
        "{:<44} {:>7.0}/s {:>8.1}/s {:>11.1}x",
        format!("throughput, {THROUGHPUT_CLIENTS} clients (n={THROUGHPUT_INVOKES})"),
        throughput,
        baseline_rate,
        throughput / baseline_rate
    );
    println!();
    println!("baseline for throughput: python3 -c pass runs per second, one after another");
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn time_python_startup(python: &Path) -> anyhow::Result<Duration> {
    let mut runs = Vec::with_capacity(BASELINE_RUNS);
    for _ in 0..BASELINE_RUNS {
        let started = Instant::now();
        let status = Command::new(python).args(["-c", "pass"]).status()?;
        runs.push(started.elapsed());
        if !status.success() {
            bail!("{} -c pass failed", python.display());
        }
    }
    runs.sort();
    Ok(percentile(&runs, 50.0))
}

async fn create_function(
    client: &HttpClient,
    url: &str,
    name: &str,
    runtime: &str,
) -> anyhow::Result<()> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "lambda_function.py",
        zip::write::SimpleFileOptions::default(),
    )?;
    zip.write_all(HANDLER.as_bytes())?;
    let zip = zip.finish()?.into_inner();
    let body = serde_json::json!({
        "FunctionName": name,
        "Runtime": runtime,
        "Role": "arn:aws:iam::000000000000:role/bench",
        "Handler": "lambda_function.lambda_handler",
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    let (status, body) = send(
        client,
        Method::POST,
        &format!("{url}/2015-03-31/functions"),
        body.to_string(),
    )
    .await?;
    if status != 201 {
        bail!(
            "CreateFunction failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

async fn update_environment(
    client: &HttpClient,
    url: &str,
    name: &str,
    i: usize,
) -> anyhow::Result<()> {
    let body = serde_json::json!({ "Environment": { "Variables": { "RUN": i.to_string() } } });
    let uri = format!("{url}/2015-03-31/functions/{name}/configuration");
    let (status, body) = send(client, Method::PUT, &uri, body.to_string()).await?;
    if status != 200 {
        bail!(
            "UpdateFunctionConfiguration failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

async fn invoke(client: &HttpClient, url: &str, name: &str) -> anyhow::Result<()> {
    let uri = format!("{url}/2015-03-31/functions/{name}/invocations");
    let (status, body) = send(
        client,
        Method::POST,
        &uri,
        r#"{"name":"bench"}"#.to_string(),
    )
    .await?;
    if status != 200 || body.as_ref() != br#"{"hello": "bench"}"# {
        bail!("Invoke failed: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

async fn send(
    client: &HttpClient,
    method: Method,
    uri: &str,
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Builds the release `rayo` binary next to this one and returns its path.
fn build_rayo() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "rayo"])
        .status()
        .context("running cargo build for the rayo binary")?;
    if !status.success() {
        bail!("building rayo failed");
    }
    let exe = std::env::current_exe()?;
    let rayo = exe.with_file_name("rayo");
    if !rayo.exists() {
        bail!("{} not found after building", rayo.display());
    }
    Ok(rayo)
}

/// The interpreter rayo will pick for python3.X: the first working `python3.X` on PATH.
fn which_python() -> anyhow::Result<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("python3 is needed for the baseline")?;
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

fn python_minor(python: &Path) -> anyhow::Result<u32> {
    let output = Command::new(python)
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(rayo: &Path, data_dir: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(rayo)
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RAYO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("rayo listening on ")
            .with_context(|| format!("unexpected first line from the server: {line:?}"))?
            .to_string();
        Ok(Server { child, url })
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
