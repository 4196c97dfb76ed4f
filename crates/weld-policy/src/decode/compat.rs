//! `permissions.runtime`, as policy-mcp and Wassette policies write it:
//! settings for the container or VM a tool runs in. weld runs every tool in
//! its own WebAssembly sandbox, so none of them configures anything here; a
//! setting is accepted only when weld's sandbox already holds the tool to
//! it (nothing privileged, no capability added, an empty Hyperlight
//! section), and refused, with the reason, when it asks for something weld
//! does not give. Nothing of this section is kept: the policy means the
//! same without it.

use super::fields::{fields_all, invalid, list, string, wrong_type};
use crate::error::{ErrorKind, PolicyError};
use crate::tree::{Node, Value};

/// Checks `permissions.runtime`, keeping every problem in `errs`.
pub(super) fn runtime(node: &Node, errs: &mut Vec<PolicyError>) {
    if is_empty(node) {
        return;
    }
    let path = "permissions.runtime";
    let Ok(f) = fields_all(node, path, &["docker", "hyperlight", "wasm"], &[], errs)
        .map_err(|e| errs.push(e))
    else {
        return;
    };
    if let Some(n) = f.get("docker") {
        docker(n, errs);
    }
    if let Some(n) = f.get("hyperlight")
        && !is_empty(n)
    {
        errs.push(refuse(
            n,
            "permissions.runtime.hyperlight",
            "weld runs tools in Wasmtime, not Hyperlight, and takes no settings for it — remove `hyperlight`",
        ));
    }
    if let Some(n) = f.get("wasm") {
        errs.push(refuse(
            n,
            "permissions.runtime.wasm",
            "weld chooses the engine and the module and sets up WASI from the permissions — grant directories under `storage` (not `preopens`), list variables under `environment` (not `inherit_env`); a tool's arguments are those of each call — remove `wasm`",
        ));
    }
}

fn docker(node: &Node, errs: &mut Vec<PolicyError>) {
    if is_empty(node) {
        return;
    }
    let path = "permissions.runtime.docker";
    let Ok(f) = fields_all(node, path, &["security"], &[], errs).map_err(|e| errs.push(e)) else {
        return;
    };
    let Some(security) = f.get("security").filter(|n| !is_empty(n)) else {
        return;
    };
    let path = "permissions.runtime.docker.security";
    let Ok(f) = fields_all(
        security,
        path,
        &["privileged", "no_new_privileges", "capabilities"],
        &[],
        errs,
    )
    .map_err(|e| errs.push(e)) else {
        return;
    };
    if let Some(n) = f.get("privileged") {
        match n.value {
            Value::Bool(false) => {}
            Value::Bool(true) => errs.push(refuse(
                n,
                &format!("{path}.privileged"),
                "weld cannot run a tool privileged: a component runs in weld's WebAssembly sandbox and reaches only what `storage`, `network` and `environment` grant — remove it, or write `false`",
            )),
            _ => errs.push(wrong_type(n, &format!("{path}.privileged"), "true or false")),
        }
    }
    // A component cannot execute a program, so it has no privileges to
    // gain either way.
    if let Some(n) = f.get("no_new_privileges")
        && !matches!(n.value, Value::Bool(_))
    {
        errs.push(wrong_type(
            n,
            &format!("{path}.no_new_privileges"),
            "true or false",
        ));
    }
    if let Some(n) = f.get("capabilities").filter(|n| !is_empty(n)) {
        capabilities(n, &format!("{path}.capabilities"), errs);
    }
}

fn capabilities(node: &Node, path: &str, errs: &mut Vec<PolicyError>) {
    let Ok(f) = fields_all(node, path, &["drop", "add"], &[], errs).map_err(|e| errs.push(e))
    else {
        return;
    };
    // Dropping is always satisfied: a component holds no capability.
    if let Some(n) = f.get("drop").filter(|n| !is_empty(n)) {
        strings(n, &format!("{path}.drop"), errs);
    }
    if let Some(n) = f.get("add").filter(|n| !is_empty(n)) {
        let p = format!("{path}.add");
        if strings(n, &p, errs) {
            errs.push(refuse(
                n,
                &p,
                "weld gives tools no Linux capabilities (a component makes no system calls of its own; it reaches the network only through `network` rules, and never listens) — remove `add`",
            ));
        }
    }
}

/// Whether `node` is a list of strings; each item that is not is kept.
fn strings(node: &Node, path: &str, errs: &mut Vec<PolicyError>) -> bool {
    let Ok(items) = list(node, path, "remove it").map_err(|e| errs.push(e)) else {
        return false;
    };
    let before = errs.len();
    for (i, item) in items.iter().enumerate() {
        if let Err(e) = string(item, &format!("{path}[{i}]")) {
            errs.push(e);
        }
    }
    errs.len() == before
}

/// `key:`, `key: {}` and `key: []` say nothing.
fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Null => true,
        Value::Map(e) => e.is_empty(),
        Value::Seq(s) => s.is_empty(),
        _ => false,
    }
}

fn refuse(node: &Node, path: &str, why: &str) -> PolicyError {
    let e = invalid(node, path, why);
    PolicyError::at(ErrorKind::UnknownField, node.at, e.message())
}
