//! The stream a component writes messages to its client on
//! (`message-context.client-stream`): a host `output-stream` whose bytes
//! are read as newline-delimited JSON-RPC messages. Log and progress
//! notifications are passed on as they arrive; anything else a component
//! sends is dropped (see `docs/mcp-components.md` for why).
//!
//! The bytes are capped: past `cap` in all, a write fails with
//! `closed`, so a component cannot buffer unbounded text in the host.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::model::{LogLevel, Notification};

/// Where a request's notifications go.
pub type NotificationSink = UnboundedSender<Notification>;

/// The client stream of one request; clones share it.
#[derive(Clone)]
pub(crate) struct ClientStream {
    inner: Arc<Mutex<State>>,
}

struct State {
    /// Bytes of an unfinished line.
    partial: Vec<u8>,
    /// Bytes written in all, kept or not.
    written: u64,
    cap: u64,
    sink: Option<NotificationSink>,
    component: Arc<str>,
}

impl ClientStream {
    /// A stream for one request of `component`, passing notifications to
    /// `sink`, at most `cap` bytes in all.
    pub(crate) fn new(sink: Option<NotificationSink>, cap: u64, component: Arc<str>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                partial: Vec::new(),
                written: 0,
                cap,
                sink,
                component,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a writer panicked mid-append; the state
        // is still whole bytes and counters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `bytes`, passing on every line they complete; refuses them
    /// past the cap.
    pub(crate) fn append(&self, bytes: &[u8]) -> StreamResult<()> {
        let mut state = self.lock();
        let written = state.written.saturating_add(bytes.len() as u64);
        if written > state.cap {
            tracing::warn!(
                target: "weld::guest",
                component = %state.component,
                cap = state.cap,
                "the component wrote more to its client stream than its output limit; the rest is refused"
            );
            return Err(StreamError::Closed);
        }
        state.written = written;
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end);
            rest = &after[1..];
            if state.partial.is_empty() {
                state.pass_on(line);
            } else {
                let mut whole = std::mem::take(&mut state.partial);
                whole.extend_from_slice(line);
                state.pass_on(&whole);
            }
        }
        state.partial.extend_from_slice(rest);
        Ok(())
    }
}

impl State {
    fn pass_on(&self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        match parse(line) {
            Ok(Some(notification)) => {
                if let Some(sink) = &self.sink {
                    // The receiver is gone once the request was answered or
                    // cancelled: nobody is left to tell.
                    let _ = sink.send(notification);
                }
            }
            Ok(None) => {}
            Err(problem) => tracing::debug!(
                target: "weld::guest",
                component = %self.component,
                %problem,
                "a message the component wrote to its client stream was dropped"
            ),
        }
    }
}

/// The notification one line carries; `None` for a message weld does not
/// pass on.
fn parse(line: &[u8]) -> Result<Option<Notification>, String> {
    let message: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .ok_or("not a notification (no method)")?;
    if message.get("id").is_some() {
        return Err(format!(
            "`{method}` is a request: weld does not pass a component's requests to its client"
        ));
    }
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    match method {
        "notifications/message" => {
            let level = params
                .get("level")
                .and_then(Value::as_str)
                .and_then(LogLevel::parse)
                .ok_or("a log message without a valid level")?;
            let logger = params
                .get("logger")
                .and_then(Value::as_str)
                .map(str::to_string);
            let data = params.get("data").cloned().unwrap_or(Value::Null);
            Ok(Some(Notification::Log {
                level,
                logger,
                data,
            }))
        }
        "notifications/progress" => {
            let progress = params
                .get("progress")
                .and_then(Value::as_f64)
                .ok_or("a progress notification without progress")?;
            Ok(Some(Notification::Progress {
                progress,
                total: params.get("total").and_then(Value::as_f64),
                message: params
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }))
        }
        other => Err(format!(
            "`{other}`: weld passes only log and progress notifications on"
        )),
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for ClientStream {
    async fn ready(&mut self) {}
}

impl OutputStream for ClientStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let state = self.lock();
        if state.written >= state.cap {
            return Err(StreamError::Closed);
        }
        // Never more than the cap leaves, so a guest that honours
        // check-write is never refused mid-message.
        Ok(usize::try_from(state.cap - state.written)
            .unwrap_or(usize::MAX)
            .min(64 * 1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(
        cap: u64,
    ) -> (
        ClientStream,
        tokio::sync::mpsc::UnboundedReceiver<Notification>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (ClientStream::new(Some(tx), cap, "c".into()), rx)
    }

    #[test]
    fn a_log_line_split_across_writes_arrives_once_whole() {
        let (s, mut rx) = stream(1 << 20);
        s.append(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"le"#)
            .unwrap();
        assert!(rx.try_recv().is_err());
        s.append(br#"vel":"info","data":"hi"}}"#).unwrap();
        s.append(b"\n").unwrap();
        assert_eq!(
            rx.try_recv().unwrap(),
            Notification::Log {
                level: LogLevel::Info,
                logger: None,
                data: Value::String("hi".into())
            }
        );
    }

    #[test]
    fn progress_keeps_no_token_and_other_messages_are_dropped() {
        let (s, mut rx) = stream(1 << 20);
        s.append(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\
              {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"roots/list\"}\nnot json\n\
              {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":\
              {\"progressToken\":\"theirs\",\"progress\":1,\"total\":2}}\n",
        )
        .unwrap();
        assert_eq!(
            rx.try_recv().unwrap(),
            Notification::Progress {
                progress: 1.0,
                total: Some(2.0),
                message: None
            }
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn writes_past_the_cap_are_refused() {
        let (mut s, _rx) = stream(10);
        assert_eq!(s.check_write().unwrap(), 10);
        s.append(b"0123456789").unwrap();
        assert!(matches!(s.append(b"x"), Err(StreamError::Closed)));
        assert!(matches!(s.check_write(), Err(StreamError::Closed)));
    }
}
