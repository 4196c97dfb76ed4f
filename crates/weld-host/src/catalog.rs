//! The set of tools being served: built once from loaded components, then
//! swapped whole, so a client never sees a half-built list.
//!
//! Everything a call needs that can be worked out ahead — the tool's name,
//! its schemas, the export index, the parameter signature — is worked out
//! here, at load time.
//!
//! **Size caps.** A tool's schemas, its description and the whole listing
//! are bounded ([`weld_schema::MAX_SCHEMA_BYTES`] and
//! [`weld_schema::MAX_SCHEMA_DEPTH`] for each schema,
//! [`MAX_DESCRIPTION_BYTES`], [`MAX_LISTING_BYTES`]), because component
//! types share sub-types and their schemas write every use out: a 32 KB
//! component can stand for gigabytes of JSON. The schemas were already
//! bounded when the component's types were read (reading stops at the cap);
//! here each tool is built once, measured exactly, and a component with any
//! tool over a cap is left out whole, with the reason, rather than served in
//! part. `weld add` refuses such a component with the same reason; `weld
//! serve` leaves it out and logs why, and serves the rest. The listing is
//! built once per catalog, and `tools/list` hands out the schemas by `Arc`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use weld_policy::{Concurrency, Excess};
use weld_runtime::{CallLimits, Capacity, ExportedFunction, LoadedComponent, Sandbox, Share};
use weld_schema::{SchemaPart, SchemaSize, Signature, TypeError};

use crate::enforce::Enforcement;
use weld_store::ComponentDocs;

/// Longest tool name MCP allows.
pub const MAX_TOOL_NAME: usize = 128;

/// The longest description a component may give one tool, in bytes.
///
/// A description is what a model reads to choose a tool: real ones are a
/// sentence to a few paragraphs (under 2 KiB in every example). 64 KiB
/// leaves room for a full manual page while keeping a component from
/// making every `tools/list` carry megabytes of text.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;

/// The most bytes of JSON all served components' tools may take together
/// in `tools/list` (built-in tools aside).
///
/// Every listing request serialises the whole list, every client holds it
/// (and usually hands it to a model), and weld keeps it in memory as JSON
/// values, which take up to 18 times their text (measured on schemas made
/// of many small nodes): 4 MiB of listing is at most about 80 MB resident.
/// A hundred real tools take a few hundred kilobytes, so 4 MiB leaves
/// tenfold headroom and still fits seven tools at the per-schema cap.
/// Components are added in order (installed ones by name, then
/// `--component` files); one that would take the listing over the cap is
/// left out with the reason.
pub const MAX_LISTING_BYTES: u64 = 4 * 1024 * 1024;

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
/// Serialises as MCP's tool definition does, so the listing cap measures
/// what clients receive.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// `component_function` or `component_interface_function`
    /// ([`tool_name`]).
    pub name: String,
    /// From the component's docs, or generated from the signature.
    pub description: String,
    /// The JSON Schema of the arguments object.
    pub input_schema: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The JSON Schema of the structured result, when the function returns
    /// a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
}

/// A component ready to contribute tools.
pub struct ComponentEntry {
    /// The name its tools are prefixed with ([`tool_name`]).
    pub name: String,
    /// Its content digest (`sha256:…`), carried into every audit record of
    /// its tools.
    pub digest: String,
    /// The descriptions from its `package-docs` section; a function without
    /// one gets a description generated from its signature.
    pub docs: ComponentDocs,
    /// The compiled component, on the engine its policy's metering needs.
    pub loaded: Arc<LoadedComponent>,
    /// What its policy grants (or the deny-all default).
    pub policy: Enforcement,
    /// The file it was given as (`--component`), or `None` for an installed
    /// component.
    pub file: Option<std::path::PathBuf>,
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
    /// What the tool is offered as: name, description, schemas.
    pub tool: ToolSpec,
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
    pub(crate) loaded: Arc<LoadedComponent>,
    pub(crate) function: ExportedFunction,
}

