//! [`Policy`]: the validated document, its readers, its checks across rules,
//! and the pure grant and revoke operations.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::decode;
use crate::env::{EnvKey, EnvRule, EnvSource};
use crate::error::{ErrorKind, Location, PolicyError};
use crate::interfaces::Interfaces;
use crate::limits::Limits;
use crate::network::{HostPattern, NetTarget, NetworkAllow, NetworkRules, Scheme};
use crate::storage::{
    self, Access, AccessSet, Label, Side, StorageAllow, StorageRules, StorageUri,
};
use crate::tree::MAX_LIST_ITEMS;
use crate::{json, yaml};

/// A validated policy document. Every value of this type passed every rule
/// in `docs/policy.md`: it can only be made by parsing, by
/// [`Policy::deny_all`], or by the grant and revoke operations, which
/// validate their result the same way.
///
/// Equality is structural (rule order included); where rules were written is
/// not part of the value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    pub(crate) description: Option<String>,
    pub(crate) storage: StorageRules,
    pub(crate) network: NetworkRules,
    pub(crate) environment: Vec<EnvRule>,
    pub(crate) interfaces: Interfaces,
    pub(crate) limits: Limits,
}

/// Where each rule was written, for messages that name two rules.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spans {
    pub storage_allow: Vec<Location>,
    pub storage_deny: Vec<Location>,
    pub network_allow: Vec<Location>,
    pub network_deny: Vec<Location>,
    pub env: Vec<Location>,
    pub iface_allow: Vec<Location>,
    pub iface_deny: Vec<Location>,
}

fn span(list: Option<&Vec<Location>>, i: usize) -> Option<Location> {
    list.and_then(|l| l.get(i).copied())
}

fn first_at(at: Option<Location>) -> String {
    at.map(|a| format!(" (first at {a})")).unwrap_or_default()
}

impl Policy {
    /// The policy of a tool without one: nothing granted, no limits beyond
    /// the runtime's defaults, no interface filter.
    #[must_use]
    pub fn deny_all() -> Policy {
        Policy {
            description: None,
            storage: StorageRules::default(),
            network: NetworkRules::default(),
            environment: Vec::new(),
            interfaces: Interfaces::default(),
            limits: Limits::default(),
        }
    }

    /// Parses and validates a YAML policy.
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse_yaml(text: &str) -> Result<Policy, PolicyError> {
        let root = yaml::read(text)?;
        decode::decode(root.as_ref()).map(|(p, _)| p)
    }

