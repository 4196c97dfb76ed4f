//! Interface rules.

use weld_policy::{Decision, Policy, RuleRef};

fn doc(ifaces: &str) -> String {
    format!("version: \"1.0\"\npermissions:\n  interfaces:\n{ifaces}")
}

fn err(ifaces: &str) -> String {
    Policy::parse_yaml(&doc(ifaces)).unwrap_err().to_string()
}

#[test]
fn without_an_allow_list_only_denied_interfaces_are_refused() {
    let p = Policy::parse_yaml(&doc(
        "    deny: [\"wasi:sockets/*\", \"wasi:http/outgoing-handler@0.2.0\"]\n",
    ))
    .unwrap();
    let i = p.interfaces();
    assert_eq!(
        i.check("wasi:sockets/tcp@0.2.0"),
        Decision {
            allowed: false,
            rule: Some(RuleRef::InterfaceDeny(0))
        }
    );
    assert_eq!(
        i.check("wasi:http/outgoing-handler@0.2.0"),
        Decision {
            allowed: false,
            rule: Some(RuleRef::InterfaceDeny(1))
        }
    );
    assert_eq!(
        i.check("wasi:http/outgoing-handler@0.2.3"),
        Decision {
            allowed: true,
            rule: None
        }
    );
    assert_eq!(
        i.check("wasi:cli/environment@0.2.0"),
        Decision {
            allowed: true,
            rule: None
        }
    );
    assert_eq!(
        RuleRef::InterfaceDeny(1).to_string(),
        "permissions.interfaces.deny[1]"
    );
}

#[test]
fn an_allow_list_refuses_everything_else_and_deny_still_wins() {
    let p = Policy::parse_yaml(&doc(
        "    allow: [\"wasi:cli/*\", \"wasi:io/*\"]\n    deny: [\"wasi:cli/environment\"]\n",
    ))
    .unwrap();
    let i = p.interfaces();
    assert_eq!(
        i.check("wasi:cli/stdout@0.2.0"),
        Decision {
            allowed: true,
            rule: Some(RuleRef::InterfaceAllow(0))
        }
    );
    assert_eq!(
        i.check("wasi:io/streams@0.2.0"),
        Decision {
            allowed: true,
            rule: Some(RuleRef::InterfaceAllow(1))
        }
    );
    assert_eq!(
        i.check("wasi:cli/environment@0.2.0"),
        Decision {
            allowed: false,
            rule: Some(RuleRef::InterfaceDeny(0))
        }
    );
    assert_eq!(
        i.check("wasi:filesystem/preopens@0.2.0"),
        Decision {
            allowed: false,
            rule: None
        }
    );
    assert_eq!(
        i.check("not an import name"),
        Decision {
            allowed: false,
            rule: None
        }
    );
    assert_eq!(
        Policy::deny_all().interfaces().check("wasi:sockets/tcp"),
        Decision {
            allowed: true,
            rule: None
        }
    );
}

#[test]
fn pattern_errors_and_contradictions_are_refused() {
    assert_eq!(
        err("    deny: [\"wasi:*\"]\n"),
        "4:12: `permissions.interfaces.deny[0]`: interface pattern `wasi:*` is not of the form `namespace:package/interface`; write `namespace:package/interface` (e.g. `wasi:http/outgoing-handler`), optionally with `@version`, or `namespace:package/*`"
    );
    assert_eq!(
        err("    deny: [\"wasi:sockets/*\", \"wasi:sockets/*\"]\n"),
        "4:30: interface pattern `wasi:sockets/*` is listed twice in `permissions.interfaces.deny` (first at 4:12); list it once"
    );
    assert_eq!(
        err("    allow: [\"wasi:http/types\"]\n    deny: [\"wasi:http/types\"]\n"),
        "5:12: interface pattern `wasi:http/types` is both allowed (at 4:13) and denied; remove one"
    );
    assert_eq!(
        err("    deny: [7]\n"),
        "4:12: `permissions.interfaces.deny[0]` must be a string, found an integer; put it in quotes"
    );
}
