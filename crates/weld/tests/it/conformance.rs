//! What the official MCP conformance suite (tests/js/conformance.test.mjs)
//! found weld getting wrong, proven here: the shape of an MCP-world
//! component's answers per era (with the real rmcp client over stdio), and
//! how a removed method is refused over HTTP (raw requests).

use std::process::Stdio;

use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams, ResultType,
};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt};
use serde_json::{Value, json};

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

/// POSTs one JSON-RPC request to weld's /mcp with the SEP-2243 headers of
/// `protocol` (none: an earlier revision's client, which sends none with
/// `initialize`); returns the status and the body.
async fn post(url: &str, method: &str, protocol: Option<&str>, body: Value) -> (u16, String) {
    let mut request = reqwest_client()
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream");
    if let Some(protocol) = protocol {
        request = request
            .header("MCP-Protocol-Version", protocol)
            .header("Mcp-Method", method);
    }
    let response = request.body(body.to_string()).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn initialize_from_a_2026_07_28_client_is_a_removed_method_and_still_opens_a_legacy_session()
{
    let dirs = Dirs::new();
    let mcpdemo = component("mcpdemo").display().to_string();
    let (_server, addr) = http_server(&dirs, &["--component", &mcpdemo]).await;
    let url = format!("http://{addr}/mcp");

    // 2026-07-28 removed initialize: 404 and -32601, the request's id kept.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "weld-tests", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let (status, body) = post(
        &url,
        "initialize",
        Some("2026-07-28"),
        json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {"_meta": meta}}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["id"], 7, "{body}");
    assert_eq!(answer["error"]["code"], -32601, "{body}");

    // An earlier revision's client still initializes.
    let (status, body) = post(
        &url,
        "initialize",
        None,
        json!({"jsonrpc": "2.0", "id": 8, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "weld-tests", "version": "0"}
        }}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"protocolVersion\""), "{body}");
}
