//! `cargo run --release -p rayo-bench --bin rayo-bench-http`: HTTP trigger
//! latency and throughput, `GET /sum?a=2&b=3` answering `5`, through a
//! function URL and through an HTTP API, each beside the same logic served
//! by FastAPI on uvicorn, measured in the same run, with the ratio.
//!
//! The baseline runs in a virtualenv made once under
//! `target/rayo-bench-venv` (`pip install fastapi uvicorn`, pinned). Both
//! sides are called over keep-alive HTTP/1.1 connections by the same client.
//! The machine's speed varies from run to run; the ratios are what to compare.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
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

/// Sequential requests for the latency figures.
const LATENCY_REQUESTS: usize = 1000;
/// Concurrent clients for the throughput figure.
const CLIENTS: usize = 4;
/// Requests per client for the throughput figure.
const REQUESTS_PER_CLIENT: usize = 1000;
/// Requests before measuring, with `CLIENTS` at once, so every instance is warm.
const WARMUP_REQUESTS: usize = 200;

const BASELINE_PACKAGES: &[&str] = &["fastapi==0.142.2", "uvicorn==0.54.0"];

/// The function: the event's query string, summed.
const HANDLER: &str = "def lambda_handler(event, context):\n    query = event[\"queryStringParameters\"]\n    return int(query[\"a\"]) + int(query[\"b\"])\n";

/// The same logic as an ASGI app, at its fastest (an `async` endpoint).
const FASTAPI_APP: &str = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/sum\")\nasync def total(a: int, b: int):\n    return a + b\n";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Where requests go: the address to connect to and the `Host` to name.
#[derive(Clone)]
struct Target {
    url: String,
    host: Option<String>,
}

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

fn main() -> anyhow::Result<()> {
    let rayo = build_rayo()?;
    let venv = baseline_venv()?;
    println!("rayo HTTP trigger benchmark: {}", rayo.display());
    println!("baseline: FastAPI on uvicorn, {}", venv.display());
    println!();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let work_dir = tempfile::tempdir()?;
    std::fs::write(work_dir.path().join("app.py"), FASTAPI_APP)?;
    let mut uvicorn = Uvicorn::start(&venv, work_dir.path())?;
    let data_dir = tempfile::tempdir()?;
    let mut server = Server::start(&rayo, data_dir.path())?;

    let result = runtime.block_on(async {
        let (function_url, api) = set_up(&client, &server.url).await?;
        let baseline = Target {
            url: uvicorn.url.clone(),
            host: None,
        };
        let uvicorn_figures = measure(&client, &baseline).await?;
        let url_figures = measure(&client, &function_url).await?;
        let api_figures = measure(&client, &api).await?;
        anyhow::Ok((uvicorn_figures, url_figures, api_figures))
    });
    server.stop();
    uvicorn.stop();
    let (baseline, function_url, api) = result?;

    println!(
        "{:<28} {:>10} {:>10} {:>12}   {:>9} {:>9} {:>9}",
        "GET /sum?a=2&b=3", "p50 ms", "p99 ms", "req/s", "p50 ×", "p99 ×", "req/s ×"
    );
    print_row("FastAPI on uvicorn", &baseline, &baseline);
    print_row("rayo function URL", &function_url, &baseline);
    print_row("rayo HTTP API ($default)", &api, &baseline);
    println!();
    println!(
        "× is rayo's figure over uvicorn's: below 1 is faster latency, above 1 more throughput. \
         Latency: {LATENCY_REQUESTS} sequential requests; throughput: {CLIENTS} clients × \
         {REQUESTS_PER_CLIENT} requests."
    );
    Ok(())
}

fn print_row(name: &str, figures: &Figures, baseline: &Figures) {
    println!(
        "{:<28} {:>10.3} {:>10.3} {:>12.0}   {:>9.2} {:>9.2} {:>9.2}",
        name,
        ms(figures.p50),
        ms(figures.p99),
        figures.per_second,
        ms(figures.p50) / ms(baseline.p50),
        ms(figures.p99) / ms(baseline.p99),
        figures.per_second / baseline.per_second,
    );
}

