//! `rayo server`: the edge listener, the stores and the executor, wired.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::RngCore;
use rayo_api::{ApiState, CodeUrlSigner, QueueNotifier};
use rayo_blobs::{FsCodeStore, FsObjectBodies};
use rayo_core::Region;
use rayo_core::event_source::EventSourceMappingStore;
use rayo_core::invocation::AsyncRetryPolicy;
use rayo_core::queue::QueueStore;
use rayo_core::s3::{ObjectBodyStore, ObjectStore};
use rayo_core::store::{
    CodeStore, FunctionStore, HttpTriggerStore, InvocationQueue, LogStore, RuleStore,
};
use rayo_executor::{Executor, ExecutorConfig, FlushOptions, Metrics, SandboxMode, Zygotes};
use rayo_invoker::{
    AsyncDispatcher, AsyncOptions, Invoker, ScheduleOptions, Scheduler, SqsPoller, SqsPollerOptions,
};
use rayo_runtimes::{PythonFallback, RuntimeCatalog};
use rayo_state::SqliteState;
use tokio::signal::unix::{SignalKind, signal};

/// Options of `rayo server`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServerArgs {
    /// Address and port of the edge listener; port 0 picks a free port. The
    /// bound address is printed on stdout.
    #[arg(long, env = "RAYO_LISTEN", default_value = "127.0.0.1:4566")]
    listen: SocketAddr,

    /// Directory for all state: the database, code packages, logs.
    /// [default: $XDG_DATA_HOME/rayo, or ~/.local/share/rayo]
    #[arg(long, env = "RAYO_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Region that ARNs and functions' AWS_REGION name.
    #[arg(long, env = "RAYO_REGION", default_value = "us-east-1")]
    region: String,

    /// Twelve-digit account id that ARNs name.
    #[arg(long, env = "RAYO_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,

    /// Seconds an idle instance stays warm before it is ended.
    #[arg(long, env = "RAYO_IDLE_TIMEOUT", default_value_t = 300)]
    idle_timeout: u64,

    /// Concurrent executions allowed across all functions (the account
    /// concurrency limit). [default: one per 128 MB of the machine's memory,
    /// at most 1000]
    #[arg(long, env = "RAYO_CONCURRENCY_LIMIT")]
    concurrency_limit: Option<u32>,

    /// Seconds before the first retry of an asynchronous invocation whose
    /// function failed; the second retry waits twice as long. Lambda waits 60.
    #[arg(long, env = "RAYO_ASYNC_RETRY_DELAY", default_value_t = 60.0)]
    async_retry_delay: f64,

    /// Run instances as plain processes of this server's user, without
    /// namespaces, cgroups, seccomp or a separate user. Anything a function
    /// does, this user does. Every instance start logs a warning.
    #[arg(long, env = "RAYO_INSECURE_NO_SANDBOX")]
    insecure_no_sandbox: bool,

    /// Cap each instance's CPU in proportion to its memory once it has
    /// initialized (1,769 MB = one vCPU), as Lambda does. Without it, CPU is
    /// shared by weight (also proportional to memory) only when instances
    /// compete.
    #[arg(long, env = "RAYO_CPU_QUOTA")]
    cpu_quota: bool,

    /// Start every Python instance as its own interpreter instead of forking
    /// it, already sandboxed, from a pre-initialized one (a zygote per
    /// Python version). Cold starts are slower; for comparison.
    #[arg(long, env = "RAYO_NO_ZYGOTES")]
    no_zygotes: bool,

    /// What to do when a function asks for a Python version this host lacks:
    /// `refuse` (CreateFunction fails), `newest` (run it on the newest
    /// installed Python) or a version such as `3.11`. A substitution is
    /// written to the function's log at every cold start.
    #[arg(long, env = "RAYO_PYTHON_FALLBACK", default_value = "refuse")]
    python_fallback: PythonFallback,

    /// Access keys whose SigV4 signatures the S3 API and `AWS_IAM`
    /// function URLs verify, as ACCESS_KEY_ID:SECRET_ACCESS_KEY,
    /// comma-separated. The other APIs accept any key.
    #[arg(
        long,
        alias = "s3-credentials",
        env = "RAYO_CREDENTIALS",
        value_delimiter = ',',
        default_value = "test:test"
    )]
    credentials: Vec<String>,

    /// How long per-minute invocation metrics are kept (what the console
    /// charts and `/_rayo/console/api/metrics` serves), as a number with
    /// `m`, `h` or `d` (minutes, hours, days). The console's longest range
    /// is a day. Prometheus' counters at `/metrics` do not depend on it.
    #[arg(long, env = "RAYO_METRICS_RETENTION", default_value = "1d", value_parser = parse_retention)]
    metrics_retention: Duration,

    /// Access keys that can sign in to the web console (/_rayo/console/),
    /// as ACCESS_KEY_ID:SECRET_ACCESS_KEY[:read-only], comma-separated; a
    /// read-only key can look but not change anything. The console needs no
    /// sign-in while --listen is a loopback address.
    #[arg(
        long,
        env = "RAYO_CONSOLE_CREDENTIALS",
        value_delimiter = ',',
        default_value = "test:test"
    )]
    console_credentials: Vec<String>,

    /// For tests only: run the schedules' clock this many times faster than
    /// real time (at 60, `rate(1 minute)` fires every second). Event times
    /// then run ahead of the wall clock.
    #[arg(
        long,
        env = "RAYO_SCHEDULE_TIME_SCALE",
        default_value_t = 1.0,
        hide = true
    )]
    schedule_time_scale: f64,
}

