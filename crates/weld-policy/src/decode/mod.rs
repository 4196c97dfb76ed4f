//! Policy text → [`Policy`]: the document read into the spanned tree
//! (`yaml.rs`, `json.rs`), then every field checked and every error placed.
//! The parse entry points of [`Policy`] live here, so `policy.rs` (the type
//! and its cross-rule checks) never reads text.

mod compat;
mod fields;
mod net;

use fields::{Fields, count, empty, fields_all, invalid, list, place, section, string, wrong_type};

use crate::env::{EnvKey, EnvRule, EnvSource};
use crate::error::{ErrorKind, Location, PolicyError};
use crate::interfaces::{InterfacePattern, Interfaces};
use crate::limits::{self, ByteSize, Concurrency, Excess, Limits};
use crate::policy::{Policy, Spans};
use crate::storage::{Access, AccessSet, StorageAllow, StorageDeny, StorageRules, StorageUri};
use crate::tree::{self, Node, Value};
use crate::{json, yaml};

/// The longest description weld accepts, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

impl Policy {
    /// Parses and validates a YAML policy.
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse_yaml(text: &str) -> Result<Policy, PolicyError> {
        let root = yaml::read(text)?;
        decode(root.as_ref()).map_err(first)
    }

    /// Parses and validates a JSON policy (same schema as YAML).
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse_json(text: &str) -> Result<Policy, PolicyError> {
        let root = json::read(text)?;
        decode(root.as_ref()).map_err(first)
    }

    /// Parses JSON if the first character that is not whitespace (or a
    /// byte-order mark) is `{` or `[`, YAML otherwise. (A YAML policy in flow
    /// style, `{version: …}`, must therefore be parsed with
    /// [`Policy::parse_yaml`].)
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        Self::parse_all(text).map_err(first)
    }

    /// Like [`Policy::parse`], but on failure every problem found (at least
    /// one): section by section in document order, a mapping's unknown keys
    /// before its values. A document that is not well-formed
    /// YAML or JSON has one error: where reading stopped. Otherwise each
    /// rule and field is checked on its own, so one bad rule does not hide
    /// the next; checks across rules run on the rules that were valid.
    ///
    /// # Errors
    /// Every problem found, each at its line and column.
    pub fn parse_all(text: &str) -> Result<Policy, Vec<PolicyError>> {
        let start = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_ascii_whitespace());
        let root = if start.starts_with(['{', '[']) {
            json::read(text)
        } else {
            yaml::read(text)
        };
        decode(root.map_err(|e| vec![e])?.as_ref())
    }
}

fn first(mut errors: Vec<PolicyError>) -> PolicyError {
    // `decode` never fails with an empty list; the fallback only keeps this
    // total.
    if errors.is_empty() {
        tree::empty_document()
    } else {
        errors.swap_remove(0)
    }
}

/// The policy-mcp and Wassette format versions weld reads: the same
/// document shape, with the same meaning.
const VERSIONS: &[&str] = &["1.0", "1.1"];

/// Reads a document tree into a policy; on failure, every error found in
/// document order.
fn decode(root: Option<&Node>) -> Result<Policy, Vec<PolicyError>> {
    let root = match root {
        None => return Err(vec![tree::empty_document()]),
        Some(n) if matches!(n.value, Value::Null) => return Err(vec![tree::empty_document()]),
        Some(n) => n,
    };
    if !matches!(root.value, Value::Map(_)) {
        return Err(vec![PolicyError::at(
            ErrorKind::WrongType,
            root.at,
            format!(
                "a policy is a mapping with `version` (and usually `description` and `permissions`), found {}",
                root.value.describe()
            ),
        )]);
    }
    let mut errs = Vec::new();
    let top = match fields_all(
        root,
        "policy",
        &["version", "description", "permissions", "$schema"],
        &[],
        &mut errs,
    ) {
        Ok(top) => top,
        Err(e) => return Err(vec![e]),
    };
    match top.get("version") {
        None => errs.push(PolicyError::at(
            ErrorKind::MissingField,
            root.at,
            "the policy has no `version`; add `version: \"1.0\"` as its first line",
        )),
        Some(v) => {
            keep(&mut errs, version(v));
        }
    }
    if let Some(n) = top.get("$schema") {
        // A JSON Schema reference for editors (policy-mcp's `$schema`):
        // read as text, and not kept.
        keep(&mut errs, string(n, "$schema").map(|_| ()));
    }
    let description = top
        .get("description")
        .and_then(|n| keep(&mut errs, description(n)));
    let mut policy = Policy {
        description,
        ..Policy::deny_all()
    };
    let mut spans = Spans::default();
    if let Some(perms) = top.get("permissions") {
        permissions(perms, &mut policy, &mut spans, &mut errs);
    }
    keep(&mut errs, policy.validate(Some(&spans)));
    if errs.is_empty() {
        Ok(policy)
    } else {
        Err(errs)
    }
}

