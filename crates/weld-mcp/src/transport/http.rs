//! Streamable HTTP on `/mcp` (HTTP/1.1, and HTTP/2 with prior knowledge):
//! the accept loop and the checks a request passes before rmcp sees it;
//! each connection's lifetime is in `connection`, request bodies in
//! `body`, `Host` and target checks in `target`.
//!
//! Every limit here stops one client from taking what the others need:
//!
//! | limit | stops | when reached |
//! |---|---|---|
//! | `max_connections` (512) | running out of file descriptors | the next connections are answered 503 and closed (64 at a time; a probe on one is answered as usual); beyond those weld stops accepting until one closes |
//! | `header_timeout` (30 s) | half-sent requests and idle connections holding a slot | a connection with no request in progress for this long (before its first request, between requests, or while a request head trickles in) is closed |
//! | `body_timeout` (60 s) | a body that never finishes | 408, and the connection is closed |
//! | `max_request_bytes` (4 MiB) | one huge body | 413, checked on `Content-Length` and as bytes arrive; over HTTP/1 the rest (up to twice the cap) is read and discarded first, so the client gets the answer |
//! | `max_buffered_request_bytes` (16 × the above) | many large bodies at once | 503 for the request that would go over |
//! | HTTP/1 buffer 64 KiB; HTTP/2 32 streams per connection, 16 KiB of headers | oversized heads, one connection multiplexing thousands of calls | 431 / stream refused |
//!
//! Answering over-cap connections with 503 rather than only leaving them in
//! the kernel's backlog tells a client at once what happened and that a
//! retry will do; the few slots for those answers keep that from becoming a
//! second way to run out of descriptors.

mod body;
mod connection;
mod fd_limit;
mod json_answer;
mod removed;
mod sessions;
mod target;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode, Version};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use fd_limit::FdLimitError;
pub use sessions::SessionError;

use self::sessions::BoundedSessions;

use self::body::{BodyBudget, BodyFailure, BodyLimits, MeteredBody, Reservation};
use self::connection::{Slot, connection_builder, serve_connection};
use super::TransportError;
use crate::handler::{ServerOptions, WeldServer};

/// HTTP settings.
#[derive(Clone)]
pub struct HttpOptions {
    /// Where to listen (port 0: any free port, reported through `on_bound`).
    pub addr: SocketAddr,
    /// Extra `Host` values accepted besides loopback names (needed when
    /// bound to a non-loopback address).
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins accepted besides loopback ones.
    pub allowed_origins: Vec<String>,
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// How much of weld's connections, time and memory clients may hold.
    pub limits: HttpLimits,
    /// The metrics text `GET /metrics` serves (OpenMetrics); `None`: no
    /// such endpoint.
    pub metrics: Option<MetricsText>,
    /// Why weld is not ready now, asked at every `GET /readyz` (which then
    /// answers 503 with the reason); `None`, or no check, is ready.
    pub readiness: Option<Readiness>,
}

/// Renders the metrics at each scrape.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// Says why weld should get no new calls now (`None`: it may). Asked at
/// each readiness probe, so it must be cheap: a flag read, not I/O.
pub type Readiness = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// How much of weld's connections, time and memory HTTP clients may hold.
/// The defaults are far beyond what a local client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a connection may go without a request in progress: before
    /// its first request, between requests, and while a request head
    /// arrives.
    pub header_timeout: Duration,
    /// How long a request body may take to arrive, from its head.
    pub body_timeout: Duration,
    /// Bytes of request bodies held at once across all connections, from
    /// the first byte until the request is answered. `None`: 16 requests at
    /// the size cap.
    pub max_buffered_request_bytes: Option<usize>,
    /// Sessions of clients that `initialize` over HTTP (up to 2025-11-25)
    /// held at once.
    pub max_sessions: usize,
    /// How long such a session may go without a request before it is
    /// closed.
    pub session_idle_timeout: Duration,
    /// After shutdown is asked for: how long calls in progress may take to
    /// finish before they are cancelled.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_buffered_request_bytes: None,
            max_sessions: 256,
            session_idle_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

impl HttpLimits {
    /// The body budget in bytes, once the limits are known to be consistent.
    fn body_budget(&self, max_request_bytes: usize) -> Result<usize, TransportError> {
        let invalid = |reason: String| Err(TransportError::HttpLimits(reason));
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return invalid(format!(
                "--max-connections must be between 1 and {MAX_CONNECTIONS}"
            ));
        }
        if self.header_timeout.is_zero()
            || self.body_timeout.is_zero()
            || self.session_idle_timeout.is_zero()
        {
            return invalid(
                "--header-timeout, --body-timeout and --session-idle-timeout must be longer \
                 than zero"
                    .into(),
            );
        }
        if self.max_sessions == 0 {
            return invalid("--max-sessions must be at least 1".into());
        }
        let budget = self
            .max_buffered_request_bytes
            .unwrap_or(max_request_bytes.saturating_mul(DEFAULT_BUDGET_IN_REQUESTS));
        if budget < max_request_bytes {
            return invalid(format!(
                "--max-buffered-request-bytes ({budget}) is smaller than --max-request-bytes \
                 ({max_request_bytes}), so a request at the size cap could never be served; \
                 raise it or lower --max-request-bytes"
            ));
        }
        Ok(budget)
    }
}

