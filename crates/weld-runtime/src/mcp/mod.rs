//! MCP-shaped component worlds: components that are MCP servers, naming
//! their own tools and offering resources, resource templates, prompts and
//! completion, rather than typed functions weld turns into tools.
//!
//! One world is hosted: wasmcp's `wasmcp:mcp-v20251125@0.1.x` (its
//! `tools`, `resources`, `prompts` and `completions` interfaces, and the
//! `server-io`, `server-auth` and `server-handler` imports, see `imports`;
//! the WIT is vendored under `wit/`). A component is of
//! this world when it exports one of those interfaces ([`recognise`]); it
//! is recognised by its export names before any export becomes a plain
//! tool, so its `list-tools` is not mistaken for a function to serve.
//!
//! Everything above the runtime sees the world-neutral [`model`]: what a
//! component lists, what a request asks, what it answered, and the
//! notifications it sent meanwhile. Each request runs in a fresh instance
//! like any call (same admission, limits and sandbox, see `call/`), with a
//! host client stream for its notifications ([`stream`]) and `session`,
//! `identity` and `http-context` all `none`: weld hands a component
//! neither a session, nor the client's credentials, nor its HTTP headers.

#[allow(missing_docs, clippy::all, reason = "generated bindings")]
pub(crate) mod bindings;
mod call;
mod convert;
mod imports;
pub mod model;
pub(crate) mod stream;

use wasmtime::component::InstancePre;

pub(crate) use call::McpCall;
pub(crate) use imports::add_to_linker;
pub use stream::NotificationSink;

use bindings::exports::wasmcp::mcp_v20251125 as wasmcp;

/// An MCP-shaped world weld hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum McpWorld {
    /// wasmcp's `wasmcp:mcp-v20251125` (0.1.x).
    Wasmcp20251125,
}

impl McpWorld {
    /// The world's package, as components name it.
    pub fn package(self) -> &'static str {
        match self {
            Self::Wasmcp20251125 => "wasmcp:mcp-v20251125@0.1.1",
        }
    }
}

impl std::fmt::Display for McpWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

/// One capability interface of an MCP world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum McpInterface {
    /// `tools`: `list-tools`, `call-tool`.
    Tools,
    /// `resources`: `list-resources`, `read-resource`,
    /// `list-resource-templates`.
    Resources,
    /// `prompts`: `list-prompts`, `get-prompt`.
    Prompts,
    /// `completions`: `complete`.
    Completions,
}

impl McpInterface {
    /// Its name in the world.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Resources => "resources",
            Self::Prompts => "prompts",
            Self::Completions => "completions",
        }
    }
}

/// Which world a component implements, and which of its interfaces it
/// exports (in order, each once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpExportsInfo {
    /// The world.
    pub world: McpWorld,
    /// The interfaces it exports.
    pub interfaces: Vec<McpInterface>,
}

impl McpExportsInfo {
    /// Whether it exports `interface`.
    pub fn has(&self, interface: McpInterface) -> bool {
        self.interfaces.contains(&interface)
    }

    /// Adds what one export name says, if it is one of an MCP world's.
    /// Returns whether it was.
    pub(crate) fn collect(found: &mut Option<Self>, export: &str) -> bool {
        let Some((world, interface)) = recognise(export) else {
            return false;
        };
        let info = found.get_or_insert_with(|| Self {
            world,
            interfaces: Vec::new(),
        });
        if info.world == world && !info.interfaces.contains(&interface) {
            info.interfaces.push(interface);
            info.interfaces.sort_unstable();
        }
        true
    }
}

/// The world and interface an exported instance name belongs to:
/// `wasmcp:mcp-v20251125/tools@0.1.1` is wasmcp's `tools`. Any `0.1.x`
/// release is the same interface (Wasmtime links semver-compatible names,
/// and 0.1.0 and 0.1.1 differ only in a dependency's version).
pub fn recognise(export: &str) -> Option<(McpWorld, McpInterface)> {
    let rest = export.strip_prefix("wasmcp:mcp-v20251125/")?;
    let (interface, version) = rest.split_once('@')?;
    let patch = version.strip_prefix("0.1.")?;
    if patch.is_empty() || !patch.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let interface = match interface {
        "tools" => McpInterface::Tools,
        "resources" => McpInterface::Resources,
        "prompts" => McpInterface::Prompts,
        "completions" => McpInterface::Completions,
        _ => return None,
    };
    Some((McpWorld::Wasmcp20251125, interface))
}

/// A loaded component's MCP exports, looked up once at load.
pub(crate) struct McpExports {
    pub(crate) info: McpExportsInfo,
    pub(crate) tools: Option<wasmcp::tools::GuestIndices>,
    pub(crate) resources: Option<wasmcp::resources::GuestIndices>,
    pub(crate) prompts: Option<wasmcp::prompts::GuestIndices>,
    pub(crate) completions: Option<wasmcp::completions::GuestIndices>,
}

impl McpExports {
    /// Looks up the exports `info` names in `pre`'s component.
    ///
    /// # Errors
    ///
    /// When an exported interface lacks one of its functions, or a function
    /// has another type than the world's.
    pub(crate) fn new<T>(info: McpExportsInfo, pre: &InstancePre<T>) -> wasmtime::Result<Self> {
        let has = |i| info.has(i);
        Ok(Self {
            tools: has(McpInterface::Tools)
                .then(|| wasmcp::tools::GuestIndices::new(pre))
                .transpose()?,
            resources: has(McpInterface::Resources)
                .then(|| wasmcp::resources::GuestIndices::new(pre))
                .transpose()?,
            prompts: has(McpInterface::Prompts)
                .then(|| wasmcp::prompts::GuestIndices::new(pre))
                .transpose()?,
            completions: has(McpInterface::Completions)
                .then(|| wasmcp::completions::GuestIndices::new(pre))
                .transpose()?,
            info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasmcp_interfaces_are_recognised_by_name_and_compatible_version() {
        assert_eq!(
            recognise("wasmcp:mcp-v20251125/tools@0.1.1"),
            Some((McpWorld::Wasmcp20251125, McpInterface::Tools))
        );
        assert_eq!(
            recognise("wasmcp:mcp-v20251125/completions@0.1.0"),
            Some((McpWorld::Wasmcp20251125, McpInterface::Completions))
        );
        for other in [
            "wasmcp:mcp-v20251125/tools@0.2.0",
            "wasmcp:mcp-v20251125/tools@0.1.1-rc1",
            "wasmcp:mcp-v20251125/server-handler@0.1.1",
            "wasmcp:mcp-v20250618/tools@0.1.8",
            "tools",
            "my:pkg/tools@0.1.1",
        ] {
            assert_eq!(recognise(other), None, "{other}");
        }
    }
}
