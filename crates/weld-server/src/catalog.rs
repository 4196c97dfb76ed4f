//! The set of tools being served: built once from loaded components, then
//! swapped whole, so a client never sees a half-built list.
//!
//! Everything a call needs that can be worked out ahead — the tool's name,
//! its schemas, the export index, the parameter signature — is worked out
//! here, at load time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rmcp::model::Tool;
use weld_policy::{Concurrency, Excess};
use weld_runtime::{
    Capacity, ExportedFunction, Limits, LoadedComponent, Sandbox, Share, Signature,
};

use crate::sandbox::ToolPolicy;
use weld_store::ComponentDocs;

/// Longest tool name MCP allows.
pub const MAX_TOOL_NAME: usize = 128;

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

/// A component ready to contribute tools.
pub struct ComponentEntry {
    pub name: String,
    pub digest: String,
    pub docs: ComponentDocs,
    pub loaded: Arc<LoadedComponent>,
    /// What its policy grants (or the deny-all default).
    pub policy: ToolPolicy,
}

/// One servable tool.
pub struct ToolEntry {
    pub tool: Tool,
    pub component: String,
    pub digest: String,
    pub signature: Signature,
    pub limits: Limits,
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
    pub component: String,
    pub function: String,
    pub reason: String,
}

/// An immutable set of tools.
#[derive(Default)]
pub struct Catalog {
    by_name: HashMap<String, Arc<ToolEntry>>,
    /// In name order, for `tools/list`.
    listed: Vec<Tool>,
    skipped: Vec<Skipped>,
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
    /// listed in [`Catalog::skipped`] with the reason.
    pub fn build(components: Vec<ComponentEntry>) -> Self {
        let mut by_name = HashMap::new();
        let mut skipped = Vec::new();
        for component in components {
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
            for function in component.loaded.functions() {
                let interface = function.interface_short_name();
                let name = tool_name(&component.name, interface, &function.name);
                let skip = |reason: String| Skipped {
                    component: component.name.clone(),
                    function: name.clone(),
                    reason,
                };
                if component.name == weld_store::RESERVED_NAME {
                    // Only a component installed before the name was
                    // reserved gets here: its tools could shadow the
                    // built-in ones, so none is served.
                    skipped.push(skip(format!(
                        "the component name `{}` is reserved for weld's built-in tools; \
                         install it under another name (`weld add PATH --name OTHER`)",
                        weld_store::RESERVED_NAME
                    )));
                    continue;
                }
                let signature = match &function.signature {
                    Ok(signature) => signature.clone(),
                    Err(reason) => {
                        skipped.push(skip(reason.clone()));
                        continue;
                    }
                };
                if name.len() > MAX_TOOL_NAME {
                    skipped.push(skip(format!(
                        "the tool name is longer than MCP's {MAX_TOOL_NAME} characters; \
                         install the component under a shorter name"
                    )));
                    continue;
                }
                if by_name.contains_key(&name) {
                    skipped.push(skip("another export already has this tool name".into()));
                    continue;
                }
                let docs = component.docs.get(interface, &function.name);
                let tool = describe(&component.name, function, &signature, docs);
                by_name.insert(
                    name,
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
                        function: function.clone(),
                    }),
                );
            }
        }
        let mut listed: Vec<Tool> = by_name.values().map(|e| e.tool.clone()).collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            by_name,
            listed,
            skipped,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        self.by_name.get(name)
    }

    /// All tools, in name order.
    pub fn tools(&self) -> &[Tool] {
        &self.listed
    }

    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
}

/// The MCP tool definition of one function.
pub fn describe(
    component: &str,
    function: &ExportedFunction,
    signature: &Signature,
    docs: Option<&weld_store::FunctionDocs>,
) -> Tool {
    let name = tool_name(component, function.interface_short_name(), &function.name);
    let description = docs
        .and_then(|d| d.description.clone())
        .unwrap_or_else(|| generated_description(component, function, signature));
    let param_doc = |param: &str| docs.and_then(|d| d.params.get(param).cloned());
    let input_schema = signature.input_schema(&param_doc);
    let mut tool = Tool::new(name, description, Arc::new(input_schema));
    tool.output_schema = signature.output_schema().map(Arc::new);
    tool
}

/// The description a tool gets when its author gave none: what it is and
/// its full signature, so a model can still use it correctly.
fn generated_description(
    component: &str,
    function: &ExportedFunction,
    signature: &Signature,
) -> String {
    let place = match &function.interface {
        Some(interface) => format!("interface `{interface}` of component `{component}`"),
        None => format!("component `{component}`"),
    };
    format!(
        "Calls `{}` from {place}. (The component has no description for it.)",
        signature.wit(&function.name)
    )
}

/// The live set of tools. Readers take a snapshot; a reload replaces it and
/// tells whoever [subscribed](Registry::changes).
pub struct Registry {
    current: RwLock<Arc<Catalog>>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(Catalog::default())
    }
}

impl Registry {
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

    /// Replaces the set of tools and wakes every [`Registry::changes`]
    /// receiver.
    pub fn replace(&self, mut catalog: Catalog) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        catalog.adopt_slots(&current);
        *current = Arc::new(catalog);
        drop(current);
        self.generation.send_modify(|g| *g += 1);
    }

    /// A receiver that sees every later [`Registry::replace`].
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::{Bound, Slots, tool_name};
    use weld_policy::{Concurrency, Excess};
    use weld_runtime::{Capacity, Share};

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
        let registry = super::Registry::default();
        let mut changes = registry.changes();
        registry.replace(super::Catalog::default());
        tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed())
            .await
            .expect("woken")
            .expect("registry alive");
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
