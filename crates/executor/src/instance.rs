//! One function instance: its process, its Runtime API listener and its log,
//! from cold start through invocations to its end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use rand::RngCore;
use rayo_core::FunctionConfig;
use rayo_core::logs::{function_log_group, instance_log_stream};
use rayo_runtimes::Launch;
use rayo_sandbox::ProcessSpec;
use time::OffsetDateTime;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::logs::{LogPipe, LogSink, log_timestamp, now_ms, read_pipe};
use crate::runtime_api::{self, NextInvocation, RuntimeApiState, RuntimeEvent, RuntimeResult};
use crate::zygote::{self, Fit, ForkRequest, Forked};
use crate::{
    ExecutorConfig, ExecutorError, InvocationOutcome, InvocationRequest, Report, SandboxMode,
    format_report,
};

/// A running instance.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) revision_id: String,
    /// Started ahead of invocations for provisioned concurrency; such an
    /// instance is not reaped when idle.
    pub(crate) provisioned: bool,
    pub(crate) last_used: Instant,
    pid: i32,
    process: Process,
    next: mpsc::Sender<NextInvocation>,
    events: mpsc::UnboundedReceiver<RuntimeEvent>,
    sink: Arc<LogSink>,
    log_pipe: Arc<LogPipe>,
    server: JoinHandle<()>,
    log_reader: JoinHandle<()>,
    scratch_dir: PathBuf,
    cgroup: Option<rayo_sandbox::Cgroup>,
    cpu_quota: bool,
}

/// The instance's process: spawned, or forked by a zygote.
#[derive(Debug)]
enum Process {
    Spawned(tokio::process::Child),
    Forked(Forked),
}

impl Process {
    /// Waits for the process to end: the sandbox's host-side process, or a
    /// forked instance, each reporting how the runtime ended.
    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Process::Spawned(child) => child.wait().await,
            Process::Forked(forked) => forked.wait().await,
        }
    }
}

/// Why an instance did not become ready.
#[derive(Debug)]
struct InitFailure {
    error_type: String,
    payload: Bytes,
    status: &'static str,
}

/// Runs one invocation on `idle`, or on a new instance when there is none.
/// Returns the outcome and the instance if it may serve again.
///
/// `initialized` is called once an instance started for the invocation has
/// initialized; it is dropped uncalled when there was none to start or its
/// start failed.
pub(crate) async fn run(
    config: &ExecutorConfig,
    idle: Option<Instance>,
    request: &InvocationRequest,
    initialized: impl FnOnce(),
) -> Result<(InvocationOutcome, Option<Instance>), ExecutorError> {
    let (mut instance, init_duration) = match idle {
        Some(instance) => (instance, None),
        None => {
            let started = Instant::now();
            let mut instance = match Instance::spawn(config, &request.function, ON_DEMAND).await? {
                Ok(instance) => instance,
                Err((sink, failure)) => {
                    let outcome = report_init_failure(&sink, request, failure, started.elapsed());
                    sink.flush();
                    return Ok((outcome, None));
                }
            };
            match instance.wait_ready(config.init_timeout).await {
                Ok(()) => {
                    initialized();
                    (instance, Some(started.elapsed()))
                }
                Err(failure) => {
                    instance.drain_logs();
                    let outcome =
                        report_init_failure(&instance.sink, request, failure, started.elapsed());
                    instance.sink.flush();
                    return Ok((outcome, None));
                }
            }
        }
    };
    let (outcome, reusable) = instance.invoke(request, init_duration).await;
    instance.last_used = Instant::now();
    Ok((outcome, reusable.then_some(instance)))
}

type SpawnResult = Result<Instance, (Arc<LogSink>, InitFailure)>;

/// `AWS_LAMBDA_INITIALIZATION_TYPE` of an instance started for an invocation.
const ON_DEMAND: &str = "on-demand";
/// `AWS_LAMBDA_INITIALIZATION_TYPE` of an instance started ahead of them.
const PROVISIONED: &str = "provisioned-concurrency";

