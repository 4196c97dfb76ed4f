//! The MCP request handler over the [`LiveCatalog`].
//!
//! Implemented by hand rather than with rmcp's macros because tools are not
//! known at compile time: they come from whatever components are loaded.

use std::sync::Arc;

use std::sync::Mutex;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    PromptsCapability, ReadResourceRequestParams, ReadResourceResponse, Reference,
    ResourcesCapability, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use tracing::Instrument;
use weld_host::Invoked;
use weld_host::audit::Audit;
use weld_host::catalog::LiveCatalog;
use weld_host::mcp::invoke::{self as mcp, CompletionTarget, McpRequestContext, Served};
use weld_host::mcp::model::{LogLevel, Notification};

use crate::builtin::Management;
use crate::pages::Listing;
use crate::proxy::{Proxies, SessionInstances};
use crate::served;
use crate::spliced::SplicedPages;
use crate::tools::{called_tool, mcp_result};
use crate::trace::{self, ContinueTrace};

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
    live: Arc<LiveCatalog>,
    audit: Audit,
    /// The built-in `weld_*` tools; `None` when turned off.
    management: Option<Arc<Management>>,
    /// MCP server components, proxied (see [`crate::proxy`]).
    proxies: Proxies,
    /// The least severe log message this session's client wants from
    /// MCP-world components (`logging/setLevel`; every level until it
    /// says). One per session: see [`WeldServer::for_session`].
    log_level: Arc<Mutex<LogLevel>>,
    /// This session's own instances of MCP server components (one
    /// `WeldServer` per HTTP session: see [`WeldServer::for_session`]).
    instances: Arc<SessionInstances>,
    /// Makes a request's span continue its caller's trace; set only when
    /// spans are exported (see [`crate::trace`]).
    continue_trace: Option<ContinueTrace>,
    /// The most tools one `tools/list` answer carries (see [`crate::pages`]).
    page_tools: usize,
    /// Turns to make a `tools/list` page, shared by every session (see
    /// [`crate::pages::PAGES_AT_ONCE`]).
    page_turns: Arc<tokio::sync::Semaphore>,
    /// Where `tools/list` pages are written as text for the transport to
    /// send (see [`crate::spliced`]); `None` sends them typed.
    spliced: Option<Arc<SplicedPages>>,
    /// Where the requests that are not audited are timed (`tools/list`).
    metrics: Option<Arc<weld_host::metrics::Metrics>>,
}

impl WeldServer {
    /// A server of the live catalog's tools only (no built-in tools).
    pub fn new(live: Arc<LiveCatalog>, audit: Audit) -> Self {
        Self {
            live,
            audit,
            management: None,
            proxies: Proxies::new(crate::proxy::DEFAULT_IDLE_TIMEOUT),
            log_level: Arc::new(Mutex::new(LogLevel::Debug)),
            instances: Arc::default(),
            continue_trace: None,
            page_tools: usize::try_from(crate::pages::PAGE_TOOLS).unwrap_or(usize::MAX),
            page_turns: Arc::new(tokio::sync::Semaphore::new(crate::pages::PAGES_AT_ONCE)),
            spliced: None,
            metrics: None,
        }
    }

    /// Continues a caller's W3C trace context (`traceparent` in a
    /// request's `_meta`) with `continue_trace` (see [`crate::trace`]).
    pub fn with_trace_context(mut self, continue_trace: ContinueTrace) -> Self {
        self.continue_trace = Some(continue_trace);
        self
    }

    /// This server for a new session: the same catalog, audit, built-in
    /// tools and MCP server components, its own log level (a client's
    /// `logging/setLevel` is its own).
    pub fn for_session(&self) -> Self {
        Self {
            log_level: Arc::new(Mutex::new(LogLevel::Debug)),
            instances: Arc::default(),
            ..self.clone()
        }
    }

    /// Times `tools/list` (answered from the catalog, so not audited) in
    /// `metrics`' `mcp.server.operation.duration`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<weld_host::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Writes `tools/list` pages as text into `pages`, for a transport
    /// that splices them into its answers (see [`crate::spliced`]).
    pub(crate) fn with_spliced_pages(mut self, pages: Arc<SplicedPages>) -> Self {
        self.spliced = Some(pages);
        self
    }

