//! Sessions for clients that `initialize` over HTTP (MCP up to 2025-11-25):
//! rmcp's in-memory session manager, with the bounds it lacks.
//!
//! A session is what lets weld reach such a client between its requests:
//! progress and log notifications on a call's SSE stream, the standalone GET
//! stream (`list_changed`), and requests to the client (elicitation, for a
//! person's approval). 2026-07-28 clients never get one: rmcp serves them
//! statelessly, and so does weld's fast path.
//!
//! Bounds, so that clients cannot hold weld's memory:
//! - at most `max` sessions: the next `initialize` is refused (rmcp answers
//!   500 with the reason) until one ends;
//! - a session idle for `idle` is closed (its id then gets 404, and a client
//!   initializes again);
//! - each session buffers at most [`CHANNEL_CAPACITY`] messages towards its
//!   worker, and each message is within the request and result caps.
//!
//! Ids are rmcp's: UUID v4 from the OS's random source (122 random bits),
//! so one client cannot guess another's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::Stream;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

use super::Body;

/// rmcp answers a session it could not create with 500; when the reason is
/// the session limit, the client gets 503 and `Retry-After` instead, which
/// says what it is: the server is busy, and a retry may succeed.
pub(super) async fn full_as_busy(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes);
    if bytes
        .windows(b"--max-sessions".len())
        .any(|w| w == b"--max-sessions")
    {
        parts.status = StatusCode::SERVICE_UNAVAILABLE;
        parts
            .headers
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Response::from_parts(parts, Full::new(bytes).boxed())
}

/// Messages a session may have queued towards its worker (rmcp's default).
pub(crate) const CHANNEL_CAPACITY: usize = 16;

/// Why a session could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Every session slot is taken.
    #[error(
        "weld holds its maximum of {0} MCP sessions (--max-sessions); retry when one ends, or \
         use the stateless 2026-07-28 protocol, which needs none"
    )]
    Full(usize),
    /// rmcp's session manager failed.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// rmcp's local session manager with a cap on the number of sessions.
pub(crate) struct BoundedSessions {
    inner: LocalSessionManager,
    max: usize,
    /// Serialises the check and the insert, so concurrent `initialize`s
    /// cannot overshoot the cap.
    creating: tokio::sync::Mutex<()>,
    refused: AtomicU64,
}

impl BoundedSessions {
    pub(crate) fn new(max: usize, idle: Duration) -> Self {
        let mut inner = LocalSessionManager::default();
        let mut config = SessionConfig::default();
        config.channel_capacity = CHANNEL_CAPACITY;
        config.keep_alive = Some(idle);
        inner.session_config = config;
        Self {
            inner,
            max,
            creating: tokio::sync::Mutex::new(()),
            refused: AtomicU64::new(0),
        }
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _creating = self.creating.lock().await;
        let open = self.inner.sessions.read().await.len();
        if open >= self.max {
            let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            // Once, then every 100th: a client retrying in a loop must not
            // flood the log.
            if refused == 1 || refused.is_multiple_of(100) {
                tracing::warn!(
                    max_sessions = self.max,
                    refused,
                    "at the MCP session limit; refusing new sessions"
                );
            }
            return Err(SessionError::Full(self.max));
        }
        Ok(self.inner.create_session().await?)
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}
