//! The rules of `permissions.network` ([`NetTarget`], [`NetworkAllow`],
//! [`NetworkDeny`]) and the section they form, [`NetworkRules`], with the
//! checks a runtime makes per request, per resolved address and per name
//! lookup.

use std::fmt;
use std::net::IpAddr;

use super::builtin_denies::{BUILT_IN_DENIES, built_in_deny};
use super::cidr::Cidr;
use super::decision::{Decision, RuleRef};
use super::host::{HostPattern, RequestHost, Scheme, is_below};
use super::invalid;
use crate::error::PolicyError;

/// What a network rule names: a host (`host:`) or a network (`cidr:`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetTarget {
    /// `host: …`
    Host(HostPattern),
    /// `cidr: …` — matches IP-literal hosts and resolved addresses inside.
    Cidr(Cidr),
}

impl NetTarget {
    fn matches(&self, host: &RequestHost) -> bool {
        match (self, host) {
            (NetTarget::Host(p), h) => p.matches(h),
            (NetTarget::Cidr(c), RequestHost::Ip(ip)) => c.contains(*ip),
            (NetTarget::Cidr(_), RequestHost::Name(_)) => false,
        }
    }

    fn contains_ip(&self, ip: IpAddr) -> bool {
        self.matches(&RequestHost::Ip(ip))
    }

    /// Whether every host this target matches, `other` matches too.
    fn covers(&self, other: &NetTarget) -> bool {
        use HostPattern as H;
        match (self, other) {
            (NetTarget::Host(H::Name(a)), NetTarget::Host(H::Name(b))) => a == b,
            (NetTarget::Host(H::Wildcard(s)), NetTarget::Host(H::Name(n) | H::Wildcard(n))) => {
                is_below(n, s)
            }
            (NetTarget::Host(H::Ip(a)), NetTarget::Host(H::Ip(b))) => a == b,
            (NetTarget::Host(H::Ip(a)), NetTarget::Cidr(c)) => *c == Cidr::single(*a),
            (NetTarget::Cidr(c), NetTarget::Host(H::Ip(ip))) => c.contains(*ip),
            (NetTarget::Cidr(c), NetTarget::Cidr(d)) => c.contains_net(d),
            _ => false,
        }
    }

    fn as_net(&self) -> Option<Cidr> {
        match self {
            NetTarget::Host(HostPattern::Ip(ip)) => Some(Cidr::single(*ip)),
            NetTarget::Cidr(c) => Some(*c),
            NetTarget::Host(_) => None,
        }
    }
}

impl fmt::Display for NetTarget {
    /// `host: "…"` or `cidr: "…"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetTarget::Host(h) => write!(f, "host `{h}`"),
            NetTarget::Cidr(c) => write!(f, "cidr `{c}`"),
        }
    }
}

/// An allow rule: a target, its schemes (default `[https]`) and ports
/// (default: each scheme's default port — 443 for https, 80 for http; tcp
/// and udp need explicit ports).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetworkAllow {
    pub(crate) target: NetTarget,
    /// Sorted, distinct; `None` = the schemes' default ports.
    pub(crate) ports: Option<Vec<u16>>,
    /// Sorted, distinct, non-empty.
    pub(crate) schemes: Vec<Scheme>,
}

impl NetworkAllow {
    /// Builds a rule, normalising ports: sorted, and a list equal to the
    /// default of a single-scheme rule (`[443]` for https) becomes `None`.
    pub(crate) fn new(
        target: NetTarget,
        ports: Option<Vec<u16>>,
        mut schemes: Vec<Scheme>,
    ) -> NetworkAllow {
        schemes.sort();
        schemes.dedup();
        let ports = ports.map(|mut p| {
            p.sort_unstable();
            p.dedup();
            p
        });
        let ports = match (&ports, schemes.as_slice()) {
            (Some(p), [s]) if s.default_port().is_some_and(|d| p == &[d]) => None,
            _ => ports,
        };
        NetworkAllow {
            target,
            ports,
            schemes,
        }
    }

