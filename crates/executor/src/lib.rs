//! The executor runs function instances: it keeps a pool of warm instances
//! per function version, starts new ones (cold starts) when none is free,
//! serves each instance its own Runtime API, enforces timeouts, and writes
//! every instance's output and the START/END/REPORT lines to the log store.
//! A sandboxed Python instance is forked, already in its sandbox, from a
//! zygote (an interpreter that imported the runtime and boto3 once) where
//! it can be, rather than started as a new interpreter ([`Zygotes`]).
//!
//! Callers talk to it through [`Executor`], which sends [`ExecutorCommand`]s
//! to the pool actor.

#![forbid(unsafe_code)]

mod instance;
mod logs;
mod metrics;
mod pool;
mod runtime_api;
mod zygote;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rayo_core::store::{CodeStore, LogStore};
use rayo_core::{FunctionConfig, Region};
use rayo_runtimes::{RuntimeCatalog, RuntimeUnavailable};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

pub use logs::format_report;
pub use metrics::{FlushOptions, FunctionTotals, Metrics, MetricsFlusher, now_ms};
pub use zygote::Zygotes;

/// What the executor needs from the rest of rayo.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Region and account, for ARNs and `AWS_REGION`.
    pub region: Region,
    /// The URL functions use to reach rayo's own APIs (`AWS_ENDPOINT_URL`).
    pub endpoint_url: String,
    /// Credentials handed to functions.
    pub access_key_id: String,
    /// Credentials handed to functions.
    pub secret_access_key: String,
    /// How long an idle instance is kept warm before it is ended.
    pub idle_timeout: Duration,
    /// How long a runtime may take to initialize.
    pub init_timeout: Duration,
    /// Concurrent executions allowed across all functions (the account limit).
    pub account_concurrency: u32,
    /// Where per-instance scratch directories live.
    pub instances_dir: PathBuf,
    /// Runtimes this host offers.
    pub catalog: Arc<RuntimeCatalog>,
    /// Code packages.
    pub code_store: Arc<dyn CodeStore>,
    /// Where logs go.
    pub log_store: Arc<dyn LogStore>,
    /// How instances are isolated.
    pub sandbox: SandboxMode,
    /// Whether an instance's CPU is capped in proportion to its memory once
    /// it has initialized (1,769 MB = one vCPU), as on Lambda. Without it,
    /// CPU is only weighted by memory when instances compete.
    pub cpu_quota: bool,
    /// Whether sandboxed Python instances are forked from pre-initialized
    /// interpreters (zygotes) rather than each starting its own.
    pub zygotes: Zygotes,
    /// Where invocations are counted.
    pub metrics: Metrics,
}

/// How instances are isolated.
#[derive(Debug, Clone)]
pub enum SandboxMode {
    /// Every instance in its own sandbox.
    Sandboxed(Arc<rayo_sandbox::SandboxSupport>),
    /// The host lacks what the sandbox needs: instances are refused, with
    /// this explanation.
    Unavailable(Arc<str>),
    /// Instances run as plain processes (`--insecure-no-sandbox`).
    Disabled,
}

/// One synchronous invocation to run.
#[derive(Debug, Clone)]
pub struct InvocationRequest {
    /// The configuration of the version being invoked.
    pub function: FunctionConfig,
    /// The ARN the caller used, qualified or not.
    pub invoked_function_arn: String,
    /// Request id (a UUID).
    pub request_id: String,
    /// The event, as JSON bytes.
    pub payload: Bytes,
    /// The client context, decoded from base64: a JSON document.
    pub client_context: Option<String>,
    /// The Cognito identity, a JSON document.
    pub cognito_identity: Option<String>,
    /// X-Ray trace header to hand the runtime.
    pub trace_id: Option<String>,
    /// The function's reserved concurrency, if it has one.
    pub reserved_concurrency: Option<u32>,
    /// What happens when no instance of the version is idle.
    pub scale_out: ScaleOut,
}

