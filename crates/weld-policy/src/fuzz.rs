//! The fuzzing oracle, kept here so `cargo test` runs it too (the cargo-fuzz
//! target in `fuzz/` is one line of glue over [`fuzz_check`]).

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::compile::{FileSystem, Probe};
use crate::network::{HostPattern, NetTarget, RuleRef, Scheme};
use crate::pin::Identity;
use crate::policy::Policy;

/// A filesystem where every path is a directory at its own name.
struct AllDirs;

impl FileSystem for AllDirs {
    fn probe(&self, path: &Path) -> io::Result<Probe> {
        Ok(Probe::Dir(path.to_path_buf()))
    }

    fn identity(&self, _: &Path) -> io::Result<Identity> {
        Ok(Identity { dev: 1, ino: 1 })
    }
}

/// Feeds `data` (as lossy UTF-8) to [`Policy::parse`] and
/// [`Policy::parse_all`], which must agree (same policy, or `parse`'s error
/// first of `parse_all`'s); when it parses, asserts what must hold of every
/// valid policy:
///
/// - the YAML and JSON forms parse back to an equal policy, and the YAML
///   form is a fixpoint;
/// - every allow rule's own host and port is allowed by
///   [`NetworkRules::check`](crate::NetworkRules::check), unless a deny rule
///   or built-in range decides otherwise — never denied by default;
/// - every allow interface pattern that names an interface is allowed by
///   [`Interfaces::check`](crate::Interfaces::check) unless a deny pattern
///   matches;
/// - compiling against a filesystem of directories does not panic.
///
/// # Panics
/// When one of those does not hold: that is the bug the fuzzer looks for.
#[doc(hidden)]
pub fn fuzz_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = Policy::parse(&text);
    // `parse` is `parse_all`'s first error: both agree on every input.
    match (&parsed, Policy::parse_all(&text)) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b, "parse and parse_all read different policies"),
        (Err(e), Err(all)) => assert_eq!(all.first(), Some(e), "parse_all's first error differs"),
        (a, b) => panic!("parse and parse_all disagree: {a:?} / {b:?}"),
    }
    let Ok(policy) = parsed else {
        return;
    };
    check_policy(&policy);
}

/// The assertions of [`fuzz_check`] for an already-parsed policy.
#[doc(hidden)]
pub fn check_policy(policy: &Policy) {
    let yaml = policy.to_yaml();
    let from_yaml = Policy::parse_yaml(&yaml)
        .unwrap_or_else(|e| panic!("to_yaml output does not parse: {e}\n{yaml}"));
    assert_eq!(
        &from_yaml, policy,
        "the YAML round trip changed the policy:\n{yaml}"
    );
    assert_eq!(from_yaml.to_yaml(), yaml, "to_yaml is not a fixpoint");
    let json = policy.to_json();
    let from_json = Policy::parse_json(&json)
        .unwrap_or_else(|e| panic!("to_json output does not parse: {e}\n{json}"));
    assert_eq!(
        &from_json, policy,
        "the JSON round trip changed the policy:\n{json}"
    );
    assert_eq!(
        Policy::parse(&json).as_ref(),
        Ok(policy),
        "parse does not sniff JSON"
    );
    assert_eq!(
        Policy::parse(&yaml).as_ref(),
        Ok(policy),
        "parse does not sniff YAML"
    );

    let net = policy.network();
    for (i, rule) in net.allow().iter().enumerate() {
        let host = match rule.target() {
            NetTarget::Host(HostPattern::Name(n)) => n.clone(),
            NetTarget::Host(HostPattern::Wildcard(s)) => format!("x.{s}"),
            NetTarget::Host(HostPattern::Ip(ip)) => ip.to_string(),
            NetTarget::Cidr(c) => c.addr().to_string(),
        };
        for &scheme in rule.schemes() {
            let port = rule
                .ports()
                .and_then(|p| p.first().copied())
                .or_else(|| scheme.default_port());
            let Some(port) = port else { continue };
            let d = net.check(scheme, &host, port);
            match d.rule {
                Some(RuleRef::NetworkAllow(j)) => {
                    assert!(d.allowed && j <= i, "{host}:{port} allowed by a later rule");
                }
                Some(RuleRef::NetworkDeny(_) | RuleRef::BuiltIn(_)) => assert!(!d.allowed),
                other => panic!("{scheme}://{host}:{port} of allow rule {i} decided by {other:?}"),
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                let _ = net.check_addr(ip, port);
            }
        }
        let _ = net.check_lookup(&host);
    }
    let _ = net.check(Scheme::Https, "example.com", 443);

    let ifaces = policy.interfaces();
    for p in ifaces.allow().unwrap_or_default() {
        let name = p.to_string();
        if name.contains('*') {
            continue;
        }
        let d = ifaces.check(&name);
        assert!(
            d.allowed || matches!(d.rule, Some(RuleRef::InterfaceDeny(_))),
            "{name}: {d:?}"
        );
    }

    let _ = policy.compile_with(&PathBuf::from("/base"), &AllDirs);
}
