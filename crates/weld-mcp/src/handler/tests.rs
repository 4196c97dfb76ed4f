//! weld advertises exactly what it serves: the capabilities `initialize`
//! and `server/discover` announce are pinned, every method of an announced
//! capability is served, and every method of one it does not announce is
//! answered -32601 (method not found), whatever its params. Driven as a
//! client would, with JSON-RPC lines through weld's stdio transport.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmcp::ServiceExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use weld_host::{Audit, Catalog, LiveCatalog};

use super::WeldServer;
use crate::transport::stdio::StdioTransport;

const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// What weld announces, in both eras.
fn advertised() -> Value {
    json!({"tools": {"listChanged": true}})
}

/// The methods of every capability a server can announce, with params
/// that are valid for each, and whether the era serves it at all
/// (`resources/subscribe` is legacy only, `subscriptions/listen` modern
/// only and tested on its own).
fn methods(legacy: bool) -> Vec<(&'static str, &'static str, Value)> {
    let mut out = vec![
        ("tools", "tools/list", json!({})),
        (
            "tools",
            "tools/call",
            json!({"name": "nothing_here", "arguments": {}}),
        ),
        ("prompts", "prompts/list", json!({})),
        ("prompts", "prompts/get", json!({"name": "greeting"})),
        ("resources", "resources/list", json!({})),
        ("resources", "resources/templates/list", json!({})),
        (
            "resources",
            "resources/read",
            json!({"uri": "file:///etc/hostname"}),
        ),
        (
            "completions",
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "greeting"}, "argument": {"name": "a", "value": "b"}}),
        ),
        ("logging", "logging/setLevel", json!({"level": "info"})),
        ("extensions", "tasks/get", json!({"taskId": "t1"})),
        ("extensions", "skills/list", json!({})),
    ];
    if legacy {
        out.push((
            "resources",
            "resources/subscribe",
            json!({"uri": "file:///etc/hostname"}),
        ));
        out.push((
            "resources",
            "resources/unsubscribe",
            json!({"uri": "file:///etc/hostname"}),
        ));
    }
    out
}

/// A client on the far end of weld's stdio transport, serving no tools.
struct Client {
    input: DuplexStream,
    output: Lines<BufReader<DuplexStream>>,
    /// `_meta` a 2026-07-28 request carries; `None` for a legacy session.
    meta: Option<Value>,
    next_id: u64,
}

impl Client {
    fn start(modern: bool) -> Self {
        let (input, server_in) = tokio::io::duplex(1 << 16);
        let (server_out, output) = tokio::io::duplex(1 << 16);
        let transport = StdioTransport::new(server_in, server_out, 1 << 20);
        let started = transport.started();
        let server = WeldServer::new(
            Arc::new(LiveCatalog::new(Catalog::build(Vec::new()))),
            Audit::disabled(),
        );
        tokio::spawn(async move {
            if let Ok(running) = server.serve(transport).await {
                started.store(true, Ordering::Release);
                let _ = running.waiting().await;
            }
        });
        let meta = modern.then(|| {
            json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "capabilities", "version": "1"}
            })
        });
        Self {
            input,
            output: BufReader::new(output).lines(),
            meta,
            next_id: 0,
        }
    }

    async fn send(&mut self, message: Value) {
        let mut line = message.to_string().into_bytes();
        line.push(b'\n');
        self.input.write_all(&line).await.expect("weld reads stdin");
    }

    /// The next line weld writes.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.output.next_line())
            .await
            .expect("weld answers within 10 s")
            .expect("weld's stdout is readable")
            .expect("weld's stdout is open");
        serde_json::from_str(&line).expect("weld writes JSON")
    }

    /// Sends `method` with `params` (and the era's `_meta`) and returns the
    /// answer to it, skipping notifications.
    async fn request(&mut self, method: &str, mut params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        if let (Some(meta), Some(params)) = (&self.meta, params.as_object_mut()) {
            params.insert("_meta".into(), meta.clone());
        }
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let answer = self.next().await;
            if answer["id"] == id {
                return answer;
            }
            assert!(
                answer.get("method").is_some(),
                "an answer to another id: {answer}"
            );
        }
    }

    /// A legacy session: `initialize`, then `notifications/initialized`.
    async fn initialize(&mut self) -> Value {
        let answer = self
            .request(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "capabilities", "version": "1"}}),
            )
            .await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        answer
    }
}

