//! The document as a whole: reading YAML and JSON, the canonical form, and
//! every error that is not about one section's values.

use weld_policy::{Concurrency, ErrorKind, Location, Policy};

fn yaml_err(text: &str) -> String {
    Policy::parse_yaml(text).unwrap_err().to_string()
}

fn json_err(text: &str) -> String {
    Policy::parse_json(text).unwrap_err().to_string()
}

const EXAMPLE: &str = r#"version: "1.0"
description: "What this tool may do"
permissions:
  storage:
    allow:
      - uri: "fs:///home/me/notes/**"
        access: [read]
      - uri: "fs://./workspace/**"        # relative to a base the operator sets
        access: [read, write]
    deny:
      - uri: "fs:///home/me/secrets/**"
  network:
    allow:
      - host: "api.github.com"            # https and 443 unless said otherwise
      - host: "*.example.com"
        ports: [8443, 443]
    deny:
      - host: "169.254.169.254"
  environment:
    allow:
      - key: "GITHUB_TOKEN"
      - key: "API_KEY"
        from: secret
  interfaces:
    deny: ["wasi:sockets/*"]
  resources:
    limits: { memory: "128Mi", timeout: "10s", output: "1Mi", concurrency: 4, fuel: 1000000 }
"#;

const CANONICAL_YAML: &str = r#"version: "1.0"
description: "What this tool may do"
permissions:
  storage:
    allow:
      - uri: "fs:///home/me/notes/**"
        access: [read]
      - uri: "fs://./workspace/**"
        access: [read, write]
    deny:
      - uri: "fs:///home/me/secrets/**"
  network:
    allow:
      - host: "api.github.com"
      - host: "*.example.com"
        ports: [443, 8443]
    deny:
      - host: "169.254.169.254"
  environment:
    allow:
      - key: "GITHUB_TOKEN"
      - key: "API_KEY"
        from: secret
  interfaces:
    deny: ["wasi:sockets/*"]
  resources:
    limits:
      memory: "128Mi"
      timeout: "10s"
      output: "1Mi"
      concurrency: 4
      fuel: 1000000
"#;

#[test]
fn the_issue_example_reads_and_writes_back_canonically() {
    let p = Policy::parse_yaml(EXAMPLE).unwrap();
    assert_eq!(p.description(), Some("What this tool may do"));
    assert_eq!(p.storage().allow().len(), 2);
    assert_eq!(p.network().allow()[1].ports(), Some(&[443, 8443][..]));
    assert_eq!(p.limits().concurrency, Some(Concurrency::waiting(4)));
    assert_eq!(p.to_yaml(), CANONICAL_YAML);
    assert_eq!(p.to_string(), CANONICAL_YAML);
    assert_eq!(Policy::parse_yaml(CANONICAL_YAML).unwrap(), p);
}

#[test]
fn json_is_the_same_schema_and_round_trips() {
    let p = Policy::parse_yaml(EXAMPLE).unwrap();
    let json = p.to_json();
    assert!(
        serde_json::from_str::<serde_json::Value>(&json).is_ok(),
        "{json}"
    );
    assert_eq!(Policy::parse_json(&json).unwrap(), p);
    assert_eq!(Policy::parse(&json).unwrap(), p, "parse sniffs JSON");
    let hand = r#"{"version": "1.0", "permissions": {"network": {"allow": [{"host": "api.github.com"}]}}}"#;
    assert_eq!(
        Policy::parse(hand).unwrap(),
        Policy::parse_yaml(
            "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: api.github.com\n"
        )
        .unwrap()
    );
}

#[test]
fn the_smallest_policy_is_deny_all() {
    assert_eq!(
        Policy::parse_yaml("version: \"1.0\"\n").unwrap(),
        Policy::deny_all()
    );
    assert_eq!(Policy::deny_all().to_yaml(), "version: \"1.0\"\n");
    assert_eq!(
        Policy::deny_all().to_json(),
        "{\n  \"version\": \"1.0\"\n}\n"
    );
    assert_eq!(
        Policy::parse("\u{feff}version: \"1.0\"\n").unwrap(),
        Policy::deny_all(),
        "a BOM is skipped"
    );
}

#[test]
fn errors_carry_kind_and_location() {
    let e = Policy::parse_yaml("version: \"1.0\"\nbogus: 1\n").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownField);
    assert_eq!(e.location(), Some(Location { line: 2, column: 1 }));
    assert_eq!(
        e.message(),
        "unknown field `bogus` in `policy`; expected one of: version, description, permissions"
    );
}

#[test]
fn empty_and_non_mapping_documents_are_refused() {
    let empty = "1:1: the policy is empty; the smallest policy (which grants nothing) is `version: \"1.0\"`";
    assert_eq!(yaml_err(""), empty);
    assert_eq!(yaml_err("# only a comment\n"), empty);
    assert_eq!(yaml_err("---\n"), empty);
    assert_eq!(json_err("  "), empty);
    assert_eq!(json_err("null"), empty);
    assert_eq!(
        yaml_err("- a\n"),
        "1:1: a policy is a mapping with `version` (and usually `description` and `permissions`), found a list"
    );
    assert_eq!(
        json_err("\"x\""),
        "1:1: a policy is a mapping with `version` (and usually `description` and `permissions`), found a string"
    );
}

