//! weld's stdio transport for rmcp: newline-delimited JSON-RPC on stdin and
//! stdout, where every line a client sends that expects an answer gets one.
//!
//! In place of rmcp's own reader and writer, so that:
//!
//! - each line is read bounded ([`LineReader`]) and checked before rmcp sees
//!   it ([`jsonrpc::check`]); what rmcp would drop or misread is answered
//!   here with the JSON-RPC error it deserves;
//! - answers from here and from rmcp go through one queue to one writer
//!   task, so lines are never interleaved, and a line is queued whole or not
//!   at all when rmcp cancels a `receive` or a `send`;
//! - a request whose `id` is already in flight is refused (-32600, naming
//!   the id) and the first goes on undisturbed. rmcp keys its in-flight
//!   requests by id: the second would replace the first's entry, then the
//!   first's answer would cancel the second, whose answer would be dropped,
//!   leaving the client waiting. An id is in flight from its request until
//!   its answer is sent or the client cancels it (`notifications/cancelled`);
//!   MCP forbids reusing ids, so reusing a cancelled one right away may
//!   still meet its late answer;
//! - a notification or response that arrives before the session has started
//!   is dropped (logged), where rmcp would end the session on it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::jsonrpc::{self, Entry};
use crate::line_cap::{Line, LineReader};

/// Answers waiting for the writer. Small: a message can be megabytes, and a
/// client that stops reading should slow weld down, not fill its memory.
const QUEUE: usize = 16;

/// How long closing waits for queued answers to be written.
const DRAIN: Duration = Duration::from_secs(5);

pub(crate) struct StdioTransport<R> {
    lines: LineReader<R>,
    cap: usize,
    /// The writer's queue; `None` once closed.
    out: Option<mpsc::Sender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
    /// An error answer waiting for room in the queue.
    pending: Option<Vec<u8>>,
    in_flight: Arc<Mutex<HashSet<RequestId>>>,
    started: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> StdioTransport<R> {
    /// Reads requests from `read`, capped at `cap` bytes a line, and writes
    /// answers to `write` from a task of its own.
    pub(crate) fn new<W>(read: R, write: W, cap: usize) -> Self
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (out, queue) = mpsc::channel(QUEUE);
        Self {
            lines: LineReader::new(read, cap),
            cap,
            out: Some(out),
            writer: Some(tokio::spawn(write_out(write, queue))),
            pending: None,
            in_flight: Arc::default(),
            started: Arc::default(),
        }
    }

    /// Set once rmcp has started the session (after `initialize`, or the
    /// first request of a client without it); until then notifications and
    /// responses are dropped.
    pub(crate) fn started(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.started)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<RequestId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What to do with a message that passed [`jsonrpc::check`].
    fn admit(&self, message: ClientJsonRpcMessage) -> Admit {
        let started = self.started.load(Ordering::Acquire);
        match &message {
            JsonRpcMessage::Request(request) => {
                if !self.in_flight().insert(request.id.clone()) {
                    let error = ErrorData::invalid_request(
                        format!(
                            "request id {} is already used by a request in flight; give each \
                             request its own id",
                            quoted_id(&request.id)
                        ),
                        None,
                    );
                    return Admit::Refuse(Some(request.id.clone()), error);
                }
                // rmcp reads no further message before it has answered
                // `initialize`, and only in the session after that.
                if matches!(request.request, ClientRequest::InitializeRequest(_)) {
                    self.started.store(true, Ordering::Release);
                }
            }
            JsonRpcMessage::Notification(notification) => {
                if !started {
                    return Admit::Drop("a notification before the session started");
                }
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    self.in_flight().remove(id);
                }
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {
                if !started {
                    return Admit::Drop("a response before the session started");
                }
            }
        }
        Admit::Forward(Box::new(message))
    }
}

