//! The two ways in: stdio (one client, the one that started us) and
//! Streamable HTTP (any number, on `/mcp`; in [`crate::http_transport`]).

use std::net::SocketAddr;

use rmcp::ServiceExt;
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
    #[error("{0}")]
    HttpLimits(String),
    #[error(transparent)]
    FdLimit(#[from] crate::http_transport::FdLimitError),
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
