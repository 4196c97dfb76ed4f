//! The set of tools being served: built once from loaded components, then
//! swapped whole, so a client never sees a half-built list.
//!
//! Everything a call needs that can be worked out ahead — the tool's name,
//! its schemas, the export index, the parameter signature — is worked out
//! here, at load time.
//!
//! **Size caps.** A tool's schemas, its description, a page of the
//! listing and the whole listing are bounded
//! ([`weld_schema::MAX_SCHEMA_BYTES`] and [`weld_schema::MAX_SCHEMA_DEPTH`]
//! for each schema, [`MAX_DESCRIPTION_BYTES`], [`MAX_PAGE_BYTES`],
//! [`MAX_CATALOG_BYTES`]), because component types share sub-types and
//! their schemas write every use out: a 32 KB component can stand for
//! gigabytes of JSON. The schemas were already bounded when the
//! component's types were read (reading stops at the cap); here each tool
//! is built once, measured exactly, and a component with any tool over a
//! cap is left out whole, with the reason, rather than served in part.
//! `weld add` refuses such a component with the same reason; `weld serve`
//! leaves it out and logs why, and serves the rest.
//!
//! **Held as text.** A tool's definition is held as compact JSON text
//! ([`SchemaText`]): what the listing sends and measures, and about a
//! eighteenth of the memory of the same schemas as JSON values. An
//! installed component's texts are derived once and kept beside its
//! description ([`prepared`]), so a start reads them; `tools/list` parses
//! only the page it sends.

use std::collections::HashMap;
use std::sync::Arc;

use weld_runtime::{CallLimits, Sandbox};

use crate::lazy::{Code, LoadKey};
use weld_schema::Signature;

use crate::enforce::Enforcement;
use crate::mcp::model::Listing;
use crate::mcp::{McpNaming, McpOffers, McpToolExtra};

/// Longest tool name MCP allows.
pub const MAX_TOOL_NAME: usize = 128;

/// The longest description a component may give one tool, in bytes.
///
/// A description is what a model reads to choose a tool: real ones are a
/// sentence to a few paragraphs (under 2 KiB in every example). 64 KiB
/// leaves room for a full manual page while keeping a component from
/// making every `tools/list` carry megabytes of text.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;

/// The most bytes of JSON all tools held as JSON values may take together
/// in a listing: what proxied MCP server components list (weld-mcp keeps
/// those as rmcp's values, which take up to 18 times their text, measured
/// on schemas made of many small nodes: 4 MiB is at most about 80 MB
/// resident), and the most one MCP-world component may answer when it is
/// listed. Tools weld holds as text are bounded by [`MAX_CATALOG_BYTES`].
pub const MAX_LISTING_BYTES: u64 = 4 * 1024 * 1024;

/// The most bytes of JSON the tools a catalog serves (plain functions and
/// MCP-world components' tools; built-in tools aside) may take together
/// in `tools/list`.
///
/// The catalog holds each tool's definition as its JSON text, not as JSON
/// values (up to 18 times the text), once: the listing and the tool's
/// call entry share it (the name is also the entry's key). So what this
/// cap bounds stays resident about once over — 64 MiB of listing is about
/// 64 MiB resident, where the old 4 MiB of values was up to 80 MB.
/// Measured (`scripts/scale-bench.py`, 1,000 components of six
/// tools, 4.8 MB of listing): 47 MB idle RSS, against 76 MB for 881 of
/// them with the schemas held as values; the per-tool bookkeeping beyond
/// the text (call entry, signature) grows with the number of tools, not
/// their size. The `text` example (six tools) takes about 5 KB, so 64 MiB
/// serves some 13,000 such components, and still holds 128 tools at the
/// per-schema cap. A client is sent the listing in pages
/// ([`MAX_PAGE_BYTES`]), so no message carries more than a page.
/// Components are added in order (installed ones by name, then
/// `--component` files); one that would take the listing over the cap is
/// left out with the reason.
pub const MAX_CATALOG_BYTES: u64 = 64 * 1024 * 1024;

