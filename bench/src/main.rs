//! `cargo run --release -p rayo-bench`: warm and cold invoke latency and
//! throughput through the Invoke API, and the memory of an idle instance,
//! each printed beside a baseline measured in the same run with their ratio:
//! the wall time of `python3 -c pass` (and of `python3 -c "import boto3"` for
//! a function that imports boto3), and the memory of an idle `python3`.
//!
//! Cold starts and memory are measured twice: with zygotes (instances forked
//! from a pre-initialized interpreter, the default) and with a second server
//! started with `--no-zygotes` (each instance starts its own interpreter).
//!
//! The machine's speed varies from run to run; the ratios are what to compare.

#![forbid(unsafe_code)]

#[allow(
    dead_code,
    reason = "the support module serves several benchmark binaries"
)]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support::{Server, build_rayo, create_function};

const BASELINE_RUNS: usize = 40;
const WARM_INVOKES: usize = 2000;
/// Concurrent clients of each throughput run, each client invoking one
/// call after another.
const THROUGHPUT_CLIENTS: [usize; 2] = [4, 8];
const THROUGHPUT_INVOKES: usize = 4000;
const COLD_INVOKES: usize = 50;
const IDLE_INSTANCES: usize = 10;

const HANDLER: &str =
    "def lambda_handler(event, context):\n    return {\"hello\": event.get(\"name\", \"world\")}\n";
const BOTO3_HANDLER: &str = "import boto3\n\ndef lambda_handler(event, context):\n    return {\"hello\": event.get(\"name\", \"world\")}\n";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn main() -> anyhow::Result<()> {
    let rayo = build_rayo()?;
    let python = which_python()?;
    println!("rayo benchmark: {}", rayo.display());
    println!("baseline interpreter: {}", python.display());
    println!();

    let baseline = time_python(&python, "pass")?;
    let boto3_baseline = time_python(&python, "import boto3").ok();
    let idle_python = idle_python_memory(&python).ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let minor = python_minor(&python)?;
    let with_boto3 = boto3_baseline.is_some();

    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&rayo, data_dir.path(), &[])?;
    let zygotes = runtime.block_on(run_benchmarks(
        &server.url,
        data_dir.path(),
        minor,
        with_boto3,
        true,
    ));
    drop(server);
    let zygotes = zygotes?;

    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&rayo, data_dir.path(), &["--no-zygotes"])?;
    let no_zygotes = runtime.block_on(run_benchmarks(
        &server.url,
        data_dir.path(),
        minor,
        with_boto3,
        false,
    ));
    drop(server);
    let no_zygotes = no_zygotes?;

    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&rayo, data_dir.path(), &[])?;
    let many = runtime.block_on(many_functions(&server, minor));
    drop(server);
    let many = many?;

    print_table(
        &Baselines {
            pass: baseline,
            boto3: boto3_baseline,
            idle_python,
        },
        &zygotes,
        &no_zygotes,
    );
    println!();
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        "server memory (RSS)", "value", "baseline", "ratio"
    );
    println!(
        "{:<52} {:>7.1} MB {:>7.1} MB {:>9.3}x",
        format!("rayo server with {MANY_FUNCTIONS} functions, no instances"),
        many.with_functions_kib as f64 / 1024.0,
        many.empty_kib as f64 / 1024.0,
        many.with_functions_kib as f64 / many.empty_kib.max(1) as f64
    );
    println!("baseline: the same server, just started, with no functions");
    println!();
    let median = percentile(&many.burst, 50.0);
    let p99 = percentile(&many.burst, 99.0);
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        format!("{BURST_FUNCTIONS} functions invoked from zero at once"),
        "p99",
        "median",
        "ratio"
    );
    println!(
        "{:<52} {:>7.1} ms {:>7.1} ms {:>9.3}x",
        format!("cold invoke, all {} answered", many.burst.len()),
        ms(p99),
        ms(median),
        ms(p99) / ms(median).max(f64::MIN_POSITIVE)
    );
    println!("baseline: the median of the same burst (the target is p99 ≤ 10 × the median)");
    Ok(())
}

