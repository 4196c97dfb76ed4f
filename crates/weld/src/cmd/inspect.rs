//! `weld inspect`: what a component file offers and asks for, read from
//! its types without compiling it (safe on untrusted files).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use weld_host::catalog::inspected_tools;
use weld_host::install;
use weld_host::load::read_component_file;
use weld_runtime::Runtime;

pub(super) fn inspect(
    runtime: &Runtime,
    path: &Path,
    name: Option<&str>,
    as_json: bool,
) -> Result<ExitCode> {
    let file = read_component_file(path, name)?;
    // Described from its types alone: nothing of an untrusted file is
    // compiled (see `Runtime::inspect`).
    let inspection = runtime
        .inspect(&file.bytes)
        .with_context(|| format!("inspecting {}", path.display()))?;
    let (tools, not_tools, refused) = match inspected_tools(&file.name, &file.docs, &inspection) {
        Ok(built) => (
            built
                .tools
                .iter()
                .map(|t| serde_json::to_value(&t.tool))
                .collect::<Result<Vec<_>, _>>()?,
            built
                .skipped
                .iter()
                .map(|s| json!({ "function": s.function, "reason": s.reason }))
                .collect::<Vec<_>>(),
            None,
        ),
        Err(refused) => (Vec::new(), Vec::new(), Some(install::refusal(&refused))),
    };
    let report = json!({
        "name": file.name,
        "digest": file.digest,
        "size": file.bytes.len(),
        "tools": tools,
        "not_tools": not_tools,
        "imports": inspection.imports,
        "loadable": inspection.link_error.is_none() && refused.is_none(),
        "link_error": inspection.link_error,
        "refused": refused,
    });
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} {} ({} bytes)", file.name, file.digest, file.bytes.len());
    if let Some(error) = &inspection.link_error {
        outln!("  cannot run here: {error}");
    }
    if let Some(reason) = &refused {
        outln!("  would be refused: {reason}");
    }
    for tool in &tools {
        outln!("\ntool {}", tool["name"].as_str().unwrap_or(""));
        if let Some(description) = tool["description"].as_str() {
            for line in description.lines() {
                outln!("  {line}");
            }
        }
        outln!("  input:  {}", tool["inputSchema"]);
        if !tool["outputSchema"].is_null() {
            outln!("  output: {}", tool["outputSchema"]);
        }
    }
    if !not_tools.is_empty() {
        outln!();
    }
    for skipped in &not_tools {
        outln!(
            "not a tool: {} ({})",
            skipped["function"].as_str().unwrap_or(""),
            skipped["reason"].as_str().unwrap_or("")
        );
    }
    outln!("\nimports (the capabilities it will ask for):");
    if inspection.imports.is_empty() {
        outln!("  none");
    }
    for import in &inspection.imports {
        outln!("  {import}");
    }
    Ok(ExitCode::SUCCESS)
}
