//! What a tool can reach: nothing without a policy, exactly its grant with
//! one. Every attack is checked for failing and for leaving the disk as it
//! was; after each, the server still answers. One module per capability;
//! the helpers they share are here.

mod empty_root;
mod env;
mod output;
mod policy_lifecycle;
mod single_file;
mod storage;

use crate::common::*;
use serde_json::{Value, json};

const SECRET: &str = "planted-secret-value";

/// A server for the hostile component, with a planted secret in weld's own
/// environment.
async fn serve(dirs: &Dirs) -> Client {
    // The variables are inherited by `weld serve` from this test process
    // through `Dirs::weld`, so set them on the command instead of globally.
    let mut cmd = dirs.weld();
    cmd.arg("serve")
        .env("WELD_TEST_SECRET", SECRET)
        .env("GRANTED_KEY", "granted-value");
    let transport = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn")
        .0;
    use rmcp::ClientServiceExt;
    ().serve_with_lifecycle(transport, legacy())
        .await
        .expect("session")
}

fn is_err(result: &rmcp::model::CallToolResult) -> bool {
    result.is_error == Some(true)
}

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        let content = if meta.is_file() {
            std::fs::read(&path).expect("read")
        } else {
            Vec::new()
        };
        out.push((path.display().to_string(), content));
    }
    out.sort();
    out
}

/// What `raw-fs` answers: the text, or `Err(code)`.
async fn raw_fs(
    client: &Client,
    preopen: &str,
    op: &str,
    path: &str,
    other: &str,
) -> Result<String, String> {
    let result = call(
        client,
        "hostile_raw-fs",
        json!({"preopen": preopen, "op": op, "path": path, "other": other}),
    )
    .await;
    // A `result` export: its `ok` is the structured result, its `err` the
    // text of a tool error (before the note weld adds about what it
    // refused).
    if is_err(&result) {
        let text = text(&result);
        let own = text.split_once("\n(weld ").map_or(&*text, |(own, _)| own);
        return Err(own.to_string());
    }
    match result.structured_content {
        Some(Value::Object(mut map)) => match map.remove("result") {
            Some(Value::String(ok)) => Ok(ok),
            other => panic!("raw-fs {op} {path}: unexpected result {other:?}"),
        },
        other => panic!("raw-fs {op} {path}: unexpected result {other:?}"),
    }
}
