//! Group commit for accepted asynchronous invocations: callers that arrive
//! while a write is under way are written together in the next one, each
//! answered once its own invocation is committed. Under load this turns a
//! transaction per invocation into a transaction per batch; alone, a caller
//! waits for one write as before.

use std::sync::{Arc, OnceLock};

use rayo_core::invocation::AsyncInvocation;
use rayo_core::store::{InvocationQueue, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Invocations written in one transaction at most.
const MAX_BATCH: usize = 512;

type Pending = (AsyncInvocation, oneshot::Sender<Result<(), StoreError>>);

/// The handle callers share; the writing task starts on first use, on the
/// runtime of that use.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    queue: Arc<dyn InvocationQueue>,
    sender: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl GroupCommit {
    pub(crate) fn new(queue: Arc<dyn InvocationQueue>) -> GroupCommit {
        GroupCommit {
            queue,
            sender: OnceLock::new(),
        }
    }

    /// Adds `invocation` to the durable queue; returns once it is committed.
    pub(crate) async fn enqueue(&self, invocation: AsyncInvocation) -> Result<(), StoreError> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_batches(Arc::clone(&self.queue), receiver));
            sender
        });
        let (done, committed) = oneshot::channel();
        if sender.send((invocation, done)).is_err() {
            return Err(StoreError::Backend(
                "the asynchronous queue writer has stopped".to_string(),
            ));
        }
        committed.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the asynchronous queue writer has stopped".to_string(),
            ))
        })
    }
}

async fn write_batches(
    queue: Arc<dyn InvocationQueue>,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (invocations, answers): (Vec<_>, Vec<_>) =
            std::mem::take(&mut batch).into_iter().unzip();
        let queue = Arc::clone(&queue);
        let results = tokio::task::spawn_blocking(move || queue.enqueue_all(&invocations))
            .await
            .unwrap_or_else(|error| {
                let failed = format!("writing the asynchronous queue: {error}");
                answers
                    .iter()
                    .map(|_| Err(StoreError::Backend(failed.clone())))
                    .collect()
            });
        for (answer, result) in answers.into_iter().zip(results) {
            let _ = answer.send(result);
        }
    }
}
