//! The address ranges weld denies whatever a policy says, or unless an
//! allow rule names an address in them by IP or CIDR: cloud metadata,
//! link-local, loopback, private and other special-purpose ranges. The
//! table is data; `docs/policy.md` lists every row (a tidy test checks).

use std::net::{IpAddr, Ipv4Addr};

use super::cidr::Cidr;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
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
}