    /// Stops an MCP server component after `idle` without a request.
    pub fn with_mcp_server_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.proxies = Proxies::new(idle);
        self
    }

    /// Sends `tools/list` in pages of at most `tools` tools (see
    /// [`crate::pages`]).
    #[must_use]
    pub fn with_tools_page_size(mut self, tools: u32) -> Self {
        self.page_tools = usize::try_from(tools.max(1)).unwrap_or(usize::MAX);
        self
    }

    /// Starts the MCP server components of the current catalog in the
    /// background, so their tools are listed before a client asks.
    pub fn prepare_mcp_servers(&self) {
        self.proxies.prepare(self.live.snapshot());
    }

    /// Also serves the built-in tools (see [`crate::builtin`]).
    pub fn with_management(mut self, management: Arc<Management>) -> Self {
        self.management = Some(management);
        self
    }

    /// The live catalog this server serves.
    pub fn live(&self) -> &Arc<LiveCatalog> {
        &self.live
    }
}

/// Why `params` do not fit `method`, when it is a method weld serves
/// (`None` for any other: a method weld does not advertise is "not found"
/// whatever its params, so the answer does not depend on how well a client
/// spelled a request nobody will serve).
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
        "ping" | "server/discover" | "subscriptions/listen" => {
            "they do not match the method's schema".into()
        }
        _ => return None,
    })
}

fn error_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// `name/version` of the client, as it said at `initialize` or in the
/// request's `_meta`.
fn client_of(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .meta
        .client_info()
        .or_else(|| context.peer.peer_info().map(|i| i.client_info.clone()))
        .map(|i| format!("{}/{}", i.name, i.version))
}

/// Whether the request is of the 2026-07-28 era (or later).
fn modern(context: &RequestContext<RoleServer>) -> bool {
    let version = context
        .meta
        .protocol_version()
        .or_else(|| context.protocol_version());
    version.is_some_and(|v| v.as_str() >= rmcp::model::ProtocolVersion::V_2026_07_28.as_str())
}

/// The protocol version told to a component: the client's, or the one its
/// world was written for when the client's is unknown.
fn protocol_version(context: &RequestContext<RoleServer>) -> String {
    context
        .meta
        .protocol_version()
        .or_else(|| context.protocol_version())
        .map_or_else(|| "2025-11-25".to_string(), |v| v.as_str().to_string())
}

fn method_not_found(method: &str) -> McpError {
    McpError::new(
        rmcp::model::ErrorCode::METHOD_NOT_FOUND,
        format!("method `{method}` is not supported: no component served offers it"),
        None,
    )
}