/// A component's concurrency cap, shared by its tools: its policy's
/// `concurrency`, or its share of weld's capacity ([`Share`]: half of the
/// instance slots and half of the memory budget) when that is smaller or
/// the policy sets none. So no component can keep the others from starting,
/// and one without a policy has a limit too.
pub(crate) struct Slots {
    pub(crate) free: tokio::sync::Semaphore,
    /// The cap, for the message a refused call gets.
    pub(crate) max: u32,
    pub(crate) excess: Excess,
    /// Where `max` comes from, for that message.
    pub(crate) bound: Bound,
}

/// What sets a component's concurrency cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Its policy's `concurrency`.
    Policy,
    /// Its share of this resource.
    Share(Capacity),
}

impl Slots {
    fn new(policy: Option<Concurrency>, share: Share) -> Self {
        // A component whose memory limit exceeds the whole budget still
        // gets a slot: the runtime refuses each call with the reason.
        let fair = share.calls.max(1);
        let (max, bound) = match policy {
            Some(c) if c.max <= fair => (c.max, Bound::Policy),
            _ => (fair, Bound::Share(share.bound_by)),
        };
        Self {
            free: tokio::sync::Semaphore::new(max as usize),
            max,
            excess: policy.map_or(Excess::Wait, |c| c.excess),
            bound,
        }
    }
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
    listed: Vec<ToolSpec>,
    skipped: Vec<Skipped>,
    disabled: Vec<Disabled>,
    files: Vec<ServedFile>,
    /// (component, what its policy grants but cannot be passed).
    unset_env: Vec<(String, crate::enforce::UnsetEnv)>,
    /// MCP server components (commands), whose tools a front end lists
    /// from their running instances (see [`crate::proxied`]).
    proxied: Vec<Arc<crate::proxied::ProxiedComponent>>,
}

impl Catalog {
    /// Takes over `previous`'s concurrency slots for every component whose
    /// limit is unchanged, so calls running (or waiting) across a reload
    /// still count against the one limit: a reload happens whenever any
    /// policy, secret or component changes, and a fresh count each time
    /// would let a component run more calls at once than its policy allows.
    fn adopt_slots(&mut self, previous: &Catalog) {
        let old: HashMap<&str, &Arc<Slots>> = previous
            .by_name
            .values()
            .map(|e| (e.component.as_str(), &e.slots))
            .collect();
        for entry in self.by_name.values_mut() {
            // Just built, so not shared yet.
            let Some(entry) = Arc::get_mut(entry) else {
                continue;
            };
            let new = &entry.slots;
            if let Some(old) = old.get(entry.component.as_str())
                && old.max == new.max
                && old.excess == new.excess
                && old.bound == new.bound
            {
                entry.slots = Arc::clone(old);
            }
        }
    }

