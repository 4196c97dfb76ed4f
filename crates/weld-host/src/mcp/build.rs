//! Listing MCP-world components at load ([`list`]) and adding what they
//! list to the catalog ([`McpOffers::add`]): names and URIs made unique,
//! schemas parsed and measured, templates read, all before the first
//! request, so a request parses nothing of them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};
use weld_runtime::Queue;
use weld_runtime::mcp::model::{Listing, McpReply, McpRequest, ToolDef};
use weld_schema::{MAX_SCHEMA_BYTES, SchemaPart, SchemaSize};

use super::template::UriTemplate;
use super::{
    McpComponent, McpNaming, McpTool, McpToolExtra, ServedPrompt, ServedResource, ServedTemplate,
    json_object,
};
use crate::catalog::{
    ComponentEntry, Disabled, MAX_CATALOG_BYTES, MAX_DESCRIPTION_BYTES, MAX_LISTING_BYTES,
    MAX_TOOL_NAME, SchemaText, Skipped, Slots, ToolSpec,
};
use crate::enforce::DEFAULT_OUTPUT;

/// The protocol version a component is told when it is listed: the one
/// its world was written for.
const LISTING_PROTOCOL: &str = "2025-11-25";

/// Asks MCP-world component `loaded` (named `name`) what it offers, in a
/// fresh instance under `policy`: what `weld serve` does at load, and
/// `weld inspect --list` on request.
///
/// # Errors
///
/// Why there is no listing: the component is not of an MCP world, the
/// call failed (a trap, a limit), or the component answered an error or
/// something that cannot be used.
pub async fn list_loaded(
    loaded: &weld_runtime::LoadedComponent,
    name: &str,
    policy: &crate::enforce::Enforcement,
) -> Result<Listing, ListingFailure> {
    let failed = |reason: String| ListingFailure {
        reason,
        transient: false,
    };
    if loaded.mcp().is_none() {
        return Err(failed("it is not an MCP-world component".into()));
    }
    let limits = &policy.limits;
    let queue = Queue::Until(Instant::now() + limits.timeout.min(weld_policy::MAX_TIMEOUT));
    let report = loaded
        .call_mcp(
            McpRequest::List,
            LISTING_PROTOCOL,
            None,
            MAX_LISTING_BYTES,
            limits,
            &policy.sandbox,
            name,
            queue,
        )
        .await;
    match report.result {
        Ok(McpReply::Listing(listing)) => Ok(listing),
        Ok(McpReply::Error(e)) => Err(failed(format!(
            "listing what it offers, it answered error {}: {}",
            e.code, e.message
        ))),
        Ok(McpReply::Invalid(reason)) => {
            Err(failed(format!("its listing cannot be used: {reason}")))
        }
        Ok(McpReply::TooLarge { cap }) => Err(failed(format!("its listing is over {cap} bytes"))),
        Ok(_) => Err(failed(
            "its listing was answered with something else".into(),
        )),
        Err(error) => Err(ListingFailure {
            reason: format!("listing what it offers failed: {error}"),
            transient: matches!(
                error,
                weld_runtime::CallError::Busy { .. } | weld_runtime::CallError::QueueTimeout { .. }
            ),
        }),
    }
}

/// Why a component could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFailure {
    /// Why, for the operator.
    pub reason: String,
    /// It may list next time: it was refused capacity, not its own doing.
    /// Any other failure is the component's (under its policy and limits)
    /// and is not tried again until one of them changes.
    pub transient: bool,
}

impl std::fmt::Display for ListingFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A listing that failed, kept so that a reload does not run it again
/// while the component, its sandbox and its limits are the same.
pub(crate) struct FailedListing {
    pub(crate) name: String,
    pub(crate) digest: String,
    pub(crate) limits: weld_runtime::CallLimits,
    pub(crate) sandbox: weld_runtime::Sandbox,
    pub(crate) output: u64,
    pub(crate) failure: ListingFailure,
}

impl FailedListing {
    pub(crate) fn of(entry: &ComponentEntry, failure: &ListingFailure) -> Self {
        Self {
            name: entry.name.clone(),
            digest: entry.digest.clone(),
            limits: entry.policy.limits,
            sandbox: entry.policy.sandbox.clone(),
            output: entry.policy.output.unwrap_or(DEFAULT_OUTPUT),
            failure: failure.clone(),
        }
    }
}

