//! weld's built-in MCP tools: list components, show a policy, request a
//! grant, request an install, revoke. One table ([`TOOLS`]) gives each its name, description and
//! schemas; `tools/list`, dispatch and the docs follow it.
//!
//! The model can ask; only a person or the operator grants. A grant asked
//! for over MCP is applied only when
//!
//! - a person approves it through MCP elicitation: `elicitation/create`
//!   sent to a client that initialized (up to 2025-11-25) and declared the
//!   capability, or, for a 2026-07-28 client that declared it, an
//!   `input_required` result whose `requestState` is an HMAC binding the
//!   approval to the exact change (single use, ten minutes), or
//! - the operator started `weld serve --allow-model-grants`.
//!
//! A client that cannot ask its user gets a refusal naming the `weld grant`
//! command a person can run. Revoking never needs approval: it only takes access away.
//!
//! Every change, applied or not, leaves an audit record.
//!
//! Here: the table and dispatch. `schemas` holds the hand-written JSON
//! Schemas (pinned as listed by `tools.json`), `args` reads arguments,
//! `read` serves the read-only tools, `change` applies a change, `grant`
//! asks a person in either era, and `approvals` issues and redeems the HMAC
//! `requestState`.

mod approvals;
mod args;
mod change;
mod grant;
mod install;
mod read;
mod schemas;

use std::sync::Arc;
use std::time::SystemTime;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::Value;
use weld_host::audit::{Audit, BuiltinRecord};
use weld_host::catalog::LiveCatalog;
use weld_host::distribution::Installer;
use weld_host::outcome::Outcome;
use weld_host::policy_admin::{Policies, PolicyChange};
use weld_policy::Pin;

use self::approvals::Approvals;
use self::schemas::object;

/// One built-in tool.
pub struct Builtin {
    /// The tool's name, `weld_` and what it does.
    pub name: &'static str,
    op: Op,
    /// What the model reads about the tool.
    pub description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
    read_only: bool,
}

/// What a built-in tool does; dispatch matches on it.
#[derive(Clone, Copy)]
enum Op {
    List,
    Show,
    Grant,
    Install,
    Revoke,
}

/// The built-in tools, in name order.
pub const TOOLS: [Builtin; 5] = [
    Builtin {
        name: "weld_list_components",
        op: Op::List,
        description: "Lists the components weld has installed: their names, digests, the tools \
                      each serves, whether it has a policy (see weld_show_policy), and why a \
                      component serves no tools when it is disabled.",
        input: schemas::no_arguments,
        output: schemas::list_output,
        read_only: true,
    },
    Builtin {
        name: "weld_request_grant",
        op: Op::Grant,
        description: "Asks for more access for an installed component: a directory tree or \
                      a file (storage), HTTPS to a host (network) or an environment variable (env). \
                      weld asks the user to approve the exact change; nothing is granted unless \
                      a person approves (or the operator allowed model grants). If the client \
                      cannot ask the user, the result names the `weld grant` command the user \
                      can run instead.",
        input: schemas::change_input,
        output: schemas::change_output,
        read_only: false,
    },
    Builtin {
        name: "weld_request_install",
        op: Op::Install,
        description: "Asks to install a tool from an OCI registry (oci://REGISTRY/REPO:TAG or \
                      @sha256:…) or an https:// URL. weld first verifies its signature against \
                      the publishers the user trusts (weld.toml) and refuses anything else; then \
                      it shows the user who signed it, its digest, what it imports and offers, \
                      and installs it only if a person approves, with no access until granted. \
                      If the client cannot ask the user, the result names the `weld add` \
                      command the user can run instead.",
        input: schemas::install_input,
        output: schemas::install_output,
        read_only: false,
    },
    Builtin {
        name: "weld_revoke",
        op: Op::Revoke,
        description: "Takes access away from an installed component (storage, network or env), \
                      without asking: revoking can only narrow what a tool may reach.",
        input: schemas::change_input,
        output: schemas::change_output,
        read_only: false,
    },
    Builtin {
        name: "weld_show_policy",
        op: Op::Show,
        description: "Shows the policy of an installed component: everything its tools may \
                      reach (directories, hosts, environment variables, limits), as canonical \
                      YAML. A component without a policy may use nothing but the clocks and \
                      randomness.",
        input: schemas::component_input,
        output: schemas::show_output,
        read_only: true,
    },
];

impl Builtin {
    fn tool(&self) -> Tool {
        let mut tool = Tool::new(
            self.name,
            self.description,
            Arc::new(object((self.input)())),
        );
        tool.output_schema = Some(Arc::new(object((self.output)())));
        tool.annotations = Some(ToolAnnotations::from_raw(
            None,
            Some(self.read_only),
            // Revoking can stop a tool that relied on the access.
            Some(matches!(self.op, Op::Revoke)),
            Some(true),
            Some(false),
        ));
        tool
    }
}

/// Settings of the built-in tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinOptions {
    /// Apply grants asked for over MCP without asking a person. Dangerous:
    /// the model can then widen any tool's access.
    pub allow_model_grants: bool,
}

/// The built-in tools of one server.
pub struct Management {
    policies: Policies,
    options: BuiltinOptions,
    tools: Vec<Tool>,
    approvals: Approvals,
    /// Made by the first install request (building a registry client
    /// reads the system's root certificates: not a cost every start should
    /// pay), or why there is none, for the refusal.
    installer: Arc<std::sync::OnceLock<Result<Arc<Installer>, String>>>,
    make_installer: Arc<MakeInstaller>,
    /// Install requests being fetched and verified: each may hold a
    /// component of up to the download cap in memory and a registry
    /// connection, so a model asking in a loop is refused beyond these.
    fetching: Arc<tokio::sync::Semaphore>,
}