/// Starts and initializes an instance ahead of invocations (provisioned
/// concurrency); `None` when it could not, which its log says.
pub(crate) async fn start_provisioned(
    config: &ExecutorConfig,
    function: &FunctionConfig,
) -> Option<Instance> {
    let started = Instant::now();
    let failed = |sink: &LogSink, failure: InitFailure| {
        let init_ms = started.elapsed().as_secs_f64() * 1000.0;
        sink.line(format!(
            "INIT_REPORT Init Duration: {init_ms:.2} ms\tPhase: init\tStatus: {}\tError Type: {}",
            failure.status, failure.error_type
        ));
        sink.flush();
    };
    match Instance::spawn(config, function, PROVISIONED).await {
        Ok(Ok(mut instance)) => match instance.wait_ready(config.init_timeout).await {
            Ok(()) => Some(instance),
            Err(failure) => {
                instance.drain_logs();
                failed(&instance.sink, failure);
                None
            }
        },
        Ok(Err((sink, failure))) => {
            failed(&sink, failure);
            None
        }
        Err(error) => {
            tracing::warn!(function = %function.name, version = %function.version, %error,
                "could not start a provisioned instance");
            None
        }
    }
}

impl Instance {
    /// Starts the process and its Runtime API.
    async fn spawn(
        config: &ExecutorConfig,
        function: &FunctionConfig,
        initialization_type: &'static str,
    ) -> Result<SpawnResult, ExecutorError> {
        let launch = config.catalog.resolve(function.runtime)?;
        let instance_id = random_hex(16);
        let stream =
            instance_log_stream(OffsetDateTime::now_utc(), &function.version, &instance_id);
        let sink = Arc::new(LogSink::new(
            function_log_group(&function.name),
            stream,
            config.log_store.clone(),
        ));
        let code_dir = config.code_store.unpacked_dir(&function.code.sha256_hex);
        let opt_dir = merged_layers(config, function).await?;
        let scratch_dir = config.instances_dir.join(&instance_id);
        let tmp_dir = scratch_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(start_error)?;

        let sandbox = match &config.sandbox {
            SandboxMode::Sandboxed(support) => Some(support.clone()),
            SandboxMode::Unavailable(reason) => {
                return Err(ExecutorError::SandboxUnavailable(reason.clone()));
            }
            SandboxMode::Disabled => {
                tracing::warn!(
                    function = %function.name,
                    "starting an instance WITHOUT a sandbox (--insecure-no-sandbox): it can read and change anything this server's user can"
                );
                None
            }
        };
        let uid = sandbox.as_ref().map(|_| next_sandbox_uid());
        let paths = InstancePaths::new(
            sandbox.is_some(),
            &code_dir,
            &tmp_dir,
            config.catalog.runtime_dir(),
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(start_error)?;
        let api_address = listener.local_addr().map_err(start_error)?;
        let (next, next_receiver) = mpsc::channel(1);
        let (events_sender, events) = mpsc::unbounded_channel();
        let api_state = Arc::new(RuntimeApiState::new(next_receiver, events_sender));
        let router = runtime_api::routes(api_state);
        let server = tokio::spawn(runtime_api::serve(listener, router, uid));

        let (program, args, path_head) = match &launch {
            Launch::Python {
                interpreter,
                bootstrap,
                substituted_for,
                ..
            } => {
                sink.line(format!(
                    "INIT_START Runtime Version: python:{}\tRuntime Version ARN: arn:aws:lambda:{}::runtime:rayo-python-{}",
                    interpreter.version, config.region.name, interpreter.version
                ));
                if let Some(asked) = substituted_for {
                    sink.line(format!(
                        "rayo: {asked} is not installed on this host; this instance runs it on Python {} as the server's --python-fallback option allows",
                        interpreter.version
                    ));
                }
                (
                    interpreter.executable.clone(),
                    vec![paths.runtime_path(bootstrap).display().to_string()],
                    interpreter.executable.parent().map(PathBuf::from),
                )
            }
            Launch::Provided { default_python } => {
                sink.line(format!(
                    "INIT_START Runtime Version: {}\tRuntime Version ARN: arn:aws:lambda:{}::runtime:rayo-{}",
                    function.runtime, config.region.name, function.runtime
                ));
                // The package's own bootstrap, else a layer's, as on Lambda.
                let layer_bootstrap = opt_dir
                    .as_ref()
                    .map(|dir| dir.join("bootstrap"))
                    .filter(|path| is_executable(path));
                let program = if is_executable(&code_dir.join("bootstrap")) {
                    Some(paths.task_root.join("bootstrap"))
                } else {
                    layer_bootstrap.map(|host_path| {
                        if sandbox.is_some() {
                            PathBuf::from("/opt/bootstrap")
                        } else {
                            host_path
                        }
                    })
                };
                let Some(program) = program else {
                    server.abort();
                    let _ = std::fs::remove_dir_all(&scratch_dir);
                    let message = format!(
                        "Couldn't find valid bootstrap(s): [{}/bootstrap /opt/bootstrap]",
                        paths.task_root.display()
                    );
                    return Ok(Err((
                        sink,
                        InitFailure {
                            error_type: "Runtime.InvalidEntrypoint".to_string(),
                            payload: error_document("Runtime.InvalidEntrypoint", &message),
                            status: "error",
                        },
                    )));
                };
                (
                    program,
                    Vec::new(),
                    default_python
                        .as_ref()
                        .and_then(|p| p.executable.parent().map(PathBuf::from)),
                )
            }
        };

        let mut env = instance_environment(
            config,
            function,
            &launch,
            &paths,
            &api_address.to_string(),
            sink.stream(),
            path_head,
        );
        if let Some(entry) = env
            .iter_mut()
            .find(|(name, _)| name == "AWS_LAMBDA_INITIALIZATION_TYPE")
        {
            entry.1 = initialization_type.to_string();
        }
        if sandbox.is_none()
            && let Some(opt_dir) = &opt_dir
        {
            // No mount namespace: the runtime finds the layers where they are.
            env.push(("_RAYO_OPT_ROOT".to_string(), opt_dir.display().to_string()));
        }
        let (pipe_reader, pipe_writer) = std::io::pipe().map_err(start_error)?;
        let (process, cgroup) = match (&sandbox, uid) {
            (Some(support), Some(uid)) => {
                let mut runtime_ro_paths = Vec::new();
                let interpreter = match &launch {
                    Launch::Python { interpreter, .. } => Some(interpreter),
                    Launch::Provided { default_python } => default_python.as_ref(),
                };
                if let Some(interpreter) = interpreter {
                    runtime_ro_paths.extend(interpreter.install_dirs.iter().cloned());
                }
                let spec = rayo_sandbox::SandboxSpec {
                    instance_id: instance_id.clone(),
                    program,
                    args,
                    env,
                    task_root: code_dir.clone(),
                    runtime_ro_paths,
                    opt_dir: opt_dir.clone(),
                    runtime_dir: Some(config.catalog.runtime_dir().to_path_buf()),
                    tmp_size_mb: function.ephemeral_storage_mb,
                    memory_mb: function.memory_size,
                    pids_max: PIDS_MAX,
                    // Like Lambda, init runs unthrottled; the cap comes after.
                    cpu_quota: false,
                    uid,
                    gid: uid,
                    hostname: format!("rayo-{}", &instance_id[..12]),
                };
                let forked = match &launch {
                    Launch::Python { interpreter, .. } => {
                        fork_from_zygote(
                            config,
                            support,
                            &spec,
                            interpreter,
                            function,
                            &pipe_writer,
                        )
                        .await
                    }
                    Launch::Provided { .. } => None,
                };
                let (process, cgroup) = match forked {
                    Some((forked, cgroup)) => (Process::Forked(forked), cgroup),
                    None => {
                        let (command, cgroup) =
                            rayo_sandbox::sandboxed_command(support, &spec, &pipe_writer)
                                .map_err(|e| ExecutorError::Start(e.to_string()))?;
                        (Process::Spawned(spawn(command)?), cgroup)
                    }
                };
                (process, Some(cgroup))
            }
            _ => {
                let spec = ProcessSpec {
                    program,
                    args,
                    env,
                    cwd: code_dir,
                };
                let command = rayo_sandbox::command(&spec, &pipe_writer).map_err(start_error)?;
                (Process::Spawned(spawn(command)?), None)
            }
        };
        drop(pipe_writer);
        let pid = match &process {
            Process::Spawned(child) => child.id().map(|p| p as i32).unwrap_or_default(),
            Process::Forked(forked) => forked.pid,
        };
        let receiver = pipe::Receiver::from_owned_fd(pipe_reader.into()).map_err(start_error)?;
        let log_pipe = Arc::new(LogPipe::new(receiver, sink.clone()));
        let log_reader = tokio::spawn(read_pipe(log_pipe.clone()));

        Ok(Ok(Instance {
            revision_id: function.revision_id.clone(),
            provisioned: initialization_type == PROVISIONED,
            last_used: Instant::now(),
            pid,
            process,
            next,
            events,
            sink,
            log_pipe,
            server,
            log_reader,
            scratch_dir,
            cgroup,
            cpu_quota: config.cpu_quota,
        }))
    }

    /// Waits for the runtime's first `next` call.
    async fn wait_ready(&mut self, init_timeout: Duration) -> Result<(), InitFailure> {
        tokio::select! {
            event = self.events.recv() => match event {
                Some(RuntimeEvent::Ready) => {
                    if self.cpu_quota
                        && let Some(cgroup) = &mut self.cgroup
                        && let Err(error) = cgroup.set_cpu_quota(true)
                    {
                        tracing::warn!(%error, "could not cap an instance's CPU");
                    }
                    Ok(())
                }
                Some(RuntimeEvent::InitError { error_type, body }) => {
                    // The runtime exits after reporting; give it a moment to.
                    let _ = tokio::time::timeout(Duration::from_secs(1), self.process.wait()).await;
                    let error_type = error_type
                        .or_else(|| error_type_of(&body))
                        .unwrap_or_else(|| "Runtime.Unknown".to_string());
                    Err(InitFailure { error_type, payload: body, status: "error" })
                }
                None => Err(exit_failure("", "Runtime.Unknown")),
            },
            status = self.process.wait() => {
                // An init error may have been posted just before the exit.
                if let Ok(RuntimeEvent::InitError { error_type, body }) = self.events.try_recv() {
                    let error_type = error_type
                        .or_else(|| error_type_of(&body))
                        .unwrap_or_else(|| "Runtime.Unknown".to_string());
                    return Err(InitFailure { error_type, payload: body, status: "error" });
                }
                let reason = exit_reason(status.ok());
                self.sink.line(format!("INIT_REPORT Runtime exited with error: {reason}"));
                Err(exit_failure(&reason, "Runtime.ExitError"))
            }
            _ = tokio::time::sleep(init_timeout) => {
                self.kill();
                Err(InitFailure {
                    error_type: "Sandbox.Timedout".to_string(),
                    payload: error_document(
                        "Sandbox.Timedout",
                        &format!("Error: Init timed out after {:.2} seconds", init_timeout.as_secs_f64()),
                    ),
                    status: "timeout",
                })
            }
        }
    }

    /// Runs one invocation; returns its outcome and whether the instance may serve again.
    async fn invoke(
        &mut self,
        request: &InvocationRequest,
        init_duration: Option<Duration>,
    ) -> (InvocationOutcome, bool) {
        let function = &request.function;
        let request_id = &request.request_id;
        let timeout = Duration::from_secs(u64::from(function.timeout));
        self.sink.begin_capture();
        self.sink.line(format!(
            "START RequestId: {request_id} Version: {}",
            function.version
        ));
        let started = Instant::now();
        let (result_sender, result) = oneshot::channel();
        let next = NextInvocation {
            request_id: request_id.clone(),
            deadline_ms: now_ms() + timeout.as_millis() as i64,
            invoked_function_arn: request.invoked_function_arn.clone(),
            payload: request.payload.clone(),
            client_context: request.client_context.clone(),
            cognito_identity: request.cognito_identity.clone(),
            trace_id: request.trace_id.clone(),
            result: result_sender,
        };
        let mut status = None;
        let mut error_type = None;
        let mut reusable = true;
        let (payload, function_error) = if self.next.send(next).await.is_err() {
            reusable = false;
            status = Some("error");
            error_type = Some("Runtime.ExitError".to_string());
            let payload = exit_failure("runtime stopped serving", "Runtime.ExitError").payload;
            (payload, Some("Unhandled".to_string()))
        } else {
            tokio::select! {
                result = result => match result {
                    Ok(RuntimeResult::Response(body)) => (body, None),
                    // A function error reported by the runtime is not a
                    // platform failure: Lambda's REPORT line has no status.
                    Ok(RuntimeResult::Error { body }) => (body, Some("Unhandled".to_string())),
                    Ok(RuntimeResult::ResponseTooLarge { size }) => {
                        status = Some("error");
                        error_type = Some("Function.ResponseSizeTooLarge".to_string());
                        let limit = rayo_core::limits::SYNC_PAYLOAD_MAX_BYTES;
                        let message = match size {
                            Some(size) => format!(
                                "Response payload size ({size} bytes) exceeded maximum allowed payload size ({limit} bytes)."
                            ),
                            None => format!(
                                "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                            ),
                        };
                        (error_document("Function.ResponseSizeTooLarge", &message), Some("Unhandled".to_string()))
                    }
                    Err(_) => {
                        reusable = false;
                        status = Some("error");
                        error_type = Some("Runtime.ExitError".to_string());
                        (exit_failure("runtime dropped the invocation", "Runtime.ExitError").payload, Some("Unhandled".to_string()))
                    }
                },
                exit = self.process.wait() => {
                    reusable = false;
                    let reason = exit_reason(exit.ok());
                    self.drain_logs();
                    self.sink.line(format!("RequestId: {request_id} Error: Runtime exited with error: {reason}"));
                    self.sink.line("Runtime.ExitError".to_string());
                    status = Some("error");
                    error_type = Some(if self.oom_killed() {
                        "Runtime.OutOfMemory".to_string()
                    } else {
                        "Runtime.ExitError".to_string()
                    });
                    let message = format!("RequestId: {request_id} Error: Runtime exited with error: {reason}");
                    (error_document("Runtime.ExitError", &message), Some("Unhandled".to_string()))
                }
                _ = tokio::time::sleep(timeout) => {
                    reusable = false;
                    self.drain_logs();
                    let seconds = format!("{:.2}", timeout.as_secs_f64());
                    self.sink.line(format!(
                        "{} {request_id} Task timed out after {seconds} seconds",
                        log_timestamp(OffsetDateTime::now_utc())
                    ));
                    status = Some("timeout");
                    let message = format!("RequestId: {request_id} Error: Task timed out after {seconds} seconds");
                    (error_document("Sandbox.Timedout", &message), Some("Unhandled".to_string()))
                }
            }
        };
        let elapsed = started.elapsed();
        let max_memory_used_mb = self.max_memory_used_mb();
        if reusable {
            self.drain_logs();
        } else {
            self.kill();
        }
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let report = Report {
            duration_ms,
            billed_duration_ms: duration_ms.ceil().max(1.0) as u64,
            memory_size_mb: function.memory_size,
            max_memory_used_mb,
            init_duration_ms: init_duration.map(|d| d.as_secs_f64() * 1000.0),
            status: status.map(str::to_string),
            error_type: if status == Some("timeout") {
                None
            } else {
                error_type
            },
        };
        self.sink.line(format!("END RequestId: {request_id}"));
        self.sink.line(format_report(request_id, &report));
        let log_text = self.sink.end_capture();
        self.sink.flush();
        let outcome = InvocationOutcome {
            payload,
            function_error,
            log_text,
            executed_version: function.version.clone(),
            report,
        };
        (outcome, reusable)
    }

    /// Reads whatever the runtime wrote before its last request.
    fn drain_logs(&self) {
        self.log_pipe.drain();
    }

    /// Peak memory of the instance, in MB: its cgroup's peak when sandboxed,
    /// else the runtime process's peak resident size.
    fn max_memory_used_mb(&self) -> u64 {
        if let Some(cgroup) = &self.cgroup {
            return cgroup
                .peak_memory_bytes()
                .unwrap_or(0)
                .div_ceil(1024 * 1024);
        }
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        kib.div_ceil(1024)
    }

    /// Ends the process group at once.
    pub(crate) fn kill(&mut self) {
        if self.pid > 0 {
            let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
        if let Some(cgroup) = &self.cgroup {
            // Processes that left the process group are still in the cgroup.
            let _ = cgroup.kill_all();
        }
    }

    /// Whether the kernel ended the instance for passing its memory limit.
    fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(|c| c.oom_killed())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // The process group ends at once; the cgroup's removal below ends
        // whatever left the group, and waits for it, off the async threads.
        if self.pid > 0 {
            let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
        if self.cgroup.is_none() || tokio::runtime::Handle::try_current().is_err() {
            self.kill();
        }
        self.server.abort();
        // The reader ends by itself when the pipe closes; it flushes on the way out.
        let _ = &self.log_reader;
        self.sink.flush();
        let _ = std::fs::remove_dir_all(&self.scratch_dir);
        if let Some(cgroup) = self.cgroup.take() {
            // Removing a cgroup waits for its processes to be gone.
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(cgroup));
                }
                Err(_) => drop(cgroup),
            }
        }
    }
}

