//! Policies in the shapes policy-mcp and Wassette users already have: each
//! accepted one means exactly what its weld spelling means (the same
//! compiled grant), and each refused one says why and what to write.

use std::path::Path;

use weld_policy::{Grant, Policy, PolicyError, Scheme};

/// A base directory holding what the documents below name.
fn base() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("workspace")).unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/app.yaml"), "x").unwrap();
    dir
}

fn compiled(text: &str, base: &Path) -> Grant {
    Policy::parse(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .compile(base)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Both documents read, and compile to the same grant.
fn same_meaning(theirs: &str, ours: &str) {
    let dir = base();
    assert_eq!(
        Policy::parse(theirs).unwrap_or_else(|e| panic!("{e}")),
        Policy::parse(ours).unwrap_or_else(|e| panic!("{e}")),
        "the documents differ"
    );
    assert_eq!(compiled(theirs, dir.path()), compiled(ours, dir.path()));
}

fn all_errors(text: &str) -> Vec<String> {
    Policy::parse_all(text)
        .unwrap_err()
        .iter()
        .map(PolicyError::to_string)
        .collect()
}

fn first_error(text: &str) -> String {
    Policy::parse(text).unwrap_err().to_string()
}

#[test]
fn the_example_of_wassettes_design_overview_means_its_weld_spelling() {
    same_meaning(
        r#"version: "1.0"
description: "An example policy"
permissions:
  storage:
    allow:
    - uri: "fs://workspace/**"
      access: ["read", "write"]
    - uri: "fs://config/app.yaml"
      access: ["read"]
  network:
    allow:
    - host: "api.openai.com"
"#,
        r#"version: "1.0"
description: "An example policy"
permissions:
  storage:
    allow:
      - uri: "fs://./workspace/**"
        access: [read, write]
      - uri: "fs://./config/app.yaml"
        access: [read]
  network:
    allow:
      - host: "api.openai.com"
        schemes: [https]
        ports: [443]
"#,
    );
}

#[test]
fn empty_permissions_and_version_1_1_grant_nothing() {
    same_meaning(
        "version: \"1.0\"\ndescription: \"time\"\npermissions: {}\n",
        "version: \"1.0\"\ndescription: \"time\"\n",
    );
    same_meaning(
        "version: \"1.1\"\npermissions:\n  environment:\n    allow:\n    - key: \"LANG\"\n",
        "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: LANG\n",
    );
    same_meaning(
        "{\"$schema\": \"https://example.com/policy.json\", \"version\": \"1.0\", \"permissions\": {}}",
        "version: \"1.0\"\n",
    );
}

#[test]
fn url_style_hosts_take_scheme_host_and_port_apart() {
    same_meaning(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"https://rss.nytimes.com/\"\n",
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"rss.nytimes.com\"\n",
    );
    same_meaning(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"http://127.0.0.1:8080\"\n",
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"127.0.0.1\"\n        schemes: [http]\n        ports: [8080]\n",
    );
    let p = Policy::parse(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"http://example.com\"\n",
    )
    .unwrap();
    let net = p.network();
    assert!(net.check(Scheme::Http, "example.com", 80).allowed);
    assert!(
        !net.check(Scheme::Https, "example.com", 443).allowed,
        "the scheme written is the only one granted"
    );
}

#[test]
fn what_weld_cannot_enforce_in_a_url_is_refused_with_the_fix() {
    let allow = |host: &str, extra: &str| {
        first_error(&format!(
            "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"{host}\"\n{extra}"
        ))
    };
    assert_eq!(
        allow("https://api.example.com/v1/feed", ""),
        "5:15: `permissions.network.allow[0].host`: `https://api.example.com/v1/feed` names the path `/v1/feed`; weld checks a request by scheme, host and port and cannot limit it to a path — grant `https://api.example.com` (every path on that host) or nothing"
    );
    assert_eq!(
        allow("https://api.example.com", "        schemes: [http]\n"),
        "6:18: `permissions.network.allow[0].schemes`: `https://api.example.com` already names the scheme; give it once — in the URL or under `schemes`"
    );
    assert_eq!(
        allow("http://api.example.com:8080", "        ports: [80]\n"),
        "6:16: `permissions.network.allow[0].ports`: `http://api.example.com:8080` already names the port; give it once — in the URL or under `ports`"
    );
    assert!(allow("tcp://db.example", "").contains("`tcp`, which has no default port"));
    assert_eq!(
        first_error(
            "version: \"1.0\"\npermissions:\n  network:\n    deny:\n      - host: \"https://evil.example/\"\n"
        ),
        "5:15: `permissions.network.deny[0].host`: `https://evil.example/` is a URL; a deny rule applies to every scheme — write `host: \"evil.example\"` (and `ports` to deny only some ports)"
    );
}

#[test]
fn wassettes_runtime_section_is_accepted_where_the_sandbox_already_holds_the_tool_to_it() {
    same_meaning(
        r#"version: "1.0"
permissions:
  environment:
    allow:
    - key: "PATH"
  runtime:
    docker:
      security:
        privileged: false
        no_new_privileges: true
        capabilities:
          drop: ["ALL"]
          add: []
    hyperlight:
  resources:
    limits:
      memory: "512Mi"
"#,
        "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: PATH\n  resources:\n    limits:\n      memory: 512Mi\n",
    );
}

#[test]
fn runtime_settings_weld_does_not_give_are_refused_each_with_the_reason() {
    let errors = all_errors(
        r#"version: "1.0"
permissions:
  runtime:
    docker:
      security:
        privileged: true
        capabilities:
          add: ["NET_BIND_SERVICE"]
    hyperlight:
      vcpus: 2
    wasm:
      engine: "wasmtime"
  resources:
    limits:
      cpu: "500m"
      memory: "512Mi"
"#,
    );
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(errors[0].starts_with("6:21: `permissions.runtime.docker.security.privileged`: weld cannot run a tool privileged"), "{}", errors[0]);
    assert!(errors[1].starts_with("8:16: `permissions.runtime.docker.security.capabilities.add`: weld gives tools no Linux capabilities"), "{}", errors[1]);
    assert!(
        errors[2].starts_with(
            "10:7: `permissions.runtime.hyperlight`: weld runs tools in Wasmtime, not Hyperlight"
        ),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].starts_with(
            "12:7: `permissions.runtime.wasm`: weld chooses the engine and the module"
        ),
        "{}",
        errors[3]
    );
    assert!(
        errors[4].starts_with(
            "15:7: `permissions.resources.limits.cpu`: weld cannot hold a tool to a share of a CPU"
        ),
        "{}",
        errors[4]
    );
}

#[test]
fn every_error_of_a_document_is_reported_in_order_each_with_its_place() {
    let text = r#"version: "1.0"
permissions:
  storage:
    allow:
    - uri: "fs://var/log/*.log"
      access: ["read"]
    - uri: "fs://sandbox/temp/**"
      access: ["write"]
    - uri: "fs://workspace/**"
      access: ["read"]
  network:
    allow:
    - host: "localhost"
    deny:
    - host: "*"
  environment:
    allow:
    - key: "API KEY"
  ipc:
    allow:
    - uri: "pipe://x"
"#;
    let errors = all_errors(text);
    let places: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        places,
        ["19:3", "5:12", "8:15", "13:13", "15:13", "18:12"],
        "{errors:#?}"
    );
    assert_eq!(
        first_error(text),
        errors[0],
        "parse reports the first of them"
    );
}

