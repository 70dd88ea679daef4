//! What the benchmark binaries share: building and starting a release
//! `rayo server`, a keep-alive HTTP client, and percentile maths.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A keep-alive HTTP/1.1 client.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client.
pub(crate) fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends one request; returns the status and body.
pub(crate) async fn send(
    client: &HttpClient,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Creates a Python function whose `lambda_function.py` is `handler`,
/// through CreateFunction with the package inline.
pub(crate) async fn create_function(
    client: &HttpClient,
    url: &str,
    name: &str,
    runtime: &str,
    handler: &str,
) -> anyhow::Result<()> {
    use base64::Engine;
    use std::io::Write;

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "lambda_function.py",
        zip::write::SimpleFileOptions::default(),
    )?;
    zip.write_all(handler.as_bytes())?;
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
        &[("content-type", "application/json")],
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

/// Builds the release `rayo` binary next to the running one and returns its path.
pub(crate) fn build_rayo() -> anyhow::Result<PathBuf> {
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

/// The interpreter `python3` resolves to; functions are created for its version.
pub(crate) fn python_runtime() -> anyhow::Result<String> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys; print('python3.%d' % sys.version_info[1])",
        ])
        .output()
        .context("python3 is needed")?;
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

/// A running `rayo server`, stopped with SIGTERM when dropped.
pub(crate) struct Server {
    child: Child,
    /// The URL it printed.
    pub(crate) url: String,
}

impl Server {
    /// Starts `rayo server` on a free port in `data_dir` with `args`.
    pub(crate) fn start(rayo: &Path, data_dir: &Path, args: &[&str]) -> anyhow::Result<Server> {
        let mut child = Command::new(rayo)
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RAYO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("rayo listening on ")
            .with_context(|| format!("unexpected first line from the server: {line:?}"))?
            .to_string();
        // Keep reading so that a later print never meets a closed pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        Ok(Server { child, url })
    }

    /// The server process's resident set size, in KiB.
    #[allow(dead_code)]
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
