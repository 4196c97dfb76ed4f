//! [`Decision`]: the outcome of a check and the rule ([`RuleRef`]) that
//! decided it, as network and interface checks report them to the audit
//! log.

use std::fmt;

use super::builtin_denies::BuiltInDeny;
use super::host::Scheme;

/// Which rule decided, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleRef {
    /// `permissions.network.allow[i]`
    NetworkAllow(usize),
    /// `permissions.network.deny[i]`
    NetworkDeny(usize),
    /// `permissions.interfaces.allow[i]`
    InterfaceAllow(usize),
    /// `permissions.interfaces.deny[i]`
    InterfaceDeny(usize),
    /// One of [`BUILT_IN_DENIES`](super::BUILT_IN_DENIES).
    BuiltIn(&'static BuiltInDeny),
    /// Denied: `permissions.network.allow[allow]` names the host, but no
    /// allow rule grants it over `scheme`.
    OtherScheme {
        /// The first allow rule that names the host.
        allow: usize,
        /// The scheme the request used.
        scheme: Scheme,
    },
    /// Denied: `permissions.network.allow[allow]` names the host for the
    /// request's scheme, but no allow rule grants `port`.
    OtherPort {
        /// The first allow rule that names the host for the scheme.
        allow: usize,
        /// The port the request used.
        port: u16,
    },
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleRef::NetworkAllow(i) => write!(f, "permissions.network.allow[{i}]"),
            RuleRef::NetworkDeny(i) => write!(f, "permissions.network.deny[{i}]"),
            RuleRef::InterfaceAllow(i) => write!(f, "permissions.interfaces.allow[{i}]"),
            RuleRef::InterfaceDeny(i) => write!(f, "permissions.interfaces.deny[{i}]"),
            RuleRef::BuiltIn(b) => write!(f, "built-in deny {} ({})", b.network, b.name),
            RuleRef::OtherScheme { allow, scheme } => write!(
                f,
                "no {scheme} rule for this host: permissions.network.allow[{allow}] allows it over other schemes only"
            ),
            RuleRef::OtherPort { allow, port } => write!(
                f,
                "port {port} is not allowed on this host: permissions.network.allow[{allow}] allows it on other ports only"
            ),
        }
    }
}

/// The outcome of a check, and the rule that decided it. `rule` is `None`
/// when no rule matched: denied by default, or (for
/// [`NetworkRules::check_addr`](super::NetworkRules::check_addr) and [`Interfaces::check`](crate::Interfaces::check))
/// allowed because nothing restricts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the use is allowed.
    pub allowed: bool,
    /// The rule that decided, if one did.
    pub rule: Option<RuleRef>,
}

impl Decision {
    /// Whether a deny rule or a built-in range denied this, as opposed to
    /// nothing granting it (denied by default, or an allow rule that names
    /// the host for another scheme or port). A caller that has other ways to
    /// allow a use (a name rule resolving to an address) may try them only
    /// when this is false.
    #[must_use]
    pub fn denied_by_rule(&self) -> bool {
        !self.allowed
            && matches!(
                self.rule,
                Some(RuleRef::NetworkDeny(_) | RuleRef::BuiltIn(_))
            )
    }

    pub(crate) fn allow(rule: Option<RuleRef>) -> Decision {
        Decision {
            allowed: true,
            rule,
        }
    }
    pub(crate) fn deny(rule: Option<RuleRef>) -> Decision {
        Decision {
            allowed: false,
            rule,
        }
    }
}