impl ServerHandler for WeldServer {
    /// Tools and tool-list changes; resources, prompts and completion only
    /// while a served MCP-world component offers them (with list changes:
    /// a reload may change them), and logging while one is served (its
    /// requests may log). Every other capability's methods (tasks, skills,
    /// and those not offered now) answer "method not found".
    fn get_info(&self) -> ServerConfig {
        let catalog = self.live.snapshot();
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        if catalog.offers_resources() {
            let mut resources = ResourcesCapability::default();
            resources.list_changed = Some(true);
            capabilities.resources = Some(resources);
        }
        if catalog.offers_prompts() {
            let mut prompts = PromptsCapability::default();
            prompts.list_changed = Some(true);
            capabilities.prompts = Some(prompts);
        }
        if catalog.offers_completions() {
            capabilities.completions = Some(Default::default());
        }
        if !catalog.mcp_components().is_empty() {
            #[allow(
                deprecated,
                reason = "MCP's logging, deprecated in 2026-07-28 but served"
            )]
            {
                capabilities.logging = Some(Default::default());
            }
        }
        ServerConfig::new(capabilities)
        .with_server_info(Implementation::new("weld", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Each tool runs in its own WebAssembly sandbox with only the access its policy grants.",
        )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let started = std::time::Instant::now();
        let span = trace::request_span(
            "tools/list",
            trace::About::Nothing,
            &context,
            self.continue_trace,
        );
        let listed = trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            let proxied = self.proxies.tools(&catalog).await;
            let listing = Listing {
                builtin: self
                    .management
                    .iter()
                    .flat_map(|m| m.tools().iter())
                    .collect(),
                held: catalog.tools(),
                proxied: &proxied,
            };
            let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
            let (range, next) = crate::pages::page(
                listing.len(),
                cursor,
                self.page_tools,
                crate::pages::MAX_PAGE_BYTES,
                |at| listing.bytes(at),
            )?;
            // Only the page's tools are written or turned into wire types,
            // a bounded number of pages at once.
            let _turn =
                self.page_turns.acquire().await.map_err(|_| {
                    McpError::internal_error("weld is shutting down; list again", None)
                })?;
            if let Some(pages) = &self.spliced
                && let Some(text) = listing.text(range.clone())?
            {
                pages.put(context.id.clone(), text);
                return Ok(crate::spliced::marked(next));
            }
            let mut result = ListToolsResult::with_all_items(listing.typed(range)?);
            result.next_cursor = next;
            Ok(result)
        });
        if let Some(metrics) = &self.metrics {
            let code = listed.as_ref().err().map(|e| e.code.0.to_string());
            metrics.observe_operation(
                "tools/list",
                started.elapsed().as_secs_f64(),
                code.as_deref(),
            );
        }
        listed
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.management
            .iter()
            .flat_map(|m| m.tools().iter())
            .find(|t| t.name == name)
            .cloned()
            .or_else(|| {
                self.live
                    .snapshot()
                    .tool(name)
                    .and_then(|t| called_tool(t).ok())
            })
            .or_else(|| self.proxies.tool(name))
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        // rmcp keeps of these only what get_info advertises.
        Some(
            rmcp::model::SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .resources_list_changed()
                .build(),
        )
    }

    /// 2026-07-28 clients learn of tool (and prompt and resource) list
    /// changes through `subscriptions/listen`.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.live.changes();
        let accepted = context.accepted().clone();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let sink = context.sink();
                    let mut sent = sink.notify_tool_list_changed().await;
                    if sent.is_ok() && accepted.prompts_list_changed == Some(true) {
                        sent = sink.notify_prompt_list_changed().await;
                    }
                    if sent.is_ok() && accepted.resources_list_changed == Some(true) {
                        sent = sink.notify_resource_list_changed().await;
                    }
                    if let Err(error) = sent {
                        tracing::debug!(%error, "subscription closed");
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let span = trace::request_span(
            "resources/list",
            trace::About::Nothing,
            &context,
            self.continue_trace,
        );
        trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            if !catalog.offers_resources() {
                return Err(method_not_found("resources/list"));
            }
            mcp::record_listing(&self.audit, "resources/list", client_of(&context));
            let resources = catalog
                .resources()
                .iter()
                .map(|r| served::resource(r))
                .collect::<Result<_, _>>()?;
            Ok(ListResourcesResult::with_all_items(resources))
        })
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let span = trace::request_span(
            "resources/templates/list",
            trace::About::Nothing,
            &context,
            self.continue_trace,
        );
        trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            if !catalog.offers_resources() {
                return Err(method_not_found("resources/templates/list"));
            }
            mcp::record_listing(&self.audit, "resources/templates/list", client_of(&context));
            let templates = catalog
                .resource_templates()
                .iter()
                .map(|t| served::template(t))
                .collect::<Result<_, _>>()?;
            Ok(ListResourceTemplatesResult::with_all_items(templates))
        })
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let span = trace::request_span(
            "resources/read",
            trace::About::Resource(&request.uri),
            &context,
            self.continue_trace,
        );
        trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            if !catalog.offers_resources() {
                return Err(method_not_found("resources/read"));
            }
            self.refuse_unaudited()?;
            let uri = request.uri;
            let asked = uri.clone();
            let served = self
                .run_with_notifications(&context, |ctx, cancelled| async move {
                    mcp::read_resource(&catalog, &asked, &ctx, cancelled).await
                })
                .await;
            match served {
                Served::Done(result) => Ok(served::read_result(&result)?.into()),
                Served::Failed(failure) => Err(served::failure(failure, |message| {
                    McpError::resource_not_found(message, Some(serde_json::json!({"uri": uri})))
                })),
                Served::Cancelled => Err(McpError::internal_error("request cancelled", None)),
            }
        })
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let span = trace::request_span(
            "prompts/list",
            trace::About::Nothing,
            &context,
            self.continue_trace,
        );
        trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            if !catalog.offers_prompts() {
                return Err(method_not_found("prompts/list"));
            }
            mcp::record_listing(&self.audit, "prompts/list", client_of(&context));
            let prompts = catalog
                .prompts()
                .iter()
                .map(|p| served::prompt(p))
                .collect::<Result<_, _>>()?;
            Ok(ListPromptsResult::with_all_items(prompts))
        })
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let span = trace::request_span(
            "prompts/get",
            trace::About::Prompt(&request.name),
            &context,
            self.continue_trace,
        );
        trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            if !catalog.offers_prompts() {
                return Err(method_not_found("prompts/get"));
            }
            self.refuse_unaudited()?;
            let (name, arguments) = (request.name, request.arguments);
            let served = self
                .run_with_notifications(&context, |ctx, cancelled| async move {
                    mcp::get_prompt(&catalog, &name, arguments.as_ref(), &ctx, cancelled).await
                })
                .await;
            match served {
                Served::Done(result) => Ok(served::prompt_result(&result)?.into()),
                Served::Failed(failure) => Err(served::failure(failure, |message| {
                    McpError::invalid_params(message, None)
                })),
                Served::Cancelled => Err(McpError::internal_error("request cancelled", None)),
            }
        })
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let span = trace::request_span(
            "completion/complete",
            trace::About::Nothing,
            &context,
            self.continue_trace,
        );
        trace::traced!(span, async move {
            let catalog = self.live.snapshot();
            if !catalog.offers_completions() {
                return Err(method_not_found("completion/complete"));
            }
            self.refuse_unaudited()?;
            let target = match &request.r#ref {
                Reference::Prompt(p) => CompletionTarget::Prompt(p.name.clone()),
                Reference::Resource(r) => CompletionTarget::Template(r.uri.clone()),
                other => {
                    return Err(McpError::invalid_params(
                        format!("unknown completion reference `{}`", other.reference_type()),
                        None,
                    ));
                }
            };
            let context_arguments = request.context.and_then(|c| c.arguments).map(|args| {
                args.into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect::<serde_json::Map<_, _>>()
            });
            let argument = request.argument;
            let served = self
                .run_with_notifications(&context, |ctx, cancelled| async move {
                    mcp::complete(
                        &catalog,
                        &target,
                        &argument.name,
                        &argument.value,
                        context_arguments.as_ref(),
                        &ctx,
                        cancelled,
                    )
                    .await
                })
                .await;
            match served {
                Served::Done(completion) => Ok(served::completion(completion)),
                Served::Failed(failure) => Err(served::failure(failure, |message| {
                    McpError::invalid_params(message, None)
                })),
                Served::Cancelled => Err(McpError::internal_error("request cancelled", None)),
            }
        })
    }

    #[allow(
        deprecated,
        reason = "MCP's logging, deprecated in 2026-07-28 but served"
    )]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if self.live.snapshot().mcp_components().is_empty() {
            return Err(method_not_found("logging/setLevel"));
        }
        *self
            .log_level
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = served::log_level(&request.level);
        Ok(())
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
        let span = trace::request_span(
            "tools/call",
            trace::About::Tool(&request.name),
            &context,
            self.continue_trace,
        );
        let result = async move {
            let client = client_of(&context);
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
                    .call(&request, &context, &self.live, &self.audit, client.clone())
                    .await
            {
                return response;
            }
            let catalog = self.live.snapshot();
            let Some(entry) = catalog.get(&request.name) else {
                if let Some(tool) = catalog.mcp_tool(&request.name) {
                    return self
                        .call_mcp_tool(Arc::clone(tool), request, &context)
                        .await;
                }
                let (audit, client, floor) = (&self.audit, client, self.log_floor(&context));
                let name = request.name.clone();
                // An HTTP session's calls go to its own instances; clients
                // without one share the component's.
                let in_session = context
                    .extensions
                    .get::<hyper::http::request::Parts>()
                    .is_some_and(|parts| parts.headers.contains_key("mcp-session-id"));
                let own = in_session.then_some(&*self.instances);
                if let Some(response) = self
                    .proxies
                    .call(&catalog, request, &context, audit, client, floor, own)
                    .await
                {
                    return response;
                }
                return Err(McpError::invalid_params(
                    format!("unknown tool `{name}` (see tools/list)"),
                    None,
                ));
            };
            let invoked = weld_host::invoke(
                entry,
                request.arguments.as_ref(),
                &self.audit,
                client,
                context.ct.cancelled(),
            )
            .await;
            match invoked {
                Invoked::Done(output) => Ok(mcp_result(output).into()),
                // A cancelled request gets no response on the wire; this error
                // only reaches the SDK.
                Invoked::Cancelled => Err(McpError::internal_error("request cancelled", None)),
            }
        }
        .instrument(span.clone())
        .await;
        trace::record_call(&span, &result);
        result
    }
}

