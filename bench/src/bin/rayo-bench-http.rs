//! `cargo run --release -p rayo-bench --bin rayo-bench-http`: HTTP trigger
//! latency and throughput, `GET /sum?a=2&b=3` answering `5`, through a
//! function URL and through an HTTP API route, beside the same logic on
//! other servers, all measured in the same run:
//!
//! - FastAPI on uvicorn (with uvloop and httptools, as `uvicorn[standard]`
//!   installs), one worker with an `async def` endpoint and two workers;
//! - a raw ASGI app on uvicorn (no framework);
//! - serverless-offline under osls, the open Serverless Framework v3 CLI,
//!   running the same Lambda handler (skipped when `npm` is missing);
//! - a bare axum hello in its own process, this machine's ceiling.
//!
//! Throughput is `wrk` (Debian's `wrk`): keep-alive, 32 connections, 10 s
//! after a 3 s warm-up, per target. Latency is 1,000 sequential requests
//! from one keep-alive connection, beside a direct warm Invoke of the same
//! function with the same event, which gives what the gateway adds; the
//! direct, function URL and HTTP API requests take turns.
//!
//! The Python baselines run in a virtualenv made once under
//! `target/rayo-bench-venv` (pinned packages); serverless-offline is
//! installed once under `target/rayo-bench-node` from
//! `bench/serverless-offline/package-lock.json`. The machine's speed varies
//! from run to run; the ratios are what to compare.

#![forbid(unsafe_code)]

#[path = "../support.rs"]
#[allow(
    dead_code,
    reason = "the support module serves several benchmark binaries"
)]
mod support;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use support::{HttpClient, Server, build_rayo, create_function, http_client, python_runtime};

/// Sequential requests for the latency figures.
const LATENCY_REQUESTS: usize = 1000;
/// wrk's connections and threads, and how long it runs.
const WRK_CONNECTIONS: usize = 32;
const WRK_THREADS: usize = 2;
const WRK_SECONDS: u64 = 10;
const WRK_WARMUP_SECONDS: u64 = 3;

const BASELINE_PACKAGES: &[&str] = &[
    "fastapi==0.142.2",
    "uvicorn==0.54.0",
    "uvloop==0.23.0",
    "httptools==0.9.0",
];

/// The function: the event's query string, summed.
const HANDLER: &str = "def lambda_handler(event, context):\n    query = event[\"queryStringParameters\"]\n    return int(query[\"a\"]) + int(query[\"b\"])\n";

/// The same logic as an ASGI app, at its fastest (an `async` endpoint).
const FASTAPI_APP: &str = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/sum\")\nasync def total(a: int, b: int):\n    return a + b\n";

/// The same logic with no framework: ASGI as uvicorn calls it.
const RAW_ASGI_APP: &str = r#"from urllib.parse import parse_qs


async def app(scope, receive, send):
    query = parse_qs(scope["query_string"].decode())
    body = str(int(query["a"][0]) + int(query["b"][0])).encode()
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
"#;

/// The event an HTTP API sends for `GET /sum?a=2&b=3`, for the direct
/// invoke that the gateway's latency is compared with.
const EVENT: &str = r#"{"version":"2.0","routeKey":"$default","rawPath":"/sum","rawQueryString":"a=2&b=3","headers":{"host":"abcdef1234.execute-api.localhost:4566","x-forwarded-for":"127.0.0.1","x-forwarded-port":"4566","x-forwarded-proto":"http"},"queryStringParameters":{"a":"2","b":"3"},"requestContext":{"accountId":"000000000000","apiId":"abcdef1234","domainName":"abcdef1234.execute-api.localhost","domainPrefix":"abcdef1234","http":{"method":"GET","path":"/sum","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":""},"requestId":"00000000-0000-0000-0000-000000000000","routeKey":"$default","stage":"$default","time":"22/Nov/2026:06:00:00 +0000","timeEpoch":1795327200000},"isBase64Encoded":false}"#;

/// Where requests go: the address to connect to and the `Host` to name.
#[derive(Clone)]
struct Target {
    url: String,
    host: Option<String>,
}

/// What wrk measured.
struct Throughput {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn main() -> anyhow::Result<()> {
    if let Some(port) = std::env::args().skip_while(|a| a != "--axum-hello").nth(1) {
        return axum_hello(port.parse()?);
    }
    which("wrk").context("the benchmark drives wrk: apt-get install wrk")?;
    let rayo = build_rayo()?;
    let target_dir = target_dir()?;
    let venv = baseline_venv(&target_dir)?;
    let node = serverless_offline(&target_dir)?;
    println!("rayo HTTP trigger benchmark: {}", rayo.display());
    println!("baselines: {}", venv.display());
    println!();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = http_client();
    let work_dir = tempfile::tempdir()?;
    std::fs::write(work_dir.path().join("app.py"), FASTAPI_APP)?;
    std::fs::write(work_dir.path().join("raw.py"), RAW_ASGI_APP)?;

