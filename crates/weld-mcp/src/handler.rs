//! The MCP request handler over the [`LiveCatalog`].
//!
//! Implemented by hand rather than with rmcp's macros because tools are not
//! known at compile time: they come from whatever components are loaded.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use weld_host::Invoked;
use weld_host::audit::Audit;
use weld_host::catalog::LiveCatalog;

use crate::builtin::Management;
use crate::proxy::Proxies;
use crate::tools::{mcp_result, mcp_tool};

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
}

impl WeldServer {
    /// A server of the live catalog's tools only (no built-in tools).
    pub fn new(live: Arc<LiveCatalog>, audit: Audit) -> Self {
        Self {
            live,
            audit,
            management: None,
            proxies: Proxies::new(crate::proxy::DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// Stops an MCP server component after `idle` without a request.
    pub fn with_mcp_server_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.proxies = Proxies::new(idle);
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

impl ServerHandler for WeldServer {
    /// Tools and tool-list changes, nothing else: rmcp answers the methods of
    /// every other capability (prompts, resources, completion, logging,
    /// tasks, skills) with "method not found" because they are not here.
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
        let catalog = self.live.snapshot();
        let proxied = self.proxies.tools(&catalog).await;
        Ok(ListToolsResult::with_all_items(
            builtin
                .cloned()
                .chain(catalog.tools().iter().map(mcp_tool))
                .chain(proxied)
                .collect(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.management
            .iter()
            .flat_map(|m| m.tools().iter())
            .find(|t| t.name == name)
            .cloned()
            .or_else(|| self.live.snapshot().get(name).map(|e| mcp_tool(&e.tool)))
            .or_else(|| self.proxies.tool(name))
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
        let mut changes = self.live.changes();
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
                .call(&request, &context, &self.live, &self.audit, client.clone())
                .await
        {
            return response;
        }
        let catalog = self.live.snapshot();
        let Some(entry) = catalog.get(&request.name) else {
            let (audit, client) = (&self.audit, client);
            let name = request.name.clone();
            if let Some(response) = self
                .proxies
                .call(&catalog, request, &context, audit, client)
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
}

#[cfg(test)]
mod tests;