/// Both values, or the error of one (the other's, if it failed too, kept).
fn both<A, B>(
    a: Result<A, PolicyError>,
    b: Result<B, PolicyError>,
    errs: &mut Vec<PolicyError>,
) -> Result<(A, B), PolicyError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(f)) => {
            errs.push(e);
            Err(f)
        }
    }
}

/// The value of `result`, or `None` with its error kept for the report.
fn keep<T>(errs: &mut Vec<PolicyError>, result: Result<T, PolicyError>) -> Option<T> {
    result.map_err(|e| errs.push(e)).ok()
}

fn version(node: &Node) -> Result<(), PolicyError> {
    match &node.value {
        Value::Str(v) if VERSIONS.contains(&v.as_str()) => Ok(()),
        Value::Str(v) => Err(invalid(
            node,
            "version",
            format!(
                "weld reads policy versions \"1.0\" and \"1.1\" (the same format), not \"{}\"",
                v.escape_debug()
            ),
        )),
        _ => Err(PolicyError::at(
            ErrorKind::WrongType,
            node.at,
            format!(
                "`version` must be the string \"1.0\" (in quotes), found {}",
                node.value.describe()
            ),
        )),
    }
}

fn description(node: &Node) -> Result<String, PolicyError> {
    let text = string(node, "description")?;
    if text.is_empty() {
        return Err(empty(
            node,
            "description",
            "describe the policy or remove the field",
        ));
    }
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            node,
            "description",
            format!("longer than {MAX_DESCRIPTION_CHARS} characters; shorten it"),
        ));
    }
    if let Some(c) = text.chars().find(|c| is_refused_in_text(*c)) {
        return Err(invalid(
            node,
            "description",
            format!(
                "contains U+{:04X}; weld shows descriptions to people and refuses control and bidirectional-formatting characters (other than newline and tab) — remove it",
                u32::from(c)
            ),
        ));
    }
    Ok(text.to_owned())
}

