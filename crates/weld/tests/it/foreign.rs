//! Components built by other toolchains, unchanged: componentize-py's
//! (`pytext`, an interpreter of many core instances per call) and
//! componentize-js's (`jstext`, and `jsconfig`, which reads
//! `wasi:config/store`), all built from source by
//! `scripts/build-components.sh`. They run under `weld call` and under any
//! `--max-instances` (extra calls wait), their toolchain's own exports are
//! never tools, a JavaScript component's config store holds exactly what its
//! policy grants, and a component that cannot be loaded never stops the
//! others from being served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::common::*;

/// A component built by another toolchain: `target/components/NAME.wasm`.
fn foreign(name: &str) -> PathBuf {
    let path = repo_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/build-components.sh (which installs \
         componentize-py and componentize-js under target/toolchains with \
         scripts/toolchains.sh)",
        path.display()
    );
    path
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// The JSON `weld call` printed, after requiring that it succeeded.
fn call_output(output: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("JSON result")
}

/// `weld call` runs a pool of 4 calls and `weld serve` here one of 8; the
/// component is installed (compiled once) for both.
#[tokio::test]
async fn a_componentize_py_tool_runs_under_weld_call_and_64_concurrent_calls_wait_for_8_instances()
{
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &path_arg(&foreign("pytext"))]).await;
    let output = dirs
        .run(&["call", "pytext_top-words", r#"{"text": "b a b", "top": 1}"#])
        .await;
    let result = call_output(&output);
    assert_eq!(
        result["structuredContent"],
        json!({"result": [{"word": "b", "count": 2}]}),
        "{result}"
    );

    let client = Arc::new(stdio_client(&dirs, &["--max-instances", "8"], legacy()).await);
    let mut calls = Vec::new();
    for n in 0..64u32 {
        let client = Arc::clone(&client);
        calls.push(tokio::spawn(async move {
            let words = format!("w{n} w{n} other");
            let result = call(
                &client,
                "pytext_top-words",
                json!({"text": words, "top": 1}),
            )
            .await;
            assert_eq!(
                result.structured_content,
                Some(json!({"result": [{"word": format!("w{n}"), "count": 2}]})),
                "call {n}: {}",
                text(&result)
            );
        }));
    }
    for call in calls {
        call.await.expect("call task");
    }
}

#[tokio::test]
async fn componentize_pys_init_export_is_not_a_tool_and_inspect_says_why() {
    let dirs = Dirs::new();
    let output = dirs
        .run(&["inspect", "--json", &path_arg(&foreign("pytext"))])
        .await;
    let report = call_output(&output);
    let tools: Vec<&str> = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"pytext_top-words"), "{tools:?}");
    assert!(
        tools.iter().all(|t| !t.contains("init")),
        "an internal export is offered as a tool: {tools:?}"
    );
    let skipped = report["not_tools"]
        .as_array()
        .expect("not_tools")
        .iter()
        .find(|s| s["function"] == "pytext_exports_init")
        .unwrap_or_else(|| panic!("exports.init not listed as skipped: {report}"));
    let reason = skipped["reason"].as_str().expect("reason");
    assert!(reason.contains("componentize-py"), "{reason}");
    assert_eq!(report["loadable"], true, "{report}");
    let per_call = &report["per_call"];
    assert!(
        per_call["core_instances"].as_u64().is_some_and(|n| n > 1),
        "{report}"
    );
}

/// Without a policy the store is empty; once the policy grants one
/// variable, the store holds exactly that one, with weld's value, and not
/// another variable weld's environment has.
#[tokio::test]
async fn a_js_component_reading_wasi_config_sees_exactly_the_granted_variable() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &path_arg(&foreign("jsconfig"))]).await;
    let call_with_env = |tool: &'static str, arguments: &'static str| {
        let mut cmd = dirs.weld();
        cmd.env("WELD_TEST_API_URL", "https://api.example.test/")
            .env("WELD_TEST_UNGRANTED", "must not be seen")
            .args(["call", tool, arguments])
            .stdin(std::process::Stdio::null());
        async move { call_output(&cmd.output().await.expect("run weld")) }
    };
    let before = call_with_env("jsconfig_config-keys", "{}").await;
    assert_eq!(
        before["structuredContent"],
        json!({"result": []}),
        "{before}"
    );

    set_policy(
        &dirs,
        "jsconfig",
        "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: WELD_TEST_API_URL\n",
    )
    .await;
    let keys = call_with_env("jsconfig_config-keys", "{}").await;
    assert_eq!(
        keys["structuredContent"],
        json!({"result": ["WELD_TEST_API_URL"]}),
        "{keys}"
    );
    let granted = call_with_env("jsconfig_config-get", r#"{"key": "WELD_TEST_API_URL"}"#).await;
    assert_eq!(
        granted["structuredContent"],
        json!({"result": "https://api.example.test/"}),
        "{granted}"
    );
    let ungranted = call_with_env("jsconfig_config-get", r#"{"key": "WELD_TEST_UNGRANTED"}"#).await;
    assert_eq!(
        ungranted["structuredContent"],
        json!({"result": null}),
        "{ungranted}"
    );
}

/// A component that imports an interface no host provides.
fn unlinkable(dir: &Path) -> PathBuf {
    let bytes = wat::parse_str(
        r#"(component
            (import "weld-tests:missing/thing" (instance $i (export "run" (func (result u32)))))
            (core module $m (func (export "run") (result i32) (i32.const 1)))
            (core instance $c (instantiate $m))
            (func (export "run") (result u32) (canon lift (core func $c "run"))))"#,
    )
    .expect("valid WAT");
    let path = dir.join("unlinkable.wasm");
    std::fs::write(&path, bytes).expect("write");
    path
}