/// Functions deployed for the server memory figure.
const MANY_FUNCTIONS: usize = 1000;

/// A server's resident size when just started, and with [`MANY_FUNCTIONS`]
/// deployed (each listed, read and its configuration resolved once).
struct ManyFunctions {
    empty_kib: u64,
    with_functions_kib: u64,
    /// Wall times of [`BURST_FUNCTIONS`] different functions invoked
    /// from zero at once, sorted.
    burst: Vec<Duration>,
}

/// Different functions invoked from zero at the same moment.
const BURST_FUNCTIONS: usize = 100;

async fn many_functions(server: &Server, minor: u32) -> anyhow::Result<ManyFunctions> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let url = server.url.as_str();
    let empty_kib = server.rss_kib().context("the server's RSS")?;
    let runtime = format!("python3.{minor}");
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let (client, url, runtime) = (client.clone(), url.to_string(), runtime.clone());
        tasks.spawn(async move {
            for i in (chunk..MANY_FUNCTIONS).step_by(8) {
                let name = format!("many-{i:04}");
                create_function(&client, &url, &name, &runtime, HANDLER).await?;
                let (status, _, _) = send(
                    &client,
                    Method::GET,
                    &format!("{url}/2015-03-31/functions/{name}", url = url.as_str()),
                    String::new(),
                )
                .await?;
                anyhow::ensure!(status == 200, "GetFunction {name}: {status}");
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let with_functions_kib = server.rss_kib().context("the server's RSS")?;

    // Each invoke is every function's first: all of them start cold together.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(BURST_FUNCTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..BURST_FUNCTIONS {
        let (client, url, barrier) = (client.clone(), url.to_string(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            invoke(&client, &url, &format!("many-{i:04}")).await?;
            anyhow::Ok(started.elapsed())
        });
    }
    let mut burst = Vec::with_capacity(BURST_FUNCTIONS);
    while let Some(done) = tasks.join_next().await {
        burst.push(done??);
    }
    burst.sort();
    Ok(ManyFunctions {
        empty_kib,
        with_functions_kib,
        burst,
    })
}

/// What the baselines measured.
struct Baselines {
    pass: Duration,
    boto3: Option<Duration>,
    idle_python: Option<Memory>,
}

/// What one server measured.
#[derive(Default)]
struct Figures {
    warm: Vec<Duration>,
    /// Invocations per second, by number of clients.
    throughput: Vec<(usize, f64)>,
    cold: Cold,
    cold_boto3: Option<Cold>,
    /// Per idle instance.
    idle: Vec<Memory>,
    zygote: Option<Memory>,
}

/// Cold invokes: wall time at the client and the REPORT's Init Duration.
#[derive(Default)]
struct Cold {
    wall: Vec<Duration>,
    init: Vec<Duration>,
}

/// Resident, proportional and unique set sizes, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    pss_kib: u64,
    uss_kib: u64,
}

