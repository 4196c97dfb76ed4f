//! Components of an MCP world (wasmcp's `mcp-v20251125`) served as MCP
//! servers: their tools, resources, templates, prompts and completion, in
//! both eras over stdio with the real rmcp client; their notifications;
//! the sandbox and the audit under them; a failing listing; name clashes;
//! and wasmcp's own Rust template, built by its toolchain, served unchanged.
#![allow(
    deprecated,
    reason = "MCP's logging, deprecated by the 2026-07-28 revision, is still served"
)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    ReadResourceRequestParams, RequestMetaObject, ResourceContents,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};

use crate::common::*;

/// A client that keeps the log messages and progress it is sent.
#[derive(Clone, Default)]
struct Heard {
    logs: Arc<Mutex<Vec<Value>>>,
    progress: Arc<Mutex<Vec<(ProgressToken, f64)>>>,
}

impl ClientHandler for Heard {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().expect("lock").push(params.data);
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress
            .lock()
            .expect("lock")
            .push((params.progress_token, params.progress));
    }
}

type Listening = RunningService<RoleClient, Heard>;

async fn listening_client(
    dirs: &Dirs,
    args: &[&str],
    mode: ClientLifecycleMode,
) -> (Listening, Heard) {
    let mut cmd = dirs.weld();
    cmd.arg("serve").args(args);
    let transport = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weld serve")
        .0;
    let heard = Heard::default();
    let client = heard
        .clone()
        .serve_with_lifecycle(transport, mode)
        .await
        .expect("MCP session over stdio");
    (client, heard)
}

fn file_arg(name: &str) -> String {
    component(name).display().to_string()
}

fn eras() -> [(&'static str, ClientLifecycleMode); 2] {
    [("2025-11-25", legacy()), ("2026-07-28", modern())]
}

async fn read(client: &Listening, uri: &str) -> Result<Vec<ResourceContents>, rmcp::ServiceError> {
    client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map(|r| r.contents)
}

fn text_of(contents: &ResourceContents) -> String {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("not text: {other:?}"),
    }
}

fn error_code(error: &rmcp::ServiceError) -> (i32, Option<Value>) {
    match error {
        rmcp::ServiceError::McpError(e) => (e.code.0, e.data.clone()),
        other => panic!("not a JSON-RPC error: {other:?}"),
    }
}

async fn call_with(
    client: &Listening,
    tool: &str,
    arguments: Value,
    meta: Option<RequestMetaObject>,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    params.meta = meta;
    client.call_tool(params).await
}