enum Admit {
    Forward(Box<ClientJsonRpcMessage>),
    Refuse(Option<RequestId>, ErrorData),
    Drop(&'static str),
}

/// An id as an error message shows it: a string quoted, control characters
/// escaped.
fn quoted_id(id: &RequestId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

impl<R: AsyncRead + Unpin + Send> Transport<RoleServer> for StdioTransport<R> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        // Before the answer is even queued: the client cannot reuse the id
        // before it reads the answer anyway.
        let answered = match &item {
            JsonRpcMessage::Response(response) => Some(&response.id),
            JsonRpcMessage::Error(error) => error.id.as_ref(),
            _ => None,
        };
        if let Some(id) = answered {
            self.in_flight().remove(id);
        }
        let out = self.out.clone();
        async move {
            let out = out.ok_or_else(closed)?;
            let line = encode(&item)?;
            out.send(line).await.map_err(|_| closed())
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            // Cancel-safe: the answer leaves `pending` only with a permit.
            if self.pending.is_some() {
                let out = self.out.as_ref()?;
                let permit = out.reserve().await.ok()?;
                if let Some(line) = self.pending.take() {
                    permit.send(line);
                }
            }
            let entry = match self.lines.next_line().await {
                Ok(Some(Line::Complete(line))) => jsonrpc::check(line),
                Ok(Some(Line::Oversized(prefix))) => jsonrpc::too_large(prefix, self.cap),
                Ok(None) => return None,
                Err(error) => {
                    tracing::error!(%error, "could not read stdin; ending the session");
                    return None;
                }
            };
            let (id, error) = match entry {
                Entry::Message(message) => match self.admit(*message) {
                    Admit::Forward(message) => return Some(*message),
                    Admit::Refuse(id, error) => (id, error),
                    Admit::Drop(reason) => {
                        tracing::debug!(reason, "stdio message dropped");
                        continue;
                    }
                },
                Entry::Refuse { id, error } => (id, error),
                Entry::Skip(reason) => {
                    tracing::debug!(reason, "stdio line not answered");
                    continue;
                }
            };
            tracing::info!(
                code = error.code.0,
                id = id.as_ref().map(quoted_id).unwrap_or_default(),
                message = %error.message,
                "stdio request refused"
            );
            match encode(&ServerJsonRpcMessage::error(error, id)) {
                Ok(line) => self.pending = Some(line),
                Err(error) => tracing::error!(%error, "could not encode an error answer"),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.out = None;
        if let Some(writer) = self.writer.take()
            && tokio::time::timeout(DRAIN, writer).await.is_err()
        {
            tracing::warn!("stdout did not take the last answers within {DRAIN:?}");
        }
        Ok(())
    }
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "stdout is closed")
}

fn encode(message: &ServerJsonRpcMessage) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

/// Writes queued lines whole, flushing when the queue is empty, until every
/// sender is gone or stdout fails.
async fn write_out<W: AsyncWrite + Unpin>(mut write: W, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = queue.recv().await {
        let mut written = write.write_all(&line).await;
        if written.is_ok() && queue.is_empty() {
            written = write.flush().await;
        }
        if let Err(error) = written {
            tracing::info!(%error, "stdout closed; no more answers can be written");
            return;
        }
    }
    let _ = write.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_cap::Chunked;

    fn transport(input: &str) -> (StdioTransport<Chunked>, tokio::io::DuplexStream) {
        let (write, read) = tokio::io::duplex(1 << 20);
        let transport = StdioTransport::new(
            Chunked::new(input.as_bytes().to_vec(), vec![5]),
            write,
            1024,
        );
        (transport, read)
    }

    /// Closes the transport and returns every line it wrote.
    async fn output(
        mut transport: StdioTransport<Chunked>,
        mut read: tokio::io::DuplexStream,
    ) -> Vec<serde_json::Value> {
        use tokio::io::AsyncReadExt;
        transport.close().await.expect("close");
        drop(transport);
        let mut text = String::new();
        read.read_to_string(&mut text).await.expect("read");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every answer is JSON"))
            .collect()
    }

    fn ping(id: u32) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#)
    }

    async fn next_id(transport: &mut StdioTransport<Chunked>) -> RequestId {
        match transport.receive().await {
            Some(JsonRpcMessage::Request(request)) => request.id,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_id_in_flight_is_refused_until_its_answer_is_sent_or_it_is_cancelled() {
        let cancel_8 =
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8}}"#;
        let input = [ping(7), ping(7), ping(8), ping(7), cancel_8.into(), ping(8)].join("\n");
        let (mut transport, read) = transport(&format!("{input}\n"));
        transport.started().store(true, Ordering::Release);
        assert_eq!(next_id(&mut transport).await, RequestId::Number(7));
        // The second 7 is refused on the way to 8.
        assert_eq!(next_id(&mut transport).await, RequestId::Number(8));
        let answer = ServerJsonRpcMessage::response(
            rmcp::model::ServerResult::empty(()),
            RequestId::Number(7),
        );
        transport.send(answer).await.expect("send");
        // Answered, 7 may be used again; cancelled, so may 8.
        assert_eq!(next_id(&mut transport).await, RequestId::Number(7));
        assert!(matches!(
            transport.receive().await,
            Some(JsonRpcMessage::Notification(_))
        ));
        assert_eq!(next_id(&mut transport).await, RequestId::Number(8));
        assert!(transport.receive().await.is_none());
        let answers = output(transport, read).await;
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert_eq!(answers[0]["id"], 7);
        assert_eq!(answers[0]["error"]["code"], -32600);
        let message = answers[0]["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("request id 7 is already used"),
            "{message}"
        );
        assert_eq!(
            answers[1],
            serde_json::json!({"jsonrpc":"2.0","id":7,"result":{}})
        );
    }

    #[tokio::test]
    async fn notifications_and_responses_before_the_session_starts_are_dropped() {
        let input = [
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_string(),
            ping(3),
        ]
        .join("\n");
        let (mut transport, read) = transport(&format!("{input}\n"));
        assert_eq!(next_id(&mut transport).await, RequestId::Number(3));
        assert!(transport.receive().await.is_none());
        assert!(output(transport, read).await.is_empty());
    }

    #[tokio::test]
    async fn refusals_are_written_as_whole_lines_with_the_id() {
        let input = format!("{{\"id\":4,\"x\":\"{}\"}}\n[]\n", "y".repeat(2000));
        let (mut transport, read) = transport(&input);
        assert!(transport.receive().await.is_none());
        let answers = output(transport, read).await;
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert_eq!(answers[0]["id"], 4);
        assert_eq!(answers[0]["error"]["code"], -32600);
        assert!(answers[1].get("id").is_none(), "{answers:?}");
    }
}
