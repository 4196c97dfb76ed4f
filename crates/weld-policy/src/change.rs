//! The pure grant and revoke operations: each takes a [`Policy`] and
//! returns a new one, validated the same way a parsed document is, or an
//! error that says why nothing changed. Nothing here touches a file; the
//! caller decides whether and where to write the result.

use std::path::Path;

use crate::env::{EnvKey, EnvRule, EnvSource};
use crate::error::{ErrorKind, PolicyError};
use crate::network::{self, Address, NetTarget, NetworkAllow, Scheme, Side};
use crate::policy::Policy;
use crate::storage::{self, Access, AccessSet, StorageAllow, StorageUri};

impl Policy {
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

    /// Grants `target`: `HOST[:PORT]` is HTTPS (port 443 when omitted;
    /// IPv6 in brackets when a port follows, `[::1]:8443`);
    /// `SCHEME://HOST[:PORT]` grants that scheme (`http`, `https`, `tcp`,
    /// `udp`) on the port, or on the scheme's default port (80, 443; tcp
    /// and udp need one). The allow rule for that host with exactly that one
    /// scheme gains the port, or a new one is added; a port already granted
    /// leaves the policy unchanged.
    ///
    /// # Errors
    /// An invalid scheme, host or port, a path ([`ErrorKind::InvalidValue`]),
    /// or a deny rule (or built-in deny) that would cancel the grant
    /// ([`ErrorKind::NoEffect`]).
    pub fn grant_network(&self, target: &str) -> Result<Policy, PolicyError> {
        let address = Address::parse(target, Side::Allow)?;
        let port = address.port_or_default(target)?;
        let scheme = address.scheme.unwrap_or(Scheme::Https);
        let target = NetTarget::Host(address.host);
        network::refuse_dead_allow(&target)?;
        let mut next = self.clone();
        let only = [scheme];
        match next
            .network
            .allow
            .iter()
            .position(|a| a.target == target && a.schemes == only)
        {
            Some(i) if next.network.allow[i].allows_port(scheme, port) => {
                return Ok(self.clone());
            }
            Some(i) => {
                let rule = &next.network.allow[i];
                let mut ports = rule
                    .ports
                    .clone()
                    .unwrap_or_else(|| scheme.default_port().into_iter().collect());
                ports.push(port);
                next.network.allow[i] =
                    NetworkAllow::new(target.clone(), Some(ports), only.to_vec());
            }
            None => next.network.allow.push(NetworkAllow::new(
                target.clone(),
                Some(vec![port]),
                only.to_vec(),
            )),
        }
        next.validate(None)?;
        let probe = NetworkAllow::new(target.clone(), Some(vec![port]), only.to_vec());
        if let Some(j) = next.network.covering_deny(&probe) {
            return Err(PolicyError::nowhere(
                ErrorKind::NoEffect,
                format!(
                    "granting {target} port {port} over {scheme} would have no effect: network deny rule for {} denies it (deny beats allow); change the deny rule in the policy file first",
                    next.network.deny[j].target
                ),
            ));
        }
        Ok(next)
    }

    /// Revokes `target`. `HOST` alone: every allow rule for the host,
    /// whatever its schemes. `HOST:PORT`: that port from the host's
    /// https-only rule. `SCHEME://HOST[:PORT]`: that port (or the scheme's
    /// default) from the host's rule for exactly that scheme. A rule goes
    /// when no port is left.
    ///
    /// # Errors
    /// [`ErrorKind::NotGranted`] when nothing matches (the message lists the
    /// hosts that are allowed).
    pub fn revoke_network(&self, target: &str) -> Result<Policy, PolicyError> {
        let address = Address::parse(target, Side::Allow)?;
        let written = target;
        let scheme = address.scheme;
        let port = match (scheme, address.port) {
            (None, None) => None,
            _ => Some(address.port_or_default(written)?),
        };
        let scheme = scheme.unwrap_or(Scheme::Https);
        let target = NetTarget::Host(address.host);
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
                    a.target == target && a.schemes == [scheme] && a.allows_port(scheme, port)
                }) else {
                    return Err(not_granted(format!("{target} port {port} over {scheme}")));
                };
                let mut ports = next.network.allow[i]
                    .ports
                    .clone()
                    .unwrap_or_else(|| scheme.default_port().into_iter().collect());
                ports.retain(|p| *p != port);
                if ports.is_empty() {
                    next.network.allow.remove(i);
                } else {
                    next.network.allow[i] = NetworkAllow::new(target, Some(ports), vec![scheme]);
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