#[test]
fn version_is_required_and_must_be_the_string_1_0() {
    assert_eq!(
        yaml_err("description: \"x\"\n"),
        "1:1: the policy has no `version`; add `version: \"1.0\"` as its first line"
    );
    assert_eq!(
        yaml_err("version: 1.0\n"),
        "1:10: `version` must be the string \"1.0\" (in quotes), found a decimal number"
    );
    assert_eq!(
        json_err("{\"version\": 1}"),
        "1:13: `version` must be the string \"1.0\" (in quotes), found an integer"
    );
    assert_eq!(
        yaml_err("version: \"2.0\"\n"),
        "1:10: `version`: weld reads policy versions \"1.0\" and \"1.1\" (the same format), not \"2.0\""
    );
}

#[test]
fn descriptions_refuse_characters_that_could_spoof_a_terminal() {
    assert_eq!(
        yaml_err("version: \"1.0\"\ndescription: \"safe\\e[2Jtool\"\n"),
        "2:14: `description`: contains U+001B; weld shows descriptions to people and refuses control and bidirectional-formatting characters (other than newline and tab) — remove it"
    );
    assert!(
        yaml_err("version: \"1.0\"\ndescription: \"a\u{202e}b\"\n").contains("contains U+202E")
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\ndescription: \"\"\n"),
        "2:14: `description` is empty; describe the policy or remove the field"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\ndescription: 12\n"),
        "2:14: `description` must be a string, found an integer; put it in quotes"
    );
    let long = format!("version: \"1.0\"\ndescription: \"{}\"\n", "x".repeat(4097));
    assert_eq!(
        yaml_err(&long),
        "2:14: `description`: longer than 4096 characters; shorten it"
    );
    let p =
        Policy::parse_yaml("version: \"1.0\"\ndescription: |\n  line one\n  \tline two\n").unwrap();
    assert_eq!(p.description(), Some("line one\n\tline two\n"));
}

#[test]
fn unknown_fields_are_refused_with_a_suggestion() {
    assert_eq!(
        yaml_err("version: \"1.0\"\npermisions: {}\n"),
        "2:1: unknown field `permisions` in `policy`; expected one of: version, description, permissions (did you mean `permissions`?)"
    );
    assert_eq!(
        yaml_err(
            "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs:///a/**\"\n        acess: [read]\n"
        ),
        "6:9: unknown field `acess` in `permissions.storage.allow[0]`; expected one of: uri, access (did you mean `access`?)"
    );
    assert_eq!(
        json_err("{\"version\": \"1.0\",\n \"permissions\": {\"netwrok\": {}}}"),
        "2:18: unknown field `netwrok` in `permissions`; expected one of: storage, network, environment, interfaces, resources, runtime (did you mean `network`?)"
    );
}

#[test]
fn policy_mcp_fields_weld_does_not_support_say_what_to_do_instead() {
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  ipc: {}\n"),
        "3:3: `permissions.ipc`: weld gives tools no IPC; remove `ipc`"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  resources:\n    cpu: 50.0\n"),
        "4:5: `permissions.resources.cpu`: weld limits CPU by wall-clock time and fuel: use `limits: { timeout: \"10s\" }` (and `fuel`) — remove `cpu`"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  resources:\n    memory: 512\n"),
        "4:5: `permissions.resources.memory`: put memory under `limits`, with a unit: `limits: { memory: \"512Mi\" }` (policy-mcp's plain number of megabytes is not accepted)"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  resources:\n    io: 5\n"),
        "4:5: `permissions.resources.io`: weld does not limit I/O operations; remove `io`"
    );
}

#[test]
fn duplicate_keys_are_refused_naming_both() {
    assert_eq!(
        yaml_err("version: \"1.0\"\nversion: \"1.0\"\n"),
        "2:1: `version` appears twice in `policy` (first at 1:1); keep one"
    );
    assert_eq!(
        json_err("{\"version\": \"1.0\", \"version\": \"1.0\"}"),
        "1:20: `version` appears twice in `policy` (first at 1:2); keep one"
    );
}

