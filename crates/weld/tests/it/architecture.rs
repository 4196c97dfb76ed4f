//! Keeps the code map in docs/ARCHITECTURE.md true: the dependency edges it
//! promises, and a `//!` doc on every source file.

use std::path::Path;

/// The names in a crate's `[dependencies]` table (not dev-dependencies).
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
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_end_matches(".workspace").to_string();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name);
            }
        }
    }
    out
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
fn schema_knows_nothing_of_mcp_tokio_or_the_other_crates() {
    assert_absent(
        "weld-schema",
        &["rmcp", "tokio", "weld-runtime", "weld-store", "weld-server"],
    );
}

#[test]
fn runtime_knows_nothing_of_mcp_or_the_store() {
    assert_absent("weld-runtime", &["rmcp", "weld-store", "weld-server"]);
}

#[test]
fn store_knows_nothing_of_wasmtime_or_mcp() {
    assert_absent(
        "weld-store",
        &["wasmtime", "rmcp", "tokio", "weld-runtime", "weld-server"],
    );
}

#[test]
fn policy_knows_nothing_of_wasmtime_tokio_mcp_or_the_other_crates() {
    assert_absent(
        "weld-policy",
        &[
            "wasmtime",
            "tokio",
            "rmcp",
            "hyper",
            "weld-schema",
            "weld-runtime",
            "weld-store",
            "weld-server",
        ],
    );
}

#[test]
fn fs_knows_nothing_of_wasmtime_tokio_mcp_or_the_other_crates() {
    assert_absent(
        "weld-fs",
        &[
            "wasmtime",
            "tokio",
            "rmcp",
            "weld-policy",
            "weld-schema",
            "weld-runtime",
            "weld-store",
            "weld-server",
        ],
    );
}

#[test]
fn only_the_server_speaks_mcp() {
    for krate in [
        "weld-fs",
        "weld-policy",
        "weld-schema",
        "weld-runtime",
        "weld-store",
    ] {
        assert_absent(krate, &["rmcp"]);
    }
    assert!(dependencies("weld-server").contains(&"rmcp".to_string()));
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut files = Vec::new();
    for krate in [
        "weld-fs",
        "weld-schema",
        "weld-runtime",
        "weld-store",
        "weld-server",
        "weld",
    ] {
        rust_files(
            &crate::common::repo_root()
                .join("crates")
                .join(krate)
                .join("src"),
            &mut files,
        );
    }
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.trim_start().starts_with("//!"),
            "{} has no `//!` module doc",
            file.display()
        );
    }
}
