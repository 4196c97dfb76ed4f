//! The two ways in: stdio (one client, the one that started us) and
//! Streamable HTTP (any number, on `/mcp`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::handler::{ServerOptions, WeldServer};
use crate::stdio::StdioTransport;

/// Errors that stop a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("could not listen on {addr}: {cause}")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("the MCP session ended with an error: {0}")]
    Session(String),
}

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
    let registry = std::sync::Arc::clone(server.registry());
    let (read, write) = rmcp::transport::io::stdio_pipes();
    let transport = StdioTransport::new(read, write, options.max_request_bytes);
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
    started.store(true, std::sync::atomic::Ordering::Release);
    // A client that initialized (the legacy lifecycle) is told of tool
    // changes directly; 2026-07-28 clients subscribe instead (see
    // `WeldServer::listen`).
    if running.peer().peer_info().is_some() {
        let peer = running.peer().clone();
        let mut changes = registry.changes();
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

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// Extra `Host` values accepted besides loopback names (needed when
    /// bound to a non-loopback address).
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins accepted besides loopback ones.
    pub allowed_origins: Vec<String>,
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

/// The Streamable HTTP service on `/mcp`, with DNS-rebinding protection:
/// `Host` must be loopback (or listed) and a present `Origin` must be a
/// loopback origin (or listed), else 403.
pub fn http_service(
    server: WeldServer,
    options: &ServerOptions,
    http: &HttpOptions,
    shutdown: CancellationToken,
) -> StreamableHttpService<WeldServer, LocalSessionManager> {
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
        // Every request is served on its own, in both eras: a tool call needs
        // nothing from earlier requests, and without sessions a response is
        // plain JSON rather than an SSE stream — no framing to pay for, and
        // no client-side SSE event cap (the Python SDK's is 1 MiB) to trip
        // over with a large result. A closed connection cancels its call.
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_cancellation_token(shutdown);
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// Binds `http.addr` and serves until `shutdown` fires. Returns the bound
/// address through `on_bound` before accepting (useful with port 0).
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve_http(
    server: WeldServer,
    options: &ServerOptions,
    http: &HttpOptions,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), TransportError> {
    let listener = TcpListener::bind(http.addr)
        .await
        .map_err(|cause| TransportError::Bind {
            addr: http.addr,
            cause,
        })?;
    let bound = listener.local_addr().unwrap_or(http.addr);
    on_bound(bound);
    let service = http_service(server, options, http, shutdown.clone());
    let token: Option<Arc<[u8]>> = http
        .bearer_token
        .as_deref()
        .map(|t| Arc::from(t.as_bytes()));
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Without this a client that delays ACKs waits ~40 ms per response.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let service = service.clone();
        let token = token.clone();
        let builder = Arc::clone(&builder);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut service = service.clone();
                let token = token.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        route(&mut service, token.as_deref(), req).await,
                    )
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    Ok(())
}

type Body = BoxBody<Bytes, std::convert::Infallible>;

async fn route(
    service: &mut StreamableHttpService<WeldServer, LocalSessionManager>,
    token: Option<&[u8]>,
    req: Request<Incoming>,
) -> Response<Body> {
    if req.uri().path() != "/mcp" {
        return plain(StatusCode::NOT_FOUND, "weld serves MCP at /mcp\n");
    }
    if let Some(token) = token {
        let presented = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        if !presented.is_some_and(|p| constant_time_eq(p, token)) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    let is_delete = req.method() == hyper::Method::DELETE;
    let mut response = match tower_service::Service::call(service, req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // rmcp answers a session DELETE with 202; the session is gone at that
    // point, and clients (the Python SDK) expect 200 or 204.
    if is_delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
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

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response
}