/// What an invocation does when no instance of its version is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleOut {
    /// A new instance starts at once: a caller waits for the answer.
    #[default]
    Immediate,
    /// The invocation comes from a queue (asynchronous invocations, event
    /// source mappings): it waits for one of the version's busy instances.
    /// The version grows by one instance once the oldest waiting invocation
    /// has waited [`SCALE_OUT_PATIENCE`], at most one per
    /// [`SCALE_OUT_INTERVAL`] — Lambda's own rate, 1,000 instances per
    /// function every 10 seconds — and while fewer start than serve. A
    /// queue that a few instances keep up with never starts more; one they
    /// cannot keep up with scales out as far as its concurrency allows.
    /// Idle instances are taken by the same rule: queued invocations use as
    /// many at once as they needed lately, and one more per interval while
    /// they wait.
    Paced,
}

/// How often a version grows while invocations from queues wait for it.
pub const SCALE_OUT_INTERVAL: Duration = Duration::from_millis(10);

/// How long the oldest invocation from a queue waits for a busy instance
/// before its version grows.
pub const SCALE_OUT_PATIENCE: Duration = Duration::from_millis(50);

/// How an invocation ended.
#[derive(Debug, Clone)]
pub struct InvocationOutcome {
    /// The function's response, or the error document.
    pub payload: Bytes,
    /// `Some("Unhandled")` when the function failed.
    pub function_error: Option<String>,
    /// The invocation's log lines (START to REPORT), newline-terminated.
    pub log_text: String,
    /// The version that ran.
    pub executed_version: String,
    /// Figures from the REPORT line.
    pub report: Report,
}

/// The figures of a REPORT line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Invocation time in milliseconds.
    pub duration_ms: f64,
    /// Billed milliseconds.
    pub billed_duration_ms: u64,
    /// Configured memory in MB.
    pub memory_size_mb: u32,
    /// Peak memory in MB.
    pub max_memory_used_mb: u64,
    /// Init time in milliseconds, for cold starts.
    pub init_duration_ms: Option<f64>,
    /// `timeout` or `error`, when the invocation did not succeed.
    pub status: Option<String>,
    /// The error type, with `status`.
    pub error_type: Option<String>,
}

/// Why the executor could not run an invocation at all.
#[derive(Debug, Error)]
pub enum ExecutorError {
    /// The function's runtime is not available on this host.
    #[error(transparent)]
    RuntimeUnavailable(#[from] RuntimeUnavailable),
    /// The executor is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// An instance could not be started.
    #[error("could not start an instance: {0}")]
    Start(String),
    /// Instances cannot be isolated on this host and rayo will not run them
    /// unisolated unless told to.
    #[error("{0}")]
    SandboxUnavailable(Arc<str>),
    /// A concurrency limit is reached.
    #[error("Rate Exceeded.")]
    Throttled(ThrottleReason),
}

/// Which concurrency limit throttled an invocation, named as Lambda's
/// `TooManyRequestsException.Reason` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// The account's unreserved concurrency is in use.
    ConcurrentInvocationLimitExceeded,
    /// The function's reserved concurrency is in use.
    ReservedFunctionConcurrentInvocationLimitExceeded,
}

impl ThrottleReason {
    /// The name Lambda uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::ConcurrentInvocationLimitExceeded => {
                "ConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
        }
    }
}

/// A function version to keep instances of, initialized ahead of invocations.
#[derive(Debug, Clone)]
pub struct ProvisionedTarget {
    /// The version's configuration.
    pub function: FunctionConfig,
    /// How many instances.
    pub count: u32,
    /// The function's reserved concurrency, if it has one.
    pub reserved_concurrency: Option<u32>,
}

/// How the provisioned instances of a function version stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProvisionedStatus {
    /// Instances initialized (idle or busy).
    pub ready: u32,
    /// Whether the last instance started for it failed to initialize.
    pub failed: bool,
}

