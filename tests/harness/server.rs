//! A real `rayo server` process and the clients that talk to it.

use std::cell::Cell;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::process::{CommandOutput, run_with_deadline, wait_with_deadline};
use crate::venv::Venv;
use crate::zip::{ZipEntry, build_zip};
use crate::{rayo_binary, target_dir};

/// Helpers every Python snippet imports (`from rayo_test import *`).
const PRELUDE: &str = include_str!("rayo_test.py");
/// Safety limit for the server to print its address.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Safety limit for the server to exit after a signal.
const STOP_DEADLINE: Duration = Duration::from_secs(60);
/// Safety limit for one client command or Python snippet.
const CLIENT_DEADLINE: Duration = Duration::from_secs(300);

/// A running `rayo server` in its own temporary directory, killed on drop.
///
/// The directory holds `data/` (the server's `--data-dir`) and `work/`, the
/// working directory of the clients the test runs, where it may put files.
#[derive(Debug)]
pub struct Server {
    root: TempDir,
    listen: String,
    extra_args: Vec<String>,
    child: Option<Child>,
    url: String,
    stderr_path: PathBuf,
    n_snippets: Cell<usize>,
}

/// The aws CLI exited non-zero.
#[derive(Debug, Clone)]
pub struct AwsCliError {
    /// Its exit code.
    pub code: Option<i32>,
    /// What it printed on stderr (the exception name and message).
    pub stderr: String,
}

impl Server {
    /// Starts a server with default options.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra `rayo server` arguments, such as
    /// `["--python-fallback", "newest"]`.
    pub fn start_with(extra_args: &[&str]) -> Server {
        Server::start_listening("127.0.0.1:0", extra_args)
    }

    /// Starts a server whose listener is bound to `listen` (such as
    /// `0.0.0.0:0`, to be a server other machines could reach); its URL
    /// still names 127.0.0.1 when the address is unspecified.
    pub fn start_listening(listen: &str, extra_args: &[&str]) -> Server {
        // The venv comes first: creating it may take a while, once.
        Venv::get();
        // Under target/ rather than /tmp: a failed test's directory is kept
        // there for a look, and the package tests inflate hundreds of MB,
        // too much for a small tmpfs.
        let scratch = target_dir().join("rayo-test-tmp");
        std::fs::create_dir_all(&scratch).expect("creating the tests' scratch directory");
        let root = tempfile::Builder::new()
            .prefix("server-")
            .tempdir_in(&scratch)
            .expect("creating a temporary directory");
        std::fs::create_dir_all(root.path().join("data")).expect("creating data/");
        std::fs::create_dir_all(root.path().join("work")).expect("creating work/");
        std::fs::write(root.path().join("work/rayo_test.py"), PRELUDE)
            .expect("writing the Python prelude");
        let mut server = Server {
            stderr_path: root.path().join("server.stderr"),
            root,
            listen: listen.to_string(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
            url: String::new(),
            n_snippets: Cell::new(0),
        };
        server.spawn();
        server
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The clients' working directory.
    pub fn work_dir(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// The temporary directory holding `data/` and `work/`.
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Everything the server wrote on stderr so far (its tracing log).
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and starts it again on the same data
    /// directory (and a new port).
    pub fn restart(&mut self) {
        let status = self.stop_with(Signal::SIGTERM);
        assert!(
            status.success(),
            "the server exited with {status} on SIGTERM\n{}",
            self.stderr_text()
        );
        self.spawn();
    }

    /// Kills the server outright (SIGKILL: no shutdown, nothing flushed by
    /// it) and starts it again on the same data directory (and a new port).
    pub fn crash_and_restart(&mut self) {
        let status = self.stop_with(Signal::SIGKILL);
        assert!(!status.success(), "a killed server does not exit cleanly");
        self.spawn();
    }

    /// Sends `signal` and waits for the server to exit.
    pub fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        kill(Pid::from_raw(child.id() as i32), signal).expect("signalling the server");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the server") {
                return status;
            }
            if started.elapsed() > STOP_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not exit within {STOP_DEADLINE:?} of {signal}\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs a Python snippet with the venv's Python against this server and
    /// returns its stdout; fails the test with its output if it exits non-zero.
    ///
    /// The snippet starts with `from rayo_test import *` (see `rayo_test.py`:
    /// `lam`, `cwl`, `create`, `invoke`, `expect_error`, ...), runs in
    /// [`Server::work_dir`], and has `AWS_ENDPOINT_URL` and test credentials
    /// in its environment (and `RAYO_TEST_SERVER_DATA_DIR`, `RAYO_TEST_ROOT`).
    /// It may be indented as written inside a Rust raw string; function
    /// sources in triple-quoted strings are written at column 0.
    pub fn python(&self, script: &str) -> String {
        let (path, output) = self.run_python(script);
        assert!(
            output.success(),
            "the Python snippet {} failed ({}):\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            path.display(),
            output.status,
            numbered(&std::fs::read_to_string(&path).unwrap_or_default()),
            output.stdout,
            output.stderr
        );
        output.stdout
    }

    /// Runs a snippet like [`Server::python`] and parses the last line it
    /// printed as JSON.
    pub fn python_json(&self, script: &str) -> serde_json::Value {
        let stdout = self.python(script);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|error| {
            panic!("the snippet's last line is not JSON ({error}):\n{stdout}")
        })
    }

    /// Starts a snippet without waiting for it; [`PythonChild::wait`] collects it.
    pub fn spawn_python(&self, script: &str) -> PythonChild {
        let path = self.write_snippet(script);
        let mut command = self.client_command(Venv::get().python());
        command
            .arg("-u")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().expect("starting the venv's python");
        PythonChild { child, path }
    }

    /// Runs the aws CLI (v1, from the venv) with `--output json`; returns its
    /// parsed stdout (`Null` when empty), or how it failed.
    pub fn aws(&self, args: &[&str]) -> Result<serde_json::Value, AwsCliError> {
        let mut command = self.client_command(Venv::get().aws());
        command.args(args).args(["--output", "json"]);
        cli_result(run_with_deadline(&mut command, CLIENT_DEADLINE, "aws"))
    }

    /// Runs AWS CLI v2 (commands v1 lacks, such as `aws logs tail`), found as
    /// `RAYO_TEST_AWS_V2` or `/usr/bin/aws` (Debian's `awscli` package);
    /// returns its raw output. v2 releases before 2.13 ignore
    /// `AWS_ENDPOINT_URL`, so `--endpoint-url` is passed too.
    pub fn aws_v2(&self, args: &[&str]) -> CommandOutput {
        let binary = std::env::var_os("RAYO_TEST_AWS_V2")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/aws"));
        let version = Command::new(&binary).arg("--version").output();
        let is_v2 = version
            .as_ref()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("aws-cli/2."));
        assert!(
            is_v2,
            "this test needs AWS CLI v2 at {} (or RAYO_TEST_AWS_V2): on Debian, \
             `apt-get install awscli` installs it; PyPI only has v1 ({version:?})",
            binary.display()
        );
        let mut command = self.client_command(binary);
        command.args(args).args(["--endpoint-url", &self.url]);
        run_with_deadline(&mut command, CLIENT_DEADLINE, "aws (v2)")
    }