/// Spawns a prepared command, to be killed if the instance is dropped.
fn spawn(command: std::process::Command) -> Result<tokio::process::Child, ExecutorError> {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    command.spawn().map_err(start_error)
}

/// Forks the instance of `spec` from the zygote of `interpreter`, when
/// there is one and the function suits it; returns its process and cgroup.
/// `None` says to start it the ordinary way.
async fn fork_from_zygote(
    config: &ExecutorConfig,
    support: &Arc<rayo_sandbox::SandboxSupport>,
    spec: &rayo_sandbox::SandboxSpec,
    interpreter: &rayo_runtimes::PythonInterpreter,
    function: &FunctionConfig,
    log: &std::io::PipeWriter,
) -> Option<(Forked, rayo_sandbox::Cgroup)> {
    use std::os::fd::AsFd;
    let sandbox_bootstrap = Path::new(spec.args.first()?);
    let zygote = config
        .zygotes
        .get(&config.catalog, support, interpreter, sandbox_bootstrap)
        .await?;
    let function_env: Vec<(&str, &str)> = function
        .environment
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let mut entries = package_entries(&spec.task_root);
    // Layers' Python directories are on sys.path too: their modules may
    // shadow the zygote's as a package's may.
    if let Some(opt_dir) = &spec.opt_dir {
        let python = opt_dir.join("python");
        entries.extend(package_entries(&python));
        entries.extend(package_entries(
            &python
                .join("lib")
                .join(format!("python3.{}", interpreter.minor))
                .join("site-packages"),
        ));
    }
    let env_bytes = zygote::environment_bytes(&spec.env);
    let purge_third_party = match zygote::fit(&function_env, env_bytes, &entries, &zygote.preloaded)
    {
        Fit::Fork { purge_third_party } => purge_third_party,
        Fit::Spawn(reason) => {
            tracing::debug!(function = %function.name, %reason, "instance starts its own interpreter");
            return None;
        }
    };
    let (fork_spec, cgroup) = match rayo_sandbox::fork_spec(
        support,
        spec,
        &zygote.preloaded.third_party_dirs,
        zygote.take_spare_cgroup(),
    ) {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::warn!(function = %function.name, %error, "cannot fork an instance from the zygote; starting its own interpreter");
            return None;
        }
    };
    let mut cmdline = vec![spec.program.display().to_string()];
    cmdline.extend(spec.args.iter().cloned());
    let request = ForkRequest {
        spec: &fork_spec,
        argv: spec.args.clone(),
        cmdline,
        purge_third_party,
    };
    match zygote.fork(&request, log.as_fd()).await {
        Ok(forked) => Some((forked, cgroup)),
        Err(error) => {
            tracing::warn!(function = %function.name, %error, "the zygote did not fork an instance; starting its own interpreter");
            // Removing a cgroup waits for its processes to be gone.
            tokio::task::spawn_blocking(move || drop(cgroup));
            None
        }
    }
}