#[test]
fn empty_sections_and_lists_are_refused() {
    let cases = [
        (
            "permissions:\n",
            "2:12: `permissions` is empty; remove it, or write `permissions: {}`",
        ),
        (
            "permissions:\n  storage: {}\n",
            "3:12: `permissions.storage` is an empty mapping; remove it",
        ),
        (
            "permissions:\n  storage:\n    allow: []\n",
            "4:12: `permissions.storage.allow` is an empty list; remove it or add a rule",
        ),
        (
            "permissions:\n  storage:\n    allow:\n",
            "4:10: `permissions.storage.allow` is empty; remove it or add a rule",
        ),
        (
            "permissions:\n  network:\n    deny: []\n",
            "4:11: `permissions.network.deny` is an empty list; remove it or add a rule",
        ),
        (
            "permissions:\n  environment:\n    allow: []\n",
            "4:12: `permissions.environment.allow` is an empty list; remove it or add a key",
        ),
        (
            "permissions:\n  interfaces:\n    allow: []\n",
            "4:12: `permissions.interfaces.allow` is an empty list; remove it or list interface patterns",
        ),
        (
            "permissions:\n  resources: {}\n",
            "3:14: `permissions.resources` is an empty mapping; remove it",
        ),
        (
            "permissions:\n  resources:\n    limits: {}\n",
            "4:13: `permissions.resources.limits` is an empty mapping; remove it",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            yaml_err(&format!("version: \"1.0\"\n{body}")),
            expected,
            "{body}"
        );
    }
}

#[test]
fn wrong_types_are_refused_with_what_was_found() {
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  storage: [a]\n"),
        "3:12: `permissions.storage` must be a mapping, found a list"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  storage:\n    allow: {uri: x}\n"),
        "4:12: `permissions.storage.allow` must be a list, found a mapping"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: 42\n"),
        "5:15: `permissions.network.allow[0].host` must be a string, found an integer; put it in quotes"
    );
}

#[test]
fn yaml_features_a_policy_does_not_need_are_refused() {
    assert_eq!(
        yaml_err("version: &v \"1.0\"\n"),
        "1:10: YAML anchors (`&name`) are not supported in a policy; write the value out where it applies"
    );
    // An alias needs an anchor, which is refused first; an alias to nothing
    // is the parser's error.
    assert_eq!(
        yaml_err("version: \"1.0\"\ndescription: *v\n"),
        "2:14: invalid YAML: while parsing node, found unknown anchor"
    );
    assert_eq!(
        yaml_err("version: !!str 1.0\n"),
        "1:10: YAML tags (`!name`, `!!str`) are not supported in a policy; remove the tag (quote a value to make it a string)"
    );
    assert_eq!(
        yaml_err("version: \"1.0\"\n---\nversion: \"1.0\"\n"),
        "2:1: a second YAML document; a policy file holds exactly one (remove the `---` and what follows, or split the file)"
    );
    assert_eq!(
        yaml_err(": x\n"),
        "1:1: an empty mapping key; write the field name before the `:`"
    );
    assert_eq!(
        yaml_err("? [a]\n: b\n"),
        "1:3: a list or mapping used as a mapping key; keys in a policy are plain names"
    );
}

#[test]
fn malformed_yaml_is_refused_at_its_place() {
    assert_eq!(
        yaml_err("version: \"1.0\"\npermissions:\n  storage: [\n"),
        "4:1: invalid YAML: while parsing a node, did not find expected node content"
    );
    assert_eq!(
        yaml_err("version: \"1.0\n"),
        "1:10: invalid YAML: while scanning a quoted scalar, found unexpected end of stream"
    );
}

#[test]
fn documents_too_large_or_too_deep_are_refused() {
    let big = format!(
        "version: \"1.0\"\ndescription: \"{}\"\n",
        "x".repeat(weld_policy::MAX_DOCUMENT_BYTES)
    );
    assert_eq!(
        yaml_err(&big),
        format!(
            "the policy is {} bytes; weld reads policies of at most 1048576 bytes",
            big.len()
        )
    );
    let deep = format!("version: \"1.0\"\ndescription: {}\n", "[".repeat(40));
    assert_eq!(
        yaml_err(&deep),
        "2:45: the document nests deeper than 32 levels; a policy needs at most 6"
    );
}

#[test]
fn parse_sniffs_json_by_its_first_character() {
    assert_eq!(
        Policy::parse("  \n{\"version\": \"1.0\"}").unwrap(),
        Policy::deny_all()
    );
    assert_eq!(
        Policy::parse("version: \"1.0\"").unwrap(),
        Policy::deny_all()
    );
    assert_eq!(
        Policy::parse("{version: \"1.0\"}").unwrap_err().to_string(),
        "1:2: invalid JSON: expected a string key in double quotes"
    );
    assert_eq!(
        Policy::parse_yaml("{version: \"1.0\"}").unwrap(),
        Policy::deny_all()
    );
}

#[test]
fn lists_longer_than_the_limit_are_refused_and_grants_cannot_grow_past_it() {
    let keys: String = (0..1025).map(|i| format!("      - key: K{i}\n")).collect();
    assert_eq!(
        yaml_err(&format!(
            "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n{keys}"
        )),
        "5:7: `permissions.environment.allow` has 1025 entries; weld reads at most 1024 per list"
    );
    let keys: String = (0..1024).map(|i| format!("      - key: K{i}\n")).collect();
    let full = Policy::parse_yaml(&format!(
        "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n{keys}"
    ))
    .unwrap();
    let e = full
        .grant_env("ONE_MORE", weld_policy::EnvSource::Host)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(
        e.to_string(),
        "`permissions.environment.allow` has 1025 entries; weld reads at most 1024 per list"
    );
}
