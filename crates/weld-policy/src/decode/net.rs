//! `permissions.network`: allow and deny rules, URL-style hosts (taken
//! apart into scheme, host and port), ports and schemes.

use super::fields::{Fields, fields_all, invalid, list, place, section, string, wrong_type};
use super::keep;
use crate::error::{ErrorKind, PolicyError};
use crate::network::{
    self, Address, Cidr, HostPattern, NetTarget, NetworkAllow, NetworkDeny, NetworkRules, Scheme,
};
use crate::policy::Spans;
use crate::tree::{Node, Value};

pub(super) fn network(node: &Node, spans: &mut Spans, errs: &mut Vec<PolicyError>) -> NetworkRules {
    let mut rules = NetworkRules::default();
    let Some(f) = keep(
        errs,
        section(node, "permissions.network", &["allow", "deny"], &[]),
    ) else {
        return rules;
    };
    if let Some(allow) = f.get("allow") {
        let items = list(
            allow,
            "permissions.network.allow",
            "remove it or add a rule",
        );
        for (i, item) in keep(errs, items).unwrap_or_default().iter().enumerate() {
            let path = format!("permissions.network.allow[{i}]");
            if let Some(rule) = {
                let r = network_allow(item, &path, errs);
                keep(errs, r)
            } {
                spans.network_allow.push(item.at);
                rules.allow.push(rule);
            }
        }
    }
    if let Some(deny) = f.get("deny") {
        let items = list(deny, "permissions.network.deny", "remove it or add a rule");
        for (i, item) in keep(errs, items).unwrap_or_default().iter().enumerate() {
            let path = format!("permissions.network.deny[{i}]");
            if let Some(rule) = {
                let r = network_deny(item, &path, errs);
                keep(errs, r)
            } {
                spans.network_deny.push(item.at);
                rules.deny.push(rule);
            }
        }
    }
    rules
}

fn network_allow(
    item: &Node,
    path: &str,
    errs: &mut Vec<PolicyError>,
) -> Result<NetworkAllow, PolicyError> {
    let r = fields_all(
        item,
        path,
        &["host", "cidr", "ports", "schemes"],
        &[(
            "defaults",
            "weld has no built-in list of hosts; list the hosts the tool needs",
        )],
        errs,
    )?;
    let (target, url) = match url_host(&r, path)? {
        Some((target, scheme, port)) => (target, Some((scheme, port))),
        None => (target(&r, item, path, network::Side::Allow)?, None),
    };
    network::refuse_dead_allow(&target)
        .map_err(|e| PolicyError::at(e.kind(), item.at, format!("`{path}`: {}", e.message())))?;
    let schemes = match (r.get("schemes"), url) {
        (Some(n), _) => schemes(n, &format!("{path}.schemes"))?,
        (None, Some((Some(scheme), _))) => vec![scheme],
        (None, _) => vec![Scheme::Https],
    };
    let ports = match (r.get("ports"), url) {
        (Some(n), _) => Some(ports(
            n,
            &format!("{path}.ports"),
            "remove it to use each scheme's default port (443 for https, 80 for http), or list ports",
        )?),
        (None, Some((_, Some(port)))) => Some(vec![port]),
        (None, _) => None,
    };
    if ports.is_none()
        && let Some(s) = schemes.iter().find(|s| s.default_port().is_none())
    {
        return Err(PolicyError::at(
            ErrorKind::MissingField,
            item.at,
            format!(
                "`{path}` allows `{s}`, which has no default port; list the ports under `ports`"
            ),
        ));
    }
    Ok(NetworkAllow::new(target, ports, schemes))
}

/// A URL-style host's target, and its scheme and port if written.
type UrlHost = (NetTarget, Option<Scheme>, Option<u16>);

/// A URL-style `host` (`https://rss.nytimes.com/`, `http://host:8080`), as
/// policy-mcp and Wassette policies write it: scheme, host and port taken
/// apart, each given once (in the URL or in `schemes`/`ports`, not both).
fn url_host(r: &Fields<'_>, path: &str) -> Result<Option<UrlHost>, PolicyError> {
    let Some(h) = r.get("host") else {
        return Ok(None);
    };
    let Value::Str(text) = &h.value else {
        return Ok(None);
    };
    if !Address::is_url(text) || r.get("cidr").is_some() {
        return Ok(None);
    }
    let p = format!("{path}.host");
    let address = Address::parse(text, network::Side::Allow).map_err(|e| place(e, h, &p))?;
    if address.scheme.is_some()
        && let Some(n) = r.get("schemes")
    {
        return Err(invalid(
            n,
            &format!("{path}.schemes"),
            format!(
                "`{text}` already names the scheme; give it once — in the URL or under `schemes`"
            ),
        ));
    }
    if address.port.is_some()
        && let Some(n) = r.get("ports")
    {
        return Err(invalid(
            n,
            &format!("{path}.ports"),
            format!("`{text}` already names the port; give it once — in the URL or under `ports`"),
        ));
    }
    Ok(Some((
        NetTarget::Host(address.host),
        address.scheme,
        address.port,
    )))
}

