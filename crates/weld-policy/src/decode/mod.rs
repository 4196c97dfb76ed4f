//! Policy text → [`Policy`]: the document read into the spanned tree
//! (`yaml.rs`, `json.rs`), then every field checked and every error placed.
//! The parse entry points of [`Policy`] live here, so `policy.rs` (the type
//! and its cross-rule checks) never reads text.

mod fields;

use fields::{Fields, count, empty, fields, invalid, list, place, section, string, wrong_type};

use crate::env::{EnvKey, EnvRule, EnvSource};
use crate::error::{ErrorKind, Location, PolicyError};
use crate::interfaces::{InterfacePattern, Interfaces};
use crate::limits::{self, ByteSize, Concurrency, Excess, Limits};
use crate::network::{
    self, Cidr, HostPattern, NetTarget, NetworkAllow, NetworkDeny, NetworkRules, Scheme,
};
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
        decode(root.as_ref()).map(|(p, _)| p)
    }

    /// Parses and validates a JSON policy (same schema as YAML).
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse_json(text: &str) -> Result<Policy, PolicyError> {
        let root = json::read(text)?;
        decode(root.as_ref()).map(|(p, _)| p)
    }

    /// Parses JSON if the first character that is not whitespace (or a
    /// byte-order mark) is `{` or `[`, YAML otherwise. (A YAML policy in flow
    /// style, `{version: …}`, must therefore be parsed with
    /// [`Policy::parse_yaml`].)
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let start = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_ascii_whitespace());
        if start.starts_with(['{', '[']) {
            Self::parse_json(text)
        } else {
            Self::parse_yaml(text)
        }
    }
}

