//! `weld call`: run one tool once, as a client would, and print what it
//! would get.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use weld_host::{AuditFailure, Host, Invoked, ToolOutput};

use super::EXIT_TOOL_ERROR;
use super::serve::{build_catalog, open_audit};
use crate::cli;

/// `weld call`.
pub(super) async fn call(host: &Host, args: &cli::CallArgs) -> Result<ExitCode> {
    let arguments: Value = serde_json::from_str(&args.arguments)
        .with_context(|| format!("the arguments are not valid JSON: {}", args.arguments))?;
    let Value::Object(arguments) = arguments else {
        bail!("the arguments must be a JSON object, like '{{\"a\": 1}}'");
    };
    let catalog = build_catalog(host).await?;
    let Some(entry) = catalog.get(&args.tool) else {
        if let Some(tool) = catalog.mcp_tool(&args.tool) {
            return call_mcp_tool(host, tool, &arguments).await;
        }
        if let Some(disabled) = catalog.disabled().iter().find(|d| {
            args.tool
                .strip_prefix(d.component.as_str())
                .is_some_and(|rest| rest.starts_with('_'))
        }) {
            bail!(
                "component `{}` is disabled, none of its tools is served: {}",
                disabled.component,
                disabled.reason
            );
        }
        let known: Vec<&str> = catalog.tools().iter().map(|t| t.name.as_str()).collect();
        if let Some(near) = nearest(&args.tool, &known) {
            bail!("no tool named `{}`; did you mean `{near}`?", args.tool);
        }
        bail!(
            "no tool named `{}` (known: {})",
            args.tool,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let audit = open_audit(host.store(), AuditFailure::KeepServing)?;
    let invoked = weld_host::invoke(
        entry,
        Some(&arguments),
        &audit,
        Some("weld-cli".into()),
        std::future::pending(),
    )
    .await;
    audit.flush(Duration::from_secs(5));
    let Invoked::Done(output) = invoked else {
        bail!("the call was cancelled");
    };
    outln!(
        "{}",
        serde_json::to_string_pretty(&as_client_sees(&output))?
    );
    Ok(if output.is_error {
        ExitCode::from(EXIT_TOOL_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// The output as an MCP client receives it (`CallToolResult`), so that
/// `weld call` shows exactly what a client would get.
fn as_client_sees(output: &ToolOutput) -> Value {
    let content: Vec<Value> = output
        .text
        .iter()
        .map(|text| json!({ "type": "text", "text": text }))
        .collect();
    let mut result = json!({ "content": content, "isError": output.is_error });
    if let Some(structured) = &output.structured {
        result["structuredContent"] = Value::Object(structured.clone());
    }
    result
}

/// A tool of an MCP-world component, run once as `weld serve` runs it; its
/// answer printed as a client receives it. Its log and progress
/// notifications have no client to go to and are dropped.
async fn call_mcp_tool(
    host: &Host,
    tool: &std::sync::Arc<weld_host::mcp::McpTool>,
    arguments: &serde_json::Map<String, Value>,
) -> Result<ExitCode> {
    use weld_host::mcp::invoke::{McpFailure, McpRequestContext, Served};
    let audit = open_audit(host.store(), AuditFailure::KeepServing)?;
    let ctx = McpRequestContext {
        audit: audit.clone(),
        client: Some("weld-cli".into()),
        protocol_version: "2025-11-25".into(),
        sink: None,
    };
    let served =
        weld_host::mcp::invoke::call_tool(tool, Some(arguments), &ctx, std::future::pending())
            .await;
    audit.flush(Duration::from_secs(5));
    let result = match served {
        Served::Done(result) => result,
        // A failed run is the tool's error, as `weld serve` answers it.
        Served::Failed(McpFailure::Failed(message)) => {
            let answer = json!({"content": [{"type": "text", "text": message}], "isError": true});
            outln!("{}", serde_json::to_string_pretty(&answer)?);
            return Ok(ExitCode::from(EXIT_TOOL_ERROR));
        }
        Served::Failed(McpFailure::NotFound(message)) => bail!("{message}"),
        Served::Failed(McpFailure::Component(error)) => bail!(
            "the component answered with JSON-RPC error {}: {}",
            error.code,
            error.message
        ),
        Served::Cancelled => bail!("the call was cancelled"),
    };
    let mut answer =
        weld_mcp::served_tool_result(&result).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    // Printed as plain tools' answers are: the shape every era shares.
    if let Some(fields) = answer.as_object_mut() {
        fields.remove("resultType");
    }
    outln!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(if result.is_error {
        ExitCode::from(EXIT_TOOL_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// The known name closest to `wanted` (by edit distance, ignoring `-`/`_`
/// and case), if it is close enough to be a slip of the keyboard.
fn nearest<'a>(wanted: &str, known: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| -> Vec<char> {
        s.chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let want = norm(wanted);
    known
        .iter()
        .map(|k| (distance(&want, &norm(k)), *k))
        .filter(|(d, _)| *d <= 2.max(want.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slip_of_the_keyboard_is_matched_and_a_stranger_is_not() {
        let known = ["text_word-count", "text_reverse", "shapes_area"];
        assert_eq!(
            super::nearest("text_word_count", &known),
            Some("text_word-count")
        );
        assert_eq!(super::nearest("text_revrese", &known), Some("text_reverse"));
        assert_eq!(super::nearest("fetch", &known), None);
    }
}
