//! One `tools/call` of a proxied tool: sent to the server's session with
//! the request's deadline, cancelled there when the client cancels or the
//! deadline passes, its progress and log notifications passed to the
//! calling client, and one audit record.
//!
//! Its child spans are a plain call's: `weld.queue` (waiting for one of the
//! requests its instance may have in flight), `weld.instantiate` (starting
//! the instance, when one has to be: see the supervisor) and
//! `weld.guest.run` (the round trip to the server, notifications passed on
//! included); what the sandbox decided are events of the request's span.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotification, CancelledNotificationParam, ClientNotification, ClientRequest,
    ContentBlock, ProgressToken, ServerResult,
};
use rmcp::service::{PeerRequestOptions, RequestContext, ServiceError};
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use tracing::Instrument as _;
use weld_host::Outcome;
use weld_host::audit::{Audit, args_bytes};
use weld_host::proxied::{ProxiedRecord, ended_outcome};
use weld_policy::Excess;

use super::session::{Forward, Session, until_ended};
use super::supervisor::Supervisor;
use crate::served::{LogFloor, log_level};

/// What became of the request, before it is told to the client.
enum Ending {
    /// The server answered.
    Answer(Box<ServerResult>),
    /// The server answered with an error.
    Refused(McpError),
    /// weld ended it (deadline, cancellation, a stopped server): the
    /// outcome and the message.
    Failed(Outcome, String),
    /// The client cancelled it.
    Cancelled,
}

/// Who calls, and what they want to hear.
pub(crate) struct Caller<'a> {
    pub(crate) context: &'a RequestContext<RoleServer>,
    pub(crate) audit: &'a Audit,
    /// `name/version`, for the audit record.
    pub(crate) client: Option<String>,
    /// The least severe log message the client wants, or `None` for none.
    pub(crate) floor: LogFloor,
}

/// Calls `tool` (as the server names it) on `supervisor`'s server for
/// `caller`.
pub(crate) async fn call(
    supervisor: Arc<Supervisor>,
    request: CallToolRequestParams,
    caller: Caller<'_>,
) -> Result<CallToolResponse, McpError> {
    let Caller {
        context,
        audit,
        client,
        floor,
    } = caller;
    let component = Arc::clone(&supervisor.component);
    let mut record = ProxiedRecord::new(Arc::clone(&component), &request.name, client);
    record.args_bytes = args_bytes(request.arguments.as_ref());
    let arrived = Instant::now();
    let deadline = tokio::time::Instant::from_std(arrived + component.timeout());
    let permit = tokio::select! {
        permit = in_flight_slot(&supervisor, deadline)
            .instrument(tracing::trace_span!(target: crate::trace::TARGET, "weld.queue")) => permit,
        () = context.ct.cancelled() => {
            audit.record_proxied(record);
            return Err(McpError::internal_error("request cancelled", None));
        }
    };
    let _permit = match permit {
        Ok(permit) => permit,
        Err((outcome, message)) => {
            record.queued = arrived.elapsed();
            return Ok(failed(record, audit, outcome, message));
        }
    };
    let _running = component.calls().running();
    let session = tokio::select! {
        session = supervisor.session() => session,
        () = context.ct.cancelled() => {
            audit.record_proxied(record);
            return Err(McpError::internal_error("request cancelled", None));
        }
    };
    let session = match session {
        Ok(session) => session,
        Err((outcome, message)) => {
            record.queued = arrived.elapsed();
            return Ok(failed(record, audit, outcome, message));
        }
    };
    record.queued = arrived.elapsed();
    let sent = Instant::now();
    let outer = Outer {
        peer: context.peer.clone(),
        token: context.meta.get_progress_token(),
        floor,
    };
    let limit = component.timeout();
    let ending = forward(&session, request, context, &outer, deadline, limit)
        .instrument(tracing::trace_span!(target: crate::trace::TARGET, "weld.guest.run"))
        .await;
    record.duration = sent.elapsed();
    record.usage = session.take_usage();
    let response = match ending {
        Ending::Answer(answer) => match *answer {
            ServerResult::CallToolResult(result) => {
                supervisor.answered();
                record.outcome = if result.is_error == Some(true) {
                    Outcome::ToolError
                } else {
                    Outcome::Ok
                };
                Ok(result.into())
            }
            _ => {
                let message = format!(
                    "the MCP server component `{}` answered `tools/call` with something that \
                     is not a tool result",
                    component.name
                );
                return Ok(failed(record, audit, Outcome::ToolError, message));
            }
        },
        Ending::Refused(error) => {
            supervisor.answered();
            record.outcome = Outcome::ToolError;
            record.error = Some(error.message.to_string());
            Err(error)
        }
        Ending::Failed(outcome, message) => return Ok(failed(record, audit, outcome, message)),
        Ending::Cancelled => {
            record.outcome = Outcome::Cancelled;
            Err(McpError::internal_error("request cancelled", None))
        }
    };
    audit.record_proxied(record);
    response
}