pub(crate) async fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "--account-id must be twelve digits, got '{}'",
            args.account_id
        );
    }
    let region = Region {
        name: args.region,
        account_id: args.account_id,
    };

    let state = Arc::new(
        SqliteState::open(&data_dir.join("rayo.db")).context("opening the state database")?,
    );
    let functions: Arc<dyn FunctionStore> = state.clone();
    let logs: Arc<dyn LogStore> = state.clone();
    let code: Arc<dyn CodeStore> =
        Arc::new(FsCodeStore::open(data_dir.join("code")).context("opening the code store")?);
    // Nothing is uploading yet, so packages no function refers to can go.
    let referenced = functions.referenced_code()?;
    let removed = code.remove_unreferenced(&referenced)?;
    if removed > 0 {
        tracing::info!(removed, "removed unreferenced code packages");
    }

    let objects: Arc<dyn ObjectStore> = state.clone();
    let object_bodies: Arc<dyn ObjectBodyStore> = Arc::new(
        FsObjectBodies::open(data_dir.join("objects")).context("opening the object store")?,
    );
    // Nothing is writing yet, so bodies no object or part refers to (left by
    // a crash between a body's write and its row's commit) can go.
    let removed = object_bodies.remove_unreferenced(&objects.referenced_bodies()?)?;
    if removed > 0 {
        tracing::info!(removed, "removed unreferenced object bodies");
    }
    let credentials = rayo_core::Credentials::parse(args.credentials.iter().map(String::as_str))
        .map_err(|error| anyhow::anyhow!("--credentials: {error}"))?;
    let console_credentials = rayo_console::ConsoleCredentials::parse(
        args.console_credentials.iter().map(String::as_str),
    )
    .map_err(|error| anyhow::anyhow!("--console-credentials: {error}"))?;

    let catalog = Arc::new(
        RuntimeCatalog::discover(&data_dir.join("runtime"), args.python_fallback)
            .context("preparing the built-in runtimes")?,
    );
    for interpreter in catalog.interpreters() {
        tracing::info!(%interpreter, boto3 = interpreter.has_boto3, "python runtime available");
    }
    let without_boto3: Vec<_> = catalog
        .interpreters()
        .filter(|i| !i.has_boto3)
        .cloned()
        .collect();
    for interpreter in without_boto3 {
        // Lambda's Python runtimes ship boto3; add it where the host's lacks it.
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || match catalog.provision_boto3(&interpreter) {
            Ok(true) => tracing::info!(%interpreter, "installed boto3 for python functions"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%interpreter, %error, "boto3 is not available to python functions")
            }
        });
    }
    if catalog.interpreters().next().is_none() {
        tracing::warn!("no Python 3 interpreter found on PATH: python functions cannot run");
    }
    let sandbox = sandbox_mode(args.insecure_no_sandbox);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let bound = listener.local_addr()?;
    let endpoint_host = if bound.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), bound.port())
    } else {
        bound
    };
    let endpoint_url = format!("http://{endpoint_host}");

    let instances_dir = data_dir.join("instances");
    let _ = std::fs::remove_dir_all(&instances_dir);
    std::fs::create_dir_all(&instances_dir)?;
    let account_concurrency = args
        .concurrency_limit
        .unwrap_or_else(default_concurrency_limit);
    let metrics = Metrics::new(state.clone());
    let metrics_flusher = metrics.start_flusher(FlushOptions {
        flush_interval: METRICS_FLUSH_INTERVAL,
        retention: args.metrics_retention,
        prune_interval: METRICS_PRUNE_INTERVAL,
    });
    let executor = Executor::start(ExecutorConfig {
        account_concurrency,
        region: region.clone(),
        endpoint_url: endpoint_url.clone(),
        access_key_id: "test".to_string(),
        secret_access_key: "test".to_string(),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        init_timeout: Duration::from_secs(10),
        instances_dir,
        catalog: catalog.clone(),
        code_store: code.clone(),
        log_store: logs.clone(),
        sandbox,
        cpu_quota: args.cpu_quota,
        zygotes: if args.no_zygotes {
            Zygotes::disabled()
        } else {
            Zygotes::enabled()
        },
        metrics,
    });
    let total_reserved: u32 = functions
        .list_functions(None, usize::MAX)?
        .iter()
        .filter_map(|r| r.reserved_concurrency)
        .sum();
    executor.set_total_reserved(total_reserved).await;
    let queue: Arc<dyn InvocationQueue> = state.clone();
    let queues: Arc<dyn QueueStore> = state.clone();
    let queue_notifier = QueueNotifier::default();
    let invoker = Invoker::new(
        functions.clone(),
        executor.clone(),
        region.clone(),
        queue,
        queues.clone(),
        queue_notifier.clone(),
    );
    let dispatcher = AsyncDispatcher::start(
        invoker.clone(),
        AsyncOptions {
            policy: AsyncRetryPolicy {
                function_error_base_delay: Duration::from_secs_f64(args.async_retry_delay.max(0.0)),
                ..AsyncRetryPolicy::default()
            },
            max_in_flight: account_concurrency as usize,
        },
    )
    .context("starting the asynchronous invocation dispatcher")?;
    if !(args.schedule_time_scale.is_finite() && args.schedule_time_scale > 0.0) {
        bail!(
            "--schedule-time-scale must be a positive number, got {}",
            args.schedule_time_scale
        );
    }
    if args.schedule_time_scale != 1.0 {
        tracing::warn!(
            scale = args.schedule_time_scale,
            "schedules run on a sped-up clock (--schedule-time-scale is for tests)"
        );
    }
    let rules: Arc<dyn RuleStore> = state.clone();
    let rules_changed = Arc::new(tokio::sync::Notify::new());
    let scheduler = Scheduler::start(
        invoker.clone(),
        rules.clone(),
        rules_changed.clone(),
        ScheduleOptions {
            time_scale: args.schedule_time_scale,
        },
    );
    let event_source_mappings: Arc<dyn EventSourceMappingStore> = state.clone();
    let mappings_changed = Arc::new(tokio::sync::Notify::new());
    let sqs_poller = SqsPoller::start(
        invoker.clone(),
        event_source_mappings.clone(),
        mappings_changed.clone(),
        SqsPollerOptions {
            account_concurrency,
        },
    );
    let http_triggers: Arc<dyn HttpTriggerStore> = state.clone();
    let gateway = rayo_gateway::Gateway::new(
        http_triggers.clone(),
        invoker.clone(),
        region.clone(),
        bound.port(),
        credentials.clone(),
    );
    let s3 = rayo_s3::S3Endpoint::new(rayo_s3::S3Config {
        region: region.clone(),
        objects: objects.clone(),
        bodies: object_bodies.clone(),
        invoker: invoker.clone(),
        credentials,
    });
    let runtimes: Vec<String> = catalog
        .interpreters()
        .map(|interpreter| format!("python3.{}", interpreter.minor))
        .collect();
    let test_events: Arc<dyn rayo_core::test_event::TestEventStore> = state.clone();
    let api_state = ApiState {
        region,
        functions,
        code,
        layers: state.clone(),
        logs,
        invoker,
        catalog,
        code_urls: CodeUrlSigner::new(server_key(&data_dir)?),
        account_concurrency,
        rules,
        rules_changed,
        queues,
        queue_notifier: queue_notifier.clone(),
        event_source_mappings,
        mappings_changed,
        http_triggers,
        gateway,
        objects,
        object_bodies,
        s3,
    };
    // Provisioned instances start now, not at the first invocation.
    if let Err(error) = rayo_api::restore_provisioned_concurrency(&api_state).await {
        tracing::warn!(error = %error.message, "could not restore provisioned concurrency");
    }
    // The peer address is an HTTP trigger event's `sourceIp`.
    let (console_objects, console_functions, console_region) = (
        api_state.objects.clone(),
        api_state.functions.clone(),
        api_state.region.clone(),
    );
    let console = rayo_console::router(rayo_console::ConsoleConfig {
        // On a loopback address only this machine's users reach the
        // console; anywhere else it asks for an access key.
        open: bound.ip().is_loopback(),
        credentials: console_credentials,
        test_events,
        runtimes,
        api: rayo_api::router(api_state.clone()),
        metrics: Some(rayo_api::console_metrics_router(api_state.clone())),
        objects: console_objects,
        functions: console_functions,
        region: console_region,
    });
    let app = rayo_api::router_with_console(api_state, console)
        .into_make_service_with_connect_info::<SocketAddr>();

    // Tests and scripts read this line to find the server.
    println!("rayo listening on {endpoint_url}");
    tracing::info!(data_dir = %data_dir.display(), "rayo server ready");

    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Long polls answer at once rather than hold up the shutdown.
            queue_notifier.close();
        })
        .await
        .context("serving")?;
    tracing::info!("in-flight requests finished; finishing running asynchronous invocations");
    scheduler.shutdown().await;
    sqs_poller.shutdown().await;
    dispatcher.shutdown().await;
    executor.shutdown().await;
    metrics_flusher.shutdown().await;
    tracing::info!("rayo server stopped");
    Ok(ExitCode::SUCCESS)
}

