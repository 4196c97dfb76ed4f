//! Requests to MCP-world components: a tool call, reading a resource,
//! getting a prompt, completing an argument. Each runs like a plain tool
//! call (a slot of the component, then a fresh instance from the same
//! pool under the component's limits and sandbox) and leaves one audit
//! record, whatever became of it; a request answered from the catalog
//! alone (a listing) leaves one too ([`record_listing`]).
//!
//! Which component answers: a tool or prompt is its component's; a
//! resource URI listed by a component is that component's, any other URI
//! is asked of the components whose templates include it, in load order,
//! until one does not answer `none`; a URI neither listed nor matching a
//! template is not found, and no component runs.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weld_policy::Excess;
use weld_runtime::mcp::model::{
    Body, Completion, Content, McpError, McpReply, McpRequest, PromptResult, ReadResult, Reference,
    ResourceContents, ToolResult,
};
use weld_runtime::{CallError, CallStats, NotificationSink, Queue};

use super::{McpComponent, McpTool, ServedPrompt};
use crate::audit::{Audit, CallRecord, Subject, args_bytes};
use crate::catalog::Catalog;
use crate::invoke::{JsonObject, SlotRequest, component_slot};
use crate::outcome::Outcome;

/// Who asks, and where the request's notifications go.
pub struct McpRequestContext {
    /// Where records go.
    pub audit: Audit,
    /// `name/version` of the client, when it said.
    pub client: Option<String>,
    /// The protocol version the client speaks, told to the component.
    pub protocol_version: String,
    /// Where the component's log and progress notifications go.
    pub sink: Option<NotificationSink>,
}

/// How a request ended.
#[derive(Debug)]
pub enum Served<T> {
    /// The component answered.
    Done(T),
    /// It did not: see why.
    Failed(McpFailure),
    /// The client cancelled it first; the guest was stopped.
    Cancelled,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpFailure {
    /// Nothing serves what it names (a tool, a URI, a prompt, a
    /// template), or the component asked answered `none`.
    NotFound(String),
    /// The component answered with a JSON-RPC error of its own.
    Component(McpError),
    /// The call failed (a trap, a limit, capacity, an answer too large or
    /// malformed): the message for the caller.
    Failed(String),
}

/// What a completion is asked for, as the client names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionTarget {
    /// An argument of the prompt served under this name.
    Prompt(String),
    /// A variable of this resource template.
    Template(String),
}

/// Calls an MCP-world component's tool.
pub async fn call_tool(
    tool: &Arc<McpTool>,
    arguments: Option<&JsonObject>,
    ctx: &McpRequestContext,
    cancelled: impl Future<Output = ()>,
) -> Served<ToolResult> {
    let mut record = CallRecord::new(
        Subject::Mcp {
            component: Arc::clone(&tool.component),
            name: Cow::Owned(tool.name.clone()),
            target: None,
        },
        ctx.client.clone(),
    );
    record.args_bytes = args_bytes(arguments);
    let request = McpRequest::CallTool {
        name: tool.original.clone(),
        arguments: arguments.map(|a| serde_json::Value::Object(a.clone()).to_string()),
    };
    let served = tokio::select! {
        served = run_tool(tool, request, ctx, &mut record) => served,
        () = cancelled => cancel(&mut record),
    };
    ctx.audit.record(record);
    served
}

async fn run_tool(
    tool: &McpTool,
    request: McpRequest,
    ctx: &McpRequestContext,
    record: &mut CallRecord,
) -> Served<ToolResult> {
    let attempt = attempt(&tool.component, &tool.name, request, ctx).await;
    match finish(record, attempt) {
        Ok(McpReply::Tool(result)) => Served::Done(result),
        Ok(McpReply::NotMine) => Served::Failed(McpFailure::NotFound(format!(
            "unknown tool `{}`: its component `{}` says it has no such tool",
            tool.name, tool.component.name
        ))),
        Ok(other) => unexpected(other),
        Err(failure) => Served::Failed(failure),
    }
}