    /// Builds the tools of `components`. Functions that cannot be tools are
    /// listed in [`Catalog::skipped`] with the reason; so is a component
    /// left out whole because a tool of it, or the listing, would exceed a
    /// size cap (and it is logged).
    pub fn build(components: Vec<ComponentEntry>) -> Self {
        let mut by_name = HashMap::new();
        let mut skipped = Vec::new();
        let mut files = Vec::new();
        let mut unset_env = Vec::new();
        let mut listing_bytes = 0u64;
        let mut proxied = Vec::new();
        for component in components {
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
                    refused.log();
                    skipped.push(refused);
                    continue;
                }
            }
            let functions = component.loaded.functions();
            let built = match component_tools(
                &component.name,
                &component.docs,
                functions
                    .iter()
                    .map(|f| (f.interface.as_deref(), f.name.as_str(), &f.signature)),
            ) {
                Ok(built) => built,
                Err(refused) => {
                    refused.log();
                    skipped.push(refused);
                    continue;
                }
            };
            skipped.extend(built.skipped);
            skipped.extend(toolchain_skipped(
                &component.name,
                component.loaded.toolchain_exports(),
            ));
            let (tools, duplicates): (Vec<_>, Vec<_>) = built
                .tools
                .into_iter()
                .partition(|t| !by_name.contains_key(t.tool.name.as_str()));
            for duplicate in duplicates {
                skipped.push(Skipped {
                    component: component.name.clone(),
                    function: duplicate.tool.name.to_string(),
                    reason: "another export already has this tool name".into(),
                    toolchain: false,
                });
            }
            let bytes: u64 = tools.iter().map(|t| t.listing_bytes).sum();
            if listing_bytes.saturating_add(bytes) > MAX_LISTING_BYTES {
                let refused = Skipped {
                    component: component.name.clone(),
                    function: String::new(),
                    reason: format!(
                        "its tools would take {bytes} bytes of the tool listing, which already \
                         holds {listing_bytes}: over the cap of {MAX_LISTING_BYTES} bytes for all \
                         components together; the component is left out"
                    ),
                    toolchain: false,
                };
                refused.log();
                skipped.push(refused);
                continue;
            }
            listing_bytes += bytes;
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
            let share = component.loaded.share(component.policy.limits.memory);
            if share.calls == 0 {
                tracing::warn!(
                    component = %component.name,
                    memory_limit = component.policy.limits.memory,
                    "the component's memory limit is more than weld's whole memory budget: \
                     its calls will be refused (raise --memory-budget-mib, or lower its limit)"
                );
            }
            let slots = Arc::new(Slots::new(component.policy.concurrency, share));
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
                        tool,
                        component: component.name.clone(),
                        digest: component.digest.clone(),
                        signature,
                        limits: component.policy.limits,
                        sandbox: component.policy.sandbox.clone(),
                        output: component.policy.output,
                        slots: Arc::clone(&slots),
                        loaded: Arc::clone(&component.loaded),
                        function: functions[function].clone(),
                    }),
                );
            }
        }
        let mut listed: Vec<ToolSpec> = by_name.values().map(|e| e.tool.clone()).collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            by_name,
            listed,
            skipped,
            disabled: Vec::new(),
            files,
            unset_env,
            proxied,
        }
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

    /// This catalog, recording `disabled` components as not served.
    #[must_use]
    pub fn with_disabled(mut self, disabled: Vec<Disabled>) -> Self {
        self.disabled = disabled;
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

    /// All tools, in name order.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.listed
    }

    /// Functions not offered as tools, and components left out whole, with
    /// the reason ([`Catalog::build`]).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
}

/// One tool of a component, built and measured.
pub struct BuiltTool {
    /// The position of its function in the list given to [`component_tools`].
    pub function: usize,
    /// What it is offered as.
    pub tool: ToolSpec,
    /// Its parameters and result, for the catalog entry that calls it.
    pub(crate) signature: Signature,
    /// Bytes of JSON it takes in `tools/list`.
    pub listing_bytes: u64,
}

/// The tools of one component.
pub struct ComponentTools {
    /// Its tools, in the order of its functions.
    pub tools: Vec<BuiltTool>,
    /// Functions that are not tools, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Skipped {
    /// A component left out whole is an operator's concern: say so in the
    /// log, whichever path (start, reload) built the catalog.
    fn log(&self) {
        tracing::error!(
            component = %self.component,
            tool = %self.function,
            reason = %self.reason,
            "component not served"
        );
    }
}

