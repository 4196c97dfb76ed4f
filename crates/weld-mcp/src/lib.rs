//! weld's MCP surface on rmcp: the request handler, the built-in management
//! tools and the stdio and Streamable HTTP transports, over a `weld-host`.
//!
//! Start reading at [`handler::WeldServer`]: every request enters there
//! (from [`transport::serve_stdio`] or [`transport::serve_http`]);
//! `tools/call` goes to a built-in tool ([`builtin`]), to
//! `weld_host::invoke`, or to an MCP server component's session
//! ([`proxy`]).
//!
//! # Invariants (written as absences)
//!
//! - The only crate that depends on `rmcp` or knows MCP's wire types; the
//!   only weld crates it uses are `weld-host` and `weld-policy` (the
//!   vocabulary of grants).
//! - Decides nothing about what a tool may do: policies are changed through
//!   `weld_host::Policies` and only after a person approved (or the operator
//!   allowed it); calls run through `weld_host::invoke`.
//! - Advertises exactly what it serves: tools and tool-list changes;
//!   resources, prompts, completion and logging only while a served
//!   MCP-world component offers them. Every other capability's methods are
//!   answered "method not found".
//! - Nothing but JSON-RPC is written to stdout in stdio mode.

pub mod builtin;
#[doc(hidden)]
pub mod fuzz;
pub mod handler;
pub mod pages;
pub mod proxy;
mod served;
mod spliced;
pub mod tools;
pub mod trace;
pub mod transport;

pub use builtin::{BuiltinOptions, Management};

/// An MCP-world tool's result as the JSON a client of weld receives (for
/// `weld call`, which prints it).
///
/// # Errors
///
/// When the tool's structured content is not JSON: the error a client would
/// get instead.
pub fn served_tool_result(
    result: &weld_host::mcp::model::ToolResult,
) -> Result<serde_json::Value, rmcp::ErrorData> {
    let result = served::tool_result(result)?;
    serde_json::to_value(result)
        .map_err(|e| rmcp::ErrorData::internal_error(format!("internal error: {e}"), None))
}
pub use handler::{ServerOptions, WeldServer};
pub use transport::{
    HttpLimits, HttpOptions, MetricsText, Readiness, TransportError, serve_http, serve_stdio,
};
