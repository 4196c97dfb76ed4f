//! `weld inspect` is for looking at untrusted files, so it describes a
//! component from its types without compiling its code (issue 7, item 9):
//! a component Wasmtime would refuse to compile is still described.

use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn inspect_describes_a_component_that_weld_would_not_compile() {
    // Nine core memories: valid WebAssembly, but one more than weld's
    // instance pool allows a component, which Wasmtime checks when it
    // compiles. Inspecting compiles nothing, so it describes the tool;
    // installing compiles, so it refuses.
    let mut wat = String::from(
        "(component\n  (core module $m (memory 1) (func (export \"run\") (result i32) i32.const 4))\n",
    );
    for i in 0..9 {
        wat.push_str(&format!("  (core instance $i{i} (instantiate $m))\n"));
    }
    wat.push_str("  (func (export \"answer\") (result u32) (canon lift (core func $i0 \"run\"))))");
    let dirs = Dirs::new();
    std::fs::create_dir_all(&dirs.cache).expect("mkdir");
    let file = dirs.cache.join("nine-memories.wasm");
    std::fs::write(&file, wat::parse_str(&wat).expect("WAT")).expect("write");
    let file = file.display().to_string();

    let output = dirs.run(&["inspect", &file, "--json"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["tools"][0]["name"], "nine-memories_answer");
    assert_eq!(
        report["tools"][0]["outputSchema"]["properties"]["result"]["type"],
        "integer"
    );

    let added = dirs.run(&["add", &file]).await;
    assert!(!added.status.success(), "compiled and installed");
    assert!(
        String::from_utf8_lossy(&added.stderr).contains("cannot be installed"),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}