/// The most bytes of tool definitions one `tools/list` answer carries: a
/// page ends before the tool that would take it over (and carries a
/// `nextCursor`). One tool alone is always within it: its schemas and
/// description are capped far below it. Bounds what a client must take in
/// one message and what weld builds for one answer (the page's schemas as
/// JSON values, up to 18 times the page).
pub const MAX_PAGE_BYTES: u64 = 4 * 1024 * 1024;

const _: () = assert!(
    2 * weld_schema::MAX_SCHEMA_BYTES + MAX_DESCRIPTION_BYTES as u64 + 1024 < MAX_PAGE_BYTES,
    "one tool of plain functions fits in a page"
);

/// The longest signature a generated description writes out. Beyond it the
/// signature is cut (`…`): the schemas still carry the full types, and a
/// model gains nothing from pages of WIT.
const GENERATED_SIGNATURE_BYTES: usize = 4 * 1024;

/// The tool name for a function: `component_function` at world level,
/// `component_interface_function` inside an exported interface (the
/// interface's short name, without package or version).
///
/// Component, interface and function names are kebab-case and never contain
/// `_`, so the name is unambiguous and can be read back; it stays the same
/// across restarts and versions of the component as long as those names do.
pub fn tool_name(component: &str, interface_short: Option<&str>, function: &str) -> String {
    match interface_short {
        Some(interface) => format!("{component}_{interface}_{function}"),
        None => format!("{component}_{function}"),
    }
}

/// A tool as the catalog knows it: what any protocol needs to offer it.
/// Serialises as MCP's tool definition does (for reports); the listing
/// measures it without serialising ([`ToolSpec::listing_bytes`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// `component_function` or `component_interface_function`
    /// ([`tool_name`]).
    pub name: String,
    /// From the component's docs, or generated from the signature.
    pub description: String,
    /// The JSON Schema of the arguments object.
    pub input_schema: SchemaText,
    /// The JSON Schema of the structured result, when the function returns
    /// a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<SchemaText>,
    /// What an MCP-world component says of its tool beyond the above
    /// (title, annotations, icons, `_meta`); `None` for a plain function.
    /// Measured into the listing cap when the tool is built.
    #[serde(skip)]
    pub mcp: Option<Arc<McpToolExtra>>,
    #[serde(skip)]
    listing_bytes: u64,
}

impl ToolSpec {
    /// A tool definition, measured: `extra_bytes` is what its `mcp` part
    /// adds to the listing.
    pub fn new(
        name: String,
        description: String,
        input_schema: SchemaText,
        output_schema: Option<SchemaText>,
        mcp: Option<Arc<McpToolExtra>>,
        extra_bytes: u64,
    ) -> Self {
        // {"name":N,"description":D,"inputSchema":I[,"outputSchema":O]}:
        // the schemas are compact JSON text already; the strings are
        // measured as JSON writes them (escapes included).
        let shell = r#"{"name":,"description":,"inputSchema":}"#.len() as u64;
        let output = output_schema.as_ref().map_or(0, |o| {
            r#","outputSchema":"#.len() as u64 + o.as_str().len() as u64
        });
        let listing_bytes = shell
            + json_len(name.as_str())
            + json_len(description.as_str())
            + input_schema.as_str().len() as u64
            + output
            + extra_bytes;
        Self {
            name,
            description,
            input_schema,
            output_schema,
            mcp,
            listing_bytes,
        }
    }

    /// Bytes of JSON it takes in `tools/list`.
    pub fn listing_bytes(&self) -> u64 {
        self.listing_bytes
    }
}

