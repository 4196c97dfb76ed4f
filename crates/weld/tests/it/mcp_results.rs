//! The shape of an MCP-world component's answers on the wire, per era: what
//! the official conformance suite (tests/js/conformance.test.mjs) checks of
//! them, proven here with the real rmcp client over stdio.

use std::process::Stdio;

use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams, ResultType,
};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt};
use serde_json::json;

use crate::common::*;

/// `resultType` of a tool call, a resource read and a prompt of mcpdemo.
async fn result_types(mode: ClientLifecycleMode) -> [Option<ResultType>; 3] {
    let dirs = Dirs::new();
    let mut cmd = dirs.weld();
    cmd.arg("serve")
        .arg("--component")
        .arg(component("mcpdemo"));
    let transport = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weld serve")
        .0;
    let client = ().serve_with_lifecycle(transport, mode).await.expect("MCP session over stdio");
    let mut call = CallToolRequestParams::new("echo");
    call.arguments = args(json!({"text": "hi"}));
    let called = client.call_tool(call).await.expect("tools/call");
    assert_eq!(text(&called), "hi");
    let read = client
        .read_resource(ReadResourceRequestParams::new("demo://static"))
        .await
        .expect("resources/read");
    assert_eq!(read.contents.len(), 1);
    let mut get = GetPromptRequestParams::new("greet");
    get.arguments = args(json!({"name": "Ada"}));
    let prompt = client.get_prompt(get).await.expect("prompts/get");
    assert_eq!(prompt.messages.len(), 1);
    client.cancel().await.expect("close");
    [called.result_type, read.result_type, prompt.result_type]
}

#[tokio::test]
async fn a_components_results_say_they_are_complete_to_a_2026_07_28_client_and_not_before() {
    // 2026-07-28 requires `resultType` on every result (SEP-2322)...
    assert_eq!(
        result_types(modern()).await,
        [const { Some(ResultType::COMPLETE) }; 3],
        "tools/call, resources/read, prompts/get"
    );
    // ...which an earlier revision's client is not sent.
    assert_eq!(result_types(legacy()).await, [None, None, None]);
}
