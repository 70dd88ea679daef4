//! Hands freshly accepted asynchronous invocations straight to the
//! dispatcher. When the dispatcher has free slots and the durable queue has
//! nothing due that is older, the accept writer adds invocations to SQLite
//! already claimed (leased, as a claim leaves them) and passes them to the
//! dispatcher in memory, each with the slot it runs in: no claim reads them
//! back. They are committed before they are handed over and before their
//! 202, and a restart releases their leases like any other claim's.
//!
//! The gate keeps the queue's order: it is open only while the dispatcher
//! knows the queue holds nothing due (its last claim took less than it
//! asked for), until the queue's next due time. Whoever adds invocations
//! that wait in the queue (more than the free slots, a bucket
//! notification) closes it, and only a claim that began after that opens
//! it again.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayo_core::invocation::AsyncInvocation;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// An invocation handed over, with the dispatcher's slot it runs in.
pub(crate) type Handed = (AsyncInvocation, OwnedSemaphorePermit);

/// The accept writer's and the dispatcher's shared view of the queue.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// Set when the dispatcher starts.
    dispatcher: OnceLock<DispatcherSide>,
    gate: Mutex<Gate>,
}

#[derive(Debug)]
struct DispatcherSide {
    slots: Arc<Semaphore>,
    sender: mpsc::UnboundedSender<Vec<Handed>>,
}

#[derive(Debug)]
struct Gate {
    /// Handing over is allowed before this time (ms since the epoch): when
    /// the queue's next invocation is due. Closed at `i64::MIN`.
    open_until_ms: i64,
    /// Moves on whenever the gate closes.
    generation: u64,
}

impl Handoff {
    /// Connects the dispatcher: its slots, and where handed invocations go.
    /// The gate stays closed until the dispatcher's first claim.
    pub(crate) fn connect(&self, slots: Arc<Semaphore>) -> mpsc::UnboundedReceiver<Vec<Handed>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = self.dispatcher.set(DispatcherSide { slots, sender });
        receiver
    }

    /// Takes up to `wanted` free slots for invocations about to be added,
    /// if the gate is open at `now_ms`.
    pub(crate) fn take_slots(&self, wanted: usize, now_ms: i64) -> Vec<OwnedSemaphorePermit> {
        let Some(dispatcher) = self.dispatcher.get() else {
            return Vec::new();
        };
        if self.lock().open_until_ms <= now_ms {
            return Vec::new();
        }
        (0..wanted)
            .map_while(|_| Arc::clone(&dispatcher.slots).try_acquire_owned().ok())
            .collect()
    }

    /// Hands committed, claimed invocations to the dispatcher; gives back
    /// those it can no longer take (it has stopped).
    pub(crate) fn hand(&self, handed: Vec<Handed>) -> Vec<AsyncInvocation> {
        if handed.is_empty() {
            return Vec::new();
        }
        let Some(dispatcher) = self.dispatcher.get() else {
            return handed
                .into_iter()
                .map(|(invocation, _)| invocation)
                .collect();
        };
        match dispatcher.sender.send(handed) {
            Ok(()) => Vec::new(),
            Err(mpsc::error::SendError(handed)) => handed
                .into_iter()
                .map(|(invocation, _)| invocation)
                .collect(),
        }
    }

    /// Invocations now wait in the queue: hand nothing over until the
    /// dispatcher has claimed again.
    pub(crate) fn close(&self) {
        let mut gate = self.lock();
        gate.open_until_ms = i64::MIN;
        gate.generation += 1;
    }

    /// Nothing is handed over from `at_ms` on (an invocation comes due then).
    pub(crate) fn close_at(&self, at_ms: i64) {
        let mut gate = self.lock();
        gate.open_until_ms = gate.open_until_ms.min(at_ms);
    }

    /// The gate's generation, read before a claim.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Opens the gate until `until_ms` after a claim that left nothing due,
    /// unless it closed since `generation` was read.
    pub(crate) fn open(&self, generation: u64, until_ms: i64) {
        let mut gate = self.lock();
        if gate.generation == generation {
            gate.open_until_ms = until_ms;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            open_until_ms: i64::MIN,
            generation: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(id: &str) -> AsyncInvocation {
        AsyncInvocation {
            request_id: id.to_string(),
            function_name: "f".to_string(),
            qualifier: None,
            payload: b"{}".to_vec(),
            enqueued_ms: 0,
            attempts: 0,
            next_attempt_ms: 0,
        }
    }

    #[test]
    fn nothing_is_handed_over_before_the_dispatcher_opens_the_gate() {
        let handoff = Handoff::default();
        assert!(handoff.take_slots(4, 0).is_empty());
        let slots = Arc::new(Semaphore::new(3));
        let _receiver = handoff.connect(Arc::clone(&slots));
        assert!(handoff.take_slots(4, 0).is_empty());
        handoff.open(handoff.generation(), 100);
        // As many as are free, until the queue's next due time.
        assert_eq!(handoff.take_slots(4, 99).len(), 3);
        assert_eq!(slots.available_permits(), 3);
        assert!(handoff.take_slots(4, 100).is_empty());
    }

    #[test]
    fn a_claim_that_began_before_invocations_waited_does_not_open_the_gate() {
        let handoff = Handoff::default();
        let _receiver = handoff.connect(Arc::new(Semaphore::new(3)));
        let before_claim = handoff.generation();
        handoff.close();
        handoff.open(before_claim, i64::MAX);
        assert!(handoff.take_slots(1, 0).is_empty());
        handoff.open(handoff.generation(), i64::MAX);
        assert_eq!(handoff.take_slots(1, 0).len(), 1);
        // A retry due at 50 closes it then.
        handoff.close_at(50);
        assert_eq!(handoff.take_slots(1, 49).len(), 1);
        assert!(handoff.take_slots(1, 50).is_empty());
    }

    #[tokio::test]
    async fn handed_invocations_reach_the_dispatcher_or_come_back() {
        let handoff = Handoff::default();
        let slots = Arc::new(Semaphore::new(2));
        let mut receiver = handoff.connect(Arc::clone(&slots));
        handoff.open(handoff.generation(), i64::MAX);
        let mut taken = handoff.take_slots(2, 0);
        let handed = vec![(invocation("a"), taken.pop().unwrap())];
        assert!(handoff.hand(handed).is_empty());
        let got = receiver.recv().await.unwrap();
        assert_eq!(got[0].0.request_id, "a");
        drop(receiver);
        let back = handoff.hand(vec![(invocation("b"), taken.pop().unwrap())]);
        assert_eq!(back, [invocation("b")]);
        // The slot of what came back is free again.
        drop(got);
        assert_eq!(slots.available_permits(), 2);
    }
}
