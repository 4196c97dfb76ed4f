//! Reading a built-in tool's arguments: every unknown key refused, every
//! value checked before anything is looked up, and each error naming the
//! argument at fault.

use rmcp::model::CallToolRequestParams;
use serde::Deserialize;
use serde_json::Value;
use weld_host::policy_admin::{Capability, Direction, PolicyChange};

pub(super) fn parse_args<T: serde::de::DeserializeOwned>(
    request: &CallToolRequestParams,
) -> Result<T, String> {
    let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
    serde_json::from_value(arguments).map_err(|e| format!("invalid arguments: {e}"))
}

/// The arguments of `weld_request_grant` and `weld_revoke`.
pub(super) fn parse_change(
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