/// Reads a document tree into a policy and the places of its rules.
fn decode(root: Option<&Node>) -> Result<(Policy, Spans), PolicyError> {
    let root = match root {
        None => return Err(tree::empty_document()),
        Some(n) if matches!(n.value, Value::Null) => return Err(tree::empty_document()),
        Some(n) => n,
    };
    if !matches!(root.value, Value::Map(_)) {
        return Err(PolicyError::at(
            ErrorKind::WrongType,
            root.at,
            format!(
                "a policy is a mapping with `version` (and usually `description` and `permissions`), found {}",
                root.value.describe()
            ),
        ));
    }
    let top = fields(
        root,
        "policy",
        &["version", "description", "permissions"],
        &[],
    )?;
    let Some(version) = top.get("version") else {
        return Err(PolicyError::at(
            ErrorKind::MissingField,
            root.at,
            "the policy has no `version`; add `version: \"1.0\"` as its first line",
        ));
    };
    match &version.value {
        Value::Str(v) if v == "1.0" => {}
        Value::Str(v) => {
            return Err(invalid(
                version,
                "version",
                format!(
                    "weld reads policy version \"1.0\", not \"{}\"",
                    v.escape_debug()
                ),
            ));
        }
        _ => {
            return Err(PolicyError::at(
                ErrorKind::WrongType,
                version.at,
                format!(
                    "`version` must be the string \"1.0\" (in quotes), found {}",
                    version.value.describe()
                ),
            ));
        }
    }
    let description = top.get("description").map(description).transpose()?;
    let mut policy = Policy {
        description,
        ..Policy::deny_all()
    };
    let mut spans = Spans::default();
    if let Some(perms) = top.get("permissions") {
        permissions(perms, &mut policy, &mut spans)?;
    }
    policy.validate(Some(&spans))?;
    Ok((policy, spans))
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

fn permissions(node: &Node, policy: &mut Policy, spans: &mut Spans) -> Result<(), PolicyError> {
    let f = section(
        node,
        "permissions",
        &[
            "storage",
            "network",
            "environment",
            "interfaces",
            "resources",
        ],
        &[
            (
                "runtime",
                "weld does not take runtime settings from a policy: every tool runs in a Wasmtime sandbox that weld configures — remove `runtime`",
            ),
            ("ipc", "weld gives tools no IPC; remove `ipc`"),
        ],
    )?;
    if let Some(n) = f.get("storage") {
        policy.storage = storage(n, spans)?;
    }
    if let Some(n) = f.get("network") {
        policy.network = network(n, spans)?;
    }
    if let Some(n) = f.get("environment") {
        policy.environment = environment(n, spans)?;
    }
    if let Some(n) = f.get("interfaces") {
        policy.interfaces = interfaces(n, spans)?;
    }
    if let Some(n) = f.get("resources") {
        policy.limits = resources(n)?;
    }
    Ok(())
}

fn storage(node: &Node, spans: &mut Spans) -> Result<StorageRules, PolicyError> {
    let f = section(node, "permissions.storage", &["allow", "deny"], &[])?;
    let mut rules = StorageRules::default();
    if let Some(allow) = f.get("allow") {
        for (i, item) in list(
            allow,
            "permissions.storage.allow",
            "remove it or add a rule",
        )?
        .iter()
        .enumerate()
        {
            let path = format!("permissions.storage.allow[{i}]");
            let r = fields(item, &path, &["uri", "access"], &[])?;
            let uri = storage_uri(&r, item, &path)?;
            let Some(access_node) = r.get("access") else {
                return Err(PolicyError::at(
                    ErrorKind::MissingField,
                    item.at,
                    format!(
                        "`{path}` has no `access`; add `access: [read]` or `access: [read, write]`"
                    ),
                ));
            };
            let access = access_list(access_node, &format!("{path}.access"))?;
            if access == AccessSet::WRITE {
                return Err(PolicyError::at(
                    ErrorKind::Conflict,
                    access_node.at,
                    format!(
                        "`{path}.access` is [write] without read; weld cannot grant write without read (WASI preopens are read-only or read-write) — write `[read, write]`"
                    ),
                ));
            }
            spans.storage_allow.push(item.at);
            rules.allow.push(StorageAllow { uri, access });
        }
    }
    if let Some(deny) = f.get("deny") {
        for (i, item) in list(deny, "permissions.storage.deny", "remove it or add a rule")?
            .iter()
            .enumerate()
        {
            let path = format!("permissions.storage.deny[{i}]");
            let r = fields(item, &path, &["uri", "access"], &[])?;
            let uri = storage_uri(&r, item, &path)?;
            let access = match r.get("access") {
                Some(n) => access_list(n, &format!("{path}.access"))?,
                None => AccessSet::READ_WRITE,
            };
            spans.storage_deny.push(item.at);
            rules.deny.push(StorageDeny { uri, access });
        }
    }
    Ok(rules)
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

fn network(node: &Node, spans: &mut Spans) -> Result<NetworkRules, PolicyError> {
    let f = section(node, "permissions.network", &["allow", "deny"], &[])?;
    let mut rules = NetworkRules::default();
    if let Some(allow) = f.get("allow") {
        for (i, item) in list(
            allow,
            "permissions.network.allow",
            "remove it or add a rule",
        )?
        .iter()
        .enumerate()
        {
            let path = format!("permissions.network.allow[{i}]");
            let r = fields(
                item,
                &path,
                &["host", "cidr", "ports", "schemes"],
                &[(
                    "defaults",
                    "weld has no built-in list of hosts; list the hosts the tool needs",
                )],
            )?;
            let target = target(&r, item, &path, network::Side::Allow)?;
            network::refuse_dead_allow(&target).map_err(|e| {
                PolicyError::at(e.kind(), item.at, format!("`{path}`: {}", e.message()))
            })?;
            let schemes = match r.get("schemes") {
                Some(n) => schemes(n, &format!("{path}.schemes"))?,
                None => vec![Scheme::Https],
            };
            let ports = r
                .get("ports")
                .map(|n| {
                    ports(n, &format!("{path}.ports"), "remove it to use each scheme's default port (443 for https, 80 for http), or list ports")
                })
                .transpose()?;
            if ports.is_none()
                && let Some(s) = schemes.iter().find(|s| s.default_port().is_none())
            {
                return Err(PolicyError::at(
                    ErrorKind::MissingField,
                    item.at,
                    format!(
                        "`{path}` allows `{s}`, which has no default port; list the ports under `ports`"
                    ),
                ));
            }
            spans.network_allow.push(item.at);
            rules.allow.push(NetworkAllow::new(target, ports, schemes));
        }
    }
    if let Some(deny) = f.get("deny") {
        for (i, item) in list(deny, "permissions.network.deny", "remove it or add a rule")?
            .iter()
            .enumerate()
        {
            let path = format!("permissions.network.deny[{i}]");
            let r = fields(
                item,
                &path,
                &["host", "cidr", "ports"],
                &[(
                    "schemes",
                    "a deny rule applies to every scheme; remove `schemes`",
                )],
            )?;
            let target = target(&r, item, &path, network::Side::Deny)?;
            let ports = r
                .get("ports")
                .map(|n| {
                    ports(
                        n,
                        &format!("{path}.ports"),
                        "remove it to deny every port, or list ports",
                    )
                })
                .transpose()?;
            spans.network_deny.push(item.at);
            rules.deny.push(NetworkDeny::new(target, ports));
        }
    }
    Ok(rules)
}

fn target(
    r: &Fields<'_>,
    item: &Node,
    path: &str,
    side: network::Side,
) -> Result<NetTarget, PolicyError> {
    match (r.get("host"), r.get("cidr")) {
        (Some(h), None) => {
            let p = format!("{path}.host");
            HostPattern::parse_for(string(h, &p)?, side)
                .map(NetTarget::Host)
                .map_err(|e| place(e, h, &p))
        }
        (None, Some(c)) => {
            let p = format!("{path}.cidr");
            Cidr::parse(string(c, &p)?)
                .map(NetTarget::Cidr)
                .map_err(|e| place(e, c, &p))
        }
        (Some(_), Some(_)) => Err(PolicyError::at(
            ErrorKind::InvalidValue,
            item.at,
            format!(
                "`{path}` has both `host` and `cidr`; a rule names one of them — split it into two rules"
            ),
        )),
        (None, None) => Err(PolicyError::at(
            ErrorKind::MissingField,
            item.at,
            format!(
                "`{path}` has neither `host` nor `cidr`; add `host: \"api.example.com\"` (a name, `*.domain` or an IP address) or `cidr: \"10.0.0.0/8\"`"
            ),
        )),
    }
}

fn ports(node: &Node, path: &str, fix: &str) -> Result<Vec<u16>, PolicyError> {
    let mut out: Vec<u16> = Vec::new();
    for (j, item) in list(node, path, fix)?.iter().enumerate() {
        let item_path = format!("{path}[{j}]");
        let Value::Int(raw) = &item.value else {
            return Err(wrong_type(item, &item_path, "a port number (1–65535)"));
        };
        let port = raw.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            invalid(
                item,
                &item_path,
                format!("`{raw}` is not a port; ports are 1–65535"),
            )
        })?;
        if out.contains(&port) {
            return Err(PolicyError::at(
                ErrorKind::Duplicate,
                item.at,
                format!("`{path}` lists port {port} twice; list it once"),
            ));
        }
        out.push(port);
    }
    Ok(out)
}

