//! `weld list`: what is installed, and what of it is served.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use weld_host::{Catalog, Compiling, Host, ToolSpec};

use super::audit::one_line;

/// One installed component, as listed (`--json` prints these).
#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    digest: String,
    size: u64,
    source: &'a str,
    installed_at: u64,
    /// Who signed it (`key sha256:…`, an identity), `unsigned`, or `None`
    /// for a local file.
    trust: Option<String>,
    /// The OCI manifest digest the signature covers.
    manifest: Option<String>,
    tools: Vec<&'a ToolSpec>,
    /// For an MCP-world component: the resource URIs, templates and
    /// prompts it serves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resource_templates: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    prompts: Vec<&'a str>,
    not_tools: Vec<NotTool<'a>>,
    imports: Vec<String>,
    /// Why none of its tools is served, when it is disabled.
    error: Option<&'a str>,
    /// Granted variables and secrets with no value to pass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// A function that is not offered as a tool, and why.
#[derive(Serialize)]
pub(super) struct NotTool<'a> {
    pub(super) function: &'a str,
    pub(super) reason: &'a str,
}

/// `weld list`.
pub(super) async fn list(host: &Host, as_json: bool) -> Result<ExitCode> {
    let index = host.store().index()?;
    // Loaded as `weld serve` loads them, so the listing says exactly which
    // components are served and why the others are not.
    let loaded = host.load(Compiling::Now)?;
    let mut imports: HashMap<String, Vec<String>> = loaded
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.code.description().imports.clone()))
        .collect();
    let catalog = loaded.into_catalog().await;
    let listed: Vec<Listed<'_>> = index
        .components
        .iter()
        .map(|(name, installed)| Listed {
            name,
            digest: installed.digest.to_string(),
            size: installed.size,
            source: &installed.source,
            installed_at: installed.installed_at,
            trust: installed.provenance.as_ref().map(|p| match &p.signer {
                Some(signer) => format!("signed by {signer}"),
                None => "UNSIGNED (installed with an explicit opt-out)".to_string(),
            }),
            manifest: installed
                .provenance
                .as_ref()
                .and_then(|p| p.manifest.as_ref().map(ToString::to_string)),
            tools: catalog
                .tools()
                .iter()
                .filter(|t| catalog.tool_component(&t.name) == Some(name.as_str()))
                .map(|t| &**t)
                .collect(),
            resources: catalog
                .resources()
                .iter()
                .filter(|r| &r.component.name == name)
                .map(|r| r.def.uri.as_str())
                .collect(),
            resource_templates: catalog
                .resource_templates()
                .iter()
                .filter(|t| &t.component.name == name)
                .map(|t| t.def.uri_template.as_str())
                .collect(),
            prompts: catalog
                .prompts()
                .iter()
                .filter(|p| &p.component.name == name)
                .map(|p| p.name.as_str())
                .collect(),
            not_tools: catalog
                .skipped()
                .iter()
                .filter(|s| &s.component == name)
                .map(|s| NotTool {
                    function: &s.function,
                    reason: &s.reason,
                })
                .collect(),
            imports: imports.remove(name).unwrap_or_default(),
            error: catalog
                .disabled()
                .iter()
                .find(|d| &d.component == name)
                .map(|d| d.reason.as_str()),
            warnings: catalog
                .unset_env()
                .iter()
                .filter(|(component, _)| component == name)
                .map(|(_, unset)| unset.to_string())
                .collect(),
        })
        .collect();
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        outln!("no components installed (add one with `weld add PATH`)");
    }
    for component in &listed {
        outln!(
            "{} {} ({} bytes, from {})",
            component.name,
            component.digest,
            component.size,
            component.source
        );
        if let Some(trust) = &component.trust {
            outln!("  {trust}");
        }
        if let Some(error) = component.error {
            outln!(
                "  DISABLED, none of its tools is served: {}",
                one_line(error)
            );
        }
        for warning in &component.warnings {
            outln!("  warning: {warning}");
        }
        print_tool_lines(component.tools.iter().copied(), &component.not_tools)?;
        for uri in &component.resources {
            outln!("  resource {uri}");
        }
        for template in &component.resource_templates {
            outln!("  resource template {template}");
        }
        for prompt in &component.prompts {
            outln!("  prompt {prompt}");
        }
        for import in &component.imports {
            outln!("  imports {import}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A catalog's tools and refused functions, one line each.
pub(super) fn print_tools(catalog: &Catalog) -> Result<()> {
    let not_tools: Vec<NotTool<'_>> = catalog
        .skipped()
        .iter()
        .map(|s| NotTool {
            function: &s.function,
            reason: &s.reason,
        })
        .collect();
    print_tool_lines(catalog.tools().iter().map(|t| &**t), &not_tools)
}

/// A description's first sentence, on one line: doc comments wrap lines
/// mid-sentence, so the first line alone would be cut there.
fn summary(description: &str) -> String {
    let paragraph = description
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match paragraph.find(". ") {
        Some(end) => paragraph[..=end].to_string(),
        None => paragraph,
    }
}

fn print_tool_lines<'a>(
    tools: impl Iterator<Item = &'a ToolSpec>,
    not_tools: &[NotTool<'_>],
) -> Result<()> {
    for tool in tools {
        outln!("  tool {}: {}", tool.name, summary(&tool.description));
    }
    for skipped in not_tools {
        outln!("  not a tool: {} ({})", skipped.function, skipped.reason);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn a_wrapped_description_is_summarised_by_its_whole_first_sentence() {
        let wrapped = "Re-cases text into a naming convention. Words are split at whitespace,\n\
                       hyphens and underscores.\n\nMore detail.";
        assert_eq!(summary(wrapped), "Re-cases text into a naming convention.");
        let long = "Finds every occurrence of a substring, scanning left to right without\n\
                    overlapping matches.\n\nDetails.";
        assert_eq!(
            summary(long),
            "Finds every occurrence of a substring, scanning left to right without overlapping matches."
        );
    }
}