/// Reads the resource at `uri`.
pub async fn read_resource(
    catalog: &Catalog,
    uri: &str,
    ctx: &McpRequestContext,
    cancelled: impl Future<Output = ()>,
) -> Served<ReadResult> {
    let mut record = CallRecord::new(
        Subject::Served {
            method: "resources/read",
            target: Some(uri.to_string()),
        },
        ctx.client.clone(),
    );
    let served = tokio::select! {
        served = run_read(catalog, uri, ctx, &mut record) => served,
        () = cancelled => cancel(&mut record),
    };
    ctx.audit.record(record);
    served
}

async fn run_read(
    catalog: &Catalog,
    uri: &str,
    ctx: &McpRequestContext,
    record: &mut CallRecord,
) -> Served<ReadResult> {
    // The listing component first, then those whose templates match.
    let owners: Vec<&Arc<McpComponent>> = catalog
        .resource(uri)
        .map(|r| &r.component)
        .into_iter()
        .chain(catalog.templates_matching(uri).map(|t| &t.component))
        .collect();
    let mut asked: Vec<&str> = Vec::new();
    for component in owners {
        if asked.contains(&component.name.as_str()) {
            continue;
        }
        asked.push(&component.name);
        record.subject = Subject::Mcp {
            component: Arc::clone(component),
            name: Cow::Borrowed("resources/read"),
            target: Some(uri.to_string()),
        };
        let request = McpRequest::ReadResource {
            uri: uri.to_string(),
        };
        let attempt = attempt(component, "resources/read", request, ctx).await;
        match finish(record, attempt) {
            Ok(McpReply::Resource(result)) => return Served::Done(result),
            Ok(McpReply::NotMine) => {}
            Ok(other) => return unexpected(other),
            Err(failure) => return Served::Failed(failure),
        }
    }
    record.outcome = Outcome::NotFound;
    let message = if asked.is_empty() {
        format!("resource not found: no component lists `{uri}` or a template that includes it")
    } else {
        format!(
            "resource not found: `{uri}` (asked: {}; none serves it)",
            asked.join(", ")
        )
    };
    record.error = Some(message.clone());
    Served::Failed(McpFailure::NotFound(message))
}

/// Gets the prompt served as `name`, with `arguments` (a JSON object of
/// strings).
pub async fn get_prompt(
    catalog: &Catalog,
    name: &str,
    arguments: Option<&JsonObject>,
    ctx: &McpRequestContext,
    cancelled: impl Future<Output = ()>,
) -> Served<PromptResult> {
    let Some(prompt) = catalog.prompt(name) else {
        let message = format!("unknown prompt `{name}` (see prompts/list)");
        return not_found(ctx, "prompts/get", name, message);
    };
    let mut record = CallRecord::new(
        Subject::Mcp {
            component: Arc::clone(&prompt.component),
            name: Cow::Borrowed("prompts/get"),
            target: Some(name.to_string()),
        },
        ctx.client.clone(),
    );
    record.args_bytes = args_bytes(arguments);
    let request = McpRequest::GetPrompt {
        name: prompt.def.name.clone(),
        arguments: arguments.map(|a| serde_json::Value::Object(a.clone()).to_string()),
    };
    let served = tokio::select! {
        served = run_prompt(prompt, request, ctx, &mut record) => served,
        () = cancelled => cancel(&mut record),
    };
    ctx.audit.record(record);
    served
}

async fn run_prompt(
    prompt: &ServedPrompt,
    request: McpRequest,
    ctx: &McpRequestContext,
    record: &mut CallRecord,
) -> Served<PromptResult> {
    let attempt = attempt(&prompt.component, "prompts/get", request, ctx).await;
    match finish(record, attempt) {
        Ok(McpReply::Prompt(result)) => Served::Done(result),
        Ok(McpReply::NotMine) => Served::Failed(McpFailure::NotFound(format!(
            "unknown prompt `{}`: its component `{}` says it has no such prompt",
            prompt.name, prompt.component.name
        ))),
        Ok(other) => unexpected(other),
        Err(failure) => Served::Failed(failure),
    }
}

