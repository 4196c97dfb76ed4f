//! The policy's concurrency limit: a call beyond it waits or is refused, as
//! the policy says. A local HTTP server that answers only when the test
//! opens its gate holds the first call inside the sandbox for exactly as
//! long as the test needs, so nothing here depends on timing.

use std::sync::Arc;

use crate::common::*;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, ServerResult,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// An HTTP server on 127.0.0.1 that reports each request as it arrives and
/// answers it (`200 released`) only when released.
struct Gate {
    port: u16,
    arrived: UnboundedReceiver<()>,
    release: UnboundedSender<()>,
}

async fn gate() -> Gate {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (arrived_tx, arrived) = unbounded_channel();
    let (release, mut released) = unbounded_channel::<()>();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = arrived_tx.send(());
            if released.recv().await.is_none() {
                return;
            }
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreleased",
                )
                .await;
        }
    });
    Gate {
        port,
        arrived,
        release,
    }
}

/// Installs `hostile` with HTTP to the gate and the given concurrency
/// limit. The timeout is far beyond the test, so only the gate ends a call.
async fn install(dirs: &Dirs, gate: &Gate, concurrency: &str) {
    install_hostile(dirs).await;
    let policy = format!(
        "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"127.0.0.1\"\n        schemes: [http]\n        ports: [{}]\n  resources:\n    limits:\n      timeout: \"10m\"\n      concurrency: {concurrency}\n",
        gate.port
    );
    set_policy(dirs, "hostile", &policy).await;
}

fn call_request(tool: &str, arguments: Value) -> ClientRequest {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    ClientRequest::CallToolRequest(CallToolRequest::new(params))
}

/// Starts a call on its own task.
fn spawn_call(
    client: &Arc<Client>,
    tool: &'static str,
    arguments: Value,
) -> tokio::task::JoinHandle<CallToolResult> {
    let client = Arc::clone(client);
    tokio::spawn(async move { call(&client, tool, arguments).await })
}

/// Starts a call through the gate and returns once it is inside the
/// sandbox, holding its slot.
async fn hold_a_slot(
    client: &Arc<Client>,
    gate: &mut Gate,
) -> tokio::task::JoinHandle<CallToolResult> {
    let url = format!("http://127.0.0.1:{}/held", gate.port);
    let held = spawn_call(client, "hostile_http-get", json!({"url": url}));
    gate.arrived
        .recv()
        .await
        .expect("the first call reaches the gate");
    held
}

async fn released(gate: &Gate, held: tokio::task::JoinHandle<CallToolResult>) {
    gate.release.send(()).expect("the gate is listening");
    let first = held.await.expect("the held call's task");
    assert_eq!(
        first.structured_content,
        Some(json!({"result": "200 released"})),
        "{}",
        text(&first)
    );
}

#[tokio::test]
async fn a_call_beyond_a_refusing_limit_fails_at_once_and_the_running_call_completes() {
    let dirs = Dirs::new();
    let mut gate = gate().await;
    install(&dirs, &gate, "{ max: 1, excess: refuse }").await;
    let client = Arc::new(stdio_client(&dirs, &[], legacy()).await);

    let held = hold_a_slot(&client, &mut gate).await;
    // Another tool of the same component: the limit is the component's.
    let refused = call(&client, "hostile_echo", json!({"text": "second"})).await;
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    let message = text(&refused);
    for expected in [
        "`hostile_echo` is at its concurrency limit of 1",
        "its policy",
        "retry later",
        "raise `resources.limits.concurrency`",
    ] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }
    assert!(!held.is_finished(), "the gate still holds the first call");

    released(&gate, held).await;
    // The slot is free again.
    still_serving(&client).await;
    let record = audited(&dirs, "hostile_echo", "refused_busy").await;
    assert_eq!(record["error"], json!(message));
    assert_eq!(record["component"], "hostile");
}