/// More connections than any one process can have open.
const MAX_CONNECTIONS: usize = 1_000_000;
/// The default body budget, in requests at the size cap.
const DEFAULT_BUDGET_IN_REQUESTS: usize = 16;
/// Connections over the cap that are answered (503) at once; beyond these
/// weld stops accepting until a connection closes.
const REFUSAL_SLOTS: usize = 64;
/// A body refused for its size or the budget is read and discarded up to
/// this many times the size cap, so that an HTTP/1 client still sending it
/// gets the answer (closing with unread data resets the connection).
const DRAIN_IN_REQUESTS: usize = 2;
/// What weld reads of a refused connection's request before answering, for
/// the same reason, kept small: such connections must stay cheap.
const REFUSAL_DRAIN_BYTES: usize = 64 * 1024;
const REFUSAL_DRAIN_TIME: Duration = Duration::from_secs(1);
/// HTTP/1 read buffer, which bounds a request head (hyper's default ~400 KiB
/// per connection is far more than an MCP request's head needs).
const H1_MAX_BUF: usize = 64 * 1024;
/// Calls one HTTP/2 connection may have in flight (hyper's default is 200).
const H2_MAX_STREAMS: u32 = 32;
const H2_MAX_HEADER_LIST: u32 = 16 * 1024;
/// How often a refused connection is logged at most.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The Streamable HTTP service on `/mcp`, with DNS-rebinding protection:
/// `Host` must be loopback (or listed) and a present `Origin` must be a
/// loopback origin (or listed), else 403.
fn http_service(
    server: WeldServer,
    options: &ServerOptions,
    http: &HttpOptions,
    shutdown: CancellationToken,
) -> StreamableHttpService<WeldServer, BoundedSessions> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(http.allowed_hosts.iter().cloned());
    let mut origins: Vec<String> = vec![
        "http://localhost:*".into(),
        "http://127.0.0.1:*".into(),
        "http://[::1]:*".into(),
    ];
    origins.extend(http.allowed_origins.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(options.max_request_bytes)
        // A client that initializes (up to 2025-11-25) gets a session
        // (`Mcp-Session-Id`) and SSE streams, so that notifications and
        // requests to it (a person's approval) reach it over HTTP too.
        // 2026-07-28 clients never initialize and are served on the
        // stateless path, where a lone response is plain JSON: no framing
        // to pay for, and no client-side SSE event cap (the Python SDK's is
        // 1 MiB) to trip over with a large result. A closed connection
        // cancels its call.
        .with_legacy_session_mode(true)
        .with_json_response(true)
        .with_cancellation_token(shutdown);
    StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(BoundedSessions::new(
            http.limits.max_sessions,
            http.limits.session_idle_timeout,
        )),
        config,
    )
}

/// What every connection shares.
struct Shared {
    service: StreamableHttpService<WeldServer, BoundedSessions>,
    /// Fired when shutdown is asked for (not when weld stops serving).
    shutdown: CancellationToken,
    metrics: Option<MetricsText>,
    readiness: Option<Readiness>,
    token: Option<Box<[u8]>>,
    budget: Arc<BodyBudget>,
    limits: HttpLimits,
    max_request_bytes: usize,
}

