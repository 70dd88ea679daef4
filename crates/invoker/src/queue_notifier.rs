//! Wakes whoever waits on a queue: an SQS `ReceiveMessage` long poll, or an
//! event source mapping's poller, is woken when a message is sent to the
//! queue (or becomes visible by a visibility change), so it receives as soon
//! as there is something to receive. The SQS API and the invoker (pollers,
//! queue destinations) share one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, watch};

/// Per-queue wake-ups for long polls and pollers, and the server's shutdown, which ends
/// every long poll at once. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct QueueNotifier {
    queues: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    closing: Arc<watch::Sender<bool>>,
}

impl Default for QueueNotifier {
    fn default() -> QueueNotifier {
        QueueNotifier {
            queues: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
        }
    }
}

impl QueueNotifier {
    /// A future that completes at the next [`QueueNotifier::notify`] of
    /// `queue_name`. Enable it (`Pin::as_mut().enable()`) before looking at
    /// the queue, so a message sent in between is not missed.
    pub fn notified(&self, queue_name: &str) -> OwnedNotified {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(queue_name.to_string())
            .or_default()
            .clone()
            .notified_owned()
    }

    /// Wakes every long poll of `queue_name`.
    pub fn notify(&self, queue_name: &str) {
        let notify = self
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(queue_name)
            .cloned();
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Forgets a deleted queue.
    pub fn forget(&self, queue_name: &str) {
        let removed = self
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(queue_name);
        if let Some(notify) = removed {
            notify.notify_waiters();
        }
    }

    /// Ends every long poll, now and from now on: they answer with what
    /// they have. For shutdown, so that waiting clients do not hold it up.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`QueueNotifier::close`] has been called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        // An error means the sender is gone, which cannot happen while
        // `self` holds it; either way there is nothing left to wait for.
        let _ = closing.wait_for(|closed| *closed).await;
    }

    /// Whether [`QueueNotifier::close`] has been called.
    pub fn is_closed(&self) -> bool {
        *self.closing.borrow()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_notification_after_enabling_is_not_missed() {
        let notifier = QueueNotifier::default();
        let notified = notifier.notified("q");
        tokio::pin!(notified);
        notified.as_mut().enable();
        notifier.notify("other");
        notifier.notify("q");
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .expect("woken");
    }

    #[tokio::test]
    async fn close_ends_waits() {
        let notifier = QueueNotifier::default();
        assert!(!notifier.is_closed());
        let waiting = tokio::spawn({
            let notifier = notifier.clone();
            async move { notifier.closed().await }
        });
        notifier.close();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("ended")
            .unwrap();
        assert!(notifier.is_closed());
        notifier.closed().await;
    }
}
