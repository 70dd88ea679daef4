//! The invoker decides what an invocation runs: it resolves the function and
//! qualifier to a configuration and hands the invocation to the executor.
//! Asynchronous queues, retries, destinations, schedules and event-source
//! pollers build on [`Invoker::invoke`].

#![forbid(unsafe_code)]

mod dispatcher;
mod group_commit;
mod handoff;
mod queue_notifier;
mod queue_targets;
mod scheduler;
mod sqs_poller;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use group_commit::GroupCommit;
use handoff::Handoff;
use rayo_core::invocation::{AsyncCompletion, AsyncInvocation};
use rayo_core::queue::{QueueStore, SentMessage};
use rayo_core::store::{AsyncQueueCounts, FunctionStore, InvocationQueue, StoreError};
use tokio::sync::Notify;

pub use dispatcher::{AsyncDispatcher, AsyncOptions};
pub use queue_notifier::QueueNotifier;
use rayo_core::version::is_version_number;
use rayo_core::{FunctionConfig, FunctionRecord, FunctionRef, LATEST, Region};
use rayo_executor::{Executor, ExecutorError, InvocationOutcome, InvocationRequest, ScaleOut};
pub use scheduler::{ScheduleOptions, Scheduler};
pub use sqs_poller::{SqsPoller, SqsPollerOptions};
use thiserror::Error;

/// One synchronous invocation as a caller asks for it.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The function and optional qualifier.
    pub function: FunctionRef,
    /// The event, JSON.
    pub payload: Bytes,
    /// The client context, decoded: a JSON document.
    pub client_context: Option<String>,
    /// The request id to use; a new UUID when `None`.
    pub request_id: Option<String>,
}

/// Why an invocation could not run.
#[derive(Debug, Error)]
pub enum InvokeError {
    /// The function or qualifier does not exist.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The executor could not run it.
    #[error(transparent)]
    Executor(#[from] ExecutorError),
}

/// What writing one completion gave: for each of its messages, what was
/// sent, or `None` when its queue was gone.
type Completed = Result<Vec<Option<SentMessage>>, StoreError>;

/// The answer to a caller whose batch writer has stopped.
fn writer_stopped() -> StoreError {
    StoreError::Backend("the asynchronous queue writer has stopped".to_string())
}

/// Resolves and runs invocations.
#[derive(Debug, Clone)]
pub struct Invoker {
    functions: Arc<dyn FunctionStore>,
    executor: Executor,
    region: Region,
    queue: Arc<dyn InvocationQueue>,
    /// Writes accepted invocations to `queue` in batches, handing those the
    /// dispatcher can run at once straight to it.
    accepted: Arc<GroupCommit<AsyncInvocation, Result<(), StoreError>>>,
    /// Writes what attempts leave behind to `queue` in batches.
    completions: Arc<GroupCommit<AsyncCompletion, Completed>>,
    handoff: Arc<Handoff>,
    /// Wakes the dispatcher when invocations wait in `queue`.
    queue_changed: Arc<Notify>,
    /// SQS queues: event sources, destinations and dead-letter queues.
    queues: Arc<dyn QueueStore>,
    queue_notifier: QueueNotifier,
}

impl Invoker {
    /// An invoker over these functions, this executor and this durable
    /// queue; `queues` are the SQS queues that event source mappings poll
    /// and destinations and dead-letter queues receive, and
    /// `queue_notifier` wakes whoever waits on one of them.
    pub fn new(
        functions: Arc<dyn FunctionStore>,
        executor: Executor,
        region: Region,
        queue: Arc<dyn InvocationQueue>,
        queues: Arc<dyn QueueStore>,
        queue_notifier: QueueNotifier,
    ) -> Invoker {
        let handoff = Arc::new(Handoff::default());
        let queue_changed = Arc::new(Notify::new());
        Invoker {
            functions,
            executor,
            region,
            accepted: Arc::new(GroupCommit::new(
                "rayo-accept-writer",
                dispatcher::accept_writer(
                    Arc::clone(&queue),
                    Arc::clone(&handoff),
                    Arc::clone(&queue_changed),
                ),
                Duration::ZERO,
            )),
            completions: Arc::new(GroupCommit::new(
                "rayo-completion-writer",
                dispatcher::completion_writer(Arc::clone(&queue), queue_notifier.clone()),
                dispatcher::COMPLETION_LINGER,
            )),
            handoff,
            queue,
            queue_changed,
            queues,
            queue_notifier,
        }
    }