async fn run_benchmarks(
    url: &str,
    data_dir: &Path,
    minor: u32,
    with_boto3: bool,
    full: bool,
) -> anyhow::Result<Figures> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let runtime = format!("python3.{minor}");
    let mut figures = Figures::default();
    create_function(&client, url, "bench-hello", &runtime, HANDLER).await?;
    // The first call starts the instance (and the zygote); the rest are warm.
    invoke(&client, url, "bench-hello").await?;

    if full {
        for _ in 0..WARM_INVOKES {
            let started = Instant::now();
            invoke(&client, url, "bench-hello").await?;
            figures.warm.push(started.elapsed());
        }
        figures.warm.sort();

        for clients in THROUGHPUT_CLIENTS {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let client = client.clone();
                let url = url.to_string();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..THROUGHPUT_INVOKES / clients {
                        invoke(&client, &url, "bench-hello").await?;
                    }
                    anyhow::Ok(())
                }));
            }
            for task in tasks {
                task.await??;
            }
            let rate = THROUGHPUT_INVOKES as f64 / started.elapsed().as_secs_f64();
            figures.throughput.push((clients, rate));
        }
    }

    figures.cold = cold_invokes(&client, url, "bench-hello").await?;
    if with_boto3 {
        create_function(&client, url, "bench-boto3", &runtime, BOTO3_HANDLER).await?;
        invoke(&client, url, "bench-boto3").await?;
        figures.cold_boto3 = Some(cold_invokes(&client, url, "bench-boto3").await?);
    }

    // Idle instances of distinct functions, each after one invocation.
    for i in 0..IDLE_INSTANCES {
        let name = format!("bench-idle-{i}");
        create_function(&client, url, &name, &runtime, HANDLER).await?;
        invoke(&client, url, &name).await?;
    }
    figures.idle = idle_instance_memory(url);
    figures.zygote = zygote_memory(data_dir);
    Ok(figures)
}

/// Cold starts one after another: a configuration change retires the warm
/// instance, so the next call is cold.
async fn cold_invokes(client: &HttpClient, url: &str, name: &str) -> anyhow::Result<Cold> {
    let mut cold = Cold::default();
    for i in 0..COLD_INVOKES {
        update_environment(client, url, name, i).await?;
        let started = Instant::now();
        let log = invoke(client, url, name).await?;
        cold.wall.push(started.elapsed());
        if let Some(init) = init_duration(&log) {
            cold.init.push(init);
        }
    }
    cold.wall.sort();
    cold.init.sort();
    Ok(cold)
}

