//! Group commit: callers that arrive while a write is under way are written
//! together in the next one, each answered once its own item is committed.
//! Under load this turns a transaction per item into a transaction per
//! batch; alone, a caller waits for one write as before. A writer may also
//! linger: gather for a moment after the first item arrives, where a
//! caller's wait matters less than the transactions saved. The async queue
//! uses one for accepted invocations and a lingering one for what attempts
//! leave behind.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Items written in one transaction at most.
const MAX_BATCH: usize = 512;

/// Writes a batch (on a blocking thread) and gives one answer per item, in
/// order.
pub(crate) type WriteBatch<T, R> = Arc<dyn Fn(Vec<T>) -> Vec<R> + Send + Sync>;

type Pending<T, R> = (T, oneshot::Sender<R>);

/// The handle callers share; the writing task starts on first use, on the
/// runtime of that use.
pub(crate) struct GroupCommit<T, R> {
    write: WriteBatch<T, R>,
    linger: Duration,
    sender: OnceLock<mpsc::UnboundedSender<Pending<T, R>>>,
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Batches for `write`, each gathered for `linger` after its first item.
    pub(crate) fn new(write: WriteBatch<T, R>, linger: Duration) -> GroupCommit<T, R> {
        GroupCommit {
            write,
            linger,
            sender: OnceLock::new(),
        }
    }

    /// Writes `item` with whatever else is waiting; returns its answer once
    /// it is committed, or `None` when the writer has stopped (the runtime
    /// is shutting down, or a write panicked).
    pub(crate) async fn submit(&self, item: T) -> Option<R> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_batches(
                Arc::clone(&self.write),
                self.linger,
                receiver,
            ));
            sender
        });
        let (done, committed) = oneshot::channel();
        sender.send((item, done)).ok()?;
        committed.await.ok()
    }
}

impl<T, R> std::fmt::Debug for GroupCommit<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("started", &self.sender.get().is_some())
            .finish()
    }
}

async fn write_batches<T: Send + 'static, R: Send + 'static>(
    write: WriteBatch<T, R>,
    linger: Duration,
    mut receiver: mpsc::UnboundedReceiver<Pending<T, R>>,
) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if !linger.is_zero() && batch.len() < MAX_BATCH {
            tokio::time::sleep(linger).await;
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
        }
        let (items, answers): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
        let write = Arc::clone(&write);
        match tokio::task::spawn_blocking(move || write(items)).await {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            // The write panicked: its callers are answered `None` by
            // dropping their senders.
            Err(error) => tracing::error!(%error, "a group commit failed"),
        }
    }
}