    /// The host or network.
    #[must_use]
    pub fn target(&self) -> &NetTarget {
        &self.target
    }
    /// The ports as written (sorted), `None` for the schemes' defaults.
    #[must_use]
    pub fn ports(&self) -> Option<&[u16]> {
        self.ports.as_deref()
    }
    /// The schemes, sorted.
    #[must_use]
    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    /// Whether the rule allows `port` for `scheme`.
    #[must_use]
    pub fn allows_port(&self, scheme: Scheme, port: u16) -> bool {
        self.schemes.contains(&scheme)
            && match &self.ports {
                Some(p) => p.contains(&port),
                None => scheme.default_port() == Some(port),
            }
    }

    /// Every port the rule allows for some scheme.
    fn any_port(&self, port: u16) -> bool {
        self.schemes.iter().any(|s| self.allows_port(*s, port))
    }

    fn effective_ports(&self) -> Vec<u16> {
        match &self.ports {
            Some(p) => p.clone(),
            None => self
                .schemes
                .iter()
                .filter_map(|s| s.default_port())
                .collect(),
        }
    }
}

/// A deny rule: a target and optionally the ports it denies (default: all).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetworkDeny {
    pub(crate) target: NetTarget,
    /// Sorted, distinct; `None` = every port.
    pub(crate) ports: Option<Vec<u16>>,
}

impl NetworkDeny {
    pub(crate) fn new(target: NetTarget, ports: Option<Vec<u16>>) -> NetworkDeny {
        let ports = ports.map(|mut p| {
            p.sort_unstable();
            p.dedup();
            p
        });
        NetworkDeny { target, ports }
    }
    /// The host or network.
    #[must_use]
    pub fn target(&self) -> &NetTarget {
        &self.target
    }
    /// The ports denied (sorted), `None` for every port.
    #[must_use]
    pub fn ports(&self) -> Option<&[u16]> {
        self.ports.as_deref()
    }
    fn denies_port(&self, port: u16) -> bool {
        self.ports.as_ref().is_none_or(|p| p.contains(&port))
    }

    /// Whether this rule denies everything `allow` allows.
    pub(crate) fn covers(&self, allow: &NetworkAllow) -> bool {
        self.target.covers(&allow.target)
            && match &self.ports {
                None => true,
                Some(denied) => allow.effective_ports().iter().all(|p| denied.contains(p)),
            }
    }
}

/// The `permissions.network` section, and the checks a runtime makes with it.
///
/// Deny by default; deny beats allow. [`check`](Self::check) decides a
/// request by scheme, host and port; [`check_addr`](Self::check_addr) then
/// decides the address the host actually connects to (after DNS), so a
/// granted name that resolves to a denied address is still refused;
/// [`check_lookup`](Self::check_lookup) decides whether a name may be
/// resolved at all.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct NetworkRules {
    pub(crate) allow: Vec<NetworkAllow>,
    pub(crate) deny: Vec<NetworkDeny>,
}

impl NetworkRules {
    /// The allow rules in document order.
    #[must_use]
    pub fn allow(&self) -> &[NetworkAllow] {
        &self.allow
    }

