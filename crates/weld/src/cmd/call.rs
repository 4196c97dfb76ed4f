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
    let catalog = build_catalog(host)?;
    let Some(entry) = catalog.get(&args.tool) else {
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
