//! Network rules: hosts, CIDRs, ports and schemes; the per-request check,
//! the resolved-address check, and the built-in address denies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

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

fn invalid(message: String) -> PolicyError {
    PolicyError::nowhere(ErrorKind::InvalidValue, message)
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

    fn matches(&self, host: &RequestHost) -> bool {
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

fn is_below(name: &str, suffix: &str) -> bool {
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

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    #[allow(clippy::too_many_arguments)]
    const fn v6(s: [u16; 8], prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V6(Ipv6Addr::new(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            )),
            prefix,
        }
    }

    /// Parses `ADDRESS/PREFIX`. Host bits must be zero, and a `/0` network is
    /// refused (it would allow or deny every address).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] naming the CIDR and the fix.
    pub fn parse(text: &str) -> Result<Cidr, PolicyError> {
        let bad = || {
            invalid(format!(
                "`{text}` is not a CIDR network; write an address and a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`"
            ))
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.is_empty() || prefix.len() > 3 {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(invalid(format!(
                "CIDR `{text}` has a prefix longer than {max} bits"
            )));
        }
        if let IpAddr::V6(v6) = addr
            && v6.to_ipv4_mapped().is_some()
        {
            return Err(invalid(format!(
                "CIDR `{text}` is an IPv4-mapped IPv6 network; write the IPv4 network instead"
            )));
        }
        if prefix == 0 {
            return Err(invalid(format!(
                "CIDR `{text}` covers every address; weld denies unlisted addresses already and refuses a rule that allows or denies everything — list the networks"
            )));
        }
        let cidr = Cidr { addr, prefix };
        let network = cidr.network();
        if network != addr {
            return Err(invalid(format!(
                "CIDR `{text}` has host bits set; write `{network}/{prefix}`"
            )));
        }
        Ok(cidr)
    }

    fn bits(ip: IpAddr) -> (u128, u8) {
        match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    }

    fn mask(&self, width: u8) -> u128 {
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !all.checked_shr(u32::from(self.prefix)).unwrap_or(0)
    }

    fn network(&self) -> IpAddr {
        let (bits, width) = Self::bits(self.addr);
        let net = bits & self.mask(width);
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(net).unwrap_or(0))),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(net)),
        }
    }

    /// The first address.
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside (same family only).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, wa) = Self::bits(self.addr);
        let (b, wb) = Self::bits(ip);
        wa == wb && (a ^ b) & self.mask(wa) == 0
    }

    /// Whether the two networks share an address.
    #[must_use]
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Whether every address of `other` is inside this network.
    #[must_use]
    pub fn contains_net(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

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
            (NetTarget::Host(H::Ip(a)), NetTarget::Cidr(c)) => {
                c.prefix == if a.is_ipv4() { 32 } else { 128 } && c.addr == *a
            }
            (NetTarget::Cidr(c), NetTarget::Host(H::Ip(ip))) => c.contains(*ip),
            (NetTarget::Cidr(c), NetTarget::Cidr(d)) => c.contains_net(d),
            _ => false,
        }
    }

    fn as_net(&self) -> Option<Cidr> {
        match self {
            NetTarget::Host(HostPattern::Ip(ip)) => Some(Cidr {
                addr: *ip,
                prefix: if ip.is_ipv4() { 32 } else { 128 },
            }),
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
    /// One of [`BUILT_IN_DENIES`].
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
/// [`NetworkRules::check_addr`] and [`Interfaces::check`](crate::Interfaces::check))
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

/// An address range weld denies whatever the policy says (`overridable:
/// false`), or unless an allow rule names an address in it by IP or CIDR
/// (`overridable: true`; a host *name* that resolves there never counts).
#[derive(Debug, PartialEq, Eq)]
pub struct BuiltInDeny {
    /// The range.
    pub network: Cidr,
    /// What the range is.
    pub name: &'static str,
    /// Whether an allow rule naming the address by IP or CIDR lifts the deny.
    pub overridable: bool,
}

/// The built-in denies, checked in order (the first match decides).
/// IPv4-mapped IPv6 addresses are checked as IPv4; NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002::/16`) addresses are checked by the IPv4 address they
/// embed as well.
pub static BUILT_IN_DENIES: &[BuiltInDeny] = &[
    BuiltInDeny {
        network: Cidr::v4(0, 0, 0, 0, 8),
        name: "\"this\" network; 0.0.0.0 reaches local services",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v4(169, 254, 0, 0, 16),
        name: "IPv4 link-local, incl. cloud metadata 169.254.169.254",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v4(100, 100, 100, 200, 32),
        name: "Alibaba Cloud metadata",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v4(192, 0, 0, 0, 24),
        name: "IETF protocol assignments, incl. Oracle Cloud metadata 192.0.0.192",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v4(224, 0, 0, 0, 4),
        name: "IPv4 multicast",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v4(240, 0, 0, 0, 4),
        name: "IPv4 reserved and broadcast",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
        name: "AWS metadata (IPv6)",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        name: "IPv6 loopback",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        name: "IPv6 unspecified and IPv4-compatible",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        name: "IPv6 discard-only",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        name: "IPv6 link-local",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        name: "IPv6 multicast",
        overridable: false,
    },
    BuiltInDeny {
        network: Cidr::v4(127, 0, 0, 0, 8),
        name: "IPv4 loopback",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v4(10, 0, 0, 0, 8),
        name: "private network",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v4(172, 16, 0, 0, 12),
        name: "private network",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v4(192, 168, 0, 0, 16),
        name: "private network",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v4(100, 64, 0, 0, 10),
        name: "shared address space (carrier-grade NAT)",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        name: "IPv6 unique local",
        overridable: true,
    },
    BuiltInDeny {
        network: Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        name: "IPv6 site-local (deprecated)",
        overridable: true,
    },
];

/// The built-in deny that covers `ip` (already canonical), if any.
#[must_use]
pub fn built_in_deny(ip: IpAddr) -> Option<&'static BuiltInDeny> {
    let ip = ip.to_canonical();
    if let Some(b) = BUILT_IN_DENIES.iter().find(|b| b.network.contains(ip)) {
        return Some(b);
    }
    embedded_v4(ip).and_then(built_in_deny)
}

/// The IPv4 address a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address
/// embeds.
fn embedded_v4(ip: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = ip else { return None };
    let s = v6.segments();
    let o = v6.octets();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15])))
    } else if s[0] == 0x2002 {
        Some(IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5])))
    } else {
        None
    }
}

