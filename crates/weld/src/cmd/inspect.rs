//! `weld inspect`: what a component file offers and asks for, read from
//! its types without compiling it (safe on untrusted files). A component
//! of an MCP world names its own tools, resources and prompts: with
//! `--list` it is compiled and asked, deny-all, as `weld serve` asks it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use weld_host::catalog::inspected_tools;
use weld_host::enforce::Enforcement;
use weld_host::load::read_component_file;
use weld_host::{ToolSpec, install};
use weld_runtime::{CallLimits, Metering, Runtime};

use super::list::NotTool;

/// What `weld inspect --json` prints.
#[derive(Serialize)]
struct Report<'a> {
    name: &'a str,
    digest: String,
    size: usize,
    tools: &'a [&'a ToolSpec],
    not_tools: &'a [NotTool<'a>],
    imports: &'a [String],
    /// The MCP world it implements (`wasmcp:mcp-v20251125@0.1.1`), and the
    /// interfaces of it it exports.
    #[serde(skip_serializing_if = "Option::is_none")]
    world: Option<World>,
    /// What it listed, with `--list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    listing: Option<Listed>,
    /// Why it could not be listed, with `--list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    listing_error: Option<String>,
    /// `stdio` for an MCP server component: a command (its only export
    /// is `wasi:cli/run`) that weld runs as a long-lived instance and
    /// proxies; its tools are the ones it lists when served.
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_server: Option<&'static str>,
    /// Whether weld would install it: it links, the instance pool can hold
    /// one call of it, and no tool is over a cap.
    loadable: bool,
    link_error: Option<&'a str>,
    /// What one call takes from the instance pool (core instances a lower
    /// bound), when the pool can hold it.
    per_call: Option<PerCall>,
    /// Why the instance pool cannot hold one call of it.
    pool_error: Option<&'a str>,
    refused: Option<&'a str>,
}

/// The MCP world a component implements.
#[derive(Serialize)]
struct World {
    name: String,
    exports: Vec<&'static str>,
}

/// What an MCP-world component lists.
#[derive(Serialize, Default)]
struct Listed {
    tools: Vec<ListedItem>,
    resources: Vec<ListedItem>,
    resource_templates: Vec<ListedItem>,
    prompts: Vec<ListedItem>,
}

/// One thing it lists: its name (or URI) and description.
#[derive(Serialize)]
struct ListedItem {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// A prompt's arguments (`name` or `name?` when optional).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    arguments: Vec<String>,
}

/// Compiles `bytes` and asks the MCP-world component what it offers,
/// deny-all with the default limits.
async fn listing(
    runtime: &Runtime,
    file: &weld_host::load::FileComponent,
) -> Result<Listed, String> {
    let loaded = runtime
        .compile(file.digest.hex(), Metering::Off, &file.bytes)
        .map_err(|e| format!("it could not be compiled: {e}"))?;
    let policy = Enforcement::deny_all(CallLimits::default());
    let listing = weld_host::mcp::list_loaded(&loaded, &file.name, &policy)
        .await
        .map_err(|failure| failure.reason)?;
    let item = |name: &str, description: &Option<String>| ListedItem {
        name: name.to_string(),
        description: description.clone(),
        arguments: Vec::new(),
    };
    Ok(Listed {
        tools: listing
            .tools
            .iter()
            .map(|t| item(&t.name, &t.description))
            .collect(),
        resources: listing
            .resources
            .iter()
            .map(|r| item(&r.uri, &r.description))
            .collect(),
        resource_templates: listing
            .templates
            .iter()
            .map(|t| item(&t.uri_template, &t.description))
            .collect(),
        prompts: listing
            .prompts
            .iter()
            .map(|p| ListedItem {
                arguments: p
                    .arguments
                    .iter()
                    .map(|a| {
                        if a.required == Some(true) {
                            a.name.clone()
                        } else {
                            format!("{}?", a.name)
                        }
                    })
                    .collect(),
                ..item(&p.name, &p.description)
            })
            .collect(),
    })
}

/// What one call takes from the instance pool.
#[derive(Serialize)]
struct PerCall {
    core_instances: u32,
    memories: u32,
    tables: u32,
}

