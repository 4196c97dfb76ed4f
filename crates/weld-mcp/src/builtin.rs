//! weld's built-in MCP tools: list components, show a policy, request a
//! grant, revoke. One table ([`TOOLS`]) gives each its name, description and
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
//! command a person can run. Stateless HTTP serves legacy clients without a
//! session, so weld cannot send them a request: they get the refusal too.
//! Revoking never needs approval: it only takes access away.
//!
//! Every change, applied or not, leaves an audit record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, InputRequest,
    InputRequiredResult, JsonObject, ProtocolVersion, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use weld_host::audit::{Audit, BuiltinRecord};
use weld_host::catalog::Registry;
use weld_host::outcome::Outcome;
use weld_host::policy_admin::{
    Capability, Changed, Direction, ManageError, Policies, PolicyChange,
};
use weld_policy::Pin;

/// How long a person has to answer, and an approval stays valid.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);

/// The key of the one input request of a grant awaiting approval.
const APPROVE_KEY: &str = "approve";

/// One built-in tool.
pub struct Builtin {
    pub name: &'static str,
    op: Op,
    pub description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
    read_only: bool,
}

#[derive(Clone, Copy)]
enum Op {
    List,
    Show,
    Grant,
    Revoke,
}

/// The built-in tools, in name order.
pub const TOOLS: [Builtin; 4] = [
    Builtin {
        name: "weld_list_components",
        op: Op::List,
        description: "Lists the components weld has installed: their names, digests, the tools \
                      each serves, whether it has a policy (see weld_show_policy), and why a \
                      component serves no tools when it is disabled.",
        input: no_arguments,
        output: list_output,
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
        input: change_input,
        output: change_output,
        read_only: false,
    },
    Builtin {
        name: "weld_revoke",
        op: Op::Revoke,
        description: "Takes access away from an installed component (storage, network or env), \
                      without asking: revoking can only narrow what a tool may reach.",
        input: change_input,
        output: change_output,
        read_only: false,
    },
    Builtin {
        name: "weld_show_policy",
        op: Op::Show,
        description: "Shows the policy of an installed component: everything its tools may \
                      reach (directories, hosts, environment variables, limits), as canonical \
                      YAML. A component without a policy may use nothing but the clocks and \
                      randomness.",
        input: component_input,
        output: show_output,
        read_only: true,
    },
];

fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

fn component_property() -> Value {
    json!({
        "type": "string",
        "description": "The installed component's name (the part of its tool names before the first `_`).",
        "pattern": "^[a-z][a-z0-9-]{0,63}$"
    })
}

fn component_input() -> Value {
    json!({
        "type": "object",
        "properties": {"component": component_property()},
        "required": ["component"],
        "additionalProperties": false
    })
}

fn change_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "component": component_property(),
            "kind": {
                "type": "string",
                "enum": ["storage", "network", "env"],
                "description": "storage: a directory tree or a file; network: HTTPS to a host; env: an environment variable."
            },
            "target": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "description": "storage: a URI such as fs:///home/me/notes/** or fs:///home/me/notes/todo.md, by its real path (a path through a symlink is refused, naming where it leads); fs://./dir/** is under the base directory the operator gave weld (--base-dir), if any; network: HOST or HOST:PORT (port 443 if omitted); env: the variable's name."
            },
            "access": {
                "type": "array",
                "items": {"type": "string", "enum": ["read", "write"]},
                "minItems": 1,
                "maxItems": 2,
                "uniqueItems": true,
                "description": "storage only: [\"read\"] or [\"read\", \"write\"]. Default: [\"read\"] for a grant, both for a revocation."
            },
            "secret": {
                "type": "boolean",
                "description": "env grants only: take the value from weld's secret store (`weld secret set`) instead of weld's own environment."
            }
        },
        "required": ["component", "kind", "target"],
        "additionalProperties": false
    })
}