    /// Parses and validates a JSON policy (same schema as YAML).
    ///
    /// # Errors
    /// The first problem found, at its line and column.
    pub fn parse_json(text: &str) -> Result<Policy, PolicyError> {
        let root = json::read(text)?;
        decode::decode(root.as_ref()).map(|(p, _)| p)
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

    /// The description, if any.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// `permissions.storage`.
    #[must_use]
    pub fn storage(&self) -> &StorageRules {
        &self.storage
    }
    /// `permissions.network`, with its checks.
    #[must_use]
    pub fn network(&self) -> &NetworkRules {
        &self.network
    }
    /// `permissions.environment.allow`.
    #[must_use]
    pub fn environment(&self) -> &[EnvRule] {
        &self.environment
    }
    /// `permissions.interfaces`, with its check.
    #[must_use]
    pub fn interfaces(&self) -> &Interfaces {
        &self.interfaces
    }
    /// `permissions.resources.limits`.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The checks that involve more than one rule.
    pub(crate) fn validate(&self, spans: Option<&Spans>) -> Result<(), PolicyError> {
        self.validate_sizes()?;
        self.validate_storage(spans)?;
        self.validate_network(spans)?;
        self.validate_env(spans)?;
        self.validate_interfaces(spans)
    }

    /// Grants must not grow a list past what the reader accepts, or the
    /// result would not read back.
    fn validate_sizes(&self) -> Result<(), PolicyError> {
        let lists = [
            ("permissions.storage.allow", self.storage.allow.len()),
            ("permissions.storage.deny", self.storage.deny.len()),
            ("permissions.network.allow", self.network.allow.len()),
            ("permissions.network.deny", self.network.deny.len()),
            ("permissions.environment.allow", self.environment.len()),
        ];
        let ports = (self.network.allow.iter().filter_map(|a| a.ports.as_ref()))
            .map(|p| ("permissions.network.allow[_].ports", p.len()));
        for (path, n) in lists.into_iter().chain(ports) {
            if n > MAX_LIST_ITEMS {
                return Err(decode::too_many(None, path, n));
            }
        }
        Ok(())
    }

    fn validate_storage(&self, spans: Option<&Spans>) -> Result<(), PolicyError> {
        let allow_at = |i| span(spans.map(|s| &s.storage_allow), i);
        let deny_at = |i| span(spans.map(|s| &s.storage_deny), i);
        for (i, a) in self.storage.allow.iter().enumerate() {
            if a.uri.is_root() {
                return Err(PolicyError::new(
                    ErrorKind::InvalidValue,
                    allow_at(i),
                    format!(
                        "storage allow rule `{}` grants the whole filesystem; weld refuses that — allow the directories the tool needs",
                        a.uri
                    ),
                ));
            }
            if let Some(j) = self.storage.allow[..i]
                .iter()
                .position(|b| b.uri.same_path(&a.uri))
            {
                return Err(PolicyError::new(
                    ErrorKind::Duplicate,
                    allow_at(i),
                    format!(
                        "storage allow rule `{}` names the same path as allow rule `{}`{}; merge them into one rule",
                        a.uri,
                        self.storage.allow[j].uri,
                        first_at(allow_at(j))
                    ),
                ));
            }
        }
        for (i, d) in self.storage.deny.iter().enumerate() {
            if let Some(j) = self.storage.deny[..i]
                .iter()
                .position(|b| b.uri.same_path(&d.uri))
            {
                return Err(PolicyError::new(
                    ErrorKind::Duplicate,
                    deny_at(i),
                    format!(
                        "storage deny rule `{}` names the same path as deny rule `{}`{}; merge them into one rule",
                        d.uri,
                        self.storage.deny[j].uri,
                        first_at(deny_at(j))
                    ),
                ));
            }
        }
        for relative in [false, true] {
            let (allow, deny) = self.storage_sides(relative, spans);
            storage::effective_access(&allow, &deny)?;
        }
        Ok(())
    }

    /// The storage rules with absolute (or relative) URIs as check sides,
    /// paths as written.
    fn storage_sides(&self, relative: bool, spans: Option<&Spans>) -> (Vec<Side>, Vec<Side>) {
        let side = |uri: &StorageUri, access, at| Side {
            path: PathBuf::from(uri.path()),
            access,
            label: Label {
                text: uri.to_string(),
                at,
                resolved: None,
            },
        };
        let allow = (self.storage.allow.iter().enumerate())
            .filter(|(_, a)| a.uri.is_relative() == relative)
            .map(|(i, a)| side(&a.uri, a.access, span(spans.map(|s| &s.storage_allow), i)))
            .collect();
        let deny = (self.storage.deny.iter().enumerate())
            .filter(|(_, d)| d.uri.is_relative() == relative)
            .map(|(i, d)| side(&d.uri, d.access, span(spans.map(|s| &s.storage_deny), i)))
            .collect();
        (allow, deny)
    }

    fn validate_network(&self, spans: Option<&Spans>) -> Result<(), PolicyError> {
        let allow_at = |i| span(spans.map(|s| &s.network_allow), i);
        let deny_at = |i| span(spans.map(|s| &s.network_deny), i);
        let schemes = |s: &[Scheme]| {
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (i, a) in self.network.allow.iter().enumerate() {
            if let Some(j) = (self.network.allow[..i].iter())
                .position(|b| b.target == a.target && b.schemes == a.schemes)
            {
                return Err(PolicyError::new(
                    ErrorKind::Duplicate,
                    allow_at(i),
                    format!(
                        "network allow rule for {} with schemes [{}] repeats an earlier rule{}; merge their ports into one rule",
                        a.target,
                        schemes(&a.schemes),
                        first_at(allow_at(j))
                    ),
                ));
            }
        }
        for (i, d) in self.network.deny.iter().enumerate() {
            if let Some(j) = self.network.deny[..i]
                .iter()
                .position(|b| b.target == d.target)
            {
                return Err(PolicyError::new(
                    ErrorKind::Duplicate,
                    deny_at(i),
                    format!(
                        "network deny rule for {} repeats an earlier rule{}; merge their ports into one rule",
                        d.target,
                        first_at(deny_at(j))
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_env(&self, spans: Option<&Spans>) -> Result<(), PolicyError> {
        let at = |i| span(spans.map(|s| &s.env), i);
        for (i, r) in self.environment.iter().enumerate() {
            if let Some(j) = self.environment[..i].iter().position(|b| b.key == r.key) {
                return Err(PolicyError::new(
                    ErrorKind::Duplicate,
                    at(i),
                    format!(
                        "environment key `{}` is listed twice{}; list it once",
                        r.key,
                        first_at(at(j))
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_interfaces(&self, spans: Option<&Spans>) -> Result<(), PolicyError> {
        let allow = self.interfaces.allow.as_deref().unwrap_or_default();
        let lists = [
            ("allow", allow, spans.map(|s| &s.iface_allow)),
            (
                "deny",
                &self.interfaces.deny[..],
                spans.map(|s| &s.iface_deny),
            ),
        ];
        for (name, list, at) in lists {
            for (i, p) in list.iter().enumerate() {
                if let Some(j) = list[..i].iter().position(|q| q == p) {
                    return Err(PolicyError::new(
                        ErrorKind::Duplicate,
                        span(at, i),
                        format!(
                            "interface pattern `{p}` is listed twice in `permissions.interfaces.{name}`{}; list it once",
                            first_at(span(at, j))
                        ),
                    ));
                }
            }
        }
        for (i, p) in self.interfaces.deny.iter().enumerate() {
            if let Some(j) = allow.iter().position(|q| q == p) {
                return Err(PolicyError::new(
                    ErrorKind::Conflict,
                    span(spans.map(|s| &s.iface_deny), i),
                    format!(
                        "interface pattern `{p}` is both allowed{} and denied; remove one",
                        span(spans.map(|s| &s.iface_allow), j)
                            .map(|a| format!(" (at {a})"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Grants `access` to the path `uri` names (same syntax as a storage
    /// allow rule). An allow rule for the same path gains the modes; a path
    /// already granted with these modes leaves the policy unchanged.
    ///
    /// # Errors
    /// An invalid URI or access ([`ErrorKind::InvalidValue`]; `[]` and
    /// `[write]` alone are refused), a result weld could not enforce
    /// ([`ErrorKind::Conflict`]), or a deny rule that would cancel the grant
    /// ([`ErrorKind::NoEffect`]).
    pub fn grant_storage(&self, uri: &str, access: &[Access]) -> Result<Policy, PolicyError> {
        let uri = StorageUri::parse(uri)?;
        let access = AccessSet::of(access);
        if access.is_empty() {
            return Err(PolicyError::nowhere(
                ErrorKind::InvalidValue,
                "grant at least `read` access",
            ));
        }
        if access == AccessSet::WRITE {
            return Err(PolicyError::nowhere(
                ErrorKind::InvalidValue,
                "weld cannot grant write without read (WASI preopens are read-only or read-write); grant [read, write]",
            ));
        }
        let mut next = self.clone();
        match next
            .storage
            .allow
            .iter_mut()
            .find(|a| a.uri.same_path(&uri))
        {
            Some(rule) if rule.access.contains(access) => return Ok(self.clone()),
            Some(rule) if rule.uri.shape() != uri.shape() => {
                return Err(PolicyError::nowhere(
                    ErrorKind::Duplicate,
                    format!(
                        "storage allow rule `{}` names the same path as `{uri}`; grant `{}` to change its access",
                        rule.uri, rule.uri
                    ),
                ));
            }
            Some(rule) => rule.access = rule.access.union(access),
            None => next.storage.allow.push(StorageAllow {
                uri: uri.clone(),
                access,
            }),
        }
        next.validate(None)?;
        let (allow, deny) = next.storage_sides(uri.is_relative(), None);
        let effective = storage::effective_access(&allow, &deny)?;
        let index = allow
            .iter()
            .position(|s| s.path == Path::new(&uri.path()))
            .unwrap_or_default();
        let wanted = next
            .storage
            .allow
            .iter()
            .find(|a| a.uri.same_path(&uri))
            .map_or(access, |a| a.access);
        if effective
            .get(index)
            .is_some_and(|eff| !eff.contains(wanted))
        {
            let denier = (next.storage.deny.iter())
                .find(|d| d.uri.covers(&uri) && d.access.intersects(wanted))
                .map(|d| d.uri.to_string())
                .unwrap_or_default();
            return Err(PolicyError::nowhere(
                ErrorKind::NoEffect,
                format!(
                    "granting {} on `{uri}` would have no effect: storage deny rule `{denier}` denies it (deny beats allow); change the deny rule in the policy file first",
                    wanted.minus(effective[index])
                ),
            ));
        }
        Ok(next)
    }

    /// Revokes `access` from the storage allow rule for exactly the path
    /// `uri` names; a rule left with no access is removed.
    ///
    /// # Errors
    /// [`ErrorKind::NotGranted`] when no allow rule names that path (the
    /// message lists those that exist, or the rule the path is inside), or it
    /// lacks those modes; [`ErrorKind::InvalidValue`] when the result would be
    /// write without read.
    pub fn revoke_storage(&self, uri: &str, access: &[Access]) -> Result<Policy, PolicyError> {
        let uri = StorageUri::parse(uri)?;
        let access = AccessSet::of(access);
        if access.is_empty() {
            return Err(PolicyError::nowhere(
                ErrorKind::InvalidValue,
                "name the access to revoke: `read`, `write` or both",
            ));
        }
        let mut next = self.clone();
        let Some(i) = next
            .storage
            .allow
            .iter()
            .position(|a| a.uri.same_path(&uri))
        else {
            if let Some(outer) = self.storage.allow.iter().find(|a| a.uri.covers(&uri)) {
                return Err(PolicyError::nowhere(
                    ErrorKind::NotGranted,
                    format!(
                        "`{uri}` is not granted on its own: it is inside allow rule `{}`, and weld grants whole directories — revoke `{}` (and grant what should stay)",
                        outer.uri, outer.uri
                    ),
                ));
            }
            let granted: Vec<String> = self
                .storage
                .allow
                .iter()
                .map(|a| format!("`{}`", a.uri))
                .collect();
            return Err(PolicyError::nowhere(
                ErrorKind::NotGranted,
                format!(
                    "nothing to revoke: no storage allow rule names `{uri}` ({})",
                    listing(&granted, "no storage is granted")
                ),
            ));
        };
        let rule: &mut StorageAllow = &mut next.storage.allow[i];
        if !rule.access.intersects(access) {
            return Err(PolicyError::nowhere(
                ErrorKind::NotGranted,
                format!(
                    "nothing to revoke: `{}` grants only {}",
                    rule.uri, rule.access
                ),
            ));
        }
        let left = rule.access.minus(access);
        if left == AccessSet::WRITE {
            return Err(PolicyError::nowhere(
                ErrorKind::InvalidValue,
                format!(
                    "revoking read from `{}` would leave write without read, which weld cannot enforce; revoke [read, write]",
                    rule.uri
                ),
            ));
        }
        if left.is_empty() {
            next.storage.allow.remove(i);
        } else {
            rule.access = left;
        }
        next.validate(None)?;
        Ok(next)
    }

    /// Grants HTTPS to `HOST[:PORT]` (port 443 when omitted; IPv6 in
    /// brackets when a port follows, `[::1]:8443`). The https-only allow rule
    /// for that host gains the port, or a new one is added; a port already
    /// granted leaves the policy unchanged.
    ///
    /// # Errors
    /// An invalid host or port ([`ErrorKind::InvalidValue`]), or a deny rule
    /// (or built-in deny) that would cancel the grant
    /// ([`ErrorKind::NoEffect`]).
    pub fn grant_network(&self, host_port: &str) -> Result<Policy, PolicyError> {
        let (host, port) = parse_host_port(host_port)?;
        let target = NetTarget::Host(host);
        crate::network::refuse_dead_allow(&target)?;
        let port = port.unwrap_or(443);
        let mut next = self.clone();
        let https = [Scheme::Https];
        match next
            .network
            .allow
            .iter()
            .position(|a| a.target == target && a.schemes == https)
        {
            Some(i) if next.network.allow[i].allows_port(Scheme::Https, port) => {
                return Ok(self.clone());
            }
            Some(i) => {
                let rule = &next.network.allow[i];
                let mut ports = rule.ports.clone().unwrap_or_else(|| vec![443]);
                ports.push(port);
                next.network.allow[i] =
                    NetworkAllow::new(target.clone(), Some(ports), https.to_vec());
            }
            None => next.network.allow.push(NetworkAllow::new(
                target.clone(),
                Some(vec![port]),
                https.to_vec(),
            )),
        }
        next.validate(None)?;
        let probe = NetworkAllow::new(target.clone(), Some(vec![port]), https.to_vec());
        if let Some(j) = next.network.covering_deny(&probe) {
            return Err(PolicyError::nowhere(
                ErrorKind::NoEffect,
                format!(
                    "granting {target} port {port} would have no effect: network deny rule for {} denies it (deny beats allow); change the deny rule in the policy file first",
                    next.network.deny[j].target
                ),
            ));
        }
        Ok(next)
    }

    /// Revokes `HOST[:PORT]`: with a port, that port from the host's
    /// https-only allow rule (the rule goes when no port is left); without
    /// one, every allow rule for the host, whatever its schemes.
    ///
    /// # Errors
    /// [`ErrorKind::NotGranted`] when nothing matches (the message lists the
    /// hosts that are allowed).
    pub fn revoke_network(&self, host_port: &str) -> Result<Policy, PolicyError> {
        let (host, port) = parse_host_port(host_port)?;
        let target = NetTarget::Host(host);
        let mut next = self.clone();
        let not_granted = |what: String| {
            let granted: Vec<String> = self
                .network
                .allow
                .iter()
                .map(|a| a.target.to_string())
                .collect();
            PolicyError::nowhere(
                ErrorKind::NotGranted,
                format!(
                    "nothing to revoke: {what} is not allowed ({})",
                    listing(&granted, "no network access is granted")
                ),
            )
        };
        match port {
            None => {
                let before = next.network.allow.len();
                next.network.allow.retain(|a| a.target != target);
                if next.network.allow.len() == before {
                    return Err(not_granted(target.to_string()));
                }
            }
            Some(port) => {
                let Some(i) = (next.network.allow.iter()).position(|a| {
                    a.target == target
                        && a.schemes == [Scheme::Https]
                        && a.allows_port(Scheme::Https, port)
                }) else {
                    return Err(not_granted(format!("{target} port {port} over https")));
                };
                let mut ports = next.network.allow[i]
                    .ports
                    .clone()
                    .unwrap_or_else(|| vec![443]);
                ports.retain(|p| *p != port);
                if ports.is_empty() {
                    next.network.allow.remove(i);
                } else {
                    next.network.allow[i] =
                        NetworkAllow::new(target, Some(ports), vec![Scheme::Https]);
                }
            }
        }
        next.validate(None)?;
        Ok(next)
    }

    /// Lets the tool see the environment variable `key`, its value taken
    /// from `from`. A key already allowed takes the new source.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] for a key that is not a valid name.
    pub fn grant_env(&self, key: &str, from: EnvSource) -> Result<Policy, PolicyError> {
        let key = EnvKey::parse(key)?;
        let mut next = self.clone();
        match next.environment.iter_mut().find(|r| r.key == key) {
            Some(rule) => rule.from = from,
            None => next.environment.push(EnvRule { key, from }),
        }
        next.validate(None)?;
        Ok(next)
    }

    /// Hides the environment variable `key` from the tool.
    ///
    /// # Errors
    /// [`ErrorKind::NotGranted`] when the key is not allowed (the message
    /// lists the allowed keys).
    pub fn revoke_env(&self, key: &str) -> Result<Policy, PolicyError> {
        let key = EnvKey::parse(key)?;
        let mut next = self.clone();
        let before = next.environment.len();
        next.environment.retain(|r| r.key != key);
        if next.environment.len() == before {
            let granted: Vec<String> = self
                .environment
                .iter()
                .map(|r| format!("`{}`", r.key))
                .collect();
            return Err(PolicyError::nowhere(
                ErrorKind::NotGranted,
                format!(
                    "nothing to revoke: environment key `{key}` is not allowed ({})",
                    listing(&granted, "no environment is granted")
                ),
            ));
        }
        Ok(next)
    }
}

fn listing(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        format!("allowed: {}", items.join(", "))
    }
}

/// `HOST`, `HOST:PORT`, `[V6]:PORT`, or a bare IPv6 address.
fn parse_host_port(text: &str) -> Result<(HostPattern, Option<u16>), PolicyError> {
    let bad_port = |p: &str| {
        PolicyError::nowhere(
            ErrorKind::InvalidValue,
            format!("`{text}` has port `{p}`; ports are 1–65535"),
        )
    };
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad_port(p))
    };
    if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(PolicyError::nowhere(
                ErrorKind::InvalidValue,
                format!("`{text}` opens `[` without closing it; write `[::1]:8443`"),
            ));
        };
        let host = HostPattern::parse(&format!("[{v6}]"))?;
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(p) => Ok((host, Some(port(p)?))),
                None => Err(PolicyError::nowhere(
                    ErrorKind::InvalidValue,
                    format!("`{text}`: expected `:PORT` after `]`"),
                )),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((HostPattern::parse(text)?, None)),
        1 => {
            let (h, p) = text.split_once(':').unwrap_or((text, ""));
            Ok((HostPattern::parse(h)?, Some(port(p)?)))
        }
        _ => Ok((HostPattern::parse(text)?, None)),
    }
}

impl fmt::Display for Policy {
    /// The canonical YAML form ([`Policy::to_yaml`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yaml())
    }
}
