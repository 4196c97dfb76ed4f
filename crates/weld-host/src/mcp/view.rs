//! The catalog's view of what MCP-world components offer: their tools,
//! resources, templates and prompts by the names and URIs they are served
//! under, and which capabilities any of them offers.

use std::sync::Arc;

use super::{McpComponent, McpTool, ServedPrompt, ServedResource, ServedTemplate};
use crate::catalog::Catalog;

impl Catalog {
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