/// What makes the installer (see [`Management::with_installer_made_by`]).
type MakeInstaller = dyn Fn() -> Result<Installer, String> + Send + Sync;

/// Install requests fetched at once, across all clients.
pub(crate) const MAX_FETCHING: usize = 2;

impl Management {
    /// # Errors
    ///
    /// When no random key can be drawn for approvals.
    pub fn new(policies: Policies, options: BuiltinOptions) -> std::io::Result<Self> {
        Ok(Self {
            policies,
            options,
            tools: TOOLS.iter().map(Builtin::tool).collect(),
            approvals: Approvals::new()?,
            installer: Arc::default(),
            make_installer: Arc::new(|| Err("started without a configuration for it".into())),
            fetching: Arc::new(tokio::sync::Semaphore::new(MAX_FETCHING)),
        })
    }

    /// Serves install requests through `installer` (or refuses them, saying
    /// `why` not, when it is an error).
    #[must_use]
    pub fn with_installer(self, installer: Result<Installer, String>) -> Self {
        let installer = installer.map(Arc::new);
        self.installer.get_or_init(|| installer);
        self
    }

    /// Serves install requests through the installer `make` makes when the
    /// first of them comes (or refuses them, saying why not, when it fails).
    #[must_use]
    pub fn with_installer_made_by(
        mut self,
        make: impl Fn() -> Result<Installer, String> + Send + Sync + 'static,
    ) -> Self {
        self.make_installer = Arc::new(make);
        self
    }

    /// The installer, made now if no request has needed it yet; why there
    /// is none otherwise.
    fn installer(&self) -> Result<&Arc<Installer>, &str> {
        self.installer
            .get_or_init(|| (self.make_installer)().map(Arc::new))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The built-in tools' definitions.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Runs `request` if it names a built-in tool; `None` otherwise.
    pub async fn call(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        live: &LiveCatalog,
        audit: &Audit,
        client: Option<String>,
    ) -> Option<Result<CallToolResponse, McpError>> {
        let builtin = TOOLS.iter().find(|t| t.name == request.name)?;
        let mut record = BuiltinRecord {
            at: SystemTime::now(),
            tool: builtin.name,
            component: String::new(),
            digest: String::new(),
            client,
            args_bytes: 0,
            outcome: Outcome::Ok,
            change: None,
            error: None,
        };
        record.args_bytes = weld_host::audit::args_bytes(request.arguments.as_ref());
        let response = match builtin.op {
            Op::List => self.list(live, &mut record).await.into(),
            Op::Show => self.show(request, &mut record).await.into(),
            Op::Grant => self.grant(request, context, &mut record).await,
            Op::Install => self.install(request, context, &mut record).await,
            Op::Revoke => self.revoke(request, &mut record).await.into(),
        };
        audit.record_builtin(record);
        Some(Ok(response))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Policies) -> T + Send + 'static,
    ) -> Result<T, String> {
        let policies = self.policies.clone();
        tokio::task::spawn_blocking(move || work(&policies))
            .await
            .map_err(|e| format!("internal error: {e}"))
    }

    fn command(&self, change: &PolicyChange) -> String {
        change.command(self.policies.store.root(), self.policies.base.as_deref())
    }
}

/// Records the change (with the real path a storage grant resolves to,
/// once known) in the audit record.
fn note(record: &mut BuiltinRecord, change: &PolicyChange, resolved: Option<&Pin>) {
    record.component.clone_from(&change.component);
    record.change = Some(change.summary_resolved(resolved));
}

/// A successful result whose text is its structured content as JSON, like
/// every component tool's.
fn structured(value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

fn failed(record: &mut BuiltinRecord, outcome: Outcome, message: String) -> CallToolResult {
    record.outcome = outcome;
    record.error = Some(message.clone());
    CallToolResult::error(vec![ContentBlock::text(message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_tool_schema_is_an_object_schema() {
        for tool in &TOOLS {
            assert_eq!((tool.input)()["type"], "object", "{}", tool.name);
            assert_eq!((tool.output)()["type"], "object", "{}", tool.name);
            assert!(
                tool.name
                    .starts_with(&format!("{}_", weld_host::names::RESERVED_NAME)),
                "{}",
                tool.name
            );
        }
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        assert_eq!(names, TOOLS.iter().map(|t| t.name).collect::<Vec<_>>());
    }

    /// The built-in tools exactly as `tools/list` carries them (names,
    /// descriptions, schemas, annotations), pinned by `tools.json`: a change
    /// to what a model reads must be made on purpose. After such a change,
    /// run with `WELD_UPDATE_SNAPSHOTS=1` to rewrite the file, and review its
    /// diff.
    #[test]
    fn the_built_in_tools_wire_definitions_are_pinned() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/builtin/tools.json");
        let tools: Vec<Tool> = TOOLS.iter().map(Builtin::tool).collect();
        let actual = serde_json::to_value(&tools).expect("tools serialise");
        let pretty = serde_json::to_string_pretty(&actual).expect("JSON") + "\n";
        if std::env::var_os("WELD_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &pretty).expect("write tools.json");
        }
        let pinned: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("src/builtin/tools.json"))
                .expect("tools.json is JSON");
        assert!(
            actual == pinned,
            "the built-in tools' definitions differ from {}; if that is intended, rerun with \
             WELD_UPDATE_SNAPSHOTS=1 and review the diff. Now:\n{pretty}",
            path.display()
        );
    }
}