/// The directory an instance of `function` sees at `/opt`: its layers
/// merged in order, or `None` without layers.
async fn merged_layers(
    config: &ExecutorConfig,
    function: &FunctionConfig,
) -> Result<Option<PathBuf>, ExecutorError> {
    if function.layers.is_empty() {
        return Ok(None);
    }
    let hashes: Vec<String> = function
        .layers
        .iter()
        .map(|layer| layer.code.sha256_hex.clone())
        .collect();
    let code_store = config.code_store.clone();
    let merged = tokio::task::spawn_blocking(move || code_store.merged_layers(&hashes))
        .await
        .map_err(|error| ExecutorError::Start(format!("merging layers: {error}")))?
        .map_err(|error| ExecutorError::Start(format!("merging layers: {error}")))?;
    Ok(Some(merged))
}

/// The top-level entries of a function's package: name, and whether a directory.
fn package_entries(code_dir: &Path) -> Vec<(String, bool)> {
    let Ok(entries) = std::fs::read_dir(code_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            (entry.file_name().to_string_lossy().into_owned(), is_dir)
        })
        .collect()
}

/// Writes the log lines of a cold start whose init failed and builds the outcome.
fn report_init_failure(
    sink: &LogSink,
    request: &InvocationRequest,
    failure: InitFailure,
    init_elapsed: Duration,
) -> InvocationOutcome {
    let function = &request.function;
    let request_id = &request.request_id;
    let init_ms = init_elapsed.as_secs_f64() * 1000.0;
    sink.line(format!(
        "INIT_REPORT Init Duration: {init_ms:.2} ms\tPhase: init\tStatus: {}\tError Type: {}",
        failure.status, failure.error_type
    ));
    sink.begin_capture();
    sink.line(format!(
        "START RequestId: {request_id} Version: {}",
        function.version
    ));
    sink.line(format!("END RequestId: {request_id}"));
    let report = Report {
        duration_ms: init_ms,
        billed_duration_ms: init_ms.ceil().max(1.0) as u64,
        memory_size_mb: function.memory_size,
        max_memory_used_mb: 0,
        init_duration_ms: None,
        status: Some(failure.status.to_string()),
        error_type: Some(failure.error_type.clone()),
    };
    sink.line(format_report(request_id, &report));
    InvocationOutcome {
        payload: failure.payload,
        function_error: Some("Unhandled".to_string()),
        log_text: sink.end_capture(),
        executed_version: function.version.clone(),
        report,
    }
}