/// One of the requests its instance may have in flight, waiting (until
/// `deadline`) or not as its policy says.
async fn in_flight_slot(
    supervisor: &Supervisor,
    deadline: tokio::time::Instant,
) -> Result<tokio::sync::SemaphorePermit<'_>, (Outcome, String)> {
    let limit = supervisor.component.in_flight();
    let name = &supervisor.component.name;
    let why = format!(
        "at most {} request(s) may be in flight to the MCP server component `{name}` at once \
         (`resources.limits.concurrency` in its policy, or weld's default)",
        limit.max
    );
    let closed = || {
        (
            Outcome::Instantiate,
            "internal error: the in-flight limit is unavailable".to_string(),
        )
    };
    match (supervisor.in_flight.try_acquire(), limit.excess) {
        (Ok(permit), _) => Ok(permit),
        (Err(tokio::sync::TryAcquireError::Closed), _) => Err(closed()),
        (Err(_), Excess::Refuse) => Err((
            Outcome::RefusedBusy,
            format!("{why}, and its policy refuses more (`excess: refuse`); retry later"),
        )),
        (Err(_), Excess::Wait) => {
            let _waiting = supervisor.component.calls().waiting();
            match tokio::time::timeout_at(deadline, supervisor.in_flight.acquire()).await {
                Ok(Ok(permit)) => Ok(permit),
                Ok(Err(_)) => Err(closed()),
                Err(_) => Err((
                    Outcome::QueueTimeout,
                    format!("the call did not start within its time limit: {why}; retry later"),
                )),
            }
        }
    }
}

/// Audits a call weld failed and gives its client the reason as a tool
/// error, as for every tool.
fn failed(
    mut record: ProxiedRecord,
    audit: &Audit,
    outcome: Outcome,
    message: String,
) -> CallToolResponse {
    record.outcome = outcome;
    record.error = Some(message.clone());
    audit.record_proxied(record);
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

/// Sends the request and waits for its end, passing its notifications on
/// meanwhile; returns once both are done, so every notification the server
/// sent before its answer reaches the client before the answer does.
async fn forward(
    session: &Session,
    request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
    outer: &Outer,
    deadline: tokio::time::Instant,
    limit: std::time::Duration,
) -> Ending {
    let _busy = session.busy();
    let mut params = CallToolRequestParams::new(request.name);
    params.arguments = request.arguments;
    let sent = session
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await;
    let handle = match sent {
        Ok(handle) => handle,
        Err(error) => return stopped(session, &error).await,
    };
    let token = handle.progress_token.clone();
    let (id, peer) = (handle.id.clone(), handle.peer.clone());
    let notifications = session.routes.add(token.clone());
    let wait = async {
        let ending = tokio::select! {
            answer = handle.await_response() => match answer {
                Ok(result) => Ending::Answer(Box::new(result)),
                Err(ServiceError::McpError(error)) => Ending::Refused(error),
                Err(error) => stopped(session, &error).await,
            },
            () = tokio::time::sleep_until(deadline) => {
                cancel(&peer, id, "weld: the request's time limit passed").await;
                Ending::Failed(
                    Outcome::Deadline,
                    format!(
                        "the tool did not answer within its {}-second time limit; weld \
                         cancelled the request (the server keeps serving)",
                        limit.as_secs_f64()
                    ),
                )
            }
            () = context.ct.cancelled() => {
                cancel(&peer, id, "weld: the client cancelled the request").await;
                Ending::Cancelled
            }
        };
        session.routes.remove(&token);
        ending
    };
    let (ending, ()) = tokio::join!(wait, outer.pass(notifications));
    ending
}

/// Tells the server to stop working on request `id` (MCP's
/// `notifications/cancelled`); it sends no answer for it.
async fn cancel(peer: &Peer<rmcp::RoleClient>, id: rmcp::model::RequestId, reason: &str) {
    let param = CancelledNotificationParam::new(Some(id), Some(reason.to_string()));
    let notification = ClientNotification::CancelledNotification(CancelledNotification::new(param));
    if let Err(error) = peer.send_notification(notification).await {
        tracing::debug!(%error, "the cancellation could not be sent");
    }
}

/// The request failed because the session did: how the server ended.
async fn stopped(session: &Session, error: &ServiceError) -> Ending {
    if session.routes.oversized() {
        return Ending::Failed(
            Outcome::OutputLimit,
            format!(
                "the MCP server component sent a message over its output limit ({} bytes with \
                 the envelope; `resources.limits.output` in its policy), so weld stopped it; \
                 the next call starts it again",
                session.max_message_bytes
            ),
        );
    }
    // The end is known just before the pipe closes; give it a moment.
    let mut end = session.watch_end();
    let _ =
        tokio::time::timeout(std::time::Duration::from_millis(100), until_ended(&mut end)).await;
    match session.end() {
        Some(end) => Ending::Failed(
            ended_outcome(&end),
            format!(
                "the MCP server component stopped while handling the call: {end}; the next \
                 call starts it again"
            ),
        ),
        None => Ending::Failed(
            Outcome::Trap,
            format!(
                "the MCP server component's session ended while handling the call ({error}); \
                 the next call starts it again"
            ),
        ),
    }
}

/// What the calling client asked to hear.
struct Outer {
    peer: Peer<RoleServer>,
    /// Its progress token, if it asked for progress.
    token: Option<ProgressToken>,
    /// The least severe log level it wants, or `None` for none.
    floor: LogFloor,
}

impl Outer {
    /// Passes the call's notifications on until its route is removed.
    async fn pass(&self, mut notifications: tokio::sync::mpsc::Receiver<Forward>) {
        while let Some(forward) = notifications.recv().await {
            let sent = match forward {
                Forward::Progress(mut progress) => {
                    let Some(token) = &self.token else { continue };
                    progress.progress_token = token.clone();
                    self.peer.notify_progress(progress).await
                }
                Forward::Log(log) => {
                    if self.floor.is_none_or(|floor| log_level(&log.level) < floor) {
                        continue;
                    }
                    self.peer.notify_logging_message(log).await
                }
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "a proxied server's notification could not be passed on");
            }
        }
    }
}
