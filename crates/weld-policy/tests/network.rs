//! Network rules: what `check`, `check_addr` and `check_lookup` decide, the
//! built-in denies, and every rule error.

use std::net::IpAddr;

use weld_policy::{BUILT_IN_DENIES, Decision, NetworkRules, Policy, RuleRef, Scheme};

fn rules(network: &str) -> NetworkRules {
    let text = format!("version: \"1.0\"\npermissions:\n  network:\n{network}");
    Policy::parse_yaml(&text)
        .unwrap_or_else(|e| panic!("{e}"))
        .network()
        .clone()
}

fn err(network: &str) -> String {
    let text = format!("version: \"1.0\"\npermissions:\n  network:\n{network}");
    Policy::parse_yaml(&text).unwrap_err().to_string()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const ALLOW: Decision = Decision {
    allowed: true,
    rule: None,
};
const DEFAULT_DENY: Decision = Decision {
    allowed: false,
    rule: None,
};

fn allowed_by(i: usize) -> Decision {
    Decision {
        allowed: true,
        rule: Some(RuleRef::NetworkAllow(i)),
    }
}

fn denied_by(i: usize) -> Decision {
    Decision {
        allowed: false,
        rule: Some(RuleRef::NetworkDeny(i)),
    }
}

fn other_scheme(i: usize, scheme: Scheme) -> Decision {
    Decision {
        allowed: false,
        rule: Some(RuleRef::OtherScheme { allow: i, scheme }),
    }
}

fn other_port(i: usize, port: u16) -> Decision {
    Decision {
        allowed: false,
        rule: Some(RuleRef::OtherPort { allow: i, port }),
    }
}

fn built_in(addr: &str) -> Decision {
    let b = weld_policy::built_in_deny(ip(addr)).unwrap();
    Decision {
        allowed: false,
        rule: Some(RuleRef::BuiltIn(b)),
    }
}

#[test]
fn a_host_rule_allows_https_on_443_by_default_and_nothing_else() {
    let n = rules("    allow:\n      - host: \"api.github.com\"\n");
    assert_eq!(n.check(Scheme::Https, "api.github.com", 443), allowed_by(0));
    assert_eq!(
        n.check(Scheme::Https, "API.GitHub.com.", 443),
        allowed_by(0),
        "case and one trailing dot are ignored"
    );
    assert_eq!(
        n.check(Scheme::Http, "api.github.com", 80),
        other_scheme(0, Scheme::Http)
    );
    assert_eq!(
        n.check(Scheme::Https, "api.github.com", 8443),
        other_port(0, 8443)
    );
    assert_eq!(
        n.check(Scheme::Tcp, "api.github.com", 443),
        other_scheme(0, Scheme::Tcp)
    );
    assert_eq!(n.check(Scheme::Https, "github.com", 443), DEFAULT_DENY);
    assert_eq!(
        n.check(Scheme::Https, "x.api.github.com", 443),
        DEFAULT_DENY
    );
    assert_eq!(n.check(Scheme::Https, "not a host", 443), DEFAULT_DENY);
}

#[test]
fn ports_and_schemes_are_exact() {
    let n = rules(
        "    allow:
      - host: \"a.example\"
        ports: [8443]
      - host: \"b.example\"
        schemes: [http, https]
      - host: \"c.example\"
        schemes: [http]
        ports: [8080, 9090]
      - host: \"db.example\"
        schemes: [tcp]
        ports: [5432]
",
    );
    assert_eq!(n.check(Scheme::Https, "a.example", 8443), allowed_by(0));
    assert_eq!(
        n.check(Scheme::Https, "a.example", 443),
        other_port(0, 443),
        "explicit ports replace the default"
    );
    assert_eq!(n.check(Scheme::Http, "b.example", 80), allowed_by(1));
    assert_eq!(n.check(Scheme::Https, "b.example", 443), allowed_by(1));
    assert_eq!(
        n.check(Scheme::Http, "b.example", 443),
        other_port(1, 443),
        "defaults are per scheme"
    );
    assert_eq!(n.check(Scheme::Http, "c.example", 9090), allowed_by(2));
    assert_eq!(
        n.check(Scheme::Https, "c.example", 9090),
        other_scheme(2, Scheme::Https)
    );
    assert_eq!(n.check(Scheme::Tcp, "db.example", 5432), allowed_by(3));
    assert_eq!(
        n.check(Scheme::Udp, "db.example", 5432),
        other_scheme(3, Scheme::Udp)
    );
    assert_eq!(
        n.check(Scheme::Udp, "e.example", 5432),
        DEFAULT_DENY,
        "no rule names the host"
    );
}

#[test]
fn wildcards_match_subdomains_but_not_the_domain() {
    let n = rules("    allow:\n      - host: \"*.example.com\"\n");
    assert_eq!(n.check(Scheme::Https, "a.example.com", 443), allowed_by(0));
    assert_eq!(
        n.check(Scheme::Https, "a.b.example.com", 443),
        allowed_by(0)
    );
    assert_eq!(n.check(Scheme::Https, "example.com", 443), DEFAULT_DENY);
    assert_eq!(n.check(Scheme::Https, "evilexample.com", 443), DEFAULT_DENY);
}

#[test]
fn deny_beats_allow_and_reports_the_deny_rule() {
    let n = rules(
        "    allow:
      - host: \"*.example.com\"
        ports: [443, 8443]
    deny:
      - host: \"admin.example.com\"
      - host: \"*.internal.example.com\"
        ports: [8443]
",
    );
    assert_eq!(
        n.check(Scheme::Https, "admin.example.com", 443),
        denied_by(0)
    );
    assert_eq!(
        n.check(Scheme::Https, "x.internal.example.com", 8443),
        denied_by(1)
    );
    assert_eq!(
        n.check(Scheme::Https, "x.internal.example.com", 443),
        allowed_by(0)
    );
    assert_eq!(n.check_lookup("admin.example.com"), denied_by(0));
    assert_eq!(
        n.check_lookup("x.internal.example.com"),
        allowed_by(0),
        "a deny on some ports does not stop lookups"
    );
}

#[test]
fn ip_literal_hosts_meet_the_built_in_denies() {
    let n = rules(
        "    allow:
      - host: \"127.0.0.1\"
        schemes: [http]
        ports: [8080]
      - cidr: \"10.1.0.0/16\"
      - host: \"93.184.216.34\"
",
    );
    assert_eq!(n.check(Scheme::Http, "127.0.0.1", 8080), allowed_by(0));
    assert_eq!(
        n.check(Scheme::Http, "127.0.0.1", 22),
        other_port(0, 22),
        "the first reason is the port the rule for this address does not list"
    );
    assert_eq!(
        n.check(Scheme::Http, "127.0.0.2", 8080),
        built_in("127.0.0.2"),
        "no rule names 127.0.0.2: the built-in range is the reason"
    );
    assert_eq!(
        n.check(Scheme::Http, "[::ffff:127.0.0.1]", 8080),
        allowed_by(0),
        "IPv4-mapped IPv6 is IPv4"
    );
    assert_eq!(n.check(Scheme::Https, "10.1.2.3", 443), allowed_by(1));
    assert_eq!(
        n.check(Scheme::Https, "10.2.0.1", 443),
        built_in("10.2.0.1")
    );
    assert_eq!(
        n.check(Scheme::Https, "169.254.169.254", 443),
        built_in("169.254.169.254")
    );
    assert_eq!(n.check(Scheme::Https, "[::1]", 443), built_in("::1"));
    assert_eq!(n.check(Scheme::Https, "93.184.216.34", 443), allowed_by(2));
    assert_eq!(n.check(Scheme::Https, "93.184.216.35", 443), DEFAULT_DENY);
}

#[test]
fn check_addr_refuses_a_granted_name_that_resolves_to_a_denied_address() {
    let n = rules(
        "    allow:
      - host: \"api.example.com\"
      - host: \"127.0.0.1\"
        schemes: [http]
        ports: [8080]
    deny:
      - cidr: \"203.0.113.0/24\"
",
    );
    assert_eq!(
        n.check_addr(ip("93.184.216.34"), 443),
        ALLOW,
        "public addresses pass the second gate"
    );
    assert_eq!(
        n.check_addr(ip("169.254.169.254"), 443),
        built_in("169.254.169.254")
    );
    assert_eq!(
        n.check_addr(ip("::ffff:169.254.169.254"), 443),
        built_in("169.254.169.254")
    );
    assert_eq!(
        n.check_addr(ip("64:ff9b::a9fe:a9fe"), 443),
        built_in("169.254.169.254"),
        "NAT64"
    );
    assert_eq!(
        n.check_addr(ip("127.0.0.1"), 443),
        built_in("127.0.0.1"),
        "loopback not named for this port"
    );
    assert_eq!(
        n.check_addr(ip("127.0.0.1"), 8080),
        allowed_by(1),
        "loopback named by IP with the port"
    );
    assert_eq!(n.check_addr(ip("127.0.0.2"), 8080), built_in("127.0.0.2"));
    assert_eq!(
        n.check_addr(ip("192.168.1.1"), 443),
        built_in("192.168.1.1")
    );
    assert_eq!(n.check_addr(ip("fd12::1"), 443), built_in("fd12::1"));
    assert_eq!(n.check_addr(ip("203.0.113.9"), 443), denied_by(0));
    assert_eq!(n.check_addr(ip("0.0.0.0"), 443), built_in("0.0.0.0"));
}

#[test]
fn lookups_are_allowed_only_for_granted_names() {
    let n =
        rules("    allow:\n      - host: \"api.example.com\"\n      - host: \"*.cdn.example\"\n");
    assert_eq!(n.check_lookup("api.example.com"), allowed_by(0));
    assert_eq!(n.check_lookup("img.cdn.example"), allowed_by(1));
    assert_eq!(n.check_lookup("evil.example"), DEFAULT_DENY);
    assert_eq!(n.check_lookup(""), DEFAULT_DENY);
}

#[test]
fn rule_refs_name_the_rule_for_the_audit_log() {
    assert_eq!(
        RuleRef::NetworkAllow(2).to_string(),
        "permissions.network.allow[2]"
    );
    assert_eq!(
        RuleRef::NetworkDeny(0).to_string(),
        "permissions.network.deny[0]"
    );
    let b = weld_policy::built_in_deny(ip("169.254.169.254")).unwrap();
    assert_eq!(
        RuleRef::BuiltIn(b).to_string(),
        "built-in deny 169.254.0.0/16 (IPv4 link-local, incl. cloud metadata 169.254.169.254)"
    );
    assert!(
        BUILT_IN_DENIES
            .iter()
            .any(|b| b.network.to_string() == "127.0.0.0/8" && b.overridable)
    );
}

#[test]
fn host_errors_name_the_fix() {
    let allow = |host: &str| err(&format!("    allow:\n      - host: \"{host}\"\n"));
    assert_eq!(
        allow("*"),
        "5:15: `permissions.network.allow[0].host`: host `*` would allow every host; list the hosts the tool needs (`*.example.com` allows the subdomains of one domain)"
    );
    assert_eq!(
        err("    deny:\n      - host: \"*\"\n"),
        "5:15: `permissions.network.deny[0].host`: host `*` would deny every host, including the allowed ones (deny beats allow); weld denies every host that is not allowed already — remove this rule"
    );
    assert!(allow("a.*.com").ends_with("host `a.*.com` has a `*` that is not a leading `*.` label; write `*.example.com` to match the subdomains of a domain"));
    assert!(allow("*.*.com").ends_with("host `*.*.com` has more than one `*`; only one leading `*.` label is supported (`*.example.com`)"));
    assert!(allow("https://api.github.com/v3").ends_with("`https://api.github.com/v3` names the path `/v3`; weld checks a request by scheme, host and port and cannot limit it to a path — grant `https://api.github.com` (every path on that host) or nothing"));
    assert!(allow("api.github.com:443").ends_with("host `api.github.com:443` contains `:`; write the host alone and its ports under `ports: [...]` (IPv6 addresses are written bare or in brackets)"));
    assert!(
        allow("api.github.com.").ends_with("host `api.github.com.` ends with a dot; remove it")
    );
    assert!(allow("bücher.de").ends_with(
        "host `bücher.de` is not ASCII; write internationalised names in their ASCII form (`xn--…`)"
    ));
    assert!(allow("-a.com").ends_with("host `-a.com` is not a valid host name: each dot-separated label is 1–63 letters, digits, `-` or `_`, not starting or ending with `-`"));
    assert!(allow("1.2.3").ends_with("host `1.2.3` is neither an IP address nor a host name (a name cannot end in a numeric label); write a full IPv4 address (`10.0.0.1`) or a name"));
    assert!(allow("0x7f000001").ends_with("host `0x7f000001` is neither an IP address nor a host name (a name cannot end in a numeric label); write a full IPv4 address (`10.0.0.1`) or a name"));
    assert!(allow("localhost").ends_with("host `localhost` always resolves to loopback, which weld denies unless the address itself is allowed; write `host: \"127.0.0.1\"` (or `\"::1\"`) with the port"));
    assert!(allow("*.localhost").contains("always resolves to loopback"));
    assert!(allow("*.").ends_with("host `*.` is empty after `*.`; write `*.example.com`"));
    let long = format!("{}.com", "a.".repeat(130));
    assert!(allow(&long).ends_with(&format!("host `{long}` is longer than 253 characters")));
    assert_eq!(
        allow("169.254.169.254"),
        "5:9: `permissions.network.allow[0]`: host `169.254.169.254` is in 169.254.0.0/16 (IPv4 link-local, incl. cloud metadata 169.254.169.254), which weld always denies; this rule could never match — remove it"
    );
    assert!(
        Policy::parse_yaml(
            "version: \"1.0\"\npermissions:\n  network:\n    deny:\n      - host: localhost\n"
        )
        .is_ok()
    );
}

#[test]
fn ipv6_hosts_are_written_bare_or_in_brackets() {
    let n = rules("    allow:\n      - host: \"[2001:db8::1]\"\n      - host: \"2001:db8::2\"\n");
    assert_eq!(n.check(Scheme::Https, "2001:db8::1", 443), allowed_by(0));
    assert_eq!(n.check(Scheme::Https, "[2001:db8::2]", 443), allowed_by(1));
}

#[test]
fn rule_shape_errors_name_the_fix() {
    assert_eq!(
        err("    allow:\n      - host: \"a.com\"\n        cidr: \"10.0.0.0/8\"\n"),
        "5:9: `permissions.network.allow[0]` has both `host` and `cidr`; a rule names one of them — split it into two rules"
    );
    assert_eq!(
        err("    allow:\n      - ports: [443]\n"),
        "5:9: `permissions.network.allow[0]` has neither `host` nor `cidr`; add `host: \"api.example.com\"` (a name, `*.domain` or an IP address) or `cidr: \"10.0.0.0/8\"`"
    );
    assert_eq!(
        err("    allow:\n      - defaults: true\n"),
        "5:9: `permissions.network.allow[0].defaults`: weld has no built-in list of hosts; list the hosts the tool needs"
    );
    assert_eq!(
        err("    deny:\n      - host: \"a.com\"\n        schemes: [http]\n"),
        "6:9: `permissions.network.deny[0].schemes`: a deny rule applies to every scheme; remove `schemes`"
    );
    assert_eq!(
        err("    allow:\n      - host: \"db.example\"\n        schemes: [tcp]\n"),
        "5:9: `permissions.network.allow[0]` allows `tcp`, which has no default port; list the ports under `ports`"
    );
    assert_eq!(
        err("    allow:\n      - cidr: \"10.0.0.1/8\"\n"),
        "5:15: `permissions.network.allow[0].cidr`: CIDR `10.0.0.1/8` has host bits set; write `10.0.0.0/8`"
    );
    assert_eq!(
        err("    deny:\n      - cidr: \"0.0.0.0/0\"\n"),
        "5:15: `permissions.network.deny[0].cidr`: CIDR `0.0.0.0/0` covers every address; weld denies unlisted addresses already and refuses a rule that allows or denies everything — list the networks"
    );
}

#[test]
fn port_and_scheme_lists_are_checked() {
    let allow = |extra: &str| err(&format!("    allow:\n      - host: \"a.com\"\n{extra}"));
    assert_eq!(
        allow("        ports: [0]\n"),
        "6:17: `permissions.network.allow[0].ports[0]`: `0` is not a port; ports are 1–65535"
    );
    assert_eq!(
        allow("        ports: [65536]\n"),
        "6:17: `permissions.network.allow[0].ports[0]`: `65536` is not a port; ports are 1–65535"
    );
    assert_eq!(
        allow("        ports: [\"443\"]\n"),
        "6:17: `permissions.network.allow[0].ports[0]` must be a port number (1–65535), found a string"
    );
    assert_eq!(
        allow("        ports: [443, 443]\n"),
        "6:22: `permissions.network.allow[0].ports` lists port 443 twice; list it once"
    );
    assert_eq!(
        allow("        ports: []\n"),
        "6:16: `permissions.network.allow[0].ports` is an empty list; remove it to use each scheme's default port (443 for https, 80 for http), or list ports"
    );
    assert_eq!(
        allow("        schemes: [ftp]\n"),
        "6:19: `permissions.network.allow[0].schemes[0]`: unknown scheme `ftp`; expected one of: http, https, tcp, udp"
    );
    assert_eq!(
        allow("        schemes: [https, https]\n"),
        "6:26: `permissions.network.allow[0].schemes` lists `https` twice; list it once"
    );
    assert_eq!(
        allow("        schemes: []\n"),
        "6:18: `permissions.network.allow[0].schemes` is an empty list; remove it for the default `[https]`, or list schemes"
    );
    assert_eq!(
        err("    deny:\n      - host: \"a.com\"\n        ports: []\n"),
        "6:16: `permissions.network.deny[0].ports` is an empty list; remove it to deny every port, or list ports"
    );
}

#[test]
fn repeated_rules_are_refused() {
    assert_eq!(
        err(
            "    allow:\n      - host: \"a.com\"\n      - host: \"A.com\"\n        ports: [8443]\n"
        ),
        "6:9: network allow rule for host `a.com` with schemes [https] repeats an earlier rule (first at 5:9); merge their ports into one rule"
    );
    assert!(Policy::parse_yaml("version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: a.com\n      - host: a.com\n        schemes: [http]\n").is_ok());
    assert_eq!(
        err(
            "    deny:\n      - cidr: \"10.0.0.0/8\"\n      - cidr: \"10.0.0.0/8\"\n        ports: [22]\n"
        ),
        "6:9: network deny rule for cidr `10.0.0.0/8` repeats an earlier rule (first at 5:9); merge their ports into one rule"
    );
}

#[test]
fn a_default_port_written_out_is_the_default() {
    assert_eq!(
        rules("    allow:\n      - host: \"a.com\"\n        ports: [443]\n"),
        rules("    allow:\n      - host: \"a.com\"\n")
    );
}