/// Characters that could spoof what a person sees: C0/C1 controls (except
/// newline and tab), DEL, and the Unicode bidirectional formatting marks.
pub(crate) fn is_refused_in_text(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn permissions(node: &Node, policy: &mut Policy, spans: &mut Spans, errs: &mut Vec<PolicyError>) {
    // `permissions: {}` is policy-mcp's way to grant nothing.
    if matches!(&node.value, Value::Map(e) if e.is_empty()) {
        return;
    }
    if matches!(node.value, Value::Null) {
        errs.push(empty(
            node,
            "permissions",
            "remove it, or write `permissions: {}`",
        ));
        return;
    }
    let f = fields_all(
        node,
        "permissions",
        &[
            "storage",
            "network",
            "environment",
            "interfaces",
            "resources",
            "runtime",
        ],
        &[("ipc", "weld gives tools no IPC; remove `ipc`")],
        errs,
    );
    let Some(f) = keep(errs, f) else {
        return;
    };
    // In document order, so the errors are too.
    for (key, n) in f.in_order() {
        match key {
            "storage" => policy.storage = storage(n, spans, errs),
            "network" => policy.network = net::network(n, spans, errs),
            "environment" => policy.environment = environment(n, spans, errs),
            "interfaces" => {
                if let Some(i) = keep(errs, interfaces(n, spans)) {
                    policy.interfaces = i;
                }
            }
            "resources" => {
                let r = resources(n, errs);
                if let Some(l) = keep(errs, r) {
                    policy.limits = l;
                }
            }
            "runtime" => compat::runtime(n, errs),
            _ => {}
        }
    }
}

fn storage(node: &Node, spans: &mut Spans, errs: &mut Vec<PolicyError>) -> StorageRules {
    let mut rules = StorageRules::default();
    let Some(f) = keep(
        errs,
        section(node, "permissions.storage", &["allow", "deny"], &[]),
    ) else {
        return rules;
    };
    if let Some(allow) = f.get("allow") {
        let items = list(
            allow,
            "permissions.storage.allow",
            "remove it or add a rule",
        );
        for (i, item) in keep(errs, items).unwrap_or_default().iter().enumerate() {
            let path = format!("permissions.storage.allow[{i}]");
            if let Some(rule) = {
                let r = storage_allow(item, &path, errs);
                keep(errs, r)
            } {
                spans.storage_allow.push(item.at);
                rules.allow.push(rule);
            }
        }
    }
    if let Some(deny) = f.get("deny") {
        let items = list(deny, "permissions.storage.deny", "remove it or add a rule");
        for (i, item) in keep(errs, items).unwrap_or_default().iter().enumerate() {
            let path = format!("permissions.storage.deny[{i}]");
            if let Some(rule) = {
                let r = storage_deny(item, &path, errs);
                keep(errs, r)
            } {
                spans.storage_deny.push(item.at);
                rules.deny.push(rule);
            }
        }
    }
    rules
}

fn storage_allow(
    item: &Node,
    path: &str,
    errs: &mut Vec<PolicyError>,
) -> Result<StorageAllow, PolicyError> {
    let r = fields_all(item, path, &["uri", "access"], &[], errs)?;
    let uri = storage_uri(&r, item, path);
    let Some(access_node) = r.get("access") else {
        uri?;
        return Err(PolicyError::at(
            ErrorKind::MissingField,
            item.at,
            format!("`{path}` has no `access`; add `access: [read]` or `access: [read, write]`"),
        ));
    };
    let access = access_list(access_node, &format!("{path}.access"));
    let (uri, access) = both(uri, access, errs)?;
    if access == AccessSet::WRITE {
        return Err(PolicyError::at(
            ErrorKind::Conflict,
            access_node.at,
            format!(
                "`{path}.access` is [write] without read; weld cannot grant write without read (WASI preopens are read-only or read-write) — write `[read, write]`"
            ),
        ));
    }
    Ok(StorageAllow { uri, access })
}

fn storage_deny(
    item: &Node,
    path: &str,
    errs: &mut Vec<PolicyError>,
) -> Result<StorageDeny, PolicyError> {
    let r = fields_all(item, path, &["uri", "access"], &[], errs)?;
    let uri = storage_uri(&r, item, path);
    let access = match r.get("access") {
        Some(n) => access_list(n, &format!("{path}.access")),
        None => Ok(AccessSet::READ_WRITE),
    };
    let (uri, access) = both(uri, access, errs)?;
    Ok(StorageDeny { uri, access })
}

fn storage_uri(r: &Fields<'_>, item: &Node, path: &str) -> Result<StorageUri, PolicyError> {
    let Some(n) = r.get("uri") else {
        return Err(PolicyError::at(
            ErrorKind::MissingField,
            item.at,
            format!("`{path}` has no `uri`; add e.g. `uri: \"fs:///absolute/dir/**\"`"),
        ));
    };
    let uri_path = format!("{path}.uri");
    StorageUri::parse(string(n, &uri_path)?).map_err(|e| place(e, n, &uri_path))
}

fn access_list(node: &Node, path: &str) -> Result<AccessSet, PolicyError> {
    let mut seen: Vec<Access> = Vec::new();
    for (j, item) in list(node, path, "write `[read]` or `[read, write]`")?
        .iter()
        .enumerate()
    {
        let item_path = format!("{path}[{j}]");
        let access = match string(item, &item_path)? {
            "read" => Access::Read,
            "write" => Access::Write,
            other => {
                return Err(invalid(
                    item,
                    &item_path,
                    format!(
                        "unknown access `{}`; expected `read` or `write`",
                        other.escape_debug()
                    ),
                ));
            }
        };
        if seen.contains(&access) {
            return Err(PolicyError::at(
                ErrorKind::Duplicate,
                item.at,
                format!("`{path}` lists `{access}` twice; list it once"),
            ));
        }
        seen.push(access);
    }
    Ok(AccessSet::of(&seen))
}

fn environment(node: &Node, spans: &mut Spans, errs: &mut Vec<PolicyError>) -> Vec<EnvRule> {
    let mut rules = Vec::new();
    let f = section(
        node,
        "permissions.environment",
        &["allow"],
        &[(
            "deny",
            "the environment has no deny list: a tool sees only the keys under `allow` — remove `deny`",
        )],
    );
    let Some(f) = keep(errs, f) else {
        return rules;
    };
    if let Some(allow) = f.get("allow") {
        let items = list(
            allow,
            "permissions.environment.allow",
            "remove it or add a key",
        );
        for (i, item) in keep(errs, items).unwrap_or_default().iter().enumerate() {
            let path = format!("permissions.environment.allow[{i}]");
            if let Some(rule) = {
                let r = env_rule(item, &path, errs);
                keep(errs, r)
            } {
                spans.env.push(item.at);
                rules.push(rule);
            }
        }
    }
    rules
}

fn env_rule(item: &Node, path: &str, errs: &mut Vec<PolicyError>) -> Result<EnvRule, PolicyError> {
    let r = fields_all(item, path, &["key", "from"], &[], errs)?;
    let Some(k) = r.get("key") else {
        return Err(PolicyError::at(
            ErrorKind::MissingField,
            item.at,
            format!("`{path}` has no `key`; add e.g. `key: \"GITHUB_TOKEN\"`"),
        ));
    };
    let key_path = format!("{path}.key");
    let key = EnvKey::parse(string(k, &key_path)?).map_err(|e| place(e, k, &key_path))?;
    let from = match r.get("from") {
        None => EnvSource::Host,
        Some(n) => {
            let from_path = format!("{path}.from");
            match string(n, &from_path)? {
                "host" => EnvSource::Host,
                "secret" => EnvSource::Secret,
                other => {
                    return Err(invalid(
                        n,
                        &from_path,
                        format!(
                            "unknown source `{}`; expected `host` (weld's own environment) or `secret` (weld's secret store)",
                            other.escape_debug()
                        ),
                    ));
                }
            }
        }
    };
    Ok(EnvRule { key, from })
}

fn interfaces(node: &Node, spans: &mut Spans) -> Result<Interfaces, PolicyError> {
    let f = section(node, "permissions.interfaces", &["allow", "deny"], &[])?;
    let read =
        |key: &str, at: &mut Vec<Location>| -> Result<Option<Vec<InterfacePattern>>, PolicyError> {
            let Some(n) = f.get(key) else { return Ok(None) };
            let path = format!("permissions.interfaces.{key}");
            let mut out = Vec::new();
            for (j, item) in list(n, &path, "remove it or list interface patterns")?
                .iter()
                .enumerate()
            {
                let item_path = format!("{path}[{j}]");
                out.push(
                    InterfacePattern::parse(string(item, &item_path)?)
                        .map_err(|e| place(e, item, &item_path))?,
                );
                at.push(item.at);
            }
            Ok(Some(out))
        };
    let allow = read("allow", &mut spans.iface_allow)?;
    let deny = read("deny", &mut spans.iface_deny)?.unwrap_or_default();
    Ok(Interfaces { allow, deny })
}

fn resources(node: &Node, errs: &mut Vec<PolicyError>) -> Result<Limits, PolicyError> {
    let f = section(
        node,
        "permissions.resources",
        &["limits"],
        &[
            (
                "cpu",
                "weld limits CPU by wall-clock time and fuel: use `limits: { timeout: \"10s\" }` (and `fuel`) — remove `cpu`",
            ),
            (
                "memory",
                "put memory under `limits`, with a unit: `limits: { memory: \"512Mi\" }` (policy-mcp's plain number of megabytes is not accepted)",
            ),
            ("io", "weld does not limit I/O operations; remove `io`"),
        ],
    )?;
    let Some(node) = f.get("limits") else {
        return Err(empty(
            node,
            "permissions.resources",
            "add `limits` or remove it",
        ));
    };
    let path = "permissions.resources.limits";
    if matches!(node.value, Value::Null) || matches!(&node.value, Value::Map(e) if e.is_empty()) {
        return Err(empty(node, path, "remove it"));
    }
    let f = fields_all(
        node,
        path,
        &["memory", "timeout", "output", "concurrency", "fuel"],
        &[(
            "cpu",
            "weld cannot hold a tool to a share of a CPU (`500m`, `2`): each call runs guest code on one thread, and several calls run at once — bound a call by `timeout` (wall-clock time) and `fuel` (instructions executed), and the number of calls by `concurrency`; remove `cpu`",
        )],
        errs,
    )?;
    let mut limits = Limits::default();
    if let Some(n) = f.get("memory") {
        let p = format!("{path}.memory");
        limits.memory = keep(
            errs,
            size(n, &p).and_then(|s| limits::check_memory(s).map_err(|m| invalid(n, &p, m))),
        );
    }
    if let Some(n) = f.get("output") {
        let p = format!("{path}.output");
        limits.output = keep(
            errs,
            size(n, &p).and_then(|s| limits::check_output(s).map_err(|m| invalid(n, &p, m))),
        );
    }
    if let Some(n) = f.get("timeout") {
        limits.timeout = keep(errs, timeout(n, &format!("{path}.timeout")));
    }
    if let Some(n) = f.get("concurrency") {
        limits.concurrency = keep(errs, concurrency(n, &format!("{path}.concurrency")));
    }
    if let Some(n) = f.get("fuel") {
        limits.fuel = keep(errs, count(n, &format!("{path}.fuel"), u64::MAX));
    }
    Ok(limits)
}

fn timeout(n: &Node, p: &str) -> Result<std::time::Duration, PolicyError> {
    let text = match &n.value {
        Value::Str(s) | Value::Int(s) | Value::Float(s) => s,
        _ => return Err(wrong_type(n, p, "a duration like `10s`")),
    };
    let d = limits::parse_duration(text).map_err(|m| invalid(n, p, m))?;
    limits::check_timeout(d).map_err(|m| invalid(n, p, m))
}

/// `concurrency: 4` (extra calls wait) or `concurrency: { max: 4, excess:
/// wait|refuse }`.
fn concurrency(node: &Node, path: &str) -> Result<Concurrency, PolicyError> {
    let max = |n: &Node, p: &str| {
        count(n, p, u64::from(u32::MAX)).map(|c| u32::try_from(c).unwrap_or(u32::MAX))
    };
    match &node.value {
        Value::Int(_) => max(node, path).map(Concurrency::waiting),
        Value::Map(_) => {
            let f = section(node, path, &["max", "excess"], &[])?;
            let Some(max_node) = f.get("max") else {
                return Err(PolicyError::at(
                    ErrorKind::MissingField,
                    node.at,
                    format!(
                        "`{path}` has no `max`; add the number of calls that may run at once, e.g. `{{ max: 4, excess: refuse }}`"
                    ),
                ));
            };
            let max = max(max_node, &format!("{path}.max"))?;
            let excess = match f.get("excess") {
                None => Excess::Wait,
                Some(n) => {
                    let p = format!("{path}.excess");
                    match string(n, &p)? {
                        "wait" => Excess::Wait,
                        "refuse" => Excess::Refuse,
                        other => {
                            return Err(invalid(
                                n,
                                &p,
                                format!(
                                    "unknown value `{}`; expected `wait` (extra calls wait for a running one to finish) or `refuse` (extra calls fail at once with an error)",
                                    other.escape_debug()
                                ),
                            ));
                        }
                    }
                }
            };
            Ok(Concurrency { max, excess })
        }
        _ => Err(wrong_type(
            node,
            path,
            "a whole number, or a mapping like `{ max: 4, excess: refuse }`",
        )),
    }
}

fn size(node: &Node, path: &str) -> Result<ByteSize, PolicyError> {
    match &node.value {
        Value::Str(s) | Value::Int(s) | Value::Float(s) => {
            ByteSize::parse(s).map_err(|m| invalid(node, path, m))
        }
        _ => Err(wrong_type(
            node,
            path,
            "a size like `128Mi` or a number of bytes",
        )),
    }
}
