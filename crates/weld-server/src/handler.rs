//! The MCP request handler over the live [`Registry`].
//!
//! Implemented by hand rather than with rmcp's macros because tools are not
//! known at compile time: they come from whatever components are loaded.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use tokio::sync::{SemaphorePermit, TryAcquireError};
use weld_policy::Excess;
use weld_runtime::{CallError, Queue};

use crate::audit::{Audit, CallRecord, args_bytes};
use crate::builtin::Management;
use crate::catalog::{Bound, Registry, ToolEntry};

/// Server-wide settings for the MCP surface.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest request accepted, in bytes (stdio line or HTTP body).
    pub max_request_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The MCP server: cheap to clone (the HTTP transport makes one per request).
#[derive(Clone)]
pub struct WeldServer {
    registry: Arc<Registry>,
    audit: Audit,
    /// The built-in `weld_*` tools; `None` when turned off.
    management: Option<Arc<Management>>,
}

impl WeldServer {
    /// A server of the registry's tools only (no built-in tools).
    pub fn new(registry: Arc<Registry>, audit: Audit) -> Self {
        Self {
            registry,
            audit,
            management: None,
        }
    }

    /// Also serves the built-in tools (see [`crate::builtin`]).
    pub fn with_management(mut self, management: Arc<Management>) -> Self {
        self.management = Some(management);
        self
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

/// Runs one tool call to its MCP result and records it in `audit`. Never
/// fails: every problem with the arguments or the run is a tool error the
/// caller can read.
pub async fn call_tool(
    entry: &Arc<ToolEntry>,
    arguments: Option<&rmcp::model::JsonObject>,
    audit: &Audit,
    client: Option<String>,
) -> CallToolResult {
    let mut record = CallRecord::new(Arc::clone(entry), client);
    record.args_bytes = args_bytes(arguments);
    let (result, outcome, error) = run(entry, arguments, &mut record).await;
    record.outcome = outcome;
    record.error = error;
    audit.record(record);
    result
}

/// The call itself; fills in the record's measurements.
async fn run(
    entry: &ToolEntry,
    arguments: Option<&rmcp::model::JsonObject>,
    record: &mut CallRecord,
) -> (CallToolResult, &'static str, Option<String>) {
    let args = match entry.signature.args_from_json(arguments) {
        Ok(args) => args,
        Err(error) => {
            let message = format!("invalid arguments: {error}");
            return (
                error_result(message.clone()),
                "invalid_arguments",
                Some(message),
            );
        }
    };
    // A call waits (or, under `excess: refuse`, does not) first for a slot
    // of its component, then in the runtime for its instance slots and its
    // memory; all of it within its time limit. A waiting call ends its wait
    // when the client cancels it or closes its connection: the caller drops
    // this future, and with it the place in each queue.
    let arrived = Instant::now();
    let queue = match entry.slots.excess {
        Excess::Wait => Queue::Until(arrived + entry.limits.timeout.min(weld_policy::MAX_TIMEOUT)),
        Excess::Refuse => Queue::Refuse,
    };
    let _permit = match component_slot(entry, queue).await {
        Ok(permit) => permit,
        Err((outcome, message)) => {
            record.queued_us = arrived.elapsed().as_micros() as u64;
            return (error_result(message.clone()), outcome, Some(message));
        }
    };
    let waited = arrived.elapsed();
    let report = entry
        .loaded
        .call_queued(
            &entry.function,
            &args,
            &entry.limits,
            &entry.sandbox,
            &entry.tool.name,
            queue,
        )
        .await;
    if let Err(CallError::Busy { .. } | CallError::QueueTimeout { .. }) = &report.result {
        record.queued_us = arrived.elapsed().as_micros() as u64;
    }
    if let Some(mut stats) = report.stats {
        // Both waits: for the policy's concurrency slot and for an instance.
        record.queued_us = (waited + stats.queued).as_micros() as u64;
        record.duration_us = stats.duration.as_micros() as u64;
        record.peak_memory = stats.peak_memory;
        record.fuel_used = stats.fuel_used;
        record.stdout_bytes = stats.stdout_bytes;
        record.stderr_bytes = stats.stderr_bytes;
        record.network = std::mem::take(&mut stats.network);
        record.network_dropped = stats.network_dropped;
        record.storage_denied = std::mem::take(&mut stats.storage_denied);
        record.storage_denied_dropped = stats.storage_denied_dropped;
    }
    match report.result {
        Ok(results) => {
            // Refuse an oversized result before rendering copies it twice
            // more; the exact size is checked after rendering.
            let bound: u64 = results.iter().map(weld_schema::min_json_len).sum();
            if let Some(cap) = entry.output.filter(|cap| bound > *cap) {
                let message = format!(
                    "the tool returned at least {bound} bytes, more than its output limit of {cap} bytes"
                );
                return (error_result(message.clone()), "output_limit", Some(message));
            }
            let rendered = entry.signature.render_result(&results);
            let size = rendered.text.as_ref().map_or(0, |t| t.len() as u64);
            if let Some(cap) = entry.output.filter(|cap| size > *cap) {
                let message = format!(
                    "the tool returned {size} bytes, more than its output limit of {cap} bytes"
                );
                return (error_result(message.clone()), "output_limit", Some(message));
            }
            let content = rendered
                .text
                .map(|t| vec![ContentBlock::text(t)])
                .unwrap_or_default();
            if rendered.is_error {
                let mut result = CallToolResult::error(content);
                if result.content.is_empty() {
                    result.content = vec![ContentBlock::text("the tool reported an error")];
                }
                (result, "tool_error", None)
            } else {
                let mut result = CallToolResult::success(content);
                result.structured_content = rendered.structured.map(Value::Object);
                (result, "ok", None)
            }
        }
        Err(error) => {
            let message = error.to_string();
            (error_result(message.clone()), error.kind(), Some(message))
        }
    }
}

/// Why `params` do not fit `method`, when it is a standard MCP method
/// (`None` for any other method).
fn params_problem(method: &str, params: Option<&Value>) -> Option<String> {
    fn read<P: serde::de::DeserializeOwned>(params: Option<&Value>) -> String {
        match params.map(|p| serde_json::from_value::<P>(p.clone())) {
            None => "they are missing".into(),
            Some(Err(error)) => error.to_string(),
            // What rmcp could not read reads now: rmcp saw something a JSON
            // value no longer shows, such as a key given twice.
            Some(Ok(_)) => "they cannot be read (is a key given twice?)".into(),
        }
    }
    Some(match method {
        "tools/call" => read::<CallToolRequestParams>(params),
        "tools/list" => read::<PaginatedRequestParams>(params),
        "initialize" => read::<rmcp::model::InitializeRequestParams>(params),
        "ping"
        | "server/discover"
        | "subscriptions/listen"
        | "completion/complete"
        | "logging/setLevel"
        | "prompts/get"
        | "prompts/list"
        | "resources/list"
        | "resources/templates/list"
        | "resources/read"
        | "resources/subscribe"
        | "resources/unsubscribe"
        | "tasks/get"
        | "tasks/update"
        | "tasks/cancel"
        | "skills/list"
        | "skills/get"
        | "resources/directory/read" => "they do not match the method's schema".into(),
        _ => return None,
    })
}

/// A slot of the call's component (see [`crate::catalog::Slots`]), or the
/// outcome and message of a call that got none.
async fn component_slot(
    entry: &ToolEntry,
    queue: Queue,
) -> Result<SemaphorePermit<'_>, (&'static str, String)> {
    let slots = &entry.slots;
    let timed_out = match (slots.free.try_acquire(), queue) {
        (Ok(permit), _) => return Ok(permit),
        (Err(TryAcquireError::NoPermits), Queue::Refuse) => false,
        (Err(TryAcquireError::NoPermits), Queue::Until(deadline)) => {
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, slots.free.acquire()).await {
                Ok(Ok(permit)) => return Ok(permit),
                Ok(Err(_)) => return Err(closed()),
                Err(_) => true,
            }
        }
        (Err(TryAcquireError::Closed), _) => return Err(closed()),
    };
    let (tool, component, max) = (&entry.tool.name, &entry.component, slots.max);
    let why = match slots.bound {
        Bound::Policy => format!(
            "its policy lets at most {max} call(s) of component `{component}`'s tools run at once"
        ),
        Bound::Share(capacity) => format!(
            "at most {max} call(s) of component `{component}`'s tools run at once: its share \
             of weld's capacity, half of {capacity}, so that other tools can always start"
        ),
    };
    let remedy = match slots.bound {
        Bound::Policy => "raise `resources.limits.concurrency` in its policy",
        Bound::Share(capacity) => capacity.remedy(),
    };
    if timed_out {
        let limit = entry.limits.timeout.as_secs_f64();
        let message = format!(
            "`{tool}` did not start within its {limit}-second time limit: it waited all that \
             time for one of its component's call slots ({why}); retry later, or {remedy}"
        );
        return Err(("queue_timeout", message));
    }
    let message = match slots.bound {
        Bound::Policy => format!(
            "`{tool}` is at its concurrency limit of {max}: {why} and refuses more; retry \
             later, or {remedy}"
        ),
        Bound::Share(_) => format!(
            "`{tool}` is at its share of weld's capacity: {why}; its policy refuses to wait \
             (`excess: refuse`); retry later, or {remedy}"
        ),
    };
    Err(("refused_busy", message))
}