    /// Runs a `rayo` client command with `args` as given (add `--endpoint`
    /// yourself, with [`Server::url`]).
    pub fn rayo(&self, args: &[&str]) -> CommandOutput {
        let mut command = self.client_command(rayo_binary());
        command.args(args).env_remove("RAYO_ENDPOINT");
        run_with_deadline(&mut command, CLIENT_DEADLINE, "rayo")
    }

    /// Starts a long-running `rayo` client command (`rayo dev`) with its
    /// stdout piped and stderr inherited; the caller kills it.
    pub fn spawn_rayo(&self, args: &[&str]) -> std::process::Child {
        let mut command = self.client_command(rayo_binary());
        command
            .args(args)
            .env_remove("RAYO_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        command.spawn().expect("starting rayo")
    }

    /// Calls a CloudWatch Logs API operation (JSON 1.1) over a plain HTTP/1.1
    /// connection, without starting a client process; returns the status
    /// and the JSON body.
    pub fn logs_api(&self, operation: &str, input: &serde_json::Value) -> (u16, serde_json::Value) {
        let address = self
            .url
            .strip_prefix("http://")
            .expect("the server URL is http://HOST:PORT");
        let body = input.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: Logs_20140328.{operation}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(address).expect("connecting to the server");
        stream
            .set_read_timeout(Some(CLIENT_DEADLINE))
            .expect("setting a read timeout");
        stream
            .write_all(request.as_bytes())
            .expect("sending a request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("reading the response");
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("a malformed HTTP response: {response:?}"));
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "a chunked response: {head}"
        );
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let json = serde_json::from_str(body)
            .unwrap_or_else(|error| panic!("a non-JSON body ({error}): {body:?}"));
        (status, json)
    }

