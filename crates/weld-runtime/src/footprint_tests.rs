//! The footprint read from a component's structure: counted through nested
//! components, outer aliases and repeated instantiations; equal to what
//! Wasmtime counts from the compiled component for every guest in the
//! repository; and a component the pool cannot hold is named as such.

use std::path::PathBuf;

use wasmtime::component::Component;

use super::of_bytes;
use crate::capacity::{Footprint, MAX_CORE_INSTANCES};
use crate::{Runtime, RuntimeConfig};

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid WAT")
}

#[test]
fn every_instantiation_counts_through_nested_components_and_outer_aliases() {
    // The inner component instantiates the outer one's memory module (an
    // outer alias) and a table module of its own; the outer component
    // instantiates the inner one twice and the memory module once.
    let bytes = wat(r#"(component
        (core module $mem (memory 1))
        (core module $empty)
        (component $inner
            (alias outer 1 $mem (core module $m))
            (core module $table (table 1 funcref))
            (core instance (instantiate $m))
            (core instance (instantiate $table))
            (core instance (instantiate $table)))
        (instance (instantiate $inner))
        (instance (instantiate $inner))
        (core instance (instantiate $mem))
        (core instance (instantiate $empty)))"#);
    assert_eq!(
        of_bytes(&bytes),
        Ok(Footprint {
            core_instances: 8,
            memories: 3,
            tables: 4,
        })
    );
}

#[test]
fn a_module_defined_but_never_instantiated_costs_nothing() {
    let bytes = wat(r#"(component (core module (memory 1) (table 1 funcref)))"#);
    assert_eq!(
        of_bytes(&bytes),
        Ok(Footprint {
            core_instances: 0,
            memories: 0,
            tables: 0,
        })
    );
}

#[test]
fn a_component_with_more_core_instances_than_the_pool_holds_is_named_unrunnable() {
    let mut text = String::from("(component (core module $empty)\n");
    for _ in 0..=MAX_CORE_INSTANCES {
        text.push_str("(core instance (instantiate $empty))\n");
    }
    text.push(')');
    let error = of_bytes(&wat(&text)).expect_err("over the maximum");
    assert!(
        error.contains("65 core instances") && error.contains("at most 64"),
        "{error}"
    );
}

#[test]
fn a_core_module_with_two_memories_or_a_huge_table_is_named_unrunnable() {
    let two = of_bytes(&wat(
        r#"(component (core module $m (memory 1) (memory 1)) (core instance (instantiate $m)))"#,
    ))
    .expect_err("two memories in one module");
    assert!(two.contains("2 linear memories"), "{two}");
    let huge = of_bytes(&wat(
        r#"(component (core module $m (table 30000 funcref)) (core instance (instantiate $m)))"#,
    ))
    .expect_err("a table larger than the pool's");
    assert!(huge.contains("30000 elements"), "{huge}");
}

#[test]
fn a_component_instantiating_an_imported_module_is_taken_at_the_maxima() {
    let bytes = wat(r#"(component
        (import "m" (core module $m))
        (core instance (instantiate $m)))"#);
    assert_eq!(of_bytes(&bytes), Ok(Footprint::MAXIMA));
}

/// Every guest in `target/components` small enough to compile in a unit
/// test (the multi-megabyte interpreters of componentize-py and
/// componentize-js are served in `crates/weld/tests/it/foreign.rs`): the
/// structure gives the memories and tables Wasmtime counts, and at most the
/// core instances it allows.
#[test]
fn memories_and_tables_read_from_the_structure_equal_wasmtimes_count_for_every_guest() {
    let cache = tempfile::tempdir().expect("tempdir");
    let mut config = RuntimeConfig::new(cache.path().to_path_buf());
    config.max_instances = 1;
    let runtime = Runtime::new(&config).expect("runtime");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/components");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("build the guests: scripts/build-components.sh") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        if bytes.len() > 4 << 20 {
            continue;
        }
        let structural = of_bytes(&bytes).expect("runnable");
        let component = Component::new(&runtime.plain.engine, &bytes).expect("compiles");
        let compiled = Footprint::of(&component);
        assert_eq!(
            (structural.memories, structural.tables),
            (compiled.memories, compiled.tables),
            "{}",
            path.display()
        );
        assert!(structural.core_instances >= 1, "{}", path.display());
        assert!(
            structural.core_instances <= MAX_CORE_INSTANCES,
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 0, "no guest components in {}", dir.display());
}
