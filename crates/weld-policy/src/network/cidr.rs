//! [`Cidr`]: an IP network, its parsing and its containment checks.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::invalid;
use crate::error::PolicyError;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of exactly one address (`/32` or `/128`).
    pub(super) fn single(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    pub(super) const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    pub(super) const fn v6(s: [u16; 8], prefix: u8) -> Cidr {
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
    /// [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) naming the CIDR and the fix.
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
}
