//! `weld_list_components` and `weld_show_policy`: the read-only tools.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde::Deserialize;
use serde_json::{Value, json};
use weld_host::audit::BuiltinRecord;
use weld_host::catalog::LiveCatalog;
use weld_host::outcome::Outcome;
use weld_host::policy_admin::ManageError;

use super::args::parse_args;
use super::{Management, failed, structured};

impl Management {
    pub(super) async fn list(
        &self,
        live: &LiveCatalog,
        record: &mut BuiltinRecord,
    ) -> CallToolResult {
        let catalog = live.snapshot();
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
        // By the tool's component, not its name's prefix: `a_b_f` may be
        // component `a_b`'s tool `f` or component `a`'s tool `b_f`.
        let tools_of = |component: &str| -> Vec<&str> {
            catalog
                .tools()
                .iter()
                .map(|t| t.name.as_str())
                .filter(|t| catalog.tool_component(t) == Some(component))
                .collect()
        };
        // What an MCP server component offers besides tools, when it does.
        let offers = |component: &str, out: &mut Value| {
            let of = |c: &weld_host::mcp::McpComponent| c.name == component;
            let resources: Vec<&str> = (catalog.resources().iter())
                .filter(|r| of(&r.component))
                .map(|r| r.def.uri.as_str())
                .collect();
            let templates: Vec<&str> = (catalog.resource_templates().iter())
                .filter(|t| of(&t.component))
                .map(|t| t.def.uri_template.as_str())
                .collect();
            let prompts: Vec<&str> = (catalog.prompts().iter())
                .filter(|p| of(&p.component))
                .map(|p| p.name.as_str())
                .collect();
            for (key, list) in [
                ("resources", resources),
                ("resource_templates", templates),
                ("prompts", prompts),
            ] {
                if !list.is_empty() {
                    out[key] = json!(list);
                }
            }
        };
        let components: Vec<Value> = listed
            .into_iter()
            .map(|(name, digest, source, has_policy)| {
                let tools = tools_of(&name);
                let mut out = json!({"name": name, "digest": digest, "source": source, "tools": tools, "has_policy": has_policy});
                offers(&name, &mut out);
                if let Some(disabled) = catalog
                    .disabled()
                    .iter()
                    .find(|d| d.component == name && d.file.is_none())
                {
                    out["disabled"] = Value::String(disabled.reason.clone());
                }
                out
            })
            // Files given with --component: served…
            .chain(catalog.served_files().iter().map(|served| {
                let tools = tools_of(&served.component);
                let mut out = json!({
                    "name": served.component,
                    "digest": served.digest,
                    "source": format!("file {} (--component)", served.file.display()),
                    "tools": tools,
                    "has_policy": false,
                });
                offers(&served.component, &mut out);
                out
            }))
            // …and not.
            .chain(catalog.disabled().iter().filter_map(|d| {
                let file = d.file.as_ref()?;
                Some(json!({
                    "name": d.component,
                    "digest": d.digest(),
                    "source": format!("file {} (--component)", file.display()),
                    "tools": [],
                    "has_policy": false,
                    "disabled": d.reason,
                }))
            }))
            .collect();
        structured(json!({ "components": components }))
    }

    pub(super) async fn show(
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
}
