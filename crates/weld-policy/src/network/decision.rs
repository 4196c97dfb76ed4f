//! [`Decision`]: the outcome of a check and the rule ([`RuleRef`]) that
//! decided it, as network and interface checks report them to the audit
//! log.

use std::fmt;

use super::builtin_denies::BuiltInDeny;

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
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleRef::NetworkAllow(i) => write!(f, "permissions.network.allow[{i}]"),
            RuleRef::NetworkDeny(i) => write!(f, "permissions.network.deny[{i}]"),
            RuleRef::InterfaceAllow(i) => write!(f, "permissions.interfaces.allow[{i}]"),
            RuleRef::InterfaceDeny(i) => write!(f, "permissions.interfaces.deny[{i}]"),
            RuleRef::BuiltIn(b) => write!(f, "built-in deny {} ({})", b.network, b.name),
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