/// How often invocation metrics gathered in memory are written.
const METRICS_FLUSH_INTERVAL: Duration = Duration::from_secs(10);
/// How often metrics past their retention are removed.
const METRICS_PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// `--metrics-retention`: minutes, hours or days, at least a minute.
fn parse_retention(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!("expected a number of minutes, hours or days such as 90m, 36h or 7d, got '{text}'")
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    if number == 0 {
        return Err(format!("must be at least a minute, got '{text}'"));
    }
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(invalid)
}

async fn shutdown_signal() {
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: no new connections; finishing in-flight invocations");
}

/// Checks that this host can sandbox instances, and says what it found.
fn sandbox_mode(insecure_no_sandbox: bool) -> SandboxMode {
    if insecure_no_sandbox {
        tracing::warn!(
            "--insecure-no-sandbox: instances run as plain processes of this server's user, with no isolation from it or from each other"
        );
        return SandboxMode::Disabled;
    }
    let config = rayo_sandbox::SandboxConfig::default();
    match rayo_sandbox::probe(&config) {
        Ok(support) => {
            let removed = support
                .cgroups()
                .remove_stale(&config.cgroup_parent, Duration::from_secs(60));
            if removed > 0 {
                tracing::info!(removed, "removed cgroups left by an earlier run");
            }
            tracing::info!(sandbox = %support.summary(), "instances are sandboxed");
            for weakness in support.weaknesses() {
                tracing::warn!(%weakness, "sandbox weaker than it could be");
            }
            SandboxMode::Sandboxed(Arc::new(support))
        }
        Err(missing) => {
            let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
            let reason = format!(
                "this host cannot sandbox function instances, so rayo will not start them: {}. Fix these, or start rayo with --insecure-no-sandbox to run instances unisolated",
                missing.join("; ")
            );
            tracing::error!("{reason}");
            SandboxMode::Unavailable(Arc::from(reason))
        }
    }
}

/// One concurrent execution per 128 MB (Lambda's smallest function) of the
/// machine's memory, between 10 and Lambda's default account limit of 1,000.
fn default_concurrency_limit() -> u32 {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(4 * 1024 * 1024);
    ((total_kib / (128 * 1024)) as u32).clamp(10, 1000)
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("rayo"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither --data-dir, RAYO_DATA_DIR, XDG_DATA_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/rayo"))
}

/// The secret that signs download links, created on first start.
fn server_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("server.key");
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) | Err(_) => {}
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, &key)?;
    Ok(key)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAYO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention() {
        fn check(text: &str, expected: Option<u64>) {
            assert_eq!(
                parse_retention(text).ok().map(|d| d.as_secs()),
                expected,
                "{text}"
            );
        }
        check("1d", Some(86_400));
        check("36h", Some(129_600));
        check("90m", Some(5_400));
        check("0d", None);
        check("d", None);
        check("", None);
        check("7", None);
        check("1w", None);
        check("-1d", None);
        check("99999999999999999d", None);
    }
}
