//! Hosts as rules name them ([`HostPattern`]) and as requests name them
//! (`RequestHost`), the schemes a rule allows, and the checks that make a
//! host name one weld can match exactly.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use super::invalid;
use crate::error::{ErrorKind, PolicyError};

/// How a tool reaches a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP through `wasi:http` (default port 80).
    Http,
    /// HTTPS through `wasi:http` (default port 443). The default scheme.
    Https,
    /// A raw TCP connection through `wasi:sockets` (no default port).
    Tcp,
    /// UDP datagrams through `wasi:sockets` (no default port).
    Udp,
}

impl Scheme {
    /// The port a rule allows for this scheme when it lists no `ports`.
    #[must_use]
    pub fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Http => Some(80),
            Scheme::Https => Some(443),
            Scheme::Tcp | Scheme::Udp => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
        })
    }
}

impl FromStr for Scheme {
    type Err = PolicyError;
    /// `http`, `https`, `tcp` or `udp`, lower case.
    fn from_str(s: &str) -> Result<Scheme, PolicyError> {
        match s {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            "tcp" => Ok(Scheme::Tcp),
            "udp" => Ok(Scheme::Udp),
            _ => Err(PolicyError::nowhere(
                ErrorKind::InvalidValue,
                format!("unknown scheme `{s}`; expected one of: http, https, tcp, udp"),
            )),
        }
    }
}

/// The host of a rule: an exact DNS name, a `*.suffix` wildcard, or an IP
/// address.
///
/// Names are ASCII (internationalised names in their `xn--` form), stored in
/// lower case, without a trailing dot, and may not end in a numeric label
/// (such "names" are IPv4 addresses to a URL parser). `*.example.com` matches
/// every name *below* `example.com` at any depth (`a.example.com`,
/// `a.b.example.com`), not `example.com` itself — the CSP meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// An exact name, e.g. `api.github.com`.
    Name(String),
    /// `*.` + this suffix, e.g. `example.com` for `*.example.com`.
    Wildcard(String),
    /// An IPv4 or IPv6 address (IPv4-mapped IPv6 is stored as IPv4).
    Ip(IpAddr),
}

/// Whether a host pattern is read for an allow rule (stricter) or a deny rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Allow,
    Deny,
}

impl HostPattern {
    /// Parses a rule's `host` (`[v6]` brackets are accepted and dropped).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] naming the host and the fix.
    pub fn parse(text: &str) -> Result<HostPattern, PolicyError> {
        Self::parse_for(text, Side::Allow)
    }

    pub(crate) fn parse_for(text: &str, side: Side) -> Result<HostPattern, PolicyError> {
        if text == "*" {
            return Err(invalid(match side {
                Side::Allow => "host `*` would allow every host; list the hosts the tool needs (`*.example.com` allows the subdomains of one domain)".to_owned(),
                Side::Deny => "host `*` would deny every host, including the allowed ones (deny beats allow); weld denies every host that is not allowed already — remove this rule".to_owned(),
            }));
        }
        if let Some(ip) = parse_ip_literal(text) {
            return Ok(HostPattern::Ip(ip));
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            if suffix.contains('*') {
                return Err(invalid(format!(
                    "host `{text}` has more than one `*`; only one leading `*.` label is supported (`*.example.com`)"
                )));
            }
            let suffix = validate_name(suffix, text)?;
            if side == Side::Allow && is_localhost(&suffix) {
                return Err(localhost(text));
            }
            return Ok(HostPattern::Wildcard(suffix));
        }
        if text.contains('*') {
            return Err(invalid(format!(
                "host `{text}` has a `*` that is not a leading `*.` label; write `*.example.com` to match the subdomains of a domain"
            )));
        }
        let name = validate_name(text, text)?;
        if side == Side::Allow && is_localhost(&name) {
            return Err(localhost(text));
        }
        Ok(HostPattern::Name(name))
    }

    pub(super) fn matches(&self, host: &RequestHost) -> bool {
        match (self, host) {
            (HostPattern::Name(n), RequestHost::Name(h)) => n == h,
            (HostPattern::Wildcard(s), RequestHost::Name(h)) => is_below(h, s),
            (HostPattern::Ip(a), RequestHost::Ip(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Name(n) => f.write_str(n),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

pub(super) fn is_below(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || is_below(name, "localhost")
}

fn localhost(text: &str) -> PolicyError {
    invalid(format!(
        "host `{text}` always resolves to loopback, which weld denies unless the address itself is allowed; write `host: \"127.0.0.1\"` (or `\"::1\"`) with the port"
    ))
}

/// An IP literal, `[v6]` brackets allowed; IPv4-mapped IPv6 becomes IPv4.
fn parse_ip_literal(text: &str) -> Option<IpAddr> {
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
    let ip = match inner {
        Some(v6) => IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?),
        None => text.parse::<IpAddr>().ok()?,
    };
    Some(ip.to_canonical())
}

/// Checks a DNS name and returns it in lower case.
fn validate_name(name: &str, written: &str) -> Result<String, PolicyError> {
    if name.is_empty() {
        return Err(invalid(format!(
            "host `{written}` is empty after `*.`; write `*.example.com`"
        )));
    }
    if !name.is_ascii() {
        return Err(invalid(format!(
            "host `{written}` is not ASCII; write internationalised names in their ASCII form (`xn--…`)"
        )));
    }
    if name.contains("://") || name.contains('/') {
        return Err(invalid(format!(
            "host `{written}` looks like a URL; write the host name alone (`api.example.com`), ports under `ports` and schemes under `schemes`"
        )));
    }
    if name.contains(':') {
        return Err(invalid(format!(
            "host `{written}` contains `:`; write the host alone and its ports under `ports: [...]` (IPv6 addresses are written bare or in brackets)"
        )));
    }
    if name.ends_with('.') {
        return Err(invalid(format!(
            "host `{written}` ends with a dot; remove it"
        )));
    }
    if name.len() > 253 {
        return Err(invalid(format!(
            "host `{written}` is longer than 253 characters"
        )));
    }
    let lower = name.to_ascii_lowercase();
    for label in lower.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(invalid(format!(
                "host `{written}` is not a valid host name: each dot-separated label is 1–63 letters, digits, `-` or `_`, not starting or ending with `-`"
            )));
        }
    }
    // A URL parser reads a host whose last label is a number (`1.2.3`,
    // `0x7f000001`) as an IPv4 address, so such a name is refused.
    let last = lower.rsplit('.').next().unwrap_or_default();
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex || last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "host `{written}` is neither an IP address nor a host name (a name cannot end in a numeric label); write a full IPv4 address (`10.0.0.1`) or a name"
        )));
    }
    Ok(lower)
}

/// A host as a request names it, normalised: an IP (brackets dropped,
/// IPv4-mapped made IPv4) or a lower-case name without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RequestHost {
    Name(String),
    Ip(IpAddr),
}

impl RequestHost {
    pub(super) fn parse(host: &str) -> Option<RequestHost> {
        if let Some(ip) = parse_ip_literal(host) {
            return Some(RequestHost::Ip(ip));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        let name = validate_name(name, host).ok()?;
        Some(RequestHost::Name(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_subdomains_at_any_depth_but_not_the_apex() {
        assert!(is_below("a.example.com", "example.com"));
        assert!(is_below("a.b.example.com", "example.com"));
        assert!(!is_below("example.com", "example.com"));
        assert!(!is_below("badexample.com", "example.com"));
    }
}
