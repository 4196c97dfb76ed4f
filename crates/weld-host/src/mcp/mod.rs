//! MCP-world components in the catalog: the tools they name themselves,
//! their resources, resource templates and prompts, and whether they
//! complete, held in weld's own terms ([`model`], the runtime's
//! world-neutral types) whatever world the component was built for.
//!
//! **Listing.** A component of an MCP world says what it offers by
//! answering its list functions. weld asks when it loads it, in a fresh
//! sandboxed instance under the component's own policy and limits
//! ([`list_loaded`]), and keeps the answer: a reload asks again only what
//! changed (`Loaded::into_catalog_after`). What a component lists per
//! session or per caller is not seen (there is neither). A component whose
//! listing fails, or whose listing is over the catalog's size caps, is
//! disabled with the reason; the others serve.
//!
//! **Names.** A component of these worlds names its own tools and
//! prompts, so two components may name the same. weld keeps every name
//! served unique, first come first served in load order (installed
//! components by name, then `--component` files, a component's plain
//! functions before its MCP tools): a later tool or prompt with a name
//! already served is not served, and `weld list` and
//! `weld_list_components` say why. The same holds for resource URIs and
//! template strings. Tool names starting `weld_` are the built-in tools'.
//! With [`McpNaming::Prefixed`] (`weld serve --prefix-mcp-names`) every
//! MCP tool and prompt is served as `component_name`, as plain tools are,
//! so no two components can clash; URIs are never prefixed: they are
//! addresses, and a component resolves its own.
//!
//! **Requests** ([`invoke`]) run like tool calls: the component's slot,
//! a fresh instance from the same pool, the same limits and sandbox, one
//! audit record each.

mod build;
pub mod invoke;
mod template;
mod view;

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use weld_runtime::{CallLimits, LoadedComponent, McpWorld, Sandbox};

pub use weld_runtime::mcp::model;

use crate::catalog::Slots;
use model::{Icon, PromptDef, ResourceDef, TemplateDef, ToolAnnotations};
use template::UriTemplate;

pub(crate) use build::{FailedListing, McpOffers, refused, unlisted};
pub use build::{ListingFailure, list_loaded};

/// How MCP-world components' tools and prompts are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum McpNaming {
    /// As the component names them (a clash serves the first).
    #[default]
    AsGiven,
    /// `component_name`, like plain tools.
    Prefixed,
}

/// A served MCP-world component: what each of its requests needs.
pub struct McpComponent {
    /// Its name.
    pub name: String,
    /// Its digest, for the audit record.
    pub(crate) digest: String,
    /// The world it implements.
    pub world: McpWorld,
    /// Whether it answers `completion/complete`.
    pub completes: bool,
    pub(crate) loaded: Arc<LoadedComponent>,
    pub(crate) limits: CallLimits,
    pub(crate) sandbox: Sandbox,
    /// Largest answer, in bytes.
    pub(crate) output: u64,
    /// Its concurrency slots, shared with its plain tools; replaced by the
    /// previous catalog's when a reload keeps the same limit.
    pub(crate) slots: Mutex<Arc<Slots>>,
    /// What it listed, for the next reload to reuse while it is the same
    /// component under the same sandbox and limits.
    pub(crate) listing: model::Listing,
}

impl McpComponent {
    pub(crate) fn slots(&self) -> Arc<Slots> {
        // A poisoned lock still holds a whole Arc.
        Arc::clone(&self.slots.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What an MCP-world tool adds to a [`ToolSpec`](crate::ToolSpec) beyond
/// name, description and schemas.
#[derive(Debug, Clone, PartialEq)]
pub struct McpToolExtra {
    /// A human-readable title.
    pub title: Option<String>,
    /// Hints about its behaviour.
    pub annotations: Option<ToolAnnotations>,
    /// Icons.
    pub icons: Vec<Icon>,
    /// Its `_meta`.
    pub meta: Option<Map<String, Value>>,
}

/// A tool an MCP-world component serves.
pub struct McpTool {
    /// The name it is served under.
    pub name: String,
    /// The component's own name for it.
    pub(crate) original: String,
    /// The component.
    pub component: Arc<McpComponent>,
}

/// A resource a component serves.
pub struct ServedResource {
    /// As the component lists it.
    pub def: ResourceDef,
    /// Its `_meta`, parsed.
    pub meta: Option<Map<String, Value>>,
    /// The component.
    pub component: Arc<McpComponent>,
}

/// A resource template a component serves.
pub struct ServedTemplate {
    /// As the component lists it.
    pub def: TemplateDef,
    /// Its `_meta`, parsed.
    pub meta: Option<Map<String, Value>>,
    /// The component.
    pub component: Arc<McpComponent>,
    pub(crate) matcher: UriTemplate,
}

/// A prompt a component serves.
pub struct ServedPrompt {
    /// The name it is served under.
    pub name: String,
    /// As the component lists it (`def.name` is its own name for it).
    pub def: PromptDef,
    /// Its `_meta`, parsed.
    pub meta: Option<Map<String, Value>>,
    /// The component.
    pub component: Arc<McpComponent>,
}

/// `text` as a JSON object, or `None` when there is none or it is not one.
pub(crate) fn json_object(text: Option<&str>) -> Option<Map<String, Value>> {
    match serde_json::from_str(text?) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}