fn print_table(baselines: &Baselines, zygotes: &Figures, no_zygotes: &Figures) {
    let base_ms = ms(baselines.pass);
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        "figure", "value", "baseline", "ratio"
    );
    let time_row = |name: &str, value: Duration, baseline: Duration| {
        println!(
            "{:<52} {:>7.2} ms {:>7.2} ms {:>9.3}x",
            name,
            ms(value),
            ms(baseline),
            ms(value) / ms(baseline)
        );
    };
    time_row(
        "python3 -c pass (median wall time)",
        baselines.pass,
        baselines.pass,
    );
    if let Some(boto3) = baselines.boto3 {
        time_row(
            "python3 -c \"import boto3\" (median wall time)",
            boto3,
            boto3,
        );
    }
    time_row(
        &format!("warm invoke p50 (n={WARM_INVOKES})"),
        percentile(&zygotes.warm, 50.0),
        baselines.pass,
    );
    time_row(
        &format!("warm invoke p99 (n={WARM_INVOKES})"),
        percentile(&zygotes.warm, 99.0),
        baselines.pass,
    );
    for (figures, how) in [(zygotes, "zygotes"), (no_zygotes, "--no-zygotes")] {
        let cold = &figures.cold;
        for p in [50.0, 99.0] {
            time_row(
                &format!("cold invoke p{p} (n={COLD_INVOKES}, {how})"),
                percentile(&cold.wall, p),
                baselines.pass,
            );
        }
        if !cold.init.is_empty() {
            time_row(
                &format!("  its Init Duration p50 ({how})"),
                percentile(&cold.init, 50.0),
                baselines.pass,
            );
        }
    }
    if let (Some(boto3), Some(baseline)) = (&zygotes.cold_boto3, baselines.boto3) {
        let others = no_zygotes.cold_boto3.as_ref();
        for (cold, how) in [(Some(boto3), "zygotes"), (others, "--no-zygotes")] {
            let Some(cold) = cold else { continue };
            for p in [50.0, 99.0] {
                time_row(
                    &format!("cold invoke importing boto3 p{p} ({how})"),
                    percentile(&cold.wall, p),
                    baseline,
                );
            }
            if !cold.init.is_empty() {
                time_row(
                    &format!("  its Init Duration p50 ({how})"),
                    percentile(&cold.init, 50.0),
                    baseline,
                );
            }
        }
    }
    if let Some(idle_python) = baselines.idle_python {
        let memory_row = |name: &str, value: u64, baseline: u64| {
            println!(
                "{:<52} {:>7.1} MB {:>7.1} MB {:>9.3}x",
                name,
                value as f64 / 1024.0,
                baseline as f64 / 1024.0,
                value as f64 / baseline.max(1) as f64
            );
        };
        for (figures, how) in [(zygotes, "zygotes"), (no_zygotes, "--no-zygotes")] {
            if figures.idle.is_empty() {
                continue;
            }
            let n = figures.idle.len();
            let median = |key: fn(&Memory) -> u64| {
                let mut values: Vec<u64> = figures.idle.iter().map(key).collect();
                values.sort_unstable();
                values[values.len() / 2]
            };
            memory_row(
                &format!("idle instance USS, median of {n} ({how})"),
                median(|m| m.uss_kib),
                idle_python.rss_kib,
            );
            memory_row(
                &format!("idle instance PSS, median of {n} ({how})"),
                median(|m| m.pss_kib),
                idle_python.rss_kib,
            );
        }
        if let Some(zygote) = zygotes.zygote {
            // Its pages are mostly shared with the instances: its resident
            // size is what it adds once, however many instances there are.
            memory_row(
                "the zygote itself, RSS (once per Python version)",
                zygote.rss_kib,
                idle_python.rss_kib,
            );
        }
    }
    // Throughput against the baseline: how many `python3 -c pass` fit in a second.
    let baseline_rate = 1000.0 / base_ms;
    for (clients, rate) in &zygotes.throughput {
        println!(
            "{:<52} {:>7.0}/s {:>8.1}/s {:>9.1}x",
            format!("throughput, {clients} clients (n={THROUGHPUT_INVOKES})"),
            rate,
            baseline_rate,
            rate / baseline_rate
        );
    }
    println!();
    println!("baselines: cold and warm times against python3 -c pass, boto3 cold starts against");
    println!("python3 -c \"import boto3\"; memory against the resident size of an idle python3");
    println!("(what one more interpreter costs at most; its USS and PSS depend on the other");
    println!("interpreters running); an instance counts every process of its process group: two");
    println!("when forked from a zygote, three otherwise; throughput against python3 -c pass runs");
    println!("per second.");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn time_python(python: &Path, code: &str) -> anyhow::Result<Duration> {
    let mut runs = Vec::with_capacity(BASELINE_RUNS);
    for _ in 0..BASELINE_RUNS {
        let started = Instant::now();
        let status = Command::new(python)
            .args(["-c", code])
            .stderr(Stdio::null())
            .status()?;
        runs.push(started.elapsed());
        if !status.success() {
            bail!("{} -c {code:?} failed", python.display());
        }
    }
    runs.sort();
    Ok(percentile(&runs, 50.0))
}

