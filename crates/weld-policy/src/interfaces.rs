//! Interface rules: which WIT interfaces a component may import.

use std::fmt;

use crate::error::{ErrorKind, PolicyError};
use crate::network::{Decision, RuleRef};

/// A WIT interface pattern: `ns:pkg/iface`, `ns:pkg/iface@1.2.3` or
/// `ns:pkg/*` (every interface of the package, any version).
///
/// Without `@version` a pattern matches every version of the interface
/// (and an unversioned import); with one, exactly that version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InterfacePattern {
    namespace: String,
    package: String,
    /// `None` for `*`.
    interface: Option<String>,
    version: Option<String>,
}

/// A parsed import name.
struct ImportName<'a> {
    namespace: &'a str,
    package: &'a str,
    interface: &'a str,
    version: Option<&'a str>,
}

/// `ns:pkg/iface[@version]`, with WIT identifiers and a semver version.
fn split_name(text: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let (path, version) = match text.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (text, None),
    };
    let (namespace, rest) = path.split_once(':')?;
    let (package, interface) = rest.split_once('/')?;
    Some((namespace, package, interface, version))
}

impl<'a> ImportName<'a> {
    fn parse(text: &'a str) -> Option<ImportName<'a>> {
        let (namespace, package, interface, version) = split_name(text)?;
        let ok = is_wit_id(namespace)
            && is_wit_id(package)
            && is_wit_id(interface)
            && version.is_none_or(is_semver);
        ok.then_some(ImportName {
            namespace,
            package,
            interface,
            version,
        })
    }
}

/// A WIT identifier: `-`-separated words, each all lower case or all upper
/// case, starting with a letter.
fn is_wit_id(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|w| {
            let mut b = w.bytes();
            match b.next() {
                Some(c) if c.is_ascii_lowercase() => {
                    b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                }
                Some(c) if c.is_ascii_uppercase() => {
                    b.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                }
                _ => false,
            }
        })
}

/// `MAJOR.MINOR.PATCH`, optional `-pre` and `+build` of `[0-9A-Za-z.-]`.
fn is_semver(s: &str) -> bool {
    let (core, _build) = s.split_once('+').map_or((s, None), |(c, b)| (c, Some(b)));
    let (core, pre) = core
        .split_once('-')
        .map_or((core, None), |(c, p)| (c, Some(p)));
    let extra_ok = |x: &str| {
        !x.is_empty()
            && x.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3
        && nums
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(extra_ok)
        && s.split_once('+').is_none_or(|(_, b)| extra_ok(b))
}

impl InterfacePattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] naming the pattern and the forms weld
    /// accepts.
    pub fn parse(text: &str) -> Result<InterfacePattern, PolicyError> {
        let invalid = |why: &str| {
            PolicyError::nowhere(
                ErrorKind::InvalidValue,
                format!(
                    "interface pattern `{}` {why}; write `namespace:package/interface` (e.g. `wasi:http/outgoing-handler`), optionally with `@version`, or `namespace:package/*`",
                    text.escape_debug()
                ),
            )
        };
        let Some((namespace, package, interface, version)) = split_name(text) else {
            return Err(invalid("is not of the form `namespace:package/interface`"));
        };
        if !is_wit_id(namespace) || !is_wit_id(package) {
            return Err(invalid(
                "has a namespace or package that is not a WIT identifier (kebab-case words)",
            ));
        }
        let interface = match interface {
            "*" => None,
            i if is_wit_id(i) => Some(i.to_owned()),
            _ => {
                return Err(invalid(
                    "has an interface that is neither a WIT identifier nor `*`",
                ));
            }
        };
        if let Some(v) = version {
            if interface.is_none() {
                return Err(invalid(
                    "puts a version on `*`; a version belongs to one interface",
                ));
            }
            if !is_semver(v) {
                return Err(invalid("has a version that is not semver (`0.2.0`)"));
            }
        }
        Ok(InterfacePattern {
            namespace: namespace.to_owned(),
            package: package.to_owned(),
            interface,
            version: version.map(str::to_owned),
        })
    }

    /// Whether the pattern matches the import name `name` (e.g.
    /// `wasi:sockets/tcp@0.2.0`). Names that are not interface imports never
    /// match.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let Some(n) = ImportName::parse(name) else {
            return false;
        };
        self.namespace == n.namespace
            && self.package == n.package
            && self.interface.as_deref().is_none_or(|i| i == n.interface)
            && self.version.as_deref().is_none_or(|v| Some(v) == n.version)
    }
}