/// Builds the tools of component `component` from its exported functions
/// (interface, name and signature, in declaration order) and checks each
/// against the size caps.
///
/// # Errors
///
/// When a function's schema or a tool's description exceeds a cap, the
/// component is refused whole: the [`Skipped`] names the tool (empty when
/// it is not about one tool) and the reason, with the size and the cap.
pub fn component_tools<'a>(
    component: &str,
    docs: &weld_store::ComponentDocs,
    functions: impl IntoIterator<Item = (Option<&'a str>, &'a str, &'a Result<Signature, TypeError>)>,
) -> Result<ComponentTools, Skipped> {
    let mut built = ComponentTools {
        tools: Vec::new(),
        skipped: Vec::new(),
    };
    let mut names = std::collections::HashSet::new();
    for (position, (interface, function, signature)) in functions.into_iter().enumerate() {
        let interface_short = interface.map(weld_runtime::short_interface_name);
        let name = tool_name(component, interface_short, function);
        let skip = |reason: String| Skipped {
            component: component.to_string(),
            function: name.clone(),
            reason,
            toolchain: false,
        };
        let refuse = |reason: String| skip(format!("{reason}; the component is refused whole"));
        if component == weld_store::RESERVED_NAME {
            // Only a component installed before the name was reserved gets
            // here: its tools could shadow the built-in ones, so none is
            // served.
            built.skipped.push(skip(format!(
                "the component name `{}` is reserved for weld's built-in tools; \
                 install it under another name (`weld add PATH --name OTHER`)",
                weld_store::RESERVED_NAME
            )));
            continue;
        }
        let signature = match signature {
            Ok(signature) => signature,
            Err(TypeError::TooLarge(e)) => return Err(refuse(e.to_string())),
            Err(reason) => {
                built.skipped.push(skip(reason.to_string()));
                continue;
            }
        };
        if name.len() > MAX_TOOL_NAME {
            built.skipped.push(skip(format!(
                "the tool name is longer than MCP's {MAX_TOOL_NAME} characters; \
                 install the component under a shorter name"
            )));
            continue;
        }
        if !names.insert(name.clone()) {
            built
                .skipped
                .push(skip("another export already has this tool name".into()));
            continue;
        }
        let docs = docs.get(interface_short, function);
        let tool = describe(component, interface, function, signature, docs).map_err(refuse)?;
        let listing_bytes = json_len(&tool);
        built.tools.push(BuiltTool {
            function: position,
            tool,
            signature: signature.clone(),
            listing_bytes,
        });
    }
    let total: u64 = built.tools.iter().map(|t| t.listing_bytes).sum();
    if total > MAX_LISTING_BYTES {
        return Err(Skipped {
            component: component.to_string(),
            function: String::new(),
            reason: format!(
                "its tools take {total} bytes of JSON in the tool listing, over the cap of \
                 {MAX_LISTING_BYTES} bytes; the component is refused whole"
            ),
            toolchain: false,
        });
    }
    Ok(built)
}

/// [`component_tools`] for a component described without compiling it
/// ([`weld_runtime::Runtime::inspect`]).
///
/// # Errors
///
/// As [`component_tools`].
pub fn inspected_tools(
    component: &str,
    docs: &weld_store::ComponentDocs,
    inspection: &weld_runtime::Inspection,
) -> Result<ComponentTools, Skipped> {
    let exports = inspection.functions.iter();
    if weld_runtime::is_command(exports.map(|f| (f.interface.as_deref(), f.name.as_str()))) {
        // An MCP server component: its tools are what it lists when it
        // runs (see `crate::proxied`), none from its types.
        return Ok(ComponentTools {
            tools: Vec::new(),
            skipped: Vec::new(),
        });
    }
    let mut built = component_tools(
        component,
        docs,
        inspection
            .functions
            .iter()
            .map(|f| (f.interface.as_deref(), f.name.as_str(), &f.signature)),
    )?;
    built
        .skipped
        .extend(toolchain_skipped(component, &inspection.toolchain_exports));
    Ok(built)
}