    /// The deny rules in document order.
    #[must_use]
    pub fn deny(&self) -> &[NetworkDeny] {
        &self.deny
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Decides a request to `host:port` over `scheme`.
    ///
    /// `host` is taken as a request names it (case-insensitive, one trailing
    /// dot ignored, IPv6 with or without brackets); a host that is neither a
    /// valid name nor an IP address is denied. In order: the first deny rule
    /// matching host and port denies; an IP-literal host in a built-in range
    /// that cannot be overridden is denied; the first allow rule matching
    /// scheme, host and port allows (for an overridable built-in range only
    /// an IP or CIDR rule can match, since names never match IPs); otherwise
    /// denied, naming the first reason: an allow rule that names the host
    /// for another port or scheme, else the built-in range, else nothing
    /// (the default).
    #[must_use]
    pub fn check(&self, scheme: Scheme, host: &str, port: u16) -> Decision {
        let Some(host) = RequestHost::parse(host) else {
            return Decision::deny(None);
        };
        if let Some(i) = self
            .deny
            .iter()
            .position(|d| d.target.matches(&host) && d.denies_port(port))
        {
            return Decision::deny(Some(RuleRef::NetworkDeny(i)));
        }
        let built_in = match host {
            RequestHost::Ip(ip) => built_in_deny(ip),
            RequestHost::Name(_) => None,
        };
        if let Some(b) = built_in.filter(|b| !b.overridable) {
            return Decision::deny(Some(RuleRef::BuiltIn(b)));
        }
        match self
            .allow
            .iter()
            .position(|a| a.target.matches(&host) && a.allows_port(scheme, port))
        {
            Some(i) => Decision::allow(Some(RuleRef::NetworkAllow(i))),
            None => Decision::deny(
                self.near_miss(&host, scheme, port)
                    .or(built_in.map(RuleRef::BuiltIn)),
            ),
        }
    }

    /// Why no allow rule matched a host some rule does name: the port (a
    /// rule grants this scheme on other ports) or the scheme. This is the
    /// first reason a person needs, ahead of a built-in range an IP rule
    /// would have lifted.
    fn near_miss(&self, host: &RequestHost, scheme: Scheme, port: u16) -> Option<RuleRef> {
        let named = |a: &&NetworkAllow| a.target.matches(host);
        if let Some(i) = (self.allow.iter()).position(|a| named(&a) && a.schemes.contains(&scheme))
        {
            return Some(RuleRef::OtherPort { allow: i, port });
        }
        (self.allow.iter())
            .position(|a| named(&a))
            .map(|i| RuleRef::OtherScheme { allow: i, scheme })
    }

    /// Decides the address a request or socket actually connects to, after
    /// its host passed [`check`](Self::check) (this is the second gate, not
    /// a grant: a public address that no rule mentions is allowed here).
    ///
    /// In order: the first deny rule whose IP or CIDR contains `ip` (and
    /// denies `port`) denies; a built-in range denies unless it is
    /// overridable and an allow rule names `ip` by IP or CIDR with `port`
    /// among its ports (any scheme); otherwise allowed.
    #[must_use]
    pub fn check_addr(&self, ip: IpAddr, port: u16) -> Decision {
        let ip = ip.to_canonical();
        if let Some(i) = self
            .deny
            .iter()
            .position(|d| d.target.contains_ip(ip) && d.denies_port(port))
        {
            return Decision::deny(Some(RuleRef::NetworkDeny(i)));
        }
        let Some(b) = built_in_deny(ip) else {
            return Decision::allow(None);
        };
        if b.overridable
            && let Some(i) = self
                .allow
                .iter()
                .position(|a| a.target.contains_ip(ip) && a.any_port(port))
        {
            return Decision::allow(Some(RuleRef::NetworkAllow(i)));
        }
        Decision::deny(Some(RuleRef::BuiltIn(b)))
    }

    /// Decides whether the tool may resolve `name` (`wasi:sockets`
    /// name lookup): allowed when some allow rule names it (any scheme and
    /// port) and no deny rule denies it on every port.
    #[must_use]
    pub fn check_lookup(&self, name: &str) -> Decision {
        let Some(host) = RequestHost::parse(name) else {
            return Decision::deny(None);
        };
        if let Some(i) = self
            .deny
            .iter()
            .position(|d| d.target.matches(&host) && d.ports.is_none())
        {
            return Decision::deny(Some(RuleRef::NetworkDeny(i)));
        }
        match self.allow.iter().position(|a| a.target.matches(&host)) {
            Some(i) => Decision::allow(Some(RuleRef::NetworkAllow(i))),
            None => Decision::deny(None),
        }
    }

    /// The first deny rule that denies everything allow rule `i` allows.
    pub(crate) fn covering_deny(&self, allow: &NetworkAllow) -> Option<usize> {
        self.deny.iter().position(|d| d.covers(allow))
    }
}

/// Refuses an allow rule whose IP or CIDR lies entirely inside a built-in
/// range that cannot be overridden: it could never match.
pub(crate) fn refuse_dead_allow(target: &NetTarget) -> Result<(), PolicyError> {
    let Some(net) = target.as_net() else {
        return Ok(());
    };
    // The first range containing the whole network decides it, unless an
    // earlier (overridable) range takes part of it first.
    let first = BUILT_IN_DENIES
        .iter()
        .position(|b| b.network.contains_net(&net));
    let dead = first.filter(|&i| {
        !BUILT_IN_DENIES[i].overridable
            && !BUILT_IN_DENIES[..i]
                .iter()
                .any(|e| e.network.overlaps(&net))
    });
    if let Some(b) = dead.map(|i| &BUILT_IN_DENIES[i]) {
        return Err(invalid(format!(
            "{target} is in {} ({}), which weld always denies; this rule could never match — remove it",
            b.network, b.name
        )));
    }
    Ok(())
}