#[tokio::test]
async fn an_mcp_world_component_serves_resources_prompts_completion_and_its_own_tools_in_both_eras()
{
    for (era, mode) in eras() {
        let dirs = Dirs::new();
        let (client, _) =
            listening_client(&dirs, &["--component", &file_arg("mcpdemo")], mode).await;

        // Advertised, because a served component offers them.
        let info = client.peer_info().expect("server info");
        let caps = serde_json::to_value(&info.capabilities).expect("json");
        for capability in ["resources", "prompts", "completions", "tools"] {
            assert!(
                caps.get(capability).is_some(),
                "{era}: {capability} in {caps}"
            );
        }

        // Its tools under its own names, with what it says of them; its
        // exports are not tools of their own.
        let tools = client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        for name in ["echo", "notify", "media", "oops", "fail", "add"] {
            assert!(names.contains(&name), "{era}: {name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("list-tools")), "{names:?}");
        let echo = tools.iter().find(|t| t.name == "echo").expect("echo");
        assert_eq!(echo.title.as_deref(), Some("Echo"));
        assert_eq!(
            echo.annotations.as_ref().and_then(|a| a.read_only_hint),
            Some(true)
        );
        assert!(echo.output_schema.is_some());

        let said = call_with(&client, "echo", json!({"text": "hi"}), None)
            .await
            .expect("echo");
        assert_eq!(text(&said), "hi");
        assert_eq!(said.structured_content, Some(json!({"echo": "hi"})));
        let media = call_with(&client, "media", json!({}), None)
            .await
            .expect("media");
        let kinds: Vec<String> = media
            .content
            .iter()
            .map(|c| {
                serde_json::to_value(c).expect("json")["type"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            ["image", "audio", "resource_link", "resource"],
            "{era}"
        );
        let image = serde_json::to_value(&media.content[0]).expect("json");
        assert_eq!(image["data"], "iVBORw==");
        let oops = call_with(&client, "oops", json!({}), None)
            .await
            .expect("oops");
        assert_eq!(oops.is_error, Some(true));
        assert_eq!(text(&oops), "this tool failed on purpose");
        let fail = call_with(&client, "fail", json!({}), None)
            .await
            .expect_err("fail");
        assert_eq!(error_code(&fail).0, -32602, "{era}: {fail:?}");

        // Resources and templates.
        let resources = client.list_all_resources().await.expect("resources/list");
        let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["demo://static", "demo://blob"], "{era}");
        let templates = client
            .list_resource_templates(None)
            .await
            .expect("resources/templates/list");
        assert_eq!(
            templates.resource_templates[0].uri_template,
            "file:///{+path}"
        );
        assert_eq!(
            text_of(&read(&client, "demo://static").await.expect("read")[0]),
            "static text"
        );
        match &read(&client, "demo://blob").await.expect("read")[0] {
            ResourceContents::BlobResourceContents { blob, .. } => assert_eq!(blob, "AAEC/w=="),
            other => panic!("{era}: not a blob: {other:?}"),
        }
        let missing = read(&client, "nothing://here")
            .await
            .expect_err("unknown URI");
        let (code, data) = error_code(&missing);
        // -32002 before 2026-07-28, -32602 since; the URI either way.
        assert!(code == -32002 || code == -32602, "{era}: {code}");
        assert_eq!(data, Some(json!({"uri": "nothing://here"})));

        // Prompts and completion.
        let prompts = client.list_all_prompts().await.expect("prompts/list");
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].name, "greet");
        let arguments: Vec<&str> = prompts[0]
            .arguments
            .iter()
            .flatten()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(arguments, ["name", "style"]);
        let mut get = GetPromptRequestParams::new("greet");
        get.arguments = args(json!({"name": "Ada", "style": "formal"}));
        let prompt = client.get_prompt(get).await.expect("prompts/get");
        let message = serde_json::to_value(&prompt.messages[0]).expect("json");
        assert_eq!(
            message["content"]["text"], "Greet Ada in a formal way.",
            "{era}"
        );
        let completion = client
            .complete_prompt_argument("greet", "style", "fr", None)
            .await
            .expect("completion/complete");
        assert_eq!(completion.values, ["friendly"], "{era}");

        // Every request left its record.
        for tool in [
            "echo",
            "resources/read",
            "prompts/get",
            "completion/complete",
            "resources/list",
        ] {
            audited(&dirs, tool, "ok").await;
        }
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn a_components_log_and_progress_reach_the_client_under_the_requests_own_token() {
    for (era, mode) in eras() {
        let dirs = Dirs::new();
        let (client, heard) =
            listening_client(&dirs, &["--component", &file_arg("mcpdemo")], mode).await;
        // rmcp's client gives every request a progress token of its own.
        let mut meta = RequestMetaObject::new();
        // 2026-07-28 sends log messages only to a request that asks.
        meta.set_log_level(LoggingLevel::Info);
        let done = call_with(&client, "notify", json!({"count": 2}), Some(meta))
            .await
            .expect("notify");
        assert_eq!(text(&done), "notified");
        wait_for(|| heard.logs.lock().expect("lock").len() >= 2).await;
        assert_eq!(
            *heard.logs.lock().expect("lock"),
            [json!("step 1 of 2"), json!("step 2 of 2")],
            "{era}"
        );
        wait_for(|| heard.progress.lock().expect("lock").len() >= 2).await;
        let progress = heard.progress.lock().expect("lock").clone();
        // The component wrote its own token ("not-the-clients"); the client
        // hears the request's, which it knows (it routed them to this call).
        let theirs = ProgressToken(rmcp::model::NumberOrString::String(
            "not-the-clients".into(),
        ));
        assert_eq!(progress.len(), 2, "{era}: {progress:?}");
        assert_eq!(progress[0].0, progress[1].0, "{era}");
        assert_ne!(progress[0].0, theirs, "{era}");
        assert_eq!((progress[0].1, progress[1].1), (1.0, 2.0), "{era}");
        client.cancel().await.expect("close");
    }
}

/// Without a progress token in its request, a component's progress goes
/// nowhere; its log messages still reach the client, before the response.
#[tokio::test]
async fn a_components_progress_is_dropped_when_its_request_has_no_token() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dirs = Dirs::new();
    let mut child = dirs
        .weld()
        .args(["serve", "--component", &file_arg("mcpdemo")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn weld serve");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "notify", "arguments": {"count": 2}}}),
    ] {
        input
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write");
    }
    let mut before_response = Vec::new();
    let read = async {
        while let Some(line) = output.next_line().await.expect("read") {
            let message: Value = serde_json::from_str(&line).expect("JSON-RPC");
            if message["id"] == 2 {
                return message;
            }
            before_response.push(message["method"].as_str().unwrap_or("").to_string());
        }
        panic!("weld closed stdout");
    };
    let response = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("answered");
    assert_eq!(response["result"]["content"][0]["text"], "notified");
    let logs = before_response
        .iter()
        .filter(|m| *m == "notifications/message")
        .count();
    assert_eq!(logs, 2, "{before_response:?}");
    assert!(
        !before_response
            .iter()
            .any(|m| m == "notifications/progress"),
        "{before_response:?}"
    );
    drop(input);
    let _ = child.wait().await;
}

async fn wait_for(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not heard within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_resource_is_read_through_the_components_sandbox_and_a_denied_read_is_audited() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &file_arg("mcpdemo")]).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    std::fs::write(root.join("todo.md"), "buy milk").expect("write");
    std::fs::write(root.join("diary.md"), "dear diary").expect("write");
    let granted = format!("fs://{}/todo.md", root.display());
    weld_ok(
        &dirs,
        &["grant", "mcpdemo", "storage", &granted, "--access", "read"],
    )
    .await;

    let (client, _) = listening_client(&dirs, &[], legacy()).await;
    // The granted file, handed back by the component as a stream.
    let todo = format!("file://{}/todo.md", root.display());
    assert_eq!(
        text_of(&read(&client, &todo).await.expect("granted")[0]),
        "buy milk"
    );
    // Its sibling is not granted: the component is refused, and says so.
    let diary = format!("file://{}/diary.md", root.display());
    let refused = read(&client, &diary).await.expect_err("not granted");
    let rmcp::ServiceError::McpError(error) = &refused else {
        panic!("{refused:?}");
    };
    assert!(!error.message.contains("dear diary"), "{}", error.message);
    client.cancel().await.expect("close");

    let record = audited(&dirs, "resources/read", "tool_error").await;
    assert_eq!(record["component"], "mcpdemo");
    assert_eq!(record["target"], diary);
    let denied = record["storage_denied"].as_array().expect("denials");
    assert!(
        denied
            .iter()
            .any(|d| d["path"].as_str().is_some_and(|p| p.ends_with("diary.md"))),
        "{record}"
    );
}

#[tokio::test]
async fn a_component_whose_listing_fails_is_disabled_and_the_others_are_served() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &file_arg("mcpdemo"), "--name", "broken"]).await;
    // Too little memory for it to even start: its listing fails.
    set_policy(
        &dirs,
        "broken",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { memory: \"64Ki\" }\n",
    )
    .await;
    let (client, _) = listening_client(
        &dirs,
        &["--component", &file_arg("wasmcp-rust-tools")],
        legacy(),
    )
    .await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"add") && names.contains(&"subtract"),
        "{names:?}"
    );
    assert!(!names.contains(&"echo"), "{names:?}");
    // Nothing of it is advertised either.
    let caps = serde_json::to_value(&client.peer_info().expect("info").capabilities).expect("json");
    assert!(caps.get("resources").is_none(), "{caps}");

    let listed = dirs.run(&["list"]).await;
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        out.contains("broken") && out.contains("DISABLED") && out.contains("listing"),
        "{out}"
    );

    // A failed listing is kept only while the component's policy is the
    // same: once it changes, the running server lists it again and serves
    // it.
    set_policy(
        &dirs,
        "broken",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { memory: \"64Mi\" }\n",
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tools = client.list_all_tools().await.expect("tools/list");
        if tools.iter().any(|t| t.name == "echo") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never listed again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn two_components_naming_the_same_tool_serve_it_once_unless_prefixed() {
    let dirs = Dirs::new();
    weld_ok(&dirs, &["add", &file_arg("mcpdemo")]).await;
    weld_ok(&dirs, &["add", &file_arg("wasmcp-rust-tools")]).await;

    // Loaded by name: mcpdemo's `add` is served, wasmcp's is not.
    let (client, _) = listening_client(&dirs, &[], legacy()).await;
    let sum = call_with(&client, "add", json!({"a": 1, "b": 2}), None)
        .await
        .expect("add");
    assert_eq!(text(&sum), "mcpdemo: 3");
    let difference = call_with(&client, "subtract", json!({"a": 5, "b": 2}), None)
        .await
        .expect("subtract");
    assert_eq!(text(&difference), "3");
    client.cancel().await.expect("close");
    let listed = dirs.run(&["list"]).await;
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        out.contains("not a tool: add (a component loaded before it already serves a tool"),
        "{out}"
    );
    // `weld call` runs an MCP-world tool as `weld serve` does, and prints
    // what a client would get.
    let called = dirs.run(&["call", "subtract", r#"{"a": 5, "b": 2}"#]).await;
    let said = String::from_utf8_lossy(&called.stdout);
    assert!(
        called.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&called.stderr)
    );
    let answer: Value = serde_json::from_str(&said).expect("json");
    assert_eq!(answer["content"][0]["text"], "3", "{answer}");
    assert_eq!(answer["isError"], false, "{answer}");
    for line in [
        "  resource demo://static",
        "  resource template file:///{+path}",
        "  prompt greet",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }

    // Prefixed, both are served.
    let (client, _) = listening_client(&dirs, &["--prefix-mcp-names"], legacy()).await;
    let ours = call_with(&client, "mcpdemo_add", json!({"a": 1, "b": 2}), None)
        .await
        .expect("mcpdemo_add");
    assert_eq!(text(&ours), "mcpdemo: 3");
    let theirs = call_with(
        &client,
        "wasmcp-rust-tools_add",
        json!({"a": 1, "b": 2}),
        None,
    )
    .await
    .expect("wasmcp-rust-tools_add");
    assert_eq!(text(&theirs), "3");
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    assert_eq!(prompts[0].name, "mcpdemo_greet");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn wasmcps_rust_template_built_by_its_own_toolchain_is_served_unchanged() {
    for (era, mode) in eras() {
        let dirs = Dirs::new();
        let (client, _) = listening_client(
            &dirs,
            &["--component", &file_arg("wasmcp-rust-tools")],
            mode,
        )
        .await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let add = tools.iter().find(|t| t.name == "add").expect("add");
        assert_eq!(add.description.as_deref(), Some("Add two numbers together"));
        assert_eq!(add.title.as_deref(), Some("Add"));
        let sum = call_with(&client, "add", json!({"a": 2, "b": 3}), None)
            .await
            .expect("add");
        assert_eq!(text(&sum), "5", "{era}");
        let bad = call_with(&client, "subtract", json!({"a": 2}), None)
            .await
            .expect("subtract");
        assert_eq!(bad.is_error, Some(true), "{era}");
        // It offers no resources, prompts or completion: none advertised,
        // and their methods are not found.
        let caps =
            serde_json::to_value(&client.peer_info().expect("info").capabilities).expect("json");
        assert!(
            caps.get("prompts").is_none() && caps.get("resources").is_none(),
            "{caps}"
        );
        let none = client.list_prompts(None).await.expect_err("no prompts");
        assert_eq!(error_code(&none).0, -32601, "{era}");
        client.cancel().await.expect("close");
    }
}

/// Built by componentize-py, which imports every function of the world's
/// interfaces (`server-auth`, `server-handler` too): weld provides them.
#[tokio::test]
async fn wasmcps_python_template_built_by_componentize_py_is_served_unchanged() {
    let dirs = Dirs::new();
    let (client, _) = listening_client(
        &dirs,
        &["--component", &file_arg("wasmcp-python-tools")],
        legacy(),
    )
    .await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t.name.as_ref())
        .filter(|n| !n.starts_with("weld_"))
        .collect();
    assert_eq!(names, ["reverse", "uppercase"]);
    let reversed = call_with(&client, "reverse", json!({"text": "weld"}), None)
        .await
        .expect("reverse");
    assert_eq!(text(&reversed), "dlew");
    let missing = call_with(&client, "uppercase", json!({}), None)
        .await
        .expect("uppercase");
    assert_eq!(missing.is_error, Some(true));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn inspect_shows_the_world_and_lists_what_the_component_offers() {
    let dirs = Dirs::new();
    let file = file_arg("mcpdemo");
    let out = dirs.run(&["inspect", "--json", &file]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["world"]["name"], "wasmcp:mcp-v20251125@0.1.1");
    assert_eq!(
        report["world"]["exports"],
        json!(["tools", "resources", "prompts", "completions"])
    );
    // Its exports are neither tools nor functions refused as tools.
    assert_eq!(report["tools"], json!([]));
    assert_eq!(report["not_tools"], json!([]));
    assert!(report.get("listing").is_none());

    let out = dirs.run(&["inspect", "--json", "--list", &file]).await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let listing = &report["listing"];
    assert_eq!(listing["resources"][0]["name"], "demo://static");
    assert_eq!(listing["resource_templates"][0]["name"], "file:///{+path}");
    assert_eq!(listing["prompts"][0]["name"], "greet");
    assert_eq!(
        listing["prompts"][0]["arguments"],
        json!(["name", "style?"])
    );
    assert_eq!(listing["tools"][0]["name"], "echo");
}