/// Params no method of [`methods`] can read: each one's fields, of a
/// type it does not take.
fn malformed() -> Value {
    json!({"cursor": 5, "name": 5, "uri": 5, "level": 5, "ref": 5, "argument": 5, "taskId": 5})
}

fn error_code(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}

/// Every method of `methods` is served if its capability is advertised and
/// "not found" if not, whatever its params; a served method refuses
/// params it cannot read with -32602.
async fn served_exactly_as_advertised(client: &mut Client, capabilities: &Value, legacy: bool) {
    assert_eq!(capabilities, &advertised(), "weld's capabilities changed");
    for (capability, method, params) in methods(legacy) {
        let served = capabilities.get(capability).is_some();
        // Served with params that fit, and with params that do not (rmcp
        // reads a bad optional param as absent; a required one is -32602).
        for params in [params, malformed()] {
            let answer = client.request(method, params).await;
            if served {
                assert_ne!(
                    error_code(&answer),
                    Some(METHOD_NOT_FOUND),
                    "{method}: {answer}"
                );
            } else {
                assert_eq!(
                    error_code(&answer),
                    Some(METHOD_NOT_FOUND),
                    "{method}: {answer}"
                );
            }
        }
    }
    let malformed = client.request("tools/call", json!({"name": 5})).await;
    assert_eq!(error_code(&malformed), Some(INVALID_PARAMS), "{malformed}");
    let listed = client.request("tools/list", json!({})).await;
    assert_eq!(listed["result"]["tools"], json!([]), "{listed}");
    let call = client
        .request(
            "tools/call",
            json!({"name": "nothing_here", "arguments": {}}),
        )
        .await;
    assert_eq!(error_code(&call), Some(INVALID_PARAMS), "{call}");
    let unknown = client.request("weld/nothing", json!({})).await;
    assert_eq!(error_code(&unknown), Some(METHOD_NOT_FOUND), "{unknown}");
}

#[tokio::test]
async fn a_legacy_session_is_served_exactly_what_initialize_advertises() {
    let mut client = Client::start(false);
    let initialized = client.initialize().await;
    let capabilities = initialized["result"]["capabilities"].clone();
    served_exactly_as_advertised(&mut client, &capabilities, true).await;
    assert!(
        client
            .request("ping", json!({}))
            .await
            .get("result")
            .is_some()
    );
    // Legacy clients learn of tool changes by notification, not a stream.
    let listen = client
        .request(
            "subscriptions/listen",
            json!({"notifications": {"toolsListChanged": true}}),
        )
        .await;
    assert_eq!(error_code(&listen), Some(METHOD_NOT_FOUND), "{listen}");
}

#[tokio::test]
async fn a_2026_07_28_session_is_served_exactly_what_server_discover_advertises() {
    let mut client = Client::start(true);
    let discovered = client.request("server/discover", json!({})).await;
    let capabilities = discovered["result"]["capabilities"].clone();
    served_exactly_as_advertised(&mut client, &capabilities, false).await;
    for method in ["resources/subscribe", "resources/unsubscribe"] {
        let answer = client
            .request(method, json!({"uri": "file:///etc/hostname"}))
            .await;
        assert_eq!(
            error_code(&answer),
            Some(METHOD_NOT_FOUND),
            "{method}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_subscription_gets_tool_list_changes_and_nothing_unadvertised() {
    let mut client = Client::start(true);
    let meta = client.meta.clone();
    client
        .send(
            json!({"jsonrpc": "2.0", "id": "listen", "method": "subscriptions/listen",
                     "params": {"_meta": meta, "notifications":
                         {"toolsListChanged": true, "promptsListChanged": true}}}),
        )
        .await;
    let acknowledged = client.next().await;
    assert_eq!(
        acknowledged["method"], "notifications/subscriptions/acknowledged",
        "{acknowledged}"
    );
    assert_eq!(
        acknowledged["params"]["notifications"],
        json!({"toolsListChanged": true}),
        "{acknowledged}"
    );
    // The stream stays open; other requests are served meanwhile.
    let listed = client.request("tools/list", json!({})).await;
    assert!(listed.get("result").is_some(), "{listed}");
}