/// `weld inspect`.
pub(super) async fn inspect(
    runtime: &Runtime,
    path: &Path,
    name: Option<&str>,
    as_json: bool,
    list: bool,
) -> Result<ExitCode> {
    let file = read_component_file(path, name)?;
    // Described from its types alone: nothing of an untrusted file is
    // compiled (see `Runtime::inspect`).
    let inspection = runtime
        .inspect(&file.bytes)
        .with_context(|| format!("inspecting {}", path.display()))?;
    let (built, refused) = match inspected_tools(&file.name, &file.docs, &inspection) {
        Ok(built) => (Some(built), None),
        Err(refused) => (None, Some(install::refusal(&refused))),
    };
    let tools: Vec<&ToolSpec> = built
        .iter()
        .flat_map(|b| &b.tools)
        .map(|t| &t.tool)
        .collect();
    let not_tools: Vec<NotTool<'_>> = built
        .iter()
        .flat_map(|b| &b.skipped)
        .map(|s| NotTool {
            function: &s.function,
            reason: &s.reason,
        })
        .collect();
    let exports = inspection.functions.iter();
    let mcp_server =
        weld_runtime::is_command(exports.map(|f| (f.interface.as_deref(), f.name.as_str())))
            .then_some("stdio");
    let pool_error = inspection.footprint.as_ref().err().map(String::as_str);
    let per_call = inspection.footprint.as_ref().ok().map(|f| PerCall {
        core_instances: f.core_instances,
        memories: f.memories,
        tables: f.tables,
    });
    let loadable = inspection.link_error.is_none() && pool_error.is_none() && refused.is_none();
    let world = inspection.mcp.as_ref().map(|m| World {
        name: m.world.to_string(),
        exports: m.interfaces.iter().map(|i| i.as_str()).collect(),
    });
    let (listed, listing_error) = match (&world, list) {
        (Some(_), true) if loadable => match listing(runtime, &file).await {
            Ok(listed) => (Some(listed), None),
            Err(error) => (None, Some(error)),
        },
        (Some(_), true) => (None, Some("it cannot run here (see above)".to_string())),
        _ => (None, None),
    };
    if as_json {
        let report = Report {
            name: &file.name,
            digest: file.digest.to_string(),
            size: file.bytes.len(),
            tools: &tools,
            not_tools: &not_tools,
            imports: &inspection.imports,
            world,
            listing: listed,
            listing_error,
            mcp_server,
            loadable,
            link_error: inspection.link_error.as_deref(),
            per_call,
            pool_error,
            refused: refused.as_deref(),
        };
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} {} ({} bytes)", file.name, file.digest, file.bytes.len());
    if let Some(error) = &inspection.link_error {
        outln!("  cannot run here: {error}");
    }
    if let Some(error) = pool_error {
        outln!("  cannot run here: {error}");
    }
    if let Some(per_call) = &per_call {
        outln!(
            "  per call: {} core instances, {} linear memories, {} tables (from its structure)",
            per_call.core_instances,
            per_call.memories,
            per_call.tables
        );
    }
    if let Some(reason) = &refused {
        outln!("  would be refused: {reason}");
    }
    if mcp_server.is_some() {
        outln!(
            "  an MCP server over stdio: a command (its only export is wasi:cli/run) that speaks \
             MCP over its stdin and stdout; weld serve runs it as one long-lived instance under \
             its policy and serves the tools it lists (asked when served, not here)"
        );
    }
    if let Some(world) = &world {
        outln!(
            "  an MCP server of the world {} (exports {})",
            world.name,
            world.exports.join(", ")
        );
        if !list {
            outln!(
                "  it names its own tools, resources and prompts: `weld inspect --list` compiles \
                 it and asks it, deny-all"
            );
        }
    }
    if let Some(error) = &listing_error {
        outln!("  not listed: {error}");
    }
    if let Some(listed) = &listed {
        print_listed(listed)?;
    }
    for tool in &tools {
        outln!("\ntool {}", tool.name);
        for line in tool.description.lines() {
            outln!("  {line}");
        }
        outln!("  input:  {}", tool.input_schema.as_str());
        if let Some(output) = &tool.output_schema {
            outln!("  output: {}", output.as_str());
        }
    }
    if !not_tools.is_empty() {
        outln!();
    }
    for skipped in &not_tools {
        outln!("not a tool: {} ({})", skipped.function, skipped.reason);
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

fn print_listed(listed: &Listed) -> Result<()> {
    let sections = [
        ("tool", &listed.tools),
        ("resource", &listed.resources),
        ("resource template", &listed.resource_templates),
        ("prompt", &listed.prompts),
    ];
    for (kind, items) in sections {
        for item in items {
            let arguments = if item.arguments.is_empty() {
                String::new()
            } else {
                format!("({})", item.arguments.join(", "))
            };
            outln!("\n{kind} {}{arguments}", item.name);
            if let Some(description) = &item.description {
                for line in description.lines() {
                    outln!("  {line}");
                }
            }
        }
    }
    Ok(())
}