/// A component ready to contribute tools.
pub struct ComponentEntry {
    /// The name its tools are prefixed with ([`tool_name`]).
    pub name: String,
    /// Its content digest (`sha256:…`), carried into every audit record of
    /// its tools.
    pub digest: String,
    /// Where its `package-docs` section (its functions' descriptions) is
    /// read from, when a definition must be derived; a function without a
    /// description gets one generated from its signature.
    pub docs: EntryDocs,
    /// The compiled component, on the engine its policy's metering needs:
    /// loaded, or loaded by its first call (see [`crate::lazy`]).
    pub code: Arc<Code>,
    /// What its policy grants (or the deny-all default).
    pub policy: Enforcement,
    /// The file it was given as (`--component`), or `None` for an installed
    /// component.
    pub file: Option<std::path::PathBuf>,
    /// What an MCP-world component listed when it was loaded, or why its
    /// listing failed; `None` for a component of plain functions (or one
    /// not listed, whose MCP offers are then not served).
    pub mcp_listing: Option<Result<Listing, crate::mcp::ListingFailure>>,
}

/// A file given with `--component` whose tools are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFile {
    /// The component's name (its tools' prefix).
    pub component: String,
    /// Its digest (`sha256:…`).
    pub digest: String,
    /// The file.
    pub file: std::path::PathBuf,
}

/// One servable tool.
pub struct ToolEntry {
    /// What the tool is offered as: name, description, schemas (shared
    /// with the listing).
    pub tool: Arc<ToolSpec>,
    /// The name of the component it runs in.
    pub component: String,
    /// The component's digest, for the audit record.
    pub(crate) digest: String,
    /// Its parameters and result: turns the JSON arguments into values and
    /// the result back, without reading the component's types per call.
    pub(crate) signature: Signature,
    /// The limits of each call, from the component's [`Enforcement`].
    pub(crate) limits: CallLimits,
    pub(crate) sandbox: Sandbox,
    /// Largest result, in bytes of its JSON text.
    pub(crate) output: Option<u64>,
    /// How many calls of the component's tools may run at once; shared by
    /// all its tools.
    pub(crate) slots: Arc<Slots>,
    /// The component's code, loaded by the first call that needs it.
    pub(crate) code: Arc<Code>,
    /// The position of its function among the component's exported
    /// functions (the same in its description and once loaded).
    pub(crate) function: usize,
}

/// Why a function is not offered as a tool.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The component the function belongs to.
    pub component: String,
    /// The tool name the function would have had; empty when the whole
    /// component was left out for a reason that is about no one tool.
    pub function: String,
    /// Why, and what to do about it, for the operator.
    pub reason: String,
    /// Whether the function is one its toolchain added for its own use
    /// (expected, never the author's: not worth a warning).
    pub toolchain: bool,
}

/// A component none of whose tools is served, and why: it could not be
/// loaded (installed, or a file given with `--component`), or its stored
/// policy cannot be honoured (a granted directory moved, a policy that no
/// longer parses). The other components are served all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    /// The installed component's name.
    pub component: String,
    /// Its digest, as installed.
    pub(crate) digest: String,
    /// Why it is not served, for the operator.
    pub reason: String,
    /// The file it was given as (`--component`), or `None` for an installed
    /// component.
    pub file: Option<std::path::PathBuf>,
}

