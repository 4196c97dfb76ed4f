//! [`Policy`]: the validated document, its readers and its checks across
//! rules. Parsing is in `decode/`, the grant and revoke operations in
//! `change.rs`; both build on this file, which uses neither.

use std::fmt;
use std::path::PathBuf;

use crate::env::EnvRule;
use crate::error::{ErrorKind, Location, PolicyError};
use crate::interfaces::Interfaces;
use crate::limits::Limits;
use crate::network::{NetworkRules, Scheme};
use crate::storage::{self, Label, Side, StorageRules, StorageUri};
use crate::tree::{self, MAX_LIST_ITEMS};

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
                return Err(tree::too_many(None, path, n));
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
    pub(crate) fn storage_sides(
        &self,
        relative: bool,
        spans: Option<&Spans>,
    ) -> (Vec<Side>, Vec<Side>) {
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
}

impl fmt::Display for Policy {
    /// The canonical YAML form ([`Policy::to_yaml`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yaml())
    }
}