/// The exports a component's toolchain added, as functions that are not
/// tools: named as their tool would have been (`component_exports_init`),
/// or by the interface when the whole interface is the toolchain's.
pub fn toolchain_skipped(
    component: &str,
    exports: &[weld_runtime::ToolchainExport],
) -> impl Iterator<Item = Skipped> {
    exports.iter().map(move |export| {
        let interface_short = export
            .interface
            .as_deref()
            .map(weld_runtime::short_interface_name);
        let function = match (interface_short, export.name.as_str()) {
            (Some(interface), "") => format!("{component}_{interface}"),
            (interface, name) => tool_name(component, interface, name),
        };
        Skipped {
            component: component.to_string(),
            function,
            reason: export.reason.to_string(),
            toolchain: true,
        }
    })
}

/// The MCP tool definition of one function, checked against the caps on
/// its schemas and description.
///
/// # Errors
///
/// Which cap is exceeded, by how much.
pub fn describe(
    component: &str,
    interface: Option<&str>,
    function: &str,
    signature: &Signature,
    docs: Option<&weld_store::FunctionDocs>,
) -> Result<ToolSpec, String> {
    let interface_short = interface.map(weld_runtime::short_interface_name);
    let name = tool_name(component, interface_short, function);
    let description = match docs.and_then(|d| d.description.clone()) {
        Some(given) if given.len() > MAX_DESCRIPTION_BYTES => {
            return Err(format!(
                "its description is {} bytes (the cap is {MAX_DESCRIPTION_BYTES} bytes)",
                given.len()
            ));
        }
        Some(given) => given,
        None => generated_description(component, interface, function, signature),
    };
    let param_doc = |param: &str| docs.and_then(|d| d.params.get(param).cloned());
    let input_schema =
        checked(SchemaPart::Input, Some(signature.input_schema(&param_doc)))?.unwrap_or_default();
    let output_schema = checked(SchemaPart::Output, signature.output_schema())?;
    Ok(ToolSpec {
        name,
        description,
        input_schema: Arc::new(input_schema),
        output_schema: output_schema.map(Arc::new),
    })
}

/// `schema`, if it is within the caps. Its types were already read within
/// them; what the parameters' documentation adds is measured here.
fn checked(
    part: SchemaPart,
    schema: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    let schema = serde_json::Value::Object(schema);
    SchemaSize::of(&schema)
        .check(part)
        .map_err(|e| e.to_string())?;
    match schema {
        serde_json::Value::Object(schema) => Ok(Some(schema)),
        _ => Ok(None),
    }
}

/// Bytes of `value`'s compact JSON text, without keeping the text.
fn json_len(value: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising plain data to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The description a tool gets when its author gave none: what it is and
/// its signature (cut at [`GENERATED_SIGNATURE_BYTES`]), so a model can
/// still use it correctly.
fn generated_description(
    component: &str,
    interface: Option<&str>,
    function: &str,
    signature: &Signature,
) -> String {
    let place = match interface {
        Some(interface) => format!("interface `{interface}` of component `{component}`"),
        None => format!("component `{component}`"),
    };
    format!(
        "Calls `{}` from {place}. (The component has no description for it.)",
        signature.wit_within(function, GENERATED_SIGNATURE_BYTES)
    )
}

/// The live set of tools. Readers take a snapshot; a reload replaces it and
/// tells whoever [subscribed](LiveCatalog::changes).
pub struct LiveCatalog {
    current: RwLock<Arc<Catalog>>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Default for LiveCatalog {
    fn default() -> Self {
        Self::new(Catalog::default())
    }
}

impl LiveCatalog {
    /// A live serving `catalog` until the first [`LiveCatalog::replace`].
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: RwLock::new(Arc::new(catalog)),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The current set of tools.
    pub fn snapshot(&self) -> Arc<Catalog> {
        // A poisoned lock means a writer panicked between two whole-value
        // assignments; the value inside is still a complete catalog.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the set of tools and wakes every [`LiveCatalog::changes`]
    /// receiver.
    pub fn replace(&self, mut catalog: Catalog) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        catalog.adopt_slots(&current);
        *current = Arc::new(catalog);
        drop(current);
        self.generation.send_modify(|g| *g += 1);
    }

    /// A receiver that sees every later [`LiveCatalog::replace`].
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

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