impl Disabled {
    /// Its digest (`sha256:…`); empty when its file could not be read.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// An immutable set of tools.
#[derive(Default)]
pub struct Catalog {
    by_name: HashMap<String, Arc<ToolEntry>>,
    /// In name order, for `tools/list`.
    listed: Vec<Arc<ToolSpec>>,
    skipped: Vec<Skipped>,
    /// How many components the caps left out whole (each with its reason
    /// in `skipped`).
    left_out: usize,
    disabled: Vec<Disabled>,
    files: Vec<ServedFile>,
    /// (component, what its policy grants but cannot be passed).
    unset_env: Vec<(String, crate::enforce::UnsetEnv)>,
    /// What MCP-world components offer.
    pub(crate) mcp: McpOffers,
    /// MCP server components (commands), whose tools a front end lists
    /// from their running instances (see [`crate::proxied`]).
    proxied: Vec<Arc<crate::proxied::ProxiedComponent>>,
}

impl Catalog {
    /// Each served component's calls running and waiting now, by name.
    pub fn component_calls(&self) -> Vec<(String, u32, u32)> {
        let mcp = self
            .mcp
            .components
            .iter()
            .map(|c| (c.name.clone(), c.slots()));
        let plain = self
            .by_name
            .values()
            .map(|e| (e.component.clone(), Arc::clone(&e.slots)));
        let mut seen: HashMap<String, Arc<Slots>> = HashMap::new();
        for (name, slots) in plain.chain(mcp) {
            seen.entry(name).or_insert(slots);
        }
        let mut calls: Vec<(String, u32, u32)> = seen
            .into_iter()
            .map(|(name, slots)| (name, slots.running(), slots.waiting()))
            .collect();
        calls.sort();
        calls
    }