/// `entry`, disabled because its listing failed for `reason`.
pub(crate) fn unlisted(entry: &ComponentEntry, reason: &str) -> Disabled {
    let world = entry
        .code
        .get()
        .and_then(|l| l.mcp())
        .map_or_else(String::new, |m| m.world.to_string());
    Disabled {
        component: entry.name.clone(),
        digest: entry.digest.clone(),
        reason: format!("it is an MCP-world component ({world}), and {reason}"),
        file: entry.file.clone(),
    }
}

/// `entry`, disabled because what it lists cannot be served (`reason`).
pub(crate) fn refused(entry: &ComponentEntry, reason: &str) -> Disabled {
    let reason = format!("what it lists cannot be served: {reason}");
    tracing::error!(component = %entry.name, %reason, "component disabled");
    Disabled {
        component: entry.name.clone(),
        digest: entry.digest.clone(),
        reason,
        file: entry.file.clone(),
    }
}

/// What the served MCP-world components offer, by the names and URIs they
/// are served under.
#[derive(Default)]
pub(crate) struct McpOffers {
    pub(crate) tools: HashMap<String, Arc<McpTool>>,
    pub(crate) resources: Vec<Arc<ServedResource>>,
    pub(crate) by_uri: HashMap<String, usize>,
    pub(crate) templates: Vec<Arc<ServedTemplate>>,
    pub(crate) by_template: HashMap<String, usize>,
    pub(crate) prompts: Vec<Arc<ServedPrompt>>,
    pub(crate) by_prompt: HashMap<String, usize>,
    pub(crate) components: Vec<Arc<McpComponent>>,
    /// Listings that failed for the component's own reasons.
    pub(crate) failed: Vec<FailedListing>,
}

/// What one component adds, built whole before any of it is served.
struct Staged {
    tools: Vec<(ToolSpec, Arc<McpTool>)>,
    resources: Vec<ServedResource>,
    templates: Vec<ServedTemplate>,
    prompts: Vec<ServedPrompt>,
    bytes: u64,
}

/// What [`McpOffers::add`] added: the tools to list and the bytes of the
/// listing it takes.
pub(crate) struct Added {
    pub(crate) tools: Vec<ToolSpec>,
    pub(crate) bytes: u64,
}