/// The messages the pool actor understands; the contract between the invoker
/// and the executor.
#[derive(Debug)]
pub enum ExecutorCommand {
    /// Run one invocation and reply with its outcome.
    Invoke {
        /// The invocation.
        request: Box<InvocationRequest>,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<InvocationOutcome, ExecutorError>>,
    },
    /// The sum of all functions' reserved concurrency changed; the rest of
    /// the account limit is shared by functions without a reservation.
    ReservedConcurrencyChanged {
        /// Concurrency reserved by all functions together.
        total_reserved: u32,
    },
    /// The versions of a function to keep initialized instances of, and
    /// how many: replaces whatever was asked for that function before.
    SetProvisioned {
        /// The function's name.
        function_name: String,
        /// One entry per version.
        targets: Vec<ProvisionedTarget>,
    },
    /// How the provisioned instances of a function version stand.
    ProvisionedReady {
        /// The function's name.
        function_name: String,
        /// The version.
        version: String,
        /// The answer.
        reply: oneshot::Sender<ProvisionedStatus>,
    },
    /// A function was deleted: end its idle instances.
    FunctionDeleted {
        /// The function's name.
        name: String,
    },
    /// Reply with the instances of every function that has some.
    Instances {
        /// Where the counts go.
        reply: oneshot::Sender<Vec<FunctionInstances>>,
    },
    /// Finish in-flight invocations, end every instance, then reply.
    Shutdown {
        /// Signalled once everything has ended.
        reply: oneshot::Sender<()>,
    },
}

/// A function's instances at one moment, all versions together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInstances {
    /// The function's name.
    pub function_name: String,
    /// Instances waiting for an invocation.
    pub idle: u32,
    /// Instances running one (or starting for one).
    pub busy: u32,
}

/// A handle on the executor's pool actor.
#[derive(Debug, Clone)]
pub struct Executor {
    commands: mpsc::Sender<ExecutorCommand>,
    metrics: Metrics,
}

impl Executor {
    /// Starts the pool actor on the current Tokio runtime.
    pub fn start(config: ExecutorConfig) -> Executor {
        let (commands, receiver) = mpsc::channel(1024);
        let metrics = config.metrics.clone();
        tokio::spawn(pool::run(Arc::new(config), receiver));
        Executor { commands, metrics }
    }

    /// Where invocations are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every function's idle and busy instances, by name; empty once the
    /// executor has stopped.
    pub async fn instances(&self) -> Vec<FunctionInstances> {
        let (reply, instances) = oneshot::channel();
        if self
            .commands
            .send(ExecutorCommand::Instances { reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        instances.await.unwrap_or_default()
    }

    /// Runs one invocation.
    pub async fn invoke(
        &self,
        request: InvocationRequest,
    ) -> Result<InvocationOutcome, ExecutorError> {
        let (reply, outcome) = oneshot::channel();
        let command = ExecutorCommand::Invoke {
            request: Box::new(request),
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| ExecutorError::ShuttingDown)?;
        outcome.await.map_err(|_| ExecutorError::ShuttingDown)?
    }

    /// Tells the executor how much concurrency functions have reserved.
    pub async fn set_total_reserved(&self, total_reserved: u32) {
        let command = ExecutorCommand::ReservedConcurrencyChanged { total_reserved };
        let _ = self.commands.send(command).await;
    }

    /// Sets the versions of a function kept initialized (provisioned concurrency).
    pub async fn set_provisioned(&self, function_name: &str, targets: Vec<ProvisionedTarget>) {
        let command = ExecutorCommand::SetProvisioned {
            function_name: function_name.to_string(),
            targets,
        };
        let _ = self.commands.send(command).await;
    }

    /// How the provisioned instances of a function version stand.
    pub async fn provisioned_status(
        &self,
        function_name: &str,
        version: &str,
    ) -> ProvisionedStatus {
        let (reply, count) = oneshot::channel();
        let command = ExecutorCommand::ProvisionedReady {
            function_name: function_name.to_string(),
            version: version.to_string(),
            reply,
        };
        if self.commands.send(command).await.is_err() {
            return ProvisionedStatus::default();
        }
        count.await.unwrap_or_default()
    }

    /// Tells the executor a function is gone.
    pub async fn function_deleted(&self, name: &str) {
        let command = ExecutorCommand::FunctionDeleted {
            name: name.to_string(),
        };
        let _ = self.commands.send(command).await;
    }

    /// Finishes in-flight invocations and ends every instance.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(ExecutorCommand::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }
}
