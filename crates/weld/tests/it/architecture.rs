//! Keeps the code map in docs/ARCHITECTURE.md true: each crate's weld
//! dependencies are exactly those its "Dependencies" block lists, the
//! outside crates an invariant keeps out stay out, every source file has a
//! `//!` doc, and no source file outside tests grows past the size the
//! document promises.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The names in a crate's `[dependencies]` table (not dev-dependencies, not
/// target-specific tables).
fn dependencies(krate: &str) -> Vec<String> {
    let manifest = crate::common::repo_root()
        .join("crates")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("read Cargo.toml");
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            let name = name.trim().trim_end_matches(".workspace").to_string();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Every crate in `crates/`.
fn crates() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(crate::common::repo_root().join("crates"))
        .expect("read crates/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The block in docs/ARCHITECTURE.md between the `dependencies` markers:
/// `crate -> weld-a weld-b` per line.
fn documented_dependencies() -> BTreeMap<String, Vec<String>> {
    let doc = std::fs::read_to_string(crate::common::repo_root().join("docs/ARCHITECTURE.md"))
        .expect("read docs/ARCHITECTURE.md");
    const OPEN: &str = "<!-- dependencies -->";
    let start = doc
        .find(OPEN)
        .expect("docs/ARCHITECTURE.md has a `<!-- dependencies -->` block")
        + OPEN.len();
    let end = doc[start..]
        .find("<!-- /dependencies -->")
        .expect("the dependencies block ends")
        + start;
    let mut out = BTreeMap::new();
    for line in doc[start..end].lines() {
        let Some((krate, deps)) = line.split_once("->") else {
            continue;
        };
        let mut deps: Vec<String> = deps.split_whitespace().map(str::to_string).collect();
        deps.sort();
        out.insert(krate.trim().to_string(), deps);
    }
    out
}

#[test]
fn every_crate_depends_on_exactly_the_weld_crates_the_architecture_lists() {
    let documented = documented_dependencies();
    let crates = crates();
    assert_eq!(
        documented.keys().cloned().collect::<Vec<_>>(),
        crates,
        "docs/ARCHITECTURE.md must list every crate in crates/, and only those"
    );
    for krate in &crates {
        let mut actual: Vec<String> = dependencies(krate)
            .into_iter()
            .filter(|d| d.starts_with("weld-") || d == "weld")
            .collect();
        actual.sort();
        assert_eq!(
            &actual, &documented[krate],
            "{krate}'s weld dependencies differ from docs/ARCHITECTURE.md"
        );
    }
}

fn assert_absent(krate: &str, forbidden: &[&str]) {
    let deps = dependencies(krate);
    for name in forbidden {
        assert!(
            !deps
                .iter()
                .any(|d| d == name || d.starts_with(&format!("{name}-"))),
            "{krate} must not depend on {name} (docs/ARCHITECTURE.md); it depends on {deps:?}"
        );
    }
}

#[test]
fn only_the_mcp_crate_speaks_mcp() {
    for krate in crates() {
        // The benchmark's baseline is a native rmcp server.
        if krate != "weld-mcp" && krate != "weld-bench" {
            assert_absent(&krate, &["rmcp"]);
        }
    }
    assert!(dependencies("weld-mcp").contains(&"rmcp".to_string()));
}

#[test]
fn the_host_knows_no_protocol() {
    assert_absent("weld-host", &["rmcp", "hyper", "http", "tower-service"]);
}

#[test]
fn the_runtime_knows_neither_the_store_nor_policy_documents_nor_mcp() {
    assert_absent("weld-runtime", &["rmcp", "weld-store", "saphyr-parser"]);
}

#[test]
fn the_leaf_crates_know_no_wasmtime_tokio_or_network() {
    for krate in ["weld-policy", "weld-store", "weld-fs"] {
        assert_absent(krate, &["wasmtime", "tokio", "hyper", "rmcp"]);
    }
    assert_absent("weld-schema", &["tokio", "hyper", "rmcp"]);
    // Signature checks are pure: bytes in, a verdict out.
    assert_absent(
        "weld-trust",
        &[
            "wasmtime",
            "tokio",
            "hyper",
            "rmcp",
            "reqwest",
            "oci-client",
        ],
    );
    // Moving bytes knows no sandbox, no protocol, and verifies nothing.
    assert_absent("weld-dist", &["wasmtime", "rmcp", "weld-trust"]);
}

#[test]
fn only_the_binary_sets_up_logging() {
    for krate in crates() {
        if krate != "weld" {
            assert_absent(&krate, &["tracing-subscriber"]);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(
            &crate::common::repo_root()
                .join("crates")
                .join(krate)
                .join("src"),
            &mut files,
        );
    }
    assert!(!files.is_empty());
    files
}

#[test]
fn every_source_file_says_what_it_is_for() {
    for file in source_files() {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.trim_start().starts_with("//!"),
            "{} has no `//!` module doc",
            file.display()
        );
    }
}

/// The most lines of code a source file may have before its unit tests
/// (`#[cfg(test)]`); docs/ARCHITECTURE.md promises files a reader can hold.
const MAX_SOURCE_LINES: usize = 800;

#[test]
fn no_source_file_outside_tests_is_longer_than_the_architecture_allows() {
    let mut long = Vec::new();
    for file in source_files() {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let code = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .count();
        if code > MAX_SOURCE_LINES {
            long.push(format!("{} ({code} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_SOURCE_LINES} lines before the tests: {long:?}"
    );
}