/// Completes argument `argument` (typed so far: `value`) of `target`;
/// `context` holds the arguments already given. A component that does not
/// complete, or answers `none`, offers no values.
pub async fn complete(
    catalog: &Catalog,
    target: &CompletionTarget,
    argument: &str,
    value: &str,
    context: Option<&JsonObject>,
    ctx: &McpRequestContext,
    cancelled: impl Future<Output = ()>,
) -> Served<Completion> {
    let (component, reference, named) = match target {
        CompletionTarget::Prompt(name) => match catalog.prompt(name) {
            Some(p) => (
                &p.component,
                Reference::Prompt(p.def.name.clone()),
                format!("prompt:{name}#{argument}"),
            ),
            None => {
                let message = format!("unknown prompt `{name}` (see prompts/list)");
                return not_found(ctx, "completion/complete", name, message);
            }
        },
        CompletionTarget::Template(template) => match catalog.resource_template(template) {
            Some(t) => (
                &t.component,
                Reference::Template(template.clone()),
                format!("template:{template}#{argument}"),
            ),
            None => {
                let message = format!(
                    "unknown resource template `{template}` (see resources/templates/list)"
                );
                return not_found(ctx, "completion/complete", template, message);
            }
        },
    };
    let mut record = CallRecord::new(
        Subject::Mcp {
            component: Arc::clone(component),
            name: Cow::Borrowed("completion/complete"),
            target: Some(named),
        },
        ctx.client.clone(),
    );
    if !component.completes {
        record.outcome = Outcome::Ok;
        ctx.audit.record(record);
        return Served::Done(Completion::default());
    }
    record.args_bytes = (argument.len() + value.len()) as u64 + args_bytes(context);
    let request = McpRequest::Complete {
        reference,
        argument: argument.to_string(),
        value: value.to_string(),
        context: context.map(|a| serde_json::Value::Object(a.clone()).to_string()),
    };
    let served = tokio::select! {
        served = run_complete(component, request, ctx, &mut record) => served,
        () = cancelled => cancel(&mut record),
    };
    ctx.audit.record(record);
    served
}

async fn run_complete(
    component: &McpComponent,
    request: McpRequest,
    ctx: &McpRequestContext,
    record: &mut CallRecord,
) -> Served<Completion> {
    let attempt = attempt(component, "completion/complete", request, ctx).await;
    match finish(record, attempt) {
        Ok(McpReply::Completion(result)) => Served::Done(result),
        Ok(McpReply::NotMine) => {
            record.outcome = Outcome::Ok;
            Served::Done(Completion::default())
        }
        Ok(other) => unexpected(other),
        Err(failure) => Served::Failed(failure),
    }
}

/// Records a request answered from the catalog alone (`resources/list`,
/// `resources/templates/list`, `prompts/list`).
pub fn record_listing(audit: &Audit, method: &'static str, client: Option<String>) {
    let mut record = CallRecord::new(
        Subject::Served {
            method,
            target: None,
        },
        client,
    );
    record.outcome = Outcome::Ok;
    audit.record(record);
}

fn not_found<T>(
    ctx: &McpRequestContext,
    method: &'static str,
    target: &str,
    message: String,
) -> Served<T> {
    let mut record = CallRecord::new(
        Subject::Served {
            method,
            target: Some(target.to_string()),
        },
        ctx.client.clone(),
    );
    record.outcome = Outcome::NotFound;
    record.error = Some(message.clone());
    ctx.audit.record(record);
    Served::Failed(McpFailure::NotFound(message))
}

fn unexpected<T>(reply: McpReply) -> Served<T> {
    Served::Failed(McpFailure::Failed(format!(
        "internal error: the component's answer was of another kind ({reply:?})"
    )))
}

/// A request cancelled by the client: dropping its future dropped the
/// call, which stops the guest.
fn cancel<T>(record: &mut CallRecord) -> Served<T> {
    record.outcome = Outcome::Cancelled;
    Served::Cancelled
}

/// One request run in a fresh instance of `component`.
struct Attempt {
    reply: Result<McpReply, (Outcome, String)>,
    stats: Option<CallStats>,
    queued: Duration,
    /// The component's output cap.
    cap: u64,
}