    /// Takes over `previous`'s concurrency slots for every component whose
    /// limit is unchanged, so calls running (or waiting) across a reload
    /// still count against the one limit: a reload happens whenever any
    /// policy, secret or component changes, and a fresh count each time
    /// would let a component run more calls at once than its policy allows.
    pub(crate) fn adopt_slots(&mut self, previous: &Catalog) {
        let previous_mcp: Vec<(&str, Arc<Slots>)> = previous
            .mcp
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.slots()))
            .collect();
        let old: HashMap<&str, &Arc<Slots>> = previous
            .by_name
            .values()
            .map(|e| (e.component.as_str(), &e.slots))
            .chain(previous_mcp.iter().map(|(name, slots)| (*name, slots)))
            .collect();
        let same = |old: &Slots, new: &Slots| {
            old.max == new.max && old.excess == new.excess && old.bound == new.bound
        };
        for component in &self.mcp.components {
            let mut slots = component.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(old) = old.get(component.name.as_str())
                && same(old, &slots)
            {
                *slots = Arc::clone(old);
            }
        }
        crate::proxied::adopt(&mut self.proxied, &previous.proxied);
        for entry in self.by_name.values_mut() {
            // Just built, so not shared yet.
            let Some(entry) = Arc::get_mut(entry) else {
                continue;
            };
            let new = &entry.slots;
            if let Some(old) = old.get(entry.component.as_str())
                && same(old, new)
            {
                entry.slots = Arc::clone(old);
            }
        }
    }

    /// Builds the tools of `components`, MCP-world components' tools and
    /// prompts named as given. See [`Catalog::build_with`].
    pub fn build(components: Vec<ComponentEntry>) -> Self {
        Self::build_with(components, McpNaming::AsGiven)
    }

    /// Builds the tools of `components`, and what MCP-world components
    /// listed (see [`crate::mcp`]), their tools and prompts named as
    /// `naming` says. Functions that cannot be tools, and names, URIs and
    /// templates already served, are listed in [`Catalog::skipped`] with
    /// the reason; so is a component left out whole because a tool of it,
    /// or the listing, would exceed a size cap (and it is logged). An
    /// MCP-world component whose listing failed is [disabled](Catalog::disabled).
    pub fn build_with(components: Vec<ComponentEntry>, naming: McpNaming) -> Self {
        let mut by_name = HashMap::new();
        let mut mcp = McpOffers::default();
        let mut disabled = Vec::new();
        let mut skipped = Vec::new();
        let mut files = Vec::new();
        let mut unset_env = Vec::new();
        let mut listing_bytes = 0u64;
        let mut mcp_specs = Vec::new();
        let mut proxied = Vec::new();
        let mut keep = prepared::Keep::default();
        let mut left_out = 0;
        for mut component in components {
            match crate::proxied::ProxiedComponent::of(&component) {
                Ok(Some(server)) => {
                    if let Some(file) = &component.file {
                        files.push(ServedFile {
                            component: component.name.clone(),
                            digest: component.digest.clone(),
                            file: file.clone(),
                        });
                    }
                    let unset = component.policy.unset_env.iter();
                    unset_env.extend(unset.map(|u| (component.name.clone(), u.clone())));
                    proxied.push(Arc::new(server));
                    continue;
                }
                Ok(None) => {}
                Err(refused) => {
                    tracing::error!(component = %component.name, reason = %refused.reason, "component disabled");
                    disabled.push(Disabled {
                        component: component.name.clone(),
                        digest: component.digest.clone(),
                        reason: refused.reason,
                        file: component.file.clone(),
                    });
                    continue;
                }
            }
            let listing = match component.mcp_listing.take() {
                Some(Err(failure)) => {
                    disabled.push(crate::mcp::unlisted(&component, &failure.reason));
                    if !failure.transient {
                        mcp.failed
                            .push(crate::mcp::FailedListing::of(&component, &failure));
                    }
                    continue;
                }
                listed => listed.and_then(Result::ok),
            };
            let functions = &component.code.description().functions;
            let kept = component
                .code
                .prepared()
                .and_then(|p| prepared::decode(&p, functions.len()));
            let built = match kept_component_tools(
                &component.name,
                &component.docs,
                functions
                    .iter()
                    .map(|f| (f.interface.as_deref(), f.name.as_str(), &f.signature)),
                kept.as_deref(),
            ) {
                Ok(built) => built,
                Err(refused) => {
                    refused.log();
                    skipped.push(refused);
                    left_out += 1;
                    continue;
                }
            };
            skipped.extend(built.skipped);
            if built.derived {
                keep.add(&component.code, &built.texts);
            }
            skipped.extend(toolchain_skipped(
                &component.name,
                &component.code.description().toolchain_exports,
            ));
            let (tools, duplicates): (Vec<_>, Vec<_>) = built.tools.into_iter().partition(|t| {
                let name = t.tool.name.as_str();
                !by_name.contains_key(name) && !mcp.tools.contains_key(name)
            });
            for duplicate in duplicates {
                skipped.push(Skipped {
                    component: component.name.clone(),
                    function: duplicate.tool.name.to_string(),
                    reason: "another export already has this tool name".into(),
                    toolchain: false,
                });
            }
            let bytes: u64 = tools.iter().map(|t| t.tool.listing_bytes()).sum();
            if listing_bytes.saturating_add(bytes) > MAX_CATALOG_BYTES {
                let refused = Skipped {
                    component: component.name.clone(),
                    function: String::new(),
                    reason: format!(
                        "its tools would take {bytes} bytes of the tool listing, which already \
                         holds {listing_bytes}: over the cap of {MAX_CATALOG_BYTES} bytes for all \
                         components together; the component is left out"
                    ),
                    toolchain: false,
                };
                refused.log();
                skipped.push(refused);
                left_out += 1;
                continue;
            }
            let share = match component.code.share(component.policy.limits.memory) {
                Ok(share) => share,
                Err(error) => {
                    let reason = format!(
                        "component `{}` could not be loaded: {error}",
                        component.name
                    );
                    tracing::error!(component = %component.name, %reason, "component disabled");
                    disabled.push(Disabled {
                        component: component.name.clone(),
                        digest: component.digest.clone(),
                        reason,
                        file: component.file.clone(),
                    });
                    continue;
                }
            };
            if share.calls == 0 {
                tracing::warn!(
                    component = %component.name,
                    memory_limit = component.policy.limits.memory,
                    "the component's memory limit is more than weld's whole memory budget: \
                     its calls will be refused (raise --memory-budget-mib, or lower its limit)"
                );
            }
            let slots = Arc::new(Slots::new(component.policy.concurrency, share));
            let mut mcp_bytes = 0;
            if let Some(listing) = listing {
                let own: std::collections::HashSet<&str> =
                    tools.iter().map(|t| t.tool.name.as_str()).collect();
                let plain = |name: &str| by_name.contains_key(name) || own.contains(name);
                let room = MAX_CATALOG_BYTES.saturating_sub(listing_bytes + bytes);
                match mcp.add(
                    &component,
                    listing,
                    Arc::clone(&slots),
                    naming,
                    &plain,
                    &mut skipped,
                    room,
                ) {
                    Ok(added) => {
                        mcp_bytes = added.bytes;
                        mcp_specs.extend(added.tools);
                    }
                    Err(reason) => {
                        // Its plain tools go with it: a component is served
                        // whole or not at all.
                        disabled.push(crate::mcp::refused(&component, &reason));
                        continue;
                    }
                }
            }
            listing_bytes += bytes + mcp_bytes;
            unset_env.extend(
                component
                    .policy
                    .unset_env
                    .iter()
                    .map(|unset| (component.name.clone(), unset.clone())),
            );
            if let Some(file) = &component.file {
                files.push(ServedFile {
                    component: component.name.clone(),
                    digest: component.digest.clone(),
                    file: file.clone(),
                });
            }
            for BuiltTool {
                function,
                tool,
                signature,
                ..
            } in tools
            {
                by_name.insert(
                    tool.name.to_string(),
                    Arc::new(ToolEntry {
                        tool: Arc::new(tool),
                        component: component.name.clone(),
                        digest: component.digest.clone(),
                        signature,
                        limits: component.policy.limits,
                        sandbox: component.policy.sandbox.clone(),
                        output: component.policy.output,
                        slots: Arc::clone(&slots),
                        code: Arc::clone(&component.code),
                        function,
                    }),
                );
            }
        }
        let mut listed: Vec<Arc<ToolSpec>> = by_name
            .values()
            .map(|e| Arc::clone(&e.tool))
            .chain(mcp_specs.into_iter().map(Arc::new))
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        keep.in_background();
        Self {
            by_name,
            listed,
            skipped,
            left_out,
            disabled,
            files,
            unset_env,
            mcp,
            proxied,
        }
    }

    /// The code of its installed components that are loaded by their
    /// first call, for the next catalog to keep what calls have loaded.
    pub(crate) fn lazy_code(&self) -> HashMap<LoadKey, Arc<Code>> {
        self.by_name
            .values()
            .filter_map(|e| Some((e.code.key()?, Arc::clone(&e.code))))
            .collect()
    }

    /// The MCP server components to proxy, in load order.
    pub fn proxied(&self) -> &[Arc<crate::proxied::ProxiedComponent>] {
        &self.proxied
    }

    /// Variables served components' policies grant that have no value to
    /// pass, by component.
    pub fn unset_env(&self) -> &[(String, crate::enforce::UnsetEnv)] {
        &self.unset_env
    }

    /// The files given with `--component` whose tools are served (those
    /// that are not are in [`Catalog::disabled`]).
    pub fn served_files(&self) -> &[ServedFile] {
        &self.files
    }

    /// This catalog, recording `disabled` components as not served (beside
    /// those it disabled itself).
    #[must_use]
    pub fn with_disabled(mut self, disabled: Vec<Disabled>) -> Self {
        self.disabled.extend(disabled);
        self
    }

    /// Components that are not served, with the reason: installed ones
    /// (`file` is `None`) and files given with `--component`.
    pub fn disabled(&self) -> &[Disabled] {
        &self.disabled
    }

    /// The tool a call names, with everything its call needs; `None` for a
    /// name this catalog does not serve.
    pub fn get(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        self.by_name.get(name)
    }

    /// All tools, in name order: plain functions and MCP-world
    /// components' tools.
    pub fn tools(&self) -> &[Arc<ToolSpec>] {
        &self.listed
    }

    /// The tool named `name`, of either kind, as listed.
    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        let at = self
            .listed
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()?;
        self.listed.get(at).map(|t| &**t)
    }

    /// The component serving the tool named `name`, of either kind.
    pub fn tool_component(&self, name: &str) -> Option<&str> {
        match self.by_name.get(name) {
            Some(entry) => Some(&entry.component),
            None => self.mcp.tools.get(name).map(|t| t.component.name.as_str()),
        }
    }

    /// Functions not offered as tools, and components left out whole, with
    /// the reason ([`Catalog::build`]).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// How many components were left out whole for the size caps (their
    /// reasons are among [`Catalog::skipped`]): none of their tools is
    /// served, as for [`Catalog::disabled`]'s.
    pub fn left_out(&self) -> usize {
        self.left_out
    }
}

