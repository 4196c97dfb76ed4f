//! weld-host's protocol-free tool types as MCP's: a catalog entry as
//! `tools/list` shows it, a tool's output as a `tools/call` result.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::Value;
use weld_host::{ToolOutput, ToolSpec};

/// A catalog tool as MCP lists it.
pub fn mcp_tool(spec: &ToolSpec) -> Tool {
    let mut tool = Tool::new(
        spec.name.clone(),
        spec.description.clone(),
        Arc::clone(&spec.input_schema),
    );
    tool.output_schema = spec.output_schema.clone();
    if let Some(extra) = &spec.mcp {
        crate::served::add_tool_extra(&mut tool, extra);
    }
    tool
}

/// A tool's output as MCP's result.
pub fn mcp_result(output: ToolOutput) -> CallToolResult {
    let content = output
        .text
        .map(|t| vec![ContentBlock::text(t)])
        .unwrap_or_default();
    if output.is_error {
        CallToolResult::error(content)
    } else {
        let mut result = CallToolResult::success(content);
        result.structured_content = output.structured.map(Value::Object);
        result
    }
}
