//! One MCP session with one running instance of an MCP server component:
//! weld is the client (rmcp's, over the instance's stdin and stdout), and
//! the notifications the server sends while a forwarded call runs are
//! routed to that call's client ([`Routes`]).
//!
//! **Routing happens in the transport.** rmcp hands a notification to the
//! client handler in a task of its own, so a handler could see a call's
//! progress after the call's answer. [`RoutedTransport`] instead routes
//! each progress or log notification as it is read, in stream order,
//! before rmcp sees the answer that follows it: a call that has its answer
//! has every notification sent before it queued, and forwards them before
//! it answers its own client.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, JsonRpcMessage, JsonRpcNotification,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ServerNotification,
    Tool,
};
use rmcp::service::{RunningService, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use weld_host::Outcome;
use weld_host::proxied::{CommandEnd, ProxiedComponent, RunningCommand, SandboxUse, ended_outcome};

/// Notifications queued for one forwarded call; more are dropped (and
/// counted in the log) rather than buffered without bound.
const ROUTE_CAPACITY: usize = 256;

/// Progress notifications kept for a call that has not registered its
/// route yet (its request is on its way); older ones are dropped.
const MAX_EARLY: usize = 32;

/// Something the server sent that the calling client may hear.
#[derive(Debug)]
pub(super) enum Forward {
    Progress(ProgressNotificationParam),
    Log(LoggingMessageNotificationParam),
}

/// The calls in flight that want to hear the server's notifications, by
/// the progress token weld's client gave each request.
#[derive(Default)]
pub(super) struct Routes {
    inner: Mutex<RouteTable>,
    /// Fired when the server's stdout ends.
    pub(super) closed: CancellationToken,
    /// Set when weld stopped reading the server because one of its messages
    /// was over its output limit (see [`CappedLines`]).
    oversized: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct RouteTable {
    calls: HashMap<ProgressToken, mpsc::Sender<Forward>>,
    /// Progress that arrived before its call's route (see [`MAX_EARLY`]).
    early: VecDeque<ProgressNotificationParam>,
    dropped: u64,
}

impl Routes {
    /// Whether the session ended because the server sent a message over its
    /// output limit.
    pub(super) fn oversized(&self) -> bool {
        self.oversized.load(Ordering::Acquire)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, RouteTable> {
        // Poisoned only by a panic between two plain updates; the table is
        // still a valid map.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes the server's notifications with `token` (and its log
    /// messages) to the returned receiver until [`Routes::remove`].
    pub(super) fn add(&self, token: ProgressToken) -> mpsc::Receiver<Forward> {
        let (tx, rx) = mpsc::channel(ROUTE_CAPACITY);
        let mut table = self.table();
        let early = std::mem::take(&mut table.early);
        for progress in early {
            if progress.progress_token == token {
                let _ = tx.try_send(Forward::Progress(progress));
            } else {
                table.early.push_back(progress);
            }
        }
        table.calls.insert(token, tx);
        rx
    }

    /// Stops routing to the call with `token`: its receiver ends once it
    /// has what was queued.
    pub(super) fn remove(&self, token: &ProgressToken) {
        let mut table = self.table();
        table.calls.remove(token);
        let dropped = std::mem::take(&mut table.dropped);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "notifications of an MCP server component were dropped: more than {ROUTE_CAPACITY} \
                 were waiting for a client"
            );
        }
    }

    fn progress(&self, progress: ProgressNotificationParam) {
        let mut table = self.table();
        match table.calls.get(&progress.progress_token) {
            Some(tx) => {
                if tx.try_send(Forward::Progress(progress)).is_err() {
                    table.dropped += 1;
                }
            }
            None => {
                if table.early.len() == MAX_EARLY {
                    table.early.pop_front();
                }
                table.early.push_back(progress);
            }
        }
    }

    /// A log message concerns no request in particular: every call in
    /// flight hears it.
    fn log(&self, message: &LoggingMessageNotificationParam) {
        let mut table = self.table();
        let mut dropped = 0;
        for tx in table.calls.values() {
            if tx.try_send(Forward::Log(message.clone())).is_err() {
                dropped += 1;
            }
        }
        table.dropped += dropped;
    }
}

/// The instance's stdout and stdin as rmcp's transport, routing progress
/// and log notifications as they are read (see the module docs).
pub(super) struct RoutedTransport<T> {
    inner: T,
    routes: Arc<Routes>,
    component: Arc<str>,
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for RoutedTransport<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            // The only await: what follows it runs to completion, so a
            // cancelled receive loses nothing.
            let Some(message) = self.inner.receive().await else {
                if self.routes.oversized() {
                    tracing::warn!(
                        component = %self.component,
                        "an MCP server component sent a message over its output limit; weld \
                         stops it and fails the requests in flight (the next starts it again)"
                    );
                }
                self.routes.closed.cancel();
                return None;
            };
            match message {
                JsonRpcMessage::Notification(JsonRpcNotification {
                    notification: ServerNotification::ProgressNotification(progress),
                    ..
                }) => self.routes.progress(progress.params),
                JsonRpcMessage::Notification(JsonRpcNotification {
                    notification: ServerNotification::LoggingMessageNotification(log),
                    ..
                }) => {
                    tracing::debug!(
                        target: "weld::guest",
                        component = %self.component,
                        level = ?log.params.level,
                        data = %log.params.data,
                        "MCP server's log message"
                    );
                    self.routes.log(&log.params);
                }
                JsonRpcMessage::Notification(JsonRpcNotification {
                    notification: ServerNotification::ToolListChangedNotification(_),
                    ..
                }) => {
                    tracing::info!(
                        component = %self.component,
                        "the MCP server component says its tools changed; weld serves the list \
                         it read when the component was loaded (reload it to list again)"
                    );
                }
                other => return Some(other),
            }
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// The server's stdout, ending with an error at the first message (line)
/// longer than its output limit. rmcp would drop such a line and read on,
/// leaving the request it answered to wait out its deadline; a server that
/// breaks its limit is stopped instead, and the requests in flight fail
/// saying why (`Routes::oversized`), as a plain call over its output limit
/// does.
pub(super) struct CappedLines<R> {
    inner: R,
    /// Bytes of the line being read so far.
    line: usize,
    max: usize,
    routes: Arc<Routes>,
}

impl<R> CappedLines<R> {
    pub(super) fn new(inner: R, max: usize, routes: Arc<Routes>) -> Self {
        Self {
            inner,
            line: 0,
            max,
            routes,
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for CappedLines<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.routes.oversized() {
            return std::task::Poll::Ready(Err(over_limit(self.max)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, buf))?;
        for &byte in &buf.filled()[before..] {
            if byte == b'\n' {
                this.line = 0;
            } else {
                this.line += 1;
                if this.line > this.max {
                    this.routes.oversized.store(true, Ordering::Release);
                    return std::task::Poll::Ready(Err(over_limit(this.max)));
                }
            }
        }
        std::task::Poll::Ready(Ok(()))
    }
}

fn over_limit(max: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the server sent a message of more than {max} bytes"),
    )
}

/// weld as an MCP client: it offers no client capability (no sampling,
/// roots or elicitation reach the person through a proxied server yet).
#[derive(Clone)]
pub(super) struct ProxyClient;

impl ClientHandler for ProxyClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("weld", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// Why a session could not be had: the outcome to audit, and the message.
pub(super) type Refusal = (Outcome, String);

/// A running instance with an initialized MCP session.
pub(super) struct Session {
    client: RunningService<RoleClient, ProxyClient>,
    pub(super) routes: Arc<Routes>,
    // Declared after the client: dropped after it, so the session is closed
    // (the server sees its stdin end) before the instance is stopped.
    instance: RunningCommand,
    /// The tools it listed when it started.
    pub(super) tools: Vec<Tool>,
    /// The largest message it may send (its output limit and envelope).
    pub(super) max_message_bytes: usize,
    in_flight: AtomicUsize,
    last_used: Mutex<Instant>,
}

impl Session {
    /// Starts an instance of `component`, initializes a session with it
    /// and lists its tools, all within the component's time limit.
    pub(super) async fn start(component: &ProxiedComponent) -> Result<Self, Refusal> {
        let limit = component.timeout();
        let deadline = tokio::time::Instant::now() + limit;
        let mut instance = tokio::time::timeout_at(deadline, component.start())
            .await
            .map_err(|_| (Outcome::QueueTimeout, waited(limit)))??;
        let Some((stdin, stdout)) = instance.take_stdio() else {
            return Err((Outcome::Instantiate, "its pipes were taken".into()));
        };
        let routes = Arc::new(Routes::default());
        let max = component.max_message_bytes();
        let stdout = CappedLines::new(stdout, max, Arc::clone(&routes));
        let transport = RoutedTransport {
            // rmcp's own cap stays one byte above: the reader ends first.
            inner: AsyncRwTransport::new_client(stdout, stdin)
                .with_max_line_length(max.saturating_add(1)),
            routes: Arc::clone(&routes),
            component: Arc::from(component.name.as_str()),
        };
        let mut ended = instance.watch_end();
        let handshake = async {
            // rmcp's session task takes the span current when it starts as
            // its own parent, and lives as long as the session: started
            // from the request that needed the server, it would keep that
            // request's span (and `weld.instantiate`) open, unexported, for
            // the instance's whole life. Started in a task of its own, it
            // has none.
            let serving = tokio::spawn(
                ProxyClient.serve_with_lifecycle(transport, ClientLifecycleMode::Initialize),
            );
            let _abandoned = AbortOnDrop(serving.abort_handle());
            let client = serving
                .await
                .map_err(|e| format!("its MCP session could not be started: {e}"))?
                .map_err(|e| format!("it did not complete MCP's `initialize`: {e}"))?;
            let tools = client
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| format!("it did not answer `tools/list`: {e}"))?;
            Ok::<_, String>((client, tools))
        };
        let (client, tools) = tokio::select! {
            done = tokio::time::timeout_at(deadline, handshake) => match done {
                Ok(Ok(session)) => session,
                Ok(Err(problem)) => {
                    let end = instance.end();
                    return Err(not_a_server(problem, end.as_ref()));
                }
                Err(_) => {
                    return Err((
                        Outcome::Deadline,
                        format!(
                            "it did not complete MCP's `initialize` and `tools/list` within its \
                             {}-second time limit (is it an MCP server over stdio?)",
                            limit.as_secs_f64()
                        ),
                    ));
                }
            },
            // It ended before it answered: say how, rather than that the
            // pipe closed.
            () = until_ended(&mut ended) => {
                let end = instance.end();
                return Err(not_a_server("it ended during MCP's `initialize`".into(), end.as_ref()));
            }
        };
        Ok(Self {
            client,
            routes,
            instance,
            tools,
            max_message_bytes: max,
            in_flight: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
        })
    }

    /// The client side of the session.
    pub(super) fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.client.peer()
    }

    /// How the instance ended, once it has.
    pub(super) fn end(&self) -> Option<CommandEnd> {
        self.instance.end()
    }

    /// A receiver of how the instance ended.
    pub(super) fn watch_end(&self) -> tokio::sync::watch::Receiver<Option<CommandEnd>> {
        self.instance.watch_end()
    }

    /// What its sandbox decided since the last take.
    pub(super) fn take_usage(&self) -> SandboxUse {
        self.instance.take_usage()
    }

    /// Whether it can take another request: the instance runs and its
    /// stdout is open.
    pub(super) fn alive(&self) -> bool {
        self.instance.end().is_none() && !self.routes.closed.is_cancelled()
    }

    /// Counts a request in flight until the guard is dropped.
    pub(super) fn busy(&self) -> Busy<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self)
    }

    /// How long it has had no request in flight (zero while it has one).
    pub(super) fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.elapsed()
    }
}

/// Stops a task when the start that waits for it is abandoned (its time
/// limit passed, or the instance ended).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A request in flight on a [`Session`].
pub(super) struct Busy<'a>(&'a Session);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self
            .0
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Returns once `end` holds how an instance ended (or its sender is gone:
/// it was stopped).
pub(super) async fn until_ended(end: &mut tokio::sync::watch::Receiver<Option<CommandEnd>>) {
    let _ = end.wait_for(Option::is_some).await;
}

fn waited(limit: Duration) -> String {
    format!(
        "it could not be started within its {}-second time limit: weld's instance slots or \
         memory budget stayed taken",
        limit.as_secs_f64()
    )
}

/// A start that failed after the instance ran: how it ended, if it did.
fn not_a_server(problem: String, end: Option<&CommandEnd>) -> Refusal {
    match end {
        Some(end) => (ended_outcome(end), format!("{problem}: {end}")),
        None => (Outcome::Instantiate, problem),
    }
}