mod component;
mod live;
pub(crate) mod prepared;
mod slots;
mod spec;
pub(crate) use component::kept_component_tools;
pub use component::{
    BuiltTool, ComponentTools, EntryDocs, component_tools, inspected_tools, keep_tool_texts,
    toolchain_skipped,
};
pub use live::LiveCatalog;
pub use prepared::finish_keeping;
pub(crate) use slots::{Bound, Slots};
pub use spec::{FunctionTexts, SchemaText, assemble, derive, describe, json_len};

#[cfg(test)]
mod tests {
    use super::{Bound, MAX_DESCRIPTION_BYTES, Slots, component_tools, tool_name};
    use weld_policy::{Concurrency, Excess};
    use weld_runtime::{Capacity, Share};
    use weld_schema::Signature;
    use weld_schema::{Node, Opaque, TypeError, TypeSource};
    use weld_store::{ComponentDocs, FunctionDocs};

    /// A record of `width` fields of a record of `width` fields … `depth`
    /// deep: one node per level, `width^depth` when written out.
    #[derive(Clone, Copy)]
    struct Fan {
        depth: u32,
        width: usize,
        name_len: usize,
    }

    impl TypeSource for Fan {
        fn node(&self) -> Node<Self> {
            if self.depth == 0 {
                return Node::U8;
            }
            let below = Fan {
                depth: self.depth - 1,
                ..*self
            };
            Node::Record(
                (0..self.width)
                    .map(|i| (format!("f{i}-{}", "x".repeat(self.name_len)), below))
                    .collect(),
            )
        }
    }