impl WeldServer {
    /// Under `AuditFailure::RefuseCalls`, nothing runs unrecorded.
    fn refuse_unaudited(&self) -> Result<(), McpError> {
        match self.audit.refusal() {
            Some(refusal) => Err(McpError::internal_error(refusal, None)),
            None => Ok(()),
        }
    }

    /// What the client of `context` asked to hear of a request's log
    /// messages: its request's level, else (before 2026-07-28) its
    /// session's `logging/setLevel`.
    fn log_floor(&self, context: &RequestContext<RoleServer>) -> served::LogFloor {
        match context.meta.log_level() {
            Some(level) => Some(served::log_level(&level)),
            // 2026-07-28 sends log messages only when a request asks.
            None if modern(context) => None,
            None => Some(
                *self
                    .log_level
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ),
        }
    }

    /// Runs one request to MCP-world components (`run` gets its context
    /// and its cancellation), passing the notifications they send on to
    /// the client meanwhile; returns once both are done, so every
    /// notification precedes the response.
    async fn run_with_notifications<T, F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        run: F,
    ) -> T
    where
        F: FnOnce(McpRequestContext, tokio_util::sync::WaitForCancellationFutureOwned) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let floor = self.log_floor(context);
        let (sink, notifications) = tokio::sync::mpsc::unbounded_channel::<Notification>();
        let forward = served::forward(
            notifications,
            context.peer.clone(),
            floor,
            context.meta.get_progress_token(),
        );
        let ctx = McpRequestContext {
            audit: self.audit.clone(),
            client: client_of(context),
            protocol_version: protocol_version(context),
            sink: Some(sink),
        };
        // `run` owns the context (and so the sink): when it ends, the
        // forwarder sees the last notification and ends too.
        let cancelled = context.ct.clone().cancelled_owned();
        let (result, ()) = tokio::join!(run(ctx, cancelled), forward);
        result
    }

    async fn call_mcp_tool(
        &self,
        tool: Arc<weld_host::mcp::McpTool>,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments;
        let name = request.name;
        let served = self
            .run_with_notifications(context, |ctx, cancelled| async move {
                mcp::call_tool(&tool, arguments.as_ref(), &ctx, cancelled).await
            })
            .await;
        match served {
            Served::Done(result) => Ok(served::tool_result(&result)?.into()),
            // A failed run is the tool's error, as for every tool.
            Served::Failed(mcp::McpFailure::Failed(message)) => Ok(error_result(message).into()),
            Served::Failed(failure) => Err(served::failure(failure, |message| {
                McpError::invalid_params(format!("{message} (tool `{name}`)"), None)
            })),
            Served::Cancelled => Err(McpError::internal_error("request cancelled", None)),
        }
    }
}

#[cfg(test)]
mod tests;