#[test]
fn the_whole_filesystem_is_refused_with_the_fix() {
    let e = first_error(
        "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs:///\"\n        access: [read]\n",
    );
    assert!(
        e.contains(
            "grants the whole filesystem; weld refuses that — allow the directories the tool needs"
        ),
        "{e}"
    );
}

#[test]
fn grants_with_schemes_add_exactly_that_scheme_and_port() {
    let p = Policy::deny_all();
    let check = |p: &Policy, s, h, port| p.network().check(s, h, port).allowed;
    let http = p.grant_network("http://127.0.0.1:8080").unwrap();
    assert!(check(&http, Scheme::Http, "127.0.0.1", 8080));
    assert!(!check(&http, Scheme::Https, "127.0.0.1", 8080));
    let https = p.grant_network("https://api.example.com").unwrap();
    assert!(check(&https, Scheme::Https, "api.example.com", 443));
    assert_eq!(
        https,
        p.grant_network("api.example.com").unwrap(),
        "bare HOST is https on 443"
    );
    assert_eq!(https, p.grant_network("api.example.com:443").unwrap());
    let plain = p.grant_network("http://api.example.com").unwrap();
    assert!(
        check(&plain, Scheme::Http, "api.example.com", 80),
        "http's default port"
    );
    let tcp = p.grant_network("tcp://db.example:5432").unwrap();
    assert!(check(&tcp, Scheme::Tcp, "db.example", 5432));
    assert!(!check(&tcp, Scheme::Udp, "db.example", 5432));
    let udp = p.grant_network("udp://[::1]:5353").unwrap();
    assert!(check(&udp, Scheme::Udp, "::1", 5353));
    let two = http.grant_network("http://127.0.0.1:9090").unwrap();
    assert_eq!(
        two.network().allow().len(),
        1,
        "the http rule gained a port"
    );
    assert_eq!(two.network().allow()[0].ports(), Some(&[8080, 9090][..]));
    assert_eq!(two.revoke_network("http://127.0.0.1:9090").unwrap(), http);
    assert_eq!(http.revoke_network("http://127.0.0.1:8080").unwrap(), p);
    assert!(
        http.revoke_network("https://127.0.0.1:8080")
            .unwrap_err()
            .to_string()
            .contains("host `127.0.0.1` port 8080 over https is not allowed")
    );
    assert!(
        p.grant_network("tcp://db.example")
            .unwrap_err()
            .to_string()
            .contains("tcp has no default port; write `tcp://HOST:PORT`")
    );
    assert!(
        p.grant_network("https://example.com/path")
            .unwrap_err()
            .to_string()
            .contains("cannot limit it to a path")
    );
}