#[tokio::test]
async fn a_broken_component_file_is_listed_as_disabled_while_the_other_tools_serve() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm but not really").expect("write");
    let unlinkable = unlinkable(tmp.path());
    install_hostile(&dirs).await;
    let client = stdio_client(
        &dirs,
        &[
            "--component",
            &path_arg(&broken),
            "--component",
            &path_arg(&unlinkable),
            "--component",
            &path_arg(&component("add")),
        ],
        legacy(),
    )
    .await;
    let sum = call(&client, "add_add", json!({"a": 2, "b": 3})).await;
    assert_eq!(
        sum.structured_content,
        Some(json!({"result": 5})),
        "{}",
        text(&sum)
    );
    still_serving(&client).await;

    let listed = call(&client, "weld_list_components", json!({})).await;
    let components = listed.structured_content.expect("structured listing")["components"]
        .as_array()
        .expect("components")
        .clone();
    let disabled = |name: &str| -> String {
        let entry = components
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {components:?}"));
        assert_eq!(entry["tools"], json!([]), "{entry}");
        entry["disabled"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} not disabled: {entry}"))
            .to_string()
    };
    assert!(disabled("broken").contains("not a WebAssembly component"));
    assert!(disabled("unlinkable").contains("weld-tests:missing/thing"));
    let hostile = components
        .iter()
        .find(|c| c["name"] == "hostile")
        .expect("hostile listed");
    assert!(hostile.get("disabled").is_none(), "{hostile}");
    // The file that loads is listed too, with its tools.
    let add = components
        .iter()
        .find(|c| c["name"] == "add")
        .unwrap_or_else(|| panic!("the served --component file is not listed: {components:?}"));
    assert_eq!(add["tools"], json!(["add_add"]), "{add}");
    assert!(add.get("disabled").is_none(), "{add}");
    assert!(
        add["source"]
            .as_str()
            .is_some_and(|s| s.contains("--component")),
        "{add}"
    );
}

#[tokio::test]
async fn an_installed_component_given_again_with_component_is_served_once() {
    let dirs = Dirs::new();
    let add = path_arg(&component("add"));
    weld_ok(&dirs, &["add", &add]).await;
    let client = stdio_client(&dirs, &["--component", &add], legacy()).await;
    let sum = call(&client, "add_add", json!({"a": 1, "b": 1})).await;
    assert_eq!(
        sum.structured_content,
        Some(json!({"result": 2})),
        "{}",
        text(&sum)
    );
    let tools = client.list_all_tools().await.expect("tools/list");
    let served = tools.iter().filter(|t| t.name == "add_add").count();
    assert_eq!(served, 1);
}

#[tokio::test]
async fn weld_call_says_why_a_broken_component_file_has_no_tools() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let unlinkable = unlinkable(tmp.path());
    let output = dirs
        .run(&[
            "call",
            "--component",
            &path_arg(&unlinkable),
            "unlinkable_run",
        ])
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("component `unlinkable` is disabled")
            && stderr.contains("weld-tests:missing/thing"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_component_file_named_like_another_installed_component_is_disabled_not_fatal() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &path_arg(&component("add"))]).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let other = tmp.path().join("add.wasm");
    std::fs::copy(component("hostile"), &other).expect("copy");
    let client = stdio_client(&dirs, &["--component", &path_arg(&other)], legacy()).await;
    let sum = call(&client, "add_add", json!({"a": 1, "b": 2})).await;
    assert_eq!(
        sum.structured_content,
        Some(json!({"result": 3})),
        "{}",
        text(&sum)
    );

    let listed = call(&client, "weld_list_components", json!({})).await;
    let listed = listed.structured_content.expect("structured listing");
    let entries: Vec<&Value> = listed["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter(|c| c["name"] == "add")
        .collect();
    assert_eq!(entries.len(), 2, "{listed}");
    let (installed, file): (Vec<&Value>, Vec<&Value>) = entries
        .into_iter()
        .partition(|c| c.get("disabled").is_none());
    assert_eq!(installed.len(), 1, "{listed}");
    assert!(
        file[0]["disabled"]
            .as_str()
            .is_some_and(|r| r.contains("two components are named `add`")),
        "{listed}"
    );
    assert!(
        file[0]["source"]
            .as_str()
            .is_some_and(|s| s.contains("--component")),
        "{listed}"
    );
}

#[tokio::test]
async fn inspect_says_a_component_the_instance_pool_cannot_hold_is_not_loadable() {
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    // 65 core instances in one call: more than any pool holds per component.
    let mut text = String::from(
        r#"(component
            (core module $m (func (export "run") (result i32) (i32.const 1)))
            (core instance $c (instantiate $m))
"#,
    );
    for _ in 0..64 {
        text.push_str("(core instance (instantiate $m))\n");
    }
    text.push_str(r#"(func (export "run") (result u32) (canon lift (core func $c "run"))))"#);
    let path = tmp.path().join("crowd.wasm");
    std::fs::write(&path, wat::parse_str(&text).expect("valid WAT")).expect("write");
    let output = dirs.run(&["inspect", "--json", &path_arg(&path)]).await;
    let report = call_output(&output);
    assert_eq!(report["loadable"], false, "{report}");
    assert!(
        report["pool_error"]
            .as_str()
            .is_some_and(|e| e.contains("65 core instances")),
        "{report}"
    );
}