async fn attempt(
    component: &McpComponent,
    method: &str,
    request: McpRequest,
    ctx: &McpRequestContext,
) -> Attempt {
    let arrived = Instant::now();
    let limits = &component.limits;
    let slots = component.slots();
    let queue = match slots.excess {
        Excess::Wait => Queue::Until(arrived + limits.timeout.min(weld_policy::MAX_TIMEOUT)),
        Excess::Refuse => Queue::Refuse,
    };
    let slot = SlotRequest {
        slots: &slots,
        timeout: limits.timeout,
        tool: method,
        component: &component.name,
    };
    let _permit = match component_slot(&slot, queue).await {
        Ok(permit) => permit,
        Err(failed) => {
            return Attempt {
                reply: Err(failed),
                stats: None,
                queued: arrived.elapsed(),
                cap: component.output,
            };
        }
    };
    let waited = arrived.elapsed();
    let report = component
        .loaded
        .call_mcp(
            request,
            &ctx.protocol_version,
            ctx.sink.clone(),
            component.output,
            limits,
            &component.sandbox,
            &component.name,
            queue,
        )
        .await;
    let queued = match (&report.stats, &report.result) {
        (Some(stats), _) => waited + stats.queued,
        (None, Err(CallError::Busy { .. } | CallError::QueueTimeout { .. })) => arrived.elapsed(),
        (None, _) => waited,
    };
    Attempt {
        reply: report
            .result
            .map_err(|e| (Outcome::from(&e), e.to_string())),
        stats: report.stats,
        queued,
        cap: component.output,
    }
}

/// Fills the record from an attempt; the reply to act on, or the failure.
fn finish(record: &mut CallRecord, attempt: Attempt) -> Result<McpReply, McpFailure> {
    record.stats = attempt.stats;
    record.queued = attempt.queued;
    let reply = match attempt.reply {
        Ok(reply) if wire_len(&reply) > attempt.cap => McpReply::TooLarge { cap: attempt.cap },
        Ok(reply) => reply,
        Err((outcome, message)) => {
            record.outcome = outcome;
            record.error = Some(message.clone());
            return Err(McpFailure::Failed(message));
        }
    };
    let (outcome, failure) = match reply {
        McpReply::Tool(ref r) if r.is_error => (Outcome::ToolError, None),
        McpReply::NotMine => (Outcome::NotFound, None),
        McpReply::Error(ref e) => {
            let message = format!("error {}: {}", e.code, e.message);
            record.error = Some(message);
            (Outcome::ToolError, Some(McpFailure::Component(e.clone())))
        }
        McpReply::TooLarge { cap } => {
            let message =
                format!("the component's answer is larger than its output limit of {cap} bytes");
            record.error = Some(message.clone());
            (Outcome::OutputLimit, Some(McpFailure::Failed(message)))
        }
        McpReply::Invalid(ref reason) => {
            let message = format!("the component's answer cannot be passed on: {reason}");
            record.error = Some(message.clone());
            (Outcome::InvalidReply, Some(McpFailure::Failed(message)))
        }
        _ => (Outcome::Ok, None),
    };
    record.outcome = outcome;
    match failure {
        Some(failure) => Err(failure),
        None => Ok(reply),
    }
}

/// About how many bytes of JSON an answer takes on the wire (bytes as
/// base64), to hold it to the component's output limit.
fn wire_len(reply: &McpReply) -> u64 {
    fn base64(n: usize) -> u64 {
        n.div_ceil(3) as u64 * 4
    }
    fn body(c: &ResourceContents) -> u64 {
        32 + c.uri.len() as u64
            + match &c.body {
                Body::Text(t) => t.len() as u64,
                Body::Blob(b) => base64(b.len()),
            }
    }
    fn content(c: &Content) -> u64 {
        32 + match c {
            Content::Text { text, .. } => text.len() as u64,
            Content::Image(m) | Content::Audio(m) => {
                base64(m.data.len()) + m.mime_type.len() as u64
            }
            Content::ResourceLink(r) => (r.uri.len() + r.name.len()) as u64,
            Content::Resource { contents, .. } => body(contents),
        }
    }
    match reply {
        McpReply::Tool(r) => {
            r.content.iter().map(content).sum::<u64>()
                + r.structured.as_ref().map_or(0, |s| s.len() as u64)
        }
        McpReply::Resource(r) => r.contents.iter().map(body).sum(),
        McpReply::Prompt(r) => r.messages.iter().map(|m| content(&m.content)).sum(),
        McpReply::Completion(c) => c.values.iter().map(|v| 4 + v.len() as u64).sum(),
        _ => 0,
    }
}