impl McpOffers {
    /// Adds what `entry` listed, served with `slots` and named as `naming`
    /// says. A name, URI or template already served (`plain` holds the
    /// plain tools' names) is not served again: it goes to `skipped` with
    /// the reason.
    ///
    /// # Errors
    ///
    /// Why the component is refused whole: a schema that is not a JSON
    /// object or is over a cap, a description over its cap, or a listing
    /// that would take the catalog over `room` bytes.
    #[allow(
        clippy::too_many_arguments,
        reason = "one component's place among the others: each input is needed"
    )]
    pub(crate) fn add(
        &mut self,
        entry: &ComponentEntry,
        listing: Listing,
        slots: Arc<Slots>,
        naming: McpNaming,
        plain: &dyn Fn(&str) -> bool,
        skipped: &mut Vec<Skipped>,
        room: u64,
    ) -> Result<Added, String> {
        // MCP-world components are loaded when listed (see `crate::lazy`).
        let Some((loaded, info)) = entry.code.get().and_then(|l| Some((l, l.mcp()?))) else {
            return Ok(Added {
                tools: Vec::new(),
                bytes: 0,
            });
        };
        let component = Arc::new(McpComponent {
            name: entry.name.clone(),
            digest: entry.digest.clone(),
            world: info.world,
            completes: info.has(weld_runtime::McpInterface::Completions),
            loaded: Arc::clone(loaded),
            limits: entry.policy.limits,
            sandbox: entry.policy.sandbox.clone(),
            output: entry.policy.output.unwrap_or(DEFAULT_OUTPUT),
            slots: Mutex::new(slots),
            listing: listing.clone(),
        });
        let mut refused = Vec::new();
        let staged = self.stage(&component, listing, naming, plain, &mut refused)?;
        if staged.bytes > room {
            return Err(format!(
                "what it lists would take {} bytes of the listings, which have {room} left of \
                 their cap of {MAX_CATALOG_BYTES} bytes; the component is left out",
                staged.bytes
            ));
        }
        skipped.extend(refused);
        Ok(self.commit(component, staged))
    }

    fn stage(
        &self,
        component: &Arc<McpComponent>,
        listing: Listing,
        naming: McpNaming,
        plain: &dyn Fn(&str) -> bool,
        refused: &mut Vec<Skipped>,
    ) -> Result<Staged, String> {
        let owner = component.name.as_str();
        let served = |name: &str| match naming {
            McpNaming::AsGiven => name.to_string(),
            McpNaming::Prefixed => format!("{owner}_{name}"),
        };
        let mut skip = |what: String, reason: String| {
            refused.push(Skipped {
                component: owner.to_string(),
                function: what,
                reason,
                toolchain: false,
            });
        };
        let mut staged = Staged {
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            bytes: 0,
        };

        let mut names = HashSet::new();
        for def in listing.tools {
            let name = served(&def.name);
            if let Err(reason) = check_name(&name, true) {
                skip(name, reason);
                continue;
            }
            if plain(&name) || self.tools.contains_key(&name) || !names.insert(name.clone()) {
                skip(name, taken("tool"));
                continue;
            }
            let spec = tool_spec(owner, &name, &def).map_err(|e| format!("tool `{name}`: {e}"))?;
            staged.bytes += spec.listing_bytes();
            let tool = Arc::new(McpTool {
                name,
                original: def.name,
                component: Arc::clone(component),
            });
            staged.tools.push((spec, tool));
        }

        let mut uris = HashSet::new();
        for def in listing.resources {
            let what = format!("resource {}", def.uri);
            if self.by_uri.contains_key(&def.uri) || !uris.insert(def.uri.clone()) {
                skip(what, taken("resource URI"));
                continue;
            }
            check_description(def.description.as_deref()).map_err(|e| format!("{what}: {e}"))?;
            staged.bytes += text_len([
                Some(&def.uri),
                Some(&def.name),
                def.title.as_ref(),
                def.description.as_ref(),
                def.mime_type.as_ref(),
                def.meta.as_ref(),
            ]);
            staged.resources.push(ServedResource {
                meta: json_object(def.meta.as_deref()),
                def,
                component: Arc::clone(component),
            });
        }

        let mut patterns = HashSet::new();
        for def in listing.templates {
            let what = format!("resource template {}", def.uri_template);
            let Some(matcher) = UriTemplate::parse(&def.uri_template) else {
                skip(
                    what,
                    "not an RFC 6570 URI template (an expression is not closed)".into(),
                );
                continue;
            };
            if self.by_template.contains_key(&def.uri_template)
                || !patterns.insert(def.uri_template.clone())
            {
                skip(what, taken("resource template"));
                continue;
            }
            check_description(def.description.as_deref()).map_err(|e| format!("{what}: {e}"))?;
            staged.bytes += text_len([
                Some(&def.uri_template),
                Some(&def.name),
                def.title.as_ref(),
                def.description.as_ref(),
                def.mime_type.as_ref(),
                def.meta.as_ref(),
            ]);
            staged.templates.push(ServedTemplate {
                meta: json_object(def.meta.as_deref()),
                def,
                component: Arc::clone(component),
                matcher,
            });
        }

        let mut prompt_names = HashSet::new();
        for def in listing.prompts {
            let name = served(&def.name);
            let what = format!("prompt {name}");
            if let Err(reason) = check_name(&name, false) {
                skip(what, reason);
                continue;
            }
            if self.by_prompt.contains_key(&name) || !prompt_names.insert(name.clone()) {
                skip(what, taken("prompt"));
                continue;
            }
            check_description(def.description.as_deref()).map_err(|e| format!("{what}: {e}"))?;
            staged.bytes += text_len([
                Some(&name),
                def.title.as_ref(),
                def.description.as_ref(),
                def.meta.as_ref(),
            ]) + def
                .arguments
                .iter()
                .map(|a| text_len([Some(&a.name), a.title.as_ref(), a.description.as_ref()]))
                .sum::<u64>();
            staged.prompts.push(ServedPrompt {
                name,
                meta: json_object(def.meta.as_deref()),
                def,
                component: Arc::clone(component),
            });
        }
        Ok(staged)
    }

    fn commit(&mut self, component: Arc<McpComponent>, staged: Staged) -> Added {
        let mut tools = Vec::with_capacity(staged.tools.len());
        for (spec, tool) in staged.tools {
            self.tools.insert(tool.name.clone(), tool);
            tools.push(spec);
        }
        for resource in staged.resources {
            self.by_uri
                .insert(resource.def.uri.clone(), self.resources.len());
            self.resources.push(Arc::new(resource));
        }
        for template in staged.templates {
            self.by_template
                .insert(template.def.uri_template.clone(), self.templates.len());
            self.templates.push(Arc::new(template));
        }
        for prompt in staged.prompts {
            self.by_prompt
                .insert(prompt.name.clone(), self.prompts.len());
            self.prompts.push(Arc::new(prompt));
        }
        self.components.push(component);
        Added {
            tools,
            bytes: staged.bytes,
        }
    }
}

