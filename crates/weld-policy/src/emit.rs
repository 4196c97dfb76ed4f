//! Writing a [`Policy`] back out, canonically: fixed field order, every
//! free-text value double-quoted and escaped, defaults left out. Parsing the
//! output gives back an equal policy (property-tested and fuzzed).

use std::fmt::Write as _;

use crate::env::EnvSource;
use crate::interfaces::InterfacePattern;
use crate::limits::{ByteSize, Excess, format_duration};
use crate::network::{NetTarget, Scheme};
use crate::policy::Policy;
use crate::storage::AccessSet;

/// A YAML double-quoted scalar. Escapes everything YAML would not keep
/// verbatim: `"`, `\`, C0/C1 controls, DEL, and the characters YAML or
/// terminals treat specially (BOM, line/paragraph separators, non-characters).
fn yaml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string (RFC 8259 escaping).
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A neutral document model both writers walk.
enum Doc {
    Str(String),
    /// Written bare in both formats: numbers, and keywords like `read`.
    Bare(String),
    /// Bare in YAML, quoted in JSON (keywords).
    Word(String),
    List(Vec<Doc>),
    Map(Vec<(&'static str, Doc)>),
}

fn access(a: AccessSet) -> Doc {
    Doc::List(a.modes().iter().map(|m| Doc::Word(m.to_string())).collect())
}

fn ports(p: &[u16]) -> Doc {
    Doc::List(p.iter().map(|p| Doc::Bare(p.to_string())).collect())
}

fn target(t: &NetTarget) -> (&'static str, Doc) {
    match t {
        NetTarget::Host(h) => ("host", Doc::Str(h.to_string())),
        NetTarget::Cidr(c) => ("cidr", Doc::Str(c.to_string())),
    }
}

fn patterns(p: &[InterfacePattern]) -> Doc {
    Doc::List(p.iter().map(|p| Doc::Str(p.to_string())).collect())
}

fn model(p: &Policy) -> Vec<(&'static str, Doc)> {
    let mut top = vec![("version", Doc::Str("1.0".into()))];
    if let Some(d) = &p.description {
        top.push(("description", Doc::Str(d.clone())));
    }
    let mut perms = Vec::new();
    if !p.storage.is_empty() {
        let mut s = Vec::new();
        if !p.storage.allow.is_empty() {
            let rules = p.storage.allow.iter().map(|r| {
                Doc::Map(vec![
                    ("uri", Doc::Str(r.uri.to_string())),
                    ("access", access(r.access)),
                ])
            });
            s.push(("allow", Doc::List(rules.collect())));
        }
        if !p.storage.deny.is_empty() {
            let rules = p.storage.deny.iter().map(|r| {
                let mut m = vec![("uri", Doc::Str(r.uri.to_string()))];
                if r.access != AccessSet::READ_WRITE {
                    m.push(("access", access(r.access)));
                }
                Doc::Map(m)
            });
            s.push(("deny", Doc::List(rules.collect())));
        }
        perms.push(("storage", Doc::Map(s)));
    }
    if !p.network.is_empty() {
        let mut n = Vec::new();
        if !p.network.allow.is_empty() {
            let rules = p.network.allow.iter().map(|r| {
                let mut m = vec![target(&r.target)];
                if let Some(p) = &r.ports {
                    m.push(("ports", ports(p)));
                }
                if r.schemes != [Scheme::Https] {
                    m.push((
                        "schemes",
                        Doc::List(r.schemes.iter().map(|s| Doc::Word(s.to_string())).collect()),
                    ));
                }
                Doc::Map(m)
            });
            n.push(("allow", Doc::List(rules.collect())));
        }
        if !p.network.deny.is_empty() {
            let rules = p.network.deny.iter().map(|r| {
                let mut m = vec![target(&r.target)];
                if let Some(p) = &r.ports {
                    m.push(("ports", ports(p)));
                }
                Doc::Map(m)
            });
            n.push(("deny", Doc::List(rules.collect())));
        }
        perms.push(("network", Doc::Map(n)));
    }
    if !p.environment.is_empty() {
        let rules = p.environment.iter().map(|r| {
            let mut m = vec![("key", Doc::Str(r.key.to_string()))];
            if r.from != EnvSource::Host {
                m.push(("from", Doc::Word(r.from.to_string())));
            }
            Doc::Map(m)
        });
        perms.push((
            "environment",
            Doc::Map(vec![("allow", Doc::List(rules.collect()))]),
        ));
    }
    if !p.interfaces.is_empty() {
        let mut i = Vec::new();
        if let Some(allow) = &p.interfaces.allow {
            i.push(("allow", patterns(allow)));
        }
        if !p.interfaces.deny.is_empty() {
            i.push(("deny", patterns(&p.interfaces.deny)));
        }
        perms.push(("interfaces", Doc::Map(i)));
    }
    if !p.limits.is_empty() {
        let l = &p.limits;
        let mut m = Vec::new();
        let size = |b: ByteSize| {
            let s = b.to_string();
            if s.bytes().all(|c| c.is_ascii_digit()) {
                Doc::Bare(s)
            } else {
                Doc::Str(s)
            }
        };
        if let Some(b) = l.memory {
            m.push(("memory", size(b)));
        }
        if let Some(d) = l.timeout {
            m.push(("timeout", Doc::Str(format_duration(d))));
        }
        if let Some(b) = l.output {
            m.push(("output", size(b)));
        }
        if let Some(c) = l.concurrency {
            // `wait` is the default, so the short form is the canonical one.
            let max = Doc::Bare(c.max.to_string());
            m.push((
                "concurrency",
                match c.excess {
                    Excess::Wait => max,
                    Excess::Refuse => Doc::Map(vec![
                        ("max", max),
                        ("excess", Doc::Word(c.excess.to_string())),
                    ]),
                },
            ));
        }
        if let Some(f) = l.fuel {
            m.push(("fuel", Doc::Bare(f.to_string())));
        }
        perms.push(("resources", Doc::Map(vec![("limits", Doc::Map(m))])));
    }
    if !perms.is_empty() {
        top.push(("permissions", Doc::Map(perms)));
    }
    top
}

/// Whether a list is written inline (`[read, write]`): lists of scalars.
fn is_flow(items: &[Doc]) -> bool {
    items
        .iter()
        .all(|d| matches!(d, Doc::Str(_) | Doc::Bare(_) | Doc::Word(_)))
}

fn yaml_inline(d: &Doc) -> String {
    match d {
        Doc::Str(s) => yaml_str(s),
        Doc::Bare(s) | Doc::Word(s) => s.clone(),
        Doc::List(items) => format!(
            "[{}]",
            items.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
        ),
        Doc::Map(_) => String::new(),
    }
}

fn yaml_map(out: &mut String, entries: &[(&str, Doc)], indent: usize, first_prefix: Option<&str>) {
    for (n, (key, value)) in entries.iter().enumerate() {
        match (n, first_prefix) {
            (0, Some(prefix)) => out.push_str(prefix),
            _ => out.push_str(&" ".repeat(indent)),
        }
        out.push_str(key);
        out.push(':');
        match value {
            Doc::Map(inner) => {
                out.push('\n');
                yaml_map(out, inner, indent + 2, None);
            }
            Doc::List(items) if !is_flow(items) => {
                out.push('\n');
                for item in items {
                    let prefix = format!("{}- ", " ".repeat(indent + 2));
                    match item {
                        Doc::Map(inner) => yaml_map(out, inner, indent + 4, Some(&prefix)),
                        other => {
                            out.push_str(&prefix);
                            out.push_str(&yaml_inline(other));
                            out.push('\n');
                        }
                    }
                }
            }
            other => {
                out.push(' ');
                out.push_str(&yaml_inline(other));
                out.push('\n');
            }
        }
    }
}

fn json(out: &mut String, d: &Doc, indent: usize) {
    let pad = " ".repeat(indent + 2);
    match d {
        Doc::Str(s) | Doc::Word(s) => out.push_str(&json_str(s)),
        Doc::Bare(s) => out.push_str(s),
        Doc::List(items) if is_flow(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json(out, item, indent);
            }
            out.push(']');
        }
        Doc::List(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                json(out, item, indent + 2);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        Doc::Map(entries) => {
            out.push_str("{\n");
            for (i, (k, v)) in entries.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&json_str(k));
                out.push_str(": ");
                json(out, v, indent + 2);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
    }
}

impl Policy {
    /// The canonical YAML form: block style, fields in schema order,
    /// defaults omitted (`access` of a deny rule when both, `ports` when the
    /// schemes' defaults, `schemes` when `[https]`, `from` when `host`),
    /// normalised values (`fs:///a/**`, lower-case hosts, `128Mi`, `90s`).
    #[must_use]
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        yaml_map(&mut out, &model(self), 0, None);
        out
    }

    /// The same document as JSON (two-space indentation, trailing newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        json(&mut out, &Doc::Map(model(self)), 0);
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_yaml_and_json_would_not_keep() {
        assert_eq!(
            yaml_str("a\"b\\c\nd\u{1b}\u{85}\u{feff}é"),
            "\"a\\\"b\\\\c\\nd\\u001B\\u0085\\uFEFFé\""
        );
        assert_eq!(json_str("a\"b\\c\nd\u{1b}é"), "\"a\\\"b\\\\c\\nd\\u001bé\"");
    }
}
