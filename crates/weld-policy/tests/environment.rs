//! Environment rules.

use weld_policy::{EnvSource, Policy};

fn doc(env: &str) -> String {
    format!("version: \"1.0\"\npermissions:\n  environment:\n{env}")
}

fn err(env: &str) -> String {
    Policy::parse_yaml(&doc(env)).unwrap_err().to_string()
}

#[test]
fn keys_are_listed_with_their_source_defaulting_to_the_host() {
    let p = Policy::parse_yaml(&doc("    allow:\n      - key: \"GITHUB_TOKEN\"\n      - key: \"API_KEY\"\n        from: secret\n      - key: HOME\n        from: host\n")).unwrap();
    let keys: Vec<(&str, EnvSource)> = p
        .environment()
        .iter()
        .map(|r| (r.key().as_str(), r.from()))
        .collect();
    assert_eq!(
        keys,
        [
            ("GITHUB_TOKEN", EnvSource::Host),
            ("API_KEY", EnvSource::Secret),
            ("HOME", EnvSource::Host)
        ]
    );
}

#[test]
fn key_errors_name_the_key_and_the_fix() {
    assert_eq!(
        err("    allow:\n      - key: \"AWS_*\"\n"),
        "5:14: `permissions.environment.allow[0].key`: environment key `AWS_*` has a wildcard; weld allows variables one by one — list each key"
    );
    assert_eq!(
        err("    allow:\n      - key: \"1PASSWORD\"\n"),
        "5:14: `permissions.environment.allow[0].key`: `1PASSWORD` is not a valid environment variable name: use ASCII letters, digits and `_`, not starting with a digit"
    );
    assert_eq!(
        err("    allow:\n      - key: \"A\"\n        from: vault\n"),
        "6:15: `permissions.environment.allow[0].from`: unknown source `vault`; expected `host` (weld's own environment) or `secret` (weld's secret store)"
    );
    assert_eq!(
        err("    allow:\n      - from: host\n"),
        "5:9: `permissions.environment.allow[0]` has no `key`; add e.g. `key: \"GITHUB_TOKEN\"`"
    );
    assert_eq!(
        err("    allow:\n      - key: \"A\"\n      - key: \"A\"\n        from: secret\n"),
        "6:9: environment key `A` is listed twice (first at 5:9); list it once"
    );
}

#[test]
fn there_is_no_environment_deny_list() {
    assert_eq!(
        err("    deny:\n      - key: \"A\"\n"),
        "4:5: `permissions.environment.deny`: the environment has no deny list: a tool sees only the keys under `allow` — remove `deny`"
    );
}
