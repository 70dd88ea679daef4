//! Group commit: callers that arrive while a write is under way are written
//! together in the next one, each answered once its own item is committed.
//! Under load this turns a transaction per item into a transaction per
//! batch; alone, a caller waits for one write as before. A writer may also
//! linger: gather for a moment after the first item arrives, where a
//! caller's wait matters less than the transactions saved. The async queue
//! uses one for accepted invocations and a lingering one for what attempts
//! leave behind.
//!
//! Each writer is a thread of its own, which callers hand items to and
//! which answers them directly: a caller's wait is one wake-up of the
//! writer and one of the caller, with no task or blocking-pool hop between.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Items written in one transaction at most.
const MAX_BATCH: usize = 512;

/// Writes a batch (on the writer's thread) and gives one answer per item,
/// in order.
pub(crate) type WriteBatch<T, R> = Arc<dyn Fn(Vec<T>) -> Vec<R> + Send + Sync>;

type Pending<T, R> = (T, oneshot::Sender<R>);

/// The handle callers share; the writer's thread starts on first use and
/// ends once every handle is gone.
pub(crate) struct GroupCommit<T, R> {
    name: &'static str,
    write: WriteBatch<T, R>,
    linger: Duration,
    sender: OnceLock<mpsc::UnboundedSender<Pending<T, R>>>,
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Batches for `write` on a thread called `name`, each gathered for
    /// `linger` after its first item.
    pub(crate) fn new(
        name: &'static str,
        write: WriteBatch<T, R>,
        linger: Duration,
    ) -> GroupCommit<T, R> {
        GroupCommit {
            name,
            write,
            linger,
            sender: OnceLock::new(),
        }
    }

    /// Writes `item` with whatever else is waiting; returns its answer once
    /// it is committed, or `None` when the writer has stopped (its thread
    /// could not start).
    pub(crate) async fn submit(&self, item: T) -> Option<R> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let write = Arc::clone(&self.write);
            let linger = self.linger;
            let started = std::thread::Builder::new()
                .name(self.name.to_string())
                .spawn(move || write_batches(&write, linger, receiver));
            if let Err(error) = started {
                // The receiver is gone with the closure: every send fails.
                tracing::error!(%error, writer = self.name, "could not start a group commit writer");
            }
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
            .field("name", &self.name)
            .field("started", &self.sender.get().is_some())
            .finish()
    }
}

fn write_batches<T, R>(
    write: &WriteBatch<T, R>,
    linger: Duration,
    mut receiver: mpsc::UnboundedReceiver<Pending<T, R>>,
) {
    while let Some(first) = receiver.blocking_recv() {
        let mut batch = vec![first];
        if !linger.is_zero() {
            std::thread::sleep(linger);
        }
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let (items, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match std::panic::catch_unwind(AssertUnwindSafe(|| write(items))) {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            // The write panicked: its callers are answered `None` by
            // dropping their senders, and the writer goes on.
            Err(_) => tracing::error!("a group commit failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_arriving_together_share_a_write_and_a_panic_fails_only_its_batch() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let write: WriteBatch<u32, u32> = Arc::new(move |items: Vec<u32>| {
            assert!(!items.contains(&13), "unlucky");
            seen.lock().expect("batches").push(items.len());
            items.iter().map(|n| n * 2).collect()
        });
        let commit = Arc::new(GroupCommit::new(
            "test-writer",
            write,
            Duration::from_millis(20),
        ));
        let calls: Vec<_> = (0..10)
            .map(|n| {
                let commit = Arc::clone(&commit);
                tokio::spawn(async move { commit.submit(n).await })
            })
            .collect();
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.expect("task"), Some(2 * n as u32));
        }
        // Ten callers within the linger: far fewer writes than items.
        let written = batches.lock().expect("batches").clone();
        assert_eq!(written.iter().sum::<usize>(), 10);
        assert!(written.len() < 10, "{written:?}");
        // A write that panics answers its callers `None`; the next succeeds.
        assert_eq!(commit.submit(13).await, None);
        assert_eq!(commit.submit(4).await, Some(8));
    }
}