fn taken(what: &str) -> String {
    format!(
        "a component loaded before it already serves a {what} of this name, so this one is not \
         served (names are kept unique, first come first served); rename one, or serve \
         MCP-world components' tools and prompts prefixed with their component's name \
         (`weld serve --prefix-mcp-names`)"
    )
}

/// Whether `name` may be served: MCP's tool-name rules (1 to 128 of
/// `A-Z a-z 0-9 _ - .`), and not a built-in tool's.
fn check_name(name: &str, tool: bool) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_TOOL_NAME {
        return Err(format!(
            "the name is not 1 to {MAX_TOOL_NAME} characters long"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err("the name has characters MCP does not allow in names (only A-Z, a-z, 0-9, `_`, `-` and `.`)".into());
    }
    if tool && name.starts_with("weld_") {
        return Err("names starting `weld_` are weld's built-in tools'".into());
    }
    Ok(())
}

fn check_description(description: Option<&str>) -> Result<(), String> {
    match description {
        Some(d) if d.len() > MAX_DESCRIPTION_BYTES => Err(format!(
            "its description is {} bytes (the cap is {MAX_DESCRIPTION_BYTES} bytes)",
            d.len()
        )),
        _ => Ok(()),
    }
}

/// The tool as the catalog lists it, its schemas parsed and measured.
fn tool_spec(owner: &str, name: &str, def: &ToolDef) -> Result<ToolSpec, String> {
    check_description(def.description.as_deref())?;
    let description = def.description.clone().unwrap_or_else(|| {
        format!(
            "Tool `{}` of component `{owner}`. (The component gives no description.)",
            def.name
        )
    });
    let input_schema = SchemaText::of(&schema(SchemaPart::Input, &def.input_schema)?);
    let output_schema = match &def.output_schema {
        Some(text) => Some(SchemaText::of(&schema(SchemaPart::Output, text)?)),
        None => None,
    };
    let meta = match def.meta.as_deref() {
        Some(text) => Some(json_object(Some(text)).ok_or("its `_meta` is not a JSON object")?),
        None => None,
    };
    Ok(ToolSpec::new(
        name.to_string(),
        description,
        input_schema,
        output_schema,
        Some(Arc::new(McpToolExtra {
            title: def.title.clone(),
            annotations: def.annotations.clone(),
            icons: def.icons.clone(),
            meta,
        })),
        extra_len(def),
    ))
}

/// A schema the component gave as text: a JSON object within the caps
/// every schema has.
fn schema(part: SchemaPart, text: &str) -> Result<Map<String, Value>, String> {
    let what = match part {
        SchemaPart::Output => "output schema",
        _ => "input schema",
    };
    if text.len() as u64 > MAX_SCHEMA_BYTES {
        return Err(format!(
            "its {what} is {} bytes (the cap is {MAX_SCHEMA_BYTES} bytes)",
            text.len()
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("its {what} is not JSON: {e}"))?;
    SchemaSize::of(&value)
        .check(part)
        .map_err(|e| e.to_string())?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(format!("its {what} is not a JSON object")),
    }
}

/// Bytes a tool's title, annotations and icons add to its listing.
fn extra_len(def: &ToolDef) -> u64 {
    text_len([def.title.as_ref(), def.meta.as_ref()])
        + def
            .annotations
            .as_ref()
            .map_or(0, |a| 128 + a.title.as_ref().map_or(0, |t| t.len() as u64))
        + def
            .icons
            .iter()
            .map(|i| 64 + i.src.len() as u64)
            .sum::<u64>()
}

/// Bytes a listed item's text takes, with room for its JSON keys.
fn text_len<'a>(fields: impl IntoIterator<Item = Option<&'a String>>) -> u64 {
    fields
        .into_iter()
        .map(|f| 16 + f.map_or(0, |s| s.len() as u64))
        .sum()
}
