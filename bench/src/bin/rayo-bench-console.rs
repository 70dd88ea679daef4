//! `cargo run --release -p rayo-bench --bin rayo-bench-console`: how long
//! the web console takes to render the function list with 1,000 functions,
//! beside the same list rendered empty, in headless Chromium (Debian's
//! `/usr/bin/chromium`, or `RAYO_CHROMIUM`, driven by playwright-core from
//! npm, installed under `target/rayo-test-playwright` as the tests do).
//!
//! The render time runs from the moment the page has the functions (all
//! `ListFunctions` pages read) until a frame after the one that laid out
//! and painted the table (measured in the page, `window.__rayoListDataAt`
//! to `window.__rayoListRenderedAt`); the page load (navigation to rendered
//! table, requests included) is printed beside it. Medians of several loads.

#![forbid(unsafe_code)]

#[path = "../support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use support::{Server, build_rayo, create_function, http_client, python_runtime};

const FUNCTIONS: usize = 1000;
const CLIENTS: usize = 8;
const LOADS: usize = 7;

fn main() -> anyhow::Result<()> {
    let rayo = build_rayo()?;
    let runtime = python_runtime()?;
    let node_modules = playwright()?;
    let scratch = tempfile::tempdir()?;

    let empty = Server::start(&rayo, &scratch.path().join("empty"), &[])?;
    let full = Server::start(&rayo, &scratch.path().join("full"), &[])?;
    let runtime_ = runtime.clone();
    let url = full.url.clone();
    tokio::runtime::Runtime::new()?.block_on(create_functions(url, runtime_))?;
    println!("created {FUNCTIONS} functions");

    let baseline = measure(&node_modules, &empty.url, 0)?;
    let loaded = measure(&node_modules, &full.url, FUNCTIONS)?;
    println!();
    println!("function list in headless Chromium, median of {LOADS} loads:");
    println!(
        "  render, empty list (baseline):    {:8.1} ms   page load {:8.1} ms",
        baseline.0, baseline.1
    );
    println!(
        "  render, {FUNCTIONS} functions:            {:8.1} ms   page load {:8.1} ms",
        loaded.0, loaded.1
    );
    println!(
        "  ratio (1,000 / empty):            {:8.1}x              {:8.1}x",
        loaded.0 / baseline.0.max(0.1),
        loaded.1 / baseline.1.max(0.1)
    );
    println!(
        "  target: render ≤ 200 ms: {}",
        if loaded.0 <= 200.0 { "met" } else { "NOT met" }
    );
    // Rendering is CPU-bound in the browser: a busy machine stretches it.
    if let Ok(loadavg) = std::fs::read_to_string("/proc/loadavg") {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        println!(
            "  machine load average (1, 5, 15 min) during the run: {} on {cores} cores",
            loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Median render and page-load times, in ms, checking the row count.
fn measure(node_modules: &Path, url: &str, rows: usize) -> anyhow::Result<(f64, f64)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/console/console.cjs");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let output = Command::new("node")
        .arg(&script)
        .arg("bench")
        .arg(url)
        .arg(&shots)
        .arg(json!({ "runs": LOADS }).to_string())
        .env("NODE_PATH", node_modules)
        .output()
        .context("running node (Node 20 is needed)")?;
    if !output.status.success() {
        bail!(
            "the browser failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8(output.stdout)?;
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    let runs = seen["runs"].as_array().context("no runs")?;
    let mut render = Vec::new();
    let mut load = Vec::new();
    for run in runs {
        if run["rows"].as_u64() != Some(rows as u64) {
            bail!("expected {rows} rows, the page had {}", run["rows"]);
        }
        render.push(run["render"].as_f64().context("render")?);
        load.push(run["loaded"].as_f64().context("loaded")?);
    }
    Ok((median(&mut render), median(&mut load)))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// playwright-core from `tests/console/package-lock.json`, under target/.
fn playwright() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rayo-test-playwright");
    let node_modules = dir.join("node_modules");
    if !node_modules.join("playwright-core").is_dir() {
        std::fs::create_dir_all(&dir)?;
        let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/console");
        std::fs::copy(tests.join("package.json"), dir.join("package.json"))?;
        std::fs::copy(
            tests.join("package-lock.json"),
            dir.join("package-lock.json"),
        )?;
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir)
            .status()
            .context("running npm")?;
        if !status.success() {
            bail!("npm ci failed");
        }
    }
    Ok(node_modules)
}

/// Every listed function's code.
const HANDLER: &str = "def lambda_handler(event, context):\n    return name\n";

async fn create_functions(url: String, runtime: String) -> anyhow::Result<()> {
    let client = Arc::new(http_client());
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let client = client.clone();
        let url = url.clone();
        let runtime = runtime.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..FUNCTIONS).step_by(CLIENTS) {
                create_function(&client, &url, &format!("fn-{i:04}"), &runtime, HANDLER).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