/// A host as a request names it, normalised: an IP (brackets dropped,
/// IPv4-mapped made IPv4) or a lower-case name without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RequestHost {
    Name(String),
    Ip(IpAddr),
}

impl RequestHost {
    fn parse(host: &str) -> Option<RequestHost> {
        if let Some(ip) = parse_ip_literal(host) {
            return Some(RequestHost::Ip(ip));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        let name = validate_name(name, host).ok()?;
        Some(RequestHost::Name(name))
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
    /// denied — by the built-in range if there is one, else by default.
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
            None => Decision::deny(built_in.map(RuleRef::BuiltIn)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains_exactly_its_range() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.255.1.2")));
        assert!(!c.contains(ip("11.0.0.0")));
        assert!(
            !c.contains(ip("::ffff:10.0.0.1")),
            "IPv6 never matches an IPv4 network"
        );
        let c6 = Cidr::parse("fd00::/8").unwrap();
        assert!(c6.contains(ip("fdff::1")));
        assert!(
            Cidr::parse("10.0.0.0/8")
                .unwrap()
                .contains_net(&Cidr::parse("10.1.0.0/16").unwrap())
        );
        assert!(Cidr::parse("1.2.3.4/32").unwrap().contains(ip("1.2.3.4")));
    }

    #[test]
    fn cidr_errors_name_the_fix() {
        let e = |s: &str| Cidr::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("10.0.0.1/8"),
            "CIDR `10.0.0.1/8` has host bits set; write `10.0.0.0/8`"
        );
        assert_eq!(
            e("10.0.0.0/33"),
            "CIDR `10.0.0.0/33` has a prefix longer than 32 bits"
        );
        assert_eq!(
            e("10.0.0.0"),
            "`10.0.0.0` is not a CIDR network; write an address and a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`"
        );
        assert_eq!(
            e("10.0.0.0/+8"),
            "`10.0.0.0/+8` is not a CIDR network; write an address and a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`"
        );
        assert_eq!(
            e("0.0.0.0/0"),
            "CIDR `0.0.0.0/0` covers every address; weld denies unlisted addresses already and refuses a rule that allows or denies everything — list the networks"
        );
        assert_eq!(
            e("::ffff:10.0.0.0/104"),
            "CIDR `::ffff:10.0.0.0/104` is an IPv4-mapped IPv6 network; write the IPv4 network instead"
        );
    }

    #[test]
    fn built_in_denies_cover_metadata_loopback_and_embedded_ipv4() {
        assert!(!built_in_deny(ip("169.254.169.254")).unwrap().overridable);
        assert!(
            !built_in_deny(ip("::ffff:169.254.169.254"))
                .unwrap()
                .overridable
        );
        assert!(
            !built_in_deny(ip("64:ff9b::a9fe:a9fe")).unwrap().overridable,
            "NAT64 of 169.254.169.254"
        );
        assert!(
            !built_in_deny(ip("2002:a9fe:a9fe::1")).unwrap().overridable,
            "6to4 of 169.254.169.254"
        );
        assert!(built_in_deny(ip("127.0.0.1")).unwrap().overridable);
        assert!(built_in_deny(ip("::1")).unwrap().overridable);
        assert!(!built_in_deny(ip("::")).unwrap().overridable);
        assert!(!built_in_deny(ip("0.0.0.0")).unwrap().overridable);
        assert!(!built_in_deny(ip("fd00:ec2::254")).unwrap().overridable);
        assert!(built_in_deny(ip("fd00:ec2::253")).unwrap().overridable);
        assert!(!built_in_deny(ip("100.100.100.200")).unwrap().overridable);
        assert!(built_in_deny(ip("100.100.100.201")).unwrap().overridable);
        assert_eq!(built_in_deny(ip("140.82.112.5")), None);
        assert_eq!(built_in_deny(ip("2606:4700::1111")), None);
        assert_eq!(
            built_in_deny(ip("64:ff9b::8c52:7005")),
            None,
            "NAT64 of a public address"
        );
    }

    #[test]
    fn wildcards_match_subdomains_at_any_depth_but_not_the_apex() {
        assert!(is_below("a.example.com", "example.com"));
        assert!(is_below("a.b.example.com", "example.com"));
        assert!(!is_below("example.com", "example.com"));
        assert!(!is_below("badexample.com", "example.com"));
    }
}