    /// Waits until the function's log group has a line containing `text`
    /// (the deadline is a safety net).
    pub fn wait_for_log_line(&self, function_name: &str, text: &str) {
        let input = serde_json::json!({
            "logGroupName": format!("/aws/lambda/{function_name}"),
            "filterPattern": format!("\"{text}\""),
        });
        let started = Instant::now();
        loop {
            let (status, out) = self.logs_api("FilterLogEvents", &input);
            let found = status == 200
                && out["events"].as_array().is_some_and(|events| {
                    events
                        .iter()
                        .any(|e| e["message"].as_str().is_some_and(|m| m.contains(text)))
                });
            if found {
                return;
            }
            assert!(
                started.elapsed() < CLIENT_DEADLINE,
                "no log line with {text:?} in /aws/lambda/{function_name} (last answer {status}: {out})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes a file into the work directory and returns its path.
    pub fn write_file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.work_dir().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating a work subdirectory");
        }
        std::fs::write(&path, content).expect("writing a work file");
        path
    }

    /// Writes a zip of `entries` into the work directory and returns its path.
    pub fn write_zip(&self, name: &str, entries: &[ZipEntry<'_>]) -> PathBuf {
        self.write_file(name, &build_zip(entries))
    }

    /// Starts the server process and reads the address it prints.
    fn spawn(&mut self) {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("opening the server's stderr file");
        let mut command = Command::new(rayo_binary());
        command
            .arg("server")
            .args(["--listen", &self.listen, "--data-dir"])
            .arg(self.data_dir())
            .args(&self.extra_args)
            .current_dir(self.root.path())
            .env("PATH", venv_first_path())
            .env("RAYO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        remove_aws_env(&mut command);
        for name in [
            "RAYO_LISTEN",
            "RAYO_DATA_DIR",
            "RAYO_PYTHON_FALLBACK",
            "RAYO_IDLE_TIMEOUT",
        ] {
            command.env_remove(name);
        }
        let mut child = command.spawn().expect("starting rayo server");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = sender.send(first);
            // Keep draining so that a later print never meets a closed pipe.
            for _ in lines {}
        });
        let first = match receiver.recv_timeout(START_DEADLINE) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rayo server did not print its address ({other:?})\n--- server stderr ---\n{}",
                    self.stderr_text()
                );
            }
        };
        let url = first
            .strip_prefix("rayo listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from rayo server: {first:?}"));
        self.url = url.trim().to_string();
        self.child = Some(child);
    }

    fn write_snippet(&self, script: &str) -> PathBuf {
        let n = self.n_snippets.get() + 1;
        self.n_snippets.set(n);
        let path = self.work_dir().join(format!("snippet_{n}.py"));
        let text = format!("from rayo_test import *\n{}\n", wrap_indented(script));
        std::fs::write(&path, text).expect("writing a Python snippet");
        path
    }

    fn run_python(&self, script: &str) -> (PathBuf, CommandOutput) {
        let path = self.write_snippet(script);
        let mut command = self.client_command(Venv::get().python());
        command.arg("-u").arg(&path);
        let output = run_with_deadline(&mut command, CLIENT_DEADLINE, "a Python snippet");
        (path, output)
    }

    /// A client command with the test environment: the venv first on `PATH`,
    /// this server as `AWS_ENDPOINT_URL`, test credentials, no retries.
    fn client_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        remove_aws_env(&mut command);
        command
            .current_dir(self.work_dir())
            .env("PATH", venv_first_path())
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_RETRY_MODE", "standard")
            .env("AWS_PAGER", "")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("RAYO_TEST_SERVER_DATA_DIR", self.data_dir())
            .env("RAYO_TEST_ROOT", self.root.path());
        command
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            // Kept for a look at the data directory after a failure.
            self.root.disable_cleanup(true);
            eprintln!(
                "--- the test's directory is kept: {} ---",
                self.root.path().display()
            );
            let text = self.stderr_text();
            let tail: Vec<&str> = text.lines().rev().take(200).collect();
            eprintln!("--- rayo server stderr (last {} lines) ---", tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            eprintln!("--- end of rayo server stderr ---");
        } else {
            // Unpacked packages are read-only; make them removable for
            // users other than root.
            make_writable(self.root.path());
        }
    }
}

/// A Python snippet started with [`Server::spawn_python`].
#[derive(Debug)]
pub struct PythonChild {
    child: Child,
    path: PathBuf,
}

impl PythonChild {
    /// Waits for the snippet and returns its stdout; fails the test if it
    /// exited non-zero.
    pub fn wait(self) -> String {
        let output = wait_with_deadline(self.child, CLIENT_DEADLINE, "a Python snippet");
        assert!(
            output.success(),
            "the Python snippet {} failed ({}):\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.path.display(),
            output.status,
            numbered(&std::fs::read_to_string(&self.path).unwrap_or_default()),
            output.stdout,
            output.stderr
        );
        output.stdout
    }
}

fn cli_result(output: CommandOutput) -> Result<serde_json::Value, AwsCliError> {
    if !output.success() {
        return Err(AwsCliError {
            code: output.code(),
            stderr: output.stderr,
        });
    }
    if output.stdout.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("aws printed invalid JSON ({error}):\n{}", output.stdout)))
}

/// `PATH` with the venv's `bin/` first, so that the server finds the venv's
/// `python3.11` (which has boto3) and clients find its `python` and `aws`.
fn venv_first_path() -> std::ffi::OsString {
    let mut paths = vec![Venv::get().bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).expect("PATH entries contain no ':'")
}

/// Keeps the developer's own AWS settings out of the tests.
fn remove_aws_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(&name);
        }
    }
}

/// Makes a snippet written indented inside Rust runnable: an indented
/// snippet becomes the body of `if True:`, so that Python checks its
/// statements' indentation relative to each other while the bodies of
/// triple-quoted strings (function sources written at column 0) stay as
/// they are.
fn wrap_indented(script: &str) -> String {
    let indented = script
        .lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.starts_with([' ', '\t']));
    if indented {
        format!("if True:\n{script}")
    } else {
        script.to_string()
    }
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&entry.path());
        }
    }
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, line)| format!("{:4} | {line}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}
