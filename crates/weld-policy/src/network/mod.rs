//! Network rules: hosts, CIDRs, ports and schemes; the per-request check,
//! the resolved-address check, and the built-in address denies.
//!
//! The arrows run one way: `host` and `cidr` know no rules;
//! `builtin_denies` is a table of [`Cidr`]s; `decision` names the rule that
//! decided; `rules` builds on all of them.

mod address;
mod builtin_denies;
mod cidr;
mod decision;
mod host;
mod rules;

pub(crate) use address::Address;
pub use address::NetworkGrant;
pub use builtin_denies::{BUILT_IN_DENIES, BuiltInDeny, built_in_deny};
pub use cidr::Cidr;
pub use decision::{Decision, RuleRef};
pub(crate) use host::Side;
pub use host::{HostPattern, Scheme};
pub(crate) use rules::refuse_dead_allow;
pub use rules::{NetTarget, NetworkAllow, NetworkDeny, NetworkRules};

use crate::error::{ErrorKind, PolicyError};

/// An [`ErrorKind::InvalidValue`] error without a place: the decoder adds
/// the rule's line and column.
fn invalid(message: String) -> PolicyError {
    PolicyError::nowhere(ErrorKind::InvalidValue, message)
}
