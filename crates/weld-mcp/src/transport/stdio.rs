//! weld's stdio transport for rmcp: newline-delimited JSON-RPC on stdin and
//! stdout, where every line a client sends that expects an answer gets one.
//!
//! In place of rmcp's own reader and writer, so that:
//!
//! - each line is read bounded ([`LineReader`]) and checked before rmcp sees
//!   it ([`jsonrpc::check`]); what rmcp would drop or misread is answered
//!   here with the JSON-RPC error it deserves;
//! - answers from here and from rmcp are written under one lock, each line
//!   whole: a write cut short by a cancelled future (rmcp polls `receive`
//!   inside a `select!`) keeps its rest, which the next write finishes
//!   first, so lines are never interleaved. There is no writer task: an
//!   answer is queued (whole, in the order rmcp sends) and the next task to
//!   hold stdout writes every answer queued by then in one write, so
//!   pipelined answers that are ready together cost one system call, not
//!   one each (measured: pipelined throughput 0.54× → 0.63× native);
//! - a request whose `id` is already in flight is refused (-32600, naming
//!   the id) and the first goes on undisturbed. rmcp keys its in-flight
//!   requests by id: the second would replace the first's entry, then the
//!   first's answer would cancel the second, whose answer would be dropped,
//!   leaving the client waiting. An id is in flight from its request until
//!   its answer is sent. A request cancelled in flight
//!   (`notifications/cancelled`) gets no answer, and its id stays taken
//!   (the last [`RETIRED`] such ids): its handler may still be finishing,
//!   and rmcp would send that late answer for a new request under the same
//!   id and drop the new one's. MCP forbids reusing ids anyway;
//! - a notification or response that arrives before the session has started
//!   is dropped (logged), where rmcp would end the session on it.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use rmcp::{RoleServer, ServiceExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::TransportError;
use super::jsonrpc::{self, Entry};
use super::line_cap::{Line, LineReader};
use crate::handler::{ServerOptions, WeldServer};
use crate::spliced::SplicedPages;

/// Serves one client over this process's stdin and stdout until stdin
/// closes or `shutdown` fires.
///
/// # Errors
///
/// When the session fails to start or ends abnormally.
pub async fn serve_stdio(
    server: WeldServer,
    options: &ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), TransportError> {
    let live = Arc::clone(server.live());
    let (read, write) = rmcp::transport::io::stdio_pipes();
    let transport = StdioTransport::new(read, write, options.max_request_bytes);
    let server = server.with_spliced_pages(transport.spliced_pages());
    let started = transport.started();
    let running = tokio::select! {
        running = server.serve_with_ct(transport, shutdown.child_token()) => running,
        () = shutdown.cancelled() => return Ok(()),
    };
    let running = match running {
        Ok(running) => running,
        // A client that connects and leaves without a word is not an error
        // worth failing the process for.
        Err(error) => {
            tracing::info!(%error, "stdio session ended before it started");
            return Ok(());
        }
    };
    started.store(true, Ordering::Release);
    // A client that initialized (the legacy lifecycle) is told of tool
    // changes directly; 2026-07-28 clients subscribe instead (see
    // `WeldServer::listen`).
    if running.peer().peer_info().is_some() {
        let peer = running.peer().clone();
        let mut changes = live.changes();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if let Err(error) = peer.notify_tool_list_changed().await {
                    tracing::debug!(%error, "could not send tools/list_changed; the session is gone");
                    break;
                }
            }
        });
    }
    let quit = running
        .waiting()
        .await
        .map_err(|e| TransportError::Session(e.to_string()))?;
    tracing::info!(reason = ?quit, "stdio session ended");
    Ok(())
}

/// How long closing waits for the last answer to be written.
const DRAIN: Duration = Duration::from_secs(5);

/// How many ids of requests cancelled in flight stay taken.
const RETIRED: usize = 1024;

/// The ids a new request may not use.
#[derive(Default)]
struct Ids {
    in_flight: HashSet<RequestId>,
    /// Cancelled in flight, oldest first (`retired_set` for lookups).
    retired: VecDeque<RequestId>,
    retired_set: HashSet<RequestId>,
}

impl Ids {
    /// Takes `id` for a new request; why not, if it cannot be.
    fn take(&mut self, id: &RequestId) -> Result<(), &'static str> {
        if self.retired_set.contains(id) {
            return Err("was used by a request that was cancelled");
        }
        if !self.in_flight.insert(id.clone()) {
            return Err("is already used by a request in flight");
        }
        Ok(())
    }

    fn answered(&mut self, id: &RequestId) {
        self.in_flight.remove(id);
    }

    fn cancelled(&mut self, id: &RequestId) {
        if !self.in_flight.remove(id) {
            return;
        }
        if self.retired.len() == RETIRED
            && let Some(oldest) = self.retired.pop_front()
        {
            self.retired_set.remove(&oldest);
        }
        self.retired.push_back(id.clone());
        self.retired_set.insert(id.clone());
    }
}