/// Creates the function, its URL and a quick-created HTTP API.
async fn set_up(client: &HttpClient, url: &str) -> anyhow::Result<(Target, Target)> {
    let zip = function_zip()?;
    let create = serde_json::json!({
        "FunctionName": "sum",
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "lambda_function.lambda_handler",
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    let (status, body) = send(
        client,
        Method::POST,
        &format!("{url}/2015-03-31/functions"),
        Some(create),
    )
    .await?;
    if status != 201 {
        bail!("CreateFunction answered {status}: {body}");
    }
    let (status, body) = send(
        client,
        Method::POST,
        &format!("{url}/2021-10-31/functions/sum/url"),
        Some(serde_json::json!({ "AuthType": "NONE" })),
    )
    .await?;
    if status != 201 {
        bail!("CreateFunctionUrlConfig answered {status}: {body}");
    }
    let function_url = body["FunctionUrl"].as_str().context("FunctionUrl")?;
    let url_host = function_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let (status, body) = send(
        client,
        Method::POST,
        &format!("{url}/v2/apis"),
        Some(serde_json::json!({
            "name": "sum",
            "protocolType": "HTTP",
            "target": "arn:aws:lambda:us-east-1:000000000000:function:sum",
        })),
    )
    .await?;
    if status != 201 {
        bail!("CreateApi answered {status}: {body}");
    }
    let api_host = body["apiEndpoint"]
        .as_str()
        .context("apiEndpoint")?
        .trim_start_matches("http://")
        .to_string();
    Ok((
        Target {
            url: url.to_string(),
            host: Some(url_host),
        },
        Target {
            url: url.to_string(),
            host: Some(api_host),
        },
    ))
}

/// Warms the target up, then measures sequential latency and concurrent throughput.
async fn measure(client: &HttpClient, target: &Target) -> anyhow::Result<Figures> {
    let warmup = (0..CLIENTS).map(|_| {
        let client = client.clone();
        let target = target.clone();
        tokio::spawn(async move {
            for _ in 0..WARMUP_REQUESTS / CLIENTS {
                get_sum(&client, &target).await?;
            }
            anyhow::Ok(())
        })
    });
    for task in warmup.collect::<Vec<_>>() {
        task.await??;
    }

    let mut latencies = Vec::with_capacity(LATENCY_REQUESTS);
    for _ in 0..LATENCY_REQUESTS {
        let started = Instant::now();
        get_sum(client, target).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = client.clone();
            let target = target.clone();
            tokio::spawn(async move {
                for _ in 0..REQUESTS_PER_CLIENT {
                    get_sum(&client, &target).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    Ok(Figures {
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        per_second: (CLIENTS * REQUESTS_PER_CLIENT) as f64 / elapsed.as_secs_f64(),
    })
}

/// One `GET /sum?a=2&b=3`, which must answer `5`.
async fn get_sum(client: &HttpClient, target: &Target) -> anyhow::Result<()> {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(format!("{}/sum?a=2&b=3", target.url));
    if let Some(host) = &target.host {
        request = request.header("host", host);
    }
    let response = client
        .request(request.body(Full::new(Bytes::new()))?)
        .await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != 200 || body.as_ref() != b"5" {
        bail!(
            "GET /sum answered {status}: {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    };
    Ok((status, json))
}

fn function_zip() -> anyhow::Result<Vec<u8>> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        writer.start_file("lambda_function.py", options)?;
        writer.write_all(HANDLER.as_bytes())?;
        writer.finish()?;
    }
    Ok(buffer.into_inner())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn build_rayo() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "rayo"])
        .status()
        .context("running cargo build for the rayo binary")?;
    if !status.success() {
        bail!("building rayo failed");
    }
    let rayo = std::env::current_exe()?.with_file_name("rayo");
    if !rayo.exists() {
        bail!("{} not found after building", rayo.display());
    }
    Ok(rayo)
}

/// `target/rayo-bench-venv` with FastAPI and uvicorn, made on first use.
fn baseline_venv() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the benchmark runs from target/<profile>/")?;
    let venv = target_dir.join("rayo-bench-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("packages.txt");
    let wanted = BASELINE_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("python3 -m venv")?;
    if !status.success() {
        bail!("creating {} failed", venv.display());
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .args(BASELINE_PACKAGES)
        .status()
        .context("pip install")?;
    if !status.success() {
        bail!("installing {BASELINE_PACKAGES:?} failed");
    }
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

struct Uvicorn {
    child: Child,
    url: String,
}

impl Uvicorn {
    fn start(python: &Path, app_dir: &Path) -> anyhow::Result<Uvicorn> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(python)
            .args(["-m", "uvicorn", "app:app", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--log-level", "warning", "--no-access-log"])
            .current_dir(app_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting uvicorn")?;
        let mut uvicorn = Uvicorn {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || uvicorn.child.try_wait()?.is_some() {
                uvicorn.stop();
                bail!("uvicorn did not start listening on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(uvicorn)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting rayo server")?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().context("rayo server printed nothing")??;
        let url = first
            .strip_prefix("rayo listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?
            .trim()
            .to_string();
        // Keep reading so that a later print never meets a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, url })
    }

    /// SIGTERM, then wait: rayo ends its instances on the way out.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