/// Binds `http.addr` and serves until `shutdown` fires. Returns the bound
/// address through `on_bound` before accepting (useful with port 0).
///
/// Shutting down is graceful: the listener closes at once (new connections
/// are refused, so a load balancer moves on), connections finish the
/// requests in progress and close, GET streams end, and weld returns once
/// every connection has closed, or after `shutdown_grace`, when what is
/// still running is cancelled. A caller that must first be taken out of a
/// load balancer's rotation (Kubernetes: until the endpoints are updated)
/// makes `readiness` say so and fires `shutdown` later.
///
/// # Errors
///
/// When the limits are inconsistent, the open-file limit cannot hold
/// `max_connections`, or the address cannot be bound.
pub async fn serve_http(
    server: WeldServer,
    options: &ServerOptions,
    http: &HttpOptions,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), TransportError> {
    let limits = http.limits;
    let budget = limits.body_budget(options.max_request_bytes)?;
    let needed = (limits.max_connections + REFUSAL_SLOTS) as u64 + fd_limit::RESERVED;
    fd_limit::ensure(limits.max_connections, needed)?;
    let listener = TcpListener::bind(http.addr)
        .await
        .map_err(|cause| TransportError::Bind {
            addr: http.addr,
            cause,
        })?;
    let bound = listener.local_addr().unwrap_or(http.addr);
    on_bound(bound);
    // Cancels rmcp's requests and sessions: at the end of the grace period,
    // not when shutdown is asked for.
    let abort = CancellationToken::new();
    let shared = Arc::new(Shared {
        service: http_service(server, options, http, abort.clone()),
        shutdown: shutdown.clone(),
        token: http.bearer_token.as_deref().map(|t| t.as_bytes().into()),
        metrics: http.metrics.clone(),
        readiness: http.readiness.clone(),
        budget: BodyBudget::new(budget),
        limits,
        max_request_bytes: options.max_request_bytes,
    });
    let builder = Arc::new(connection_builder(&limits));
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    let mut accept_failing = false;
    let mut refusal_log = RefusalLog::default();
    loop {
        // A slot first, then the connection: a connection weld has no slot
        // for stays in the kernel's backlog instead of taking a descriptor.
        let slot = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Ok(permit) = Arc::clone(&connections).acquire_owned() => Slot::serve(permit),
            Ok(permit) = Arc::clone(&refusals).acquire_owned() => Slot::refuse(permit),
            else => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_per_connection(&error) => continue,
                Err(error) => {
                    // Out of descriptors or memory: wait, don't spin, and
                    // don't fill the log with the same line.
                    if accept_failing {
                        tracing::debug!(%error, "accept failed again");
                    } else {
                        tracing::warn!(%error, "accept failed; retrying every 100 ms");
                    }
                    accept_failing = true;
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = shutdown.cancelled() => break,
                    }
                }
            },
            () = shutdown.cancelled() => break,
        };
        if std::mem::take(&mut accept_failing) {
            tracing::info!("accepting connections again");
        }
        let slot = if slot.refusing {
            // A served connection may have closed while this one was accepted.
            Arc::clone(&connections)
                .try_acquire_owned()
                .map_or(slot, Slot::serve)
        } else {
            slot
        };
        if slot.refusing {
            refusal_log.record(limits.max_connections);
        }
        // Without this a client that delays ACKs waits ~40 ms per response.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        tokio::spawn(serve_connection(
            stream,
            peer,
            slot,
            Arc::clone(&shared),
            Arc::clone(&builder),
            shutdown.clone(),
        ));
    }
    drop(listener);
    let open = limits.max_connections - connections.available_permits();
    if open > 0 {
        tracing::info!(
            connections = open,
            grace = ?limits.shutdown_grace,
            "not accepting; waiting for the calls in progress to finish"
        );
    }
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            connections = limits.max_connections - connections.available_permits(),
            "the shutdown grace period ended; cancelling what is still running"
        );
    }
    abort.cancel();
    Ok(())
}

/// Refused connections, logged at most every [`REFUSAL_LOG_EVERY`] so an
/// attack does not also flood the log.
#[derive(Default)]
struct RefusalLog {
    unlogged: u64,
    last: Option<Instant>,
}

impl RefusalLog {
    fn record(&mut self, max_connections: usize) {
        self.unlogged += 1;
        if self.last.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
            tracing::warn!(
                max_connections,
                refused = self.unlogged,
                "at the HTTP connection limit; answering new connections with 503"
            );
            self.unlogged = 0;
            self.last = Some(Instant::now());
        }
    }
}

/// Accept errors that concern one connection only (it was reset before
/// weld took it), after which the next accept can proceed at once.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    )
}

type Body = BoxBody<Bytes, Infallible>;