fn network_deny(
    item: &Node,
    path: &str,
    errs: &mut Vec<PolicyError>,
) -> Result<NetworkDeny, PolicyError> {
    let r = fields_all(
        item,
        path,
        &["host", "cidr", "ports"],
        &[(
            "schemes",
            "a deny rule applies to every scheme; remove `schemes`",
        )],
        errs,
    )?;
    if let Some(h) = r.get("host")
        && let Value::Str(text) = &h.value
        && Address::is_url(text)
    {
        let bare = Address::parse(text, network::Side::Deny)
            .map(|a| a.host.to_string())
            .unwrap_or_else(|_| "HOST".to_owned());
        return Err(invalid(
            h,
            &format!("{path}.host"),
            format!(
                "`{text}` is a URL; a deny rule applies to every scheme — write `host: \"{bare}\"` (and `ports` to deny only some ports)"
            ),
        ));
    }
    let target = target(&r, item, path, network::Side::Deny)?;
    let ports = r
        .get("ports")
        .map(|n| {
            ports(
                n,
                &format!("{path}.ports"),
                "remove it to deny every port, or list ports",
            )
        })
        .transpose()?;
    Ok(NetworkDeny::new(target, ports))
}

fn target(
    r: &Fields<'_>,
    item: &Node,
    path: &str,
    side: network::Side,
) -> Result<NetTarget, PolicyError> {
    match (r.get("host"), r.get("cidr")) {
        (Some(h), None) => {
            let p = format!("{path}.host");
            HostPattern::parse_for(string(h, &p)?, side)
                .map(NetTarget::Host)
                .map_err(|e| place(e, h, &p))
        }
        (None, Some(c)) => {
            let p = format!("{path}.cidr");
            Cidr::parse(string(c, &p)?)
                .map(NetTarget::Cidr)
                .map_err(|e| place(e, c, &p))
        }
        (Some(_), Some(_)) => Err(PolicyError::at(
            ErrorKind::InvalidValue,
            item.at,
            format!(
                "`{path}` has both `host` and `cidr`; a rule names one of them — split it into two rules"
            ),
        )),
        (None, None) => Err(PolicyError::at(
            ErrorKind::MissingField,
            item.at,
            format!(
                "`{path}` has neither `host` nor `cidr`; add `host: \"api.example.com\"` (a name, `*.domain` or an IP address) or `cidr: \"10.0.0.0/8\"`"
            ),
        )),
    }
}

fn ports(node: &Node, path: &str, fix: &str) -> Result<Vec<u16>, PolicyError> {
    let mut out: Vec<u16> = Vec::new();
    for (j, item) in list(node, path, fix)?.iter().enumerate() {
        let item_path = format!("{path}[{j}]");
        let Value::Int(raw) = &item.value else {
            return Err(wrong_type(item, &item_path, "a port number (1–65535)"));
        };
        let port = raw.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            invalid(
                item,
                &item_path,
                format!("`{raw}` is not a port; ports are 1–65535"),
            )
        })?;
        if out.contains(&port) {
            return Err(PolicyError::at(
                ErrorKind::Duplicate,
                item.at,
                format!("`{path}` lists port {port} twice; list it once"),
            ));
        }
        out.push(port);
    }
    Ok(out)
}

fn schemes(node: &Node, path: &str) -> Result<Vec<Scheme>, PolicyError> {
    let mut out: Vec<Scheme> = Vec::new();
    for (j, item) in list(
        node,
        path,
        "remove it for the default `[https]`, or list schemes",
    )?
    .iter()
    .enumerate()
    {
        let item_path = format!("{path}[{j}]");
        let scheme: Scheme = string(item, &item_path)?
            .parse()
            .map_err(|e| place(e, item, &item_path))?;
        if out.contains(&scheme) {
            return Err(PolicyError::at(
                ErrorKind::Duplicate,
                item.at,
                format!("`{path}` lists `{scheme}` twice; list it once"),
            ));
        }
        out.push(scheme);
    }
    Ok(out)
}