impl fmt::Display for InterfacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.namespace,
            self.package,
            self.interface.as_deref().unwrap_or("*")
        )?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// The `permissions.interfaces` section: a filter on what a component may
/// import, on top of what the runtime's linker provides at all.
///
/// Without an `allow` list every import the linker provides is permitted
/// (capabilities are still governed by the storage, network and environment
/// sections); with one, only imports matching it. `deny` always wins.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Interfaces {
    pub(crate) allow: Option<Vec<InterfacePattern>>,
    pub(crate) deny: Vec<InterfacePattern>,
}

impl Interfaces {
    /// The allow list, if the policy has one.
    #[must_use]
    pub fn allow(&self) -> Option<&[InterfacePattern]> {
        self.allow.as_deref()
    }

    /// The deny list.
    #[must_use]
    pub fn deny(&self) -> &[InterfacePattern] {
        &self.deny
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.allow.is_none() && self.deny.is_empty()
    }

    /// Decides whether a component may import `import_name`
    /// (`wasi:sockets/tcp@0.2.0`): denied by the first matching deny
    /// pattern; else, with an allow list, allowed by the first matching allow
    /// pattern or denied by default; without one, allowed (`rule: None`).
    #[must_use]
    pub fn check(&self, import_name: &str) -> Decision {
        if let Some(i) = self.deny.iter().position(|p| p.matches(import_name)) {
            return Decision::deny(Some(RuleRef::InterfaceDeny(i)));
        }
        match &self.allow {
            None => Decision::allow(None),
            Some(allow) => match allow.iter().position(|p| p.matches(import_name)) {
                Some(i) => Decision::allow(Some(RuleRef::InterfaceAllow(i))),
                None => Decision::deny(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_versions_as_documented() {
        let any = InterfacePattern::parse("wasi:sockets/*").unwrap();
        assert!(any.matches("wasi:sockets/tcp@0.2.0"));
        assert!(any.matches("wasi:sockets/udp"));
        assert!(!any.matches("wasi:socketsx/tcp"));
        assert!(!any.matches("log"));
        let exact = InterfacePattern::parse("wasi:http/outgoing-handler@0.2.0").unwrap();
        assert!(exact.matches("wasi:http/outgoing-handler@0.2.0"));
        assert!(!exact.matches("wasi:http/outgoing-handler@0.2.1"));
        assert!(!exact.matches("wasi:http/outgoing-handler"));
        let unversioned = InterfacePattern::parse("wasi:http/outgoing-handler").unwrap();
        assert!(unversioned.matches("wasi:http/outgoing-handler@0.3.0-rc-2025-09-16"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        let e = |s: &str| InterfacePattern::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("wasi:*"),
            "interface pattern `wasi:*` is not of the form `namespace:package/interface`; write `namespace:package/interface` (e.g. `wasi:http/outgoing-handler`), optionally with `@version`, or `namespace:package/*`"
        );
        assert!(e("wasi:sockets/*@0.2.0").contains("puts a version on `*`"));
        assert!(e("wasi:sockets/tcp@0.2").contains("has a version that is not semver"));
        assert!(e("Wasi:sockets/tcp").contains("not a WIT identifier"));
        assert!(e("wasi:sockets/tc*").contains("neither a WIT identifier nor `*`"));
        assert!(InterfacePattern::parse("wasi:cli/environment@0.2.0-rc.1+build.5").is_ok());
    }
}