/// weld never closes the semaphore; if it were, running without the cap
/// would loosen the policy.
fn closed() -> (&'static str, String) {
    (
        "instantiate",
        "internal error: the concurrency limit is unavailable".to_string(),
    )
}

fn error_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

impl ServerHandler for WeldServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("weld", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Each tool runs in its own WebAssembly sandbox with only the access its policy grants.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let builtin = self.management.iter().flat_map(|m| m.tools().iter());
        Ok(ListToolsResult::with_all_items(
            builtin
                .chain(self.registry.snapshot().tools())
                .cloned()
                .collect(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.management
            .iter()
            .flat_map(|m| m.tools().iter())
            .find(|t| t.name == name)
            .cloned()
            .or_else(|| self.registry.snapshot().get(name).map(|e| e.tool.clone()))
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        Some(
            rmcp::model::SubscriptionFilter::builder()
                .tools_list_changed()
                .build(),
        )
    }

    /// 2026-07-28 clients learn of tool changes through `subscriptions/listen`.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.registry.changes();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if let Err(error) = context.sink().notify_tool_list_changed().await {
                        tracing::debug!(%error, "subscription closed");
                        return Ok(());
                    }
                }
            }
        }
    }

    /// rmcp hands a request here when its method is unknown, or when it is
    /// a standard method whose params it could not read (its typed parse
    /// failed and the catch-all took it): say which.
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, McpError> {
        if let Some(problem) = params_problem(&request.method, request.params.as_ref()) {
            return Err(McpError::invalid_params(
                format!("invalid params for `{}`: {problem}", request.method),
                None,
            ));
        }
        Err(McpError::new(
            rmcp::model::ErrorCode::METHOD_NOT_FOUND,
            format!("method `{}` is not supported", request.method),
            None,
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let client = context
            .meta
            .client_info()
            .or_else(|| context.peer.peer_info().map(|i| i.client_info.clone()))
            .map(|i| format!("{}/{}", i.name, i.version));
        // Under `AuditFailure::RefuseCalls`, nothing runs unrecorded.
        if let Some(refusal) = self.audit.refusal() {
            tracing::warn!(
                target: "weld::audit",
                tool = %request.name,
                client = client.as_deref().unwrap_or(""),
                "call refused: the audit log cannot be written"
            );
            return Ok(error_result(refusal).into());
        }
        if let Some(management) = &self.management
            && let Some(response) = management
                .call(
                    &request,
                    &context,
                    &self.registry,
                    &self.audit,
                    client.clone(),
                )
                .await
        {
            return response;
        }
        let catalog = self.registry.snapshot();
        let Some(entry) = catalog.get(&request.name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{}` (see tools/list)", request.name),
                None,
            ));
        };
        tokio::select! {
            result = call_tool(entry, request.arguments.as_ref(), &self.audit, client.clone()) => Ok(result.into()),
            () = context.ct.cancelled() => {
                // Dropping the call future stops the guest at its next epoch
                // tick. A cancelled request gets no response on the wire;
                // this error only reaches the SDK.
                let mut record = CallRecord::new(Arc::clone(entry), client);
                record.args_bytes = args_bytes(request.arguments.as_ref());
                record.outcome = "cancelled";
                self.audit.record(record);
                Err(McpError::internal_error("request cancelled", None))
            }
        }
    }
}
