//! A network target as people write it outside a rule's fields: `HOST`,
//! `HOST:PORT`, `[V6]:PORT`, or a URL `SCHEME://HOST[:PORT][/]` — the form
//! `weld grant` takes and the URL-style `host:` of policy-mcp and Wassette
//! policies (`https://rss.nytimes.com/`). Scheme, host and port are taken
//! apart here; nothing beyond them is accepted, because weld checks a
//! request by scheme, host and port and could not enforce a path.

use super::host::{HostPattern, Scheme, Side};
use super::invalid;
use crate::error::PolicyError;

/// The parts of a written target. `scheme` and `port` are `None` when not
/// written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address {
    pub scheme: Option<Scheme>,
    pub host: HostPattern,
    pub port: Option<u16>,
}

impl Address {
    /// Whether `text` is URL-shaped (has a `scheme://`).
    pub(crate) fn is_url(text: &str) -> bool {
        text.contains("://")
    }

    /// Parses `[SCHEME://]HOST[:PORT][/]`, for a rule of `side`.
    ///
    /// A URL's path may be empty or `/` (every path: the same as no path);
    /// any other path, a query, a fragment or user information is refused
    /// with the reason and what to write instead.
    pub(crate) fn parse(text: &str, side: Side) -> Result<Address, PolicyError> {
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest)) => {
                let scheme = s.to_ascii_lowercase().parse::<Scheme>().map_err(|_| {
                    invalid(format!(
                        "`{text}` has the scheme `{s}`; weld grants http://, https://, tcp:// and udp://"
                    ))
                })?;
                (Some(scheme), rest)
            }
            None => (None, text),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if !matches!(path, "" | "/") {
            let bare = format!(
                "{}{authority}",
                scheme.map(|s| format!("{s}://")).unwrap_or_default()
            );
            return Err(invalid(format!(
                "`{text}` names the path `{path}`; weld checks a request by scheme, host and port and cannot limit it to a path — grant `{bare}` (every path on that host) or nothing"
            )));
        }
        if authority.contains('@') {
            return Err(invalid(format!(
                "`{text}` has user information (`…@`); write the host alone"
            )));
        }
        if authority.is_empty() {
            return Err(invalid(format!("`{text}` names no host")));
        }
        let (host, port) = split_port(authority, text)?;
        let host = HostPattern::parse_for(host, side)?;
        Ok(Address { scheme, host, port })
    }

    /// The port a grant of this target means: the written one, else the
    /// scheme's default (https when no scheme is written).
    pub(crate) fn port_or_default(&self, text: &str) -> Result<u16, PolicyError> {
        let scheme = self.scheme.unwrap_or(Scheme::Https);
        self.port.or(scheme.default_port()).ok_or_else(|| {
            invalid(format!(
                "`{text}`: {scheme} has no default port; write `{scheme}://HOST:PORT`"
            ))
        })
    }
}

/// `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`, or a bare IPv6 address.
fn split_port<'a>(authority: &'a str, text: &str) -> Result<(&'a str, Option<u16>), PolicyError> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid(format!("`{text}` has port `{p}`; ports are 1–65535")))
    };
    if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Err(invalid(format!(
                "`{text}` opens `[` without closing it; write `[::1]:8443`"
            )));
        };
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(p) => Ok((host, Some(port(p)?))),
                None => Err(invalid(format!("`{text}`: expected `:PORT` after `]`"))),
            },
        };
    }
    match authority.matches(':').count() {
        0 => Ok((authority, None)),
        1 => {
            let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
            Ok((h, Some(port(p)?)))
        }
        // A bare IPv6 address: no port can follow without brackets.
        _ => Ok((authority, None)),
    }
}

/// What a network grant or revoke names (`weld grant TOOL network
/// TARGET`, `weld_request_grant`), taken apart for a person to read before
/// approving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkGrant {
    /// The scheme: the written one, else HTTPS.
    pub scheme: Scheme,
    /// The host.
    pub host: HostPattern,
    /// The port: the written one, else the scheme's default when a scheme
    /// was written; `None` for a bare `HOST` (443 for a grant, every rule
    /// for the host for a revoke).
    pub port: Option<u16>,
}

impl NetworkGrant {
    /// Parses `HOST[:PORT]` or `SCHEME://HOST[:PORT]` as
    /// [`Policy::grant_network`](crate::Policy::grant_network) does.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) naming
    /// the fix.
    pub fn parse(text: &str) -> Result<NetworkGrant, PolicyError> {
        let a = Address::parse(text, Side::Allow)?;
        let port = match (a.scheme, a.port) {
            (None, None) => None,
            _ => Some(a.port_or_default(text)?),
        };
        Ok(NetworkGrant {
            scheme: a.scheme.unwrap_or(Scheme::Https),
            host: a.host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Address {
        Address::parse(text, Side::Allow).unwrap()
    }
    fn err(text: &str) -> String {
        Address::parse(text, Side::Allow).unwrap_err().to_string()
    }

    #[test]
    fn urls_are_taken_apart_into_scheme_host_and_port() {
        let a = ok("https://rss.nytimes.com/");
        assert_eq!(a.scheme, Some(Scheme::Https));
        assert_eq!(a.host, HostPattern::Name("rss.nytimes.com".into()));
        assert_eq!(a.port, None);
        assert_eq!(a.port_or_default("x").unwrap(), 443);
        let a = ok("http://127.0.0.1:8080");
        assert_eq!(a.scheme, Some(Scheme::Http));
        assert_eq!(a.port, Some(8080));
        assert_eq!(ok("http://example.com").port_or_default("x").unwrap(), 80);
        assert_eq!(ok("HTTPS://[::1]:8443/").port, Some(8443));
        assert_eq!(ok("tcp://db.example:5432").scheme, Some(Scheme::Tcp));
        assert_eq!(ok("api.github.com:8443").port, Some(8443));
        assert_eq!(ok("api.github.com").port_or_default("x").unwrap(), 443);
    }

    #[test]
    fn what_a_url_says_beyond_scheme_host_and_port_is_refused_with_the_fix() {
        assert!(err("https://example.com/feed").contains(
            "cannot limit it to a path — grant `https://example.com` (every path on that host)"
        ));
        assert!(err("https://example.com?q=1").contains("names the path `?q=1`"));
        assert!(err("https://me@example.com").contains("user information"));
        assert!(
            err("ftp://example.com").contains("weld grants http://, https://, tcp:// and udp://")
        );
        assert!(err("https://").contains("names no host"));
        assert!(err("https://example.com:0").contains("ports are 1–65535"));
        let tcp = ok("tcp://db.example");
        assert!(
            tcp.port_or_default("tcp://db.example")
                .unwrap_err()
                .to_string()
                .contains("tcp has no default port; write `tcp://HOST:PORT`")
        );
    }
}
