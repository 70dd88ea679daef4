//! An instance's log: the pipe its stdout and stderr write to, the lines the
//! executor adds (START, END, REPORT, errors), and their delivery to the log
//! store in batches.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayo_core::logs::LogEvent;
use rayo_core::store::LogStore;
use time::OffsetDateTime;
use tokio::net::unix::pipe;

use crate::Report;

/// CloudWatch's largest event; longer lines are cut here.
const MAX_LINE_BYTES: usize = 256 * 1024;
/// Pending events that trigger a write to the store.
const FLUSH_EVENTS: usize = 512;
/// The most read from the pipe at once.
const READ_MAX_BYTES: usize = 1024 * 1024;
/// How often pending events are written while an invocation runs.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Formats a REPORT line exactly as Lambda writes it.
pub fn format_report(request_id: &str, report: &Report) -> String {
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        report.duration_ms,
        report.billed_duration_ms,
        report.memory_size_mb,
        report.max_memory_used_mb
    );
    if let Some(init) = report.init_duration_ms {
        line.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    if let Some(status) = &report.status {
        line.push_str(&format!("Status: {status}\t"));
        if let Some(error_type) = &report.error_type {
            line.push_str(&format!("Error Type: {error_type}\t"));
        }
    }
    line
}

/// Where an instance's log lines go.
#[derive(Debug)]
pub(crate) struct LogSink {
    group: String,
    stream: String,
    store: Arc<dyn LogStore>,
    inner: Mutex<SinkInner>,
}

#[derive(Debug, Default)]
struct SinkInner {
    pending: Vec<LogEvent>,
    capture: Option<String>,
}

impl LogSink {
    pub(crate) fn new(group: String, stream: String, store: Arc<dyn LogStore>) -> LogSink {
        LogSink {
            group,
            stream,
            store,
            inner: Mutex::new(SinkInner::default()),
        }
    }

    pub(crate) fn stream(&self) -> &str {
        &self.stream
    }

    /// Adds one line.
    pub(crate) fn line(&self, message: String) {
        let timestamp_ms = now_ms();
        let flush = {
            let mut inner = self.inner.lock().expect("log sink lock poisoned");
            if let Some(capture) = inner.capture.as_mut() {
                capture.push_str(&message);
                capture.push('\n');
            }
            inner.pending.push(LogEvent {
                timestamp_ms,
                message,
            });
            inner.pending.len() >= FLUSH_EVENTS
        };
        if flush {
            self.flush();
        }
    }

    /// Starts collecting lines for one invocation's log tail.
    pub(crate) fn begin_capture(&self) {
        self.inner.lock().expect("log sink lock poisoned").capture = Some(String::new());
    }

    /// Stops collecting and returns what was collected.
    pub(crate) fn end_capture(&self) -> String {
        self.inner
            .lock()
            .expect("log sink lock poisoned")
            .capture
            .take()
            .unwrap_or_default()
    }

    /// Writes pending lines to the store.
    pub(crate) fn flush(&self) {
        let events =
            std::mem::take(&mut self.inner.lock().expect("log sink lock poisoned").pending);
        if events.is_empty() {
            return;
        }
        if let Err(error) = self.store.put_log_events(&self.group, &self.stream, events) {
            tracing::error!(%error, group = %self.group, "could not store log events");
        }
    }
}

/// An instance's output pipe, read into its sink by [`read_pipe`] as
/// output arrives, and by the invocation itself ([`LogPipe::drain`]) once
/// the runtime has answered: both read under one lock, so lines keep their
/// order.
#[derive(Debug)]
pub(crate) struct LogPipe {
    receiver: pipe::Receiver,
    reader: Mutex<LineReader>,
    sink: Arc<LogSink>,
}

impl LogPipe {
    pub(crate) fn new(receiver: pipe::Receiver, sink: Arc<LogSink>) -> LogPipe {
        LogPipe {
            receiver,
            reader: Mutex::new(LineReader::default()),
            sink,
        }
    }

    /// Reads everything the pipe holds now into the sink, a line without
    /// its newline yet included; returns false once the pipe is closed.
    pub(crate) fn drain(&self) -> bool {
        let mut reader = self.reader.lock().expect("log reader lock poisoned");
        let open = reader.read_available(&self.receiver, &self.sink);
        reader.finish(&self.sink);
        open
    }
}

/// Reads an instance's output pipe into its sink until the pipe closes.
pub(crate) async fn read_pipe(pipe: Arc<LogPipe>) {
    let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            readable = pipe.receiver.readable() => {
                let open = readable.is_ok() && pipe
                    .reader
                    .lock()
                    .expect("log reader lock poisoned")
                    .read_available(&pipe.receiver, &pipe.sink);
                if !open {
                    pipe.drain();
                    pipe.sink.flush();
                    return;
                }
            }
            _ = ticker.tick() => pipe.sink.flush(),
        }
    }
}

#[derive(Debug, Default)]
struct LineReader {
    partial: Vec<u8>,
}

impl LineReader {
    /// Reads what the pipe holds now, up to [`READ_MAX_BYTES`] (more than
    /// a pipe holds, so a writer that never stops cannot keep a reader
    /// here); returns false once the pipe is closed.
    fn read_available(&mut self, receiver: &pipe::Receiver, sink: &LogSink) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut read = 0;
        while read < READ_MAX_BYTES {
            match receiver.try_read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    read += n;
                    self.push(&buf[..n], sink);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        true
    }

    fn push(&mut self, bytes: &[u8], sink: &LogSink) {
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..newline]);
            self.emit(sink);
            rest = &rest[newline + 1..];
        }
        let room = MAX_LINE_BYTES.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&rest[..rest.len().min(room)]);
    }

    /// Emits a trailing line that has no newline yet.
    fn finish(&mut self, sink: &LogSink) {
        if !self.partial.is_empty() {
            self.emit(sink);
        }
    }

    fn emit(&mut self, sink: &LogSink) {
        let mut line = std::mem::take(&mut self.partial);
        line.truncate(MAX_LINE_BYTES);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        // Runtimes write a multi-line record (a traceback) as one line with
        // inner carriage returns so that it stays one event.
        let text = String::from_utf8_lossy(&line).replace('\r', "\n");
        sink.line(text);
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A timestamp as Lambda writes it inside log lines: `2024-01-02T03:04:05.678Z`.
pub(crate) fn log_timestamp(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        let mut report = Report {
            duration_ms: 1.234,
            billed_duration_ms: 2,
            memory_size_mb: 128,
            max_memory_used_mb: 40,
            init_duration_ms: Some(12.345),
            status: None,
            error_type: None,
        };
        assert_eq!(
            format_report("abc", &report),
            "REPORT RequestId: abc\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 12.35 ms\t"
        );
        report.init_duration_ms = None;
        report.status = Some("timeout".to_string());
        assert_eq!(
            format_report("abc", &report),
            "REPORT RequestId: abc\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout\t"
        );
    }

    #[test]
    fn log_timestamps() {
        let at = time::macros::datetime!(2026-01-02 03:04:05.678 UTC);
        assert_eq!(log_timestamp(at), "2026-01-02T03:04:05.678Z");
    }
}