#[tokio::test]
async fn a_call_beyond_a_waiting_limit_runs_once_the_running_call_finishes() {
    let dirs = Dirs::new();
    let mut gate = gate().await;
    // The short form: `concurrency: N` waits.
    install(&dirs, &gate, "1").await;
    let client = Arc::new(stdio_client(&dirs, &[], legacy()).await);

    let held = hold_a_slot(&client, &mut gate).await;
    // Both sent from this task, so they reach weld in this order.
    let queued = client
        .send_cancellable_request(
            call_request("hostile_echo", json!({"text": "queued"})),
            Default::default(),
        )
        .await
        .expect("send");
    let queued = tokio::spawn(queued.await_response());
    // A waiting call can still be cancelled: it gives up its place in the
    // queue and never runs.
    let cancelled = client
        .send_cancellable_request(
            call_request("hostile_echo", json!({"text": "cancelled while waiting"})),
            Default::default(),
        )
        .await
        .expect("send");
    cancelled
        .cancel(Some("test".into()))
        .await
        .expect("send notifications/cancelled");
    audited(&dirs, "hostile_echo", "cancelled").await;
    // stdio requests are read in order: the queued call reached weld before
    // the cancelled one was cancelled, and still waits behind the held one.
    assert!(
        !queued.is_finished(),
        "a call beyond the limit ran while the first still held the slot"
    );

    released(&gate, held).await;
    let second = queued
        .await
        .expect("the queued call's task")
        .expect("tools/call");
    let ServerResult::CallToolResult(second) = second else {
        panic!("expected a tool result, got {second:?}");
    };
    assert_eq!(
        second.structured_content,
        Some(json!({"result": "queued"})),
        "{}",
        text(&second)
    );
    still_serving(&client).await;
    // Records are written in the order calls end; once the last call's is
    // there, a run of the cancelled call would be too.
    let alive_bytes = json!({"text": "alive"}).to_string().len();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !audit_lines(&dirs)
        .iter()
        .any(|r| r["outcome"] == "ok" && r["args_bytes"] == alive_bytes)
    {
        assert!(tokio::time::Instant::now() < deadline, "no audit record");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cancelled_bytes = json!({"text": "cancelled while waiting"}).to_string().len();
    let ran: Vec<Value> = audit_lines(&dirs)
        .into_iter()
        .filter(|r| r["outcome"] == "ok" && r["args_bytes"] == cancelled_bytes)
        .collect();
    assert!(ran.is_empty(), "the cancelled call ran: {ran:?}");
}

#[tokio::test]
async fn a_reload_while_a_call_runs_keeps_counting_it_against_the_limit() {
    let dirs = Dirs::new();
    let mut gate = gate().await;
    install(&dirs, &gate, "{ max: 1, excess: refuse }").await;
    let watcher = crate::reload::Watcher::default();
    let client = crate::reload::watching_client(&dirs, watcher.clone()).await;
    let peer = client.peer().clone();
    let url = format!("http://127.0.0.1:{}/held", gate.port);
    let held = tokio::spawn(async move {
        let mut params = CallToolRequestParams::new("hostile_http-get");
        params.arguments = args(json!({"url": url}));
        peer.call_tool(params).await.expect("tools/call")
    });
    gate.arrived
        .recv()
        .await
        .expect("the first call reaches the gate");

    // Any policy change reloads the tools; this one leaves the limit alone.
    weld_ok(&dirs, &["grant", "hostile", "env", "SOME_KEY"]).await;
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        watcher.changed.notified(),
    )
    .await
    .expect("tools reloaded after the policy change");

    let mut params = CallToolRequestParams::new("hostile_echo");
    params.arguments = args(json!({"text": "second"}));
    let refused = client.call_tool(params).await.expect("tools/call");
    assert_eq!(
        refused.is_error,
        Some(true),
        "the reload forgot the running call: {}",
        text(&refused)
    );
    assert!(
        text(&refused).contains("concurrency limit of 1"),
        "{}",
        text(&refused)
    );

    gate.release.send(()).expect("the gate is listening");
    let first = held.await.expect("the held call's task");
    assert_eq!(
        first.structured_content,
        Some(json!({"result": "200 released"}))
    );
    let mut params = CallToolRequestParams::new("hostile_echo");
    params.arguments = args(json!({"text": "third"}));
    let after = client.call_tool(params).await.expect("tools/call");
    assert_eq!(after.structured_content, Some(json!({"result": "third"})));
}