    // Sequential latency: uvicorn, then rayo's direct invoke and triggers.
    let mut uvicorn = Uvicorn::start(&venv, work_dir.path(), "app:app", 1)?;
    let uvicorn_url = Target {
        url: uvicorn.url.clone(),
        host: None,
    };
    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&rayo, data_dir.path(), &[])?;
    let latency = runtime.block_on(async {
        let (function_url, api) = set_up(&client, &server.url).await?;
        let uvicorn = sequential(&client, &uvicorn_url, get_sum).await?;
        let invoke = Target {
            url: server.url.clone(),
            host: None,
        };
        // The three rayo paths take turns, so whatever the server does in
        // the background (log batches, checkpoints) falls on each alike.
        let mut paths = [
            RayoPath::new(&invoke, RayoPath::DIRECT),
            RayoPath::new(&function_url, RayoPath::GET),
            RayoPath::new(&api, RayoPath::GET),
        ];
        for _ in 0..100 {
            for path in &mut paths {
                path.call(&client, false).await?;
            }
        }
        for _ in 0..LATENCY_REQUESTS {
            for path in &mut paths {
                path.call(&client, true).await?;
            }
        }
        let [direct, url, api_figures] = paths.map(|path| path.percentiles());
        anyhow::Ok((uvicorn, direct, url, api_figures, function_url, api))
    });
    let (uvicorn_latency, direct, url_latency, api_latency, function_url, api) = match latency {
        Ok(figures) => figures,
        Err(error) => {
            drop(server);
            uvicorn.stop();
            return Err(error);
        }
    };

    // Throughput: each server alone on the machine while wrk drives it.
    let mut rows: Vec<(String, Throughput)> = Vec::new();
    let mut run = |name: &str, target: &Target| -> anyhow::Result<()> {
        let figures = wrk(target)?;
        rows.push((name.to_string(), figures));
        Ok(())
    };
    let result = (|| {
        run("rayo HTTP API route", &api)?;
        run("rayo function URL", &function_url)?;
        anyhow::Ok(())
    })();
    drop(server);
    result?;
    run("FastAPI, uvicorn, 1 worker", &uvicorn_url)?;
    uvicorn.stop();
    let mut two = Uvicorn::start(&venv, work_dir.path(), "app:app", 2)?;
    let result = run(
        "FastAPI, uvicorn, 2 workers",
        &Target {
            url: two.url.clone(),
            host: None,
        },
    );
    two.stop();
    result?;
    let mut raw = Uvicorn::start(&venv, work_dir.path(), "raw:app", 1)?;
    let result = run(
        "raw ASGI, uvicorn, 1 worker",
        &Target {
            url: raw.url.clone(),
            host: None,
        },
    );
    raw.stop();
    result?;
    match &node {
        Some(node) => {
            let mut offline = ServerlessOffline::start(node, work_dir.path())?;
            let result = run(
                "serverless-offline (osls)",
                &Target {
                    url: offline.url.clone(),
                    host: None,
                },
            );
            offline.stop();
            result?;
        }
        None => println!("serverless-offline: skipped, npm not found"),
    }
    let mut axum = AxumHello::start()?;
    let result = run(
        "bare axum hello (ceiling)",
        &Target {
            url: axum.url.clone(),
            host: None,
        },
    );
    axum.stop();
    result?;

    let figure = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, f)| f);
    let fastapi_best = ["FastAPI, uvicorn, 1 worker", "FastAPI, uvicorn, 2 workers"]
        .iter()
        .filter_map(|name| figure(name))
        .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
        .context("the FastAPI rows ran")?;
    let offline = figure("serverless-offline (osls)");

    println!("wrk, {WRK_CONNECTIONS} connections, {WRK_SECONDS} s: GET /sum?a=2&b=3 → 5");
    println!(
        "{:<30} {:>10} {:>10} {:>10}   {:>14} {:>16}",
        "", "req/s", "p50 ms", "p99 ms", "× best FastAPI", "× serverless-off"
    );
    for (name, row) in &rows {
        let versus_offline = offline
            .map(|o| format!("{:.1}", row.per_second / o.per_second))
            .unwrap_or_else(|| "—".to_string());
        println!(
            "{:<30} {:>10.0} {:>10.3} {:>10.3}   {:>14.2} {:>16}",
            name,
            row.per_second,
            ms(row.p50),
            ms(row.p99),
            row.per_second / fastapi_best.per_second,
            versus_offline,
        );
    }
    println!();
    println!("sequential, one connection, {LATENCY_REQUESTS} requests");
    println!("{:<30} {:>10} {:>10}", "", "p50 ms", "p99 ms");
    for (name, figures) in [
        ("FastAPI, uvicorn, 1 worker", &uvicorn_latency),
        ("rayo Invoke API (direct)", &direct),
        ("rayo function URL", &url_latency),
        ("rayo HTTP API route", &api_latency),
    ] {
        println!(
            "{:<30} {:>10.3} {:>10.3}",
            name,
            ms(figures.0),
            ms(figures.1)
        );
    }
    let added =
        |trigger: &(Duration, Duration)| (trigger.0.as_secs_f64() - direct.0.as_secs_f64()) * 1e6;
    println!(
        "gateway over a direct invoke, p50: HTTP API {:+.0} µs, function URL {:+.0} µs",
        added(&api_latency),
        added(&url_latency)
    );
    Ok(())
}

