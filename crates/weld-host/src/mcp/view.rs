//! The catalog's view of what MCP-world components offer: their tools,
//! resources, templates and prompts by the names and URIs they are served
//! under, and which capabilities any of them offers.

use std::sync::Arc;

use super::ListingFailure;
use super::model::Listing;
use super::{McpComponent, McpTool, ServedPrompt, ServedResource, ServedTemplate};
use crate::catalog::{Catalog, ComponentEntry};

impl Catalog {
    /// What `entry` listed when this catalog was built (or why it could
    /// not be listed, unless that was for want of capacity), if it is the
    /// same component (name and digest) under the same sandbox and limits.
    pub(crate) fn listing_of(
        &self,
        entry: &ComponentEntry,
    ) -> Option<Result<Listing, ListingFailure>> {
        let policy = &entry.policy;
        let output = policy.output.unwrap_or(crate::enforce::DEFAULT_OUTPUT);
        let same = |name: &str, digest: &str, limits, sandbox, out| {
            name == entry.name
                && digest == entry.digest
                && limits == &policy.limits
                && sandbox == &policy.sandbox
                && out == output
        };
        if let Some(c) = self
            .mcp
            .components
            .iter()
            .find(|c| same(&c.name, &c.digest, &c.limits, &c.sandbox, c.output))
        {
            return Some(Ok(c.listing.clone()));
        }
        self.mcp
            .failed
            .iter()
            .find(|f| same(&f.name, &f.digest, &f.limits, &f.sandbox, f.output))
            .map(|f| Err(f.failure.clone()))
    }

    /// The MCP-world component's tool a call names; `None` for any other
    /// name (a plain tool's is found with [`Catalog::get`]).
    pub fn mcp_tool(&self, name: &str) -> Option<&Arc<McpTool>> {
        self.mcp.tools.get(name)
    }

    /// The MCP-world components served.
    pub fn mcp_components(&self) -> &[Arc<McpComponent>] {
        &self.mcp.components
    }

    /// Resources, in load order.
    pub fn resources(&self) -> &[Arc<ServedResource>] {
        &self.mcp.resources
    }

    /// Resource templates, in load order.
    pub fn resource_templates(&self) -> &[Arc<ServedTemplate>] {
        &self.mcp.templates
    }

    /// Prompts, in load order.
    pub fn prompts(&self) -> &[Arc<ServedPrompt>] {
        &self.mcp.prompts
    }

    /// The prompt served as `name`.
    pub fn prompt(&self, name: &str) -> Option<&Arc<ServedPrompt>> {
        self.mcp.by_prompt.get(name).map(|&i| &self.mcp.prompts[i])
    }

    /// The resource listed with exactly this URI.
    pub fn resource(&self, uri: &str) -> Option<&Arc<ServedResource>> {
        self.mcp.by_uri.get(uri).map(|&i| &self.mcp.resources[i])
    }

    /// The template listed with exactly this template string.
    pub fn resource_template(&self, uri_template: &str) -> Option<&Arc<ServedTemplate>> {
        self.mcp
            .by_template
            .get(uri_template)
            .map(|&i| &self.mcp.templates[i])
    }

    /// Templates whose URIs include `uri`, in load order.
    pub fn templates_matching<'a>(
        &'a self,
        uri: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ServedTemplate>> + 'a {
        self.mcp.templates.iter().filter(|t| t.matcher.matches(uri))
    }

    /// Whether some served component offers resources or templates.
    pub fn offers_resources(&self) -> bool {
        !self.mcp.resources.is_empty() || !self.mcp.templates.is_empty()
    }

    /// Whether some served component offers prompts.
    pub fn offers_prompts(&self) -> bool {
        !self.mcp.prompts.is_empty()
    }

    /// Whether some served component answers completion requests.
    pub fn offers_completions(&self) -> bool {
        self.mcp.components.iter().any(|c| c.completes)
    }
}