fn change_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "component": {"type": "string"},
            "change": {"type": "string", "description": "The change that was made."},
            "policy": {"type": "string", "description": "The component's policy now, as canonical YAML. A running weld applies it within a second."},
            "still_disabled": {"type": "string", "description": "Present when the change was made but the component still cannot be served, and why (e.g. another of its granted directories moved)."}
        },
        "required": ["component", "change", "policy"],
        "additionalProperties": false
    })
}

fn show_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "component": {"type": "string"},
            "has_policy": {"type": "boolean", "description": "false: it runs deny-all."},
            "policy": {"type": "string", "description": "The policy as canonical YAML."},
            "storage": {
                "type": "array",
                "description": "What each storage rule was granted as: the real path it is pinned to (checked at every load; a rule whose path no longer leads there disables the component until a person grants it again).",
                "items": {
                    "type": "object",
                    "properties": {
                        "rule": {"type": "string", "enum": ["allow", "deny"]},
                        "uri": {"type": "string"},
                        "path": {"type": "string", "description": "The real path granted or denied."}
                    },
                    "required": ["rule", "uri", "path"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["component", "has_policy", "policy", "storage"],
        "additionalProperties": false
    })
}

fn list_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "components": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "digest": {"type": "string"},
                        "source": {"type": "string"},
                        "tools": {"type": "array", "items": {"type": "string"}, "description": "The tools it serves now."},
                        "has_policy": {"type": "boolean"},
                        "disabled": {"type": "string", "description": "Present when none of its tools is served, and why (it could not be loaded, or a grant can no longer be honoured)."}
                    },
                    "required": ["name", "digest", "source", "tools", "has_policy"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["components"],
        "additionalProperties": false
    })
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

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
}

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
        })
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
        registry: &Registry,
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
            Op::List => self.list(registry, &mut record).await.into(),
            Op::Show => self.show(request, &mut record).await.into(),
            Op::Grant => self.grant(request, context, &mut record).await,
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

    async fn list(&self, registry: &Registry, record: &mut BuiltinRecord) -> CallToolResult {
        let catalog = registry.snapshot();
        let listed = self
            .blocking(
                |p| -> Result<Vec<(String, String, String, bool)>, ManageError> {
                    let index = p.store.index()?;
                    let mut out = Vec::new();
                    for (name, installed) in index.components {
                        let has_policy = p.store.read_policy(&name)?.is_some();
                        out.push((
                            name,
                            installed.digest.to_string(),
                            installed.source,
                            has_policy,
                        ));
                    }
                    Ok(out)
                },
            )
            .await;
        let listed = match listed {
            Ok(Ok(listed)) => listed,
            Ok(Err(error)) => return failed(record, Outcome::Refused, error.to_string()),
            Err(error) => return failed(record, Outcome::Refused, error),
        };
        let components: Vec<Value> = listed
            .into_iter()
            .map(|(name, digest, source, has_policy)| {
                let tools: Vec<&str> = catalog
                    .tools()
                    .iter()
                    .map(|t| t.name.as_str())
                    .filter(|t| {
                        t.strip_prefix(name.as_str())
                            .is_some_and(|rest| rest.starts_with('_'))
                    })
                    .collect();
                let mut out = json!({"name": name, "digest": digest, "source": source, "tools": tools, "has_policy": has_policy});
                if let Some(disabled) = catalog.disabled().iter().find(|d| d.component == name) {
                    out["disabled"] = Value::String(disabled.reason.clone());
                }
                out
            })
            .collect();
        structured(json!({ "components": components }))
    }

    async fn show(
        &self,
        request: &CallToolRequestParams,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            component: String,
        }
        let args: Args = match parse_args(request) {
            Ok(args) => args,
            Err(message) => return failed(record, Outcome::InvalidArguments, message),
        };
        record.component.clone_from(&args.component);
        let name = args.component;
        let shown = self
            .blocking(
                move |p| -> Result<(bool, String, Vec<Value>), ManageError> {
                    p.require_installed(&name)?;
                    let (policy, text) = p.current(&name)?;
                    let storage = p
                        .pins(&name)?
                        .as_slice()
                        .iter()
                        .map(|pin| {
                            json!({
                                "rule": if pin.is_allow() { "allow" } else { "deny" },
                                "uri": pin.uri.to_string(),
                                "path": pin.real.display().to_string(),
                            })
                        })
                        .collect();
                    Ok((text.is_some(), policy.to_yaml(), storage))
                },
            )
            .await;
        match shown {
            Ok(Ok((has_policy, policy, storage))) => structured(json!({
                "component": record.component,
                "has_policy": has_policy,
                "policy": policy,
                "storage": storage,
            })),
            Ok(Err(error)) => failed(record, Outcome::Refused, error.to_string()),
            Err(error) => failed(record, Outcome::Refused, error),
        }
    }

    async fn revoke(
        &self,
        request: &CallToolRequestParams,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let change = match parse_change(request, Direction::Revoke) {
            Ok(change) => change,
            Err(message) => return failed(record, Outcome::InvalidArguments, message),
        };
        note(record, &change, None);
        self.apply(change, None, Outcome::Applied, record).await
    }

    /// Applies `change`; for a storage grant, only if its path still
    /// resolves to `approved`, what the person was shown.
    async fn apply(
        &self,
        change: PolicyChange,
        approved: Option<Pin>,
        outcome: Outcome,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let applied = {
            let change = change.clone();
            self.blocking(move |p| p.apply(&change, approved.as_ref()))
                .await
        };
        match applied {
            Ok(Ok(changed)) => {
                record.outcome = outcome;
                record.digest = changed.digest;
                note(record, &change, changed.resolved.as_ref());
                let summary = change.summary_resolved(changed.resolved.as_ref());
                tracing::info!(component = %change.component, change = %summary, outcome = outcome.as_str(), "policy changed");
                let mut out = json!({
                    "component": change.component,
                    "change": summary,
                    "policy": changed.after,
                });
                if let Some(why) = changed.still_disabled {
                    out["still_disabled"] = Value::String(why);
                }
                structured(out)
            }
            Ok(Err(error)) => failed(record, Outcome::Refused, error.to_string()),
            Err(error) => failed(record, Outcome::Refused, error),
        }
    }

    async fn grant(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        record: &mut BuiltinRecord,
    ) -> CallToolResponse {
        let change = match parse_change(request, Direction::Grant) {
            Ok(change) => change,
            Err(message) => return failed(record, Outcome::InvalidArguments, message).into(),
        };
        note(record, &change, None);
        // Never ask a person to approve what would be refused anyway, and
        // resolve the path now: the person approves what it leads to.
        let preview = match self.preview(&change, record).await {
            Ok(preview) => preview,
            Err(refused) => return refused.into(),
        };
        if request.request_state.is_some() || request.input_responses.is_some() {
            return self
                .answered(request, change, preview.resolved, record)
                .await
                .into();
        }
        if self.options.allow_model_grants {
            return self
                .apply(change, preview.resolved, Outcome::AppliedUnapproved, record)
                .await
                .into();
        }
        let message = approval_message(&change, &preview);
        if !can_elicit(context) {
            let text = format!(
                "Not granted: weld applies a grant only when a person approves it, and this \
                 client cannot ask its user (it did not declare MCP elicitation{}). To grant \
                 it, the user can run:\n\n  {}\n\n{}.",
                if is_modern(context) {
                    ""
                } else {
                    ", or it is served over stateless HTTP, where weld cannot send requests"
                },
                self.command(&change),
                change.meaning(preview.resolved.as_ref())
            );
            return failed(record, Outcome::Refused, text).into();
        }
        if is_modern(context) {
            record.outcome = Outcome::ApprovalRequested;
            let state = self
                .approvals
                .issue(&change.binding(preview.resolved.as_ref()));
            let mut requests = std::collections::BTreeMap::new();
            requests.insert(
                APPROVE_KEY.to_string(),
                InputRequest::Elicitation(ElicitRequest::new(elicit_params(message))),
            );
            return InputRequiredResult::new(Some(requests), Some(state)).into();
        }
        let asked = tokio::select! {
            asked = context.peer.create_elicitation_with_timeout(elicit_params(message), Some(APPROVAL_TIMEOUT)) => asked,
            () = context.ct.cancelled() => {
                return failed(record, Outcome::Declined, "the request was cancelled before the user answered".into()).into();
            }
        };
        match asked {
            Ok(answer) => self
                .decide(change, preview.resolved, &answer, record)
                .await
                .into(),
            Err(error) => {
                let text = format!(
                    "Not granted: weld could not ask the user ({error}). To grant it, the user \
                     can run:\n\n  {}",
                    self.command(&change)
                );
                failed(record, Outcome::Refused, text).into()
            }
        }
    }

    /// The change previewed (checked, its path resolved), or the refusal.
    async fn preview(
        &self,
        change: &PolicyChange,
        record: &mut BuiltinRecord,
    ) -> Result<Changed, CallToolResult> {
        let preview = {
            let change = change.clone();
            self.blocking(move |p| p.preview(&change)).await
        };
        match preview {
            Ok(Ok(preview)) => {
                record.digest.clone_from(&preview.digest);
                note(record, change, preview.resolved.as_ref());
                Ok(preview)
            }
            Ok(Err(error)) => Err(failed(record, Outcome::Refused, error.to_string())),
            Err(error) => Err(failed(record, Outcome::Refused, error)),
        }
    }

    /// A 2026-07-28 retry: the approval must belong to exactly this change,
    /// with its path resolving to what it resolved to when the person was
    /// asked (`resolved`, as resolved again now).
    async fn answered(
        &self,
        request: &CallToolRequestParams,
        change: PolicyChange,
        resolved: Option<Pin>,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let Some(state) = &request.request_state else {
            return failed(
                record,
                Outcome::Refused,
                "an approval came without its requestState; call weld_request_grant again \
                 without inputResponses to ask the user"
                    .into(),
            );
        };
        if let Err(why) = self
            .approvals
            .redeem(state, &change.binding(resolved.as_ref()))
        {
            return failed(
                record,
                Outcome::Refused,
                format!(
                    "Not granted: {why}. Call weld_request_grant again (without inputResponses \
                     or requestState) to ask the user."
                ),
            );
        }
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(APPROVE_KEY))
            .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok());
        match answer {
            Some(answer) => self.decide(change, resolved, &answer, record).await,
            None => failed(
                record,
                Outcome::Refused,
                format!("Not granted: no answer to input request `{APPROVE_KEY}`."),
            ),
        }
    }

    async fn decide(
        &self,
        change: PolicyChange,
        resolved: Option<Pin>,
        answer: &ElicitResult,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let approved = answer.action == ElicitationAction::Accept
            && answer
                .content
                .as_ref()
                .and_then(|c| c.get("approve"))
                .and_then(Value::as_bool)
                == Some(true);
        if !approved {
            return failed(
                record,
                Outcome::Declined,
                format!("Not granted: the user declined ({}).", change.summary()),
            );
        }
        self.apply(change, resolved, Outcome::Applied, record).await
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

fn parse_args<T: serde::de::DeserializeOwned>(
    request: &CallToolRequestParams,
) -> Result<T, String> {
    let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
    serde_json::from_value(arguments).map_err(|e| format!("invalid arguments: {e}"))
}

/// The arguments of `weld_request_grant` and `weld_revoke`.
fn parse_change(
    request: &CallToolRequestParams,
    direction: Direction,
) -> Result<PolicyChange, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        component: String,
        kind: String,
        target: String,
        access: Option<Vec<String>>,
        secret: Option<bool>,
    }
    let args: Args = parse_args(request)?;
    weld_host::names::validate_name(&args.component)
        .map_err(|e| format!("invalid arguments: `component`: {e}"))?;
    if args.access.is_some() && args.kind != "storage" {
        return Err("invalid arguments: `access` applies to storage only".into());
    }
    if args.secret.is_some() && (args.kind != "env" || direction == Direction::Revoke) {
        return Err("invalid arguments: `secret` applies to env grants only".into());
    }
    let capability = match args.kind.as_str() {
        "storage" => {
            let default: &[&str] = match direction {
                Direction::Grant => &["read"],
                Direction::Revoke => &["read", "write"],
            };
            let access = match &args.access {
                Some(given) => {
                    weld_host::policy_admin::access_modes(given.iter().map(String::as_str))
                }
                None => weld_host::policy_admin::access_modes(default.iter().copied()),
            }
            .map_err(|e| format!("invalid arguments: `access`: {e}"))?;
            Capability::Storage {
                uri: args.target,
                access,
            }
        }
        "network" => Capability::Network {
            target: args.target,
        },
        "env" => Capability::Env {
            key: args.target,
            secret: args.secret.unwrap_or(false),
        },
        other => {
            return Err(format!(
                "invalid arguments: `kind` must be storage, network or env, not `{other}`"
            ));
        }
    };
    Ok(PolicyChange {
        component: args.component,
        direction,
        capability,
    })
}