/// Creates the function, its URL and a quick-created HTTP API.
async fn set_up(client: &HttpClient, url: &str) -> anyhow::Result<(Target, Target)> {
    create_function(client, url, "sum", &python_runtime()?, HANDLER).await?;
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

/// One rayo path measured request by request, in turns with others.
struct RayoPath<'a> {
    target: &'a Target,
    direct: bool,
    latencies: Vec<Duration>,
}

impl<'a> RayoPath<'a> {
    const DIRECT: bool = true;
    const GET: bool = false;

    fn new(target: &'a Target, direct: bool) -> RayoPath<'a> {
        RayoPath {
            target,
            direct,
            latencies: Vec::with_capacity(LATENCY_REQUESTS),
        }
    }

    /// One request; its time is kept when `measured`.
    async fn call(&mut self, client: &HttpClient, measured: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        if self.direct {
            invoke_directly(client.clone(), self.target.clone()).await?;
        } else {
            get_sum(client.clone(), self.target.clone()).await?;
        }
        if measured {
            self.latencies.push(started.elapsed());
        }
        Ok(())
    }

    fn percentiles(mut self) -> (Duration, Duration) {
        self.latencies.sort();
        (
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
        )
    }
}

/// p50 and p99 of sequential requests after a warm-up, one at a time on
/// one keep-alive connection.
async fn sequential<F, Fut>(
    client: &HttpClient,
    target: &Target,
    request: F,
) -> anyhow::Result<(Duration, Duration)>
where
    F: Fn(HttpClient, Target) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..100 {
        request(client.clone(), target.clone()).await?;
    }
    let mut latencies = Vec::with_capacity(LATENCY_REQUESTS);
    for _ in 0..LATENCY_REQUESTS {
        let started = Instant::now();
        request(client.clone(), target.clone()).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    Ok((percentile(&latencies, 0.50), percentile(&latencies, 0.99)))
}

/// wrk against the target: a warm-up run, then the measured one.
fn wrk(target: &Target) -> anyhow::Result<Throughput> {
    let run = |seconds: u64| -> anyhow::Result<String> {
        let mut command = Command::new("wrk");
        command
            .args(["-t", &WRK_THREADS.to_string()])
            .args(["-c", &WRK_CONNECTIONS.to_string()])
            .args([
                "-d",
                &format!("{seconds}s"),
                "--timeout",
                "10s",
                "--latency",
            ]);
        if let Some(host) = &target.host {
            command.args(["-H", &format!("Host: {host}")]);
        }
        let output = command
            .arg(format!("{}/sum?a=2&b=3", target.url))
            .stdin(Stdio::null())
            .output()
            .context("running wrk")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "wrk failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
            bail!("{} answered errors: {}", target.url, line.trim());
        }
        Ok(text)
    };
    run(WRK_WARMUP_SECONDS)?;
    let text = run(WRK_SECONDS)?;
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
            .with_context(|| format!("wrk printed no {prefix:?}: {text}"))
    };
    Ok(Throughput {
        per_second: field("Requests/sec:")?.parse()?,
        p50: wrk_duration(field("50%")?)?,
        p99: wrk_duration(field("99%")?)?,
    })
}

/// wrk's `187.95ms`, `56.00us`, `1.03s`.
fn wrk_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        bail!("wrk duration {text:?}")
    };
    Ok(Duration::from_secs_f64(number.parse::<f64>()? * scale))
}

