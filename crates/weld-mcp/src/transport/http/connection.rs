//! One HTTP connection's lifetime: how it is served (hyper's limits, the
//! idle timer that closes a connection with no request in progress), and
//! how a connection over `max_connections` is answered 503 (a probe as
//! usual) and closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    Body, H1_MAX_BUF, H2_MAX_HEADER_LIST, H2_MAX_STREAMS, HttpLimits, REFUSAL_DRAIN_BYTES,
    REFUSAL_DRAIN_TIME, Shared, body, plain, probe, route,
};

pub(super) fn connection_builder(limits: &HttpLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(H1_MAX_BUF);
    // A peer that stops answering pings while a call runs is gone; its call
    // is cancelled like a closed connection's.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// What an accepted connection holds until it closes: a place among the
/// served connections, or among the ones being answered 503.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    pub(super) refusing: bool,
}

impl Slot {
    pub(super) fn serve(permit: OwnedSemaphorePermit) -> Self {
        Self {
            _permit: permit,
            refusing: false,
        }
    }

    pub(super) fn refuse(permit: OwnedSemaphorePermit) -> Self {
        Self {
            _permit: permit,
            refusing: true,
        }
    }
}

/// Why a connection is being closed by weld.
#[derive(Debug)]
enum Ending {
    Idle,
    Refused,
    Shutdown,
}

pub(super) async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    shutdown: CancellationToken,
) {
    let refusing = slot.refusing;
    let activity = Activity::new();
    let close = CancellationToken::new();
    let svc = {
        let (shared, activity, close) = (Arc::clone(&shared), Arc::clone(&activity), close.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let (shared, activity, close) =
                (Arc::clone(&shared), Arc::clone(&activity), close.clone());
            async move {
                let _busy = activity.begin();
                let response = if refusing {
                    refuse_at_capacity(&shared, req, &close).await
                } else {
                    route(&shared, req).await
                };
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let grace = shared.limits.header_timeout;
    let ending = tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            return;
        }
        () = activity.idle_for(grace) => Ending::Idle,
        () = close.cancelled() => Ending::Refused,
        () = shutdown.cancelled() => Ending::Shutdown,
    };
    tracing::debug!(%peer, ?ending, "closing the connection");
    // Lets a response being written finish (HTTP/1) and tells an HTTP/2
    // client which streams were served (GOAWAY).
    conn.as_mut().graceful_shutdown();
    let result = match ending {
        Ending::Shutdown => conn.await,
        Ending::Idle | Ending::Refused => match tokio::time::timeout(grace, conn).await {
            Ok(result) => result,
            // A client that reads nothing is not waited for.
            Err(_elapsed) => Ok(()),
        },
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
    drop(slot);
}

/// Whether a connection has a request in progress, and since when not.
struct Activity(watch::Sender<Idle>);

#[derive(Clone, Copy)]
struct Idle {
    requests: usize,
    since: Instant,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self(watch::Sender::new(Idle {
            requests: 0,
            since: Instant::now(),
        })))
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.0.send_modify(|idle| idle.requests += 1);
        Busy(Arc::clone(self))
    }

    /// Resolves once no request has been in progress for `limit`.
    async fn idle_for(&self, limit: Duration) {
        let mut changes = self.0.subscribe();
        loop {
            let idle = *changes.borrow_and_update();
            if idle.requests == 0 {
                tokio::select! {
                    () = tokio::time::sleep_until(idle.since + limit) => return,
                    _ = changes.changed() => {}
                }
            } else if changes.changed().await.is_err() {
                // Cannot happen while `self` holds the sender.
                return std::future::pending().await;
            }
        }
    }
}

/// One request in progress on a connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.0.send_modify(|idle| {
            idle.requests -= 1;
            if idle.requests == 0 {
                idle.since = Instant::now();
            }
        });
    }
}

/// The answer on a connection over the cap: 503, then close. A probe is
/// answered as on any connection: a liveness probe that got 503 whenever
/// clients fill the cap would have a busy weld restarted.
async fn refuse_at_capacity(
    shared: &Shared,
    req: Request<Incoming>,
    close: &CancellationToken,
) -> Response<Body> {
    let version = req.version();
    let probed = probe(shared, &req);
    let mut body = req.into_body();
    body::discard(
        &mut body,
        REFUSAL_DRAIN_BYTES,
        Instant::now() + REFUSAL_DRAIN_TIME,
    )
    .await;
    close.cancel();
    let mut response = probed.unwrap_or_else(|| {
        let mut refusal = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "weld is serving as many connections as it may ({}, --max-connections); retry \
                 in a moment, or close idle connections\n",
                shared.limits.max_connections
            ),
        );
        refusal
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        refusal
    });
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