pub(crate) struct StdioTransport<R> {
    lines: LineReader<R>,
    cap: usize,
    stdout: Stdout,
    /// Answers encoded but not yet handed to `stdout`, in the order they
    /// were sent (see [`Out::take_queued`]).
    queued: Queued,
    /// An error answer not yet handed to `stdout`.
    pending: Option<Vec<u8>>,
    /// A write of `receive`'s was cut short: finish it before reading on.
    unfinished: bool,
    ids: Arc<Mutex<Ids>>,
    started: Arc<AtomicBool>,
    /// `tools/list` pages the handler wrote as text, spliced into their
    /// answers here (see [`crate::spliced`]).
    spliced: Arc<SplicedPages>,
}

impl<R: AsyncRead + Unpin> StdioTransport<R> {
    /// Reads requests from `read`, capped at `cap` bytes a line, and writes
    /// answers to `write`.
    pub(crate) fn new<W>(read: R, write: W, cap: usize) -> Self
    where
        W: AsyncWrite + Send + 'static,
    {
        Self {
            lines: LineReader::new(read, cap),
            cap,
            stdout: Arc::new(tokio::sync::Mutex::new(Some(Out {
                write: Box::pin(write),
                rest: Vec::new(),
                at: 0,
            }))),
            queued: Arc::default(),
            pending: None,
            unfinished: false,
            ids: Arc::default(),
            started: Arc::default(),
            spliced: Arc::default(),
        }
    }

    /// Where the handler of this transport's session writes `tools/list`
    /// pages as text ([`WeldServer::with_spliced_pages`]).
    pub(crate) fn spliced_pages(&self) -> Arc<SplicedPages> {
        Arc::clone(&self.spliced)
    }