/// The memory of an idle interpreter that has started and waits.
fn idle_python_memory(python: &Path) -> anyhow::Result<Memory> {
    let mut child = Command::new(python)
        .args([
            "-c",
            "import sys; print('ready', flush=True); sys.stdin.read()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let memory = smaps_rollup(child.id() as i32);
    drop(child.stdin.take());
    let _ = child.wait();
    memory.context("reading the idle interpreter's smaps_rollup")
}

/// Per idle instance of the `bench-idle-*` functions of the server at
/// `url`: its runtime's process (found by its environment) and the other
/// processes of its process group (the sandbox's PID 1, and the host-side
/// process of an instance that was not forked from a zygote).
fn idle_instance_memory(url: &str) -> Vec<Memory> {
    let endpoint = format!("AWS_ENDPOINT_URL={url}");
    let pids = all_pids();
    let mut found = Vec::new();
    for &pid in &pids {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        let ours = vars.contains(&endpoint.as_bytes())
            && vars
                .iter()
                .any(|v| v.starts_with(b"AWS_LAMBDA_FUNCTION_NAME=bench-idle-"));
        if !ours {
            continue;
        }
        let Some(group) = stat_field(pid, 2) else {
            continue;
        };
        let members = pids.iter().filter(|&&p| stat_field(p, 2) == Some(group));
        found.push(
            members
                .filter_map(|&p| smaps_rollup(p))
                .fold(Memory::default(), |sum, m| Memory {
                    rss_kib: sum.rss_kib + m.rss_kib,
                    pss_kib: sum.pss_kib + m.pss_kib,
                    uss_kib: sum.uss_kib + m.uss_kib,
                }),
        );
    }
    found
}

/// The zygote of the server whose data directory is `data_dir`, if any.
fn zygote_memory(data_dir: &Path) -> Option<Memory> {
    let data_dir = data_dir.canonicalize().ok()?;
    let script = data_dir.join("runtime/python/zygote.py");
    let script = script.to_string_lossy();
    all_pids().into_iter().find_map(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        // The zygote itself, not the instances' helpers it forked (they
        // keep its command line): its parent is rayo.
        let is_zygote = args.iter().any(|a| *a == script.as_bytes())
            && parent_pid(pid)
                .and_then(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
                .is_some_and(|parent| !parent.windows(9).any(|w| w == b"zygote.py"));
        if is_zygote { smaps_rollup(pid) } else { None }
    })
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn parent_pid(pid: i32) -> Option<i32> {
    stat_field(pid, 1)
}

/// A numeric field of `/proc/<pid>/stat`, counted from 0 after the command
/// name: 1 is the parent, 2 the process group.
fn stat_field(pid: i32, index: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(index)?
        .parse()
        .ok()
}

fn smaps_rollup(pid: i32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Memory {
        rss_kib: field("Rss"),
        pss_kib: field("Pss"),
        uss_kib: field("Private_Clean") + field("Private_Dirty"),
    })
}

async fn update_environment(
    client: &HttpClient,
    url: &str,
    name: &str,
    i: usize,
) -> anyhow::Result<()> {
    let body = serde_json::json!({ "Environment": { "Variables": { "RUN": i.to_string() } } });
    let uri = format!("{url}/2015-03-31/functions/{name}/configuration");
    let (status, _, body) = send(client, Method::PUT, &uri, body.to_string()).await?;
    if status != 200 {
        bail!(
            "UpdateFunctionConfiguration failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Invokes `name` and returns the tail of its log.
async fn invoke(client: &HttpClient, url: &str, name: &str) -> anyhow::Result<String> {
    let uri = format!("{url}/2015-03-31/functions/{name}/invocations");
    let (status, log, body) = send(
        client,
        Method::POST,
        &uri,
        r#"{"name":"bench"}"#.to_string(),
    )
    .await?;
    if status != 200 || body.as_ref() != br#"{"hello": "bench"}"# {
        bail!("Invoke failed: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(log)
}

/// The Init Duration of a REPORT line in `log`.
fn init_duration(log: &str) -> Option<Duration> {
    let rest = log.split("Init Duration: ").nth(1)?;
    let ms: f64 = rest.split(" ms").next()?.parse().ok()?;
    Some(Duration::from_secs_f64(ms / 1000.0))
}

/// Sends a request (asking for the log tail); returns the status, the
/// decoded log tail and the body.
async fn send(
    client: &HttpClient,
    method: Method,
    uri: &str,
    body: String,
) -> anyhow::Result<(u16, String, Bytes)> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("x-amz-log-type", "Tail")
        .body(Full::new(Bytes::from(body)))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let log = response
        .headers()
        .get("x-amz-log-result")
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .ok()
        })
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, log, body))
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
