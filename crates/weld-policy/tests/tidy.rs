//! Keeps the reference (`docs/policy.md`), the fuzz seeds and the crate's
//! dependency edges in step with the code.

use std::path::Path;

use weld_policy::{BUILT_IN_DENIES, Policy, fuzz_check};

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced blocks of `lang` in a Markdown text.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let open = format!("```{lang}\n");
    text.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(b, _)| b))
        .collect()
}

#[test]
fn every_example_in_the_reference_is_a_valid_policy() {
    let doc = repo_file("docs/policy.md");
    let yaml = blocks(&doc, "yaml");
    assert!(yaml.len() >= 6, "found {} YAML examples", yaml.len());
    for block in yaml {
        let text = if block.starts_with("version:") {
            block.to_owned()
        } else {
            let indented: String = block.lines().map(|l| format!("  {l}\n")).collect();
            format!("version: \"1.0\"\npermissions:\n{indented}")
        };
        if let Err(e) = Policy::parse_yaml(&text) {
            panic!("{e}\n{text}");
        }
    }
    for block in blocks(&doc, "json") {
        Policy::parse_json(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}

#[test]
fn the_reference_lists_every_built_in_deny() {
    let doc = repo_file("docs/policy.md");
    for b in BUILT_IN_DENIES {
        let lifted = if b.overridable {
            "yes, by IP or CIDR"
        } else {
            "never"
        };
        let row = format!("| `{}` | {} | {lifted} |", b.network, b.name);
        assert!(doc.contains(&row), "docs/policy.md lacks the row\n{row}");
    }
}

#[test]
fn the_fuzz_seeds_pass_the_oracle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/policy_parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        fuzz_check(&bytes);
        n += 1;
    }
    assert!(n >= 3);
    assert!(Policy::parse(&repo_file("fuzz/seeds/policy_parse/example.yaml")).is_ok());
    assert!(Policy::parse(&repo_file("fuzz/seeds/policy_parse/example.json")).is_ok());
}

#[test]
fn the_crate_depends_on_no_runtime_network_or_protocol_crate() {
    let manifest = repo_file("crates/weld-policy/Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for forbidden in [
        "wasmtime",
        "tokio",
        "rmcp",
        "hyper",
        "weld-runtime",
        "weld-host",
        "weld-mcp",
        "weld-store",
    ] {
        assert!(
            !deps.contains(forbidden),
            "weld-policy must not depend on {forbidden}"
        );
    }
}