/// A direct `Invoke` of `sum` with the event the HTTP API would send.
async fn invoke_directly(client: HttpClient, target: Target) -> anyhow::Result<()> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!(
            "{}/2015-03-31/functions/sum/invocations",
            target.url
        ))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(EVENT.as_bytes())))?;
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != 200 || body.as_ref() != b"5" {
        bail!(
            "Invoke answered {status}: {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// One `GET /sum?a=2&b=3`, which must answer `5`.
async fn get_sum(client: HttpClient, target: Target) -> anyhow::Result<()> {
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

/// `target/`, where the benchmark's own tools are installed once.
fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the benchmark runs from target/<profile>/")?;
    Ok(dir.to_path_buf())
}

fn which(program: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{program} not found");
    }
    Ok(())
}

/// `target/rayo-bench-venv` with FastAPI and uvicorn, made on first use.
fn baseline_venv(target_dir: &Path) -> anyhow::Result<PathBuf> {
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
    fn start(python: &Path, app_dir: &Path, app: &str, workers: usize) -> anyhow::Result<Uvicorn> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(python)
            .args(["-m", "uvicorn", app, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--workers", &workers.to_string(), "--lifespan", "off"])
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
        if let Err(error) = wait_for_sum(&mut uvicorn.child, port, Duration::from_secs(60)) {
            uvicorn.stop();
            return Err(error.context("uvicorn did not start"));
        }
        Ok(uvicorn)
    }

    /// SIGTERM, so that a multi-worker uvicorn ends its workers too.
    fn stop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until `GET /sum?a=2&b=3` on the port answers `5`.
fn wait_for_sum(child: &mut Child, port: u16, limit: Duration) -> anyhow::Result<()> {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            let request =
                "GET /sum?a=2&b=3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
            stream.write_all(request.as_bytes())?;
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n5") {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("nothing answered GET /sum on port {port}");
        }
        if child.try_wait()?.is_some() {
            bail!("the process exited");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// serverless-offline and osls, installed once from the committed lock file
/// under `target/rayo-bench-node`; `None` without npm.
fn serverless_offline(target_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if which("npm").is_err() {
        return Ok(None);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("serverless-offline");
    let dir = target_dir.join("rayo-bench-node");
    let lock = std::fs::read(source.join("package-lock.json"))?;
    if std::fs::read(dir.join("package-lock.json")).ok().as_deref() != Some(lock.as_slice())
        || !dir.join("node_modules/.bin/osls").exists()
    {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        for file in ["package.json", "package-lock.json", ".npmrc"] {
            std::fs::copy(source.join(file), dir.join(file))?;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .context("npm ci")?;
        if !status.success() {
            bail!(
                "installing serverless-offline into {} failed",
                dir.display()
            );
        }
    }
    Ok(Some(dir))
}

/// `osls offline start` over a copy of `bench/serverless-offline`.
struct ServerlessOffline {
    child: Child,
    url: String,
    _project: tempfile::TempDir,
}

impl ServerlessOffline {
    fn start(node: &Path, _work_dir: &Path) -> anyhow::Result<ServerlessOffline> {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("serverless-offline");
        let project = tempfile::tempdir()?;
        for file in ["serverless.yml", "handler.py"] {
            std::fs::copy(source.join(file), project.path().join(file))?;
        }
        std::os::unix::fs::symlink(
            node.join("node_modules"),
            project.path().join("node_modules"),
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let lambda_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(node.join("node_modules/.bin/osls"))
            .args(["offline", "start", "--host", "127.0.0.1"])
            .args(["--httpPort", &port.to_string()])
            .args(["--lambdaPort", &lambda_port.to_string()])
            .current_dir(project.path())
            .env("SLS_TELEMETRY_DISABLED", "1")
            .env("SLS_NOTIFICATIONS_MODE", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting osls offline")?;
        let mut offline = ServerlessOffline {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _project: project,
        };
        if let Err(error) = wait_for_sum(&mut offline.child, port, Duration::from_secs(120)) {
            offline.stop();
            return Err(error.context("serverless-offline did not start"));
        }
        Ok(offline)
    }

    /// The whole process group: node and the Python runners it started.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// This benchmark re-executed as a bare axum hello: the same answer with
/// no Python at all, the ceiling of the machine.
struct AxumHello {
    child: Child,
    url: String,
}

impl AxumHello {
    fn start() -> anyhow::Result<AxumHello> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(std::env::current_exe()?)
            .args(["--axum-hello", &port.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .context("starting the axum hello")?;
        let mut hello = AxumHello {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(error) = wait_for_sum(&mut hello.child, port, Duration::from_secs(30)) {
            hello.stop();
            return Err(error.context("the axum hello did not start"));
        }
        Ok(hello)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn axum_hello(port: u16) -> anyhow::Result<()> {
    use axum::extract::Query;
    #[derive(serde::Deserialize)]
    struct Sum {
        a: i64,
        b: i64,
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = axum::Router::new().route(
            "/sum",
            axum::routing::get(|Query(sum): Query<Sum>| async move {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    (sum.a + sum.b).to_string(),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}
