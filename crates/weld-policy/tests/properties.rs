//! Properties over generated policies: round trips, grant/revoke, deny beats
//! allow, and no panics on any input.
//!
//! Policies are generated as documents: random rules rendered in random YAML
//! styles (and as JSON), each rule kept only if the document stays valid, so
//! every case is a valid policy that exercises the reader.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use weld_policy::{
    Access, AccessSet, ByteSize, Cidr, EnvSource, FileSystem, HostPattern, InterfacePattern,
    Policy, Probe, RuleRef, Scheme, StorageUri, format_duration, fuzz_check, parse_duration,
};

// ---------------------------------------------------------------- generation

/// One value in a generated document: how it is written differs per format.
#[derive(Clone, Debug)]
enum V {
    S(String),
    N(u64),
    Word(&'static str),
    L(Vec<V>),
    M(Vec<(&'static str, V)>),
}

/// Rendering choices, drawn per document.
#[derive(Clone, Copy, Debug)]
struct Style {
    indent: usize,
    flow_lists: bool,
    plain_strings: bool,
}

fn json_of(v: &V) -> String {
    match v {
        V::S(s) => serde_json::to_string(s).unwrap(),
        V::N(n) => n.to_string(),
        V::Word(w) => format!("\"{w}\""),
        V::L(items) => format!(
            "[{}]",
            items.iter().map(json_of).collect::<Vec<_>>().join(", ")
        ),
        V::M(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("\"{k}\": {}", json_of(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn yaml_scalar(v: &V, style: Style) -> String {
    match v {
        V::S(s) if style.plain_strings && is_plain_safe(s) => s.clone(),
        V::S(s) => serde_json::to_string(s).unwrap(),
        V::N(n) => n.to_string(),
        V::Word(w) => (*w).to_string(),
        _ => json_of(v),
    }
}

/// Strings that YAML reads back as the same string when written bare.
fn is_plain_safe(s: &str) -> bool {
    let b = s.as_bytes();
    !s.is_empty()
        && b[0].is_ascii_alphabetic()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/".contains(&c))
        && !matches!(
            s,
            "true" | "false" | "null" | "True" | "False" | "Null" | "TRUE" | "FALSE" | "NULL"
        )
}

fn yaml_of(v: &V, style: Style, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        V::M(entries) => {
            for (k, v) in entries {
                match v {
                    V::M(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_of(v, style, indent + style.indent, out);
                    }
                    V::L(items)
                        if !(style.flow_lists
                            && items.iter().all(|i| !matches!(i, V::M(_) | V::L(_)))) =>
                    {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_of(v, style, indent + style.indent, out);
                    }
                    V::L(items) => {
                        let inner: Vec<String> =
                            items.iter().map(|i| yaml_scalar(i, style)).collect();
                        out.push_str(&format!("{pad}{k}: [{}]\n", inner.join(", ")));
                    }
                    scalar => out.push_str(&format!("{pad}{k}: {}\n", yaml_scalar(scalar, style))),
                }
            }
        }
        V::L(items) => {
            for item in items {
                match item {
                    V::M(_) => {
                        let mut inner = String::new();
                        yaml_of(item, style, indent + 2, &mut inner);
                        // Put the first entry on the dash line.
                        let inner = inner.trim_start().to_string();
                        out.push_str(&format!("{pad}- {inner}"));
                    }
                    scalar => out.push_str(&format!("{pad}- {}\n", yaml_scalar(scalar, style))),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", yaml_scalar(scalar, style))),
    }
}

fn render_yaml(doc: &V, style: Style) -> String {
    let mut out = String::new();
    yaml_of(doc, style, 0, &mut out);
    out
}

/// The candidate rules of a document, per section.
#[derive(Clone, Debug, Default)]
struct Spec {
    description: Option<String>,
    storage_allow: Vec<V>,
    storage_deny: Vec<V>,
    network_allow: Vec<V>,
    network_deny: Vec<V>,
    env: Vec<V>,
    iface_allow: Vec<V>,
    iface_deny: Vec<V>,
    limits: Vec<(&'static str, V)>,
}

fn document(s: &Spec) -> V {
    let mut top = vec![("version", V::S("1.0".into()))];
    if let Some(d) = &s.description {
        top.push(("description", V::S(d.clone())));
    }
    let mut perms = Vec::new();
    let pair = |allow: &[V], deny: &[V]| {
        let mut m = Vec::new();
        if !allow.is_empty() {
            m.push(("allow", V::L(allow.to_vec())));
        }
        if !deny.is_empty() {
            m.push(("deny", V::L(deny.to_vec())));
        }
        m
    };
    let storage = pair(&s.storage_allow, &s.storage_deny);
    if !storage.is_empty() {
        perms.push(("storage", V::M(storage)));
    }
    let network = pair(&s.network_allow, &s.network_deny);
    if !network.is_empty() {
        perms.push(("network", V::M(network)));
    }
    if !s.env.is_empty() {
        perms.push(("environment", V::M(vec![("allow", V::L(s.env.clone()))])));
    }
    let ifaces = pair(&s.iface_allow, &s.iface_deny);
    if !ifaces.is_empty() {
        perms.push(("interfaces", V::M(ifaces)));
    }
    if !s.limits.is_empty() {
        perms.push(("resources", V::M(vec![("limits", V::M(s.limits.clone()))])));
    }
    if !perms.is_empty() {
        top.push(("permissions", V::M(perms)));
    }
    V::M(top)
}

fn valid(s: &Spec) -> bool {
    Policy::parse_json(&json_of(&document(s))).is_ok()
}

/// Keeps each candidate rule only if the document stays valid with it.
fn sanitise(candidates: Spec) -> Spec {
    let mut s = Spec {
        description: candidates.description.clone(),
        ..Spec::default()
    };
    if !valid(&s) {
        s.description = None;
    }
    macro_rules! keep {
        ($field:ident) => {
            for rule in candidates.$field.clone() {
                s.$field.push(rule);
                if !valid(&s) {
                    s.$field.pop();
                }
            }
        };
    }
    keep!(storage_allow);
    keep!(storage_deny);
    keep!(network_allow);
    keep!(network_deny);
    keep!(env);
    keep!(iface_allow);
    keep!(iface_deny);
    for entry in candidates.limits {
        s.limits.push(entry);
        if !valid(&s) {
            s.limits.pop();
        }
    }
    s
}

fn uri() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        proptest::collection::vec(select(vec!["a", "b", "c", "data", "x y", "é"]), 0..4),
        select(vec!["/**", "", "/"]),
    )
        .prop_map(|(relative, segs, end)| {
            let body: String = segs.iter().map(|s| format!("/{s}")).collect();
            let prefix = if relative { "fs://." } else { "fs://" };
            let end = if body.is_empty() && !relative && end.is_empty() {
                "/"
            } else {
                end
            };
            format!("{prefix}{body}{end}")
        })
}

fn access_list() -> impl Strategy<Value = V> {
    select(vec![
        vec!["read"],
        vec!["read", "write"],
        vec!["write", "read"],
        vec!["write"],
    ])
    .prop_map(|a| V::L(a.into_iter().map(V::Word).collect()))
}

fn host() -> impl Strategy<Value = String> {
    select(vec![
        "api.github.com",
        "*.example.com",
        "a.example.com",
        "Example.ORG",
        "10.0.0.1",
        "127.0.0.1",
        "2001:db8::1",
        "[::1]",
        "*.internal.example.com",
        "db_1.corp",
    ])
    .prop_map(str::to_owned)
}

fn target() -> impl Strategy<Value = (&'static str, V)> {
    prop_oneof![
        3 => host().prop_map(|h| ("host", V::S(h))),
        1 => select(vec!["10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "203.0.113.0/24", "93.184.216.34/32"])
            .prop_map(|c| ("cidr", V::S(c.to_owned()))),
    ]
}

fn ports() -> impl Strategy<Value = Option<V>> {
    proptest::option::of(
        proptest::sample::subsequence(vec![80u64, 443, 5432, 8080, 8443], 1..4)
            .prop_shuffle()
            .prop_map(|p| V::L(p.into_iter().map(V::N).collect())),
    )
}

fn network_allow() -> impl Strategy<Value = V> {
    (
        target(),
        ports(),
        proptest::option::of(
            proptest::sample::subsequence(vec!["http", "https", "tcp", "udp"], 1..3)
                .prop_map(|s| V::L(s.into_iter().map(V::Word).collect())),
        ),
    )
        .prop_map(|(t, p, s)| {
            let mut m = vec![t];
            if let Some(p) = p {
                m.push(("ports", p));
            }
            if let Some(s) = s {
                m.push(("schemes", s));
            }
            V::M(m)
        })
}

fn network_deny() -> impl Strategy<Value = V> {
    (target(), ports()).prop_map(|(t, p)| {
        let mut m = vec![t];
        if let Some(p) = p {
            m.push(("ports", p));
        }
        V::M(m)
    })
}

fn spec() -> impl Strategy<Value = Spec> {
    let storage = (
        proptest::collection::vec((uri(), access_list()), 0..4),
        proptest::collection::vec((uri(), proptest::option::of(access_list())), 0..3),
    );
    let network = (
        proptest::collection::vec(network_allow(), 0..4),
        proptest::collection::vec(network_deny(), 0..3),
    );
    let env = proptest::collection::vec(
        (
            select(vec!["HOME", "GITHUB_TOKEN", "_X", "a1"]),
            proptest::option::of(select(vec!["host", "secret"])),
        ),
        0..3,
    );
    let pattern = select(vec![
        "wasi:sockets/*",
        "wasi:http/outgoing-handler",
        "wasi:http/outgoing-handler@0.2.0",
        "wasi:cli/environment@0.2.3",
        "my-ns:pkg/iface",
    ]);
    let ifaces = (
        proptest::collection::vec(pattern.clone(), 0..3),
        proptest::collection::vec(pattern, 0..3),
    );
    let limits = (
        proptest::option::of(prop_oneof![
            select(vec!["128Mi", "1Gi", "512Ki", "4Gi"]).prop_map(|s| V::S(s.into())),
            select(vec![65536u64, 200_000, 1 << 30]).prop_map(V::N),
        ]),
        proptest::option::of(select(vec!["10s", "500ms", "2m", "1h", "1500ms", "24h"])),
        proptest::option::of(prop_oneof![
            select(vec!["1Mi", "64Ki"]).prop_map(|s| V::S(s.into())),
            (1u64..10_000).prop_map(V::N),
        ]),
        proptest::option::of(prop_oneof![
            (1u64..64).prop_map(V::N),
            (1u64..64).prop_map(|max| V::M(vec![("max", V::N(max))])),
            (1u64..64, select(vec!["wait", "refuse"]))
                .prop_map(|(max, e)| V::M(vec![("max", V::N(max)), ("excess", V::Word(e))])),
        ]),
        proptest::option::of(any::<u64>()),
    );
    let description =
        proptest::option::of("[a-zA-Z0-9 .,!?'\"\\\\:#@&*%{}\\[\\]|>-]{1,30}|[é漢😀\n\t ]{1,5}");
    (description, storage, network, env, ifaces, limits).prop_map(
        |(description, (sa, sd), (na, nd), env, (ia, id), (mem, timeout, output, conc, fuel))| {
            let mut s = Spec {
                description,
                ..Spec::default()
            };
            s.storage_allow = sa
                .into_iter()
                .map(|(u, a)| V::M(vec![("uri", V::S(u)), ("access", a)]))
                .collect();
            s.storage_deny = sd
                .into_iter()
                .map(|(u, a)| {
                    let mut m = vec![("uri", V::S(u))];
                    if let Some(a) = a {
                        m.push(("access", a));
                    }
                    V::M(m)
                })
                .collect();
            s.network_allow = na;
            s.network_deny = nd;
            s.env = env
                .into_iter()
                .map(|(k, f)| {
                    let mut m = vec![("key", V::S(k.into()))];
                    if let Some(f) = f {
                        m.push(("from", V::Word(f)));
                    }
                    V::M(m)
                })
                .collect();
            s.iface_allow = ia.into_iter().map(|p| V::S(p.into())).collect();
            s.iface_deny = id.into_iter().map(|p| V::S(p.into())).collect();
            if let Some(m) = mem {
                s.limits.push(("memory", m));
            }
            if let Some(t) = timeout {
                s.limits.push(("timeout", V::S(t.into())));
            }
            if let Some(o) = output {
                s.limits.push(("output", o));
            }
            if let Some(c) = conc {
                s.limits.push(("concurrency", c));
            }
            if let Some(f) = fuel {
                s.limits.push(("fuel", V::N(f.max(1))));
            }
            sanitise(s)
        },
    )
}

fn style() -> impl Strategy<Value = Style> {
    (select(vec![2usize, 4]), any::<bool>(), any::<bool>()).prop_map(
        |(indent, flow_lists, plain_strings)| Style {
            indent,
            flow_lists,
            plain_strings,
        },
    )
}

/// A generated valid policy with its YAML and JSON source.
fn policy() -> impl Strategy<Value = (Policy, String, String)> {
    (spec(), style()).prop_map(|(s, st)| {
        let doc = document(&s);
        let json = json_of(&doc);
        let yaml = render_yaml(&doc, st);
        let p = Policy::parse_json(&json)
            .unwrap_or_else(|e| panic!("sanitised spec is invalid: {e}\n{json}"));
        (p, yaml, json)
    })
}

/// Every path is a directory at its own name.
struct AllDirs;

impl FileSystem for AllDirs {
    fn probe(&self, path: &Path) -> io::Result<Probe> {
        Ok(Probe::Dir(path.to_path_buf()))
    }

    fn identity(&self, _: &Path) -> io::Result<weld_policy::Identity> {
        Ok(weld_policy::Identity { dev: 1, ino: 1 })
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn yaml_and_json_of_one_document_read_the_same((p, yaml, _json) in policy()) {
        let from_yaml = Policy::parse_yaml(&yaml).map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(from_yaml, p);
    }

    #[test]
    fn to_yaml_parses_back_to_the_same_policy((p, _, _) in policy()) {
        let yaml = p.to_yaml();
        let back = Policy::parse_yaml(&yaml).map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.to_yaml(), yaml);
    }

    #[test]
    fn to_json_parses_back_to_the_same_policy((p, _, _) in policy()) {
        let json = p.to_json();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
        prop_assert_eq!(Policy::parse_json(&json).unwrap(), p.clone());
        prop_assert_eq!(Policy::parse(&json).unwrap(), p);
    }

    #[test]
    fn the_fuzz_oracle_holds_for_generated_documents((_, yaml, json) in policy()) {
        fuzz_check(yaml.as_bytes());
        fuzz_check(json.as_bytes());
    }

    #[test]
    fn grant_storage_then_revoke_returns_the_policy(
        (p, _, _) in policy(),
        u in uri(),
        rw in any::<bool>(),
    ) {
        let access: &[Access] = if rw { &[Access::Read, Access::Write] } else { &[Access::Read] };
        let parsed = StorageUri::parse(&u).unwrap();
        let present = p.storage().allow().iter().any(|a| a.uri().path() == parsed.path() && a.uri().is_relative() == parsed.is_relative());
        prop_assume!(!present);
        if let Ok(g) = p.grant_storage(&u, access) {
            prop_assert_ne!(&g, &p);
            prop_assert_eq!(g.revoke_storage(&u, access).unwrap(), p);
        }
    }

    #[test]
    fn grant_network_then_revoke_returns_the_policy(
        (p, _, _) in policy(),
        h in select(vec!["new.example", "api.github.com", "*.example.com", "10.9.8.7", "[::1]", "a.example.com"]),
        port in proptest::option::of(select(vec![443u16, 8443, 80])),
    ) {
        let hp = match port { Some(port) => format!("{h}:{port}"), None => h.to_owned() };
        if let Ok(g) = p.grant_network(&hp)
            && g != p
        {
            let back = g.revoke_network(&format!("{h}:{}", port.unwrap_or(443))).unwrap();
            prop_assert_eq!(back, p);
        }
    }

    #[test]
    fn grant_env_then_revoke_returns_the_policy(
        (p, _, _) in policy(),
        key in select(vec!["HOME", "NEW_KEY", "_X"]),
        secret in any::<bool>(),
    ) {
        prop_assume!(!p.environment().iter().any(|r| r.key().as_str() == key));
        let from = if secret { EnvSource::Secret } else { EnvSource::Host };
        let g = p.grant_env(key, from).unwrap();
        prop_assert_eq!(g.revoke_env(key).unwrap(), p);
    }

    #[test]
    fn deny_beats_allow_for_hosts(
        (p, _, _) in policy(),
        q in select(vec!["api.github.com", "a.example.com", "x.internal.example.com", "example.org", "db_1.corp", "10.0.0.1", "127.0.0.1", "::1", "2001:db8::1", "192.168.1.7", "93.184.216.34"]),
        port in select(vec![80u16, 443, 5432, 8080, 8443]),
        scheme in select(vec![Scheme::Http, Scheme::Https, Scheme::Tcp, Scheme::Udp]),
    ) {
        let n = p.network();
        let d = n.check(scheme, q, port);
        let denied_by_rule = n.deny().iter().any(|r| target_matches(r.target(), q) && r.ports().is_none_or(|ps| ps.contains(&port)));
        if denied_by_rule {
            prop_assert!(!d.allowed, "{}:{} allowed despite a deny rule: {:?}", q, port, d);
            prop_assert!(matches!(d.rule, Some(RuleRef::NetworkDeny(_))));
        }
        if d.allowed {
            let Some(RuleRef::NetworkAllow(i)) = d.rule else { panic!("allowed without an allow rule: {d:?}") };
            let rule = &n.allow()[i];
            prop_assert!(target_matches(rule.target(), q) && rule.allows_port(scheme, port));
        }
        if let Ok(ip) = q.parse::<IpAddr>() {
            let a = n.check_addr(ip, port);
            let denied_addr = n.deny().iter().any(|r| matches!(r.target(), weld_policy::NetTarget::Cidr(_) | weld_policy::NetTarget::Host(HostPattern::Ip(_))) && target_matches(r.target(), q) && r.ports().is_none_or(|ps| ps.contains(&port)));
            if denied_addr {
                prop_assert!(!a.allowed);
            }
            if weld_policy::built_in_deny(ip).is_some_and(|b| !b.overridable) {
                prop_assert!(!a.allowed && !d.allowed);
            }
        }
    }

    #[test]
    fn deny_beats_allow_for_paths(
        (p, _, _) in policy(),
        q in proptest::collection::vec(select(vec!["a", "b", "c", "data", "x y", "é", "z"]), 0..5),
    ) {
        let base = PathBuf::from("/base");
        let Ok(grant) = p.compile_with(&base, &AllDirs) else { return Ok(()) };
        for root in [PathBuf::from("/"), base.clone()] {
            let mut path = root.clone();
            path.extend(&q);
            let got = grant.storage_access(&path);
            for d in p.storage().deny() {
                if path.starts_with(d.uri().resolve(&base)) {
                    prop_assert!(!got.intersects(d.access()), "{} has {} despite deny {}", path.display(), got, d.uri());
                }
            }
            let allowed_somewhere = p.storage().allow().iter().any(|a| path.starts_with(a.uri().resolve(&base)));
            if !allowed_somewhere {
                prop_assert_eq!(got, AccessSet::NONE, "{} granted by nothing", path.display());
            }
            for a in p.storage().allow() {
                let covered = p.storage().deny().iter().any(|d| path.starts_with(d.uri().resolve(&base)));
                if path.starts_with(a.uri().resolve(&base)) && !covered {
                    prop_assert!(got.contains(a.access().minus(denied_over(&p, &a.uri().resolve(&base), &base))));
                }
            }
        }
    }

    #[test]
    fn checks_never_panic(
        (p, _, _) in policy(),
        host in any::<String>(),
        port in any::<u16>(),
        v4 in any::<u32>(),
        v6 in any::<u128>(),
        import in any::<String>(),
    ) {
        let n = p.network();
        for scheme in [Scheme::Http, Scheme::Https, Scheme::Tcp, Scheme::Udp] {
            let _ = n.check(scheme, &host, port);
        }
        let _ = n.check_lookup(&host);
        let _ = n.check_addr(IpAddr::V4(Ipv4Addr::from(v4)), port);
        let _ = n.check_addr(IpAddr::V6(Ipv6Addr::from(v6)), port);
        let _ = p.interfaces().check(&import);
        let _ = p.interfaces().check(&host);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = Policy::parse_yaml(&text);
        let _ = Policy::parse_json(&text);
        fuzz_check(text.as_bytes());
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzz_check(&bytes);
    }

    #[test]
    fn the_parser_never_panics_on_mutated_documents(
        (_, yaml, json) in policy(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0..5u8, select(vec![
            "", ":", "- ", "[", "]", "{", "}", "\"", "'", "\n", "  ", "\t", "*", "&a ", "!!str ", "---\n", "#", "~", "null", "1e9", "-1", "0x10",
            "fs:///", "..", "/**", "\\u0000", "\u{1b}", "é", "ports: [0]", "host: \"*\"", "access: [write]",
        ])), 1..4),
    ) {
        for source in [yaml, json] {
            let mut text = source.into_bytes();
            for (at, len, kind, snippet) in &mutations {
                let i = at.index(text.len() + 1);
                match kind {
                    0 => { let end = (i + len.index(8)).min(text.len()); text.drain(i..end); }
                    1 | 2 => { text.splice(i..i, snippet.bytes()); }
                    3 => if let Some(b) = text.get_mut(i) { *b ^= 1 << len.index(8) },
                    _ => { let line_end = text[i..].iter().position(|b| *b == b'\n').map_or(text.len(), |p| i + p); let dup = text[i..line_end].to_vec(); text.splice(i..i, dup); }
                }
            }
            fuzz_check(&text);
        }
    }

    #[test]
    fn values_print_and_parse_back(
        u in uri(),
        h in host(),
        c in select(vec!["10.0.0.0/8", "fd00::/8", "1.2.3.4/32", "2001:db8::/128"]),
        i in select(vec!["wasi:sockets/*", "wasi:http/outgoing-handler@0.2.0", "a-b:c-d/e-f", "wasi:cli/run@0.3.0-rc.1+x"]),
        bytes in any::<u64>(),
        ms in 0u64..10_000_000_000,
    ) {
        if let Ok(parsed) = StorageUri::parse(&u) {
            prop_assert_eq!(StorageUri::parse(&parsed.to_string()).unwrap(), parsed);
        }
        let hp = HostPattern::parse(&h).unwrap();
        prop_assert_eq!(HostPattern::parse(&hp.to_string()).unwrap(), hp);
        let cidr = Cidr::parse(c).unwrap();
        prop_assert_eq!(Cidr::parse(&cidr.to_string()).unwrap(), cidr);
        let ip = InterfacePattern::parse(i).unwrap();
        prop_assert_eq!(InterfacePattern::parse(&ip.to_string()).unwrap(), ip);
        prop_assert_eq!(ByteSize::parse(&ByteSize(bytes).to_string()), Ok(ByteSize(bytes)));
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
}

/// The modes deny rules remove from the whole tree at `allow_path`.
fn denied_over(p: &Policy, allow_path: &Path, base: &Path) -> AccessSet {
    p.storage()
        .deny()
        .iter()
        .filter(|d| allow_path.starts_with(d.uri().resolve(base)))
        .fold(AccessSet::NONE, |acc, d| acc.union(d.access()))
}

/// An independent model of host matching, for the oracle.
fn target_matches(t: &weld_policy::NetTarget, q: &str) -> bool {
    use weld_policy::NetTarget;
    let q = q.to_ascii_lowercase();
    let q_ip: Option<IpAddr> = q
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
        .map(|i: IpAddr| i.to_canonical());
    match t {
        NetTarget::Host(HostPattern::Name(n)) => *n == q,
        NetTarget::Host(HostPattern::Wildcard(s)) => q.ends_with(&format!(".{s}")),
        NetTarget::Host(HostPattern::Ip(ip)) => q_ip == Some(*ip),
        NetTarget::Cidr(c) => q_ip.is_some_and(|ip| c.contains(ip)),
    }
}