    /// Set once rmcp has started the session (after `initialize`, or the
    /// first request of a client without it); until then notifications and
    /// responses are dropped.
    pub(crate) fn started(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.started)
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What to do with a message that passed [`jsonrpc::check`].
    fn admit(&self, message: Box<ClientJsonRpcMessage>) -> Admit {
        let started = self.started.load(Ordering::Acquire);
        match &*message {
            JsonRpcMessage::Request(request) => {
                if let Err(why) = self.ids().take(&request.id) {
                    let error = ErrorData::invalid_request(
                        format!(
                            "request id {} {why}; give each request its own id",
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
                    self.ids().cancelled(id);
                    self.spliced.forget(id);
                }
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {
                if !started {
                    return Admit::Drop("a response before the session started");
                }
            }
        }
        Admit::Forward(message)
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
            self.ids().answered(id);
        }
        // Queued now, in the order rmcp sends: whoever holds stdout next
        // writes every answer queued by then in one write, so answers that
        // are ready together (pipelined requests) cost one system call and
        // one turn of the lock, not one each.
        let encoded = self
            .spliced
            .encode(item)
            .map(|line| queue(&self.queued, &line));
        let (stdout, queued) = (Arc::clone(&self.stdout), Arc::clone(&self.queued));
        async move {
            encoded?;
            let mut out = stdout.lock().await;
            let out = out.as_mut().ok_or_else(closed)?;
            out.write_queued(&queued).await
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            if self.pending.is_some() || self.unfinished {
                let mut out = self.stdout.lock().await;
                let out = out.as_mut()?;
                // Handed over before any await: a cancelled call leaves the
                // line in `out`, for the next write to finish.
                if let Some(line) = self.pending.take() {
                    out.push(line);
                }
                out.take_queued(&self.queued);
                self.unfinished = true;
                let written = out.finish().await;
                self.unfinished = false;
                if let Err(error) = written {
                    tracing::info!(%error, "stdout closed; ending the session");
                    return None;
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
                Entry::Message(message) => match self.admit(message) {
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
            match crate::spliced::line(&ServerJsonRpcMessage::error(error, id)) {
                Ok(line) => self.pending = Some(line),
                Err(error) => tracing::error!(%error, "could not encode an error answer"),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        let stdout = Arc::clone(&self.stdout);
        let queued = Arc::clone(&self.queued);
        let drained = tokio::time::timeout(DRAIN, async move {
            let mut out = stdout.lock().await;
            if let Some(mut last) = out.take() {
                last.take_queued(&queued);
                last.finish().await?;
                last.write.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        match drained {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::info!(%error, "stdout closed before the last answer"),
            Err(_) => tracing::warn!("stdout did not take the last answer within {DRAIN:?}"),
        }
        Ok(())
    }
}

/// stdout, shared by every writer; `None` once closed.
type Stdout = Arc<tokio::sync::Mutex<Option<Out>>>;

/// Whole encoded lines waiting for stdout, shared by every writer.
type Queued = Arc<Mutex<Vec<u8>>>;

fn queue(queued: &Mutex<Vec<u8>>, line: &[u8]) {
    queued
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend_from_slice(line);
}

struct Out {
    write: std::pin::Pin<Box<dyn AsyncWrite + Send>>,
    /// A line whose write was cut short, from `at` on.
    rest: Vec<u8>,
    at: usize,
}

impl Out {
    /// Writes `line` whole (after any line cut short) and flushes.
    #[cfg(test)]
    async fn write_line(&mut self, line: Vec<u8>) -> std::io::Result<()> {
        self.push(line);
        self.finish().await
    }

    /// Moves every queued line behind any line cut short (whole lines only:
    /// a line is queued whole, under the queue's lock).
    fn take_queued(&mut self, queued: &Mutex<Vec<u8>>) {
        let lines = std::mem::take(&mut *queued.lock().unwrap_or_else(PoisonError::into_inner));
        if !lines.is_empty() {
            self.push(lines);
        }
    }

    /// Writes everything queued, if an earlier holder of the lock has not
    /// already written it (then there is nothing to do: no write, no flush).
    async fn write_queued(&mut self, queued: &Mutex<Vec<u8>>) -> std::io::Result<()> {
        self.take_queued(queued);
        if self.at == self.rest.len() {
            return Ok(());
        }
        self.finish().await
    }

    /// Queues `line` after any line cut short.
    fn push(&mut self, line: Vec<u8>) {
        if self.at == self.rest.len() {
            self.rest = line;
            self.at = 0;
        } else {
            self.rest.extend_from_slice(&line);
        }
    }

    /// Writes what is left of the current line. Cancel-safe: a write that
    /// returns `Pending` has written nothing, and what was written is
    /// counted before the next await.
    async fn finish(&mut self) -> std::io::Result<()> {
        while self.at < self.rest.len() {
            let n = self.write.write(&self.rest[self.at..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.at += n;
        }
        self.write.flush().await
    }
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "stdout is closed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::line_cap::Chunked;

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
    async fn an_id_in_flight_is_refused_until_answered_and_a_cancelled_one_for_good() {
        let cancel_8 =
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8}}"#;
        let input = [
            ping(7),
            ping(7),
            ping(8),
            ping(7),
            cancel_8.into(),
            ping(8),
            ping(9),
        ]
        .join("\n");
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
        // Answered, 7 may be used again.
        assert_eq!(next_id(&mut transport).await, RequestId::Number(7));
        assert!(matches!(
            transport.receive().await,
            Some(JsonRpcMessage::Notification(_))
        ));
        // Cancelled in flight, 8 may not: the next 8 is refused.
        assert_eq!(next_id(&mut transport).await, RequestId::Number(9));
        assert!(transport.receive().await.is_none());
        let answers = output(transport, read).await;
        assert_eq!(answers.len(), 3, "{answers:?}");
        let refusal = |answer: &serde_json::Value, id: u32, says: &str| {
            assert_eq!(answer["id"], id, "{answer}");
            assert_eq!(answer["error"]["code"], -32600, "{answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{message}");
        };
        refusal(
            &answers[0],
            7,
            "request id 7 is already used by a request in flight",
        );
        assert_eq!(
            answers[1],
            serde_json::json!({"jsonrpc":"2.0","id":7,"result":{}})
        );
        refusal(
            &answers[2],
            8,
            "request id 8 was used by a request that was cancelled",
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

    /// Writes at most three bytes a call, and every other call is not ready.
    struct Trickle {
        written: Arc<Mutex<Vec<u8>>>,
        ready: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.ready = !self.ready;
            if !self.ready {
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            let n = buf.len().min(3);
            self.written
                .lock()
                .expect("written")
                .extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn answers_queued_together_go_out_whole_in_order_in_one_write() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut out = Out {
            write: Box::pin(server),
            rest: Vec::new(),
            at: 0,
        };
        let queued = Queued::default();
        for line in ["{\"id\":1}\n", "{\"id\":2}\n", "{\"id\":3}\n"] {
            queue(&queued, line.as_bytes());
        }
        out.write_queued(&queued).await.expect("write");
        assert!(queued.lock().expect("queue").is_empty());
        // The later senders find their answers written already.
        out.write_queued(&queued).await.expect("nothing to write");
        drop(out);
        let mut written = String::new();
        let mut client = client;
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut written)
            .await
            .expect("read");
        assert_eq!(written, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
    }

    #[tokio::test]
    async fn a_line_cut_short_by_a_cancelled_write_is_finished_before_the_next() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let mut out = Out {
            write: Box::pin(Trickle {
                written: Arc::clone(&written),
                ready: false,
            }),
            rest: Vec::new(),
            at: 0,
        };
        {
            let write = out.write_line(b"the first line\n".to_vec());
            let mut write = std::pin::pin!(write);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            for _ in 0..4 {
                assert!(write.as_mut().poll(&mut cx).is_pending());
            }
            // Dropped part way, as rmcp drops a `receive` in a `select!`.
        }
        assert_eq!(written.lock().expect("written").as_slice(), b"the first li");
        out.write_line(b"the second\n".to_vec())
            .await
            .expect("write");
        assert_eq!(
            written.lock().expect("written").as_slice(),
            b"the first line\nthe second\n"
        );
    }
}