    /// An opaque type: a resource handle.
    struct Handle;

    impl TypeSource for Handle {
        fn node(&self) -> Node<Self> {
            Node::Opaque(Opaque::Own)
        }
    }

    fn signature(param: Fan) -> Result<Signature, TypeError> {
        Signature::from_source([("x", param)], std::iter::empty::<Fan>())
    }

    #[test]
    fn a_function_whose_types_expand_past_the_cap_refuses_the_whole_component() {
        let huge = signature(Fan {
            depth: 12,
            width: 4,
            name_len: 100,
        });
        let small = signature(Fan {
            depth: 1,
            width: 2,
            name_len: 1,
        });
        let unsupported = Signature::from_source([("h", Handle)], std::iter::empty::<Handle>());
        assert!(matches!(unsupported, Err(TypeError::Unsupported(_))));
        let functions = [
            (None, "small", &small),
            (None, "odd", &unsupported),
            (None, "huge", &huge),
        ];
        let Err(refused) = component_tools("c", &ComponentDocs::default(), functions) else {
            panic!("the component must be refused");
        };
        assert_eq!(refused.function, "c_huge");
        assert!(
            refused.reason.contains("the input schema is more than")
                && refused.reason.contains("the cap is 262144 bytes")
                && refused.reason.ends_with("the component is refused whole"),
            "{}",
            refused.reason
        );

        // Without it, the unsupported function is merely not a tool.
        let built = component_tools(
            "c",
            &ComponentDocs::default(),
            functions.into_iter().take(2),
        )
        .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        assert_eq!(built.tools.len(), 1);
        assert_eq!(built.skipped.len(), 1);
        assert_eq!(built.skipped[0].function, "c_odd");
    }

