//! weld-host's protocol-free tool types as MCP's: a catalog entry as
//! `tools/list` shows it, a tool's output as a `tools/call` result.

use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::Value;
use weld_host::catalog::SchemaText;
use weld_host::{ToolOutput, ToolSpec};

/// A catalog tool as MCP lists it: its schemas, held as text, parsed into
/// the values rmcp sends, and dropped with the page.
///
/// # Errors
///
/// An internal error when a schema does not parse: never for text weld
/// built or kept (kept text is authenticated), but not assumed.
pub fn mcp_tool(spec: &ToolSpec) -> Result<Tool, McpError> {
    mcp_tool_with(spec, |schema| schema.to_object().map(Arc::new))
}

/// A catalog tool as a call needs it (rmcp looks up a called tool's input
/// schema): parsed once and kept with the tool, so a call parses nothing.
///
/// # Errors
///
/// As [`mcp_tool`].
pub fn called_tool(spec: &ToolSpec) -> Result<Tool, McpError> {
    mcp_tool_with(spec, SchemaText::kept_object)
}

/// Appends `spec` to `out` as `tools/list` carries it, as JSON text: a
/// plain function's definition from the text the catalog holds, without
/// parsing it (the page it goes into is checked whole: see
/// [`crate::spliced`]); an MCP-world component's tool, which carries more,
/// through rmcp's type.
///
/// # Errors
///
/// As [`mcp_tool`], for an MCP-world component's tool.
pub fn write_listed(spec: &ToolSpec, out: &mut Vec<u8>) -> Result<(), McpError> {
    if spec.mcp.is_some() {
        return write_json(&mcp_tool(spec)?, out);
    }
    out.extend_from_slice(br#"{"name":"#);
    write_json(&spec.name, out)?;
    out.extend_from_slice(br#","description":"#);
    write_json(&spec.description, out)?;
    out.extend_from_slice(br#","inputSchema":"#);
    out.extend_from_slice(spec.input_schema.as_str().as_bytes());
    if let Some(output) = &spec.output_schema {
        out.extend_from_slice(br#","outputSchema":"#);
        out.extend_from_slice(output.as_str().as_bytes());
    }
    out.push(b'}');
    Ok(())
}

/// Appends `value`'s compact JSON text to `out`.
///
/// # Errors
///
/// An internal error when `value` cannot be written as JSON (never for
/// rmcp's types or strings).
pub fn write_json(value: &impl serde::Serialize, out: &mut Vec<u8>) -> Result<(), McpError> {
    serde_json::to_writer(out, value).map_err(|e| {
        McpError::internal_error(format!("a tool could not be written as JSON: {e}"), None)
    })
}

fn mcp_tool_with(
    spec: &ToolSpec,
    object: impl Fn(&SchemaText) -> Result<Arc<JsonObject>, serde_json::Error>,
) -> Result<Tool, McpError> {
    let unparsable = |error: serde_json::Error| {
        McpError::internal_error(
            format!(
                "the schema of tool `{}` as weld holds it does not parse ({error}); \
                 restart weld, which builds it again",
                spec.name
            ),
            None,
        )
    };
    let input = object(&spec.input_schema).map_err(unparsable)?;
    let mut tool = Tool::new(spec.name.clone(), spec.description.clone(), input);
    if let Some(output) = &spec.output_schema {
        tool.output_schema = Some(object(output).map_err(unparsable)?);
    }
    if let Some(extra) = &spec.mcp {
        crate::served::add_tool_extra(&mut tool, extra);
    }
    Ok(tool)
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