/// What the person is shown: exactly what is asked, where its path really
/// leads, what it means, and the policy that would result.
fn approval_message(change: &PolicyChange, preview: &Changed) -> String {
    let mut message = format!(
        "A tool call asks weld to change the policy of component `{}`:\n\n  {}\n\n{}.\n\n",
        change.component,
        change.summary_resolved(preview.resolved.as_ref()),
        change.meaning(preview.resolved.as_ref())
    );
    let (before, after) = (preview.before.as_deref(), preview.after.as_str());
    match before {
        Some(before) => {
            message.push_str("Its policy now:\n\n");
            message.push_str(&indent(before));
        }
        None => message.push_str("It has no policy now (it may reach nothing).\n"),
    }
    message.push_str("\nIts policy if you approve:\n\n");
    message.push_str(&indent(after));
    message.push_str("\nApprove only if you trust this component with this access.");
    message
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn elicit_params(message: String) -> ElicitRequestParams {
    let schema = json!({
        "type": "object",
        "properties": {
            APPROVE_KEY: {
                "type": "boolean",
                "title": "Grant this access?",
                "description": "true grants exactly the change shown; anything else grants nothing."
            }
        },
        "required": [APPROVE_KEY]
    });
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: ElicitationSchema::from_json_schema(object(schema))
            .unwrap_or_else(|_| ElicitationSchema::new(Default::default())),
    }
}

