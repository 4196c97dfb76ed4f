//! One `tracing` span per MCP request, named and attributed after
//! OpenTelemetry's semantic conventions for MCP (`tools/call add_add`,
//! `mcp.method.name`, `gen_ai.tool.name`, `jsonrpc.request.id`, …).
//!
//! weld-mcp knows nothing of OpenTelemetry's SDK: the spans are plain
//! `tracing` spans of the target [`TARGET`] at `TRACE` level, which no log
//! filter enables by default, so with export off creating one is a level
//! comparison and nothing else. The binary, when it exports, enables the
//! target for its OpenTelemetry layer and installs a [`ContinueTrace`] that
//! makes a request's span a child of the caller's W3C trace context
//! (`traceparent`, `tracestate` in the request's `_meta`).

use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{CallToolResponse, ErrorCode};
use rmcp::service::RequestContext;
use tracing::Span;
use tracing::field::Empty;

/// The `tracing` target of every span and event meant for export.
pub const TARGET: &str = weld_host::TRACE_TARGET;

/// Continues the caller's trace: makes `span` (just created, not yet
/// entered) a child of the span named by a W3C `traceparent` (and its
/// `tracestate`). Installed by whatever exports the spans; an invalid
/// `traceparent` is ignored (the span starts a new trace).
pub type ContinueTrace = fn(span: &Span, traceparent: &str, tracestate: Option<&str>);

/// What a request is about, as the conventions name it.
#[derive(Clone, Copy)]
pub(crate) enum About<'a> {
    Nothing,
    /// `gen_ai.tool.name`, and the span's name ends with it.
    Tool(&'a str),
    /// `gen_ai.prompt.name`, and the span's name ends with it.
    Prompt(&'a str),
    /// `mcp.resource.uri`, never in the span's name: the conventions keep
    /// names low in cardinality, and a URI can be anything.
    Resource(&'a str),
}

/// The span of one request of `method`, about `about`. Disabled, and so
/// free, unless something exports spans.
pub(crate) fn request_span(
    method: &'static str,
    about: About<'_>,
    context: &RequestContext<RoleServer>,
    continue_trace: Option<ContinueTrace>,
) -> Span {
    let span = tracing::trace_span!(
        target: TARGET,
        "mcp.request",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        mcp.method.name = method,
        gen_ai.tool.name = Empty,
        gen_ai.operation.name = Empty,
        gen_ai.prompt.name = Empty,
        mcp.resource.uri = Empty,
        network.transport = Empty,
        mcp.session.id = Empty,
        jsonrpc.request.id = Empty,
        mcp.protocol.version = Empty,
        error.type = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    match about {
        About::Tool(tool) => {
            span.record("otel.name", format!("{method} {tool}"));
            span.record("gen_ai.tool.name", tool);
            span.record("gen_ai.operation.name", "execute_tool");
        }
        About::Prompt(prompt) => {
            span.record("otel.name", format!("{method} {prompt}"));
            span.record("gen_ai.prompt.name", prompt);
        }
        About::Resource(uri) => {
            span.record("otel.name", method);
            span.record("mcp.resource.uri", uri);
        }
        About::Nothing => {
            span.record("otel.name", method);
        }
    }
    span.record("jsonrpc.request.id", context.id.to_string());
    if let Some(version) = context
        .meta
        .protocol_version()
        .or_else(|| context.protocol_version())
    {
        span.record("mcp.protocol.version", version.as_str());
    }
    // Streamable HTTP puts the request's head in the extensions; stdio,
    // a pipe, has none.
    let http = context.extensions.get::<hyper::http::request::Parts>();
    span.record(
        "network.transport",
        if http.is_some() { "tcp" } else { "pipe" },
    );
    if let Some(session) = http
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|value| value.to_str().ok())
    {
        span.record("mcp.session.id", session);
    }
    if let (Some(continue_trace), Some(traceparent)) =
        (continue_trace, context.meta.get_traceparent())
    {
        continue_trace(&span, traceparent, context.meta.get_tracestate());
    }
    span
}

/// Runs a request's future in `span` and records how it ended
/// ([`record_result`]): what every traced handler method does. A macro, so
/// that it adds no layer of future (an `async fn` here made rmcp's dispatch
/// future too deep for the compiler's layout queries).
macro_rules! traced {
    ($span:expr, $request:expr) => {{
        let span = $span;
        let result = tracing::Instrument::instrument($request, span.clone()).await;
        $crate::trace::record_result(&span, &result);
        result
    }};
}
pub(crate) use traced;

/// Records how a request ended: `error.type` is the JSON-RPC error code.
pub(crate) fn record_result<T>(span: &Span, result: &Result<T, McpError>) {
    if span.is_disabled() {
        return;
    }
    if let Err(error) = result {
        record_error(span, error.code);
    }
}

/// Records how a `tools/call` ended: `error.type` is `tool_error` when the
/// tool reported an error (`isError`), else as for [`record_result`].
pub(crate) fn record_call(span: &Span, result: &Result<CallToolResponse, McpError>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            span.record("error.type", "tool_error");
            span.record("otel.status_code", "error");
        }
        Ok(_) => {}
        Err(error) => record_error(span, error.code),
    }
}

fn record_error(span: &Span, code: ErrorCode) {
    span.record("error.type", code.0.to_string());
    span.record("otel.status_code", "error");
}