fn schemes(node: &Node, path: &str) -> Result<Vec<Scheme>, PolicyError> {
    let mut out: Vec<Scheme> = Vec::new();
    for (j, item) in list(
        node,
        path,
        "remove it for the default `[https]`, or list schemes",
    )?
    .iter()
    .enumerate()
    {
        let item_path = format!("{path}[{j}]");
        let scheme: Scheme = string(item, &item_path)?
            .parse()
            .map_err(|e| place(e, item, &item_path))?;
        if out.contains(&scheme) {
            return Err(PolicyError::at(
                ErrorKind::Duplicate,
                item.at,
                format!("`{path}` lists `{scheme}` twice; list it once"),
            ));
        }
        out.push(scheme);
    }
    Ok(out)
}

fn environment(node: &Node, spans: &mut Spans) -> Result<Vec<EnvRule>, PolicyError> {
    let f = section(
        node,
        "permissions.environment",
        &["allow"],
        &[(
            "deny",
            "the environment has no deny list: a tool sees only the keys under `allow` — remove `deny`",
        )],
    )?;
    let mut rules = Vec::new();
    if let Some(allow) = f.get("allow") {
        for (i, item) in list(
            allow,
            "permissions.environment.allow",
            "remove it or add a key",
        )?
        .iter()
        .enumerate()
        {
            let path = format!("permissions.environment.allow[{i}]");
            let r = fields(item, &path, &["key", "from"], &[])?;
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
            spans.env.push(item.at);
            rules.push(EnvRule { key, from });
        }
    }
    Ok(rules)
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

fn resources(node: &Node) -> Result<Limits, PolicyError> {
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
    let f = section(
        node,
        path,
        &["memory", "timeout", "output", "concurrency", "fuel"],
        &[],
    )?;
    let mut limits = Limits::default();
    if let Some(n) = f.get("memory") {
        let p = format!("{path}.memory");
        limits.memory = Some(limits::check_memory(size(n, &p)?).map_err(|m| invalid(n, &p, m))?);
    }
    if let Some(n) = f.get("output") {
        let p = format!("{path}.output");
        limits.output = Some(limits::check_output(size(n, &p)?).map_err(|m| invalid(n, &p, m))?);
    }
    if let Some(n) = f.get("timeout") {
        let p = format!("{path}.timeout");
        let text = match &n.value {
            Value::Str(s) | Value::Int(s) | Value::Float(s) => s,
            _ => return Err(wrong_type(n, &p, "a duration like `10s`")),
        };
        let d = limits::parse_duration(text).map_err(|m| invalid(n, &p, m))?;
        limits.timeout = Some(limits::check_timeout(d).map_err(|m| invalid(n, &p, m))?);
    }
    if let Some(n) = f.get("concurrency") {
        limits.concurrency = Some(concurrency(n, &format!("{path}.concurrency"))?);
    }
    if let Some(n) = f.get("fuel") {
        limits.fuel = Some(count(n, &format!("{path}.fuel"), u64::MAX)?);
    }
    Ok(limits)
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