/// The answer to a probe (an orchestrator's, a load balancer's), `None`
/// for any other request. Probes need no token and accept any Host or none
/// (HTTP/1.0 checks send none), as they say nothing but whether weld is
/// serving; they are answered on connections over the cap too, so that a
/// busy weld is not taken for a dead one. weld listens only once every
/// installed tool is listed, so serving is ready, unless `readiness` says
/// otherwise or shutdown was asked for.
fn probe<B>(shared: &Shared, req: &Request<B>) -> Option<Response<Body>> {
    let path @ ("/healthz" | "/readyz") = req.uri().path() else {
        return None;
    };
    if !matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD) {
        return Some(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "probes are GET requests\n",
        ));
    }
    if path == "/healthz" {
        return Some(plain(StatusCode::OK, "ok\n"));
    }
    if shared.shutdown.is_cancelled() {
        return Some(plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"));
    }
    if let Some(reason) = shared.readiness.as_ref().and_then(|check| check()) {
        return Some(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", reason.trim_end()),
        ));
    }
    Some(plain(StatusCode::OK, "ready\n"))
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    if let Some(answer) = probe(shared, &req) {
        return answer;
    }
    if let Err(refusal) = target::check(&req) {
        return plain(refusal.status, refusal.reason);
    }
    let is_metrics = req.uri().path() == "/metrics" && shared.metrics.is_some();
    if req.uri().path() != "/mcp" && !is_metrics {
        return plain(
            StatusCode::NOT_FOUND,
            "weld serves MCP at /mcp (and /healthz, /readyz, /metrics)\n",
        );
    }
    if let Some(token) = &shared.token {
        let presented = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        if !presented.is_some_and(|p| constant_time_eq(p, token)) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    if let (true, Some(metrics)) = (is_metrics, &shared.metrics) {
        if !matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD) {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "metrics are a GET request\n",
            );
        }
        let mut response = plain(StatusCode::OK, metrics());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        return response;
    }
    let version = req.version();
    let deadline = Instant::now() + shared.limits.body_timeout;
    // HTTP/2 refuses one stream and the answer gets through; HTTP/1 needs
    // the rest of a refused body read first (see `MeteredBody`).
    let drain_to = if version < Version::HTTP_2 {
        shared.max_request_bytes.saturating_mul(DRAIN_IN_REQUESTS)
    } else {
        0
    };
    let announced = hyper::body::Body::size_hint(req.body()).lower();
    if announced > shared.max_request_bytes as u64 {
        body::discard(&mut req.into_body(), drain_to, deadline).await;
        return body_refusal(shared, BodyFailure::TooLarge, version);
    }
    let failure = Arc::new(OnceLock::new());
    let reservation = Reservation::new(&shared.budget);
    let limits = BodyLimits {
        cap: shared.max_request_bytes,
        drain_to,
        deadline,
    };
    let req = req
        .map(|body| MeteredBody::new(body, limits, Arc::clone(&reservation), Arc::clone(&failure)));
    let is_delete = req.method() == hyper::Method::DELETE;
    let is_post = req.method() == hyper::Method::POST;
    if is_post && removed::is_removed_initialize(req.headers()) {
        let body = req.into_body().collect().await.ok().map(|c| c.to_bytes());
        drop(reservation);
        if let Some(&failure) = failure.get() {
            return body_refusal(shared, failure, version);
        }
        return removed::answer(body.as_deref());
    }
    let is_get = req.method() == hyper::Method::GET;
    let accepts_json = req
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"));
    let in_session = req.headers().contains_key("mcp-session-id");
    let mut service = shared.service.clone();
    let mut response = match tower_service::Service::call(&mut service, req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // The request's bytes count against the budget until it is answered.
    drop(reservation);
    if let Some(&failure) = failure.get() {
        return body_refusal(shared, failure, version);
    }
    // rmcp answers a session DELETE with 202; the session is gone at that
    // point, and clients (the Python SDK) expect 200 or 204.
    if is_delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    if is_post && !in_session && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return sessions::full_as_busy(response).await;
    }
    if is_post && accepts_json {
        return json_answer::prefer_json(response).await;
    }
    if is_get {
        // A session's GET stream has no end of its own: it ends when
        // shutdown is asked for, so that it does not hold the connection
        // through the grace period meant for calls.
        let shutdown = shared.shutdown.clone();
        return response.map(|body| {
            let ends = async move { shutdown.cancelled_owned().await };
            http_body_util::StreamBody::new(futures::StreamExt::take_until(
                http_body_util::BodyStream::new(body),
                ends,
            ))
            .boxed()
        });
    }
    response
}

/// The answer to a body weld stopped reading. Over HTTP/1 the connection
/// closes with it: what is left of the body cannot be told from the next
/// request.
fn body_refusal(shared: &Shared, failure: BodyFailure, version: Version) -> Response<Body> {
    let (status, text) = match failure {
        BodyFailure::TimedOut => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:?} (the server's --body-timeout); \
                 the connection is closed\n",
                shared.limits.body_timeout
            ),
        ),
        BodyFailure::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} bytes (the server's --max-request-bytes)\n",
                shared.max_request_bytes
            ),
        ),
        BodyFailure::OverBudget => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "weld is holding as many request bodies as it may ({} bytes, \
                 --max-buffered-request-bytes); retry in a moment\n",
                shared.budget.capacity()
            ),
        ),
    };
    let mut response = plain(status, text);
    if failure == BodyFailure::OverBudget {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Compares without an early exit, so the time taken does not reveal how
/// much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(text.into()).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
