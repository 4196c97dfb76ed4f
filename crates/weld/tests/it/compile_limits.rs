//! Compiling untrusted components within limits: one made to compile for
//! minutes is stopped at `--compile-timeout` with an error naming the
//! limit, never installed, and skipped by `weld serve` while the other tools
//! are served.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::*;
use serde_json::json;

/// A component whose one function keeps 20,000 values live at once: a
/// 140 KB file whose register allocation takes Cranelift tens of seconds
/// (the time grows with the square of the count), far past the 1 s limit
/// these tests set.
fn slow_component(dir: &Path) -> PathBuf {
    slow_component_of(dir, 20_000)
}

/// A component keeping `values` values live in one function: compiling it
/// takes time growing with the square of `values`.
pub(crate) fn slow_component_of(dir: &Path, values: usize) -> PathBuf {
    let mut body = String::new();
    for k in 0..values {
        body.push_str(&format!(
            "(i32.load offset={} (local.get 0))\n",
            (k * 4) % 65_000
        ));
    }
    for _ in 1..values {
        body.push_str("i32.add\n");
    }
    let wat = format!(
        r#"(component
            (core module $m
                (memory 1)
                (func (export "slow") (param i32) (result i32)
                    {body}))
            (core instance $i (instantiate $m))
            (func (export "slow") (param "x" u32) (result u32)
                (canon lift (core func $i "slow"))))"#
    );
    let path = dir.join("slow.wasm");
    std::fs::write(&path, wat::parse_str(&wat).expect("WAT")).expect("write");
    path
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn tmp_of(dirs: &Dirs) -> PathBuf {
    dirs.state.parent().expect("tmp").to_path_buf()
}

#[tokio::test]
async fn a_component_that_compiles_too_long_is_stopped_at_the_limit_and_not_installed() {
    let dirs = Dirs::new();
    let slow = slow_component(&tmp_of(&dirs));
    let output = dirs
        .run(&["add", "--compile-timeout", "1", &slow.display().to_string()])
        .await;
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("took longer than the 1 s limit") && message.contains("--compile-timeout"),
        "{message}"
    );
    let listed = dirs.run(&["list", "--json"]).await;
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
}

#[tokio::test]
async fn compiling_over_the_memory_limit_is_stopped_with_the_flag_to_raise_it() {
    let dirs = Dirs::new();
    let hostile = component("hostile").display().to_string();
    let output = dirs
        .run(&["add", "--compile-memory-mib", "4", &hostile])
        .await;
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("more memory than the 4 MiB limit")
            && message.contains("--compile-memory-mib"),
        "{message}"
    );
    // The same component within the default limits.
    weld_ok(&dirs, &["add", &hostile]).await;
}

#[tokio::test]
async fn serve_skips_an_installed_component_over_the_limit_and_serves_the_others() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    // Installed without compiling (as a cache deleted since would leave
    // it), so the first compilation is `weld serve`'s.
    let slow = slow_component(&tmp_of(&dirs));
    weld_store::Store::open(&dirs.state)
        .expect("state")
        .install("slow", &std::fs::read(&slow).expect("read"), "test", false)
        .expect("install");

    let mut cmd = dirs.weld();
    cmd.env("WELD_LOG", "warn")
        .args(["serve", "--compile-timeout", "1"]);
    let (transport, log) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weld serve");
    let log = log.expect("stderr");
    let seen = Arc::new(Mutex::new(String::new()));
    let writer = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut lines = BufReader::new(log).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut seen = writer.lock().expect("log");
            seen.push_str(&line);
            seen.push('\n');
        }
    });
    let client = ().serve(transport).await.expect("MCP session");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "hostile_echo"));
    assert!(!tools.iter().any(|t| t.name.starts_with("slow_")));
    still_serving(&client).await;
    let log = seen.lock().expect("log").clone();
    assert!(
        log.contains("component=slow") && log.contains("took longer than the 1 s limit"),
        "{log}"
    );
    client.cancel().await.expect("close");

    // Checking a grant loads the component too: bounded the same way.
    let output = dirs
        .run(&["grant", "slow", "env", "HOME", "--compile-timeout", "1"])
        .await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--compile-timeout"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_component_file_over_the_limit_is_disabled_with_the_reason_and_the_others_serve() {
    let dirs = Dirs::new();
    let slow = slow_component(&tmp_of(&dirs));
    // `add` compiled first, under the default limit: one second is the
    // slow component's limit, and a loaded machine can take that long to
    // compile even `add`.
    let add = component("add").display().to_string();
    weld_ok(
        &dirs,
        &["call", "--component", &add, "add_add", r#"{"a":0,"b":0}"#],
    )
    .await;
    let client = stdio_client(
        &dirs,
        &[
            "--compile-timeout",
            "1",
            "--component",
            &add,
            "--component",
            &slow.display().to_string(),
        ],
        legacy(),
    )
    .await;
    let sum = call(&client, "add_add", json!({"a": 1, "b": 2})).await;
    assert_eq!(sum.structured_content, Some(json!({"result": 3})));
    let listed = call(&client, "weld_list_components", json!({})).await;
    let listed = listed.structured_content.expect("structured listing");
    let reason = listed["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "slow")
        .and_then(|c| c["disabled"].as_str())
        .unwrap_or_else(|| panic!("slow not listed as disabled: {listed}"))
        .to_string();
    assert!(
        reason.contains("slow.wasm") && reason.contains("took longer than the 1 s limit"),
        "{reason}"
    );
}
