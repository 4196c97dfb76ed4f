//! weld's application, free of any protocol: what tools there are, what
//! each may touch, and running one.
//!
//! A [`Host`] is one state directory served by one runtime: it loads the
//! installed components (and any extra files) into a [`Catalog`] of
//! [`ToolSpec`]s, compiles each component's policy into the sandbox its
//! calls run in ([`enforce`]), watches the state and swaps the catalog whole
//! when it changes ([`load`]), changes policies through one writer
//! ([`policy_admin`]), fetches and proves remote components
//! ([`distribution`], [`trust`]), installs components ([`install`]) and
//! pins them ([`lockfile`]), runs a tool call
//! from arguments to output ([`invoke`](mod@invoke)), serves MCP-world
//! components' tools, resources, prompts and completion ([`mcp`]), starts
//! MCP server components for a front end to proxy ([`proxied`]) and
//! audits every call, request and change ([`audit`]).
//!
//! The front ends sit on top: `weld-mcp` turns this into MCP (and is the
//! only crate that knows MCP's wire types), the `weld` binary's commands
//! call it directly (`weld call`, `weld add`, `weld grant`).
//!
//! # Invariants (written as absences)
//!
//! - No MCP, JSON-RPC or HTTP: no `rmcp`, no `hyper`; its types are not wire
//!   types. A front end converts them.
//! - Serves nothing, and opens no socket of its own: a guest's network
//!   access is the runtime's, checked against the policy this crate
//!   compiled; fetching a component ([`distribution`]) goes through
//!   `weld-dist`'s client, and never happens on a tool call's path.
//! - Keeps nothing it fetched that it has not proven: a remote component's
//!   signature is verified (`weld-trust`) against the trust policy
//!   ([`trust`]) before its layer is downloaded, and its bytes against the
//!   signed digest before they are installed.
//! - Writes a policy only through [`policy_admin::Policies`], under the
//!   state's lock, with its pins.

pub mod audit;
pub mod catalog;
pub mod distribution;
pub mod enforce;
pub mod install;
pub mod invoke;
pub mod lazy;
pub mod load;
pub mod lockfile;
pub mod mcp;
pub mod metrics;
pub mod outcome;
mod pins;
pub mod policy_admin;
pub mod proxied;
pub mod trust;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weld_runtime::{CallLimits, Runtime};
use weld_store::Store;

pub use audit::{Audit, AuditError, AuditFailure, AuditRecord};
pub use catalog::{Catalog, ComponentEntry, Disabled, LiveCatalog, ToolEntry, ToolSpec, tool_name};
pub use invoke::{Invoked, JsonObject, ToolOutput, invoke};
pub use load::{Compiling, LoadError, Loaded};
pub use mcp::McpNaming;
pub use outcome::Outcome;
pub use policy_admin::{ManageError, Policies, PolicyChange};
pub use weld_runtime::TRACE_TARGET;

/// One state directory served by one runtime, with what every load and
/// policy change needs: the default limits, the files served beside the
/// installed components, and the base directory `fs://./` grants are
/// resolved against.
#[derive(Clone)]
pub struct Host {
    store: Store,
    runtime: Arc<Runtime>,
    limits: CallLimits,
    files: Vec<PathBuf>,
    base: Option<PathBuf>,
    naming: McpNaming,
    /// Loads for calls that failed (see [`lazy`]).
    failures: Arc<lazy::LoadFailures>,
}

impl Host {
    /// The installed components of `store`, run by `runtime`, with `limits`
    /// for components whose policy sets none.
    pub fn new(store: Store, runtime: Arc<Runtime>, limits: CallLimits) -> Self {
        Self {
            store,
            runtime,
            limits,
            files: Vec::new(),
            base: None,
            naming: McpNaming::default(),
            failures: Arc::default(),
        }
    }

    /// Names MCP-world components' tools and prompts as `naming` says.
    #[must_use]
    pub fn with_mcp_naming(mut self, naming: McpNaming) -> Self {
        self.naming = naming;
        self
    }

    /// Also serves these component files (not installed; reloaded when they
    /// change).
    #[must_use]
    pub fn with_files(mut self, files: Vec<PathBuf>) -> Self {
        self.files = files;
        self
    }

    /// Resolves `fs://./` grants against `base` (without one they are
    /// refused).
    #[must_use]
    pub fn with_base(mut self, base: Option<PathBuf>) -> Self {
        self.base = base;
        self
    }

    /// The state directory.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The runtime every component is compiled for and called in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Limits for components whose policy sets none.
    pub fn limits(&self) -> CallLimits {
        self.limits
    }

    /// What `fs://./` grants are resolved against.
    pub fn base(&self) -> Option<&Path> {
        self.base.as_deref()
    }

    /// Loads every installed component and file, each with its sandbox; a
    /// component that cannot be served is listed as disabled, never fatal.
    /// An installed component with a description kept from an earlier load
    /// is listed from it and loaded by its first call (see [`lazy`]).
    ///
    /// # Errors
    ///
    /// Only what stops every component: the index cannot be read.
    pub fn load(&self, compiling: Compiling) -> Result<Loaded, LoadError> {
        let lazy = load::Lazy {
            failures: Arc::clone(&self.failures),
            ..load::Lazy::default()
        };
        let mut loaded = load::load_all(
            &self.store,
            &self.runtime,
            &self.files,
            self.limits,
            compiling,
            &lazy,
        )?;
        loaded.naming = self.naming;
        Ok(loaded)
    }

    /// The one writer of policies.
    pub fn policies(&self) -> Policies {
        Policies {
            store: self.store.clone(),
            runtime: Arc::clone(&self.runtime),
            base: self.base.clone(),
            limits: self.limits,
        }
    }

    /// Watches the state (and the files) and swaps `live`'s catalog
    /// when they change, until `shutdown`.
    pub async fn watch(
        self,
        live: Arc<LiveCatalog>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        load::watch_state(
            self.store,
            self.runtime,
            self.files,
            self.limits,
            self.naming,
            self.failures,
            live,
            shutdown,
        )
        .await;
    }
}

/// An error and its causes on one line, each cause said once: weld's
/// errors often repeat their cause in their own message (so that a message
/// shown alone is complete), and a cause already said is not repeated.
pub fn describe_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Component names, as the state directory keeps them: the front ends check
/// a name a client sends before anything else reads it.
pub mod names {
    pub use weld_store::{RESERVED_NAME, validate_name};
}