/// Where an instance sees its files: Lambda's paths inside a sandbox, the
/// host's paths without one.
#[derive(Debug)]
struct InstancePaths {
    task_root: PathBuf,
    tmp_dir: Option<PathBuf>,
    host_runtime_dir: PathBuf,
    runtime_dir: PathBuf,
}

impl InstancePaths {
    fn new(sandboxed: bool, code_dir: &Path, tmp_dir: &Path, runtime_dir: &Path) -> InstancePaths {
        if sandboxed {
            InstancePaths {
                task_root: PathBuf::from("/var/task"),
                tmp_dir: None,
                host_runtime_dir: runtime_dir.to_path_buf(),
                runtime_dir: PathBuf::from("/var/runtime"),
            }
        } else {
            InstancePaths {
                task_root: code_dir.to_path_buf(),
                tmp_dir: Some(tmp_dir.to_path_buf()),
                host_runtime_dir: runtime_dir.to_path_buf(),
                runtime_dir: runtime_dir.to_path_buf(),
            }
        }
    }

    /// A path under the host's runtime directory, as the instance sees it.
    fn runtime_path(&self, host_path: &Path) -> PathBuf {
        match host_path.strip_prefix(&self.host_runtime_dir) {
            Ok(relative) => self.runtime_dir.join(relative),
            Err(_) => host_path.to_path_buf(),
        }
    }
}