fn is_modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
}

/// Whether the client declared form elicitation (an empty `elicitation`
/// object means form, for clients older than the `form`/`url` split).
fn can_elicit(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// Approvals awaited from 2026-07-28 clients. Nothing is kept per request
/// but the nonces already redeemed: the `requestState` carries an expiry, a
/// nonce and an HMAC-SHA256 over them and the canonical change, under a key
/// drawn when the process starts (so a restart voids pending approvals).
struct Approvals {
    key: [u8; 32],
    /// Redeemed nonces, until their expiry: each approval counts once.
    redeemed: Mutex<HashMap<String, u64>>,
}

impl Approvals {
    fn new() -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self {
            key,
            redeemed: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, expiry: u64, nonce: &str, binding: &str) -> Hmac<Sha256> {
        // The key is 32 bytes; HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(format!("weld-grant-approval-v2\n{expiry}\n{nonce}\n").as_bytes());
        mac.update(binding.as_bytes());
        mac
    }

    /// A `requestState` for the change `binding` names
    /// ([`PolicyChange::binding`]: the change and what its path resolves
    /// to): `v1.EXPIRY.NONCE.MAC`.
    fn issue(&self, binding: &str) -> String {
        let expiry = now() + APPROVAL_TIMEOUT.as_secs();
        let mut nonce = [0u8; 16];
        // A failed draw leaves zeros: the expiry still makes the state
        // unique enough to redeem once, and the MAC still binds it.
        let _ = getrandom::fill(&mut nonce);
        let nonce = hex::encode(nonce);
        let tag = hex::encode(self.mac(expiry, &nonce, binding).finalize().into_bytes());
        format!("v1.{expiry}.{nonce}.{tag}")
    }

    /// Checks that `state` was issued by this process for exactly
    /// `binding` (the same change, resolving to the same path), has not
    /// expired and was not redeemed before; marks it redeemed.
    fn redeem(&self, state: &str, binding: &str) -> Result<(), &'static str> {
        let mut parts = state.split('.');
        let (Some("v1"), Some(expiry), Some(nonce), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err("the requestState is not one weld issued");
        };
        let expiry: u64 = expiry
            .parse()
            .map_err(|_| "the requestState is not one weld issued")?;
        let tag = hex::decode(tag).map_err(|_| "the requestState is not one weld issued")?;
        self.mac(expiry, nonce, binding)
            .verify_slice(&tag)
            .map_err(|_| {
                "the approval does not match this request (different arguments, a path that \
                 now resolves elsewhere, another weld process, or an altered requestState)"
            })?;
        let now = now();
        if expiry < now {
            return Err("the approval has expired");
        }
        let mut redeemed = self.redeemed.lock().unwrap_or_else(|e| e.into_inner());
        redeemed.retain(|_, until| *until >= now);
        if redeemed.insert(nonce.to_string(), expiry).is_some() {
            return Err("this approval was already used");
        }
        Ok(())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(uri: &str) -> String {
        PolicyChange {
            component: "notes".into(),
            direction: Direction::Grant,
            capability: Capability::Storage {
                uri: uri.into(),
                access: vec![weld_policy::Access::Read],
            },
        }
        .binding(None)
    }

    fn pin(real: &str, ino: u64) -> weld_policy::Pin {
        weld_policy::Pin {
            uri: weld_policy::StorageUri::parse("fs:///a/**").expect("uri"),
            base: None,
            lexical: "/a".into(),
            real: real.into(),
            pinned: weld_policy::Pinned::Dir(weld_policy::Identity { dev: 1, ino }),
        }
    }

    #[test]
    fn an_approval_is_void_when_the_path_resolves_elsewhere_at_the_answer() {
        let approvals = Approvals::new().expect("key");
        let change = PolicyChange {
            component: "notes".into(),
            direction: Direction::Grant,
            capability: Capability::Storage {
                uri: "fs:///a/**".into(),
                access: vec![weld_policy::Access::Read],
            },
        };
        let shown = pin("/a", 7);
        let state = approvals.issue(&change.binding(Some(&shown)));
        for now in [pin("/home/me/.ssh", 7), pin("/a", 8)] {
            assert!(
                approvals
                    .redeem(&state, &change.binding(Some(&now)))
                    .is_err()
            );
        }
        assert_eq!(
            approvals.redeem(&state, &change.binding(Some(&shown))),
            Ok(())
        );
    }

    #[test]
    fn an_approval_redeems_once_and_only_for_its_change() {
        let approvals = Approvals::new().expect("key");
        let asked = change("fs:///a/**");
        let state = approvals.issue(&asked);
        assert!(approvals.redeem(&state, &change("fs:///b/**")).is_err());
        assert_eq!(approvals.redeem(&state, &asked), Ok(()));
        assert_eq!(
            approvals.redeem(&state, &asked),
            Err("this approval was already used")
        );
    }

    #[test]
    fn an_altered_or_foreign_request_state_is_refused() {
        let approvals = Approvals::new().expect("key");
        let asked = change("fs:///a/**");
        let state = approvals.issue(&asked);
        let later = state.replacen("v1.", "v1.9", 1);
        assert!(approvals.redeem(&later, &asked).is_err());
        assert!(approvals.redeem("v1.1.2.3", &asked).is_err());
        assert!(approvals.redeem("", &asked).is_err());
        let other = Approvals::new().expect("key");
        assert!(other.redeem(&state, &asked).is_err());
    }

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
}
