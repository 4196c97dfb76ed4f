//! The built-in tools' JSON Schemas, written by hand: they are the contract
//! a model reads, so each description says what a value means and what
//! weld does with it. `tools.json` next to this file pins them as listed.

use rmcp::model::JsonObject;
use serde_json::{Value, json};

pub(super) fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

fn component_property() -> Value {
    json!({
        "type": "string",
        "description": "The installed component's name (the part of its tool names before the first `_`).",
        "pattern": "^[a-z][a-z0-9-]{0,63}$"
    })
}

pub(super) fn component_input() -> Value {
    json!({
        "type": "object",
        "properties": {"component": component_property()},
        "required": ["component"],
        "additionalProperties": false
    })
}

pub(super) fn change_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "component": component_property(),
            "kind": {
                "type": "string",
                "enum": ["storage", "network", "env"],
                "description": "storage: a directory tree or a file; network: a host, over HTTPS unless the target names another scheme; env: an environment variable."
            },
            "target": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "description": "storage: a URI such as fs:///home/me/notes/** or fs:///home/me/notes/todo.md, by its real path (a path through a symlink is refused, naming where it leads); fs://./dir/** is under the base directory the operator gave weld (--base-dir), if any; network: HOST[:PORT] for HTTPS (port 443 if omitted), or SCHEME://HOST[:PORT] with http, https, tcp or udp (http and https default to ports 80 and 443; tcp and udp need a port), e.g. http://127.0.0.1:8080; no path; env: the variable's name."
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

pub(super) fn change_output() -> Value {
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

pub(super) fn install_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "source": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2048,
                "description": "oci://REGISTRY/REPOSITORY:TAG, oci://REGISTRY/REPOSITORY@sha256:HEX, or an https:// URL of a .wasm component. Local paths are refused: a person installs those."
            },
            "name": {
                "type": "string",
                "description": "The name to install it under (default: the repository's or file's last segment); its tools are named NAME_FUNCTION.",
                "pattern": "^[a-z][a-z0-9-]{0,63}$"
            }
        },
        "required": ["source"],
        "additionalProperties": false
    })
}

pub(super) fn install_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "installed": {"type": "string", "description": "The name it was installed under."},
            "digest": {"type": "string", "description": "The sha256 digest of the component installed."},
            "tools": {"type": "array", "items": {"type": "string"}, "description": "The tools it serves; a running weld lists them within a second."},
            "note": {"type": "string"}
        },
        "required": ["installed", "digest", "tools", "note"],
        "additionalProperties": false
    })
}

pub(super) fn show_output() -> Value {
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

pub(super) fn list_output() -> Value {
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
                        "disabled": {"type": "string", "description": "Present when none of its tools is served, and why (it could not be loaded, or a grant can no longer be honoured)."},
                        "resources": {"type": "array", "items": {"type": "string"}, "description": "Present for an MCP server component that offers resources: their URIs."},
                        "resource_templates": {"type": "array", "items": {"type": "string"}, "description": "Present for an MCP server component that offers resource templates: their URI templates."},
                        "prompts": {"type": "array", "items": {"type": "string"}, "description": "Present for an MCP server component that offers prompts: their names."}
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

pub(super) fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}