    #[test]
    fn a_description_over_the_cap_refuses_the_component_naming_its_size() {
        let sig = signature(Fan {
            depth: 1,
            width: 1,
            name_len: 1,
        });
        let mut docs = ComponentDocs::default();
        docs.0.insert(
            "f".into(),
            FunctionDocs {
                description: Some("d".repeat(MAX_DESCRIPTION_BYTES + 1)),
                params: Default::default(),
            },
        );
        let Err(refused) = component_tools("c", &docs, [(None, "f", &sig)]) else {
            panic!("the component must be refused");
        };
        assert_eq!(refused.function, "c_f");
        assert_eq!(
            refused.reason,
            "its description is 65537 bytes (the cap is 65536 bytes); the component is refused whole"
        );
        docs.0.get_mut("f").expect("docs").description = Some("d".repeat(MAX_DESCRIPTION_BYTES));
        assert!(component_tools("c", &docs, [(None, "f", &sig)]).is_ok());
    }

    #[test]
    fn a_generated_description_cuts_a_long_signature() {
        // Within the schema cap, but its WIT runs to ~40 KB.
        let sig = signature(Fan {
            depth: 3,
            width: 4,
            name_len: 400,
        });
        let built = component_tools("c", &ComponentDocs::default(), [(None, "f", &sig)])
            .unwrap_or_else(|e| panic!("refused: {}", e.reason));
        let description = &built.tools[0].tool.description;
        assert!(
            description.starts_with("Calls `f: func(x: record { f0-"),
            "{description}"
        );
        assert!(
            description.contains("…` from component `c`"),
            "{description}"
        );
        assert!(description.len() < 4 * 1024 + 200, "{}", description.len());
    }

    const SHARE: Share = Share {
        calls: 3,
        bound_by: Capacity::MemoryBudget,
    };

    #[test]
    fn a_component_without_a_concurrency_limit_gets_its_share_and_waits() {
        let slots = Slots::new(None, SHARE);
        assert_eq!((slots.max, slots.excess), (3, Excess::Wait));
        assert_eq!(slots.bound, Bound::Share(Capacity::MemoryBudget));
        assert_eq!(slots.free.available_permits(), 3);
    }

    #[test]
    fn a_policy_limit_within_the_share_is_kept_and_one_above_it_is_lowered() {
        let within = Slots::new(
            Some(Concurrency {
                max: 2,
                excess: Excess::Refuse,
            }),
            SHARE,
        );
        assert_eq!((within.max, within.bound), (2, Bound::Policy));
        let above = Slots::new(
            Some(Concurrency {
                max: 10,
                excess: Excess::Refuse,
            }),
            SHARE,
        );
        assert_eq!(
            (above.max, above.excess, above.bound),
            (3, Excess::Refuse, Bound::Share(Capacity::MemoryBudget))
        );
    }

    #[test]
    fn a_component_beyond_the_whole_budget_still_gets_a_slot_so_its_calls_hear_why() {
        let slots = Slots::new(
            None,
            Share {
                calls: 0,
                bound_by: Capacity::MemoryBudget,
            },
        );
        assert_eq!(slots.max, 1);
    }

    #[tokio::test]
    async fn replacing_the_catalog_wakes_subscribers() {
        let live = super::LiveCatalog::default();
        let mut changes = live.changes();
        live.replace(super::Catalog::default());
        tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed())
            .await
            .expect("woken")
            .expect("catalog alive");
    }

    #[test]
    fn tool_names_join_component_interface_and_function_with_underscores() {
        assert_eq!(tool_name("text", None, "slugify"), "text_slugify");
        assert_eq!(
            tool_name("shapes", Some("geometry"), "bounding-box"),
            "shapes_geometry_bounding-box"
        );
    }
}