    /// Accepts an asynchronous invocation: it is in the durable queue when
    /// this returns, and runs (at least once) after. Returns its request id.
    pub async fn invoke_async(&self, request: InvokeRequest) -> Result<String, InvokeError> {
        let (record, _) = self.resolve(&request.function)?;
        // Time-ordered ids: the queue's index on them grows at its end, so a
        // batch of fresh invocations touches a page or two of it rather than
        // a page per row.
        let request_id = request
            .request_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let now_ms = dispatcher::now_ms();
        let invocation = AsyncInvocation {
            request_id: request_id.clone(),
            function_name: record.config.name,
            qualifier: request.function.qualifier,
            payload: request.payload.to_vec(),
            enqueued_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
        };
        self.accepted
            .submit(invocation)
            .await
            .unwrap_or_else(|| Err(writer_stopped()))?;
        Ok(request_id)
    }

    /// Wakes the dispatcher after invocations were written to the durable
    /// queue by another store's transaction (a bucket notification committed
    /// with its object).
    pub fn async_enqueued(&self) {
        self.handoff.close();
        self.queue_changed.notify_one();
    }

    /// Finds the function record and configuration an invocation of
    /// `function` runs: `$LATEST`, a published version, or the version an
    /// alias points at (for a weighted alias, one drawn by its weights).
    pub fn resolve(
        &self,
        function: &FunctionRef,
    ) -> Result<(FunctionRecord, FunctionConfig), InvokeError> {
        let not_found = || {
            let arn = match &function.qualifier {
                Some(q) => self.region.qualified_function_arn(&function.name, q),
                None => self.region.function_arn(&function.name),
            };
            InvokeError::FunctionNotFound(arn)
        };
        let record = self
            .functions
            .get_function(&function.name)?
            .ok_or_else(not_found)?;
        let version = match function.qualifier.as_deref() {
            None | Some(LATEST) => None,
            Some(version) if is_version_number(version) => Some(version.to_string()),
            Some(alias) => {
                let alias = self
                    .functions
                    .get_alias(&function.name, alias)?
                    .ok_or_else(not_found)?;
                let roll = rand::random::<f64>();
                Some(alias.pick_version(roll).to_string()).filter(|v| v != LATEST)
            }
        };
        let config = match version {
            None => record.config.clone(),
            Some(version) => self
                .functions
                .get_version(&function.name, &version)?
                .ok_or_else(not_found)?,
        };
        Ok((record, config))
    }

    /// Runs a synchronous invocation and waits for its outcome.
    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvocationOutcome, InvokeError> {
        let (record, config) = self.resolve(&request.function)?;
        self.invoke_resolved(&record, config, request, ScaleOut::Immediate)
            .await
    }

    /// Runs an invocation taken from a queue, which waits for a busy
    /// instance rather than start a new one at once ([`ScaleOut::Paced`]).
    pub(crate) async fn invoke_queued(
        &self,
        request: InvokeRequest,
    ) -> Result<InvocationOutcome, InvokeError> {
        let (record, config) = self.resolve(&request.function)?;
        self.invoke_resolved(&record, config, request, ScaleOut::Paced)
            .await
    }

    /// Runs an invocation of what [`Invoker::resolve`] found.
    pub(crate) async fn invoke_resolved(
        &self,
        record: &FunctionRecord,
        config: FunctionConfig,
        request: InvokeRequest,
        scale_out: ScaleOut,
    ) -> Result<InvocationOutcome, InvokeError> {
        let invoked_function_arn = match &request.function.qualifier {
            Some(q) => self.region.qualified_function_arn(&config.name, q),
            None => self.region.function_arn(&config.name),
        };
        let request = InvocationRequest {
            function: config,
            invoked_function_arn,
            request_id: request
                .request_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            payload: request.payload,
            client_context: request.client_context,
            cognito_identity: None,
            trace_id: None,
            reserved_concurrency: record.reserved_concurrency,
            scale_out,
        };
        Ok(self.executor.invoke(request).await?)
    }

    /// How many asynchronous invocations wait, run and wait for a retry.
    pub fn async_queue_counts(&self) -> Result<AsyncQueueCounts, InvokeError> {
        Ok(self.queue.counts(dispatcher::now_ms())?)
    }

    /// The executor behind this invoker.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }
}
