//! The log writer: a thread that takes appended log events off the callers'
//! hands and commits them in batches, one transaction for everything that
//! arrived while the previous batch was being written.
//!
//! Appending never waits for SQLite (only, under a flood of output, for room
//! in the channel); reading waits for the writer to catch up first, so a
//! reader sees every event appended before its read began. Between reads,
//! the writer gathers what arrives for a few milliseconds ([`LINGER`]) before
//! committing it, asleep meanwhile: an append does not wake it.

use std::sync::mpsc::{self, Receiver, RecvError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rayo_core::logs::LogEvent;
use rusqlite::Connection;

use crate::db::WriteTransaction;
use crate::logs::append_events;

/// Appends waiting in the channel before appending blocks: a bound on the
/// memory a flood of output can hold, and the writer's back-pressure.
const CHANNEL_CAPACITY: usize = 1024;

/// Appends committed in one transaction at most, so one batch never holds
/// the database for long.
const MAX_BATCH: usize = 4096;

/// How long the writer gathers appends before committing them, unless a
/// reader is waiting: the most output a SIGKILL can lose.
const LINGER: Duration = Duration::from_millis(10);

enum Command {
    Append {
        group: String,
        stream: String,
        events: Vec<LogEvent>,
        ingestion_ms: i64,
    },
    /// Answered once every append sent before it is committed.
    Sync(SyncSender<()>),
}

/// The handle to the writer thread; dropping it writes what is pending and
/// ends the thread.
#[derive(Debug)]
pub(crate) struct LogWriter {
    sender: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Append { group, stream, .. } => {
                write!(f, "Append({group}, {stream})")
            }
            Command::Sync(_) => f.write_str("Sync"),
        }
    }
}

impl LogWriter {
    pub(crate) fn start(connection: Arc<Mutex<Connection>>) -> LogWriter {
        let (sender, receiver) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("rayo-log-writer".to_string())
            .spawn(move || run(&connection, &receiver))
            .expect("spawning the log writer thread");
        LogWriter {
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Queues events for the next batch.
    pub(crate) fn append(&self, group: &str, stream: &str, events: Vec<LogEvent>, now_ms: i64) {
        self.send(Command::Append {
            group: group.to_string(),
            stream: stream.to_string(),
            events,
            ingestion_ms: now_ms,
        });
    }

    /// Waits until everything appended so far is committed.
    pub(crate) fn sync(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        self.send(Command::Sync(done));
        // The writer may be lingering: a reader cuts that short.
        self.wake();
        let _ = wait.recv();
    }

    fn send(&self, command: Command) {
        let Some(sender) = &self.sender else { return };
        let sent = match sender.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => {
                // The writer is lingering with a full channel: let it write.
                self.wake();
                sender.send(command).map_err(|_| ())
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            tracing::error!("the log writer has stopped; log events are dropped");
        }
    }

    fn wake(&self) {
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn run(connection: &Mutex<Connection>, receiver: &Receiver<Command>) {
    let mut batch = Vec::new();
    let mut syncs = Vec::new();
    loop {
        match receiver.recv() {
            Ok(command) => take(command, &mut batch, &mut syncs),
            Err(RecvError) => return,
        }
        // Gather for up to LINGER unless a reader waits: each commit
        // rewrites the tails of the table and its indexes, so fewer, larger
        // commits write far fewer pages under a steady stream of output.
        // The writer sleeps meanwhile rather than waking for every append
        // (a reader, or a full channel, wakes it early), then takes what
        // arrived.
        let deadline = Instant::now() + LINGER;
        let mut disconnected = false;
        loop {
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => take(command, &mut batch, &mut syncs),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if disconnected || !syncs.is_empty() || batch.len() >= MAX_BATCH {
                break;
            }
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                _ => break,
            }
        }
        if !batch.is_empty() {
            write(connection, std::mem::take(&mut batch));
        }
        for sync in syncs.drain(..) {
            let _ = sync.send(());
        }
        if disconnected {
            return;
        }
    }
}

fn take(command: Command, batch: &mut Vec<Command>, syncs: &mut Vec<SyncSender<()>>) {
    match command {
        Command::Sync(done) => syncs.push(done),
        append => batch.push(append),
    }
}

fn write(connection: &Mutex<Connection>, batch: Vec<Command>) {
    // Appends to the same stream are written together, in order: the group
    // and stream rows are touched once per stream, not once per append.
    let mut streams: Vec<(String, String, Vec<LogEvent>, i64)> = Vec::new();
    for command in batch {
        let Command::Append {
            group,
            stream,
            events,
            ingestion_ms,
        } = command
        else {
            continue;
        };
        match streams
            .iter_mut()
            .find(|(g, s, _, _)| *g == group && *s == stream)
        {
            Some((_, _, pending, latest_ms)) => {
                pending.extend(events);
                *latest_ms = (*latest_ms).max(ingestion_ms);
            }
            None => streams.push((group, stream, events, ingestion_ms)),
        }
    }
    let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
    let result = WriteTransaction::begin(&connection).and_then(|transaction| {
        for (group, stream, events, ingestion_ms) in &streams {
            // A savepoint per stream: one that fails leaves nothing behind
            // and does not take the rest of the batch with it.
            let appended = transaction.savepoint(|connection| {
                append_events(connection, group, stream, events, *ingestion_ms)
            })?;
            if let Err(error) = appended {
                tracing::error!(%error, %group, "could not store log events");
            }
        }
        transaction.commit()
    });
    if let Err(error) = result {
        tracing::error!(%error, "could not commit log events");
    }
}

#[cfg(test)]
mod tests {
    use rayo_core::logs::{LogEvent, LogQuery};
    use rayo_core::store::LogStore;

    use crate::SqliteState;

    fn event(n: usize) -> LogEvent {
        LogEvent {
            timestamp_ms: 1_000,
            message: format!("line {n}"),
        }
    }

    fn messages(state: &SqliteState, stream: &str) -> Vec<String> {
        let query = LogQuery {
            stream_names: vec![stream.to_string()],
            limit: 10_000,
            ..LogQuery::default()
        };
        state
            .query_log_events("/aws/lambda/f", &query)
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn appends_from_many_threads_are_read_back_in_order() {
        let state = SqliteState::open_in_memory().unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let state = &state;
                scope.spawn(move || {
                    for n in 0..250 {
                        state
                            .put_log_events("/aws/lambda/f", &format!("s{t}"), vec![event(n)])
                            .unwrap();
                    }
                });
            }
        });
        // No wait: a read sees everything appended before it began.
        for t in 0..4 {
            let expected: Vec<String> = (0..250).map(|n| format!("line {n}")).collect();
            assert_eq!(messages(&state, &format!("s{t}")), expected);
        }
        let streams = state
            .describe_log_streams("/aws/lambda/f", None, false, false)
            .unwrap()
            .unwrap();
        assert_eq!(streams.len(), 4);
    }

    #[test]
    fn closing_writes_what_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let state = SqliteState::open(&path).unwrap();
            for n in 0..100 {
                state
                    .put_log_events("/aws/lambda/f", "s", vec![event(n)])
                    .unwrap();
            }
        }
        let state = SqliteState::open(&path).unwrap();
        assert_eq!(messages(&state, "s").len(), 100);
    }
}