fn instance_environment(
    config: &ExecutorConfig,
    function: &FunctionConfig,
    launch: &Launch,
    paths: &InstancePaths,
    runtime_api: &str,
    log_stream: &str,
    path_head: Option<PathBuf>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = function
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut path = String::new();
    if let Some(head) = path_head {
        path.push_str(&head.display().to_string());
        path.push(':');
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin:/opt/bin");
    let region = &config.region.name;
    let mut set = |key: &str, value: String| env.push((key.to_string(), value));
    set("PATH", path);
    set("LANG", "en_US.UTF-8".to_string());
    set("TZ", ":UTC".to_string());
    if let Some(tmp_dir) = &paths.tmp_dir {
        set("TMPDIR", tmp_dir.display().to_string());
    }
    set("LAMBDA_TASK_ROOT", paths.task_root.display().to_string());
    set(
        "LAMBDA_RUNTIME_DIR",
        paths.runtime_dir.display().to_string(),
    );
    set("_HANDLER", function.handler.clone());
    set("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string());
    set("AWS_LAMBDA_FUNCTION_NAME", function.name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", function.version.clone());
    set(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        function.memory_size.to_string(),
    );
    set(
        "AWS_LAMBDA_LOG_GROUP_NAME",
        function_log_group(&function.name),
    );
    set("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_string());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", ON_DEMAND.to_string());
    set(
        "AWS_EXECUTION_ENV",
        format!("AWS_Lambda_{}", function.runtime),
    );
    set("AWS_REGION", region.clone());
    set("AWS_DEFAULT_REGION", region.clone());
    set("AWS_ACCESS_KEY_ID", config.access_key_id.clone());
    set("AWS_SECRET_ACCESS_KEY", config.secret_access_key.clone());
    set("AWS_ENDPOINT_URL", config.endpoint_url.clone());
    if let Launch::Python { extra_paths, .. } = launch {
        set("PYTHONUNBUFFERED", "1".to_string());
        let extra: Vec<PathBuf> = extra_paths.iter().map(|p| paths.runtime_path(p)).collect();
        let extra = std::env::join_paths(extra)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        set("_RAYO_RUNTIME_PATH", extra);
    }
    env
}

/// Processes and threads one instance may have, as on Lambda.
const PIDS_MAX: u32 = 1024;

/// A distinct unprivileged uid (and gid) per instance, so that instances
/// cannot touch each other's processes or files, and the Runtime API can
/// tell whose connection it is.
fn next_sandbox_uid() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 200_000;
    const COUNT: u32 = 60_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn exit_reason(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(9)) => "signal: killed".to_string(),
            (None, Some(signal)) => format!("signal: {signal}"),
            _ => "unknown".to_string(),
        },
        None => "unknown".to_string(),
    }
}

fn exit_failure(reason: &str, error_type: &str) -> InitFailure {
    let message = format!("Runtime exited with error: {reason}");
    InitFailure {
        error_type: error_type.to_string(),
        payload: error_document(error_type, &message),
        status: "error",
    }
}

/// An error document as Lambda returns it for platform-detected failures.
fn error_document(error_type: &str, message: &str) -> Bytes {
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    Bytes::from(body.to_string())
}

fn error_type_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("errorType")?
        .as_str()
        .map(str::to_string)
}

fn random_hex(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn start_error(error: std::io::Error) -> ExecutorError {
    ExecutorError::Start(error.to_string())
}
